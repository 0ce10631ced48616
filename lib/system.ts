// The programmatic API: startWithConfig() -> AioSystem -> listen() -> AioServer.
//
// user config -> resolveConfig() (lib/config.ts) -> toNativeConfig(): NativeSystemConfig
// -> the C core. Thread: Node's main thread. Each AioSystem owns one AIO
// thread with its own uv loop; results come back through the binding's
// uv_async_t, never by touching V8 from another thread.
import {
  ResolvedConfig,
  ResolvedServerConfig,
  ServerConfig,
  SystemConfig,
  configWarningList,
  resolveConfig,
  resolveServerConfig,
  toNativeConfig,
} from './config';
import { EventEmitter } from 'node:events';
import { valkError } from './errors';
import { Handler, HandlerCounters, HandlerDispatcher, HandlerTarget } from './handler';
import { FetchHandler, RequestListener, oneHandler } from './adapters';
import { NativeRoute, NativeStats, NativeStopReport, NativeSystem, native } from './native';
import { RouteSpec, toNativeRoute } from './routes';
import { DEBUG_PATHS, SSE_PATHS, withDebugRoutes } from './debug';
import { dashboardRoutes } from './dashboard';
import { AioMetrics, assembleMetrics, toPrometheus } from './metrics';
import { RuntimeMonitor, acquireRuntimeMonitor, releaseRuntimeMonitor } from './runtime';
import { AioClient, ConnectOptions, resolveConnectOptions } from './client';
import { AioEvent, EventBatch, EventBatchReader, EventHub, EventLog, EventReader, encodeEvents } from './events';
import { DrainReport, DrainStep, Readiness, readinessOf } from './readiness';

export type { RouteSpec } from './routes';

export interface ListenOptions extends ServerConfig {
  /** Address to bind (IPv4 or IPv6 literal). Default 127.0.0.1. */
  host?: string;
  /** Port; 0 picks a free one (read it back from server.port). Default 8443, 8080 with tls: false. */
  port?: number;
  /**
   * false: a cleartext listener, no key or cert: HTTP/1.1, and HTTP/2 with prior knowledge
   * (h2c, as `curl --http2-prior-knowledge` and `h2load http://...` speak it), on one port
   * (docs/design.md §12). Default true: TLS with ALPN h2, then http/1.1.
   */
  tls?: boolean;
  /** PEM private key (required unless tls is false). */
  key?: string | Buffer;
  /** PEM certificate chain, leaf first (required unless tls is false). */
  cert?: string | Buffer;
  /** path -> static response, answered on the AIO thread; routes come first. */
  routes?: Record<string, RouteSpec>;
  /** Answers every path without a route (without one: 404). Runs on Node's main thread. */
  handler?: Handler;
  /**
   * Instead of handler: a WHATWG fetch handler (a Request in, a Response out:
   * Hono's `app.fetch`), bodies streaming both ways, request.signal aborted
   * when the stream dies (lib/fetch-adapter.ts, docs/api.md).
   */
  fetch?: FetchHandler;
  /**
   * Instead of handler: a Node `(req, res)` listener (an Express app), with
   * the semantics of Node's http2 compatibility API (lib/node-adapter.ts, docs/api.md).
   */
  requestListener?: RequestListener;
  /**
   * Serves /debug/metrics (JSON), /debug/metrics/prometheus and /health, on
   * Node's main thread (paths your routes take stay yours). Default false;
   * the CLI turns it on for loopback hosts.
   */
  debug?: boolean;
}

/** What listenAdmin() takes: a loopback address and the TLS pair. */
export interface AdminListenOptions {
  /** A loopback address (127.0.0.0/8 or ::1). Default 127.0.0.1. */
  host?: string;
  /** Port; 0 picks a free one. */
  port: number;
  key: string | Buffer;
  cert: string | Buffer;
}

/** Whether host is a loopback address (127.0.0.0/8, ::1, localhost). */
export function isLoopback(host: string): boolean {
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host) || host === '::1' || host === 'localhost';
}

export interface StopReport extends NativeStopReport {}

const DEFAULT_HOST = '127.0.0.1';
const DEFAULT_PORT = 8443;
const DEFAULT_PLAIN_PORT = 8080;

function stoppedError(what: string): Error {
  return valkError('VALK_ESTOPPED', `valk-aio: ${what}: this system is stopped`);
}

const notFound: Handler = () => ({ status: 404, body: 'not found\n' });

/** Route statuses the C table reads as "answered by JavaScript" / "the SSE stream" (csrc/valk_route.h). */
const ROUTE_JS = 0;
const ROUTE_SSE = 1;

/** The debug paths the user's routes leave free, as routes for JavaScript or for the SSE stream. */
function debugRoutes(routes: Record<string, RouteSpec>): NativeRoute[] {
  const free = (paths: readonly string[], status: number) =>
    paths.filter((p) => !(p in routes)).map((path) => ({ path, status, headers: [], body: Buffer.alloc(0) }));
  return [...free(DEBUG_PATHS, ROUTE_JS), ...free(SSE_PATHS, ROUTE_SSE)];
}

/** The dashboard's files as static routes, except paths the user's routes take. */
function dashboard(routes: Record<string, RouteSpec>, limit: number): NativeRoute[] {
  return Object.entries(dashboardRoutes()).filter(([p]) => !(p in routes)).map(([p, r]) => toNativeRoute(p, r, limit));
}

/** How often Node's runtime figures are handed to the AIO thread for the diagnostics snapshot. */
const RUNTIME_PUSH_MS = 1000;
/** Closed clients metrics().clients[] still lists (connected 0), newest kept: the http_clients pool has 16 slots. */
const MAX_CLOSED_CLIENTS = 16;

function checkAddress(host: unknown, port: unknown): void {
  if (typeof host !== 'string' || host === '') throw new TypeError('valk-aio: listen: host must be an IP address string');
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new RangeError(`valk-aio: listen: port ${String(port)} is not an integer from 0 to 65535`);
  }
}

function pem(value: unknown, name: string): string {
  if (typeof value === 'string' && value.length > 0) return value;
  if (Buffer.isBuffer(value) && value.length > 0) return value.toString('utf8');
  throw new TypeError(`valk-aio: listen: ${name} must be a PEM string or Buffer`);
}

/**
 * One listening HTTP/2 server on a system's AIO thread. Emits 'error' when its
 * handler throws, rejects or answers something invalid (the client got a 500);
 * without an 'error' listener the error is written to stderr instead.
 */
export class AioServer extends EventEmitter implements HandlerTarget {
  private closing?: Promise<void>;
  /** @internal */
  readonly counters: HandlerCounters = { handled: 0, errors: 0, timeouts: 0 };

  /** @internal */
  constructor(
    private readonly system: AioSystem,
    /** The system-local id of this server. */
    readonly id: number,
    readonly host: string,
    /** The bound port (the real one when listen() asked for 0). */
    readonly port: number,
    /** The per-server limits in force. */
    readonly config: ResolvedServerConfig,
    /** @internal */
    readonly handler: Handler,
    /** false: a cleartext listener (HTTP/2 with prior knowledge). */
    readonly tls: boolean = true,
    /** The admin listener (listenAdmin()): it stays open until a drain's last step. */
    readonly admin: boolean = false,
  ) {
    super();
  }

  /** Where clients reach it: https://host:port/ (http:// for a cleartext listener). */
  get url(): string {
    return `${this.tls ? 'https' : 'http'}://${this.host.includes(':') ? `[${this.host}]` : this.host}:${this.port}/`;
  }

  /** @internal */
  get maxResponseBodySize(): number {
    return this.config.maxResponseBodySize;
  }

  /** @internal */
  get maxRequestBodySize(): number {
    return this.system.config.maxRequestBodySize;
  }

  /** @internal */
  get streamBodies(): boolean {
    return this.config.requestBodies === 'stream';
  }

  /** @internal */
  get handlerTimeoutMs(): number {
    return this.config.handlerTimeoutMs;
  }

  /** @internal */
  fail(err: Error): void {
    if (this.listenerCount('error') > 0) this.emit('error', err);
    else process.stderr.write(`valk-aio: handler on ${this.host}:${this.port}: ${err.stack ?? err.message}\n`);
  }

  /** True once close() has been called or the system stopped. */
  get closed(): boolean {
    return this.closing !== undefined || !this.system.running;
  }

  /**
   * Stops accepting, sends GOAWAY to every connection, waits for their streams
   * (at most the system's drainTimeoutMs), closes them. Idempotent.
   */
  close(): Promise<void> {
    if (!this.closing) this.closing = this.system._closeServer(this);
    return this.closing;
  }
}

/** One AIO system: a C thread running its own event loop, with pools sized from config. */
export class AioSystem {
  /** The resolved configuration in force (frozen). */
  readonly config: ResolvedConfig;
  private handle: NativeSystem | undefined;
  private stopping?: Promise<StopReport>;
  private readonly servers = new Map<number, AioServer>();
  private dispatcher?: HandlerDispatcher;
  private runtime?: RuntimeMonitor;
  private pusher?: NodeJS.Timeout;
  private log?: EventLog;
  private drained?: Promise<DrainReport>;
  private readonly clients = new Set<AioClient>();
  /** The clients closed most recently, newest last: metrics().clients[] keeps showing them (connected 0). At most MAX_CLOSED_CLIENTS. */
  private readonly closedClients: AioClient[] = [];

  /** @internal Use startWithConfig(). */
  constructor(config: ResolvedConfig) {
    this.config = config;
    this.handle = native().createSystem(toNativeConfig(config));
    this.runtime = acquireRuntimeMonitor();
    const warnings = configWarningList(config).map((w) => ({ kind: 'config_warning', reason: w.reason, a: w.value, b: w.against }));
    EventHub.of(() => this.handle).setGreeting(encodeEvents(warnings));
  }

  /** Hands Node's runtime figures to the AIO thread (for the SSE snapshot) now and every second. */
  private startRuntimePush(): void {
    if (this.pusher) return;
    const push = () => {
      const r = this.runtime?.read();
      if (!r || !this.handle) return;
      this.handle.pushRuntime({
        heap_used: r.heap_used_bytes, heap_total: r.heap_total_bytes, rss: r.rss_bytes, external: r.external_bytes,
        gc_count: r.gc.count, gc_pause_us: r.gc.pause_seconds_total * 1e6,
        loop_delay_us: r.event_loop.delay_p99_ms * 1000, loop_utilization_ppm: r.event_loop.utilization * 1e6,
        updated_ms: Date.now(),
      });
    };
    push();
    this.pusher = setInterval(push, RUNTIME_PUSH_MS);
    this.pusher.unref();
  }

  /** False once stop() has been called. */
  get running(): boolean {
    return this.handle !== undefined && this.stopping === undefined;
  }

  /** Binds host:port and serves HTTP/2 over TLS (ALPN h2) with the given routes. */
  listen(options: ListenOptions): Promise<AioServer> {
    return this.bind(options, false);
  }

  /**
   * The admin listener: the debug routes, the dashboard (/debug/) and /health
   * on a loopback address, with its own connection slab of
   * adminMaxConnections, outside maxConnections and the load-shedding checks,
   * so an operator reaches it while the server is full. No other routes.
   */
  async listenAdmin(options: AdminListenOptions): Promise<AioServer> {
    const { host = DEFAULT_HOST, port, key, cert, ...rest } = options;
    if (Object.keys(rest).length > 0) throw new TypeError(`valk-aio: listenAdmin: unknown option '${Object.keys(rest)[0]}'`);
    if (typeof host !== 'string' || !isLoopback(host)) {
      throw new RangeError(`valk-aio: listenAdmin: host ${String(host)} is not a loopback address (127.0.0.0/8, ::1, localhost): ` +
        'the admin listener has no authentication');
    }
    return this.bind({ host: host === 'localhost' ? '127.0.0.1' : host, port, key, cert, debug: true }, true);
  }

  private bind(options: ListenOptions, admin: boolean): Promise<AioServer> {
    return new Promise((resolve, reject) => {
      const handle = this.liveHandle(admin ? 'listenAdmin' : 'listen');
      const { host = DEFAULT_HOST, port: givenPort, tls = true, key, cert, routes = {}, handler: given, fetch, requestListener,
        debug = false, ...limits } = options;
      const handler = oneHandler(given, fetch, requestListener);
      if (typeof tls !== 'boolean') throw new TypeError('valk-aio: listen: tls must be a boolean');
      if (!tls && (key !== undefined || cert !== undefined)) {
        throw new TypeError('valk-aio: listen: key and cert are for TLS: leave them out with tls: false');
      }
      const port = givenPort ?? (tls ? DEFAULT_PORT : DEFAULT_PLAIN_PORT);
      checkAddress(host, port);
      if (handler !== undefined && typeof handler !== 'function') throw new TypeError('valk-aio: listen: handler must be a function');
      if (typeof debug !== 'boolean') throw new TypeError('valk-aio: listen: debug must be a boolean');
      if (handler || debug) this.dispatcher ??= new HandlerDispatcher(handle, (id) => this.servers.get(id));
      const server = resolveServerConfig(limits);
      const nativeRoutes = Object.entries(routes).map(([p, r]) => toNativeRoute(p, r, server.maxResponseBodySize));
      if (debug) nativeRoutes.push(...debugRoutes(routes), ...dashboard(routes, server.maxResponseBodySize));
      const answer = debug ? withDebugRoutes(this, handler ?? notFound) : handler ?? notFound;
      handle.listen({
        host, port, tls, key: tls ? pem(key, 'key') : '', cert: tls ? pem(cert, 'cert') : '', routes: nativeRoutes,
        maxResponseBodySize: server.maxResponseBodySize,
        error503Body: Buffer.from(server.error503Body, 'utf8'),
        hasHandler: handler !== undefined,
        admin,
        streamBodies: server.requestBodies === 'stream',
      }, (err, info) => {
        if (err || !info) return reject(err ?? new Error('valk-aio: listen failed'));
        if (debug) this.startRuntimePush();
        const srv = new AioServer(this, info.id, host, info.port, server, answer, tls, admin);
        this.servers.set(srv.id, srv);
        resolve(srv);
      });
    });
  }

  /** True once drain() has begun: /ready answers 503 from then on. */
  get draining(): boolean {
    return this.drained !== undefined;
  }

  /**
   * Whether a load balancer should send this instance traffic (/ready,
   * docs/design.md §14): not while it drains, while the TCP buffer watermark is
   * critical, or while the connection slab is full.
   */
  readiness(): Readiness {
    if (!this.running) return { ready: false, reasons: ['stopped'] };
    return readinessOf(this.metrics(), this.draining);
  }

  /**
   * The rolling-restart stop (docs/design.md §14): /ready answers 503 at once;
   * after drainDelayMs (time for a load balancer to see it, the servers still
   * serving) every server stops accepting and sends the two-step GOAWAY;
   * requests in flight finish, for at most drainTimeoutMs, then the
   * connections left are closed and the system stops (the admin listener
   * last). onStep hears each step. Idempotent: later calls get the same promise.
   */
  drain(opts: { onStep?: (step: DrainStep) => void } = {}): Promise<DrainReport> {
    if (this.drained) return this.drained;
    this.liveHandle('drain');
    this.drained = this.runDrain(opts.onStep ?? (() => {}));
    return this.drained;
  }

  private async runDrain(onStep: (step: DrainStep) => void): Promise<DrainReport> {
    const t0 = Date.now();
    const before = this.metrics();
    const at = (name: DrainStep['step'], m: AioMetrics) => onStep({
      step: name, ms: Date.now() - t0, connections: m.connections.active, requests_in_flight: m.system.streams_active,
    });
    at('draining', before);
    if (this.config.drainDelayMs > 0) await new Promise((r) => setTimeout(r, this.config.drainDelayMs));
    const serving = [...this.servers.values()].filter((s) => !s.admin);
    const closing = this.metrics();
    at('closing', closing);
    await Promise.all(serving.map((s) => s.close()));
    const after = this.metrics();
    at('closed', after);
    const stopped = await this.stop();
    const report: DrainReport = {
      ms: Date.now() - t0,
      connections: closing.connections.active,
      requests_in_flight: closing.system.streams_active,
      forced: after.system.connections_drain_forced - before.system.connections_drain_forced,
      notices: after.system.goaway_notices - before.system.goaway_notices,
      stop: stopped,
    };
    onStep({ step: 'stopped', ms: report.ms, connections: 0, requests_in_flight: 0 });
    return report;
  }

  /**
   * Closes every server (GOAWAY, bounded drain), joins the AIO thread and frees
   * every pool. Resolves with the slab items not released (0 when healthy).
   * Idempotent: later calls get the same promise.
   */
  stop(): Promise<StopReport> {
    if (this.stopping) return this.stopping;
    const handle = this.liveHandle('stop');
    this.dispatcher?.stop(); // every request with JavaScript answered: the AIO thread can end
    this.log?.close();
    const stopping = new Promise<StopReport>((resolve, reject) => {
      clearInterval(this.pusher);
      this.pusher = undefined;
      handle.stop((err, report) => {
        this.handle = undefined;
        if (this.runtime) releaseRuntimeMonitor(this.runtime);
        this.runtime = undefined;
        this.servers.clear();
        if (err || !report) return reject(err ?? new Error('valk-aio: stop failed'));
        resolve(report);
      });
    });
    this.stopping = stopping;
    // Not handed over (the op ring was full): a later stop() may try again.
    stopping.catch(() => { if (this.handle) this.stopping = undefined; });
    return this.stopping;
  }

  /** metrics() flattened: every counter, conn_slab_* and tcp_buffers_* gauges, arenas_used, backpressure_list_size, servers. */
  stats(): NativeStats {
    const m = this.liveHandle('stats').metrics();
    const flat: NativeStats = { ...m.system };
    const pools = [['conn_slab', m.pools.connections], ['tcp_buffers', m.pools.tcp_buffers]] as const;
    for (const [prefix, pool] of pools) {
      for (const k of ['total', 'used', 'available', 'overflow'] as const) flat[`${prefix}_${k}`] = pool[k];
    }
    flat.arenas_used = m.pools.arenas.used;
    flat.backpressure_list_size = m.backpressure.list_size;
    flat.servers = m.servers.length;
    return flat;
  }

  /**
   * Every metric of the system as one JSON-ready object: counters summed over
   * servers (every refusal by reason), pools, watermark, backpressure, the
   * queues to JavaScript, the AIO loop, each server (with its latency
   * histogram) and the Node runtime. docs/metrics.md lists every field.
   * Cheap: atomic loads, no round trip to the AIO thread.
   */
  metrics(): AioMetrics {
    const raw = this.liveHandle('metrics').metrics();
    for (const c of this.clients) {
      if (!c.closed) continue;
      this.clients.delete(c);
      this.closedClients.push(c);
      if (this.closedClients.length > MAX_CLOSED_CLIENTS) this.closedClients.shift();
    }
    const clients = [...this.clients, ...this.closedClients].map((c) => c._metrics());
    return assembleMetrics(raw, this.servers, this.runtime!.read(), this.draining, clients);
  }

  /**
   * The AIO thread's lifecycle events (docs/design.md §13): connections
   * accepted, refused (with the reason), closed; streams opened, closed, reset;
   * GOAWAYs; watermark changes; SSE streams. Recording is on while at least
   * one reader is attached. A reader that stops reading costs dropped events
   * (metrics().events), never memory: `for await (const e of sys.events())`.
   */
  events(opts: { signal?: AbortSignal } = {}): AsyncIterableIterator<AioEvent> {
    this.liveHandle('events');
    return new EventReader(() => (this.stopping ? undefined : this.handle), opts.signal);
  }

  /**
   * events(), a batch at a time (one drain's worth): for readers of many events a second. A
   * batch decodes an event only when it is read (`at(i)`, iteration; `kindAt(i)` to filter).
   */
  eventBatches(opts: { signal?: AbortSignal } = {}): AsyncIterableIterator<EventBatch> {
    return new EventBatchReader(this.events(opts) as EventReader);
  }

  /** The dashboard's event log (/debug/events): made at first use, recording while asked. */
  eventLog(): EventLog {
    this.log ??= new EventLog(() => (this.stopping ? undefined : this.handle));
    return this.log;
  }

  /** metrics() as Prometheus text exposition (version 0.0.4), prefix valk_aio_. */
  prometheus(): string {
    return toPrometheus(this.metrics());
  }

  /**
   * Opens an HTTP/2 client connection (TLS, ALPN h2) on this system's AIO
   * thread. It takes a slot of the connection slab (maxConnections) and shows
   * in the diagnostics snapshot as owner "host:port". Resolves once HTTP/2 is
   * up; rejects on a refused connect, a TLS failure (the certificate does not
   * verify against ca or the system store) or a server without h2.
   */
  connect(options: ConnectOptions): Promise<AioClient> {
    return new Promise((resolve, reject) => {
      const handle = this.liveHandle('connect');
      const opts = resolveConnectOptions(options);
      handle.connect(opts, (err, info) => {
        if (err) err.message = `valk-aio: ${err.message}`;
        if (err || !info) return reject(err ?? new Error('valk-aio: connect failed'));
        const client = new AioClient(() => (this.running ? this.handle : undefined), info.id, opts.host, opts.port);
        this.clients.add(client);
        resolve(client);
      });
    });
  }

  /** @internal */
  _closeServer(srv: AioServer): Promise<void> {
    if (!this.running || this.servers.get(srv.id) !== srv) return Promise.resolve();
    const handle = this.liveHandle('close');
    return new Promise((resolve, reject) => {
      handle.closeServer(srv.id, (err) => {
        this.servers.delete(srv.id);
        if (err) reject(err);
        else resolve();
      });
    });
  }

  private liveHandle(what: string): NativeSystem {
    if (!this.handle || this.stopping) throw stoppedError(what);
    return this.handle;
  }
}

/**
 * Resolves and validates config (throws ConfigError, starting nothing), then
 * starts an AIO system: its pools are created and its thread is running when
 * this returns. Several systems may run in one process.
 */
export function startWithConfig(config?: SystemConfig | null): AioSystem {
  return new AioSystem(resolveConfig(config));
}

/** startWithConfig() with every default. */
export function start(): AioSystem {
  return startWithConfig();
}
