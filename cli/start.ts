// `valk-aio start`: resolve the configuration, find or make a TLS key pair,
// start the AIO system, listen, print where, and stop gracefully on SIGINT or
// SIGTERM. Everything that runs a server lives in lib/system; this file only
// wires flags to it.
import type { AioSystem } from '../lib/system';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ServerConfig, SystemConfig, derivedFields, formatBytes, resolveConfig, resolveServerConfig } from '../lib/config';
import { CliIO, UsageError } from './io';
import { isLoopback } from '../lib/system';
export { isLoopback };
import { renderHuman, reportFor } from './report';

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
async function keyPair(o: StartOptions, io: CliIO): Promise<KeyPair> {
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
  io.out(
    `no --cert/--key given: generated a self-signed certificate for localhost, 127.0.0.1 in ${dir} ` +
      '(key.pem, cert.pem; removed at stop)\n',
  );
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
function logEvents(sys: AioSystem, io: CliIO): { stop(): Promise<void> } {
  const abort = new AbortController();
  const done = (async () => {
    for await (const e of sys.events({ signal: abort.signal })) io.out(`${JSON.stringify({ event: e.kind, ...e, kind: undefined })}\n`);
  })();
  return { stop: async () => { abort.abort(); await done; } };
}

/** Runs `valk-aio start` until a signal; returns the exit code. */
export async function runStart(o: StartOptions, io: CliIO): Promise<number> {
  const config = resolveConfig(o.system);
  const server = resolveServerConfig(o.server);
  const routes = buildRoutes(o.body, o.routes);
  const debug = o.debug ?? isLoopback(o.host);
  const tls = o.tls !== false;
  const port = o.port ?? (tls ? 8443 : 8080);
  // The admin listener keeps TLS, so a pair is needed unless neither listener has TLS.
  const { key, cert, generatedDir } = tls || o.adminPort !== 0 ? await keyPair(o, io) : { key: '', cert: '', generatedDir: undefined };
  const { startWithConfig } = await import('../lib/system');
  const sys = startWithConfig(config);
  const signal = firstSignal();
  let srv;
  try {
    srv = await sys.listen({ host: o.host, port, ...(tls ? { key, cert } : { tls: false }), routes, debug, ...server });
  } catch (err) {
    await sys.stop();
    throw err;
  }
  const report = reportFor(sys.config, server, derivedFields(o.system));
  io.out(renderHuman(report));
  if (report.footprint) io.out(`memory ceiling: ${formatBytes(report.footprint.total)}\n`);
  srv.on('error', (err: Error) => io.err(`valk-aio: ${err.message}\n`));
  const adminPort = o.adminPort ?? (port === 0 ? 0 : port + 1);
  let admin;
  if (o.adminPort !== 0 && adminPort <= 65535) {
    try {
      admin = await sys.listenAdmin({ port: adminPort, key, cert });
    } catch (err) {
      await sys.stop();
      throw err;
    }
  }
  io.out(`listening on ${urlFor(srv.host, srv.port, tls)}${tls ? '' : ' (cleartext: HTTP/1.1, and HTTP/2 with prior knowledge)'}\n`);
  if (debug) {
    const base = urlFor(srv.host, srv.port, tls).replace(/\/$/, '');
    io.out(`metrics: ${base}/debug/metrics (JSON), ${base}/debug/metrics/prometheus, health: ${base}/health\n`);
  }
  if (admin) {
    const base = urlFor(admin.host, admin.port).replace(/\/$/, '');
    io.out(`dashboard: ${base}/debug/ (admin listener, outside --max-connections: ${base}/debug/metrics, ` +
      `${base}/debug/diagnostics/memory, ${base}/health)\n`);
  }
  const events = o.logEvents ? logEvents(sys, io) : undefined;
  const received = await signal;
  await events?.stop();
  io.out(`${received}: stopping (drain up to ${sys.config.drainTimeoutMs} ms)\n`);
  const stopped = await sys.stop();
  if (generatedDir) fs.rmSync(generatedDir, { recursive: true, force: true });
  io.out(`stopped: ${stopped.leakedConnections} leaked connections, ${stopped.leakedTcpBuffers} leaked TCP buffers\n`);
  return 0;
}
