/*
 * valk_h2_mem.c: a connection's HTTP/2 memory budget. See valk_h2_mem.h.
 * Thread: the AIO thread that owns the budget's connection.
 */
#include "valk_h2_mem.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  size_t size;
  size_t pad; /* keeps the user's block 16-byte aligned */
} valk__mem_hdr_t;

static void valk__account(valk_h2_budget_t *b, size_t add, size_t sub) {
  assert(b->used + add >= sub);
  b->used = b->used + add - sub;
  if (b->used > b->peak) b->peak = b->used;
  if (b->sys_bytes != NULL) {
    uint64_t now = atomic_load_explicit(b->sys_bytes, memory_order_relaxed) + add - sub;
    atomic_store_explicit(b->sys_bytes, now, memory_order_relaxed);
    if (b->sys_peak != NULL && now > atomic_load_explicit(b->sys_peak, memory_order_relaxed))
      atomic_store_explicit(b->sys_peak, now, memory_order_relaxed);
  }
}

/* Whether used may grow by add - sub within limit (0: no limit). */
static int valk__fits(const valk_h2_budget_t *b, size_t limit, size_t add, size_t sub) {
  return limit == 0 || add <= sub || b->used + (add - sub) <= limit;
}

static void *valk__alloc(valk_h2_budget_t *b, size_t size, size_t limit) {
  valk__mem_hdr_t *h;
  if (size > SIZE_MAX - sizeof(*h) || !valk__fits(b, limit, size, 0)) {
    b->refused++;
    if (limit == b->cap) b->hard_refused++;
    return NULL;
  }
  h = malloc(sizeof(*h) + size);
  if (h == NULL) return NULL;
  h->size = size;
  valk__account(b, size, 0);
  return h + 1;
}

static void *valk__realloc(valk_h2_budget_t *b, void *ptr, size_t size, size_t limit) {
  valk__mem_hdr_t *h, *nh;
  size_t old;
  if (ptr == NULL) return valk__alloc(b, size, limit);
  h = (valk__mem_hdr_t *)ptr - 1;
  old = h->size;
  if (size > SIZE_MAX - sizeof(*h) || !valk__fits(b, limit, size, old)) {
    b->refused++;
    if (limit == b->cap) b->hard_refused++;
    return NULL;
  }
  nh = realloc(h, sizeof(*nh) + size);
  if (nh == NULL) return NULL;
  nh->size = size;
  valk__account(b, size, old);
  return nh + 1;
}

void valk_h2_budget_free(valk_h2_budget_t *b, void *ptr) {
  valk__mem_hdr_t *h;
  if (ptr == NULL) return;
  h = (valk__mem_hdr_t *)ptr - 1;
  valk__account(b, 0, h->size);
  free(h);
}

/* ---- nghttp2's allocator: the hard cap ---------------------------------- */

static void *valk__ng_malloc(size_t size, void *ud) {
  valk_h2_budget_t *b = ud;
  return valk__alloc(b, size, b->cap);
}

static void valk__ng_free(void *ptr, void *ud) {
  valk_h2_budget_free(ud, ptr);
}

static void *valk__ng_calloc(size_t nmemb, size_t size, void *ud) {
  valk_h2_budget_t *b = ud;
  void *p;
  if (size != 0 && nmemb > (SIZE_MAX - sizeof(valk__mem_hdr_t)) / size) return NULL;
  p = valk__alloc(b, nmemb * size, b->cap);
  if (p != NULL) memset(p, 0, nmemb * size);
  return p;
}

static void *valk__ng_realloc(void *ptr, size_t size, void *ud) {
  valk_h2_budget_t *b = ud;
  return valk__realloc(b, ptr, size, b->cap);
}

void valk_h2_budget_init(valk_h2_budget_t *b, size_t cap, VALK_ATOMIC(uint64_t) *sys_bytes,
                         VALK_ATOMIC(uint64_t) *sys_peak) {
  memset(b, 0, sizeof(*b));
  b->cap = cap;
  b->soft = cap - cap / 4;
  b->sys_bytes = sys_bytes;
  b->sys_peak = sys_peak;
}

void valk_h2_budget_mem(valk_h2_budget_t *b, nghttp2_mem *mem) {
  mem->mem_user_data = b;
  mem->malloc = valk__ng_malloc;
  mem->free = valk__ng_free;
  mem->calloc = valk__ng_calloc;
  mem->realloc = valk__ng_realloc;
}

/* ---- the server's own: the soft cap -------------------------------------- */

void *valk_h2_budget_alloc(valk_h2_budget_t *b, size_t size) {
  return valk__alloc(b, size, b->soft);
}

void *valk_h2_budget_realloc(valk_h2_budget_t *b, void *ptr, size_t size) {
  return valk__realloc(b, ptr, size, b->soft);
}
