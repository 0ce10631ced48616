// Handlers people already have (issue #15): a Node (req, res) listener served
// with listen({ requestListener }), proved with a real Express 5 app (routing,
// express.json(), its error handler and 404, cookies, streaming both ways,
// abort) and with a plain listener using the http API directly.
import * as http from 'node:http';
import * as http2 from 'node:http2';
import { describe, expect, it } from 'vitest';
import express from 'express';
import { fromRequestListener, headFields } from '../lib/node-adapter';
import { waitFor } from './helpers';
import { adapterServers, ask, errorsOf, expectTwoCookies } from './adapter-client';

const { serve } = adapterServers();

function expressApp() {
  const seen = { waiting: false, aborted: false, reqClosed: false, resClosed: false, finished: 0, ip: '', protocol: '' };
  const app = express();
  app.use(express.json());
  app.get('/users/:id', (req, res) => {
    seen.ip = req.ip ?? '';
    seen.protocol = req.protocol;
    res.json({ id: req.params.id, q: req.query.q ?? null, url: req.originalUrl, host: req.get('host') });
  });
  app.post('/users', (req, res) => {
    res.on('finish', () => { seen.finished++; });
    res.status(201).json({ created: (req.body as { name: string }).name });
  });
  app.get('/boom', () => { throw new Error('kaboom'); });
  app.get('/async-boom', async () => { await new Promise((r) => setTimeout(r, 1)); throw new Error('later'); });
  app.get('/cookies', (req, res) => {
    res.cookie('a', '1').cookie('b', '2', { httpOnly: true }).set('Connection', 'keep-alive').send('cookies');
  });
  app.get('/stream', (req, res) => {
    res.type('text/plain');
    let i = 0;
    const next = () => {
      if (i === 5) { res.end('end\n'); return; }
      res.write(`chunk ${i++}\n`);
      setTimeout(next, 5);
    };
    next();
  });
  app.post('/upload', (req, res) => {
    let bytes = 0;
    let chunks = 0;
    req.on('data', (d: Buffer) => { bytes += d.length; chunks++; });
    req.on('end', () => res.json({ bytes, chunks }));
  });
  app.get('/wait', (req, res) => {
    seen.waiting = true;
    req.on('aborted', () => { seen.aborted = true; });
    req.on('close', () => { seen.reqClosed = true; });
    res.on('close', () => { seen.resClosed = true; });
  });
  app.get('/version', (req, res) => { res.json({ v: req.httpVersion, host: req.headers.host, proto: req.protocol }); });
  app.use((req, res) => { res.status(404).json({ error: 'no route', path: req.path }); });
  app.use((err: Error, req: express.Request, res: express.Response, next: express.NextFunction) => {
    void next;
    res.status(500).json({ error: err.message });
  });
  return { app, seen };
}

describe('listen({ requestListener }) with Express 5', () => {
  it('routes, query strings, express.json() bodies, req.ip and req.protocol', async () => {
    const { app, seen } = expressApp();
    const { srv, session } = await serve({ requestListener: app });
    const s = await session();
    const r = await ask(s, '/users/7?q=x%20y');
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(r.headers['x-powered-by']).toBe('Express');
    expect(r.headers['content-length']).toBe(String(Buffer.byteLength(r.body)));
    expect(JSON.parse(r.body)).toEqual({ id: '7', q: 'x y', url: '/users/7?q=x%20y', host: `127.0.0.1:${srv.port}` });
    expect([seen.ip, seen.protocol]).toEqual(['127.0.0.1', 'https']);
    const made = await ask(s, '/users', { json: { name: 'ada' } });
    expect([made.status, JSON.parse(made.body)]).toEqual([201, { created: 'ada' }]);
    await waitFor(() => seen.finished === 1); // 'finish' on the response
  });

  it('a thrown error (sync and async) reaches the error middleware (500); an unknown path the 404 middleware', async () => {
    const { app } = expressApp();
    const { srv, session } = await serve({ requestListener: app });
    const errors = errorsOf(srv);
    const s = await session();
    const boom = await ask(s, '/boom');
    expect([boom.status, JSON.parse(boom.body)]).toEqual([500, { error: 'kaboom' }]);
    const later = await ask(s, '/async-boom');
    expect([later.status, JSON.parse(later.body)]).toEqual([500, { error: 'later' }]);
    const none = await ask(s, '/nowhere');
    expect([none.status, JSON.parse(none.body)]).toEqual([404, { error: 'no route', path: '/nowhere' }]);
    expect(errors).toEqual([]);
  });

  it('express without its own handlers: finalhandler answers 404 and 500', async () => {
    const app = express();
    app.get('/boom', () => { throw new Error('plain'); });
    const { session } = await serve({ requestListener: app });
    const s = await session();
    const none = await ask(s, '/none');
    expect(none.status).toBe(404);
    expect(none.body).toContain('Cannot GET /none');
    expect((await ask(s, '/boom')).status).toBe(500);
  });

  it('two set-cookie fields arrive as two; connection-specific fields are dropped', async () => {
    const { app } = expressApp();
    const { session } = await serve({ requestListener: app });
    const s = await session();
    await expectTwoCookies(s);
  });

  it('res.write several times, then end: the body arrives whole, chunk by chunk', async () => {
    const { app } = expressApp();
    const { session } = await serve({ requestListener: app });
    const s = await session();
    const r = await ask(s, '/stream');
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toBe('text/plain; charset=utf-8');
    expect(r.body).toBe([0, 1, 2, 3, 4].map((i) => `chunk ${i}\n`).join('') + 'end\n');
    expect(r.chunks).toBeGreaterThan(1);
  });

  it("a 1 MiB request body streams into req with requestBodies: 'stream'", async () => {
    const { app } = expressApp();
    const { session } = await serve({ requestListener: app, requestBodies: 'stream' });
    const s = await session();
    const r = await ask(s, '/upload', { body: Buffer.alloc(1024 * 1024, 7), headers: { 'content-type': 'application/octet-stream' } });
    expect(r.status).toBe(200);
    const got = JSON.parse(r.body) as { bytes: number; chunks: number };
    expect(got.bytes).toBe(1024 * 1024);
    expect(got.chunks).toBeGreaterThan(1);
  });

  it("a client that resets the stream: req emits 'aborted' and 'close', res 'close'", async () => {
    const { app, seen } = expressApp();
    const { sys, session } = await serve({ requestListener: app });
    const s = await session();
    const req = s.request({ ':path': '/wait' });
    req.on('error', () => {});
    await waitFor(() => seen.waiting);
    req.close(http2.constants.NGHTTP2_CANCEL);
    await waitFor(() => seen.aborted && seen.reqClosed && seen.resClosed);
    await waitFor(() => sys.metrics().pools.arenas.used === 0);
  });
});

describe('HTTP/1.1 clients', () => {
  it('an Express app over cleartext HTTP/1.1: httpVersion 1.1, the host field, a JSON body, chunked streaming', async () => {
    const { app } = expressApp();
    const { srv } = await serve({ tls: false, key: undefined, cert: undefined, requestListener: app });
    const get = (path: string, method = 'GET', body?: string) => new Promise<{ status: number; body: string; te?: string }>((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port: srv.port, path, method, agent: false, timeout: 10_000,
        headers: body === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
        let text = '';
        res.on('data', (d: Buffer) => { text += d; });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text, te: res.headers['transfer-encoding'] }));
      });
      req.on('error', reject);
      req.on('timeout', () => req.destroy(new Error(`${path}: no answer in 10 s`)));
      req.end(body);
    });
    expect(JSON.parse((await get('/version')).body)).toEqual({ v: '1.1', host: `127.0.0.1:${srv.port}`, proto: 'http' });
    expect(await get('/users', 'POST', '{"name":"bo"}')).toMatchObject({ status: 201, body: '{"created":"bo"}' });
    const streamed = await get('/stream');
    expect(streamed.body).toBe([0, 1, 2, 3, 4].map((i) => `chunk ${i}\n`).join('') + 'end\n');
    expect(streamed.te).toBe('chunked'); // the server's own framing
  });
});

describe('a plain (req, res) listener', () => {
  it('writeHead, setHeader/getHeader/removeHeader, statusCode, headersSent, end(data, cb), finish and close', async () => {
    const log: string[] = [];
    const listener = (req: http.IncomingMessage, res: http.ServerResponse) => {
      if (req.url === '/head') {
        res.setHeader('x-a', 'one');
        res.setHeader('x-gone', 'no');
        res.removeHeader('x-gone');
        log.push(`get ${res.getHeader('x-a')} has ${res.hasHeader('x-gone')} names ${res.getHeaderNames().join(',')}`);
        log.push(`sent ${res.headersSent}`);
        res.writeHead(203, 'Fine', { 'x-b': 'two', 'content-length': '5', 'set-cookie': ['c=1', 'd=2'] });
        log.push(`sent ${res.headersSent} ${res.statusCode}`);
        res.on('finish', () => log.push('finish'));
        res.on('close', () => log.push('close'));
        req.on('close', () => log.push('req close'));
        res.end(Buffer.from('hello'), () => log.push('end cb'));
        return;
      }
      if (req.url?.startsWith('/echo')) {
        const parts: Buffer[] = [];
        req.on('data', (d: Buffer) => parts.push(d));
        req.on('end', () => {
          res.statusCode = 200;
          res.end(`${req.method} ${req.url} ${req.headers['x-t']} ${req.socket.remoteAddress} ${Buffer.concat(parts).toString()}`);
        });
        return;
      }
      if (req.url === '/te') { // the application's own chunked framing is undone: valk frames the body
        res.setHeader('transfer-encoding', 'chunked');
        res.write('abc');
        setTimeout(() => res.end('de'), 5);
        return;
      }
      if (req.url === '/empty') {
        res.statusCode = 204;
        res.end();
        return;
      }
      if (req.url === '/throw') throw new Error('listener threw');
      if (req.url === '/trailers') { // added before end(): sent after the body (HTTP/2)
        res.write('a');
        setTimeout(() => {
          res.addTrailers({ 'x-t': '1', 'X-Two': ['a', 'b'] });
          res.end('b');
        }, 5);
        return;
      }
      if (req.url === '/trailers-whole') {
        res.addTrailers([['grpc-status', '0']]);
        res.end('whole');
        return;
      }
      if (req.url === '/write-throw') { // wrote, then threw in the same tick: nothing went out yet
        res.write('a');
        throw new Error('threw after writing');
      }
      res.statusCode = 404;
      res.end('nope');
    };
    const { srv, session } = await serve({ requestListener: listener });
    const errors = errorsOf(srv);
    const s = await session();
    const r = await ask(s, '/head');
    expect([r.status, r.body, r.headers['x-a'], r.headers['x-b'], r.headers['x-gone']]).toEqual([203, 'hello', 'one', 'two', undefined]);
    expect(r.headers['set-cookie']).toEqual(['c=1', 'd=2']);
    expect(typeof r.headers.date).toBe('string');
    await waitFor(() => log.includes('req close'));
    expect(log).toEqual(['get one has false names x-a', 'sent false', 'sent true 203', 'finish', 'end cb', 'close', 'req close']);
    const e = await ask(s, '/echo?x=1', { method: 'PUT', body: 'payload', headers: { 'x-t': 'T' } });
    expect(e.body).toBe('PUT /echo?x=1 T 127.0.0.1 payload');
    const te = await ask(s, '/te');
    expect([te.status, te.body, te.headers['transfer-encoding']]).toEqual([200, 'abcde', undefined]);
    expect((await ask(s, '/empty')).status).toBe(204);
    expect((await ask(s, '/other')).status).toBe(404);
    expect((await ask(s, '/throw')).status).toBe(500);
    expect(errors.map((x) => x.message)).toEqual(['listener threw']);
    const tr = await ask(s, '/trailers');
    expect([tr.status, tr.body, tr.trailers?.['x-t'], tr.trailers?.['x-two']]).toEqual([200, 'ab', '1', 'a, b']);
    const whole = await ask(s, '/trailers-whole');
    expect([whole.body, whole.trailers?.['grpc-status']]).toEqual(['whole', '0']);
    expect((await ask(s, '/empty')).trailers).toBeUndefined(); // no trailers added: none sent
    // it threw in the tick that wrote the head and 'a': nothing went out yet, so the answer is a 500
    // (and no unhandled error from the head's decision, queued in that tick)
    expect((await ask(s, '/write-throw')).status).toBe(500);
    await waitFor(() => errors.length === 2);
    expect(errors[1].message).toBe('threw after writing');
  });

  it("backpressure: write() is false past the high-water mark and 'drain' follows; 4 MiB arrive whole", async () => {
    const piece = Buffer.alloc(16 * 1024, 97);
    let falses = 0;
    let drains = 0;
    const listener = (req: http.IncomingMessage, res: http.ServerResponse) => {
      let left = 256;
      const pump = () => {
        while (left > 0) {
          left--;
          if (!res.write(piece)) {
            falses++;
            res.once('drain', () => { drains++; pump(); });
            return;
          }
        }
        res.end();
      };
      pump();
    };
    const { session } = await serve({ handler: fromRequestListener(listener) });
    const s = await session();
    const r = await ask(s, '/big', { timeoutMs: 20_000 });
    expect(r.body.length).toBe(256 * piece.length);
    expect(falses).toBeGreaterThan(0);
    expect(drains).toBe(falses);
  });

  it('headFields reads a head as ServerResponse writes it', () => {
    const head = 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nSet-Cookie: a=1\r\nset-cookie: b=2\r\nContent-Length: 3\r\nConnection: close\r\nX-Empty: \r\n\r\n';
    expect(headFields(head)).toEqual({ 'content-type': 'text/plain', 'set-cookie': ['a=1', 'b=2'], 'x-empty': '' });
  });
});
