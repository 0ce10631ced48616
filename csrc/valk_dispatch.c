/*
 * valk_dispatch.c: the two rings between the AIO thread and JavaScript
 * handlers. See valk_dispatch.h for who owns a request when.
 */
#include "valk_dispatch.h"

#include "valk_h2_body.h"
#include "valk_h2_server.h"
#include "valk_system.h"

uint32_t valk_dispatch_take(valk_system_t *sys, valk_js_request_t **out, uint32_t max) {
  uint32_t n = valk_ring_drain(&sys->requests, (void **)out, max);
  /* Room again for requests that wait on the AIO side: it is woken to push them. */
  if (n > 0 && atomic_load_explicit(&sys->js_backlog, memory_order_acquire)) uv_async_send(&sys->wakeup);
  return n;
}

uint32_t valk_dispatch_slots(const valk_system_t *sys) {
  return sys->arenas.count + sys->admin_arenas.count + sys->small_arenas.count;
}

/* Up to max tokens from ring (pushed as pointer-sized integers). */
static uint32_t valk__take_tokens(valk_ring_t *ring, uint64_t *out, uint32_t max) {
  void *batch[64];
  uint32_t n, i, total = 0;
  while (total < max && (n = valk_ring_drain(ring, batch, max - total < 64 ? max - total : 64)) > 0)
    for (i = 0; i < n; i++) out[total++] = (uint64_t)(uintptr_t)batch[i];
  return total;
}

uint32_t valk_dispatch_take_cancels(valk_system_t *sys, uint64_t *out, uint32_t max) {
  return valk__take_tokens(&sys->cancels, out, max);
}

uint32_t valk_dispatch_take_unpins(valk_system_t *sys, uint64_t *out, uint32_t max) {
  return valk__take_tokens(&sys->unpins, out, max);
}

uint32_t valk_dispatch_take_bodies(valk_system_t *sys, uint64_t *out, uint32_t max) {
  return valk__take_tokens(&sys->bodies, out, max);
}

int valk_dispatch_body_claim(valk_js_request_t *req) {
  uint8_t ready = VALK_IN_READY;
  return atomic_compare_exchange_strong_explicit(&req->in_state, &ready, VALK_IN_TAKEN, memory_order_acq_rel,
                                                 memory_order_acquire)
             ? 0
             : -1;
}

void valk_dispatch_body_taken(valk_system_t *sys, valk_js_request_t *req, int discard) {
  uint64_t msg = valk_js_token(req) | (discard ? VALK_TAKE_DISCARD : 0);
  /* Never full: one take in flight per request, two per slot with a stale one. */
  if (valk_ring_push(&sys->takes, (void *)(uintptr_t)msg) == 1) uv_async_send(&sys->wakeup);
}

void *valk_dispatch_alloc(valk_system_t *sys, valk_js_request_t *req, size_t size) {
  void *p = valk_arena_alloc(req->pool, req->arena, size, 8);
  if (p != NULL || req->pool != &sys->small_arenas) return p;
  /* The pool is lock-free: the owner thread may take an arena; the AIO thread gives it back. */
  if (req->answer_arena == NULL && (req->answer_arena = valk_arena_acquire(&sys->arenas)) == NULL) return NULL;
  return valk_arena_alloc(&sys->arenas, req->answer_arena, size, 8);
}

void valk_dispatch_respond_batch(valk_system_t *sys, valk_js_request_t **reqs, uint32_t n) {
  uint32_t i;
  int wake = 0;
  /* Never full: it holds one entry per arena of both pools and each request holds an arena. */
  for (i = 0; i < n; i++) wake |= valk_ring_push(&sys->responses, reqs[i]) == 1;
  if (wake) uv_async_send(&sys->wakeup);
}

void valk_dispatch_chunk(valk_system_t *sys, valk_js_request_t *req) {
  /* Never full: one chunk in flight per answer, one answer per arena. */
  if (valk_ring_push(&sys->chunks, req) == 1) uv_async_send(&sys->wakeup);
}

void valk_dispatch_respond(valk_system_t *sys, valk_js_request_t *req) {
  valk_dispatch_respond_batch(sys, &req, 1);
}

/* Submits every answer waiting, then flushes each connection they touched
 * once: one TLS write and one socket write per connection and wake-up where
 * the answers fit, not one per answer. */
void valk_dispatch_drain_responses(valk_system_t *sys) {
  valk_js_request_t *batch[64];
  valk_srv_conn_t *flush = NULL;
  uint32_t n, i;
  while ((n = valk_ring_drain(&sys->responses, (void **)batch, VALK_ARRAY_SIZE(batch))) > 0) {
    uint32_t done = 0;
    for (i = 0; i < n; i++) done += !batch[i]->resp_streaming; /* a streaming one: at its final chunk */
    atomic_fetch_sub_explicit(&sys->js_in_flight, done, memory_order_relaxed);
    for (i = 0; i < n; i++) valk_h2_js_respond(sys, batch[i], &flush);
  }
  valk_h2_flush_list(flush);
}

void valk_dispatch_drain_chunks(valk_system_t *sys) {
  valk_js_request_t *batch[64];
  valk_srv_conn_t *flush = NULL;
  uint32_t n, i;
  while ((n = valk_ring_drain(&sys->chunks, (void **)batch, VALK_ARRAY_SIZE(batch))) > 0)
    for (i = 0; i < n; i++) valk_h2_js_chunk(sys, batch[i], &flush);
  valk_h2_flush_list(flush);
}

void valk_dispatch_drain_takes(valk_system_t *sys) {
  void *batch[64];
  valk_srv_conn_t *flush = NULL;
  uint32_t n, i;
  while ((n = valk_ring_drain(&sys->takes, batch, VALK_ARRAY_SIZE(batch))) > 0)
    for (i = 0; i < n; i++) valk_h2_js_take(sys, (uint64_t)(uintptr_t)batch[i], &flush);
  valk_h2_flush_list(flush);
}

void valk_dispatch_discard(valk_system_t *sys) {
  valk_js_request_t *batch[64];
  uint32_t n, i;
  while (valk_ring_drain(&sys->cancels, (void **)batch, VALK_ARRAY_SIZE(batch)) > 0 ||
         valk_ring_drain(&sys->unpins, (void **)batch, VALK_ARRAY_SIZE(batch)) > 0 ||
         valk_ring_drain(&sys->chunks, (void **)batch, VALK_ARRAY_SIZE(batch)) > 0 ||
         valk_ring_drain(&sys->bodies, (void **)batch, VALK_ARRAY_SIZE(batch)) > 0 ||
         valk_ring_drain(&sys->takes, (void **)batch, VALK_ARRAY_SIZE(batch)) > 0) {
  } /* tokens only: the owner forgets its pins when STOP comes back */
  valk_h2_body_discard_all(sys); /* before the arenas the requests live in go */
  valk_h2_body_blocks_free(sys);
  while ((n = valk_ring_drain(&sys->requests, (void **)batch, VALK_ARRAY_SIZE(batch))) > 0 ||
         (n = valk_ring_drain(&sys->responses, (void **)batch, VALK_ARRAY_SIZE(batch))) > 0) {
    for (i = 0; i < n; i++) {
      atomic_fetch_sub_explicit(&sys->js_in_flight, 1, memory_order_relaxed);
      if (batch[i]->answer_arena != NULL) valk_arena_release(&sys->arenas, batch[i]->answer_arena);
      valk_arena_release(batch[i]->pool, batch[i]->arena);
    }
  }
}
