/*
 * valk_sse.h: the live memory diagnostics stream (docs/design.md §8):
 * Server-Sent Events over an HTTP/2 stream that stays open. A feature above
 * the server: it uses the server's stream API, the server reaches it only
 * through valk_sse_plugin.
 *
 * A request for an SSE route gets 200 with `content-type: text/event-stream`
 * and a deferred nghttp2 data provider. Every sse_interval_ms a timer on the
 * AIO thread takes one snapshot of the pools (valk_snapshot.h), encodes its
 * JSON once, and gives each stream the event: a stream whose previous event
 * has been sent gets it at once (nghttp2_session_resume_data); a stream still
 * sending (the client's window is exhausted, or its socket is slow) keeps
 * only a "newer snapshot exists" mark, and takes the newest one when its
 * event is out: nothing queues. Skipped events show as gaps in the ids and
 * are counted (sse_events_skipped).
 *
 * Ownership: everything here belongs to the AIO thread. The Node runtime
 * figures come from the owner thread through atomics (valk_sse_runtime_t).
 * Memory: max_sse_streams slots of one event each (valk_sse_event_cap bytes),
 * the snapshot scratch (per-slot array of max_connections entries, bitmaps,
 * arena list) and one encode buffer: all sized once at system start.
 */
#ifndef VALK_SSE_H
#define VALK_SSE_H

#include <nghttp2/nghttp2.h>
#include <stddef.h>
#include <stdint.h>

#include "valk_common.h"

#ifdef __cplusplus
extern "C" {
#endif

struct valk_system;
struct valk_stream;
struct valk_server;

#define VALK_SSE_RETRY_MS 1000 /* the `retry:` a stream's first event carries */

/* Node's runtime figures, pushed by the owner thread (relaxed atomics). */
#define VALK_SSE_RUNTIME_MAP(XX)                                               \
  XX(heap_used) XX(heap_total) XX(rss) XX(external) XX(gc_count)               \
  XX(gc_pause_us) XX(loop_delay_us) XX(loop_utilization_ppm) XX(updated_ms)

typedef struct valk_sse_runtime {
#define XX(name) VALK_ATOMIC(uint64_t) name;
  VALK_SSE_RUNTIME_MAP(XX)
#undef XX
} valk_sse_runtime_t;

/* One open SSE stream: a slot of the system's SSE slab. AIO thread only. */
typedef struct valk_sse {
  struct valk_stream *stream;  /* the HTTP/2 stream it answers */
  struct valk_sse *next, *prev; /* the system's list of open streams */
  uint64_t id_base;            /* Last-Event-ID the client sent (ids continue from it) */
  uint64_t seq0;               /* the system's snapshot sequence when it opened */
  size_t len, sent;            /* the event in buf, and how much of it is out */
  uint8_t stale;               /* a newer snapshot exists than the one being sent */
  uint8_t ending;              /* end the stream once the current event is out */
  uint8_t retry_sent;
  char buf[];                  /* valk_sse_event_cap(sys) bytes */
} valk_sse_t;

/* The system's SSE state (inside valk_system_t). AIO thread only. */
typedef struct valk_sse_state {
  struct valk_slab *slab;      /* max_sse_streams valk_sse_t + event bytes */
  valk_sse_t *head;            /* open streams */
  uint32_t open;
  size_t event_cap;            /* bytes of one event, header included */
  char *json;                  /* the last snapshot's JSON (event_cap bytes) */
  size_t json_len;
  uint64_t seq;                /* snapshots taken */
  uint64_t skipped;            /* events streams missed (flow control) */
  void *scratch;               /* per-slot states, bitmaps, arena list */
} valk_sse_state_t;

/*
 * The diagnostics stream as a one-slot queue per stream (drop-oldest), in the
 * backpressure vocabulary of docs/design.md §13 (sys->sse_state): each tick's
 * fill is 0 when every stream took the snapshot, BEHIND when one was still
 * sending its previous event (PRESSURE), SKIPPED when one skipped a snapshot
 * (DROPPING). Recovery is below BEHIND: every stream caught up. With no stream
 * open the fill is 0 (evaluated when the last one closes and at each sweep).
 */
#define VALK_SSE_LEVEL_BEHIND 1
#define VALK_SSE_LEVEL_SKIPPED 2

/* AIO thread: the state's evaluation while no stream is open (the system's sweep). */
void valk_sse_check(struct valk_system *sys);

/* AIO thread (or before it starts). Sizes and allocates everything. 0 or VALK_ENOMEM. */
int valk_sse_init(struct valk_system *sys);
/* Frees what valk_sse_init allocated (streams must be gone). */
void valk_sse_free(struct valk_system *sys);

/* How the server reaches this feature (valk_h2_server.h): set as
 * sys->hooks.sse by valk_system_start, so the server never calls up. */
struct valk_stream_plugin;
extern const struct valk_stream_plugin valk_sse_plugin;

#ifdef __cplusplus
}
#endif
#endif /* VALK_SSE_H */
