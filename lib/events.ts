// Lifecycle events from a system's AIO thread (docs/design.md §13): the ring's
// 32-byte records decoded into typed events, and the reader behind
// sys.events(). The kinds and reasons come from the addon (csrc/valk_events.h):
// one list for C and TypeScript.
//
// Thread: Node's main thread (the ring's consumer).
import type { NativeSystem } from './native';
import { native } from './native';

/** One lifecycle event. What `a` and `b` mean depends on the kind (eventKinds()). */
export interface AioEvent {
  /** conn_accepted, conn_rejected, conn_closed, stream_opened, ... */
  kind: string;
  /** limit, load, per_ip (conn_rejected), none otherwise. */
  reason: string;
  /** When, ms (the AIO loop's clock: CLOCK_MONOTONIC, not the wall clock). */
  ts: number;
  /** The connection (its uid, never reused), 0 when none. */
  conn: number;
  a: number;
  b: number;
}

/** How often a reader drains while attached. */
export const EVENT_POLL_MS = 20;
/** Most events a drain takes at once (and a reader holds: at most its ring's capacity). */
export const EVENT_BATCH = 4096;

/** The kinds of events, with what their fields mean (csrc/valk_events.h). */
export function eventKinds(): { kind: string; help: string }[] {
  const cat = native().constants.events;
  const out: { kind: string; help: string }[] = [];
  cat.kinds.forEach((k, i) => { if (k) out.push({ kind: k, help: cat.help[i] }); });
  return out;
}

const TWO32 = 4294967296;

/** Decodes a drained Buffer of records (little-endian, the addon's layout: csrc/valk_evring.h). */
export function decodeEvents(buf: Buffer): AioEvent[] {
  const cat = native().constants.events;
  const size = cat.recordSize;
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const n = Math.floor(buf.length / size);
  const out: AioEvent[] = new Array(n);
  for (let i = 0, off = 0; i < n; i++, off += size) {
    const kind = dv.getUint16(off + 16, true);
    const reason = dv.getUint16(off + 18, true);
    out[i] = {
      kind: cat.kinds[kind] ?? `kind_${kind}`,
      reason: cat.reasons[reason] ?? `reason_${reason}`,
      ts: Math.floor((dv.getUint32(off + 4, true) * TWO32 + dv.getUint32(off, true)) / 1e6),
      conn: dv.getUint32(off + 12, true) * TWO32 + dv.getUint32(off + 8, true),
      a: dv.getUint32(off + 20, true),
      b: dv.getUint32(off + 28, true) * TWO32 + dv.getUint32(off + 24, true),
    };
  }
  return out;
}

/**
 * An async iterator of the system's events. Recording starts with the first
 * reader and stops with the last (off, the AIO thread records nothing). The
 * reader drains every EVENT_POLL_MS into a queue of at most the ring's
 * capacity: a reader that does not keep up loses events in the ring (counted
 * there: events_dropped), never memory here.
 */
export class EventReader implements AsyncIterableIterator<AioEvent> {
  private static readers = new WeakMap<NativeSystem, number>();
  private queue: AioEvent[] = [];
  private head = 0; /* queue[head..]: not yet read */
  private waiter: ((r: IteratorResult<AioEvent>) => void) | undefined;
  private timer: NodeJS.Timeout | undefined;
  private done = false;
  private readonly max: number;

  constructor(private readonly handle: () => NativeSystem | undefined, private readonly signal?: AbortSignal) {
    const h = handle();
    if (!h) throw new Error('valk-aio: events(): the system is stopped');
    const n = EventReader.readers.get(h) ?? 0;
    EventReader.readers.set(h, n + 1);
    if (n === 0) h.eventsRecord(true);
    this.max = Math.min(EVENT_BATCH, h.eventStats().capacity);
    this.timer = setInterval(() => this.poll(), EVENT_POLL_MS);
    this.timer.unref();
    signal?.addEventListener('abort', () => void this.return(), { once: true });
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<AioEvent> {
    return this;
  }

  next(): Promise<IteratorResult<AioEvent>> {
    if (this.head < this.queue.length) return Promise.resolve({ value: this.take(), done: false });
    if (this.done) return Promise.resolve({ value: undefined, done: true });
    this.poll();
    if (this.head < this.queue.length) return Promise.resolve({ value: this.take(), done: false });
    return new Promise((resolve) => { this.waiter = resolve; });
  }

  /** Everything waiting, as one batch (at least one event), or done. */
  nextBatch(): Promise<IteratorResult<AioEvent[]>> {
    if (this.head >= this.queue.length && !this.done) this.poll();
    if (this.head < this.queue.length) return Promise.resolve({ value: this.takeAll(), done: false });
    if (this.done) return Promise.resolve({ value: undefined, done: true });
    return this.next().then((r) => (r.done ? { value: undefined, done: true } : { value: [r.value, ...this.takeAll()], done: false }));
  }

  private takeAll(): AioEvent[] {
    const all = this.head === 0 ? this.queue : this.queue.slice(this.head);
    this.queue = [];
    this.head = 0;
    return all;
  }

  private take(): AioEvent {
    const e = this.queue[this.head++];
    if (this.head === this.queue.length) {
      this.queue = [];
      this.head = 0;
    }
    return e;
  }

  return(): Promise<IteratorResult<AioEvent>> {
    this.finish();
    return Promise.resolve({ value: undefined, done: true });
  }

  private poll(): void {
    const h = this.handle();
    if (!h) {
      this.finish();
      return;
    }
    const waiting = this.queue.length - this.head;
    if (waiting >= this.max) return; /* the reader is behind: the ring holds (and drops) */
    let got: AioEvent[];
    try {
      got = decodeEvents(h.drainEvents(this.max - waiting));
    } catch {
      this.finish(); /* stopped meanwhile */
      return;
    }
    if (got.length === 0) return;
    if (this.head === this.queue.length) {
      this.queue = got;
      this.head = 0;
    } else {
      for (const e of got) this.queue.push(e);
    }
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = undefined;
      w({ value: this.take(), done: false });
    }
  }

  private finish(): void {
    if (this.done) return;
    this.done = true;
    if (this.timer) clearInterval(this.timer);
    const h = this.handle();
    if (h) {
      const n = (EventReader.readers.get(h) ?? 1) - 1;
      EventReader.readers.set(h, n);
      if (n === 0) {
        try { h.eventsRecord(false); } catch { /* stopped */ }
      }
    }
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = undefined;
      w({ value: undefined, done: true });
    }
  }
}

/** The same reader, a batch at a time: one promise per batch instead of one per event. */
export class EventBatchReader implements AsyncIterableIterator<AioEvent[]> {
  constructor(private readonly reader: EventReader) {}

  [Symbol.asyncIterator](): AsyncIterableIterator<AioEvent[]> {
    return this;
  }

  next(): Promise<IteratorResult<AioEvent[]>> {
    return this.reader.nextBatch();
  }

  return(): Promise<IteratorResult<AioEvent[]>> {
    return this.reader.return().then(() => ({ value: undefined, done: true }));
  }
}
