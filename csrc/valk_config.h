/*
 * valk_config.h: the resolved configuration as it crosses into C.
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

/* The resolved configuration as it crosses into C (lib/config.ts resolves and
 * validates it; valk_system_start re-checks only what would make C unsafe). */
typedef struct valk_system_config {
  uint32_t max_connections;
  uint32_t max_concurrent_streams;
  uint32_t tcp_buffer_pool_size;
  uint32_t arena_pool_size;
  uint32_t queue_capacity;
  uint64_t arena_size;
  uint64_t max_request_body_size;
  double buffer_high_watermark;
  double buffer_critical_watermark;
  uint32_t min_buffers_per_conn;
  uint32_t drain_timeout_ms;
  uint32_t handshake_timeout_ms;  /* CONNECTING longer than this: closed */
  uint32_t idle_timeout_ms;       /* IDLE longer than this: GOAWAY; 0 = never */
  uint32_t reject_mode;           /* valk_reject_mode_t */
  uint32_t max_graceful_rejections; /* goaway-mode rejections in flight at once */
  uint32_t overload_goaway_code;  /* nghttp2 error code of load-shedding GOAWAYs */
  uint32_t backpressure_list_max; /* paused connections at once */
  uint32_t max_connections_per_ip; /* 0 = no limit */
  uint32_t soft_limit;            /* 1: close longest-idle above the high watermark */
  uint32_t soft_limit_idle_ms;    /* idle at least this long to be closed by it */
  uint32_t stream_reset_rate;     /* RST_STREAMs/s a peer may send (burst 10x) */
  uint32_t sse_interval_ms;       /* memory diagnostics stream: a snapshot every ... */
  uint32_t max_sse_streams;       /* ... to at most this many streams at once */
  uint32_t admin_max_connections; /* the admin listeners' own connection slab */
  /* Hostile-client bounds (docs/RELIABILITY.md). */
  uint32_t max_header_list_size;  /* bytes of one request header section, RFC 9113 counting */
  uint32_t max_header_pairs;      /* fields of one request header section */
  uint64_t max_session_memory;    /* one connection's HTTP/2 state (valk_h2_mem.h) */
  uint32_t control_frame_rate;    /* SETTINGS, PING, PRIORITY, empty DATA frames/s a client may send (burst 10x) */
  uint32_t settings_timeout_ms;   /* our SETTINGS not acknowledged this long: GOAWAY(SETTINGS_TIMEOUT) */
  uint32_t headers_timeout_ms;    /* a request header block not complete this long: connection closed */
  uint32_t body_timeout_ms;       /* a request body without DATA this long: 408 */
  uint32_t request_timeout_ms;    /* a request not ended this long after its first HEADERS: 408 */
  uint32_t send_timeout_ms;       /* a response, or a connection's writes, not moving this long: reset / closed */
} valk_system_config_t;

#ifdef __cplusplus
}
#endif
#endif /* VALK_CONFIG_H */
