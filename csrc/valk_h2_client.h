/*
 * valk_h2_client.h: HTTP/2 over TLS client connections on an AIO system's loop.
 *
 * A client connection is a connection-layer valk_conn_t (valk_conn.h) in the
 * system's connection slab, like an accepted one (it counts against
 * max_connections and shows in the diagnostics snapshot with its owner
 * "host:port"), with data pointing at its valk_client. Its bytes flow through
 * the same layer as a server connection's: socket -> TCP buffer (system
 * slab) -> rbio -> SSL_read -> nghttp2, and nghttp2 -> SSL_write -> wbio ->
 * TCP buffer -> uv_write. Without a TCP buffer it waits on the layer's
 * waiting list, woken before the server's paused connections.
 *
 * States: CONNECTING (TCP connect + TLS handshake), IDLE (no request open),
 * ACTIVE (requests open), CLOSING (until the slot is released). The slot is
 * released on every path: connect or TLS failure, the server's GOAWAY or
 * close, CLIENT_CLOSE, and the system's stop.
 *
 * Memory: at most VALK_MAX_CLIENTS clients per system; requests are ops (at
 * most VALK_OP_RING_SIZE in flight, the binding enforces it); a response's
 * headers are bounded by VALK_CLIENT_MAX_HEADER_BYTES and its body by the
 * client's max_response_body_size.
 *
 * Thread: valk_client_opts_*, valk_client_tls_ctx_new and valk_client_req_*
 * run on the owner thread (before the op is submitted / after it came back);
 * everything else on the AIO thread.
 */
#ifndef VALK_H2_CLIENT_H
#define VALK_H2_CLIENT_H

#include <nghttp2/nghttp2.h>
#include <openssl/ssl.h>
#include <stddef.h>
#include <stdint.h>

#include "valk_system.h"

#ifdef __cplusplus
extern "C" {
#endif

#define VALK_CLIENT_MAX_HEADER_BYTES (64 * 1024) /* a response's header names + values */

/* What the owner builds for CONNECT; the AIO thread owns it from then on. */
typedef struct valk_client_opts {
  char host[64];                   /* an IPv4 or IPv6 literal */
  int port;
  SSL_CTX *ssl_ctx;                /* owned: valk_client_tls_ctx_new */
  int verify;                      /* check the certificate (and that it names host) */
  uint64_t max_response_body_size; /* a longer body fails its request (VALK_ELIMIT) */
} valk_client_opts_t;

/* Owner thread. NULL on ENOMEM. */
valk_client_opts_t *valk_client_opts_new(void);
/* Any thread that owns opts. */
void valk_client_opts_free(valk_client_opts_t *opts);

/*
 * A client SSL_CTX: TLS 1.2+, ALPN "h2". verify: the peer's chain must verify
 * against the PEM certificates in ca (ca_len 0: the system store). Returns 0
 * and *out, or VALK_ETLS with a reason in err.
 */
int valk_client_tls_ctx_new(SSL_CTX **out, const char *ca, size_t ca_len, int verify, char *err,
                            size_t err_len);

/*
 * One request and, once its op is back, its response. The owner allocates it
 * with valk_client_req_new, submits a REQUEST op pointing at it, and frees it
 * after the op came back (resp_body may be taken first: set it NULL).
 */
typedef struct valk_client_req {
  uint32_t client_id;
  nghttp2_nv *nva;       /* :method, :path, :scheme, :authority (set on the AIO thread), headers */
  size_t nvlen;
  uint8_t *strings;      /* holds every name and value of nva */
  uint8_t *body;         /* owned; NULL without a body */
  size_t body_len;
  /* out (AIO thread until the op is back) */
  int status;            /* the :status, 0 when none came */
  uint8_t *resp_hdrs;    /* resp_nhdrs pairs "name\0value\0", malloc'd */
  size_t resp_hdrs_len, resp_hdrs_cap;
  uint32_t resp_nhdrs;
  uint8_t *resp_body;    /* malloc'd, resp_body_len bytes */
  size_t resp_body_len, resp_body_cap;
  /* AIO thread */
  size_t body_sent;
  int failed;            /* the op's error is set already */
  int32_t stream_id;
  valk_op_t *op;
  struct valk_client *client;
  struct valk_client_req *next, *prev; /* the client's open requests */
} valk_client_req_t;

/* Owner thread: copies method, path, hdrs (nhdrs name/value pairs: hdrs[2i],
 * hdrs[2i+1] of lengths lens[2i], lens[2i+1]) and body. NULL on ENOMEM. */
valk_client_req_t *valk_client_req_new(uint32_t client_id, const char *method, size_t method_len,
                                       const char *path, size_t path_len, const char *const *hdrs,
                                       const size_t *lens, size_t nhdrs, const uint8_t *body,
                                       size_t body_len);
/* Frees req and everything it holds. */
void valk_client_req_free(valk_client_req_t *req);

/* CONNECT: takes a connection slot, connects, handshakes; completes op with
 * u.connect.client_id once HTTP/2 is up, or with the reason it failed. */
void valk_h2_client_connect(valk_system_t *sys, valk_op_t *op);

/* REQUEST: submits u.request.req on its client; completes op with the
 * response, or an error (closed client, reset stream, body over the limit). */
void valk_h2_client_request(valk_system_t *sys, valk_op_t *op);

/* CLIENT_CLOSE: fails the client's open requests, sends GOAWAY, closes;
 * completes op when its slot is free (at once when there is no such client). */
void valk_h2_client_close(valk_system_t *sys, valk_op_t *op);

/* Stop: closes every client now; their open requests fail with reason. */
void valk_h2_client_close_all(valk_system_t *sys, const char *reason);

/* Closes clients stuck in CONNECTING past handshake_timeout_ms. */
void valk_h2_client_sweep(valk_system_t *sys);

#ifdef __cplusplus
}
#endif
#endif /* VALK_H2_CLIENT_H */
