/*
 * valk_config.h: the resolved configuration as it crosses into C
 * (docs/design.md §10 Configuration).
 *
 * GENERATED from lib/config.ts's options table (CONFIG_FIELDS: each field's C
 * member, C type and, for the enum fields, the number of each value) by
 * scripts/gen-config-header.js. Do not edit: change the table, then run
 * `npm run gen:config-header` and rebuild the addon. test/config.test.ts fails
 * when this file and the table differ.
 *
 * Thread: the owner thread fills it (the binding, from lib/config.ts's
 * resolved config) and hands a copy to valk_system_start; from then on it is
 * the AIO thread's, immutable.
 */
#ifndef VALK_CONFIG_H
#define VALK_CONFIG_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { VALK_REJECT_RST = 0, VALK_REJECT_GOAWAY = 1 } valk_reject_mode_t;

/*
 * Every field that crosses into C, in table order: X(C type, member, name in
 * lib/config.ts). The binding copies each from createSystem()'s argument
 * (NativeSystemConfig: every value a number) with one loop over this list.
 * Units, ranges and meaning: docs/configuration.md (from the same table).
 */
#define VALK_CONFIG_FIELDS(X)                                                  \
  X(uint32_t, max_connections, "maxConnections")                               \
  X(uint32_t, max_concurrent_streams, "maxConcurrentStreams")                  \
  X(uint32_t, tcp_buffer_pool_size, "tcpBufferPoolSize")                       \
  X(uint32_t, arena_pool_size, "arenaPoolSize")                                \
  X(uint32_t, queue_capacity, "queueCapacity")                                 \
  X(uint64_t, arena_size, "arenaSize")                                         \
  X(uint64_t, small_arena_size, "smallArenaSize")                              \
  X(uint32_t, small_arena_pool_size, "smallArenaPoolSize")                     \
  X(uint64_t, max_request_body_size, "maxRequestBodySize")                     \
  X(uint32_t, stream_window_size, "streamWindowSize")                          \
  X(uint32_t, connection_window_size, "connectionWindowSize")                  \
  X(double, buffer_high_watermark, "bufferHighWatermark")                      \
  X(double, buffer_critical_watermark, "bufferCriticalWatermark")              \
  X(uint32_t, min_buffers_per_conn, "minBuffersPerConn")                       \
  X(uint32_t, reject_mode, "rejectMode")                                       \
  X(uint32_t, max_graceful_rejections, "maxGracefulRejections")                \
  X(uint32_t, overload_goaway_code, "overloadGoawayCode")                      \
  X(uint32_t, backpressure_list_max, "backpressureListMax")                    \
  X(uint32_t, max_connections_per_ip, "maxConnectionsPerIp")                   \
  X(uint32_t, soft_limit, "softLimit")                                         \
  X(uint32_t, soft_limit_idle_ms, "softLimitIdleMs")                           \
  X(uint32_t, stream_reset_rate, "streamResetRate")                            \
  X(uint32_t, control_frame_rate, "controlFrameRate")                          \
  X(uint32_t, max_header_list_size, "maxHeaderListSize")                       \
  X(uint32_t, max_header_pairs, "maxHeaderPairs")                              \
  X(uint64_t, max_session_memory, "maxSessionMemory")                          \
  X(uint32_t, sse_interval_ms, "sseIntervalMs")                                \
  X(uint32_t, max_sse_streams, "maxSseStreams")                                \
  X(uint32_t, admin_max_connections, "adminMaxConnections")                    \
  X(uint32_t, drain_timeout_ms, "drainTimeoutMs")                              \
  X(uint32_t, drain_delay_ms, "drainDelayMs")                                  \
  X(uint32_t, handshake_timeout_ms, "handshakeTimeoutMs")                      \
  X(uint32_t, idle_timeout_ms, "idleTimeoutMs")                                \
  X(uint32_t, settings_timeout_ms, "settingsTimeoutMs")                        \
  X(uint32_t, headers_timeout_ms, "headersTimeoutMs")                          \
  X(uint32_t, body_timeout_ms, "bodyTimeoutMs")                                \
  X(uint32_t, request_timeout_ms, "requestTimeoutMs")                          \
  X(uint32_t, send_timeout_ms, "sendTimeoutMs")                                \
  X(uint32_t, trace_ring_capacity, "traceRingCapacity")                        \
  X(uint32_t, trace_pressure_pct, "tracePressurePct")                          \
  X(uint32_t, trace_dropping_pct, "traceDroppingPct")                          \
  X(uint32_t, trace_recovery_pct, "traceRecoveryPct")                          \
  X(uint32_t, trace_stability_ms, "traceStabilityMs")                          \
  X(uint32_t, trace_drop_policy, "traceDropPolicy")

/*
 * The enum fields' values as numbers: V(member, value in lib/config.ts, C
 * constant, number). The binding checks that each constant equals its number
 * when it compiles.
 */
#define VALK_CONFIG_ENUM_VALUES(V)                                             \
  V(reject_mode, "rst", VALK_REJECT_RST, 0)                                    \
  V(reject_mode, "goaway", VALK_REJECT_GOAWAY, 1)                              \
  V(overload_goaway_code, "ENHANCE_YOUR_CALM", NGHTTP2_ENHANCE_YOUR_CALM, 11)  \
  V(overload_goaway_code, "NO_ERROR", NGHTTP2_NO_ERROR, 0)                     \
  V(trace_drop_policy, "oldest", VALK_DROP_OLDEST, 0)                          \
  V(trace_drop_policy, "newest", VALK_DROP_NEWEST, 1)

/* The resolved configuration as it crosses into C (lib/config.ts resolves and
 * validates it; valk_system_start re-checks only what would make C unsafe). */
typedef struct valk_system_config {
#define VALK__CONFIG_MEMBER(type, member, name) type member;
  VALK_CONFIG_FIELDS(VALK__CONFIG_MEMBER)
#undef VALK__CONFIG_MEMBER
} valk_system_config_t;

#ifdef __cplusplus
}
#endif
#endif /* VALK_CONFIG_H */
