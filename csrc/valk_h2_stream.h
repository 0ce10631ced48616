/*
 * valk_h2_stream.h: what valk_h2_stream.c gives the two server files above
 * it (valk_h2_session.c, valk_h2_server.c): the server connection's and
 * stream's flags, connection states, stream records, responses and arenas.
 * Nothing here is for modules outside the server; the server's public API is
 * valk_h2_server.h.
 *
 * Thread: the AIO thread that owns the server's system.
 */
#ifndef VALK_H2_STREAM_H
#define VALK_H2_STREAM_H

#include "valk_events.h"
#include "valk_h2_server.h"

#ifdef __cplusplus
extern "C" {
#endif

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
  VALK_SRV_F_OUTPUT_NOW = VALK_CONN_F_KIND << 10,  /* a callback paused the session: send what it queued first */
  VALK_SRV_F_NOTICE = VALK_CONN_F_KIND << 11       /* a graceful close's first GOAWAY (2^31-1) and PING went out */
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
  VALK_STREAM_F_RESP_DONE = 1u << 8,  /* the response's END_STREAM went out */
  VALK_STREAM_F_BACKLOG = 1u << 9,    /* its request waits in sys->backlog for room in the ring */
  VALK_STREAM_F_BODY_STREAM = 1u << 10, /* its body streams to JavaScript (valk_h2_body.h) */
  VALK_STREAM_F_BODY_DROP = 1u << 11, /* the rest of its body is not wanted: consumed and dropped */
  VALK_STREAM_F_OFFER = 1u << 12,     /* on srv->offers: its fill goes at this iteration's end */
  VALK_STREAM_F_HEADROOM = 1u << 13   /* its answer's body is a route's (VALK_ROUTE_HEADROOM before
                                       * it): DATA goes out without a copy (valk_h2_body_send_data) */
};

/* A connection stops reading while more frames than this wait in nghttp2's
 * outbound queue, or more TLS bytes than VALK_TLS_OUT_HIGH in its write BIO
 * (both only grow while its writes are blocked); it reads again below half. */
#define VALK_OUTQ_HIGH(cfg) (4u * (cfg)->max_concurrent_streams + 64u)

/* A connection holding this many arenas may not take one of the last quarter
 * of the pool: heavy users leave room for light ones (docs/RELIABILITY.md). */
#define VALK_ARENA_LIGHT 4

enum { VALK_METHOD_OTHER = 0, VALK_METHOD_GET = 1, VALK_METHOD_HEAD = 2 };

/*
 * What a connection's protocol does with the stream layer's answers
 * (docs/design.md §12). c->proto is NULL for HTTP/2, whose calls go to
 * nghttp2; an HTTP/1.1 connection's table otherwise. The stream layer calls
 * through the pointer, so it never names the HTTP/1.1 module. AIO thread.
 */
typedef struct valk_proto_ops {
  /* An answer: status, headers (":status" first), body (NULL: none). 0 or < 0. */
  int (*submit)(valk_stream_t *st, int status, const nghttp2_nv *nva, size_t nvlen, const nghttp2_data_provider *prd);
  /* The stream cannot be answered as it should (RST_STREAM in HTTP/2). 0 or < 0. */
  int (*reset)(valk_stream_t *st, uint32_t code);
  /* A deferred body has more to send. */
  void (*resume)(valk_stream_t *st);
  /* JavaScript took n bytes of a streaming request body (HTTP/2: the window opens). */
  void (*consume)(valk_srv_conn_t *c, size_t n);
} valk_proto_ops_t;

/* RST_STREAM(code), or the protocol's equivalent. 0 or < 0. */
int valk_h2_stream_reset(valk_stream_t *st, uint32_t code);

/* st's request waited in the backlog for requestTimeoutMs (Node's thread did
 * not take it): out of the backlog, 503 with retry-after (counted in
 * requests_queue_timed_out); its arena goes with the stream. The caller
 * flushes the connection. */
void valk_h2_backlog_expire(valk_stream_t *st);

static inline void valk_h2_conn_flush(valk_srv_conn_t *c) {
  valk_conn_flush(&c->io);
}

static inline void valk_h2_conn_close(valk_srv_conn_t *c) {
  valk_conn_close(&c->io);
}

/* Puts c on *flush (a list for valk_h2_flush_list) unless it is there already. */
static inline void valk_h2_flush_later(valk_srv_conn_t *c, valk_srv_conn_t **flush) {
  if (c->io.flags & VALK_SRV_F_FLUSH_QUEUED) return;
  c->io.flags |= VALK_SRV_F_FLUSH_QUEUED;
  c->flush_next = *flush;
  *flush = c;
}

/* The server connection a connection-layer callback is about. */
static inline valk_srv_conn_t *valk_h2_sc(valk_conn_t *c) {
  return VALK_CONTAINER_OF(c, valk_srv_conn_t, io);
}

/* c's stream record of stream id, or NULL: the last one asked for is kept
 * (a header block's callbacks ask for one stream many times), the others come
 * from nghttp2's stream map. */
valk_stream_t *valk_h2_stream_get(valk_srv_conn_t *c, int32_t id);

/* A stream record from the connection's budget (soft cap): NULL when the
 * budget is near its end, and the stream is then refused. */
valk_stream_t *valk_h2_stream_new(valk_srv_conn_t *c, int32_t id);

/* Unlinks and frees st, returning its arena and kept headers. Also used for
 * the streams a connection still has when it closes (nghttp2_session_del
 * calls no callback). */
void valk_h2_stream_free(valk_stream_t *st);

/* A DATA chunk of the request body: into the stream's arena, taken with the
 * first byte (docs/RELIABILITY.md: a stream holds an arena only once a body
 * arrives), within the limit. */
int valk_h2_body_append(valk_stream_t *st, const uint8_t *data, size_t len);

/* The request headers are complete and a body follows: check the declared length. */
int valk_h2_body_begin(valk_stream_t *st);

/* A request field the AIO thread itself reads (:path and its route, :method, content-length,
 * last-event-id), as the header callback of HTTP/2 or HTTP/1.1 hands it over. */
void valk_h2_header_seen(valk_stream_t *st, const uint8_t *name, size_t namelen, const uint8_t *value,
                         size_t valuelen);

/* nghttp2's send_data callback: a route body's DATA frame, not copied (valk_h2_stream.c). */
int valk_h2_body_send_data(nghttp2_session *s, nghttp2_frame *frame, const uint8_t *framehd,
                           size_t length, nghttp2_data_source *src, void *ud);

/*
 * The request will not be answered as asked: its arena (body so far) and its
 * kept headers go back at once, then route r (408, 413, 431, 503) while no
 * response has begun, else (or with r NULL) RST_STREAM(code). Static routes answer only once
 * the request ended, so the second case needs a handler that answers early. Returns 0 or an nghttp2 error.
 */
int valk_h2_refuse_request(valk_stream_t *st, const valk_route_t *r, uint32_t code);

/* The request ended: answer it from the route table, or hand it to JavaScript. */
int valk_h2_respond(valk_stream_t *st);

/* The idle list holds exactly the admitted connections in state IDLE, in the
 * order they became idle: its head is the longest idle. */
void valk_h2_set_state(valk_srv_conn_t *c, valk_conn_state_t state);

/* A lifecycle event of c (valk_events.h), at the loop's time, with a reason. AIO thread. */
static inline void valk_h2_event_why(valk_srv_conn_t *c, valk_event_kind_t kind, valk_event_reason_t why,
                                     uint32_t a, uint64_t b) {
  valk_system_t *sys = c->srv->sys;
  valk_event_emit(&sys->events, uv_now(&sys->loop), kind, why, c->io.uid, a, b);
}

static inline void valk_h2_event(valk_srv_conn_t *c, valk_event_kind_t kind, uint32_t a, uint64_t b) {
  valk_h2_event_why(c, kind, VALK_EVR_none, a, b);
}

/* Why c is closing, for its conn_closed event: the first cause set wins. AIO thread. */
static inline void valk_h2_close_cause(valk_srv_conn_t *c, valk_event_reason_t why) {
  if (c->close_reason == VALK_EVR_none) c->close_reason = (uint8_t)why;
}

/* Whether a request for route r (NULL: no route) is answered by JavaScript. */
int valk_h2_to_js(const valk_server_t *srv, const valk_route_t *r);

void valk_h2_idle_remove(valk_srv_conn_t *c);

/*
 * Wakes Node's loop if a request went onto the empty request ring since the
 * last call. Called once per loop iteration, after all I/O callbacks (check
 * phase), and when the server closes: the requests of every connection read
 * in one iteration reach JavaScript with one wake-up and in one batch, and
 * Node's thread is not woken (and, sharing a core, does not preempt this one)
 * in the middle of the reads. Node drains the ring until it is empty, so a
 * request pushed onto a non-empty ring needs no wake-up of its own.
 */
void valk_h2_notify_owner(valk_server_t *srv);

void valk_h2_on_notify_check(uv_check_t *check);


#ifdef __cplusplus
}
#endif
#endif /* VALK_H2_STREAM_H */
