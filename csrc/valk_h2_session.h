/*
 * valk_h2_session.h: what valk_h2_session.c (one server connection's HTTP/2
 * session) gives valk_h2_server.c above it: the nghttp2 callbacks, the
 * connection layer's callbacks for input, output and backpressure, the
 * graceful close and the streams' time bounds. Nothing here is for modules
 * outside the server.
 *
 * Thread: the AIO thread that owns the server's system.
 */
#ifndef VALK_H2_SESSION_H
#define VALK_H2_SESSION_H

#include "valk_h2_stream.h"

#ifdef __cplusplus
extern "C" {
#endif

int valk_h2_callbacks_new(nghttp2_session_callbacks **out);

/* Graceful: GOAWAY(NO_ERROR, last processed stream), close once streams end. */
void valk_h2_conn_goaway(valk_srv_conn_t *c);
/* The graceful close's second step (the final GOAWAY), at once. */
void valk_h2_conn_goaway_final(valk_srv_conn_t *c);
/* How long a graceful close waits for its PING's ACK before the final GOAWAY. */
#define VALK_NOTICE_MAX_MS 1000

/* ops->drained: once the session wants nothing more, close_notify, then a
 * lingering close once it is out. */
void valk_h2_conn_maybe_finish(valk_conn_t *io);

/* ops->input: ciphertext arrived. */
void valk_h2_conn_on_input(valk_conn_t *io);

/*
 * ops->no_buffer: stops reading c and puts it in the backpressure heap with
 * its priority (docs/design.md §5); valk_conn_resume wakes it. When the heap
 * is full, the lowest-priority connection among those waiting and c is
 * evicted.
 */
void valk_h2_conn_pause(valk_conn_t *io, int reading);

/* ops->error: reading or writing failed; output failures count as failed connections. */
void valk_h2_on_io_error(valk_conn_t *io, valk_conn_err_t what, int status);

void valk_h2_on_wrote(valk_conn_t *io);

/* A connection error (docs/RELIABILITY.md): GOAWAY(code, reason), then the
 * session ignores all input and the connection closes once the GOAWAY is
 * out. Safe inside nghttp2's callbacks. Returns 1. */
int valk_h2_conn_terminate(valk_srv_conn_t *c, uint32_t code, const char *reason);

/* The time bounds of c's streams. 1 when the connection was terminated. */
int valk_h2_streams_sweep(valk_srv_conn_t *c, uint64_t now, const valk_system_config_t *cfg);


#ifdef __cplusplus
}
#endif
#endif /* VALK_H2_SESSION_H */
