// The live memory diagnostics stream (issue #5 §1-3, docs/design.md §8, §11.3):
// Server-Sent Events over an HTTP/2 stream that stays open, answered on the
// AIO thread. The snapshot's encoder has its own C tests
// (test/c/test_valk_snapshot.c: test_bitmap_to_hex, test_mem_snapshot_collect,
// test_sse_event_format).
import * as http2 from 'node:http2';
import { afterEach, describe, expect, it } from 'vitest';
import { AioSystem, ListenOptions, startWithConfig } from '../lib/system';
import type { SystemConfig } from '../lib/config';
import { CLEAN_STOP, connect, get, keyPair, request, waitFor } from './helpers';
import { RawH2Client } from './h2raw';

const SSE_PATH = '/debug/diagnostics/memory';
const systems: AioSystem[] = [];
const cleanups: (() => void)[] = [];

afterEach(async () => {
  for (const c of cleanups.splice(0)) c();
  for (const sys of systems.splice(0)) if (sys.running) expect(await sys.stop()).toEqual(CLEAN_STOP);
});

async function serve(cfg: SystemConfig = {}, listen: Partial<ListenOptions> = {}) {
  const sys = startWithConfig(cfg);
  systems.push(sys);
  const srv = await sys.listen({ host: '127.0.0.1', port: 0, ...keyPair(), routes: { '/': { body: 'hi\n' } }, debug: true, ...listen });
  return { sys, srv, port: srv.port };
}

interface SseEvent {
  event?: string;
  id?: number;
  retry?: number;
  data: any;
  dataLines: number;
}

/** Parses complete SSE events out of text; returns them and the unparsed rest. */
function parseEvents(text: string): { events: SseEvent[]; rest: string } {
  const events: SseEvent[] = [];
  let rest = text;
  for (let end = rest.indexOf('\n\n'); end >= 0; end = rest.indexOf('\n\n')) {
    const block = rest.slice(0, end);
    rest = rest.slice(end + 2);
    const ev: SseEvent = { data: undefined, dataLines: 0 };
    for (const line of block.split('\n')) {
      const i = line.indexOf(': ');
      const [k, v] = i < 0 ? [line, ''] : [line.slice(0, i), line.slice(i + 2)];
      if (k === 'event') ev.event = v;
      else if (k === 'id') ev.id = Number(v);
      else if (k === 'retry') ev.retry = Number(v);
      else if (k === 'data') {
        ev.dataLines++;
        ev.data = JSON.parse(v);
      }
    }
    events.push(ev);
  }
  return { events, rest };
}

/** An SSE stream read with Node's http2 client. */
function openStream(port: number, path = SSE_PATH, headers: http2.OutgoingHttpHeaders = {}) {
  const session = http2.connect(`https://127.0.0.1:${port}`, { rejectUnauthorized: false });
  session.on('error', () => {});
  const req = session.request({ ':path': path, ...headers });
  req.on('error', () => {});
  const state = { status: 0, headers: {} as http2.IncomingHttpHeaders, events: [] as SseEvent[], ended: false };
  let buf = '';
  req.setEncoding('utf8');
  req.on('response', (h) => { state.status = Number(h[':status']); state.headers = h; });
  req.on('data', (chunk: string) => {
    const r = parseEvents(buf + chunk);
    buf = r.rest;
    state.events.push(...r.events);
  });
  req.on('end', () => { state.ended = true; });
  const close = () => { req.close(); session.destroy(); };
  cleanups.push(close);
  return { session, req, state, close };
}

describe('the SSE stream', () => {
  it('text/event-stream, no-cache, event: memory with increasing ids, retry once, one JSON data line; open for more than 1 s', async () => {
    const { port } = await serve();
    const s = openStream(port);
    await waitFor(() => s.state.events.length >= 12, 5000);
    expect(s.state.status).toBe(200);
    expect(s.state.headers['content-type']).toBe('text/event-stream; charset=utf-8');
    expect(s.state.headers['cache-control']).toBe('no-cache');
    const evs = s.state.events;
    expect(evs.every((e) => e.event === 'memory' && e.dataLines === 1)).toBe(true);
    expect(evs[0].retry).toBeGreaterThan(0);
    expect(evs.slice(1).every((e) => e.retry === undefined)).toBe(true);
    for (let i = 1; i < evs.length; i++) expect(evs[i].id!).toBeGreaterThan(evs[i - 1].id!);
    expect(s.state.ended).toBe(false);
    const d = evs[evs.length - 1].data;
    const names = d.slabs.map((x: any) => x.name).sort();
    expect(names).toEqual(['admin_connections', 'connections', 'http_clients', 'http_servers', 'small_arenas', 'stream_arenas', 'tcp_buffers']);
    expect(d.owner_map[0]).toBe(`:${port}`);
  });

  it('the alias /api/diagnostics/memory/stream streams too; off without debug (404)', async () => {
    const { port } = await serve();
    const s = openStream(port, '/api/diagnostics/memory/stream');
    await waitFor(() => s.state.events.length >= 2);
    const off = await serve({}, { debug: false });
    expect((await get(off.port, SSE_PATH)).status).toBe(404);
  });

  it('about ten events a second at the default 100 ms; the tick is timed', async () => {
    const { sys, port } = await serve();
    const s = openStream(port);
    await waitFor(() => s.state.events.length >= 1);
    const first = s.state.events.length;
    await new Promise((r) => setTimeout(r, 1000));
    expect(s.state.events.length - first).toBeGreaterThanOrEqual(8);
    const m = sys.metrics().system;
    expect(m.sse_snapshot_last_ns).toBeGreaterThan(0);
    expect(m.sse_snapshot_max_ns).toBeGreaterThanOrEqual(m.sse_snapshot_last_ns);
    expect(m.sse_tick_last_ns).toBeGreaterThanOrEqual(m.sse_snapshot_last_ns);
    expect(m.sse_event_bytes_last).toBeGreaterThan(500);
  });

  it('Last-Event-ID: ids continue after it; one that is not a number is ignored', async () => {
    const { port } = await serve();
    const s = openStream(port, SSE_PATH, { 'last-event-id': '5000' });
    await waitFor(() => s.state.events.length >= 2);
    expect(s.state.events[0].id).toBe(5001);
    expect(s.state.events[1].id).toBe(5002);
    const bad = openStream(port, SSE_PATH, { 'last-event-id': '-1' });
    await waitFor(() => bad.state.events.length >= 1);
    expect(bad.state.events[0].id).toBeLessThan(1000);
  });

  it('HEAD gets the headers and no body; other methods 405', async () => {
    const { port } = await serve();
    const head = await get(port, SSE_PATH, 'HEAD');
    expect(head.status).toBe(200);
    expect(head.headers['content-type']).toBe('text/event-stream; charset=utf-8');
    expect(head.body).toBe('');
    expect((await get(port, SSE_PATH, 'POST')).status).toBe(405);
  });

  it('maxSseStreams: one more gets 503; a closed stream frees its slot', async () => {
    const { sys, port } = await serve({ maxSseStreams: 2 });
    const a = openStream(port);
    const b = openStream(port);
    await waitFor(() => a.state.events.length > 0 && b.state.events.length > 0);
    expect((await get(port, SSE_PATH)).status).toBe(503);
    expect(sys.metrics().system.sse_streams_refused).toBe(1);
    a.close();
    await waitFor(() => sys.metrics().system.sse_streams_active === 1);
    const c = openStream(port);
    await waitFor(() => c.state.events.length > 0);
  });
});

describe('connection states and owners in the snapshot', () => {
  it('test_truthful_states: connections serving requests back to back read Active, not Idle; Idle once they stop', async () => {
    const { port } = await serve();
    const s = openStream(port);
    const load: http2.ClientHttp2Session[] = [];
    for (let i = 0; i < 8; i++) load.push(await connect(port));
    cleanups.push(() => load.forEach((h) => h.destroy()));
    let running = true;
    const loops = load.map(async (h) => { while (running) await request(h, '/'); });
    const latest = () => s.state.events[s.state.events.length - 1]?.data?.slabs.find((x: any) => x.name === 'connections');
    await new Promise((r) => setTimeout(r, 600));
    const first = s.state.events.length;
    await waitFor(() => s.state.events.length >= first + 3);
    const busy = s.state.events.slice(first).map((e) => e.data.slabs.find((x: any) => x.name === 'connections').summary);
    running = false;
    await Promise.all(loops);
    // 9 connections: 8 loading, 1 the SSE stream (a stream open); every one Active in each snapshot
    for (const sum of busy) expect(sum.A, JSON.stringify(sum)).toBe(9);
    await waitFor(() => latest()?.summary.I === 8); // a quiet interval later: idle
    expect(latest().summary.A).toBe(1);
  });

  it('two servers with different loads: the owner breakdown and the states are right', async () => {
    const { sys, port } = await serve();
    const other = await sys.listen({ host: '127.0.0.1', port: 0, ...keyPair(), routes: { '/': { body: 'b' } } });
    const held: http2.ClientHttp2Session[] = [];
    for (let i = 0; i < 3; i++) held.push(await connect(other.port));
    cleanups.push(() => held.forEach((h) => h.destroy()));
    const s = openStream(port);
    await waitFor(() => {
      const d = s.state.events[s.state.events.length - 1]?.data;
      return d !== undefined && d.slabs.find((x: any) => x.name === 'connections').used === 4;
    });
    const d = s.state.events[s.state.events.length - 1].data;
    const conns = d.slabs.find((x: any) => x.name === 'connections');
    const mine = d.owner_map.indexOf(`:${port}`);
    const theirs = d.owner_map.indexOf(`:${other.port}`);
    expect(mine).toBeGreaterThanOrEqual(0);
    expect(theirs).toBeGreaterThanOrEqual(0);
    expect(conns.summary.by_owner[String(mine)]).toBe(1); // the SSE client itself
    expect(conns.summary.by_owner[String(theirs)]).toBe(3);
    expect(conns.summary.A).toBe(1); // the SSE stream is open
    expect(conns.summary.I).toBe(3); // connected, no streams
    expect(conns.states.length).toBe(sys.config.maxConnections);
  });

  it('stopping one server shows its connections C, then F', async () => {
    const { sys, port } = await serve({ drainTimeoutMs: 300 });
    const other = await sys.listen({ host: '127.0.0.1', port: 0, ...keyPair(), routes: { '/': { body: 'b' } } });
    const held = await connect(other.port);
    held.on('error', () => {});
    held.on('goaway', () => {}); // keep the session open: the server must close it
    cleanups.push(() => held.destroy());
    const hold = held.request({ ':path': '/', ':method': 'POST' }, { endStream: false }); // an open stream: drain waits
    hold.on('error', () => {});
    const s = openStream(port);
    const last = () => s.state.events[s.state.events.length - 1]?.data;
    await waitFor(() => last()?.slabs.find((x: any) => x.name === 'connections').used === 2);
    const theirs = String(last().owner_map.indexOf(`:${other.port}`));
    const closing = other.close();
    await waitFor(() => {
      const c = last().slabs.find((x: any) => x.name === 'connections');
      return c.summary.C === 1 && c.summary.by_owner[theirs] === 1;
    });
    await closing;
    await waitFor(() => last().slabs.find((x: any) => x.name === 'connections').used === 1);
    expect(last().owner_map).not.toContain(`:${other.port}`);
  });
});

describe('flow control and cleanup', () => {
  it('a client that stops reading: nothing queues (the newest snapshot only), memory stays flat, the stream survives', async () => {
    const { sys, port } = await serve({ sseIntervalMs: 20 });
    const raw = await RawH2Client.connect({ port, initialWindowSize: 4096, autoWindowUpdate: false });
    cleanups.push(() => raw.destroy());
    const id = raw.request(SSE_PATH);
    await raw.waitUntil('first bytes', () => raw.dataBytes(id) > 0);
    const rss0 = process.memoryUsage.rss();
    await new Promise((r) => setTimeout(r, 1000)); // ~50 snapshots, the window is long exhausted
    expect(sys.metrics().system.sse_events_skipped).toBeGreaterThan(20);
    expect(raw.dataBytes(id)).toBeLessThanOrEqual(4096);
    expect(process.memoryUsage.rss() - rss0).toBeLessThan(8 * 1024 * 1024);
    raw.windowUpdate(0, 1 << 20);
    raw.windowUpdate(id, 1 << 20);
    const before = raw.dataBytes(id);
    await raw.waitUntil('more events', () => raw.dataBytes(id) > before + 4096);
  });

  it('RST_STREAM, connection close, server close and stop leave nothing behind', async () => {
    const { sys, srv, port } = await serve();
    const a = openStream(port);
    const b = openStream(port);
    const c = openStream(port);
    await waitFor(() => [a, b, c].every((x) => x.state.events.length > 0));
    expect(sys.metrics().system.sse_streams_active).toBe(3);
    a.req.close(http2.constants.NGHTTP2_CANCEL);
    b.session.destroy();
    await waitFor(() => sys.metrics().system.sse_streams_active === 1);
    const t0 = Date.now();
    await srv.close(); // the open SSE stream ends; the close does not wait for the drain timeout
    expect(Date.now() - t0).toBeLessThan(sys.config.drainTimeoutMs);
    await waitFor(() => c.state.ended);
    expect(sys.metrics().system.sse_streams_active).toBe(0);
    const again = await sys.listen({ host: '127.0.0.1', port: 0, ...keyPair(), debug: true });
    const d = openStream(again.port);
    await waitFor(() => d.state.events.length > 0);
    expect(await sys.stop()).toEqual(CLEAN_STOP); // stop with an SSE stream open
  });

  it('requests keep working beside SSE streams', async () => {
    const { port } = await serve();
    openStream(port);
    const s = await connect(port);
    cleanups.push(() => s.destroy());
    for (let i = 0; i < 20; i++) expect((await request(s, '/')).status).toBe(200);
  });
});
