// binding_metrics.cc: the read-outs: metrics() (every counter of
// csrc/valk_metrics.h's lists, the pools, watermark, backpressure, queues and
// the AIO loop; docs/design.md §9 Metrics; the queues' backpressure states,
// §13), the metric catalogue in the
// constants, pushRuntime() (Node's figures for the diagnostics snapshot) and
// sseEventBytes() (docs/design.md §8 Diagnostics snapshot and wire format).
//
// Thread: Node's main thread; atomic loads only while the AIO thread runs.
#include "binding.h"

#include "valk_slab.h"
#include "valk_snapshot.h"

namespace valk_binding {

namespace {

Local<Object> Pool(const valk_slab_t *slab) {
  Local<Object> o = Nan::New<Object>();
  SetNumber(o, "total", slab ? slab->count : 0);
  SetNumber(o, "used", slab ? valk_slab_used(slab) : 0);
  SetNumber(o, "available", slab ? valk_slab_available(slab) : 0);
  SetNumber(o, "overflow", slab ? (double)valk_slab_overflow(slab) : 0);
  return o;
}

Local<Object> Arenas(const valk_arena_pool_t *a) {
  Local<Object> o = Nan::New<Object>();
  SetNumber(o, "total", a->count);
  SetNumber(o, "used", valk_arena_pool_used(a));
  SetNumber(o, "available", valk_arena_pool_available(a));
  SetNumber(o, "overflow", (double)valk_arena_pool_overflow(a));
  SetNumber(o, "arena_size", (double)a->arena_size);
  SetNumber(o, "high_water_bytes", (double)valk_arena_pool_hwm(a));
  SetNumber(o, "committed_bytes", (double)valk_arena_pool_committed(a));
  SetNumber(o, "committed_peak_bytes", (double)valk_arena_pool_committed_peak(a));
  SetNumber(o, "alloc_failures", (double)valk_arena_pool_alloc_failures(a));
  return o;
}

double SecondsSince(uint64_t ns) { return ns ? (double)(uv_hrtime() - ns) / 1e9 : 0; }

// The latency histogram: non-cumulative counts per bucket (the last is
// +Inf) and the sum in microseconds; bounds are in constants.
Local<Object> Histogram(const valk_histogram_t *h) {
  Local<Object> o = Nan::New<Object>();
  Local<v8::Array> counts = Nan::New<v8::Array>(VALK_LATENCY_BOUNDS + 1);
  for (uint32_t i = 0; i <= VALK_LATENCY_BOUNDS; i++)
    Nan::Set(counts, i, Nan::New<v8::Number>((double)VALK_LOAD_RELAXED(&h->counts[i])));
  SetObject(o, "counts", counts);
  SetNumber(o, "sum_us", (double)VALK_LOAD_RELAXED(&h->sum_us));
  return o;
}

Local<v8::Array> Servers(valk_system_t *sys) {
  Local<v8::Array> list = Nan::New<v8::Array>();
  uint32_t n = 0;
  for (uint32_t i = 0; i < VALK_MAX_SERVERS; i++) {
    valk_server_stats_t *st = &sys->server_stats[i];
    uint32_t id = st->id.load(std::memory_order_acquire);
    if (id == 0) continue;
    Local<Object> o = Nan::New<Object>();
    SetNumber(o, "id", id);
    SetNumber(o, "port", st->port.load(std::memory_order_relaxed));
    SetNumber(o, "uptime_seconds", SecondsSince(VALK_LOAD_RELAXED(&st->started_ns)));
#define XX(name, kind, help) SetNumber(o, #name, (double)VALK_LOAD_RELAXED(&st->name));
    VALK_SERVER_STATS_MAP(XX)
#undef XX
    SetObject(o, "latency", Histogram(&st->latency));
    Nan::Set(list, n++, o);
  }
  return list;
}

Local<Object> Loop(valk_system_t *sys) {
  Local<Object> o = Nan::New<Object>();
  const valk_loop_stats_t *st = &sys->loop_stats;
#define XX(name, kind, help) SetNumber(o, #name, (double)VALK_LOAD_RELAXED(&st->name));
  VALK_LOOP_STATS_MAP(XX)
#undef XX
  return o;
}

// A queue's backpressure state (docs/design.md §13) into o: state and
// transitions, as the event ring's (EventStats).
void BpState(Local<Object> o, const valk_bpstate_t *t) {
  uint64_t tr[VALK_BP_STATES];
  Local<Object> to = Nan::New<Object>();
  valk_bpstate_transitions(t, tr);
  SetString(o, "state", valk_bp_state_name(valk_bpstate_state(t)));
  for (int k = 0; k < VALK_BP_STATES; k++) SetNumber(to, valk_bp_state_name((valk_bp_state_t)k), (double)tr[k]);
  SetObject(o, "transitions", to);
}

// The queues between the threads: requests waiting for Node, requests at
// JavaScript not answered yet, answers waiting for the AIO thread.
Local<Object> Queue(valk_system_t *sys) {
  Local<Object> o = Nan::New<Object>();
  SetNumber(o, "depth", valk_ring_size(&sys->requests));
  SetNumber(o, "capacity", sys->config.queue_capacity);
  SetNumber(o, "pending_requests", sys->js_in_flight.load(std::memory_order_relaxed));
  SetNumber(o, "pending_responses", valk_ring_size(&sys->responses));
  BpState(o, &sys->queue_state);
  return o;
}

// The diagnostics stream's backpressure state (valk_sse.h).
Local<Object> Sse(valk_system_t *sys) {
  Local<Object> o = Nan::New<Object>();
  BpState(o, &sys->sse_state);
  return o;
}

}  // namespace

// pushRuntime({heap_used, heap_total, ...}): Node's runtime figures for the
// diagnostics snapshot (VALK_SSE_RUNTIME_MAP); relaxed stores the AIO thread reads.
void SystemWrap::PushRuntime(const Nan::FunctionCallbackInfo<Value> &info) {
  SystemWrap *self = Self(info);
  if (self->sys_ == nullptr || !info[0]->IsObject()) return;
  Local<Object> o = info[0].As<Object>();
  valk_sse_runtime_t *r = &self->sys_->runtime;
#define XX(name) r->name.store(Unsigned(NumberField(o, #name)), std::memory_order_relaxed);
  VALK_SSE_RUNTIME_MAP(XX)
#undef XX
}

// metrics(): the system's counters, pools, watermark state and backpressure
// list, and each server's counters; atomic loads only (any thread may read).
void SystemWrap::Metrics(const Nan::FunctionCallbackInfo<Value> &info) {
  SystemWrap *self = Self(info);
  if (self->sys_ == nullptr) return ThrowError(VALK_ESTOPPED);
  valk_system_t *sys = self->sys_;
  Local<Object> out = Nan::New<Object>(), system = Nan::New<Object>(), conns = Nan::New<Object>();
  Local<Object> pools = Nan::New<Object>(), wm = Nan::New<Object>(), bp = Nan::New<Object>();
#define XX(name, kind, help) SetNumber(system, #name, (double)VALK_STAT_READ(&sys->stats, name));
  VALK_STATS_MAP(XX)
#undef XX
  uint32_t used = valk_slab_used(sys->conn_slab);
  SetNumber(conns, "active", used);
  SetNumber(conns, "max", sys->conn_slab->count);
  SetNumber(conns, "available", valk_slab_available(sys->conn_slab));
  SetNumber(conns, "soft_limit_at", sys->config.soft_limit ? sys->soft_limit_at : 0);
  SetObject(pools, "connections", Pool(sys->conn_slab));
  SetObject(pools, "tcp_buffers", Pool(sys->tcp_bufs));
  SetObject(pools, "graceful_rejections", Pool(sys->graceful));
  SetObject(pools, "admin_connections", Pool(sys->admin_slab));
  SetObject(pools, "arenas", Arenas(&sys->arenas));
  SetObject(pools, "admin_arenas", Arenas(&sys->admin_arenas));
  SetObject(pools, "small_arenas", Arenas(&sys->small_arenas));
  uint32_t bufs_used = valk_slab_used(sys->tcp_bufs);
  SetString(wm, "state", valk_wm_state_name((valk_wm_state_t)sys->watermark.state.load()));
  SetNumber(wm, "usage", sys->tcp_bufs->count ? (double)bufs_used / sys->tcp_bufs->count : 0);
  SetNumber(wm, "transitions", (double)sys->watermark.transitions.load());
  SetObject(out, "events", EventStats(&sys->events));
  SetNumber(wm, "high", sys->config.buffer_high_watermark);
  SetNumber(wm, "critical", sys->config.buffer_critical_watermark);
  SetNumber(bp, "list_size", valk_bp_size(&sys->backpressure));
  SetNumber(bp, "list_max", sys->backpressure.capacity);
  SetNumber(bp, "evicted", (double)VALK_STAT_READ(&sys->stats, connections_evicted));
  SetObject(out, "system", system);
  SetObject(out, "connections", conns);
  SetObject(out, "pools", pools);
  SetObject(out, "watermark", wm);
  SetObject(out, "backpressure", bp);
  SetObject(out, "servers", Servers(sys));
  SetObject(out, "loop", Loop(sys));
  Local<Object> queue = Queue(sys);
  SetNumber(queue, "pinned_bodies", (double)self->pins_.size());
  SetNumber(queue, "streaming_answers", (double)self->streaming_.size());
  SetObject(out, "queue", queue);
  SetObject(out, "sse", Sse(sys));
  SetNumber(out, "uptime_seconds", SecondsSince(VALK_LOAD_RELAXED(&sys->loop_stats.started_ns)));
  SetNumber(out, "server_count", sys->server_count.load(std::memory_order_relaxed));
  info.GetReturnValue().Set(out);
}

Local<v8::Array> MetricsCatalogue() {
  uint32_t n = 0;
  const valk_metric_desc_t *d = valk_metrics_catalogue(&n);
  Local<v8::Array> list = Nan::New<v8::Array>(n);
  for (uint32_t i = 0; i < n; i++) {
    Local<Object> o = Nan::New<Object>();
    SetString(o, "name", d[i].name);
    SetString(o, "kind", d[i].kind);
    SetString(o, "scope", d[i].scope);
    SetString(o, "help", d[i].help);
    Nan::Set(list, i, o);
  }
  return list;
}

// sseEventBytes(maxConnections, tcpBufferPoolSize, arenaPoolSize, adminMaxConnections): the bytes
// of one diagnostics event buffer for that config (valk_snapshot_max_bytes).
NAN_METHOD(SseEventBytes) {
  uint32_t conns = Nan::To<uint32_t>(info[0]).FromMaybe(0);
  // The snapshot's plain pools as valk_sse.c lists them: TCP buffers, arenas, small arenas,
  // servers, clients, admin connections.
  uint32_t pools[6] = {Nan::To<uint32_t>(info[1]).FromMaybe(0), Nan::To<uint32_t>(info[2]).FromMaybe(0),
                       Nan::To<uint32_t>(info[4]).FromMaybe(0), VALK_MAX_SERVERS, VALK_MAX_CLIENTS,
                       Nan::To<uint32_t>(info[3]).FromMaybe(0)};
  size_t n = valk_snapshot_max_bytes(conns, pools, 6, pools[1], VALK_MAX_OWNERS);
  info.GetReturnValue().Set(Nan::New<v8::Number>((double)n));
}

}  // namespace valk_binding
