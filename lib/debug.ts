// The built-in debug routes a server answers when it listens with
// `debug: true`: the memory diagnostics stream (SSE_PATHS, answered in C),
// /debug/metrics (sys.metrics() as JSON: the C system, its
// servers and the Node runtime merged into one object; docs/design.md
// §9 Metrics), /debug/metrics/prometheus (the same as Prometheus text),
// /debug/events (the newest lifecycle events, for the dashboard's log:
// docs/design.md §13), /ready (readiness for a load balancer: 503 with the
// reasons while draining, the watermark critical or the slab full; docs/design.md
// §14) and /health (liveness: 200 while the process serves). The C side sends these paths to JavaScript (VALK_ROUTE_JS routes);
// they are answered here before the user's handler sees anything.
//
// Thread: Node's main thread.
import type { Handler, Request, Response } from './handler';
import { PROMETHEUS_CONTENT_TYPE } from './prometheus';
import type { AioMetrics } from './metrics';
import { eventKinds, type EventLog } from './events';
import type { Readiness } from './readiness';

/** What the debug routes read: the system serving them. */
export interface DebugSource {
  metrics(): AioMetrics;
  prometheus(): string;
  /** The dashboard's event log (recording while it is asked). */
  eventLog(): EventLog;
  /** What /ready answers (docs/design.md §14). */
  readiness(): Readiness;
}

const NO_STORE = { 'cache-control': 'no-store' };

type Route = (src: DebugSource, req: Request) => Response;

/** Most events one /debug/events answer carries (?limit=, default). */
const EVENTS_LIMIT = 200;

/** The AIO loop's clock (CLOCK_MONOTONIC, ms): what event times are read against. */
function monotonicMs(): number {
  return Number(process.hrtime.bigint() / 1_000_000n);
}

/**
 * /debug/events?after=SEQ&kind=a,b&limit=N: the log's events with a seq after
 * SEQ (of those kinds), oldest first, the newest N; each with `time`, its wall
 * clock time. The first ask starts the log (it holds what came since). The log
 * records only the kinds asked for in the last 10 s: without `kind`, every
 * kind; `kind=` (empty), none (an ask for the catalog alone).
 */
function eventsRoute(src: DebugSource, req: Request): Response {
  const q = req.query;
  const after = Math.max(0, Number(q.get('after') ?? 0) || 0);
  const limit = Math.min(EVENTS_LIMIT, Math.max(1, Number(q.get('limit') ?? EVENTS_LIMIT) || EVENTS_LIMIT));
  const kind = q.get('kind');
  const kinds = kind === null ? undefined : new Set(kind.split(',').filter(Boolean));
  const log = src.eventLog();
  const { seq, events } = log.read(after, kinds, limit);
  const wall = Date.now(), mono = monotonicMs();
  const m = src.metrics().events;
  const body = {
    seq,
    ring: { state: m.state, events_dropped: m.events_dropped },
    kinds: eventKinds(),
    events: events.map((e) => ({ ...e, time: new Date(wall - (mono - e.ts)).toISOString() })),
  };
  return { status: 200, headers: { 'content-type': 'application/json', ...NO_STORE }, body: JSON.stringify(body) };
}

const ROUTES: Readonly<Record<string, Route>> = {
  '/debug/metrics': (src) => ({
    status: 200,
    headers: { 'content-type': 'application/json', ...NO_STORE },
    body: JSON.stringify(src.metrics()),
  }),
  '/debug/metrics/prometheus': (src) => ({
    status: 200,
    headers: { 'content-type': PROMETHEUS_CONTENT_TYPE, ...NO_STORE },
    body: src.prometheus(),
  }),
  '/debug/events': eventsRoute,
  '/ready': (src) => {
    const r = src.readiness();
    const m = src.metrics();
    const body = {
      status: r.ready ? 'ready' : 'not_ready',
      reasons: r.reasons,
      watermark: m.watermark.state,
      connections: { active: m.connections.active, max: m.connections.max },
    };
    return { status: r.ready ? 200 : 503, headers: { 'content-type': 'application/json', ...NO_STORE }, body: JSON.stringify(body) };
  },
  '/health': (src) => {
    const m = src.metrics();
    const body = {
      status: 'ok',
      uptime_seconds: m.uptime_seconds,
      watermark: m.watermark.state,
      connections: { active: m.connections.active, max: m.connections.max },
    };
    return { status: 200, headers: { 'content-type': 'application/json', ...NO_STORE }, body: JSON.stringify(body) };
  },
};

/** The debug paths answered by JavaScript, in the order they are registered with the C route table. */
export const DEBUG_PATHS: readonly string[] = Object.keys(ROUTES);

/**
 * The memory diagnostics stream (Server-Sent Events, csrc/valk_sse.c),
 * answered on the AIO thread (docs/design.md §8 Diagnostics snapshot and wire
 * format): its path, and the older name it also answers to.
 */
export const SSE_PATHS: readonly string[] = ['/debug/diagnostics/memory', '/api/diagnostics/memory/stream'];

/**
 * handler with the debug routes in front (paths the user's own static routes
 * take are theirs). GET and HEAD only; other methods get 405.
 */
export function withDebugRoutes(src: DebugSource, handler: Handler): Handler {
  return (req: Request) => {
    const route = ROUTES[req.path];
    if (route === undefined) return handler(req);
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      return { status: 405, headers: { allow: 'GET, HEAD' }, body: 'method not allowed\n' };
    }
    return route(src, req);
  };
}
