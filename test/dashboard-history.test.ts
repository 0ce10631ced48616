// The dashboard's history charts (issue #16 item 2; dashboard/history.js,
// dashboard/charts.js, dashboard/panel-history.js; docs/design.md §8 "History").
//
// 1. Unit tests of the pure modules, imported as ES modules under Node
//    (dashboard/package.json says "type": "module").
// 2. A browser test under real load: Debian's chromium (playwright-core) has
//    the page open on an admin port while h2load loads the main port, then
//    five clients that stop reading pin the TCP buffers past the critical
//    watermark (as test/backpressure.test.ts does) and newcomers are refused
//    for load. Skipped when /usr/bin/chromium or h2load is missing, unless
//    VALK_REQUIRE_BROWSER=1. Saves test/output/dashboard-history.png.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { AioSystem, startWithConfig } from '../lib/system';
import { RawH2Client } from './h2raw';
import { CLEAN_STOP, attempt, hasTool, keyPair, waitFor } from './helpers';
import { browserMissing, browserPages, skipped } from './browser';


type Point = { t: number; v: number | null };
// The modules are plain JavaScript; their shapes as the tests use them.
const H: any = await import('../dashboard/history.js');
const C: any = await import('../dashboard/charts.js');
const P: any = await import('../dashboard/panel-history.js');

/** A /debug/metrics document with the fields history.js reads. */
function metrics(t: number, o: {
  reqs?: number[]; limit?: number; load?: number; perIp?: number; streams?: number; state?: string; transitions?: number;
  tcp?: [number, number]; arena?: number; small?: number; delay?: number;
} = {}) {
  return {
    timestamp_ms: t,
    servers: (o.reqs ?? [0]).map((n, i) => ({ key: `127.0.0.1:${9000 + i}`, requests_total: n })),
    system: {
      connections_rejected: o.limit ?? 0, connections_rejected_load: o.load ?? 0,
      connections_rejected_per_ip: o.perIp ?? 0, streams_refused: o.streams ?? 0,
    },
    pools: {
      tcp_buffers: { used: (o.tcp ?? [0, 100])[0], total: (o.tcp ?? [0, 100])[1] },
      arenas: { committed_bytes: o.arena ?? 0 }, small_arenas: { committed_bytes: o.small ?? 0 },
    },
    runtime: { event_loop: { delay_p99_ms: o.delay ?? 1 } },
    watermark: { state: o.state ?? 'normal', transitions: o.transitions ?? 0, high: 0.85, critical: 0.95 },
  };
}

/** A memory snapshot with the connection slab's Active count and the TCP buffers' use. */
function memory(ts: number, active: number, tcpUsed = 0, tcpTotal = 100) {
  return {
    seq: 1, ts, slabs: [
      { name: 'connections', total: 50, used: active, summary: { A: active, I: 0, C: 0, N: 0 } },
      { name: 'tcp_buffers', total: tcpTotal, used: tcpUsed, bitmap: '' },
    ],
  };
}

const values = (pts: Point[]) => pts.map((p) => p.v);

describe('history.js: the last 5 minutes, bounded', () => {
  it('the ring holds at most 300 samples: after 1000 polls a second apart, the newest 300 (5 minutes)', () => {
    const h = H.createHistory();
    const t0 = 1_700_000_000_000;
    for (let i = 0; i < 1000; i++) H.addMetrics(h, metrics(t0 + i * 1000, { reqs: [i * 10] }));
    expect(H.MAX_SAMPLES).toBe(300);
    expect(h.count).toBe(300);
    expect(h.ring.length).toBe(300);
    const s = H.samples(h);
    expect(s).toHaveLength(300);
    expect(s[0].t).toBe(t0 + 700 * 1000);
    expect(s[299].t).toBe(t0 + 999 * 1000);
    expect(new Set(values(H.seriesOf(h, 'reqs')))).toEqual(new Set([10]));
    // the charts' time axis: from the oldest of the 300 samples held to the newest (299 s)
    expect(H.timeRange(h)).toEqual({ tMin: t0 + 700_000, tMax: t0 + 999_000 });
  });

  it('inputs in the same second fold into one sample; the memory stream (10 a second) opens one sample a second', () => {
    const h = H.createHistory();
    const t0 = 1_700_000_000_000;
    for (let i = 0; i < 100; i++) H.addMemory(h, memory(t0 + i * 100, i % 10 === 3 ? 7 : 2));
    expect(h.count).toBe(10);
    // a gauge keeps the peak of its second: the 100 ms at 7 shows
    expect(values(H.seriesOf(h, 'active'))).toEqual(Array(10).fill(7));
    // a 5-minute window: samples older than 5 min before the newest are not charted
    H.addMemory(h, memory(t0 + 400_000, 1));
    expect(H.samples(h)).toHaveLength(1);
    expect(h.count).toBe(11);
  });

  it('requests/s from requests_total summed over the servers; a second poll in a second measures from the same start', () => {
    const h = H.createHistory();
    const t0 = 1_700_000_000_000;
    H.addMetrics(h, metrics(t0, { reqs: [0, 0] }));
    H.addMetrics(h, metrics(t0 + 1000, { reqs: [100, 50] }));
    H.addMetrics(h, metrics(t0 + 2000, { reqs: [300, 50] }));
    H.addMetrics(h, metrics(t0 + 2500, { reqs: [400, 50] })); // same second: (400 - 100) / 1.5 s
    expect(values(H.seriesOf(h, 'reqs'))).toEqual([null, 150, 200]);
    expect(h.count).toBe(3);
  });

  it('a counter that goes down is a restart: no negative rate, no spike, the next second is right again', () => {
    const h = H.createHistory();
    const t0 = 1_700_000_000_000;
    const totals = [1000, 2000, 3000, 10, 510, 1010];
    totals.forEach((n, i) => H.addMetrics(h, metrics(t0 + i * 1000, { reqs: [n], load: n })));
    expect(values(H.seriesOf(h, 'reqs'))).toEqual([null, 1000, 1000, null, 500, 500]);
    expect(values(H.seriesOf(h, 'refusals.load'))).toEqual([null, 1000, 1000, null, 500, 500]);
    const st = H.stats(H.seriesOf(h, 'reqs'));
    expect(st).toEqual({ points: 4, max: 1000, last: 500 });
    // one server of two restarts: only the other one's rate counts that second
    const g = H.createHistory();
    H.addMetrics(g, metrics(t0, { reqs: [100, 100] }));
    H.addMetrics(g, metrics(t0 + 1000, { reqs: [5, 300] }));
    expect(values(H.seriesOf(g, 'reqs'))).toEqual([null, 200]);
  });

  it('refusals per second by reason: limit, load, per-ip and streams refused, each from its own counter', () => {
    const h = H.createHistory();
    const t0 = 1_700_000_000_000;
    H.addMetrics(h, metrics(t0));
    H.addMetrics(h, metrics(t0 + 2000, { limit: 10, load: 4, perIp: 2, streams: 0 }));
    H.addMetrics(h, metrics(t0 + 3000, { limit: 10, load: 9, perIp: 2, streams: 7 }));
    expect(H.REFUSAL_REASONS.map((r: { label: string }) => r.label)).toEqual(['limit', 'load', 'per-ip', 'streams']);
    expect(values(H.seriesOf(h, 'refusals.limit'))).toEqual([null, 5, 0]);
    expect(values(H.seriesOf(h, 'refusals.load'))).toEqual([null, 2, 5]);
    expect(values(H.seriesOf(h, 'refusals.perIp'))).toEqual([null, 1, 0]);
    expect(values(H.seriesOf(h, 'refusals.streams'))).toEqual([null, 0, 7]);
  });

  it('gauges: TCP buffer use (the memory stream wins over the poll in its second), arena bytes (big + small committed), loop delay p99', () => {
    const h = H.createHistory();
    const t0 = 1_700_000_000_000;
    H.addMetrics(h, metrics(t0, { tcp: [10, 100], arena: 4096, small: 1024, delay: 12.5 }));
    H.addMemory(h, memory(t0 + 100, 3, 40, 100)); // same second: the snapshot replaces the poll's 10 %
    H.addMemory(h, memory(t0 + 200, 3, 30, 100)); // the peak of the second stays
    H.addMetrics(h, metrics(t0 + 1000, { tcp: [20, 100], arena: 8192, delay: 3 })); // no snapshot that second: the poll's
    expect(values(H.seriesOf(h, 'tcp'))).toEqual([0.4, 0.2]);
    expect(values(H.seriesOf(h, 'arena'))).toEqual([5120, 8192]);
    expect(values(H.seriesOf(h, 'loopDelay'))).toEqual([12.5, 3]);
    expect(values(H.seriesOf(h, 'active'))).toEqual([3, null]); // Active only from the connection slab's summary.A
    expect(h.watermark).toEqual({ high: 0.85, critical: 0.95 });
  });

  it('watermark markers: one at each state change (with its time and new state), none while it stays, one for a round trip between polls', () => {
    const h = H.createHistory();
    const t0 = 1_700_000_000_000;
    const seq: [string, number][] = [['normal', 0], ['normal', 0], ['high', 1], ['high', 1], ['critical', 2], ['critical', 2], ['normal', 4], ['normal', 6]];
    seq.forEach(([state, transitions], i) => H.addMetrics(h, metrics(t0 + i * 1000, { state, transitions })));
    expect(h.markers.map((m: { t: number; state: string }) => [m.t - t0, m.state])).toEqual([
      [2000, 'high'], [4000, 'critical'], [6000, 'normal'], [7000, 'normal'],
    ]);
    expect(h.markers[3].transitions).toBe(2); // normal -> high -> normal unseen by the polls, still marked
    expect(H.markersIn(h)).toHaveLength(4);
    // bounded: at most 64, the oldest dropped
    for (let i = 0; i < 200; i++) H.addMetrics(h, metrics(t0 + 10_000 + i * 1000, { state: i % 2 ? 'high' : 'normal', transitions: 7 + i }));
    expect(h.markers).toHaveLength(H.MAX_MARKERS);
    expect(H.MAX_MARKERS).toBe(64);
  });
});

describe('charts.js: path math', () => {
  it('seriesPath maps time to x and value to y (y grows down), clamps to the chart', () => {
    const pts: Point[] = [{ t: 0, v: 0 }, { t: 5, v: 5 }, { t: 10, v: 20 }];
    expect(C.seriesPath(pts, 100, 50, 0, 10, 10, 1e9)).toBe('M0 50L50 25L100 0');
    expect(C.xOf(2.5, 100, 0, 10)).toBe(25);
    expect(C.yOf(-3, 50, 10)).toBe(50);
    expect(C.yOf(1, 60, 3)).toBe(40);
  });

  it('seriesPath leaves out unknown values and points before the window, breaks at gaps, draws a lone point as a dot', () => {
    const pts: Point[] = [{ t: -5, v: 1 }, { t: 0, v: 2 }, { t: 1, v: null }, { t: 2, v: 4 }, { t: 9, v: 8 }];
    // gap 3: 0 -> 2 joined, 2 -> 9 is a new subpath (a lone point)
    expect(C.seriesPath(pts, 10, 10, 0, 10, 8, 3)).toBe('M0 7.5L2 5M9 0h0');
    expect(C.seriesPath([], 10, 10, 0, 10, 8)).toBe('');
    expect(C.seriesPath([{ t: 5, v: 4 }], 10, 10, 0, 10, 8)).toBe('M5 5h0');
  });

  it('niceMax rounds the y axis up to 1, 2, 2.5 or 5 × 10^k; lines for the watermarks and markers', () => {
    expect([0, -1, NaN, 0.3, 1, 1.2, 2.2, 3, 7, 10, 12_345].map((v) => C.niceMax(v))).toEqual([1, 1, 1, 0.5, 1, 2, 2.5, 5, 10, 10, 20_000]);
    expect(C.hLinePath(0.85, 300, 60, 1)).toBe('M0 9H300');
    expect(C.vLinePath(150, 300, 60, 0, 300)).toBe('M150 0V60');
    expect(C.vLinePath(-1, 300, 60, 0, 300)).toBe('');
  });

  it('the section: six charts, redrawn at most once a second; chartData gives the TCP chart its watermark lines', () => {
    expect(P.CHARTS.map((c: { id: string }) => c.id)).toEqual(['reqs', 'active', 'tcp', 'refusals', 'arena', 'loop']);
    expect(P.drawDelay(10_000, 9_500)).toBe(500);
    expect(P.drawDelay(10_000, 8_000)).toBe(0);
    expect(P.drawDelay(10_000, -Infinity)).toBe(0);
    const h = H.createHistory();
    const t0 = 1_700_000_000_000;
    H.addMetrics(h, metrics(t0, { state: 'normal' }));
    H.addMetrics(h, metrics(t0 + 1000, { state: 'high', transitions: 1, tcp: [90, 100] }));
    const tcp = P.chartData(h, P.CHARTS.find((c: { id: string }) => c.id === 'tcp'));
    expect(tcp.hlines.map((l: { v: number }) => l.v)).toEqual([0.85, 0.95]);
    expect(tcp.yMax).toBe(1);
    expect([tcp.tMin, tcp.tMax]).toEqual([t0 + 1000 - 30_000, t0 + 1000]); // a short history: at least 30 s shown
    for (let i = 2; i <= 120; i++) H.addMetrics(h, metrics(t0 + i * 1000));
    expect(H.timeRange(h)).toEqual({ tMin: t0, tMax: t0 + 120_000 }); // 2 minutes held: 2 minutes shown
    expect(tcp.markers).toEqual([{ t: t0 + 1000, state: 'high', from: 'normal', transitions: 1 }]);
    expect(tcp.stats.tcp).toEqual({ points: 2, max: 0.9, last: 0.9 });
    const reqs = P.chartData(h, P.CHARTS[0]);
    expect(reqs.hlines).toEqual([]);
  });
});

// ---------------------------------------------------------------------------
// Browser, under load
// ---------------------------------------------------------------------------

const missing = browserMissing || (!hasTool('h2load') ? 'h2load is not installed (apt-get install nghttp2-client)' : '');
const skipBrowser = skipped(missing);
const OUTPUT = path.join(__dirname, 'output', 'dashboard-history.png');

const BIG = 32 * 1024 * 1024; // far more than the kernel buffers of one loopback connection
const ROUTES = { '/': { status: 200, body: 'hello\n' }, '/big': { status: 200, body: Buffer.alloc(BIG, 0x61) } };

const systems: AioSystem[] = [];
const raws: RawH2Client[] = [];
const cleanups: (() => Promise<void> | void)[] = [];
const pages = browserPages(cleanups);

afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
  for (const r of raws.splice(0)) r.destroy();
  for (const sys of systems.splice(0)) if (sys.running) expect(await sys.stop()).toEqual(CLEAN_STOP);
});
afterAll(() => pages.close());

describe('history charts in a browser', () => {
  const chart = (id: string) => `#history .hchart[data-series="${id}"]`;
  const attr = async (page: Page, id: string, name: string) => Number(await page.getAttribute(chart(id), name));

  it.skipIf(skipBrowser)(
    skipBrowser ? `browser test SKIPPED (history under h2load): ${missing}; set VALK_REQUIRE_BROWSER=1 to make this a failure`
      : 'browser (chromium): under h2load the history charts fill (req/s, Active, arena bytes), watermark markers and load refusals appear, paused draws nothing (test_history_charts_in_browser)',
    { timeout: 180_000 },
    async () => {
      expect(missing, 'VALK_REQUIRE_BROWSER=1 but chromium, playwright-core or h2load is unavailable').toBe('');
      // 40 TCP buffers with low watermarks (30 %, 45 %): five clients that stop reading pin
      // 4 each, 20 of 40 = 50 %, past critical, and leave buffers for the page's own connection.
      const sys = startWithConfig({ maxConnections: 24, tcpBufferPoolSize: 40, bufferHighWatermark: 0.3, bufferCriticalWatermark: 0.45 });
      systems.push(sys);
      // '/' and '/big' static (answered on the AIO thread); anything else by JavaScript (it holds an arena)
      const srv = await sys.listen({ host: '127.0.0.1', port: 0, ...keyPair(), routes: ROUTES, handler: () => ({ status: 200, body: 'js\n' }) });
      const admin = await sys.listenAdmin({ port: 0, ...keyPair() });

      const { page, errors } = await pages.open(admin.port, { viewport: { width: 1440, height: 900 } });
      await page.waitForFunction(() => document.querySelectorAll('#history .hchart').length === 6);
      await page.waitForFunction((sel) => Number(document.querySelector(sel)?.getAttribute('data-points')) >= 2, chart('loop'));

      // real load on the main port: 20 connections, 4 streams each, 20,000 requests to the JavaScript handler
      const load = spawn('h2load', ['-n', '20000', '-c', '20', '-m', '4', `https://127.0.0.1:${srv.port}/js`],
        { stdio: 'ignore', env: { ...process.env, LD_PRELOAD: '' } });
      const killer = setTimeout(() => load.kill('SIGKILL'), 60_000);
      cleanups.push(() => { clearTimeout(killer); if (load.exitCode === null) load.kill('SIGKILL'); });
      const code = await new Promise((r) => load.on('exit', r));
      expect(code).toBe(0);
      expect(sys.metrics().servers.find((s) => s.port === srv.port)!.requests_total).toBeGreaterThanOrEqual(20_000);
      // the page's own polls are a few a second; h2load's are thousands
      await page.waitForFunction((sel) => Number(document.querySelector(sel)?.getAttribute('data-max')) > 500, chart('reqs'));
      expect(await attr(page, 'reqs', 'data-points')).toBeGreaterThanOrEqual(2);
      expect(await page.getAttribute(`${chart('reqs')} path.hchart-line`, 'd')).toMatch(/^M[\d.]+ [\d.]+L/);
      await page.waitForFunction((sel) => Number(document.querySelector(sel)?.getAttribute('data-max')) >= 10, chart('active'));
      // 80 requests in flight at a time in JavaScript hold small arenas: some poll saw them committed
      await page.waitForFunction((sel) => Number(document.querySelector(sel)?.getAttribute('data-max')) > 0, chart('arena'));
      for (const id of ['tcp', 'refusals', 'arena', 'loop']) expect(await attr(page, id, 'data-points'), id).toBeGreaterThanOrEqual(2);
      console.log(`history under h2load: req/s max ${await attr(page, 'reqs', 'data-max')}, Active max ${await attr(page, 'active', 'data-max')}, ` +
        `arena bytes max ${await attr(page, 'arena', 'data-max')}`);
      expect(await page.textContent(`${chart('reqs')} .hchart-max`)).toMatch(/\/s$/);
      // the watermark lines on the TCP chart: 30 % and 45 % of a 0..100 % axis, 60 high
      expect(await page.locator(`${chart('tcp')} path.hchart-hline`).count()).toBe(2);
      expect(await page.getAttribute(`${chart('tcp')} path.hchart-hline.wm-high`, 'd')).toBe('M0 42H300');
      expect(await page.getAttribute(`${chart('tcp')} path.hchart-hline.wm-critical`, 'd')).toBe('M0 33H300');

      // pin the TCP buffers past critical (test/backpressure.test.ts's way); newcomers are refused for load
      const stalled: { client: RawH2Client; id: number }[] = [];
      for (let i = 0; i < 5; i++) {
        const client = await RawH2Client.connect({ port: srv.port, timeoutMs: 30_000 });
        raws.push(client);
        await client.ping();
        client.pause();
        stalled.push({ client, id: client.request('/big') });
      }
      await waitFor(() => sys.metrics().watermark.state === 'critical', 15_000);
      for (let i = 0; i < 6; i++) expect(await attempt(srv.port)).toBe('refused');
      expect(sys.metrics().system.connections_rejected_load).toBeGreaterThanOrEqual(6);
      // a critical marker on every chart, the TCP chart at 45 % or more, load refusals charted
      await page.waitForFunction(() => document.querySelectorAll('#history .hchart-marker.wm-critical').length >= 6);
      for (const id of ['reqs', 'active', 'tcp', 'refusals', 'arena', 'loop']) {
        expect(await page.locator(`${chart(id)} .hchart-marker.wm-critical`).count(), id).toBeGreaterThanOrEqual(1);
      }
      await page.waitForFunction((sel) => Number(document.querySelector(sel)?.getAttribute('data-max')) >= 0.45, chart('tcp'));
      await page.waitForFunction((sel) => Number(document.querySelector(sel)?.getAttribute('data-max')) > 0, chart('refusals'));
      expect(Number(await page.getAttribute(`${chart('refusals')} path[data-name="refusals.load"]`, 'data-points'))).toBeGreaterThan(0);
      expect(await page.textContent(`${chart('refusals')} .hchart-legend`)).toMatch(/limit.*load.*per-ip.*streams/);
      await page.waitForTimeout(1200); // one more draw with everything
      fs.mkdirSync(path.dirname(OUTPUT), { recursive: true });
      await page.locator('#history').screenshot({ path: OUTPUT });
      console.log(`history screenshot: ${OUTPUT}`);

      // paused: samples keep coming, nothing is drawn; resumed: drawn again
      await page.click('#pause');
      const draws = Number(await page.getAttribute('#history', 'data-draws'));
      const samples = Number(await page.getAttribute('#history', 'data-samples'));
      await page.waitForFunction((n) => Number(document.getElementById('history')?.getAttribute('data-samples')) >= n + 2, samples);
      expect(Number(await page.getAttribute('#history', 'data-draws'))).toBe(draws);
      await page.click('#pause');
      await page.waitForFunction((n) => Number(document.getElementById('history')?.getAttribute('data-draws')) > n, draws);

      // the clients read again: the buffers come back, the state leaves critical (a marker of the new state)
      for (const { client } of stalled) client.resume();
      for (const { client, id } of stalled) await client.waitEnd(id, 60_000);
      await waitFor(() => sys.metrics().watermark.state === 'normal', 15_000);
      await page.waitForFunction(() => document.querySelector('#history .hchart[data-series="tcp"] .hchart-marker.wm-normal') !== null);
      expect(errors).toEqual([]);
    },
  );
});
