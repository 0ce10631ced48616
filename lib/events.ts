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
  /** conn_rejected: limit, load, per_ip; conn_closed: peer, shutdown, a timeout, protocol, none; none otherwise. */
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

/** Every kind: what eventsRecord records for a reader of all events. */
export const ALL_KINDS = 0xffffffff;

/** The kinds named (unknown names ignored) as the addon's mask: bit k is kind k (csrc/valk_events.h). */
export function kindMask(names: Iterable<string>): number {
  const kinds = native().constants.events.kinds;
  let mask = 0;
  for (const n of names) {
    const k = kinds.indexOf(n);
    if (k > 0 && k < 32) mask |= 1 << k;
  }
  return mask >>> 0;
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

/** Events to write in the ring's record layout on Node's thread (config warnings): kind and reason by name. */
export interface SyntheticEvent { kind: string; reason: string; a: number; b: number }

/**
 * list as records in the ring's layout (csrc/valk_evring.h), stamped now on the
 * AIO loop's clock (CLOCK_MONOTONIC): a batch that decodes like a drained one.
 */
export function encodeEvents(list: readonly SyntheticEvent[]): Buffer {
  const cat = native().constants.events;
  const buf = Buffer.alloc(list.length * cat.recordSize);
  const ts = process.hrtime.bigint();
  list.forEach((e, i) => {
    const off = i * cat.recordSize;
    const kind = cat.kinds.indexOf(e.kind);
    const reason = cat.reasons.indexOf(e.reason);
    if (kind <= 0 || reason < 0) throw new Error(`valk-aio: no event ${e.kind}/${e.reason}`);
    buf.writeBigUInt64LE(ts, off);
    buf.writeUInt16LE(kind, off + 16);
    buf.writeUInt16LE(reason, off + 18);
    buf.writeUInt32LE(Math.min(e.a, 0xffffffff) >>> 0, off + 20);
    buf.writeBigUInt64LE(BigInt(Math.max(0, Math.floor(e.b))), off + 24);
  });
  return buf;
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

/** What the hub hands drained batches to: a reader, or the dashboard's tail. */
interface EventSink {
  /** Records it can take now (Infinity: any number, it keeps only the newest). */
  room(): number;
  take(batch: EventBatch): void;
  /** The system stopped: nothing more comes. */
  end(): void;
  /** The kinds it wants recorded (kindMask); without it, every kind. */
  kinds?(): number;
}

/**
 * The one consumer of a system's ring (docs/design.md §13): while any sink is
 * attached it records and drains every EVENT_POLL_MS, as many as the sink with
 * the least room can take, and hands every sink the same batch. So two readers
 * see every event each, and a reader that stops reading drives the ring to
 * DROPPING (the ring drops, never this process's memory) for all of them.
 */
export class EventHub {
  private static hubs = new WeakMap<NativeSystem, EventHub>();
  private readonly sinks = new Set<EventSink>();
  private timer: NodeJS.Timeout | undefined;
  private recording = 0; /* the kinds the ring records now: the union of the sinks' */
  private greeting: EventBatch | undefined; /* what every sink gets first: the config warnings (setGreeting) */

  private constructor(private readonly handle: () => NativeSystem | undefined) {}

  /** The hub of the system handle() returns (one per system). */
  static of(handle: () => NativeSystem | undefined): EventHub {
    const h = handle();
    if (!h) throw new Error('valk-aio: events(): the system is stopped');
    let hub = EventHub.hubs.get(h);
    if (!hub) {
      hub = new EventHub(handle);
      EventHub.hubs.set(h, hub);
    }
    return hub;
  }

  /** The ring's capacity (what a reader holds at most). */
  capacity(): number {
    const h = this.handle();
    return h ? h.eventStats().capacity : 0;
  }

  /**
   * Events every sink gets as it attaches, before the ring's: the system's
   * config warnings (docs/design.md §13). They are state, not history: a reader
   * attached later still learns them. At most one per warning.
   */
  setGreeting(records: Buffer): void {
    this.greeting = records.length ? new EventBatch(records) : undefined;
  }

  attach(sink: EventSink): void {
    const h = this.handle();
    if (!h) throw new Error('valk-aio: events(): the system is stopped');
    this.sinks.add(sink);
    if (this.greeting) sink.take(this.greeting);
    this.refresh();
    if (this.timer) return;
    this.timer = setInterval(() => this.poll(), EVENT_POLL_MS);
    this.timer.unref();
  }

  detach(sink: EventSink): void {
    if (!this.sinks.delete(sink)) return;
    if (this.sinks.size === 0) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
    this.refresh();
  }

  /**
   * Records the union of the kinds the sinks want (a sink's kinds() changed):
   * a dashboard log asking for connection events keeps the AIO thread from
   * recording a stream event per request (docs/design.md §13).
   */
  refresh(): void {
    let want = 0;
    for (const s of this.sinks) want |= s.kinds ? s.kinds() : ALL_KINDS;
    want >>>= 0;
    if (want === this.recording) return;
    this.recording = want;
    try { this.handle()?.eventsRecord(want); } catch { /* stopped */ }
  }

  /** Drains once, now. */
  poll(): void {
    const h = this.handle();
    if (!h) return this.endAll();
    let room = EVENT_BATCH;
    for (const s of this.sinks) room = Math.min(room, s.room());
    if (room <= 0) return; /* a reader is behind: the ring holds (and drops) */
    let got: EventBatch;
    try {
      got = new EventBatch(h.drainEvents(room));
    } catch {
      return this.endAll(); /* stopped meanwhile */
    }
    if (got.length === 0) return;
    for (const s of [...this.sinks]) s.take(got);
  }

  private endAll(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    const all = [...this.sinks];
    this.sinks.clear();
    for (const s of all) s.end();
  }
}

/**
 * An async iterator of the system's events. Recording starts with the first
 * reader (or the dashboard's log) and stops with the last (off, the AIO thread
 * records nothing). Every reader sees every event, decoded as it is read; it
 * holds at most the ring's capacity of them: a reader that does not keep up
 * loses events in the ring (counted there: events_dropped), never memory here.
 */
export class EventReader implements AsyncIterableIterator<AioEvent>, EventSink {
  private batches: EventBatch[] = [];
  private next0 = 0;     /* batches[0]'s next unread record */
  private waiting = 0;   /* records not yet read, over all batches */
  private wakers: (() => void)[] = []; /* next() calls waiting for a drain (at most one per call) */
  private done = false;
  private readonly max: number;
  private readonly hub: EventHub;

  constructor(handle: () => NativeSystem | undefined, private readonly signal?: AbortSignal) {
    this.hub = EventHub.of(handle);
    this.max = Math.min(EVENT_BATCH, this.hub.capacity());
    this.hub.attach(this);
    signal?.addEventListener('abort', () => void this.return(), { once: true });
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<AioEvent> {
    return this;
  }

  async next(): Promise<IteratorResult<AioEvent>> {
    if (!(await this.ready())) return { value: undefined, done: true };
    if (this.waiting === 0) return this.next(); /* a concurrent next() took it while this one resumed */
    const b = this.batches[0];
    const e = b.at(this.next0++);
    this.waiting--;
    if (this.next0 === b.length) this.dropFirst();
    return { value: e, done: false };
  }

  /** The next batch of unread records (what one drain took), or done. */
  async nextBatch(): Promise<IteratorResult<EventBatch>> {
    if (!(await this.ready())) return { value: undefined, done: true };
    if (this.waiting === 0) return this.nextBatch();
    const b = this.batches[0];
    const rest = this.next0 === 0 ? b : b.from(this.next0);
    this.waiting -= rest.length;
    this.dropFirst();
    return { value: rest, done: false };
  }

  return(): Promise<IteratorResult<AioEvent>> {
    this.finish();
    return Promise.resolve({ value: undefined, done: true });
  }

  room(): number {
    return this.max - this.waiting;
  }

  take(batch: EventBatch): void {
    if (this.done) return;
    this.batches.push(batch);
    this.waiting += batch.length;
    this.signalWake();
  }

  end(): void {
    this.finish();
  }

  /** Resolves true once a record waits, false once done. */
  private async ready(): Promise<boolean> {
    for (;;) {
      if (this.done) return false; /* after return(), nothing more, even what was drained */
      if (this.waiting > 0) return true;
      this.hub.poll();
      if (this.waiting > 0 || this.done) continue;
      await new Promise<void>((resolve) => { this.wakers.push(resolve); });
    }
  }

  private dropFirst(): void {
    this.batches.shift();
    this.next0 = 0;
  }

  private signalWake(): void {
    const all = this.wakers;
    this.wakers = [];
    for (const w of all) w();
  }

  private finish(): void {
    if (this.done) return;
    this.done = true;
    this.batches = [];
    this.waiting = 0;
    this.hub.detach(this);
    this.signalWake();
  }
}

/** One event of the dashboard's log: an AioEvent with its place in the log. */
export interface LoggedEvent extends AioEvent {
  /** 1 for the first event the log kept, counting up. */
  seq: number;
}

/** The newest events the dashboard's log keeps. */
export const EVENT_LOG_SIZE = 500;
/** The log stops recording this long after its last reader asked. */
export const EVENT_LOG_IDLE_MS = 10_000;

/**
 * The dashboard's event log (/debug/events): the newest EVENT_LOG_SIZE events,
 * kept as the drained batches (decoded only when asked for). Attached to the
 * hub while someone asks, at most EVENT_LOG_IDLE_MS after the last ask, so a
 * closed dashboard costs nothing. It never holds back the ring: it takes
 * everything and keeps the newest.
 */
export class EventLog implements EventSink {
  private batches: EventBatch[] = [];
  private kept = 0;      /* records over batches */
  private seq = 0;       /* events taken since it was made */
  private idle: NodeJS.Timeout | undefined;
  /* kind -> when it was last asked for (only the addon's kinds: at most 31 entries); allAt: an ask for every kind */
  private readonly asked = new Map<string, number>();
  private allAt = -Infinity;

  constructor(private readonly handle: () => NativeSystem | undefined, private readonly size = EVENT_LOG_SIZE) {}

  /**
   * Events with seq > after (kinds: only those), oldest first, at most limit
   * (the newest of them). The log records the kinds asked for within
   * EVENT_LOG_IDLE_MS (no kinds: every kind).
   */
  read(after: number, kinds: ReadonlySet<string> | undefined, limit: number): { seq: number; events: LoggedEvent[] } {
    this.ask(kinds);
    this.touch();
    const out: LoggedEvent[] = [];
    let seq = this.seq - this.kept; /* the seq before the first kept record */
    for (const b of this.batches) {
      for (let i = 0; i < b.length; i++) {
        seq++;
        if (seq <= after || (kinds && !kinds.has(b.kindAt(i)))) continue;
        out.push({ seq, ...b.at(i) });
      }
    }
    return { seq: this.seq, events: out.length > limit ? out.slice(out.length - limit) : out };
  }

  /** The kinds asked for within EVENT_LOG_IDLE_MS, as the addon's mask. */
  kinds(): number {
    const since = Date.now() - EVENT_LOG_IDLE_MS;
    if (this.allAt > since) return ALL_KINDS;
    const names: string[] = [];
    for (const [k, t] of this.asked) if (t > since) names.push(k);
    return kindMask(names);
  }

  private ask(kinds: ReadonlySet<string> | undefined): void {
    const now = Date.now();
    if (!kinds) {
      this.allAt = now;
      return;
    }
    const known = native().constants.events.kinds;
    for (const k of kinds) if (known.includes(k)) this.asked.set(k, now);
  }

  /** Whether it is recording (asked within EVENT_LOG_IDLE_MS). */
  get attached(): boolean {
    return this.idle !== undefined;
  }

  room(): number {
    return Infinity;
  }

  take(batch: EventBatch): void {
    this.batches.push(batch);
    this.kept += batch.length;
    this.seq += batch.length;
    while (this.batches.length > 1 && this.kept - this.batches[0].length >= this.size) this.kept -= this.batches.shift()!.length;
    if (this.kept > this.size) { /* one batch over the size: keep its newest */
      const first = this.batches[0];
      const cut = this.kept - this.size;
      this.batches[0] = first.from(cut);
      this.kept -= cut;
    }
  }

  end(): void {
    clearTimeout(this.idle);
    this.idle = undefined;
  }

  /** Stops recording now (the system stops). */
  close(): void {
    if (!this.idle) return;
    this.end();
    if (this.handle()) EventHub.of(this.handle).detach(this);
  }

  private touch(): void {
    if (this.idle) {
      clearTimeout(this.idle);
      if (this.handle()) EventHub.of(this.handle).refresh();
    } else if (this.handle()) EventHub.of(this.handle).attach(this);
    else return;
    this.idle = setTimeout(() => this.close(), EVENT_LOG_IDLE_MS);
    this.idle.unref();
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
