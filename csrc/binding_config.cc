// binding_config.cc: the resolved configuration (lib/config.ts) as it crosses
// into C: valk_system_config_t (csrc/valk_config.h).
//
// Thread: Node's main thread.
#include "binding.h"

namespace valk_binding {

void ConfigFromJs(Local<Object> o, valk_system_config_t *cfg_) {
  valk_system_config_t &cfg = *cfg_;
  memset(&cfg, 0, sizeof(cfg));
  cfg.max_connections = (uint32_t)NumberField(o, "maxConnections");
  cfg.max_concurrent_streams = (uint32_t)NumberField(o, "maxConcurrentStreams");
  cfg.tcp_buffer_pool_size = (uint32_t)NumberField(o, "tcpBufferPoolSize");
  cfg.arena_pool_size = (uint32_t)NumberField(o, "arenaPoolSize");
  cfg.queue_capacity = (uint32_t)NumberField(o, "queueCapacity");
  cfg.arena_size = (uint64_t)NumberField(o, "arenaSize");
  cfg.max_request_body_size = (uint64_t)NumberField(o, "maxRequestBodySize");
  cfg.buffer_high_watermark = NumberField(o, "bufferHighWatermark");
  cfg.buffer_critical_watermark = NumberField(o, "bufferCriticalWatermark");
  cfg.min_buffers_per_conn = (uint32_t)NumberField(o, "minBuffersPerConn");
  cfg.handshake_timeout_ms = (uint32_t)NumberField(o, "handshakeTimeoutMs");
  cfg.idle_timeout_ms = (uint32_t)NumberField(o, "idleTimeoutMs");
  cfg.drain_timeout_ms = (uint32_t)NumberField(o, "drainTimeoutMs");
  cfg.reject_mode = StringField(o, "rejectMode") == "goaway" ? VALK_REJECT_GOAWAY : VALK_REJECT_RST;
  cfg.max_graceful_rejections = (uint32_t)NumberField(o, "maxGracefulRejections");
  cfg.overload_goaway_code =
      StringField(o, "overloadGoawayCode") == "NO_ERROR" ? NGHTTP2_NO_ERROR : NGHTTP2_ENHANCE_YOUR_CALM;
  cfg.backpressure_list_max = (uint32_t)NumberField(o, "backpressureListMax");
  cfg.max_connections_per_ip = (uint32_t)NumberField(o, "maxConnectionsPerIp");
  cfg.soft_limit = StringField(o, "softLimit") == "off" ? 0 : 1;
  cfg.soft_limit_idle_ms = (uint32_t)NumberField(o, "softLimitIdleMs");
  cfg.stream_reset_rate = (uint32_t)NumberField(o, "streamResetRate");
  cfg.sse_interval_ms = (uint32_t)NumberField(o, "sseIntervalMs");
  cfg.max_sse_streams = (uint32_t)NumberField(o, "maxSseStreams");
  cfg.admin_max_connections = (uint32_t)NumberField(o, "adminMaxConnections");
  cfg.max_header_list_size = (uint32_t)NumberField(o, "maxHeaderListSize");
  cfg.max_header_pairs = (uint32_t)NumberField(o, "maxHeaderPairs");
  cfg.max_session_memory = Unsigned(NumberField(o, "maxSessionMemory"));
  cfg.control_frame_rate = (uint32_t)NumberField(o, "controlFrameRate");
  cfg.settings_timeout_ms = (uint32_t)NumberField(o, "settingsTimeoutMs");
  cfg.headers_timeout_ms = (uint32_t)NumberField(o, "headersTimeoutMs");
  cfg.body_timeout_ms = (uint32_t)NumberField(o, "bodyTimeoutMs");
  cfg.request_timeout_ms = (uint32_t)NumberField(o, "requestTimeoutMs");
  cfg.send_timeout_ms = (uint32_t)NumberField(o, "sendTimeoutMs");
}

}  // namespace valk_binding
