// `valk-aio start`: resolve the configuration, find or make a TLS key pair,
// start the AIO system, listen, print where, and stop gracefully on SIGINT or
// SIGTERM. Everything that runs a server lives in lib/system; this file only
// wires flags to it.
import type { AioServer, AioSystem } from '../lib/system';
import type { DrainStep } from '../lib/readiness';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ServerConfig, SystemConfig, derivedFields, formatBytes, resolveConfig, resolveServerConfig } from '../lib/config';
import { CliIO, UsageError } from './io';
import { isLoopback } from '../lib/system';
export { isLoopback };
import { renderHuman, reportFor } from './report';
import { LogFormat, Logger, makeLogger } from './log';

/** The parsed flags of `valk-aio start`. */
export interface StartOptions {
  host: string;
  /** undefined: 8443, or 8080 with tls false. */
  port?: number;
  /** --no-tls: false (a cleartext listener: HTTP/2 with prior knowledge). Default true. */
  tls?: boolean;
  cert?: string;
  key?: string;
  /** Body of '/'. */
  body?: string;
  /** `<path>=<body>` entries from --route. */
  routes: string[];
  /** --debug / --no-debug; undefined: on when the host is loopback. */
  debug?: boolean;
  /** --admin-port; undefined: port + 1 (any free port when port is 0); 0: none. */
  adminPort?: number;
  /** --log-events: the lifecycle events as JSON lines on stdout. */
  logEvents?: boolean;
  /** --log-format: text (default) or json (every message a JSON line, cli/log.ts). */
  logFormat?: LogFormat;
  system: SystemConfig;
  server: ServerConfig;
}

/** One static route as listen() takes it. */
interface StaticRoute {
  status: number;
  headers: Record<string, string>;
  body: string;
}

const DEFAULT_BODY = 'hello from valk-aio\n';

function staticRoute(body: string): StaticRoute {
  return { status: 200, headers: { 'content-type': 'text/plain' }, body };
}

/** '/' plus every `--route <path>=<body>`; throws UsageError for a malformed entry. */
export function buildRoutes(body: string | undefined, entries: readonly string[]): Record<string, StaticRoute> {
  const routes: Record<string, StaticRoute> = { '/': staticRoute(body ?? DEFAULT_BODY) };
  for (const entry of entries) {
    const eq = entry.indexOf('=');
    const routePath = eq < 0 ? entry : entry.slice(0, eq);
    if (eq < 0 || !routePath.startsWith('/')) {
      throw new UsageError(`--route: ${JSON.stringify(entry)} is not <path>=<body> with a path starting with /`);
    }
    routes[routePath] = staticRoute(entry.slice(eq + 1));
  }
  return routes;
}

function readPem(flag: string, file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new UsageError(`${flag}: cannot read ${JSON.stringify(file)}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

/** A key pair, and the temp dir holding it when it was generated here. */
interface KeyPair {
  key: string;
  cert: string;
  generatedDir?: string;
}

/** The key pair from --key/--cert, or a fresh self-signed one for localhost written to a temp dir. */
async function keyPair(o: StartOptions, log: Logger): Promise<KeyPair> {
  if (o.key !== undefined && o.cert !== undefined) {
    return { key: readPem('--key', o.key), cert: readPem('--cert', o.cert) };
  }
  if (o.key !== undefined || o.cert !== undefined) {
    throw new UsageError(`${o.key !== undefined ? '--key' : '--cert'}: give --cert and --key together (or neither)`);
  }
  const { generateSelfSigned } = await import('../lib/tls');
  const pair = generateSelfSigned(['localhost', '127.0.0.1']);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'valk-aio-'));
  fs.writeFileSync(path.join(dir, 'key.pem'), pair.key, { mode: 0o600 });
  fs.writeFileSync(path.join(dir, 'cert.pem'), pair.cert);
  log.log('info', 'tls_generated',
    `no --cert/--key given: generated a self-signed certificate for localhost, 127.0.0.1 in ${dir} ` +
      '(key.pem, cert.pem; removed at stop)', { dir });
  return { ...pair, generatedDir: dir };
}

/** The URL a person can open: wildcard addresses become loopback, IPv6 gets brackets. */
export function urlFor(host: string, port: number, tls = true): string {
  const shown = host === '0.0.0.0' || host === '' ? '127.0.0.1' : host === '::' ? '::1' : host;
  return `${tls ? 'https' : 'http'}://${shown.includes(':') ? `[${shown}]` : shown}:${port}/`;
}

/** Resolves on the first SIGINT or SIGTERM; a second one falls through to Node's default (exit). */
function firstSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const on = (signal: NodeJS.Signals): void => {
      process.off('SIGINT', on);
      process.off('SIGTERM', on);
      resolve(signal);
    };
    process.on('SIGINT', on);
    process.on('SIGTERM', on);
  });
}

/** --log-events: one JSON line per event ({"event": kind, ...}) until stop(). */
function logEvents(sys: AioSystem, log: Logger): { stop(): Promise<void> } {
  const abort = new AbortController();
  const done = (async () => {
    for await (const e of sys.events({ signal: abort.signal })) log.event({ event: e.kind, ...e, kind: undefined });
  })();
  return { stop: async () => { abort.abort(); await done; } };
}

/** What `start` prints once it listens: where, the debug routes, the dashboard. */
function announce(log: Logger, srv: AioServer, admin: AioServer | undefined, debug: boolean): void {
  const url = urlFor(srv.host, srv.port, srv.tls);
  log.log('info', 'listening', `listening on ${url}${srv.tls ? '' : ' (cleartext: HTTP/1.1, and HTTP/2 with prior knowledge)'}`,
    { url, host: srv.host, port: srv.port, tls: srv.tls });
  if (debug) {
    const base = url.replace(/\/$/, '');
    log.log('info', 'debug_routes', `metrics: ${base}/debug/metrics (JSON), ${base}/debug/metrics/prometheus, health: ${base}/health, ready: ${base}/ready`,
      { metrics: `${base}/debug/metrics`, ready: `${base}/ready` });
  }
  if (admin) {
    const base = urlFor(admin.host, admin.port).replace(/\/$/, '');
    log.log('info', 'admin_listening', `dashboard: ${base}/debug/ (admin listener, outside --max-connections: ${base}/debug/metrics, ` +
      `${base}/debug/diagnostics/memory, ${base}/health, ${base}/ready)`, { dashboard: `${base}/debug/`, port: admin.port });
  }
}

/** Messages of a drain's steps (docs/design.md §14). */
const STEP_TEXT: Readonly<Record<DrainStep['step'], (s: DrainStep) => string>> = {
  draining: (s) => `draining: /ready answers 503; ${s.connections} connections, ${s.requests_in_flight} requests in flight`,
  closing: (s) => `closing: no new connections, GOAWAY to ${s.connections} connections; ${s.requests_in_flight} requests in flight`,
  closed: (s) => `closed: every server drained after ${s.ms} ms`,
  stopped: (s) => `stopped after ${s.ms} ms`,
};

/** Runs `valk-aio start` until a signal; returns the exit code. */
export async function runStart(o: StartOptions, io: CliIO): Promise<number> {
  const log = makeLogger(o.logFormat ?? 'text', io);
  const config = resolveConfig(o.system);
  const server = resolveServerConfig(o.server);
  const routes = buildRoutes(o.body, o.routes);
  const debug = o.debug ?? isLoopback(o.host);
  const tls = o.tls !== false;
  const port = o.port ?? (tls ? 8443 : 8080);
  // The admin listener keeps TLS, so a pair is needed unless neither listener has TLS.
  const { key, cert, generatedDir } = tls || o.adminPort !== 0 ? await keyPair(o, log) : { key: '', cert: '', generatedDir: undefined };
  const { startWithConfig } = await import('../lib/system');
  const sys = startWithConfig(config);
  const signal = firstSignal();
  let srv: AioServer;
  let admin: AioServer | undefined;
  try {
    srv = await sys.listen({ host: o.host, port, ...(tls ? { key, cert } : { tls: false }), routes, debug, ...server });
    const adminPort = o.adminPort ?? (port === 0 ? 0 : port + 1);
    if (o.adminPort !== 0 && adminPort <= 65535) admin = await sys.listenAdmin({ port: adminPort, key, cert });
  } catch (err) {
    await sys.stop();
    throw err;
  }
  const report = reportFor(sys.config, server, derivedFields(o.system));
  if (log.format === 'text') io.out(renderHuman(report));
  else log.log('info', 'config', 'configuration', { report });
  for (const w of report.warnings) if (log.format === 'json') log.log('warn', 'config_warning', w);
  if (report.footprint) log.log('info', 'memory_ceiling', `memory ceiling: ${formatBytes(report.footprint.total)}`, { bytes: report.footprint.total });
  srv.on('error', (err: Error) => log.log('error', 'handler_error', `valk-aio: ${err.message}`, { error: err.message }));
  announce(log, srv, admin, debug);
  const events = o.logEvents ? logEvents(sys, log) : undefined;
  const received = await signal;
  await events?.stop();
  log.log('info', 'signal', `${received}: draining (drainDelayMs ${sys.config.drainDelayMs}, drain up to ${sys.config.drainTimeoutMs} ms)`,
    { signal: received, drain_delay_ms: sys.config.drainDelayMs, drain_timeout_ms: sys.config.drainTimeoutMs });
  const drained = await sys.drain({ onStep: (s) => log.log('info', s.step, STEP_TEXT[s.step](s), { ...s, step: undefined }) });
  if (generatedDir) fs.rmSync(generatedDir, { recursive: true, force: true });
  const stopped = drained.stop;
  log.log(drained.forced > 0 ? 'warn' : 'info', 'drained',
    `stopped: ${stopped.leakedConnections} leaked connections, ${stopped.leakedTcpBuffers} leaked TCP buffers; ` +
    `${drained.connections} connections drained, ${drained.forced} closed by force at drainTimeoutMs`,
    { connections: drained.connections, forced: drained.forced, leaked_connections: stopped.leakedConnections, leaked_tcp_buffers: stopped.leakedTcpBuffers });
  return 0;
}
