/*
 * valk_events.h: the lifecycle events an AIO thread records into its ring
 * (valk_evring.h, docs/design.md §13), one list for C and JavaScript: the
 * binding exports the kinds and reasons (eventKinds, eventReasons), and
 * lib/events.ts decodes the records with them.
 *
 * Thread: valk_event_emit only on the AIO thread that owns the ring.
 */
#ifndef VALK_EVENTS_H
#define VALK_EVENTS_H

#include <stdint.h>

#include "valk_evring.h"

/* XX(number, name, what its fields mean). number 0 is never used. */
#define VALK_EVENT_KIND_MAP(XX)                                                                 \
  XX(1, conn_accepted, "a connection took a slot of the connection slab")                      \
  XX(2, conn_rejected, "a connection was refused; reason: limit, load, per_ip")                \
  XX(3, conn_closed, "a connection's slot was released; reason: why it closed; a: its age in ms, b: bytes it sent") \
  XX(4, stream_opened, "a request began; a: its stream id")                                    \
  XX(5, stream_closed, "a request ended; a: its stream id, b: its duration in ms")             \
  XX(6, stream_reset, "RST_STREAM sent; a: the stream id, b: the error code")                  \
  XX(7, goaway_sent, "GOAWAY (or an HTTP/1.1 graceful close) began; b: the error code")        \
  XX(8, watermark_changed, "the TCP buffer watermark state changed; a: the new state (0 normal, 1 high, 2 critical), b: buffers in use") \
  XX(9, sse_opened, "a diagnostics SSE stream opened")                                         \
  XX(10, sse_closed, "a diagnostics SSE stream closed")                                        \
  XX(11, config_warning, "the configuration has an advisory warning (valk-aio config prints it), given to each reader as it attaches; reason: tcp_buffers_low, arenas_low, per_ip_unreachable; a: the field's value, b: what it is compared with")

/* XX(number, name). conn_rejected: limit, load, per_ip. conn_closed: the
 * first cause set (valk_h2_close_cause): peer (the client closed or its
 * connection failed), shutdown (the server closed), a timeout by name
 * (the config field it broke: idleTimeoutMs, handshakeTimeoutMs,
 * headersTimeoutMs, settingsTimeoutMs, sendTimeoutMs), protocol (GOAWAY with
 * an error: a flood, a protocol error), soft_limit (an idle connection closed
 * to make room near maxConnections), none (the server closed it otherwise:
 * HTTP/1.1 Connection: close, an answer that ended the connection).
 * config_warning: tcp_buffers_low (tcpBufferPoolSize below 70% of the
 * recommended count, b), arenas_low (arenaPoolSize below maxConnections, b),
 * per_ip_unreachable (maxConnectionsPerIp above maxConnections, b). The AIO
 * thread never records those: lib/events.ts writes them in the same layout. */
#define VALK_EVENT_REASON_MAP(XX) \
  XX(0, none)                     \
  XX(1, limit)                    \
  XX(2, load)                     \
  XX(3, per_ip)                   \
  XX(4, peer)                     \
  XX(5, shutdown)                 \
  XX(6, idle_timeout)             \
  XX(7, handshake_timeout)        \
  XX(8, headers_timeout)          \
  XX(9, settings_timeout)         \
  XX(10, send_timeout)            \
  XX(11, protocol)                \
  XX(12, soft_limit)              \
  XX(13, tcp_buffers_low)         \
  XX(14, arenas_low)              \
  XX(15, per_ip_unreachable)

typedef enum {
#define XX(n, name, help) VALK_EV_##name = n,
  VALK_EVENT_KIND_MAP(XX)
#undef XX
} valk_event_kind_t;

/* Kinds are recorded by a bit each (valk_evring_t.on): every number < 32. */
#define XX(n, name, help) typedef char valk__ev_kind_bit_##name[(n) > 0 && (n) < 32 ? 1 : -1];
VALK_EVENT_KIND_MAP(XX)
#undef XX

typedef enum {
#define XX(n, name) VALK_EVR_##name = n,
  VALK_EVENT_REASON_MAP(XX)
#undef XX
} valk_event_reason_t;

/*
 * Records one event while its kind is recorded (bit kind of valk_evring_t.on:
 * the kinds the JavaScript readers attached asked for); otherwise it is one
 * relaxed load. now_ms is the loop's time
 * (uv_now): events carry millisecond times, no clock read on the hot path.
 */
static inline void valk_event_emit(valk_evring_t *r, uint64_t now_ms, valk_event_kind_t kind,
                                   valk_event_reason_t reason, uint64_t uid, uint32_t a, uint64_t b) {
  valk_event_t ev;
  if (r == NULL || !((VALK_LOAD_RELAXED(&r->on) >> (unsigned)kind) & 1u)) return;
  ev.ts_ns = now_ms * 1000000u;
  ev.uid = uid;
  ev.kind = (uint16_t)kind;
  ev.reason = (uint16_t)reason;
  ev.a = a;
  ev.b = b;
  valk_evring_record(r, &ev);
}

#endif /* VALK_EVENTS_H */
