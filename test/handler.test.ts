// JavaScript handlers (issue #4 §1): requests cross from the AIO thread in
// batches, answers go back; the failure cases each get the right status and
// leave no slot or arena behind.
import * as http2 from 'node:http2';
import { spawn } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import type { SystemConfig } from '../lib/config';
import type { Handler } from '../lib/handler';
import { AioServer, AioSystem, startWithConfig } from '../lib/system';
import { CLEAN_STOP, keyPair, request, stopAll, trackedSession, waitFor } from './helpers';

const systems: AioSystem[] = [];
const sessions: http2.ClientHttp2Session[] = [];

async function serve(handler: Handler, cfg: SystemConfig = {}, listen: Record<string, unknown> = {}) {
  const sys = startWithConfig(cfg);
  systems.push(sys);
  const srv = await sys.listen({
    host: '127.0.0.1', port: 0, ...keyPair(), routes: { '/static': { body: 'static\n' } }, handler, ...listen,
  });
  return { sys, srv, port: srv.port };
}

const session = (port: number) => trackedSession(port, sessions);

function send(s: http2.ClientHttp2Session, path: string, body?: string) {
  return new Promise<{ status: number; headers: http2.IncomingHttpHeaders; body: string }>((resolve, reject) => {
    const req = s.request({ ':path': path, ':method': body === undefined ? 'GET' : 'POST' });
    let status = 0;
    let headers: http2.IncomingHttpHeaders = {};
    const chunks: Buffer[] = [];
    req.on('response', (h) => { headers = h; status = Number(h[':status']); });
    req.on('data', (d: Buffer) => chunks.push(d));
    req.on('end', () => resolve({ status, headers, body: Buffer.concat(chunks).toString('utf8') }));
    req.on('error', reject);
    req.end(body);
  });
}

const errorsOf = (srv: AioServer) => {
  const errors: Error[] = [];
  srv.on('error', (e: Error) => errors.push(e));
  return errors;
};

afterEach(() => stopAll(sessions, systems));

describe('JavaScript handlers', () => {
  it('gets method, path, query, headers, body, remoteAddress, streamId; routes come first', async () => {
    let seen: Parameters<Handler>[0] | undefined;
    const { sys, port } = await serve((req) => {
      seen = req;
      return { status: 201, headers: { 'x-echo': req.headers['x-test'] ?? '' }, body: Buffer.concat([Buffer.from('got:'), req.body]) };
    });
    const s = await session(port);
    expect((await request(s, '/static')).body).toBe('static\n');
    const r = await new Promise<{ status: number; echo: unknown; body: string }>((resolve) => {
      const req = s.request({ ':path': '/api/x?a=1&b=two', ':method': 'PUT', 'x-test': 'yes' });
      const chunks: Buffer[] = [];
      let status = 0;
      let echo: unknown;
      req.on('response', (h) => { status = Number(h[':status']); echo = h['x-echo']; });
      req.on('data', (d: Buffer) => chunks.push(d));
      req.on('end', () => resolve({ status, echo, body: Buffer.concat(chunks).toString() }));
      req.end('payload');
    });
    expect(r).toEqual({ status: 201, echo: 'yes', body: 'got:payload' });
    expect(seen!.method).toBe('PUT');
    expect(seen!.path).toBe('/api/x');
    expect(seen!.query.get('b')).toBe('two');
    expect(seen!.headers['x-test']).toBe('yes');
    expect(seen!.headers[':authority']).toBe(`127.0.0.1:${port}`);
    expect(seen!.remoteAddress).toBe('127.0.0.1');
    expect(seen!.streamId).toBeGreaterThan(0);
    expect(sys.metrics().system.requests_dispatched).toBe(1);
  });

  it('10,000 requests through a handler, 100 at a time, each with its own body', async () => {
    const { sys, port } = await serve((req) => ({ status: 200, body: `n=${req.query.get('n')}` }), { maxConcurrentStreams: 100 });
    const s = await session(port);
    for (let batch = 0; batch < 100; batch++) {
      const replies = await Promise.all(Array.from({ length: 100 }, (_, i) => send(s, `/n?n=${batch * 100 + i}`)));
      replies.forEach((r, i) => {
        expect(r.status).toBe(200);
        expect(r.body).toBe(`n=${batch * 100 + i}`);
      });
    }
    expect(sys.metrics().system.requests_dispatched).toBe(10_000);
    expect(sys.metrics().pools.arenas.used).toBe(0);
  }, 60_000);

  it('string bodies go out as UTF-8 with their byte length; bytes and empty bodies too', async () => {
    const text = 'h\u00e9llo \u2713 \u{1d11e}\n';
    const { port } = await serve((req) => {
      if (req.path === '/text') return { status: 200, body: text };
      if (req.path === '/bytes') return { status: 200, body: new Uint8Array([1, 2, 3]) };
      if (req.path === '/empty') return { status: 200, body: '' };
      return { status: 200, body: `body ${req.body.length} ${Buffer.isBuffer(req.body)}` };
    });
    const s = await session(port);
    const t = await send(s, '/text');
    expect(t.body).toBe(text);
    expect(Number(t.headers['content-length'])).toBe(Buffer.byteLength(text));
    const b = await send(s, '/bytes');
    expect(Buffer.from(b.body, 'utf8')).toEqual(Buffer.from([1, 2, 3]));
    const e = await send(s, '/empty');
    expect(e).toMatchObject({ status: 200, body: '' });
    expect(e.headers['content-length']).toBe('0');
    expect((await send(s, '/nobody')).body).toBe('body 0 true');
    expect((await send(s, '/withbody', 'abc')).body).toBe('body 3 true');
  });

  it('headers read after the handler returned: repeated ones joined, pseudo-headers included', async () => {
    let seen: Parameters<Handler>[0] | undefined;
    const { port } = await serve(async (req) => {
      seen = req;
      await new Promise((r) => setImmediate(r));
      return { status: 200, body: `${req.headers['x-rep']}|${req.headers[':method']}|${req.headers[':path']}` };
    });
    const s = await session(port);
    const r = await new Promise<string>((resolve, reject) => {
      const req = s.request({ ':path': '/h?q=1', 'x-rep': ['a', 'b'] });
      let body = '';
      req.on('data', (d: Buffer) => { body += d; });
      req.on('end', () => resolve(body));
      req.on('error', reject);
      req.end();
    });
    expect(r).toBe('a, b|GET|/h?q=1');
    expect(seen!.headers['x-rep']).toBe('a, b');
    expect(seen!.query.get('q')).toBe('1');
  });

  it('answers to many connections at once each reach their own stream (one flush per connection)', async () => {
    const { sys, port } = await serve((req) => ({ status: 200, headers: { 'x-path': req.path }, body: req.path }),
      { arenaPoolSize: 1000, queueCapacity: 1000 });
    const clients = await Promise.all(Array.from({ length: 8 }, () => session(port)));
    // Paths of equal length that differ in one byte, many times over: cached strings must never mix them.
    const replies = await Promise.all(clients.flatMap((s, c) =>
      Array.from({ length: 50 }, (_, i) => send(s, `/p/${c}/${String(i).padStart(3, '0')}`).then((r) => ({ r, want: `/p/${c}/${String(i).padStart(3, '0')}` })))));
    for (const { r, want } of replies) {
      expect(r.status).toBe(200);
      expect(r.body).toBe(want);
      expect(r.headers['x-path']).toBe(want);
    }
    expect(sys.metrics().system.requests_dispatched).toBe(400);
    await waitFor(() => sys.metrics().pools.arenas.used === 0);
  });

  it('an array header value sends the field once per element (set-cookie); CR/LF in an element is refused', async () => {
    const { srv, port } = await serve((req) => (req.path === '/bad'
      ? { status: 200, headers: { 'set-cookie': ['ok=1', 'bad=\r\nx: y'] } }
      : { status: 200, headers: { 'Set-Cookie': ['a=1', 'b=2'], 'x-one': 'v', vary: ['accept', 'origin'] }, body: 'ok' }));
    const errors = errorsOf(srv);
    const s = await session(port);
    const r = await send(s, '/cookies');
    expect(r.headers['set-cookie']).toEqual(['a=1', 'b=2']);
    expect([r.headers['x-one'], r.headers.vary, r.body]).toEqual(['v', 'accept, origin', 'ok']);
    expect((await send(s, '/bad')).status).toBe(500);
    expect(errors.map((e) => e.message)).toEqual(["response header 'set-cookie' has CR, LF or NUL in its value"]);
  });

  it('a handler that throws or rejects gives 500 and an error event; the server keeps serving', async () => {
    const { srv, port } = await serve(async (req) => {
      if (req.path === '/throw') throw new Error('boom');
      if (req.path === '/reject') return Promise.reject(new Error('nope'));
      if (req.path === '/bad') return { status: 200, headers: { connection: 'close' } };
      return { status: 200, body: 'ok' };
    });
    const errors = errorsOf(srv);
    const s = await session(port);
    expect((await send(s, '/throw')).status).toBe(500);
    expect((await send(s, '/reject')).status).toBe(500);
    expect((await send(s, '/bad')).status).toBe(500);
    expect((await send(s, '/fine')).body).toBe('ok');
    expect(errors.map((e) => e.message)).toEqual(['boom', 'nope', "response header 'connection' is not allowed"]);
    expect(srv.counters.errors).toBe(3);
  });

  it('a handler that never answers is cut off with 504 at handlerTimeoutMs', async () => {
    const { sys, srv, port } = await serve(() => new Promise(() => {}), {}, { handlerTimeoutMs: 100 });
    const s = await session(port);
    expect((await send(s, '/hang')).status).toBe(504);
    expect(srv.counters.timeouts).toBe(1);
    await waitFor(() => sys.metrics().pools.arenas.used === 0);
  });

  it('an answer larger than the request\'s arena is sent from its Buffer, no copy, nothing leaked', async () => {
    const MiB = 1024 * 1024;
    let body: Buffer | string = Buffer.alloc(2 * MiB, 120);
    const { sys, srv, port } = await serve(() => ({ status: 200, body }),
      { arenaSize: MiB, maxRequestBodySize: MiB }, { maxResponseBodySize: 4 * MiB });
    const errors = errorsOf(srv);
    const s = await session(port);
    const r = await send(s, '/big');
    expect(r.status).toBe(200);
    expect(r.body.length).toBe(2 * MiB);
    expect(r.body).toBe('x'.repeat(2 * MiB));
    body = 'y'.repeat(3 * MiB); // a string too large for the arena is sent from a Buffer of its own
    const r2 = await send(s, '/bigger');
    expect([r2.status, r2.body.length]).toEqual([200, 3 * MiB]);
    expect(errors).toEqual([]);
    await waitFor(() => sys.metrics().pools.arenas.used === 0 && sys.metrics().pools.small_arenas.used === 0);
    await waitFor(() => sys.metrics().queue.pinned_bodies === 0); // every pinned body let go
  });

  it('an answer whose headers do not fit what is left of a full arena: 500 and an \'error\' event, nothing leaked', async () => {
    const MiB = 1024 * 1024;
    const { sys, srv, port } = await serve(() => ({ status: 200, headers: { 'x-h': 'h'.repeat(50_000) }, body: 'x' }),
      { arenaSize: MiB, maxRequestBodySize: MiB, smallArenaPoolSize: 0 });
    const errors = errorsOf(srv);
    const s = await session(port);
    const r = await send(s, '/full', 'b'.repeat(MiB - 20_000)); // the body leaves ~19 KB of the arena
    expect(r.status).toBe(500);
    expect(errors.map((e) => e.message)).toEqual([expect.stringMatching(/did not fit/)]);
    expect(sys.metrics().system.responses_overloaded).toBe(0); // a 500, not a 503
    await waitFor(() => sys.metrics().pools.arenas.used === 0);
  });

  it('a client that resets the stream before the answer: the signal aborts, the arena is back at once, the late answer is dropped', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => { release = r; });
    let signal: AbortSignal | undefined;
    let answered = false;
    const { sys, srv, port } = await serve(async (req) => {
      signal = req.signal;
      await gate;
      answered = true;
      return { status: 200, body: 'late' };
    });
    const errors = errorsOf(srv);
    const s = await session(port);
    const req = s.request({ ':path': '/slow' });
    req.on('error', () => {});
    req.end();
    // Dispatched, and the handler running (under the sanitizer the ring can still hold it
    // when requests_dispatched first reads 1).
    await waitFor(() => sys.metrics().system.requests_dispatched === 1 && signal !== undefined);
    expect(signal!.aborted).toBe(false);
    const aborted = new Promise<unknown>((r) => signal!.addEventListener('abort', () => r(signal!.reason)));
    req.close(http2.constants.NGHTTP2_CANCEL);
    const reason = await aborted;
    expect(reason).toBeInstanceOf(DOMException);
    expect((reason as DOMException).name).toBe('AbortError');
    // Answered for it at once: its arena does not wait for the handler.
    await waitFor(() => sys.metrics().pools.arenas.used === 0);
    expect(answered).toBe(false);
    expect(sys.metrics().system.requests_cancelled).toBe(1);
    release();
    await waitFor(() => answered);
    await new Promise((r) => setTimeout(r, 20));
    expect(errors).toEqual([]); // the late answer is dropped quietly
    expect((await send(s, '/after')).status).toBe(200);
    expect(sys.metrics().system.requests_cancelled).toBe(1);
    expect(sys.metrics().system.requests_cancel_lost).toBe(0);
  });

  it('a connection that closes aborts the signal of each of its requests with JavaScript, only theirs', async () => {
    const signals = new Map<string, AbortSignal>();
    const { sys, port } = await serve((req) => {
      signals.set(req.path, req.signal);
      if (req.path.startsWith('/other')) return { status: 200, body: 'ok' };
      return new Promise(() => {}); // never answers: only the cancel ends it
    });
    const doomed = await session(port);
    const reqs = ['/a', '/b', '/c'].map((p) => {
      const r = doomed.request({ ':path': p });
      r.on('error', () => {});
      r.end();
      return r;
    });
    await waitFor(() => sys.metrics().system.requests_dispatched === 3);
    const other = await session(port);
    expect((await send(other, '/other')).status).toBe(200);
    const all = ['/a', '/b', '/c'].map((p) => new Promise<void>((r) => {
      const sig = signals.get(p)!;
      if (sig.aborted) r(); else sig.addEventListener('abort', () => r());
    }));
    doomed.destroy();
    await Promise.all(all);
    expect(reqs.length).toBe(3);
    expect(signals.get('/other')!.aborted).toBe(false);
    await waitFor(() => sys.metrics().pools.arenas.used === 0);
    expect(sys.metrics().system.requests_cancelled).toBe(3);
  });

  it('a signal read only after the stream died is already aborted; an answered request\'s never aborts', async () => {
    let late: { signal: AbortSignal } | undefined;
    let fastSignal: AbortSignal | undefined;
    let release!: () => void;
    const gate = new Promise<void>((r) => { release = r; });
    const { sys, port } = await serve(async (req) => {
      if (req.path === '/fast') {
        fastSignal = req.signal;
        return { status: 200, body: 'fast' };
      }
      await gate; // does not touch req.signal before the stream dies
      late = req;
      return { status: 200, body: 'late' };
    });
    const s = await session(port);
    expect((await send(s, '/fast')).status).toBe(200);
    const req = s.request({ ':path': '/slow' });
    req.on('error', () => {});
    req.end();
    await waitFor(() => sys.metrics().system.requests_dispatched === 2);
    req.close(http2.constants.NGHTTP2_CANCEL);
    await waitFor(() => sys.metrics().system.requests_cancelled === 1);
    await waitFor(() => sys.metrics().pools.arenas.used === 0);
    release();
    await waitFor(() => late !== undefined);
    expect(late!.signal.aborted).toBe(true);
    expect((late!.signal.reason as DOMException).name).toBe('AbortError');
    expect(fastSignal!.aborted).toBe(false); // its stream ended after the answer: nothing to cancel
  });

  it('a request that waits requestTimeoutMs for room in the queue to JavaScript gets 503 with retry-after', async () => {
    const busy = (ms: number) => { const end = Date.now() + ms; while (Date.now() < end); };
    const { sys, port } = await serve(() => {
      busy(100); // Node's thread takes no new requests while this runs
      return { status: 200, body: 'done' };
    }, { maxConnections: 10, queueCapacity: 16, requestTimeoutMs: 500 }, { error503Body: 'waited too long\n', handlerTimeoutMs: 60_000 });
    const script = `
      const http2 = require('node:http2');
      const s = http2.connect('https://127.0.0.1:${port}', { rejectUnauthorized: false });
      let n = 0; const out = {};
      for (let i = 0; i < 40; i++) {
        const r = s.request({ ':path': '/work' });
        let st = 0, ra = '', b = '';
        r.on('response', (h) => { st = h[':status']; ra = h['retry-after'] || ''; });
        r.on('data', (d) => { b += d; });
        r.on('end', () => { const k = st + ':' + ra + ':' + b.trim(); out[k] = (out[k] || 0) + 1; if (++n === 40) { console.log(JSON.stringify(out)); s.close(); } });
        r.end();
      }`;
    const child = spawn(process.execPath, ['-e', script], { env: { ...process.env, LD_PRELOAD: '' } });
    let stdout = '';
    child.stdout.on('data', (d) => { stdout += d; });
    expect(await new Promise<number | null>((r) => child.on('exit', r))).toBe(0);
    const out = JSON.parse(stdout) as Record<string, number>;
    const late = out['503:1:waited too long'] ?? 0;
    expect(late).toBeGreaterThan(0);
    expect((out['200::done'] ?? 0) + late).toBe(40);
    expect(sys.metrics().system.requests_queue_timed_out).toBe(late);
    await waitFor(() => sys.metrics().pools.small_arenas.used === 0);
  }, 60_000);

  it('the default config answers 100 connections x 10 concurrent streams to a handler with 2xx only (no 503 at advertised concurrency)', async () => {
    const { sys, port } = await serve(async () => ({ status: 200, body: 'ok' })); // every default
    const conns = await Promise.all(Array.from({ length: 100 }, () => session(port)));
    let inFlight = 0;
    let peak = 0;
    const statuses: Record<string, number> = {};
    const one = (s: http2.ClientHttp2Session) => new Promise<void>((resolve) => {
      const req = s.request({ ':path': '/api' });
      inFlight++;
      peak = Math.max(peak, inFlight);
      req.on('response', (h) => { const k = String(h[':status']); statuses[k] = (statuses[k] ?? 0) + 1; });
      req.on('data', () => {});
      req.on('close', () => { inFlight--; resolve(); });
      req.end();
    });
    for (let round = 0; round < 5; round++) await Promise.all(conns.flatMap((s) => Array.from({ length: 10 }, () => one(s))));
    expect(peak).toBe(1000);
    expect(statuses).toEqual({ 200: 5000 });
    const m = sys.metrics();
    expect(m.system.responses_overloaded).toBe(0);
    expect(m.pools.small_arenas.total).toBe(100 * 100); // one per advertised stream
    expect(m.pools.arenas.high_water_bytes).toBe(0); // no request needed a big arena
  }, 60_000);

  it('REFUSED_STREAM before any processing: Node\'s client sees it, the handler never did, and the retry is answered', async () => {
    const seen: string[] = [];
    const { sys, port } = await serve((req) => {
      seen.push(req.headers['x-n']);
      return { status: 200, body: req.headers['x-n'] };
    }, { maxSessionMemory: 256 * 1024 });
    const s = await session(port);
    const pad = 'p'.repeat(20_000);
    const open = Array.from({ length: 16 }, (_, i) => {
      const req = s.request({ ':path': '/up', ':method': 'POST', 'x-n': String(i), 'x-pad': pad });
      const outcome = new Promise<number | 'refused'>((resolve) => {
        req.on('response', (h) => resolve(Number(h[':status'])));
        req.on('close', () => { if (req.rstCode === http2.constants.NGHTTP2_REFUSED_STREAM) resolve('refused'); });
        req.on('error', () => {});
      });
      return { req, outcome, n: String(i) };
    });
    // The streams wait for their bodies, their headers held: the budget refuses the last ones.
    await waitFor(() => sys.metrics().system.streams_refused > 0);
    for (const o of open) if (!o.req.closed) o.req.end('body');
    const outcomes = await Promise.all(open.map((o) => o.outcome));
    const refused = open.filter((_, i) => outcomes[i] === 'refused').map((o) => o.n);
    expect(refused.length).toBeGreaterThan(0);
    expect(outcomes.filter((o) => o === 200).length).toBe(16 - refused.length);
    expect(seen.filter((n) => refused.includes(n))).toEqual([]); // never processed: safe to retry
    for (const n of refused) expect(await send(s, `/retry-${n}`)).toMatchObject({ status: 200 });
    expect(sys.metrics().system.streams_refused).toBe(refused.length);
  });

  it('streaming answers: an async generator, a Readable, a ReadableStream; headers first, no content-length', async () => {
    const { Readable } = await import('node:stream');
    const { sys, port } = await serve((req) => {
      if (req.path === '/gen') return { status: 200, headers: { 'x-kind': 'gen' }, body: (async function* () { yield 'a'; yield Buffer.from('b'); yield new Uint8Array([99]); })() };
      if (req.path === '/readable') return { status: 201, body: Readable.from(['x', 'y', 'z']) };
      return { status: 202, body: new ReadableStream({ start(c) { c.enqueue(new TextEncoder().encode('web')); c.close(); } }) };
    });
    const s = await session(port);
    const gen = await send(s, '/gen');
    expect([gen.status, gen.body, gen.headers['x-kind'], gen.headers['content-length']]).toEqual([200, 'abc', 'gen', undefined]);
    expect(await send(s, '/readable')).toMatchObject({ status: 201, body: 'xyz' });
    expect(await send(s, '/web')).toMatchObject({ status: 202, body: 'web' });
    const m = sys.metrics();
    expect(m.system.responses_streamed).toBe(3);
    await waitFor(() => sys.metrics().pools.small_arenas.used === 0);
  });

  it('server-sent events from a handler: events as they come; the client closes, the signal aborts and the generator ends', async () => {
    let ended = false;
    let signal: AbortSignal | undefined;
    const { sys, port } = await serve((req) => {
      signal = req.signal;
      return {
        status: 200, headers: { 'content-type': 'text/event-stream' },
        body: (async function* () {
          try {
            for (let i = 0; ; i++) {
              yield `id: ${i}\ndata: tick ${i}\n\n`;
              await new Promise((r) => setTimeout(r, 20));
            }
          } finally { ended = true; }
        })(),
      };
    });
    const s = await session(port);
    const req = s.request({ ':path': '/events' });
    req.on('error', () => {});
    let text = '';
    await new Promise<void>((resolve) => {
      req.on('data', (d: Buffer) => { text += d; if ((text.match(/\n\n/g) ?? []).length >= 3) resolve(); });
    });
    expect(text.startsWith('id: 0\ndata: tick 0\n\nid: 1\n')).toBe(true);
    req.close(http2.constants.NGHTTP2_CANCEL);
    await waitFor(() => signal!.aborted && ended);
    await waitFor(() => sys.metrics().pools.small_arenas.used === 0);
    await waitFor(() => sys.metrics().queue.streaming_answers === 0 && sys.metrics().queue.pinned_bodies === 0);
    expect(sys.metrics().system.requests_cancelled).toBe(1);
  });

  it('a client that stops reading stops the pulling: a bounded number of chunks are taken, then all arrive', async () => {
    const MiB = 1024 * 1024;
    const chunk = Buffer.alloc(MiB, 7);
    let pulled = 0;
    const { sys, port } = await serve(() => ({
      status: 200,
      body: (async function* () { for (let i = 0; i < 64; i++) { pulled++; yield chunk; } })(),
    }));
    const s = await session(port);
    const req = s.request({ ':path': '/big' });
    let got = 0;
    const done = new Promise<void>((resolve, reject) => { req.on('end', resolve); req.on('error', reject); });
    req.on('data', (d: Buffer) => { got += d.length; });
    req.pause();
    await new Promise((r) => setTimeout(r, 400));
    // Flow control stops the server; it holds one chunk, the client's windows a few MiB at most.
    expect(pulled).toBeLessThanOrEqual(8);
    expect(sys.metrics().queue.pinned_bodies).toBe(1); // the one chunk with the server
    req.resume();
    await done;
    expect([got, pulled]).toEqual([64 * MiB, 64]);
    await waitFor(() => sys.metrics().queue.pinned_bodies === 0 && sys.metrics().queue.streaming_answers === 0);
  }, 60_000);

  it('a body that throws mid-stream resets the stream and reports an error event; the connection goes on', async () => {
    const { srv, port } = await serve((req) => {
      if (req.path === '/ok') return { status: 200, body: 'fine' };
      return { status: 200, body: (async function* () { yield 'part'; throw new Error('boom'); })() };
    });
    const errors = errorsOf(srv);
    const s = await session(port);
    const bad = await send(s, '/bad').then(() => 'ended', (e: Error) => e.message);
    expect(bad).toMatch(/INTERNAL_ERROR|stream/i);
    expect(errors.map((e) => e.message)).toEqual(['boom']);
    expect((await send(s, '/ok')).body).toBe('fine');
  });

  it('stop with a streaming answer that never ends: the answer is cut, nothing leaked', async () => {
    const { sys, port } = await serve(() => ({
      status: 200, body: (async function* () { yield 'start'; await new Promise(() => {}); })(),
    }));
    const s = await session(port);
    const req = s.request({ ':path': '/forever' });
    req.on('error', () => {});
    await new Promise<void>((resolve) => req.once('data', () => resolve()));
    expect(await sys.stop()).toEqual(CLEAN_STOP);
  });

  it('stop answers requests still with JavaScript (503) and reports nothing leaked', async () => {
    const { sys, port } = await serve(() => new Promise(() => {}));
    const s = await session(port);
    const r = send(s, '/pending').catch((e: Error) => e);
    await waitFor(() => sys.metrics().system.requests_dispatched === 1);
    expect(await sys.stop()).toEqual(CLEAN_STOP);
    const got = await r;
    if (!(got instanceof Error)) expect(got.status).toBe(503);
  });

  it('queue full: while JavaScript is busy, requests past queueCapacity wait for room; none is refused', async () => {
    const busy = (ms: number) => { const end = Date.now() + ms; while (Date.now() < end); };
    const { sys, port } = await serve(() => {
      busy(50); // a deliberately slow, synchronous handler: the loop cannot take more
      return { status: 200, body: 'done' };
    }, { maxConnections: 10, queueCapacity: 16, arenaPoolSize: 200, maxConcurrentStreams: 100 },
    { error503Body: 'queue full\n', handlerTimeoutMs: 60_000 });
    // The client is another process: this one is busy.
    const script = `
      const http2 = require('node:http2');
      const s = http2.connect('https://127.0.0.1:${port}', { rejectUnauthorized: false });
      let n = 0; const out = {};
      for (let i = 0; i < 60; i++) {
        const r = s.request({ ':path': '/work' });
        let st = 0, b = '';
        r.on('response', (h) => { st = h[':status']; });
        r.on('data', (d) => { b += d; });
        r.on('end', () => { const k = st + ':' + b.trim(); out[k] = (out[k] || 0) + 1; if (++n === 60) { console.log(JSON.stringify(out)); s.close(); } });
        r.end();
      }`;
    const child = spawn(process.execPath, ['-e', script], { env: { ...process.env, LD_PRELOAD: '' } });
    let stdout = '';
    child.stdout.on('data', (d) => { stdout += d; });
    const exit = new Promise<number | null>((r) => child.on('exit', r));
    expect(await exit).toBe(0);
    const out = JSON.parse(stdout) as Record<string, number>;
    expect(out).toEqual({ '200:done': 60 });
    // More than queueCapacity (16) were waiting at once: they waited on the AIO side, in order.
    expect(sys.metrics().system.requests_queue_full).toBeGreaterThan(0);
    expect(sys.metrics().system.responses_overloaded).toBe(0);
    expect(sys.metrics().system.requests_dispatched).toBe(60);
  }, 60_000);
});
