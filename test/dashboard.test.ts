// The browser dashboard served at /debug/ (dashboard/, lib/dashboard.ts;
// docs/design.md §8).
//
// 1. Unit tests of the page's pure functions (dashboard/*.js are ES modules,
//    imported here as the browser does), named after docs/design.md §11.3 (D8) where it has a case.
// 2. Integration: the files are served over HTTP/2 with the right types, and
//    the page's decoders read a real SSE event of the server consistently.
// 3. A browser test: Debian's chromium driven by playwright-core loads the
//    page from a live server. Skipped (with the reason in its name) when
//    /usr/bin/chromium is missing, unless VALK_REQUIRE_BROWSER=1.
import * as fs from 'node:fs';
import * as http2 from 'node:http2';
import * as https from 'node:https';
import * as path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { AioSystem, startWithConfig } from '../lib/system';
import { CLEAN_STOP, connect, get, hasTool, keyPair, request } from './helpers';
import { browserMissing, browserPages, browserTestName, skipped } from './browser';
import { spawn } from 'node:child_process';

const DASHBOARD_DIR = path.join(__dirname, '..', 'dashboard');

interface Cell { used: number; size: number }
interface StateCell { A: number; I: number; C: number; F: number; size: number }
interface Dashboard {
  formatNumber(n: number): string;
  formatBytes(n: number): string;
  formatRate(n: number | null): string;
  formatDuration(s: number): string;
  formatMs(ms: number): string;
  bufferUtilClass(pct: number): string;
  watermarkClass(state: string): string;
  eventRingClass(state: string): string;
  capacityLevel(used: number, total: number): string;
  gaugeClass(used: number, capacity: number): string;
  hexToBitArray(hex: string, total?: number): number[];
  countUsed(bits: number[]): number;
  slotDetails(states: string, owners?: number[], ages?: number[], protos?: string): ({ owner: number | null; age: number | null; proto: string | null } | null)[];
  countStates(states: string): { A: number; I: number; C: number; F: number };
  ownerName(idx: number | string, ownerMap: string[]): string;
  ownerBreakdown(byOwner: Record<string, number>, ownerMap: string[]): { name: string; count: number }[];
  histogramQuantile(bounds: number[], counts: number[], q: number): number | null;
  computeRate(prev: number | undefined, cur: number, prevMs: number, curMs: number): number | null;
  aggregateBits(bits: number[], maxCells?: number): { per: number; cells: Cell[] };
  aggToCells(agg: { cells: number; per: number; used: number[] }, total: number): Cell[];
  aggregateStates(states: string, maxCells?: number): { per: number; cells: StateCell[] };
  fillLevel(used: number, size: number): number;
  dominantState(cell: StateCell): string;
  capacityAlerts(slabs: { name: string; used: number; total: number }[]): { name: string; level: string; pct: number }[];
  backoffMs(attempt: number): number;
  latencySummary(lat: unknown): { count: number; avgMs: number | null; p50Ms: number | null; p99Ms: number | null };
}

/** The page's pure functions, from its ES modules (dashboard/package.json makes them ESM under Node too). */
const D = {
  ...(await import('../dashboard/format.js')),
  ...(await import('../dashboard/classes.js')),
  ...(await import('../dashboard/decode.js')),
  ...(await import('../dashboard/sources.js')),
} as unknown as Dashboard;

interface LogLine { seq: number; kind: string; reason: string; a: number; b: number; conn: number; time: string }
/** dashboard/events.js's pure functions (the event log panel). */
const EV: {
  eventDetail(e: Partial<LogLine>): string;
  mergeEvents(list: LogLine[], incoming: LogLine[], keep: number): LogLine[];
  visibleEvents(list: LogLine[], hidden: Record<string, boolean>, max: number): LogLine[];
  clockOf(iso: string): string;
} = await import('../dashboard/events.js');

/** dashboard/controls.js's pure functions (poll interval, Copy as JSON). */
const CT: { INTERVALS_MS: number[]; intervalOf(v: unknown): number; snapshotDocument(m: unknown, e: unknown, now: number): string } =
  await import('../dashboard/controls.js');

/** The server's latency buckets (docs/metrics.md), seconds. */
const BOUNDS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

function counts(at: Record<number, number>): number[] {
  return Array.from({ length: BOUNDS.length + 1 }, (_, i) => at[i] ?? 0);
}

describe('dashboard pure functions (docs/design.md §11.3, D8)', () => {
  it('every module but main.js loads under Node: no DOM touched at import time, no syntax error', async () => {
    const modules = fs.readdirSync(DASHBOARD_DIR).filter((f) => f.endsWith('.js') && f !== 'main.js');
    expect(modules.length).toBeGreaterThan(8);
    for (const f of modules) expect(Object.keys(await import(path.join(DASHBOARD_DIR, f))).length, f).toBeGreaterThan(0);
  });

  it('event log: merged by seq (no line twice, the newest kept), filtered by kind newest first, details by kind', () => {
    const line = (seq: number, kind = 'conn_accepted'): LogLine => ({ seq, kind, reason: 'none', a: 0, b: 0, conn: 1, time: '2026-12-02T18:00:00.123Z' });
    const merged = EV.mergeEvents([line(1), line(2)], [line(2), line(3), line(4, 'conn_closed')], 3);
    expect(merged.map((e) => e.seq)).toEqual([2, 3, 4]);
    expect(EV.visibleEvents(merged, { conn_accepted: true }, 10).map((e) => e.seq)).toEqual([4]);
    expect(EV.visibleEvents(merged, {}, 2).map((e) => e.seq)).toEqual([4, 3]);
    expect(EV.eventDetail({ kind: 'conn_rejected', reason: 'limit' })).toBe('refused: limit');
    expect(EV.eventDetail({ kind: 'conn_closed', reason: 'idle_timeout', a: 300, b: 66 })).toBe('idle_timeout, age 300.0 ms, sent 66 B');
    expect(EV.eventDetail({ kind: 'watermark_changed', a: 2, b: 900 })).toBe('critical, 900 buffers in use');
    expect(EV.eventDetail({ kind: 'config_warning', reason: 'tcp_buffers_low', a: 100, b: 1450 })).toBe('tcpBufferPoolSize 100 < 70% of the recommended 1,450');
    expect(EV.clockOf('2026-12-02T18:00:00.123Z')).toBe('18:00:00.123');
  });

  it('the SSE reconnect backoff: 1 s, 2 s, 4 s, ... at most 30 s', () => {
    expect([0, 1, 2, 3, 4, 5, 10].map((n) => D.backoffMs(n))).toEqual([1000, 2000, 4000, 8000, 16000, 30000, 30000]);
  });

  it('controls: the poll intervals are 1 s, 5 s, 10 s (anything else is 1 s); Copy as JSON holds both sources', () => {
    expect(CT.INTERVALS_MS).toEqual([1000, 5000, 10000]);
    expect([CT.intervalOf('5000'), CT.intervalOf('10000'), CT.intervalOf('7'), CT.intervalOf(undefined)]).toEqual([5000, 10000, 1000, 1000]);
    const doc = JSON.parse(CT.snapshotDocument({ uptime_seconds: 3 }, { seq: 9 }, Date.UTC(2026, 11, 2)));
    expect(doc).toEqual({ copied_at: '2026-12-02T00:00:00.000Z', metrics: { uptime_seconds: 3 }, memory: { seq: 9 } });
  });

  it('testHexToBitArray: ff is 8 ones, 00 is 8 zeros, a5 is 10100101', () => {
    const ff = D.hexToBitArray('ff');
    expect(ff).toHaveLength(8);
    expect(ff.every((b) => b === 1)).toBe(true);
    expect(D.hexToBitArray('00')).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
    expect(D.hexToBitArray('a5').join('')).toBe('10100101');
  });

  it('testHexToBitArray: least significant bit first (docs/design.md §8), bytes in order', () => {
    // 'a5' reads the same both ways; these do not.
    expect(D.hexToBitArray('01').join('')).toBe('10000000');
    expect(D.hexToBitArray('80').join('')).toBe('00000001');
    expect(D.hexToBitArray('0f').join('')).toBe('11110000');
    // bit i of byte i/8 is slot i: slot 8 is bit 0 of the second byte
    expect(D.hexToBitArray('0001').join('')).toBe('0000000010000000');
    expect(D.hexToBitArray('05ff').join('')).toBe('1010000011111111');
  });

  it('testHexToBitArray: truncated to total, padding bits dropped (docs/design.md §8)', () => {
    expect(D.hexToBitArray('ff', 3)).toEqual([1, 1, 1]);
    expect(D.hexToBitArray('ffff', 10)).toHaveLength(10);
    // the http_servers pool of a live server: 16 slots, slot 0 used
    const servers = D.hexToBitArray('0100', 16);
    expect(servers).toHaveLength(16);
    expect(D.countUsed(servers)).toBe(1);
    expect(servers[0]).toBe(1);
    // total 0: an empty pool draws nothing
    expect(D.hexToBitArray('', 0)).toEqual([]);
  });

  it('testHexToBitArray: a bitmap shorter than total reads as free slots, bad digits as 0', () => {
    expect(D.hexToBitArray('ff', 12)).toEqual([1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0]);
    expect(D.hexToBitArray('zz01', 16).join('')).toBe('0000000010000000');
    expect(D.hexToBitArray(undefined as unknown as string, 4)).toEqual([0, 0, 0, 0]);
  });

  it('testFormatBytes: 0 B, 512 B, 1.0 KiB, 1.5 KiB, 1.0 MiB, 64.0 MiB (binary units)', () => {
    expect(D.formatRate(61.66982922201138)).toBe('62 B/s'); // a rate between polls: whole bytes
    expect(D.formatBytes(0)).toBe('0 B');
    expect(D.formatBytes(512)).toBe('512 B');
    expect(D.formatBytes(1024)).toBe('1.0 KiB');
    expect(D.formatBytes(1536)).toBe('1.5 KiB');
    expect(D.formatBytes(1048576)).toBe('1.0 MiB');
    expect(D.formatBytes(67108864)).toBe('64.0 MiB');
    expect(D.formatBytes(5 * 1024 ** 3)).toBe('5.0 GiB');
    expect(D.formatBytes(NaN)).toBe('--');
    expect(D.formatRate(1536)).toBe('1.5 KiB/s');
    expect(D.formatRate(null)).toBe('--');
  });

  it('the slab canvas: 7 px slots 1 px apart inside 3 px padding; the slot under a point, none between slots or past the last', async () => {
    const G = await import('../dashboard/grid-canvas.js');
    const L = G.canvasLayout(2000, 806); // (806 - 6 + 1) / 8 = 100 columns
    expect(L).toEqual({ size: 7, pitch: 8, cols: 100, rows: 20 });
    expect(G.slotAt(L, 2000, 3, 3)).toBe(0);
    expect(G.slotAt(L, 2000, 3 + 8 * 5 + 6, 3 + 8 * 2)).toBe(205);
    expect(G.slotAt(L, 2000, 3 + 7, 3)).toBe(-1); // the gap after slot 0
    expect(G.slotAt(L, 1999, 3 + 8 * 99, 3 + 8 * 19)).toBe(-1); // slot 1999 of 1999 slots does not exist
    expect(G.slotAt(L, 2000, 1, 1)).toBe(-1); // the padding
    expect(G.CANVAS_MIN_CELLS).toBe(1024);
  });

  it('one formatter: format(kind, v) for counts, bytes, rates, events/s, durations, ms, ratios; "--" for no number', async () => {
    const F = await import('../dashboard/format.js');
    expect(F.FORMAT_KINDS.sort()).toEqual(['bytes', 'count', 'duration', 'ms', 'pct', 'perSecond', 'rate']);
    expect(F.format('count', 1234567)).toBe('1,234,567');
    expect(F.format('bytes', 1536)).toBe('1.5 KiB');
    expect(F.format('bytes', 1023.7)).toBe('1.0 KiB'); // not "1024 B"
    expect(F.format('rate', 61.66982922201138)).toBe('62 B/s');
    expect([0.04, 12.34, 99.96, 1234.5].map((v) => F.format('perSecond', v))).toEqual(['0.0/s', '12.3/s', '100.0/s', '1,235/s']);
    expect(F.format('duration', 9296)).toBe('2h 34m 56s');
    expect(F.format('ms', 1.5)).toBe('1.50 ms');
    expect(F.format('pct', 0.732)).toBe('73.2%');
    for (const k of F.FORMAT_KINDS) for (const bad of [NaN, Infinity, undefined, null, '7']) expect(F.format(k, bad), `${k} ${bad}`).toBe('--');
    expect(() => F.format('furlongs', 1)).toThrow(/unknown kind furlongs/);
  });

  it('one formatter everywhere: no dashboard module but format.js turns a number into text itself', () => {
    for (const f of fs.readdirSync(DASHBOARD_DIR).filter((x) => x.endsWith('.js') && x !== 'format.js')) {
      const text = fs.readFileSync(path.join(DASHBOARD_DIR, f), 'utf8');
      expect(text, f).not.toMatch(/\.toFixed\(|\.toLocaleString\(|\.toPrecision\(|Intl\.NumberFormat/);
    }
  });

  it('the modules call one way: format, classes, decode, dom and model import no panel; nothing imports main.js', () => {
    const imports = (f: string) => [...fs.readFileSync(path.join(DASHBOARD_DIR, f), 'utf8').matchAll(/from '\.\/([a-z-]+\.js)'/g)].map((m) => m[1]);
    const leaves = ['format.js', 'classes.js', 'decode.js', 'dom.js', 'model.js'];
    for (const f of leaves) expect(imports(f).filter((i) => !leaves.includes(i)), f).toEqual([]);
    for (const f of fs.readdirSync(DASHBOARD_DIR).filter((x) => x.endsWith('.js'))) expect(imports(f), f).not.toContain('main.js');
  });

  it('formatDuration: µs, ms, seconds, and the uptime form 2h 34m 12s', () => {
    expect(D.formatDuration(0)).toBe('0s');
    expect(D.formatDuration(0.00025)).toBe('250 µs');
    expect(D.formatDuration(0.0015)).toBe('1.50 ms');
    expect(D.formatDuration(0.0125)).toBe('12.5 ms');
    expect(D.formatDuration(45.2)).toBe('45.2s');
    expect(D.formatDuration(183)).toBe('3m 03s');
    expect(D.formatDuration(2 * 3600 + 34 * 60 + 12)).toBe('2h 34m 12s');
    expect(D.formatDuration(3 * 86400 + 4 * 3600 + 5 * 60)).toBe('3d 04h 05m');
    expect(D.formatDuration(-1)).toBe('--');
    expect(D.formatMs(56.4)).toBe('56.4 ms');
    expect(D.formatNumber(1234567)).toBe('1,234,567');
    expect(D.formatNumber(999)).toBe('999');
  });

  it('testGridRenderingPerformance input: 262144 slots fold into 1024 cells of 256 and keep every used slot', () => {
    const bits = Array.from({ length: 262144 }, (_, i) => (i % 3 === 0 ? 1 : 0));
    const agg = D.aggregateBits(bits, 1024);
    expect(agg.per).toBe(256);
    expect(agg.cells).toHaveLength(1024);
    expect(agg.cells.reduce((t, c) => t + c.used, 0)).toBe(D.countUsed(bits));
    expect(agg.cells.reduce((t, c) => t + c.size, 0)).toBe(262144);
    // a count that does not divide: only the last cell is smaller
    const odd = D.aggregateBits(new Array(1030).fill(1), 1024);
    expect(odd.per).toBe(2);
    expect(odd.cells).toHaveLength(515);
    expect(odd.cells[514]).toEqual({ used: 2, size: 2 });
  });

  it('aggregated pool (agg): 145,000 TCP buffers, 142 a cell, 1022 cells, the last of 18 slots', () => {
    const per = 142;
    const used = Array.from({ length: 1022 }, (_, k) => (k === 1021 ? 18 : k % 143));
    const cells = D.aggToCells({ cells: 1022, per, used }, 145000);
    expect(cells).toHaveLength(1022);
    expect(cells[0]).toEqual({ used: 0, size: 142 });
    expect(cells[1021]).toEqual({ used: 18, size: 18 });
    expect(cells.reduce((t, c) => t + c.size, 0)).toBe(145000);
    expect(D.fillLevel(0, 142)).toBe(0);
    expect(D.fillLevel(142, 142)).toBe(4);
    expect(D.fillLevel(1, 142)).toBe(1);
    expect(D.fillLevel(100, 142)).toBe(3);
  });

  it('aggregated connection slab (detail:false): states fold into cells colored by their main state', () => {
    const states = 'A'.repeat(3000) + 'I'.repeat(1500) + 'C'.repeat(500) + 'F'.repeat(5000);
    const agg = D.aggregateStates(states, 1024);
    expect(agg.per).toBe(10);
    expect(agg.cells).toHaveLength(1000);
    expect(agg.cells[0]).toEqual({ A: 10, I: 0, C: 0, F: 0, size: 10 });
    expect(D.dominantState(agg.cells[0])).toBe('A');
    expect(D.dominantState(agg.cells[400])).toBe('I');
    expect(D.dominantState(agg.cells[460])).toBe('C');
    expect(D.dominantState(agg.cells[999])).toBe('F');
    const sum = agg.cells.reduce((t, c) => ({ A: t.A + c.A, I: t.I + c.I, C: t.C + c.C }), { A: 0, I: 0, C: 0 });
    expect(sum).toEqual({ A: 3000, I: 1500, C: 500 });
  });

  it('connection slab: owners[k] and ages[k] belong to the k-th non-free slot', () => {
    const d = D.slotDetails('AFIFC', [0, 1, -1], [12, 4003, 7], '21-');
    expect(d).toEqual([{ owner: 0, age: 12, proto: '2' }, null, { owner: 1, age: 4003, proto: '1' }, null, { owner: -1, age: 7, proto: null }]);
    // detail:false: no owners/ages/protos, used slots still known
    expect(D.slotDetails('AF', undefined, undefined)).toEqual([{ owner: null, age: null, proto: null }, null]);
    expect(D.countStates('AAIFCFFN')).toEqual({ A: 3, I: 1, C: 1, F: 3 });
  });

  it('owner breakdown: names from owner_map, the 17th owner and "other" become "other", biggest first', () => {
    const map = [':8443', '127.0.0.1:9000', ''];
    const rows = D.ownerBreakdown({ '0': 2, '1': 5, '2': 1, '16': 3, other: 4, '7': 0 }, map);
    expect(rows).toEqual([
      { name: '127.0.0.1:9000', count: 5 },
      { name: ':8443', count: 2 },
      { name: 'owner #2', count: 1 },
      { name: 'other', count: 7 },
    ]);
    expect(D.ownerName(-1, map)).toBe('other');
    expect(D.ownerName(0, map)).toBe(':8443');
    expect(D.ownerBreakdown({}, map)).toEqual([]);
  });

  it('histogramQuantile: linear inside the bucket, non-cumulative counts, +Inf last', () => {
    expect(D.histogramQuantile(BOUNDS, counts({}), 0.5)).toBeNull();
    // 10 requests all in (1 ms, 2.5 ms]: p50 halfway through that bucket
    expect(D.histogramQuantile(BOUNDS, counts({ 4: 10 }), 0.5)).toBeCloseTo(0.00175, 9);
    // 100 requests: 90 in (0, 0.1 ms], 10 in (5 ms, 10 ms]
    const c = counts({ 0: 90, 6: 10 });
    expect(D.histogramQuantile(BOUNDS, c, 0.5)).toBeCloseTo(0.0001 * (50 / 90), 12);
    expect(D.histogramQuantile(BOUNDS, c, 0.99)).toBeCloseTo(0.005 + 0.005 * (9 / 10), 12);
    // everything in +Inf: the highest finite bound
    expect(D.histogramQuantile(BOUNDS, counts({ 16: 3 }), 0.5)).toBe(10);
    // empty buckets between are skipped
    expect(D.histogramQuantile(BOUNDS, counts({ 0: 1, 15: 1 }), 0.99)).toBeCloseTo(5 + 5 * 0.98, 9);
  });

  it('latencySummary: avg from the server, p50/p99 from the histogram, "--" material when empty', () => {
    const s = D.latencySummary({ bounds_seconds: BOUNDS, counts: counts({ 4: 10 }), count: 10, sum_seconds: 0.02, avg_ms: 2 });
    expect(s.count).toBe(10);
    expect(s.avgMs).toBe(2);
    expect(s.p50Ms).toBeCloseTo(1.75, 9);
    expect(s.p99Ms).toBeCloseTo(1 + 1.5 * 0.99, 9);
    expect(D.latencySummary({ bounds_seconds: BOUNDS, counts: counts({}), count: 0, avg_ms: 0 })).toEqual({
      count: 0, avgMs: null, p50Ms: null, p99Ms: null,
    });
  });

  it('computeRate: per second between polls, null without a sample, with no time, or after a reset', () => {
    expect(D.computeRate(1000, 3048, 10_000, 11_000)).toBe(2048);
    expect(D.computeRate(0, 500, 0, 2000)).toBe(250);
    expect(D.computeRate(undefined, 500, 0, 1000)).toBeNull();
    expect(D.computeRate(100, 200, 1000, 1000)).toBeNull();
    expect(D.computeRate(500, 100, 0, 1000)).toBeNull();
  });

  it('color classes: buffer util >95 red, >85 ylw, >50 blu (docs/design.md §8); watermark; gauges', () => {
    expect(D.bufferUtilClass(96)).toBe('red');
    expect(D.bufferUtilClass(95)).toBe('ylw');
    expect(D.bufferUtilClass(85.1)).toBe('ylw');
    expect(D.bufferUtilClass(85)).toBe('blu');
    expect(D.bufferUtilClass(61.5)).toBe('blu');
    expect(D.bufferUtilClass(50)).toBe('');
    expect(D.watermarkClass('critical')).toBe('red');
    expect(D.watermarkClass('high')).toBe('ylw');
    expect(D.watermarkClass('normal')).toBe('grn');
    expect(D.eventRingClass('dropping')).toBe('red');
    expect(D.eventRingClass('pressure')).toBe('ylw');
    expect(D.eventRingClass('recovery')).toBe('ylw');
    expect(D.eventRingClass('normal')).toBe('');
    expect(D.gaugeClass(69, 100)).toBe('healthy');
    expect(D.gaugeClass(70, 100)).toBe('warning');
    expect(D.gaugeClass(90, 100)).toBe('critical');
  });

  it('capacity banner: pools at 80 % warn, at 95 % are critical, fullest first', () => {
    expect(D.capacityLevel(79, 100)).toBe('');
    expect(D.capacityLevel(80, 100)).toBe('warning');
    expect(D.capacityLevel(95, 100)).toBe('critical');
    expect(D.capacityLevel(0, 0)).toBe('');
    const alerts = D.capacityAlerts([
      { name: 'connections', used: 81, total: 100 },
      { name: 'tcp_buffers', used: 1400, total: 1450 },
      { name: 'stream_arenas', used: 10, total: 200 },
      { name: 'http_clients', used: 0, total: 0 },
    ]);
    expect(alerts.map((a) => [a.name, a.level])).toEqual([['tcp_buffers', 'critical'], ['connections', 'warning']]);
  });
});

// ---------------------------------------------------------------------------
// Live servers
// ---------------------------------------------------------------------------

const systems: AioSystem[] = [];
const cleanups: (() => Promise<void> | void)[] = [];

afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
  for (const sys of systems.splice(0)) if (sys.running) expect(await sys.stop()).toEqual(CLEAN_STOP);
});

async function serve(maxConnections?: number) {
  const sys = startWithConfig(maxConnections === undefined ? {} : { maxConnections });
  systems.push(sys);
  const srv = await sys.listen({ host: '127.0.0.1', port: 0, ...keyPair(), debug: true });
  return { sys, srv, port: srv.port };
}

/** Reads the first complete SSE event of the memory stream and returns its JSON. */
function firstMemoryEvent(port: number): Promise<{ id: number; data: any }> {
  return new Promise((resolve, reject) => {
    const s = http2.connect(`https://127.0.0.1:${port}`, { rejectUnauthorized: false });
    s.on('error', reject);
    const r = s.request({ ':path': '/debug/diagnostics/memory' });
    let text = '';
    r.setEncoding('utf8');
    r.on('data', (chunk: string) => {
      text += chunk;
      const end = text.indexOf('\n\n');
      if (end < 0) return;
      const lines = text.slice(0, end).split('\n');
      const id = Number(lines.find((l) => l.startsWith('id: '))?.slice(4));
      const data = JSON.parse(lines.find((l) => l.startsWith('data: '))!.slice(6));
      r.close();
      s.close();
      resolve({ id, data });
    });
    r.on('error', reject);
    r.end();
  });
}

describe('dashboard served at /debug/', () => {
  it('GET /debug/, /debug, /debug/main.js, /debug/style.css over HTTP/2: 200 with their content types', async () => {
    const { port } = await serve();
    const s = await connect(port);
    try {
      const page = await request(s, '/debug/');
      expect(page.status).toBe(200);
      expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
      expect(page.body).toBe(fs.readFileSync(path.join(DASHBOARD_DIR, 'index.html'), 'utf8'));
      expect(page.body).toContain('<script type="module" src="/debug/main.js"></script>');
      expect(page.body).toContain('/debug/style.css');
      expect(String(page.headers['content-security-policy'])).toContain("script-src 'self'");

      const bare = await request(s, '/debug');
      expect(bare.status).toBe(200);
      expect(bare.body).toBe(page.body);

      // Every module the page imports, from main.js down, is served as JavaScript, byte for byte.
      const seen = new Set<string>();
      const todo = ['main.js'];
      while (todo.length) {
        const f = todo.pop()!;
        if (seen.has(f)) continue;
        seen.add(f);
        const js = await request(s, `/debug/${f}`);
        expect(js.status, f).toBe(200);
        expect(js.headers['content-type'], f).toBe('text/javascript; charset=utf-8');
        expect(js.body, f).toBe(fs.readFileSync(path.join(DASHBOARD_DIR, f), 'utf8'));
        for (const m of js.body.matchAll(/^import [^;]*? from '([^']+)';$/gms)) {
          expect(m[1], `${f} imports ${m[1]}`).toMatch(/^\.\/[a-z-]+\.js$/);
          todo.push(m[1].slice(2));
        }
      }
      const modules = fs.readdirSync(DASHBOARD_DIR).filter((f) => f.endsWith('.js')).sort();
      expect([...seen].sort(), 'every dashboard/*.js is reached from main.js').toEqual(modules);

      const css = await request(s, '/debug/style.css');
      expect(css.status).toBe(200);
      expect(css.headers['content-type']).toBe('text/css; charset=utf-8');
      expect(css.body).toBe(fs.readFileSync(path.join(DASHBOARD_DIR, 'style.css'), 'utf8'));

      expect((await request(s, '/debug/README.md')).status).toBe(404);
    } finally {
      s.close();
    }
  });

  it('no dashboard without debug: /debug/ is 404', async () => {
    const sys = startWithConfig({});
    systems.push(sys);
    const srv = await sys.listen({ host: '127.0.0.1', port: 0, ...keyPair() });
    expect((await get(srv.port, '/debug/')).status).toBe(404);
  });

  it('the page loads nothing from elsewhere: no http(s) URL in its files, no @import', () => {
    const files = fs.readdirSync(DASHBOARD_DIR).filter((f) => /\.(html|css|js)$/.test(f));
    expect(files.length).toBeGreaterThan(10);
    for (const f of files) {
      const text = fs.readFileSync(path.join(DASHBOARD_DIR, f), 'utf8');
      expect(text, f).not.toMatch(/(src|href)\s*=\s*["']?(https?:)?\/\//i);
      expect(text, f).not.toMatch(/url\(\s*["']?(https?:)?\/\//i);
      expect(text, f).not.toMatch(/@import/i);
      expect(text, f).not.toMatch(/fetch\(\s*["']https?:/i);
    }
  });

  it("the page's decoders agree with a live SSE event: bitmap bits counted = used, one state a slot, its protocol", async () => {
    const { port } = await serve(40);
    // One HTTP/1.1 keep-alive connection (ALPN http/1.1) next to the stream's own HTTP/2 one.
    const agent = new https.Agent({ keepAlive: true, maxSockets: 1, rejectUnauthorized: false });
    await new Promise<void>((resolve, reject) => {
      https.get({ host: '127.0.0.1', port, path: '/health', agent }, (res) => { res.resume(); res.on('end', resolve); }).on('error', reject);
    });
    const { id, data } = await firstMemoryEvent(port);
    agent.destroy();
    expect(id).toBeGreaterThan(0);
    const conn = data.slabs.find((s: any) => s.name === 'connections');
    expect(conn.total).toBe(40);
    expect(conn.states).toHaveLength(40);
    const states = D.countStates(conn.states);
    expect(states.A + states.I + states.C).toBe(conn.used);
    const details = D.slotDetails(conn.states, conn.owners, conn.ages, conn.protos);
    expect(details.filter((d) => d !== null && d.owner !== null)).toHaveLength(conn.used);
    expect(conn.protos).toHaveLength(conn.used);
    expect(details.filter((d) => d !== null && d.proto === '1')).toHaveLength(1);
    expect(conn.summary.http1).toBe(1);
    expect(conn.summary.h2).toBeGreaterThanOrEqual(1);
    expect(conn.summary.h2 + conn.summary.http1).toBeLessThanOrEqual(conn.used);
    expect(D.ownerBreakdown(conn.summary.by_owner, data.owner_map).map((o) => o.name)).toContain(`:${port}`);
    const pools = data.slabs.filter((s: any) => typeof s.bitmap === 'string');
    expect(pools.length).toBeGreaterThan(0);
    for (const p of pools) {
      const bits = D.hexToBitArray(p.bitmap, p.total);
      expect(bits, p.name).toHaveLength(p.total);
      expect(D.countUsed(bits), p.name).toBe(p.used);
    }
    // the one server holds slot 0 of http_servers: bit 0 of the first byte (LSB first)
    const servers = data.slabs.find((s: any) => s.name === 'http_servers');
    const serverBits = D.hexToBitArray(servers.bitmap, servers.total);
    expect(D.countUsed(serverBits)).toBe(1);
    expect(serverBits[0]).toBe(1);
  });
});

// ---------------------------------------------------------------------------
// Browser
// ---------------------------------------------------------------------------

const skipBrowser = skipped(browserMissing);
const browserTest = (name: string) => browserTestName(name);

describe('dashboard in a browser', () => {
  const pages = browserPages(cleanups);
  afterAll(() => pages.close());
  /** A fresh page (own context) on the dashboard of port; page errors are collected. */
  const open = (port: number) => pages.open(port);

  /** n HTTP/2 connections from Node, closed after the test. */
  async function sessions(port: number, n: number): Promise<http2.ClientHttp2Session[]> {
    const list = await Promise.all(Array.from({ length: n }, () => connect(port)));
    cleanups.push(() => list.forEach((s) => s.close()));
    return list;
  }

  it.skipIf(skipBrowser)(browserTest('server card, maxConnections cells, rising SSE ids, owners, pause, stale'), { timeout: 120_000 }, async () => {
    const MAX = 24;
    const { sys, port } = await serve(MAX);
    const key = `127.0.0.1:${port}`;
    const { page, errors } = await open(port);

    // the server card keyed by host:port, filled from /debug/metrics
    const cardSel = `.server-card[data-key="${key}"]`;
    await page.waitForSelector(cardSel);
    expect(await page.textContent(`${cardSel} .srv-key`)).toBe(key);
    expect(await page.textContent(cardSel)).toContain('Rejected (Limit)');
    await page.waitForFunction(() => document.getElementById('status-text')?.textContent === 'live');
    expect(await page.textContent('#aio-cards')).toContain(`/${MAX}`); // Conn Slots n/24
    // the event ring's card: its state, fill of its capacity, drops, recording off (no reader)
    const ring = await page.textContent('#aio-cards');
    expect(ring).toContain('Event Ring');
    expect(ring).toMatch(/State\s*normal/);
    expect(ring).toMatch(/Queue State\s*normal/); // the request queue and the SSE stream: the same four states
    expect(ring).toMatch(/SSE Stream\s*(normal|pressure)/);
    expect(ring).toMatch(/Ready\s*ready/);
    expect(ring).toContain(`/${sys.metrics().events.capacity.toLocaleString('en-US')}`);

    // the connection grid: one cell a slot of the connection slab
    await page.waitForFunction((n) => document.querySelectorAll('#conn-grid .cell').length === n, MAX);
    expect(await page.locator('#conn-grid .cell').count()).toBe(MAX);

    // SSE: an id is shown and goes up
    await page.waitForFunction(() => /^\d+$/.test(document.getElementById('sse-id')?.textContent ?? ''));
    const first = Number(await page.textContent('#sse-id'));
    await page.waitForFunction((n) => Number(document.getElementById('sse-id')?.textContent) > n, first);
    // the page says how long it took to handle the last event (state.timing, model.js)
    expect(await page.textContent('#sse-draw')).toMatch(/^\d+(\.\d+)? (µs|ms)$/);

    // three more connections from Node: at least 4 slots taken (the browser holds one), owned by this server
    const conns = await sessions(port, 3);
    await page.waitForFunction(() => document.querySelectorAll('#conn-grid .cell:not(.st-F)').length >= 4);
    await page.waitForFunction((p) => (document.getElementById('owner-legend')?.textContent ?? '').includes(`:${p}`), port);
    expect(Number(await page.textContent('#count-F'))).toBeLessThanOrEqual(MAX - 4);
    expect(await page.isHidden('#capacity-banner')).toBe(true);

    // an HTTP/1.1 keep-alive connection: its cell has the ring (p1), its tooltip and the legend say so
    const agent = new https.Agent({ keepAlive: true, maxSockets: 1, rejectUnauthorized: false });
    cleanups.push(() => agent.destroy());
    await new Promise<void>((resolve, reject) => {
      https.get({ host: '127.0.0.1', port, path: '/health', agent }, (res) => { res.resume(); res.on('end', resolve); }).on('error', reject);
    });
    await page.waitForFunction(() => document.querySelectorAll('#conn-grid .cell.p1').length === 1);
    await page.hover('#conn-grid .cell.p1'); // the tooltip is made when the pointer enters the cell
    expect(await page.getAttribute('#conn-grid .cell.p1', 'title')).toContain('HTTP/1.x');
    expect(await page.textContent('#count-http1')).toBe('1');
    expect(Number(await page.textContent('#count-h2'))).toBeGreaterThanOrEqual(4);

    // the event log: the connections from Node are there (conn_accepted); switched off, they are hidden
    await page.waitForFunction(() => document.querySelectorAll('#event-log tr.ev-conn_accepted').length >= 3);
    expect(await page.textContent('#event-count')).toMatch(/ring normal, 0 dropped/);
    await page.click('#event-filters input[data-kind="conn_accepted"]');
    await page.waitForFunction(() => document.querySelectorAll('#event-log tr.ev-conn_accepted').length === 0);
    await page.click('#event-filters input[data-kind="conn_accepted"]');
    await page.waitForFunction(() => document.querySelectorAll('#event-log tr.ev-conn_accepted').length >= 3);

    // the poll interval: 5 s from the select; Copy as JSON puts the newest metrics and snapshot on the clipboard
    await page.selectOption('#poll-interval', '5000');
    expect(await page.evaluate(() => (window as any).ValkDashboard.state.pollMs)).toBe(5000);
    await page.selectOption('#poll-interval', '1000');
    await page.context().grantPermissions(['clipboard-read', 'clipboard-write'], { origin: `https://127.0.0.1:${port}` });
    await page.click('#copy-json');
    await page.waitForFunction(() => Number(document.getElementById('copy-json')?.getAttribute('data-copied')) > 0);
    const copied = JSON.parse(await page.evaluate(() => navigator.clipboard.readText()));
    expect(copied.metrics.uptime_seconds).toBeGreaterThanOrEqual(0);
    expect(copied.memory.slabs.length).toBeGreaterThan(0);

    // pause: events still arrive (state.lastEventId) but the shown id stays
    await page.click('#pause');
    expect(await page.textContent('#pause')).toBe('resume');
    const shown = await page.textContent('#sse-id');
    await page.waitForFunction((n) => Number((window as any).ValkDashboard.state.lastEventId) > n + 2, Number(shown));
    expect(await page.textContent('#sse-id')).toBe(shown);
    await page.click('#pause');
    await page.waitForFunction((n) => Number(document.getElementById('sse-id')?.textContent) > n + 2, Number(shown));

    // the server goes away: polling fails and the page says stale
    for (const s of conns) s.close();
    expect(await sys.stop()).toEqual(CLEAN_STOP);
    await page.waitForFunction(() => (document.getElementById('status-text')?.textContent ?? '').startsWith('stale'));
    expect(await page.getAttribute('#status-dot', 'class')).toContain('stale');
    expect(errors).toEqual([]);
  });

  it.skipIf(skipBrowser)(browserTest('slabs above 4096 slots are drawn aggregated (agg cells, detail:false)'), { timeout: 120_000 }, async () => {
    // 4100 connection slots: "detail":false, cells of ceil(4100/1024) = 5 slots -> 820 cells.
    // 5000 TCP buffers: "agg" of 5 slots a cell -> 1000 cells.
    const sys = startWithConfig({ maxConnections: 4100, tcpBufferPoolSize: 5000 });
    systems.push(sys);
    const { port } = await sys.listen({ host: '127.0.0.1', port: 0, ...keyPair(), debug: true });
    const { page, errors } = await open(port);

    await page.waitForFunction(() => document.querySelectorAll('#conn-grid .cell').length > 0);
    expect(await page.locator('#conn-grid .cell').count()).toBe(820);
    expect(await page.locator('#conn-grid .cell.agg').count()).toBe(820);
    expect(await page.textContent('#conn-note')).toContain('aggregated: 5 slots a cell');
    expect(await page.textContent('#conn-usage')).toContain('/ 4,100');

    const tcp = page.locator('.pool-panel[data-slab="tcp_buffers"]');
    await tcp.waitFor();
    expect(await tcp.locator('.cell').count()).toBe(1000);
    expect(await tcp.locator('.pool-note').textContent()).toContain('aggregated: 5 slots a cell');
    // a small pool next to them stays slot by slot
    expect(await page.locator('.pool-panel[data-slab="http_servers"] .cell').count()).toBe(16);
    expect(await page.locator('.pool-panel[data-slab="http_servers"] .cell.used').count()).toBe(1);
    expect(errors).toEqual([]);
  });

  it.skipIf(skipBrowser)(browserTest('a detailed slab above 1,024 slots is one canvas: slot colours by state, counts, the tooltip on hover'), { timeout: 120_000 }, async () => {
    const { port } = await serve(2000); // detail (<= 4096) but more than 1,024 cells: the canvas
    const { page, errors } = await open(port);
    await page.waitForFunction(() => document.querySelector('#conn-grid canvas.slab-canvas')?.getAttribute('data-slots') === '2000');
    expect(await page.locator('#conn-grid .cell').count()).toBe(0);
    const before = Number((await page.getAttribute('#conn-grid canvas', 'data-counts'))!.split(',')[3]);
    const held = await Promise.all([0, 1, 2].map(() => connect(port)));
    cleanups.push(() => held.forEach((h) => h.close()));
    // three more slots in use: the free count drops by 3 and the page's legend agrees
    await page.waitForFunction((b) => Number(document.querySelector('#conn-grid canvas')!.getAttribute('data-counts')!.split(',')[3]) === b - 3, before);
    const [a, i, c, f] = (await page.getAttribute('#conn-grid canvas', 'data-counts'))!.split(',').map(Number);
    expect(a + i + c + f).toBe(2000);
    // slot 0's pixels are a state colour (green A or blue I), a free slot's the free colour
    const px = await page.evaluate(() => {
      const cv = document.querySelector('#conn-grid canvas') as HTMLCanvasElement;
      const ctx = cv.getContext('2d')!;
      const at = (x: number, y: number) => Array.from(ctx.getImageData(x, y, 1, 1).data.slice(0, 3)).join(',');
      const cols = (cv.width - 5) / 8; // 3 px padding each side, 7 px slots 1 px apart
      const last = 1999; // the last slot: free
      return { used: at(3 + 3, 3 + 3), free: at(3 + (last % cols) * 8 + 3, 3 + Math.floor(last / cols) * 8 + 3), cols };
    });
    expect(['63,185,80', '88,166,255']).toContain(px.used); // --color-ok, --color-info
    expect(px.free).toBe('28,33,40'); // --bg-tertiary
    // the tooltip is made when the pointer is over a slot
    await page.hover('#conn-grid canvas', { position: { x: 6, y: 6 } });
    expect(await page.getAttribute('#conn-grid canvas', 'title')).toMatch(/^slot 0: (Active|Idle) · HTTP\/2/);
    held.forEach((h) => h.close());
    expect(errors).toEqual([]);
  });

  it.skipIf(skipBrowser || !hasTool('h2load'))(browserTest('under h2load the grid shows the loaded connections Active (test_truthful_states_in_browser)'), { timeout: 120_000 }, async () => {
    const { sys, port } = await serve(50);
    const { page, errors } = await open(port);
    await page.waitForFunction(() => /^\d+$/.test(document.getElementById('count-A')?.textContent ?? ''));
    const load = spawn('h2load', ['-c', '20', '-m', '4', '-D', '4', `https://127.0.0.1:${port}/health`],
      { stdio: 'ignore', env: { ...process.env, LD_PRELOAD: '' } });
    cleanups.push(() => { if (load.exitCode === null) load.kill('SIGKILL'); });
    const exited = new Promise((r) => load.on('exit', r));
    // 20 connections each with requests in flight back to back: Active, not Idle (the browser's own is Active too)
    await page.waitForFunction(() => Number(document.getElementById('count-A')?.textContent) >= 20);
    expect(Number(await page.textContent('#count-I'))).toBeLessThan(5);
    await exited;
    await page.waitForFunction(() => Number(document.getElementById('count-A')?.textContent) <= 2); // quiet again
    expect(sys.metrics().system.requests_total).toBeGreaterThan(100);
    expect(errors).toEqual([]);
  });

  it.skipIf(skipBrowser)(browserTest('the SSE dot turns red when the server goes, reconnects with backoff (1 s, 2 s, ...) and data resumes after a restart'), { timeout: 120_000 }, async () => {
    const first = startWithConfig({ maxConnections: 16 });
    systems.push(first);
    const srv = await first.listen({ host: '127.0.0.1', port: 0, ...keyPair(), debug: true });
    const port = srv.port;
    const { page, errors } = await open(port);
    await page.waitForFunction(() => document.getElementById('sse-status')?.textContent === 'streaming');
    expect(await page.getAttribute('#sse-dot', 'class')).toContain('live');
    expect(await first.stop()).toEqual(CLEAN_STOP);
    await page.waitForFunction(() => (document.getElementById('sse-status')?.textContent ?? '').startsWith('disconnected'));
    expect(await page.getAttribute('#sse-dot', 'class')).toContain('stale'); // red
    // each failed attempt doubles the wait: 1 s, then 2 s
    await page.waitForFunction(() => (window as any).ValkDashboard.state.sseRetryMs >= 2000, undefined, { timeout: 10_000 });
    const second = startWithConfig({ maxConnections: 16 });
    systems.push(second);
    await second.listen({ host: '127.0.0.1', port, ...keyPair(), debug: true }); // the same port: a restart
    await page.waitForFunction(() => document.getElementById('sse-status')?.textContent === 'streaming', undefined, { timeout: 20_000 });
    await page.waitForFunction(() => document.getElementById('status-text')?.textContent === 'live');
    const shown = Number(await page.textContent('#sse-id'));
    await page.waitForFunction((n) => Number(document.getElementById('sse-id')?.textContent) !== n, shown); // new events
    expect(await page.evaluate(() => (window as any).ValkDashboard.state.sseAttempt)).toBe(0); // reset once open
    expect(errors).toEqual([]);
  });

  it.skipIf(skipBrowser)(browserTest('capacity banner when a pool passes 80 %'), { timeout: 120_000 }, async () => {
    const MAX = 5;
    const { port } = await serve(MAX);
    const { page, errors } = await open(port);
    await page.waitForFunction((n) => document.querySelectorAll('#conn-grid .cell').length === n, MAX);
    expect(await page.isHidden('#capacity-banner')).toBe(true);
    // the browser's connection + 3 = 4 of 5 slots (80 %): warning at least
    await sessions(port, 3);
    await page.waitForSelector('#capacity-banner', { state: 'visible' });
    expect(await page.textContent('#capacity-banner')).toMatch(/connections \d+\.\d% \([45]\/5\)/);
    expect(await page.getAttribute('#capacity-banner', 'class')).toMatch(/warning|critical/);
    expect(await page.getAttribute('#conn-panel', 'class')).toMatch(/warning|critical/);
    expect(errors).toEqual([]);
  });
});
