// Admission control and backpressure (docs/design.md §2-§6, issue #3) end to
// end, with Node's http2 client: connection limit and rejection metrics,
// graceful GOAWAY rejection and 503/413, arenas, the per-IP and soft limits,
// and every path that releases a connection slot (cases A1-A17 of
// docs/design.md §11.2).
// Tests that need a client which stops reading its socket are in
// test/backpressure.test.ts (they use test/h2raw.ts).
import * as http2 from 'node:http2';
import * as net from 'node:net';
import * as tls from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import { AioSystem, startWithConfig } from '../lib/system';
import type { AioClient } from '../lib/client';
import type { SystemConfig } from '../lib/config';
import { CLEAN_STOP, attempt, connect, get, keyPair, request, waitFor } from './helpers';
import { ErrorCode, RawH2Client } from './h2raw';

const systems: AioSystem[] = [];
const sessions: http2.ClientHttp2Session[] = [];
const HELLO = { '/': { status: 200, body: 'hello\n' } };

async function serve(cfg: SystemConfig = {}, listen: Record<string, unknown> = {}) {
  const sys = startWithConfig(cfg);
  systems.push(sys);
  const srv = await sys.listen({ host: '127.0.0.1', port: 0, ...keyPair(), routes: HELLO, ...listen });
  return { sys, srv, port: srv.port };
}

/** A connection that completed TLS and the h2 preface exchange, kept for cleanup. */
async function open(port: number): Promise<http2.ClientHttp2Session> {
  const s = await connect(port);
  s.on('error', () => {});
  sessions.push(s);
  return s;
}


function goawayOf(s: http2.ClientHttp2Session): Promise<{ code: number; last: number; debug: string }> {
  return new Promise((resolve) =>
    s.once('goaway', (code: number, last: number, data?: Buffer) =>
      resolve({ code, last, debug: data ? data.toString('utf8') : '' })));
}

/** POST on s; the body is written but the stream left open unless end. */
function post(s: http2.ClientHttp2Session, path: string, body: Buffer, opts: { end?: boolean; length?: boolean } = {}) {
  const headers: http2.OutgoingHttpHeaders = { ':path': path, ':method': 'POST' };
  if (opts.length) headers['content-length'] = body.length;
  const req = s.request(headers, { endStream: false });
  const reply = new Promise<{ status: number; headers: http2.IncomingHttpHeaders; body: string }>((resolve, reject) => {
    let status = 0;
    let hdrs: http2.IncomingHttpHeaders = {};
    const chunks: Buffer[] = [];
    req.on('response', (h) => { hdrs = h; status = Number(h[':status']); });
    req.on('data', (d: Buffer) => chunks.push(d));
    req.on('end', () => resolve({ status, headers: hdrs, body: Buffer.concat(chunks).toString('utf8') }));
    req.on('error', reject);
  });
  reply.catch(() => {});
  if (body.length) req.write(body);
  if (opts.end) req.end();
  return { req, reply };
}

afterEach(async () => {
  for (const s of sessions.splice(0)) s.destroy();
  for (const sys of systems.splice(0)) {
    if (sys.running) expect(await sys.stop()).toEqual(CLEAN_STOP);
  }
});

describe('connection limit and rejection metrics (docs/design.md §2, §3)', () => {
  it('test_connection_limit_enforced: maxConnections clients connect, the next is refused and counted', async () => {
    const { sys, port } = await serve({ maxConnections: 5 });
    const clients = [];
    for (let i = 0; i < 5; i++) clients.push(await open(port));
    for (const c of clients) expect((await request(c, '/')).status).toBe(200);
    expect(await attempt(port)).toBe('refused');
    const m = sys.metrics();
    expect(m.system.connections_rejected).toBeGreaterThanOrEqual(1);
    expect(m.servers[0].connections_rejected).toBe(m.system.connections_rejected);
    expect(m.connections.active).toBe(5);
    expect(m.pools.connections.overflow).toBeGreaterThanOrEqual(1); // the slab's own count
  });

  it('test_connection_limit_enforced with the addon\'s own client (sys.connect()), from a second system', async () => {
    const { sys, port } = await serve({ maxConnections: 5 });
    const clientSys = startWithConfig({ maxConnections: 16 });
    systems.push(clientSys);
    const ok: AioClient[] = [];
    const refused: string[] = [];
    for (let i = 0; i < 8; i++) {
      try {
        ok.push(await clientSys.connect({ port, ca: keyPair().cert }));
      } catch (err) {
        refused.push((err as Error).message);
      }
    }
    expect(ok.length).toBe(5);
    expect(refused.length).toBe(3);
    for (const c of ok) expect((await c.request({ path: '/' })).status).toBe(200);
    expect(sys.metrics().system.connections_rejected).toBe(3);
    expect(sys.metrics().connections.active).toBe(5);
    for (const c of ok) await c.close();
    await waitFor(() => sys.metrics().connections.active === 0);
    expect(clientSys.metrics().connections.active).toBe(0);
  });

  it('test_rejection_doesnt_affect_active: 10 refusals later the 2 clients still work; active never passes 2', async () => {
    const { sys, port } = await serve({ maxConnections: 2 });
    const a = await open(port);
    const b = await open(port);
    expect((await request(a, '/')).status).toBe(200);
    expect((await request(b, '/')).status).toBe(200);
    let maxActive = 0;
    const sampler = setInterval(() => { maxActive = Math.max(maxActive, sys.metrics().connections.active); }, 1);
    const results = await Promise.all(Array.from({ length: 10 }, () => attempt(port)));
    clearInterval(sampler);
    expect(results.every((r) => r === 'refused')).toBe(true);
    expect(maxActive).toBeLessThanOrEqual(2);
    expect(sys.metrics().connections.active).toBeLessThanOrEqual(2);
    expect((await request(a, '/')).status).toBe(200);
    expect((await request(b, '/')).status).toBe(200);
    expect(sys.metrics().system.connections_rejected).toBe(10);
  });

  it('test_rejection_metrics: at least 95 of 100 extra connections are counted as rejected', async () => {
    const { sys, port } = await serve({ maxConnections: 1 });
    const first = await open(port);
    expect((await request(first, '/')).status).toBe(200);
    for (let i = 0; i < 100; i++) await attempt(port);
    const m = sys.metrics();
    expect(m.system.connections_rejected).toBeGreaterThanOrEqual(95);
    expect(m.servers[0].connections_rejected).toBeGreaterThanOrEqual(95);
    expect(m.system.connections_rejected_load).toBe(0);
    expect(m.system.connections_rejected_per_ip).toBe(0);
    expect((await request(first, '/')).status).toBe(200);
  });

  it('per-server counters are separate; the system sums them', async () => {
    const { sys, port } = await serve({ maxConnections: 1 });
    const other = await sys.listen({ host: '127.0.0.1', port: 0, ...keyPair(), routes: HELLO });
    await open(port);
    expect(await attempt(other.port)).toBe('refused');
    expect(await attempt(other.port)).toBe('refused');
    expect(await attempt(port)).toBe('refused');
    const m = sys.metrics();
    const byPort = new Map(m.servers.map((s) => [s.port, s]));
    expect(byPort.get(port)!.connections_rejected).toBe(1);
    expect(byPort.get(other.port)!.connections_rejected).toBe(2);
    expect(m.system.connections_rejected).toBe(3);
    expect(byPort.get(port)!.connections_active).toBe(1);
  });
});

describe('test_conn_slab_release_on_close: every path out frees the slot', () => {
  const settle = async (sys: AioSystem) => {
    await waitFor(() => sys.metrics().connections.active === 0);
    const m = sys.metrics();
    expect(m.connections.available).toBe(m.connections.max);
    expect(m.system.connections_closed).toBe(m.system.connections_total);
  };

  it('normal close: at the limit, closing one lets a new client in', async () => {
    const { sys, port } = await serve({ maxConnections: 2 });
    const a = await open(port);
    const b = await open(port);
    expect(await attempt(port)).toBe('refused');
    a.close();
    await waitFor(() => sys.metrics().connections.active === 1);
    const m = sys.metrics();
    expect(m.connections.available).toBe(m.connections.max - m.connections.active);
    const c = await open(port);
    expect((await request(c, '/')).status).toBe(200);
    b.close();
    c.close();
    await settle(sys);
  });

  it('peer reset, TLS failure, HTTP/2 protocol error, handshake timeout', async () => {
    const { sys, port } = await serve({ maxConnections: 4, handshakeTimeoutMs: 200 });
    // Peer reset mid-session: TLS + the h2 preface, then a TCP RST.
    const tcp = net.connect(port, '127.0.0.1');
    tcp.on('error', () => {});
    const reset = tls.connect({ socket: tcp, ALPNProtocols: ['h2'], rejectUnauthorized: false },
      () => reset.write('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00'));
    reset.on('error', () => {});
    await waitFor(() => sys.metrics().system.tls_handshakes === 1);
    tcp.resetAndDestroy();
    // TLS failure: bytes that are not a ClientHello.
    const junk = net.connect(port, '127.0.0.1', () => junk.write(Buffer.alloc(64, 0x47)));
    junk.on('error', () => {});
    // HTTP/2 protocol error: TLS with ALPN h2, then not the client preface.
    const bad = tls.connect({ port, host: '127.0.0.1', ALPNProtocols: ['h2'], rejectUnauthorized: false },
      () => bad.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
    bad.on('error', () => {});
    // Handshake timeout: TCP only.
    const silent = net.connect(port, '127.0.0.1');
    silent.on('error', () => {});
    await waitFor(() => sys.metrics().system.connections_total === 4);
    await settle(sys);
    const m = sys.metrics();
    expect(m.system.connections_failed).toBeGreaterThanOrEqual(2);
    expect(m.system.connections_timed_out).toBe(1);
    for (const x of [junk, bad, silent]) x.destroy();
    expect(sys.metrics().system.connections_total).toBe(4);
  });

  it('server close and system stop release every slot', async () => {
    const { sys, srv, port } = await serve({ maxConnections: 4 });
    const a = await open(port);
    await request(a, '/');
    await srv.close();
    expect(sys.metrics().connections.active).toBe(0);
    const other = await sys.listen({ host: '127.0.0.1', port: 0, ...keyPair(), routes: HELLO });
    const b = await open(other.port);
    await request(b, '/');
    const mid = post(b, '/', Buffer.alloc(100)); // a stream still open at stop
    void mid;
    expect(await sys.stop()).toEqual(CLEAN_STOP);
  });
});

describe('graceful rejection (docs/design.md §3)', () => {
  it('rejectMode goaway: a refused client completes TLS and gets GOAWAY(ENHANCE_YOUR_CALM, 0, "server overloaded")', async () => {
    const { sys, port } = await serve({ maxConnections: 1, rejectMode: 'goaway' });
    await open(port);
    const s = http2.connect(`https://127.0.0.1:${port}`, { rejectUnauthorized: false });
    s.on('error', () => {});
    sessions.push(s);
    const g = await goawayOf(s);
    expect(g).toEqual({ code: http2.constants.NGHTTP2_ENHANCE_YOUR_CALM, last: 0, debug: 'server overloaded' });
    const m = sys.metrics();
    expect(m.system.connections_rejected).toBe(1);
    expect(m.system.connections_rejected_graceful).toBe(1);
    expect(m.connections.active).toBe(1);
    await waitFor(() => sys.metrics().pools.graceful_rejections.used === 0);
  });

  it('overloadGoawayCode NO_ERROR is what the refused client reads', async () => {
    const { port } = await serve({ maxConnections: 1, rejectMode: 'goaway', overloadGoawayCode: 'NO_ERROR' });
    await open(port);
    const s = http2.connect(`https://127.0.0.1:${port}`, { rejectUnauthorized: false });
    s.on('error', () => {});
    sessions.push(s);
    const g = await goawayOf(s);
    expect(g.code).toBe(0);
    expect(g.last).toBe(0);
  });

  it('graceful rejections in flight are capped; beyond maxGracefulRejections they fall back to RST', async () => {
    const { sys, port } = await serve({ maxConnections: 1, rejectMode: 'goaway', maxGracefulRejections: 1 });
    await open(port);
    // TCP connections that never send a ClientHello hold the one graceful slot.
    const holders = Array.from({ length: 3 }, () => {
      const x = net.connect(port, '127.0.0.1');
      x.on('error', () => {});
      return x;
    });
    await waitFor(() => sys.metrics().system.connections_rejected === 3);
    const m = sys.metrics();
    expect(m.system.connections_rejected_graceful).toBe(1);
    expect(m.pools.graceful_rejections.used).toBe(1);
    for (const x of holders) x.destroy();
    await waitFor(() => sys.metrics().pools.graceful_rejections.used === 0);
  });

  it('503 with the server\'s error503Body and retry-after when no arena is free', async () => {
    const { sys, port } = await serve({ maxConnections: 10, arenaPoolSize: 1 }, { error503Body: 'busy, come back\n' });
    const s = await open(port);
    // A body declared larger than half a small arena takes a big one: this one holds the only one.
    const large = Buffer.alloc(sys.config.smallArenaSize, 1);
    const first = post(s, '/', large.subarray(0, 100), { length: false });
    first.req.on('error', () => {});
    const held = s.request({ ':path': '/', ':method': 'POST', 'content-length': String(large.length) }, { endStream: false });
    held.on('error', () => {});
    held.write(large.subarray(0, 1000));
    await waitFor(() => sys.metrics().pools.arenas.used === 1);
    const second = post(s, '/', large, { end: true, length: true });
    const r = await second.reply;
    expect(r.status).toBe(503);
    expect(r.body).toBe('busy, come back\n');
    expect(r.headers['retry-after']).toBe('1');
    expect(sys.metrics().system.responses_overloaded).toBe(1);
    const empty = post(s, '/', Buffer.alloc(0), { end: true, length: true }); // content-length 0: no arena needed
    expect((await empty.reply).status).toBe(405);
    first.req.end();
    expect((await first.reply).status).toBe(405); // the static route takes GET/HEAD only (a small arena held its body)
    held.close(http2.constants.NGHTTP2_CANCEL);
    await waitFor(() => sys.metrics().pools.arenas.used === 0 && sys.metrics().pools.small_arenas.used === 0);
    expect((await request(s, '/')).status).toBe(200);
  });
});

describe('request bodies and arenas', () => {
  it('413 for a body over maxRequestBodySize: declared by content-length, or streamed past it', async () => {
    const { sys, port } = await serve({ maxRequestBodySize: 1024 });
    const s = await open(port);
    const declared = post(s, '/', Buffer.alloc(2048, 1), { end: true, length: true });
    expect((await declared.reply).status).toBe(413);
    const streamed = post(s, '/', Buffer.alloc(4096, 1), { end: true });
    expect((await streamed.reply).status).toBe(413);
    const fits = post(s, '/', Buffer.alloc(1024, 1), { end: true, length: true });
    expect((await fits.reply).status).toBe(405);
    const m = sys.metrics();
    expect(m.system.responses_too_large).toBe(2);
    expect(m.pools.small_arenas.high_water_bytes).toBeGreaterThanOrEqual(1024); // a small body: a small arena
    await waitFor(() => sys.metrics().pools.arenas.used === 0 && sys.metrics().pools.small_arenas.used === 0);
    expect((await request(s, '/')).status).toBe(200);
  });

  it('arena RSS stays low with the default pool (200 x 64 MiB reserved, not committed)', async () => {
    const before = process.memoryUsage.rss();
    const { sys, port } = await serve({});
    expect(sys.config.arenaPoolSize * sys.config.arenaSize).toBe(200 * 64 * 1024 * 1024);
    expect(process.memoryUsage.rss() - before).toBeLessThan(64 * 1024 * 1024);
    const s = await open(port);
    const big = post(s, '/', Buffer.alloc(4 * 1024 * 1024, 7), { end: true });
    expect((await big.reply).status).toBe(405);
    await waitFor(() => sys.metrics().pools.arenas.used === 0);
    const a = sys.metrics().pools.arenas;
    expect(a.high_water_bytes).toBe(4 * 1024 * 1024);
    expect(a.committed_peak_bytes).toBeGreaterThanOrEqual(4 * 1024 * 1024);
    // Free but warm for the next bulk body, then trimmed back to the kept part within
    // two trim periods of a second (csrc/valk_arena.h).
    expect(a.committed_bytes).toBeGreaterThanOrEqual(4 * 1024 * 1024);
    await waitFor(() => sys.metrics().pools.arenas.committed_bytes <= 64 * 1024, 5000);
    expect(process.memoryUsage.rss() - before).toBeLessThan(96 * 1024 * 1024);
  });
});

describe('per-IP and soft limits (docs/design.md §3)', () => {
  it('maxConnectionsPerIp refuses the third connection from 127.0.0.1 and counts it as per-ip', async () => {
    const { sys, port } = await serve({ maxConnections: 10, maxConnectionsPerIp: 2 });
    const a = await open(port);
    await open(port);
    expect(await attempt(port)).toBe('refused');
    // The refused connection held a slot until its RST: the slot comes back in the close
    // callback, which may run after the client saw the RST (slow under the sanitizer).
    await waitFor(() => sys.metrics().connections.active === 2);
    let m = sys.metrics();
    expect(m.system.connections_rejected_per_ip).toBe(1);
    expect(m.system.connections_rejected).toBe(0);
    a.close();
    await waitFor(() => sys.metrics().connections.active === 1);
    expect(await attempt(port)).toBe('ok');
    m = sys.metrics();
    expect(m.system.connections_rejected_per_ip).toBe(1);
  });

  it('soft limit: past the high watermark the longest-idle connection gets GOAWAY(NO_ERROR)', async () => {
    const { sys, port } = await serve({ maxConnections: 4, softLimitIdleMs: 0 });
    const oldest = await open(port);
    const gone = goawayOf(oldest);
    await new Promise((r) => setTimeout(r, 20));
    const rest = [await open(port), await open(port)];
    for (const c of rest) await request(c, '/');
    expect(sys.metrics().connections.soft_limit_at).toBe(4);
    await open(port); // the 4th slot: the slab is at the soft limit now
    await attempt(port); // an accept at the limit sheds the longest idle
    const g = await gone;
    expect(g.code).toBe(0);
    expect(sys.metrics().system.connections_soft_closed).toBeGreaterThanOrEqual(1);
    await waitFor(() => sys.metrics().connections.active <= 3);
    expect(await attempt(port)).toBe('ok');
  });

  it('softLimit off: idle connections are left alone', async () => {
    const { sys, port } = await serve({ maxConnections: 2, softLimit: false, softLimitIdleMs: 0 });
    await open(port);
    await open(port);
    expect(await attempt(port)).toBe('refused');
    expect(sys.metrics().system.connections_soft_closed).toBe(0);
    expect(sys.metrics().connections.active).toBe(2);
  });
});

describe('rapid reset guard (CVE-2023-44487)', () => {
  async function resets(port: number, n: number): Promise<RawH2Client> {
    const c = await RawH2Client.connect({ port });
    for (let i = 0; i < n; i++) c.rstStream(c.request('/', { endStream: false }), ErrorCode.CANCEL);
    return c;
  }

  it('past streamResetRate (burst 10x) a connection gets GOAWAY(ENHANCE_YOUR_CALM); below it, nothing', async () => {
    const { sys, port } = await serve({ streamResetRate: 10 });
    const c = await resets(port, 150);
    const g = await c.waitGoaway();
    expect(g.errorCode).toBe(ErrorCode.ENHANCE_YOUR_CALM);
    expect(g.debugData).toBe('too many stream resets');
    expect(sys.metrics().system.connections_reset_flood).toBe(1);
    expect(sys.metrics().system.resets_received).toBeGreaterThanOrEqual(100);
    c.destroy();
    const { sys: sys2, port: port2 } = await serve({});
    const d = await resets(port2, 150);
    await d.ping();
    expect(d.goawayInfo).toBeUndefined();
    expect(sys2.metrics().system.connections_reset_flood).toBe(0);
    d.destroy();
  });
});

describe('metrics()', () => {
  it('reports pools, watermark state and backpressure list; get() still works while reading it', async () => {
    const { sys, port } = await serve({ maxConnections: 7 });
    expect((await get(port, '/')).status).toBe(200);
    const m = sys.metrics();
    expect(m.connections.max).toBe(7);
    expect(m.pools.tcp_buffers.total).toBe(sys.config.tcpBufferPoolSize);
    expect(m.pools.arenas.total).toBe(sys.config.arenaPoolSize);
    expect(m.pools.graceful_rejections.total).toBe(0); // rst mode: no graceful slab
    expect(m.watermark.state).toBe('normal');
    expect(m.backpressure).toEqual({ list_size: 0, list_max: 1000, evicted: 0 });
    expect(m.servers).toHaveLength(1);
    await sys.stop();
    expect(() => sys.metrics()).toThrow(/stopped/);
  });
});
