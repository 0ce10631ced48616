/*
 * valk_metrics.c: the metric catalogue, the latency histogram and the loop
 * metrics. See valk_metrics.h for who writes what.
 */
#include "valk_metrics.h"

#include <string.h>

#define XX_SERVER(name, kind, help) {#name, VALK_KIND_##kind, "server", help},
#define XX_SYSTEM(name, kind, help) {#name, VALK_KIND_##kind, "system", help},
#define XX_LOOP(name, kind, help) {#name, VALK_KIND_##kind, "loop", help},

static const valk_metric_desc_t valk__catalogue[] = {
  VALK_SERVER_STATS_MAP(XX_SERVER)
  VALK_SYSTEM_STATS_MAP(XX_SYSTEM)
  VALK_LOOP_STATS_MAP(XX_LOOP)
};

#undef XX_SERVER
#undef XX_SYSTEM
#undef XX_LOOP

const valk_metric_desc_t *valk_metrics_catalogue(uint32_t *n) {
  *n = (uint32_t)VALK_ARRAY_SIZE(valk__catalogue);
  return valk__catalogue;
}

#define XX(us) us,
const uint64_t valk_latency_bounds_us[VALK_LATENCY_BOUNDS] = {VALK_LATENCY_BUCKETS_MAP(XX)};
#undef XX

void valk_histogram_observe(valk_histogram_t *h, uint64_t us) {
  uint32_t lo = 0, hi = VALK_LATENCY_BOUNDS; /* the first bound >= us; hi = +Inf */
  while (lo < hi) {
    uint32_t mid = (lo + hi) / 2;
    if (valk_latency_bounds_us[mid] < us) lo = mid + 1;
    else hi = mid;
  }
  VALK_BUMP(&h->counts[lo], 1);
  VALK_BUMP(&h->sum_us, us);
}

void valk_server_stats_reset(valk_server_stats_t *st, uint32_t id, int port) {
  uint32_t i;
#define XX(name, kind, help) atomic_store_explicit(&st->name, 0, memory_order_relaxed);
  VALK_SERVER_STATS_MAP(XX)
#undef XX
  for (i = 0; i <= VALK_LATENCY_BOUNDS; i++)
    atomic_store_explicit(&st->latency.counts[i], 0, memory_order_relaxed);
  atomic_store_explicit(&st->latency.sum_us, 0, memory_order_relaxed);
  atomic_store_explicit(&st->started_ns, uv_hrtime(), memory_order_relaxed);
  atomic_store_explicit(&st->port, port, memory_order_relaxed);
  atomic_store_explicit(&st->id, id, memory_order_release); /* a reader seeing id sees the zeroes */
}

void valk_loop_stats_publish(valk_loop_stats_t *st, uv_loop_t *loop) {
  uv_metrics_t m;
  memset(&m, 0, sizeof(m));
  if (uv_metrics_info(loop, &m) == 0) {
    atomic_store_explicit(&st->iterations, m.loop_count, memory_order_relaxed);
    atomic_store_explicit(&st->events, m.events, memory_order_relaxed);
    atomic_store_explicit(&st->events_waiting, m.events_waiting, memory_order_relaxed);
  }
  atomic_store_explicit(&st->idle_ns, uv_metrics_idle_time(loop), memory_order_relaxed);
  atomic_store_explicit(&st->handles_active, loop->active_handles, memory_order_relaxed);
}
