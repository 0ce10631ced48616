// A cleartext listener (listen({ tls: false }), `valk-aio start --no-tls`): HTTP/2 with prior
// knowledge and HTTP/1.x on one port, told apart by the connection preface (docs/design.md
// §12); the same server behind both. Every listener is on 127.0.0.1.
import * as http from 'node:http';
import * as http2 from 'node:http2';
import * as net from 'node:net';
import { execFile } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { AioSystem, startWithConfig } from '../lib/system';
import { CLEAN_STOP, curl, keyPair, waitFor, hasTool } from './helpers';

const systems: AioSystem[] = [];
const sessions: http2.ClientHttp2Session[] = [];

afterEach(async () => {
  for (const s of sessions.splice(0)) s.destroy();
  for (const sys of systems.splice(0)) if (sys.running) expect(await sys.stop()).toEqual(CLEAN_STOP);
});

async function serve(cfg = {}, extra = {}) {
  const sys = startWithConfig({ maxConnections: 10, ...cfg });
  systems.push(sys);
  const srv = await sys.listen({
    host: '127.0.0.1', port: 0, tls: false,
    routes: { '/': { body: 'hello h2c\n' } },
    handler: async (req) => ({ status: 200, body: `${req.method} ${req.path} ${(await req.bytes()).length}` }),
    ...extra,
  });
  return { sys, srv, port: srv.port };
}

function h2c(port: number): Promise<http2.ClientHttp2Session> {
  return new Promise((resolve, reject) => {
    const s = http2.connect(`http://127.0.0.1:${port}`);
    sessions.push(s);
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
}

function ask(s: http2.ClientHttp2Session, path: string, body?: Buffer): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = s.request({ ':path': path, ':method': body ? 'POST' : 'GET' });
    let status = 0;
    const chunks: Buffer[] = [];
    req.on('response', (h) => { status = Number(h[':status']); });
    req.on('data', (d: Buffer) => chunks.push(d));
    req.on('end', () => resolve({ status, body: Buffer.concat(chunks).toString() }));
    req.on('error', reject);
    req.end(body);
  });
}

describe('a cleartext listener: HTTP/2 with prior knowledge', () => {
  it('routes, handlers and request bodies over h2c (Node\'s http2 client), url http://', async () => {
    const { srv, port } = await serve();
    expect(srv.tls).toBe(false);
    expect(srv.url).toBe(`http://127.0.0.1:${port}/`);
    const s = await h2c(port);
    expect(await ask(s, '/')).toEqual({ status: 200, body: 'hello h2c\n' });
    const replies = await Promise.all([...Array(20).keys()].map((i) => ask(s, `/js/${i}`, Buffer.alloc(i * 1000, 1))));
    replies.forEach((r, i) => expect(r).toEqual({ status: 200, body: `POST /js/${i} ${i * 1000}` }));
    const big = await ask(s, '/up', Buffer.alloc(3 << 20, 2)); // past the windows: flow control over cleartext
    expect(big).toEqual({ status: 200, body: `POST /up ${3 << 20}` });
  });

  it('an HTTP/1.x request on the same port is served as HTTP/1.1 (told apart by the preface)', async () => {
    const { sys, port } = await serve();
    const reply = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      http.get({ host: '127.0.0.1', port, path: '/h1', agent: false }, (res) => {
        let body = '';
        res.on('data', (d) => { body += d; });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      }).on('error', reject);
    });
    expect(reply).toEqual({ status: 200, body: 'GET /h1 0' });
    expect(sys.metrics().system.connections_http1).toBe(1);
    const s = await h2c(port); // and HTTP/2 on the same port
    expect((await ask(s, '/')).status).toBe(200);
  });

  it('a preface split byte by byte starts the session; a partial one is closed after handshakeTimeoutMs', async () => {
    const { sys, port } = await serve({ handshakeTimeoutMs: 300 });
    const preface = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
    // Byte by byte, then an empty SETTINGS frame: the server answers with its SETTINGS.
    const answer = await new Promise<Buffer>((resolve, reject) => {
      const sock = net.connect(port, '127.0.0.1');
      const got: Buffer[] = [];
      sock.on('data', (d) => {
        got.push(d);
        if (Buffer.concat(got).length >= 9) {
          sock.destroy();
          resolve(Buffer.concat(got));
        }
      });
      sock.on('error', reject);
      sock.on('connect', async () => {
        for (const b of preface) {
          sock.write(Buffer.from([b]));
          await new Promise((r) => setTimeout(r, 2));
        }
        sock.write(Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0]));
      });
    });
    expect(answer[3]).toBe(4); // a SETTINGS frame first
    // Half a preface, then silence: the handshake timeout applies until it is complete.
    const closed = await new Promise<number>((resolve) => {
      const t0 = Date.now();
      const sock = net.connect(port, '127.0.0.1', () => sock.write(preface.subarray(0, 10)));
      sock.on('data', () => {});
      sock.on('close', () => resolve(Date.now() - t0));
      sock.on('error', () => {});
    });
    expect(closed).toBeGreaterThanOrEqual(250);
    expect(sys.metrics().system.connections_timed_out).toBeGreaterThanOrEqual(1);
  });

  it('admission control holds on the cleartext port: maxConnections, then refused', async () => {
    const { sys, port } = await serve({ maxConnections: 2 });
    const a = await h2c(port);
    const b = await h2c(port);
    for (const s of [a, b]) expect((await ask(s, '/')).status).toBe(200);
    const refused = await new Promise<string>((resolve) => {
      const s = http2.connect(`http://127.0.0.1:${port}`);
      sessions.push(s);
      s.on('error', () => resolve('refused'));
      s.on('close', () => resolve('refused'));
      s.on('connect', () => { ask(s, '/').then(() => resolve('served'), () => resolve('refused')); });
    });
    expect(refused).toBe('refused');
    expect(sys.metrics().system.connections_rejected).toBeGreaterThanOrEqual(1);
  });

  it('curl --http2-prior-knowledge gets HTTP/2', async () => {
    const { port } = await serve();
    const out = await curl(['-s', '--http2-prior-knowledge', '-w', '%{http_version} %{http_code}', `http://127.0.0.1:${port}/`]);
    expect(out).toBe('hello h2c\n2 200');
  });

  it.runIf(hasTool('h2load'))('h2load http:// (prior knowledge): every request 2xx', async () => {
    const { sys, port } = await serve({ maxConnections: 20 });
    // Asynchronously: the handler runs on this process's main thread.
    const out = await new Promise<string>((resolve, reject) => {
      execFile('h2load', ['-n', '2000', '-c', '10', '-m', '10', `http://127.0.0.1:${port}/js`], { encoding: 'utf8', timeout: 30_000, env: { ...process.env, LD_PRELOAD: '' } },
        (err, stdout) => (err ? reject(err) : resolve(stdout)));
    });
    expect(out).toMatch(/status codes: 2000 2xx/);
    await waitFor(() => sys.metrics().pools.connections.used === 0);
  });

  it('listen() checks tls and the key pair', async () => {
    const sys = startWithConfig({ maxConnections: 2 });
    systems.push(sys);
    const { key, cert } = keyPair();
    await expect(sys.listen({ port: 0, tls: false, key, cert })).rejects.toThrow(/key and cert are for TLS/);
    await expect(sys.listen({ port: 0, tls: 'no' as unknown as boolean })).rejects.toThrow(/tls must be a boolean/);
    await expect(sys.listen({ port: 0 })).rejects.toThrow(/key must be a PEM/);
    const tlsSrv = await sys.listen({ host: '127.0.0.1', port: 0, key, cert });
    expect([tlsSrv.tls, tlsSrv.url]).toEqual([true, `https://127.0.0.1:${tlsSrv.port}/`]);
  });
});
