/*
 * valk_h2_client.c: HTTP/2 over TLS client connections. See valk_h2_client.h.
 *
 * Invariants (AIO thread):
 *   - A client in sys->clients holds exactly one connection slot (conn) from
 *     sys->conn_slab until valk__on_closed releases it and forgets the client.
 *   - Every request in client->reqs has its op not yet completed; a request's
 *     op completes exactly once: on its stream's close, or when the connection
 *     closes (valk__fail), whichever comes first.
 *   - Its connection's VALK_CONN_F_CLOSED: uv_close was called; nothing is
 *     read, written or submitted again.
 */
#include "valk_h2_client.h"

#include <assert.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>

#include "valk_common.h"
#include "valk_conn.h"
#include "valk_owner.h"
#include "valk_tls.h"

#define VALK__STREAM_WINDOW (1 << 20)
#define VALK__CONN_WINDOW (16 << 20)

typedef struct valk_client {
  valk_system_t *sys;
  uint32_t id;
  valk_client_opts_t *opts;
  valk_conn_t *conn;            /* its slot in sys->conn_slab (data: this client) */
  uv_connect_t connect_req;
  nghttp2_session_callbacks *callbacks;
  nghttp2_mem mem;
  char authority[80];           /* "host:port" (IPv6: "[host]:port") */
  valk_op_t *connect_op;        /* until HTTP/2 is up */
  valk_op_t *close_op;          /* CLIENT_CLOSE waiting for the slot to be free */
  valk_client_req_t *reqs;      /* submitted, op not completed yet */
  int handshake_done;
  int close_after_writes;       /* graceful close: uv_close once writes end */
  int goaway_received;
  char reason[256];             /* why the connection closed, for requests failed by it */
  int connect_status;           /* a failed CONNECT's code: libuv's when TCP failed, else VALK_ETLS */
} valk_client_t;

static void valk__flush(valk_client_t *cl);
static void valk__fail(valk_client_t *cl, const char *reason);
static void valk__fail_reqs(valk_client_t *cl);

/* ---- owner thread: options, TLS context, requests ------------------------ */

valk_client_opts_t *valk_client_opts_new(void) {
  return calloc(1, sizeof(valk_client_opts_t));
}

void valk_client_opts_free(valk_client_opts_t *opts) {
  if (opts == NULL) return;
  SSL_CTX_free(opts->ssl_ctx);
  free(opts);
}

/* Adds every PEM certificate of ca to ctx's store. 0, or VALK_ETLS when none parsed. */
static int valk__load_ca(SSL_CTX *ctx, const char *ca, size_t ca_len) {
  BIO *bio = BIO_new_mem_buf(ca, (int)ca_len);
  X509_STORE *store = SSL_CTX_get_cert_store(ctx);
  X509 *x;
  int n = 0;
  if (bio == NULL) return VALK_ENOMEM;
  while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
    if (X509_STORE_add_cert(store, x) == 1) n++;
    X509_free(x);
  }
  ERR_clear_error(); /* the end of the input reads as an error */
  BIO_free(bio);
  return n > 0 ? 0 : VALK_ETLS;
}

int valk_client_tls_ctx_new(SSL_CTX **out, const char *ca, size_t ca_len, int verify, char *err,
                            size_t err_len) {
  static const unsigned char alpn[] = {2, 'h', '2'};
  SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
  *out = NULL;
  if (ctx == NULL) {
    snprintf(err, err_len, "cannot create a TLS client context");
    return VALK_ETLS;
  }
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  if (SSL_CTX_set_alpn_protos(ctx, alpn, sizeof(alpn)) != 0) { /* 0 is success here */
    snprintf(err, err_len, "cannot set ALPN h2");
    SSL_CTX_free(ctx);
    return VALK_ETLS;
  }
  SSL_CTX_set_verify(ctx, verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, NULL);
  if (verify && ca_len > 0 && valk__load_ca(ctx, ca, ca_len) != 0) {
    snprintf(err, err_len, "ca: no PEM certificate could be read");
    SSL_CTX_free(ctx);
    return VALK_ETLS;
  }
  if (verify && ca_len == 0) SSL_CTX_set_default_verify_paths(ctx);
  ERR_clear_error();
  *out = ctx;
  return 0;
}

valk_client_req_t *valk_client_req_new(uint32_t client_id, const char *method, size_t method_len,
                                       const char *path, size_t path_len, const char *const *hdrs,
                                       const size_t *lens, size_t nhdrs, const uint8_t *body,
                                       size_t body_len) {
  valk_client_req_t *req = calloc(1, sizeof(*req));
  size_t total = method_len + path_len + 8, i;
  uint8_t *p;
  for (i = 0; i < 2 * nhdrs; i++) total += lens[i];
  if (req == NULL) return NULL;
  req->client_id = client_id;
  req->nvlen = 4 + nhdrs;
  req->nva = calloc(req->nvlen, sizeof(nghttp2_nv));
  req->strings = malloc(total);
  req->body = body_len > 0 ? malloc(body_len) : NULL;
  if (req->nva == NULL || req->strings == NULL || (body_len > 0 && req->body == NULL)) {
    valk_client_req_free(req);
    return NULL;
  }
  if (body_len > 0) memcpy(req->body, body, body_len);
  req->body_len = body_len;
  p = req->strings;
  memcpy(p, method, method_len);
  req->nva[0] = (nghttp2_nv){(uint8_t *)":method", p, 7, method_len, NGHTTP2_NV_FLAG_NONE};
  p += method_len;
  memcpy(p, path, path_len);
  req->nva[1] = (nghttp2_nv){(uint8_t *)":path", p, 5, path_len, NGHTTP2_NV_FLAG_NONE};
  p += path_len;
  req->nva[2] = (nghttp2_nv){(uint8_t *)":scheme", (uint8_t *)"https", 7, 5, NGHTTP2_NV_FLAG_NONE};
  req->nva[3] = (nghttp2_nv){(uint8_t *)":authority", (uint8_t *)"", 10, 0, NGHTTP2_NV_FLAG_NONE};
  for (i = 0; i < nhdrs; i++) {
    nghttp2_nv *nv = &req->nva[4 + i];
    memcpy(p, hdrs[2 * i], lens[2 * i]);
    nv->name = p;
    nv->namelen = lens[2 * i];
    p += lens[2 * i];
    memcpy(p, hdrs[2 * i + 1], lens[2 * i + 1]);
    nv->value = p;
    nv->valuelen = lens[2 * i + 1];
    p += lens[2 * i + 1];
    nv->flags = NGHTTP2_NV_FLAG_NONE;
  }
  return req;
}

void valk_client_req_free(valk_client_req_t *req) {
  if (req == NULL) return;
  free(req->nva);
  free(req->strings);
  free(req->body);
  free(req->resp_hdrs);
  free(req->resp_body);
  free(req);
}

/* ---- AIO thread: state, requests' completion ----------------------------- */

/* uv_close was called on cl's connection: nothing more happens on it. */
static int valk__closed(const valk_client_t *cl) {
  return (cl->conn->flags & VALK_CONN_F_CLOSED) != 0;
}

static void valk__set_state(valk_client_t *cl, valk_conn_state_t state) {
  valk_conn_t *c = cl->conn;
  if (c->state == state || c->state == VALK_CONN_CLOSING) return;
  if (c->state == VALK_CONN_ACTIVE) c->active_until_ms = uv_now(&cl->sys->loop);
  c->state = state;
  c->state_change_ms = uv_now(&cl->sys->loop);
}

static void valk__op_fail(valk_op_t *op, int status, const char *msg) {
  op->status = status;
  snprintf(op->error, sizeof(op->error), "%s", msg);
}

static void valk__req_unlink(valk_client_t *cl, valk_client_req_t *req) {
  if (req->prev) req->prev->next = req->next;
  else cl->reqs = req->next;
  if (req->next) req->next->prev = req->prev;
  req->next = req->prev = NULL;
}

/* Completes req's op (its error set already when req->failed) and forgets it. */
static void valk__req_done(valk_client_t *cl, valk_client_req_t *req) {
  valk_op_t *op = req->op;
  valk__req_unlink(cl, req);
  if (!req->failed) op->status = 0;
  else VALK_STAT_ADD(cl->sys, client_requests_failed, 1);
  valk_op_complete(cl->sys, op);
  if (cl->reqs == NULL && !valk__closed(cl)) valk__set_state(cl, VALK_CONN_IDLE);
}

/* Marks req failed with msg (the first failure wins). */
static void valk__req_fail(valk_client_req_t *req, int status, const char *msg) {
  if (req->failed) return;
  req->failed = 1;
  valk__op_fail(req->op, status, msg);
}

/* ---- AIO thread: connection lifetime ------------------------------------- */

static valk_client_t *valk__find(valk_system_t *sys, uint32_t id) {
  uint32_t i;
  for (i = 0; i < VALK_MAX_CLIENTS; i++)
    if (sys->clients[i] != NULL && sys->clients[i]->id == id) return sys->clients[i];
  return NULL;
}

/* cl takes no more requests: Node's side sees it closed (client_live). */
static void valk__not_live(valk_client_t *cl) {
  uint32_t i;
  for (i = 0; i < VALK_MAX_CLIENTS; i++) {
    uint32_t expected = cl->id;
    atomic_compare_exchange_strong(&cl->sys->client_live[i], &expected, 0);
  }
}

static void valk__forget(valk_client_t *cl) {
  valk_system_t *sys = cl->sys;
  uint32_t i;
  valk__not_live(cl);
  for (i = 0; i < VALK_MAX_CLIENTS; i++)
    if (sys->clients[i] == cl) sys->clients[i] = NULL;
  atomic_fetch_sub(&sys->client_count, 1);
}

/* The socket is closed: release the slot, finish pending ops, free the client. */
/* ops->closed: release the slot, finish pending ops, free the client. */
static void valk__on_closed(valk_conn_t *c) {
  valk_client_t *cl = c->data;
  valk_system_t *sys = cl->sys;

  SSL_free(c->ssl);
  c->state = VALK_CONN_FREE;
  valk_owner_unregister(&sys->owners, c->owner);
  valk_slab_release(sys->conn_slab, c);
  valk__forget(cl);
  if (cl->connect_op != NULL) {
    VALK_STAT_ADD(sys, client_connections_failed, 1);
    valk__op_fail(cl->connect_op, cl->connect_status != 0 ? cl->connect_status : VALK_ETLS, cl->reason);
    valk_op_complete(sys, cl->connect_op);
  }
  if (cl->close_op != NULL) {
    cl->close_op->status = 0;
    valk_op_complete(sys, cl->close_op);
  }
  if (cl->callbacks) nghttp2_session_callbacks_del(cl->callbacks);
  valk_client_opts_free(cl->opts);
  free(cl);
  sys->hooks.slot_freed(sys); /* pending accepts may go on */
  sys->hooks.client_gone(sys);
}

/* Closes now: every open request fails with reason; the slot frees in the close callback. Idempotent. */
static void valk__fail(valk_client_t *cl, const char *reason) {
  if (valk__closed(cl)) return;
  if (cl->reason[0] == '\0' && reason != cl->reason) snprintf(cl->reason, sizeof(cl->reason), "%s", reason);
  valk_conn_close(cl->conn);
}

/* ops->closing: the requests fail with the client's reason. */
static void valk__on_closing(valk_conn_t *c) {
  valk_client_t *cl = c->data;
  valk__not_live(cl);
  valk__set_state(cl, VALK_CONN_CLOSING);
  if (c->session != NULL) { /* calls no callback: the list below is what is left */
    nghttp2_session_del(c->session);
    c->session = NULL;
  }
  valk__fail_reqs(cl);
}

/* A failure with a formatted reason prefixed by the client's authority. */
static void valk__failf(valk_client_t *cl, const char *what, const char *detail) {
  char msg[sizeof(cl->reason)];
  snprintf(msg, sizeof(msg), "client %.80s: %.60s%s%.100s", cl->authority, what, detail ? ": " : "",
           detail ? detail : "");
  valk__fail(cl, msg);
}

/* ---- AIO thread: output ---------------------------------------------------- */

static void valk__flush(valk_client_t *cl) {
  valk_conn_flush(cl->conn);
}

/* ops->drained: a graceful close ends once the GOAWAY is out. */
static void valk__on_drained(valk_conn_t *c) {
  valk_client_t *cl = c->data;
  if (cl->close_after_writes && c->writes_in_flight == 0) valk__fail(cl, "client closed");
}

/* ops->no_buffer: the pool is empty (server load): wait for a buffer, as a
 * server connection would, but without a priority (valk_conn_resume wakes
 * the waiting list first). */
static void valk__on_no_buffer(valk_conn_t *c, int reading) {
  if (reading) valk_conn_pause_reading(c);
  valk_conn_wait(c);
}

/* ops->error: the connection fails with what went wrong. */
static void valk__on_io_error(valk_conn_t *c, valk_conn_err_t what, int status) {
  valk_client_t *cl = c->data;
  switch (what) {
  case VALK_CONN_EREAD:
    if (status == UV_EOF) valk__failf(cl, "connection closed by the server", NULL);
    else valk__failf(cl, "read failed", uv_strerror(status));
    break;
  case VALK_CONN_EWRITE:
    valk__failf(cl, "write failed", status < 0 ? uv_strerror(status) : NULL);
    break;
  case VALK_CONN_EOUTPUT:
    valk__failf(cl, "HTTP/2 output failed", valk_strerror(status));
    break;
  }
}

/* ---- AIO thread: HTTP/2 callbacks ------------------------------------------ */

static int valk__on_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name,
                           size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
                           void *ud) {
  valk_client_req_t *req;
  size_t need;
  (void)flags;
  (void)ud;
  if (f->hd.type != NGHTTP2_HEADERS) return 0;
  req = nghttp2_session_get_stream_user_data(s, f->hd.stream_id);
  if (req == NULL || req->failed) return 0;
  if (namelen == 7 && memcmp(name, ":status", 7) == 0) {
    if (f->headers.cat == NGHTTP2_HCAT_RESPONSE || f->headers.cat == NGHTTP2_HCAT_HEADERS) {
      int st = 0;
      size_t i;
      for (i = 0; i < valuelen && i < 3; i++) st = st * 10 + (value[i] - '0');
      if (st >= 200) req->status = st; /* 1xx: informational, the final one follows */
    }
    return 0;
  }
  if (req->status == 0) return 0; /* headers of a 1xx response */
  need = req->resp_hdrs_len + namelen + valuelen + 2;
  if (need > VALK_CLIENT_MAX_HEADER_BYTES) {
    valk__req_fail(req, VALK_ELIMIT, "response headers exceed 64 KiB");
    return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* RST_STREAM */
  }
  if (need > req->resp_hdrs_cap) {
    size_t cap = req->resp_hdrs_cap ? req->resp_hdrs_cap * 2 : 1024;
    uint8_t *p;
    while (cap < need) cap *= 2;
    p = realloc(req->resp_hdrs, cap);
    if (p == NULL) return NGHTTP2_ERR_CALLBACK_FAILURE;
    req->resp_hdrs = p;
    req->resp_hdrs_cap = cap;
  }
  memcpy(req->resp_hdrs + req->resp_hdrs_len, name, namelen);
  req->resp_hdrs[req->resp_hdrs_len + namelen] = '\0';
  memcpy(req->resp_hdrs + req->resp_hdrs_len + namelen + 1, value, valuelen);
  req->resp_hdrs[need - 1] = '\0';
  req->resp_hdrs_len = need;
  req->resp_nhdrs++;
  return 0;
}

/* Appends a chunk of the response body within the client's limit: past it
 * the request fails (VALK_ELIMIT) and its stream is reset (CANCEL). */
static int valk__body_append(valk_client_t *cl, valk_client_req_t *req, const uint8_t *data,
                             size_t len, nghttp2_session *s) {
  uint64_t limit = cl->opts->max_response_body_size;
  size_t need = req->resp_body_len + len;
  if (need > limit) {
    char msg[128];
    snprintf(msg, sizeof(msg), "response body exceeds maxResponseBodySize (%llu bytes)",
             (unsigned long long)limit);
    valk__req_fail(req, VALK_ELIMIT, msg);
    free(req->resp_body);
    req->resp_body = NULL;
    req->resp_body_len = req->resp_body_cap = 0;
    nghttp2_submit_rst_stream(s, NGHTTP2_FLAG_NONE, req->stream_id, NGHTTP2_CANCEL);
    return 0;
  }
  if (need > req->resp_body_cap) {
    size_t cap = req->resp_body_cap ? req->resp_body_cap * 2 : 16384;
    uint8_t *p;
    while (cap < need) cap *= 2;
    if (cap > limit) cap = (size_t)limit;
    p = realloc(req->resp_body, cap);
    if (p == NULL) return NGHTTP2_ERR_CALLBACK_FAILURE;
    req->resp_body = p;
    req->resp_body_cap = cap;
  }
  memcpy(req->resp_body + req->resp_body_len, data, len);
  req->resp_body_len = need;
  return 0;
}

static int valk__on_data_chunk(nghttp2_session *s, uint8_t flags, int32_t id, const uint8_t *data,
                               size_t len, void *ud) {
  valk_client_req_t *req = nghttp2_session_get_stream_user_data(s, id);
  (void)flags;
  if (req == NULL || req->failed) return 0;
  return valk__body_append(ud, req, data, len, s);
}

static int valk__on_frame_recv(nghttp2_session *s, const nghttp2_frame *f, void *ud) {
  valk_client_t *cl = ud;
  (void)s;
  if (f->hd.type == NGHTTP2_GOAWAY) {
    cl->goaway_received = 1;
    valk__not_live(cl);
  }
  return 0;
}

static int valk__on_stream_close(nghttp2_session *s, int32_t id, uint32_t error_code, void *ud) {
  valk_client_t *cl = ud;
  valk_client_req_t *req = nghttp2_session_get_stream_user_data(s, id);
  if (req == NULL) return 0;
  nghttp2_session_set_stream_user_data(s, id, NULL);
  if (error_code != NGHTTP2_NO_ERROR || req->status == 0) {
    char msg[160];
    snprintf(msg, sizeof(msg), "client %s: stream reset (%s)", cl->authority,
             error_code == NGHTTP2_REFUSED_STREAM && cl->goaway_received
                 ? "refused: the server sent GOAWAY"
                 : nghttp2_http2_strerror(error_code));
    valk__req_fail(req, VALK_EH2, msg);
  }
  valk__req_done(cl, req);
  return 0;
}

static ssize_t valk__body_read(nghttp2_session *s, int32_t id, uint8_t *buf, size_t length,
                               uint32_t *flags, nghttp2_data_source *src, void *ud) {
  valk_client_req_t *req = src->ptr;
  size_t n = req->body_len - req->body_sent;
  (void)s;
  (void)id;
  (void)ud;
  if (n > length) n = length;
  memcpy(buf, req->body + req->body_sent, n);
  req->body_sent += n;
  if (req->body_sent == req->body_len) *flags |= NGHTTP2_DATA_FLAG_EOF;
  return (ssize_t)n;
}

static int valk__callbacks_new(nghttp2_session_callbacks **out) {
  nghttp2_session_callbacks *cb;
  if (nghttp2_session_callbacks_new(&cb) != 0) return VALK_ENOMEM;
  nghttp2_session_callbacks_set_on_header_callback(cb, valk__on_header);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, valk__on_data_chunk);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cb, valk__on_frame_recv);
  nghttp2_session_callbacks_set_on_stream_close_callback(cb, valk__on_stream_close);
  *out = cb;
  return 0;
}

/* ---- AIO thread: input ------------------------------------------------------ */

/* HTTP/2 is up: the session, our SETTINGS, IDLE, and the CONNECT op done. 0 or an error. */
static int valk__session_start(valk_client_t *cl) {
  valk_conn_t *c = cl->conn;
  /* Windows of 1 MiB per stream and 16 MiB per connection: a response body is
   * bounded by max_response_body_size anyway, and 64 KiB would cost a round
   * trip per 64 KiB of it. */
  nghttp2_settings_entry iv[2] = {{NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
                                  {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, VALK__STREAM_WINDOW}};
  if (nghttp2_session_client_new3(&c->session, cl->callbacks, cl, NULL, &cl->mem) != 0)
    return VALK_ENOMEM;
  if (nghttp2_submit_settings(c->session, NGHTTP2_FLAG_NONE, iv, VALK_ARRAY_SIZE(iv)) != 0 ||
      nghttp2_session_set_local_window_size(c->session, NGHTTP2_FLAG_NONE, 0, VALK__CONN_WINDOW) != 0)
    return VALK_EH2;
  c->wire = VALK_WIRE_H2;
  valk__set_state(cl, VALK_CONN_IDLE);
  cl->connect_op->status = 0;
  cl->connect_op->u.connect.client_id = cl->id;
  valk_op_complete(cl->sys, cl->connect_op);
  cl->connect_op = NULL;
  return 0;
}

/* 1 when HTTP/2 is up, 0 to wait for bytes, -1 closed. */
static int valk__handshake(valk_client_t *cl) {
  valk_conn_t *c = cl->conn;
  char msg[160];
  int rc = valk_conn_handshake(c, msg, sizeof(msg));
  if (rc == 0) return 0;
  if (rc == VALK_ESTOPPED) return -1;
  if (rc != 1) {
    if (msg[0] == '\0') snprintf(msg, sizeof(msg), "the server closed the handshake");
    valk__failf(cl, "TLS handshake failed", msg);
    return -1;
  }
  cl->handshake_done = 1;
  if (!valk_tls_alpn_is_h2(c->ssl)) {
    valk__failf(cl, "the server did not select HTTP/2 (ALPN h2)", NULL);
    return -1;
  }
  if (valk__session_start(cl) != 0) {
    valk__failf(cl, "cannot start the HTTP/2 session", NULL);
    return -1;
  }
  return 1;
}

static void valk__on_input(valk_client_t *cl) {
  valk_conn_t *c = cl->conn;
  int rc;
  if (!cl->handshake_done && valk__handshake(cl) != 1) return;
  if (cl->close_after_writes) return; /* closing: what the server says no longer matters */
  rc = valk_conn_read_plaintext(c, valk_conn_feed_session);
  if (rc < 0) {
    valk__failf(cl, rc == VALK_EH2 ? "HTTP/2 protocol error" : "TLS error", NULL);
    return;
  }
  valk__flush(cl);
  if (valk__closed(cl)) return;
  if (rc == 1) valk__failf(cl, "connection closed by the server", NULL);
  else if (!nghttp2_session_want_read(c->session) && !nghttp2_session_want_write(c->session))
    valk__failf(cl, "connection closed by the server", cl->goaway_received ? "GOAWAY" : NULL);
}

/* ops->input: ciphertext arrived; the server made progress. */
static void valk__on_conn_input(valk_conn_t *c) {
  valk_client_t *cl = c->data;
  c->progress_ms = uv_now(&cl->sys->loop);
  valk__on_input(cl);
}

static const valk_conn_ops_t valk__conn_ops = {
    .input = valk__on_conn_input,
    .no_buffer = valk__on_no_buffer,
    .drained = valk__on_drained,
    .wrote = NULL,
    .error = valk__on_io_error,
    .closing = valk__on_closing,
    .closed = valk__on_closed,
};

/* ---- AIO thread: ops ---------------------------------------------------------- */

/* TCP is up: TLS (client side, SNI-less: hosts are IP literals), reading, ClientHello. */
static void valk__on_connect(uv_connect_t *creq, int status) {
  valk_client_t *cl = creq->data;
  valk_conn_t *c = cl->conn;
  char msg[120];
  int rc;
  if (valk__closed(cl)) return; /* closed meanwhile (stop): the close callback finishes */
  if (status < 0) {
    cl->connect_status = status;
    snprintf(msg, sizeof(msg), "%s (%s)", uv_strerror(status), uv_err_name(status));
    valk__failf(cl, "connect failed", msg);
    return;
  }
  rc = valk_conn_start_tls(c, cl->opts->ssl_ctx);
  if (rc != 0) {
    valk__failf(cl, rc == VALK_ETLS ? "cannot create the TLS session" : "cannot read the socket", NULL);
    return;
  }
  SSL_set_connect_state(c->ssl);
  if (cl->opts->verify) X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl), cl->opts->host);
  uv_tcp_nodelay(&c->tcp, 1);
  valk__handshake(cl); /* sends the ClientHello */
}

static int valk__client_slot(valk_system_t *sys) {
  int i;
  for (i = 0; i < VALK_MAX_CLIENTS; i++)
    if (sys->clients[i] == NULL) return i;
  return -1;
}

/* Checks CONNECT can go ahead: the system runs, a client entry and a slot are
 * free, host parses. 0 and *slot, *addr; else op's error is set. */
static int valk__connect_check(valk_system_t *sys, valk_op_t *op, int *slot,
                               struct sockaddr_storage *addr) {
  valk_client_opts_t *o = op->u.connect.opts;
  *slot = valk__client_slot(sys);
  if (atomic_load(&sys->state) != VALK_SYS_RUNNING) {
    valk__op_fail(op, VALK_ESTOPPED, "system is stopping");
  } else if (*slot < 0) {
    valk__op_fail(op, VALK_ELIMIT, "at most 16 client connections per system");
  } else if (uv_ip4_addr(o->host, o->port, (struct sockaddr_in *)addr) != 0 &&
             uv_ip6_addr(o->host, o->port, (struct sockaddr_in6 *)addr) != 0) {
    snprintf(op->error, sizeof(op->error), "host '%s' is not an IPv4 or IPv6 address", o->host);
    op->status = VALK_EINVAL;
  } else {
    return 0;
  }
  return op->status;
}

/* A new client on slot conn c (from the connection slab), registered everywhere. */
static valk_client_t *valk__client_new(valk_system_t *sys, valk_op_t *op, valk_conn_t *c, int slot) {
  valk_client_opts_t *o = op->u.connect.opts;
  valk_client_t *cl = calloc(1, sizeof(*cl));
  if (cl == NULL) return NULL;
  if (valk__callbacks_new(&cl->callbacks) != 0) {
    free(cl);
    return NULL;
  }
  cl->sys = sys;
  cl->id = ++sys->next_client_id;
  cl->opts = o;
  op->u.connect.opts = NULL;
  cl->conn = c;
  cl->connect_op = op;
  cl->connect_req.data = cl;
  snprintf(cl->authority, sizeof(cl->authority), strchr(o->host, ':') ? "[%s]:%d" : "%s:%d", o->host,
           o->port);
  valk_conn_init(c, &sys->io, &valk__conn_ops, 0);
  valk_conn_budget_init(c, &cl->mem);
  c->data = cl;
  {
    char name[VALK_OWNER_NAME_MAX];
    snprintf(name, sizeof(name), "%.50s:%d", o->host, o->port);
    c->owner = valk_owner_register(&sys->owners, name, VALK_OWNER_CLIENT);
  }
  sys->clients[slot] = cl;
  atomic_store(&sys->client_live[slot], cl->id);
  atomic_fetch_add(&sys->client_count, 1);
  VALK_STAT_ADD(sys, client_connections_total, 1);
  return cl;
}

void valk_h2_client_connect(valk_system_t *sys, valk_op_t *op) {
  struct sockaddr_storage addr;
  valk_client_t *cl;
  valk_conn_t *c = NULL;
  int slot, rc;

  if (valk__connect_check(sys, op, &slot, &addr) == 0) {
    c = valk_slab_acquire(sys->conn_slab);
    if (c == NULL)
      snprintf(op->error, sizeof(op->error), "connection slab is full (maxConnections %u)",
               sys->config.max_connections);
    op->status = c == NULL ? VALK_ELIMIT : 0;
  }
  cl = c != NULL ? valk__client_new(sys, op, c, slot) : NULL;
  if (cl == NULL) {
    if (c != NULL) {
      valk_slab_release(sys->conn_slab, c);
      valk__op_fail(op, VALK_ENOMEM, "out of memory");
    }
    valk_client_opts_free(op->u.connect.opts);
    op->u.connect.opts = NULL;
    valk_op_complete(sys, op);
    return;
  }
  rc = uv_tcp_connect(&cl->connect_req, &c->tcp, (const struct sockaddr *)&addr, valk__on_connect);
  if (rc != 0) {
    cl->connect_status = rc;
    valk__failf(cl, "connect failed", uv_strerror(rc));
  }
}

/* A request that never reached a stream: failed and counted. */
static void valk__req_reject(valk_system_t *sys, valk_op_t *op, int status, const char *msg) {
  VALK_STAT_ADD(sys, client_requests_failed, 1);
  valk__op_fail(op, status, msg);
  valk_op_complete(sys, op);
}

void valk_h2_client_request(valk_system_t *sys, valk_op_t *op) {
  valk_client_req_t *req = op->u.request.req;
  valk_client_t *cl = valk__find(sys, req->client_id);
  nghttp2_data_provider prd;
  int32_t id;

  req->op = op;
  if (cl == NULL || valk__closed(cl) || cl->close_after_writes || cl->conn->session == NULL) {
    valk__req_reject(sys, op, VALK_ESTOPPED, "client connection is closed");
    return;
  }
  if (cl->goaway_received) {
    valk__req_reject(sys, op, VALK_ESTOPPED, "the server sent GOAWAY: no new requests on this connection");
    return;
  }
  req->nva[3].value = (uint8_t *)cl->authority;
  req->nva[3].valuelen = strlen(cl->authority);
  prd.source.ptr = req;
  prd.read_callback = valk__body_read;
  id = nghttp2_submit_request(cl->conn->session, NULL, req->nva, req->nvlen,
                              req->body_len > 0 ? &prd : NULL, req);
  if (id < 0) {
    valk__req_reject(sys, op, VALK_EH2, nghttp2_strerror(id));
    return;
  }
  VALK_STAT_ADD(sys, client_requests_total, 1);
  req->stream_id = id;
  req->client = cl;
  req->next = cl->reqs;
  if (cl->reqs) cl->reqs->prev = req;
  cl->reqs = req;
  valk__set_state(cl, VALK_CONN_ACTIVE);
  valk__flush(cl);
}

/* Fails every open request with the client's reason (the session is gone: no
 * callback can touch a request after its op is back with the owner). */
static void valk__fail_reqs(valk_client_t *cl) {
  while (cl->reqs != NULL) {
    valk_client_req_t *req = cl->reqs;
    valk__req_fail(req, VALK_ESTOPPED, cl->reason);
    valk__req_done(cl, req);
  }
}

void valk_h2_client_close(valk_system_t *sys, valk_op_t *op) {
  valk_client_t *cl = valk__find(sys, op->u.client_close.client_id);
  valk_conn_t *c;
  if (cl == NULL || cl->close_op != NULL) { /* gone already, or closing: nothing to wait for */
    op->status = 0;
    valk_op_complete(sys, op);
    return;
  }
  cl->close_op = op;
  c = cl->conn;
  if (valk__closed(cl)) return;
  snprintf(cl->reason, sizeof(cl->reason), "client %.80s: closed", cl->authority);
  if (c->session == NULL) { /* still connecting */
    valk__fail(cl, cl->reason);
    return;
  }
  valk__set_state(cl, VALK_CONN_CLOSING);
  cl->close_after_writes = 1;
  nghttp2_session_terminate_session(c->session, NGHTTP2_NO_ERROR);
  valk__flush(cl); /* the GOAWAY into TLS; request bodies may still be read here */
  if (valk__closed(cl)) return;
  nghttp2_session_del(c->session); /* from here no callback runs: the requests can go */
  c->session = NULL;
  valk__fail_reqs(cl);
  if (c->writes_in_flight == 0 && BIO_ctrl_pending(c->wbio) == 0) valk__fail(cl, cl->reason);
}

void valk_h2_client_close_all(valk_system_t *sys, const char *reason) {
  uint32_t i;
  for (i = 0; i < VALK_MAX_CLIENTS; i++) {
    valk_client_t *cl = sys->clients[i];
    char msg[sizeof(cl->reason)];
    if (cl == NULL) continue;
    snprintf(msg, sizeof(msg), "client %.80s: %.160s", cl->authority, reason);
    valk__fail(cl, msg);
  }
}

/* Connected, but neither reading nor writing has moved for idle_timeout_ms
 * while output waits (a peer that stopped reading, or no TCP buffer): the
 * connection and its buffers go, as a server connection's would. */
static int valk__stuck(valk_client_t *cl, uint64_t now) {
  uint32_t limit = cl->sys->config.idle_timeout_ms;
  if (limit == 0 || (cl->conn->writes_in_flight == 0 && !(cl->conn->flags & VALK_CONN_F_WAITING))) return 0;
  return now - cl->conn->progress_ms >= limit;
}

void valk_h2_client_sweep(valk_system_t *sys) {
  uint64_t now = uv_now(&sys->loop);
  uint32_t i;
  for (i = 0; i < VALK_MAX_CLIENTS; i++) {
    valk_client_t *cl = sys->clients[i];
    char msg[64];
    if (cl == NULL || valk__closed(cl)) continue;
    if (valk__stuck(cl, now)) {
      snprintf(msg, sizeof(msg), "no progress for %u ms", sys->config.idle_timeout_ms);
      valk__failf(cl, "connection stalled", msg);
      continue;
    }
    if (cl->conn->state != VALK_CONN_CONNECTING) continue;
    if (now - cl->conn->state_change_ms < sys->config.handshake_timeout_ms) continue;
    snprintf(msg, sizeof(msg), "no TLS handshake within %u ms", sys->config.handshake_timeout_ms);
    valk__failf(cl, "connect timed out", msg);
  }
}
