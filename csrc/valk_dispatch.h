/*
 * valk_dispatch.h: requests handed from the AIO thread to JavaScript handlers
 * and their responses handed back.
 *
 * A request lives in its stream's arena: the AIO thread writes it (method,
 * path, headers, body) and pushes it onto the system's request ring
 * (queue_capacity entries; full -> the stream gets a 503). From the push until
 * its response is pushed onto the response ring, the request AND its arena
 * belong to the owner thread (Node's main thread), which reads the request and
 * bump-allocates the response in the same arena. Then both belong to the AIO
 * thread again, which submits the response and releases the arena when the
 * stream closes. If the stream dies while the request is away, the AIO thread
 * only marks it orphaned (stream = NULL) and releases the arena when the
 * response comes back.
 *
 * Every in-flight request holds an arena, so at most arena_pool_size are in
 * flight: the response ring has that capacity and a push to it never fails.
 *
 * Wake-ups, both ways at most one per batch: the AIO thread wakes Node's loop
 * once per loop iteration in which a request went onto the empty request ring,
 * after all of that iteration's reads (valk_h2_server.c, the server's check
 * handle); the owner thread hands back the answers given while a batch runs
 * with one valk_dispatch_respond_batch. The AIO thread then submits them all
 * and flushes each connection once (valk_dispatch_drain_responses).
 */
#ifndef VALK_DISPATCH_H
#define VALK_DISPATCH_H

#include <stddef.h>
#include <stdint.h>

#include "valk_arena.h"

#ifdef __cplusplus
extern "C" {
#endif

struct valk_stream;
struct valk_system;

/* One header: bytes in the request's arena (not NUL-terminated). */
typedef struct valk_hdr {
  const uint8_t *name, *value;
  uint32_t name_len, value_len;
} valk_hdr_t;

typedef struct valk_js_request {
  /* Written by the AIO thread before the push; read-only afterwards. */
  uint32_t server_id;
  int32_t stream_id;
  uint32_t token;               /* the arena's index: unique among requests in flight */
  valk_hdr_t method, path;      /* value/value_len only */
  valk_hdr_t *headers;          /* regular headers, in order */
  uint32_t nheaders;
  const uint8_t *body;
  size_t body_len;
  char remote[64];              /* the peer's address, "" if unknown */
  /* Written by the owner thread before it pushes the response. */
  int status;
  valk_hdr_t *resp_headers;     /* in the arena; names lower-case, validated in JS */
  uint32_t resp_nheaders;
  const uint8_t *resp_body;
  size_t resp_body_len;
  /* AIO thread only. */
  struct valk_stream *stream;   /* NULL once the stream is gone (orphaned) */
  valk_arena_t *arena;
} valk_js_request_t;

/* Owner thread: takes up to max requests waiting for JavaScript. */
uint32_t valk_dispatch_take(struct valk_system *sys, valk_js_request_t **out, uint32_t max);

/*
 * Owner thread: allocates size bytes for the response in the request's arena
 * (the owner thread owns it until valk_dispatch_respond). NULL if it does not fit.
 */
void *valk_dispatch_alloc(struct valk_system *sys, valk_js_request_t *req, size_t size);

/* Owner thread: hands the response (fields set above) back to the AIO thread. */
void valk_dispatch_respond(struct valk_system *sys, valk_js_request_t *req);

/* Owner thread: hands n responses back with one wake-up of the AIO thread. */
void valk_dispatch_respond_batch(struct valk_system *sys, valk_js_request_t **reqs, uint32_t n);

/* AIO thread: submits every response that came back, then flushes each
 * connection they belong to once (not once per response). */
void valk_dispatch_drain_responses(struct valk_system *sys);

/* AIO thread, after the loop ended: releases the arenas of requests never
 * taken by JavaScript and of responses never submitted. */
void valk_dispatch_discard(struct valk_system *sys);

#ifdef __cplusplus
}
#endif
#endif /* VALK_DISPATCH_H */
