// The queues leaving the AIO thread report the event ring's four states
// (issue #14, docs/design.md §13 "The same four states for the queues leaving
// the AIO thread"): the request queue to JavaScript (metrics().queue.state)
// and the diagnostics stream (metrics().sse.state), with their transitions,
// in JSON and Prometheus. The transition rule itself has its C test
// (test/c/test_valk_bpstate.c).
import { spawn } from 'node:child_process';
import * as http2 from 'node:http2';
import { afterEach, describe, expect, it } from 'vitest';
import { AioSystem, ListenOptions, startWithConfig } from '../lib/system';
import type { SystemConfig } from '../lib/config';
import { keyPair, stopAll, waitFor } from './helpers';
import { RawH2Client } from './h2raw';
import { parsePrometheus, sampleValue } from './promparse';

const SSE_PATH = '/debug/diagnostics/memory';
const systems: AioSystem[] = [];
const sessions: http2.ClientHttp2Session[] = [];
const cleanups: (() => void)[] = []; // timers, raw clients, child processes

afterEach(async () => {
  for (const c of cleanups.splice(0)) c();
  await stopAll(sessions, systems); // every system stopped, nothing leaked (CLEAN_STOP)
});

async function serve(cfg: SystemConfig, listen: Partial<ListenOptions>) {
  const sys = startWithConfig(cfg);
  systems.push(sys);
  const srv = await sys.listen({ host: '127.0.0.1', port: 0, ...keyPair(), routes: { '/static': { body: 'hi\n' } }, ...listen });
  return { sys, port: srv.port };
}

/** Records each change of read() every 5 ms (stop() reads once more and ends it): the states a metric went through. */
function sampler(read: () => string): { seen: string[]; note(st: string): void; stop(): void } {
  const seen: string[] = [];
  const note = (st: string) => { if (seen[seen.length - 1] !== st) seen.push(st); };
  note(read());
  const t = setInterval(() => note(read()), 5);
  cleanups.push(() => clearInterval(t));
  return { seen, note, stop: () => { clearInterval(t); note(read()); } };
}

/** n concurrent requests from another process (this one is busy in the handler); their statuses. */
async function burst(port: number, n: number): Promise<Record<string, number>> {
  const script = `
    const http2 = require('node:http2');
    const s = http2.connect('https://127.0.0.1:${port}', { rejectUnauthorized: false });
    let n = 0; const out = {};
    for (let i = 0; i < ${n}; i++) {
      const r = s.request({ ':path': '/work' });
      let st = 0;
      r.on('response', (h) => { st = h[':status']; });
      r.on('data', () => {});
      r.on('end', () => { out[st] = (out[st] || 0) + 1; if (++n === ${n}) { console.log(JSON.stringify(out)); s.close(); } });
      r.end();
    }
    setTimeout(() => { console.log(JSON.stringify(out)); process.exit(3); }, 20000).unref();`;
  const child = spawn(process.execPath, ['-e', script], { env: { ...process.env, LD_PRELOAD: '' } });
  cleanups.push(() => child.kill());
  let stdout = '';
  child.stdout.on('data', (d) => { stdout += d; });
  expect(await new Promise<number | null>((r) => child.on('exit', r))).toBe(0);
  return JSON.parse(stdout) as Record<string, number>;
}

describe('the request queue to JavaScript', () => {
  it('full (requests wait for room): DROPPING, then RECOVERY and NORMAL after traceStabilityMs', async () => {
    let sys!: AioSystem;
    let track!: ReturnType<typeof sampler>;
    let hold = true;
    const started = await serve({ maxConnections: 10, queueCapacity: 16, arenaPoolSize: 200, maxConcurrentStreams: 100,
      requestTimeoutMs: 30_000, traceStabilityMs: 300 }, {
      handlerTimeoutMs: 60_000,
      handler: () => {
        if (hold) { // Node's thread takes no request while this runs: the AIO side fills the queue
          hold = false;
          const end = Date.now() + 5000;
          while (Date.now() < end && sys.metrics().queue.state !== 'dropping') track.note(sys.metrics().queue.state);
          track.note(sys.metrics().queue.state);
        }
        return { status: 200, body: 'ok' };
      },
    });
    sys = started.sys;
    const port = started.port;
    const m0 = sys.metrics();
    expect(m0.queue.state).toBe('normal');
    expect(m0.queue.transitions).toEqual({ normal: 0, pressure: 0, dropping: 0, recovery: 0 });
    track = sampler(() => sys.metrics().queue.state);
    expect(await burst(port, 60)).toEqual({ 200: 60 }); // they waited, none refused (requestTimeoutMs is long)
    expect(sys.metrics().system.requests_queue_full).toBeGreaterThan(0);
    await waitFor(() => sys.metrics().queue.state === 'normal', 5000);
    track.stop();
    // DROPPING while they waited, RECOVERY once the queue emptied, NORMAL after the stability period.
    const i = track.seen.indexOf('dropping');
    expect(i, track.seen.join(' ')).toBeGreaterThan(0);
    expect(track.seen.slice(i), track.seen.join(' ')).toEqual(expect.arrayContaining(['recovery']));
    expect(track.seen.indexOf('recovery', i)).toBeGreaterThan(i);
    expect(track.seen[track.seen.length - 1]).toBe('normal');
    const m = sys.metrics();
    expect(m.queue.transitions.dropping).toBeGreaterThanOrEqual(1);
    expect(m.queue.transitions.recovery).toBeGreaterThanOrEqual(1);
    expect(m.queue.transitions.normal).toBeGreaterThanOrEqual(1);
    // Prometheus: the state as events' is (one 0/1 sample per state), the entries labelled by state.
    const fam = parsePrometheus(sys.prometheus());
    expect(sampleValue(fam, 'valk_aio_queue_state', { state: 'normal' })).toBe(1);
    expect(sampleValue(fam, 'valk_aio_queue_state', { state: 'dropping' })).toBe(0);
    expect(sampleValue(fam, 'valk_aio_queue_transitions_total', { state: 'dropping' })).toBe(m.queue.transitions.dropping);
  }, 60_000);
});

describe('the diagnostics stream', () => {
  it('a reading client keeps it NORMAL; one that stops reading drives it to DROPPING; closed, it recovers', async () => {
    const { sys, port } = await serve({ sseIntervalMs: 40, traceStabilityMs: 300 }, { debug: true });
    expect(sys.metrics().sse.state).toBe('normal');

    // A client that reads: every tick finds every stream done with its event.
    const session = http2.connect(`https://127.0.0.1:${port}`, { rejectUnauthorized: false });
    session.on('error', () => {});
    sessions.push(session);
    const req = session.request({ ':path': SSE_PATH });
    req.on('error', () => {});
    let events = 0;
    req.setEncoding('utf8');
    req.on('data', (d: string) => { events += d.split('\n\n').length - 1; });
    await waitFor(() => events >= 5, 5000);
    let m = sys.metrics();
    expect(m.sse.state).toBe('normal');
    expect(m.sse.transitions.dropping).toBe(0);
    expect(m.system.sse_events_skipped).toBe(0);
    session.destroy();
    await waitFor(() => sys.metrics().system.sse_streams_active === 0, 5000);

    // A client that stops reading (a 4 KiB window, never updated): behind, then skipping.
    const raw = await RawH2Client.connect({ port, initialWindowSize: 4096, autoWindowUpdate: false });
    cleanups.push(() => raw.destroy());
    const id = raw.request(SSE_PATH);
    await raw.waitUntil('first bytes', () => raw.dataBytes(id) > 0);
    await waitFor(() => sys.metrics().sse.state === 'dropping', 5000);
    m = sys.metrics();
    expect(m.system.sse_events_skipped).toBeGreaterThan(0);
    expect(m.sse.transitions.pressure).toBeGreaterThanOrEqual(1); // behind first, then skipping
    expect(m.sse.transitions.dropping).toBeGreaterThanOrEqual(1);
    const fam = parsePrometheus(sys.prometheus());
    expect(sampleValue(fam, 'valk_aio_sse_state', { state: 'dropping' })).toBe(1);

    // It closes: nobody is behind (RECOVERY), NORMAL once traceStabilityMs passed.
    const track = sampler(() => sys.metrics().sse.state);
    raw.destroy();
    await waitFor(() => sys.metrics().system.sse_streams_active === 0, 5000);
    await waitFor(() => sys.metrics().sse.state === 'normal', 5000);
    track.stop();
    expect(track.seen, track.seen.join(' ')).toEqual(['dropping', 'recovery', 'normal']);
    m = sys.metrics();
    expect(m.sse.transitions.recovery).toBeGreaterThanOrEqual(1);
    expect(m.sse.transitions.normal).toBeGreaterThanOrEqual(1);
  }, 30_000);
});
