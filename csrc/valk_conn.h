/*
 * valk_conn.h: the connection layer: one TLS connection over TCP on an AIO
 * loop, shared by server connections (valk_h2_server.h) and client
 * connections (valk_h2_client.h). docs/architecture.md shows where it sits.
 *
 * Its bytes flow
 *   socket -> TCP buffer -> rbio -> SSL_read -> the kind's feed (nghttp2)
 *   nghttp2_session_mem_send -> SSL_write -> wbio -> TCP buffer -> uv_write
 * where wbio is the layer's own BIO: it writes TLS records straight into the
 * TCP buffers that may be written now (at most VALK_CONN_WRITES_MAX with the
 * writes in flight), and what does not fit into a memory BIO, the spill,
 * which goes out after them (docs/design.md §4). A cleartext connection
 * (VALK_CONN_F_PLAIN, valk_conn_start_plain) has no SSL: rbio is read
 * directly and writes go to wbio as they are (docs/design.md §12).
 * TCP buffers come from one slab per system (docs/design.md §4): a read
 * buffer goes back as soon as its bytes are in the rbio, a write buffer when
 * its write ends. At most VALK_CONN_WRITES_MAX writes of one connection are
 * in flight. A connection that finds no buffer tells its kind (ops->no_buffer),
 * which parks it: in the backpressure heap by priority (server connections,
 * docs/design.md §5) or on the waiting list (client connections); when
 * buffers come back, valk_conn_resume wakes the waiting list first, then the
 * heap in priority order while the resume threshold allows.
 *
 * This layer calls its kinds only through their valk_conn_ops_t (the way
 * nghttp2 calls its callbacks struct): it never names a server or a client.
 *
 * Thread: everything here runs on the AIO thread that owns the connection's
 * valk_io_t.
 */
#ifndef VALK_CONN_H
#define VALK_CONN_H

#include <assert.h>
#include <nghttp2/nghttp2.h>
#include <openssl/ssl.h>
#include <stdint.h>
#include <uv.h>

#include "valk_admission.h"
#include "valk_evring.h"
#include "valk_h2_mem.h"
#include "valk_metrics.h"
#include "valk_slab.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A TCP buffer holds two TLS records of ciphertext: fixed, not configurable (docs/design.md §4). */
#define VALK_TCP_BUF_SIZE (2 * SSL3_RT_MAX_PACKET_SIZE)
#define VALK_SCRATCH_SIZE 16384  /* one TLS record of plaintext */
/* TCP buffers of one connection being written at once; they go out in as
 * few writev calls as they were filled in (docs/design.md §4). */
#define VALK_CONN_WRITES_MAX 4
/* How long a gracefully closed connection keeps reading (and discarding) after
 * its FIN, so the peer reads our last frames instead of an RST (lingering close). */
#define VALK_LINGER_MS 1000

/*
 * For libuv calls that cannot fail on a loop that initialised (timer, check
 * and TCP handle init; starting a timer or a check with a callback): a
 * failure is a bug, caught in every build (asserts are on: no NDEBUG).
 */
#define VALK_UV_CHECK(call)                                                    \
  do {                                                                         \
    int valk__uv_rc = (call);                                                  \
    assert(valk__uv_rc == 0);                                                  \
    (void)valk__uv_rc;                                                         \
  } while (0)

/* Connection states (docs/design.md §2); F is a free slot. */
typedef enum {
  VALK_CONN_FREE = 0,
  VALK_CONN_CONNECTING, /* TCP connect or TLS handshake in progress */
  VALK_CONN_ACTIVE,     /* streams open */
  VALK_CONN_IDLE,       /* no streams open */
  VALK_CONN_CLOSING     /* GOAWAY sent or close started, until the slot is freed */
} valk_conn_state_t;

/* The flags this layer owns; a kind's own flags start at VALK_CONN_F_KIND. */
enum {
  VALK_CONN_F_CLOSED = 1u << 0,       /* uv_close called; the kind frees the slot in ops->closed */
  VALK_CONN_F_READ_PAUSED = 1u << 1,  /* reading stopped: no TCP buffer was free */
  VALK_CONN_F_OUT_BLOCKED = 1u << 2,  /* reading stopped: its output is past the high-water mark */
  VALK_CONN_F_WANT_FLUSH = 1u << 3,   /* output waits for a TCP buffer or a write to end */
  VALK_CONN_F_LINGER = 1u << 4,       /* FIN sent: reading and discarding until EOF */
  VALK_CONN_F_PEER_CLOSED = 1u << 5,  /* the peer sent close_notify */
  VALK_CONN_F_DISCARD = 1u << 6,      /* what the peer sends is dropped unread */
  VALK_CONN_F_WAITING = 1u << 7,      /* on the waiting list (valk_conn_wait) */
  VALK_CONN_F_PLAIN = 1u << 8,        /* no TLS (a cleartext listener): valk_conn_start_plain */
  VALK_CONN_F_HOLD = 1u << 9,         /* reading stopped: the kind holds it (valk_conn_hold_reading) */
  VALK_CONN_F_KIND = 1u << 10
};

/* What a connection speaks (valk_conn_t.wire), set by its kind. */
enum { VALK_WIRE_NONE = 0, VALK_WIRE_H2 = 1, VALK_WIRE_HTTP1 = 2 };

/* What went wrong, for ops->error. */
typedef enum {
  VALK_CONN_EREAD = 1, /* status: UV_EOF (the peer's FIN: the server side closes, docs/design.md §12) or a UV_E* code */
  VALK_CONN_EWRITE,    /* status: a UV_E* code, or 0 when the write could not start */
  VALK_CONN_EOUTPUT    /* status: VALK_EH2 or VALK_ETLS (nghttp2 -> TLS failed) */
} valk_conn_err_t;

typedef struct valk_conn valk_conn_t;

/*
 * A kind's callbacks. The layer calls them on the AIO thread; none may be
 * NULL except wrote. After ops->error the kind must close c (valk_conn_close,
 * at once or after a last flush).
 */
typedef struct valk_conn_ops {
  /* Ciphertext arrived in c->rbio (not while VALK_CONN_F_DISCARD or lingering). */
  void (*input)(valk_conn_t *c);
  /* No TCP buffer was free, to read (reading 1) or to write (reading 0;
   * VALK_CONN_F_WANT_FLUSH is set): the kind stops reading if it wants
   * (valk_conn_pause_reading) and parks c with valk_conn_wait or in the
   * backpressure heap; valk_conn_resume wakes it. */
  void (*no_buffer)(valk_conn_t *c, int reading);
  /* A flush left nothing to send, or a write ended with nothing waiting. */
  void (*drained)(valk_conn_t *c);
  /* After every write completion (may be NULL). */
  void (*wrote)(valk_conn_t *c);
  /* Reading or writing failed. */
  void (*error)(valk_conn_t *c, valk_conn_err_t what, int status);
  /* valk_conn_close began: c leaves its kind's lists (before uv_close). */
  void (*closing)(valk_conn_t *c);
  /* The socket is closed: free the TLS and HTTP/2 state, release the slot. */
  void (*closed)(valk_conn_t *c);
} valk_conn_ops_t;

/*
 * What a system's connections share (inside valk_system_t; pointers into it).
 * AIO thread only.
 */
typedef struct valk_io {
  uv_loop_t *loop;
  valk_slab_t *tcp_bufs;         /* valk_tcp_buf_t items */
  valk_watermark_t *watermark;   /* follows tcp_bufs' usage */
  valk_evring_t *events;         /* lifecycle events (valk_events.h), or NULL */
  valk_bp_heap_t *backpressure;  /* paused server connections, by priority */
  valk_stats_t *stats;           /* the system's counters (AIO shard) */
  uint32_t min_buffers_per_conn; /* what a resumed connection is counted as taking */
  uint64_t max_session_memory;   /* one connection's HTTP/2 budget */
  valk_h2_pages_t *pages;        /* page blocks for the budgets' large allocations (valk_h2_mem.h) */
  valk_conn_t *waiting;          /* connections parked by valk_conn_wait, oldest first */
  valk_conn_t *waiting_tail;
  uint8_t *read_scratch;         /* VALK_SCRATCH_SIZE bytes: decrypted input */
  uint8_t *write_scratch;        /* VALK_SCRATCH_SIZE bytes: output gathered into one record */
  size_t write_gathered;         /* bytes in write_scratch: nonzero only inside valk_conn_produce */
} valk_io_t;

/*
 * One connection: a slot of a system's connection slab (or of another slab of
 * the same item size), owned by the AIO thread. A kind embeds it first in its
 * own struct (valk_srv_conn_t) or keeps its object in data (clients).
 */
struct valk_conn {
  uv_tcp_t tcp;
  uv_shutdown_t shutdown;         /* lingering close: our FIN */
  const valk_conn_ops_t *ops;
  valk_io_t *io;
  void *data;                     /* the kind's, untouched here */
  SSL *ssl;
  BIO *rbio, *wbio;               /* wbio: the layer's BIO (TCP buffers, then spill) */
  BIO *spill;                     /* TLS output past the TCP buffers that may be written now */
  struct valk_tcp_buf *out_head, *out_tail; /* TLS records written into TCP buffers, not yet sent */
  uint32_t out_count;             /* out_count + writes_in_flight <= VALK_CONN_WRITES_MAX */
  size_t out_bytes;
  nghttp2_session *session;       /* the kind creates and deletes it */
  valk_conn_state_t state;
  uint32_t flags;                 /* VALK_CONN_F_* and the kind's */
  uint32_t writes_in_flight;      /* TCP buffers being written: <= VALK_CONN_WRITES_MAX */
  uint32_t bio_peak;              /* the most bytes a TLS memory BIO held since valk_conn_trim (a
                                   * memory BIO's buffer keeps the size it grew to) */
  valk_bp_node_t bp;              /* in io->backpressure while paused there */
  valk_conn_t *wait_next;         /* io->waiting while VALK_CONN_F_WAITING */
  valk_server_stats_t *stats;     /* its server's counters (bytes), or NULL */
  valk_h2_budget_t budget;        /* everything its HTTP/2 state allocates (maxSessionMemory) */
  uint64_t accepted_ms;
  uint64_t state_change_ms;
  uint64_t active_until_ms;       /* when it last left ACTIVE (0: never): the snapshot's "active during the interval" */
  uint64_t progress_ms;           /* last write completion: bytes the peer accepted */
  uint64_t bytes_sent;
  uint64_t bytes_framed;          /* frames written by valk_conn_write_framed (in produce's count) */
  uint64_t uid;                   /* this connection for good: slots are reused, uids are not */
  uint8_t owner;                  /* its owner index (diagnostics snapshot, docs/design.md §2) */
  uint8_t wire;                   /* VALK_WIRE_*: the protocol it speaks, once its kind knows */
};

/* One TCP buffer: the write request travels with its bytes. A write of
 * several buffers uses the first one's req and chains the others (next). */
typedef struct valk_tcp_buf {
  uv_write_t req;
  valk_conn_t *conn;
  struct valk_tcp_buf *next;      /* the write's other buffers, or the next of conn->out */
  uint32_t len;                   /* bytes in data (on conn->out) */
  uint8_t data[VALK_TCP_BUF_SIZE];
} valk_tcp_buf_t;

/* Sets c up (zeroes it first) on io's loop: tcp initialised, state
 * CONNECTING, c->tcp.data = c. */
void valk_conn_init(valk_conn_t *c, valk_io_t *io, const valk_conn_ops_t *ops, uint32_t flags);

/* Sets c's memory budget up (maxSessionMemory, counted into the system's
 * h2_memory gauges) and mem to draw on it, for c's nghttp2 session. */
void valk_conn_budget_init(valk_conn_t *c, nghttp2_mem *mem);

/* Creates c's TLS state on ctx and starts reading. 0 or VALK_ETLS / a UV_E* code. */
int valk_conn_start_tls(valk_conn_t *c, SSL_CTX *ctx);

/*
 * Starts c without TLS (VALK_CONN_F_PLAIN): the same pipeline with the cipher
 * left out. What is read goes to c->rbio (a memory BIO) as it comes and
 * valk_conn_read_plaintext hands it to the feed; what the session produces
 * goes to the TCP buffers as it is; the handshake is done at once. 0 or
 * VALK_ENOMEM / a UV_E* code.
 */
int valk_conn_start_plain(valk_conn_t *c);

/*
 * Bytes of the kind's own for the peer, before or instead of a session (an
 * HTTP/1.x answer on a cleartext HTTP/2 port): through TLS or as they are,
 * sent by the next flush. 0 or VALK_ETLS.
 */
int valk_conn_send_raw(valk_conn_t *c, const uint8_t *data, size_t len);

/*
 * One TLS handshake step; what it produced (handshake bytes, an alert) is
 * flushed. Returns 1 when done, 0 to wait for bytes, VALK_ETLS when it
 * failed (why, if not NULL, says why: a verify error, OpenSSL's reason, or
 * "" when the peer just closed it), or VALK_ESTOPPED when the flush closed c.
 */
int valk_conn_handshake(valk_conn_t *c, char *why, size_t why_len);

/*
 * Moves frames from c's session into its TLS layer: small frames gathered
 * into one record of plaintext in io->write_scratch, a frame of 4 KiB or more
 * (a DATA frame of a bulk body) or one that does not fit straight to
 * SSL_write, with no copy. Returns bytes produced, 0 if nghttp2 had nothing,
 * or VALK_EH2 / VALK_ETLS.
 */
ssize_t valk_conn_produce(valk_conn_t *c);

/*
 * Writes one frame from inside valk_conn_produce (nghttp2's send_data
 * callback of a DATA frame marked NGHTTP2_DATA_FLAG_NO_COPY): the hdlen bytes
 * of hd, then data[0 .. len), in one SSL_write and without copying the
 * payload. The hdlen (at most 16) bytes before data must be the caller's
 * writable memory, read by no other thread: they are saved, hold hd for that
 * one SSL_write, and are restored. What produce gathered goes out first. 0 or
 * VALK_ETLS. The connection's thread.
 */
int valk_conn_write_framed(valk_conn_t *c, const uint8_t *hd, size_t hdlen, uint8_t *data, size_t len);

/* Gives n bytes of plaintext to c's session; 0 or a negative error. */
typedef int (*valk_conn_feed_fn)(valk_conn_t *c, const uint8_t *p, size_t n);

/* Feeds plaintext straight to nghttp2_session_mem_recv. */
int valk_conn_feed_session(valk_conn_t *c, const uint8_t *p, size_t n);

/*
 * Decrypts what c's TLS layer holds into io->read_scratch and hands it to
 * feed. Returns 0 when it needs more bytes, 1 when the peer sent close_notify
 * (VALK_CONN_F_PEER_CLOSED is set), or VALK_EH2 / VALK_ETLS.
 */
int valk_conn_read_plaintext(valk_conn_t *c, valk_conn_feed_fn feed);

/*
 * Sends what c's session and TLS layer have: tops the TLS output up to half
 * a TCP buffer, sends a buffer, until nothing is left (then ops->drained), a
 * limit is reached (VALK_CONN_F_WANT_FLUSH: resumed by a write's end or by
 * valk_conn_resume), or an error (ops->error). Nothing once closed or lingering.
 */
void valk_conn_flush(valk_conn_t *c);

/* Lingering close: FIN once the writes in flight are out, then read and
 * discard until the peer closes or VALK_LINGER_MS pass (the kind's sweep
 * closes it then). A peer that sent close_notify (VALK_CONN_F_PEER_CLOSED)
 * is closed once the FIN is out. */
void valk_conn_linger(valk_conn_t *c);

/* Closes now (an RST if the peer sent bytes we did not read): ops->closing,
 * then ops->closed from the close callback. Idempotent. */
void valk_conn_close(valk_conn_t *c);

/* Closes with an RST at once (a refusal after accept), like valk_conn_close otherwise. */
void valk_conn_close_reset(valk_conn_t *c);

/* A TLS memory BIO that grew past this and holds nothing is given back once
 * its connection is idle (valk_conn_trim). */
#define VALK_CONN_BIO_KEEP 16384

/* c is idle: what its TLS buffers grew to (a bulk response) goes back, so an
 * idle connection holds only what it needs (docs/design.md §4). Returns how
 * many buffers went. */
int valk_conn_trim(valk_conn_t *c);

/* Stops (on 1) or restarts (on 0) reading because of c's output. */
void valk_conn_block_reading(valk_conn_t *c, int blocked);

/* Stops (held 1) or lets go (0) reading for the kind's own reason
 * (VALK_CONN_F_HOLD): an HTTP/1.1 connection while a request is in service. */
void valk_conn_hold_reading(valk_conn_t *c, int held);

/* Stops reading because no TCP buffer was free (VALK_CONN_F_READ_PAUSED). */
void valk_conn_pause_reading(valk_conn_t *c);

/* Parks c on io's waiting list (idempotent); valk_conn_resume wakes it. */
void valk_conn_wait(valk_conn_t *c);

/*
 * TCP buffers came back: wakes the waiting list while buffers are free, then
 * the backpressure heap by priority while the resume threshold allows
 * (docs/design.md §5). Each woken heap connection is counted as taking
 * min_buffers_per_conn buffers, so one release does not wake the whole heap.
 */
void valk_conn_resume(valk_io_t *io);

#ifdef __cplusplus
}
#endif
#endif /* VALK_CONN_H */
