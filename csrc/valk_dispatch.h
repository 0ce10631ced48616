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
 * Every in-flight request holds an arena (of the system's pool, or of the
 * admin listeners' pool), so at most one per arena is in flight: the response
 * ring has that capacity and a push to it never fails.
 *
 * Identity (docs/RELIABILITY.md, "An answer belongs to exactly one request"):
 * a request is known to JavaScript by (slot, gen). slot is its arena's place
 * among both pools: unique among requests in flight, and reused once the
 * arena is. gen is a per-system counter, new for every request handed over.
 * The binding accepts an answer only for the (slot, gen) it delivered and
 * has not yet answered, so a late, duplicate or stale answer can never land
 * on a request that reuses the slot.
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
#include "valk_common.h"
#include "valk_reqhdrs.h"

#ifdef __cplusplus
extern "C" {
#endif

struct valk_srv_conn;
struct valk_stream;
struct valk_system;

typedef struct valk_js_request {
  /* Written by the AIO thread before the push; read-only afterwards. */
  uint32_t server_id;
  int32_t stream_id;
  uint32_t slot;                /* its arena's place among every pool's: unique among requests in flight */
  uint32_t gen;                 /* this hand-over's generation: (slot, gen) is this request for good */
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
  const uint8_t *resp_body;     /* in an arena, or a JavaScript Buffer's bytes (resp_pinned) */
  size_t resp_body_len;
  uint8_t resp_pinned;          /* resp_body is a Buffer the owner keeps alive until the token comes
                                 * back on sys->unpins: sent without a copy */
  valk_arena_t *answer_arena;   /* from sys->arenas when the answer outgrew a small arena, or NULL */
  uint8_t resp_streaming;       /* the body follows in chunks (valk_dispatch_chunk), not resp_body */
  /* A streaming answer's next chunk: the owner writes it, pushes the request
   * onto sys->chunks, and writes again only once the token came back on
   * sys->unpins (one chunk in flight per answer). */
  const uint8_t *chunk;         /* a JavaScript Buffer's bytes, kept alive by the owner; NULL: none */
  size_t chunk_len;
  uint8_t chunk_flags;          /* VALK_CHUNK_END, VALK_CHUNK_ABORT, VALK_CHUNK_TRAILERS */
  /* AIO thread only. */
  const uint8_t *trailers;      /* the final chunk's trailer fields ("name\0value\0" ...), kept alive
                                 * by the owner until the token comes back; NULL: none */
  size_t trailers_len;
  size_t chunk_sent;            /* of the chunk being sent */
  uint8_t chunk_held;           /* the AIO thread holds a chunk (its token not yet handed back) */
  uint8_t chunk_final;          /* the END or ABORT chunk arrived: nothing more will */
  uint8_t chunk_discard;        /* nobody reads the chunks (HEAD, or the answer became a 500) */
  /* A streaming request body (requestBodies 'stream', docs/design.md §7):
   * body_streaming is written before the push. Then one chunk at a time: the
   * AIO thread writes in_* and sets in_state READY before it pushes the token
   * onto sys->bodies; the owner moves READY -> TAKEN, copies the bytes, and
   * pushes the token onto sys->takes; the AIO thread frees them then (or
   * when the answer, the final chunk of a streaming answer, comes: the owner
   * never takes after it). A stream that dies moves READY -> DROPPED and
   * frees the bytes itself: the one that wins the exchange owns them. */
  uint8_t body_streaming;       /* the body follows in chunks (sys->bodies) */
  const uint8_t *in_data;       /* the chunk handed over (may be empty) */
  size_t in_len;
  uint8_t in_end;               /* the body ends with it */
  VALK_ATOMIC(uint8_t) in_state; /* VALK_IN_* */
  /* AIO thread only. */
  uint32_t in_cap;              /* the chunk's block size (valk_h2_body.c's block cache) */
  uint8_t in_given_back;        /* the chunk's bytes were consumed already (its stream died, or its
                                 * body was dropped, while the owner had it) */
  struct valk_stream *stream;   /* NULL once the stream is gone (orphaned) */
  valk_arena_pool_t *pool;      /* the pool arena came from */
  valk_arena_t *arena;
  struct valk_srv_conn *conn;   /* the connection whose arena share it counts in ... */
  uint64_t conn_uid;            /* ... if that slot still holds the same connection */
} valk_js_request_t;

/*
 * A request's token, as JavaScript holds it: gen x 2^21 + slot (the binding
 * checks it names the request in flight before it acts on it). Any thread.
 */
#define VALK_TOKEN_SLOT_BITS 21 /* slots < 2^21, gen < 2^32: a token < 2^53, exact in a double */
static inline uint64_t valk_js_token(const valk_js_request_t *req) {
  return ((uint64_t)req->gen << VALK_TOKEN_SLOT_BITS) | req->slot;
}

/* Owner thread: takes up to max tokens of answers whose pinned body
 * (resp_pinned) the AIO thread no longer reads: the owner lets it go. */
uint32_t valk_dispatch_take_unpins(struct valk_system *sys, uint64_t *out, uint32_t max);

/* Owner thread: takes up to max tokens of requests whose stream died while
 * JavaScript had them (the client reset it, or its connection went): their
 * answers are not wanted; JavaScript's handlers are told (docs/design.md §7). */
uint32_t valk_dispatch_take_cancels(struct valk_system *sys, uint64_t *out, uint32_t max);

/* Slots of valk_js_request_t.slot: the arenas of every pool (big, admin,
 * small, in that order). Any thread. */
uint32_t valk_dispatch_slots(const struct valk_system *sys);

/* Owner thread: takes up to max requests waiting for JavaScript. */
uint32_t valk_dispatch_take(struct valk_system *sys, valk_js_request_t **out, uint32_t max);

/*
 * Owner thread: allocates size bytes for the response in the request's arena
 * (the owner thread owns it until valk_dispatch_respond); a request in a small
 * arena that is full continues in a big arena taken for the answer
 * (answer_arena). NULL if it does not fit.
 */
void *valk_dispatch_alloc(struct valk_system *sys, valk_js_request_t *req, size_t size);

/* Owner thread: hands the response (fields set above) back to the AIO thread. */
void valk_dispatch_respond(struct valk_system *sys, valk_js_request_t *req);

/* A request body chunk's hand-over (valk_js_request_t.in_state). */
enum { VALK_IN_NONE = 0, VALK_IN_READY = 1, VALK_IN_TAKEN = 2, VALK_IN_DROPPED = 3 };

/* A take's token with this bit set: the rest of the body is not wanted. */
#define VALK_TAKE_DISCARD (1ull << 62)

/* Owner thread: takes up to max tokens of requests whose next body chunk is
 * ready (in_state READY, or DROPPED when its stream died first). */
uint32_t valk_dispatch_take_bodies(struct valk_system *sys, uint64_t *out, uint32_t max);

/*
 * Owner thread: req's chunk (in_state READY) is copied: moves it to TAKEN
 * first. Returns 0, or -1 when the stream died first (DROPPED: nothing to read).
 */
int valk_dispatch_body_claim(valk_js_request_t *req);

/* Owner thread: hands req's claimed chunk back (token | VALK_TAKE_DISCARD
 * when the rest is not wanted): the window opens for the next. */
void valk_dispatch_body_taken(struct valk_system *sys, valk_js_request_t *req, int discard);

/* AIO thread: hands every take that came back to its request (valk_h2_js_take). */
void valk_dispatch_drain_takes(struct valk_system *sys);

/* A streaming answer's chunk flags: the last chunk, or the body failed (the stream is reset). */
#define VALK_CHUNK_END 1
#define VALK_CHUNK_ABORT 2
/* With END: the chunk's bytes are trailer fields ("name\0value\0" ..., at most
 * VALK_TRAILERS_MAX fields and VALK_TRAILERS_MAX_BYTES bytes), sent after the
 * body as a HEADERS frame with END_STREAM (HTTP/2; HTTP/1.1 drops them). */
#define VALK_CHUNK_TRAILERS 4
#define VALK_TRAILERS_MAX 64
#define VALK_TRAILERS_MAX_BYTES 16384

/* Owner thread: hands req's next chunk (fields chunk*) to the AIO thread. */
void valk_dispatch_chunk(struct valk_system *sys, valk_js_request_t *req);

/* Owner thread: hands n responses back with one wake-up of the AIO thread. */
void valk_dispatch_respond_batch(struct valk_system *sys, valk_js_request_t **reqs, uint32_t n);

/* AIO thread: submits every response that came back, then flushes each
 * connection they belong to once (not once per response). */
void valk_dispatch_drain_responses(struct valk_system *sys);

/* AIO thread: hands every chunk that came back to its stream (valk_h2_js_chunk). */
void valk_dispatch_drain_chunks(struct valk_system *sys);

/* AIO thread, after the loop ended: releases the arenas of requests never
 * taken by JavaScript and of responses never submitted. */
void valk_dispatch_discard(struct valk_system *sys);

#ifdef __cplusplus
}
#endif
#endif /* VALK_DISPATCH_H */
