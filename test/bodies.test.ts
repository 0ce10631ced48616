// Request bodies that stream to handlers (issue #12 §1, docs/design.md §7):
// requestBodies 'stream' hands a request to its handler at the end of its
// headers; the body follows in chunks, the client held back by HTTP/2 flow
// control until the handler takes each one. Node's own http2 client is the peer.
import * as http2 from 'node:http2';
import { createHash } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import type { SystemConfig } from '../lib/config';
import type { Handler, Request } from '../lib/handler';
import { AioSystem, startWithConfig } from '../lib/system';
import { keyPair, stopAll, trackedSession, waitFor } from './helpers';

const KiB = 1024;
const MiB = 1024 * KiB;
const systems: AioSystem[] = [];
const sessions: http2.ClientHttp2Session[] = [];

async function serve(handler: Handler, cfg: SystemConfig = {}, requestBodies: 'stream' | 'buffer' = 'stream',
  server: { handlerTimeoutMs?: number } = {}) {
  const sys = startWithConfig(cfg);
  systems.push(sys);
  const srv = await sys.listen({ host: '127.0.0.1', port: 0, ...keyPair(), handler, requestBodies, ...server });
  return { sys, srv, port: srv.port };
}

const session = (port: number) => trackedSession(port, sessions);

/** The reply to a request whose body the caller writes. */
function reply(req: http2.ClientHttp2Stream) {
  return new Promise<{ status: number; body: Buffer; headers: http2.IncomingHttpHeaders }>((resolve, reject) => {
    let status = 0;
    let headers: http2.IncomingHttpHeaders = {};
    const chunks: Buffer[] = [];
    req.on('response', (h) => { headers = h; status = Number(h[':status']); });
    req.on('data', (d: Buffer) => chunks.push(d));
    req.on('end', () => resolve({ status, headers, body: Buffer.concat(chunks) }));
    req.on('error', reject);
  });
}

/** Writes total bytes of pattern (made lazily, with the stream's backpressure) and ends. */
async function upload(req: http2.ClientHttp2Stream, total: number, piece = 256 * KiB): Promise<string> {
  const hash = createHash('sha256');
  const block = Buffer.alloc(piece);
  for (let i = 0; i < piece; i++) block[i] = (i * 31) & 0xff;
  for (let sent = 0; sent < total;) {
    const n = Math.min(piece, total - sent);
    const b = n === piece ? block : block.subarray(0, n);
    hash.update(b);
    sent += n;
    if (!req.write(b)) await new Promise((r) => req.once('drain', r));
  }
  req.end();
  return hash.digest('hex');
}

const held = (sys: AioSystem) => sys.metrics().system.request_body_held_bytes;

afterEach(() => stopAll(sessions, systems));

describe("requestBodies: 'stream'", () => {
  it('the handler runs at the end of the headers and reads the body in the chunks it arrives in', async () => {
    const seen: number[] = [];
    let called = false;
    const { sys, port } = await serve(async (req) => {
      called = true;
      for await (const chunk of req) seen.push(chunk.length);
      return { status: 200 };
    });
    const s = await session(port);
    const req = s.request({ ':path': '/up', ':method': 'POST' });
    const answer = reply(req);
    req.write(Buffer.alloc(1000, 1));
    await waitFor(() => called && seen.length > 0); // before the body ended
    expect(seen).toEqual([1000]);
    await upload(req, 4 * MiB);
    const got = await answer;
    expect(got.status).toBe(200);
    expect(seen.reduce((a, b) => a + b, 0)).toBe(1000 + 4 * MiB);
    expect(Math.max(...seen)).toBeLessThanOrEqual(256 * KiB); // never more than a stream's window at once
    const m = sys.metrics();
    expect(m.system.requests_body_streamed).toBe(1);
    await waitFor(() => held(sys) === 0);
  });

  it('a handler that reads slowly holds its client back: the server holds at most streamWindowSize', async () => {
    let taken = 0;
    let release!: () => void;
    const gate = new Promise<void>((r) => { release = r; });
    const { sys, port } = await serve(async (req) => {
      const it = req[Symbol.asyncIterator]();
      const first = await it.next();
      taken += first.value!.length;
      await gate; // a slow handler
      for (let r = await it.next(); !r.done; r = await it.next()) taken += r.value.length;
      return { status: 200, body: String(taken) };
    });
    const s = await session(port);
    const req = s.request({ ':path': '/slow', ':method': 'POST' });
    const answer = reply(req);
    const done = upload(req, 32 * MiB);
    await new Promise((r) => setTimeout(r, 400));
    // Flow control: what the server holds for the handler is within the stream's window.
    expect(held(sys)).toBeGreaterThan(0);
    expect(held(sys)).toBeLessThanOrEqual(256 * KiB);
    expect(taken).toBeLessThanOrEqual(256 * KiB);
    release();
    await done;
    const got = await answer;
    expect([got.status, got.body.toString()]).toEqual([200, String(32 * MiB)]);
    await waitFor(() => held(sys) === 0);
  }, 60_000);

  it('echo: a streaming answer whose body is the request (full duplex), 16 MiB intact', async () => {
    const { sys, port } = await serve((req) => ({ status: 200, body: req }));
    const s = await session(port);
    const req = s.request({ ':path': '/echo', ':method': 'POST' });
    const answer = reply(req);
    const sent = await upload(req, 16 * MiB, 100_000);
    const got = await answer;
    expect(got.status).toBe(200);
    expect(got.body.length).toBe(16 * MiB);
    expect(createHash('sha256').update(got.body).digest('hex')).toBe(sent);
    await waitFor(() => held(sys) === 0 && sys.metrics().queue.streaming_answers === 0);
  }, 60_000);

  it('1 GiB upload and 1 GiB download through handlers with constant RSS', async () => {
    // Under the sanitizers (scripts/sanitize.sh sets VALK_AIO_ADDON) 128 MiB: the same paths, a tenth of the time.
    const GiB = process.env.VALK_AIO_ADDON ? 128 * MiB : 1024 * MiB;
    const piece = Buffer.alloc(MiB, 5);
    let uploaded = 0;
    const { sys, port } = await serve(async (req) => {
      if (req.path === '/down') {
        return { status: 200, body: (async function* () { for (let i = 0; i < GiB / MiB; i++) yield piece; })() };
      }
      for await (const chunk of req) uploaded += chunk.length;
      return { status: 200, body: String(uploaded) };
    });
    const s = await session(port);
    const before = process.memoryUsage().rss;
    let peak = before;
    const sampler = setInterval(() => { peak = Math.max(peak, process.memoryUsage().rss); }, 20);
    try {
      const up = s.request({ ':path': '/up', ':method': 'POST' });
      const upAnswer = reply(up);
      await upload(up, GiB, MiB);
      expect((await upAnswer).body.toString()).toBe(String(GiB));
      const down = s.request({ ':path': '/down' });
      let got = 0;
      await new Promise<void>((resolve, reject) => {
        down.on('data', (d: Buffer) => { got += d.length; });
        down.on('end', resolve);
        down.on('error', reject);
      });
      expect(got).toBe(GiB);
    } finally {
      clearInterval(sampler);
    }
    // Server and client share this process: both stay within a few windows, nowhere near a GiB.
    expect(peak - before).toBeLessThan(160 * MiB);
    await waitFor(() => held(sys) === 0);
  }, 120_000);

  it('the client resets mid-body: the iterator rejects with the AbortError, the signal aborts, nothing is held', async () => {
    let failure: unknown;
    let request: Request | undefined;
    const { sys, port } = await serve(async (req) => {
      request = req;
      try {
        for await (const chunk of req) void chunk;
      } catch (err) {
        failure = err;
      }
      return { status: 200 };
    });
    const s = await session(port);
    const req = s.request({ ':path': '/cut', ':method': 'POST' });
    req.on('error', () => {});
    req.write(Buffer.alloc(100 * KiB));
    await waitFor(() => request !== undefined);
    req.destroy(); // RST_STREAM(CANCEL) with no END_STREAM (close() would end the body first)
    await waitFor(() => failure !== undefined);
    expect((failure as Error).name).toBe('AbortError');
    expect(request!.signal.aborted).toBe(true);
    await waitFor(() => held(sys) === 0 && sys.metrics().pools.small_arenas.used === 0);
    expect(sys.metrics().system.requests_cancelled).toBe(1);
  });

  it('the handler stops reading mid-body and answers: the rest is dropped, the connection goes on', async () => {
    let got = 0;
    const { sys, port } = await serve(async (req) => {
      if (req.path === '/ok') return { status: 200, body: 'ok' };
      for await (const chunk of req) {
        got += chunk.length;
        if (got >= 64 * KiB) break; // drops the rest
      }
      return { status: 202, body: 'enough' };
    });
    const s = await session(port);
    const req = s.request({ ':path': '/big', ':method': 'POST' });
    const answer = reply(req);
    void upload(req, 64 * MiB).catch(() => {});
    const first = await answer.catch((e: Error) => e);
    // 202, then RST_STREAM(NO_ERROR) for the rest of the upload (RFC 9113 §8.1).
    expect(first).toMatchObject({ status: 202 });
    const next = reply(s.request({ ':path': '/ok' }).end());
    expect((await next).body.toString()).toBe('ok');
    await waitFor(() => held(sys) === 0);
  }, 30_000);

  it('no byte leaks the connection window: dropped bodies, reset streams and static routes are all consumed', async () => {
    // The smallest windows: a few leaked KiB per stream would stall the connection.
    const sys = startWithConfig({ connectionWindowSize: 64 * KiB, streamWindowSize: 64 * KiB });
    systems.push(sys);
    const srv = await sys.listen({
      host: '127.0.0.1', port: 0, ...keyPair(), requestBodies: 'stream', routes: { '/static': { body: 'static' } },
      handler: async (req) => {
        if (req.path === '/ignore') return { status: 200, body: 'ignored' }; // the body is dropped
        let n = 0;
        for await (const chunk of req) n += chunk.length;
        return { status: 200, body: String(n) };
      },
    });
    const s = await session(srv.port);
    // Each round sends many connection windows that nobody reads.
    for (let round = 0; round < 4; round++) {
      const ignored = Array.from({ length: 8 }, () => {
        const req = s.request({ ':path': '/ignore', ':method': 'POST' });
        const r = reply(req).catch((e: Error) => e);
        void upload(req, 200 * KiB).catch(() => {});
        return r;
      });
      const statics = Array.from({ length: 4 }, () => {
        const req = s.request({ ':path': '/static', ':method': 'POST' });
        const r = reply(req).catch((e: Error) => e);
        void upload(req, 100 * KiB).catch(() => {});
        return r;
      });
      for (let i = 0; i < 4; i++) {
        const req = s.request({ ':path': '/count', ':method': 'POST' });
        req.on('error', () => {});
        req.write(Buffer.alloc(100 * KiB));
        setTimeout(() => req.destroy(), 20);
      }
      for (const r of await Promise.all(ignored)) expect(r).toMatchObject({ status: 200 });
      for (const r of await Promise.all(statics)) expect(r).toMatchObject({ status: 405 });
    }
    // The windows are whole: an upload on the same connection goes through, and once all is
    // quiet the server's connection window, as the client sees it, is at least half open
    // (nghttp2 sends WINDOW_UPDATE once half of it was consumed).
    const req = s.request({ ':path': '/count', ':method': 'POST' });
    const answer = reply(req);
    await upload(req, 4 * MiB);
    expect((await answer).body.toString()).toBe(String(4 * MiB));
    await waitFor(() => held(sys) === 0);
    await new Promise((r) => setTimeout(r, 100));
    expect(s.state.remoteWindowSize).toBeGreaterThanOrEqual(32 * KiB);
  }, 60_000);

  it('uploads larger than maxRequestBodySize stream; req.bytes() past it answers 413', async () => {
    const { port } = await serve(async (req) => {
      if (req.path === '/bytes') return { status: 200, body: String((await req.bytes()).length) };
      let n = 0;
      for await (const chunk of req) n += chunk.length;
      return { status: 200, body: String(n) };
    }, { maxRequestBodySize: 64 * KiB });
    const s = await session(port);
    const big = s.request({ ':path': '/stream', ':method': 'POST' });
    const bigAnswer = reply(big);
    await upload(big, 2 * MiB);
    expect((await bigAnswer).body.toString()).toBe(String(2 * MiB));
    const small = s.request({ ':path': '/bytes', ':method': 'POST' });
    const smallAnswer = reply(small);
    await upload(small, 60 * KiB);
    expect((await smallAnswer).body.toString()).toBe(String(60 * KiB));
    const over = s.request({ ':path': '/bytes', ':method': 'POST' });
    const overAnswer = reply(over).catch((e: Error) => e);
    void upload(over, 1 * MiB).catch(() => {});
    expect(await overAnswer).toMatchObject({ status: 413 });
  });

  it('Readable.from(req) and ReadableStream.from(req) read the body as Node and WHATWG streams', async () => {
    const { Readable } = await import('node:stream');
    const { port } = await serve(async (req) => {
      let n = 0;
      if (req.path === '/node') {
        for await (const chunk of Readable.from(req)) n += (chunk as Buffer).length;
      } else {
        const reader = (ReadableStream as unknown as { from(it: AsyncIterable<Buffer>): ReadableStream<Buffer> }).from(req).getReader();
        for (let r = await reader.read(); !r.done; r = await reader.read()) n += r.value.length;
      }
      return { status: 200, body: String(n) };
    });
    const s = await session(port);
    for (const path of ['/node', '/web']) {
      const req = s.request({ ':path': path, ':method': 'POST' });
      const answer = reply(req);
      await upload(req, 3 * MiB + 5);
      expect((await answer).body.toString()).toBe(String(3 * MiB + 5));
    }
  });

  it('a handler that keeps taking chunks is making progress: handlerTimeoutMs starts again with each', async () => {
    let taken = 0;
    const { port } = await serve(async (req) => {
      for await (const chunk of req) taken += chunk.length;
      return { status: 200, body: String(taken) };
    }, {}, 'stream', { handlerTimeoutMs: 300 });
    const s = await session(port);
    const req = s.request({ ':path': '/slow-upload', ':method': 'POST' });
    const answer = reply(req);
    for (let i = 0; i < 8; i++) { // 8 x 100 ms: longer than handlerTimeoutMs, never a pause that long
      req.write(Buffer.alloc(1000));
      await new Promise((r) => setTimeout(r, 100));
    }
    req.end();
    expect(await answer).toMatchObject({ status: 200 });
    // A handler that stops taking is cut off as before.
    const stuck = s.request({ ':path': '/stuck', ':method': 'POST' });
    const stuckAnswer = reply(stuck);
    stuck.write(Buffer.alloc(10));
    const t0 = Date.now();
    expect(await stuckAnswer).toMatchObject({ status: 504 }); // 300 ms after its last chunk
    expect(Date.now() - t0).toBeLessThan(5000);
  });

  it('req.body throws with a pointer to the streaming API; a GET has an empty body to iterate', async () => {
    const { port } = await serve(async (req) => {
      let message = '';
      try { void req.body; } catch (err) { message = (err as Error).message; }
      const parts: Buffer[] = [];
      for await (const chunk of req) parts.push(chunk);
      return { status: 200, body: `${message.includes('for await') ? 'pointed' : message} ${Buffer.concat(parts).length}` };
    });
    const s = await session(port);
    const got = await reply(s.request({ ':path': '/get' }).end());
    expect(got.body.toString()).toBe('pointed 0');
  });

  it('a client that stops sending mid-body is reset after bodyTimeoutMs; the handler learns it', async () => {
    let failure: unknown;
    const { sys, port } = await serve(async (req) => {
      try {
        for await (const chunk of req) void chunk;
      } catch (err) {
        failure = err;
      }
      return { status: 200 };
    }, { bodyTimeoutMs: 300 });
    const s = await session(port);
    const req = s.request({ ':path': '/stall', ':method': 'POST' });
    const closed = new Promise((r) => req.on('close', r));
    req.on('error', () => {});
    req.write(Buffer.alloc(10 * KiB));
    await closed;
    expect(req.rstCode).toBe(http2.constants.NGHTTP2_CANCEL);
    await waitFor(() => failure !== undefined);
    expect((failure as Error).name).toBe('AbortError');
    expect(sys.metrics().system.requests_timed_out).toBe(1);
    await waitFor(() => held(sys) === 0);
  });
});

describe("requestBodies: 'buffer' (the default)", () => {
  it('the request is async-iterable too: the whole body as one chunk; bytes() is the body', async () => {
    const { port } = await serve(async (req) => {
      const parts: Buffer[] = [];
      for await (const chunk of req) parts.push(chunk);
      const again = await req.bytes();
      return { status: 200, body: `${parts.length} ${Buffer.concat(parts).length} ${again.length} ${req.body.length}` };
    }, {}, 'buffer');
    const s = await session(port);
    const req = s.request({ ':path': '/b', ':method': 'POST' });
    const answer = reply(req);
    await upload(req, 300 * KiB);
    expect((await answer).body.toString()).toBe(`1 ${300 * KiB} ${300 * KiB} ${300 * KiB}`);
  });
});
