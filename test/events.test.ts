// Lifecycle events (docs/design.md §13): what the AIO thread records, sys.events(), the ring's
// backpressure seen from JavaScript (a reader that stops reading drives it to DROPPING, and back
// to NORMAL once it reads again), the config's checks. Every listener is on 127.0.0.1.
import * as http from 'node:http';
import * as http2 from 'node:http2';
import { afterEach, describe, expect, it } from 'vitest';
import { AioSystem, startWithConfig } from '../lib/system';
import type { AioEvent } from '../lib/events';
import { eventKinds } from '../lib/events';
import { configWarningList } from '../lib/config';
import { CLEAN_STOP, waitFor } from './helpers';

const systems: AioSystem[] = [];
afterEach(async () => {
  for (const sys of systems.splice(0)) if (sys.running) expect(await sys.stop()).toEqual(CLEAN_STOP);
});

async function serve(cfg = {}) {
  const sys = startWithConfig({ maxConnections: 4, ...cfg });
  systems.push(sys);
  const srv = await sys.listen({ host: '127.0.0.1', port: 0, tls: false, routes: { '/': { body: 'hi\n' } } });
  return { sys, srv, port: srv.port };
}

function get(port: number, agent: http.Agent): Promise<void> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: '/', agent }, (res) => { res.resume(); res.on('end', resolve); }).on('error', reject);
  });
}

/** Collects events until `until` holds for what was collected (or 5 s). */
async function collect(it: AsyncIterableIterator<AioEvent>, until: (got: AioEvent[]) => boolean): Promise<AioEvent[]> {
  const got: AioEvent[] = [];
  const deadline = Date.now() + 5000;
  let pending: Promise<IteratorResult<AioEvent>> | undefined; /* one next() at a time: none is lost */
  while (!until(got) && Date.now() < deadline) {
    pending ??= it.next();
    const r = await Promise.race([pending, new Promise<undefined>((res) => setTimeout(res, 100))]);
    if (r === undefined) continue;
    pending = undefined;
    if (r.done) break;
    got.push(r.value);
  }
  return got;
}

interface EventLogAnswer {
  seq: number; ring: { state: string }; kinds: { kind: string }[];
  events: { seq: number; kind: string; reason: string; time: string; conn: number }[];
}

/** GET /debug/events + q on a fresh cleartext connection, parsed. */
async function askEvents(port: number, q: string): Promise<EventLogAnswer> {
  const agent = new http.Agent({ keepAlive: false });
  const body = await new Promise<string>((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: `/debug/events${q}`, agent }, (res) => {
      let b = '';
      res.setEncoding('utf8').on('data', (d) => { b += d; }).on('end', () => resolve(b));
    }).on('error', reject);
  });
  return JSON.parse(body) as EventLogAnswer;
}

describe('lifecycle events', () => {
  it('the kinds come from the addon, each with what its fields mean', () => {
    const kinds = eventKinds().map((k) => k.kind);
    expect(kinds).toEqual(expect.arrayContaining(['conn_accepted', 'conn_rejected', 'conn_closed', 'stream_opened',
      'stream_closed', 'stream_reset', 'goaway_sent', 'watermark_changed', 'sse_opened', 'sse_closed']));
    for (const k of eventKinds()) expect(k.help.length, k.kind).toBeGreaterThan(10);
  });

  it('a connection\'s life: accepted, its requests opened and closed, closed with its age and bytes; recording only while read', async () => {
    const { sys, port } = await serve();
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    await get(port, agent); // before any reader: not recorded
    agent.destroy();
    await waitFor(() => sys.metrics().connections.active === 0);
    expect(sys.metrics().events.recorded).toBe(0);
    const it = sys.events();
    expect(sys.metrics().events.recording).toBe(1);
    const a2 = new http.Agent({ keepAlive: true, maxSockets: 1 });
    for (let i = 0; i < 3; i++) await get(port, a2);
    a2.destroy();
    const got = await collect(it, (g) => g.some((e) => e.kind === 'conn_closed'));
    await it.return!();
    expect(sys.metrics().events.recording).toBe(0);
    expect(got.map((e) => e.kind)).toEqual(['conn_accepted', 'stream_opened', 'stream_closed', 'stream_opened',
      'stream_closed', 'stream_opened', 'stream_closed', 'conn_closed']);
    const conn = got[0].conn;
    expect(conn).toBeGreaterThan(0);
    expect(got.every((e) => e.conn === conn)).toBe(true);
    expect(got.filter((e) => e.kind === 'stream_opened').map((e) => e.a)).toEqual([1, 3, 5]);
    expect(got[7].b).toBeGreaterThan(3 * 'hi\n'.length); // bytes it sent
    expect(got[7].reason).toBe('peer'); // the client closed it
    expect(got[7].ts).toBeGreaterThanOrEqual(got[0].ts);
  });

  it('eventBatches(): the same events, a batch at a time; return() stops recording', async () => {
    const { sys, port } = await serve();
    const it = sys.eventBatches();
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    for (let i = 0; i < 5; i++) await get(port, agent);
    agent.destroy();
    const seen: AioEvent[] = [];
    const deadline = Date.now() + 5000;
    while (!seen.some((e) => e.kind === 'conn_closed') && Date.now() < deadline) {
      const r = await it.next();
      if (!r.done) {
        expect(r.value.length).toBeGreaterThan(0);
        if (r.value.length > 0) expect(r.value.kindAt(0)).toBe(r.value.at(0).kind);
        seen.push(...r.value);
      }
    }
    await it.return!();
    expect(seen.filter((e) => e.kind === 'stream_opened')).toHaveLength(5);
    expect(seen.filter((e) => e.kind === 'stream_closed')).toHaveLength(5);
    expect(sys.metrics().events.recording).toBe(0);
  });

  it('after return() nothing more comes, even what was drained; concurrent next() calls all settle', async () => {
    const { sys, port } = await serve();
    const it = sys.events();
    const waiting = [it.next(), it.next()]; // both wait for a drain
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    for (let i = 0; i < 3; i++) await get(port, agent);
    const [a, b] = await Promise.all(waiting);
    expect(a.done || b.done).toBe(false);
    await new Promise((r) => setTimeout(r, 60)); // more drained into the reader
    await it.return!();
    expect((await it.next()).done).toBe(true);
    agent.destroy();
    expect(sys.metrics().events.recording).toBe(0);
  });

  it('test_overload_events: past maxConnections the refusals are events with their reason (limit)', async () => {
    const { sys, port } = await serve({ maxConnections: 2 });
    const it = sys.events();
    const held = [http2.connect(`http://127.0.0.1:${port}`), http2.connect(`http://127.0.0.1:${port}`)];
    await Promise.all(held.map((s) => new Promise((r) => s.on('connect', r))));
    const extra = http2.connect(`http://127.0.0.1:${port}`);
    extra.on('error', () => {});
    const got = await collect(it, (g) => g.some((e) => e.kind === 'conn_rejected'));
    await it.return!();
    for (const s of [...held, extra]) s.destroy();
    expect(got.filter((e) => e.kind === 'conn_accepted')).toHaveLength(2);
    const refused = got.filter((e) => e.kind === 'conn_rejected');
    expect(refused).toHaveLength(1);
    expect(refused[0].reason).toBe('limit');
    expect(sys.metrics().system.connections_rejected).toBe(1);
  });

  it('a reader that stops reading drives the ring to DROPPING (drops counted, no memory); reading again brings it back to NORMAL', async () => {
    const { sys, port } = await serve({ traceRingCapacity: 64, traceStabilityMs: 100 });
    const it = sys.events(); // attached, and not read for now
    const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
    for (let i = 0; i < 200; i++) await get(port, agent); // 400 stream events: past the reader's 64 and the ring's 64
    await waitFor(() => sys.metrics().events.state === 'dropping');
    const m = sys.metrics().events;
    expect(m.capacity).toBe(64);
    expect(m.events_dropped).toBeGreaterThan(0);
    expect(m.bytes_dropped).toBe(32 * m.events_dropped);
    expect(m.fill).toBeLessThanOrEqual(64);
    expect(m.transitions.dropping).toBeGreaterThanOrEqual(1); // more if a poll took the reader's share meanwhile
    // reading again: the reader's share and what the ring kept (drop-oldest, the default: the newest)
    const got = await collect(it, (g) => g.length >= 64);
    expect(got.length).toBeGreaterThanOrEqual(64);
    await waitFor(() => sys.metrics().events.state === 'normal');
    const after = sys.metrics().events;
    expect(after.transitions.recovery).toBeGreaterThanOrEqual(1);
    expect(after.transitions.normal).toBeGreaterThanOrEqual(1); // RECOVERY -> NORMAL only after the stability period
    await it.return!();
    agent.destroy();
  });

  it('thread_isolation: two AIO systems in one process, one reader stopped: only its ring drops', async () => {
    const a = await serve({ traceRingCapacity: 64 });
    const b = await serve(); // the default 4096: a reader polling every 20 ms keeps up with this load
    const stalled = a.sys.events(); // attached, never read
    const reading = b.sys.eventBatches();
    let readB = 0;
    const drain = (async () => { for await (const batch of reading) readB += batch.length; })();
    const agentA = new http.Agent({ keepAlive: true, maxSockets: 2 });
    const agentB = new http.Agent({ keepAlive: true, maxSockets: 2 });
    for (let i = 0; i < 150; i++) await Promise.all([get(a.port, agentA), get(b.port, agentB)]);
    await waitFor(() => a.sys.metrics().events.state === 'dropping');
    await waitFor(() => readB >= 300); // every stream event of b arrived
    const mb = b.sys.metrics().events;
    expect(mb.events_dropped).toBe(0);
    expect(mb.transitions.dropping).toBe(0);
    expect(a.sys.metrics().events.events_dropped).toBeGreaterThan(0);
    await stalled.return!();
    await reading.return!();
    await drain;
    agentA.destroy();
    agentB.destroy();
  });

  it('two readers each see every event (one drain, handed to both)', async () => {
    const { sys, port } = await serve();
    const r1 = sys.events();
    const r2 = sys.events();
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    for (let i = 0; i < 3; i++) await get(port, agent);
    agent.destroy();
    const done = (g: AioEvent[]) => g.some((e) => e.kind === 'conn_closed');
    const [g1, g2] = await Promise.all([collect(r1, done), collect(r2, done)]);
    expect(g1.map((e) => e.kind)).toHaveLength(8);
    expect(g2).toEqual(g1);
    await r1.return!();
    expect(sys.metrics().events.recording).toBe(1); // r2 still reads
    await r2.return!();
    expect(sys.metrics().events.recording).toBe(0);
  });

  it('conn_closed says why: idle_timeout for an idle client, shutdown for one the server closed', async () => {
    const { sys, srv, port } = await serve({ idleTimeoutMs: 300 });
    const it = sys.events();
    const idle = http2.connect(`http://127.0.0.1:${port}`);
    idle.on('error', () => {});
    await new Promise((r) => idle.on('connect', r));
    const got = await collect(it, (g) => g.some((e) => e.kind === 'conn_closed'));
    idle.destroy();
    expect(got.find((e) => e.kind === 'conn_closed')?.reason).toBe('idle_timeout');
    expect(got.find((e) => e.kind === 'goaway_sent')).toBeDefined();
    const held = http2.connect(`http://127.0.0.1:${port}`);
    held.on('error', () => {});
    await new Promise((r) => held.on('connect', r));
    const closing = srv.close(); // GOAWAY to every connection; the client then closes its side
    const late = await collect(it, (g) => g.some((e) => e.kind === 'conn_closed'));
    await closing;
    held.destroy();
    await it.return!();
    expect(late.find((e) => e.kind === 'conn_closed')?.reason).toBe('shutdown');
  });

  it('test_event_log: /debug/events holds the newest events for the dashboard, filtered by kind, after a seq', async () => {
    const sys = startWithConfig({ maxConnections: 4 });
    systems.push(sys);
    const srv = await sys.listen({ host: '127.0.0.1', port: 0, tls: false, debug: true, routes: { '/': { body: 'hi\n' } } });
    const ask = (q: string) => askEvents(srv.port, q);
    const first = await ask('');
    expect(first.events).toEqual([]); // the first ask starts the log
    expect(first.kinds.map((k) => k.kind)).toContain('conn_accepted');
    expect(sys.metrics().events.recording).toBe(1);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    for (let i = 0; i < 3; i++) await get(srv.port, agent);
    agent.destroy();
    let all = await ask('');
    for (let i = 0; i < 50 && !all.events.some((e) => e.kind === 'conn_closed' && e.reason === 'peer'); i++) {
      await new Promise((r) => setTimeout(r, 40));
      all = await ask('');
    }
    const kinds = all.events.map((e) => e.kind);
    expect(kinds).toEqual(expect.arrayContaining(['conn_accepted', 'stream_opened', 'stream_closed', 'conn_closed']));
    expect(all.events.map((e) => e.seq)).toEqual([...all.events.keys()].map((i) => all.events[0].seq + i));
    expect(Math.abs(Date.parse(all.events[0].time) - Date.now())).toBeLessThan(60_000); // a wall clock time
    const closes = await ask('?kind=conn_closed,conn_accepted');
    expect(new Set(closes.events.map((e) => e.kind))).toEqual(new Set(['conn_accepted', 'conn_closed']));
    const after = await ask(`?after=${all.seq}`);
    expect(after.events.every((e) => e.seq > all.seq)).toBe(true);
    const two = await ask('?limit=2');
    expect(two.events).toHaveLength(2);
    expect(two.events[1].seq).toBe(two.seq >= all.seq ? two.events[1].seq : -1); // the newest of them
    expect(two.events[1].seq).toBeGreaterThanOrEqual(all.events[all.events.length - 1].seq);
  });

  it('test_event_log_records_only_asked_kinds: a log asked for connection events records no stream events; a reader of all brings them back', async () => {
    const sys = startWithConfig({ maxConnections: 4 });
    systems.push(sys);
    const srv = await sys.listen({ host: '127.0.0.1', port: 0, tls: false, debug: true, routes: { '/': { body: 'hi\n' } } });
    const ask = (q: string) => askEvents(srv.port, q);
    const load = async (n: number) => {
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      for (let i = 0; i < n; i++) await get(srv.port, agent);
      agent.destroy();
    };
    const catalog = await ask('?kind=');
    expect(catalog.events).toEqual([]);
    expect(sys.metrics().events.recording).toBe(0); // asked for no kind: nothing recorded
    const recorded0 = sys.metrics().events.recorded;
    await load(3);
    expect(sys.metrics().events.recorded).toBe(recorded0);

    const conn = 'conn_accepted,conn_closed';
    await ask(`?kind=${conn}`);
    expect(sys.metrics().events.recording).toBe(1);
    const before = sys.metrics().events.recorded;
    await load(300); // 300 requests, one connection: 300 stream_opened + 300 stream_closed if they were recorded
    let got = await ask(`?kind=${conn}`);
    for (let i = 0; i < 50 && !got.events.some((e) => e.kind === 'conn_closed'); i++) {
      await new Promise((r) => setTimeout(r, 40));
      got = await ask(`?kind=${conn}`);
    }
    const grew = sys.metrics().events.recorded - before;
    expect(grew).toBeGreaterThanOrEqual(2); // the connection's accept and close (and the asks' own connections)
    expect(grew).toBeLessThan(20);
    expect(new Set(got.events.map((e) => e.kind))).toEqual(new Set(['conn_accepted', 'conn_closed']));

    // a reader of every event next to the log: the ring records every kind again, and the log still answers
    const ac = new AbortController();
    const seen: string[] = [];
    const reading = (async () => { for await (const e of sys.events({ signal: ac.signal })) seen.push(e.kind); })();
    await load(5);
    for (let i = 0; i < 50 && !seen.includes('stream_closed'); i++) await new Promise((r) => setTimeout(r, 40));
    expect(seen).toContain('stream_opened');
    ac.abort();
    await reading;
    const mid = sys.metrics().events.recorded;
    await ask(`?kind=${conn}`); // the reader gone: connection kinds only again
    await load(50);
    expect(sys.metrics().events.recorded - mid).toBeLessThan(20);
  });

  it('test_config_warnings_as_events: each reader, and the dashboard log, gets the config warnings first, with their numbers', async () => {
    // 100 buffers for 100 connections (recommended 1,450) and 50 arenas: two warnings
    const sys = startWithConfig({ maxConnections: 100, tcpBufferPoolSize: 100, arenaPoolSize: 50 });
    systems.push(sys);
    const srv = await sys.listen({ host: '127.0.0.1', port: 0, tls: false, debug: true, routes: { '/': { body: 'hi\n' } } });
    const first = sys.events();
    const got = await collect(first, (g) => g.length >= 2);
    expect(got.slice(0, 2).map((e) => [e.kind, e.reason, e.a, e.b])).toEqual([
      ['config_warning', 'tcp_buffers_low', 100, 1450], ['config_warning', 'arenas_low', 50, 100]]);
    expect(Math.abs(got[0].ts - Number(process.hrtime.bigint() / 1_000_000n))).toBeLessThan(60_000); // the loop's clock
    // a reader attached later still learns them, then the ring's own events
    const later = sys.events();
    await get(srv.port, new http.Agent({ keepAlive: false }));
    const second = await collect(later, (g) => g.some((e) => e.kind === 'conn_accepted'));
    expect(second.slice(0, 2).map((e) => e.reason)).toEqual(['tcp_buffers_low', 'arenas_low']);
    await first.return!();
    await later.return!();
    // the dashboard's log: the warnings are its first events
    const log = await askEvents(srv.port, '?kind=config_warning');
    expect(log.events.map((e) => e.reason)).toEqual(['tcp_buffers_low', 'arenas_low']);
    // the same reasons and order as the printed warnings (valk-aio config)
    expect(configWarningList(sys.config).map((w) => w.reason)).toEqual(['tcp_buffers_low', 'arenas_low']);

    // a configuration without warnings gives none
    const quiet = startWithConfig({ maxConnections: 4 });
    systems.push(quiet);
    const q = quiet.events();
    const qs = await quiet.listen({ host: '127.0.0.1', port: 0, tls: false, routes: { '/': { body: 'hi\n' } } });
    await get(qs.port, new http.Agent({ keepAlive: false }));
    const none = await collect(q, (g) => g.some((e) => e.kind === 'conn_accepted'));
    expect(none.filter((e) => e.kind === 'config_warning')).toEqual([]);
    await q.return!();
  });

  it('the trace fields are checked like every other: traceDroppingPct below tracePressurePct is refused by name', () => {
    expect(() => startWithConfig({ tracePressurePct: 60, traceDroppingPct: 50 })).toThrow(/traceDroppingPct.*tracePressurePct/);
    expect(() => startWithConfig({ traceRecoveryPct: 70 })).toThrow(/traceRecoveryPct/);
    expect(() => startWithConfig({ traceRingCapacity: 10 })).toThrow(/traceRingCapacity/);
    expect(() => startWithConfig({ traceDropPolicy: 'random' as never })).toThrow(/traceDropPolicy/);
  });
});
