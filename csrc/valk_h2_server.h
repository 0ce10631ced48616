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

/* What the owner builds for LISTEN; the AIO thread owns it from then on. */
typedef struct valk_server_opts {
  char host[64];
  int port;
  SSL_CTX *ssl_ctx;           /* owned */
  valk_route_table_t routes;  /* owned */
  uint64_t max_response_body_size;
  uint8_t *error_503_body;    /* owned */
  size_t error_503_len;
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
  nghttp2_session_callbacks *callbacks;
  nghttp2_option *option;
  nghttp2_mem mem;            /* counts into sys->stats.h2_memory_* */
  struct valk_conn *conns;    /* doubly linked, intrusive */
  uint32_t nconns;
  uint32_t handles_open;      /* listener + timer, until their close callbacks */
  int closing;
  int registered;             /* in sys->servers */
  int timer_closing;
  int accept_pending;         /* a connection waits in the listener for a reject handle */
  valk_op_t *close_op;        /* the CLOSE_SERVER op to finish, if any */
} valk_server_t;

typedef struct valk_conn {
  uv_tcp_t tcp;
  valk_server_t *srv;
  SSL *ssl;
  BIO *rbio, *wbio;
  nghttp2_session *session;
  valk_conn_state_t state;
  uint32_t flags;
  uint32_t streams_open;
  uint32_t writes_in_flight;
  struct valk_conn *next, *prev;  /* server's list */
  struct valk_conn *wait_next;    /* system's waiters list */
  uint64_t accepted_ms;
  uint64_t state_change_ms;
} valk_conn_t;

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

/* TCP buffers were released: let waiting connections continue. */
void valk_h2_resume_waiters(valk_system_t *sys);

/* A reject handle or a connection slot came free: retry pending accepts. */
void valk_h2_retry_accepts(valk_system_t *sys);

/* Handshake and idle timeouts: closes connections stuck in CONNECTING past
 * handshake_timeout_ms, sends GOAWAY to those IDLE past idle_timeout_ms. */
void valk_h2_sweep(valk_system_t *sys);

/* nghttp2_mem that counts bytes into the system's h2_memory stats. */
void valk_h2_mem_init(nghttp2_mem *mem, valk_system_t *sys);

#ifdef __cplusplus
}
#endif
#endif /* VALK_H2_SERVER_H */
