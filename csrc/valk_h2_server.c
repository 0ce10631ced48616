/*
 * valk_h2_server.c: HTTP/2 over TLS on the AIO thread. See valk_h2_server.h.
 *
 * Admission (seed 000): a new connection is refused, with its reason counted,
 * when the connection slab is empty (limit), when TCP buffers are past the
 * watermarks (load), or when its client IP holds maxConnectionsPerIp (per-ip).
 * A refusal is an RST before any TLS work, or in goaway mode a TLS handshake,
 * SETTINGS and GOAWAY(last-stream-id 0) from a small separate slab. A
 * connection that finds no TCP buffer stops reading and waits in the
 * backpressure heap; it resumes by priority once enough buffers are free.
 *
 * Hostile clients (docs/RELIABILITY.md): every byte and every second a client
 * can make a connection hold is bounded. Header lists are counted while they
 * are decoded (431 past maxHeaderListSize / maxHeaderPairs); nghttp2 and the
 * server's per-stream state draw on the connection's budget
 * (maxSessionMemory); a connection whose output backs up stops reading;
 * RST_STREAM frames either way and control frames have a rate; every state a
 * stream or connection can wait in has a timeout; frames are checked against
 * RFC 9113 §5.1 before nghttp2 sees them (valk_h2_rules.h); a stream takes an
 * arena only when it needs one, and a connection only its share of them.
 *
 * Thread: every function here runs on the AIO thread that owns the server's
 * system, except valk_server_opts_new/free (owner thread, before LISTEN).
 */
#include "valk_h2_server.h"

#include "valk_owner.h"

#include <arpa/inet.h>
#include <assert.h>
#include <openssl/err.h>
#include <stdlib.h>
#include <string.h>

#include "valk_common.h"
#include "valk_tls.h"

/* nghttp2's own (lib/nghttp2_session.h, compiled into the addon from deps/):
 * a connection error with debug data, after which the session reads nothing
 * and wants to write nothing once its GOAWAY is out. The public
 * nghttp2_session_terminate_session2 does the same without the debug data. */
int nghttp2_session_terminate_session_with_reason(nghttp2_session *session, uint32_t error_code,
                                                  const char *reason);

/* The server's connection flags, above the connection layer's (valk_conn.h). */
enum {
  VALK_SRV_F_ACCEPTED = VALK_CONN_F_KIND << 0,     /* admitted: counted in accepted/closed and the gauge */
  VALK_SRV_F_TLS_SHUTDOWN = VALK_CONN_F_KIND << 1, /* close_notify queued: close when writes end */
  VALK_SRV_F_GOAWAY = VALK_CONN_F_KIND << 2,       /* graceful close started */
  VALK_SRV_F_GRACEFUL = VALK_CONN_F_KIND << 3,     /* a goaway-mode refusal (graceful slab) */
  VALK_SRV_F_IP_COUNTED = VALK_CONN_F_KIND << 4,   /* counted in sys->ips */
  VALK_SRV_F_EVICTING = VALK_CONN_F_KIND << 5,     /* being shed: never paused again */
  VALK_SRV_F_FLUSH_QUEUED = VALK_CONN_F_KIND << 6, /* on a flush list of valk_h2_js_respond */
  VALK_SRV_F_ADMIN = VALK_CONN_F_KIND << 7,        /* an admin listener's (sys->admin_slab) */
  VALK_SRV_F_SETTINGS_ACKED = VALK_CONN_F_KIND << 8, /* the client acknowledged our SETTINGS */
  VALK_SRV_F_TERMINATED = VALK_CONN_F_KIND << 9,   /* a connection error was sent: input is ignored */
  VALK_SRV_F_OUTPUT_NOW = VALK_CONN_F_KIND << 10   /* a callback paused the session: send what it queued first */
};

enum {
  VALK_STREAM_F_RESPONDED = 1u << 0,  /* a response was submitted */
  VALK_STREAM_F_EARLY = 1u << 1,      /* ... before the request ended (408, 413, 431, 503) */
  VALK_STREAM_F_REQ_DONE = 1u << 2,   /* END_STREAM received */
  VALK_STREAM_F_HEADERS_DONE = 1u << 3, /* its request header block is complete */
  VALK_STREAM_F_KEEP = 1u << 4,       /* its headers are kept: JavaScript may answer it */
  VALK_STREAM_F_HDR_OVER = 1u << 5,   /* a header section went past the limits: the rest is skipped */
  VALK_STREAM_F_TRAILERS = 1u << 6,   /* the header section being received is the trailers */
  VALK_STREAM_F_RESET = 1u << 7,      /* RST_STREAM sent or received */
  VALK_STREAM_F_RESP_DONE = 1u << 8   /* the response's END_STREAM went out */
};

/* A connection stops reading while more frames than this wait in nghttp2's
 * outbound queue, or more TLS bytes than VALK_TLS_OUT_HIGH in its write BIO
 * (both only grow while its writes are blocked); it reads again below half. */
#define VALK_OUTQ_HIGH(cfg) (4u * (cfg)->max_concurrent_streams + 64u)

/* A connection holding this many arenas may not take one of the last quarter
 * of the pool: heavy users leave room for light ones (docs/RELIABILITY.md). */
#define VALK_ARENA_LIGHT 4

enum { VALK_METHOD_OTHER = 0, VALK_METHOD_GET = 1, VALK_METHOD_HEAD = 2 };

static const char valk__overloaded_debug[] = "server overloaded";

static void valk__server_maybe_done(valk_server_t *srv);
static const valk_conn_ops_t valk__conn_ops;

/* The server connection a connection-layer callback is about. */
static valk_srv_conn_t *valk__sc(valk_conn_t *c) {
  return VALK_CONTAINER_OF(c, valk_srv_conn_t, io);
}

static void valk__conn_flush(valk_srv_conn_t *c) {
  valk_conn_flush(&c->io);
}

static void valk__conn_close(valk_srv_conn_t *c) {
  valk_conn_close(&c->io);
}

/* ---- options (owner thread) ---------------------------------------------- */

valk_server_opts_t *valk_server_opts_new(void) {
  valk_server_opts_t *opts = calloc(1, sizeof(*opts));
  if (opts == NULL) return NULL;
  if (valk_route_table_init(&opts->routes) != 0) {
    free(opts);
    return NULL;
  }
  return opts;
}

void valk_server_opts_free(valk_server_opts_t *opts) {
  if (opts == NULL) return;
  SSL_CTX_free(opts->ssl_ctx);
  valk_route_table_free(&opts->routes);
  free(opts->error_503_body);
  free(opts);
}

/* ---- connection state and the idle list -------------------------------- */

static void valk__idle_remove(valk_srv_conn_t *c) {
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
static void valk__set_state(valk_srv_conn_t *c, valk_conn_state_t state) {
  if (c->io.state == state || (c->io.state == VALK_CONN_CLOSING && state != VALK_CONN_FREE)) return;
  if (c->io.state == VALK_CONN_IDLE) valk__idle_remove(c);
  c->io.state = state;
  c->io.state_change_ms = uv_now(&c->srv->sys->loop);
  if (state == VALK_CONN_IDLE && !(c->io.flags & (VALK_SRV_F_GRACEFUL | VALK_SRV_F_ADMIN))) valk__idle_append(c);
}

/* ---- backpressure (docs/design.md §5) --------------------------------------- */

/* Sheds a connection to relieve load: GOAWAY(overload code, "server
 * overloaded") as far as a buffer allows, then a hard close. */
static void valk__conn_evict(valk_srv_conn_t *c) {
  valk_system_t *sys = c->srv->sys;
  VALK_SRV_ADD(c->srv, connections_evicted, 1);
  c->io.flags |= VALK_SRV_F_EVICTING;
  valk_bp_remove(&sys->backpressure, &c->io.bp);
  if (c->io.session != NULL && !(c->io.flags & (VALK_SRV_F_GOAWAY | VALK_SRV_F_TLS_SHUTDOWN))) {
    c->io.flags |= VALK_SRV_F_GOAWAY;
    nghttp2_submit_goaway(c->io.session, NGHTTP2_FLAG_NONE,
                          nghttp2_session_get_last_proc_stream_id(c->io.session),
                          sys->config.overload_goaway_code,
                          (const uint8_t *)valk__overloaded_debug,
                          sizeof(valk__overloaded_debug) - 1);
    valk__conn_flush(c);
  }
  valk__conn_close(c);
}

/*
 * ops->no_buffer: stops reading c and puts it in the backpressure heap with
 * its priority (docs/design.md §5); valk_conn_resume wakes it. When the heap
 * is full, the lowest-priority connection among those waiting and c is
 * evicted.
 */
static void valk__conn_pause(valk_conn_t *io, int reading) {
  valk_srv_conn_t *c = valk__sc(io);
  valk_system_t *sys = c->srv->sys;
  uint32_t prio;
  valk_bp_node_t *low;
  valk_srv_conn_t *victim;

  (void)reading; /* reading or writing, the connection stops reading and waits */
  if (io->flags & VALK_SRV_F_EVICTING) return;
  if (!(io->flags & VALK_CONN_F_READ_PAUSED)) {
    valk_conn_pause_reading(io);
    VALK_STAT_ADD(sys, reads_paused, 1);
  }
  if (valk_bp_contains(&io->bp)) return;
  if (io->writes_in_flight == 0) io->progress_ms = uv_now(&sys->loop); /* a wait for buffers begins */
  prio = valk_bp_priority(c->pending_responses, io->bytes_sent, uv_now(&sys->loop) - io->accepted_ms);
  if (valk_bp_push(&sys->backpressure, &io->bp, prio) == 0) return;
  low = valk_bp_lowest(&sys->backpressure);
  if (low == NULL || low->priority >= prio) {
    valk__conn_evict(c);
    return;
  }
  victim = valk__sc(VALK_CONTAINER_OF(low, valk_conn_t, bp));
  valk_bp_remove(&sys->backpressure, low);
  valk_bp_push(&sys->backpressure, &io->bp, prio);
  valk__conn_evict(victim);
}

/* Whether c's output is past its high-water mark (high) or still above half
 * of it (!high): frames waiting in nghttp2, or TLS bytes waiting to be sent. */
static int valk__output_high(const valk_srv_conn_t *c, int high) {
  size_t frames = c->io.session != NULL ? nghttp2_session_get_outbound_queue_size(c->io.session) : 0;
  size_t tls = BIO_ctrl_pending(c->io.wbio);
  size_t fmax = VALK_OUTQ_HIGH(&c->srv->sys->config), tmax = VALK_TLS_OUT_HIGH;
  if (!high) {
    fmax /= 2;
    tmax /= 2;
  }
  return frames > fmax || tls > tmax;
}

/*
 * Reading follows output (docs/RELIABILITY.md, "A memory budget per
 * connection"): a client that sends frames the server must answer (PING,
 * SETTINGS, refused streams) but does not read the answers stops being read
 * once they pile up, and is read again once they drained to half the mark.
 * Called after each input round and each write (ops->wrote).
 */
static void valk__conn_check_output(valk_srv_conn_t *c) {
  if (c->io.flags & (VALK_CONN_F_CLOSED | VALK_CONN_F_LINGER)) return;
  if (!(c->io.flags & VALK_CONN_F_OUT_BLOCKED)) {
    if (!valk__output_high(c, 1)) return;
    VALK_SRV_ADD(c->srv, reads_blocked_output, 1);
    valk_conn_block_reading(&c->io, 1);
  } else if (!valk__output_high(c, 0)) {
    valk_conn_block_reading(&c->io, 0);
  }
}

static void valk__on_wrote(valk_conn_t *io) {
  valk__conn_check_output(valk__sc(io));
}

/* ---- closing -------------------------------------------------------------------- */

/* ops->drained: once the session wants nothing more, close_notify, then a
 * lingering close once it is out. */
static void valk__conn_maybe_finish(valk_conn_t *io) {
  valk_srv_conn_t *c = valk__sc(io);
  if ((io->flags & (VALK_CONN_F_CLOSED | VALK_CONN_F_LINGER)) || io->session == NULL) return;
  if (!(io->flags & VALK_CONN_F_PEER_CLOSED) &&
      (nghttp2_session_want_read(io->session) || nghttp2_session_want_write(io->session)))
    return;
  if (!(io->flags & VALK_SRV_F_TLS_SHUTDOWN)) {
    io->flags |= VALK_SRV_F_TLS_SHUTDOWN;
    valk__set_state(c, VALK_CONN_CLOSING);
    SSL_shutdown(io->ssl);
    ERR_clear_error();
    valk_conn_flush(io); /* sends close_notify, then calls us again */
    return;
  }
  if (io->writes_in_flight == 0 && BIO_ctrl_pending(io->wbio) == 0) valk_conn_linger(io);
}

/* ops->error: reading or writing failed; output failures count as failed connections. */
static void valk__on_io_error(valk_conn_t *io, valk_conn_err_t what, int status) {
  (void)status;
  if (what == VALK_CONN_EOUTPUT) VALK_SRV_ADD(valk__sc(io)->srv, connections_failed, 1);
  valk_conn_close(io);
}

/* ---- streams: request records, bodies in arenas, responses --------------- */

static valk_stream_t *valk__stream(nghttp2_session *s, int32_t id) {
  return nghttp2_session_get_stream_user_data(s, id);
}

/* A stream record from the connection's budget (soft cap): NULL when the
 * budget is near its end, and the stream is then refused. */
static valk_stream_t *valk__stream_new(valk_srv_conn_t *c, int32_t id) {
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

/*
 * An arena for st from its server's pool (docs/RELIABILITY.md, "Arenas cannot be hoarded"): a
 * connection that holds VALK_ARENA_LIGHT or more may not take one of the last
 * quarter of the pool, so a few connections cannot take every arena and the
 * clients that hold few keep getting theirs. NULL: none for st (the caller
 * answers 503; a refusal for the share is counted here).
 */
static valk_arena_t *valk__arena_take(valk_stream_t *st) {
  valk_srv_conn_t *c = st->conn;
  valk_arena_pool_t *pool = c->srv->arenas;
  valk_arena_t *a;
  if (c->arenas >= VALK_ARENA_LIGHT && valk_arena_pool_available(pool) <= pool->count / 4) {
    VALK_SRV_ADD(c->srv, arenas_refused_share, 1);
    return NULL;
  }
  a = valk_arena_acquire(pool);
  if (a != NULL) c->arenas++;
  return a;
}

/* Gives st's arena back to its pool. */
static void valk__arena_give(valk_stream_t *st) {
  valk_srv_conn_t *c = st->conn;
  assert(st->arena != NULL && st->js == NULL && c->arenas > 0);
  valk_arena_release(c->srv->arenas, st->arena);
  c->arenas--;
  st->arena = NULL;
  st->body = NULL;
}

/* Unlinks and frees st, returning its arena and kept headers. Also used for
 * the streams a connection still has when it closes (nghttp2_session_del
 * calls no callback). */
static void valk__stream_free(valk_stream_t *st) {
  valk_srv_conn_t *c = st->conn;
  if (st->plugin_body != NULL) c->srv->sys->hooks.sse->close(c->srv->sys, st->plugin_body);
  if (st->js != NULL) st->js->stream = NULL; /* orphaned: its arena goes when the answer comes */
  else if (st->arena != NULL) valk__arena_give(st);
  valk_reqhdrs_drop(&st->hdrs, &c->io.budget);
  if (st->flags & VALK_STREAM_F_RESPONDED) c->pending_responses--;
  VALK_SRV_ADD(c->srv, streams_active, -1);
  if (st->prev) st->prev->next = st->next;
  else c->streams = st->next;
  if (st->next) st->next->prev = st->prev;
  valk_h2_budget_free(&c->io.budget, st);
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
  memcpy(buf, st->resp_body + st->sent, n);
  st->sent += n;
  if (st->sent == st->resp_len) *flags |= NGHTTP2_DATA_FLAG_EOF;
  return (ssize_t)n;
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
static int valk__to_js(const valk_server_t *srv, const valk_route_t *r) {
  return r != NULL ? r->status == VALK_ROUTE_JS : srv->opts->has_handler;
}

/* The request ended: answer it from the route table, or hand it to JavaScript. */
static int valk__respond(valk_stream_t *st) {
  const valk_route_table_t *table = &st->conn->srv->opts->routes;
  const valk_route_t *r = st->route >= 2 ? table->routes[st->route - 2] : NULL;
  if (valk__to_js(st->conn->srv, r)) return valk__dispatch_js(st);
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
 * the request ended, so the second case needs a handler that answers early
 * (issue #4). Returns 0 or an nghttp2 error.
 */
static int valk__refuse_request(valk_stream_t *st, const valk_route_t *r, uint32_t code) {
  valk_srv_conn_t *c = st->conn;
  if (st->arena != NULL && st->js == NULL) valk__arena_give(st);
  valk_reqhdrs_drop(&st->hdrs, &c->io.budget);
  st->flags &= (uint16_t)~VALK_STREAM_F_KEEP;
  if ((st->flags & VALK_STREAM_F_RESPONDED) || r == NULL)
    return nghttp2_submit_rst_stream(c->io.session, NGHTTP2_FLAG_NONE, st->id, code);
  return valk__respond_with(st, r);
}

/* The body passed maxRequestBodySize: 413, or RST_STREAM(CANCEL). 0 or an nghttp2 error. */
static int valk__body_too_large(valk_stream_t *st) {
  valk_server_t *srv = st->conn->srv;
  if (st->flags & VALK_STREAM_F_RESPONDED) VALK_SRV_ADD(srv, streams_reset_too_large, 1);
  else VALK_SRV_ADD(srv, responses_too_large, 1);
  return valk__refuse_request(st, srv->opts->routes.too_large, NGHTTP2_CANCEL);
}

/* No arena for st: 503 with the server's error503Body and retry-after (seed 000 phase 3). */
static int valk__no_arena(valk_stream_t *st) {
  valk_server_t *srv = st->conn->srv;
  VALK_SRV_ADD(srv, responses_overloaded, 1);
  return valk__refuse_request(st, srv->opts->routes.overloaded, NGHTTP2_REFUSED_STREAM);
}

/* The request headers are complete and a body follows: check the declared length. */
static int valk__body_begin(valk_stream_t *st) {
  valk_system_t *sys = st->conn->srv->sys;
  if (st->content_length >= 0 && (uint64_t)st->content_length > sys->config.max_request_body_size)
    return valk__body_too_large(st);
  return 0;
}

/* A DATA chunk of the request body: into the stream's arena, taken with the
 * first byte (docs/RELIABILITY.md: a stream holds an arena only once a body
 * arrives), within the limit. */
static int valk__body_append(valk_stream_t *st, const uint8_t *data, size_t len) {
  valk_srv_conn_t *c = st->conn;
  valk_system_t *sys = c->srv->sys;
  uint8_t *dst;

  st->input_ms = uv_now(&sys->loop);
  if (st->flags & VALK_STREAM_F_EARLY) return 0; /* answered: discard */
  if (len == 0) return 0;
  if (st->arena == NULL && (st->arena = valk__arena_take(st)) == NULL) return valk__no_arena(st);
  st->body_len += len;
  if (st->body_len > sys->config.max_request_body_size) return valk__body_too_large(st);
  dst = valk_arena_alloc(c->srv->arenas, st->arena, len, 1);
  if (dst == NULL) return valk__body_too_large(st); /* the arena is smaller than the limit */
  if (st->body == NULL) st->body = dst;
  memcpy(dst, data, len);
  return 0;
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
  valk_arena_pool_t *pool = c->srv->arenas;
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
  req->slot = (pool == &sys->admin_arenas ? sys->arenas.count : 0) + st->arena->index;
  req->gen = ++sys->request_gen;
  req->body = st->body;
  req->body_len = st->body != NULL ? st->body_len : 0;
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
 * request ring. No arena, or the ring full: 503 (seed 000 phase 3).
 */
static int valk__dispatch_js(valk_stream_t *st) {
  valk_server_t *srv = st->conn->srv;
  valk_system_t *sys = srv->sys;
  valk_js_request_t *req;
  int rc;

  if (st->arena == NULL && (st->arena = valk__arena_take(st)) == NULL) return valk__no_arena(st);
  req = valk__js_request(st);
  if (req == NULL) return valk__body_too_large(st); /* headers + body filled the arena */
  rc = valk_ring_push(&sys->requests, req);
  if (rc < 0) {
    VALK_SRV_ADD(srv, requests_queue_full, 1);
    return valk__respond_with(st, srv->opts->routes.overloaded);
  }
  st->js = req; /* the arena is the owner thread's until the answer comes */
  atomic_fetch_add_explicit(&sys->js_in_flight, 1, memory_order_relaxed);
  VALK_SRV_ADD(srv, requests_dispatched, 1);
  if (rc == 1) srv->notify_pending = 1; /* Node's loop is woken after this iteration's reads */
  return 0;
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
static void valk__notify_owner(valk_server_t *srv) {
  valk_system_t *sys = srv->sys;
  if (!srv->notify_pending) return;
  srv->notify_pending = 0;
  if (sys->notify != NULL) sys->notify(sys->notify_data);
}

static void valk__on_notify_check(uv_check_t *check) {
  valk__notify_owner(check->data);
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

/* Puts c on *flush unless it is there already. */
static void valk__flush_later(valk_srv_conn_t *c, valk_srv_conn_t **flush) {
  if (c->io.flags & VALK_SRV_F_FLUSH_QUEUED) return;
  c->io.flags |= VALK_SRV_F_FLUSH_QUEUED;
  c->flush_next = *flush;
  *flush = c;
}

void valk_h2_flush_later(valk_srv_conn_t *c, valk_srv_conn_t **list) {
  valk__flush_later(c, list);
}

void valk_h2_flush_list(valk_srv_conn_t *list) {
  /* Every connection here is alive: a slot is freed only in its close
   * callback, which never runs inside the drain that built the list. */
  while (list != NULL) {
    valk_srv_conn_t *c = list;
    list = c->flush_next;
    c->flush_next = NULL;
    c->io.flags &= ~VALK_SRV_F_FLUSH_QUEUED;
    valk__conn_flush(c);
  }
}

/* The answer of a request whose stream died while JavaScript had it: its
 * arena goes back, and out of its connection's share if that connection is
 * still the one in the slot (uids are never reused). */
static void valk__js_orphan_done(valk_js_request_t *req) {
  valk_srv_conn_t *c = req->conn;
  valk_arena_release(req->pool, req->arena);
  if (c->io.uid == req->conn_uid && c->arenas > 0) c->arenas--;
}

/* Bytes of a response header block as RFC 9113 counts a header list. */
static size_t valk__resp_headers_size(const valk_js_request_t *req) {
  size_t n = VALK_RESP_FIXED_HEADERS_BYTES;
  uint32_t i;
  for (i = 0; i < req->resp_nheaders; i++)
    n += (size_t)req->resp_headers[i].name_len + req->resp_headers[i].value_len + 32;
  return n;
}

void valk_h2_js_respond(valk_system_t *sys, valk_js_request_t *req, valk_srv_conn_t **flush) {
  valk_stream_t *st = req->stream;
  valk_arena_pool_t *pool = req->pool;
  const valk_route_table_t *table;
  nghttp2_nv *nva;
  char *status, *length;
  size_t length_len;
  uint32_t i;

  (void)sys; /* the answer names its pool and connection itself */
  if (st == NULL) { /* the stream died while JavaScript had it */
    valk__js_orphan_done(req);
    return;
  }
  assert(st->js == req && st->arena == req->arena);
  st->js = NULL;
  table = &st->conn->srv->opts->routes;
  valk__flush_later(st->conn, flush);
  if (valk__resp_headers_size(req) > VALK_RESP_HEADERS_MAX) {
    VALK_SRV_ADD(st->conn->srv, responses_refused_headers, 1);
    valk__respond_with(st, table->internal_error); /* nghttp2 would refuse the block */
    return;
  }
  nva = valk_arena_alloc(pool, st->arena, (2 + req->resp_nheaders) * sizeof(*nva), 8);
  status = valk_arena_alloc(pool, st->arena, 4 + 24, 1);
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
  if (valk__submit(st, req->status, nva, 2 + req->resp_nheaders, req->resp_body, req->resp_body_len) != 0)
    nghttp2_submit_rst_stream(st->conn->io.session, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_INTERNAL_ERROR);
}

/* ---- HTTP/2 callbacks ---------------------------------------------------- */

/*
 * A header section went past maxHeaderListSize or maxHeaderPairs
 * (docs/RELIABILITY.md, "Header limits"). While nothing was answered: 431,
 * and the session pauses so the 431 is out before the rest of the block is
 * skipped (skipping queues an RST_STREAM, which drops a response not yet
 * sent); once answered: RST_STREAM(ENHANCE_YOUR_CALM). Either way the rest of
 * the block is decoded without callbacks: HPACK decoding only, no copy and no
 * check per field, so an indexed-field flood costs the limit, not its size.
 */
static int valk__headers_too_large(valk_stream_t *st) {
  valk_srv_conn_t *c = st->conn;
  int responded = (st->flags & VALK_STREAM_F_RESPONDED) != 0;
  st->flags |= VALK_STREAM_F_HDR_OVER | VALK_STREAM_F_HEADERS_DONE;
  VALK_SRV_ADD(c->srv, headers_too_large, 1);
  if (valk__refuse_request(st, c->srv->opts->routes.headers_too_large, NGHTTP2_ENHANCE_YOUR_CALM) != 0 || responded)
    return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  c->io.flags |= VALK_SRV_F_OUTPUT_NOW;
  return NGHTTP2_ERR_PAUSE;
}

static int valk__on_begin_headers(nghttp2_session *s, const nghttp2_frame *f, void *ud) {
  valk_srv_conn_t *c = ud;
  valk_stream_t *st;
  if (f->hd.type != NGHTTP2_HEADERS) return 0;
  if (f->headers.cat != NGHTTP2_HCAT_REQUEST) { /* trailers: counted as a section of their own */
    st = valk__stream(s, f->hd.stream_id);
    if (st != NULL) {
      valk_reqhdrs_section(&st->hdrs);
      st->flags |= VALK_STREAM_F_TRAILERS;
    }
    return 0;
  }
  st = valk__stream_new(c, f->hd.stream_id);
  if (st == NULL) { /* the connection's budget is near its end: refuse, nghttp2 keeps room to say so */
    VALK_SRV_ADD(c->srv, streams_refused, 1);
    nghttp2_submit_rst_stream(s, NGHTTP2_FLAG_NONE, f->hd.stream_id, NGHTTP2_REFUSED_STREAM);
    return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  }
  nghttp2_session_set_stream_user_data(s, f->hd.stream_id, st);
  /* A handler may answer it: its headers are kept (from the budget) until it takes an arena. */
  if (c->srv->opts->has_js) st->flags |= VALK_STREAM_F_KEEP;
  VALK_SRV_ADD(c->srv, streams_total, 1);
  c->streams_open++;
  valk__set_state(c, VALK_CONN_ACTIVE);
  return 0;
}

static int64_t valk__parse_length(const uint8_t *v, size_t len) {
  int64_t n = 0;
  size_t i;
  if (len == 0 || len > 18) return INT64_MAX; /* nghttp2 checked the syntax; huge is too large */
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

/* The request fields the AIO thread itself reads. */
static void valk__header_seen(valk_srv_conn_t *c, valk_stream_t *st, const uint8_t *name, size_t namelen,
                              const uint8_t *value, size_t valuelen) {
  if (namelen == 5 && memcmp(name, ":path", 5) == 0) {
    const valk_route_t *r = valk_route_lookup(&c->srv->opts->routes, value, valuelen);
    st->route = (uint16_t)(r != NULL ? 2 + r->index : 1);
    if (!valk__to_js(c->srv, r)) { /* answered here: no headers to keep */
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

static int valk__on_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name,
                           size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
                           void *ud) {
  valk_srv_conn_t *c = ud;
  valk_stream_t *st;
  (void)flags;
  if (f->hd.type != NGHTTP2_HEADERS) return 0;
  st = valk__stream(s, f->hd.stream_id);
  if (st == NULL || (st->flags & VALK_STREAM_F_HDR_OVER)) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  /* Counted before anything is copied or looked at (RFC 9113 §6.5.2). */
  if (valk_reqhdrs_count(&st->hdrs, &c->srv->hdr_limits, namelen, valuelen) != 0) return valk__headers_too_large(st);
  if (st->flags & VALK_STREAM_F_TRAILERS) return 0; /* counted, not kept */
  valk__header_seen(c, st, name, namelen, value, valuelen);
  if ((st->flags & VALK_STREAM_F_KEEP) && valk_reqhdrs_keep(&st->hdrs, &c->io.budget, name, namelen, value, valuelen) != 0) {
    /* The connection's budget is near its end: refuse the stream. */
    VALK_SRV_ADD(c->srv, streams_refused, 1);
    st->flags |= VALK_STREAM_F_HDR_OVER | VALK_STREAM_F_HEADERS_DONE;
    valk__refuse_request(st, NULL, NGHTTP2_REFUSED_STREAM);
    return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  }
  return 0;
}

static int valk__on_data_chunk(nghttp2_session *s, uint8_t flags, int32_t id, const uint8_t *data,
                               size_t len, void *ud) {
  valk_stream_t *st = valk__stream(s, id);
  (void)flags;
  (void)ud;
  if (st == NULL) return 0;
  return valk__body_append(st, data, len) == 0 ? 0 : NGHTTP2_ERR_CALLBACK_FAILURE;
}

static int valk__on_frame_recv(nghttp2_session *s, const nghttp2_frame *f, void *ud) {
  valk_srv_conn_t *c = ud;
  valk_stream_t *st;
  int rc = 0;
  if (f->hd.type == NGHTTP2_SETTINGS) {
    if (f->hd.flags & NGHTTP2_FLAG_ACK) c->io.flags |= VALK_SRV_F_SETTINGS_ACKED;
    return 0;
  }
  if (f->hd.type != NGHTTP2_HEADERS && f->hd.type != NGHTTP2_DATA && f->hd.type != NGHTTP2_RST_STREAM) return 0;
  st = valk__stream(s, f->hd.stream_id);
  if (st == NULL) return 0;
  if (f->hd.type == NGHTTP2_RST_STREAM) {
    st->flags |= VALK_STREAM_F_RESET;
    return 0;
  }
  if (f->hd.type == NGHTTP2_HEADERS) {
    st->flags &= (uint16_t)~VALK_STREAM_F_TRAILERS;
    if (f->headers.cat == NGHTTP2_HCAT_REQUEST) {
      st->flags |= VALK_STREAM_F_HEADERS_DONE;
      st->input_ms = uv_now(&c->srv->sys->loop);
    }
  }
  if (f->hd.flags & NGHTTP2_FLAG_END_STREAM) {
    st->flags |= VALK_STREAM_F_REQ_DONE;
    if (!(st->flags & VALK_STREAM_F_RESPONDED)) rc = valk__respond(st);
  } else if (f->hd.type == NGHTTP2_HEADERS && f->headers.cat == NGHTTP2_HCAT_REQUEST) {
    rc = valk__body_begin(st);
  }
  return rc == 0 ? 0 : NGHTTP2_ERR_CALLBACK_FAILURE;
}

/* A connection error (docs/RELIABILITY.md): GOAWAY(code, reason), then the
 * session ignores all input and the connection closes once the GOAWAY is
 * out. Safe inside nghttp2's callbacks. Returns 1. */
static int valk__conn_terminate(valk_srv_conn_t *c, uint32_t code, const char *reason) {
  if (c->io.flags & VALK_SRV_F_TERMINATED) return 1;
  c->io.flags |= VALK_SRV_F_TERMINATED;
  if (nghttp2_session_terminate_session_with_reason(c->io.session, code, reason) != 0) valk__conn_close(c);
  return 1;
}

/* An RST_STREAM went out: the stream's late frames are to be ignored, and it
 * counts toward the connection's reset budget (streamResetRate): resets a
 * client makes the server send count like its own (CVE-2025-8671). */
static void valk__on_reset_sent(valk_srv_conn_t *c, int32_t id) {
  valk_stream_t *st = id > 0 ? valk__stream(c->io.session, id) : NULL;
  if (st != NULL) st->flags |= VALK_STREAM_F_RESET;
  if (id > 0) valk_closed_add(&c->closed, id, VALK_CLOSED_RESET);
  VALK_SRV_ADD(c->srv, resets_sent, 1);
  if (valk_ratelim_take(&c->resets, uv_now(&c->srv->sys->loop)) != 0 && !(c->io.flags & VALK_SRV_F_TERMINATED)) {
    VALK_SRV_ADD(c->srv, connections_reset_flood, 1);
    valk__conn_terminate(c, NGHTTP2_ENHANCE_YOUR_CALM, "too many stream resets");
  }
}

/* GOAWAY codes that say the client broke the protocol. */
static int valk__is_protocol_error(uint32_t code) {
  return code == NGHTTP2_PROTOCOL_ERROR || code == NGHTTP2_FLOW_CONTROL_ERROR || code == NGHTTP2_STREAM_CLOSED ||
         code == NGHTTP2_FRAME_SIZE_ERROR || code == NGHTTP2_COMPRESSION_ERROR;
}

/* Frames out: send progress (sendTimeoutMs), resets, and an early response
 * (408, 413, 431, 503) that is complete asks the client to stop sending the
 * request with RST_STREAM(NO_ERROR) (RFC 9113 §8.1). */
static int valk__on_frame_send(nghttp2_session *s, const nghttp2_frame *f, void *ud) {
  valk_srv_conn_t *c = ud;
  valk_stream_t *st;
  switch (f->hd.type) {
  case NGHTTP2_RST_STREAM:
    valk__on_reset_sent(c, f->hd.stream_id);
    return 0;
  case NGHTTP2_GOAWAY:
    if (valk__is_protocol_error(f->goaway.error_code)) VALK_SRV_ADD(c->srv, connections_protocol_error, 1);
    return 0;
  case NGHTTP2_HEADERS:
  case NGHTTP2_DATA:
    break;
  default:
    return 0;
  }
  st = valk__stream(s, f->hd.stream_id);
  if (st == NULL) return 0;
  st->output_ms = uv_now(&c->srv->sys->loop);
  if (!(f->hd.flags & NGHTTP2_FLAG_END_STREAM)) return 0;
  st->flags |= VALK_STREAM_F_RESP_DONE;
  if ((st->flags & VALK_STREAM_F_EARLY) && !(st->flags & VALK_STREAM_F_REQ_DONE))
    nghttp2_submit_rst_stream(s, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_NO_ERROR);
  return 0;
}

/* A response header block nghttp2 would not send (too large once encoded):
 * the stream is reset, never left holding its arena. */
static int valk__on_frame_not_send(nghttp2_session *s, const nghttp2_frame *f, int error, void *ud) {
  valk_srv_conn_t *c = ud;
  valk_stream_t *st;
  if (f->hd.type != NGHTTP2_HEADERS || error == NGHTTP2_ERR_STREAM_CLOSED || error == NGHTTP2_ERR_STREAM_CLOSING ||
      error == NGHTTP2_ERR_SESSION_CLOSING || error == NGHTTP2_ERR_STREAM_SHUT_WR)
    return 0;
  st = valk__stream(s, f->hd.stream_id);
  if (st == NULL) return 0;
  VALK_SRV_ADD(c->srv, responses_refused_headers, 1);
  nghttp2_submit_rst_stream(s, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_INTERNAL_ERROR);
  return 0;
}

static int valk__on_stream_close(nghttp2_session *s, int32_t id, uint32_t error_code, void *ud) {
  valk_srv_conn_t *c = ud;
  valk_stream_t *st = valk__stream(s, id);
  int normal;
  if (st == NULL) return 0;
  if (error_code == NGHTTP2_NO_ERROR && (st->flags & VALK_STREAM_F_RESPONDED))
    valk_histogram_observe(&c->srv->stats->latency, (uv_hrtime() - st->started_ns) / 1000);
  normal = error_code == NGHTTP2_NO_ERROR && !(st->flags & VALK_STREAM_F_RESET) &&
           (st->flags & (VALK_STREAM_F_REQ_DONE | VALK_STREAM_F_RESP_DONE)) ==
               (VALK_STREAM_F_REQ_DONE | VALK_STREAM_F_RESP_DONE);
  valk_closed_add(&c->closed, id, normal ? VALK_CLOSED_NORMAL : VALK_CLOSED_RESET);
  nghttp2_session_set_stream_user_data(s, id, NULL);
  valk__stream_free(st);
  if (c->streams_open > 0 && --c->streams_open == 0) valk__set_state(c, VALK_CONN_IDLE);
  return 0;
}

static int valk__callbacks_new(nghttp2_session_callbacks **out) {
  nghttp2_session_callbacks *cb;
  if (nghttp2_session_callbacks_new(&cb) != 0) return VALK_ENOMEM;
  nghttp2_session_callbacks_set_on_begin_headers_callback(cb, valk__on_begin_headers);
  nghttp2_session_callbacks_set_on_header_callback(cb, valk__on_header);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, valk__on_data_chunk);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cb, valk__on_frame_recv);
  nghttp2_session_callbacks_set_on_frame_send_callback(cb, valk__on_frame_send);
  nghttp2_session_callbacks_set_on_frame_not_send_callback(cb, valk__on_frame_not_send);
  nghttp2_session_callbacks_set_on_stream_close_callback(cb, valk__on_stream_close);
  *out = cb;
  return 0;
}

/* ---- input: TCP -> TLS -> frame checks -> nghttp2 ------------------------ */

static int valk__conn_session_start(valk_srv_conn_t *c) {
  valk_server_t *srv = c->srv;
  const valk_system_config_t *cfg = &srv->sys->config;
  uint64_t now = uv_now(&srv->sys->loop);
  nghttp2_settings_entry iv[2];
  nghttp2_mem mem; /* copied by the session; its user data is c->io.budget */

  valk_conn_budget_init(&c->io, &mem);
  if (nghttp2_session_server_new3(&c->io.session, srv->callbacks, c, srv->option, &mem) != 0)
    return VALK_ENOMEM;
  iv[0].settings_id = NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS;
  iv[0].value = (c->io.flags & VALK_SRV_F_GRACEFUL) ? 0 : cfg->max_concurrent_streams;
  iv[1].settings_id = NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE;
  iv[1].value = cfg->max_header_list_size;
  if (nghttp2_submit_settings(c->io.session, NGHTTP2_FLAG_NONE, iv, VALK_ARRAY_SIZE(iv)) != 0)
    return VALK_EH2;
  c->settings_ms = now;
  valk_frame_scan_init(&c->scan, VALK_CLIENT_PREFACE_LEN);
  valk_ratelim_init(&c->resets, cfg->stream_reset_rate, 10ull * cfg->stream_reset_rate, now);
  valk_ratelim_init(&c->controls, cfg->control_frame_rate, 10ull * cfg->control_frame_rate, now);
  return 0;
}

/* A goaway-mode refusal after its handshake: SETTINGS, then GOAWAY with
 * last-stream-id 0 (nothing was processed, the client may retry elsewhere or
 * later), the overload error code and "server overloaded"; then close. */
static void valk__conn_refuse_gracefully(valk_srv_conn_t *c) {
  c->io.flags |= VALK_SRV_F_GOAWAY | VALK_CONN_F_DISCARD; /* what the client sends now is dropped */
  nghttp2_submit_goaway(c->io.session, NGHTTP2_FLAG_NONE, 0, c->srv->sys->config.overload_goaway_code,
                        (const uint8_t *)valk__overloaded_debug, sizeof(valk__overloaded_debug) - 1);
  valk__set_state(c, VALK_CONN_CLOSING);
  valk__conn_flush(c);
}

/* 1 when the handshake is done and the session exists, 0 to wait, -1 closed. */
static int valk__conn_handshake(valk_srv_conn_t *c) {
  int rc = valk_conn_handshake(&c->io, NULL, 0);

  if (rc == 0 || rc == VALK_ESTOPPED) return rc == 0 ? 0 : -1;
  if (rc != 1 || !valk_tls_alpn_is_h2(c->io.ssl) || valk__conn_session_start(c) != 0) {
    if (!(c->io.flags & VALK_SRV_F_GRACEFUL)) VALK_SRV_ADD(c->srv, connections_failed, 1);
    valk__conn_close(c);
    return -1;
  }
  if (c->io.flags & VALK_SRV_F_GRACEFUL) {
    valk__conn_refuse_gracefully(c);
    return -1;
  }
  VALK_SRV_ADD(c->srv, tls_handshakes, 1);
  valk__set_state(c, VALK_CONN_IDLE);
  return 1;
}

/* Moves what the session has queued into TLS now, without waiting for the
 * socket: a 431 must be out before the rest of its block is skipped, an
 * RST_STREAM before the frame it answers reaches the session. At most two
 * records, and none past VALK_TLS_OUT_HIGH bytes waiting: the write BIO stays
 * under 2 x VALK_TLS_OUT_HIGH (docs/RELIABILITY.md). 0 or VALK_EH2 / VALK_ETLS. */
static int valk__produce_now(valk_srv_conn_t *c, int32_t until_closed) {
  int i;
  for (i = 0; i < 2; i++) {
    ssize_t rc;
    if (until_closed > 0 && valk__stream(c->io.session, until_closed) == NULL) return 0;
    if (BIO_ctrl_pending(c->io.wbio) > VALK_TLS_OUT_HIGH) return 0; /* bounded: the fallback is nghttp2's own reset */
    rc = valk_conn_produce(&c->io);
    if (rc <= 0) return rc < 0 ? (int)rc : 0;
  }
  return 0;
}

/* Gives p[0 .. n) to the session, going on after a callback paused it to get
 * a response out first (valk__headers_too_large). 0 or VALK_EH2 / VALK_ETLS. */
static int valk__session_feed(valk_srv_conn_t *c, const uint8_t *p, size_t n) {
  do {
    ssize_t k = nghttp2_session_mem_recv(c->io.session, p, n);
    if (k < 0) {
      c->h2_error = (int32_t)k;
      return VALK_EH2;
    }
    p += k;
    n -= (size_t)k;
    if (!(c->io.flags & VALK_SRV_F_OUTPUT_NOW)) {
      assert(n == 0); /* only a pause leaves bytes unread */
      return 0;
    }
    c->io.flags &= ~VALK_SRV_F_OUTPUT_NOW;
    if (valk__produce_now(c, 0) != 0) return VALK_ETLS;
    /* The field that paused may have been the block's last: let the session end the block. */
    if (n == 0 && nghttp2_session_mem_recv(c->io.session, p, 0) < 0) return VALK_EH2;
  } while (n > 0);
  return 0;
}

/* Frames that cost the server work without carrying a request (the
 * controlFrameRate budget): SETTINGS and PING (not ACKs), PRIORITY, empty
 * DATA without END_STREAM, and frame types nghttp2 does not handle. */
static int valk__is_control_frame(const valk_frame_hd_t *hd) {
  switch (hd->type) {
  case VALK_FRAME_SETTINGS:
  case VALK_FRAME_PING:
    return !(hd->flags & VALK_FLAG_ACK);
  case VALK_FRAME_PRIORITY:
    return 1;
  case VALK_FRAME_DATA:
    return hd->length == 0 && !(hd->flags & VALK_FLAG_END_STREAM);
  default:
    return hd->type > VALK_FRAME_CONTINUATION;
  }
}

/*
 * DATA or HEADERS on a stream the client already ended: a stream error
 * STREAM_CLOSED (RFC 9113 §5.1, half-closed (remote)); the connection's other
 * streams go on. nghttp2 alone would end the connection, so the RST_STREAM
 * goes out, which closes the stream in the session, before the frame reaches
 * the session: it then drops the frame as one on a closed stream (counting
 * DATA in the connection's flow control). 0 or VALK_EH2 / VALK_ETLS.
 */
static int valk__stream_closed_error(valk_srv_conn_t *c, valk_stream_t *st) {
  int32_t id = st->id;
  VALK_SRV_ADD(c->srv, streams_state_error, 1);
  if (nghttp2_submit_rst_stream(c->io.session, NGHTTP2_FLAG_NONE, id, NGHTTP2_STREAM_CLOSED) != 0) return VALK_EH2;
  return valk__produce_now(c, id);
}

/*
 * A frame header from the client, before the session gets its last byte
 * (valk_h2_rules.h): the flood guards count it, RFC 9113 §5.1 judges it.
 * Returns 0 to go on, 1 when the connection was terminated (what follows is
 * dropped), or a negative error.
 */
static int valk__frame_check(valk_srv_conn_t *c, const valk_frame_hd_t *hd) {
  uint64_t now = uv_now(&c->srv->sys->loop);
  valk_stream_t *st;
  if (c->io.flags & VALK_SRV_F_TERMINATED) return 1;
  if (valk__is_control_frame(hd) && valk_ratelim_take(&c->controls, now) != 0) {
    VALK_SRV_ADD(c->srv, connections_frame_flood, 1);
    return valk__conn_terminate(c, NGHTTP2_ENHANCE_YOUR_CALM, "too many control frames");
  }
  if (hd->type == VALK_FRAME_RST_STREAM) {
    VALK_SRV_ADD(c->srv, resets_received, 1);
    if (valk_ratelim_take(&c->resets, now) != 0) {
      VALK_SRV_ADD(c->srv, connections_reset_flood, 1);
      return valk__conn_terminate(c, NGHTTP2_ENHANCE_YOUR_CALM, "too many stream resets");
    }
  }
  if (hd->type != VALK_FRAME_DATA && hd->type != VALK_FRAME_HEADERS) return 0; /* §5.1 judges these two only */
  st = hd->stream_id > 0 ? valk__stream(c->io.session, hd->stream_id) : NULL;
  switch (valk_h2_frame_verdict(&c->closed, c->max_peer_id, hd, st != NULL,
                                st != NULL && (st->flags & VALK_STREAM_F_REQ_DONE))) {
  case VALK_VERDICT_STREAM_CLOSED:
    return valk__stream_closed_error(c, st);
  case VALK_VERDICT_CONN_CLOSED:
    return valk__conn_terminate(c, NGHTTP2_STREAM_CLOSED, "frame on a closed stream");
  case VALK_VERDICT_CONN_PROTOCOL:
    return valk__conn_terminate(c, NGHTTP2_PROTOCOL_ERROR, "stream id lower than one already used");
  case VALK_VERDICT_PASS:
    break;
  }
  if (hd->type == VALK_FRAME_HEADERS && (hd->stream_id & 1) && hd->stream_id > c->max_peer_id)
    c->max_peer_id = hd->stream_id;
  return 0;
}

/* Gives n bytes of plaintext to the session, each frame checked first
 * (valk__frame_check). 0 or a negative error. */
static int valk__conn_feed(valk_conn_t *io, const uint8_t *p, size_t n) {
  valk_srv_conn_t *c = valk__sc(io);
  size_t scanned = 0; /* bytes at p already scanned, not yet given to the session */
  for (;;) {
    valk_frame_hd_t hd;
    size_t k;
    int rc;
    if (c->io.flags & VALK_SRV_F_TERMINATED) return 0; /* the session ignores input now */
    k = valk_frame_scan(&c->scan, p + scanned, n - scanned, &hd);
    rc = valk__session_feed(c, p, scanned + k);
    if (rc != 0) return rc;
    p += scanned + k;
    n -= scanned + k;
    if (n == 0) return 0;
    rc = valk__frame_check(c, &hd); /* p[0]: the header's last byte, not yet given */
    if (rc != 0) return rc < 0 ? rc : 0;
    scanned = 1;
  }
}

/* Decrypts everything buffered and gives it to the session, each frame
 * checked first. 0 or a negative error. */
static int valk__conn_read_plaintext(valk_srv_conn_t *c) {
  int rc = valk_conn_read_plaintext(&c->io, valk__conn_feed);
  return rc < 0 ? rc : 0;
}

/*
 * The connection failed (TLS, HTTP/2, or its budget): counted by reason. A
 * session that failed on what the client sent (nghttp2's fatal checks: too
 * many CONTINUATIONs, a queue of ACKs the client does not read) says why in
 * a GOAWAY and closes once it is out, lingering, so the client can read it;
 * otherwise what nghttp2 queued goes out as far as possible and it closes.
 * (connections_protocol_error counts the GOAWAY as it goes out.)
 */
static void valk__conn_failed(valk_srv_conn_t *c) {
  uint32_t code = NGHTTP2_PROTOCOL_ERROR;
  const char *why = "protocol error";
  VALK_SRV_ADD(c->srv, connections_failed, 1);
  if (c->io.budget.hard_refused > 0 || c->h2_error == NGHTTP2_ERR_NOMEM) {
    VALK_SRV_ADD(c->srv, connections_memory_exceeded, 1);
    code = 0;
  } else if (c->h2_error == NGHTTP2_ERR_FLOODED) {
    VALK_SRV_ADD(c->srv, connections_frame_flood, 1);
    code = NGHTTP2_ENHANCE_YOUR_CALM;
    why = "too many frames unanswered";
  } else if (c->h2_error == NGHTTP2_ERR_TOO_MANY_CONTINUATIONS) {
    why = "too many CONTINUATION frames";
  } else if (c->h2_error == 0 || c->h2_error == NGHTTP2_ERR_CALLBACK_FAILURE) {
    code = 0;
  }
  if (code != 0 && c->io.session != NULL && !(c->io.flags & VALK_SRV_F_TERMINATED)) {
    valk__conn_terminate(c, code, why);
    valk__conn_flush(c); /* the GOAWAY, then close_notify and a lingering close */
    return;
  }
  valk__conn_flush(c); /* best effort */
  valk__conn_close(c);
}

/* ops->input: ciphertext arrived. */
static void valk__conn_on_input(valk_conn_t *io) {
  valk_srv_conn_t *c = valk__sc(io);
  if (io->state == VALK_CONN_CONNECTING && valk__conn_handshake(c) != 1) return;
  if (io->session == NULL || (io->flags & VALK_SRV_F_GRACEFUL)) return;
  if (valk__conn_read_plaintext(c) != 0) {
    valk__conn_failed(c);
    return;
  }
  valk__conn_flush(c);
  valk__conn_check_output(c);
}

/* ---- connection lifetime ------------------------------------------------ */

/* The slab c came from: the connection slab, the goaway-mode refusals' or the admin listener's. */
static valk_slab_t *valk__conn_slab_of(const valk_srv_conn_t *c) {
  valk_system_t *sys = c->srv->sys;
  if (c->io.flags & VALK_SRV_F_GRACEFUL) return sys->graceful;
  if (c->io.flags & VALK_SRV_F_ADMIN) return sys->admin_slab;
  return sys->conn_slab;
}

/* ops->closed: the socket is closed; everything goes, then the slot. */
static void valk__on_conn_closed(valk_conn_t *io) {
  valk_srv_conn_t *c = valk__sc(io);
  valk_server_t *srv = c->srv;
  valk_system_t *sys = srv->sys;

  while (c->streams != NULL) valk__stream_free(c->streams);
  if (c->io.session != NULL) nghttp2_session_del(c->io.session);
  assert(c->io.budget.used == 0); /* everything the connection's HTTP/2 state held is back */
  SSL_free(c->io.ssl);
  if (c->prev) c->prev->next = c->next;
  else srv->conns = c->next;
  if (c->next) c->next->prev = c->prev;
  srv->nconns--;
  if (c->io.flags & VALK_SRV_F_IP_COUNTED)
    valk_ip_table_release(&sys->ips, (const struct sockaddr *)&c->peer);
  c->io.state = VALK_CONN_FREE;
  if (c->io.flags & VALK_SRV_F_ACCEPTED) {
    VALK_SRV_ADD(srv, connections_closed, 1);
    VALK_SRV_ADD(srv, connections_active, -1);
  }
  valk_slab_release(valk__conn_slab_of(c), c);
  if (srv->closing) valk__server_maybe_done(srv);
  else valk_h2_retry_accepts(sys);
}

/* ops->closing: c leaves the idle list (the layer took it out of the heap). */
static void valk__on_conn_closing(valk_conn_t *io) {
  valk_srv_conn_t *c = valk__sc(io);
  valk__set_state(c, VALK_CONN_CLOSING);
  valk__idle_remove(c);
}

static const valk_conn_ops_t valk__conn_ops = {
    .input = valk__conn_on_input,
    .no_buffer = valk__conn_pause,
    .drained = valk__conn_maybe_finish,
    .wrote = valk__on_wrote,
    .error = valk__on_io_error,
    .closing = valk__on_conn_closing,
    .closed = valk__on_conn_closed,
};

/* Graceful: GOAWAY(NO_ERROR, last processed stream), close once streams end. */
static void valk__conn_goaway(valk_srv_conn_t *c) {
  /* After our close_notify nothing more can be written: it is closing already. */
  if (c->io.flags & (VALK_CONN_F_CLOSED | VALK_SRV_F_GOAWAY | VALK_SRV_F_TLS_SHUTDOWN)) return;
  if (c->io.session == NULL) {
    valk__conn_close(c);
    return;
  }
  c->io.flags |= VALK_SRV_F_GOAWAY;
  nghttp2_submit_goaway(c->io.session, NGHTTP2_FLAG_NONE,
                        nghttp2_session_get_last_proc_stream_id(c->io.session), NGHTTP2_NO_ERROR,
                        NULL, 0);
  valk__set_state(c, VALK_CONN_CLOSING);
  valk__conn_flush(c);
}

/* Takes c (zeroed here) into srv's list, accepted from listener. */
static int valk__conn_start(valk_srv_conn_t *c, valk_server_t *srv, uv_stream_t *listener,
                            uint32_t flags) {
  valk_system_t *sys = srv->sys;
  int rc;
  memset(c, 0, sizeof(*c));
  rc = valk_conn_init(&c->io, &sys->io, &valk__conn_ops, flags);
  assert(rc == 0); /* uv_tcp_init on a running loop without flags */
  c->srv = srv;
  c->io.stats = srv->stats;
  c->next = srv->conns;
  if (srv->conns) srv->conns->prev = c;
  srv->conns = c;
  srv->nconns++;
  c->io.uid = ++sys->next_conn_uid;
  c->io.state = VALK_CONN_FREE; /* valk__set_state records the change */
  valk__set_state(c, VALK_CONN_CONNECTING);
  return uv_accept(listener, (uv_stream_t *)&c->io.tcp);
}

/* Starts TLS on an accepted connection; closes it on failure. */
static void valk__conn_begin_tls(valk_srv_conn_t *c) {
  if (valk_conn_start_tls(&c->io, c->srv->opts->ssl_ctx) != 0) {
    if (!(c->io.flags & VALK_SRV_F_GRACEFUL)) VALK_SRV_ADD(c->srv, connections_failed, 1);
    valk__conn_close(c);
    return;
  }
  uv_tcp_nodelay(&c->io.tcp, 1);
}

/* ---- admission (seed 000 phases 0-3, and the per-IP and soft limits) ---- */

typedef enum { VALK_REFUSE_LIMIT, VALK_REFUSE_LOAD, VALK_REFUSE_PER_IP } valk_refuse_t;

static void valk__count_refusal(valk_server_t *srv, valk_refuse_t why) {
  switch (why) {
  case VALK_REFUSE_LIMIT: VALK_SRV_ADD(srv, connections_rejected, 1); break;
  case VALK_REFUSE_LOAD: VALK_SRV_ADD(srv, connections_rejected_load, 1); break;
  case VALK_REFUSE_PER_IP: VALK_SRV_ADD(srv, connections_rejected_per_ip, 1); break;
  }
}

static void valk__on_reject_closed(uv_handle_t *handle) {
  valk_reject_t *r = VALK_CONTAINER_OF(handle, valk_reject_t, tcp);
  valk_system_t *sys = r->sys;
  r->next = sys->reject_free;
  sys->reject_free = r;
  valk_h2_retry_accepts(sys);
}

/* Refuses the connection pending on listener with an RST, on one of the
 * system's reject handles. 0, or VALK_ELIMIT when none is free (the accept
 * stays pending). */
static int valk__reject(valk_system_t *sys, uv_stream_t *listener) {
  valk_reject_t *r = sys->reject_free;
  if (r == NULL) return VALK_ELIMIT;
  sys->reject_free = r->next;
  uv_tcp_init(&sys->loop, &r->tcp);
  if (uv_accept(listener, (uv_stream_t *)&r->tcp) == 0 &&
      uv_tcp_close_reset(&r->tcp, valk__on_reject_closed) == 0)
    return 0;
  uv_close((uv_handle_t *)&r->tcp, valk__on_reject_closed);
  return 0;
}

/*
 * Refuses the connection pending on listener. In goaway mode, while a
 * graceful slot is free, it gets TLS + SETTINGS + GOAWAY; otherwise an RST
 * before any TLS work. Returns 0, or VALK_ELIMIT when no reject handle is
 * free (the connection stays in the backlog; retried when one frees).
 */
static int valk__refuse(valk_server_t *srv, uv_stream_t *listener, valk_refuse_t why) {
  valk_system_t *sys = srv->sys;
  valk_srv_conn_t *g = sys->graceful != NULL ? valk_slab_acquire(sys->graceful) : NULL;

  if (g != NULL) {
    valk__count_refusal(srv, why);
    VALK_SRV_ADD(srv, connections_rejected_graceful, 1);
    if (valk__conn_start(g, srv, listener, VALK_SRV_F_GRACEFUL) != 0) valk__conn_close(g);
    else valk__conn_begin_tls(g);
    return 0;
  }
  if (valk__reject(sys, listener) != 0) return VALK_ELIMIT;
  valk__count_refusal(srv, why);
  return 0;
}

/* Soft limit: at bufferHighWatermark of the connection slab, the longest-idle
 * connection (idle at least soft_limit_idle_ms) gets GOAWAY(NO_ERROR). */
static void valk__soft_limit(valk_system_t *sys) {
  valk_srv_conn_t *c = sys->idle_head;
  if (!sys->config.soft_limit || c == NULL ||
      valk_slab_used(sys->conn_slab) < sys->soft_limit_at ||
      uv_now(&sys->loop) - c->io.state_change_ms < sys->config.soft_limit_idle_ms)
    return;
  VALK_SRV_ADD(c->srv, connections_soft_closed, 1);
  valk__conn_goaway(c);
}

/* Per-IP limit: 0 admitted (and counted), else the connection is reset. */
static int valk__conn_check_ip(valk_srv_conn_t *c) {
  valk_system_t *sys = c->srv->sys;
  struct sockaddr_storage ss;
  int len = sizeof(ss);

  int rc;

  if (sys->config.max_connections_per_ip == 0) return 0;
  if (uv_tcp_getpeername(&c->io.tcp, (struct sockaddr *)&ss, &len) != 0) {
    VALK_SRV_ADD(c->srv, connections_failed, 1); /* the peer is gone already */
    valk__conn_close(c);
    return VALK_EINVAL;
  }
  rc = valk_ip_table_acquire(&sys->ips, (struct sockaddr *)&ss, sys->config.max_connections_per_ip);
  if (rc == 0) {
    memcpy(&c->peer, &ss, (size_t)len < sizeof(c->peer) ? (size_t)len : sizeof(c->peer));
    c->io.flags |= VALK_SRV_F_IP_COUNTED;
    return 0;
  }
  if (rc != VALK_ELIMIT) return 0; /* not an IP socket: not limited */
  valk__count_refusal(c->srv, VALK_REFUSE_PER_IP);
  valk_conn_close_reset(&c->io);
  return VALK_ELIMIT;
}

/* The admin listener's accept: its own slab, no watermark, per-IP or soft
 * limit, so an operator reaches the debug routes while the server sheds load. */
static void valk__on_admin_connection(valk_server_t *srv, uv_stream_t *listener) {
  valk_srv_conn_t *c = valk_slab_acquire(srv->sys->admin_slab);
  if (c == NULL) {
    if (valk__refuse(srv, listener, VALK_REFUSE_LIMIT) != 0) srv->accept_pending = 1;
    return;
  }
  if (valk__conn_start(c, srv, listener, VALK_SRV_F_ADMIN) != 0) {
    VALK_SRV_ADD(srv, connections_failed, 1);
    valk__conn_close(c);
    return;
  }
  c->io.flags |= VALK_SRV_F_ACCEPTED;
  c->io.owner = srv->owner;
  VALK_SRV_ADD(srv, connections_total, 1);
  VALK_SRV_ADD(srv, connections_active, 1);
  valk__conn_begin_tls(c);
}

static void valk__on_connection(uv_stream_t *listener, int status) {
  valk_server_t *srv = listener->data;
  valk_system_t *sys = srv->sys;
  valk_srv_conn_t *c;
  valk_refuse_t why = VALK_REFUSE_LIMIT;

  if (status < 0) {
    VALK_WARN("accept on %s:%d: %s", srv->opts->host, srv->opts->port, uv_strerror(status));
    return;
  }
  if (srv->opts->admin) {
    valk__on_admin_connection(srv, listener);
    return;
  }
  valk__soft_limit(sys);
  c = valk_slab_acquire(sys->conn_slab); /* empty slab: at max_connections */
  if (c != NULL && !valk_watermark_admit(&sys->watermark, valk_slab_used(sys->tcp_bufs))) {
    valk_slab_release(sys->conn_slab, c);
    c = NULL;
    why = VALK_REFUSE_LOAD;
  }
  if (c == NULL) {
    if (valk__refuse(srv, listener, why) != 0) srv->accept_pending = 1;
    return;
  }
  if (valk__conn_start(c, srv, listener, 0) != 0) {
    VALK_SRV_ADD(srv, connections_failed, 1);
    valk__conn_close(c);
    return;
  }
  if (valk__conn_check_ip(c) != 0) return;
  c->io.flags |= VALK_SRV_F_ACCEPTED;
  c->io.owner = srv->owner;
  VALK_SRV_ADD(srv, connections_total, 1);
  VALK_SRV_ADD(srv, connections_active, 1);
  valk__conn_begin_tls(c);
}

void valk_h2_retry_accepts(valk_system_t *sys) {
  uint32_t i;
  for (i = 0; i < VALK_MAX_SERVERS; i++) {
    valk_server_t *srv = sys->servers[i];
    if (srv == NULL || !srv->accept_pending || srv->closing) continue;
    srv->accept_pending = 0;
    valk__on_connection((uv_stream_t *)&srv->listener, 0);
  }
}

/* ---- timeouts ----------------------------------------------------------- */

/*
 * A request that is not coming (docs/RELIABILITY.md, "A time bound on every state"): its
 * body made no progress for bodyTimeoutMs, or it did not end within
 * requestTimeoutMs. 408 and its arena back (RST_STREAM(CANCEL) if a response
 * began).
 */
static void valk__request_timed_out(valk_stream_t *st) {
  VALK_SRV_ADD(st->conn->srv, requests_timed_out, 1);
  valk__refuse_request(st, st->conn->srv->opts->routes.timed_out, NGHTTP2_CANCEL);
}

/* The time bounds of c's streams. 1 when the connection was terminated. */
static int valk__streams_sweep(valk_srv_conn_t *c, uint64_t now, const valk_system_config_t *cfg) {
  valk_stream_t *st;
  /* While the server itself does not read, the client cannot make progress. */
  int reading = !(c->io.flags & (VALK_CONN_F_READ_PAUSED | VALK_CONN_F_OUT_BLOCKED));
  for (st = c->streams; st != NULL; st = st->next) {
    if (!reading) st->input_ms = now;
    /* An SSE stream between events has nothing to send: it is not stuck. */
    if (st->plugin_body != NULL && c->srv->sys->hooks.sse->between_events(st->plugin_body)) st->output_ms = now;
    if (!(st->flags & (VALK_STREAM_F_HEADERS_DONE | VALK_STREAM_F_RESET))) {
      /* HPACK cannot skip half a header block: the connection goes. */
      if (now - st->started_ms < cfg->headers_timeout_ms) continue;
      VALK_SRV_ADD(c->srv, connections_headers_timeout, 1);
      return valk__conn_terminate(c, NGHTTP2_ENHANCE_YOUR_CALM, "request headers timed out");
    }
    if (!(st->flags & (VALK_STREAM_F_REQ_DONE | VALK_STREAM_F_RESPONDED | VALK_STREAM_F_RESET))) {
      if (now - st->input_ms >= cfg->body_timeout_ms || now - st->started_ms >= cfg->request_timeout_ms)
        valk__request_timed_out(st);
    } else if ((st->flags & VALK_STREAM_F_RESPONDED) &&
               !(st->flags & (VALK_STREAM_F_RESP_DONE | VALK_STREAM_F_RESET)) &&
               now - st->output_ms >= cfg->send_timeout_ms) {
      /* A response that does not move: the client keeps its window closed. */
      VALK_SRV_ADD(c->srv, streams_send_timed_out, 1);
      st->flags |= VALK_STREAM_F_RESET;
      nghttp2_submit_rst_stream(c->io.session, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_CANCEL);
    }
  }
  return 0;
}

static void valk__conn_sweep(valk_srv_conn_t *c, uint64_t now, const valk_system_config_t *cfg) {
  uint64_t age = now - c->io.state_change_ms;
  if (c->io.flags & VALK_CONN_F_CLOSED) return;
  if (c->io.flags & VALK_CONN_F_LINGER) {
    if (age >= VALK_LINGER_MS) valk__conn_close(c);
  } else if ((c->io.writes_in_flight > 0 || valk_bp_contains(&c->io.bp)) && now - c->io.progress_ms >= cfg->send_timeout_ms) {
    /* Stuck: its writes do not drain (a peer that stopped reading) or it has
     * waited for TCP buffers that long. It would pin buffers forever. */
    VALK_SRV_ADD(c->srv, connections_stalled, 1);
    valk__conn_close(c);
  } else if (c->io.state == VALK_CONN_CONNECTING && age >= cfg->handshake_timeout_ms) {
    if (!(c->io.flags & VALK_SRV_F_GRACEFUL)) VALK_SRV_ADD(c->srv, connections_timed_out, 1);
    valk__conn_close(c);
  } else if (c->io.session != NULL &&
             !(c->io.flags & (VALK_SRV_F_SETTINGS_ACKED | VALK_SRV_F_GRACEFUL | VALK_SRV_F_TERMINATED)) &&
             now - c->settings_ms >= cfg->settings_timeout_ms) {
    VALK_SRV_ADD(c->srv, connections_settings_timeout, 1);
    valk__conn_terminate(c, NGHTTP2_SETTINGS_TIMEOUT, "SETTINGS not acknowledged");
    valk__conn_flush(c);
  } else if (c->io.state == VALK_CONN_IDLE && cfg->idle_timeout_ms > 0 && age >= cfg->idle_timeout_ms) {
    VALK_SRV_ADD(c->srv, connections_timed_out, 1);
    valk__conn_goaway(c);
  } else if (c->streams != NULL && c->io.session != NULL && !(c->io.flags & VALK_SRV_F_TERMINATED)) {
    valk__streams_sweep(c, now, cfg);
    valk__conn_flush(c);
  }
}

void valk_h2_sweep(valk_system_t *sys) {
  uint64_t now = uv_now(&sys->loop);
  uint32_t i;
  valk_srv_conn_t *c, *next;
  for (i = 0; i < VALK_MAX_SERVERS; i++) {
    if (sys->servers[i] == NULL) continue;
    for (c = sys->servers[i]->conns; c != NULL; c = next) {
      next = c->next;
      valk__conn_sweep(c, now, &sys->config);
    }
  }
}

/* ---- server lifetime ---------------------------------------------------- */

static void valk__on_server_handle_closed(uv_handle_t *handle) {
  valk_server_t *srv = handle->data;
  srv->handles_open--;
  valk__server_maybe_done(srv);
}

static void valk__server_maybe_done(valk_server_t *srv) {
  valk_system_t *sys = srv->sys;
  valk_op_t *op = srv->close_op;

  if (srv->nconns > 0) return;
  if (!srv->timer_closing) {
    srv->timer_closing = 1;
    valk__notify_owner(srv); /* the check will not run again */
    uv_close((uv_handle_t *)&srv->drain_timer, valk__on_server_handle_closed);
    uv_close((uv_handle_t *)&srv->notify_check, valk__on_server_handle_closed);
  }
  if (srv->handles_open > 0) return;
  if (srv->callbacks) nghttp2_session_callbacks_del(srv->callbacks);
  if (srv->option) nghttp2_option_del(srv->option);
  valk_server_opts_free(srv->opts);
  if (srv->registered) {
    atomic_store(&srv->stats->id, 0);
    valk_owner_unregister(&sys->owners, srv->owner);
    sys->hooks.server_gone(sys, srv);
  }
  free(srv);
  if (op != NULL) {
    op->status = 0;
    valk_op_complete(sys, op);
  }
}

static void valk__on_drain_timeout(uv_timer_t *timer) {
  valk_server_t *srv = timer->data;
  valk_srv_conn_t *c;
  for (c = srv->conns; c != NULL; c = c->next) valk__conn_close(c);
}

void valk_h2_server_close(valk_server_t *srv, valk_op_t *op) {
  valk_srv_conn_t *c;

  if (srv->closing) {
    if (op != NULL) {
      op->status = VALK_EINVAL;
      snprintf(op->error, sizeof(op->error), "server is already closing");
      valk_op_complete(srv->sys, op);
    }
    return;
  }
  srv->closing = 1;
  srv->close_op = op;
  uv_close((uv_handle_t *)&srv->listener, valk__on_server_handle_closed);
  srv->sys->hooks.sse->end_server(srv->sys, srv); /* SSE streams never end by themselves: drain would wait */
  for (c = srv->conns; c != NULL; c = c->next) valk__conn_goaway(c);
  if (srv->nconns > 0) {
    uv_timer_start(&srv->drain_timer, valk__on_drain_timeout, srv->sys->config.drain_timeout_ms, 0);
  }
  valk__server_maybe_done(srv);
}

static int valk__server_setup(valk_server_t *srv, char *err, size_t err_len) {
  valk_server_opts_t *opts = srv->opts;
  struct sockaddr_storage addr;
  struct sockaddr_storage bound;
  int len = sizeof(bound), rc;

  if (uv_ip4_addr(opts->host, opts->port, (struct sockaddr_in *)&addr) != 0 &&
      uv_ip6_addr(opts->host, opts->port, (struct sockaddr_in6 *)&addr) != 0) {
    snprintf(err, err_len, "host '%s' is not an IPv4 or IPv6 address", opts->host);
    return VALK_EINVAL;
  }
  if (valk__callbacks_new(&srv->callbacks) != 0 || nghttp2_option_new(&srv->option) != 0)
    return VALK_ENOMEM;
  nghttp2_option_set_no_closed_streams(srv->option, 1);
  /* The rapid-reset guard is the server's own (valk__frame_check and
   * valk__on_reset_sent: resets both ways, streamResetRate): nghttp2's counts
   * only the client's, and its default (33/s, burst 1000) closed a Go
   * client's connection every few seconds in bench/overload.sh. */
  nghttp2_option_set_stream_reset_rate_limit(srv->option, 1ull << 62, 1);
  srv->hdr_limits.max_list_size = srv->sys->config.max_header_list_size;
  srv->hdr_limits.max_pairs = srv->sys->config.max_header_pairs;
  srv->arenas = opts->admin ? &srv->sys->admin_arenas : &srv->sys->arenas;
  rc = uv_tcp_bind(&srv->listener, (const struct sockaddr *)&addr, 0);
  if (rc == 0) rc = uv_listen((uv_stream_t *)&srv->listener, 511, valk__on_connection);
  if (rc == 0) rc = uv_tcp_getsockname(&srv->listener, (struct sockaddr *)&bound, &len);
  if (rc != 0) {
    snprintf(err, err_len, "listen %s:%d: %s (%s)", opts->host, opts->port, uv_strerror(rc),
             uv_err_name(rc));
    return rc;
  }
  opts->port = ntohs(((struct sockaddr_in *)&bound)->sin_port);
  return 0;
}

static int valk__server_slot(valk_system_t *sys) {
  int i;
  for (i = 0; i < VALK_MAX_SERVERS; i++)
    if (sys->servers[i] == NULL) return i;
  return -1;
}

void valk_h2_server_listen(valk_system_t *sys, valk_op_t *op) {
  valk_server_opts_t *opts = op->u.listen.opts;
  valk_server_t *srv;
  int slot = valk__server_slot(sys);

  op->u.listen.opts = NULL; /* ours now, freed with the server or below */
  if (atomic_load(&sys->state) != VALK_SYS_RUNNING || slot < 0) {
    op->status = slot < 0 ? VALK_ELIMIT : VALK_ESTOPPED;
    snprintf(op->error, sizeof(op->error), "%s",
             slot < 0 ? "at most 16 servers per system" : "system is stopping");
    valk_server_opts_free(opts);
    valk_op_complete(sys, op);
    return;
  }
  srv = calloc(1, sizeof(*srv));
  if (srv == NULL) {
    op->status = VALK_ENOMEM;
    snprintf(op->error, sizeof(op->error), "out of memory");
    valk_server_opts_free(opts);
    valk_op_complete(sys, op);
    return;
  }
  srv->sys = sys;
  srv->opts = opts;
  srv->stats = &sys->server_stats[slot];
  uv_tcp_init(&sys->loop, &srv->listener);
  uv_timer_init(&sys->loop, &srv->drain_timer);
  uv_check_init(&sys->loop, &srv->notify_check);
  uv_check_start(&srv->notify_check, valk__on_notify_check);
  uv_unref((uv_handle_t *)&srv->notify_check);
  srv->listener.data = srv->drain_timer.data = srv->notify_check.data = srv;
  srv->handles_open = 3;
  op->status = valk__server_setup(srv, op->error, sizeof(op->error));
  if (op->status != 0) {
    srv->closing = 1;
    uv_close((uv_handle_t *)&srv->listener, valk__on_server_handle_closed);
    valk__server_maybe_done(srv);
    valk_op_complete(sys, op);
    return;
  }
  srv->id = ++sys->next_server_id;
  srv->registered = 1;
  {
    char name[16];
    snprintf(name, sizeof(name), ":%d", opts->port);
    srv->owner = valk_owner_register(&sys->owners, name, VALK_OWNER_SERVER);
  }
  valk_server_stats_reset(srv->stats, srv->id, opts->port);
  sys->servers[slot] = srv;
  atomic_fetch_add(&sys->server_count, 1);
  op->u.listen.server_id = srv->id;
  op->u.listen.port = opts->port;
  valk_op_complete(sys, op);
}
