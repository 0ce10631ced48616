// `valk-aio start` under SIGTERM (docs/design.md §14) and its JSON logs (--log-format json,
// cli/log.ts): requests in flight when the signal comes all finish, /ready answers 503 while it
// drains, every step is a JSON line. Every listener is on 127.0.0.1; the child is stopped by PID.
import * as http2 from 'node:http2';
import * as path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

const CLI = process.env.VALK_AIO_CLI ?? path.join(__dirname, '..', 'dist', 'cli', 'main.js');
const ENV = { ...process.env, LD_PRELOAD: '' };
const BIG = 120_000; // past a stream's 64 KiB window: a client that does not read holds it in flight

interface Line { time: string; level: string; event: string; msg: string; [k: string]: unknown }

function parseLines(text: string): Line[] {
  return text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Line);
}

async function until<T>(probe: () => T | undefined, what: () => string, ms = 15_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = probe();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out: ${what()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function connect(url: string): Promise<http2.ClientHttp2Session> {
  return new Promise((resolve, reject) => {
    const s = http2.connect(url, { rejectUnauthorized: false });
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
}

describe('valk-aio start: SIGTERM drains, --log-format json', () => {
  it('test_sigterm_in_flight: requests in flight at SIGTERM all finish; /ready is 503 while it drains; each step a JSON line', async () => {
    const child = spawn(process.execPath, [CLI, 'start', '--port', '0', '--log-format', 'json', '--drain-delay-ms', '400',
      '--route', `/big=${'x'.repeat(BIG)}`], { stdio: ['ignore', 'pipe', 'pipe'], env: ENV });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const sessions: http2.ClientHttp2Session[] = [];
    try {
      const ctx = () => `stdout:\n${out}\nstderr:\n${err}`;
      const find = (event: string) => () => parseLines(out).find((l) => l.event === event);
      const listening = await until(find('listening'), ctx);
      const admin = await until(find('admin_listening'), ctx);
      const s = await connect(String(listening.url));
      s.on('error', () => {});
      sessions.push(s);
      const bodies = Array.from({ length: 5 }, () => {
        const req = s.request({ ':path': '/big' });
        let n = 0;
        req.pause(); // not read: the answer stays in flight
        const done = new Promise<number>((resolve, reject) => {
          req.on('data', (d: Buffer) => { n += d.length; });
          req.on('end', () => resolve(n));
          req.on('error', reject);
        });
        req.end();
        return { req, done };
      });
      await new Promise((r) => setTimeout(r, 200));
      child.kill('SIGTERM');
      await until(find('draining'), ctx);
      const a = await connect(`https://127.0.0.1:${admin.port}`);
      a.on('error', () => {});
      sessions.push(a);
      const ready = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        const r = a.request({ ':path': '/ready' });
        let status = 0, body = '';
        r.on('response', (h) => { status = Number(h[':status']); });
        r.setEncoding('utf8').on('data', (d: string) => { body += d; }).on('end', () => resolve({ status, body })).on('error', reject);
        r.end();
      });
      expect(ready.status).toBe(503);
      expect(JSON.parse(ready.body).reasons).toEqual(['draining']);
      for (const b of bodies) b.req.resume();
      expect(await Promise.all(bodies.map((b) => b.done))).toEqual([BIG, BIG, BIG, BIG, BIG]);
      expect(await exited).toBe(0);
      const lines = parseLines(out);
      for (const l of lines) {
        expect(Number.isNaN(Date.parse(l.time)), l.msg).toBe(false);
        expect(['info', 'warn', 'error']).toContain(l.level);
        expect(typeof l.msg).toBe('string');
      }
      const steps = lines.map((l) => l.event);
      for (const e of ['listening', 'signal', 'draining', 'closing', 'closed', 'stopped', 'drained']) expect(steps, e).toContain(e);
      const drained = lines.find((l) => l.event === 'drained')!;
      expect(drained).toMatchObject({ forced: 0, leaked_connections: 0, leaked_tcp_buffers: 0 });
      expect(lines.find((l) => l.event === 'draining')).toMatchObject({ connections: expect.any(Number) });
    } finally {
      for (const s of sessions) s.destroy();
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  }, 30_000);

  it('--log-format json: a bad flag is an error line naming the field, exit 2', () => {
    const r = spawnSync(process.execPath, [CLI, 'start', '--log-format', 'json', '--max-connections', '0'], { encoding: 'utf8', env: ENV, timeout: 20_000 });
    expect(r.status).toBe(2);
    const [line] = parseLines(r.stderr);
    expect(line).toMatchObject({ level: 'error', event: 'config_error', field: 'maxConnections' });
    expect(line.msg).toMatch(/--max-connections: 0 is out of range/); // the CLI's own spelling in the message
  });
});
