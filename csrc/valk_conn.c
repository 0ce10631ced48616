/*
 * valk_conn.c: the connection layer. See valk_conn.h for who owns what.
 *
 * Invariants (AIO thread):
 *   - writes_in_flight <= VALK_CONN_WRITES_MAX; each write holds one TCP buffer.
 *   - VALK_CONN_F_WAITING <=> c is on io->waiting; a connection is never both
 *     there and in io->backpressure.
 *   - Reading is stopped <=> READ_PAUSED or OUT_BLOCKED (or it is closed).
 *   - Once VALK_CONN_F_CLOSED is set nothing is read, written or flushed.
 */
#include "valk_conn.h"

#include <assert.h>
#include <openssl/err.h>
#include <string.h>

#include "valk_common.h"
#include "valk_events.h"
#include "valk_tls.h"

static void valk__alloc_cb(uv_handle_t *handle, size_t suggested, uv_buf_t *buf);
static void valk__read_cb(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf);
static void valk__on_write(uv_write_t *req, int status);
static valk_tcp_buf_t *valk__tcp_buf_get(valk_io_t *io);
static void valk__tcp_buf_put(valk_io_t *io, valk_tcp_buf_t *b);

/* ---- setup ------------------------------------------------------------------ */

void valk_conn_init(valk_conn_t *c, valk_io_t *io, const valk_conn_ops_t *ops, uint32_t flags) {
  assert(ops != NULL && ops->input && ops->no_buffer && ops->drained && ops->error && ops->closing &&
         ops->closed);
  memset(c, 0, sizeof(*c));
  c->io = io;
  c->ops = ops;
  c->flags = flags;
  c->state = VALK_CONN_CONNECTING;
  c->accepted_ms = c->progress_ms = c->state_change_ms = uv_now(io->loop);
  valk_bp_node_init(&c->bp);
  VALK_UV_CHECK(uv_tcp_init(io->loop, &c->tcp));
  c->tcp.data = c;
}

void valk_conn_budget_init(valk_conn_t *c, nghttp2_mem *mem) {
  valk_stats_shard_t *st = &c->io->stats->shard[VALK_SHARD_AIO];
  valk_h2_budget_init(&c->budget, (size_t)c->io->max_session_memory, &st->h2_memory_bytes,
                      &st->h2_memory_peak);
  c->budget.pages = c->io->pages;
  valk_h2_budget_mem(&c->budget, mem);
}

/* ---- the write BIO: TLS records straight into TCP buffers --------------------- */

static BIO_METHOD *valk__obio_method;
static uv_once_t valk__obio_once = UV_ONCE_INIT;

/*
 * SSL_write's output: into the TCP buffers at c->out while the spill is
 * empty and another buffer may be taken (out_count + writes_in_flight below
 * VALK_CONN_WRITES_MAX, one free in the slab), the rest into the spill, so
 * the bytes go out in the order they came. Takes every byte, or fails (-1).
 */
static int valk__obio_write(BIO *bio, const char *data, int len) {
  valk_conn_t *c = BIO_get_data(bio);
  size_t left = len > 0 ? (size_t)len : 0;
  while (left > 0 && BIO_ctrl_pending(c->spill) == 0) {
    valk_tcp_buf_t *t = c->out_tail;
    size_t n;
    if (t == NULL || t->len == VALK_TCP_BUF_SIZE) {
      if (c->out_count + c->writes_in_flight >= VALK_CONN_WRITES_MAX || (t = valk__tcp_buf_get(c->io)) == NULL) break;
      t->conn = c;
      t->next = NULL;
      t->len = 0;
      if (c->out_tail != NULL) c->out_tail->next = t;
      else c->out_head = t;
      c->out_tail = t;
      c->out_count++;
    }
    n = VALK_TCP_BUF_SIZE - t->len;
    if (n > left) n = left;
    memcpy(t->data + t->len, data, n);
    t->len += (uint32_t)n;
    c->out_bytes += n;
    data += n;
    left -= n;
  }
  if (left > 0 && BIO_write(c->spill, data, (int)left) != (int)left) return -1;
  return len;
}

/* What OpenSSL asks of a write BIO: how much it holds (BIO_ctrl_pending, for
 * the layer and its kinds), a flush (nothing to do: the layer sends). */
static long valk__obio_ctrl(BIO *bio, int cmd, long num, void *ptr) {
  valk_conn_t *c = BIO_get_data(bio);
  (void)num;
  (void)ptr;
  switch (cmd) {
  case BIO_CTRL_PENDING:
    return (long)(c->out_bytes + BIO_ctrl_pending(c->spill));
  case BIO_CTRL_FLUSH:
    return 1;
  default:
    return 0;
  }
}

static int valk__obio_create(BIO *bio) {
  BIO_set_init(bio, 1);
  return 1;
}

static void valk__obio_init(void) {
  BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "valk TCP buffers");
  if (m == NULL) return;
  if (!BIO_meth_set_write(m, valk__obio_write) || !BIO_meth_set_ctrl(m, valk__obio_ctrl) ||
      !BIO_meth_set_create(m, valk__obio_create)) {
    BIO_meth_free(m);
    return;
  }
  valk__obio_method = m;
}

/* c's TLS session writes through the layer's BIO; the memory BIO it was made
 * with becomes the spill. 0 or VALK_ENOMEM. */
static int valk__obio_attach(valk_conn_t *c) {
  BIO *ob;
  uv_once(&valk__obio_once, valk__obio_init);
  if (valk__obio_method == NULL || (ob = BIO_new(valk__obio_method)) == NULL) return VALK_ENOMEM;
  BIO_set_data(ob, c);
  c->spill = c->wbio;
  BIO_up_ref(c->spill); /* SSL_set0_wbio lets go of its reference: the spill is ours now */
  SSL_set0_wbio(c->ssl, ob);
  c->wbio = ob;
  return 0;
}

/* Puts the TCP buffers still on c->out back (c is closed). */
static void valk__out_release(valk_conn_t *c) {
  while (c->out_head != NULL) {
    valk_tcp_buf_t *b = c->out_head;
    c->out_head = b->next;
    valk__tcp_buf_put(c->io, b);
  }
  c->out_tail = NULL;
  c->out_count = 0;
  c->out_bytes = 0;
}

int valk_conn_start_plain(valk_conn_t *c) {
  uv_once(&valk__obio_once, valk__obio_init);
  c->flags |= VALK_CONN_F_PLAIN;
  c->rbio = valk_tls_mem_bio_new();
  c->spill = valk_tls_mem_bio_new();
  if (c->rbio == NULL || c->spill == NULL || valk__obio_method == NULL || (c->wbio = BIO_new(valk__obio_method)) == NULL)
    return VALK_ENOMEM; /* what was made is freed at close (valk__on_closed) */
  BIO_set_data(c->wbio, c);
  return uv_read_start((uv_stream_t *)&c->tcp, valk__alloc_cb, valk__read_cb);
}

int valk_conn_start_tls(valk_conn_t *c, SSL_CTX *ctx) {
  if (valk_tls_session_new(ctx, &c->ssl, &c->rbio, &c->wbio) != 0) return VALK_ETLS;
  if (valk__obio_attach(c) != 0) return VALK_ENOMEM;
  return uv_read_start((uv_stream_t *)&c->tcp, valk__alloc_cb, valk__read_cb);
}

/* ---- TCP buffers ------------------------------------------------------------ */

/* The watermark follows the slab's usage; a change is an event. */
static void valk__watermark_follow(valk_io_t *io) {
  uint32_t used = valk_slab_used(io->tcp_bufs);
  valk_wm_state_t was = (valk_wm_state_t)atomic_load_explicit(&io->watermark->state, memory_order_relaxed);
  valk_wm_state_t now = valk_watermark_update(io->watermark, used);
  if (now != was) valk_event_emit(io->events, uv_now(io->loop), VALK_EV_watermark_changed, VALK_EVR_none, 0, (uint32_t)now, used);
}

/* A TCP buffer from io's slab (NULL when none is free); updates the watermark. */
static valk_tcp_buf_t *valk__tcp_buf_get(valk_io_t *io) {
  valk_tcp_buf_t *b = valk_slab_acquire(io->tcp_bufs);
  valk__watermark_follow(io);
  return b;
}

/* Returns b to the slab, updates the watermark, resumes waiting connections. */
static void valk__tcp_buf_put(valk_io_t *io, valk_tcp_buf_t *b) {
  valk_slab_release(io->tcp_bufs, b);
  valk__watermark_follow(io);
  if (valk_bp_size(io->backpressure) > 0 || io->waiting != NULL) valk_conn_resume(io);
}

int valk_conn_trim(valk_conn_t *c) {
  int n;
  BIO *b;
  if (c->ssl == NULL || (c->flags & VALK_CONN_F_CLOSED) || c->bio_peak <= VALK_CONN_BIO_KEEP) return 0;
  n = valk_tls_rbio_renew(c->ssl, &c->rbio);
  if (BIO_ctrl_pending(c->spill) == 0 && (b = valk_tls_mem_bio_new()) != NULL) {
    BIO_free(c->spill);
    c->spill = b;
    n++;
  }
  if (n > 0) c->bio_peak = 0;
  return n;
}

/* A TLS memory BIO of c holds n bytes now. */
static void valk__bio_seen(valk_conn_t *c, size_t n) {
  if (n > c->bio_peak) c->bio_peak = n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
}

/* ---- waiting for buffers ------------------------------------------------------ */

void valk_conn_wait(valk_conn_t *c) {
  valk_io_t *io = c->io;
  if (c->flags & VALK_CONN_F_WAITING) return;
  assert(!valk_bp_contains(&c->bp));
  c->flags |= VALK_CONN_F_WAITING;
  c->wait_next = NULL;
  if (io->waiting_tail) io->waiting_tail->wait_next = c;
  else io->waiting = c;
  io->waiting_tail = c;
}

/* The list is short (client connections: at most VALK_MAX_CLIENTS). */
static void valk__wait_remove(valk_conn_t *c) {
  valk_io_t *io = c->io;
  valk_conn_t **p, *prev = NULL;
  for (p = &io->waiting; *p != NULL; prev = *p, p = &(*p)->wait_next) {
    if (*p != c) continue;
    *p = c->wait_next;
    if (io->waiting_tail == c) io->waiting_tail = prev;
    break;
  }
  c->wait_next = NULL;
  c->flags &= ~VALK_CONN_F_WAITING;
}

/* Takes c off the waiting list and out of the backpressure heap. */
static void valk__unwait(valk_conn_t *c) {
  if (c->flags & VALK_CONN_F_WAITING) valk__wait_remove(c);
  valk_bp_remove(c->io->backpressure, &c->bp);
}

#define VALK__READ_STOPPED (VALK_CONN_F_READ_PAUSED | VALK_CONN_F_OUT_BLOCKED | VALK_CONN_F_HOLD)

static void valk__reading_update(valk_conn_t *c, uint32_t was) {
  int stopped_before = (was & VALK__READ_STOPPED) != 0;
  int stopped_now = (c->flags & VALK__READ_STOPPED) != 0;
  if (c->flags & VALK_CONN_F_CLOSED || stopped_before == stopped_now) return;
  if (stopped_now) uv_read_stop((uv_stream_t *)&c->tcp);
  else uv_read_start((uv_stream_t *)&c->tcp, valk__alloc_cb, valk__read_cb);
}

void valk_conn_block_reading(valk_conn_t *c, int blocked) {
  uint32_t was = c->flags;
  if (blocked) c->flags |= VALK_CONN_F_OUT_BLOCKED;
  else c->flags &= ~VALK_CONN_F_OUT_BLOCKED;
  valk__reading_update(c, was);
}

void valk_conn_hold_reading(valk_conn_t *c, int held) {
  uint32_t was = c->flags;
  if (held) c->flags |= VALK_CONN_F_HOLD;
  else c->flags &= ~VALK_CONN_F_HOLD;
  valk__reading_update(c, was);
}

void valk_conn_pause_reading(valk_conn_t *c) {
  uint32_t was = c->flags;
  c->flags |= VALK_CONN_F_READ_PAUSED;
  valk__reading_update(c, was);
}

/* Wakes c: reads again (unless its output blocks it) and flushes what waits. */
static void valk__wake(valk_conn_t *c) {
  uint32_t was = c->flags;
  if (c->flags & VALK_CONN_F_CLOSED) return;
  c->flags &= ~VALK_CONN_F_READ_PAUSED;
  valk__reading_update(c, was);
  if (c->flags & VALK_CONN_F_WANT_FLUSH) valk_conn_flush(c);
}

void valk_conn_resume(valk_io_t *io) {
  /* A reader takes its buffer only at its next poll: count each woken heap
   * connection as taking min_buffers_per_conn. A writer that finds no buffer
   * parks again, but only when the slab is empty, which is below every
   * threshold and ends this loop. */
  uint32_t total = io->tcp_bufs->count;
  uint32_t used = valk_slab_used(io->tcp_bufs);
  while (io->waiting != NULL && valk_slab_available(io->tcp_bufs) > 0) {
    valk_conn_t *c = io->waiting;
    valk__wait_remove(c);
    valk__wake(c);
  }
  while (valk_bp_size(io->backpressure) > 0) {
    uint32_t need = valk_resume_threshold(used, total, io->min_buffers_per_conn);
    uint32_t now_used;
    valk_conn_t *c;
    if (used >= total || total - used < need) return;
    c = VALK_CONTAINER_OF(valk_bp_pop(io->backpressure), valk_conn_t, bp);
    if (c->flags & VALK_CONN_F_CLOSED) continue;
    used += io->min_buffers_per_conn;
    now_used = valk_slab_used(io->tcp_bufs);
    if (used < now_used) used = now_used;
    valk__wake(c);
  }
}

/* ---- output: nghttp2 -> TLS -> TCP buffers ------------------------------------- */

/* SSL_write into the memory BIO, which never says WANT_WRITE. With partial
 * writes enabled each call may take one record only: loop until all is in. */
static int valk__tls_write(valk_conn_t *c, const uint8_t *data, size_t len) {
  if (c->flags & VALK_CONN_F_PLAIN) /* the TCP buffers, then the spill: takes all */
    return len == 0 || BIO_write(c->wbio, data, (int)len) == (int)len ? 0 : VALK_ETLS;
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

/* A frame this large goes to SSL_write from nghttp2's buffer as it is: it
 * fills most of a record alone, and gathering it would copy every byte of a
 * bulk body once more (a DATA frame is one whole record, valk_h2_session.c). */
#define VALK__GATHER_MAX 4096

/* What produce gathered so far goes to SSL_write. 0 or VALK_ETLS. */
static int valk__tls_write_gathered(valk_conn_t *c) {
  size_t n = c->io->write_gathered;
  c->io->write_gathered = 0;
  return n > 0 ? valk__tls_write(c, c->io->write_scratch, n) : 0;
}

/* One frame from mem_send: gathered or written (1: go on, 2: written, stop
 * so the caller checks its output target, 0: nothing more, < 0: error). A
 * DATA frame written by a send_data callback inside mem_send (which then
 * pauses it, valk_conn_write_framed) counts as written. */
static ssize_t valk__produce_step(valk_conn_t *c, size_t *total) {
  valk_io_t *io = c->io;
  const uint8_t *data;
  uint64_t before = c->bytes_framed;
  ssize_t len = nghttp2_session_mem_send(c->session, &data);
  if (len < 0) return VALK_EH2;
  *total += (size_t)len + (size_t)(c->bytes_framed - before);
  if (len == 0) return c->bytes_framed != before ? 2 : 0;
  if ((size_t)len < VALK__GATHER_MAX && io->write_gathered + (size_t)len <= VALK_SCRATCH_SIZE) {
    memcpy(io->write_scratch + io->write_gathered, data, (size_t)len);
    io->write_gathered += (size_t)len;
    return io->write_gathered == VALK_SCRATCH_SIZE ? 2 : 1;
  }
  if (valk__tls_write_gathered(c) != 0 || valk__tls_write(c, data, (size_t)len) != 0) return VALK_ETLS;
  return 2;
}

ssize_t valk_conn_produce(valk_conn_t *c) {
  size_t total = 0;
  ssize_t rc;

  assert(c->session != NULL && c->io->write_gathered == 0);
  do {
    rc = valk__produce_step(c, &total);
  } while (rc == 1);
  if (rc < 0) {
    c->io->write_gathered = 0;
    return rc;
  }
  if (valk__tls_write_gathered(c) != 0) return VALK_ETLS;
  return (ssize_t)total;
}

int valk_conn_write_framed(valk_conn_t *c, const uint8_t *hd, size_t hdlen, uint8_t *data, size_t len) {
  uint8_t saved[16];
  int rc;

  assert(hdlen <= sizeof(saved));
  if (valk__tls_write_gathered(c) != 0) return VALK_ETLS;
  memcpy(saved, data - hdlen, hdlen);
  memcpy(data - hdlen, hd, hdlen);
  rc = valk__tls_write(c, data - hdlen, hdlen + len);
  memcpy(data - hdlen, saved, hdlen);
  c->bytes_framed += hdlen + len;
  return rc;
}

/*
 * Sends what the TLS layer holds in as many TCP buffers as may be in flight,
 * with one write (writev) of all of them. 0 sent, 1 blocked (resumes later),
 * -1 failed.
 */
static int valk__send_some(valk_conn_t *c) {
  valk_io_t *io = c->io;
  valk_tcp_buf_t *head = NULL, *last = NULL;
  uv_buf_t ub[VALK_CONN_WRITES_MAX];
  uint32_t k = 0, avail = VALK_CONN_WRITES_MAX - c->writes_in_flight;
  size_t total = 0;

  if (avail == 0) {
    c->flags |= VALK_CONN_F_WANT_FLUSH;
    return 1;
  }
  while (k < avail) {
    valk_tcp_buf_t *b = c->out_head;
    int n;
    if (b != NULL) { /* records written straight into it */
      c->out_head = b->next;
      if (c->out_head == NULL) c->out_tail = NULL;
      c->out_count--;
      c->out_bytes -= b->len;
      n = (int)b->len;
    } else if (BIO_ctrl_pending(c->spill) > 0) { /* what did not fit: copied into a buffer */
      if ((b = valk__tcp_buf_get(io)) == NULL) break;
      b->conn = c;
      n = BIO_read(c->spill, b->data, (int)sizeof(b->data));
    } else {
      break;
    }
    b->next = NULL;
    if (last != NULL) last->next = b;
    else head = b;
    last = b;
    if (n <= 0) break; /* cannot happen while bytes are pending: the write below fails */
    ub[k++] = uv_buf_init((char *)b->data, (unsigned)n);
    total += (size_t)n;
  }
  if (head == NULL) { /* no TCP buffer was free */
    c->flags |= VALK_CONN_F_WANT_FLUSH;
    c->ops->no_buffer(c, 0);
    return 1;
  }
  if (k == 0 || uv_write(&head->req, (uv_stream_t *)&c->tcp, ub, k, valk__on_write) != 0) {
    while (head != NULL) {
      valk_tcp_buf_t *next = head->next;
      valk__tcp_buf_put(io, head);
      head = next;
    }
    c->ops->error(c, VALK_CONN_EWRITE, 0);
    return -1;
  }
  if (c->writes_in_flight == 0) c->progress_ms = uv_now(io->loop); /* a wait for the peer begins */
  c->writes_in_flight += k;
  assert(c->writes_in_flight <= VALK_CONN_WRITES_MAX);
  c->bytes_sent += total;
  if (c->stats != NULL) {
    VALK_BUMP(&c->stats->bytes_sent, total);
    VALK_SHARD_ADD(io->stats, VALK_SHARD_AIO, bytes_sent, total);
  }
  return 0;
}

void valk_conn_flush(valk_conn_t *c) {
  if (c->flags & (VALK_CONN_F_CLOSED | VALK_CONN_F_LINGER)) return;
  c->flags &= ~VALK_CONN_F_WANT_FLUSH;
  for (;;) {
    /* Top the TLS output up to what the buffers that may go now hold (less half
     * a buffer: one produce round can add a record and a frame), then send. */
    size_t free_bufs = VALK_CONN_WRITES_MAX - c->writes_in_flight;
    size_t target = free_bufs > 1 ? free_bufs * VALK_TCP_BUF_SIZE - VALK_TCP_BUF_SIZE / 2 : VALK_TCP_BUF_SIZE / 2;
    if (free_bufs == 0) { /* every buffer is being written: what is made now would go to the spill, */
      c->flags |= VALK_CONN_F_WANT_FLUSH; /* a copy more; a write's end flushes again */
      return;
    }
    while (c->session != NULL && BIO_ctrl_pending(c->wbio) < target) {
      ssize_t rc = valk_conn_produce(c);
      if (rc < 0) {
        c->ops->error(c, VALK_CONN_EOUTPUT, (int)rc);
        return;
      }
      if (rc == 0) break;
    }
    if (BIO_ctrl_pending(c->wbio) == 0) break;
    valk__bio_seen(c, BIO_ctrl_pending(c->spill));
    if (valk__send_some(c) != 0) return;
  }
  c->ops->drained(c);
}

static void valk__on_write(uv_write_t *req, int status) {
  valk_tcp_buf_t *b = VALK_CONTAINER_OF(req, valk_tcp_buf_t, req);
  valk_conn_t *c = b->conn;

  c->progress_ms = uv_now(c->io->loop); /* the peer took bytes (sendTimeoutMs) */
  while (b != NULL) { /* the write's buffers */
    valk_tcp_buf_t *next = b->next;
    assert(c->writes_in_flight > 0);
    c->writes_in_flight--;
    valk__tcp_buf_put(c->io, b);
    b = next;
  }
  if (c->flags & VALK_CONN_F_CLOSED) return;
  if (status < 0) {
    c->ops->error(c, VALK_CONN_EWRITE, status);
    return;
  }
  if (c->flags & VALK_CONN_F_WANT_FLUSH) {
    if (!valk_bp_contains(&c->bp) && !(c->flags & VALK_CONN_F_WAITING)) valk_conn_flush(c);
  } else {
    c->ops->drained(c);
  }
  if (c->ops->wrote != NULL && !(c->flags & VALK_CONN_F_CLOSED)) c->ops->wrote(c);
}

/* ---- input: TCP -> TLS -> the kind's feed ------------------------------------ */

int valk_conn_handshake(valk_conn_t *c, char *why, size_t why_len) {
  int rc, e;

  if (c->flags & VALK_CONN_F_PLAIN) return 1; /* nothing to agree on */
  rc = SSL_do_handshake(c->ssl);
  if (rc == 1) return 1;
  e = SSL_get_error(c->ssl, rc);
  if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE && why != NULL) {
    long vr = SSL_get_verify_result(c->ssl);
    unsigned long err = ERR_peek_error();
    if (vr != X509_V_OK) snprintf(why, why_len, "certificate verify failed: %s", X509_verify_cert_error_string(vr));
    else if (err != 0) ERR_error_string_n(err, why, why_len);
    else why[0] = '\0'; /* no reason: the peer closed it */
  }
  ERR_clear_error();
  valk_conn_flush(c); /* handshake bytes, or the alert */
  if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) return VALK_ETLS;
  return (c->flags & VALK_CONN_F_CLOSED) ? VALK_ESTOPPED : 0;
}

int valk_conn_feed_session(valk_conn_t *c, const uint8_t *p, size_t n) {
  return nghttp2_session_mem_recv(c->session, p, n) < 0 ? VALK_EH2 : 0;
}

/* valk_conn_read_plaintext without TLS: what rbio holds, a scratch buffer at a time. */
static int valk__read_plain(valk_conn_t *c, valk_conn_feed_fn feed) {
  uint8_t *scratch = c->io->read_scratch;
  for (;;) {
    int n = BIO_read(c->rbio, scratch, VALK_SCRATCH_SIZE), rc;
    if (n <= 0) return 0;
    rc = feed(c, scratch, (size_t)n);
    if (rc != 0) return rc;
  }
}

int valk_conn_send_raw(valk_conn_t *c, const uint8_t *data, size_t len) {
  return valk__tls_write(c, data, len);
}

int valk_conn_read_plaintext(valk_conn_t *c, valk_conn_feed_fn feed) {
  uint8_t *scratch = c->io->read_scratch;
  if (c->flags & VALK_CONN_F_PLAIN) return valk__read_plain(c, feed);
  for (;;) {
    int n = SSL_read(c->ssl, scratch, VALK_SCRATCH_SIZE);
    if (n > 0) {
      int rc = feed(c, scratch, (size_t)n);
      if (rc != 0) return rc;
      continue;
    }
    switch (SSL_get_error(c->ssl, n)) {
    case SSL_ERROR_WANT_READ:
      return 0;
    case SSL_ERROR_ZERO_RETURN:
      c->flags |= VALK_CONN_F_PEER_CLOSED;
      return 1;
    default:
      ERR_clear_error();
      return VALK_ETLS;
    }
  }
}

static void valk__alloc_cb(uv_handle_t *handle, size_t suggested, uv_buf_t *buf) {
  valk_conn_t *c = handle->data;
  valk_tcp_buf_t *b = valk__tcp_buf_get(c->io);
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
  valk_io_t *io = c->io;
  /* Lingering, or told to: what the peer sends is dropped. */
  int discard = (c->flags & (VALK_CONN_F_LINGER | VALK_CONN_F_DISCARD | VALK_CONN_F_CLOSED)) != 0;

  if (nread > 0 && !discard) {
    BIO_write(c->rbio, buf->base, (int)nread);
    valk__bio_seen(c, BIO_ctrl_pending(c->rbio));
  }
  if (buf->base != NULL) valk__tcp_buf_put(io, VALK_CONTAINER_OF((uint8_t *)buf->base, valk_tcp_buf_t, data));
  if (c->flags & VALK_CONN_F_CLOSED) return;
  if (nread > 0) {
    if (c->stats != NULL) {
      VALK_BUMP(&c->stats->bytes_received, nread);
      VALK_SHARD_ADD(io->stats, VALK_SHARD_AIO, bytes_received, nread);
    }
    if (!discard) c->ops->input(c);
  } else if (nread == UV_ENOBUFS) {
    if (c->flags & VALK_CONN_F_LINGER) {
      valk_conn_close(c); /* nothing left to read for */
      return;
    }
    c->ops->no_buffer(c, 1);
  } else if (nread < 0) {
    if (c->flags & VALK_CONN_F_LINGER) valk_conn_close(c); /* the peer closed: the linger is over */
    else c->ops->error(c, VALK_CONN_EREAD, (int)nread);
  }
}

/* ---- closing ------------------------------------------------------------------ */

/* The FIN is out (after every write in flight): a peer that sent close_notify has nothing left to send. */
static void valk__on_shutdown(uv_shutdown_t *req, int status) {
  valk_conn_t *c = VALK_CONTAINER_OF(req, valk_conn_t, shutdown);
  if (status < 0 || (c->flags & VALK_CONN_F_PEER_CLOSED)) valk_conn_close(c);
}

void valk_conn_linger(valk_conn_t *c) {
  if (c->flags & (VALK_CONN_F_LINGER | VALK_CONN_F_CLOSED)) return;
  if (uv_shutdown(&c->shutdown, (uv_stream_t *)&c->tcp, valk__on_shutdown) != 0) {
    valk_conn_close(c);
    return;
  }
  c->flags |= VALK_CONN_F_LINGER;
  c->state_change_ms = uv_now(c->io->loop);
}

static void valk__on_closed(uv_handle_t *handle) {
  valk_conn_t *c = handle->data;
  assert(c->flags & VALK_CONN_F_CLOSED);
  assert(!(c->flags & VALK_CONN_F_WAITING) && !valk_bp_contains(&c->bp));
  valk__out_release(c);
  BIO_free(c->spill); /* the kind frees the SSL (and its BIOs) in ops->closed */
  c->spill = NULL;
  if (c->flags & VALK_CONN_F_PLAIN) { /* no SSL owns them */
    BIO_free(c->rbio);
    BIO_free(c->wbio);
    c->rbio = c->wbio = NULL;
  }
  c->ops->closed(c);
}

void valk_conn_close(valk_conn_t *c) {
  if (c->flags & VALK_CONN_F_CLOSED) return;
  c->flags |= VALK_CONN_F_CLOSED;
  valk__unwait(c);
  c->ops->closing(c);
  uv_close((uv_handle_t *)&c->tcp, valk__on_closed);
}

void valk_conn_close_reset(valk_conn_t *c) {
  if (c->flags & VALK_CONN_F_CLOSED) return;
  c->flags |= VALK_CONN_F_CLOSED;
  valk__unwait(c);
  c->ops->closing(c);
  if (uv_tcp_close_reset(&c->tcp, valk__on_closed) != 0) uv_close((uv_handle_t *)&c->tcp, valk__on_closed);
}
