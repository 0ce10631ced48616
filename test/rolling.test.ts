// A rolling restart behind a real load balancer (docs/design.md §14): h2load sends through
// nginx (Debian's nginx-light, its upstream two valk-aio instances over HTTP/1.1 keep-alive)
// while one instance drains; h2load must see every request succeed. nginx retries a request
// on another upstream only when the first failed before answering (a refused connection, a
// keep-alive connection closed under it), which is what a drain may cause; a request the
// drain cut after it began would be a 502 and fail the test. Every listener is on 127.0.0.1;
// nginx is stopped by PID; skipped (saying why) without nginx or h2load unless
// VALK_REQUIRE_LB=1.
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { ChildProcess, spawn } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { AioSystem, startWithConfig } from '../lib/system';
import { CLEAN_STOP, hasTool } from './helpers';

const missing = ['nginx', 'h2load'].filter((t) => !hasTool(t));
const skip = missing.length > 0 && process.env.VALK_REQUIRE_LB !== '1';
const ENV = { ...process.env, LD_PRELOAD: '' };

const systems: AioSystem[] = [];
const children: ChildProcess[] = [];
const dirs: string[] = [];
/** Stops a child by its PID: SIGTERM (nginx's master then stops its worker), SIGKILL after 5 s. */
async function stopChild(c: ChildProcess): Promise<void> {
  if (c.exitCode !== null || c.signalCode !== null) return;
  const exited = new Promise((r) => c.once('exit', r));
  c.kill('SIGTERM');
  const timer = setTimeout(() => c.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

afterEach(async () => {
  for (const c of children.splice(0)) await stopChild(c);
  for (const s of systems.splice(0)) if (s.running) await s.stop();
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

async function waitPort(port: number, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => { s.destroy(); resolve(true); });
      s.on('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > end) throw new Error(`port ${port} never opened`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A valk-aio instance: cleartext (nginx speaks HTTP/1.1 to it), a JavaScript answer after a few ms. */
async function instance(name: string) {
  const sys = startWithConfig({ maxConnections: 64, drainDelayMs: 300 });
  systems.push(sys);
  const srv = await sys.listen({
    host: '127.0.0.1', port: 0, tls: false,
    handler: async () => {
      await new Promise((r) => setTimeout(r, 2));
      return { status: 200, headers: { 'content-type': 'text/plain' }, body: `from ${name}\n` };
    },
  });
  return { sys, port: srv.port };
}

async function startNginx(upstreams: number[]): Promise<number> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'valk-lb-'));
  dirs.push(dir);
  const port = await freePort();
  fs.writeFileSync(path.join(dir, 'nginx.conf'), `
daemon off;
master_process on;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${dir};
  proxy_temp_path ${dir};
  upstream valk {
    ${upstreams.map((p) => `server 127.0.0.1:${p} max_fails=1 fail_timeout=30s;`).join('\n    ')}
    keepalive 32;
  }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://valk;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_next_upstream error timeout;
      proxy_next_upstream_tries 3;
    }
  }
}
`);
  const child = spawn('nginx', ['-c', path.join(dir, 'nginx.conf'), '-p', dir], { stdio: 'ignore', env: ENV });
  children.push(child);
  await waitPort(port);
  return port;
}

function h2load(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('h2load', args, { stdio: ['ignore', 'pipe', 'pipe'], env: ENV });
    children.push(child);
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('exit', () => { clearTimeout(timer); resolve(out); });
    child.on('error', reject);
  });
}

describe('rolling restart behind nginx', () => {
  it.skipIf(skip)(`test_rolling_restart_behind_a_load_balancer${skip ? ` SKIPPED: ${missing.join(', ')} not installed` : ''}`, { timeout: 90_000 }, async () => {
    const a = await instance('a');
    const b = await instance('b');
    const lb = await startNginx([a.port, b.port]);
    const N = 20_000;
    // POST: nginx never sends a non-idempotent request again once it reached an upstream, so a
    // request the drain cut, or a keep-alive connection closed as nginx wrote to it, is a 502 here
    const body = path.join(dirs[0], 'body');
    fs.writeFileSync(body, 'x'.repeat(64));
    const load = h2load(['--h1', '-n', String(N), '-c', '16', '-d', body, `http://127.0.0.1:${lb}/`]);
    // a drains once it has served a share of the load: its requests in flight finish, nginx moves on to b
    const end = Date.now() + 30_000;
    while (a.sys.metrics().system.requests_total < 2000 && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
    const servedBefore = a.sys.metrics().system.requests_total;
    const report = await a.sys.drain();
    const out = await load;
    const m = /requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored/.exec(out);
    const codes = /status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/.exec(out);
    expect(m, out).not.toBeNull();
    expect(servedBefore, 'a served before its drain').toBeGreaterThan(1000);
    expect(Number(m![4]), out).toBe(N); // succeeded
    expect(Number(m![5]) + Number(m![6]), out).toBe(0); // failed + errored
    expect(Number(codes![1]), out).toBe(N); // every one a 2xx: no 502 from a cut request
    expect(report.forced).toBe(0);
    expect(report.stop).toEqual(CLEAN_STOP);
    expect(b.sys.metrics().system.requests_total).toBeGreaterThan(N - servedBefore - 1000);
  });
});
