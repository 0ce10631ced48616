/*
 * valk_h1_server.c: HTTP/1.1 server connections; see valk_h1_server.h.
 *
 * Owner: the AIO thread. A connection's valk_h1_conn_t comes from its
 * budget (maxSessionMemory) when it starts speaking HTTP/1.x and goes back
 * when it closes.
 *
 * The driver, valk__run, does one thing at a time, in a loop (no recursion,
 * however many requests are pipelined):
 *   1. a request in service: its answer's body is pulled into the TLS output
 *      while there is room; once the answer and the request are both complete
 *      the request is finished (its stream freed) and the next may begin;
 *   2. else the bytes waiting in `in` go to the parser;
 *   3. else one more read of plaintext fills `in`.
 * Reading from the socket is held while a request is in service and its
 * request is complete (the next one waits in the kernel), and while a body
 * streaming to JavaScript holds two windows' worth.
 */
#include "valk_h1_server.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>

#include "valk_events.h"
#include "valk_common.h"
#include "valk_h1_parse.h"
#include "valk_h2_body.h"

/* Bytes of input kept between reads: one read of plaintext and a preface's worth. */
#define VALK__H1_IN_CAP (VALK_SCRATCH_SIZE + VALK_CLIENT_PREFACE_LEN)

enum { VALK__RESP_NONE = 0, VALK__RESP_BODY = 1, VALK__RESP_DONE = 2 };

typedef struct valk_h1_conn {
  valk_h1_parser_t p;
  valk_h1_limits_t limits;
  valk_stream_t *st;          /* the request in service, or NULL */
  int32_t next_id;            /* stream ids as HTTP/2 would give them: 1, 3, 5, ... */
  uint8_t req_done;           /* st's request is complete (the parser waits at its end) */
  uint8_t resp;               /* VALK__RESP_*: st's answer */
  uint8_t chunked;            /* st's answer goes chunked (its length is not known) */
  uint8_t close_after;        /* the connection closes once st's answer is out */
  uint8_t head_only;          /* HEAD: the answer's head only */
  uint8_t running;            /* inside valk__run: a nested call only asks for another round */
  uint8_t again;
  uint8_t kick;               /* the stream layer has news (an answer, a chunk, a take): the next
                               * flush's ops->drained runs the driver (never the caller's stack:
                               * the caller may still use the stream a run would free) */
  uint8_t failed;             /* closing: nothing more is parsed */
  uint8_t wait_room;          /* the answer's body waits for room in the output (not for a chunk) */
  uint8_t head_paused;        /* the parser stopped at a head: it goes on even with no bytes (a request
                               * without a body ends there) */
  nghttp2_data_provider prd;  /* st's answer's body */
  uint64_t head_ms;           /* when the current request's head began (headersTimeoutMs) */
  uint32_t in_off, in_len;    /* in[in_off .. in_len): input not parsed yet */
  uint8_t in[VALK__H1_IN_CAP];
  uint32_t out_len;           /* out[0 .. out_len): answers' bytes gathered into one TLS record */
  uint8_t out[VALK_SCRATCH_SIZE];
  valk_h1_field_t *fields;    /* limits.max_fields */
  uint8_t *head;              /* the head's bytes: head_cap */
  uint32_t head_cap;
} valk_h1_conn_t;

static void valk__run(valk_srv_conn_t *c);

/* ---- writing --------------------------------------------------------------- */

static const char *valk__reason(int status) {
  switch (status) {
  case 100: return "Continue";
  case 200: return "OK";
  case 201: return "Created";
  case 204: return "No Content";
  case 206: return "Partial Content";
  case 301: return "Moved Permanently";
  case 302: return "Found";
  case 304: return "Not Modified";
  case 400: return "Bad Request";
  case 401: return "Unauthorized";
  case 403: return "Forbidden";
  case 404: return "Not Found";
  case 405: return "Method Not Allowed";
  case 408: return "Request Timeout";
  case 413: return "Content Too Large";
  case 414: return "URI Too Long";
  case 431: return "Request Header Fields Too Large";
  case 500: return "Internal Server Error";
  case 501: return "Not Implemented";
  case 503: return "Service Unavailable";
  case 504: return "Gateway Timeout";
  case 505: return "HTTP Version Not Supported";
  default: return "";
  }
}

/* What was gathered goes to the TLS layer (one record). 0 or VALK_ETLS. */
static int valk__out_flush(valk_srv_conn_t *c) {
  valk_h1_conn_t *h = c->h1;
  uint32_t n = h->out_len;
  h->out_len = 0;
  return n > 0 ? valk_conn_send_raw(&c->io, h->out, n) : 0;
}

/* Bytes of an answer: gathered (a small answer, its head and body, and the
 * next pipelined ones share a record), or written as they are when large. */
static int valk__out(valk_srv_conn_t *c, const void *p, size_t n) {
  valk_h1_conn_t *h = c->h1;
  if (n > sizeof(h->out) - h->out_len) {
    if (valk__out_flush(c) != 0) return VALK_ETLS;
    if (n > sizeof(h->out) / 2) return valk_conn_send_raw(&c->io, p, n);
  }
  memcpy(h->out + h->out_len, p, n);
  h->out_len += (uint32_t)n;
  return 0;
}

/* Gathered bytes out, then a flush. */
static void valk__send(valk_srv_conn_t *c) {
  if (valk__out_flush(c) != 0) {
    valk_h2_conn_close(c);
    return;
  }
  valk_conn_flush(&c->io);
}

/* Nothing more is parsed: what was gathered goes out, then a lingering close
 * (valk_conn_linger waits for the writes in flight). */
static void valk__close_after_output(valk_srv_conn_t *c) {
  c->h1->failed = 1;
  c->io.flags |= VALK_CONN_F_DISCARD;
  valk_h2_set_state(c, VALK_CONN_CLOSING);
  valk__send(c);
  if (!(c->io.flags & VALK_CONN_F_CLOSED)) valk_conn_linger(&c->io);
}

/* A status line with its HTTP version. */
static int valk__status_line(valk_srv_conn_t *c, int status) {
  char line[64];
  int n = snprintf(line, sizeof(line), "HTTP/1.1 %03d %s\r\n", status, valk__reason(status));
  return valk__out(c, line, (size_t)n);
}

/* The error answer of a request that could not be parsed: then the connection closes. */
static void valk__refuse(valk_srv_conn_t *c, int status, const char *why) {
  valk_h1_conn_t *h = c->h1;
  char head[160];
  size_t blen = strlen(why);
  int n = snprintf(head, sizeof(head), "content-type: text/plain\r\ncontent-length: %zu\r\nconnection: close\r\n\r\n", blen + 1);
  h->failed = 1;
  if (h->resp == VALK__RESP_NONE && (h->st == NULL || !(h->st->flags & VALK_STREAM_F_RESPONDED))) { /* nothing of an answer went out yet */
    VALK_SRV_ADD(c->srv, requests_total, 1);
    VALK_SRV_ADD(c->srv, responses_4xx, status < 500 ? 1 : 0);
    VALK_SRV_ADD(c->srv, responses_5xx, status >= 500 ? 1 : 0);
    if (valk__status_line(c, status) != 0 || valk__out(c, head, (size_t)n) != 0 || valk__out(c, why, blen) != 0 ||
        valk__out(c, "\n", 1) != 0) {
      valk_h2_conn_close(c);
      return;
    }
  }
  valk__close_after_output(c);
}

/* Whether the output already holds what a flush sends at once: pulling more would only copy it to the spill. */
static int valk__output_full(const valk_srv_conn_t *c) {
  return BIO_ctrl_pending(c->io.wbio) + c->h1->out_len >= VALK_TLS_OUT_HIGH;
}

/* The connection-specific fields a handler's answer may not carry are checked in lib/handler.ts;
 * these ones the HTTP/2 server drops, and here they mean framing. */
static int valk__skip_field(const nghttp2_nv *nv) {
  return nv->namelen == 0 || nv->name[0] == ':' ||
         (nv->namelen == 10 && memcmp(nv->name, "connection", 10) == 0) ||
         (nv->namelen == 17 && memcmp(nv->name, "transfer-encoding", 17) == 0);
}

/* proto->submit: the answer's head now; its body as the output has room (valk__pump). */
static int valk__submit(valk_stream_t *st, int status, const nghttp2_nv *nva, size_t nvlen,
                        const nghttp2_data_provider *prd) {
  valk_srv_conn_t *c = st->conn;
  valk_h1_conn_t *h = c->h1;
  int has_length = 0;
  size_t i;

  assert(h->st == st && h->resp == VALK__RESP_NONE);
  if (valk__status_line(c, status) != 0) return -1;
  for (i = 0; i < nvlen; i++) {
    const nghttp2_nv *nv = &nva[i];
    if (valk__skip_field(nv)) continue;
    if (nv->namelen == 14 && memcmp(nv->name, "content-length", 14) == 0) has_length = 1;
    if (valk__out(c, nv->name, nv->namelen) != 0 || valk__out(c, ": ", 2) != 0 ||
        valk__out(c, nv->value, nv->valuelen) != 0 || valk__out(c, "\r\n", 2) != 0)
      return -1;
  }
  h->head_only = st->method == VALK_METHOD_HEAD;
  if (prd != NULL && !has_length && !h->head_only) { /* a length not known: chunked in HTTP/1.1, else until the close */
    if (h->p.head.version_minor >= 1) h->chunked = 1;
    else h->close_after = 1;
  }
  if (prd == NULL && !has_length && status >= 200 && status != 204 && status != 304 && !h->head_only &&
      valk__out(c, "content-length: 0\r\n", 19) != 0)
    return -1;
  if (h->chunked && valk__out(c, "transfer-encoding: chunked\r\n", 28) != 0) return -1;
  if (h->close_after && valk__out(c, "connection: close\r\n", 19) != 0) return -1;
  if (!h->close_after && h->p.head.version_minor == 0 && valk__out(c, "connection: keep-alive\r\n", 24) != 0) return -1;
  if (valk__out(c, "\r\n", 2) != 0) return -1;
  st->output_ms = uv_now(&c->srv->sys->loop);
  if (prd == NULL || h->head_only) {
    h->resp = VALK__RESP_DONE;
  } else {
    h->prd = *prd;
    h->resp = VALK__RESP_BODY;
  }
  if (!h->running) h->kick = 1; /* the caller flushes: its ops->drained pulls the body, or finishes */
  return 0;
}

/*
 * Pulls st's answer's body into the output while there is room: 1 when it
 * is all out, 0 when it waits (room, or a deferred chunk), -1 on failure.
 */
static int valk__pump(valk_srv_conn_t *c) {
  valk_h1_conn_t *h = c->h1;
  valk_stream_t *st = h->st;
  uint8_t *buf = c->io.io->write_scratch; /* produce's, which HTTP/1.1 never runs */
  size_t cap = VALK_SCRATCH_SIZE - 16;    /* room for a chunk's framing */

  h->wait_room = 0;
  while (h->resp == VALK__RESP_BODY) {
    uint32_t flags = 0;
    if (valk__output_full(c)) {
      h->wait_room = 1; /* a write's end (ops->drained) pulls again */
      return 0;
    }
    ssize_t n = h->prd.read_callback(NULL, st->id, buf, cap, &flags, &h->prd.source, c);
    if (n == NGHTTP2_ERR_DEFERRED) return 0; /* resumed by proto->resume */
    if (n < 0) return -1;
    if (n > 0) {
      char size[24];
      int k = h->chunked ? snprintf(size, sizeof(size), "%zx\r\n", (size_t)n) : 0;
      if ((k > 0 && valk__out(c, size, (size_t)k) != 0) || valk__out(c, buf, (size_t)n) != 0 ||
          (h->chunked && valk__out(c, "\r\n", 2) != 0))
        return -1;
      st->output_ms = uv_now(&c->srv->sys->loop);
    }
    if (flags & NGHTTP2_DATA_FLAG_EOF) {
      if (h->chunked && valk__out(c, "0\r\n\r\n", 5) != 0) return -1;
      h->resp = VALK__RESP_DONE;
    }
  }
  return h->resp == VALK__RESP_DONE;
}

/* ---- the stream layer's calls ------------------------------------------------- */

/* proto->reset: no RST_STREAM in HTTP/1.1: what was sent stays, and the connection closes. */
static int valk__reset(valk_stream_t *st, uint32_t code) {
  valk_srv_conn_t *c = st->conn;
  (void)code;
  st->flags |= VALK_STREAM_F_RESET;
  if (c->h1->resp == VALK__RESP_NONE && !(st->flags & VALK_STREAM_F_RESPONDED)) {
    valk__refuse(c, 500, "the request could not be answered");
    return 0;
  }
  c->h1->failed = 1;
  valk__send(c);
  valk_h2_conn_close(c);
  return 0;
}

/* proto->resume and ->consume: the caller flushes the connection (valk_h2_flush_later), and
 * its ops->drained runs the driver: the chunk is pulled, or a body that held two windows goes on. */
static void valk__resume(valk_stream_t *st) {
  if (!st->conn->h1->running) st->conn->h1->kick = 1;
}

static void valk__consume(valk_srv_conn_t *c, size_t n) {
  (void)n;
  if (!c->h1->running) c->h1->kick = 1;
}

static const valk_proto_ops_t valk__h1_ops = {valk__submit, valk__reset, valk__resume, valk__consume};

/* ---- reading ------------------------------------------------------------------ */

static int valk__name_is(const valk_h1_field_t *f, const uint8_t *b, const char *name, size_t n) {
  return f->name_len == n && memcmp(b + f->name, name, n) == 0;
}

/* Hop-by-hop fields: about this connection, not the request (not kept for JavaScript). */
static int valk__hop_by_hop(const valk_h1_field_t *f, const uint8_t *b) {
  return valk__name_is(f, b, "connection", 10) || valk__name_is(f, b, "keep-alive", 10) ||
         valk__name_is(f, b, "transfer-encoding", 17) || valk__name_is(f, b, "upgrade", 7) ||
         valk__name_is(f, b, "proxy-connection", 16) || valk__name_is(f, b, "te", 2) ||
         valk__name_is(f, b, "expect", 6) || valk__name_is(f, b, "http2-settings", 14);
}

/* One field of the request for the stream layer, as HTTP/2's header callback
 * hands it: counted, looked at (valk_h2_header_seen: :method, :path, content-length),
 * kept for JavaScript. 0, or the request was refused. */
static int valk__field(valk_srv_conn_t *c, valk_stream_t *st, const char *name, size_t nl, const uint8_t *v, size_t vl) {
  if (valk_reqhdrs_count(&st->hdrs, &c->srv->hdr_limits, nl, vl) != 0) {
    VALK_SRV_ADD(c->srv, headers_too_large, 1);
    return -1;
  }
  valk_h2_header_seen(st, (const uint8_t *)name, nl, v, vl);
  if ((st->flags & VALK_STREAM_F_KEEP) &&
      valk_reqhdrs_keep(&st->hdrs, &c->io.budget, (const uint8_t *)name, nl, v, vl) != 0) {
    VALK_SRV_ADD(c->srv, streams_refused, 1);
    return -1;
  }
  return 0;
}

/* A request head is complete: its stream record, its fields, 100 Continue. 0, or refused (closing). */
static int valk__head(valk_srv_conn_t *c) {
  valk_h1_conn_t *h = c->h1;
  const valk_h1_head_t *hd = valk_h1_head(&h->p);
  const uint8_t *b = valk_h1_bytes(&h->p);
  const char *method = valk_h1_method_name(hd);
  valk_stream_t *st;
  uint32_t i;
  int body = hd->chunked || hd->content_length > 0;

  if ((st = valk_h2_stream_new(c, h->next_id)) == NULL) {
    valk__refuse(c, 503, "server busy");
    return -1;
  }
  h->next_id += 2;
  h->st = st;
  h->req_done = 0;
  h->resp = VALK__RESP_NONE;
  h->chunked = 0;
  h->close_after = !hd->keep_alive || (c->io.flags & VALK_SRV_F_GOAWAY) != 0;
  if (c->srv->opts->has_js) st->flags |= VALK_STREAM_F_KEEP;
  VALK_SRV_ADD(c->srv, streams_total, 1);
  VALK_SRV_ADD(c->srv, requests_http1, 1);
  valk_h2_event(c, VALK_EV_stream_opened, (uint32_t)st->id, 0);
  c->streams_open++;
  valk_h2_set_state(c, VALK_CONN_ACTIVE);
  st->started_ms = h->head_ms != 0 ? h->head_ms : st->started_ms;
  if (valk__field(c, st, ":method", 7, (const uint8_t *)method, strlen(method)) != 0 ||
      valk__field(c, st, ":scheme", 7, (const uint8_t *)(c->io.ssl != NULL ? "https" : "http"), c->io.ssl != NULL ? 5 : 4) != 0 ||
      (hd->host_len > 0 && valk__field(c, st, ":authority", 10, b + hd->host, hd->host_len) != 0) ||
      valk__field(c, st, ":path", 5, b + hd->target, hd->target_len) != 0)
    goto refused;
  for (i = 0; i < hd->nfields; i++) {
    const valk_h1_field_t *f = &hd->fields[i];
    if (valk__hop_by_hop(f, b)) continue;
    if (valk__field(c, st, (const char *)b + f->name, f->name_len, b + f->value, f->value_len) != 0) goto refused;
  }
  st->flags |= VALK_STREAM_F_HEADERS_DONE;
  st->input_ms = uv_now(&c->srv->sys->loop);
  if (body && hd->expect_continue && valk__out(c, "HTTP/1.1 100 Continue\r\n\r\n", 25) != 0) return -1;
  if (body && valk_h2_body_begin(st) != 0) return -1;
  return 0;
refused:
  valk__refuse(c, 431, "request header fields too large");
  return -1;
}

/* The request is complete: answered from the routes, or to JavaScript (or its streaming body ends). */
static int valk__end(valk_srv_conn_t *c) {
  valk_h1_conn_t *h = c->h1;
  valk_stream_t *st = h->st;
  h->req_done = 1;
  h->head_ms = 0;
  if (st == NULL) return 0;
  st->flags |= VALK_STREAM_F_REQ_DONE;
  if (st->flags & VALK_STREAM_F_BODY_STREAM) valk_h2_body_end(st);
  else if (!(st->flags & VALK_STREAM_F_RESPONDED)) return valk_h2_respond(st);
  return 0;
}

/* on_body: a request body's bytes, to the stream layer as DATA would be. */
static int valk__body(void *ud, const uint8_t *data, size_t len) {
  valk_srv_conn_t *c = ud;
  valk_stream_t *st = c->h1->st;
  if (st == NULL || (st->flags & VALK_STREAM_F_RESET)) return 0; /* answered and done with: dropped */
  return valk_h2_body_append(st, data, len) == 0 ? 0 : -1;
}

/* Whether the parser must wait: the request is complete and not answered yet,
 * or a body streaming to JavaScript holds two windows' worth. */
static int valk__must_wait(const valk_srv_conn_t *c) {
  const valk_h1_conn_t *h = c->h1;
  if (h->st == NULL) return 0;
  if (h->req_done) return 1;
  return (h->st->flags & VALK_STREAM_F_BODY_STREAM) && c->body_bytes >= 2u * c->srv->sys->config.stream_window_size;
}

/* Gives what waits in h->in to the parser. 0 to go on, -1 when the connection is closing. */
static int valk__parse(valk_srv_conn_t *c) {
  valk_h1_conn_t *h = c->h1;
  valk_h1_event_t ev;
  size_t k;

  if (h->head_ms == 0 && h->p.in_head) h->head_ms = uv_now(&c->srv->sys->loop);
  h->head_paused = 0;
  k = valk_h1_feed(&h->p, h->in + h->in_off, h->in_len - h->in_off, &ev);
  h->in_off += (uint32_t)k;
  switch (ev) {
  case VALK_H1_HEAD:
    h->head_paused = 1;
    return valk__head(c);
  case VALK_H1_END: return valk__end(c);
  case VALK_H1_ERROR:
    valk__refuse(c, valk_h1_error_status(&h->p), valk_h1_error_reason(&h->p));
    return -1;
  default: return 0;
  }
}

/* The answer and the request are both complete: the stream goes, the next request may begin. 0, or closing. */
static int valk__finish(valk_srv_conn_t *c) {
  valk_h1_conn_t *h = c->h1;
  valk_stream_t *st = h->st;
  int close_after = h->close_after;
  valk_histogram_observe(&c->srv->stats->latency, (uv_hrtime() - st->started_ns) / 1000);
  st->flags |= VALK_STREAM_F_RESP_DONE;
  h->st = NULL;
  h->resp = VALK__RESP_NONE;
  h->chunked = 0;
  valk_h2_stream_free(st);
  assert(c->streams_open > 0);
  if (--c->streams_open == 0) valk_h2_set_state(c, VALK_CONN_IDLE);
  if (close_after) {
    valk__close_after_output(c);
    return -1;
  }
  valk_h1_next(&h->p);
  return 0;
}

/* read_plaintext's feed: one read into h->in (which is empty), then stop. */
static int valk__take(valk_conn_t *io, const uint8_t *p, size_t n) {
  valk_h1_conn_t *h = ((valk_srv_conn_t *)io)->h1;
  assert(h->in_off == h->in_len && n <= VALK_SCRATCH_SIZE);
  memcpy(h->in, p, n);
  h->in_off = 0;
  h->in_len = (uint32_t)n;
  return 1;
}

/* One step of the driver: 1 to go on, 0 to wait, -1 closing. */
static int valk__step(valk_srv_conn_t *c) {
  valk_h1_conn_t *h = c->h1;
  int rc;
  if (h->failed || (c->io.flags & VALK_CONN_F_CLOSED)) return -1;
  if (h->st != NULL && h->resp != VALK__RESP_NONE) {
    rc = valk__pump(c);
    if (rc < 0) {
      valk__reset(h->st, 0);
      return -1;
    }
    if (rc == 1 && h->req_done) return valk__finish(c) == 0 ? 1 : -1;
  }
  if (valk__must_wait(c)) return 0;
  if (h->in_off < h->in_len || h->head_paused) return valk__parse(c) == 0 ? 1 : -1;
  if (c->io.flags & VALK_CONN_F_PEER_CLOSED) return 0;
  rc = valk_conn_read_plaintext(&c->io, valk__take);
  if (rc < 0) {
    h->failed = 1;
    valk_h2_conn_close(c);
    return -1;
  }
  return h->in_off < h->in_len ? 1 : 0;
}

/* Whether the client sent close_notify: it is gone, as on its FIN (docs/design.md §12).
 * While an answer is pending with more bytes in rbio, reading is held and the record
 * would wait there: a peek decrypts it (application data stays inside the SSL). */
static int valk__peer_gone(valk_srv_conn_t *c) {
  uint8_t b;
  int n;
  if (!(c->io.flags & VALK_CONN_F_PEER_CLOSED) && c->io.ssl != NULL && BIO_ctrl_pending(c->io.rbio) > 0 &&
      valk__must_wait(c) && (n = SSL_peek(c->io.ssl, &b, 1)) <= 0) {
    if (SSL_get_error(c->io.ssl, n) == SSL_ERROR_ZERO_RETURN) c->io.flags |= VALK_CONN_F_PEER_CLOSED;
    ERR_clear_error();
  }
  return (c->io.flags & VALK_CONN_F_PEER_CLOSED) != 0;
}

/* The driver (see the top of this file). Reentrant calls (an answer submitted
 * from inside a step) only ask for another round. */
static void valk__run(valk_srv_conn_t *c) {
  valk_h1_conn_t *h = c->h1;
  int rc;
  if (h->running) {
    h->again = 1;
    return;
  }
  h->running = 1;
  h->kick = 0;
  do {
    h->again = 0;
    while ((rc = valk__step(c)) == 1) {
    }
  } while (rc == 0 && h->again);
  h->running = 0;
  if (rc < 0 || (c->io.flags & VALK_CONN_F_CLOSED)) return;
  if (valk__peer_gone(c)) { /* what was answered goes out, the request in service is cancelled */
    valk__close_after_output(c);
    return;
  }
  /* Waiting: for input, or for the answer. While it waits for the answer and the
   * client sent more (pipelined), reading is held: the next request stays in the
   * kernel. Not before: most clients send nothing more (a hold is two syscalls). */
  valk_conn_hold_reading(&c->io, (valk__must_wait(c) && BIO_ctrl_pending(c->io.rbio) > 0) || h->in_off < h->in_len);
  valk__send(c);
}

/* ---- the connection's calls ---------------------------------------------------- */

int valk_h1_start(valk_srv_conn_t *c, const uint8_t *early, size_t early_len) {
  const valk_system_config_t *cfg = &c->srv->sys->config;
  valk_h1_conn_t *h;
  uint32_t fields = cfg->max_header_pairs, head_cap = VALK_H1_MAX_TARGET + cfg->max_header_list_size;
  size_t size = sizeof(*h) + fields * sizeof(valk_h1_field_t) + head_cap;

  assert(c->h1 == NULL && c->io.session == NULL && early_len <= VALK__H1_IN_CAP);
  h = valk_h2_budget_alloc(&c->io.budget, size);
  if (h == NULL) return VALK_ENOMEM;
  memset(h, 0, sizeof(*h));
  h->fields = (valk_h1_field_t *)(h + 1);
  h->head = (uint8_t *)(h->fields + fields);
  h->head_cap = head_cap;
  h->limits.max_target = VALK_H1_MAX_TARGET;
  h->limits.max_fields = fields;
  h->limits.max_header_bytes = cfg->max_header_list_size;
  h->limits.max_body = cfg->max_request_body_size;
  if (c->srv->opts->stream_bodies) h->limits.max_body = UINT64_MAX; /* streamed bodies have no whole-body bound */
  valk_h1_parser_init(&h->p, &h->limits, h->head, head_cap, h->fields, valk__body, c);
  h->next_id = 1;
  if (early_len > 0) memcpy(h->in, early, early_len);
  h->in_len = (uint32_t)early_len;
  c->h1 = h;
  c->proto = &valk__h1_ops;
  VALK_SRV_ADD(c->srv, connections_http1, 1);
  c->io.wire = VALK_WIRE_HTTP1;
  valk_h2_set_state(c, VALK_CONN_IDLE);
  return 0;
}

void valk_h1_on_input(valk_srv_conn_t *c) {
  valk__run(c);
}

void valk_h1_on_drained(valk_srv_conn_t *c) {
  valk_h1_conn_t *h = c->h1;
  if (h->failed || h->running || !h->kick) return;
  valk__run(c);
}

void valk_h1_on_wrote(valk_srv_conn_t *c) {
  valk_h1_conn_t *h = c->h1;
  if (h->failed || h->running || !h->wait_room || (c->io.flags & VALK_CONN_F_CLOSED)) return;
  valk__run(c); /* room again: the answer's body goes on (outside the flush that made room) */
}

int valk_h1_sweep(valk_srv_conn_t *c, uint64_t now, const valk_system_config_t *cfg) {
  valk_h1_conn_t *h = c->h1;
  valk_stream_t *st = h->st;
  if (h->failed) return 1;
  if (st == NULL) {
    if (h->head_ms != 0 && now - h->head_ms >= cfg->headers_timeout_ms) { /* slowloris: a head that does not end */
      VALK_SRV_ADD(c->srv, connections_headers_timeout, 1);
      valk_h2_close_cause(c, VALK_EVR_headers_timeout);
      valk__refuse(c, 408, "request headers timed out");
      return 1;
    }
    return h->head_ms != 0; /* a head arriving is not idle */
  }
  if (!h->req_done && st->resp_body == NULL && !(st->flags & VALK_STREAM_F_RESPONDED) &&
      (now - st->input_ms >= cfg->body_timeout_ms || now - st->started_ms >= cfg->request_timeout_ms)) {
    VALK_SRV_ADD(c->srv, requests_timed_out, 1);
    valk__refuse(c, 408, "request timed out");
  } else if ((st->flags & VALK_STREAM_F_BACKLOG) && now - st->started_ms >= cfg->request_timeout_ms) {
    valk_h2_backlog_expire(st);
    valk__run(c);
  } else if (h->resp == VALK__RESP_BODY && now - st->output_ms >= cfg->send_timeout_ms &&
             !(st->streaming != NULL && !st->streaming->chunk_held) &&
             !(st->plugin_body != NULL && c->srv->sys->hooks.sse->between_events(st->plugin_body))) {
    VALK_SRV_ADD(c->srv, streams_send_timed_out, 1);
    valk__reset(st, 0);
  }
  return 1;
}

void valk_h1_goaway(valk_srv_conn_t *c) {
  valk_h1_conn_t *h = c->h1;
  if (h->st == NULL && h->head_ms == 0) {
    valk__send(c);
    valk_h2_conn_close(c);
    return;
  }
  h->close_after = 1;
  valk_h2_set_state(c, VALK_CONN_CLOSING);
}

void valk_h1_free(valk_srv_conn_t *c) {
  if (c->h1 == NULL) return;
  valk_h2_budget_free(&c->io.budget, c->h1);
  c->h1 = NULL;
  c->proto = NULL;
}
