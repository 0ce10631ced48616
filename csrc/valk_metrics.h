/*
 * valk_metrics.h: the counters, gauges and histograms of one AIO system, and
 * the one list they are declared in.
 *
 * Every metric is declared once, in an X-macro below, with its kind and its
 * help text. The C structs, the binding's JSON names, the catalogue the
 * binding hands to TypeScript (Prometheus HELP/TYPE, docs/metrics.md) all
 * come from these lists: nothing is copied by hand.
 *
 * Ownership:
 *   - valk_stats_t is sharded per writing thread (VALK_SHARD_*), each shard on
 *     its own cache lines; a thread only writes its own shard (relaxed
 *     atomics), any thread reads and sums the shards (valk_stats_read).
 *   - valk_server_stats_t and valk_loop_stats_t are written by the AIO thread
 *     only and read from any thread.
 * Memory: fixed; all of it lives inside valk_system_t.
 */
#ifndef VALK_METRICS_H
#define VALK_METRICS_H

#include <stdint.h>
#include <uv.h>

#include "valk_common.h"

#ifdef __cplusplus
extern "C" {
#endif

#define VALK_CACHE_LINE 64

/* Kinds, as Prometheus names them. */
#define VALK_KIND_counter "counter"
#define VALK_KIND_gauge "gauge"

/*
 * Kept per server and summed per system. Every refusal carries its reason in
 * its counter: limit (connections_rejected), load, per-ip; timeouts and closes
 * that shed load have their own. XX(name, kind, help).
 */
#define VALK_SERVER_STATS_MAP(XX)                                              \
  XX(connections_active, gauge, "connections holding a slot of the connection slab now") \
  XX(connections_total, counter, "connections accepted (slot acquired)")       \
  XX(connections_closed, counter, "connections whose slot was released")       \
  XX(connections_rejected, counter, "connections refused: connection slab exhausted (limit)") \
  XX(connections_rejected_load, counter, "connections refused: TCP buffers past the watermarks (load)") \
  XX(connections_rejected_per_ip, counter, "connections refused: maxConnectionsPerIp reached (per-ip)") \
  XX(connections_rejected_graceful, counter, "refusals answered with TLS + GOAWAY instead of an RST") \
  XX(connections_failed, counter, "connections closed by a TLS or HTTP/2 failure") \
  XX(connections_timed_out, counter, "connections closed by the handshake or idle timeout") \
  XX(connections_stalled, counter, "connections closed: their writes, or their wait for TCP buffers, made no progress for sendTimeoutMs") \
  XX(connections_settings_timeout, counter, "connections closed with GOAWAY(SETTINGS_TIMEOUT): SETTINGS not acknowledged within settingsTimeoutMs") \
  XX(connections_headers_timeout, counter, "connections closed: a request header block did not complete within headersTimeoutMs") \
  XX(connections_memory_exceeded, counter, "connections closed: their HTTP/2 state needed more than maxSessionMemory") \
  XX(connections_reset_flood, counter, "connections closed with GOAWAY(ENHANCE_YOUR_CALM): RST_STREAM frames, sent and received, past streamResetRate") \
  XX(connections_frame_flood, counter, "connections closed with GOAWAY(ENHANCE_YOUR_CALM): control frames past controlFrameRate, or nghttp2's queue of ACKs full") \
  XX(connections_protocol_error, counter, "connections closed for a protocol violation (a GOAWAY with an error code, RFC 9113 §5.1 stream states included)") \
  XX(connections_soft_closed, counter, "idle connections closed by the soft limit (GOAWAY NO_ERROR)") \
  XX(connections_evicted, counter, "paused connections evicted from a full backpressure list") \
  XX(goaway_notices, counter, "graceful closes begun with the shutdown notice: GOAWAY(2^31-1) and a PING, the final GOAWAY after its ACK") \
  XX(responses_trailers, counter, "answers that ended with trailer fields (HTTP/2: a HEADERS frame after the body; HTTP/1.1 drops them)") \
  XX(connections_drain_forced, counter, "connections still open drainTimeoutMs after their server began to close: closed by force") \
  XX(tls_handshakes, counter, "TLS handshakes completed (ALPN h2 or http/1.1)") \
  XX(connections_http1, counter, "connections that speak HTTP/1.x (ALPN http/1.1 or none, or HTTP/1.x on a cleartext port)") \
  XX(connections_h2, counter, "connections that speak HTTP/2 (ALPN h2, or the preface on a cleartext port)") \
  XX(tls_buffers_released, counter, "TLS memory buffers an idle connection gave back (grown past 16 KiB by a bulk transfer)") \
  XX(streams_active, gauge, "HTTP/2 streams open now")                         \
  XX(streams_total, counter, "requests begun: HTTP/2 streams opened by clients, and HTTP/1.x requests (each has a stream record)") \
  XX(requests_h2, counter, "requests begun over HTTP/2 (streams the client opened)") \
  XX(requests_http1, counter, "requests begun over HTTP/1.x (heads parsed)") \
  XX(requests_total, counter, "responses submitted (every status)")            \
  XX(responses_2xx, counter, "responses with a 2xx status")                    \
  XX(responses_4xx, counter, "responses with a 4xx status")                    \
  XX(responses_5xx, counter, "responses with a 5xx status")                    \
  XX(responses_overloaded, counter, "503 responses: no arena for the request") \
  XX(requests_queue_full, counter, "requests that found the queue to JavaScript full and waited for room (none is refused for it)") \
  XX(requests_queue_timed_out, counter, "503 responses: a request waited requestTimeoutMs for room in the queue to JavaScript") \
  XX(requests_dispatched, counter, "requests handed to JavaScript handlers")   \
  XX(requests_body_streamed, counter, "requests whose body streamed to JavaScript in chunks (requestBodies: 'stream')") \
  XX(responses_streamed, counter, "answers from JavaScript whose body came in chunks (an async iterable, a Readable, a ReadableStream)") \
  XX(requests_cancelled, counter, "requests whose stream died while JavaScript had them (the handler's signal aborted)") \
  XX(requests_cancel_lost, counter, "such deaths Node's thread was not told of (its queue full): the handler timeout ends them") \
  XX(responses_too_large, counter, "413 responses: request body over maxRequestBodySize") \
  XX(streams_reset_too_large, counter, "streams reset: body over the limit after the response began") \
  XX(headers_too_large, counter, "request header sections over maxHeaderListSize or maxHeaderPairs (431, or RST_STREAM once answered)") \
  XX(streams_refused, counter, "streams refused (RST_STREAM REFUSED_STREAM): their connection's memory budget was near maxSessionMemory") \
  XX(requests_timed_out, counter, "408 responses: a request body idle past bodyTimeoutMs, or a request not ended within requestTimeoutMs") \
  XX(streams_send_timed_out, counter, "streams reset (CANCEL): their response did not move for sendTimeoutMs (a closed flow-control window)") \
  XX(streams_state_error, counter, "streams reset (STREAM_CLOSED): DATA or HEADERS after the client ended the stream (RFC 9113 §5.1)") \
  XX(arenas_grown, counter, "requests that outgrew their small arena and moved to a big one (their body so far copied)") \
  XX(arenas_refused_share, counter, "503 responses (also in responses_overloaded): the connection held its share of the arena pool (the last quarter is kept for connections holding fewer than 4)") \
  XX(responses_refused_headers, counter, "answers whose header block was too large to send: 500, or RST_STREAM") \
  XX(resets_sent, counter, "RST_STREAM frames sent") \
  XX(resets_received, counter, "RST_STREAM frames received") \
  XX(reads_blocked_output, counter, "times a connection stopped reading because its output backed up (frames or TLS bytes past the high-water mark)") \
  XX(bytes_received, counter, "ciphertext bytes read from sockets")            \
  XX(bytes_sent, counter, "ciphertext bytes written to sockets")

/* The system's own, on top of the servers' sums. */
#define VALK_SYSTEM_STATS_MAP(XX)                                              \
  XX(reads_paused, counter, "times a connection stopped reading for lack of TCP buffers") \
  XX(h2_memory_bytes, gauge, "bytes nghttp2 holds now (all sessions)")         \
  XX(h2_memory_peak, gauge, "most bytes nghttp2 held at once")                 \
  XX(request_body_held_bytes, gauge, "request body bytes held for JavaScript now (streaming bodies: at most a stream's window per stream)") \
  XX(responses_from_js, counter, "answers JavaScript handlers gave (Node's thread)") \
  XX(sse_streams_active, gauge, "SSE diagnostics streams open now")            \
  XX(sse_streams_opened, counter, "SSE diagnostics streams opened")            \
  XX(sse_streams_refused, counter, "SSE requests answered 503: maxSseStreams were open") \
  XX(sse_events_skipped, counter, "snapshots a slow SSE client never got (only the newest is kept)") \
  XX(sse_snapshot_last_ns, gauge, "nanoseconds the last diagnostics snapshot took to collect and encode (AIO thread)") \
  XX(sse_snapshot_max_ns, gauge, "the longest diagnostics snapshot so far, nanoseconds") \
  XX(sse_event_bytes_last, gauge, "bytes of the last diagnostics event's JSON") \
  XX(sse_tick_last_ns, gauge, "nanoseconds the last diagnostics tick took: the snapshot, every stream's copy and the flushes") \
  XX(client_connections_total, counter, "HTTP/2 client connections opened (connect(): a slot of the connection slab)") \
  XX(client_connections_failed, counter, "client connections that failed before HTTP/2 was up (connect, TLS, ALPN, timeout)") \
  XX(client_requests_total, counter, "requests HTTP/2 client connections submitted") \
  XX(client_requests_failed, counter, "client requests that failed (reset, connection closed, body over maxResponseBodySize)")

#define VALK_STATS_MAP(XX)                                                     \
  VALK_SERVER_STATS_MAP(XX)                                                    \
  VALK_SYSTEM_STATS_MAP(XX)

/* The AIO loop, published once per iteration (uv_check): libuv's own metrics. */
#define VALK_LOOP_STATS_MAP(XX)                                                \
  XX(iterations, counter, "event loop iterations (uv_metrics_info loop_count)") \
  XX(events, counter, "events the loop's poll returned (uv_metrics_info events)") \
  XX(events_waiting, gauge, "events waiting when the last poll returned")      \
  XX(idle_ns, counter, "nanoseconds the loop spent idle in poll (uv_metrics_idle_time)") \
  XX(handles_active, gauge, "active handles on the loop")

/* Request latency buckets, upper bounds in microseconds (the last bucket is +Inf). */
#define VALK_LATENCY_BUCKETS_MAP(XX)                                           \
  XX(100) XX(250) XX(500) XX(1000) XX(2500) XX(5000) XX(10000) XX(25000)       \
  XX(50000) XX(100000) XX(250000) XX(500000) XX(1000000) XX(2500000)           \
  XX(5000000) XX(10000000)

#define XX(us) +1
enum { VALK_LATENCY_BOUNDS = 0 VALK_LATENCY_BUCKETS_MAP(XX) };
#undef XX

/* Which thread writes a shard of valk_stats_t. */
typedef enum { VALK_SHARD_AIO = 0, VALK_SHARD_OWNER = 1, VALK_SHARDS } valk_shard_t;

typedef struct valk_stats_shard {
#define XX(name, kind, help) VALK_ATOMIC(uint64_t) name;
  VALK_STATS_MAP(XX)
#undef XX
} __attribute__((aligned(VALK_CACHE_LINE))) valk_stats_shard_t;

typedef struct valk_stats {
  valk_stats_shard_t shard[VALK_SHARDS];
} valk_stats_t;

/* A histogram with one writer (the AIO thread) and any readers. */
typedef struct valk_histogram {
  VALK_ATOMIC(uint64_t) counts[VALK_LATENCY_BOUNDS + 1];
  VALK_ATOMIC(uint64_t) sum_us;
} valk_histogram_t;

/*
 * One server's metrics, in a fixed table of the system so any thread can read
 * them while the server comes and goes: id 0 means the entry is unused.
 * The AIO thread writes; any thread reads.
 */
typedef struct valk_server_stats {
  VALK_ATOMIC(uint32_t) id;
  VALK_ATOMIC(int32_t) port;
  VALK_ATOMIC(uint64_t) started_ns; /* uv_hrtime() when it began listening */
#define XX(name, kind, help) VALK_ATOMIC(uint64_t) name;
  VALK_SERVER_STATS_MAP(XX)
#undef XX
  valk_histogram_t latency;         /* first HEADERS in -> last frame of the response out */
} __attribute__((aligned(VALK_CACHE_LINE))) valk_server_stats_t;

/* The AIO loop's metrics: the AIO thread writes, any thread reads. */
typedef struct valk_loop_stats {
  VALK_ATOMIC(uint64_t) started_ns;
#define XX(name, kind, help) VALK_ATOMIC(uint64_t) name;
  VALK_LOOP_STATS_MAP(XX)
#undef XX
} __attribute__((aligned(VALK_CACHE_LINE))) valk_loop_stats_t;

/* Adds n to a counter of the given shard (only from the thread owning it). */
/* Adds n to an atomic that has one writer: a relaxed load and store, no
 * locked read-modify-write (readers on other threads see either value). */
#define VALK_BUMP(a, n)                                                        \
  atomic_store_explicit((a), atomic_load_explicit((a), memory_order_relaxed) + (uint64_t)(n), \
                        memory_order_relaxed)

#define VALK_SHARD_ADD(stats, s, name, n) VALK_BUMP(&(stats)->shard[s].name, n)

/* The AIO thread's counter (system scope). */
#define VALK_STAT_ADD(sys, name, n) VALK_SHARD_ADD(&(sys)->stats, VALK_SHARD_AIO, name, n)

/* Sets a gauge of the AIO thread's shard. */
#define VALK_STAT_SET(sys, name, v)                                            \
  atomic_store_explicit(&(sys)->stats.shard[VALK_SHARD_AIO].name, (uint64_t)(v), memory_order_relaxed)

/* A per-server metric and its system total at once (AIO thread). Gauges go
 * down with a negative n (two's complement: the sum stays right). */
#define VALK_SRV_ADD(srv, name, n)                                             \
  do {                                                                         \
    VALK_BUMP(&(srv)->stats->name, n);                                         \
    VALK_STAT_ADD((srv)->sys, name, n);                                        \
  } while (0)

/* Any thread: one metric summed over the shards. */
#define VALK_STAT_READ(stats, name)                                            \
  (VALK_LOAD_RELAXED(&(stats)->shard[VALK_SHARD_AIO].name) +                   \
   VALK_LOAD_RELAXED(&(stats)->shard[VALK_SHARD_OWNER].name))

/* A metric's description for the catalogue (names and help from the maps). */
typedef struct valk_metric_desc {
  const char *name;
  const char *kind;   /* "counter" or "gauge" */
  const char *scope;  /* "server", "system" or "loop" */
  const char *help;
} valk_metric_desc_t;

/* The catalogue: every metric of the three maps, in map order. *n gets the count. */
const valk_metric_desc_t *valk_metrics_catalogue(uint32_t *n);

/* The latency bucket bounds in microseconds (VALK_LATENCY_BOUNDS of them). */
extern const uint64_t valk_latency_bounds_us[VALK_LATENCY_BOUNDS];

/* AIO thread: records one observation of us microseconds. */
void valk_histogram_observe(valk_histogram_t *h, uint64_t us);

/* AIO thread: zeroes a server's entry and publishes id last (release). */
void valk_server_stats_reset(valk_server_stats_t *st, uint32_t id, int port);

/* AIO thread: copies libuv's loop metrics into st (call once per iteration). */
void valk_loop_stats_publish(valk_loop_stats_t *st, uv_loop_t *loop);

#ifdef __cplusplus
}
#endif
#endif /* VALK_METRICS_H */
