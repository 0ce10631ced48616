/*
 * valk_h2_server.h: HTTP/2 over TLS servers on an AIO system's loop.
 *
 * A connection is a slot in the system's connection slab (the slab's size is
 * max_connections: a failed acquire is the limit). Its bytes flow
 *   socket -> TCP buffer -> rbio -> SSL_read -> nghttp2_session_mem_recv
 *   nghttp2_session_mem_send -> SSL_write -> wbio -> TCP buffer -> uv_write
 * TCP buffers come from the system's TCP buffer slab; a read buffer goes back
 * as soon as its bytes are in the rbio, a write buffer when its write ends.
 *
 * Thread: everything here runs on the AIO thread, except valk_server_opts_*,
 * which the owner thread uses to build the options it hands over with LISTEN.
 */
#ifndef VALK_H2_SERVER_H
#define VALK_H2_SERVER_H

#include <nghttp2/nghttp2.h>
#include <openssl/ssl.h>
#include <stdint.h>
#include <uv.h>

#include "valk_dispatch.h"
#include "valk_h2_mem.h"
#include "valk_h2_rules.h"
#include "valk_ratelim.h"
#include "valk_reqhdrs.h"
#include "valk_route.h"
#include "valk_system.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Connection states (seed 001 §3): C, A, I, C(losing); F is a free slot. */
typedef enum {
  VALK_CONN_FREE = 0,
  VALK_CONN_CONNECTING, /* accepted, TLS handshake in progress */
  VALK_CONN_ACTIVE,     /* streams open */
  VALK_CONN_IDLE,       /* no streams open */
  VALK_CONN_CLOSING     /* GOAWAY sent or close started, until the slot is freed */
} valk_conn_state_t;

/*
 * A server connection's TLS memory BIOs hold at most this many bytes
 * (docs/RELIABILITY.md): the read BIO one socket read (a TCP buffer), drained
 * before the next; the write BIO what a flush tops up (half a TCP buffer, one
 * record of frames and one frame of at most 64 KiB) plus what input
 * processing may put out first (two such rounds, and only below
 * VALK_TLS_OUT_HIGH), and reading stops while it is past VALK_TLS_OUT_HIGH.
 */
#define VALK_TLS_OUT_HIGH (2u * VALK_TCP_BUF_SIZE)
#define VALK_TLS_BIO_MAX (VALK_TCP_BUF_SIZE + VALK_TLS_OUT_HIGH + 3u * (VALK_SCRATCH_SIZE + 65536u))

/* What the owner builds for LISTEN; the AIO thread owns it from then on. */
typedef struct valk_server_opts {
  char host[64];
  int port;
  SSL_CTX *ssl_ctx;           /* owned */
  valk_route_table_t routes;  /* owned */
  uint64_t max_response_body_size;
  uint8_t *error_503_body;    /* owned */
  size_t error_503_len;
  int has_handler;            /* paths without a route go to JavaScript */
  int has_js;                 /* has_handler, or a VALK_ROUTE_JS route: streams start with an arena */
  int admin;                  /* the admin listener: connections from sys->admin_slab, no admission checks */
} valk_server_opts_t;

/* Owner thread. NULL on ENOMEM. */
valk_server_opts_t *valk_server_opts_new(void);
/* Any thread that owns opts. Frees everything it holds. */
void valk_server_opts_free(valk_server_opts_t *opts);

typedef struct valk_server {
  valk_system_t *sys;
  uint32_t id;
  valk_server_opts_t *opts;
  uv_tcp_t listener;
  uv_timer_t drain_timer;
  uv_check_t notify_check;    /* after each loop iteration's I/O: wakes Node's loop once (unref'd) */
  int notify_pending;         /* a request went onto an empty request ring this iteration */
  nghttp2_session_callbacks *callbacks;
  nghttp2_option *option;
  valk_server_stats_t *stats; /* this server's entry in sys->server_stats */
  valk_arena_pool_t *arenas;  /* where its streams' arenas come from: sys->arenas, or sys->admin_arenas */
  valk_hdr_limits_t hdr_limits; /* maxHeaderListSize, maxHeaderPairs */
  struct valk_conn *conns;    /* doubly linked, intrusive */
  uint32_t nconns;
  uint32_t handles_open;      /* listener + timer + notify check, until their close callbacks */
  int closing;
  int registered;             /* in sys->servers */
  int timer_closing;
  int accept_pending;         /* a connection waits in the listener for a reject handle */
  valk_op_t *close_op;        /* the CLOSE_SERVER op to finish, if any */
  uint8_t owner;              /* its entry in sys->owners (":port"), or VALK_OWNER_OTHER */
} valk_server_t;

/*
 * One connection: a slot of the system's connection slab or, for a refusal in
 * goaway mode, of its graceful-rejection slab (VALK_CONN_F_GRACEFUL).
 * AIO thread only.
 */
typedef struct valk_conn {
  uv_tcp_t tcp;
  uv_shutdown_t shutdown;         /* lingering close: our FIN */
  valk_server_t *srv;
  SSL *ssl;
  BIO *rbio, *wbio;
  nghttp2_session *session;
  valk_conn_state_t state;
  uint32_t flags;
  uint32_t streams_open;
  uint32_t pending_responses;     /* responses submitted, not yet fully sent */
  uint32_t writes_in_flight;
  struct valk_conn *next, *prev;  /* server's list */
  struct valk_conn *idle_next, *idle_prev; /* system's idle list (state IDLE) */
  struct valk_stream *streams;    /* this connection's stream records */
  valk_bp_node_t bp;              /* in the system's backpressure heap when paused */
  struct sockaddr_in6 peer;       /* counted in sys->ips when VALK_CONN_F_IP_COUNTED */
  char remote[48];                /* the peer's address as text, once a handler needs it */
  struct valk_conn *flush_next;   /* on a list of connections with answers from JavaScript to
                                   * send (VALK_CONN_F_FLUSH_QUEUED), see valk_h2_js_respond */
  uint64_t accepted_ms;
  uint64_t state_change_ms;
  uint64_t progress_ms;           /* last write completion: bytes the peer accepted (sendTimeoutMs) */
  uint64_t settings_ms;           /* when our SETTINGS went out; 0 once acknowledged (settingsTimeoutMs) */
  uint64_t bytes_sent;
  uint64_t uid;                   /* this connection for good: slots are reused, uids are not */
  uint8_t owner;                  /* its server's owner index (diagnostics snapshot) */
  /* Added for HTTP/2 clients (valk_h2_client.h). */
  struct valk_client *client;     /* VALK_CONN_F_CLIENT: its client (srv is NULL), else NULL */
  /* Hostile-client bounds (docs/RELIABILITY.md). */
  valk_h2_budget_t budget;        /* everything its HTTP/2 state allocates (maxSessionMemory) */
  valk_frame_scan_t scan;         /* frame boundaries of what the client sends */
  valk_closed_ring_t closed;      /* its recently closed streams (RFC 9113 §5.1) */
  int32_t max_peer_id;            /* the highest stream id the client opened */
  uint32_t arenas;                /* arenas its streams (and their requests with JavaScript) hold */
  valk_ratelim_t resets;          /* RST_STREAM frames sent and received (streamResetRate) */
  valk_ratelim_t controls;        /* control frames received (controlFrameRate) */
  int32_t h2_error;               /* the nghttp2 error that failed the session, if any */
} valk_conn_t;

/* A client connection (valk_h2_client.c): a slot of the connection slab like
 * an accepted one, but with srv NULL; it never enters the server's lists, the
 * idle list or the backpressure heap. Same bit space as the server's flags. */
#define VALK_CONN_F_CLIENT (1u << 13)

/*
 * One request stream. Allocated through the server's counting nghttp2_mem when
 * the stream begins, freed when nghttp2 closes it (or with its connection).
 * A request with a body takes an arena from the system's pool for it.
 */
typedef struct valk_stream {
  valk_conn_t *conn;
  int32_t id;
  uint16_t route;                 /* 0: no :path yet, 1: no such route, 2+i: route i */
  uint8_t method;
  uint16_t flags;
  int64_t content_length;         /* -1: not declared */
  uint64_t started_ns;            /* uv_hrtime() at its first HEADERS frame: latency */
  uint64_t started_ms;            /* the loop's time then (headersTimeoutMs, requestTimeoutMs) */
  uint64_t input_ms;              /* its header block ended or its last DATA came (bodyTimeoutMs) */
  uint64_t output_ms;             /* its response began or its last frame went out (sendTimeoutMs) */
  uint64_t body_len;              /* request body bytes received */
  uint64_t sent;                  /* response body bytes handed to nghttp2 */
  const uint8_t *resp_body;       /* what is being sent, once submitted */
  size_t resp_len;
  valk_arena_t *arena;            /* holds the request (body, then headers for JS); NULL without one */
  uint8_t *body;                  /* start of the body in the arena */
  valk_reqhdrs_t hdrs;            /* the header list: counted, and kept for JavaScript until the arena */
  valk_js_request_t *js;          /* with JavaScript now: the arena is the request's */
  struct valk_sse *sse;           /* an SSE diagnostics stream (valk_sse.h), or NULL */
  uint64_t last_event_id;         /* the request's Last-Event-ID (SSE), 0 without one */
  struct valk_stream *next, *prev;
} valk_stream_t;

/* One TCP buffer: the write request travels with its bytes. */
typedef struct valk_tcp_buf {
  uv_write_t req;
  valk_conn_t *conn;
  uint8_t data[VALK_TCP_BUF_SIZE];
} valk_tcp_buf_t;

/* LISTEN: binds, listens, registers the server. Completes op (status set) before returning. */
void valk_h2_server_listen(valk_system_t *sys, valk_op_t *op);

/*
 * Starts a graceful close: stop accepting, GOAWAY(NO_ERROR) to every connection,
 * force-close what remains after the system's drain timeout. op (may be NULL)
 * completes when the last connection's slot is free; then the server is freed
 * and valk_system_server_gone is called.
 */
void valk_h2_server_close(valk_server_t *srv, valk_op_t *op);

/* TCP buffers were released: resume paused connections by priority while the
 * adaptive threshold allows (seed 000 phase 4). */
void valk_h2_resume_paused(valk_system_t *sys);

/* A reject handle or a connection slot came free: retry pending accepts. */
void valk_h2_retry_accepts(valk_system_t *sys);

/* Handshake, idle and linger timeouts: closes connections stuck in CONNECTING
 * past handshake_timeout_ms, sends GOAWAY to those IDLE past idle_timeout_ms,
 * ends lingering closes after VALK_LINGER_MS. */
void valk_h2_sweep(valk_system_t *sys);

/*
 * A response came back from JavaScript: submit it, or drop it (and free its
 * arena) when its stream is gone. Its connection is not flushed here but put
 * once on *flush (a list local to the caller, linked through flush_next):
 * the answers of a batch that share a connection go out in one flush, so in
 * as few TLS records and socket writes as fit. The caller must then call
 * valk_h2_flush_list(*flush) before it returns to the loop.
 */
void valk_h2_js_respond(valk_system_t *sys, valk_js_request_t *req, struct valk_conn **flush);

/* Flushes each connection of a list built by valk_h2_js_respond once. */
void valk_h2_flush_list(struct valk_conn *list);

/*
 * Moves frames from c's nghttp2 session into its TLS layer, up to one record
 * of plaintext gathered in scratch (VALK_SCRATCH_SIZE bytes; a frame that does
 * not fit goes straight to SSL_write). Server and client connections share it.
 * Returns bytes produced, 0 if nghttp2 had nothing, or VALK_EH2 / VALK_ETLS.
 * AIO thread.
 */
ssize_t valk_h2_conn_produce(struct valk_conn *c, uint8_t *scratch);

/* Gives n bytes of plaintext to c's session; 0 or a negative error. */
typedef int (*valk_h2_feed_fn)(struct valk_conn *c, const uint8_t *p, size_t n);

/* Feeds plaintext straight to nghttp2_session_mem_recv (client connections). */
int valk_h2_conn_feed_session(struct valk_conn *c, const uint8_t *p, size_t n);

/*
 * Decrypts what c's TLS layer holds into scratch (VALK_SCRATCH_SIZE bytes) and
 * hands it to feed (server connections check each frame first, client ones
 * feed the session directly). Returns 0 when it needs more bytes, 1 when the
 * peer sent close_notify, or VALK_EH2 / VALK_ETLS. Server and client
 * connections share it. AIO thread.
 */
int valk_h2_conn_read_plaintext(struct valk_conn *c, uint8_t *scratch, valk_h2_feed_fn feed);

/* Puts c on *list for valk_h2_flush_list (once; AIO thread). */
void valk_h2_flush_later(struct valk_conn *c, struct valk_conn **list);

/* A TCP buffer from the system's slab (NULL when none is free); updates the
 * watermark. AIO thread. */
valk_tcp_buf_t *valk_h2_tcp_buf_get(valk_system_t *sys);

/* Returns b to the slab, updates the watermark, resumes paused connections. */
void valk_h2_tcp_buf_put(valk_system_t *sys, valk_tcp_buf_t *b);

/* Sets c's memory budget up (maxSessionMemory, counted into the system's
 * h2_memory gauges) and mem to draw on it, for c's nghttp2 session. */
void valk_h2_conn_budget_init(valk_conn_t *c, valk_system_t *sys, nghttp2_mem *mem);

#ifdef __cplusplus
}
#endif
#endif /* VALK_H2_SERVER_H */
