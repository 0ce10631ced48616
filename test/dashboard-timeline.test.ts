// The dashboard's memory timeline: scrub back through the last snapshots
// (issue #16 item 3; dashboard/timeline.js, dashboard/timeline-ui.js;
// docs/design.md §8, "The dashboard's timeline").
//
// 1. Unit tests of the ring (dashboard/timeline.js loads under Node): the
//    count cap, the byte cap, lookups by time, key and seq, stepping at the edges.
import { describe, expect, it } from 'vitest';

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
});
