// Handlers people already have (issue #15): a WHATWG fetch handler served
// with listen({ fetch }), proved with a real Hono app (routing, JSON bodies,
// its error and 404 handlers, cookies, streaming both ways, abort).
import * as http2 from 'node:http2';
import { describe, expect, it } from 'vitest';
import { Hono } from 'hono';
import { stream } from 'hono/streaming';
import { setCookie } from 'hono/cookie';
import { startWithConfig } from '../lib/system';
import { toHandler } from '../lib/fetch-adapter';
import { keyPair, waitFor } from './helpers';
import { adapterServers, ask, errorsOf, expectTwoCookies, within } from './adapter-client';

const { serve, systems } = adapterServers();

/** The Hono app under test; `seen` records what the abort test needs. */
function honoApp() {
  const seen = { waiting: false, aborted: false, reason: '' };
  const app = new Hono();
  app.get('/users/:id', (c) => c.json({ id: c.req.param('id'), q: c.req.query('q') ?? null, url: c.req.url }));
  app.post('/users', async (c) => {
    const user = await c.req.json<{ name: string }>();
    return c.json({ created: user.name, type: c.req.header('content-type') }, 201);
  });
  app.get('/boom', () => { throw new Error('kaboom'); });
  app.get('/cookies', (c) => {
    setCookie(c, 'a', '1');
    setCookie(c, 'b', '2', { httpOnly: true });
    c.header('connection', 'keep-alive'); // connection-specific: dropped
    return c.text('cookies');
  });
  app.get('/stream', (c) => stream(c, async (s) => {
    for (let i = 0; i < 5; i++) {
      await s.write(`chunk ${i}\n`);
      await s.sleep(5);
    }
  }));
  app.post('/upload', async (c) => {
    let bytes = 0;
    let chunks = 0;
    for await (const chunk of c.req.raw.body as unknown as AsyncIterable<Uint8Array>) {
      bytes += chunk.length;
      chunks++;
    }
    return c.json({ bytes, chunks });
  });
  app.get('/wait', async (c) => {
    seen.waiting = true;
    const signal = c.req.raw.signal;
    await new Promise((resolve) => signal.addEventListener('abort', resolve));
    seen.aborted = signal.aborted;
    seen.reason = (signal.reason as Error).name;
    return c.text('too late');
  });
  app.get('/cookie-in', (c) => c.text(c.req.header('cookie') ?? ''));
  app.onError((err, c) => c.json({ error: err.message }, 500));
  app.notFound((c) => c.json({ error: 'no route', path: c.req.path }, 404));
  return { app, seen };
}

describe('listen({ fetch }) with Hono', () => {
  it('routes, query strings and JSON bodies both ways', async () => {
    const { app } = honoApp();
    const { srv, session } = await serve({ fetch: app.fetch });
    const s = await session();
    const user = await ask(s, '/users/42?q=x%20y');
    expect(user.status).toBe(200);
    expect(user.headers['content-type']).toMatch(/^application\/json/);
    expect(JSON.parse(user.body)).toEqual({ id: '42', q: 'x y', url: `https://127.0.0.1:${srv.port}/users/42?q=x%20y` });
    const made = await ask(s, '/users', { json: { name: 'ada' } });
    expect(made.status).toBe(201);
    expect(JSON.parse(made.body)).toEqual({ created: 'ada', type: 'application/json' });
  });

  it('a thrown error goes through app.onError (500), an unknown path through app.notFound (404)', async () => {
    const { app } = honoApp();
    const { srv, session } = await serve({ fetch: app.fetch });
    const errors = errorsOf(srv);
    const s = await session();
    const boom = await ask(s, '/boom');
    expect([boom.status, JSON.parse(boom.body)]).toEqual([500, { error: 'kaboom' }]);
    const none = await ask(s, '/nowhere');
    expect([none.status, JSON.parse(none.body)]).toEqual([404, { error: 'no route', path: '/nowhere' }]);
    expect(errors).toEqual([]); // the framework answered: not a valk handler failure
  });

  it('two set-cookie fields arrive as two; connection-specific fields are dropped; cookies in are joined with "; "', async () => {
    const { app } = honoApp();
    const { session } = await serve({ fetch: app.fetch });
    const s = await session();
    await expectTwoCookies(s);
    const c = await ask(s, '/cookie-in', { headers: { cookie: ['x=1', 'y=2'] } });
    expect(c.body).toBe('x=1; y=2');
  });

  it('a streamed response body (hono/streaming) arrives whole, chunk by chunk', async () => {
    const { app } = honoApp();
    const { session } = await serve({ fetch: app.fetch });
    const s = await session();
    const r = await ask(s, '/stream');
    expect(r.status).toBe(200);
    expect(r.body).toBe([0, 1, 2, 3, 4].map((i) => `chunk ${i}\n`).join(''));
    expect(r.chunks).toBeGreaterThan(1);
  });

  it("a 1 MiB request body streams into request.body with requestBodies: 'stream'", async () => {
    const { app } = honoApp();
    const { session } = await serve({ fetch: app.fetch, requestBodies: 'stream' });
    const s = await session();
    const r = await ask(s, '/upload', { body: Buffer.alloc(1024 * 1024, 7) });
    expect(r.status).toBe(200);
    const got = JSON.parse(r.body) as { bytes: number; chunks: number };
    expect(got.bytes).toBe(1024 * 1024);
    expect(got.chunks).toBeGreaterThan(1);
    // and buffered, the same app reads the same body
    const { session: buffered } = await serve({ fetch: app.fetch });
    const b = await ask(await buffered(), '/upload', { body: Buffer.alloc(1024 * 1024, 7) });
    expect(JSON.parse(b.body).bytes).toBe(1024 * 1024);
  });

  it('a client that resets the stream aborts request.signal while the app waits', async () => {
    const { app, seen } = honoApp();
    const { sys, session } = await serve({ fetch: app.fetch });
    const s = await session();
    const req = s.request({ ':path': '/wait' });
    req.on('error', () => {});
    await waitFor(() => seen.waiting);
    req.close(http2.constants.NGHTTP2_CANCEL);
    await waitFor(() => seen.aborted);
    expect(seen.reason).toBe('AbortError');
    await waitFor(() => sys.metrics().pools.arenas.used === 0);
  });
});

describe('toHandler (a plain fetch function)', () => {
  it('Request members beyond the common ones come from a real Request; text(), bytes; a null body; a bad answer is a 500', async () => {
    const fetchFn = async (request: Request): Promise<Response> => {
      const url = new URL(request.url);
      if (url.pathname === '/echo') {
        const text = await request.text();
        return new Response(`${request.method} ${text} ${request.headers.get('x-t')} ${request instanceof Request} ${request.cache}`, {
          status: 202, headers: { 'x-r': 'y', 'content-length': '999' },
        });
      }
      if (url.pathname === '/form') {
        const form = await request.formData();
        return new Response(String(form.get('a')));
      }
      if (url.pathname === '/empty') return new Response(null, { status: 204 });
      if (url.pathname === '/bytes') return new Response(new Uint8Array([104, 105]));
      if (url.pathname === '/blob') return new Response(new Blob(['blob body']), { headers: { 'content-length': '9' } });
      return 'not a response' as unknown as Response;
    };
    const { srv, session } = await serve({ handler: toHandler(fetchFn) });
    const errors = errorsOf(srv);
    const s = await session();
    const echo = await ask(s, '/echo', { method: 'PUT', body: 'hi', headers: { 'x-t': 'T' } });
    expect([echo.status, echo.body, echo.headers['x-r']]).toEqual([202, 'PUT hi T true default', 'y']);
    expect(echo.headers['content-length']).toBe('21'); // the server's own, not the app's
    const form = await ask(s, '/form', { body: 'a=1&b=2', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    expect(form.body).toBe('1');
    expect((await ask(s, '/empty')).status).toBe(204);
    expect((await ask(s, '/bytes')).body).toBe('hi');
    expect((await ask(s, '/blob')).body).toBe('blob body');
    expect((await ask(s, '/other')).status).toBe(500);
    expect(errors.map((e) => e.message)).toEqual(['valk-aio: the fetch handler must return a Response']);
  });

  it('listen() takes one of handler, fetch and requestListener', async () => {
    const sys = startWithConfig({});
    systems.push(sys);
    const fetchFn = () => new Response('x');
    await expect(sys.listen({ host: '127.0.0.1', port: 0, ...keyPair(), fetch: fetchFn, handler: () => ({ status: 200 }) }))
      .rejects.toThrow(/one of handler, fetch and requestListener/);
    await expect(sys.listen({ host: '127.0.0.1', port: 0, ...keyPair(), fetch: 'x' as never })).rejects.toThrow(TypeError);
    await expect(within(sys.listen({ host: '127.0.0.1', port: 0, ...keyPair(), fetch: fetchFn }), 5000, 'listen')).resolves.toBeDefined();
  });
});
