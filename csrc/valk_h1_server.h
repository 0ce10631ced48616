/*
 * valk_h1_server.h: HTTP/1.1 on a server connection (docs/design.md §12):
 * ALPN http/1.1 (or none) on a TLS listener, or HTTP/1.x on a cleartext one.
 *
 * One request at a time: each becomes a stream record of the HTTP/2 server's
 * kind (valk_h2_stream.h), so routes, JavaScript handlers, arenas, bodies and
 * the admission bounds are the same code; only the framing differs. Its
 * answer is written as HTTP/1.1 (content-length, or chunked when the length
 * is not known) through the connection's valk_proto_ops_t; the next
 * pipelined request is parsed once the answer is out, so answers go in order.
 * What the client sends meanwhile waits in one scratch buffer and in the
 * kernel: reading is held (VALK_CONN_F_HOLD) while a request is in service.
 *
 * Thread: the AIO thread that owns the connection.
 */
#ifndef VALK_H1_SERVER_H
#define VALK_H1_SERVER_H

#include <stdint.h>

#include "valk_h2_stream.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The request target's limit (414 past it). */
#define VALK_H1_MAX_TARGET 8192u

/*
 * c speaks HTTP/1.x from now on (its TLS handshake chose http/1.1 or no
 * protocol, or its cleartext bytes are not an HTTP/2 preface). early[0 ..
 * early_len) are bytes already read (at most VALK_CLIENT_PREFACE_LEN + one
 * scratch buffer). 0, or VALK_ENOMEM (its budget is spent: the caller closes).
 */
int valk_h1_start(valk_srv_conn_t *c, const uint8_t *early, size_t early_len);

/* ops->input for an HTTP/1.1 connection: parse, answer, in order. */
void valk_h1_on_input(valk_srv_conn_t *c);

/* ops->drained (the end of a flush): what the stream layer handed over since
 * (an answer, a chunk, a take) is acted on; then the next request. */
void valk_h1_on_drained(valk_srv_conn_t *c);

/* ops->wrote (a write's end): an answer that waited for room goes on. */
void valk_h1_on_wrote(valk_srv_conn_t *c);

/* Timeouts of an HTTP/1.1 connection (the server's sweep): a head not complete
 * within headersTimeoutMs (408), a body or request past its bounds, an answer
 * that does not move for sendTimeoutMs. 1 when it acted (or a request is in
 * service: the idle checks are not for it), 0 to let the idle checks run. */
int valk_h1_sweep(valk_srv_conn_t *c, uint64_t now, const valk_system_config_t *cfg);

/* A graceful close (server close, idle timeout, soft limit): an idle
 * connection closes now; one with a request in service once it is answered. */
void valk_h1_goaway(valk_srv_conn_t *c);

/* The connection closed: its state goes back to the budget (ops->closed). */
void valk_h1_free(valk_srv_conn_t *c);

#ifdef __cplusplus
}
#endif
#endif /* VALK_H1_SERVER_H */
