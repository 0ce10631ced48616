// valk_slab through the test binding: the cases A1, A4 and D1-D3 of docs/design.md §11.
import { describe, expect, it } from 'vitest';
import { native } from '../lib/native';

const connSize = () => native().connStructSize();

describe('valk_slab', () => {
  it('test_conn_slab_basic', () => {
    const slab = native().slabNew(connSize(), 10);
    expect(slab.available()).toBe(10);
    const items: number[] = [];
    for (let i = 0; i < 10; i++) {
      const slot = slab.acquire();
      expect(slot, `should acquire slot ${i}`).toBeGreaterThanOrEqual(0);
      items.push(slot);
    }
    expect(new Set(items).size).toBe(10);
    expect(slab.available()).toBe(0);
    expect(slab.acquire()).toBe(-1); // exhausted
    expect(slab.overflow()).toBe(1);
    slab.release(items[0]);
    expect(slab.available()).toBe(1);
    const again = slab.acquire();
    expect(again).toBe(items[0]); // LIFO: the slot just freed
    slab.release(again);
    for (const s of items.slice(1)) slab.release(s);
    expect(slab.available()).toBe(10);
    slab.free();
  });

  it('test_conn_slab_memory_footprint', () => {
    const conn = connSize();
    const stride = native().slabItemStride(conn);
    const size = native().slabSize(conn, 1000);
    expect(stride).toBeGreaterThanOrEqual(conn);
    expect(stride).toBeLessThanOrEqual(conn + 64);
    expect(size).toBeGreaterThanOrEqual(1000 * conn);
    expect(size).toBeLessThanOrEqual(1000 * (conn + 64) + 4096);
    // And the footprint the config reports uses the same per-slot size.
    expect(native().constants.connSlotSize).toBe(stride + native().constants.slabItemOverhead);
  });

  it('rejects a double release and a slot it does not own', () => {
    const slab = native().slabNew(64, 4);
    const a = slab.acquire();
    slab.release(a);
    expect(() => slab.release(a)).toThrow(/released twice/);
    expect(() => slab.release(99)).toThrow(/invalid/);
    expect(slab.available()).toBe(4);
    slab.free();
  });

  it('test_slab_to_bitmap_empty', () => {
    const slab = native().slabNew(64, 100);
    const bm = slab.bitmap();
    expect(bm.length).toBe(13); // ceil(100 / 8)
    expect([...bm].every((b) => b === 0)).toBe(true);
    slab.free();
  });

  it('test_slab_to_bitmap_full', () => {
    const slab = native().slabNew(64, 8);
    const items = Array.from({ length: 8 }, () => slab.acquire());
    expect(slab.bitmap()).toEqual(Buffer.from([0xff]));
    for (const s of items) slab.release(s);
    slab.free();
  });

  it('test_slab_to_bitmap_partial (least significant bit first, padding zero)', () => {
    const slab = native().slabNew(64, 12);
    const items = Array.from({ length: 4 }, () => slab.acquire()); // slots 0..3
    slab.release(items[1]);
    slab.release(items[3]);
    const bm = slab.bitmap();
    // Slots 0 and 2 used: bits 0 and 2 of byte 0 -> 0b00000101. Bits 12..15 are padding.
    expect([...bm]).toEqual([0x05, 0x00]);
    for (let i = 0; i < 12; i++) if (slab.available() > 2) slab.acquire();
    // Now 10 used (slots 0..9 in some order); byte 1 may only use bits 0..3.
    expect(slab.bitmap()[1] & 0xf0).toBe(0);
    slab.free();
  });

  it('stays consistent under 4 threads acquiring and releasing (Treiber stack with ABA tag)', () => {
    const r = native().slabStress(4, 200_000, 8);
    expect(r.violations).toBe(0);
    expect(r.available).toBe(r.count);
    expect(r.acquired).toBeGreaterThan(0);
    expect(r.overflow).toBeGreaterThan(0); // 4 threads x 4 items > 8: exhaustion was exercised
  });
});
