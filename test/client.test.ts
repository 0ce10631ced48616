// The HTTP/2 client on the AIO thread: sys.connect() -> AioClient. Its
// connection is a slot of the same connection slab as the servers' ones
// (docs/design.md §2 Connection slab and states).
import * as http2 from 'node:http2';
import * as net from 'node:net';
import * as tls from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import { AioClient } from '../lib/client';
import { AioSystem, ListenOptions, startWithConfig } from '../lib/system';
import type { SystemConfig } from '../lib/config';
import { generateSelfSigned } from '../lib/tls';
import { CLEAN_STOP, attempt, keyPair, waitFor } from './helpers';
import { RawH2Client } from './h2raw';

const systems: AioSystem[] = [];
const cleanups: (() => void | Promise<void>)[] = [];

afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
  for (const sys of systems.splice(0)) if (sys.running) expect(await sys.stop()).toEqual(CLEAN_STOP);
});

function system(cfg: SystemConfig = {}): AioSystem {
  const sys = startWithConfig(cfg);
  systems.push(sys);
  return sys;
}

async function serve(sys: AioSystem, listen: Partial<ListenOptions> = {}) {
  return sys.listen({
    host: '127.0.0.1', port: 0, ...keyPair(),
    routes: { '/': { body: 'hello\n', headers: { 'x-route': 'root' } } },
    handler: (req) => ({
      status: 201,
      headers: { 'x-method': req.method },
      body: `${req.method} ${req.path} ${req.body.length} ${req.headers['x-test'] ?? '-'} ${req.body.toString('utf8').slice(0, 16)}`,
    }),
    ...listen,
  });
}

const ca = () => keyPair().cert;

/** A free TCP port with nothing listening on it. */
async function closedPort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

describe('requests against a valk-aio server', () => {
  it('a static route and a JavaScript handler with a POST body, verified against the server cert as ca', async () => {
    const sys = system();
    const srv = await serve(sys);
    const client = await sys.connect({ host: '127.0.0.1', port: srv.port, ca: ca() });
    expect(client).toBeInstanceOf(AioClient);
    expect([client.host, client.port, client.closed]).toEqual(['127.0.0.1', srv.port, false]);
    expect(sys.metrics().resources.clients).toBe(1); // the dashboard's Clients count
    const r1 = await client.request({ path: '/' });
    expect(r1.status).toBe(200);
    expect(r1.body.toString()).toBe('hello\n');
    expect(r1.headers['x-route']).toBe('root');
    expect(r1.headers['content-length']).toBe('6');
    const body = Buffer.alloc(100_000, 'a');
    const r2 = await client.request({ method: 'POST', path: '/echo', headers: { 'x-test': 'yes' }, body });
    expect(r2.status).toBe(201);
    expect(r2.headers['x-method']).toBe('POST');
    expect(r2.body.toString()).toBe(`POST /echo 100000 yes ${'a'.repeat(16)}`);
    const r3 = await client.request({ method: 'PUT', path: '/u8', body: new Uint8Array([104, 105]) });
    expect(r3.body.toString()).toBe('PUT /u8 2 - hi');
    await client.close();
    expect(client.closed).toBe(true);
    expect(sys.metrics().resources.clients).toBe(0);
  });

  it('100 concurrent requests on one client connection', async () => {
    const sys = system();
    const srv = await serve(sys);
    const client = await sys.connect({ port: srv.port, ca: ca() });
    const replies = await Promise.all(Array.from({ length: 100 }, (_, i) =>
      client.request({ method: 'POST', path: `/n/${i}`, body: String(i) })));
    replies.forEach((r, i) => {
      expect(r.status).toBe(201);
      expect(r.body.toString()).toBe(`POST /n/${i} ${String(i).length} - ${i}`);
    });
    expect(sys.metrics().connections.active).toBe(2); // the client's slot and the server's
    await client.close();
  });

  it('requests past 32 in flight wait in a bounded queue (1024); more are refused at once', async () => {
    const sys = system({ queueCapacity: 2048, arenaPoolSize: 2048 });
    let release!: () => void;
    const gate = new Promise<void>((r) => { release = r; });
    const srv = await serve(sys, { handler: async () => { await gate; return { status: 200, body: 'ok' }; } });
    const client = await sys.connect({ port: srv.port, ca: ca() });
    const all = Array.from({ length: 32 + 1024 + 3 }, (_, i) => client.request({ path: `/w/${i}` }).then(
      (r) => r.status, (e: Error) => e.message));
    const refused = (await Promise.all(all.slice(-3))) as string[];
    expect(refused.every((m) => /1024 requests already wait/.test(m))).toBe(true);
    await expect(client.request({ path: '/w/more' })).rejects.toMatchObject({ code: 'VALK_EFULL' });
    release();
    const done = await Promise.all(all.slice(0, -3));
    expect(done.every((x) => x === 200)).toBe(true);
    await client.close();
  }, 60_000);

  it('a 5 MB response body arrives whole', async () => {
    const sys = system();
    const big = Buffer.alloc(5_000_000);
    for (let i = 0; i < big.length; i++) big[i] = i % 251;
    const srv = await serve(sys, { routes: { '/big': { body: big } }, maxResponseBodySize: 8_000_000 } as any);
    const client = await sys.connect({ port: srv.port, ca: ca() });
    const r = await client.request({ path: '/big' });
    expect(r.body.equals(big)).toBe(true);
    await client.close();
  });

  it('a response body over maxResponseBodySize fails its request clearly; the connection stays usable', async () => {
    const sys = system();
    const srv = await serve(sys, { routes: { '/big': { body: Buffer.alloc(50_000, 'x') }, '/': { body: 'ok' } } });
    const client = await sys.connect({ port: srv.port, ca: ca(), maxResponseBodySize: 10_000 });
    await expect(client.request({ path: '/big' })).rejects.toThrow(/response body exceeds maxResponseBodySize \(10000 bytes\)/);
    await expect(client.request({ path: '/big' })).rejects.toMatchObject({ code: 'VALK_ELIMIT' }); // the addon's code
    expect((await client.request({ path: '/' })).body.toString()).toBe('ok');
    await client.close();
  });
});

describe("interop with Node's http2 server", () => {
  it('GET and POST against http2.createSecureServer', async () => {
    const server = http2.createSecureServer({ ...keyPair() });
    server.on('stream', (stream, headers) => {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        stream.respond({ ':status': 200, 'x-node': 'yes', 'set-cookie': ['a=1', 'b=2'] });
        stream.end(`${headers[':method']} ${headers[':path']} ${headers[':authority']} ${Buffer.concat(chunks).length}`);
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
    const port = (server.address() as net.AddressInfo).port;
    const sys = system();
    const client = await sys.connect({ port, rejectUnauthorized: false });
    const r1 = await client.request({ path: '/x?y=1' });
    expect(r1.status).toBe(200);
    expect(r1.headers['x-node']).toBe('yes');
    expect(r1.headers['set-cookie']).toBe('a=1, b=2');
    expect(r1.body.toString()).toBe(`GET /x?y=1 127.0.0.1:${port} 0`);
    const r2 = await client.request({ method: 'POST', path: '/p', body: 'z'.repeat(70_000) });
    expect(r2.body.toString()).toBe(`POST /p 127.0.0.1:${port} 70000`);
    await client.close();
  });

  it('a TLS server that does not select h2 fails the connect clearly', async () => {
    const sys = system();
    for (const [alpn, why] of [[undefined, /the server did not select HTTP\/2 \(ALPN h2\)/], [['http/1.1'], /TLS handshake failed: .*no application protocol/]] as const) {
      const server = tls.createServer({ ...keyPair(), ...(alpn ? { ALPNProtocols: [...alpn] } : {}) }, (sock) => sock.on('error', () => {}));
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
      cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
      const port = (server.address() as net.AddressInfo).port;
      await expect(sys.connect({ port, ca: ca() })).rejects.toThrow(why);
      expect(sys.metrics().connections.active).toBe(0);
    }
  });
});

describe('the client connection is a slot of the connection slab', () => {
  it('maxConnections 2: a server connection and a client fill it; a third is refused', async () => {
    const sys = system({ maxConnections: 2 });
    const srv = await serve(sys, { debug: true });
    const client = await sys.connect({ port: srv.port, ca: ca() });
    expect(sys.metrics().connections.active).toBe(2); // the client's, and the server's end of it
    expect(await attempt(srv.port)).toBe('refused');
    await expect(sys.connect({ port: srv.port, ca: ca() })).rejects.toThrow(/connection slab is full/);
    await client.close();
    await waitFor(() => sys.metrics().connections.active === 0);
    expect(await attempt(srv.port)).toBe('ok');
  });

  it("the SSE snapshot shows the client's owner \"127.0.0.1:PORT\", its slot and the http_clients pool", async () => {
    const sys = system();
    const srv = await serve(sys, { debug: true });
    const client = await sys.connect({ port: srv.port, ca: ca() });
    const session = http2.connect(`https://127.0.0.1:${srv.port}`, { rejectUnauthorized: false });
    session.on('error', () => {});
    const req = session.request({ ':path': '/debug/diagnostics/memory' });
    req.on('error', () => {});
    cleanups.push(() => { req.close(); session.destroy(); });
    let text = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => { text += c; });
    const last = () => {
      const blocks = text.split('\n\n').filter((b) => b.includes('data: '));
      const line = blocks.at(-1)?.split('\n').find((l) => l.startsWith('data: '));
      return line ? JSON.parse(line.slice(6)) : undefined;
    };
    await waitFor(() => last()?.slabs.find((x: any) => x.name === 'connections').used === 3);
    const d = last();
    const owner = d.owner_map.indexOf(`127.0.0.1:${srv.port}`);
    expect(owner).toBeGreaterThanOrEqual(0);
    const conns = d.slabs.find((x: any) => x.name === 'connections');
    expect(conns.summary.by_owner[String(owner)]).toBe(1);
    expect(conns.summary.by_owner[String(d.owner_map.indexOf(`:${srv.port}`))]).toBe(2);
    const clients = d.slabs.find((x: any) => x.name === 'http_clients');
    expect(clients.total).toBe(16);
    expect(clients.used).toBe(1);
    await client.close();
    await waitFor(() => !last()?.owner_map.includes(`127.0.0.1:${srv.port}`) &&
      last()?.slabs.find((x: any) => x.name === 'http_clients').used === 0);
  });
});

describe('failures and cleanup', () => {
  it('a closed client rejects requests; close() is idempotent', async () => {
    const sys = system();
    const srv = await serve(sys);
    const client = await sys.connect({ port: srv.port, ca: ca() });
    const closing = client.close();
    expect(client.close()).toBe(closing);
    await closing;
    await expect(client.request({ path: '/' })).rejects.toThrow(/client 127\.0\.0\.1:\d+ is closed/);
    await expect(client.request({ path: '/' })).rejects.toMatchObject({ code: 'VALK_ESTOPPED' });
    await waitFor(() => sys.metrics().connections.active === 0); // the server's end closes too
  });

  it('close() with a request open (its body still uploading) fails it and frees the slot; the client counters', async () => {
    const sys = system();
    const srv = await serve(sys, { handler: () => new Promise(() => {}) });
    const client = await sys.connect({ port: srv.port, ca: ca() });
    const pending = client.request({ method: 'POST', path: '/never', body: Buffer.alloc(300_000, 'b') }).catch((e: Error) => e);
    await waitFor(() => sys.metrics().system.client_requests_total === 1);
    await client.close();
    expect(String(await pending)).toMatch(/client 127\.0\.0\.1:\d+: closed/);
    const m = sys.metrics().system;
    expect([m.client_connections_total, m.client_connections_failed, m.client_requests_total, m.client_requests_failed]).toEqual([1, 0, 1, 1]);
    await waitFor(() => sys.metrics().connections.active === 0);
  });

  it('a server that never answers the handshake: connect times out after handshakeTimeoutMs, no slot leaked', async () => {
    const silent = net.createServer((sock) => sock.on('error', () => {}));
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()));
    const socks: net.Socket[] = [];
    silent.on('connection', (s) => socks.push(s));
    cleanups.push(() => new Promise<void>((r) => { socks.forEach((s) => s.destroy()); silent.close(() => r()); }));
    const sys = system({ handshakeTimeoutMs: 200 });
    const t0 = Date.now();
    await expect(sys.connect({ port: (silent.address() as net.AddressInfo).port, ca: ca() }))
      .rejects.toThrow(/connect timed out: no TLS handshake within 200 ms/);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(150);
    expect(sys.metrics().connections.active).toBe(0);
  });

  it('connect to a closed port fails clearly and leaks no slot', async () => {
    const sys = system();
    const port = await closedPort();
    await expect(sys.connect({ port, ca: ca() })).rejects.toThrow(/connect failed: connection refused \(ECONNREFUSED\)/);
    // A TCP failure keeps libuv's code; a TLS failure is VALK_ETLS.
    await expect(sys.connect({ port, ca: ca() })).rejects.toMatchObject({ code: 'ECONNREFUSED', message: expect.stringMatching(/\(ECONNREFUSED\)/) });
    await waitFor(() => sys.metrics().connections.active === 0); // the server's end closes too
    expect(await sys.stop()).toEqual(CLEAN_STOP);
  });

  it('TLS verification fails without ca (self-signed), and against the wrong ca', async () => {
    const sys = system();
    const srv = await serve(sys);
    await expect(sys.connect({ port: srv.port })).rejects.toThrow(/TLS handshake failed: certificate verify failed: self[- ]signed certificate/);
    const other = generateSelfSigned(['127.0.0.1']).cert;
    await expect(sys.connect({ port: srv.port, ca: other })).rejects.toThrow(/certificate verify failed/);
    await waitFor(() => sys.metrics().connections.active === 0); // the server's end closes too
  });

  it('the server closing fails open requests and frees the client slot', async () => {
    const sys = system({ drainTimeoutMs: 100 });
    let release!: () => void;
    const srv = await serve(sys, { handler: () => new Promise((r) => { release = () => r({ status: 200, body: 'late' }); }) });
    const client = await sys.connect({ port: srv.port, ca: ca() });
    const pending = client.request({ path: '/slow' });
    await waitFor(() => release !== undefined);
    const closing = srv.close();
    await expect(pending).rejects.toThrow(/client 127\.0\.0\.1:\d+: /);
    release();
    await closing;
    await waitFor(() => sys.metrics().connections.active === 0);
    expect(client.closed).toBe(true); // the other side ended it: closed says so without a request
    await expect(client.request({ path: '/' })).rejects.toThrow(/is closed/);
    await client.close();
  });

  it('closed turns true when an idle client\'s server goes away', async () => {
    const sys = system();
    const other = system();
    const srv = await serve(other);
    const client = await sys.connect({ port: srv.port, ca: ca() });
    expect((await client.request({ path: '/' })).status).toBe(200);
    expect(client.closed).toBe(false);
    await srv.close();
    await waitFor(() => client.closed);
    await waitFor(() => sys.metrics().connections.active === 0);
    await client.close();
  });

  it('control ops always get through: close() and stop() with every request slot in use', async () => {
    const server = http2.createSecureServer({ ...keyPair() });
    server.on('stream', () => {}); // never answers
    server.on('session', (s) => cleanups.push(() => s.destroy()));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
    const port = (server.address() as net.AddressInfo).port;
    const sys = startWithConfig(); // stopped here, not by afterEach
    const a = await sys.connect({ port, rejectUnauthorized: false });
    const b = await sys.connect({ port, rejectUnauthorized: false });
    const pending = [a, b].flatMap((c) => Array.from({ length: 40 }, (_, i) =>
      c.request({ path: `/hang/${i}` }).then(() => 'answered', (e: Error) => e.message)));
    await new Promise((r) => setTimeout(r, 100));
    await a.close(); // its requests fail; the close itself got through
    expect(sys.metrics().connections.active).toBe(1);
    expect(await sys.stop()).toEqual(CLEAN_STOP);
    const results = await Promise.all(pending);
    expect(results.every((m) => m !== 'answered')).toBe(true);
  });

  it('no TCP buffer free (server load pins them all): the client waits, then completes when buffers come back', async () => {
    const ext = http2.createSecureServer({ ...keyPair() });
    ext.on('stream', (st) => setTimeout(() => { st.respond({ ':status': 200 }); st.end('ok'); }, 800));
    await new Promise<void>((r) => ext.listen(0, '127.0.0.1', () => r()));
    cleanups.push(() => new Promise<void>((r) => ext.close(() => r())));
    const sys = system({ maxConnections: 20, tcpBufferPoolSize: 20 });
    const srv = await sys.listen({ host: '127.0.0.1', port: 0, ...keyPair(), routes: { '/big': { body: Buffer.alloc(32 << 20, 97) } } });
    const client = await sys.connect({ port: (ext.address() as net.AddressInfo).port, rejectUnauthorized: false });
    const pending = client.request({ path: '/slow' });
    const raws: RawH2Client[] = [];
    cleanups.push(() => raws.forEach((r) => r.destroy()));
    while (sys.metrics().pools.tcp_buffers.available > 0 && raws.length < 8) { // readers that stop reading pin buffers
      const r = await RawH2Client.connect({ port: srv.port });
      raws.push(r);
      await r.ping();
      r.pause();
      r.request('/big');
      await new Promise((res) => setTimeout(res, 150));
    }
    expect(sys.metrics().pools.tcp_buffers.available).toBe(0);
    await new Promise((res) => setTimeout(res, 1000)); // the answer arrives while no buffer is free
    expect(client.closed).toBe(false);
    raws.forEach((r) => r.destroy());
    expect((await pending).body.toString()).toBe('ok');
    expect(sys.metrics().system.client_requests_failed).toBe(0);
    await client.close();
  }, 30_000);

  it('stop() with a client open: pending requests fail clearly, 0 leaks', async () => {
    const sys = startWithConfig({ drainTimeoutMs: 100 });
    const srv = await serve(sys, { handler: () => new Promise(() => {}) });
    const client = await sys.connect({ port: srv.port, ca: ca() });
    const pending = client.request({ path: '/never' }).catch((e: Error) => e);
    const report = await sys.stop();
    expect(String(await pending)).toMatch(/client 127\.0\.0\.1:\d+: system is stopping/);
    expect(report).toEqual(CLEAN_STOP);
    expect(client.closed).toBe(true);
    await expect(client.request({ path: '/' })).rejects.toThrow(/is closed/);
    await client.close();
  });

  it('invalid input fails with clear errors', async () => {
    const sys = system();
    await expect(sys.connect({ host: 'example.com', port: 1 })).rejects.toThrow(/host example\.com is not an IP address/);
    await expect(sys.connect({ port: 0 })).rejects.toThrow(/port 0 is not an integer from 1 to 65535/);
    await expect(sys.connect({ port: 1, ca: 5 as any })).rejects.toThrow(/ca must be a PEM string or Buffer/);
    await expect(sys.connect({ port: 1, ca: 'not a pem' })).rejects.toThrow(/ca: no PEM certificate/);
    const srv = await serve(sys);
    const client = await sys.connect({ port: srv.port, ca: ca() });
    await expect(client.request({ path: 'x' })).rejects.toThrow(/must start with '\/'/);
    await expect(client.request({ path: '/', method: 'G T' })).rejects.toThrow(/not an HTTP token/);
    await expect(client.request({ path: '/', headers: { 'X-Up': '1' } })).rejects.toThrow(/not a lower-case token/);
    await expect(client.request({ path: '/', headers: { connection: 'close' } })).rejects.toThrow(/connection-specific/);
    await expect(client.request({ path: '/', body: 5 as any })).rejects.toThrow(/body must be a string, Buffer or Uint8Array/);
    await client.close();
  });
});
