/*
 * valk_h2_stream.c: the streams of server connections: request records,
 * bodies in arenas, routes and responses, requests for JavaScript and their
 * answers, the connection states and the idle list. The lowest of the
 * server's three files (docs/architecture.md): it calls down only (the
 * connection layer, leaf modules), and features above through
 * sys->hooks.sse. See valk_h2_server.h for the data and valk_h2_stream.h
 * for what the two files above it use.
 *
 * Thread: the AIO thread that owns the server's system.
 */
#include "valk_h2_stream.h"

#include <arpa/inet.h>
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "valk_events.h"
#include "valk_common.h"
#include "valk_h2_body.h"

static void valk__js_cancel(valk_stream_t *st);
static void valk__streaming_died(valk_stream_t *st);
static void valk__unpin(valk_system_t *sys, uint64_t token);
static void valk__submit_streaming(valk_stream_t *st, valk_js_request_t *req, nghttp2_nv *nva);
static void valk__js_orphan_done(valk_system_t *sys, valk_js_request_t *req);
static void valk__backlog_remove(valk_stream_t *st);
static void valk__backlog_add(valk_stream_t *st);
static void valk__dispatched(valk_stream_t *st, int rc);
static void valk__queue_state(valk_system_t *sys, uint32_t depth);

/* ---- connection state and the idle list -------------------------------- */

void valk_h2_idle_remove(valk_srv_conn_t *c) {
  valk_system_t *sys = c->srv->sys;
  if (c->idle_prev) c->idle_prev->idle_next = c->idle_next;
  else if (sys->idle_head == c) sys->idle_head = c->idle_next;
  else return; /* not on the list */
  if (c->idle_next) c->idle_next->idle_prev = c->idle_prev;
  else sys->idle_tail = c->idle_prev;
  c->idle_next = c->idle_prev = NULL;
}

static void valk__idle_append(valk_srv_conn_t *c) {
  valk_system_t *sys = c->srv->sys;
  c->idle_next = NULL;
  c->idle_prev = sys->idle_tail;
  if (sys->idle_tail) sys->idle_tail->idle_next = c;
  else sys->idle_head = c;
  sys->idle_tail = c;
}

/* The idle list holds exactly the admitted connections in state IDLE, in the
 * order they became idle: its head is the longest idle. */
void valk_h2_set_state(valk_srv_conn_t *c, valk_conn_state_t state) {
  if (c->io.state == state || (c->io.state == VALK_CONN_CLOSING && state != VALK_CONN_FREE)) return;
  if (c->io.state == VALK_CONN_IDLE) valk_h2_idle_remove(c);
  if (c->io.state == VALK_CONN_ACTIVE) c->io.active_until_ms = uv_now(&c->srv->sys->loop);
  c->io.state = state;
  c->io.state_change_ms = uv_now(&c->srv->sys->loop);
  if (state == VALK_CONN_IDLE && !(c->io.flags & (VALK_SRV_F_GRACEFUL | VALK_SRV_F_ADMIN))) valk__idle_append(c);
}

/* ---- streams: request records, bodies in arenas, responses --------------- */

valk_stream_t *valk_h2_stream_get(valk_srv_conn_t *c, int32_t id) {
  valk_stream_t *st = c->last_stream;
  if (st != NULL && st->id == id) return st; /* the callbacks of one frame ask for the same stream */
  if (c->io.session == NULL) { /* HTTP/1.1: one request at a time */
    for (st = c->streams; st != NULL && st->id != id; st = st->next) {
    }
    return st;
  }
  st = nghttp2_session_get_stream_user_data(c->io.session, id);
  if (st != NULL) c->last_stream = st;
  return st;
}

/* A stream record from the connection's budget (soft cap): NULL when the
 * budget is near its end, and the stream is then refused. */
valk_stream_t *valk_h2_stream_new(valk_srv_conn_t *c, int32_t id) {
  valk_stream_t *st = valk_h2_budget_alloc(&c->io.budget, sizeof(*st));
  if (st == NULL) return NULL;
  memset(st, 0, sizeof(*st));
  st->conn = c;
  st->id = id;
  st->content_length = -1;
  st->started_ns = uv_hrtime();
  st->started_ms = st->input_ms = uv_now(&c->srv->sys->loop);
  VALK_SRV_ADD(c->srv, streams_active, 1);
  st->next = c->streams;
  if (c->streams) c->streams->prev = st;
  c->streams = st;
  return st;
}

/* ---- arenas: only when needed, within the connection's share ------------- */

/* The connection's share of pool (docs/RELIABILITY.md, "Arenas cannot be
 * hoarded"): a connection that holds VALK_ARENA_LIGHT or more arenas may not
 * take one of the last quarter of a pool, so a few connections cannot take
 * every arena and the clients that hold few keep getting theirs. */
static valk_arena_t *valk__arena_from(valk_stream_t *st, valk_arena_pool_t *pool) {
  valk_srv_conn_t *c = st->conn;
  valk_arena_t *a;
  if (c->arenas >= VALK_ARENA_LIGHT && valk_arena_pool_available(pool) <= pool->count / 4) {
    VALK_SRV_ADD(c->srv, arenas_refused_share, 1);
    return NULL;
  }
  a = valk_arena_acquire(pool);
  if (a == NULL) return NULL;
  c->arenas++;
  st->pool = pool;
  return a;
}

/*
 * An arena for st (docs/design.md §6): on the main listeners a small one,
 * unless big (its body is known not to fit half of one) or none is left; a
 * big one from the server's pool otherwise; the admin listener's own pool
 * for the admin listener. NULL: none for st (the caller answers 503).
 */
static valk_arena_t *valk__arena_take(valk_stream_t *st, int big) {
  valk_system_t *sys = st->conn->srv->sys;
  valk_arena_pool_t *pool = st->conn->srv->arenas;
  valk_arena_t *a;
  if (pool == &sys->arenas && !big && sys->small_arenas.count > 0 &&
      (a = valk__arena_from(st, &sys->small_arenas)) != NULL)
    return a;
  return valk__arena_from(st, pool);
}

/*
 * An answer's body that is a JavaScript Buffer (pinned by the owner thread)
 * is no longer read: its token goes back so the owner lets it go. A full ring
 * (it holds two per arena: cannot happen) would keep the Buffer alive: logged.
 */
static void valk__unpin(valk_system_t *sys, uint64_t token) {
  int rc = valk_ring_push(&sys->unpins, (void *)(uintptr_t)token);
  if (rc < 0) VALK_ERROR("unpin ring full: a response body stays pinned");
  else if (rc == 1 && sys->notify != NULL) sys->notify(sys->notify_data);
}

/* What st's answer held beside its arena: the overflow arena, the pin. */
static void valk__answer_done(valk_stream_t *st) {
  valk_system_t *sys = st->conn->srv->sys;
  if (st->answer_arena != NULL) valk_arena_release(&sys->arenas, st->answer_arena);
  if (st->unpin != 0) valk__unpin(sys, st->unpin);
  st->answer_arena = NULL;
  st->unpin = 0;
}

/* Gives st's arena back to its pool (and what its answer held). */
static void valk__arena_give(valk_stream_t *st) {
  valk_srv_conn_t *c = st->conn;
  assert(st->arena != NULL && st->js == NULL && c->arenas > 0);
  valk__answer_done(st);
  valk_arena_release(st->pool, st->arena);
  c->arenas--;
  st->arena = NULL;
  st->pool = NULL;
  st->body = NULL;
}

/*
 * st's small arena is full: its body so far moves to a big arena (at most a
 * small arena's worth is copied) and the small one goes back. 0, or -1 when
 * no big arena is free for st (its small arena is kept).
 */
static int valk__arena_grow(valk_stream_t *st) {
  valk_system_t *sys = st->conn->srv->sys;
  valk_arena_pool_t *small = st->pool;
  valk_arena_t *old = st->arena, *a;
  size_t n = st->body != NULL ? (size_t)st->body_len : 0;
  uint8_t *body = NULL;
  assert(small == &sys->small_arenas && st->js == NULL);
  a = valk__arena_from(st, &sys->arenas); /* sets st->pool */
  if (a == NULL) {
    st->pool = small;
    return -1;
  }
  if (n > 0) {
    body = valk_arena_alloc(&sys->arenas, a, n, 1);
    assert(body != NULL); /* smallArenaSize <= arenaSize */
    memcpy(body, st->body, n);
  }
  valk_arena_release(small, old);
  st->conn->arenas--;
  st->arena = a;
  st->body = body;
  VALK_SRV_ADD(st->conn->srv, arenas_grown, 1);
  return 0;
}

/* Unlinks and frees st, returning its arena and kept headers. Also used for
 * the streams a connection still has when it closes (nghttp2_session_del
 * calls no callback). */
void valk_h2_stream_free(valk_stream_t *st) {
  valk_srv_conn_t *c = st->conn;
  uint64_t now = uv_now(&c->srv->sys->loop);
  valk_h2_event(c, VALK_EV_stream_closed, (uint32_t)st->id, now > st->started_ms ? now - st->started_ms : 0);
  if (st->plugin_body != NULL) c->srv->sys->hooks.sse->close(c->srv->sys, st->plugin_body);
  if (st->flags & VALK_STREAM_F_BODY_STREAM) valk_h2_body_stream_gone(st);
  if (st->streaming != NULL) valk__streaming_died(st);
  if (st->flags & VALK_STREAM_F_BACKLOG) { /* never reached JavaScript: the arena is still ours */
    valk__backlog_remove(st);
    st->js = NULL;
  }
  if (st->js != NULL) valk__js_cancel(st); /* orphaned: its arena goes when the answer comes */
  else if (st->arena != NULL) valk__arena_give(st);
  valk_reqhdrs_drop(&st->hdrs, &c->io.budget);
  if (st->flags & VALK_STREAM_F_RESPONDED) {
    assert(c->pending_responses > 0);
    c->pending_responses--;
  }
  VALK_SRV_ADD(c->srv, streams_active, -1);
  if (c->last_stream == st) c->last_stream = NULL;
  if (st->prev) st->prev->next = st->next;
  else c->streams = st->next;
  if (st->next) st->next->prev = st->prev;
  valk_h2_budget_free(&c->io.budget, st);
}

int valk_h2_stream_reset(valk_stream_t *st, uint32_t code) {
  valk_srv_conn_t *c = st->conn;
  if (c->proto != NULL) return c->proto->reset(st, code);
  return nghttp2_submit_rst_stream(c->io.session, NGHTTP2_FLAG_NONE, st->id, code);
}

static void valk__resume(valk_stream_t *st) {
  valk_srv_conn_t *c = st->conn;
  if (c->proto != NULL) c->proto->resume(st);
  else nghttp2_session_resume_data(c->io.session, st->id);
}

static void valk__count_status(valk_server_t *srv, int status) {
  VALK_SRV_ADD(srv, requests_total, 1);
  if (status >= 500) VALK_SRV_ADD(srv, responses_5xx, 1);
  else if (status >= 400) VALK_SRV_ADD(srv, responses_4xx, 1);
  else if (status >= 200 && status < 300) VALK_SRV_ADD(srv, responses_2xx, 1);
}

static ssize_t valk__body_read(nghttp2_session *s, int32_t id, uint8_t *buf, size_t length,
                               uint32_t *flags, nghttp2_data_source *src, void *ud) {
  valk_stream_t *st = src->ptr;
  size_t n = st->resp_len - st->sent;
  (void)s;
  (void)id;
  (void)ud;

  if (n > length) n = length;
  if (st->flags & VALK_STREAM_F_HEADROOM) *flags |= NGHTTP2_DATA_FLAG_NO_COPY; /* valk_h2_body_send_data */
  else memcpy(buf, st->resp_body + st->sent, n);
  st->sent += n;
  if (st->sent == st->resp_len) *flags |= NGHTTP2_DATA_FLAG_EOF;
  return (ssize_t)n;
}

/*
 * A DATA frame of a route's body, NO_COPY (valk__body_read just gave its
 * length): the frame header goes into the bytes before the payload, and the
 * frame to SSL_write as it lies in the route's body (docs/design.md §4). Then
 * mem_send pauses, so one call of valk_conn_produce writes one such frame.
 */
int valk_h2_body_send_data(nghttp2_session *s, nghttp2_frame *frame, const uint8_t *framehd,
                           size_t length, nghttp2_data_source *src, void *ud) {
  valk_stream_t *st = src->ptr;
  (void)s;
  (void)ud;
  assert((st->flags & VALK_STREAM_F_HEADROOM) && frame->data.padlen == 0 && length <= st->sent);
  if (frame->data.padlen != 0) return NGHTTP2_ERR_CALLBACK_FAILURE;
  if (valk_conn_write_framed(&st->conn->io, framehd, VALK_FRAME_HEADER_LEN,
                             (uint8_t *)(uintptr_t)(st->resp_body + st->sent - length), length) != 0)
    return NGHTTP2_ERR_CALLBACK_FAILURE;
  return NGHTTP2_ERR_PAUSE;
}

/* Submits status and nva on st with prd as its body (NULL: none). 0 or an nghttp2 error. */
static int valk__submit_with(valk_stream_t *st, int status, const nghttp2_nv *nva, size_t nvlen,
                             const nghttp2_data_provider *prd) {
  valk_srv_conn_t *c = st->conn;
  st->flags |= VALK_STREAM_F_RESPONDED;
  if (!(st->flags & VALK_STREAM_F_REQ_DONE)) st->flags |= VALK_STREAM_F_EARLY;
  st->output_ms = uv_now(&c->srv->sys->loop);
  c->pending_responses++;
  valk__count_status(c->srv, status);
  if (c->proto != NULL) return c->proto->submit(st, status, nva, nvlen, prd);
  return nghttp2_submit_response(c->io.session, st->id, nva, nvlen, prd);
}

/* Submits status, nva and body (headers only for HEAD) on st. 0 or an nghttp2 error. */
static int valk__submit(valk_stream_t *st, int status, const nghttp2_nv *nva, size_t nvlen,
                        const uint8_t *body, size_t len) {
  nghttp2_data_provider prd;
  prd.source.ptr = st;
  prd.read_callback = valk__body_read;
  st->resp_body = body;
  st->resp_len = len;
  return valk__submit_with(st, status, nva, nvlen,
                           st->method == VALK_METHOD_HEAD || len == 0 ? NULL : &prd);
}

/* Submits route r as the response of st. 0 or an nghttp2 error. */
static int valk__respond_with(valk_stream_t *st, const valk_route_t *r) {
  if (st->conn->proto == NULL) st->flags |= VALK_STREAM_F_HEADROOM; /* HTTP/2 frames only */
  return valk__submit(st, r->status, r->nva, r->nvlen, r->body, r->body_len);
}

/* The memory diagnostics stream (valk_sse.h): 200 and a body that never ends
 * by itself, or 503 when maxSseStreams are open. 0 or an nghttp2 error. */
static int valk__respond_sse(valk_stream_t *st) {
  valk_server_t *srv = st->conn->srv;
  const valk_stream_plugin_t *plugin = srv->sys->hooks.sse;
  nghttp2_data_provider prd;
  void *body = plugin->open(srv->sys, st, st->last_event_id);
  if (body == NULL) return valk__respond_with(st, srv->opts->routes.overloaded);
  st->plugin_body = body;
  prd.source.ptr = body;
  prd.read_callback = plugin->read;
  return valk__submit_with(st, 200, plugin->headers, plugin->nheaders, &prd);
}

static int valk__dispatch_js(valk_stream_t *st);

/* Whether a request for route r (NULL: no route) is answered by JavaScript. */
int valk_h2_to_js(const valk_server_t *srv, const valk_route_t *r) {
  return r != NULL ? r->status == VALK_ROUTE_JS : srv->opts->has_handler;
}

/* The request ended: answer it from the route table, or hand it to JavaScript. */
int valk_h2_respond(valk_stream_t *st) {
  const valk_route_table_t *table = &st->conn->srv->opts->routes;
  const valk_route_t *r = st->route >= 2 ? table->routes[st->route - 2] : NULL;
  if (valk_h2_to_js(st->conn->srv, r)) return valk__dispatch_js(st);
  if (r != NULL && r->status == VALK_ROUTE_SSE) {
    if (st->method == VALK_METHOD_GET) return valk__respond_sse(st);
    if (st->method == VALK_METHOD_HEAD)
      return valk__submit_with(st, 200, st->conn->srv->sys->hooks.sse->headers, st->conn->srv->sys->hooks.sse->nheaders, NULL);
    return valk__respond_with(st, table->not_allowed);
  }
  if (r == NULL) r = table->not_found;
  else if (st->method == VALK_METHOD_OTHER) r = table->not_allowed;
  return valk__respond_with(st, r);
}

/*
 * The request will not be answered as asked: its arena (body so far) and its
 * kept headers go back at once, then route r (408, 413, 431, 503) while no
 * response has begun, else (or with r NULL) RST_STREAM(code). Static routes answer only once
 * the request ended, so the second case needs a handler that answers early. Returns 0 or an nghttp2 error.
 */
int valk_h2_refuse_request(valk_stream_t *st, const valk_route_t *r, uint32_t code) {
  valk_srv_conn_t *c = st->conn;
  if (st->flags & VALK_STREAM_F_BODY_STREAM) valk_h2_body_drop(st);
  if (st->arena != NULL && st->js == NULL && st->streaming == NULL) valk__arena_give(st);
  valk_reqhdrs_drop(&st->hdrs, &c->io.budget);
  st->flags &= (uint16_t)~VALK_STREAM_F_KEEP;
  if ((st->flags & VALK_STREAM_F_RESPONDED) || r == NULL)
    return valk_h2_stream_reset(st, code);
  return valk__respond_with(st, r);
}

/* The body passed maxRequestBodySize: 413, or RST_STREAM(CANCEL). 0 or an nghttp2 error. */
static int valk__body_too_large(valk_stream_t *st) {
  valk_server_t *srv = st->conn->srv;
  if (st->flags & VALK_STREAM_F_RESPONDED) VALK_SRV_ADD(srv, streams_reset_too_large, 1);
  else VALK_SRV_ADD(srv, responses_too_large, 1);
  return valk_h2_refuse_request(st, srv->opts->routes.too_large, NGHTTP2_CANCEL);
}

/* No arena for st: 503 with the server's error503Body and retry-after (docs/design.md §3). */
static int valk__no_arena(valk_stream_t *st) {
  valk_server_t *srv = st->conn->srv;
  VALK_SRV_ADD(srv, responses_overloaded, 1);
  return valk_h2_refuse_request(st, srv->opts->routes.overloaded, NGHTTP2_REFUSED_STREAM);
}

/* The request headers are complete and a body follows: check the declared length. */
int valk_h2_body_begin(valk_stream_t *st) {
  valk_system_t *sys = st->conn->srv->sys;
  const valk_route_table_t *table = &st->conn->srv->opts->routes;
  if (st->conn->srv->opts->stream_bodies &&
      valk_h2_to_js(st->conn->srv, st->route >= 2 ? table->routes[st->route - 2] : NULL)) {
    st->flags |= VALK_STREAM_F_BODY_STREAM; /* to JavaScript now: the body follows in chunks */
    return valk__dispatch_js(st);
  }
  if (st->content_length >= 0 && (uint64_t)st->content_length > sys->config.max_request_body_size)
    return valk__body_too_large(st);
  return 0;
}

/* A DATA chunk of the request body: into the stream's arena, taken with the
 * first byte (docs/RELIABILITY.md: a stream holds an arena only once a body
 * arrives), within the limit. */
int valk_h2_body_append(valk_stream_t *st, const uint8_t *data, size_t len) {
  valk_system_t *sys = st->conn->srv->sys;
  uint8_t *dst;

  st->input_ms = uv_now(&sys->loop);
  if (st->flags & VALK_STREAM_F_BODY_STREAM) return valk_h2_body_hold(st, data, len);
  valk_h2_consume(st->conn, st->id, len); /* copied (or dropped) at once: the window opens */
  if (st->flags & VALK_STREAM_F_EARLY) return 0; /* answered: discard */
  if (len == 0) return 0;
  if (st->arena == NULL) {
    /* A body declared larger than half a small arena goes to a big one at once. */
    int big = st->content_length >= 0 && (uint64_t)st->content_length > sys->config.small_arena_size / 2;
    if ((st->arena = valk__arena_take(st, big)) == NULL) return valk__no_arena(st);
  }
  if (st->body_len + len > sys->config.max_request_body_size) {
    st->body_len += len;
    return valk__body_too_large(st);
  }
  dst = valk_arena_alloc(st->pool, st->arena, len, 1);
  if (dst == NULL && st->pool == &sys->small_arenas) {
    if (valk__arena_grow(st) != 0) return valk__no_arena(st);
    dst = valk_arena_alloc(st->pool, st->arena, len, 1);
  }
  if (dst == NULL) return valk__body_too_large(st); /* the arena is smaller than the limit */
  if (st->body == NULL) st->body = dst;
  memcpy(dst, data, len);
  st->body_len += len;
  return 0;
}

/* ---- request fields ----------------------------------------------------------- */

static int64_t valk__parse_length(const uint8_t *v, size_t len) {
  int64_t n = 0;
  size_t i;
  if (len == 0 || len > 18) return INT64_MAX; /* nghttp2 or llhttp checked the syntax; huge is too large */
  for (i = 0; i < len; i++) n = n * 10 + (v[i] - '0');
  return n;
}

/* An SSE Last-Event-ID: up to 18 decimal digits, else 0 (ignored). */
static uint64_t valk__parse_event_id(const uint8_t *v, size_t len) {
  uint64_t n = 0;
  size_t i;
  if (len == 0 || len > 18) return 0;
  for (i = 0; i < len; i++) {
    if (v[i] < '0' || v[i] > '9') return 0;
    n = n * 10 + (uint64_t)(v[i] - '0');
  }
  return n;
}

void valk_h2_header_seen(valk_stream_t *st, const uint8_t *name, size_t namelen, const uint8_t *value,
                         size_t valuelen) {
  valk_srv_conn_t *c = st->conn;
  if (namelen == 5 && memcmp(name, ":path", 5) == 0) {
    const valk_route_t *r = valk_route_lookup(&c->srv->opts->routes, value, valuelen);
    st->route = (uint16_t)(r != NULL ? 2 + r->index : 1);
    if (!valk_h2_to_js(c->srv, r)) { /* answered here: no headers to keep */
      st->flags &= (uint16_t)~VALK_STREAM_F_KEEP;
      valk_reqhdrs_drop(&st->hdrs, &c->io.budget);
    }
  } else if (namelen == 7 && memcmp(name, ":method", 7) == 0) {
    st->method = VALK_METHOD_OTHER;
    if (valuelen == 3 && memcmp(value, "GET", 3) == 0) st->method = VALK_METHOD_GET;
    else if (valuelen == 4 && memcmp(value, "HEAD", 4) == 0) st->method = VALK_METHOD_HEAD;
  } else if (namelen == 14 && memcmp(name, "content-length", 14) == 0) {
    st->content_length = valk__parse_length(value, valuelen);
  } else if (namelen == 13 && memcmp(name, "last-event-id", 13) == 0) {
    st->last_event_id = valk__parse_event_id(value, valuelen);
  }
}

/* ---- cancellation --------------------------------------------------------------- */

/*
 * st dies while JavaScript has its request: the request is orphaned (its
 * arena goes back when its answer comes, valk__js_orphan_done) and its token
 * goes to Node's thread, which aborts the handler's signal and answers at once
 * so the arena is not held until the handler gives up (docs/design.md §7).
 * A full ring (a reused slot cancelled again before Node drained the first)
 * loses the notice, counted; the handler's timeout still ends the request.
 */
static void valk__push_cancel(valk_server_t *srv, uint64_t token) {
  int rc = valk_ring_push(&srv->sys->cancels, (void *)(uintptr_t)token);
  if (rc < 0) {
    VALK_SRV_ADD(srv, requests_cancel_lost, 1);
    return;
  }
  VALK_SRV_ADD(srv, requests_cancelled, 1);
  if (rc == 1) srv->notify_pending = 1; /* Node's loop is woken after this iteration */
}

static void valk__js_cancel(valk_stream_t *st) {
  st->js->stream = NULL;
  valk__push_cancel(st->conn->srv, valk_js_token(st->js));
}

/* ---- requests for JavaScript (valk_dispatch.h) --------------------------- */

/* The peer's address as text: asked of the kernel once per connection. */
static void valk__peer_name(valk_srv_conn_t *c, char *out, size_t len) {
  struct sockaddr_storage ss;
  int sl = sizeof(ss);
  size_t n;
  if (c->remote[0] == '\0' && uv_tcp_getpeername(&c->io.tcp, (struct sockaddr *)&ss, &sl) == 0) {
    if (ss.ss_family == AF_INET6) uv_ip6_name((struct sockaddr_in6 *)&ss, c->remote, sizeof(c->remote));
    else uv_ip4_name((struct sockaddr_in *)&ss, c->remote, sizeof(c->remote));
  }
  n = strnlen(c->remote, sizeof(c->remote) - 1);
  if (n >= len) n = len - 1;
  memcpy(out, c->remote, n);
  out[n] = '\0';
}

/* Builds the request in the stream's arena: the kept headers move there.
 * NULL when it does not fit. */
static valk_js_request_t *valk__js_request(valk_stream_t *st) {
  valk_srv_conn_t *c = st->conn;
  valk_arena_pool_t *pool = st->pool;
  valk_system_t *sys = c->srv->sys;
  valk_js_request_t *req = valk_arena_alloc(pool, st->arena, sizeof(*req), 8);
  uint8_t *bytes;
  uint32_t i;

  if (req == NULL) return NULL;
  memset(req, 0, sizeof(*req));
  req->headers = valk_arena_alloc(pool, st->arena, (st->hdrs.n ? st->hdrs.n : 1) * sizeof(valk_hdr_t), 8);
  bytes = valk_arena_alloc(pool, st->arena, valk_reqhdrs_bytes(&st->hdrs) + 1, 1);
  if (req->headers == NULL || bytes == NULL) return NULL;
  valk_reqhdrs_export(&st->hdrs, bytes, req->headers);
  req->nheaders = st->hdrs.n;
  valk_reqhdrs_drop(&st->hdrs, &c->io.budget);
  for (i = 0; i < req->nheaders; i++) {
    const valk_hdr_t *h = &req->headers[i];
    if (h->name_len == 7 && memcmp(h->name, ":method", 7) == 0) req->method = *h;
    else if (h->name_len == 5 && memcmp(h->name, ":path", 5) == 0) req->path = *h;
  }
  req->server_id = c->srv->id;
  req->stream_id = st->id;
  /* Slots: the big pool's, then the admin pool's, then the small pool's (valk_dispatch_slots). */
  req->slot = (pool == &sys->arenas ? 0 : pool == &sys->admin_arenas ? sys->arenas.count
                                                                      : sys->arenas.count + sys->admin_arenas.count) +
              st->arena->index;
  req->gen = ++sys->request_gen;
  req->body = st->body;
  req->body_len = st->body != NULL ? st->body_len : 0;
  req->body_streaming = (st->flags & VALK_STREAM_F_BODY_STREAM) != 0;
  req->stream = st;
  req->pool = pool;
  req->arena = st->arena;
  req->conn = c;
  req->conn_uid = c->io.uid;
  valk__peer_name(c, req->remote, sizeof(req->remote));
  return req;
}

/*
 * The request ended and no route takes it: hand it to JavaScript through the
 * request ring. No arena, or the ring full: 503 (docs/design.md §3).
 */
static int valk__dispatch_js(valk_stream_t *st) {
  valk_server_t *srv = st->conn->srv;
  valk_system_t *sys = srv->sys;
  valk_js_request_t *req;
  uint32_t depth;
  int rc;

  if (st->arena == NULL && (st->arena = valk__arena_take(st, 0)) == NULL) return valk__no_arena(st);
  req = valk__js_request(st);
  if (req == NULL && st->pool == &sys->small_arenas) { /* headers + body did not fit a small arena */
    if (valk__arena_grow(st) != 0) return valk__no_arena(st);
    req = valk__js_request(st);
  }
  if (req == NULL) return valk__body_too_large(st); /* headers + body filled the arena */
  st->js = req;
  /* Behind others waiting, or the ring full: it waits its turn (none is refused for it). */
  if (sys->backlog_head != NULL || (rc = valk_ring_push_len(&sys->requests, req, &depth)) < 0) {
    VALK_SRV_ADD(srv, requests_queue_full, 1);
    valk__backlog_add(st); /* the flag first: Node's drain from now on wakes us ... */
    valk_h2_backlog_push(sys); /* ... and one that came before leaves room now (and the state) */
    return 0;
  }
  valk__queue_state(sys, depth);
  valk__dispatched(st, rc);
  return 0;
}

/* The request queue's backpressure state (docs/design.md §13) at depth
 * requests in the ring: its fill is the depth, or the capacity while requests
 * wait for room (DROPPING: they wait, and get 503 after requestTimeoutMs). */
static void valk__queue_state(valk_system_t *sys, uint32_t depth) {
  uint64_t fill = sys->backlog_head != NULL ? sys->config.queue_capacity : depth;
  valk_bpstate_update(&sys->queue_state, fill, uv_now(&sys->loop) * 1000000u);
}

void valk_h2_queue_check(valk_system_t *sys) {
  valk__queue_state(sys, valk_ring_size(&sys->requests));
}

/* st's request is on the ring: the arena is the owner thread's until the answer comes. */
static void valk__dispatched(valk_stream_t *st, int rc) {
  valk_server_t *srv = st->conn->srv;
  atomic_fetch_add_explicit(&srv->sys->js_in_flight, 1, memory_order_relaxed);
  VALK_SRV_ADD(srv, requests_dispatched, 1);
  if (rc == 1) srv->notify_pending = 1; /* Node's loop is woken after this iteration's reads */
  valk_h2_body_dispatched(st, st->js); /* after the request: its body's chunks follow it */
}

/* st waits for room in the request ring (bounded by the streams themselves):
 * an admin listener's request goes first, the others in arrival order. */
static void valk__backlog_add(valk_stream_t *st) {
  valk_system_t *sys = st->conn->srv->sys;
  st->flags |= VALK_STREAM_F_BACKLOG;
  if (st->conn->srv->opts->admin || sys->backlog_head == NULL) {
    st->backlog_next = sys->backlog_head;
    sys->backlog_head = st;
    if (sys->backlog_tail == NULL) sys->backlog_tail = st;
  } else {
    st->backlog_next = NULL;
    sys->backlog_tail->backlog_next = st;
    sys->backlog_tail = st;
  }
  atomic_store_explicit(&sys->js_backlog, 1, memory_order_release);
}

/* Takes st out of the backlog (its stream died first). O(n) in the backlog. */
static void valk__backlog_remove(valk_stream_t *st) {
  valk_system_t *sys = st->conn->srv->sys;
  valk_stream_t **p, *prev = NULL;
  for (p = &sys->backlog_head; *p != NULL; prev = *p, p = &(*p)->backlog_next) {
    if (*p != st) continue;
    *p = st->backlog_next;
    if (sys->backlog_tail == st) sys->backlog_tail = prev;
    break;
  }
  st->backlog_next = NULL;
  st->flags &= (uint16_t)~VALK_STREAM_F_BACKLOG;
  if (sys->backlog_head == NULL) atomic_store_explicit(&sys->js_backlog, 0, memory_order_release);
}

void valk_h2_backlog_expire(valk_stream_t *st) {
  valk_server_t *srv = st->conn->srv;
  assert(st->flags & VALK_STREAM_F_BACKLOG);
  valk__backlog_remove(st);
  st->js = NULL; /* never reached JavaScript: the arena is the stream's again */
  if (st->flags & VALK_STREAM_F_BODY_STREAM) valk_h2_body_drop(st);
  VALK_SRV_ADD(srv, requests_queue_timed_out, 1);
  valk__respond_with(st, srv->opts->routes.overloaded); /* the sweep flushes after it */
}

void valk_h2_backlog_push(valk_system_t *sys) {
  uint32_t depth = 0;
  int waited = sys->backlog_head != NULL;
  while (sys->backlog_head != NULL) {
    valk_stream_t *st = sys->backlog_head;
    int rc = valk_ring_push_len(&sys->requests, st->js, &depth);
    if (rc < 0) { /* still full: Node's next drain wakes us again */
      valk__queue_state(sys, depth);
      return;
    }
    sys->backlog_head = st->backlog_next;
    if (sys->backlog_head == NULL) sys->backlog_tail = NULL;
    st->backlog_next = NULL;
    st->flags &= (uint16_t)~VALK_STREAM_F_BACKLOG;
    valk__dispatched(st, rc);
  }
  atomic_store_explicit(&sys->js_backlog, 0, memory_order_release);
  if (waited) valk__queue_state(sys, depth);
}

/*
 * Wakes Node's loop if a request went onto the empty request ring since the
 * last call. Called once per loop iteration, after all I/O callbacks (check
 * phase), and when the server closes: the requests of every connection read
 * in one iteration reach JavaScript with one wake-up and in one batch, and
 * Node's thread is not woken (and, sharing a core, does not preempt this one)
 * in the middle of the reads. Node drains the ring until it is empty, so a
 * request pushed onto a non-empty ring needs no wake-up of its own.
 */
void valk_h2_notify_owner(valk_server_t *srv) {
  valk_system_t *sys = srv->sys;
  valk_h2_body_offers(srv); /* the bodies read this iteration: one chunk each */
  if (!srv->notify_pending) return;
  srv->notify_pending = 0;
  if (sys->notify != NULL) sys->notify(sys->notify_data);
}

void valk_h2_on_notify_check(uv_check_t *check) {
  valk_h2_notify_owner(check->data);
}

/* Decimal digits of v into out (at least 24 bytes); returns their count. */
static size_t valk__utoa(uint64_t v, char *out) {
  char tmp[24];
  size_t n = 0, i;
  do {
    tmp[n++] = (char)('0' + v % 10);
    v /= 10;
  } while (v != 0);
  for (i = 0; i < n; i++) out[i] = tmp[n - 1 - i];
  return n;
}


void valk_h2_stream_resume(valk_stream_t *st, valk_srv_conn_t **list) {
  valk__resume(st);
  valk_h2_flush_later(st->conn, list);
}

valk_server_t *valk_h2_stream_server(const valk_stream_t *st) {
  return st->conn->srv;
}

void valk_h2_flush_list(valk_srv_conn_t *list) {
  /* Every connection here is alive: a slot is freed only in its close
   * callback, which never runs inside the drain that built the list. */
  while (list != NULL) {
    valk_srv_conn_t *c = list;
    list = c->flush_next;
    c->flush_next = NULL;
    c->io.flags &= ~VALK_SRV_F_FLUSH_QUEUED;
    valk_h2_conn_flush(c);
  }
}

/* The answer of a request whose stream died while JavaScript had it: its
 * arena goes back, and out of its connection's share if that connection is
 * still the one in the slot (uids are never reused). */
static void valk__js_orphan_done(valk_system_t *sys, valk_js_request_t *req) {
  valk_srv_conn_t *c = req->conn;
  valk_h2_body_close(sys, req);
  if (req->answer_arena != NULL) valk_arena_release(&sys->arenas, req->answer_arena);
  if (req->resp_pinned) valk__unpin(sys, valk_js_token(req));
  valk_arena_release(req->pool, req->arena);
  if (c->io.uid != req->conn_uid) return; /* another connection has the slot now */
  assert(c->arenas > 0);
  c->arenas--;
}

/* Bytes of a response header block as RFC 9113 counts a header list. */
static size_t valk__resp_headers_size(const valk_js_request_t *req) {
  size_t n = VALK_RESP_FIXED_HEADERS_BYTES;
  uint32_t i;
  for (i = 0; i < req->resp_nheaders; i++)
    n += (size_t)req->resp_headers[i].name_len + req->resp_headers[i].value_len + 32;
  return n;
}

/* Room for the answer's frame headers: in its arena, else in its overflow arena. */
static void *valk__answer_alloc(valk_system_t *sys, valk_js_request_t *req, size_t size) {
  void *p = valk_arena_alloc(req->pool, req->arena, size, 8);
  if (p == NULL && req->answer_arena != NULL) p = valk_arena_alloc(&sys->arenas, req->answer_arena, size, 8);
  return p;
}

void valk_h2_js_respond(valk_system_t *sys, valk_js_request_t *req, valk_srv_conn_t **flush) {
  valk_stream_t *st = req->stream;
  const valk_route_table_t *table;
  nghttp2_nv *nva;
  char *status, *length;
  size_t length_len;
  uint32_t i;

  if (st == NULL) { /* the stream died while JavaScript had it */
    if (!req->resp_streaming) valk__js_orphan_done(sys, req);
    return; /* a streaming answer's chunks still name the request: its final one frees it */
  }
  assert(st->js == req && st->arena == req->arena);
  if (!req->resp_streaming) valk_h2_body_close(sys, req); /* the rest of its body is not wanted */
  st->js = NULL;
  st->answer_arena = req->answer_arena; /* released with the stream's arena */
  st->unpin = req->resp_pinned ? valk_js_token(req) : 0;
  if (req->resp_streaming) { /* its chunks name the request until the final one: it lives that long */
    st->streaming = req;
    req->chunk_discard = 1; /* until the body is really sent (valk__submit_streaming) */
  }
  table = &st->conn->srv->opts->routes;
  valk_h2_flush_later(st->conn, flush);
  if (valk__resp_headers_size(req) > VALK_RESP_HEADERS_MAX) {
    VALK_SRV_ADD(st->conn->srv, responses_refused_headers, 1);
    valk__respond_with(st, table->internal_error); /* nghttp2 would refuse the block */
    return;
  }
  nva = valk__answer_alloc(sys, req, (2 + req->resp_nheaders) * sizeof(*nva));
  status = valk__answer_alloc(sys, req, 4 + 24);
  if (nva == NULL || status == NULL || req->status < 100 || req->status > 999) {
    valk__respond_with(st, table->internal_error); /* the answer did not fit */
    return;
  }
  length = status + 4;
  valk__utoa((uint64_t)req->status, status); /* three digits: checked above */
  length_len = valk__utoa((uint64_t)req->resp_body_len, length);
  nva[0] = (nghttp2_nv){(uint8_t *)":status", (uint8_t *)status, 7, 3, NGHTTP2_NV_FLAG_NO_COPY_NAME | NGHTTP2_NV_FLAG_NO_COPY_VALUE};
  nva[1] = (nghttp2_nv){(uint8_t *)"content-length", (uint8_t *)length, 14, length_len,
                        NGHTTP2_NV_FLAG_NO_COPY_NAME | NGHTTP2_NV_FLAG_NO_COPY_VALUE};
  for (i = 0; i < req->resp_nheaders; i++) {
    const valk_hdr_t *h = &req->resp_headers[i];
    nva[2 + i] = (nghttp2_nv){(uint8_t *)h->name, (uint8_t *)h->value, h->name_len, h->value_len,
                              NGHTTP2_NV_FLAG_NO_COPY_NAME | NGHTTP2_NV_FLAG_NO_COPY_VALUE};
  }
  if (req->resp_streaming) {
    valk__submit_streaming(st, req, nva);
    return;
  }
  if (valk__submit(st, req->status, nva, 2 + req->resp_nheaders, req->resp_body, req->resp_body_len) != 0)
    valk_h2_stream_reset(st, NGHTTP2_INTERNAL_ERROR);
}

/* ---- streaming answers: chunks from JavaScript ------------------------------------ */

/*
 * A streaming answer's body (docs/design.md §7): the chunk JavaScript handed
 * over, as nghttp2 asks for it; nothing (deferred) until the next one comes.
 * A chunk fully copied into frames goes back (its token on sys->unpins), and
 * JavaScript may hand over the next: one chunk per stream is all the AIO
 * thread holds.
 */
/*
 * Submits req's trailer fields on stream id (nghttp2 copies them), then hands
 * their Buffer back. 0, or -1 when they are malformed (the owner checked them:
 * a bug) or nghttp2 refused them. s NULL (HTTP/1.1): dropped.
 */
static int valk__submit_trailers(nghttp2_session *s, int32_t id, valk_stream_t *st, valk_js_request_t *req) {
  nghttp2_nv nva[VALK_TRAILERS_MAX];
  size_t n = 0, at = 0;
  int rv = 0;
  while (s != NULL && at < req->trailers_len) {
    const uint8_t *name = req->trailers + at, *end = req->trailers + req->trailers_len;
    const uint8_t *z1 = memchr(name, 0, (size_t)(end - name));
    const uint8_t *value = z1 != NULL ? z1 + 1 : end;
    const uint8_t *z2 = value < end ? memchr(value, 0, (size_t)(end - value)) : NULL;
    if (z1 == NULL || z2 == NULL || z1 == name || n == VALK_TRAILERS_MAX) {
      rv = -1;
      break;
    }
    nva[n++] = (nghttp2_nv){(uint8_t *)name, (uint8_t *)value, (size_t)(z1 - name), (size_t)(z2 - value), NGHTTP2_NV_FLAG_NONE};
    at = (size_t)(z2 + 1 - req->trailers);
  }
  if (s != NULL && rv == 0 && nghttp2_submit_trailer(s, id, nva, n) != 0) rv = -1;
  if (s != NULL && rv == 0) VALK_SRV_ADD(st->conn->srv, responses_trailers, 1);
  req->trailers = NULL;
  req->trailers_len = 0;
  valk__unpin(st->conn->srv->sys, valk_js_token(req));
  return rv;
}

static ssize_t valk__chunk_read(nghttp2_session *s, int32_t id, uint8_t *buf, size_t length,
                                uint32_t *flags, nghttp2_data_source *src, void *ud) {
  valk_stream_t *st = src->ptr;
  valk_js_request_t *req = st->streaming;
  size_t n;
  (void)ud;
  assert(req != NULL);
  if (!req->chunk_held) {
    if (!req->chunk_final) return NGHTTP2_ERR_DEFERRED;
    *flags |= NGHTTP2_DATA_FLAG_EOF;
    if (req->trailers != NULL) { /* the trailers' HEADERS frame ends the stream (HTTP/2) */
      if (s != NULL) *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
      if (valk__submit_trailers(s, id, st, req) != 0) return NGHTTP2_ERR_CALLBACK_FAILURE;
    }
    return 0;
  }
  n = req->chunk_len - req->chunk_sent;
  if (n > length) n = length;
  memcpy(buf, req->chunk + req->chunk_sent, n);
  req->chunk_sent += n;
  if (req->chunk_sent == req->chunk_len) {
    req->chunk_held = 0;
    valk__unpin(st->conn->srv->sys, valk_js_token(req)); /* the next one may come */
    if (req->chunk_final) *flags |= NGHTTP2_DATA_FLAG_EOF;
  }
  return (ssize_t)n;
}

/* Headers now (no content-length), the body as chunks come (valk_h2_js_chunk). */
static void valk__submit_streaming(valk_stream_t *st, valk_js_request_t *req, nghttp2_nv *nva) {
  nghttp2_data_provider prd;
  prd.source.ptr = st;
  prd.read_callback = valk__chunk_read;
  nva[1] = nva[0]; /* no content-length: the length is not known */
  req->chunk_discard = st->method == VALK_METHOD_HEAD;
  VALK_SRV_ADD(st->conn->srv, responses_streamed, 1);
  if (valk__submit_with(st, req->status, nva + 1, 1 + req->resp_nheaders,
                        st->method == VALK_METHOD_HEAD ? NULL : &prd) != 0)
    valk_h2_stream_reset(st, NGHTTP2_INTERNAL_ERROR);
}

void valk_h2_js_chunk(valk_system_t *sys, valk_js_request_t *req, valk_srv_conn_t **flush) {
  valk_stream_t *st = req->stream;
  int final = (req->chunk_flags & (VALK_CHUNK_END | VALK_CHUNK_ABORT)) != 0;
  int data = req->chunk != NULL && req->chunk_len > 0; /* pinned bytes: the body's, or the trailers' */
  if (data && (req->chunk_flags & VALK_CHUNK_TRAILERS) && (req->chunk_flags & VALK_CHUNK_END) && st != NULL &&
      !req->chunk_discard) {
    req->trailers = req->chunk; /* held until sent: their token goes back then (valk__submit_trailers) */
    req->trailers_len = req->chunk_len;
    req->chunk = NULL;
    req->chunk_len = 0;
    data = 0;
  }
  assert(req->resp_streaming && !req->chunk_held && !req->chunk_final);
  /* The final chunk ends the answer's time with JavaScript (a stop waits for it). */
  if (final) atomic_fetch_sub_explicit(&sys->js_in_flight, 1, memory_order_relaxed);
  if (final && st != NULL) valk_h2_body_close(sys, req); /* the rest of the request body is not wanted */
  if (st == NULL || req->chunk_discard) {
    /* Nobody reads it (the stream died, or HEAD): the chunk goes back at once; the final
     * one of a request whose stream is gone frees it. */
    if (data) valk__unpin(sys, valk_js_token(req));
    if (final && st == NULL) valk__js_orphan_done(sys, req);
    else if (final) req->chunk_final = 1;
    return;
  }
  if (req->chunk_flags & VALK_CHUNK_ABORT) { /* the body failed in JavaScript */
    if (data) valk__unpin(sys, valk_js_token(req));
    req->chunk_final = 1;
    st->flags |= VALK_STREAM_F_RESET;
    valk_h2_stream_reset(st, NGHTTP2_INTERNAL_ERROR);
    valk_h2_flush_later(st->conn, flush);
    return;
  }
  req->chunk_sent = 0;
  req->chunk_held = (uint8_t)data;
  req->chunk_final = (uint8_t)final;
  if (!data && !final) valk__unpin(sys, valk_js_token(req)); /* an empty chunk: nothing to hold */
  st->output_ms = uv_now(&sys->loop);
  valk__resume(st);
  valk_h2_flush_later(st->conn, flush);
}

/*
 * st dies while its answer streams: the chunk it holds goes back, JavaScript
 * is told (its signal aborts, its pump stops) and, until its final chunk
 * comes, the request and its arena stay: JavaScript still names them.
 */
static void valk__streaming_died(valk_stream_t *st) {
  valk_js_request_t *req = st->streaming;
  valk_system_t *sys = st->conn->srv->sys;
  st->streaming = NULL;
  if (req->chunk_held) {
    req->chunk_held = 0;
    valk__unpin(sys, valk_js_token(req));
  }
  if (req->trailers != NULL) { /* the final chunk's trailers, not sent: their Buffer goes back */
    req->trailers = NULL;
    req->trailers_len = 0;
    valk__unpin(sys, valk_js_token(req));
  }
  if (req->chunk_final) return; /* nothing more comes: the arena goes with the stream */
  req->stream = NULL;
  /* The arena (and the answer's overflow arena) are the request's now, freed by its final chunk. */
  st->arena = NULL;
  st->pool = NULL;
  st->answer_arena = NULL;
  valk__push_cancel(st->conn->srv, valk_js_token(req));
}

