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

/** Record i of a drained Buffer, decoded (little-endian, the addon's layout: csrc/valk_evring.h). */
function decodeAt(dv: DataView, i: number): AioEvent {
  const cat = native().constants.events;
  const off = i * cat.recordSize;
  const kind = dv.getUint16(off + 16, true);
  const reason = dv.getUint16(off + 18, true);
  return {
    kind: cat.kinds[kind] ?? `kind_${kind}`,
    reason: cat.reasons[reason] ?? `reason_${reason}`,
    ts: Math.floor((dv.getUint32(off + 4, true) * TWO32 + dv.getUint32(off, true)) / 1e6),
    conn: dv.getUint32(off + 12, true) * TWO32 + dv.getUint32(off + 8, true),
    a: dv.getUint32(off + 20, true),
    b: dv.getUint32(off + 28, true) * TWO32 + dv.getUint32(off + 24, true),
  };
}

/** Decodes a drained Buffer of records. */
export function decodeEvents(buf: Buffer): AioEvent[] {
  return new EventBatch(buf).toArray();
}

/**
 * One drain's events, decoded only when read: `length`, `kindAt(i)` (to filter cheaply),
 * `at(i)`, and iteration. A reader that wants few kinds pays for those alone.
 */
export class EventBatch implements Iterable<AioEvent> {
  readonly length: number;
  private readonly dv: DataView;

  constructor(private readonly buf: Buffer) {
    this.length = Math.floor(buf.length / native().constants.events.recordSize);
    this.dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  kindAt(i: number): string {
    const cat = native().constants.events;
    const kind = this.dv.getUint16(i * cat.recordSize + 16, true);
    return cat.kinds[kind] ?? `kind_${kind}`;
  }

  at(i: number): AioEvent {
    if (i < 0 || i >= this.length) throw new RangeError(`event ${i} of ${this.length}`);
    return decodeAt(this.dv, i);
  }

  /** The records from i on, as a batch of their own (no copy). */
  from(i: number): EventBatch {
    return new EventBatch(this.buf.subarray(i * native().constants.events.recordSize));
  }

  toArray(): AioEvent[] {
    const out: AioEvent[] = new Array(this.length);
    for (let i = 0; i < this.length; i++) out[i] = decodeAt(this.dv, i);
    return out;
  }

  *[Symbol.iterator](): Iterator<AioEvent> {
    for (let i = 0; i < this.length; i++) yield decodeAt(this.dv, i);
  }
}

/**
 * An async iterator of the system's events. Recording starts with the first
 * reader and stops with the last (off, the AIO thread records nothing). The
 * reader drains every EVENT_POLL_MS, keeping the records as they came (decoded
 * as they are read), at most the ring's capacity of them: a reader that does
 * not keep up loses events in the ring (counted there: events_dropped), never
 * memory here.
 */
export class EventReader implements AsyncIterableIterator<AioEvent> {
  private static readers = new WeakMap<NativeSystem, number>();
  private batches: EventBatch[] = [];
  private next0 = 0;     /* batches[0]'s next unread record */
  private waiting = 0;   /* records not yet read, over all batches */
  private wakers: (() => void)[] = []; /* next() calls waiting for a drain (at most one per call) */
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

  async next(): Promise<IteratorResult<AioEvent>> {
    if (!(await this.ready())) return { value: undefined, done: true };
    const b = this.batches[0];
    const e = b.at(this.next0++);
    this.waiting--;
    if (this.next0 === b.length) this.dropFirst();
    return { value: e, done: false };
  }

  /** The next batch of unread records (what one drain took), or done. */
  async nextBatch(): Promise<IteratorResult<EventBatch>> {
    if (!(await this.ready())) return { value: undefined, done: true };
    const b = this.batches[0];
    if (this.next0 === 0) {
      this.waiting -= b.length;
      this.dropFirst();
      return { value: b, done: false };
    }
    const rest = b.from(this.next0);
    this.waiting -= rest.length;
    this.dropFirst();
    return { value: rest, done: false };
  }

  return(): Promise<IteratorResult<AioEvent>> {
    this.finish();
    return Promise.resolve({ value: undefined, done: true });
  }

  /** Resolves true once a record waits, false once done. */
  private async ready(): Promise<boolean> {
    for (;;) {
      if (this.done) return false; /* after return(), nothing more, even what was drained */
      if (this.waiting > 0) return true;
      this.poll();
      if (this.waiting > 0) return true;
      await new Promise<void>((resolve) => { this.wakers.push(resolve); });
    }
  }

  private dropFirst(): void {
    this.batches.shift();
    this.next0 = 0;
  }

  private poll(): void {
    const h = this.handle();
    if (!h) {
      this.finish();
      return;
    }
    if (this.waiting >= this.max) return; /* the reader is behind: the ring holds (and drops) */
    let got: EventBatch;
    try {
      got = new EventBatch(h.drainEvents(this.max - this.waiting));
    } catch {
      this.finish(); /* stopped meanwhile */
      return;
    }
    if (got.length === 0) return;
    this.batches.push(got);
    this.waiting += got.length;
    this.signalWake();
  }

  private signalWake(): void {
    const all = this.wakers;
    this.wakers = [];
    for (const w of all) w();
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
    this.signalWake();
  }
}

/** The same reader, a batch at a time: one promise per drain, events decoded as they are read. */
export class EventBatchReader implements AsyncIterableIterator<EventBatch> {
  constructor(private readonly reader: EventReader) {}

  [Symbol.asyncIterator](): AsyncIterableIterator<EventBatch> {
    return this;
  }

  next(): Promise<IteratorResult<EventBatch>> {
    return this.reader.nextBatch();
  }

  return(): Promise<IteratorResult<EventBatch>> {
    return this.reader.return().then(() => ({ value: undefined, done: true }));
  }
}
