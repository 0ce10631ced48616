// HTTP/1.1 (docs/design.md §12): ALPN http/1.1 or none on TLS, HTTP/1.x on a cleartext port;
// keep-alive, pipelining in order, bodies (Content-Length, chunked, 100-continue), streaming
// answers (chunked, SSE), HTTP/1.0, the smuggling defences end to end, the limits, slowloris,
// admission, and the commands of the issue (curl, ab, wrk) bounded in count and time.
// Every listener is on 127.0.0.1.
import * as http from 'node:http';
import * as https from 'node:https';
import * as net from 'node:net';
import * as tls from 'node:tls';
import { execFile } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { AioSystem, startWithConfig } from '../lib/system';
import { CLEAN_STOP, curl, keyPair, waitFor, hasTool } from './helpers';
import { Flag, FrameType, encodeFrame, hpackEncodeLiteral } from './h2raw';

const systems: AioSystem[] = [];
const sockets: net.Socket[] = [];

afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  for (const sys of systems.splice(0)) if (sys.running) expect(await sys.stop()).toEqual(CLEAN_STOP);
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function serve(cfg = {}, listen = {}) {
  const sys = startWithConfig({ maxConnections: 20, ...cfg });
  systems.push(sys);
  const common = {
    host: '127.0.0.1', port: 0,
    routes: { '/': { body: 'hello\n' }, '/big': { body: Buffer.alloc(1 << 20, 97) } },
    handler: async (req: { method: string; path: string; query: URLSearchParams; bytes(): Promise<Buffer>; headers: Record<string, string> }) => {
      if (req.path === '/slow') await sleep(Number(req.query.get('ms') ?? 100));
      if (req.path === '/stream') {
        return { status: 200, body: (async function* () { for (let i = 0; i < 3; i++) { await sleep(5); yield `part ${i}\n`; } })() };
      }
      if (req.path === '/headers') return { status: 200, body: JSON.stringify(req.headers) };
      return { status: 200, headers: { 'x-path': req.path }, body: `${req.method} ${req.path} ${(await req.bytes()).length}\n` };
    },
    ...listen,
  };
  const plain = await sys.listen({ ...common, tls: false });
  const secure = await sys.listen({ ...common, ...keyPair() });
  return { sys, plain: plain.port, secure: secure.port };
}

/** Writes raw bytes on a cleartext connection; resolves with all it got once it closes or `ms` pass. */
function raw(port: number, data: string | Buffer | (string | Buffer)[], ms = 1000, gap = 0): Promise<{ text: string; closed: boolean }> {
  return new Promise((resolve) => {
    const sock = net.connect(port, '127.0.0.1');
    sockets.push(sock);
    const got: Buffer[] = [];
    let closed = false;
    const done = () => resolve({ text: Buffer.concat(got).toString('latin1'), closed });
    const timer = setTimeout(done, ms);
    sock.on('data', (d) => got.push(d));
    sock.on('close', () => { closed = true; clearTimeout(timer); done(); });
    sock.on('error', () => {});
    sock.on('connect', async () => {
      for (const part of Array.isArray(data) ? data : [data]) {
        sock.write(part);
        if (gap) await sleep(gap);
      }
    });
  });
}

/**
 * Sends `data` on a half-open socket (cleartext, or TLS with ALPN `alpn`), then ends its
 * writing side (TLS: close_notify and FIN; cleartext: FIN); resolves with all it got once
 * the server closes, or `ms` pass (closed false).
 */
function halfClose(port: number, data: Buffer | string, secure: boolean, ms = 3000, alpn = 'http/1.1'): Promise<{ got: Buffer; closed: boolean }> {
  return new Promise((resolve) => {
    const got: Buffer[] = [];
    let closed = false;
    const sock: net.Socket = secure
      ? tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false, ALPNProtocols: [alpn], allowHalfOpen: true } as tls.ConnectionOptions)
      : net.connect({ host: '127.0.0.1', port, allowHalfOpen: true });
    sockets.push(sock);
    const done = () => resolve({ got: Buffer.concat(got), closed });
    const timer = setTimeout(done, ms);
    sock.on('data', (d: Buffer) => got.push(d));
    sock.on('end', () => { closed = true; clearTimeout(timer); done(); });
    sock.on('close', () => { closed = true; clearTimeout(timer); done(); });
    sock.on('error', () => {});
    sock.once(secure ? 'secureConnect' : 'connect', () => sock.end(data));
  });
}

/** The frames of an HTTP/2 byte stream (server side: no preface). */
function frames(b: Buffer): { type: number; flags: number; stream: number; payload: Buffer }[] {
  const out = [];
  for (let i = 0; i + 9 <= b.length;) {
    const len = b.readUIntBE(i, 3);
    out.push({ type: b[i + 3], flags: b[i + 4], stream: b.readUInt32BE(i + 5) & 0x7fffffff, payload: b.subarray(i + 9, i + 9 + len) });
    i += 9 + len;
  }
  return out;
}

/** Under the sanitizer run (scripts/sanitize.sh) LD_PRELOAD holds libasan: not for the tools. */
const TOOL_ENV = { ...process.env, LD_PRELOAD: '' };

function run(cmd: string, args: string[], timeout = 30_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { encoding: 'utf8', timeout, env: TOOL_ENV },
      (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout)));
  });
}

describe('HTTP/1.1 on TLS (ALPN http/1.1) and cleartext', () => {
  it('keep-alive: one connection carries many requests, routes and handlers, both listeners', async () => {
    const { sys, plain, secure } = await serve();
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const sagent = new https.Agent({ keepAlive: true, maxSockets: 1, rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] });
    const get = (mod: typeof http | typeof https, a: http.Agent, port: number, path: string) =>
      new Promise<{ status: number; body: string; socket: unknown }>((resolve, reject) => {
        mod.get({ host: '127.0.0.1', port, path, agent: a }, (res) => {
          let body = '';
          res.on('data', (d) => { body += d; });
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body, socket: res.socket }));
        }).on('error', reject);
      });
    for (const [mod, a, port] of [[http, agent, plain], [https, sagent, secure]] as const) {
      const replies = [];
      for (const p of ['/', '/js/a', '/', '/js/b']) replies.push(await get(mod, a, port, p));
      expect(replies.map((r) => [r.status, r.body])).toEqual([[200, 'hello\n'], [200, 'GET /js/a 0\n'], [200, 'hello\n'], [200, 'GET /js/b 0\n']]);
      expect(new Set(replies.map((r) => r.socket)).size).toBe(1); // one connection
    }
    agent.destroy();
    sagent.destroy();
    expect(sys.metrics().system.connections_http1).toBe(2);
    expect(sys.metrics().servers[0].streams_total).toBe(4);
  });

  it('pipelining: requests sent at once are answered in order (a slow handler first)', async () => {
    const { plain } = await serve();
    const req = (p: string) => `GET ${p} HTTP/1.1\r\nHost: x\r\n\r\n`;
    const { text } = await raw(plain, req('/slow?ms=150') + req('/') + req('/js/third') + 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', 3000);
    const bodies = text.split('HTTP/1.1 200 OK').slice(1).map((r) => r.slice(r.indexOf('\r\n\r\n') + 4));
    expect(bodies).toEqual(['GET /slow 0\n', 'hello\n', 'GET /js/third 0\n', 'hello\n']);
    expect(text).toMatch(/connection: close\r\n/);
  });

  it('request bodies: Content-Length, chunked, Expect: 100-continue; HEAD; HTTP/1.0', async () => {
    const { plain, secure } = await serve();
    const chunked = await raw(plain, ['POST /js/c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n', '4\r\nabcd\r\n', '3;ext=1\r\nefg\r\n0\r\n\r\n'], 1000, 20);
    expect(chunked.text).toMatch(/\r\n\r\nPOST \/js\/c 7\n$/);
    const expect100 = await raw(plain, 'PUT /js/e HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n', 300);
    expect(expect100.text).toBe('HTTP/1.1 100 Continue\r\n\r\n'); // then the client sends the body
    expect(await curl(['-s', '-H', 'Expect: 100-continue', '--data-binary', 'x'.repeat(2000), `http://127.0.0.1:${plain}/js/u`])).toBe('POST /js/u 2000\n');
    expect(await curl(['-sk', '--http1.1', '--data-binary', 'y'.repeat(100000), `https://127.0.0.1:${secure}/js/t`])).toBe('POST /js/t 100000\n');
    const head = await raw(plain, 'HEAD / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    expect(head.text).toBe('HTTP/1.1 200 OK\r\ncontent-length: 6\r\ncontent-type: text/plain; charset=utf-8\r\nconnection: close\r\n\r\n');
    const old = await raw(plain, 'GET /js/old HTTP/1.0\r\n\r\n');
    expect(old.closed).toBe(true); // HTTP/1.0 without keep-alive: closed after the answer
    expect(old.text).toMatch(/^HTTP\/1.1 200 OK\r\n[\s\S]*connection: close\r\n\r\nGET \/js\/old 0\n$/);
    const kept = await raw(plain, 'GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n', 300);
    expect(kept.closed).toBe(false);
    expect(kept.text).toMatch(/connection: keep-alive\r\n/);
  });

  it('handlers see the request\'s fields, not the connection\'s', async () => {
    const { plain } = await serve();
    const { text } = await raw(plain, 'GET /headers HTTP/1.1\r\nHost: example.test\r\nX-A: 1\r\nConnection: keep-alive, x-b\r\nKeep-Alive: timeout=5\r\n\r\n', 500);
    const h = JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4));
    expect(h['x-a']).toBe('1');
    expect(h.host).toBe('example.test');
    expect(h.connection).toBeUndefined();
    expect(h['keep-alive']).toBeUndefined();
  });

  it('streaming answers go chunked (HTTP/1.1) or until the close (HTTP/1.0); a 1 MiB route intact', async () => {
    const { plain, secure } = await serve();
    const chunked = await raw(plain, 'GET /stream HTTP/1.1\r\nHost: x\r\n\r\n', 1000);
    expect(chunked.text).toMatch(/transfer-encoding: chunked\r\n\r\n7\r\npart 0\n\r\n7\r\npart 1\n\r\n7\r\npart 2\n\r\n0\r\n\r\n$/);
    const old = await raw(plain, 'GET /stream HTTP/1.0\r\n\r\n', 1000);
    expect(old.closed).toBe(true);
    expect(old.text).toMatch(/connection: close\r\n\r\npart 0\npart 1\npart 2\n$/);
    const big = await curl(['-sk', '--http1.1', `https://127.0.0.1:${secure}/big`]);
    expect(big).toBe('a'.repeat(1 << 20));
  });

  it('server-sent events over cleartext HTTP/1.1: curl -sN .../api/diagnostics/memory/stream', async () => {
    const { plain } = await serve({}, { debug: true });
    const out = await new Promise<string>((resolve) => {
      execFile('curl', ['-sN', '--max-time', '1.5', `http://127.0.0.1:${plain}/api/diagnostics/memory/stream`],
        { encoding: 'utf8', env: TOOL_ENV, timeout: 10_000 }, (_err, stdout) => resolve(stdout));
    });
    expect((out.match(/^event: memory$/gm) ?? []).length).toBeGreaterThanOrEqual(2);
  });

  it('request smuggling is refused with 400 and the connection closes; other connections never notice', async () => {
    const { plain } = await serve();
    const cases = [
      'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
      'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nabcde',
      'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n',
      'GET / HTTP/1.1\r\nHost: x\r\nX: a\r\n b\r\n\r\n',
      'GET / HTTP/1.1\nHost: x\n\n',
      'GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n',
      'GET / HTTP/1.1\r\n\r\n',
    ];
    const bystander = await raw(plain, ['GET / HTTP/1.1\r\nHost: x\r\n\r\n'], 200);
    expect(bystander.text).toMatch(/hello\n$/);
    for (const c of cases) {
      const r = await raw(plain, c + 'GET /js/smuggled HTTP/1.1\r\nHost: x\r\n\r\n');
      expect(r.text, JSON.stringify(c)).toMatch(/^HTTP\/1.1 400 Bad Request\r\n/);
      expect(r.text).toMatch(/connection: close/);
      expect(r.text).not.toMatch(/smuggled/); // nothing after the bad bytes is served
      expect(r.closed).toBe(true);
    }
    expect((await curl(['-s', `http://127.0.0.1:${plain}/`]))).toBe('hello\n');
  });

  it('limits: 414 target, 431 fields, 413 declared body, 505 version', async () => {
    const { plain } = await serve({ maxHeaderPairs: 20, maxRequestBodySize: 1024 });
    expect((await raw(plain, `GET /${'a'.repeat(9000)} HTTP/1.1\r\nHost: x\r\n\r\n`)).text).toMatch(/^HTTP\/1.1 414 /);
    const many = Array.from({ length: 30 }, (_, i) => `X-${i}: v\r\n`).join('');
    expect((await raw(plain, `GET / HTTP/1.1\r\nHost: x\r\n${many}\r\n`)).text).toMatch(/^HTTP\/1.1 431 /);
    expect((await raw(plain, 'POST /js HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n')).text).toMatch(/^HTTP\/1.1 413 /);
    expect((await raw(plain, 'GET / HTTP/1.2\r\nHost: x\r\n\r\n')).text).toMatch(/^HTTP\/1.1 505 /);
  });

  it('slowloris: a head that never ends gets 408 after headersTimeoutMs; an idle keep-alive closes after idleTimeoutMs', async () => {
    const { sys, plain } = await serve({ headersTimeoutMs: 300, idleTimeoutMs: 600 });
    const t0 = Date.now();
    const slow = await raw(plain, ['GET / HTTP/1.1\r\n', 'Host: x\r\n', 'X-Slow: 1\r\n'], 3000, 50);
    expect(slow.text).toMatch(/^HTTP\/1.1 408 /);
    expect(slow.closed).toBe(true);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(250);
    expect(sys.metrics().system.connections_headers_timeout).toBe(1);
    const idle = await raw(plain, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n', 3000);
    expect(idle.text).toMatch(/hello\n$/);
    expect(idle.closed).toBe(true); // closed by the server once idle
  });

  it('admission control over HTTP/1.1: past maxConnections a new connection is refused; the held ones go on', async () => {
    const { sys, plain } = await serve({ maxConnections: 2 });
    const held = [net.connect(plain, '127.0.0.1'), net.connect(plain, '127.0.0.1')];
    sockets.push(...held);
    await waitFor(() => sys.metrics().pools.connections.used === 2);
    const third = await raw(plain, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n', 1000);
    expect(third.text).not.toMatch(/hello/);
    expect(sys.metrics().system.connections_rejected).toBeGreaterThanOrEqual(1);
    held[0].write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    const got = await new Promise<string>((resolve) => held[0].once('data', (d) => resolve(d.toString())));
    expect(got).toMatch(/hello\n$/);
  });

  it.runIf(hasTool('ab'))('ab -n 1000 -c 50 http://... (HTTP/1.0, cleartext): every request complete', async () => {
    const { plain } = await serve({ maxConnections: 100 });
    const out = await run('ab', ['-n', '1000', '-c', '50', `http://127.0.0.1:${plain}/`]);
    expect(out).toMatch(/Complete requests:\s+1000/);
    expect(out).toMatch(/Failed requests:\s+0/);
    expect(out).not.toMatch(/Non-2xx/);
  });

  it.runIf(hasTool('wrk'))('wrk over TLS (ALPN http/1.1) and cleartext, a handler and a route: no errors', async () => {
    const { sys, plain, secure } = await serve({ maxConnections: 100 });
    for (const url of [`https://127.0.0.1:${secure}/`, `http://127.0.0.1:${plain}/js/wrk`]) {
      const out = await run('wrk', ['-t1', '-c20', '-d1s', url]);
      expect(out, url).toMatch(/requests in/);
      expect(out, url).not.toMatch(/Non-2xx|Socket errors/);
    }
    await waitFor(() => sys.metrics().pools.connections.used === 0, 10_000);
  });

  it('a streaming request body with a slow reader: the client is held back, at most two windows held', async () => {
    const sys = startWithConfig({ maxConnections: 4 });
    systems.push(sys);
    let peak = 0;
    const srv = await sys.listen({
      host: '127.0.0.1', port: 0, tls: false, requestBodies: 'stream',
      handler: async (req) => {
        let n = 0;
        for await (const chunk of req) {
          n += chunk.length;
          peak = Math.max(peak, sys.metrics().system.request_body_held_bytes);
          await sleep(2);
        }
        return { status: 200, body: String(n) };
      },
    });
    const size = 4 << 20;
    const reply = await new Promise<string>((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port: srv.port, method: 'POST', path: '/up' }, (res) => {
        let b = '';
        res.on('data', (d) => { b += d; });
        res.on('end', () => resolve(b));
      });
      req.on('error', reject);
      const chunk = Buffer.alloc(65536, 1);
      let sent = 0;
      const pump = () => {
        while (sent < size) {
          sent += chunk.length;
          if (!req.write(chunk)) return void req.once('drain', pump);
        }
        req.end();
      };
      pump(); // chunked: no length declared
    });
    expect(reply).toBe(String(size));
    expect(peak).toBeGreaterThan(0);
    expect(peak).toBeLessThanOrEqual(2 * sys.config.streamWindowSize + 64 * 1024);
    await waitFor(() => sys.metrics().system.request_body_held_bytes === 0);
  });

  it('a client\'s FIN is the client gone (as in Node\'s http, nginx, Go): its request\'s signal aborts, over cleartext and TLS', async () => {
    const signals: AbortSignal[] = [];
    const { sys, plain, secure } = await serve({}, {
      handler: (req: { signal: AbortSignal }) => { signals.push(req.signal); return new Promise(() => {}); },
    });
    let n = 0;
    for (const [port, tlsOn] of [[plain, false], [secure, true]] as const) {
      const { got, closed } = await halfClose(port, 'GET /hang HTTP/1.1\r\nHost: x\r\n\r\n', tlsOn);
      n++;
      expect(closed, tlsOn ? 'TLS' : 'cleartext').toBe(true);
      expect(got.length).toBe(0);
      await waitFor(() => signals.length === n && signals[n - 1].aborted);
    }
    await waitFor(() => sys.metrics().system.requests_cancelled === 2 && sys.metrics().system.connections_active === 0);
  });

  it('per-protocol counters: requests_http1 and requests_h2, connections_http1 and connections_h2', async () => {
    const { sys, plain } = await serve();
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    for (let i = 0; i < 3; i++) await new Promise<void>((resolve, reject) => {
      http.get({ host: '127.0.0.1', port: plain, path: '/', agent }, (res) => { res.resume(); res.on('end', resolve); }).on('error', reject);
    });
    agent.destroy();
    const headers = hpackEncodeLiteral([[':method', 'GET'], [':scheme', 'http'], [':path', '/'], [':authority', 'x']]);
    const { got } = await halfClose(plain, Buffer.concat([
      Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), encodeFrame(FrameType.SETTINGS, 0, 0),
      encodeFrame(FrameType.HEADERS, Flag.END_STREAM | Flag.END_HEADERS, 1, headers),
      encodeFrame(FrameType.HEADERS, Flag.END_STREAM | Flag.END_HEADERS, 3, headers),
    ]), false, 500);
    expect(frames(got).filter((f) => f.type === FrameType.DATA).length).toBeGreaterThan(0);
    await waitFor(() => sys.metrics().system.connections_active === 0);
    const m = sys.metrics().system;
    expect([m.connections_http1, m.requests_http1, m.connections_h2, m.requests_h2]).toEqual([1, 3, 1, 2]);
    expect(m.streams_total).toBe(5);
  });

  it('a client without ALPN gets HTTP/1.1 over TLS', async () => {
    const { secure } = await serve();
    const text = await new Promise<string>((resolve, reject) => {
      const sock = tls.connect({ host: '127.0.0.1', port: secure, rejectUnauthorized: false }, () => {
        expect(sock.alpnProtocol).toBe(false);
        sock.write('GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
      });
      let got = '';
      sock.on('data', (d) => { got += d; });
      sock.on('end', () => resolve(got));
      sock.on('error', reject);
    });
    expect(text).toMatch(/^HTTP\/1.1 200 OK\r\n[\s\S]*\r\n\r\nhello\n$/);
  });
});
