// Self-test of the raw HTTP/2 test client (test/h2raw.ts) against Node's own
// http2.createSecureServer — not against valk-aio, and without the addon (the
// key pair comes from the openssl command). Every listener is on 127.0.0.1.
import * as crypto from 'node:crypto';
import * as http2 from 'node:http2';
import * as net from 'node:net';
import * as tls from 'node:tls';
import { once } from 'node:events';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { opensslKeyPair } from './opensslpair';
import {
  ErrorCode,
  Flag,
  FrameType,
  HpackDecoder,
  RawH2Client,
  encodeFrame,
  errorCodeName,
  hpackEncodeIndexedLiteral,
  hpackEncodeLiteral,
  hpackIndexedField,
  hpackInt,
  huffmanDecode,
  huffmanEncode,
} from './h2raw';

let key = '';
let cert = '';

beforeAll(() => {
  ({ key, cert } = opensslKeyPair());
});

interface Srv {
  server: http2.Http2SecureServer;
  port: number;
  sessions: http2.ServerHttp2Session[];
}

const servers: Srv[] = [];
const clients: RawH2Client[] = [];
const closers: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.destroy();
  for (const s of servers.splice(0)) {
    for (const sess of s.sessions) sess.destroy();
    await new Promise<void>((r) => s.server.close(() => r()));
  }
  for (const f of closers.splice(0)) await f();
});

async function serve(
  onStream: (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, session: http2.ServerHttp2Session) => void,
  onSession?: (session: http2.ServerHttp2Session) => void,
): Promise<Srv> {
  const server = http2.createSecureServer({ key, cert });
  const srv: Srv = { server, port: 0, sessions: [] };
  servers.push(srv);
  server.on('session', (s) => {
    srv.sessions.push(s);
    s.on('error', () => {});
    onSession?.(s);
  });
  server.on('stream', (stream, headers) => {
    stream.on('error', () => {});
    onStream(stream, headers, stream.session as http2.ServerHttp2Session);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  srv.port = (server.address() as { port: number }).port;
  return srv;
}

async function client(port: number, opts: Partial<Parameters<typeof RawH2Client.connect>[0]> = {}): Promise<RawH2Client> {
  const c = await RawH2Client.connect({ port, ...opts });
  clients.push(c);
  return c;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`condition not met in ${ms} ms`);
    await sleep(10);
  }
}

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

describe('HPACK pieces (RFC 7541 Appendix C)', () => {
  it('integers with a prefix (C.1)', () => {
    expect(hpackInt(10, 5)).toEqual(hex('0a'));
    expect(hpackInt(1337, 5)).toEqual(hex('1f9a0a'));
    expect(hpackInt(42, 8)).toEqual(hex('2a'));
    expect(hpackInt(126, 7)).toEqual(hex('7e'));
    expect(hpackInt(127, 7)).toEqual(hex('7f00'));
    expect(hpackInt(128, 7, 0x80)).toEqual(hex('ff01'));
    expect(hpackInt(300, 7)).toEqual(hex('7fad01'));
  });

  it('Huffman: RFC strings, every byte value round trip, EOS and bad padding rejected', () => {
    expect(huffmanEncode('www.example.com')).toEqual(hex('f1e3 c2e5 f23a 6ba0 ab90 f4ff'));
    expect(huffmanEncode('no-cache')).toEqual(hex('a8eb 1064 9cbf'));
    expect(huffmanDecode(hex('aec3 771a 4b')).toString('latin1')).toBe('private');
    expect(huffmanDecode(hex('640e ff')).toString('latin1')).toBe('307');
    const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    expect(huffmanDecode(huffmanEncode(all))).toEqual(all);
    const rnd = crypto.randomBytes(5000);
    expect(huffmanDecode(huffmanEncode(rnd)).equals(rnd)).toBe(true);
    expect(huffmanDecode(Buffer.alloc(0))).toEqual(Buffer.alloc(0));
    expect(() => huffmanDecode(hex('ffffffff'))).toThrow(/EOS/); // 30 ones = EOS
    expect(() => huffmanDecode(hex('00'))).toThrow(/padding/); // '0' (00000) + padding 000
    expect(() => huffmanDecode(hex('1fff'))).toThrow(/padding/); // 'a' (00011) then 11 ones: padding > 7 bits
  });

  it('request examples with Huffman (C.4) share one dynamic table', () => {
    const d = new HpackDecoder();
    expect(d.decode(hex('8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff'))).toEqual([
      [':method', 'GET'], [':scheme', 'http'], [':path', '/'], [':authority', 'www.example.com'],
    ]);
    expect(d.decode(hex('8286 84be 5886 a8eb 1064 9cbf'))).toEqual([
      [':method', 'GET'], [':scheme', 'http'], [':path', '/'], [':authority', 'www.example.com'], ['cache-control', 'no-cache'],
    ]);
    expect(d.decode(hex('8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf'))).toEqual([
      [':method', 'GET'], [':scheme', 'https'], [':path', '/index.html'], [':authority', 'www.example.com'], ['custom-key', 'custom-value'],
    ]);
    expect(d.dynamicTableSize).toBe(164);
  });

  it('response examples with Huffman and eviction (C.6, table size 256)', () => {
    const d = new HpackDecoder();
    expect(d.decode(hex('3fe1 01'))).toEqual([]); // size update to 256 (C.6 runs with a 256-byte table)
    expect(d.dynamicTableMaxSize).toBe(256);
    const date1 = 'Mon, 21 Oct 2013 20:13:21 GMT';
    expect(
      d.decode(hex(`4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6
                    2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3`)),
    ).toEqual([[':status', '302'], ['cache-control', 'private'], ['date', date1], ['location', 'https://www.example.com']]);
    expect(d.dynamicTableSize).toBe(222);
    expect(d.decode(hex('4883 640e ffc1 c0bf'))).toEqual([
      [':status', '307'], ['cache-control', 'private'], ['date', date1], ['location', 'https://www.example.com'],
    ]);
    expect(d.dynamicTableSize).toBe(222);
    expect(
      d.decode(hex(`88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab 77ad 94e7 821d d7f2 e6c7
                    b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f 9587 3160 65c0 03ed 4ee5 b106 3d50 07`)),
    ).toEqual([
      [':status', '200'], ['cache-control', 'private'], ['date', 'Mon, 21 Oct 2013 20:13:22 GMT'], ['location', 'https://www.example.com'],
      ['content-encoding', 'gzip'], ['set-cookie', 'foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1'],
    ]);
    expect(d.dynamicTableSize).toBe(215);
    expect(() => d.decode(hex('80'))).toThrow(/index 0/);
    expect(() => d.decode(hex('ff00'))).toThrow(/out of range/);
    expect(() => new HpackDecoder().decode(hex('3fe2 1f'))).toThrow(/size update/); // 4097 > 4096
  });

  it('the literal encoder round-trips through the decoder, lengths around 127 included', () => {
    const list: [string, string][] = [[':method', 'GET'], [':path', '/x'], ['a'.repeat(127), 'b'.repeat(126)], ['x-long', 'v'.repeat(128)], ['x-longer', 'w'.repeat(20000)]];
    const block = hpackEncodeLiteral(list);
    expect(block[0]).toBe(0x00);
    const d = new HpackDecoder();
    expect(d.decode(block)).toEqual(list);
    expect(d.dynamicTableSize).toBe(0);
  });
});

describe('RawH2Client against node:http2', () => {
  it('connects with ALPN h2 and exchanges SETTINGS', async () => {
    const srv = await serve((s) => s.respond({ ':status': 204 }, { endStream: true }));
    const c = await client(srv.port);
    await c.waitUntil('SETTINGS ACK', () => c.settingsAcked && c.settingsReceived);
    expect(c.socket.alpnProtocol).toBe('h2');
    // Node's server received our SETTINGS and the connection WINDOW_UPDATE.
    await until(() => srv.sessions.length === 1 && srv.sessions[0].remoteSettings.initialWindowSize === 2 ** 31 - 1);
    expect(srv.sessions[0].remoteSettings.enablePush).toBe(false);
    expect(srv.sessions[0].state.remoteWindowSize).toBe(65535 + 2 ** 30);
  });

  it('connect rejects when ALPN is not h2, and when nothing listens', async () => {
    const server = tls.createServer({ key, cert }, (s) => s.on('error', () => {}));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    closers.push(() => new Promise<void>((r) => server.close(() => r())));
    const port = (server.address() as { port: number }).port;
    await expect(RawH2Client.connect({ port })).rejects.toThrow(/ALPN/);
    server.close();
    await expect(RawH2Client.connect({ port })).rejects.toThrow(/ECONNREFUSED/);
  });

  it('(a) GET: body, DATA byte count, END_STREAM, :status 200', async () => {
    const body = Buffer.from('hello from node\n'.repeat(5000)); // 80000 bytes: several DATA frames
    const srv = await serve((s, h) => {
      expect(h[':method']).toBe('GET');
      expect(h[':path']).toBe('/hello?x=1');
      expect(h[':authority']).toBe('localhost');
      expect(h[':scheme']).toBe('https');
      s.respond({ ':status': 200, 'content-type': 'text/plain' });
      s.end(body);
    });
    const c = await client(srv.port);
    const id = c.request('/hello?x=1');
    expect(id).toBe(1);
    await c.waitEnd(id);
    expect(c.ended(id)).toBe(true);
    expect(c.dataBytes(id)).toBe(body.length);
    expect(c.body(id).equals(body)).toBe(true); // (toEqual on big Buffers is slow)
    expect(c.status(id)).toBe(200);
    expect(c.header(id, 'content-type')).toBe('text/plain');
    expect(c.headerBlocks(id)).toHaveLength(1);
    expect(c.rstCode(id)).toBeUndefined();
    const id2 = c.request('/hello?x=1');
    expect(id2).toBe(3);
    await c.waitEnd(id2);
    expect(c.dataBytes(id2)).toBe(body.length);
  });

  it('decodes Huffman-coded and indexed response headers: several statuses, custom headers, trailers', async () => {
    const long = 'L'.repeat(300);
    const srv = await serve((s, h) => {
      const p = String(h[':path']);
      if (p === '/404') s.respond({ ':status': 404, 'x-custom': 'nope' }, { endStream: true });
      else if (p === '/413') s.respond({ ':status': 413, connection: undefined, 'x-reason': 'body too large' }, { endStream: true });
      else if (p === '/503') s.respond({ ':status': 503, 'retry-after': '120', 'x-long': long }, { endStream: true });
      else if (p === '/trailers') {
        s.respond({ ':status': 200 }, { waitForTrailers: true });
        s.on('wantTrailers', () => s.sendTrailers({ 'x-checksum': 'abc123' }));
        s.end('body');
      } else s.respond({ ':status': 200, 'x-custom': 'yes', 'set-cookie': ['a=1', 'b=2'] }, { endStream: true });
    });
    const c = await client(srv.port);
    // Twice each on one connection: the second responses use the dynamic table.
    for (let round = 0; round < 2; round++) {
      const ids = ['/200', '/404', '/413', '/503', '/trailers'].map((p) => c.request(p));
      for (const id of ids) await c.waitEnd(id);
      const [i200, i404, i413, i503, itr] = ids;
      expect(c.status(i200)).toBe(200);
      expect(c.header(i200, 'x-custom')).toBe('yes');
      expect(c.headers(i200)!.filter(([k]) => k === 'set-cookie').map(([, v]) => v)).toEqual(['a=1', 'b=2']);
      expect(c.header(i200, 'date')).toMatch(/GMT$/);
      expect(c.status(i404)).toBe(404);
      expect(c.header(i404, 'x-custom')).toBe('nope');
      expect(c.status(i413)).toBe(413);
      expect(c.header(i413, 'x-reason')).toBe('body too large');
      expect(c.status(i503)).toBe(503);
      expect(c.header(i503, 'retry-after')).toBe('120');
      expect(c.header(i503, 'x-long')).toBe(long);
      expect(c.status(itr)).toBe(200);
      expect(c.body(itr).toString()).toBe('body');
      expect(c.trailers(itr)).toEqual([['x-checksum', 'abc123']]);
    }
    expect(c.hpackError).toBeUndefined();
    // nghttp2 really did use Huffman and the dynamic table (otherwise this test proves little).
    const blocks = c.streamIds().flatMap((id) => c.headerBlocks(id));
    expect(blocks.some((b) => b.includes(Buffer.from('retry-after')))).toBe(false); // never sent as plain text
    expect(blocks.some((b) => b.some((x) => x >= 0xbe))).toBe(true); // indexed fields >= 62: the dynamic table
  });

  it('(b) pause() stalls a 32 MiB download: the server sees backpressure; resume() completes it', async () => {
    const TOTAL = 32 * 1024 * 1024;
    const CHUNK = 64 * 1024;
    const chunk = Buffer.alloc(CHUNK, 0x61);
    const st = { queued: 0, flushed: 0, sawFalse: false, waitingDrain: false, stream: undefined as http2.ServerHttp2Stream | undefined };
    const srv = await serve((s) => {
      st.stream = s;
      s.respond({ ':status': 200, 'content-length': String(TOTAL) });
      void (async () => {
        while (st.queued < TOTAL) {
          const ok = s.write(chunk, () => (st.flushed += CHUNK));
          st.queued += CHUNK;
          if (!ok) {
            st.sawFalse = true;
            st.waitingDrain = true;
            await once(s, 'drain');
            st.waitingDrain = false;
          }
        }
        s.end();
      })().catch(() => {});
    });
    const c = await client(srv.port);
    c.pause();
    expect(c.paused).toBe(true);
    const id = c.request('/big');
    await sleep(500);
    // The server is stuck: nothing more leaves it (checked over 300 ms, a few
    // tries in case a slow machine is still filling the buffers), its stream
    // holds unsent data.
    let stable = false;
    for (let i = 0; i < 10 && !stable; i++) {
      const before = st.flushed;
      await sleep(300);
      stable = st.waitingDrain && st.flushed === before;
    }
    expect(stable).toBe(true);
    expect(st.sawFalse).toBe(true);
    expect(st.waitingDrain).toBe(true);
    expect(st.stream!.writableLength).toBeGreaterThan(0);
    expect(st.flushed).toBeLessThan(TOTAL / 2); // kernel + TLS buffers: a few MiB
    expect(c.dataBytes(id)).toBe(0);
    // PING is not answered while paused either; it is after resume().
    expect(srv.sessions[0].ping(() => {})).toBe(true);
    await sleep(100);
    expect(c.pingsReceived).toBe(0);
    c.resume();
    await c.waitEnd(id, 20_000);
    expect(c.dataBytes(id)).toBe(TOTAL);
    expect(c.status(id)).toBe(200);
    expect(c.pingsReceived).toBe(1);
    expect(st.flushed).toBe(TOTAL);
  });

  it('(c) GOAWAY: error code, last-stream-id and debug data', async () => {
    const srv = await serve(
      (s) => s.respond({ ':status': 200 }, { endStream: true }),
      (session) => session.goaway(ErrorCode.ENHANCE_YOUR_CALM, 0, Buffer.from('server overloaded')),
    );
    const c = await client(srv.port);
    const g = await c.waitGoaway();
    expect(g).toEqual({ errorCode: 11, lastStreamId: 0, debugData: 'server overloaded' });
    expect(c.frameCounts.get(FrameType.GOAWAY)).toBe(1);
  });

  it('waitEnd rejects early for a stream excluded by GOAWAY, waitClosed sees the close', async () => {
    const srv = await serve((s) => s.respond({ ':status': 200 }, { endStream: true }));
    const c = await client(srv.port);
    await until(() => srv.sessions.length === 1);
    srv.sessions[0].goaway(ErrorCode.NO_ERROR, 0);
    await c.waitGoaway();
    const id = c.request('/');
    await expect(c.waitEnd(id, 2000)).rejects.toThrow(/GOAWAY last-stream-id 0/);
    srv.sessions[0].destroy();
    const closed = await c.waitClosed();
    expect(c.socketClosed).toBe(true);
    expect(closed.ended || closed.errorCode !== undefined).toBe(true);
  });

  it('(d) RST_STREAM: the code is recorded per stream', async () => {
    const srv = await serve((s, h) => {
      if (h[':path'] === '/reset') s.close(http2.constants.NGHTTP2_CANCEL);
      else s.respond({ ':status': 200 }, { endStream: true });
    });
    const c = await client(srv.port);
    const a = c.request('/reset');
    const b = c.request('/ok');
    expect(await c.waitRst(a)).toBe(8);
    await c.waitEnd(b);
    expect(c.rstCode(a)).toBe(8);
    expect(c.rstCode(b)).toBeUndefined();
    expect(c.ended(a)).toBe(false);
    await expect(c.waitEnd(a, 1000)).rejects.toThrow(/reset with code 8/);
  });

  it('(e) a request body sent with data() reaches the server intact (beyond its 64 KiB window)', async () => {
    const payload = crypto.randomBytes(300_000 + 7);
    const got: { body?: Buffer; headers?: http2.IncomingHttpHeaders } = {};
    const srv = await serve((s, h) => {
      got.headers = h;
      const parts: Buffer[] = [];
      s.on('data', (d: Buffer) => parts.push(d));
      s.on('end', () => {
        got.body = Buffer.concat(parts);
        s.respond({ ':status': 200 });
        s.end(crypto.createHash('sha256').update(got.body).digest('hex'));
      });
    });
    const c = await client(srv.port);
    const longValue = 'q'.repeat(1000);
    const id = c.request('/upload', {
      method: 'POST',
      endStream: false,
      headers: [['content-type', 'application/octet-stream'], ['x-long', longValue], ['x-' + 'n'.repeat(200), 'v']],
    });
    c.data(id, payload.subarray(0, 100_000), false);
    c.data(id, payload.subarray(100_000), true);
    await c.waitEnd(id);
    expect(c.pendingBytes(id)).toBe(0);
    expect(got.body!.equals(payload)).toBe(true);
    expect(got.headers![':method']).toBe('POST');
    expect(got.headers!['x-long']).toBe(longValue);
    expect(got.headers!['x-' + 'n'.repeat(200)]).toBe('v');
    expect(c.body(id).toString()).toBe(crypto.createHash('sha256').update(payload).digest('hex'));
  });

  it('(f) a PING from the server is answered with an ACK; the client can PING too', async () => {
    const srv = await serve((s) => s.respond({ ':status': 200 }, { endStream: true }));
    const c = await client(srv.port);
    await until(() => srv.sessions.length === 1);
    const payload = Buffer.from('12345678');
    const got = await new Promise<Buffer>((resolve, reject) =>
      srv.sessions[0].ping(payload, (err, _ms, p) => (err ? reject(err) : resolve(p))),
    );
    expect(got).toEqual(payload);
    expect(c.pingsReceived).toBe(1);
    expect(await c.ping()).toBeGreaterThanOrEqual(0);
  });

  it('client rstStream() reaches the server', async () => {
    let code = -1;
    const srv = await serve((s) => {
      s.respond({ ':status': 200 });
      s.write('partial');
      s.on('close', () => (code = s.rstCode));
    });
    const c = await client(srv.port);
    const id = c.request('/');
    await c.waitHeaders(id);
    c.rstStream(id, ErrorCode.CANCEL);
    await until(() => code !== -1);
    expect(code).toBe(8);
  });
});

describe('RawH2Client: the pieces the attacks (test/attacks.ts) use', () => {
  it('HPACK: literals with incremental indexing enter the dynamic table; indexed fields reference it', () => {
    const block = hpackEncodeIndexedLiteral([['x-a', 'one'], ['x-b', 'v'.repeat(200)]]);
    expect(block[0]).toBe(0x40);
    const d = new HpackDecoder();
    expect(d.decode(block)).toEqual([['x-a', 'one'], ['x-b', 'v'.repeat(200)]]);
    expect(d.dynamicTableSize).toBe(3 + 3 + 32 + 3 + 200 + 32);
    // 62 is the newest entry (x-b), 63 the one before; 2 is :method GET (static).
    expect(d.decode(Buffer.concat([hpackIndexedField(62), hpackIndexedField(63), hpackIndexedField(2)]))).toEqual([
      ['x-b', 'v'.repeat(200)], ['x-a', 'one'], [':method', 'GET'],
    ]);
    expect(hpackIndexedField(62)).toEqual(Buffer.from([0xbe]));
    expect(hpackIndexedField(126)).toEqual(Buffer.from([0xfe]));
    expect(hpackIndexedField(127)).toEqual(Buffer.from([0xff, 0x00]));
    expect(hpackIndexedField(300)).toEqual(hpackInt(300, 7, 0x80));
    expect(() => hpackIndexedField(0)).toThrow(RangeError);
    expect(() => d.decode(hpackIndexedField(64))).toThrow(/out of range/);
  });

  it('encodeFrame and errorCodeName', () => {
    expect(encodeFrame(FrameType.PING, Flag.ACK, 0, Buffer.from('12345678'))).toEqual(
      Buffer.concat([Buffer.from([0, 0, 8, 6, 1, 0, 0, 0, 0]), Buffer.from('12345678')]),
    );
    expect(encodeFrame(FrameType.HEADERS, 0x5, 0x80000003).subarray(5).readUInt32BE(0)).toBe(3); // reserved bit cleared
    expect(errorCodeName(0xb)).toBe('ENHANCE_YOUR_CALM');
    expect(errorCodeName(0x77)).toBe('UNKNOWN_0x77');
  });

  it('sendHeaderBlock: a pre-encoded block over HEADERS + CONTINUATIONs, using the server\'s dynamic table', async () => {
    const seen: http2.IncomingHttpHeaders[] = [];
    const srv = await serve((s, h) => {
      seen.push(h);
      s.respond({ ':status': 200 }, { endStream: true });
    });
    const c = await client(srv.port);
    const first = Buffer.concat([
      hpackEncodeLiteral([[':method', 'GET'], [':scheme', 'https'], [':path', '/a'], [':authority', 'localhost']]),
      hpackEncodeIndexedLiteral([['x-entry', 'e'.repeat(100)]]),
    ]);
    const id = c.allocStreamId();
    expect(id).toBe(1);
    // Split anywhere: HPACK does not care where fragments end.
    c.sendHeaderBlock(id, first.subarray(0, 10), { endStream: true, continuations: [first.subarray(10, 50), first.subarray(50)] });
    await c.waitEnd(id);
    const id2 = c.allocStreamId();
    const second = Buffer.concat([hpackEncodeLiteral([[':method', 'GET'], [':scheme', 'https'], [':path', '/b'], [':authority', 'localhost']]), hpackIndexedField(62), hpackIndexedField(62)]);
    c.sendHeaderBlock(id2, second, { endStream: true });
    await c.waitEnd(id2);
    expect(seen[0]['x-entry']).toBe('e'.repeat(100));
    expect(seen[1][':path']).toBe('/b');
    expect(seen[1]['x-entry']).toBe(`${'e'.repeat(100)}, ${'e'.repeat(100)}`);
    expect(c.statusCounts.get('200')).toBe(2);
    expect(c.streamsEnded).toBe(2);
    const rec = c.streamRecord(id2)!;
    expect(rec.headersAt).toBeGreaterThan(0);
    expect(rec.endedAt).toBeGreaterThanOrEqual(rec.headersAt!);
  });

  it('sendHeaderBlock with endHeaders false, then sendContinuation(..., true), completes the request', async () => {
    const seen: http2.IncomingHttpHeaders[] = [];
    const srv = await serve((s, h) => {
      seen.push(h);
      s.respond({ ':status': 204 }, { endStream: true });
    });
    const c = await client(srv.port);
    await c.waitUntil('SETTINGS', () => c.settingsReceived);
    const id = c.allocStreamId();
    c.sendHeaderBlock(id, hpackEncodeLiteral([[':method', 'GET'], [':scheme', 'https'], [':path', '/slow'], [':authority', 'localhost']]), {
      endStream: true,
      endHeaders: false,
    });
    await sleep(100);
    expect(seen).toHaveLength(0); // the block is still open
    expect(c.sendContinuation(id, hpackIndexedField(16), false)).toBe(true); // accept-encoding: gzip, deflate
    expect(c.sendContinuation(id, hpackEncodeLiteral([['x-last', '1']]), true)).toBe(true);
    await c.waitEnd(id);
    expect(seen[0][':path']).toBe('/slow');
    expect(seen[0]['accept-encoding']).toBe('gzip, deflate');
    expect(seen[0]['x-last']).toBe('1');
    expect(c.framesSentByType.get(FrameType.CONTINUATION)).toBe(2);
  });

  it('ackSettings false: the server\'s SETTINGS stay unacknowledged; ackPings false: its PINGs unanswered', async () => {
    const srv = await serve((s) => s.respond({ ':status': 200 }, { endStream: true }));
    const c = await client(srv.port, { ackSettings: false, ackPings: false });
    await c.waitUntil('SETTINGS', () => c.settingsReceived && c.settingsAcked);
    await until(() => srv.sessions.length === 1);
    await sleep(100);
    expect(srv.sessions[0].pendingSettingsAck).toBe(true);
    expect(c.framesSentByType.get(FrameType.SETTINGS)).toBe(1); // ours only, no ACK
    expect(c.settingsFramesReceived).toBe(1);
    expect(c.settingsAcksReceived).toBe(1);
    let acked = false;
    srv.sessions[0].ping(() => (acked = true));
    await c.waitUntil('PING', () => c.pingsReceived === 1);
    await sleep(100);
    expect(acked).toBe(false);
    // The default client ACKs both.
    const d = await client(srv.port);
    await until(() => srv.sessions.length === 2 && !srv.sessions[1].pendingSettingsAck);
    await d.ping();
    expect(d.pingAcksReceived).toBe(1);
    expect(d.framesSentByType.get(FrameType.SETTINGS)).toBe(2); // ours + the ACK
  });

  it('nextStreamId can be set, e.g. back to a lower id (nghttp2 ignores an unused one, not a half-closed one)', async () => {
    const paths: string[] = [];
    const srv = await serve((s, h) => {
      paths.push(String(h[':path']));
      if (h[':path'] !== '/hold') s.respond({ ':status': 200 }, { endStream: true });
    });
    const c = await client(srv.port);
    expect(c.nextStreamId).toBe(1);
    c.nextStreamId = 7;
    const id = c.request('/');
    expect(id).toBe(7);
    await c.waitEnd(id);
    expect(c.nextStreamId).toBe(9);
    const held = c.request('/hold'); // 9: half-closed (remote) on the server, no answer
    await until(() => paths.length === 2);
    c.nextStreamId = 3; // lower than 9, never used: ignored
    c.request('/lower');
    await sleep(100);
    expect(paths).toEqual(['/', '/hold']);
    expect(c.goaways).toHaveLength(0);
    c.nextStreamId = held; // the id of a stream the server holds half-closed: connection error
    c.request('/again');
    const g = await c.waitGoaway();
    // nghttp2 reports STREAM_CLOSED ("HEADERS: stream closed"); Node's session then sends its own code.
    expect([ErrorCode.STREAM_CLOSED, ErrorCode.INTERNAL_ERROR]).toContain(g.errorCode);
    expect(() => (c.nextStreamId = 0)).toThrow(RangeError);
    expect(() => (c.nextStreamId = 2 ** 31)).toThrow(RangeError);
  });

  it('counts frames and bytes both ways, RST codes and statuses; forgetClosedStreams drops finished streams', async () => {
    const srv = await serve((s, h) => {
      if (h[':path'] === '/reset') s.close(http2.constants.NGHTTP2_REFUSED_STREAM);
      else if (h[':path'] === '/404') s.respond({ ':status': 404 }, { endStream: true });
      else s.respond({ ':status': 200 }, { endStream: true });
    });
    const c = await client(srv.port, { forgetClosedStreams: true });
    // Preface (24) + SETTINGS (9 + 12) + WINDOW_UPDATE (9 + 4).
    expect(c.framesSent).toBe(2);
    expect(c.bytesSent).toBe(24 + 21 + 13);
    const ids = ['/a', '/404', '/reset', '/b', '/reset'].map((p) => c.request(p));
    await until(() => c.streamsEnded === 3 && c.rstCounts.get(ErrorCode.REFUSED_STREAM) === 2);
    expect(Object.fromEntries(c.statusCounts)).toEqual({ '200': 2, '404': 1 });
    expect(c.framesSentByType.get(FrameType.HEADERS)).toBe(5);
    expect(c.bytesReceived).toBeGreaterThan(50);
    expect(c.frameCounts.get(FrameType.RST_STREAM)).toBe(2);
    for (const id of ids) expect(c.streamRecord(id)).toBeUndefined();
    // Without the option the records stay.
    const d = await client(srv.port);
    const k = d.request('/reset');
    await d.waitRst(k);
    expect(d.streamRecord(k)?.rstCode).toBe(ErrorCode.REFUSED_STREAM);
    expect(d.streamRecord(k)?.rstAt).toBeGreaterThan(0);
  });

  it('writeRaw, needsDrain, writableLength and waitDrain against a peer that stops reading', async () => {
    const socks: tls.TLSSocket[] = [];
    const raw: net.Socket[] = [];
    const server = tls.createServer({ key, cert, ALPNProtocols: ['h2'] }, (s) => {
      socks.push(s);
      s.on('error', () => {});
      s.pause();
    });
    server.on('connection', (s: net.Socket) => raw.push(s));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    closers.push(async () => {
      for (const s of socks) s.destroy();
      for (const s of raw) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    });
    const c = await client((server.address() as { port: number }).port);
    expect(c.writable).toBe(true);
    expect(await c.waitDrain(10)).toBe(true); // nothing buffered: at once
    const ping = encodeFrame(FrameType.PING, 0, 0, Buffer.alloc(8));
    const chunk = Buffer.concat(Array.from({ length: 4096 }, () => ping)); // 68 KiB
    const before = c.bytesSent;
    let writes = 0;
    let stuck = false;
    // Write until the kernel's buffers are full too: then no 'drain' comes (bounded: 2,000 x 68 KiB).
    for (let round = 0; round < 2000 && !stuck; round++) {
      writes++;
      if (c.writeRaw(chunk, 4096, FrameType.PING)) continue;
      expect(c.needsDrain).toBe(true);
      expect(c.writableLength).toBeGreaterThan(0);
      stuck = !(await c.waitDrain(100));
    }
    expect(stuck).toBe(true);
    expect(c.needsDrain).toBe(true);
    expect(c.bytesSent - before).toBe(writes * chunk.length);
    expect(c.framesSentByType.get(FrameType.PING)).toBe(writes * 4096);
    await until(() => socks.length === 1);
    socks[0].resume();
    expect(await c.waitDrain(10_000)).toBe(true);
    expect(c.needsDrain).toBe(false);
    c.destroy();
    expect(c.writable).toBe(false);
    expect(c.writeRaw(ping, 1)).toBe(false);
    expect(await c.waitDrain(10)).toBe(false);
  });
});
