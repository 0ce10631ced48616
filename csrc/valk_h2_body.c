/*
 * valk_h2_body.c: request bodies that stream to JavaScript. See
 * valk_h2_body.h for the model and valk_dispatch.h for who owns a chunk when.
 *
 * Invariants (AIO thread):
 *   - st->body_req != NULL <=> st streams its body to a request JavaScript
 *     knows (registered in sys->body_reqs under its slot), until the body is
 *     done with (its end taken, dropped, or the answer came).
 *   - At most one chunk per request is with the owner (in_state != NONE).
 *   - Bytes held (fills and chunks) are counted in request_body_held_bytes;
 *     a stream's are at most its window, a connection's at most its window.
 *
 * Thread: the AIO thread that owns the server's system.
 */
#include "valk_h2_body.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "valk_h2_stream.h"

/* A fill's least first size (a block size class's); it doubles as bytes
 * come (never past what the stream's window lets the client send). */
#define VALK_FILL_MIN VALK_BODY_BLOCK_MIN

void valk_h2_consume(valk_srv_conn_t *c, int32_t id, size_t n) {
  if (n == 0 || !c->srv->opts->stream_bodies) return;
  if (c->proto != NULL) { /* HTTP/1.1: reading may go on */
    c->proto->consume(c, n);
    return;
  }
  if (c->io.session == NULL) return;
  /* Fails only on NGHTTP2_ERR_NOMEM: the window stays shut, and the stream's
   * time bounds end it. */
  (void)nghttp2_session_consume(c->io.session, id, n);
}

/* ---- blocks: fills and chunks, from a small cache ----------------------- */

/* The size class of a block of cap bytes (cap a power of two from VALK_FILL_MIN). */
static int valk__block_class(size_t cap) {
  int c = 0;
  while (c < VALK_BODY_BLOCK_CLASSES - 1 && ((size_t)VALK_FILL_MIN << c) < cap) c++;
  return c;
}

/*
 * A block of cap bytes: a cached one if there is one. glibc gives blocks this
 * large of a thread's arena back to the kernel as they are freed, and every
 * reuse then faults its pages in again (a fifth of the upload path's CPU
 * before the cache): the cache keeps up to VALK_BODY_BLOCKS_MAX bytes.
 */
static uint8_t *valk__block_get(valk_system_t *sys, size_t cap) {
  int c = valk__block_class(cap);
  void *p = sys->body_blocks[c];
  if (p != NULL && ((size_t)VALK_FILL_MIN << c) == cap) {
    memcpy(&sys->body_blocks[c], p, sizeof(void *));
    sys->body_blocks_bytes -= cap;
    return p;
  }
  return malloc(cap);
}

static void valk__block_put(valk_system_t *sys, void *p, size_t cap) {
  int c = valk__block_class(cap);
  if (p == NULL) return;
  if (((size_t)VALK_FILL_MIN << c) != cap || sys->body_blocks_bytes + cap > VALK_BODY_BLOCKS_MAX) {
    free(p);
    return;
  }
  memcpy(p, &sys->body_blocks[c], sizeof(void *));
  sys->body_blocks[c] = p;
  sys->body_blocks_bytes += cap;
}

void valk_h2_body_blocks_free(valk_system_t *sys) {
  int c;
  for (c = 0; c < VALK_BODY_BLOCK_CLASSES; c++) {
    while (sys->body_blocks[c] != NULL) {
      void *p = sys->body_blocks[c];
      memcpy(&sys->body_blocks[c], p, sizeof(void *));
      free(p);
    }
  }
  sys->body_blocks_bytes = 0;
}

static void valk__held(valk_system_t *sys, int64_t n) {
  VALK_STAT_ADD(sys, request_body_held_bytes, n);
}

/* req's chunk block goes back, out of its connection's count if that
 * connection still has the slot (uids are never reused). */
static void valk__chunk_block_put(valk_system_t *sys, valk_js_request_t *req) {
  if (req->conn->io.uid == req->conn_uid) {
    assert(req->conn->body_bytes >= req->in_cap);
    req->conn->body_bytes -= req->in_cap;
  }
  valk__block_put(sys, (void *)req->in_data, req->in_cap);
}

/* Frees st's fill; its bytes are consumed. */
static void valk__fill_free(valk_stream_t *st) {
  if (st->fill == NULL) return;
  valk__held(st->conn->srv->sys, -(int64_t)st->fill_len);
  valk_h2_consume(st->conn, st->id, st->fill_len);
  assert(st->conn->body_bytes >= st->fill_cap);
  st->conn->body_bytes -= st->fill_cap;
  valk__block_put(st->conn->srv->sys, st->fill, st->fill_cap);
  st->fill = NULL;
  st->fill_len = st->fill_cap = 0;
}

/* Frees req's chunk bytes (the owner does not read them). */
static void valk__chunk_release(valk_system_t *sys, valk_js_request_t *req) {
  valk__held(sys, -(int64_t)req->in_len);
  valk__chunk_block_put(sys, req);
  req->in_data = NULL;
  req->in_len = 0;
  req->in_cap = 0;
}

/* Frees req's chunk (the owner no longer reads it) and marks it NONE. */
static void valk__chunk_free(valk_system_t *sys, valk_js_request_t *req) {
  valk__chunk_release(sys, req);
  req->in_given_back = 0;
  atomic_store_explicit(&req->in_state, VALK_IN_NONE, memory_order_relaxed);
}

/* req's body is done with: out of the table, so later takes are stale. */
static void valk__unregister(valk_system_t *sys, valk_js_request_t *req) {
  if (sys->body_reqs[req->slot] == req) sys->body_reqs[req->slot] = NULL;
  if (req->stream != NULL && req->stream->body_req == req) req->stream->body_req = NULL;
}

/* The owner is told that req's next chunk is ready (woken after this iteration). */
static void valk__notify(valk_server_t *srv, valk_js_request_t *req) {
  int rc = valk_ring_push(&srv->sys->bodies, (void *)(uintptr_t)valk_js_token(req));
  /* Full: notices of requests answered before Node's thread drained the ring
   * fill it. A notice is only a wake-up: the owner then wakes every reader. */
  if (rc < 0) atomic_store_explicit(&srv->sys->bodies_lost, 1, memory_order_release);
  if (rc != 0) srv->notify_pending = 1;
}

/* Hands st's fill over as req's next chunk if the owner has none and there
 * is something to say (bytes, or the end). */
static void valk__offer(valk_stream_t *st) {
  valk_js_request_t *req = st->body_req;
  int end = (st->flags & VALK_STREAM_F_REQ_DONE) != 0;
  if (req == NULL || atomic_load_explicit(&req->in_state, memory_order_relaxed) != VALK_IN_NONE) return;
  if (st->fill_len == 0 && !end) return;
  req->in_data = st->fill;
  req->in_len = st->fill_len;
  req->in_end = (uint8_t)end;
  req->in_cap = st->fill_cap;
  st->fill_hint = st->fill_cap;
  st->fill = NULL;
  st->fill_len = st->fill_cap = 0;
  atomic_store_explicit(&req->in_state, VALK_IN_READY, memory_order_release);
  valk__notify(st->conn->srv, req);
}

/* st's fill goes at the end of this iteration (valk_h2_body_offers): what
 * every read of the iteration brought, as one chunk. */
static void valk__offer_later(valk_stream_t *st) {
  valk_server_t *srv = st->conn->srv;
  if (st->flags & VALK_STREAM_F_OFFER) return;
  st->flags |= VALK_STREAM_F_OFFER;
  st->offer_prev = NULL;
  st->offer_next = srv->offers;
  if (srv->offers != NULL) srv->offers->offer_prev = st;
  srv->offers = st;
}

static void valk__offer_unlink(valk_stream_t *st) {
  valk_server_t *srv = st->conn->srv;
  if (!(st->flags & VALK_STREAM_F_OFFER)) return;
  st->flags &= (uint16_t)~VALK_STREAM_F_OFFER;
  if (st->offer_prev != NULL) st->offer_prev->offer_next = st->offer_next;
  else srv->offers = st->offer_next;
  if (st->offer_next != NULL) st->offer_next->offer_prev = st->offer_prev;
  st->offer_next = st->offer_prev = NULL;
}

void valk_h2_body_offers(valk_server_t *srv) {
  while (srv->offers != NULL) {
    valk_stream_t *st = srv->offers;
    valk__offer_unlink(st);
    valk__offer(st);
  }
}

/* Room in st's fill for len more bytes. 0 or -1 (no memory). */
static int valk__fill_room(valk_stream_t *st, size_t len) {
  valk_srv_conn_t *c = st->conn;
  size_t need = (size_t)st->fill_len + len, cap = st->fill_cap ? st->fill_cap : VALK_FILL_MIN;
  uint8_t *p;
  if (need <= st->fill_cap) return 0;
  /* A new fill starts as large as the stream's last chunk (a steady upload
   * never grows one) while the connection's blocks stay within two windows;
   * else as small as its bytes allow: a block is then at most twice what it
   * holds, or VALK_FILL_MIN (estimateFootprint's bound). Growing doubles. */
  if (st->fill_cap == 0 && st->fill_hint > cap &&
      (uint64_t)c->body_bytes + st->fill_hint <= 2ull * c->srv->sys->config.connection_window_size)
    cap = st->fill_hint;
  while (cap < need) cap *= 2;
  if (cap > UINT32_MAX || (uint64_t)c->body_bytes + cap > UINT32_MAX) return -1; /* beyond any window */
  p = valk__block_get(c->srv->sys, cap);
  if (p == NULL) return -1;
  if (st->fill_len > 0) memcpy(p, st->fill, st->fill_len);
  c->body_bytes = c->body_bytes - st->fill_cap + (uint32_t)cap;
  valk__block_put(c->srv->sys, st->fill, st->fill_cap);
  st->fill = p;
  st->fill_cap = (uint32_t)cap;
  return 0;
}

int valk_h2_body_hold(valk_stream_t *st, const uint8_t *data, size_t len) {
  valk_srv_conn_t *c = st->conn;
  if (len == 0) return 0;
  if (st->flags & (VALK_STREAM_F_BODY_DROP | VALK_STREAM_F_RESET)) {
    valk_h2_consume(c, st->id, len);
    return 0;
  }
  if (valk__fill_room(st, len) != 0) {
    valk_h2_consume(c, st->id, len);
    valk_h2_body_drop(st);
    st->flags |= VALK_STREAM_F_RESET;
    if (c->proto != NULL) return c->proto->reset(st, NGHTTP2_INTERNAL_ERROR) == 0 ? 0 : -1;
    return nghttp2_submit_rst_stream(c->io.session, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_INTERNAL_ERROR) == 0 ? 0 : -1;
  }
  memcpy(st->fill + st->fill_len, data, len);
  st->fill_len += (uint32_t)len;
  st->body_len += len;
  valk__held(c->srv->sys, (int64_t)len);
  if (st->body_req != NULL) valk__offer_later(st);
  return 0;
}

void valk_h2_body_dispatched(valk_stream_t *st, valk_js_request_t *req) {
  valk_system_t *sys = st->conn->srv->sys;
  if (!(st->flags & VALK_STREAM_F_BODY_STREAM) || (st->flags & VALK_STREAM_F_BODY_DROP)) return;
  assert(req->body_streaming && sys->body_reqs[req->slot] == NULL);
  sys->body_reqs[req->slot] = req;
  st->body_req = req;
  VALK_SRV_ADD(st->conn->srv, requests_body_streamed, 1);
  valk__offer(st);
}

void valk_h2_body_end(valk_stream_t *st) {
  if (st->body_req != NULL) valk__offer_later(st);
}

void valk_h2_body_drop(valk_stream_t *st) {
  valk_js_request_t *req = st->body_req;
  st->flags |= VALK_STREAM_F_BODY_DROP;
  valk__offer_unlink(st);
  valk__fill_free(st);
  if (req == NULL) return;
  /* The owner may still copy a READY chunk until the answer comes: only the
   * bytes' window is given back now; valk_h2_body_close frees them. */
  st->body_req = NULL;
  if (atomic_load_explicit(&req->in_state, memory_order_relaxed) != VALK_IN_NONE && !req->in_given_back) {
    valk_h2_consume(st->conn, st->id, req->in_len);
    req->in_given_back = 1;
  }
}

void valk_h2_body_stream_gone(valk_stream_t *st) {
  valk_system_t *sys = st->conn->srv->sys;
  valk_js_request_t *req = st->body_req;
  valk__offer_unlink(st);
  valk__fill_free(st);
  if (req == NULL) return;
  st->body_req = NULL;
  if (atomic_load_explicit(&req->in_state, memory_order_relaxed) == VALK_IN_NONE) return;
  if (!req->in_given_back) valk_h2_consume(st->conn, st->id, req->in_len);
  req->in_given_back = 1;
  {
    uint8_t ready = VALK_IN_READY;
    if (atomic_compare_exchange_strong_explicit(&req->in_state, &ready, VALK_IN_DROPPED, memory_order_acq_rel,
                                                memory_order_acquire))
      valk__chunk_release(sys, req);
  }
  /* TAKEN: the owner copies it; its take (or the answer) frees it. */
}

void valk_h2_body_close(valk_system_t *sys, valk_js_request_t *req) {
  uint8_t state;
  if (!req->body_streaming) return;
  if (req->stream != NULL && req->stream->body_req == req) valk_h2_body_drop(req->stream);
  state = atomic_load_explicit(&req->in_state, memory_order_acquire);
  if (state == VALK_IN_READY || state == VALK_IN_TAKEN) valk__chunk_free(sys, req);
  valk__unregister(sys, req);
}

void valk_h2_js_take(valk_system_t *sys, uint64_t msg, valk_srv_conn_t **flush) {
  uint64_t token = msg & ~VALK_TAKE_DISCARD;
  uint32_t slot = (uint32_t)(token & ((1u << VALK_TOKEN_SLOT_BITS) - 1));
  valk_js_request_t *req = slot < sys->body_slots ? sys->body_reqs[slot] : NULL;
  valk_stream_t *st;
  size_t n;
  int end;
  if (req == NULL || valk_js_token(req) != token) return; /* stale: its body is done with */
  if (atomic_load_explicit(&req->in_state, memory_order_acquire) != VALK_IN_TAKEN) return;
  n = req->in_len;
  end = req->in_end;
  valk__chunk_free(sys, req);
  st = req->stream;
  if (st == NULL || st->body_req != req) { /* the stream died, or its body was dropped: consumed then */
    if (st == NULL) valk__unregister(sys, req);
    return;
  }
  valk_h2_consume(st->conn, st->id, n);
  st->input_ms = uv_now(&sys->loop); /* the window opened: the client's clock starts again */
  valk_h2_flush_later(st->conn, flush); /* the WINDOW_UPDATE goes out (the connection's, after the end too) */
  if (end) valk__unregister(sys, req);
  else if (msg & VALK_TAKE_DISCARD) valk_h2_body_drop(st);
  else valk__offer(st);
}

void valk_h2_body_discard_all(valk_system_t *sys) {
  uint32_t i, n = sys->body_slots;
  for (i = 0; i < n; i++) {
    valk_js_request_t *req = sys->body_reqs[i];
    uint8_t state;
    if (req == NULL) continue;
    state = atomic_load_explicit(&req->in_state, memory_order_acquire);
    if (state == VALK_IN_READY || state == VALK_IN_TAKEN) valk__chunk_free(sys, req);
    sys->body_reqs[i] = NULL;
  }
}
