/*
 * valk_h2_server.c: HTTP/2 over TLS on the AIO thread. See valk_h2_server.h.
 *
 * Thread: every function here runs on the AIO thread that owns the server's
 * system, except valk_server_opts_new/free (owner thread, before LISTEN).
 */
#include "valk_h2_server.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <stdlib.h>
#include <string.h>

#include "valk_common.h"
#include "valk_tls.h"

enum {
  VALK_CONN_F_CLOSED = 1u << 0,       /* uv_close called; the slot frees in its callback */
  VALK_CONN_F_WAITING = 1u << 1,      /* on the system's waiters list */
  VALK_CONN_F_READ_PAUSED = 1u << 2,  /* reading stopped: no TCP buffer was free */
  VALK_CONN_F_WANT_FLUSH = 1u << 3,   /* output waits for a TCP buffer or a write to end */
  VALK_CONN_F_TLS_SHUTDOWN = 1u << 4, /* close_notify queued: close when writes end */
  VALK_CONN_F_GOAWAY = 1u << 5,       /* graceful close started */
  VALK_CONN_F_PEER_CLOSED = 1u << 6   /* the peer sent close_notify */
};

/* Writes of one connection in flight at once (each one TCP buffer). */
#define VALK_MAX_WRITES_IN_FLIGHT 4

/* Stream tags kept as nghttp2 stream user data until the response is submitted:
 * (route slot << 2) | method. Slot 0: no :path yet, 1: no such route, 2+i: route i.
 * After submission the same word holds the body offset sent so far. */
enum { VALK_METHOD_OTHER = 0, VALK_METHOD_GET = 1, VALK_METHOD_HEAD = 2 };

static void valk__conn_flush(valk_conn_t *c);
static void valk__conn_close(valk_conn_t *c);
static void valk__server_maybe_done(valk_server_t *srv);

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

/* ---- nghttp2 memory, counted ------------------------------------------- */

typedef struct {
  size_t size;
  size_t pad; /* keeps the user's block 16-byte aligned */
} valk__mem_hdr_t;

static void valk__mem_account(valk_system_t *sys, size_t add, size_t sub) {
  uint64_t now = atomic_fetch_add_explicit(&sys->stats.h2_memory_bytes, add - sub,
                                           memory_order_relaxed) + add - sub;
  if (now > atomic_load_explicit(&sys->stats.h2_memory_peak, memory_order_relaxed))
    atomic_store_explicit(&sys->stats.h2_memory_peak, now, memory_order_relaxed);
}

static void *valk__mem_malloc(size_t size, void *ud) {
  valk__mem_hdr_t *h = malloc(sizeof(*h) + size);
  if (h == NULL) return NULL;
  h->size = size;
  valk__mem_account(ud, size, 0);
  return h + 1;
}

static void valk__mem_free(void *ptr, void *ud) {
  valk__mem_hdr_t *h;
  if (ptr == NULL) return;
  h = (valk__mem_hdr_t *)ptr - 1;
  valk__mem_account(ud, 0, h->size);
  free(h);
}

static void *valk__mem_calloc(size_t nmemb, size_t size, void *ud) {
  void *p;
  if (size != 0 && nmemb > (SIZE_MAX - sizeof(valk__mem_hdr_t)) / size) return NULL;
  p = valk__mem_malloc(nmemb * size, ud);
  if (p != NULL) memset(p, 0, nmemb * size);
  return p;
}

static void *valk__mem_realloc(void *ptr, size_t size, void *ud) {
  valk__mem_hdr_t *h, *nh;
  size_t old;
  if (ptr == NULL) return valk__mem_malloc(size, ud);
  h = (valk__mem_hdr_t *)ptr - 1;
  old = h->size;
  nh = realloc(h, sizeof(*nh) + size);
  if (nh == NULL) return NULL;
  nh->size = size;
  valk__mem_account(ud, size, old);
  return nh + 1;
}

void valk_h2_mem_init(nghttp2_mem *mem, valk_system_t *sys) {
  mem->mem_user_data = sys;
  mem->malloc = valk__mem_malloc;
  mem->free = valk__mem_free;
  mem->calloc = valk__mem_calloc;
  mem->realloc = valk__mem_realloc;
}

/* ---- connection state and the waiters list ---------------------------- */

static void valk__set_state(valk_conn_t *c, valk_conn_state_t state) {
  if (c->state == state || (c->state == VALK_CONN_CLOSING && state != VALK_CONN_FREE)) return;
  c->state = state;
  c->state_change_ms = uv_now(&c->srv->sys->loop);
}

static void valk__waiter_add(valk_conn_t *c) {
  valk_system_t *sys = c->srv->sys;
  if (c->flags & VALK_CONN_F_WAITING) return;
  c->flags |= VALK_CONN_F_WAITING;
  c->wait_next = NULL;
  if (sys->waiters_tail) sys->waiters_tail->wait_next = c;
  else sys->waiters_head = c;
  sys->waiters_tail = c;
  atomic_fetch_add_explicit(&sys->waiters_len, 1, memory_order_relaxed);
}

static valk_conn_t *valk__waiter_pop(valk_system_t *sys) {
  valk_conn_t *c = sys->waiters_head;
  if (c == NULL) return NULL;
  sys->waiters_head = c->wait_next;
  if (sys->waiters_head == NULL) sys->waiters_tail = NULL;
  c->wait_next = NULL;
  c->flags &= ~VALK_CONN_F_WAITING;
  atomic_fetch_sub_explicit(&sys->waiters_len, 1, memory_order_relaxed);
  return c;
}

static void valk__waiter_remove(valk_conn_t *c) {
  valk_system_t *sys = c->srv->sys;
  valk_conn_t **pp = &sys->waiters_head, *prev = NULL;
  if (!(c->flags & VALK_CONN_F_WAITING)) return;
  while (*pp != NULL && *pp != c) {
    prev = *pp;
    pp = &(*pp)->wait_next;
  }
  if (*pp == NULL) return;
  *pp = c->wait_next;
  if (sys->waiters_tail == c) sys->waiters_tail = prev;
  c->wait_next = NULL;
  c->flags &= ~VALK_CONN_F_WAITING;
  atomic_fetch_sub_explicit(&sys->waiters_len, 1, memory_order_relaxed);
}

static void valk__alloc_cb(uv_handle_t *handle, size_t suggested, uv_buf_t *buf);
static void valk__read_cb(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf);

void valk_h2_resume_waiters(valk_system_t *sys) {
  /* A flush that cannot get a buffer re-adds its connection, but only when the
   * slab is empty, which ends this loop. */
  while (sys->waiters_head != NULL && valk_slab_available(sys->tcp_bufs) >= 2) {
    valk_conn_t *c = valk__waiter_pop(sys);
    if (c->flags & VALK_CONN_F_CLOSED) continue;
    if (c->flags & VALK_CONN_F_READ_PAUSED) {
      c->flags &= ~VALK_CONN_F_READ_PAUSED;
      uv_read_start((uv_stream_t *)&c->tcp, valk__alloc_cb, valk__read_cb);
    }
    if (c->flags & VALK_CONN_F_WANT_FLUSH) valk__conn_flush(c);
  }
}

static void valk__tcp_buf_release(valk_system_t *sys, valk_tcp_buf_t *b) {
  valk_slab_release(sys->tcp_bufs, b);
  if (sys->waiters_head != NULL) valk_h2_resume_waiters(sys);
}

/* ---- output: nghttp2 -> TLS -> TCP buffers ----------------------------- */

static void valk__on_write(uv_write_t *req, int status);

/* SSL_write into the memory BIO, which never says WANT_WRITE. With partial
 * writes enabled each call may take one record only: loop until all is in. */
static int valk__tls_write(valk_conn_t *c, const uint8_t *data, size_t len) {
  while (len > 0) {
    int n = SSL_write(c->ssl, data, len > INT32_MAX ? INT32_MAX : (int)len);
    if (n <= 0) {
      ERR_clear_error();
      return VALK_ETLS;
    }
    data += n;
    len -= (size_t)n;
  }
  return 0;
}

/*
 * Moves frames from nghttp2 into the TLS layer, up to one record of
 * plaintext gathered in the scratch buffer (a frame that does not fit goes
 * straight to SSL_write). Returns bytes produced, 0 if nghttp2 had nothing,
 * or a negative error.
 */
static ssize_t valk__conn_produce(valk_conn_t *c) {
  uint8_t *scratch = c->srv->sys->write_scratch;
  size_t n = 0, total = 0;

  for (;;) {
    const uint8_t *data;
    ssize_t len = nghttp2_session_mem_send(c->session, &data);
    if (len < 0) return VALK_EH2;
    if (len == 0) break;
    total += (size_t)len;
    if (n + (size_t)len <= VALK_SCRATCH_SIZE) {
      memcpy(scratch + n, data, (size_t)len);
      n += (size_t)len;
      if (n == VALK_SCRATCH_SIZE) break;
      continue;
    }
    if (valk__tls_write(c, scratch, n) != 0 || valk__tls_write(c, data, (size_t)len) != 0)
      return VALK_ETLS;
    return (ssize_t)total;
  }
  if (valk__tls_write(c, scratch, n) != 0) return VALK_ETLS;
  return (ssize_t)total;
}

/* Sends one TCP buffer of ciphertext. 0 sent, 1 blocked (resumes later), -1 closed. */
static int valk__conn_send_one(valk_conn_t *c) {
  valk_system_t *sys = c->srv->sys;
  valk_tcp_buf_t *b;
  uv_buf_t ub;
  int n;

  if (c->writes_in_flight >= VALK_MAX_WRITES_IN_FLIGHT) {
    c->flags |= VALK_CONN_F_WANT_FLUSH;
    return 1;
  }
  b = valk_slab_acquire(sys->tcp_bufs);
  if (b == NULL) {
    c->flags |= VALK_CONN_F_WANT_FLUSH;
    valk__waiter_add(c);
    return 1;
  }
  n = BIO_read(c->wbio, b->data, (int)sizeof(b->data));
  b->conn = c;
  ub = uv_buf_init((char *)b->data, n > 0 ? (unsigned)n : 0);
  if (n <= 0 || uv_write(&b->req, (uv_stream_t *)&c->tcp, &ub, 1, valk__on_write) != 0) {
    valk__tcp_buf_release(sys, b);
    valk__conn_close(c);
    return -1;
  }
  c->writes_in_flight++;
  VALK_STAT_ADD(sys, bytes_sent, n);
  return 0;
}

static void valk__conn_maybe_finish(valk_conn_t *c) {
  if ((c->flags & VALK_CONN_F_CLOSED) || c->session == NULL) return;
  if (!(c->flags & VALK_CONN_F_PEER_CLOSED) &&
      (nghttp2_session_want_read(c->session) || nghttp2_session_want_write(c->session)))
    return;
  if (!(c->flags & VALK_CONN_F_TLS_SHUTDOWN)) {
    c->flags |= VALK_CONN_F_TLS_SHUTDOWN;
    valk__set_state(c, VALK_CONN_CLOSING);
    SSL_shutdown(c->ssl);
    ERR_clear_error();
    valk__conn_flush(c); /* sends close_notify, then calls us again */
    return;
  }
  if (c->writes_in_flight == 0 && BIO_ctrl_pending(c->wbio) == 0) valk__conn_close(c);
}

static void valk__conn_flush(valk_conn_t *c) {
  if (c->flags & VALK_CONN_F_CLOSED) return;
  c->flags &= ~VALK_CONN_F_WANT_FLUSH;
  for (;;) {
    /* Top the TLS output up to about one TCP buffer, then send a buffer. */
    while (c->session != NULL && BIO_ctrl_pending(c->wbio) < VALK_TCP_BUF_SIZE / 2) {
      ssize_t rc = valk__conn_produce(c);
      if (rc < 0) {
        VALK_STAT_ADD(c->srv->sys, connections_failed, 1);
        valk__conn_close(c);
        return;
      }
      if (rc == 0) break;
    }
    if (BIO_ctrl_pending(c->wbio) == 0) break;
    if (valk__conn_send_one(c) != 0) return;
  }
  valk__conn_maybe_finish(c);
}

static void valk__on_write(uv_write_t *req, int status) {
  valk_tcp_buf_t *b = VALK_CONTAINER_OF(req, valk_tcp_buf_t, req);
  valk_conn_t *c = b->conn;

  c->writes_in_flight--;
  valk__tcp_buf_release(c->srv->sys, b);
  if (c->flags & VALK_CONN_F_CLOSED) return;
  if (status < 0) {
    valk__conn_close(c);
    return;
  }
  if (c->flags & VALK_CONN_F_WANT_FLUSH) valk__conn_flush(c);
  else valk__conn_maybe_finish(c);
}

/* ---- HTTP/2 callbacks: static routes ------------------------------------ */

static uintptr_t valk__stream_tag(nghttp2_session *s, int32_t id) {
  return (uintptr_t)nghttp2_session_get_stream_user_data(s, id);
}

static int valk__is_request(const nghttp2_frame *f) {
  return f->hd.type == NGHTTP2_HEADERS && f->headers.cat == NGHTTP2_HCAT_REQUEST;
}

static int valk__on_begin_headers(nghttp2_session *s, const nghttp2_frame *f, void *ud) {
  valk_conn_t *c = ud;
  (void)s;
  if (!valk__is_request(f)) return 0;
  c->streams_open++;
  valk__set_state(c, VALK_CONN_ACTIVE);
  VALK_STAT_ADD(c->srv->sys, streams_total, 1);
  return 0;
}

static int valk__on_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name,
                           size_t namelen, const uint8_t *value, size_t valuelen,
                           uint8_t flags, void *ud) {
  valk_conn_t *c = ud;
  const valk_route_table_t *table = &c->srv->opts->routes;
  uintptr_t tag;
  (void)flags;

  if (!valk__is_request(f)) return 0;
  if (namelen == 5 && memcmp(name, ":path", 5) == 0) {
    const valk_route_t *r = valk_route_lookup(table, value, valuelen);
    uintptr_t slot = r ? (uintptr_t)r->index + 2 : 1;
    tag = (valk__stream_tag(s, f->hd.stream_id) & 3) | (slot << 2);
  } else if (namelen == 7 && memcmp(name, ":method", 7) == 0) {
    uintptr_t m = VALK_METHOD_OTHER;
    if (valuelen == 3 && memcmp(value, "GET", 3) == 0) m = VALK_METHOD_GET;
    else if (valuelen == 4 && memcmp(value, "HEAD", 4) == 0) m = VALK_METHOD_HEAD;
    tag = (valk__stream_tag(s, f->hd.stream_id) & ~(uintptr_t)3) | m;
  } else {
    return 0;
  }
  nghttp2_session_set_stream_user_data(s, f->hd.stream_id, (void *)tag);
  return 0;
}

static ssize_t valk__body_read(nghttp2_session *s, int32_t id, uint8_t *buf, size_t length,
                               uint32_t *flags, nghttp2_data_source *src, void *ud) {
  const valk_route_t *r = src->ptr;
  size_t off = (size_t)valk__stream_tag(s, id);
  size_t n = r->body_len - off;
  (void)ud;

  if (n > length) n = length;
  memcpy(buf, r->body + off, n);
  off += n;
  if (off == r->body_len) *flags |= NGHTTP2_DATA_FLAG_EOF;
  else nghttp2_session_set_stream_user_data(s, id, (void *)(uintptr_t)off);
  return (ssize_t)n;
}

static void valk__count_status(valk_system_t *sys, int status) {
  VALK_STAT_ADD(sys, requests_total, 1);
  if (status >= 500) VALK_STAT_ADD(sys, responses_5xx, 1);
  else if (status >= 400) VALK_STAT_ADD(sys, responses_4xx, 1);
  else if (status >= 200 && status < 300) VALK_STAT_ADD(sys, responses_2xx, 1);
}

static int valk__respond(valk_conn_t *c, int32_t id) {
  const valk_route_table_t *table = &c->srv->opts->routes;
  uintptr_t tag = valk__stream_tag(c->session, id);
  uintptr_t slot = tag >> 2, method = tag & 3;
  const valk_route_t *r = slot >= 2 ? table->routes[slot - 2] : table->not_found;
  nghttp2_data_provider prd;

  if (slot >= 2 && method == VALK_METHOD_OTHER) r = table->not_allowed;
  prd.source.ptr = (void *)r;
  prd.read_callback = valk__body_read;
  nghttp2_session_set_stream_user_data(c->session, id, NULL); /* body offset 0 */
  valk__count_status(c->srv->sys, r->status);
  return nghttp2_submit_response(c->session, id, r->nva, r->nvlen,
                                 method == VALK_METHOD_HEAD || r->body_len == 0 ? NULL : &prd);
}

static int valk__on_frame_recv(nghttp2_session *s, const nghttp2_frame *f, void *ud) {
  valk_conn_t *c = ud;
  (void)s;
  if ((f->hd.type == NGHTTP2_HEADERS || f->hd.type == NGHTTP2_DATA) &&
      (f->hd.flags & NGHTTP2_FLAG_END_STREAM)) {
    if (valk__respond(c, f->hd.stream_id) != 0) return NGHTTP2_ERR_CALLBACK_FAILURE;
  }
  return 0;
}

static int valk__on_stream_close(nghttp2_session *s, int32_t id, uint32_t error_code, void *ud) {
  valk_conn_t *c = ud;
  (void)s;
  (void)id;
  (void)error_code;
  if (c->streams_open > 0 && --c->streams_open == 0) valk__set_state(c, VALK_CONN_IDLE);
  return 0;
}

static int valk__callbacks_new(nghttp2_session_callbacks **out) {
  nghttp2_session_callbacks *cb;
  if (nghttp2_session_callbacks_new(&cb) != 0) return VALK_ENOMEM;
  nghttp2_session_callbacks_set_on_begin_headers_callback(cb, valk__on_begin_headers);
  nghttp2_session_callbacks_set_on_header_callback(cb, valk__on_header);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cb, valk__on_frame_recv);
  nghttp2_session_callbacks_set_on_stream_close_callback(cb, valk__on_stream_close);
  *out = cb;
  return 0;
}

/* ---- input: TCP -> TLS -> nghttp2 --------------------------------------- */

static int valk__conn_session_start(valk_conn_t *c) {
  valk_server_t *srv = c->srv;
  nghttp2_settings_entry iv[1];

  if (nghttp2_session_server_new3(&c->session, srv->callbacks, c, srv->option, &srv->mem) != 0)
    return VALK_ENOMEM;
  iv[0].settings_id = NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS;
  iv[0].value = srv->sys->config.max_concurrent_streams;
  if (nghttp2_submit_settings(c->session, NGHTTP2_FLAG_NONE, iv, VALK_ARRAY_SIZE(iv)) != 0)
    return VALK_EH2;
  return 0;
}

/* 1 when the handshake is done and the session exists, 0 to wait, -1 closed. */
static int valk__conn_handshake(valk_conn_t *c) {
  valk_system_t *sys = c->srv->sys;
  int rc = SSL_do_handshake(c->ssl);

  if (rc != 1) {
    int e = SSL_get_error(c->ssl, rc);
    ERR_clear_error();
    valk__conn_flush(c); /* handshake bytes, or the alert */
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return 0;
    VALK_STAT_ADD(sys, connections_failed, 1);
    valk__conn_close(c);
    return -1;
  }
  if (!valk_tls_alpn_is_h2(c->ssl) || valk__conn_session_start(c) != 0) {
    VALK_STAT_ADD(sys, connections_failed, 1);
    valk__conn_close(c);
    return -1;
  }
  VALK_STAT_ADD(sys, tls_handshakes, 1);
  valk__set_state(c, VALK_CONN_IDLE);
  return 1;
}

/* Decrypts everything buffered and feeds it to nghttp2. 0 or a negative error. */
static int valk__conn_read_plaintext(valk_conn_t *c) {
  uint8_t *scratch = c->srv->sys->read_scratch;
  for (;;) {
    int n = SSL_read(c->ssl, scratch, VALK_SCRATCH_SIZE);
    if (n > 0) {
      if (nghttp2_session_mem_recv(c->session, scratch, (size_t)n) < 0) return VALK_EH2;
      continue;
    }
    switch (SSL_get_error(c->ssl, n)) {
    case SSL_ERROR_WANT_READ:
      return 0;
    case SSL_ERROR_ZERO_RETURN:
      c->flags |= VALK_CONN_F_PEER_CLOSED;
      return 0;
    default:
      ERR_clear_error();
      return VALK_ETLS;
    }
  }
}

static void valk__conn_on_input(valk_conn_t *c) {
  if (c->state == VALK_CONN_CONNECTING && valk__conn_handshake(c) != 1) return;
  if (c->session == NULL) return;
  if (valk__conn_read_plaintext(c) != 0) {
    VALK_STAT_ADD(c->srv->sys, connections_failed, 1);
    valk__conn_flush(c); /* a GOAWAY nghttp2 queued, best effort */
    valk__conn_close(c);
    return;
  }
  valk__conn_flush(c);
}

static void valk__alloc_cb(uv_handle_t *handle, size_t suggested, uv_buf_t *buf) {
  valk_conn_t *c = handle->data;
  valk_tcp_buf_t *b = valk_slab_acquire(c->srv->sys->tcp_bufs);
  (void)suggested;
  if (b == NULL) {
    *buf = uv_buf_init(NULL, 0); /* read_cb gets UV_ENOBUFS */
    return;
  }
  b->conn = c;
  *buf = uv_buf_init((char *)b->data, sizeof(b->data));
}

static void valk__read_cb(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf) {
  valk_conn_t *c = stream->data;
  valk_system_t *sys = c->srv->sys;

  if (nread > 0) BIO_write(c->rbio, buf->base, (int)nread);
  if (buf->base != NULL)
    valk__tcp_buf_release(sys, VALK_CONTAINER_OF((uint8_t *)buf->base, valk_tcp_buf_t, data));
  if (c->flags & VALK_CONN_F_CLOSED) return;
  if (nread > 0) {
    VALK_STAT_ADD(sys, bytes_received, nread);
    valk__conn_on_input(c);
  } else if (nread == UV_ENOBUFS) {
    uv_read_stop(stream);
    c->flags |= VALK_CONN_F_READ_PAUSED;
    VALK_STAT_ADD(sys, reads_paused, 1);
    valk__waiter_add(c);
  } else if (nread < 0) {
    valk__conn_close(c);
  }
}

/* ---- connection lifetime ------------------------------------------------ */

static void valk__on_conn_closed(uv_handle_t *handle) {
  valk_conn_t *c = handle->data;
  valk_server_t *srv = c->srv;
  valk_system_t *sys = srv->sys;

  if (c->session != NULL) nghttp2_session_del(c->session);
  SSL_free(c->ssl);
  if (c->prev) c->prev->next = c->next;
  else srv->conns = c->next;
  if (c->next) c->next->prev = c->prev;
  srv->nconns--;
  c->state = VALK_CONN_FREE;
  valk_slab_release(sys->conn_slab, c);
  VALK_STAT_ADD(sys, connections_closed, 1);
  if (srv->closing) valk__server_maybe_done(srv);
  else valk_h2_retry_accepts(sys);
}

static void valk__conn_close(valk_conn_t *c) {
  if (c->flags & VALK_CONN_F_CLOSED) return;
  c->flags |= VALK_CONN_F_CLOSED;
  valk__set_state(c, VALK_CONN_CLOSING);
  valk__waiter_remove(c);
  uv_close((uv_handle_t *)&c->tcp, valk__on_conn_closed);
}

/* Graceful: GOAWAY(NO_ERROR, last processed stream), close once streams end. */
static void valk__conn_goaway(valk_conn_t *c) {
  if (c->flags & (VALK_CONN_F_CLOSED | VALK_CONN_F_GOAWAY)) return;
  if (c->session == NULL) {
    valk__conn_close(c);
    return;
  }
  c->flags |= VALK_CONN_F_GOAWAY;
  nghttp2_submit_goaway(c->session, NGHTTP2_FLAG_NONE,
                        nghttp2_session_get_last_proc_stream_id(c->session), NGHTTP2_NO_ERROR,
                        NULL, 0);
  valk__set_state(c, VALK_CONN_CLOSING);
  valk__conn_flush(c);
}

static void valk__on_connection(uv_stream_t *listener, int status) {
  valk_server_t *srv = listener->data;
  valk_system_t *sys = srv->sys;
  valk_conn_t *c;

  if (status < 0) {
    VALK_WARN("accept on %s:%d: %s", srv->opts->host, srv->opts->port, uv_strerror(status));
    return;
  }
  c = valk_slab_acquire(sys->conn_slab);
  if (c == NULL) {
    /* At max_connections: refuse with an RST, never start TLS for it. */
    if (valk_system_reject(sys, listener) == 0) VALK_STAT_ADD(sys, connections_rejected, 1);
    else srv->accept_pending = 1;
    return;
  }
  memset(c, 0, sizeof(*c));
  c->srv = srv;
  uv_tcp_init(&sys->loop, &c->tcp);
  c->tcp.data = c;
  c->next = srv->conns;
  if (srv->conns) srv->conns->prev = c;
  srv->conns = c;
  srv->nconns++;
  c->accepted_ms = uv_now(&sys->loop);
  valk__set_state(c, VALK_CONN_CONNECTING);
  VALK_STAT_ADD(sys, connections_accepted, 1);
  if (uv_accept(listener, (uv_stream_t *)&c->tcp) != 0 ||
      valk_tls_session_new(srv->opts->ssl_ctx, &c->ssl, &c->rbio, &c->wbio) != 0 ||
      uv_read_start((uv_stream_t *)&c->tcp, valk__alloc_cb, valk__read_cb) != 0) {
    VALK_STAT_ADD(sys, connections_failed, 1);
    valk__conn_close(c);
    return;
  }
  uv_tcp_nodelay(&c->tcp, 1);
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

static void valk__conn_sweep(valk_conn_t *c, uint64_t now, const valk_system_config_t *cfg) {
  uint64_t age = now - c->state_change_ms;
  if (c->flags & VALK_CONN_F_CLOSED) return;
  if (c->state == VALK_CONN_CONNECTING && age >= cfg->handshake_timeout_ms) {
    VALK_STAT_ADD(c->srv->sys, connections_timed_out, 1);
    valk__conn_close(c);
  } else if (c->state == VALK_CONN_IDLE && cfg->idle_timeout_ms > 0 && age >= cfg->idle_timeout_ms) {
    VALK_STAT_ADD(c->srv->sys, connections_timed_out, 1);
    valk__conn_goaway(c);
  }
}

void valk_h2_sweep(valk_system_t *sys) {
  uint64_t now = uv_now(&sys->loop);
  uint32_t i;
  valk_conn_t *c;
  for (i = 0; i < VALK_MAX_SERVERS; i++) {
    if (sys->servers[i] == NULL) continue;
    for (c = sys->servers[i]->conns; c != NULL; c = c->next) valk__conn_sweep(c, now, &sys->config);
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
    uv_close((uv_handle_t *)&srv->drain_timer, valk__on_server_handle_closed);
  }
  if (srv->handles_open > 0) return;
  if (srv->callbacks) nghttp2_session_callbacks_del(srv->callbacks);
  if (srv->option) nghttp2_option_del(srv->option);
  valk_server_opts_free(srv->opts);
  if (srv->registered) valk_system_server_gone(sys, srv);
  free(srv);
  if (op != NULL) {
    op->status = 0;
    valk_system_complete(sys, op);
  }
}

static void valk__on_drain_timeout(uv_timer_t *timer) {
  valk_server_t *srv = timer->data;
  valk_conn_t *c;
  for (c = srv->conns; c != NULL; c = c->next) valk__conn_close(c);
}

void valk_h2_server_close(valk_server_t *srv, valk_op_t *op) {
  valk_conn_t *c;

  if (srv->closing) {
    if (op != NULL) {
      op->status = VALK_EINVAL;
      snprintf(op->error, sizeof(op->error), "server is already closing");
      valk_system_complete(srv->sys, op);
    }
    return;
  }
  srv->closing = 1;
  srv->close_op = op;
  uv_close((uv_handle_t *)&srv->listener, valk__on_server_handle_closed);
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
  valk_h2_mem_init(&srv->mem, srv->sys);
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
    valk_system_complete(sys, op);
    return;
  }
  srv = calloc(1, sizeof(*srv));
  if (srv == NULL) {
    op->status = VALK_ENOMEM;
    snprintf(op->error, sizeof(op->error), "out of memory");
    valk_server_opts_free(opts);
    valk_system_complete(sys, op);
    return;
  }
  srv->sys = sys;
  srv->opts = opts;
  uv_tcp_init(&sys->loop, &srv->listener);
  uv_timer_init(&sys->loop, &srv->drain_timer);
  srv->listener.data = srv->drain_timer.data = srv;
  srv->handles_open = 2;
  op->status = valk__server_setup(srv, op->error, sizeof(op->error));
  if (op->status != 0) {
    srv->closing = 1;
    uv_close((uv_handle_t *)&srv->listener, valk__on_server_handle_closed);
    valk__server_maybe_done(srv);
    valk_system_complete(sys, op);
    return;
  }
  srv->id = ++sys->next_server_id;
  srv->registered = 1;
  sys->servers[slot] = srv;
  atomic_fetch_add(&sys->server_count, 1);
  op->u.listen.server_id = srv->id;
  op->u.listen.port = opts->port;
  valk_system_complete(sys, op);
}
