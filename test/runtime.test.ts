// Runtime metrics (lib/runtime.ts): fields and ranges, GC counters, event-loop
// delay and utilization over a short window, refcounting of the process-wide
// observers, and that an unreleased monitor does not keep a process alive.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  RuntimeMetrics, RuntimeMonitor, acquireRuntimeMonitor, releaseRuntimeMonitor, runtimeMonitorActive, setRuntimeWindowMs,
} from '../lib/runtime';

/** The compiled module (built by `npm test`'s tsc step). */
const COMPILED = process.env.VALK_AIO_RUNTIME_JS ?? path.join(__dirname, '..', 'dist', 'lib', 'runtime.js');
const SOURCE = path.join(__dirname, '..', 'lib', 'runtime.ts');

const held: RuntimeMonitor[] = [];

function acquire(): RuntimeMonitor {
  const m = acquireRuntimeMonitor();
  held.push(m);
  return m;
}

afterEach(() => {
  for (const m of held.splice(0)) releaseRuntimeMonitor(m);
  setRuntimeWindowMs();
});

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Keeps the thread busy for `ms` without yielding to the event loop. */
function block(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end);
}

/** Polls read() until `ok` holds or `ms` pass; returns the last reading. */
async function until(m: RuntimeMonitor, ok: (r: RuntimeMetrics) => boolean, ms: number): Promise<RuntimeMetrics> {
  const end = Date.now() + ms;
  let r = m.read();
  while (!ok(r) && Date.now() < end) {
    await sleep(10);
    r = m.read();
  }
  return r;
}

/** Every leaf of a reading, by dotted name. */
function leaves(o: object, prefix = ''): [string, unknown][] {
  return Object.entries(o).flatMap(([k, v]) =>
    typeof v === 'object' && v !== null ? leaves(v, `${prefix}${k}.`) : [[`${prefix}${k}`, v] as [string, unknown]]);
}

const FIELDS = [
  'uptime_seconds', 'heap_used_bytes', 'heap_total_bytes', 'heap_limit_bytes', 'heap_utilization', 'rss_bytes',
  'external_bytes', 'array_buffers_bytes',
  'gc.count', 'gc.pause_seconds_total', 'gc.pause_max_ms', 'gc.major', 'gc.minor', 'gc.incremental', 'gc.weakcb',
  'event_loop.delay_p50_ms', 'event_loop.delay_p99_ms', 'event_loop.delay_max_ms', 'event_loop.delay_mean_ms',
  'event_loop.utilization', 'event_loop.window_seconds', 'event_loop.windows_completed',
  'event_loop.active_seconds_total', 'event_loop.idle_seconds_total',
];

function expectSane(r: RuntimeMetrics): void {
  const got = leaves(r);
  expect(got.map(([k]) => k).sort()).toEqual([...FIELDS].sort());
  for (const [k, v] of got) {
    expect(typeof v, k).toBe('number');
    expect(Number.isFinite(v), k).toBe(true);
    expect(v as number, k).toBeGreaterThanOrEqual(0);
  }
  expect(r.heap_used_bytes).toBeGreaterThan(0);
  expect(r.heap_used_bytes).toBeLessThanOrEqual(r.heap_total_bytes);
  expect(r.heap_total_bytes).toBeLessThanOrEqual(r.heap_limit_bytes);
  expect(r.heap_utilization).toBeLessThanOrEqual(1);
  expect(r.heap_utilization).toBeCloseTo(r.heap_used_bytes / r.heap_total_bytes, 6);
  expect(r.rss_bytes).toBeGreaterThan(0);
  expect(r.array_buffers_bytes).toBeLessThanOrEqual(r.external_bytes);
  expect(r.gc.major + r.gc.minor + r.gc.incremental + r.gc.weakcb).toBeLessThanOrEqual(r.gc.count);
  expect(r.gc.pause_max_ms / 1000).toBeLessThanOrEqual(r.gc.pause_seconds_total + 1e-9);
  const el = r.event_loop;
  expect(el.utilization).toBeLessThanOrEqual(1);
  if (el.delay_p50_ms > 0) {
    expect(el.delay_p50_ms).toBeLessThanOrEqual(el.delay_p99_ms);
    expect(el.delay_p99_ms).toBeLessThanOrEqual(el.delay_max_ms);
  }
}

describe('runtime metrics', () => {
  it('reports every field as a finite number in a sensible range, before and after samples', async () => {
    const m = acquire();
    expectSane(m.read()); // at once: an empty histogram must read 0, not NaN or 2^63
    await sleep(60);
    const r = m.read();
    expectSane(r);
    // A partial window with samples is reported (no window of 10 s has completed).
    expect(r.event_loop.windows_completed).toBe(0);
    expect(r.event_loop.delay_p50_ms).toBeGreaterThan(0);
    expect(r.event_loop.window_seconds).toBeGreaterThan(0.03);
    expect(r.event_loop.active_seconds_total + r.event_loop.idle_seconds_total).toBeGreaterThan(0.03);
  });

  it('counts garbage collections and their pauses', async () => {
    const m = acquire();
    const before = m.read().gc;
    let sink: number[][] = [];
    // Garbage in chunks, yielding between them so the observer's callbacks run.
    const end = Date.now() + 3000;
    let g = m.read().gc;
    while (g.count <= before.count && Date.now() < end) {
      for (let chunk = 0; chunk < 20; chunk++) {
        sink = [];
        for (let i = 0; i < 10_000; i++) sink.push([i, i + 1, i + 2]);
      }
      await new Promise<void>((resolve) => setImmediate(resolve));
      await sleep(1);
      g = m.read().gc;
    }
    expect(sink.length).toBe(10_000);
    expect(g.count).toBeGreaterThan(before.count);
    expect(g.pause_seconds_total).toBeGreaterThan(before.pause_seconds_total);
    expect(g.pause_max_ms).toBeGreaterThan(0);
    expect(g.major + g.minor).toBeGreaterThan(0); // young-generation garbage: scavenges at least
    expectSane(m.read());
  });

  it('measures event-loop delay and utilization over a short window, then rolls to the next', async () => {
    expect(runtimeMonitorActive()).toBe(false);
    setRuntimeWindowMs(500);
    const m = acquire();
    await sleep(30); // the histogram measures delays between its own ticks: let it tick once
    for (let i = 0; i < 3; i++) {
      block(60);
      await sleep(5);
    }
    const partial = m.read();
    expectSane(partial);
    expect(partial.event_loop.delay_max_ms).toBeGreaterThanOrEqual(40);
    expect(partial.event_loop.utilization).toBeGreaterThan(0.2);

    // The first window (with the stalls) completes and is what read() reports.
    const first = await until(m, (r) => r.event_loop.windows_completed >= 1, 2000);
    expect(first.event_loop.windows_completed).toBe(1);
    expectSane(first);
    expect(first.event_loop.delay_max_ms).toBeGreaterThanOrEqual(40);
    expect(first.event_loop.delay_p99_ms).toBeGreaterThanOrEqual(40);
    expect(first.event_loop.utilization).toBeGreaterThan(0);
    expect(first.event_loop.window_seconds).toBeGreaterThanOrEqual(0.45);
    expect(first.event_loop.window_seconds).toBeLessThan(1.5);
    expect(first.event_loop.active_seconds_total).toBeGreaterThanOrEqual(0.15);

    // The next window, idle, no longer shows them: the histogram was reset.
    const second = await until(m, (r) => r.event_loop.windows_completed >= 2, 2000);
    expect(second.event_loop.windows_completed).toBe(2);
    expectSane(second);
    // Lag beyond the 10 ms sampling timer: an idle loop shows (almost) none.
    expect(second.event_loop.delay_max_ms).toBeGreaterThanOrEqual(0);
    expect(second.event_loop.delay_max_ms).toBeLessThan(40);
    expect(second.event_loop.delay_p50_ms).toBeLessThan(5);
    expect(second.event_loop.utilization).toBeLessThan(first.event_loop.utilization);
  });

  it('shares one refcounted set of observers and restarts cleanly', async () => {
    expect(runtimeMonitorActive()).toBe(false);
    const a = acquireRuntimeMonitor();
    const b = acquireRuntimeMonitor();
    expect(runtimeMonitorActive()).toBe(true);
    releaseRuntimeMonitor(a);
    releaseRuntimeMonitor(a); // the same acquisition again: no effect
    expect(runtimeMonitorActive()).toBe(true);
    await sleep(30);
    const r = b.read();
    expectSane(r);
    expect(r.event_loop.delay_p50_ms).toBeGreaterThan(0);
    releaseRuntimeMonitor(b);
    expect(runtimeMonitorActive()).toBe(false);
    releaseRuntimeMonitor(b);
    releaseRuntimeMonitor(new RuntimeMonitor()); // never acquired
    // Stopped: the loop figures read 0 (heap and memory still read).
    const off = b.read();
    expectSane(off);
    expect(off.event_loop.delay_max_ms).toBe(0);
    expect(off.gc.count).toBe(0);

    // The count did not go negative: one acquire starts again, one release stops.
    const c = acquireRuntimeMonitor();
    expect(runtimeMonitorActive()).toBe(true);
    const fresh = c.read();
    expectSane(fresh);
    expect(fresh.gc.count).toBe(0);
    expect(fresh.event_loop.windows_completed).toBe(0);
    expect(fresh.event_loop.delay_max_ms).toBe(0);
    expect(fresh.event_loop.active_seconds_total).toBeLessThan(0.1);
    releaseRuntimeMonitor(c);
    expect(runtimeMonitorActive()).toBe(false);
  });

  it('does not keep the process alive when a monitor is never released', () => {
    if (!fs.existsSync(COMPILED)) {
      throw new Error(`${COMPILED} does not exist: run \`npm test\` (it runs tsc first to build dist/)`);
    }
    if (!process.env.VALK_AIO_RUNTIME_JS && fs.statSync(COMPILED).mtimeMs < fs.statSync(SOURCE).mtimeMs) {
      throw new Error(`${COMPILED} is older than lib/runtime.ts: run \`npm test\` (it runs tsc first to rebuild dist/)`);
    }
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'valk-runtime-')), 'child.js');
    fs.writeFileSync(file, `
      const { acquireRuntimeMonitor, runtimeMonitorActive } = require(${JSON.stringify(COMPILED)});
      const m = acquireRuntimeMonitor();
      if (!runtimeMonitorActive()) throw new Error('not active');
      setTimeout(() => { process.stdout.write(JSON.stringify(m.read())); }, 50);
    `);
    try {
      const t0 = Date.now();
      const r = spawnSync(process.execPath, [file], { timeout: 5000, encoding: 'utf8' });
      expect(r.signal, 'the child was killed after 5 s: something keeps the loop alive').toBeNull();
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      expect(Date.now() - t0).toBeLessThan(5000);
      expectSane(JSON.parse(r.stdout) as RuntimeMetrics);
    } finally {
      fs.rmSync(path.dirname(file), { recursive: true, force: true });
    }
  });
});
