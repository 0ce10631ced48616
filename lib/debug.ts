// The built-in debug routes a server answers when it listens with
// `debug: true`: the memory diagnostics stream (SSE_PATHS, answered in C),
// /debug/metrics (sys.metrics() as JSON: the C system, its
// servers and the Node runtime merged into one object; docs/design.md
// §9 Metrics), /debug/metrics/prometheus (the same as Prometheus text) and
// /health. The C side sends these paths to JavaScript (VALK_ROUTE_JS routes);
// they are answered here before the user's handler sees anything.
//
// Thread: Node's main thread.
import type { Handler, Request, Response } from './handler';
import { PROMETHEUS_CONTENT_TYPE } from './prometheus';
import type { AioMetrics } from './metrics';

/** What the debug routes read: the system serving them. */
export interface DebugSource {
  metrics(): AioMetrics;
  prometheus(): string;
}

const NO_STORE = { 'cache-control': 'no-store' };

type Route = (src: DebugSource) => Response;

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
    return route(src);
  };
}
