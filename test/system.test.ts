// startWithConfig() and the HTTP/2 server end to end: the cases T6-T9, T12 and
// T13 (docs/design.md §11.1) as TypeScript tests, the limit case A2 (§11.2),
// and the foundation's "done means" (curl over ALPN h2, 100 streams on one
// connection, clean stop).
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import * as tls from 'node:tls';
import { spawnSync } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError, defaultConfig } from '../lib/config';
import { AioSystem, start, startWithConfig } from '../lib/system';
import { CLEAN_STOP, connect, curl, get, keyPair, request, waitFor } from './helpers';

const systems: AioSystem[] = [];
const HELLO = { '/': { status: 200, body: 'hello\n' } };

function track(sys: AioSystem): AioSystem {
  systems.push(sys);
  return sys;
}

async function serve(cfg = {}, routes: Record<string, object> = HELLO) {
  const sys = track(startWithConfig(cfg));
  const srv = await sys.listen({ host: '127.0.0.1', port: 0, ...keyPair(), routes });
  return { sys, srv, port: srv.port };
}

const threads = () => fs.readdirSync('/proc/self/task').length;

afterEach(async () => {
  for (const sys of systems.splice(0)) {
    if (sys.running) expect(await sys.stop()).toEqual(CLEAN_STOP);
  }
});

describe('startWithConfig (docs/design.md §10)', () => {
  it('T6 test_system_start_with_config: pools are sized from the resolved config', async () => {
    const sys = track(startWithConfig({ maxConnections: 50, maxConcurrentStreams: 50 }));
    expect(sys.config.maxConnections).toBe(50);
    expect(sys.config.tcpBufferPoolSize).toBe(412);
    const st = sys.stats();
    expect(st.conn_slab_total).toBe(50);
    expect(st.tcp_buffers_total).toBe(412);
    expect(await sys.stop()).toEqual(CLEAN_STOP);
  });

  it('T7 test_system_start_invalid_config: invalid config throws and starts nothing', () => {
    const before = threads();
    expect(() => startWithConfig({ maxConnections: 100, tcpBufferPoolSize: 10 })).toThrow(ConfigError);
    expect(threads()).toBe(before);
  });

  it('T8 test_config_parsing: defaults and a custom config both start and stop', async () => {
    const a = track(start());
    expect(a.running).toBe(true);
    await a.stop();
    const b = track(startWithConfig({ maxConnections: 200, maxConcurrentStreams: 50 }));
    expect(b.config.arenaPoolSize).toBe(400);
    expect(await b.stop()).toEqual(CLEAN_STOP);
  });

  it('T9 test_invalid_config: maxConnections 0 is a ConfigError naming the field', () => {
    let err: unknown;
    try {
      startWithConfig({ maxConnections: 0 });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).field).toBe('maxConnections');
    expect((err as ConfigError).value).toBe(0);
    expect((err as Error).message).toMatch(/1 to 100,000/);
  });

  it('T12 test_existing_code_still_works: start() without config', async () => {
    const sys = track(start());
    expect(sys).toBeInstanceOf(AioSystem);
    expect(await sys.stop()).toEqual(CLEAN_STOP);
  });

  it('T13 test_start_defaults: start() uses exactly the default config', async () => {
    const sys = track(start());
    expect(sys.config).toEqual(defaultConfig());
    expect(Object.isFrozen(sys.config)).toBe(true);
    await sys.stop();
  });

  it('the AIO thread is joined at stop', async () => {
    const before = threads();
    const sys = track(start());
    expect(threads()).toBe(before + 1);
    await sys.stop();
    expect(threads()).toBe(before);
  });

  it('a stopped system throws clear errors and never crashes', async () => {
    const { sys, srv } = await serve();
    const first = sys.stop();
    expect(sys.stop()).toBe(first); // idempotent
    await first;
    expect(sys.running).toBe(false);
    expect(() => sys.stats()).toThrow(/stopped/);
    await expect(sys.listen({ port: 0, ...keyPair() })).rejects.toThrow(/stopped/);
    await expect(srv.close()).resolves.toBeUndefined();
  });

  it('several systems run in one process', async () => {
    const a = await serve({}, { '/': { body: 'a' } });
    const b = await serve({ maxConnections: 10 }, { '/': { body: 'b' } });
    const [ra, rb] = await Promise.all([get(a.port, '/'), get(b.port, '/')]);
    expect([ra.body, rb.body]).toEqual(['a', 'b']);
  });
});

describe('HTTP/2 over TLS', () => {
  it('curl --http2 gets 200 and the body over ALPN h2', async () => {
    const { port } = await serve();
    const out = await curl(['-sk', '--http2', '-w', '\n%{http_version} %{response_code}', `https://127.0.0.1:${port}/`]);
    expect(out).toBe('hello\n\n2 200');
  });

  it('ALPN: h2 first, then http/1.1; a client that offers neither fails the handshake; the server keeps serving', async () => {
    const { sys, port } = await serve();
    expect(await curl(['-sk', '-w', ' %{http_version}', `https://127.0.0.1:${port}/`])).toBe('hello\n 2');
    expect(await curl(['-sk', '--http1.1', '-w', ' %{http_version}', `https://127.0.0.1:${port}/`])).toBe('hello\n 1.1');
    const failed = await new Promise<string>((resolve) => {
      const sock = tls.connect({ host: '127.0.0.1', port, ALPNProtocols: ['spdy/3'], rejectUnauthorized: false });
      sock.on('secureConnect', () => resolve('connected'));
      sock.on('error', (e) => resolve(e.message));
    });
    expect(failed).toMatch(/no application protocol|alert/i);
    await waitFor(() => sys.stats().connections_failed >= 1);
    expect(sys.metrics().system.connections_http1).toBe(1);
    expect((await get(port, '/')).status).toBe(200);
  });

  it('Node http2 client: 100 concurrent streams on one connection, SETTINGS carries maxConcurrentStreams', async () => {
    const { sys, port } = await serve({ maxConcurrentStreams: 100 });
    const s = await connect(port);
    try {
      expect(s.remoteSettings.maxConcurrentStreams).toBe(100);
      const replies = await Promise.all(Array.from({ length: 100 }, () => request(s, '/')));
      expect(replies.every((r) => r.status === 200 && r.body === 'hello\n')).toBe(true);
    } finally {
      s.close();
    }
    expect(sys.stats().responses_2xx).toBeGreaterThanOrEqual(100);
  });

  it('SETTINGS_MAX_CONCURRENT_STREAMS follows the config', async () => {
    const { port } = await serve({ maxConcurrentStreams: 7 });
    const s = await connect(port);
    await new Promise<void>((r) => (s.remoteSettings.maxConcurrentStreams === 7 ? r() : s.once('remoteSettings', () => r())));
    expect(s.remoteSettings.maxConcurrentStreams).toBe(7);
    s.close();
  });

  it('routes: 404 for unknown paths, query ignored, HEAD without body, other methods 405', async () => {
    const { port } = await serve({}, { ...HELLO, '/json': { status: 201, headers: { 'Content-Type': 'application/json', 'X-Test': 1 }, body: '{"a":1}' } });
    const s = await connect(port);
    try {
      const nf = await request(s, '/missing');
      expect([nf.status, nf.body]).toEqual([404, 'not found\n']);
      const q = await request(s, '/json?x=1');
      expect([q.status, q.body, q.headers['content-type'], q.headers['x-test']]).toEqual([201, '{"a":1}', 'application/json', '1']);
      const head = await request(s, '/json', 'HEAD');
      expect([head.status, head.body, head.headers['content-length']]).toEqual([201, '', '7']);
      const post = await request(s, '/', 'POST');
      expect([post.status, post.headers.allow]).toEqual([405, 'GET, HEAD']);
    } finally {
      s.close();
    }
  });

  it('a 1 MiB body arrives intact, again and again (flow control, several TCP buffers, no copy)', async () => {
    const big = Buffer.alloc(1 << 20);
    for (let i = 0; i < big.length; i++) big[i] = (i * 31 + 7) & 0xff;
    const { sys, port } = await serve({}, { '/big': { body: big } });
    const s = await connect(port);
    const download = () => new Promise<Buffer>((resolve, reject) => {
      const req = s.request({ ':path': '/big' });
      const chunks: Buffer[] = [];
      req.on('data', (d: Buffer) => chunks.push(d));
      req.on('end', () => resolve(Buffer.concat(chunks)));
      req.on('error', reject);
    });
    // A route's DATA frames go out from the route's own bytes, each frame's header
    // written over the 9 bytes before it for one SSL_write (docs/design.md §4): streams
    // at once, and the ones after, must still see the body as it was.
    for (let round = 0; round < 2; round++) {
      const bodies = await Promise.all([download(), download(), download()]);
      for (const body of bodies) expect(body.equals(big)).toBe(true);
    }
    s.close();
    await waitFor(() => sys.stats().tcp_buffers_used === 0);
  });

  it('an idle connection gives back the TLS buffers a bulk transfer grew (tls_buffers_released)', async () => {
    const { sys, port } = await serve({}, { '/up': { body: 'ok' } });
    const s = await connect(port);
    const post = () => new Promise<number>((resolve, reject) => {
      const req = s.request({ ':path': '/up', ':method': 'POST' });
      let status = 0;
      req.on('response', (h) => { status = Number(h[':status']); });
      req.on('data', () => {});
      req.on('end', () => resolve(status));
      req.on('error', reject);
      req.end(Buffer.alloc(4 << 20, 3)); // 4 MiB up: the read BIO grows with each TCP buffer read
    });
    expect(await post()).toBe(405);
    expect(sys.metrics().system.tls_buffers_released).toBe(0); // not while it was busy
    // Idle for a second: what its TLS memory BIOs grew to goes back.
    await waitFor(() => sys.metrics().system.tls_buffers_released >= 1, 5000);
    expect(await post()).toBe(405); // and the connection goes on
    s.close();
  });

  it('bad input to listen gets a clear error and loses nothing', async () => {
    const { sys, port } = await serve();
    await expect(sys.listen({ port, ...keyPair() })).rejects.toThrow(/EADDRINUSE/);
    await expect(sys.listen({ port, ...keyPair() })).rejects.toMatchObject({ code: 'EADDRINUSE' }); // libuv's name
    await expect(sys.listen({ port: 0, key: 'not a key', cert: keyPair().cert })).rejects.toThrow(/private key/);
    await expect(sys.listen({ port: 0, key: 'not a key', cert: keyPair().cert })).rejects.toMatchObject({ code: 'VALK_ETLS' });
    await expect(sys.listen({ port: 0, ...keyPair(), routes: { '/x': { headers: { connection: 'close' } } } })).rejects.toThrow(/connection/);
    await expect(sys.listen({ port: 70000, ...keyPair() })).rejects.toThrow(/port/);
    await expect(sys.listen({ port: 0, ...keyPair(), maxResponseBodySize: 0 })).rejects.toThrow(ConfigError);
    expect((await get(port, '/')).status).toBe(200);
  });
});

describe('connection slab and shutdown', () => {
  it('test_conn_slab_limit_enforcement: the connection past maxConnections is refused, the others keep working', async () => {
    const { sys, port } = await serve({ maxConnections: 3 });
    const clients = await Promise.all([0, 1, 2].map(() => connect(port)));
    expect(sys.stats().conn_slab_available).toBe(0);
    await expect(connect(port)).rejects.toThrow(); // RST before TLS
    expect(sys.stats().connections_rejected).toBeGreaterThanOrEqual(1);
    for (const c of clients) expect((await request(c, '/')).status).toBe(200);
    for (const c of clients) c.close();
    await waitFor(() => sys.stats().conn_slab_used === 0);
  });

  it('server close sends GOAWAY, drains, frees every slot; the system keeps running', async () => {
    const { sys, srv, port } = await serve();
    const s = await connect(port);
    expect((await request(s, '/')).status).toBe(200); // established on the server side too
    const goaway = new Promise<number>((r) => s.once('goaway', (code: number) => r(code)));
    await srv.close();
    expect(await goaway).toBe(0); // NO_ERROR
    expect(sys.stats().conn_slab_used).toBe(0);
    expect(sys.running).toBe(true);
    const again = await sys.listen({ port: 0, ...keyPair(), routes: HELLO });
    expect((await get(again.port, '/')).status).toBe(200);
  });

  it('stop drains open and half-open connections with 0 leaked slab items', async () => {
    const { sys, port } = await serve({ drainTimeoutMs: 2000 });
    const s = await connect(port);
    s.on('error', () => {});
    const raw = net.connect(port, '127.0.0.1'); // TCP only: never finishes TLS
    raw.on('error', () => {});
    await waitFor(() => sys.stats().conn_slab_used === 2);
    const t0 = Date.now();
    expect(await sys.stop()).toEqual(CLEAN_STOP);
    expect(Date.now() - t0).toBeLessThan(2500);
    raw.destroy();
    s.destroy();
  });

  it('the idle timeout sends GOAWAY to an idle connection and frees its slot', async () => {
    const { sys, port } = await serve({ idleTimeoutMs: 200 });
    const s = await connect(port);
    s.on('error', () => {});
    expect((await request(s, '/')).status).toBe(200);
    const goaway = new Promise<number>((r) => s.once('goaway', (code: number) => r(code)));
    expect(await goaway).toBe(0); // NO_ERROR
    await waitFor(() => sys.stats().conn_slab_used === 0);
    expect(sys.stats().connections_timed_out).toBe(1);
    s.destroy();
  });

  it('an active connection is not closed by the idle timeout', async () => {
    const { sys, port } = await serve({ idleTimeoutMs: 300 });
    const s = await connect(port);
    for (let i = 0; i < 8; i++) {
      expect((await request(s, '/')).status).toBe(200);
      await new Promise((r) => setTimeout(r, 100)); // 800 ms in all, never 300 ms idle
    }
    expect(sys.stats().connections_timed_out).toBe(0);
    s.close();
  });

  it('the handshake timeout frees the slot of a client that never finishes TLS', async () => {
    const { sys, port } = await serve({ maxConnections: 1, handshakeTimeoutMs: 200 });
    const raw = net.connect(port, '127.0.0.1');
    raw.on('error', () => {});
    const closed = new Promise<void>((r) => raw.once('close', () => r()));
    await waitFor(() => sys.stats().conn_slab_used === 1);
    await closed; // the server closed it
    await waitFor(() => sys.stats().conn_slab_used === 0);
    expect(sys.stats().connections_timed_out).toBe(1);
    expect((await get(port, '/')).status).toBe(200); // the one slot serves again
  });

  it('after stop the process exits by itself', () => {
    const script = `
      const { startWithConfig, generateSelfSigned } = require(${JSON.stringify(path.join(__dirname, '..', 'dist', 'lib', 'index.js'))});
      const http2 = require('node:http2');
      (async () => {
        const sys = startWithConfig({ maxConnections: 10 });
        const srv = await sys.listen({ host: '127.0.0.1', port: 0, ...generateSelfSigned(), routes: { '/': { body: 'x' } } });
        const c = http2.connect('https://127.0.0.1:' + srv.port, { rejectUnauthorized: false });
        const req = c.request({ ':path': '/' });
        req.resume();
        req.on('end', async () => { c.close(); console.log(JSON.stringify(await sys.stop())); });
      })();`;
    const r = spawnSync(process.execPath, ['-e', script], { timeout: 15_000, encoding: 'utf8' });
    expect(r.error).toBeUndefined();
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual(CLEAN_STOP);
  });
});
