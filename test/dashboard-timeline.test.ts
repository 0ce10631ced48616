// The dashboard's memory timeline: scrub back through the last snapshots
// (issue #16 item 3; dashboard/timeline.js, dashboard/timeline-ui.js;
// docs/design.md §8, "The dashboard's timeline").
//
// 1. Unit tests of the ring (dashboard/timeline.js loads under Node): the
//    count cap, the byte cap, lookups by time, key and seq, stepping at the
//    edges, the bar's texts.
// 2. A browser test (Debian's chromium through playwright-core, as in
//    test/dashboard.test.ts; skipped with the reason in its name when
//    /usr/bin/chromium is missing, unless VALK_REQUIRE_BROWSER=1): a transient
//    state (connections opened, held 2 s, closed) is found again with the
//    slider and the step keys after the live grid is back to 0, then "live".
import * as fs from 'node:fs';
import * as http2 from 'node:http2';
import * as path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { AioSystem, startWithConfig } from '../lib/system';
import { CLEAN_STOP, connect, keyPair } from './helpers';
import { browserMissing, browserPages, browserTestName, skipped } from './browser';


interface Entry { key: number; seq: number; ts: number; id: string | null; raw: string }
interface Timeline {
  maxCount: number;
  maxBytes: number;
  push(raw: string, id?: string): Entry | null;
  size(): number;
  bytes(): number;
  dropped(): number;
  clear(): void;
  at(i: number): Entry | null;
  oldest(): Entry | null;
  newest(): Entry | null;
  indexOfKey(key: number): number;
  byKey(key: number): Entry | null;
  bySeq(seq: number): Entry | null;
  atOrBefore(ms: number): Entry | null;
  step(key: number, delta: number): Entry | null;
}
interface TimelineModule {
  TIMELINE_MAX_SNAPSHOTS: number;
  TIMELINE_MAX_BYTES: number;
  snapshotHead(raw: unknown): { seq: number; ts: number } | null;
  createTimeline(maxCount?: number, maxBytes?: number): Timeline;
  timelineLabel(entry: Entry | null, newest: Entry | null, gone?: boolean): string;
  timelineSpan(t: Timeline): string;
}

const T0 = Date.UTC(2026, 11, 2, 20, 49, 12, 345);

/** A snapshot's data string in the wire format's key order (docs/design.md §8), padded to about len characters. */
function snap(seq: number, ts = T0 + seq * 100, len = 0): string {
  const base = `{"seq":${seq},"ts":${ts},"slabs":[],"owner_map":[],"arenas":{},"runtime":{},"skipped":0`;
  const pad = Math.max(0, len - base.length - 10);
  return `${base},"pad":"${'x'.repeat(pad)}"}`;
}

const TL: TimelineModule = await import('../dashboard/timeline.js' as string);

describe('timeline ring (dashboard/timeline.js)', () => {
  it('the caps: 600 snapshots (60 s at 100 ms), 48 MiB of strings', () => {
    expect(TL.TIMELINE_MAX_SNAPSHOTS).toBe(600);
    expect(TL.TIMELINE_MAX_BYTES).toBe(48 * 1024 * 1024);
    const t = TL.createTimeline();
    expect([t.maxCount, t.maxBytes]).toEqual([600, 48 * 1024 * 1024]);
  });

  it('snapshotHead: seq and ts from the head, by parsing otherwise, null for anything else', () => {
    expect(TL.snapshotHead(snap(1234, T0))).toEqual({ seq: 1234, ts: T0 });
    expect(TL.snapshotHead('{"ts":5,"seq":7}')).toEqual({ seq: 7, ts: 5 });
    expect(TL.snapshotHead('not json')).toBeNull();
    expect(TL.snapshotHead('{"seq":"1","ts":2}')).toBeNull();
    expect(TL.snapshotHead(undefined)).toBeNull();
  });

  it('count cap: the 601st snapshot drops the oldest; keys stay consecutive, oldest first', () => {
    const t = TL.createTimeline();
    for (let s = 1; s <= 600; s++) t.push(snap(s), String(s));
    expect(t.size()).toBe(600);
    expect([t.oldest()!.seq, t.newest()!.seq, t.dropped()]).toEqual([1, 600, 0]);
    t.push(snap(601), '601');
    expect(t.size()).toBe(600);
    expect([t.oldest()!.seq, t.newest()!.seq, t.dropped()]).toEqual([2, 601, 1]);
    for (let s = 602; s <= 1500; s++) t.push(snap(s));
    expect([t.size(), t.oldest()!.seq, t.newest()!.seq, t.dropped()]).toEqual([600, 901, 1500, 900]);
    for (let i = 0; i < 600; i++) expect(t.at(i)!.seq).toBe(901 + i);
    expect(t.at(600)).toBeNull();
    expect(t.at(-1)).toBeNull();
    expect(t.newest()!.key - t.oldest()!.key).toBe(599);
    expect(t.bytes()).toBe(Array.from({ length: 600 }, (_, i) => t.at(i)!.raw.length).reduce((a, b) => a + b));
  });

  it('byte cap: the oldest go first until the new one fits; one larger than the cap is kept alone', () => {
    const t = TL.createTimeline(100, 10_000);
    for (let s = 1; s <= 4; s++) t.push(snap(s, undefined, 3000));
    // 3 fit in 10,000, the 4th dropped the 1st
    expect(t.size()).toBe(3);
    expect(t.oldest()!.seq).toBe(2);
    expect(t.bytes()).toBeLessThanOrEqual(10_000);
    expect(t.bytes()).toBe([2, 3, 4].map((s) => snap(s, undefined, 3000).length).reduce((a, b) => a + b));
    // a 6,000-character one drops two more: 3,000 + 6,000 fit, 3 x 3,000 + 6,000 do not
    t.push(snap(5, undefined, 6000));
    expect([t.size(), t.oldest()!.seq, t.newest()!.seq, t.dropped()]).toEqual([2, 4, 5, 3]);
    t.push(snap(6, undefined, 20_000));
    expect([t.size(), t.oldest()!.seq, t.bytes()]).toEqual([1, 6, snap(6, undefined, 20_000).length]);
    t.push(snap(7, undefined, 100));
    expect([t.size(), t.oldest()!.seq]).toEqual([1, 7]);
    // not a snapshot: not kept, nothing dropped
    expect(t.push('garbage')).toBeNull();
    expect([t.size(), t.newest()!.seq]).toEqual([1, 7]);
    t.clear();
    expect([t.size(), t.bytes(), t.newest(), t.oldest()]).toEqual([0, 0, null, null]);
  });

  it('atOrBefore: the newest with ts <= T; null when all are later; the newest when T is later', () => {
    const t = TL.createTimeline(10);
    for (let s = 1; s <= 15; s++) t.push(snap(s)); // kept: 6..15, ts T0 + 600 .. T0 + 1500
    expect(t.atOrBefore(T0 + 1000)!.seq).toBe(10); // exactly at
    expect(t.atOrBefore(T0 + 1099)!.seq).toBe(10); // between two
    expect(t.atOrBefore(T0 + 600)!.seq).toBe(6);
    expect(t.atOrBefore(T0 + 599)).toBeNull(); // before the oldest kept (5 was dropped)
    expect(t.atOrBefore(T0 + 1e9)!.seq).toBe(15);
    // "what happened 30 s ago" on a full ring of 600 at 100 ms
    const full = TL.createTimeline();
    for (let s = 1; s <= 700; s++) full.push(snap(s));
    const newest = full.newest()!;
    expect(full.atOrBefore(newest.ts - 30_000)!.seq).toBe(newest.seq - 300);
  });

  it('step: -1 / +1 by key, stopped at the oldest and the newest; a dropped key steps from the oldest', () => {
    const t = TL.createTimeline(5);
    expect(t.step(1, -1)).toBeNull(); // empty
    for (let s = 100; s < 105; s++) t.push(snap(s), `id${s}`);
    const first = t.oldest()!;
    const last = t.newest()!;
    expect(t.step(last.key, -1)!.seq).toBe(103);
    expect(t.step(last.key, -3)!.seq).toBe(101);
    expect(t.step(last.key, +1)!.key).toBe(last.key); // at the newest edge
    expect(t.step(first.key, -1)!.key).toBe(first.key); // at the oldest edge
    expect(t.step(first.key, +1)!.seq).toBe(101);
    expect(t.step(first.key, -100)!.seq).toBe(100);
    expect(t.step(first.key, 100)!.seq).toBe(104);
    // an entry keeps its key while newer ones arrive and older ones go
    const shown = t.bySeq(102)!;
    expect(shown.id).toBe('id102');
    t.push(snap(105));
    t.push(snap(106));
    expect(t.byKey(shown.key)!.seq).toBe(102);
    expect(t.indexOfKey(shown.key)).toBe(0);
    t.push(snap(107));
    expect(t.byKey(shown.key)).toBeNull(); // dropped
    expect(t.indexOfKey(shown.key)).toBe(-1);
    expect(t.step(shown.key, +1)!.seq).toBe(103); // from just before the oldest
    expect(t.step(shown.key, -1)!.seq).toBe(103);
    expect(t.step(t.newest()!.key + 10, -1)!.seq).toBe(106); // a key not yet given: from the newest
    // seq counting again from the start (a restarted server): keys still order them
    t.push(snap(1));
    expect(t.newest()!.seq).toBe(1);
    expect(t.step(t.newest()!.key, -1)!.seq).toBe(107);
    expect(t.bySeq(1)!.key).toBe(t.newest()!.key);
  });

  it('formatClock (format.js): the UTC time of day to the ms; "--" for no time', async () => {
    const F = await import('../dashboard/format.js' as string);
    expect(F.formatClock(T0)).toBe('20:49:12.345');
    expect(F.formatClock(Date.UTC(2026, 0, 1, 3, 4, 5, 6))).toBe('03:04:05.006');
    for (const bad of [NaN, Infinity, undefined, null, '7', 1e17]) expect(F.formatClock(bad), String(bad)).toBe('--');
  });

  it("the bar's texts: live, how long before the newest (seq, UTC time), no longer kept; what the ring holds", () => {
    const t = TL.createTimeline();
    expect(TL.timelineLabel(null, null)).toBe('live · no snapshot yet');
    expect(TL.timelineSpan(t)).toBe('nothing kept yet');
    for (let s = 1000; s <= 1302; s++) t.push(snap(s, T0 + (s - 1000) * 100 + 2)); // 30.2 s of them
    const newest = t.newest()!;
    expect(TL.timelineLabel(null, newest)).toBe('live · seq 1,302 · 20:49:42.547');
    expect(TL.timelineLabel(t.oldest(), newest)).toBe('-30.2s · seq 1,000 · 20:49:12.347');
    expect(TL.timelineLabel(t.bySeq(1301), newest)).toBe('-100.0 ms · seq 1,301 · 20:49:42.447');
    expect(TL.timelineLabel(newest, newest)).toBe('newest · seq 1,302 · 20:49:42.547');
    expect(TL.timelineLabel(t.oldest(), newest, true)).toBe('-30.2s · seq 1,000 · 20:49:12.347 · no longer kept');
    expect(TL.timelineSpan(t)).toBe(`303 kept · 30.2s · ${(t.bytes() / 1024).toFixed(1)} KiB`);
  });
});

// ---------------------------------------------------------------------------
// Browser
// ---------------------------------------------------------------------------

const SCREENSHOT = path.join(__dirname, 'output', 'dashboard-timeline.png');
const skipBrowser = skipped(browserMissing);
const browserTest = (name: string) => browserTestName(name);

const systems: AioSystem[] = [];
const cleanups: (() => Promise<void> | void)[] = [];
const pages = browserPages(cleanups);

afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
  for (const sys of systems.splice(0)) if (sys.running) expect(await sys.stop()).toEqual(CLEAN_STOP);
});
afterAll(() => pages.close());

/** A fresh page (own context) on the dashboard at port; page errors are collected. */
const open = (port: number) => pages.open(port, { viewport: { width: 1440, height: 1000 } });

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('timeline in a browser', () => {
  it.skipIf(skipBrowser)(browserTest('scrub back: connections held 2 s and closed are found again with the slider and the steps, then live shows 0'), { timeout: 120_000 }, async () => {
    const MAX = 32;
    const N = 7;
    // the page on the admin listener (its own slab), so the connection slab holds only the main port's connections
    const sys = startWithConfig({ maxConnections: MAX });
    systems.push(sys);
    const srv = await sys.listen({ host: '127.0.0.1', port: 0, ...keyPair(), routes: { '/': { body: 'hi\n' } } });
    const admin = await sys.listenAdmin({ port: 0, ...keyPair() });
    const { page, errors } = await open(admin.port);

    const used = () => page.evaluate(() => document.querySelectorAll('#conn-grid .cell:not(.st-F)').length);
    await page.waitForFunction((n) => document.querySelectorAll('#conn-grid .cell').length === n, MAX);
    await page.waitForFunction(() => document.querySelectorAll('#conn-grid .cell:not(.st-F)').length === 0);
    await page.waitForFunction(() => (document.getElementById('tl-label')?.textContent ?? '').startsWith('live · seq '));

    // the transient: N connections for about 2 s
    const conns = await Promise.all(Array.from({ length: N }, () => connect(srv.port)));
    cleanups.push(() => conns.forEach((s) => s.destroy()));
    await page.waitForFunction((n) => document.querySelectorAll('#conn-grid .cell:not(.st-F)').length === n, N);
    await sleep(1000);
    const midTs = Date.now(); // the server's clock is this clock (snapshot ts: Unix ms)
    await sleep(1000);
    for (const s of conns) s.close();
    await page.waitForFunction(() => document.querySelectorAll('#conn-grid .cell:not(.st-F)').length === 0);
    await sleep(1000); // a second of snapshots with the slab empty again
    expect(await used()).toBe(0);
    expect(await page.evaluate(() => (window as any).ValkDashboard.state.paused)).toBe(false);

    // the slider: a click where the snapshot taken mid-transient sits
    const target = await page.evaluate((t) => {
      const tl = (window as any).ValkDashboard.timeline;
      const e = tl.atOrBefore(t);
      return { index: tl.indexOfKey(e.key), size: tl.size() };
    }, midTs);
    expect(target.index).toBeGreaterThan(0);
    await page.locator('#tl-range').scrollIntoViewIfNeeded(); // below the history charts
    const box = (await page.locator('#tl-range').boundingBox())!;
    await page.mouse.click(box.x + 8 + ((box.width - 16) * target.index) / (target.size - 1), box.y + box.height / 2);
    // the page is paused (the header says resume) and the grid is the one of then
    await page.waitForFunction(() => (window as any).ValkDashboard.state.paused === true);
    expect(await page.textContent('#pause')).toBe('resume');
    expect(await used()).toBe(N);
    expect(await page.textContent('#count-F')).toBe(String(MAX - N));
    const label = (await page.textContent('#tl-label'))!;
    const m = /^-(\d+\.\d)s · seq ([\d,]+) · (\d\d:\d\d:\d\d\.\d{3})$/.exec(label);
    expect(m, label).not.toBeNull();
    const shown = await page.evaluate(() => {
      const d = (window as any).ValkDashboard;
      const key = Number(document.getElementById('timeline')!.getAttribute('data-key'));
      const e = d.timeline.byKey(key);
      return { key, seq: e.seq, ts: e.ts, index: Number((document.getElementById('tl-range') as HTMLInputElement).value), newestTs: d.timeline.newest().ts };
    });
    expect(m![2]).toBe(shown.seq.toLocaleString('en-US'));
    expect(m![3]).toBe(new Date(shown.ts).toISOString().slice(11, 23));
    expect(Math.abs(shown.ts - midTs)).toBeLessThan(800); // the click landed in the transient, near its middle
    expect(Number(m![1])).toBeGreaterThanOrEqual(2); // at least the 1 s after the close + the 1 s wait
    expect(await page.textContent('#sse-seq')).toBe(shown.seq.toLocaleString('en-US'));

    // recording goes on; the shown snapshot stays the same one, the thumb follows it
    const newestBefore = shown.newestTs;
    await page.waitForFunction((t) => (window as any).ValkDashboard.timeline.newest().ts > t + 500, newestBefore);
    expect(Number(await page.getAttribute('#timeline', 'data-key'))).toBe(shown.key);
    expect(await used()).toBe(N);
    expect(await page.textContent('#tl-label')).toContain(`seq ${shown.seq.toLocaleString('en-US')}`);
    expect(Number(/^-(\d+\.\d)s/.exec((await page.textContent('#tl-label'))!)![1])).toBeGreaterThan(Number(m![1]));

    // the arrow keys step one snapshot: forward until the close (the first empty one), back one to the last with N
    await page.focus('#tl-range');
    let steps = 0;
    while ((await used()) === N) {
      expect(++steps, 'the close is within 40 steps forward').toBeLessThan(40);
      await page.keyboard.press('ArrowRight');
    }
    const afterClose = Number(await page.getAttribute('#timeline', 'data-key'));
    expect(afterClose).toBe(shown.key + steps);
    expect(Number(await page.inputValue('#tl-range'))).toBe(await page.evaluate((k) => (window as any).ValkDashboard.timeline.indexOfKey(k), afterClose));
    expect(await used()).toBeLessThan(N);
    await page.keyboard.press('ArrowLeft');
    expect(await used()).toBe(N);
    expect(Number(await page.getAttribute('#timeline', 'data-key'))).toBe(afterClose - 1);
    // the buttons step the same way
    await page.click('#tl-fwd');
    expect(Number(await page.getAttribute('#timeline', 'data-key'))).toBe(afterClose);
    await page.click('#tl-back');
    expect(Number(await page.getAttribute('#timeline', 'data-key'))).toBe(afterClose - 1);
    expect(await used()).toBe(N);

    fs.mkdirSync(path.dirname(SCREENSHOT), { recursive: true });
    await page.locator('#memory').screenshot({ path: SCREENSHOT });
    console.log(`screenshot: ${SCREENSHOT}`);

    // live: the newest again (the slab empty), unpaused
    await page.click('#tl-live');
    await page.waitForFunction(() => (document.getElementById('tl-label')?.textContent ?? '').startsWith('live · seq '));
    expect(await page.evaluate(() => (window as any).ValkDashboard.state.paused)).toBe(false);
    expect(await page.textContent('#pause')).toBe('pause');
    expect(await used()).toBe(0);
    expect(await page.getAttribute('#timeline', 'data-key')).toBe('');
    const live = await page.evaluate(() => ({
      index: Number((document.getElementById('tl-range') as HTMLInputElement).value),
      size: (window as any).ValkDashboard.timeline.size(),
    }));
    expect(live.index).toBe(live.size - 1);
    expect(errors).toEqual([]);
  });
});
