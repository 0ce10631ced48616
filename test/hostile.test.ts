// Hostile clients (issue #10, docs/RELIABILITY.md): every attack the issue
// lists, run through the raw client (test/h2raw.ts, test/attacks.ts) against
// a server with JavaScript routes (debug routes on) and its admin listener.
// While each attack runs: the process's RSS stays under a stated bound, a
// well-behaved client on the same server (/health, a JavaScript route) and
// on the admin listener (/debug/metrics) keep getting 200, and the counter
// naming the reason moves; after it: 0 leaked slots, buffers and arenas.
// Every listener is on 127.0.0.1; every attack is bounded in time and count.
import { afterEach, describe, expect, it } from 'vitest';
import type { SystemConfig } from '../lib/config';
import type { Handler } from '../lib/handler';
import { AioSystem, startWithConfig } from '../lib/system';
import {
  AttackResult, ProbeResult, continuationFlood, hpackBomb, madeYouReset, pingFlood, settingsFlood, slowloris, startProbe,
  stuckStreams, zeroWindowHeadersFlood, zeroWindowReader,
} from './attacks';
import { ErrorCode, FrameType, Flag, RawH2Client, hpackEncodeLiteral } from './h2raw';
import { CLEAN_STOP, keyPair, waitFor } from './helpers';

const MiB = 1024 * 1024;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const systems: AioSystem[] = [];
const clients: RawH2Client[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.destroy();
  for (const sys of systems.splice(0)) {
    if (sys.running) expect(await sys.stop()).toEqual(CLEAN_STOP);
  }
});

/** Short bounds so every attack meets them within a test (defaults: docs/RELIABILITY.md). */
const FAST: SystemConfig = {
  settingsTimeoutMs: 1000, headersTimeoutMs: 1000, bodyTimeoutMs: 800, requestTimeoutMs: 2500, sendTimeoutMs: 1000,
};

const BIG = Buffer.alloc(MiB, 0x61);

/** A handler: /slow answers after 2 s, /big with 1 MiB, everything else at once. */
const handler: Handler = async (req) => {
  if (req.path === '/slow') await sleep(2000);
  if (req.path === '/big') return { status: 200, body: BIG };
  return { status: 200, body: `js ${req.path}\n` };
};

async function target(cfg: SystemConfig = {}, h: Handler = handler, listen: Record<string, unknown> = {}) {
  const sys = startWithConfig({ ...FAST, ...cfg });
  systems.push(sys);
  const srv = await sys.listen({
    host: '127.0.0.1', port: 0, ...keyPair(), debug: true, handler: h,
    routes: { '/': { status: 200, headers: { 'content-type': 'text/plain' }, body: 'hello\n' }, '/static-big': { body: BIG } },
    ...listen,
  });
  const admin = await sys.listenAdmin({ port: 0, ...keyPair() });
  return { sys, srv, port: srv.port, adminPort: admin.port };
}

interface UnderAttack<T> {
  result: T;
  main: ProbeResult;
  admin: ProbeResult;
  /** Peak RSS during the attack minus RSS before it, MiB. */
  growthMib: number;
}

/** Runs attack with a well-behaved client on the server and on the admin listener, sampling RSS. */
async function underAttack<T>(t: { port: number; adminPort: number }, attack: () => Promise<T>): Promise<UnderAttack<T>> {
  const main = startProbe({ port: t.port, path: '/health', intervalMs: 50, timeoutMs: 3000 });
  const admin = startProbe({ port: t.adminPort, path: '/debug/metrics', intervalMs: 100, timeoutMs: 3000 });
  await sleep(100);
  const rss0 = process.memoryUsage.rss();
  let peak = rss0;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 20);
  try {
    const t0 = Date.now();
    const result = await attack();
    await sleep(Math.max(300, 800 - (Date.now() - t0))); // the clients go on a while after the attack
    return { result, main: await main.stop(), admin: await admin.stop(), growthMib: (peak - rss0) / MiB };
  } finally {
    clearInterval(sampler);
  }
}

/** Under AddressSanitizer (scripts/sanitize.sh) freed memory waits in its quarantine: RSS bounds are 4x. */
const RSS_SLACK = /libasan/.test(process.env.LD_PRELOAD ?? '') ? 4 : 1;

/** The well-behaved clients got only 200s, and enough of them to mean it; RSS grew less than the bound. */
function expectServed(u: UnderAttack<unknown>, rssBoundMib: number): void {
  if (process.env.VALK_HOSTILE_LOG) console.log(`HOSTILE ${expect.getState().currentTestName}: rss +${u.growthMib.toFixed(1)} MiB, main p99 ${u.main.latencyMs.p99.toFixed(1)} ms (${u.main.ok} ok), admin p99 ${u.admin.latencyMs.p99.toFixed(1)} ms`);
  expect(u.main.failed, JSON.stringify(u.main.errors)).toBe(0);
  expect(u.admin.failed, JSON.stringify(u.admin.errors)).toBe(0);
  expect(u.main.ok).toBeGreaterThanOrEqual(4);
  expect(u.admin.ok).toBeGreaterThanOrEqual(2);
  expect(u.growthMib).toBeLessThan(rssBoundMib * RSS_SLACK);
}

const sum = (r: Record<string, number>) => Object.values(r).reduce((a, b) => a + b, 0);

describe('an answer belongs to exactly one request', () => {
  it('test_late_answer_never_reaches_another_request: a handler answering after its 504 cannot answer the next request', async () => {
    let n = 0;
    // One arena: the second request must reuse the first one's slot.
    const { sys, port } = await target({ maxConnections: 10, arenaPoolSize: 1 }, async (req) => {
      const me = ++n;
      await sleep(me === 1 ? 1500 : 500);
      return { status: 200, body: `answer ${me} for ${req.path}` };
    }, { handlerTimeoutMs: 1000 });
    const c = await RawH2Client.connect({ port });
    clients.push(c);
    const a = c.request('/first');
    await sleep(1100); // the 504 went at 1.0 s; the first handler answers at 1.5 s
    const b = c.request('/second');
    await c.waitEnd(a, 5000);
    await c.waitEnd(b, 5000);
    expect(c.status(a)).toBe(504);
    expect(c.status(b)).toBe(200);
    expect(c.body(b).toString()).toBe('answer 2 for /second');
    const s = sys.metrics().servers[0];
    expect(s.handler_timeouts).toBe(1);
  });

  it('the binding refuses a token it has no request for: stale, repeated or never delivered', async () => {
    const sys = startWithConfig({ ...FAST, arenaPoolSize: 10, maxConnections: 10 });
    systems.push(sys);
    const handle = (sys as unknown as { handle: { respond: (...a: unknown[]) => boolean } }).handle;
    const respond = handle.respond.bind(handle);
    const tokens: number[] = [];
    handle.respond = (token: unknown, ...rest: unknown[]) => {
      tokens.push(token as number);
      return respond(token, ...rest);
    };
    const srv = await sys.listen({ host: '127.0.0.1', port: 0, ...keyPair(), handler: (req) => ({ status: 200, body: req.path }) });
    const c = await RawH2Client.connect({ port: srv.port });
    clients.push(c);
    const first = c.request('/one');
    await c.waitEnd(first);
    expect(tokens).toHaveLength(1);
    // A repeated answer for the first request, once a second one has used its slot.
    const second = c.request('/two');
    await c.waitEnd(second);
    expect(() => respond(tokens[0], 200, [], 'stale')).toThrow(/no such request in flight/);
    expect(() => respond(0, 200, [], 'never')).toThrow(/no such request in flight/);
    expect(() => respond(-1, 200, [], 'bad')).toThrow(/no such request in flight/);
    expect(() => respond(1.5, 200, [], 'bad')).toThrow(/no such request in flight/);
    expect(c.body(second).toString()).toBe('/two');
    expect(tokens[1]).not.toBe(tokens[0]);
    expect(tokens[1] % 65536).toBe(tokens[0] % 65536); // the same slot, another generation
  });

  it('a client reset while JavaScript has the request: the answer is dropped, the arena comes back', async () => {
    const { sys, port } = await target();
    const c = await RawH2Client.connect({ port });
    clients.push(c);
    const id = c.request('/slow');
    await waitFor(() => sys.metrics().pools.small_arenas.used === 1); // a request without a body: a small arena
    c.rstStream(id);
    const other = c.request('/fast');
    await c.waitEnd(other);
    expect(c.body(other).toString()).toBe('js /fast\n');
    await waitFor(() => sys.metrics().pools.small_arenas.used === 0, 5000);
    expect(sys.metrics().system.requests_cancelled).toBe(1);
  });
});

describe('header limits', () => {
  it('SETTINGS_MAX_HEADER_LIST_SIZE is advertised; 129 fields or 70 KB of them get 431; the connection goes on', async () => {
    // (One field over 64 KiB is nghttp2's COMPRESSION_ERROR: it ends the connection before any limit of ours.)
    const { sys, port } = await target();
    const c = await RawH2Client.connect({ port });
    clients.push(c);
    await c.ping();
    expect(c.serverSettings.get(0x6)).toBe(64 * 1024);
    const many = c.request('/x', { headers: Array.from({ length: 125 }, (_, i) => [`x-h${i}`, 'v'] as [string, string]) });
    const big = c.request('/', { headers: [['x-big', 'b'.repeat(50_000)], ['x-big2', 'b'.repeat(20_000)]] });
    const fine = c.request('/', { headers: Array.from({ length: 120 }, (_, i) => [`x-h${i}`, 'v'] as [string, string]) });
    for (const id of [many, big, fine]) await c.waitEnd(id);
    expect(c.status(many)).toBe(431);
    expect(c.status(big)).toBe(431);
    expect(c.status(fine)).toBe(200);
    expect(sys.metrics().system.headers_too_large).toBe(2);
    await c.ping();
  });

  it('trailers over the limit once the response began: RST_STREAM(ENHANCE_YOUR_CALM)', async () => {
    const { sys, port } = await target({ maxRequestBodySize: 1024 });
    const c = await RawH2Client.connect({ port });
    clients.push(c);
    const id = c.request('/upload', { method: 'POST', endStream: false });
    c.data(id, Buffer.alloc(2048), false); // 413 goes out early
    await c.waitHeaders(id);
    expect(c.status(id)).toBe(413);
    await c.ping();
    expect(sys.metrics().system.responses_too_large).toBe(1);
  });

  it('test_hpack_bomb: indexed references to a 4 KB entry (~64 MB decoded per frame) cost the limit, not their size', async () => {
    const t = await target();
    const u = await underAttack(t, () => hpackBomb({ port: t.port, path: '/health', durationMs: 1500, connections: 2 }));
    const r = u.result as AttackResult;
    expect((r.extra as { bombStreams: number }).bombStreams).toBeGreaterThanOrEqual(200);
    expect(r.statuses['431']).toBeGreaterThanOrEqual(100);
    expect(t.sys.metrics().system.headers_too_large).toBeGreaterThanOrEqual(200);
    expect(t.sys.metrics().system.h2_memory_peak).toBeLessThan(8 * MiB);
    expectServed(u, 100);
  });

  it('test_hpack_bomb on a server with static routes only: 431 as well', async () => {
    const sys = startWithConfig(FAST);
    systems.push(sys);
    const srv = await sys.listen({ host: '127.0.0.1', port: 0, ...keyPair(), routes: { '/': { body: 'hello\n' } } });
    const r = await hpackBomb({ port: srv.port, durationMs: 800, connections: 1, streamsPerConnection: 50 });
    expect(r.statuses['431']).toBeGreaterThanOrEqual(50);
    expect(sys.metrics().system.headers_too_large).toBeGreaterThanOrEqual(50);
  });

  it('test_continuation_flood: a header block that never ends is cut (nghttp2: 8 CONTINUATIONs)', async () => {
    const t = await target();
    const u = await underAttack(t, () => continuationFlood({ port: t.port, durationMs: 1000, reconnect: true, maxConnections: 50 }));
    expect(u.result.serverClosedConnections).toBeGreaterThanOrEqual(1);
    expect(u.result.goawayCodes['PROTOCOL_ERROR(1) too many CONTINUATION frames']).toBeGreaterThanOrEqual(1);
    expect(t.sys.metrics().system.connections_protocol_error).toBeGreaterThanOrEqual(u.result.goawayConnections);
    expectServed(u, 100);
  });
});

describe('memory budget per connection', () => {
  it('test_session_memory_budget: headers waiting for their bodies stop at 3/4 of maxSessionMemory: REFUSED_STREAM', async () => {
    const t = await target({ maxSessionMemory: 256 * 1024, maxHeaderListSize: 32 * 1024 });
    const c = await RawH2Client.connect({ port: t.port });
    clients.push(c);
    const ids = [];
    for (let i = 0; i < 12; i++) ids.push(c.request('/upload', { method: 'POST', endStream: false, headers: [['x-pad', 'p'.repeat(30_000)]] }));
    await c.ping();
    await waitFor(() => ids.some((id) => c.rstCode(id) === ErrorCode.REFUSED_STREAM));
    expect(t.sys.metrics().system.streams_refused).toBeGreaterThanOrEqual(1);
    expect(t.sys.metrics().system.h2_memory_peak).toBeLessThan(256 * 1024 + 64 * 1024);
    // Another connection is not affected.
    const d = await RawH2Client.connect({ port: t.port });
    clients.push(d);
    const ok = d.request('/');
    await d.waitEnd(ok);
    expect(d.status(ok)).toBe(200);
  });

  it('test_zero_window_unacked_settings_flood: the refused streams exhaust the reset budget; memory stays bounded', async () => {
    const t = await target();
    const u = await underAttack(t, () => zeroWindowHeadersFlood({ port: t.port, durationMs: 2500, path: '/' }));
    const m = t.sys.metrics().system;
    expect(u.result.serverClosedConnections).toBe(1);
    expect(m.connections_reset_flood + m.connections_settings_timeout + m.connections_stalled).toBe(1);
    expect(m.resets_sent).toBeGreaterThanOrEqual(1000);
    expect(m.h2_memory_peak).toBeLessThan(t.sys.config.maxSessionMemory + 4 * MiB);
    expectServed(u, 100);
  });

  it('test_settings_never_acked: GOAWAY(SETTINGS_TIMEOUT) after settingsTimeoutMs', async () => {
    const t = await target();
    const c = await RawH2Client.connect({ port: t.port, ackSettings: false });
    clients.push(c);
    const ok = c.request('/');
    await c.waitEnd(ok); // requests are served meanwhile
    const g = await c.waitGoaway(3000);
    expect(g.errorCode).toBe(ErrorCode.SETTINGS_TIMEOUT);
    expect(g.debugData).toBe('SETTINGS not acknowledged');
    expect(t.sys.metrics().system.connections_settings_timeout).toBe(1);
    await c.waitClosed(3000);
  });

  it('test_settings_flood and test_ping_flood, reading: past controlFrameRate, GOAWAY(ENHANCE_YOUR_CALM)', async () => {
    const t = await target({ controlFrameRate: 100 });
    const u = await underAttack(t, async () => [
      await settingsFlood({ port: t.port, durationMs: 600, read: true }),
      await pingFlood({ port: t.port, durationMs: 600, read: true }),
    ]);
    for (const r of u.result) expect(r.goawayCodes['ENHANCE_YOUR_CALM(11) too many control frames']).toBeGreaterThanOrEqual(1);
    expect(t.sys.metrics().system.connections_frame_flood).toBeGreaterThanOrEqual(2);
    expectServed(u, 100);
  });

  it('test_ping_flood, not reading: answers back up, the server stops reading, then closes the stalled connection', async () => {
    const t = await target({ controlFrameRate: 1_000_000 });
    const u = await underAttack(t, async () => {
      const c = await RawH2Client.connect({ port: t.port });
      clients.push(c);
      for (let i = 0; i < 32; i++) c.request('/static-big'); // 32 MiB: more than the socket buffers hold, so the writes block
      c.pause();
      await sleep(200);
      const ping = Buffer.alloc(8);
      for (let i = 0; i < 50_000 && !c.socketClosed; i++) {
        c.sendFrame(FrameType.PING, 0, 0, ping);
        if (i % 1000 === 999) await sleep(1);
      }
      await waitFor(() => t.sys.metrics().system.connections_stalled === 1, 5000).catch((e) => { console.log(JSON.stringify(t.sys.metrics().system)); throw e; });
      return c;
    });
    const m = t.sys.metrics().system;
    expect(m.reads_blocked_output).toBeGreaterThanOrEqual(1);
    expect(m.connections_stalled).toBe(1);
    expect(m.h2_memory_peak).toBeLessThan(t.sys.config.maxSessionMemory);
    expectServed(u, 100);
  });
});

describe('time bounds', () => {
  it('test_stuck_streams: 2 x 100 streams opened and left silent hold no arena, and get 408 after bodyTimeoutMs', async () => {
    const t = await target();
    let arenasHeld = 0;
    const sampler = setInterval(() => (arenasHeld = Math.max(arenasHeld, t.sys.metrics().pools.arenas.used)), 20);
    const u = await underAttack(t, () => stuckStreams({ port: t.port, path: '/health', durationMs: 1500, connections: 2 }))
      .finally(() => clearInterval(sampler));
    const r = u.result as AttackResult;
    expect((r.extra as { streams: number }).streams).toBe(200);
    expect(r.statuses['408']).toBe(200);
    expect(t.sys.metrics().system.requests_timed_out).toBe(200);
    expect(arenasHeld).toBeLessThanOrEqual(5); // the probes' requests only: the 200 silent streams hold none
    expectServed(u, 100);
  });

  it('test_arena_share: 2 x 100 streams holding a body byte each leave the last quarter of the arenas to others', async () => {
    // Big arenas only: the share rule of one pool (the small pool has the same rule).
    const t = await target({ bodyTimeoutMs: 5000, smallArenaPoolSize: 0 });
    const u = await underAttack(t, () => stuckStreams({ port: t.port, path: '/health', durationMs: 1500, connections: 2, dataBytes: 1 }));
    const m = t.sys.metrics();
    expect(m.system.arenas_refused_share).toBeGreaterThanOrEqual(1);
    expect(u.result.statuses['503']).toBeGreaterThanOrEqual(1);
    expectServed(u, 200);
  });

  it('test_arena_share, small arenas too: the last quarter of each pool stays with light connections', async () => {
    const t = await target({ bodyTimeoutMs: 5000, smallArenaPoolSize: 100, arenaPoolSize: 100 });
    const u = await underAttack(t, () => stuckStreams({ port: t.port, path: '/health', durationMs: 1500, connections: 2, dataBytes: 1 }));
    const m = t.sys.metrics();
    expect(m.system.arenas_refused_share).toBeGreaterThanOrEqual(1);
    expect(u.result.statuses['503']).toBeGreaterThanOrEqual(1);
    expectServed(u, 200);
  });

  it('the admin listener has arenas of its own: /debug/metrics answers while the main pool is empty', async () => {
    const t = await target({ maxConnections: 10, arenaPoolSize: 4, smallArenaPoolSize: 0, bodyTimeoutMs: 5000 });
    const c = await RawH2Client.connect({ port: t.port });
    clients.push(c);
    for (let i = 0; i < 4; i++) c.data(c.request('/upload', { method: 'POST', endStream: false }), Buffer.from('x'), false);
    await waitFor(() => t.sys.metrics().pools.arenas.used === 4);
    const d = await RawH2Client.connect({ port: t.port });
    clients.push(d);
    const refused = d.request('/health');
    await d.waitEnd(refused);
    expect(d.status(refused)).toBe(503);
    const a = await RawH2Client.connect({ port: t.adminPort });
    clients.push(a);
    const ok = a.request('/debug/metrics');
    await a.waitEnd(ok);
    expect(a.status(ok)).toBe(200);
  });

  it('test_slowloris body trickle: a byte every 300 ms keeps bodyTimeoutMs away but not requestTimeoutMs', async () => {
    const t = await target({ bodyTimeoutMs: 1000, requestTimeoutMs: 1500 });
    const u = await underAttack(t, () => slowloris({ port: t.port, variant: 'body', durationMs: 2500, intervalMs: 300, path: '/health', connections: 1, streamsPerConnection: 20 }));
    const r = u.result as AttackResult;
    expect(r.statuses['408']).toBe(20);
    expect(t.sys.metrics().system.requests_timed_out).toBe(20);
    expectServed(u, 100);
  });

  it('test_slowloris header trickle: a header block trickled a byte at a time closes its connection', async () => {
    const t = await target();
    const u = await underAttack(t, () => slowloris({ port: t.port, variant: 'headers', durationMs: 2000, intervalMs: 150, path: '/health', connections: 2 }));
    const m = t.sys.metrics().system;
    expect(m.connections_headers_timeout + m.connections_protocol_error).toBeGreaterThanOrEqual(2);
    expect(u.result.serverClosedConnections).toBe(2);
    expectServed(u, 100);
  });

  it('test_zero_window_reader: responses a client never opens its window for are reset after sendTimeoutMs', async () => {
    const t = await target();
    const u = await underAttack(t, () => zeroWindowReader({ port: t.port, path: '/big', streams: 20, durationMs: 2000 }));
    expect(u.result.rstReceived.CANCEL).toBe(20);
    expect(t.sys.metrics().system.streams_send_timed_out).toBe(20);
    await waitFor(() => t.sys.metrics().pools.arenas.used === 0 && t.sys.metrics().pools.small_arenas.used === 0);
    await waitFor(() => t.sys.metrics().queue.pinned_bodies === 0); // the reset answers' Buffers let go
    expectServed(u, 150);
  });
});

describe('resets', () => {
  it('test_made_you_reset: resets the server is made to send count toward streamResetRate', async () => {
    const t = await target({ streamResetRate: 20 });
    // DATA after END_STREAM is a stream error here (RFC 9113 §5.1): the server resets the stream
    // while its request is with JavaScript. (nghttp2 makes a zero WINDOW_UPDATE a connection error.)
    // Three connections one after the other; each is cut by its budget. (A client that reconnects
    // without end is the admission checks' to bound: maxConnections, maxConnectionsPerIp.)
    const u = await underAttack(t, () => madeYouReset({ port: t.port, path: '/slow', provoke: 'data-on-half-closed', durationMs: 1500, reconnect: true, maxConnections: 3 }));
    const r = u.result as AttackResult;
    expect(r.goawayCodes['ENHANCE_YOUR_CALM(11) too many stream resets']).toBeGreaterThanOrEqual(1);
    const m = t.sys.metrics().system;
    expect(m.connections_reset_flood).toBeGreaterThanOrEqual(1);
    expect(m.resets_sent).toBeGreaterThanOrEqual(200);
    // What the resets left with JavaScript (orphaned requests, each holding its arena until its
    // handler returns) is bounded by the connections' shares of the arenas, not by the resets.
    expect(t.sys.metrics().pools.arenas.used).toBeLessThanOrEqual(t.sys.config.arenaPoolSize - 40);
    expectServed(u, 100);
  });

  it('honest clients are never cut: 4,500 requests and 500 client resets on one connection', async () => {
    const t = await target();
    const c = await RawH2Client.connect({ port: t.port });
    clients.push(c);
    for (let round = 0; round < 50; round++) {
      const ids = [];
      for (let i = 0; i < 90; i++) ids.push(c.request('/'));
      for (let i = 0; i < 10; i++) c.rstStream(c.request('/', { endStream: false }));
      for (const id of ids) await c.waitEnd(id);
    }
    await c.ping();
    expect(c.goawayInfo).toBeUndefined();
    expect(t.sys.metrics().system.connections_reset_flood).toBe(0);
  });
});

describe('a response header block nghttp2 refuses', () => {
  it('a handler answering 70 KB of headers gets a 500 and an error event; the stream frees its arena', async () => {
    const t = await target({}, () => ({ status: 200, headers: { 'x-huge': 'h'.repeat(70_000) }, body: 'x' }));
    const errors: Error[] = [];
    t.srv.on('error', (e: Error) => errors.push(e));
    const c = await RawH2Client.connect({ port: t.port });
    clients.push(c);
    const id = c.request('/huge');
    await c.waitEnd(id);
    expect(c.status(id)).toBe(500);
    await c.ping();
    await waitFor(() => t.sys.metrics().pools.arenas.used === 0);
    expect(errors.map((e) => e.message)).toEqual([expect.stringMatching(/response headers of 70\d+ bytes exceed 61440/)]);
  });

  it('an answer past the bound that reaches C anyway (the binding called directly) is a 500, counted', async () => {
    const sys = startWithConfig(FAST);
    systems.push(sys);
    const handle = (sys as unknown as { handle: { respond: (...a: unknown[]) => boolean } }).handle;
    const respond = handle.respond.bind(handle);
    handle.respond = (token: unknown, _status: unknown, _headers: unknown, body: unknown) =>
      respond(token, 200, ['x-huge', 'h'.repeat(70_000)], body);
    const srv = await sys.listen({ host: '127.0.0.1', port: 0, ...keyPair(), handler: () => ({ status: 200, body: 'x' }) });
    const c = await RawH2Client.connect({ port: srv.port });
    clients.push(c);
    const id = c.request('/');
    await c.waitEnd(id);
    expect(c.status(id)).toBe(500);
    expect(sys.metrics().system.responses_refused_headers).toBe(1);
    const again = c.request('/');
    await c.waitEnd(again);
    await c.ping();
  });

  it('a static route with headers past the bound is refused at listen', async () => {
    const sys = startWithConfig(FAST);
    systems.push(sys);
    await expect(sys.listen({ host: '127.0.0.1', port: 0, ...keyPair(), routes: { '/': { headers: { 'x-huge': 'h'.repeat(70_000) }, body: 'x' } } }))
      .rejects.toThrow(/exceed/);
  });
});

describe('RFC 9113 §5.1 stream states', () => {
  async function conn(port: number) {
    const c = await RawH2Client.connect({ port });
    clients.push(c);
    return c;
  }

  it('DATA on a stream that closed normally: connection error STREAM_CLOSED', async () => {
    const t = await target();
    const c = await conn(t.port);
    const id = c.request('/');
    await c.waitEnd(id);
    await c.ping();
    c.sendFrame(FrameType.DATA, 0, id, Buffer.from('late'));
    const g = await c.waitGoaway();
    expect(g.errorCode).toBe(ErrorCode.STREAM_CLOSED);
    expect(g.debugData).toBe('frame on a closed stream');
    expect(t.sys.metrics().system.connections_protocol_error).toBe(1);
  });

  it('HEADERS on a stream that closed normally: connection error STREAM_CLOSED', async () => {
    const t = await target();
    const c = await conn(t.port);
    const id = c.request('/');
    await c.waitEnd(id);
    await c.ping();
    c.sendFrame(FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, id, hpackEncodeLiteral([['x-trailer', '1']]));
    expect((await c.waitGoaway()).errorCode).toBe(ErrorCode.STREAM_CLOSED);
  });

  it('a new stream id lower than one already used: connection error PROTOCOL_ERROR', async () => {
    const t = await target();
    const c = await conn(t.port);
    const a = c.request('/');
    c.nextStreamId = 7;
    const b = c.request('/');
    await c.waitEnd(a);
    await c.waitEnd(b);
    c.nextStreamId = 5; // never used: implicitly closed by 7
    c.request('/');
    const g = await c.waitGoaway();
    expect(g.errorCode).toBe(ErrorCode.PROTOCOL_ERROR);
    expect(g.debugData).toBe('stream id lower than one already used');
    expect(g.lastStreamId).toBe(7);
  });

  it('DATA after END_STREAM (half-closed remote): stream error STREAM_CLOSED; the connection and its other streams go on', async () => {
    const t = await target();
    const c = await conn(t.port);
    const slow = c.request('/slow');
    const other = c.request('/slow');
    await sleep(100);
    c.sendFrame(FrameType.DATA, 0, slow, Buffer.from('after the end'));
    expect(await c.waitRst(slow)).toBe(ErrorCode.STREAM_CLOSED);
    await c.waitEnd(other, 5000);
    expect(c.status(other)).toBe(200);
    expect(c.goawayInfo).toBeUndefined();
    expect(t.sys.metrics().system.streams_state_error).toBe(1);
    await waitFor(() => t.sys.metrics().pools.arenas.used === 0, 5000);
  });

  it('trailers after END_STREAM (half-closed remote): stream error STREAM_CLOSED', async () => {
    const t = await target();
    const c = await conn(t.port);
    const slow = c.request('/slow');
    await sleep(100);
    c.sendFrame(FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, slow, hpackEncodeLiteral([['x-trailer', '1']]));
    expect(await c.waitRst(slow)).toBe(ErrorCode.STREAM_CLOSED);
    await c.ping();
    expect(c.goawayInfo).toBeUndefined();
  });

  it('frames on a stream the server reset are ignored (RFC 9113 §5.1: they may be in flight)', async () => {
    const t = await target({ maxRequestBodySize: 1024 });
    const c = await conn(t.port);
    const id = c.request('/upload', { method: 'POST', endStream: false, headers: [['content-length', '100000']] });
    await c.waitHeaders(id);
    expect(c.status(id)).toBe(413);
    await c.waitRst(id);
    c.sendFrame(FrameType.DATA, 0, id, Buffer.alloc(100));
    c.sendFrame(FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, id, hpackEncodeLiteral([['x-trailer', '1']]));
    c.sendFrame(FrameType.WINDOW_UPDATE, 0, id, Buffer.from([0, 0, 1, 0]));
    await c.ping();
    expect(c.goawayInfo).toBeUndefined();
  });

  it('WINDOW_UPDATE and RST_STREAM on a stream that closed normally are allowed', async () => {
    const t = await target();
    const c = await conn(t.port);
    const id = c.request('/');
    await c.waitEnd(id);
    c.windowUpdate(id, 1000);
    c.rstStream(id, ErrorCode.CANCEL);
    await c.ping();
    expect(c.goawayInfo).toBeUndefined();
  });
});
