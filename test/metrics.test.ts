// The metrics bridge (issue #4 §2): sys.metrics()'s documented schema,
// sys.prometheus() checked by promtool and a strict parser, counters that move
// exactly as a scripted sequence of requests says, the loop/queue/runtime
// sections, and the debug routes (/debug/metrics, /debug/metrics/prometheus,
// /health).
import * as fs from 'node:fs';
import * as http2 from 'node:http2';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { AioSystem, ListenOptions, startWithConfig } from '../lib/system';
import type { SystemConfig } from '../lib/config';
import { AioMetrics, METRICS_SCHEMA_VERSION, metricFields, metricsMarkdown } from '../lib/metrics';
import { native } from '../lib/native';
import { CLEAN_STOP, attempt, connect, curl, get, keyPair, request, waitFor } from './helpers';
import { ParsedFamily, parsePrometheus, sampleValue } from './promparse';

const systems: AioSystem[] = [];
const sessions: http2.ClientHttp2Session[] = [];

afterEach(async () => {
  for (const s of sessions.splice(0)) s.destroy();
  for (const sys of systems.splice(0)) if (sys.running) expect(await sys.stop()).toEqual(CLEAN_STOP);
});

async function serve(cfg: SystemConfig = {}, listen: Partial<ListenOptions> = {}) {
  const sys = startWithConfig(cfg);
  systems.push(sys);
  const srv = await sys.listen({ host: '127.0.0.1', port: 0, ...keyPair(), routes: { '/': { body: 'hello\n' } }, ...listen });
  return { sys, srv, port: srv.port };
}

async function open(port: number): Promise<http2.ClientHttp2Session> {
  const s = await connect(port);
  s.on('error', () => {});
  sessions.push(s);
  return s;
}

/** Every value at a documented path: "servers[].x" gives one per server. */
function valuesAt(m: AioMetrics, p: string): unknown[] {
  const walk = (obj: unknown, keys: string[]): unknown[] => {
    if (keys.length === 0) return [obj];
    const [k, ...rest] = keys;
    if (k.endsWith('[]')) {
      const arr = (obj as Record<string, unknown>)[k.slice(0, -2)];
      return Array.isArray(arr) ? arr.flatMap((x) => walk(x, rest)) : [undefined];
    }
    return walk(obj === null || typeof obj !== 'object' ? undefined : (obj as Record<string, unknown>)[k], rest);
  };
  return walk(m, p.split('.'));
}

/** The leaf paths of an object, arrays of objects as "name[]", arrays of numbers as leaves. */
function leafPaths(obj: unknown, prefix = ''): string[] {
  if (obj === null || typeof obj !== 'object') return [prefix];
  if (Array.isArray(obj)) {
    if (obj.every((x) => typeof x === 'number')) return [prefix];
    return obj.flatMap((x) => leafPaths(x, `${prefix}[]`));
  }
  return Object.entries(obj).flatMap(([k, v]) => leafPaths(v, prefix ? `${prefix}.${k}` : k));
}

function typeOf(v: unknown): string {
  return Array.isArray(v) ? 'array' : v === null ? 'null' : typeof v;
}

function prom(sys: AioSystem): ParsedFamily[] {
  return parsePrometheus(sys.prometheus());
}

/** POST with a body, left open unless end (holds the stream's arena meanwhile). */
function post(s: http2.ClientHttp2Session, p: string, body: Buffer, opts: { end?: boolean; length?: number } = {}) {
  const headers: http2.OutgoingHttpHeaders = { ':path': p, ':method': 'POST' };
  if (opts.length !== undefined) headers['content-length'] = opts.length;
  const req = s.request(headers, { endStream: false });
  const status = new Promise<number>((resolve) => {
    let st = 0;
    req.on('response', (h) => { st = Number(h[':status']); });
    req.on('data', () => {});
    req.on('close', () => resolve(st));
    req.on('error', () => {});
  });
  if (body.length) req.write(body);
  if (opts.end) req.end();
  return { req, status };
}

describe('sys.metrics() schema', () => {
  it('every field docs/metrics.md lists is present with its type, and nothing undocumented is', async () => {
    const { sys, port } = await serve({}, { handler: () => ({ status: 200, body: 'js' }) });
    expect((await get(port, '/js')).status).toBe(200);
    const client = await sys.connect({ port, rejectUnauthorized: false }); // so clients[] has an entry to check
    expect((await client.request({ path: '/' })).status).toBe(200);
    const m = sys.metrics();
    expect(m.clients).toHaveLength(1);
    expect(m.schema_version).toBe(METRICS_SCHEMA_VERSION);
    const fields = metricFields();
    const documented = new Set(fields.map((f) => f.path));
    for (const f of fields) {
      const values = valuesAt(m, f.path);
      expect(values.length, f.path).toBeGreaterThan(0);
      for (const v of values) {
        expect(typeOf(v), f.path).toBe(f.type);
        if (f.type === 'number') expect(Number.isFinite(v), f.path).toBe(true);
      }
    }
    for (const p of leafPaths(m)) {
      const covered = documented.has(p) || [...documented].some((d) => p.startsWith(`${d}.`));
      expect(covered, `${p} is not in docs/metrics.md`).toBe(true);
    }
    // The C lists cross whole: every catalogue entry is documented.
    for (const d of native().constants.metricsCatalogue) {
      const where = d.scope === 'loop' ? `loop.${d.name}` : `system.${d.name}`;
      expect(documented.has(where), where).toBe(true);
    }
  });

  it('the dashboard tree and the admission metrics all exist (docs/design.md §8, §9)', async () => {
    const { sys } = await serve();
    const m = sys.metrics();
    const s = m.servers[0];
    const seedTree: unknown[] = [
      m.uptime_seconds, m.resources.servers, m.resources.clients, m.resources.handles,
      m.pools.arenas.used, m.pools.arenas.total, m.pools.tcp_buffers.used, m.pools.tcp_buffers.total,
      m.loop.iterations, m.loop.events, m.loop.idle_ns,
      m.queue.depth, m.queue.pending_requests, m.queue.pending_responses,
      m.runtime.gc.count, m.runtime.gc.pause_seconds_total, m.runtime.heap_used_bytes, m.runtime.heap_total_bytes,
      m.runtime.heap_utilization,
      s.connections_active, s.connections_total, s.connections_failed, s.streams_active, s.streams_total,
      s.requests_total, s.responses_2xx, s.responses_4xx, s.responses_5xx, s.bytes_sent, s.bytes_received,
      s.latency.avg_ms, s.latency.count, s.latency.sum_seconds, s.uptime_seconds,
      // admission control (docs/design.md §3-§5)
      s.connections_rejected, s.connections_rejected_load, m.system.connections_rejected,
      m.system.connections_rejected_load, m.pools.tcp_buffers.utilization_pct, m.pools.tcp_buffers.overflow,
      m.connections.available, m.connections.max, m.backpressure.list_size,
    ];
    for (const [i, v] of seedTree.entries()) expect(typeof v, `entry ${i}`).toBe('number');
    expect(['normal', 'high', 'critical']).toContain(m.watermark.state);
    expect(s.key).toBe(`127.0.0.1:${s.port}`);
  });

  it('clients[]: one entry per sys.connect() client with its requests, answers, errors and open streams; kept (connected 0) once closed', async () => {
    const { sys, port } = await serve({}, { handler: () => new Promise((r) => setTimeout(() => r({ status: 200, body: 'slow' }), 300)) });
    expect(sys.metrics().clients).toEqual([]);
    const a = await sys.connect({ port, rejectUnauthorized: false });
    const b = await sys.connect({ port, rejectUnauthorized: false, maxResponseBodySize: 2 });
    for (let i = 0; i < 3; i++) expect((await a.request({ path: '/' })).status).toBe(200);
    const slow = [b.request({ path: '/slow/1' }), b.request({ path: '/slow/2' })];
    await waitFor(() => sys.metrics().clients.find((c) => c.id === b.id)?.streams_active === 2);
    let m = sys.metrics();
    expect(m.resources.clients).toBe(2);
    const ea = m.clients.find((c) => c.id === a.id)!;
    expect(ea).toMatchObject({ key: `127.0.0.1:${port}`, host: '127.0.0.1', port, connected: 1, streams_active: 0,
      requests_waiting: 0, requests_total: 3, responses_total: 3, errors: 0 });
    expect(ea.uptime_seconds).toBeGreaterThanOrEqual(0);
    expect(m.clients.find((c) => c.id === b.id)).toMatchObject({ connected: 1, streams_active: 2, requests_total: 2, responses_total: 0 });
    // b takes at most 2 body bytes: both answers ("slow") fail, its errors
    for (const r of await Promise.allSettled(slow)) expect(r.status).toBe('rejected');
    // a closed client refuses new requests (not counted: never accepted) and stays listed, connected 0
    await a.close();
    await expect(a.request({ path: '/' })).rejects.toThrow(/closed/);
    m = sys.metrics();
    expect(m.resources.clients).toBe(1);
    expect(m.clients.map((c) => [c.id, c.connected])).toEqual([[b.id, 1], [a.id, 0]]);
    expect(m.clients.find((c) => c.id === b.id)).toMatchObject({ streams_active: 0, requests_total: 2, responses_total: 0, errors: 2 });
    expect(m.clients.find((c) => c.id === a.id)).toMatchObject({ requests_total: 3, responses_total: 3, errors: 0 });
    await b.close();
  });

  it('docs/metrics.md is generated from the table (npm run docs:metrics)', () => {
    const file = path.join(__dirname, '..', 'docs', 'metrics.md');
    expect(fs.readFileSync(file, 'utf8')).toBe(metricsMarkdown());
  });
});

describe('counters move with traffic', () => {
  it('a scripted sequence: 3 x 2xx, 2 x 404, 1 x 413, 1 x 503, 1 x 405, 2 connections rejected', async () => {
    const cfg = { maxConnections: 2, arenaPoolSize: 1, smallArenaPoolSize: 0, maxRequestBodySize: 1024 }; // big arenas only
    const { sys, srv, port } = await serve(cfg, { error503Body: 'busy\n' });
    const s = await open(port);
    for (let i = 0; i < 3; i++) expect((await request(s, '/')).status).toBe(200);
    for (let i = 0; i < 2; i++) expect((await request(s, '/nope')).status).toBe(404);
    expect(await post(s, '/', Buffer.alloc(2048, 1), { length: 2048, end: true }).status).toBe(413);
    const holder = post(s, '/', Buffer.from('holds the only arena'));
    await waitFor(() => sys.metrics().pools.arenas.used === 1);
    expect(await post(s, '/', Buffer.from('x'), { end: true }).status).toBe(503);
    const second = await open(port); // the second (last) slot
    expect(await attempt(port)).toBe('refused');
    expect(await attempt(port)).toBe('refused');
    holder.req.end();
    expect(await holder.status).toBe(405); // the static route answers GET and HEAD
    second.destroy();
    await waitFor(() => sys.metrics().connections.active === 1 && sys.metrics().servers[0].streams_active === 0);

    const m = sys.metrics();
    const x = m.servers[0];
    expect(x.key).toBe(`127.0.0.1:${srv.port}`);
    expect({
      responses_2xx: x.responses_2xx, responses_4xx: x.responses_4xx, responses_5xx: x.responses_5xx,
      requests_total: x.requests_total, responses_too_large: x.responses_too_large,
      responses_overloaded: x.responses_overloaded, connections_rejected: x.connections_rejected,
      connections_total: x.connections_total, connections_active: x.connections_active,
      streams_total: x.streams_total, streams_active: x.streams_active,
    }).toEqual({
      responses_2xx: 3, responses_4xx: 4, responses_5xx: 1,
      requests_total: 8, responses_too_large: 1,
      responses_overloaded: 1, connections_rejected: 2,
      connections_total: 2, connections_active: 1,
      streams_total: 8, streams_active: 0,
    });
    expect(x.bytes_received).toBeGreaterThan(0);
    expect(x.bytes_sent).toBeGreaterThan(0);
    // Every response that completed is one latency observation.
    expect(x.latency.count).toBe(8);
    expect(x.latency.counts.reduce((a, b) => a + b, 0)).toBe(8);
    expect(x.latency.sum_seconds).toBeGreaterThan(0);
    expect(x.latency.avg_ms).toBeCloseTo((x.latency.sum_seconds * 1000) / 8, 6);
    // The system sums its servers.
    for (const k of ['responses_2xx', 'responses_4xx', 'connections_rejected', 'requests_total'] as const) {
      expect(m.system[k], k).toBe(x[k]);
    }

    // Prometheus says the same.
    const fams = prom(sys);
    const server = { server: x.key };
    expect(sampleValue(fams, 'valk_aio_responses_2xx_total', server)).toBe(3);
    expect(sampleValue(fams, 'valk_aio_responses_4xx_total', server)).toBe(4);
    expect(sampleValue(fams, 'valk_aio_responses_5xx_total', server)).toBe(1);
    expect(sampleValue(fams, 'valk_aio_requests_total', server)).toBe(8);
    expect(sampleValue(fams, 'valk_aio_connections_rejected_total', server)).toBe(2);
    expect(sampleValue(fams, 'valk_aio_streams_active', server)).toBe(0);
    expect(sampleValue(fams, 'valk_aio_request_duration_seconds_count', server)).toBe(8);
    expect(sampleValue(fams, 'valk_aio_request_duration_seconds_bucket', { ...server, le: '+Inf' })).toBe(8);
    expect(sampleValue(fams, 'valk_aio_pool_slots', { pool: 'connections' })).toBe(2);
    expect(sampleValue(fams, 'valk_aio_watermark_state', { state: 'normal' })).toBe(1);
    expect(sampleValue(fams, 'valk_aio_watermark_state', { state: 'critical' })).toBe(0);
  });

  it('a closed server leaves the list; the system totals keep its counts', async () => {
    const { sys, srv, port } = await serve();
    const other = await sys.listen({ host: '127.0.0.1', port: 0, ...keyPair(), routes: { '/': { body: 'b' } } });
    expect((await get(port, '/')).status).toBe(200);
    expect((await get(other.port, '/')).status).toBe(200);
    expect(sys.metrics().servers.map((s) => s.port).sort()).toEqual([srv.port, other.port].sort());
    await srv.close();
    const m = sys.metrics();
    expect(m.servers.map((s) => s.port)).toEqual([other.port]);
    expect(m.resources.servers).toBe(1);
    expect(m.system.responses_2xx).toBe(2);
  });
});

describe('loop, queue and runtime sections', () => {
  it('the AIO loop iterates, polls events and idles; handles are counted', async () => {
    const { sys, port } = await serve();
    const before = sys.metrics().loop;
    for (let i = 0; i < 5; i++) expect((await get(port, '/')).status).toBe(200);
    await new Promise((r) => setTimeout(r, 50));
    const after = sys.metrics();
    expect(after.loop.iterations).toBeGreaterThan(before.iterations);
    expect(after.loop.events).toBeGreaterThan(before.events);
    expect(after.loop.idle_ns).toBeGreaterThan(before.idle_ns);
    expect(after.loop.idle_ns / 1e9).toBeLessThanOrEqual(after.uptime_seconds);
    expect(after.loop.handles_active).toBeGreaterThanOrEqual(2); // listener, wake-up, sweep timer
    expect(after.resources.handles).toBe(after.loop.handles_active);
  });

  it('queue: pending requests while a handler waits; answers counted on Node\'s shard', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => { release = r; });
    const { sys, port } = await serve({}, {
      handler: async () => {
        await gate;
        return { status: 200, body: 'late' };
      },
    });
    const s = await open(port);
    const replies = [request(s, '/a'), request(s, '/b')];
    // Both dispatched and drained from the ring by Node's thread (under the sanitizer the
    // ring can still hold them when pending_requests first reads 2).
    await waitFor(() => sys.metrics().queue.pending_requests === 2 && sys.metrics().queue.depth === 0);
    const m = sys.metrics();
    expect(m.queue.depth).toBe(0); // delivered to JavaScript, not answered
    expect(m.queue.capacity).toBe(sys.config.queueCapacity);
    expect(m.servers[0].streams_active).toBe(2);
    release();
    for (const r of await Promise.all(replies)) expect(r.body).toBe('late');
    await waitFor(() => sys.metrics().queue.pending_requests === 0);
    const done = sys.metrics();
    expect(done.system.responses_from_js).toBe(2);
    expect(done.system.requests_dispatched).toBe(2);
    expect(done.servers[0].handler_answered).toBe(2);
    expect(done.queue.pending_responses).toBe(0);
  });

  it('handler errors and timeouts are in the server entry and in Prometheus', async () => {
    const { sys, srv, port } = await serve({}, {
      handlerTimeoutMs: 100,
      handler: (req) => {
        if (req.path === '/throw') throw new Error('boom');
        if (req.path === '/never') return new Promise(() => {});
        return { status: 200 };
      },
    });
    srv.on('error', () => {});
    expect((await get(port, '/throw')).status).toBe(500);
    expect((await get(port, '/never')).status).toBe(504);
    const x = sys.metrics().servers[0];
    expect([x.handler_answered, x.handler_errors, x.handler_timeouts]).toEqual([0, 1, 1]);
    const fams = prom(sys);
    expect(sampleValue(fams, 'valk_aio_handler_errors_total', { server: x.key })).toBe(1);
    expect(sampleValue(fams, 'valk_aio_handler_timeouts_total', { server: x.key })).toBe(1);
  });

  it('the runtime section reads the Node process', async () => {
    const { sys } = await serve();
    const r = sys.metrics().runtime;
    expect(r.heap_used_bytes).toBeGreaterThan(0);
    expect(r.heap_used_bytes).toBeLessThanOrEqual(r.heap_total_bytes);
    expect(r.rss_bytes).toBeGreaterThan(r.heap_used_bytes);
    expect(r.event_loop.utilization).toBeGreaterThanOrEqual(0);
    expect(r.event_loop.utilization).toBeLessThanOrEqual(1);
  });
});

const REQUIRE_PROMTOOL = process.env.VALK_REQUIRE_PROMTOOL === '1';
const HAVE_PROMTOOL = spawnSync('promtool', ['--version']).status === 0;

describe('sys.prometheus()', () => {
  async function busy() {
    const { sys, port } = await serve({}, { handler: () => ({ status: 201, body: 'made' }) });
    const s = await open(port);
    for (const p of ['/', '/', '/x', '/y']) await request(s, p);
    return sys;
  }

  it('passes the strict parser: HELP and TYPE for every family, valk_aio_ prefix, _total counters, a histogram', async () => {
    const sys = await busy();
    const fams = prom(sys);
    expect(fams.length).toBeGreaterThan(50);
    for (const f of fams) {
      expect(f.name.startsWith('valk_aio_'), f.name).toBe(true);
      if (f.type === 'counter') expect(f.name.endsWith('_total'), f.name).toBe(true);
    }
    const hist = fams.find((f) => f.name === 'valk_aio_request_duration_seconds');
    expect(hist?.type).toBe('histogram');
    expect(fams.find((f) => f.name === 'valk_aio_nodejs_heap_used_bytes')?.type).toBe('gauge');
    expect(fams.find((f) => f.name === 'valk_aio_loop_idle_seconds_total')?.type).toBe('counter');
  });

  it.skipIf(!HAVE_PROMTOOL && !REQUIRE_PROMTOOL)(
    `promtool check metrics accepts it${HAVE_PROMTOOL ? '' : ' [SKIPPED: no promtool; VALK_REQUIRE_PROMTOOL=1 makes this fail]'}`,
    async () => {
      expect(HAVE_PROMTOOL, 'promtool is not on PATH (Debian: apt-get install prometheus)').toBe(true);
      const sys = await busy();
      const r = spawnSync('promtool', ['check', 'metrics'], { input: sys.prometheus(), encoding: 'utf8' });
      expect(r.stdout + r.stderr).toBe('');
      expect(r.status).toBe(0);
    },
  );
});

describe('debug routes', () => {
  it('curl --http2 /debug/metrics returns the full JSON; the numbers move between two reads', async () => {
    const { port } = await serve({}, { debug: true });
    const url = `https://127.0.0.1:${port}`;
    const first = JSON.parse(await curl(['-sk', '--http2', `${url}/debug/metrics`])) as AioMetrics;
    expect(first.schema_version).toBe(METRICS_SCHEMA_VERSION);
    expect(first.runtime.heap_used_bytes).toBeGreaterThan(0);
    for (let i = 0; i < 5; i++) await get(port, '/');
    const second = JSON.parse(await curl(['-sk', '--http2', `${url}/debug/metrics`])) as AioMetrics;
    expect(second.servers[0].responses_2xx).toBe(first.servers[0].responses_2xx + 5 + 1); // + the first read
    expect(second.loop.iterations).toBeGreaterThan(first.loop.iterations);
    const headers = await curl(['-sk', '--http2', '-o', '/dev/null', '-D', '-', `${url}/debug/metrics`]);
    expect(headers).toMatch(/content-type: application\/json/);
    expect(headers).toMatch(/cache-control: no-store/);
  });

  it('/debug/metrics/prometheus and /health', async () => {
    const { port } = await serve({}, { debug: true });
    const text = await curl(['-sk', '--http2', `https://127.0.0.1:${port}/debug/metrics/prometheus`]);
    const fams = parsePrometheus(text);
    expect(sampleValue(fams, 'valk_aio_servers')).toBe(1);
    const health = await get(port, '/health');
    expect(health.status).toBe(200);
    expect(JSON.parse(health.body)).toMatchObject({ status: 'ok', watermark: 'normal' });
    expect((await get(port, '/health', 'POST')).status).toBe(405);
    expect((await get(port, '/debug/metrics?pretty=1')).status).toBe(200);
  });

  it('off by default: 404 answered on the AIO thread; a user route of the same path wins', async () => {
    const off = await serve();
    expect((await get(off.port, '/debug/metrics')).status).toBe(404);
    expect((await get(off.port, '/health')).status).toBe(404);
    expect(off.sys.metrics().system.requests_dispatched).toBe(0);
    const mine = await serve({}, { debug: true, routes: { '/': { body: 'x' }, '/health': { body: 'mine\n' } } });
    expect((await get(mine.port, '/health')).body).toBe('mine\n');
    expect((await get(mine.port, '/debug/metrics')).status).toBe(200);
    // Without a handler, other paths still 404 in C: only the debug paths went to JavaScript.
    expect((await get(mine.port, '/other')).status).toBe(404);
    expect(mine.sys.metrics().system.requests_dispatched).toBe(1);
  });

  it('with a handler too: debug paths first, the rest to the handler', async () => {
    const { port } = await serve({}, { debug: true, handler: (req) => ({ status: 200, body: `h:${req.path}` }) });
    expect((await get(port, '/anything')).body).toBe('h:/anything');
    expect(JSON.parse((await get(port, '/health')).body).status).toBe('ok');
  });
});
