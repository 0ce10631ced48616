/*
 * valk_h2_session.c: one server connection's HTTP/2 session: the TLS
 * handshake, frames checked before nghttp2 sees them (RFC 9113 §5.1, the
 * flood guards), nghttp2's callbacks, output and backpressure
 * (docs/design.md §5), a failed connection's GOAWAY, the graceful close, and
 * the streams' time bounds (docs/RELIABILITY.md). It calls
 * valk_h2_stream.c and the connection layer below it; valk_h2_server.c
 * above it calls it. See valk_h2_session.h.
 *
 * Thread: the AIO thread that owns the server's system.
 */
#include "valk_h2_session.h"

#include <assert.h>
#include <openssl/err.h>
#include <stdlib.h>
#include <string.h>

#include "valk_events.h"
#include "valk_common.h"
#include "valk_h1_server.h"
#include "valk_h2_body.h"
#include "valk_tls.h"

/* nghttp2's own (lib/nghttp2_session.h, compiled into the addon from deps/):
 * a connection error with debug data, after which the session reads nothing
 * and wants to write nothing once its GOAWAY is out. The public
 * nghttp2_session_terminate_session2 does the same without the debug data. */
int nghttp2_session_terminate_session_with_reason(nghttp2_session *session, uint32_t error_code,
                                                  const char *reason);

static const char valk__overloaded_debug[] = "server overloaded";

/* A graceful close's PING payload: its ACK says the client has seen the shutdown notice. */
static const uint8_t valk__notice_ping[8] = {'v', 'a', 'l', 'k', 'd', 'r', 'a', 'i'};

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
    valk_h2_conn_flush(c);
  }
  valk_h2_conn_close(c);
}

/*
 * ops->no_buffer: stops reading c and puts it in the backpressure heap with
 * its priority (docs/design.md §5); valk_conn_resume wakes it. When the heap
 * is full, the lowest-priority connection among those waiting and c is
 * evicted.
 */
void valk_h2_conn_pause(valk_conn_t *io, int reading) {
  valk_srv_conn_t *c = valk_h2_sc(io);
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
  victim = valk_h2_sc(VALK_CONTAINER_OF(low, valk_conn_t, bp));
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

void valk_h2_on_wrote(valk_conn_t *io) {
  valk_srv_conn_t *c = valk_h2_sc(io);
  valk__conn_check_output(c);
  if (c->h1 != NULL) valk_h1_on_wrote(c);
}

/* ---- closing -------------------------------------------------------------------- */

/* ops->drained: once the session wants nothing more, close_notify, then a
 * lingering close once it is out. */
void valk_h2_conn_maybe_finish(valk_conn_t *io) {
  valk_srv_conn_t *c = valk_h2_sc(io);
  if (c->h1 != NULL && !(io->flags & (VALK_CONN_F_CLOSED | VALK_CONN_F_LINGER))) {
    valk_h1_on_drained(c);
    return;
  }
  if ((io->flags & (VALK_CONN_F_CLOSED | VALK_CONN_F_LINGER)) || io->session == NULL) return;
  if (!(io->flags & VALK_CONN_F_PEER_CLOSED) &&
      (nghttp2_session_want_read(io->session) || nghttp2_session_want_write(io->session)))
    return;
  valk_h2_close_cause(c, VALK_EVR_peer); /* no cause of ours: the client's GOAWAY or close_notify */
  if (!(io->flags & VALK_SRV_F_TLS_SHUTDOWN)) {
    io->flags |= VALK_SRV_F_TLS_SHUTDOWN;
    valk_h2_set_state(c, VALK_CONN_CLOSING);
    if (io->ssl != NULL) { /* cleartext: no close_notify, straight to the lingering close */
      SSL_shutdown(io->ssl);
      ERR_clear_error();
      valk_conn_flush(io); /* sends close_notify, then calls us again */
      return;
    }
  }
  if (io->writes_in_flight == 0 && BIO_ctrl_pending(io->wbio) == 0) valk_conn_linger(io);
}

/* ops->error: reading or writing failed; output failures count as failed connections. */
void valk_h2_on_io_error(valk_conn_t *io, valk_conn_err_t what, int status) {
  (void)status; /* UV_EOF too: a client's FIN is the client gone, its requests cancelled (docs/design.md §12) */
  if (what == VALK_CONN_EOUTPUT) VALK_SRV_ADD(valk_h2_sc(io)->srv, connections_failed, 1);
  valk_h2_close_cause(valk_h2_sc(io), VALK_EVR_peer); /* its FIN, a reset, a TLS failure */
  valk_conn_close(io);
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
  if (valk_h2_refuse_request(st, c->srv->opts->routes.headers_too_large, NGHTTP2_ENHANCE_YOUR_CALM) != 0 || responded)
    return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  c->io.flags |= VALK_SRV_F_OUTPUT_NOW;
  return NGHTTP2_ERR_PAUSE;
}

static int valk__on_begin_headers(nghttp2_session *s, const nghttp2_frame *f, void *ud) {
  valk_srv_conn_t *c = ud;
  valk_stream_t *st;
  if (f->hd.type != NGHTTP2_HEADERS) return 0;
  if (f->headers.cat != NGHTTP2_HCAT_REQUEST) { /* trailers: counted as a section of their own */
    st = valk_h2_stream_get(c, f->hd.stream_id);
    if (st != NULL) {
      valk_reqhdrs_section(&st->hdrs);
      st->flags |= VALK_STREAM_F_TRAILERS;
    }
    return 0;
  }
  st = valk_h2_stream_new(c, f->hd.stream_id);
  if (st == NULL) { /* the connection's budget is near its end: refuse, nghttp2 keeps room to say so */
    VALK_SRV_ADD(c->srv, streams_refused, 1);
    nghttp2_submit_rst_stream(s, NGHTTP2_FLAG_NONE, f->hd.stream_id, NGHTTP2_REFUSED_STREAM);
    return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  }
  nghttp2_session_set_stream_user_data(s, f->hd.stream_id, st);
  /* A handler may answer it: its headers are kept (from the budget) until it takes an arena. */
  if (c->srv->opts->has_js) st->flags |= VALK_STREAM_F_KEEP;
  VALK_SRV_ADD(c->srv, streams_total, 1);
  VALK_SRV_ADD(c->srv, requests_h2, 1);
  valk_h2_event(c, VALK_EV_stream_opened, (uint32_t)f->hd.stream_id, 0);
  c->streams_open++;
  valk_h2_set_state(c, VALK_CONN_ACTIVE);
  return 0;
}

static int valk__on_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name,
                           size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
                           void *ud) {
  valk_srv_conn_t *c = ud;
  valk_stream_t *st;
  (void)flags;
  if (f->hd.type != NGHTTP2_HEADERS) return 0;
  st = valk_h2_stream_get(c, f->hd.stream_id);
  if (st == NULL || (st->flags & VALK_STREAM_F_HDR_OVER)) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  /* Counted before anything is copied or looked at (RFC 9113 §6.5.2). */
  if (valk_reqhdrs_count(&st->hdrs, &c->srv->hdr_limits, namelen, valuelen) != 0) return valk__headers_too_large(st);
  if (st->flags & VALK_STREAM_F_TRAILERS) return 0; /* counted, not kept */
  valk_h2_header_seen(st, name, namelen, value, valuelen);
  if ((st->flags & VALK_STREAM_F_KEEP) && valk_reqhdrs_keep(&st->hdrs, &c->io.budget, name, namelen, value, valuelen) != 0) {
    /* The connection's budget is near its end: refuse the stream. */
    VALK_SRV_ADD(c->srv, streams_refused, 1);
    st->flags |= VALK_STREAM_F_HDR_OVER | VALK_STREAM_F_HEADERS_DONE;
    valk_h2_refuse_request(st, NULL, NGHTTP2_REFUSED_STREAM);
    return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  }
  return 0;
}

static int valk__on_data_chunk(nghttp2_session *s, uint8_t flags, int32_t id, const uint8_t *data,
                               size_t len, void *ud) {
  valk_stream_t *st = valk_h2_stream_get(ud, id);
  (void)flags;
  if (st == NULL) {
    valk_h2_consume(ud, id, len); /* nobody wants it */
    return 0;
  }
  return valk_h2_body_append(st, data, len) == 0 ? 0 : NGHTTP2_ERR_CALLBACK_FAILURE;
}

static int valk__on_frame_recv(nghttp2_session *s, const nghttp2_frame *f, void *ud) {
  valk_srv_conn_t *c = ud;
  valk_stream_t *st;
  int rc = 0;
  if (f->hd.type == NGHTTP2_SETTINGS) {
    if (f->hd.flags & NGHTTP2_FLAG_ACK) c->io.flags |= VALK_SRV_F_SETTINGS_ACKED;
    return 0;
  }
  if (f->hd.type == NGHTTP2_PING) { /* the ACK of a graceful close's PING: its second step */
    if ((f->hd.flags & NGHTTP2_FLAG_ACK) && (c->io.flags & VALK_SRV_F_NOTICE) &&
        memcmp(f->ping.opaque_data, valk__notice_ping, sizeof(valk__notice_ping)) == 0)
      valk_h2_conn_goaway_final(c);
    return 0;
  }
  if (f->hd.type != NGHTTP2_HEADERS && f->hd.type != NGHTTP2_DATA && f->hd.type != NGHTTP2_RST_STREAM) return 0;
  st = valk_h2_stream_get(c, f->hd.stream_id);
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
    if (st->flags & VALK_STREAM_F_BODY_STREAM) valk_h2_body_end(st); /* with JavaScript already */
    else if (!(st->flags & VALK_STREAM_F_RESPONDED)) rc = valk_h2_respond(st);
  } else if (f->hd.type == NGHTTP2_HEADERS && f->headers.cat == NGHTTP2_HCAT_REQUEST) {
    rc = valk_h2_body_begin(st);
  }
  return rc == 0 ? 0 : NGHTTP2_ERR_CALLBACK_FAILURE;
}

/* A connection error (docs/RELIABILITY.md): GOAWAY(code, reason), then the
 * session ignores all input and the connection closes once the GOAWAY is
 * out. Safe inside nghttp2's callbacks. Returns 1. */
int valk_h2_conn_terminate(valk_srv_conn_t *c, uint32_t code, const char *reason) {
  if (c->io.flags & VALK_SRV_F_TERMINATED) return 1;
  c->io.flags |= VALK_SRV_F_TERMINATED;
  valk_h2_close_cause(c, code == NGHTTP2_NO_ERROR ? VALK_EVR_none : VALK_EVR_protocol);
  valk_h2_event(c, VALK_EV_goaway_sent, 0, code);
  if (nghttp2_session_terminate_session_with_reason(c->io.session, code, reason) != 0) valk_h2_conn_close(c);
  return 1;
}

/* An RST_STREAM went out: the stream's late frames are to be ignored, and it
 * counts toward the connection's reset budget (streamResetRate): resets a
 * client makes the server send count like its own (CVE-2025-8671). */
static void valk__on_reset_sent(valk_srv_conn_t *c, int32_t id) {
  valk_stream_t *st = id > 0 ? valk_h2_stream_get(c, id) : NULL;
  if (st != NULL) st->flags |= VALK_STREAM_F_RESET;
  if (id > 0) valk_closed_add(&c->closed, id, VALK_CLOSED_RESET);
  VALK_SRV_ADD(c->srv, resets_sent, 1);
  valk_h2_event(c, VALK_EV_stream_reset, (uint32_t)id, 0);
  if (valk_ratelim_take(&c->resets, uv_now(&c->srv->sys->loop)) != 0 && !(c->io.flags & VALK_SRV_F_TERMINATED)) {
    VALK_SRV_ADD(c->srv, connections_reset_flood, 1);
    valk_h2_conn_terminate(c, NGHTTP2_ENHANCE_YOUR_CALM, "too many stream resets");
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
  st = valk_h2_stream_get(c, f->hd.stream_id);
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
  st = valk_h2_stream_get(c, f->hd.stream_id);
  if (st == NULL) return 0;
  VALK_SRV_ADD(c->srv, responses_refused_headers, 1);
  nghttp2_submit_rst_stream(s, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_INTERNAL_ERROR);
  return 0;
}

static int valk__on_stream_close(nghttp2_session *s, int32_t id, uint32_t error_code, void *ud) {
  valk_srv_conn_t *c = ud;
  valk_stream_t *st = valk_h2_stream_get(c, id);
  int normal;
  if (st == NULL) return 0;
  if (error_code == NGHTTP2_NO_ERROR && (st->flags & VALK_STREAM_F_RESPONDED))
    valk_histogram_observe(&c->srv->stats->latency, (uv_hrtime() - st->started_ns) / 1000);
  normal = error_code == NGHTTP2_NO_ERROR && !(st->flags & VALK_STREAM_F_RESET) &&
           (st->flags & (VALK_STREAM_F_REQ_DONE | VALK_STREAM_F_RESP_DONE)) ==
               (VALK_STREAM_F_REQ_DONE | VALK_STREAM_F_RESP_DONE);
  valk_closed_add(&c->closed, id, normal ? VALK_CLOSED_NORMAL : VALK_CLOSED_RESET);
  nghttp2_session_set_stream_user_data(s, id, NULL);
  valk_h2_stream_free(st);
  assert(c->streams_open > 0); /* every stream record was counted when it began */
  if (--c->streams_open == 0) valk_h2_set_state(c, VALK_CONN_IDLE);
  return 0;
}

/* A DATA frame's payload: its frame (9-byte header included) fills one TLS
 * record of plaintext exactly (VALK_SCRATCH_SIZE). nghttp2's default, a
 * 16,384-byte payload, makes each frame a full record and a 9-byte one. */
static ssize_t valk__data_length(nghttp2_session *s, uint8_t type, int32_t id, int32_t conn_window,
                                 int32_t stream_window, uint32_t max_frame, void *ud) {
  ssize_t n = VALK_SCRATCH_SIZE - VALK_FRAME_HEADER_LEN;
  (void)s;
  (void)type;
  (void)id;
  (void)conn_window;
  (void)stream_window;
  (void)ud;
  return (uint32_t)n < max_frame ? n : (ssize_t)max_frame;
}

int valk_h2_callbacks_new(nghttp2_session_callbacks **out) {
  nghttp2_session_callbacks *cb;
  if (nghttp2_session_callbacks_new(&cb) != 0) return VALK_ENOMEM;
  nghttp2_session_callbacks_set_on_begin_headers_callback(cb, valk__on_begin_headers);
  nghttp2_session_callbacks_set_on_header_callback(cb, valk__on_header);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, valk__on_data_chunk);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cb, valk__on_frame_recv);
  nghttp2_session_callbacks_set_on_frame_send_callback(cb, valk__on_frame_send);
  nghttp2_session_callbacks_set_on_frame_not_send_callback(cb, valk__on_frame_not_send);
  nghttp2_session_callbacks_set_on_stream_close_callback(cb, valk__on_stream_close);
  nghttp2_session_callbacks_set_data_source_read_length_callback(cb, valk__data_length);
  nghttp2_session_callbacks_set_send_data_callback(cb, valk_h2_body_send_data);
  *out = cb;
  return 0;
}

/* ---- input: TCP -> TLS -> frame checks -> nghttp2 ------------------------ */

static int valk__conn_session_start(valk_srv_conn_t *c) {
  valk_server_t *srv = c->srv;
  const valk_system_config_t *cfg = &srv->sys->config;
  uint64_t now = uv_now(&srv->sys->loop);
  nghttp2_settings_entry iv[3];
  nghttp2_mem mem; /* copied by the session; its user data is c->io.budget */

  valk_conn_budget_init(&c->io, &mem);
  if (nghttp2_session_server_new3(&c->io.session, srv->callbacks, c, srv->option, &mem) != 0)
    return VALK_ENOMEM;
  iv[0].settings_id = NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS;
  iv[0].value = (c->io.flags & VALK_SRV_F_GRACEFUL) ? 0 : cfg->max_concurrent_streams;
  iv[1].settings_id = NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE;
  iv[1].value = cfg->max_header_list_size;
  iv[2].settings_id = NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE;
  iv[2].value = cfg->stream_window_size;
  if (nghttp2_submit_settings(c->io.session, NGHTTP2_FLAG_NONE, iv, VALK_ARRAY_SIZE(iv)) != 0 ||
      nghttp2_session_set_local_window_size(c->io.session, NGHTTP2_FLAG_NONE, 0, (int32_t)cfg->connection_window_size) != 0)
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
  valk_h2_set_state(c, VALK_CONN_CLOSING);
  valk_h2_conn_flush(c);
}

/* The connection speaks HTTP/2: its session starts. 1, or -1 when it was
 * closed (the session could not start, or a goaway-mode refusal). */
static int valk__conn_established(valk_srv_conn_t *c) {
  if (valk__conn_session_start(c) != 0) {
    if (!(c->io.flags & VALK_SRV_F_GRACEFUL)) VALK_SRV_ADD(c->srv, connections_failed, 1);
    valk_h2_conn_close(c);
    return -1;
  }
  if (c->io.flags & VALK_SRV_F_GRACEFUL) {
    valk__conn_refuse_gracefully(c);
    return -1;
  }
  VALK_SRV_ADD(c->srv, connections_h2, 1);
  c->io.wire = VALK_WIRE_H2;
  valk_h2_set_state(c, VALK_CONN_IDLE);
  return 1;
}

/* The connection speaks HTTP/1.x (docs/design.md §12): 1, or -1 when it was
 * closed (a goaway-mode refusal, or its budget is spent). */
static int valk__conn_http1(valk_srv_conn_t *c, const uint8_t *early, size_t early_len) {
  if ((c->io.flags & VALK_SRV_F_GRACEFUL) || valk_h1_start(c, early, early_len) != 0) {
    if (!(c->io.flags & VALK_SRV_F_GRACEFUL)) VALK_SRV_ADD(c->srv, connections_failed, 1);
    valk_h2_conn_close(c);
    return -1;
  }
  return 1;
}

/* 1 when the handshake is done and the session exists, 0 to wait, -1 closed. */
static int valk__conn_handshake(valk_srv_conn_t *c) {
  int rc = valk_conn_handshake(&c->io, NULL, 0);

  if (rc == 0 || rc == VALK_ESTOPPED) return rc == 0 ? 0 : -1;
  if (rc != 1) {
    if (!(c->io.flags & VALK_SRV_F_GRACEFUL)) VALK_SRV_ADD(c->srv, connections_failed, 1);
    valk_h2_conn_close(c);
    return -1;
  }
  VALK_SRV_ADD(c->srv, tls_handshakes, 1);
  if (!valk_tls_alpn_is_h2(c->io.ssl)) return valk__conn_http1(c, NULL, 0); /* http/1.1, or no ALPN */
  return valk__conn_established(c);
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
    if (until_closed > 0 && valk_h2_stream_get(c, until_closed) == NULL) return 0;
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
    return valk_h2_conn_terminate(c, NGHTTP2_ENHANCE_YOUR_CALM, "too many control frames");
  }
  if (hd->type == VALK_FRAME_RST_STREAM) {
    VALK_SRV_ADD(c->srv, resets_received, 1);
    if (valk_ratelim_take(&c->resets, now) != 0) {
      VALK_SRV_ADD(c->srv, connections_reset_flood, 1);
      return valk_h2_conn_terminate(c, NGHTTP2_ENHANCE_YOUR_CALM, "too many stream resets");
    }
  }
  if (hd->type != VALK_FRAME_DATA && hd->type != VALK_FRAME_HEADERS) return 0; /* §5.1 judges these two only */
  st = hd->stream_id > 0 ? valk_h2_stream_get(c, hd->stream_id) : NULL;
  switch (valk_h2_frame_verdict(&c->closed, c->max_peer_id, hd, st != NULL,
                                st != NULL && (st->flags & VALK_STREAM_F_REQ_DONE))) {
  case VALK_VERDICT_STREAM_CLOSED:
    return valk__stream_closed_error(c, st);
  case VALK_VERDICT_CONN_CLOSED:
    return valk_h2_conn_terminate(c, NGHTTP2_STREAM_CLOSED, "frame on a closed stream");
  case VALK_VERDICT_CONN_PROTOCOL:
    return valk_h2_conn_terminate(c, NGHTTP2_PROTOCOL_ERROR, "stream id lower than one already used");
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
  valk_srv_conn_t *c = valk_h2_sc(io);
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

/* ---- cleartext: HTTP/2 with prior knowledge (docs/design.md §12) -------- */

static const uint8_t valk__preface[VALK_CLIENT_PREFACE_LEN] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/* The feed of a cleartext connection: the client preface is matched first;
 * once it is complete the session starts and gets it, then everything else.
 * Bytes that are not a preface start HTTP/1.x (valk_h1_server.h). 0, 1 (the
 * connection is HTTP/1.x now, or closed: stop reading) or a negative error. */
static int valk__conn_feed_plain(valk_conn_t *io, const uint8_t *p, size_t n) {
  valk_srv_conn_t *c = valk_h2_sc(io);
  size_t need, k;
  int rc;

  if (io->session != NULL) return valk__conn_feed(io, p, n);
  need = VALK_CLIENT_PREFACE_LEN - c->preface_seen;
  k = n < need ? n : need;
  if (memcmp(p, valk__preface + c->preface_seen, k) != 0) { /* HTTP/1.x: what came so far is its start */
    uint8_t early[VALK_CLIENT_PREFACE_LEN + VALK_SCRATCH_SIZE];
    size_t seen = c->preface_seen;
    memcpy(early, valk__preface, seen);
    memcpy(early + seen, p, n);
    valk__conn_http1(c, early, seen + n);
    return 1;
  }
  c->preface_seen = (uint8_t)(c->preface_seen + k);
  if (c->preface_seen < VALK_CLIENT_PREFACE_LEN) return 0;
  if (valk__conn_established(c) != 1) return 1; /* closed */
  rc = valk__conn_feed(io, valk__preface, VALK_CLIENT_PREFACE_LEN);
  return rc != 0 ? rc : valk__conn_feed(io, p + k, n - k);
}

/* Decrypts everything buffered and gives it to the session, each frame
 * checked first. 0 or a negative error. */
static int valk__conn_read_plaintext(valk_srv_conn_t *c) {
  int rc = valk_conn_read_plaintext(&c->io, (c->io.flags & VALK_CONN_F_PLAIN) ? valk__conn_feed_plain : valk__conn_feed);
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
    valk_h2_conn_terminate(c, code, why);
    valk_h2_conn_flush(c); /* the GOAWAY, then close_notify and a lingering close */
    return;
  }
  valk_h2_conn_flush(c); /* best effort */
  valk_h2_conn_close(c);
}

/* ops->input: ciphertext arrived. */
void valk_h2_conn_on_input(valk_conn_t *io) {
  valk_srv_conn_t *c = valk_h2_sc(io);
  if (c->h1 != NULL) {
    valk_h1_on_input(c);
    return;
  }
  if (io->flags & VALK_CONN_F_PLAIN) {
    if (io->state != VALK_CONN_CONNECTING && io->session == NULL) return; /* closing */
  } else if (io->state == VALK_CONN_CONNECTING && valk__conn_handshake(c) != 1) {
    return;
  }
  if (c->h1 != NULL) { /* the handshake chose HTTP/1.1: what came with it is a request */
    valk_h1_on_input(c);
    return;
  }
  if ((io->session == NULL && !(io->flags & VALK_CONN_F_PLAIN)) || (io->flags & VALK_SRV_F_GRACEFUL)) return;
  if (valk__conn_read_plaintext(c) != 0) {
    valk__conn_failed(c);
    return;
  }
  if (c->h1 != NULL) { /* a cleartext connection that turned out to speak HTTP/1.x */
    valk_h1_on_input(c);
    return;
  }
  valk_h2_conn_flush(c);
  valk__conn_check_output(c);
}

/* Graceful, step 2: GOAWAY(NO_ERROR, last processed stream); the connection
 * closes once those streams end. Safe inside nghttp2's callbacks (it only
 * submits: the caller's flush sends it). The state is CLOSING already: the
 * first step set it. */
void valk_h2_conn_goaway_final(valk_srv_conn_t *c) {
  if (c->io.flags & (VALK_CONN_F_CLOSED | VALK_SRV_F_GOAWAY | VALK_SRV_F_TLS_SHUTDOWN) || c->io.session == NULL) return;
  c->io.flags |= VALK_SRV_F_GOAWAY;
  nghttp2_submit_goaway(c->io.session, NGHTTP2_FLAG_NONE,
                        nghttp2_session_get_last_proc_stream_id(c->io.session), NGHTTP2_NO_ERROR,
                        NULL, 0);
}

/*
 * Graceful close in two steps (docs/design.md §14): GOAWAY(NO_ERROR) with
 * last-stream-id 2^31-1 and a PING; requests the client sends until it has
 * seen that are still served. The PING's ACK (or VALK_NOTICE_MAX_MS, the
 * sweep) brings the final GOAWAY with the last stream processed.
 */
void valk_h2_conn_goaway(valk_srv_conn_t *c) {
  /* After our close_notify nothing more can be written: it is closing already. */
  if (c->io.flags & (VALK_CONN_F_CLOSED | VALK_SRV_F_GOAWAY | VALK_SRV_F_TLS_SHUTDOWN | VALK_SRV_F_NOTICE)) return;
  if (c->h1 != NULL) { /* HTTP/1.1: the request in service is answered, then it closes */
    c->io.flags |= VALK_SRV_F_GOAWAY;
    valk_h2_event(c, VALK_EV_goaway_sent, 0, NGHTTP2_NO_ERROR);
    valk_h1_goaway(c);
    return;
  }
  if (c->io.session == NULL) {
    valk_h2_conn_close(c);
    return;
  }
  c->io.flags |= VALK_SRV_F_NOTICE;
  c->notice_ms = uv_now(&c->srv->sys->loop);
  VALK_SRV_ADD(c->srv, goaway_notices, 1);
  valk_h2_event(c, VALK_EV_goaway_sent, 0, NGHTTP2_NO_ERROR);
  valk_h2_set_state(c, VALK_CONN_CLOSING);
  if (nghttp2_submit_shutdown_notice(c->io.session) != 0 ||
      nghttp2_submit_ping(c->io.session, NGHTTP2_FLAG_NONE, valk__notice_ping) != 0)
    valk_h2_conn_goaway_final(c);
  valk_h2_conn_flush(c);
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
  if (st->flags & VALK_STREAM_F_BODY_STREAM) { /* JavaScript has it: it learns through the reset */
    valk_h2_body_drop(st);
    st->flags |= VALK_STREAM_F_RESET;
    nghttp2_submit_rst_stream(st->conn->io.session, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_CANCEL);
    return;
  }
  valk_h2_refuse_request(st, st->conn->srv->opts->routes.timed_out, NGHTTP2_CANCEL);
}

/* The time bounds of c's streams. 1 when the connection was terminated. */
int valk_h2_streams_sweep(valk_srv_conn_t *c, uint64_t now, const valk_system_config_t *cfg) {
  valk_stream_t *st;
  /* While the server itself does not read, the client cannot make progress. */
  int reading = !(c->io.flags & (VALK_CONN_F_READ_PAUSED | VALK_CONN_F_OUT_BLOCKED));
  for (st = c->streams; st != NULL; st = st->next) {
    if (!reading) st->input_ms = now;
    /* An SSE stream between events has nothing to send: it is not stuck. */
    if (st->plugin_body != NULL && c->srv->sys->hooks.sse->between_events(st->plugin_body)) st->output_ms = now;
    /* A streaming answer that waits for its next chunk from JavaScript is not stuck either. */
    if (st->streaming != NULL && !st->streaming->chunk_held) st->output_ms = now;
    /* Nor is a client whose body waits for JavaScript to take a chunk (its window is ours to open). */
    if (st->body_req != NULL && atomic_load_explicit(&st->body_req->in_state, memory_order_relaxed) != VALK_IN_NONE)
      st->input_ms = now;
    if (!(st->flags & (VALK_STREAM_F_HEADERS_DONE | VALK_STREAM_F_RESET))) {
      /* HPACK cannot skip half a header block: the connection goes. */
      if (now - st->started_ms < cfg->headers_timeout_ms) continue;
      VALK_SRV_ADD(c->srv, connections_headers_timeout, 1);
      valk_h2_close_cause(c, VALK_EVR_headers_timeout);
      return valk_h2_conn_terminate(c, NGHTTP2_ENHANCE_YOUR_CALM, "request headers timed out");
    }
    /* A body streaming to JavaScript keeps its input bounds after an answer began. */
    if (!(st->flags & (VALK_STREAM_F_REQ_DONE | VALK_STREAM_F_RESET)) &&
        (!(st->flags & VALK_STREAM_F_RESPONDED) || (st->flags & VALK_STREAM_F_BODY_STREAM)) &&
        (now - st->input_ms >= cfg->body_timeout_ms || now - st->started_ms >= cfg->request_timeout_ms)) {
      valk__request_timed_out(st);
    } else if (!(st->flags & (VALK_STREAM_F_REQ_DONE | VALK_STREAM_F_RESPONDED | VALK_STREAM_F_RESET))) {
      /* a request still arriving, within its bounds */
    } else if ((st->flags & VALK_STREAM_F_BACKLOG) && now - st->started_ms >= cfg->request_timeout_ms) {
      valk_h2_backlog_expire(st); /* Node's thread has not taken it for requestTimeoutMs */
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

