/*
 * valk_h2_server.h: HTTP/2 over TLS servers on an AIO system's loop.
 *
 * A connection is a slot in the system's connection slab (the slab's size is
 * max_connections: a failed acquire is the limit, docs/design.md §3): a
 * valk_srv_conn_t, whose first member is the connection layer's valk_conn_t
 * (valk_conn.h: TCP, TLS, TCP buffers, writes, lingering close). What is the
 * server's is here: admission, the idle list, backpressure priority,
 * streams, routes, answers from JavaScript, the hostile-client bounds.
 *
 * Long-lived responses of features above the server (the diagnostics stream,
 * valk_sse.h) are reached through a valk_stream_plugin_t (sys->hooks.sse):
 * the server never calls up.
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

#include "valk_conn.h"
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

/*
 * A server connection's TLS memory BIOs hold at most this many bytes
 * (docs/RELIABILITY.md): the read BIO one socket read (a TCP buffer), drained
 * before the next; the write BIO what a flush tops up (what the TCP buffers
 * that may go at once hold, less half a buffer, then one record of frames and
 * one frame of at most 64 KiB: it is sent at once in one writev) plus what input
 * processing may put out first (two such rounds, and only below
 * VALK_TLS_OUT_HIGH), and reading stops while it is past VALK_TLS_OUT_HIGH.
 */
#define VALK_TLS_OUT_HIGH (2u * VALK_TCP_BUF_SIZE)
#define VALK_TLS_BIO_MAX (VALK_CONN_WRITES_MAX * VALK_TCP_BUF_SIZE + VALK_TLS_OUT_HIGH + 3u * (VALK_SCRATCH_SIZE + 65536u))

/* What the owner builds for LISTEN; the AIO thread owns it from then on. */
typedef struct valk_server_opts {
  char host[64];
  int port;
  SSL_CTX *ssl_ctx;           /* owned; NULL for a cleartext listener (HTTP/2 with prior knowledge) */
  valk_route_table_t routes;  /* owned */
  uint64_t max_response_body_size;
  uint8_t *error_503_body;    /* owned */
  size_t error_503_len;
  int has_handler;            /* paths without a route go to JavaScript */
  int has_js;                 /* has_handler, or a VALK_ROUTE_JS route: streams keep their headers
                               * for JavaScript (VALK_STREAM_F_KEEP) until they take an arena */
  int admin;                  /* the admin listener: connections from sys->admin_slab, no admission checks */
  int stream_bodies;          /* requestBodies 'stream': a handler's request is handed over at the end of
                               * its headers and its body follows in chunks (valk_h2_body.h) */
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
  struct valk_stream *offers; /* streams whose body bytes are handed over at this iteration's end
                               * (valk_h2_body.h): one chunk of all that was read, not one per frame */
  nghttp2_session_callbacks *callbacks;
  nghttp2_option *option;
  valk_server_stats_t *stats; /* this server's entry in sys->server_stats */
  valk_arena_pool_t *arenas;  /* where its streams' arenas come from: sys->arenas, or sys->admin_arenas */
  valk_hdr_limits_t hdr_limits; /* maxHeaderListSize, maxHeaderPairs */
  struct valk_srv_conn *conns; /* doubly linked, intrusive */
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
 * One server connection: a slot of the system's connection slab or, for a
 * refusal in goaway mode, of its graceful-rejection slab (VALK_SRV_F_GRACEFUL),
 * or of the admin slab. io comes first: the connection layer and the
 * diagnostics snapshot see every slot as a valk_conn_t. AIO thread only.
 */
typedef struct valk_srv_conn {
  valk_conn_t io;                 /* first: the transport (valk_conn.h) */
  valk_server_t *srv;
  uint32_t streams_open;
  uint32_t pending_responses;     /* responses submitted, not yet fully sent */
  struct valk_srv_conn *next, *prev; /* server's list */
  struct valk_srv_conn *idle_next, *idle_prev; /* system's idle list (state IDLE) */
  struct valk_stream *streams;    /* this connection's stream records */
  struct valk_stream *last_stream; /* the record valk_h2_stream_get found last (cleared when freed) */
  struct sockaddr_in6 peer;       /* counted in sys->ips when VALK_SRV_F_IP_COUNTED */
  char remote[48];                /* the peer's address as text, once a handler needs it */
  struct valk_srv_conn *flush_next; /* on a list of connections with answers from JavaScript to
                                   * send (VALK_SRV_F_FLUSH_QUEUED), see valk_h2_js_respond */
  uint64_t settings_ms;           /* when our SETTINGS went out; 0 once acknowledged (settingsTimeoutMs) */
  uint64_t notice_ms;             /* when the shutdown notice went out (VALK_SRV_F_NOTICE) */
  /* Hostile-client bounds (docs/RELIABILITY.md). */
  valk_frame_scan_t scan;         /* frame boundaries of what the client sends */
  valk_closed_ring_t closed;      /* its recently closed streams (RFC 9113 §5.1) */
  int32_t max_peer_id;            /* the highest stream id the client opened */
  uint32_t arenas;                /* arenas its streams (and their requests with JavaScript) hold */
  uint32_t body_bytes;            /* body blocks its streams (and their chunks with JavaScript) hold,
                                   * by capacity (valk_h2_body.c): a new fill starts at its stream's
                                   * last chunk size only while this stays within 2 windows */
  valk_ratelim_t resets;          /* RST_STREAM frames sent and received (streamResetRate) */
  valk_ratelim_t controls;        /* control frames received (controlFrameRate) */
  int32_t h2_error;               /* the nghttp2 error that failed the session, if any */
  const struct valk_proto_ops *proto; /* NULL: HTTP/2 (nghttp2); else the HTTP/1.1 kind's (valk_h1_server.h) */
  struct valk_h1_conn *h1;        /* an HTTP/1.1 connection's state (from its budget), or NULL */
  uint8_t close_reason;           /* valk_event_reason_t of its conn_closed event (valk_h2_close_cause) */
  uint8_t preface_seen;           /* cleartext (VALK_CONN_F_PLAIN): client preface bytes matched so far;
                                   * the session starts once all VALK_CLIENT_PREFACE_LEN are in */
} valk_srv_conn_t;

/* A connection slab's item: large enough for a server connection and for a
 * client's valk_conn_t (valk_h2_client.h). */
#define VALK_CONN_SLOT_SIZE sizeof(valk_srv_conn_t)

/*
 * A long-lived response body served by a feature above the server (the
 * diagnostics stream). The server opens it for a route of kind
 * VALK_ROUTE_SSE, sends headers then reads through read, and closes it with
 * the stream. AIO thread.
 */
typedef struct valk_stream_plugin {
  const nghttp2_nv *headers;      /* the response's, :status included */
  size_t nheaders;
  /* A body for st (its request is complete); NULL when none can be opened (503). */
  void *(*open)(struct valk_system *sys, struct valk_stream *st, uint64_t last_event_id);
  nghttp2_data_source_read_callback read; /* source.ptr is what open returned */
  void (*close)(struct valk_system *sys, void *body);
  int (*between_events)(const void *body); /* nothing to send by design: not stuck */
  void (*end_server)(struct valk_system *sys, valk_server_t *srv); /* ends srv's bodies (NULL: all) */
} valk_stream_plugin_t;

/*
 * One request stream. Allocated through the server's counting nghttp2_mem when
 * the stream begins, freed when nghttp2 closes it (or with its connection).
 * A request with a body takes an arena from the system's pool for it.
 */
typedef struct valk_stream {
  valk_srv_conn_t *conn;
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
  valk_arena_pool_t *pool;        /* the pool arena came from (small, big, or the admin pool) */
  valk_arena_t *answer_arena;     /* its answer's overflow (from sys->arenas), released with arena */
  uint64_t unpin;                 /* its answer's pinned body: the token to hand back, 0 for none */
  valk_js_request_t *streaming;   /* its answer's body comes in chunks from JavaScript (the request
                                   * lives until the final chunk), or NULL */
  uint8_t *body;                  /* start of the body in the arena */
  valk_reqhdrs_t hdrs;            /* the header list: counted, and kept for JavaScript until the arena */
  valk_js_request_t *js;          /* with JavaScript now: the arena is the request's */
  void *plugin_body;              /* a plug-in's body (valk_stream_plugin_t), or NULL */
  struct valk_stream *backlog_next; /* sys->backlog (VALK_STREAM_F_BACKLOG): its request waits for room */
  uint64_t last_event_id;         /* the request's Last-Event-ID (SSE), 0 without one */
  /* A body streaming to JavaScript (VALK_STREAM_F_BODY_STREAM, valk_h2_body.h). */
  valk_js_request_t *body_req;    /* the request its chunks go to, until its body is done with */
  uint8_t *fill;                  /* what arrived since the last chunk was handed over (malloc) */
  uint32_t fill_len, fill_cap;    /* fill_len <= the stream's window (flow control) */
  uint32_t fill_hint;             /* the last chunk's size: the next fill starts that large */
  struct valk_stream *offer_next, *offer_prev; /* srv->offers (VALK_STREAM_F_OFFER) */
  struct valk_stream *next, *prev;
} valk_stream_t;

/* LISTEN: binds, listens, registers the server. Completes op (status set) before returning. */
void valk_h2_server_listen(valk_system_t *sys, valk_op_t *op);

/*
 * Starts a graceful close: stop accepting, GOAWAY(NO_ERROR) to every connection,
 * force-close what remains after the system's drain timeout. op (may be NULL)
 * completes when the last connection's slot is free; then the server is freed
 * and sys->hooks.server_gone is called.
 */
void valk_h2_server_close(valk_server_t *srv, valk_op_t *op);

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
void valk_h2_js_respond(valk_system_t *sys, valk_js_request_t *req, valk_srv_conn_t **flush);

/*
 * A streaming answer's next chunk came back from JavaScript: it becomes what
 * the stream's deferred body sends; the final one (END or ABORT) of an answer
 * whose stream died frees the request's arena. The connection goes on *flush.
 */
void valk_h2_js_chunk(valk_system_t *sys, valk_js_request_t *req, valk_srv_conn_t **flush);

/* Flushes each connection of a list built by valk_h2_js_respond once. */
void valk_h2_flush_list(valk_srv_conn_t *list);

/* Pushes requests waiting for room in the request ring while it has room
 * (after Node's thread drained it). AIO thread. */
void valk_h2_backlog_push(valk_system_t *sys);

/* Re-evaluates the request queue's backpressure state (sys->queue_state,
 * docs/design.md §13) from the ring's depth now: the periodic evaluation
 * (the system's sweep); each push evaluates it too. AIO thread. */
void valk_h2_queue_check(valk_system_t *sys);

/* The stream API features above the server use (the diagnostics stream). */

/* st's deferred body has bytes again: nghttp2 is told, and st's connection
 * goes on *list for valk_h2_flush_list. */
void valk_h2_stream_resume(valk_stream_t *st, valk_srv_conn_t **list);

/* The server st arrived on. */
valk_server_t *valk_h2_stream_server(const valk_stream_t *st);

#ifdef __cplusplus
}
#endif
#endif /* VALK_H2_SERVER_H */
