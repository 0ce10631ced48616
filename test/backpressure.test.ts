// TCP buffer watermarks and backpressure (docs/design.md §4, §5) end to
// end. The server only holds TCP buffers while its writes cannot drain, so
// these tests use test/h2raw.ts: clients with huge flow-control windows that
// stop reading their sockets, which leaves each connection's writes (at most
// 4 TCP buffers, VALK_MAX_WRITES_IN_FLIGHT) in flight.
import * as http2 from 'node:http2';
import { afterEach, describe, expect, it } from 'vitest';
import type { SystemConfig } from '../lib/config';
import { AioSystem, startWithConfig } from '../lib/system';
import { RawH2Client } from './h2raw';
import { CLEAN_STOP, attempt, connect, keyPair, request, waitFor } from './helpers';

const BIG = 32 * 1024 * 1024; // far more than the kernel buffers of one loopback connection
const ROUTES = {
  '/': { status: 200, body: 'hello\n' },
  '/big': { status: 200, body: Buffer.alloc(BIG, 0x61) },
};

const systems: AioSystem[] = [];
const raws: RawH2Client[] = [];
const sessions: http2.ClientHttp2Session[] = [];

async function serve(cfg: SystemConfig) {
  const sys = startWithConfig(cfg);
  systems.push(sys);
  const srv = await sys.listen({ host: '127.0.0.1', port: 0, ...keyPair(), routes: ROUTES });
  return { sys, port: srv.port };
}

/** n clients that request /big and stop reading: each pins its connection's writes. */
async function stall(port: number, n: number): Promise<{ client: RawH2Client; id: number }[]> {
  const out = [];
  for (let i = 0; i < n; i++) {
    const client = await RawH2Client.connect({ port, timeoutMs: 20_000 });
    raws.push(client);
    await client.ping();
    client.pause();
    out.push({ client, id: client.request('/big') });
  }
  return out;
}


/**
 * Waits until the stalled clients pin their buffers: at least `used` TCP buffers held and
 * the watermark state `ok`, both for 200 ms on end. Until the stalled clients' socket
 * buffers are full, writes still complete and a connection's buffers (written 4 at a time
 * in one writev) come and go; then each keeps its 4.
 */
async function waitPinned(sys: AioSystem, used: number, ok: (state: string) => boolean): Promise<void> {
  let steadySince = 0;
  await waitFor(() => {
    const m = sys.metrics();
    if (m.pools.tcp_buffers.used < used || !ok(m.watermark.state)) return (steadySince = 0) === 1;
    steadySince ||= Date.now();
    return Date.now() - steadySince >= 200;
  }, 10_000);
}

afterEach(async () => {
  for (const r of raws.splice(0)) r.destroy();
  for (const s of sessions.splice(0)) s.destroy();
  for (const sys of systems.splice(0)) {
    if (sys.running) expect(await sys.stop()).toEqual(CLEAN_STOP);
  }
});

describe('buffer watermarks (docs/design.md §4)', () => {
  it('test_buffer_exhaustion_rejection: with the TCP buffers pinned, new connections are refused for load', async () => {
    // The case (docs/design.md §11.2, A8): maxConnections 100 with 20 buffers;
    // the configuration requires tcpBufferPoolSize >= maxConnections, so 20 and 20.
    const { sys, port } = await serve({ maxConnections: 20, tcpBufferPoolSize: 20 });
    const stalled = await stall(port, 5);
    await waitPinned(sys, 20, (state) => state === 'critical');
    expect(sys.metrics().watermark.state).toBe('critical');
    let connected = 0;
    let refused = 0;
    for (let i = 0; i < 45; i++) {
      if ((await attempt(port)) === 'ok') connected++;
      else refused++;
    }
    expect(refused).toBeGreaterThan(0);
    expect(connected).toBeLessThan(45);
    const m = sys.metrics();
    expect(m.system.connections_rejected_load).toBeGreaterThan(0);
    expect(m.servers[0].connections_rejected_load).toBe(m.system.connections_rejected_load);
    // The pinned clients finish once they read again; then the state recovers.
    for (const { client } of stalled) client.resume();
    for (const { client, id } of stalled) {
      await client.waitEnd(id, 30_000);
      expect(client.dataBytes(id)).toBe(BIG);
    }
    await waitFor(() => sys.metrics().watermark.state === 'normal');
    expect(await attempt(port)).toBe('ok');
  });

  it('test_load_shedding_preserves_active: newcomers are shed, the 5 active requests all complete', async () => {
    // The case (A10): 10 connections, 50 buffers. One connection pins at most 4 buffers,
    // so 5 cannot reach the high watermark of 50; 22 makes 5 x 4 = 20 cross it.
    const { sys, port } = await serve({ maxConnections: 10, tcpBufferPoolSize: 22 });
    const active = await stall(port, 5);
    await waitPinned(sys, 20, (state) => state !== 'normal');
    expect(sys.metrics().watermark.state).not.toBe('normal');
    let newConnected = 0;
    for (let i = 0; i < 20; i++) if ((await attempt(port)) === 'ok') newConnected++;
    expect(newConnected).toBe(0);
    expect(sys.metrics().system.connections_rejected_load).toBe(20);
    expect(sys.metrics().system.connections_rejected).toBe(0); // never the slab: 5 of 10 used
    for (const { client } of active) client.resume();
    for (const { client, id } of active) {
      await client.waitEnd(id, 30_000);
      expect(client.status(id)).toBe(200);
      expect(client.dataBytes(id)).toBe(BIG);
    }
  });

  it('hysteresis: the state leaves critical only below critical - 0.05, and does not flap meanwhile', async () => {
    const { sys, port } = await serve({ maxConnections: 20, tcpBufferPoolSize: 20 });
    const stalled = await stall(port, 5);
    // The steady state first: until the stalled clients' socket buffers are full, writes still
    // complete and buffers come and go (on a loaded machine that can cross critical - 0.05).
    await waitPinned(sys, 20, (state) => state === 'critical');
    const before = sys.metrics().watermark.transitions;
    for (let i = 0; i < 10; i++) await attempt(port); // usage stays around 95-100%
    expect(sys.metrics().watermark.transitions).toBe(before);
    for (const { client } of stalled) client.resume();
    for (const { client, id } of stalled) await client.waitEnd(id, 30_000);
    await waitFor(() => sys.metrics().watermark.state === 'normal');
  });
});

describe('backpressure list (docs/design.md §5)', () => {
  it('a connection without TCP buffers is paused, listed, evicted past backpressureListMax, and resumed', async () => {
    const { sys, port } = await serve({ maxConnections: 10, tcpBufferPoolSize: 20, backpressureListMax: 1 });
    const a = await connect(port);
    const b = await connect(port);
    for (const s of [a, b]) {
      s.on('error', () => {});
      sessions.push(s);
      expect((await request(s, '/')).status).toBe(200);
    }
    const stalled = await stall(port, 5);
    await waitFor(() => sys.metrics().pools.tcp_buffers.used === 20, 10_000);
    // A and B now send requests the server cannot even read.
    const ra = request(a, '/');
    await waitFor(() => sys.metrics().backpressure.list_size === 1);
    const rb = request(b, '/').catch((e: Error) => e);
    await waitFor(() => sys.metrics().backpressure.evicted === 1);
    let m = sys.metrics();
    expect(m.backpressure.list_size).toBe(1);
    expect(m.system.connections_evicted).toBe(1);
    expect(m.system.reads_paused).toBeGreaterThanOrEqual(2);
    expect(await rb).toBeInstanceOf(Error); // B was the lowest priority (the newcomer among equals)
    for (const { client } of stalled) client.resume();
    expect((await ra).status).toBe(200); // A resumed once buffers came back
    for (const { client, id } of stalled) await client.waitEnd(id, 30_000);
    m = sys.metrics();
    expect(m.backpressure.list_size).toBe(0);
  });
});

describe('progress timeout', () => {
  it('a connection whose writes stop draining for sendTimeoutMs is closed and gives its buffers back', async () => {
    const { sys, port } = await serve({ maxConnections: 10, tcpBufferPoolSize: 20, sendTimeoutMs: 400 });
    const [stalled] = await stall(port, 1);
    await waitFor(() => sys.metrics().pools.tcp_buffers.used >= 4, 10_000);
    await waitFor(() => sys.metrics().system.connections_stalled === 1, 5000);
    expect(sys.metrics().system.connections_timed_out).toBe(0);
    await waitFor(() => sys.metrics().pools.tcp_buffers.used === 0 && sys.metrics().connections.active === 0);
    stalled.client.resume();
    await stalled.client.waitClosed(5000);
    expect(stalled.client.dataBytes(stalled.id)).toBeLessThan(BIG);
  });

  it('many paused connections all complete once buffers come back', async () => {
    const { sys, port } = await serve({ maxConnections: 20, tcpBufferPoolSize: 20 });
    const clients = [];
    for (let i = 0; i < 10; i++) {
      const s = await connect(port);
      s.on('error', () => {});
      sessions.push(s);
      clients.push(s);
    }
    const stalled = await stall(port, 5);
    await waitFor(() => sys.metrics().pools.tcp_buffers.used === 20, 10_000);
    const replies = clients.map((s) => request(s, '/'));
    await waitFor(() => sys.metrics().backpressure.list_size === 10);
    for (const { client } of stalled) client.resume();
    for (const r of await Promise.all(replies)) expect(r.status).toBe(200);
    expect(sys.metrics().backpressure.evicted).toBe(0);
    for (const { client, id } of stalled) await client.waitEnd(id, 30_000);
  });
});
