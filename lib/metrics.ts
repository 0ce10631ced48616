// The metrics bridge: one JSON object per system (sys.metrics()), its
// Prometheus text (sys.prometheus()) and its documentation (docs/metrics.md),
// all driven by one table.
//
// Where the numbers come from:
//   - csrc/valk_metrics.h's lists (system counters, per-server metrics, the
//     AIO loop): the addon hands over their names, kinds and help text
//     (constants.metricsCatalogue), so nothing here repeats them;
//   - the binding's pools, watermark, backpressure and queue gauges: the
//     table below (FIELDS) documents them;
//   - the Node runtime (lib/runtime.ts): heap, GC, event-loop delay and
//     utilization.
// Thread: Node's main thread. Reading is atomic loads on the C side: no round
// trip to the AIO thread.
import type { ClientMetrics } from './client';
import { HandlerCounters } from './handler';
import { NativeMetricDesc, NativeMetrics, native } from './native';
import { PromFamily, PromHistogramSample, PromLabels, PromSample, renderPrometheus } from './prometheus';
import { RuntimeMetrics } from './runtime';
import { readinessOf } from './readiness';

/** Bumped when a documented field changes meaning or goes away (adding fields does not). */
export const METRICS_SCHEMA_VERSION = 1;

/** The request latency histogram of one server. */
export interface LatencyHistogram {
  /** Bucket upper bounds in seconds, ascending; the last bucket (+Inf) has no bound. */
  bounds_seconds: number[];
  /** Non-cumulative counts: counts[i] observations in (bounds[i-1], bounds[i]]; counts[bounds.length] above the last bound. */
  counts: number[];
  count: number;
  sum_seconds: number;
  /** sum / count in ms (0 with no observation). */
  avg_ms: number;
}

/** One server: every per-server metric of csrc/valk_metrics.h, plus its identity and latency. */
export interface ServerMetrics {
  id: number;
  /** "host:port": the label servers are keyed by (Prometheus `server`). */
  key: string;
  host: string;
  port: number;
  uptime_seconds: number;
  latency: LatencyHistogram;
  [metric: string]: number | string | LatencyHistogram;
}

type Omit2<T, K extends keyof T> = Pick<T, Exclude<keyof T, K>>;

/** What sys.metrics() returns; docs/metrics.md lists every field. */
export interface AioMetrics extends Omit2<NativeMetrics, 'servers' | 'server_count' | 'pools'> {
  schema_version: number;
  timestamp_ms: number;
  resources: { servers: number; clients: number; handles: number };
  pools: NativeMetrics['pools'] & { tcp_buffers: NativeMetrics['pools']['tcp_buffers'] & { utilization_pct: number } };
  servers: ServerMetrics[];
  /** The system's HTTP/2 clients (sys.connect()): the open ones, then the last 16 closed. */
  clients: ClientMetrics[];
  runtime: RuntimeMetrics;
  /** What /ready answers (docs/design.md §14), as numbers. */
  ready: { ready: number; draining: number };
}

type FieldType = 'number' | 'string' | 'object' | 'array';

/** How a field is exported to Prometheus. */
interface PromSpec {
  name: string;
  type: 'counter' | 'gauge';
  /** Multiplies the JSON value (units: Prometheus wants seconds and ratios). */
  scale?: number;
  /** A constant label telling apart the fields that share one family (e.g. pool="arenas"). */
  label?: [string, string];
  /** HELP of the family when fields share it (else the field's help). */
  familyHelp?: string;
  /** For a string field: one 0/1 sample per value, labelled with it. */
  values?: readonly string[];
}

/** One documented field: its JSON path ("servers[].x" for each server), type, unit and meaning. */
export interface MetricField {
  path: string;
  type: FieldType;
  unit: string;
  help: string;
  /**
   * Another name the field goes by, where it differs: the dashboard's label or
   * an older C name (the "Also called" column of docs/metrics.md). The key
   * keeps its first name: metricFields() is public.
   */
  seed?: string;
  prom?: PromSpec;
}

const P = 'valk_aio_';

/** An arena pool's memory figures (the main pool's have Prometheus families of their own). */
function arenaPool(key: string, what: string, failure: string): MetricField[] {
  return [
    { path: `pools.${key}.arena_size`, type: 'number', unit: 'bytes', help: `address space reserved per ${what}` },
    { path: `pools.${key}.high_water_bytes`, type: 'number', unit: 'bytes', help: `most bytes one ${what} has held` },
    { path: `pools.${key}.committed_bytes`, type: 'number', unit: 'bytes', help: `${what} memory committed now (estimate)` },
    { path: `pools.${key}.committed_peak_bytes`, type: 'number', unit: 'bytes', help: `most ${what} memory committed at once` },
    { path: `pools.${key}.alloc_failures`, type: 'number', unit: 'count', help: `allocations that did not fit their ${what}${failure}` },
  ];
}

const BP_STATES = ['normal', 'pressure', 'dropping', 'recovery'] as const;

/**
 * A backpressure state (docs/design.md §13) and its entries into each state:
 * `${key}.state` (Prometheus: one 0/1 sample per state) and
 * `${key}.transitions.*` (one counter family, labelled by state). what names
 * the queue in help texts ("the ring", "the event ring").
 */
function bpState(key: string, promBase: string, stateHelp: string, what: string, family: string): MetricField[] {
  return [
    { path: `${key}.state`, type: 'string', unit: BP_STATES.join(' | '), help: stateHelp,
      prom: { name: `${P}${promBase}_state`, type: 'gauge', values: BP_STATES } },
    ...BP_STATES.map((st): MetricField => ({
      path: `${key}.transitions.${st}`, type: 'number', unit: 'count', help: `times ${what} entered ${st.toUpperCase()}`,
      prom: { name: `${P}${promBase}_transitions_total`, type: 'counter', label: ['state', st], familyHelp: `times ${family} entered each state` },
    })),
  ];
}

function pool(key: string, label: string): MetricField[] {
  const fam = (name: string, type: 'counter' | 'gauge', familyHelp: string) =>
    ({ name: `${P}pool_${name}`, type, label: ['pool', key] as [string, string], familyHelp });
  return [
    { path: `pools.${key}.total`, type: 'number', unit: 'slots', help: `${label}: slots in the pool`,
      prom: fam('slots', 'gauge', 'slots in each fixed pool') },
    { path: `pools.${key}.used`, type: 'number', unit: 'slots', help: `${label}: slots in use`,
      prom: fam('used', 'gauge', 'slots in use in each fixed pool') },
    { path: `pools.${key}.available`, type: 'number', unit: 'slots', help: `${label}: slots free` },
    { path: `pools.${key}.overflow`, type: 'number', unit: 'count', help: `${label}: acquires that found the pool empty`,
      prom: fam('overflow_total', 'counter', 'acquires that found the pool empty, by pool') },
  ];
}

/** Fields the binding and TypeScript add around the lists of csrc/valk_metrics.h. */
const FIELDS: readonly MetricField[] = [
  { path: 'schema_version', type: 'number', unit: '', help: `this schema's version (${METRICS_SCHEMA_VERSION})` },
  { path: 'timestamp_ms', type: 'number', unit: 'ms since the epoch', help: 'when the metrics were read' },
  { path: 'uptime_seconds', type: 'number', unit: 's', help: 'since the system started', seed: 'VM uptime',
    prom: { name: `${P}uptime_seconds`, type: 'gauge' } },
  { path: 'resources.servers', type: 'number', unit: 'count', help: 'servers listening', seed: 'Resources: Servers',
    prom: { name: `${P}servers`, type: 'gauge' } },
  { path: 'resources.clients', type: 'number', unit: 'count', help: 'HTTP/2 clients of the system open now (sys.connect(), not yet closed)', seed: 'Resources: Clients' },
  { path: 'resources.handles', type: 'number', unit: 'count', help: 'active handles on the AIO loop (= loop.handles_active)', seed: 'Resources: Handles' },
  { path: 'clients', type: 'array', unit: '', help: "the system's HTTP/2 clients (sys.connect()): every open one, then the 16 closed most recently (connected 0), each while the system runs" },
  { path: 'clients[].id', type: 'number', unit: '', help: "the client's id in its system" },
  { path: 'clients[].key', type: 'string', unit: '', help: '"host:port" of the server it talks to (its owner name in the diagnostics snapshot)' },
  { path: 'clients[].host', type: 'string', unit: '', help: "the server's address" },
  { path: 'clients[].port', type: 'number', unit: '', help: "the server's port" },
  { path: 'clients[].connected', type: 'number', unit: '0 | 1', help: '1 while it takes requests; 0 once closed (close(), the server\'s GOAWAY or close)' },
  { path: 'clients[].uptime_seconds', type: 'number', unit: 's', help: 'since its connection was up' },
  { path: 'clients[].streams_active', type: 'number', unit: 'streams', help: 'requests on the AIO thread without their answer yet (at most 32)' },
  { path: 'clients[].requests_waiting', type: 'number', unit: 'requests', help: 'requests queued in JavaScript behind those (at most 1,024)' },
  { path: 'clients[].requests_total', type: 'number', unit: 'count', help: 'requests handed to the AIO thread' },
  { path: 'clients[].responses_total', type: 'number', unit: 'count', help: 'requests answered with a response (any status)' },
  { path: 'clients[].errors', type: 'number', unit: 'count', help: 'accepted requests that failed: connection closed, stream reset, body too long, client closed' },
  { path: 'connections.active', type: 'number', unit: 'slots', help: 'connection slots in use (every server)', seed: 'connections active' },
  { path: 'connections.max', type: 'number', unit: 'slots', help: 'maxConnections', seed: 'conn_slab_total',
    prom: { name: `${P}connections_max`, type: 'gauge' } },
  { path: 'connections.available', type: 'number', unit: 'slots', help: 'free connection slots', seed: 'conn_slab_available',
    prom: { name: `${P}connections_available`, type: 'gauge' } },
  { path: 'connections.soft_limit_at', type: 'number', unit: 'slots', help: 'slots in use from which the soft limit closes idle connections (0: off)' },
  ...pool('connections', 'connection slab'),
  ...pool('tcp_buffers', 'TCP buffers (32 KiB each)'),
  { path: 'pools.tcp_buffers.utilization_pct', type: 'number', unit: '%', help: 'TCP buffers in use / total × 100', seed: 'tcp_buffer_utilization_pct' },
  ...pool('graceful_rejections', 'goaway-mode rejection slab'),
  ...pool('arenas', 'stream arenas'),
  ...pool('small_arenas', 'small stream arenas (a request without a large body; one per advertised stream)'),
  ...arenaPool('small_arenas', 'small arena', ' (the request then moves to a big one)'),
  ...pool('admin_connections', "admin listeners' connection slab"),
  ...pool('admin_arenas', "admin listeners' own stream arenas (so /health and /debug/metrics answer whatever the main pool suffers)"),
  ...arenaPool('admin_arenas', 'admin arena', ''),
  { path: 'pools.arenas.arena_size', type: 'number', unit: 'bytes', help: 'address space reserved per arena' },
  { path: 'pools.arenas.high_water_bytes', type: 'number', unit: 'bytes', help: 'most bytes one arena has held',
    prom: { name: `${P}arena_high_water_bytes`, type: 'gauge' } },
  { path: 'pools.arenas.committed_bytes', type: 'number', unit: 'bytes', help: 'arena memory committed now (estimate)',
    prom: { name: `${P}arena_committed_bytes`, type: 'gauge' } },
  { path: 'pools.arenas.committed_peak_bytes', type: 'number', unit: 'bytes', help: 'most arena memory committed at once' },
  { path: 'pools.arenas.alloc_failures', type: 'number', unit: 'count', help: 'allocations that did not fit their arena',
    prom: { name: `${P}arena_alloc_failures_total`, type: 'counter' } },
  { path: 'watermark.state', type: 'string', unit: 'normal | high | critical', help: 'TCP buffer watermark state', seed: 'buffer_watermark_state',
    prom: { name: `${P}watermark_state`, type: 'gauge', values: ['normal', 'high', 'critical'] } },
  { path: 'watermark.usage', type: 'number', unit: 'ratio', help: 'TCP buffers in use / total',
    prom: { name: `${P}tcp_buffer_usage_ratio`, type: 'gauge' } },
  { path: 'watermark.transitions', type: 'number', unit: 'count', help: 'watermark state changes',
    prom: { name: `${P}watermark_transitions_total`, type: 'counter' } },
  { path: 'watermark.high', type: 'number', unit: 'ratio', help: 'bufferHighWatermark' },
  { path: 'watermark.critical', type: 'number', unit: 'ratio', help: 'bufferCriticalWatermark' },
  { path: 'backpressure.list_size', type: 'number', unit: 'connections', help: 'connections paused for lack of TCP buffers', seed: 'backpressure_list_size',
    prom: { name: `${P}backpressure_list_size`, type: 'gauge' } },
  { path: 'backpressure.list_max', type: 'number', unit: 'connections', help: 'backpressureListMax' },
  { path: 'backpressure.evicted', type: 'number', unit: 'count', help: 'paused connections evicted (= system.connections_evicted)' },
  ...bpState('events', 'event_ring', 'the lifecycle event ring\'s backpressure state (docs/design.md §13)', 'the ring', 'the event ring'),
  { path: 'events.fill', type: 'number', unit: 'events', help: 'events waiting in the ring for a reader',
    prom: { name: `${P}event_ring_fill`, type: 'gauge' } },
  { path: 'events.capacity', type: 'number', unit: 'events', help: 'the ring\'s size (traceRingCapacity, rounded up to a power of two)',
    prom: { name: `${P}event_ring_capacity`, type: 'gauge' } },
  { path: 'events.recorded', type: 'number', unit: 'count', help: 'events recorded (only while a reader is attached)',
    prom: { name: `${P}events_recorded_total`, type: 'counter' } },
  { path: 'events.drained', type: 'number', unit: 'count', help: 'events a reader took',
    prom: { name: `${P}events_drained_total`, type: 'counter' } },
  { path: 'events.events_dropped', type: 'number', unit: 'count', help: 'events lost while the ring was DROPPING (traceDropPolicy)',
    prom: { name: `${P}events_dropped_total`, type: 'counter' } },
  { path: 'events.bytes_dropped', type: 'number', unit: 'bytes', help: 'their bytes (32 each)',
    prom: { name: `${P}events_dropped_bytes_total`, type: 'counter' } },
  { path: 'events.recording', type: 'number', unit: '0 | 1', help: '1 while a reader is attached (sys.events(), --log-events): events are recorded' },
  { path: 'queue.depth', type: 'number', unit: 'requests', help: 'requests waiting in the queue to JavaScript', seed: 'Queue Depth',
    prom: { name: `${P}queue_depth`, type: 'gauge' } },
  { path: 'queue.capacity', type: 'number', unit: 'requests', help: 'queueCapacity',
    prom: { name: `${P}queue_capacity`, type: 'gauge' } },
  { path: 'queue.pending_requests', type: 'number', unit: 'requests', help: 'requests handed to JavaScript and not answered yet (queued included)', seed: 'Pending Reqs',
    prom: { name: `${P}queue_pending_requests`, type: 'gauge' } },
  { path: 'queue.pending_responses', type: 'number', unit: 'responses', help: 'answers waiting for the AIO thread', seed: 'Pending Resp',
    prom: { name: `${P}queue_pending_responses`, type: 'gauge' } },
  { path: 'queue.pinned_bodies', type: 'number', unit: 'bodies', help: 'answer bodies and chunks Node keeps alive while the AIO thread sends them (no copy)',
    prom: { name: `${P}queue_pinned_bodies`, type: 'gauge' } },
  { path: 'queue.streaming_answers', type: 'number', unit: 'answers', help: 'streaming answers whose final chunk has not gone yet',
    prom: { name: `${P}queue_streaming_answers`, type: 'gauge' } },
  ...bpState('queue', 'queue', 'the request queue\'s backpressure state (docs/design.md §13): PRESSURE from tracePressurePct of queueCapacity, DROPPING while requests wait for room (503 after requestTimeoutMs), RECOVERY below traceRecoveryPct until traceStabilityMs pass',
    'the request queue', 'the request queue'),
  ...bpState('sse', 'sse', 'the diagnostics stream\'s backpressure state (docs/design.md §13): PRESSURE while a stream still sends its previous snapshot, DROPPING when one skipped a snapshot, RECOVERY once all caught up until traceStabilityMs pass; with no stream open it settles to NORMAL',
    'the diagnostics stream', 'the diagnostics stream'),
  { path: 'ready.ready', type: 'number', unit: '0 | 1', help: '1 while /ready answers 200: not draining, the watermark not critical, a connection slot free (docs/design.md §14)',
    prom: { name: `${P}ready`, type: 'gauge' } },
  { path: 'ready.draining', type: 'number', unit: '0 | 1', help: '1 once drain() began (SIGTERM in the CLI)',
    prom: { name: `${P}draining`, type: 'gauge' } },
  { path: 'servers', type: 'array', unit: '', help: 'one entry per listening server' },
  { path: 'servers[].id', type: 'number', unit: '', help: "the server's id in its system" },
  { path: 'servers[].key', type: 'string', unit: '', help: '"host:port", the Prometheus label `server`' },
  { path: 'servers[].host', type: 'string', unit: '', help: 'the address it listens on' },
  { path: 'servers[].port', type: 'number', unit: '', help: 'the port it listens on' },
  { path: 'servers[].uptime_seconds', type: 'number', unit: 's', help: 'since it began listening',
    prom: { name: `${P}server_uptime_seconds`, type: 'gauge' } },
  { path: 'servers[].handler_answered', type: 'number', unit: 'count', help: 'valid answers from the JavaScript handler (debug routes included)',
    prom: { name: `${P}handler_answered_total`, type: 'counter' } },
  { path: 'servers[].handler_errors', type: 'number', unit: 'count', help: 'handler throws, rejections and invalid answers (each a 500)',
    prom: { name: `${P}handler_errors_total`, type: 'counter' } },
  { path: 'servers[].handler_timeouts', type: 'number', unit: 'count', help: 'handlers cut off at handlerTimeoutMs (each a 504)',
    prom: { name: `${P}handler_timeouts_total`, type: 'counter' } },
  { path: 'servers[].latency', type: 'object', unit: 's', seed: 'Latency: Avg Response, Request Count, Total Time',
    help: 'request latency histogram: first HEADERS frame in -> last response frame out (streams closed with NO_ERROR): bounds_seconds, counts (non-cumulative, last = +Inf), count, sum_seconds, avg_ms' },
];

/** Runtime fields: lib/runtime.ts measures them (the Node process: heap, GC, event loop; docs/design.md §9 Metrics). */
const RUNTIME_FIELDS: readonly MetricField[] = [
  { path: 'runtime.uptime_seconds', type: 'number', unit: 's', help: "the Node process's uptime",
    prom: { name: `${P}nodejs_uptime_seconds`, type: 'gauge' } },
  { path: 'runtime.heap_used_bytes', type: 'number', unit: 'bytes', help: 'V8 heap in use', seed: 'Heap Memory: Used',
    prom: { name: `${P}nodejs_heap_used_bytes`, type: 'gauge' } },
  { path: 'runtime.heap_total_bytes', type: 'number', unit: 'bytes', help: 'V8 heap reserved', seed: 'Heap Memory: Total',
    prom: { name: `${P}nodejs_heap_total_bytes`, type: 'gauge' } },
  { path: 'runtime.heap_limit_bytes', type: 'number', unit: 'bytes', help: "V8's heap size limit",
    prom: { name: `${P}nodejs_heap_limit_bytes`, type: 'gauge' } },
  { path: 'runtime.heap_utilization', type: 'number', unit: 'ratio', help: 'heap used / total', seed: 'Heap Memory: Utilization' },
  { path: 'runtime.rss_bytes', type: 'number', unit: 'bytes', help: 'resident set size of the process',
    prom: { name: `${P}nodejs_rss_bytes`, type: 'gauge' } },
  { path: 'runtime.external_bytes', type: 'number', unit: 'bytes', help: 'memory of C++ objects bound to JavaScript',
    prom: { name: `${P}nodejs_external_bytes`, type: 'gauge' } },
  { path: 'runtime.array_buffers_bytes', type: 'number', unit: 'bytes', help: 'ArrayBuffer and Buffer memory' },
  { path: 'runtime.gc.count', type: 'number', unit: 'count', help: 'GC runs since the first system started', seed: 'GC Cycles: Total',
    prom: { name: `${P}nodejs_gc_runs_total`, type: 'counter' } },
  { path: 'runtime.gc.pause_seconds_total', type: 'number', unit: 's', help: 'time spent in those GC runs', seed: 'GC Cycles: Pause times',
    prom: { name: `${P}nodejs_gc_pause_seconds_total`, type: 'counter' } },
  { path: 'runtime.gc.pause_max_ms', type: 'number', unit: 'ms', help: 'the longest GC pause' },
  { path: 'runtime.gc.major', type: 'number', unit: 'count', help: 'mark-sweep-compact runs' },
  { path: 'runtime.gc.minor', type: 'number', unit: 'count', help: 'scavenges' },
  { path: 'runtime.gc.incremental', type: 'number', unit: 'count', help: 'incremental marking steps' },
  { path: 'runtime.gc.weakcb', type: 'number', unit: 'count', help: 'weak callback processing runs' },
  { path: 'runtime.event_loop.delay_p50_ms', type: 'number', unit: 'ms', help: "Node's event-loop delay beyond its 10 ms sampling timer, median over the last window (10 s)",
    prom: { name: `${P}nodejs_eventloop_delay_p50_seconds`, type: 'gauge', scale: 1e-3 } },
  { path: 'runtime.event_loop.delay_p99_ms', type: 'number', unit: 'ms', help: "Node's event-loop delay, 99th percentile over the last window",
    prom: { name: `${P}nodejs_eventloop_delay_p99_seconds`, type: 'gauge', scale: 1e-3 } },
  { path: 'runtime.event_loop.delay_max_ms', type: 'number', unit: 'ms', help: 'the longest event-loop delay in the last window',
    prom: { name: `${P}nodejs_eventloop_delay_max_seconds`, type: 'gauge', scale: 1e-3 } },
  { path: 'runtime.event_loop.delay_mean_ms', type: 'number', unit: 'ms', help: 'the mean event-loop delay in the last window' },
  { path: 'runtime.event_loop.utilization', type: 'number', unit: 'ratio', help: "Node's event-loop utilization over the last window",
    prom: { name: `${P}nodejs_eventloop_utilization_ratio`, type: 'gauge' } },
  { path: 'runtime.event_loop.window_seconds', type: 'number', unit: 's', help: 'how long a stretch the delay and utilization figures cover' },
  { path: 'runtime.event_loop.windows_completed', type: 'number', unit: 'count', help: 'windows finished since the monitor started (0: the figures are from the current, partial window)' },
  { path: 'runtime.event_loop.active_seconds_total', type: 'number', unit: 's', help: 'time the event loop was busy',
    prom: { name: `${P}nodejs_eventloop_active_seconds_total`, type: 'counter' } },
  { path: 'runtime.event_loop.idle_seconds_total', type: 'number', unit: 's', help: 'time the event loop was idle',
    prom: { name: `${P}nodejs_eventloop_idle_seconds_total`, type: 'counter' } },
];

/** The dashboard's labels for the C lists' metrics, where they differ from the name. */
const ALSO_CALLED: Readonly<Record<string, string>> = {
  connections_active: 'Connections: Active',
  connections_total: 'Connections: Total',
  connections_failed: 'Connections: Failed',
  connections_rejected: 'Rejected (Limit)',
  connections_rejected_load: 'Rejected (Load)',
  streams_active: 'Streams: Active',
  streams_total: 'Streams: Total',
  requests_total: 'HTTP Requests: Total',
  responses_2xx: 'HTTP Requests: 2xx',
  responses_4xx: 'HTTP Requests: 4xx',
  responses_5xx: 'HTTP Requests: 5xx',
  requests_h2: 'HTTP Requests: over HTTP/2',
  requests_http1: 'HTTP Requests: over HTTP/1.x',
  bytes_sent: 'Traffic: Sent',
  bytes_received: 'Traffic: Received',
  iterations: 'Event Loop: Iterations',
  events: 'Event Loop: Events',
  idle_ns: 'Event Loop: Idle Time',
};

/** A counter's Prometheus name: the prefix, and _total once. */
function counterName(base: string): string {
  return base.endsWith('_total') ? base : `${base}_total`;
}

/** Fields generated from csrc/valk_metrics.h's lists (names, kinds and help from the addon). */
function catalogueFields(catalogue: readonly NativeMetricDesc[]): MetricField[] {
  const out: MetricField[] = [];
  for (const d of catalogue) {
    const seed = ALSO_CALLED[d.name];
    const name = d.name.replace(/_ns$/, '_seconds'); // Prometheus wants base units
    const base = d.scope === 'loop' ? `${P}loop_${name}` : `${P}${name}`;
    const prom: PromSpec = {
      name: d.kind === 'counter' ? counterName(base) : base,
      type: d.kind,
      scale: d.name.endsWith('_ns') ? 1e-9 : undefined,
    };
    const unit = d.name.startsWith('bytes_') || d.name.includes('_bytes') || d.name.endsWith('_peak') ? 'bytes'
      : d.name.endsWith('_ns') ? 'ns' : 'count';
    if (d.scope === 'server') {
      out.push({ path: `system.${d.name}`, type: 'number', unit, help: `${d.help} (every server)`, seed });
      out.push({ path: `servers[].${d.name}`, type: 'number', unit, help: d.help, prom });
    } else if (d.scope === 'system') {
      out.push({ path: `system.${d.name}`, type: 'number', unit, help: d.help, seed, prom });
    } else {
      out.push({ path: `loop.${d.name}`, type: 'number', unit, help: d.help, seed, prom });
    }
  }
  return out;
}

let allFields: readonly MetricField[] | undefined;

/** Every documented field of sys.metrics(), in document order. */
export function metricFields(): readonly MetricField[] {
  if (!allFields) {
    const c = catalogueFields(native().constants.metricsCatalogue);
    const under = (list: readonly MetricField[], prefix: string) => list.filter((f) => f.path.startsWith(prefix));
    const top = FIELDS.filter((f) => !f.path.startsWith('servers'));
    allFields = Object.freeze([
      ...top, ...under(c, 'system.'), ...under(c, 'loop.'), ...under(FIELDS, 'servers'), ...under(c, 'servers[].'),
      ...RUNTIME_FIELDS,
    ]);
  }
  return allFields;
}

function latency(raw: { counts: number[]; sum_us: number }, boundsUs: readonly number[]): LatencyHistogram {
  const count = raw.counts.reduce((a, b) => a + b, 0);
  return {
    bounds_seconds: boundsUs.map((us) => us / 1e6),
    counts: raw.counts.slice(),
    count,
    sum_seconds: raw.sum_us / 1e6,
    avg_ms: count > 0 ? raw.sum_us / count / 1000 : 0,
  };
}

/** What Node's side knows of a server: its address and its handler's counters. */
export interface KnownServer {
  readonly host: string;
  readonly counters: HandlerCounters;
}

/**
 * The documented object from the addon's numbers, what Node knows of each
 * server (by id; missing only while a server is being closed) and the runtime's.
 */
export function assembleMetrics(m: NativeMetrics, known: ReadonlyMap<number, KnownServer>, runtime: RuntimeMetrics,
  draining = false, clients: readonly ClientMetrics[] = []): AioMetrics {
  const bounds = native().constants.latencyBoundsUs;
  const tcp = m.pools.tcp_buffers;
  const servers = m.servers.map((s): ServerMetrics => {
    const k = known.get(s.id);
    const host = k?.host ?? '';
    const c = k?.counters ?? { handled: 0, errors: 0, timeouts: 0 };
    return {
      ...s, key: `${host}:${s.port}`, host, latency: latency(s.latency, bounds),
      handler_answered: c.handled, handler_errors: c.errors, handler_timeouts: c.timeouts,
    } as ServerMetrics;
  });
  const { server_count, ...rest } = m;
  const out: AioMetrics = {
    schema_version: METRICS_SCHEMA_VERSION,
    timestamp_ms: Date.now(),
    ...rest,
    resources: { servers: server_count, clients: clients.filter((c) => c.connected === 1).length, handles: m.loop.handles_active ?? 0 },
    pools: { ...m.pools, tcp_buffers: { ...tcp, utilization_pct: tcp.total > 0 ? (tcp.used / tcp.total) * 100 : 0 } },
    servers,
    clients: clients.slice(),
    runtime,
    ready: { ready: 0, draining: draining ? 1 : 0 },
  };
  out.ready.ready = readinessOf(out, draining).ready ? 1 : 0;
  return out;
}

/** The value at a dotted path (no "[]"). */
function at(obj: unknown, path: string): unknown {
  let cur: unknown = obj;
  for (const k of path.split('.')) cur = cur === null || typeof cur !== 'object' ? undefined : (cur as Record<string, unknown>)[k];
  return cur;
}

/** The samples of one field: one per server for "servers[].x", else one. */
function fieldSamples(f: MetricField, spec: PromSpec, m: AioMetrics): PromSample[] {
  const scale = spec.scale ?? 1;
  const label: PromLabels = spec.label ? { [spec.label[0]]: spec.label[1] } : {};
  if (f.path.startsWith('servers[].')) {
    const k = f.path.slice('servers[].'.length);
    return m.servers.map((s) => ({ labels: { server: s.key, ...label }, value: Number(s[k]) * scale }));
  }
  const v = at(m, f.path);
  if (spec.values) return spec.values.map((x) => ({ labels: { [f.path.split('.').pop()!]: x }, value: v === x ? 1 : 0 }));
  return [{ labels: label, value: Number(v) * scale }];
}

function latencyFamily(m: AioMetrics): PromFamily {
  const samples: PromHistogramSample[] = m.servers.map((s) => ({
    labels: { server: s.key },
    bounds: s.latency.bounds_seconds,
    counts: s.latency.counts,
    sum: s.latency.sum_seconds,
  }));
  return {
    name: `${P}request_duration_seconds`,
    help: 'request latency: first HEADERS frame in -> last response frame out, by server',
    type: 'histogram',
    samples,
  };
}

/** sys.metrics() as Prometheus text exposition (version 0.0.4). */
export function toPrometheus(m: AioMetrics): string {
  const families = new Map<string, PromFamily>();
  for (const f of metricFields()) {
    if (!f.prom) continue;
    const spec = f.prom;
    let fam = families.get(spec.name);
    if (!fam) {
      fam = { name: spec.name, help: spec.familyHelp ?? f.help, type: spec.type, samples: [] };
      families.set(spec.name, fam);
    }
    (fam.samples as PromSample[]).push(...fieldSamples(f, spec, m));
  }
  return renderPrometheus([...families.values(), latencyFamily(m)]);
}

function cell(s: string): string {
  return s.replace(/\|/g, '\\|');
}

/** docs/metrics.md, generated from the same table (npm run docs:metrics). */
export function metricsMarkdown(): string {
  const lines = [
    '# Metrics',
    '',
    '<!-- Generated by `npm run docs:metrics` from lib/metrics.ts and csrc/valk_metrics.h. Do not edit. -->',
    '',
    `\`sys.metrics()\` returns one JSON object (schema version ${METRICS_SCHEMA_VERSION}); \`GET /debug/metrics\` serves the same`,
    'object and `GET /debug/metrics/prometheus` its Prometheus text (`sys.prometheus()`), when the server listens',
    'with `debug: true` (CLI: on by default on loopback, `--debug` / `--no-debug`). `GET /health` answers',
    '`{"status":"ok",...}`.',
    '',
    'Fields are never renamed or removed within a schema version; new fields may appear. Counters only grow',
    "(per server: from the server's start). `servers[].x` is each element of `servers`; every per-server",
    'metric also appears summed over the servers in `system`. In Prometheus, per-server series carry the label',
    '`server="host:port"`, pools the label `pool`, counters end in `_total` and units are seconds and bytes.',
    '',
    '| Field | Type | Unit | Meaning | Also called | Prometheus |',
    '|---|---|---|---|---|---|',
  ];
  for (const f of metricFields()) {
    const prom = f.prom ? `\`${f.prom.name}\`${f.prom.label ? ` {${f.prom.label[0]}="${f.prom.label[1]}"}` : ''}` : '';
    lines.push(`| \`${f.path}\` | ${f.type} | ${cell(f.unit)} | ${cell(f.help)} | ${cell(f.seed ?? '')} | ${prom} |`);
  }
  lines.push(
    '',
    'The latency histogram is the Prometheus family `valk_aio_request_duration_seconds` (label `server`), with',
    `buckets at ${native().constants.latencyBoundsUs.map((us) => `${us / 1e6}`).join(', ')} seconds and +Inf.`,
    '',
  );
  return lines.join('\n');
}
