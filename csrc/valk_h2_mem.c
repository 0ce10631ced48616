/*
 * valk_h2_mem.c: a connection's HTTP/2 memory budget. See valk_h2_mem.h.
 * Thread: the AIO thread that owns the budget's connection.
 */
#include "valk_h2_mem.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

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

/* ---- page blocks --------------------------------------------------------- */

static uint8_t *valk__class_base(const valk_h2_pages_t *p, int c) {
  uint8_t *at = p->base;
  int k;
  for (k = 0; k < c; k++) at += (size_t)p->count[k] * p->block[k];
  return at;
}

int valk_h2_pages_init(valk_h2_pages_t *p, uint32_t blocks_per_class) {
  size_t page = (size_t)sysconf(_SC_PAGESIZE);
  uint32_t i;
  int c;
  memset(p, 0, sizeof(*p));
  if (blocks_per_class == 0) return 0;
  p->block[0] = page;
  p->min[0] = page; /* whole pages only: a session's, not a request's, blocks (no madvise per request) */
  p->block[1] = VALK_ALIGN_UP(20480, page); /* a frame buffer: NGHTTP2_FRAMEBUF_CHUNKLEN, 16,394 bytes */
  p->min[1] = page + 1;
  for (c = 0; c < VALK_H2_PAGE_CLASSES; c++) {
    p->count[c] = blocks_per_class;
    p->bytes += (size_t)blocks_per_class * p->block[c];
    p->stack[c] = malloc((size_t)blocks_per_class * sizeof(uint32_t));
    if (p->stack[c] == NULL) goto fail;
    for (i = 0; i < blocks_per_class; i++) p->stack[c][i] = blocks_per_class - 1 - i;
    p->nfree[c] = blocks_per_class;
  }
  p->sizes = calloc((size_t)VALK_H2_PAGE_CLASSES * blocks_per_class, sizeof(uint32_t));
  p->base = mmap(NULL, p->bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p->sizes == NULL || p->base == MAP_FAILED) {
    if (p->base == MAP_FAILED) p->base = NULL;
    goto fail;
  }
  return 0;
fail:
  valk_h2_pages_destroy(p);
  return VALK_ENOMEM;
}

void valk_h2_pages_destroy(valk_h2_pages_t *p) {
  int c;
  if (p->base != NULL) munmap(p->base, p->bytes);
  for (c = 0; c < VALK_H2_PAGE_CLASSES; c++) free(p->stack[c]);
  free(p->sizes);
  memset(p, 0, sizeof(*p));
}

/* A free block of the class that serves size bytes, or NULL (none serves it,
 * or none is free). Its pages read as zeroes. */
static void *valk__page_get(valk_h2_pages_t *p, size_t size) {
  int c;
  if (p == NULL || p->base == NULL) return NULL;
  for (c = 0; c < VALK_H2_PAGE_CLASSES; c++) {
    uint32_t idx;
    if (size < p->min[c] || size > p->block[c]) continue;
    if (p->nfree[c] == 0) return NULL;
    idx = p->stack[c][--p->nfree[c]];
    p->sizes[(size_t)c * p->count[0] + idx] = (uint32_t)size;
    return valk__class_base(p, c) + (size_t)idx * p->block[c];
  }
  return NULL;
}

/* The class of the block ptr starts, and its index; -1 when ptr is no block. */
static int valk__page_of(const valk_h2_pages_t *p, const void *ptr, uint32_t *idx) {
  const uint8_t *at = ptr;
  int c;
  if (p == NULL || p->base == NULL || at < p->base || at >= p->base + p->bytes) return -1;
  for (c = 0; c < VALK_H2_PAGE_CLASSES; c++) {
    const uint8_t *base = valk__class_base(p, c);
    if (at < base + (size_t)p->count[c] * p->block[c]) {
      assert((size_t)(at - base) % p->block[c] == 0);
      *idx = (uint32_t)((size_t)(at - base) / p->block[c]);
      return c;
    }
  }
  return -1;
}

static uint32_t *valk__page_size(valk_h2_pages_t *p, int c, uint32_t idx) {
  return &p->sizes[(size_t)c * p->count[0] + idx];
}

/* Gives block idx of class c back: its pages to the kernel (so they read as
 * zeroes again), its index to the free stack. */
static void valk__page_put(valk_h2_pages_t *p, int c, uint32_t idx) {
  uint8_t *at = valk__class_base(p, c) + (size_t)idx * p->block[c];
  if (madvise(at, p->block[c], MADV_DONTNEED) != 0) memset(at, 0, p->block[c]); /* zeroes all the same */
  assert(p->nfree[c] < p->count[c]);
  p->stack[c][p->nfree[c]++] = idx;
}

/* Whether used may grow by add - sub within limit (0: no limit). */
static int valk__fits(const valk_h2_budget_t *b, size_t limit, size_t add, size_t sub) {
  return limit == 0 || add <= sub || b->used + (add - sub) <= limit;
}

/* size bytes within limit, from pages when there is a block for them (NULL:
 * malloc only); *zeroed (may be NULL) says whether they read as zeroes. */
static void *valk__alloc_z(valk_h2_budget_t *b, valk_h2_pages_t *pages, size_t size, size_t limit, int *zeroed) {
  valk__mem_hdr_t *h;
  void *blk;
  if (zeroed != NULL) *zeroed = 0;
  if (size > SIZE_MAX - sizeof(*h) || !valk__fits(b, limit, size, 0)) {
    b->refused++;
    if (limit == b->cap) b->hard_refused++;
    return NULL;
  }
  if ((blk = valk__page_get(pages, size)) != NULL) {
    if (zeroed != NULL) *zeroed = 1;
    valk__account(b, size, 0);
    return blk;
  }
  h = malloc(sizeof(*h) + size);
  if (h == NULL) return NULL;
  h->size = size;
  valk__account(b, size, 0);
  return h + 1;
}

static void *valk__alloc(valk_h2_budget_t *b, valk_h2_pages_t *pages, size_t size, size_t limit) {
  return valk__alloc_z(b, pages, size, limit, NULL);
}

/* Resizes page block ptr (class c, index idx): in place while it fits its
 * block, else moved. NULL past limit (ptr unchanged). */
static void *valk__page_realloc(valk_h2_budget_t *b, void *ptr, int c, uint32_t idx, size_t size, size_t limit) {
  uint32_t *sz = valk__page_size(b->pages, c, idx);
  size_t old = *sz;
  void *np;
  if (!valk__fits(b, limit, size, old)) {
    b->refused++;
    if (limit == b->cap) b->hard_refused++;
    return NULL;
  }
  if (size <= b->pages->block[c] && size >= b->pages->min[c]) {
    *sz = (uint32_t)size;
    valk__account(b, size, old);
    return ptr;
  }
  np = valk__alloc(b, b->pages, size, 0); /* within limit: checked above */
  if (np == NULL) return NULL;
  memcpy(np, ptr, old < size ? old : size);
  valk_h2_budget_free(b, ptr);
  return np;
}

static void *valk__realloc(valk_h2_budget_t *b, valk_h2_pages_t *pages, void *ptr, size_t size, size_t limit) {
  valk__mem_hdr_t *h, *nh;
  size_t old;
  uint32_t idx;
  int c;
  if (ptr == NULL) return valk__alloc(b, pages, size, limit);
  if ((c = valk__page_of(b->pages, ptr, &idx)) >= 0) return valk__page_realloc(b, ptr, c, idx, size, limit);
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
  uint32_t idx;
  int c;
  if (ptr == NULL) return;
  if ((c = valk__page_of(b->pages, ptr, &idx)) >= 0) {
    valk__account(b, 0, *valk__page_size(b->pages, c, idx));
    valk__page_put(b->pages, c, idx);
    return;
  }
  h = (valk__mem_hdr_t *)ptr - 1;
  valk__account(b, 0, h->size);
  free(h);
}

/* ---- nghttp2's allocator: the hard cap ---------------------------------- */

static void *valk__ng_malloc(size_t size, void *ud) {
  valk_h2_budget_t *b = ud;
  return valk__alloc(b, b->pages, size, b->cap);
}

static void valk__ng_free(void *ptr, void *ud) {
  valk_h2_budget_free(ud, ptr);
}

static void *valk__ng_calloc(size_t nmemb, size_t size, void *ud) {
  valk_h2_budget_t *b = ud;
  void *p;
  int zeroed;
  if (size != 0 && nmemb > (SIZE_MAX - sizeof(valk__mem_hdr_t)) / size) return NULL;
  p = valk__alloc_z(b, b->pages, nmemb * size, b->cap, &zeroed);
  if (p != NULL && !zeroed) memset(p, 0, nmemb * size);
  return p;
}

static void *valk__ng_realloc(void *ptr, size_t size, void *ud) {
  valk_h2_budget_t *b = ud;
  return valk__realloc(b, b->pages, ptr, size, b->cap);
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
  return valk__alloc(b, NULL, size, b->soft); /* the server's own: never page blocks */
}

void *valk_h2_budget_realloc(valk_h2_budget_t *b, void *ptr, size_t size) {
  return valk__realloc(b, NULL, ptr, size, b->soft);
}
