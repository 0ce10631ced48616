// Self-test of the attack library (test/attacks.ts): each attack runs for at
// most 1 s against Node's own http2.createSecureServer, and against a
// recorder (a TLS server speaking just enough HTTP/2 to receive: it sends its
// SETTINGS, parses every frame and decodes header blocks with h2raw's HPACK
// decoder), to check the result objects are well formed and that the attack
// sent what it claims. Not against valk-aio, and without the addon (the key
// pair comes from the openssl command). Every listener is on 127.0.0.1.
import * as http2 from 'node:http2';
import * as net from 'node:net';
import * as tls from 'node:tls';
import { once } from 'node:events';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { opensslKeyPair } from './opensslpair';
import {
  AttackResult,
  continuationFlood,
  hpackBomb,
  madeYouReset,
  pingFlood,
  settingsFlood,
  slowloris,
  startProbe,
  stuckStreams,
  zeroWindowHeadersFlood,
  zeroWindowReader,
} from './attacks';
import { Flag, FrameType, HeaderList, HpackDecoder, Setting } from './h2raw';

let key = '';
let cert = '';

beforeAll(() => {
  ({ key, cert } = opensslKeyPair());
});

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const f of closers.splice(0).reverse()) await f();
});

// ---- Node's http2 server -----------------------------------------------------

interface NodeSrv {
  port: number;
  streams: { headers: http2.IncomingHttpHeaders; bodyBytes: number; ended: boolean }[];
  sessions: http2.ServerHttp2Session[];
}

/**
 * Node's server with the bench's paths: '/' answers at once, '/js' once the
 * request body ended, '/big' 1 MiB.
 */
async function nodeServer(opts: http2.SecureServerOptions = {}): Promise<NodeSrv> {
  const server = http2.createSecureServer({ key, cert, ...opts });
  const srv: NodeSrv = { port: 0, streams: [], sessions: [] };
  server.on('session', (s) => {
    srv.sessions.push(s);
    s.on('error', () => {});
  });
  const big = Buffer.alloc(1 << 20, 0x62);
  server.on('stream', (stream, headers) => {
    stream.on('error', () => {});
    const rec = { headers, bodyBytes: 0, ended: false };
    srv.streams.push(rec);
    stream.on('data', (d: Buffer) => (rec.bodyBytes += d.length));
    const p = String(headers[':path']);
    if (p === '/js') {
      stream.on('end', () => {
        rec.ended = true;
        if (!stream.destroyed) stream.respond({ ':status': 200 }, { endStream: true });
      });
    } else if (p === '/big') {
      stream.respond({ ':status': 200 });
      stream.end(big);
    } else {
      stream.respond({ ':status': 200 });
      stream.end('hello\n');
    }
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  srv.port = (server.address() as net.AddressInfo).port;
  closers.push(async () => {
    for (const s of srv.sessions) s.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  });
  return srv;
}

// ---- the recorder ----------------------------------------------------------------

interface RecFrame {
  type: number;
  flags: number;
  sid: number;
  len: number;
  payload?: Buffer; // kept for the first frames of each connection only
}

interface RecConn {
  frames: RecFrame[]; // the first KEEP frames
  counts: Map<number, number>;
  headerStreams: number[]; // stream id of each HEADERS frame (the first KEEP)
  blocks: HeaderList[]; // the first DECODE complete header blocks, decoded
  bytes: number;
}

const KEEP = 5000;

/** A TLS server (ALPN h2) that sends SETTINGS (MAX_CONCURRENT_STREAMS mcs) and records what clients send; it answers nothing. */
async function recorder(mcs = 100, decode = 200): Promise<{ port: number; conns: RecConn[] }> {
  const conns: RecConn[] = [];
  const sockets = new Set<tls.TLSSocket>();
  const server = tls.createServer({ key, cert, ALPNProtocols: ['h2'] }, (sock) => {
    sockets.add(sock);
    sock.on('error', () => {});
    sock.on('close', () => sockets.delete(sock));
    const c: RecConn = { frames: [], counts: new Map(), headerStreams: [], blocks: [], bytes: 0 };
    conns.push(c);
    const dec = new HpackDecoder();
    let buf: Buffer = Buffer.alloc(0);
    let preface = false;
    let block: Buffer[] | undefined;
    const settings = Buffer.alloc(6);
    settings.writeUInt16BE(Setting.MAX_CONCURRENT_STREAMS, 0);
    settings.writeUInt32BE(mcs, 2);
    const h = Buffer.alloc(9);
    h.writeUIntBE(6, 0, 3);
    h[3] = FrameType.SETTINGS;
    sock.write(Buffer.concat([h, settings]));
    sock.on('data', (d: Buffer) => {
      c.bytes += d.length;
      buf = buf.length ? Buffer.concat([buf, d]) : d;
      if (!preface) {
        if (buf.length < 24) return;
        preface = true;
        buf = buf.subarray(24);
      }
      let off = 0;
      while (buf.length - off >= 9) {
        const len = buf.readUIntBE(off, 3);
        if (buf.length - off < 9 + len) break;
        const f: RecFrame = { type: buf[off + 3], flags: buf[off + 4], sid: buf.readUInt32BE(off + 5) & 0x7fffffff, len };
        const payload = buf.subarray(off + 9, off + 9 + len);
        off += 9 + len;
        c.counts.set(f.type, (c.counts.get(f.type) ?? 0) + 1);
        if (c.frames.length < KEEP) {
          f.payload = Buffer.from(payload.subarray(0, 64));
          c.frames.push(f);
        }
        if (f.type === FrameType.HEADERS && c.headerStreams.length < KEEP) c.headerStreams.push(f.sid);
        // Header blocks are decoded (in order: the HPACK state is the connection's) until `decode` are done.
        if (c.blocks.length < decode) {
          if (f.type === FrameType.HEADERS) block = [Buffer.from(payload)];
          else if (f.type === FrameType.CONTINUATION && block) block.push(Buffer.from(payload));
          if ((f.type === FrameType.HEADERS || f.type === FrameType.CONTINUATION) && f.flags & Flag.END_HEADERS && block) {
            c.blocks.push(dec.decode(Buffer.concat(block)));
            block = undefined;
          }
        }
      }
      buf = off >= buf.length ? Buffer.alloc(0) : Buffer.from(buf.subarray(off));
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  closers.push(async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  });
  return { port: (server.address() as net.AddressInfo).port, conns };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const count = (c: RecConn, type: number) => c.counts.get(type) ?? 0;
const sum = (o: Record<string, number>) => Object.values(o).reduce((a, b) => a + b, 0);

/** Every AttackResult field present, with the right types. */
function wellFormed(r: AttackResult, attack: string): void {
  expect(r.attack).toBe(attack);
  expect(() => JSON.stringify(r)).not.toThrow();
  expect(JSON.parse(JSON.stringify(r)).attack).toBe(attack);
  for (const k of ['elapsedMs', 'connections', 'connectFailures', 'serverClosedConnections', 'goawayConnections', 'streamsOpened',
    'framesSent', 'bytesSent', 'bytesReceived', 'errorCount'] as const) {
    expect(Number.isInteger(r[k]), k).toBe(true);
    expect(r[k], k).toBeGreaterThanOrEqual(0);
  }
  for (const k of ['goawayCodes', 'rstReceived', 'statuses', 'framesReceived', 'serverCloseKinds', 'extra', 'options'] as const) {
    expect(typeof r[k], k).toBe('object');
  }
  expect(Array.isArray(r.goaways)).toBe(true);
  expect(Array.isArray(r.errors)).toBe(true);
  expect(r.connectionRecords).toHaveLength(Math.min(r.connections, 200));
  for (const c of r.connectionRecords) expect(typeof c.serverClosed).toBe('boolean');
  expect(r.serverClosedConnections).toBe(r.connectionRecords.filter((c) => c.serverClosed).length);
  expect(sum(r.serverCloseKinds)).toBe(r.serverClosedConnections);
  expect(r.framesSent).toBeGreaterThan(0);
  expect(r.bytesSent).toBeGreaterThan(24); // the preface at least
  expect(new Date(r.startedAt).getTime()).toBeGreaterThan(0);
}

describe('attacks against node:http2 and the recorder (each <= 1 s)', () => {
  it('hpackBomb: one 4,000-byte entry, then 16 KiB HEADERS of index-62 references, in-flight cap respected', async () => {
    const rec = await recorder(10, 3);
    const r = await hpackBomb({ port: rec.port, durationMs: 400, connections: 2, streamsPerConnection: 100, settleMs: 50 });
    wellFormed(r, 'hpackBomb');
    expect(r.connections).toBe(2);
    // The recorder answers nothing: per connection 10 streams in flight (its MAX_CONCURRENT_STREAMS), the entry
    // request and 9 bombs, then the attack waits.
    expect(r.streamsOpened).toBe(20);
    expect(r.extra.streamsInFlightCap).toBe(10);
    expect(rec.conns).toHaveLength(2);
    for (const c of rec.conns) {
      expect(count(c, FrameType.HEADERS)).toBe(10);
      expect(c.headerStreams).toEqual([1, 3, 5, 7, 9, 11, 13, 15, 17, 19]);
      const [entry, bomb] = c.blocks;
      expect(entry.slice(0, 4)).toEqual([[':method', 'GET'], [':scheme', 'https'], [':path', '/'], [':authority', 'localhost']]);
      expect(entry[4]).toEqual(['x-bomb', 'a'.repeat(4000)]);
      const bombFrame = c.frames.filter((f) => f.type === FrameType.HEADERS)[1];
      expect(bombFrame.len).toBe(16384);
      expect(bombFrame.flags).toBe(Flag.END_HEADERS | Flag.END_STREAM);
      expect(bomb.length).toBe(4 + (r.extra.refsPerStream as number));
      expect(bomb.slice(4).every(([n, v]) => n === 'x-bomb' && v.length === 4000)).toBe(true);
    }
    // Node's server refuses the bombs (ENHANCE_YOUR_CALM), and saw the entry request.
    const srv = await nodeServer();
    const n = await hpackBomb({ port: srv.port, durationMs: 300, connections: 1, streamsPerConnection: 20, settleMs: 100 });
    wellFormed(n, 'hpackBomb');
    expect(srv.streams[0].headers['x-bomb']).toBe('a'.repeat(4000));
    expect(sum(n.rstReceived) + sum(n.goawayCodes) + n.serverClosedConnections).toBeGreaterThan(0);
    expect(n.streamsOpened).toBeGreaterThan(1);
  });

  it('stuckStreams: the server sees N open streams with dataBytes each, none ended', async () => {
    const srv = await nodeServer();
    const r = await stuckStreams({ port: srv.port, durationMs: 500, connections: 2, streamsPerConnection: 5, path: '/js', contentLength: 1000, dataBytes: 100 });
    wellFormed(r, 'stuckStreams');
    expect(r.connections).toBe(2);
    expect(r.streamsOpened).toBe(10);
    expect(srv.streams).toHaveLength(10);
    for (const s of srv.streams) {
      expect(s.headers[':method']).toBe('POST');
      expect(s.headers['content-length']).toBe('1000');
      expect(s.bodyBytes).toBe(100);
      expect(s.ended).toBe(false);
    }
    expect(r.extra).toMatchObject({ streams: 10, openAtEnd: 10, responded: 0, reset: 0, dataBytesUnsent: 0 });
    expect(r.serverClosedConnections).toBe(0);
  });

  it('zeroWindowHeadersFlood: window 0, SETTINGS unacknowledged, 100 GETs, then 13-byte HEADERS on new ids', async () => {
    const rec = await recorder(1000, 150);
    const r = await zeroWindowHeadersFlood({ port: rec.port, durationMs: 400, settleMs: 50 });
    wellFormed(r, 'zeroWindowHeadersFlood');
    expect(r.streamsOpened).toBe(100 + (r.extra.floodFrames as number));
    expect(r.extra.floodFrames).toBeGreaterThan(1000);
    const c = rec.conns[0];
    const first = c.frames[0];
    expect(first.type).toBe(FrameType.SETTINGS);
    const entries = new Map<number, number>();
    for (let i = 0; i + 6 <= first.len; i += 6) entries.set(first.payload!.readUInt16BE(i), first.payload!.readUInt32BE(i + 2));
    expect(entries.get(Setting.INITIAL_WINDOW_SIZE)).toBe(0);
    expect(count(c, FrameType.WINDOW_UPDATE)).toBe(0);
    expect(c.frames.some((f) => f.type === FrameType.SETTINGS && f.flags & Flag.ACK)).toBe(false); // never ACKed
    expect(count(c, FrameType.HEADERS)).toBeGreaterThan(1000);
    expect(count(c, FrameType.HEADERS)).toBeLessThanOrEqual(r.streamsOpened);
    const ids = c.headerStreams;
    expect(ids.every((id, i) => id === 2 * i + 1)).toBe(true);
    const flood = c.frames.filter((f) => f.type === FrameType.HEADERS).slice(101, 200);
    expect(flood.every((f) => f.len === 4 && f.flags === (Flag.END_HEADERS | Flag.END_STREAM))).toBe(true);
    expect(c.blocks[100]).toEqual([[':method', 'GET'], [':scheme', 'https'], [':path', '/'], [':authority', 'localhost']]);
    expect(c.blocks[140]).toEqual(c.blocks[100]);
    // Node's server: well formed whatever it does (it resets the connection at some point).
    const srv = await nodeServer();
    wellFormed(await zeroWindowHeadersFlood({ port: srv.port, durationMs: 300, settleMs: 100 }), 'zeroWindowHeadersFlood');
  });

  it('continuationFlood: HEADERS without END_HEADERS, then CONTINUATIONs on the same stream; Node closes the connection', async () => {
    const rec = await recorder(100, 0);
    const r = await continuationFlood({ port: rec.port, durationMs: 300, settleMs: 50 });
    wellFormed(r, 'continuationFlood');
    const c = rec.conns[0];
    const hs = c.frames.filter((f) => f.type === FrameType.HEADERS);
    expect(hs).toHaveLength(1);
    expect(hs[0].flags & Flag.END_HEADERS).toBe(0);
    const conts = c.frames.filter((f) => f.type === FrameType.CONTINUATION);
    expect(conts.length).toBeGreaterThan(1000);
    expect(conts.every((f) => f.sid === 1 && f.flags === 0 && f.len === 16)).toBe(true);
    expect(new HpackDecoder().decode(conts[0].payload!)).toEqual([['x-c', 'a'.repeat(10)]]);
    // Nothing else inside the header block: HEADERS, then only CONTINUATIONs.
    const after = c.frames.slice(c.frames.indexOf(hs[0]) + 1);
    expect(after.every((f) => f.type === FrameType.CONTINUATION)).toBe(true);
    expect(r.extra.continuationFrames).toBeGreaterThanOrEqual(count(c, FrameType.CONTINUATION));
    const srv = await nodeServer();
    const n = await continuationFlood({ port: srv.port, durationMs: 500, settleMs: 200 });
    wellFormed(n, 'continuationFlood');
    expect(n.serverClosedConnections + n.goawayConnections).toBeGreaterThan(0);
    expect(n.connections).toBe(1); // no reconnect by default
  });

  it('settingsFlood and pingFlood: the frames arrive as claimed; reading, Node ACKs them', async () => {
    const rec = await recorder(100, 0);
    const s = await settingsFlood({ port: rec.port, durationMs: 300, settleMs: 50 });
    wellFormed(s, 'settingsFlood');
    const c = rec.conns[0];
    const settings = c.frames.filter((f) => f.type === FrameType.SETTINGS && !(f.flags & Flag.ACK));
    expect(settings.length).toBeGreaterThan(1000);
    expect(settings.slice(1).every((f) => f.len === 24 && f.sid === 0)).toBe(true);
    expect(s.extra.floodFrames).toBeGreaterThanOrEqual(count(c, FrameType.SETTINGS) - 2);
    const p = await pingFlood({ port: rec.port, durationMs: 300, settleMs: 50 });
    wellFormed(p, 'pingFlood');
    const pc = rec.conns[1];
    const pings = pc.frames.filter((f) => f.type === FrameType.PING);
    expect(pings.length).toBeGreaterThan(1000);
    expect(pings.every((f) => f.len === 8 && f.flags === 0)).toBe(true);
    expect(new Set(pings.slice(0, 100).map((f) => f.payload!.toString('hex'))).size).toBe(100); // distinct payloads
    const srv = await nodeServer();
    const n = await pingFlood({ port: srv.port, durationMs: 200, read: true, batchFrames: 16, settleMs: 100 });
    wellFormed(n, 'pingFlood');
    expect(n.extra.acksReceived).toBeGreaterThan(0);
  });

  it('zeroWindowReader: headers but no DATA on any stream', async () => {
    const srv = await nodeServer();
    const r = await zeroWindowReader({ port: srv.port, durationMs: 500, path: '/big', streams: 5 });
    wellFormed(r, 'zeroWindowReader');
    expect(srv.streams).toHaveLength(5);
    expect(r.extra).toMatchObject({ streams: 5, streamsWithHeaders: 5, dataBytesReceived: 0, streamsEnded: 0 });
    expect(r.statuses).toEqual({ '200': 5 });
  });

  it('slowloris: 1 byte per interval in the body, or in 1-byte CONTINUATIONs', async () => {
    const srv = await nodeServer();
    const r = await slowloris({ port: srv.port, durationMs: 700, variant: 'body', connections: 2, streamsPerConnection: 2, intervalMs: 200, path: '/js' });
    wellFormed(r, 'slowloris');
    expect(srv.streams).toHaveLength(4);
    for (const s of srv.streams) {
      expect(s.bodyBytes).toBeGreaterThanOrEqual(2);
      expect(s.bodyBytes).toBeLessThanOrEqual(4);
    }
    expect(r.extra.byHow).toEqual({ open: 4 });
    const rec = await recorder(100, 0);
    const h = await slowloris({ port: rec.port, durationMs: 700, variant: 'headers', connections: 2, intervalMs: 200, settleMs: 50 });
    wellFormed(h, 'slowloris');
    expect(h.streamsOpened).toBe(2);
    for (const c of rec.conns) {
      const conts = c.frames.filter((f) => f.type === FrameType.CONTINUATION);
      expect(conts.length).toBeGreaterThanOrEqual(2);
      expect(conts.every((f) => f.len === 1 && f.payload![0] === 0x90 && f.flags === 0)).toBe(true);
    }
    const recs = h.extra.streamRecords as { how: string; bytesSent: number }[];
    expect(recs).toHaveLength(2);
    expect(recs.every((s) => s.how === 'open' && s.bytesSent >= 2)).toBe(true);
  });

  it('madeYouReset: request + provoking frame pairs; Node resets (or closes) as the RFC allows', async () => {
    const rec = await recorder(100, 0);
    const r = await madeYouReset({ port: rec.port, durationMs: 300, provoke: 'window-update-0', settleMs: 50 });
    wellFormed(r, 'madeYouReset');
    const c = rec.conns[0];
    // The recorder resets nothing: the attack stops at MAX_CONCURRENT_STREAMS (100) in flight.
    expect(r.streamsOpened).toBe(100);
    const fs_ = c.frames.filter((f) => f.sid > 0 && (f.type === FrameType.HEADERS || f.type === FrameType.WINDOW_UPDATE));
    expect(fs_).toHaveLength(200);
    for (let i = 0; i < 200; i += 2) {
      expect(fs_[i]).toMatchObject({ type: FrameType.HEADERS, sid: i + 1, flags: Flag.END_HEADERS | Flag.END_STREAM });
      expect(fs_[i + 1]).toMatchObject({ type: FrameType.WINDOW_UPDATE, sid: i + 1, len: 4 });
      expect(fs_[i + 1].payload!.readUInt32BE(0)).toBe(0);
    }
    const srv = await nodeServer();
    const o = await madeYouReset({ port: srv.port, durationMs: 300, provoke: 'oversized-data', path: '/js' });
    wellFormed(o, 'madeYouReset');
    expect(o.rstReceived.PROTOCOL_ERROR).toBeGreaterThan(100); // content-length mismatch: a stream error, repeatable
    expect(o.extra.requestsSent).toBe(o.streamsOpened);
    for (const provoke of ['window-update-0', 'data-on-half-closed', 'window-update-overflow', 'headers-on-half-closed'] as const) {
      const x = await madeYouReset({ port: srv.port, durationMs: 200, provoke, settleMs: 100 });
      wellFormed(x, 'madeYouReset');
      expect(sum(x.rstReceived) + x.goawayConnections + x.serverClosedConnections, provoke).toBeGreaterThan(0);
    }
    await expect(madeYouReset({ port: srv.port, durationMs: 100, provoke: 'nope' as never })).rejects.toThrow(/unknown provoke/);
  });

  it('startProbe: GETs at an interval, latency percentiles; failures against a closed port', async () => {
    const srv = await nodeServer();
    const p = startProbe({ port: srv.port, path: '/', intervalMs: 20 });
    await sleep(500);
    const res = await p.stop();
    expect(res.ok).toBeGreaterThanOrEqual(15);
    expect(res.failed).toBe(0);
    expect(res.statuses).toEqual({ '200': res.ok });
    expect(res.connects).toBe(1);
    expect(res.latencyMs.p50).toBeGreaterThan(0);
    expect(res.latencyMs.p99).toBeGreaterThanOrEqual(res.latencyMs.p50);
    expect(res.latencyMs.max).toBeGreaterThanOrEqual(res.latencyMs.p99);
    // Reconnects after the server closes the session.
    const p2 = startProbe({ port: srv.port, path: '/', intervalMs: 20 });
    await sleep(200);
    for (const s of srv.sessions) s.destroy();
    await sleep(300);
    const res2 = await p2.stop();
    expect(res2.connects).toBeGreaterThanOrEqual(2);
    expect(res2.ok).toBeGreaterThan(10);
    // Nothing listens: every request fails, none hangs past stop().
    const dead = net.createServer().listen(0, '127.0.0.1');
    await once(dead, 'listening');
    const deadPort = (dead.address() as net.AddressInfo).port;
    await new Promise<void>((r) => dead.close(() => r()));
    const p3 = startProbe({ port: deadPort, intervalMs: 50, timeoutMs: 200 });
    await sleep(300);
    const res3 = await p3.stop();
    expect(res3.ok).toBe(0);
    expect(res3.failed).toBeGreaterThan(0);
    expect(res3.firstFailureMs).not.toBeNull();
  });

  it('attacks never throw for refused connections: nothing listens', async () => {
    const dead = net.createServer().listen(0, '127.0.0.1');
    await once(dead, 'listening');
    const port = (dead.address() as net.AddressInfo).port;
    await new Promise<void>((r) => dead.close(() => r()));
    const r = await hpackBomb({ port, durationMs: 200, connections: 1, settleMs: 0 });
    expect(r.connections).toBe(0);
    expect(r.connectFailures).toBeGreaterThan(0);
    expect(r.errors[0]).toMatch(/ECONNREFUSED/);
    const s = await settingsFlood({ port, durationMs: 100, settleMs: 0 });
    expect(s.connections).toBe(0);
    expect(s.connectFailures).toBe(1);
  });
});
