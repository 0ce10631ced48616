// A minimal raw HTTP/2-over-TLS client for tests. Node's http2 client cannot
// stop reading its socket; this one can (pause()/resume()), advertises huge
// flow-control windows by default, and records GOAWAY / RST_STREAM / SETTINGS
// exactly as received. Requests are HPACK-encoded as literals without indexing
// (no Huffman, no dynamic table); responses are decoded with a full HPACK
// decoder (Huffman, static and dynamic tables). Every listener in tests is on
// 127.0.0.1. Self-test: test/h2raw.test.ts.
//
// For misbehaving on purpose (test/attacks.ts): pre-encoded header blocks
// (sendHeaderBlock, sendContinuation, hpackEncodeIndexedLiteral,
// hpackIndexedField), raw bytes (encodeFrame, writeRaw) with backpressure
// (needsDrain, writableLength, waitDrain), a settable nextStreamId, SETTINGS
// and PINGs left unacknowledged (ackSettings, ackPings), counters of what was
// sent and received (framesSent, bytesSent, rstCounts, statusCounts, ...), and
// forgetClosedStreams so floods of streams do not grow the client.
import * as net from 'node:net';
import * as tls from 'node:tls';

export const FrameType = {
  DATA: 0x0,
  HEADERS: 0x1,
  PRIORITY: 0x2,
  RST_STREAM: 0x3,
  SETTINGS: 0x4,
  PUSH_PROMISE: 0x5,
  PING: 0x6,
  GOAWAY: 0x7,
  WINDOW_UPDATE: 0x8,
  CONTINUATION: 0x9,
} as const;

export const Flag = {
  END_STREAM: 0x1,
  ACK: 0x1,
  END_HEADERS: 0x4,
  PADDED: 0x8,
  PRIORITY: 0x20,
} as const;

export const Setting = {
  HEADER_TABLE_SIZE: 0x1,
  ENABLE_PUSH: 0x2,
  MAX_CONCURRENT_STREAMS: 0x3,
  INITIAL_WINDOW_SIZE: 0x4,
  MAX_FRAME_SIZE: 0x5,
  MAX_HEADER_LIST_SIZE: 0x6,
} as const;

export const ErrorCode = {
  NO_ERROR: 0x0,
  PROTOCOL_ERROR: 0x1,
  INTERNAL_ERROR: 0x2,
  FLOW_CONTROL_ERROR: 0x3,
  SETTINGS_TIMEOUT: 0x4,
  STREAM_CLOSED: 0x5,
  FRAME_SIZE_ERROR: 0x6,
  REFUSED_STREAM: 0x7,
  CANCEL: 0x8,
  COMPRESSION_ERROR: 0x9,
  CONNECT_ERROR: 0xa,
  ENHANCE_YOUR_CALM: 0xb,
  INADEQUATE_SECURITY: 0xc,
  HTTP_1_1_REQUIRED: 0xd,
} as const;

export type HeaderList = [string, string][];

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
const DEFAULT_WINDOW = 65535;
const MAX_WINDOW = 2 ** 31 - 1;
const FRAME_MAX = 16384; // we never send larger frames (the minimum every peer accepts)


// ---------------------------------------------------------------------------
// The client

export interface ConnectOptions {
  port: number;
  host?: string;
  /** SETTINGS_INITIAL_WINDOW_SIZE we advertise (per-stream receive window). */
  initialWindowSize?: number;
  /** WINDOW_UPDATE on stream 0 sent right after the preface (0: none). */
  connectionWindowIncrement?: number;
  /** Connect timeout, and the default timeout of the wait*() helpers. */
  timeoutMs?: number;
  /** More SETTINGS entries sent with the first SETTINGS frame ([id, value]). */
  settings?: [number, number][];
  /**
   * Replenish receive windows (WINDOW_UPDATE) once half of them is consumed,
   * so long downloads never stall on flow control. Default true; set false to
   * test flow-control stalls.
   */
  autoWindowUpdate?: boolean;
  /** Keep DATA payloads for body(); default true (counts are always kept). */
  keepBody?: boolean;
  /** ACK the server's SETTINGS frames; default true. false: never ACK them (a misbehaving peer). */
  ackSettings?: boolean;
  /** Answer the server's PINGs with an ACK; default true (false: e.g. nothing may interrupt a header block in progress). */
  ackPings?: boolean;
  /**
   * Drop a stream's record once it ended (END_STREAM received) or was reset,
   * so floods of short streams do not grow the client's memory; the
   * connection-wide counters (rstCounts, statusCounts, ...) keep counting.
   * Default false.
   */
  forgetClosedStreams?: boolean;
}

/** Options of sendHeaderBlock(). */
export interface HeaderBlockOptions {
  /** END_STREAM on the HEADERS frame. Default false. */
  endStream?: boolean;
  /** END_HEADERS on the last frame sent (HEADERS or the last CONTINUATION). Default true. */
  endHeaders?: boolean;
  /** More fragments of the block, each sent as its own CONTINUATION frame after the HEADERS frame. */
  continuations?: Buffer[];
}

export interface RequestOptions {
  method?: string;
  authority?: string;
  scheme?: string;
  headers?: HeaderList;
  endStream?: boolean;
  /** Send exactly this header list instead of the pseudo-headers + headers (for malformed requests). */
  rawHeaders?: HeaderList;
}

export interface GoawayInfo {
  lastStreamId: number;
  errorCode: number;
  debugData: string;
}

export interface StreamRecord {
  id: number;
  /** DATA payload bytes received (padding excluded). */
  dataBytes: number;
  dataFrames: number;
  chunks: Buffer[];
  /** END_STREAM seen (on DATA or HEADERS). */
  ended: boolean;
  /** Raw header blocks (HEADERS + CONTINUATION fragments, padding/priority removed). */
  headerBlocks: Buffer[];
  /** Each block decoded (undefined where decoding failed; see hpackError). */
  headerLists: (HeaderList | undefined)[];
  rstCode?: number;
  /** performance.now() when the final response headers, END_STREAM and RST_STREAM arrived. */
  headersAt?: number;
  endedAt?: number;
  rstAt?: number;
  // send side
  sendWindow: number;
  sendQueue: { buf: Buffer; end: boolean }[];
  recvWindow: number;
  localEnded: boolean;
}

interface Waiter {
  check: () => boolean;
}

export class RawH2Client {
  /** The server's SETTINGS values as received (id -> value). */
  readonly serverSettings = new Map<number, number>();
  /** A (non-ACK) SETTINGS frame came from the server (it may be empty: all defaults). */
  settingsReceived = false;
  /** The server acknowledged our SETTINGS. */
  settingsAcked = false;
  /** Every GOAWAY received, in order. */
  readonly goaways: GoawayInfo[] = [];
  /** performance.now() when each of goaways[] arrived. */
  readonly goawayTimes: number[] = [];
  /** Frames received per type. */
  readonly frameCounts = new Map<number, number>();
  /** PINGs (non-ACK) received from the server (each answered with an ACK). */
  pingsReceived = 0;
  /** Socket 'end' seen (the server closed its side). */
  socketEnded = false;
  /** Socket 'close' seen. */
  socketClosed = false;
  /** The socket's error, if any; errorCode is its code ('ECONNRESET', ...). */
  socketError: Error | undefined;
  /** First HPACK decoding error (the connection's HPACK state is unreliable after it). */
  hpackError: string | undefined;
  /** A framing error in what the server sent (e.g. CONTINUATION out of place). */
  protocolError: string | undefined;
  /**
   * Frames and bytes handed to the socket (plaintext HTTP/2, preface included
   * in bytes); what destroy() discards from the socket's buffer counts too.
   */
  framesSent = 0;
  bytesSent = 0;
  /** Frames written per type (frames written with writeRaw() count as the type given there, if any). */
  readonly framesSentByType = new Map<number, number>();
  /** Plaintext bytes read from the socket. */
  bytesReceived = 0;
  /** RST_STREAM frames received, per error code (all streams, also forgotten ones). */
  readonly rstCounts = new Map<number, number>();
  /** Final (non-1xx) response :status values received, per status (all streams). */
  readonly statusCounts = new Map<string, number>();
  /** Streams the server ended (END_STREAM received). */
  streamsEnded = 0;
  /** SETTINGS frames (non-ACK) and SETTINGS ACKs received. */
  settingsFramesReceived = 0;
  settingsAcksReceived = 0;
  /** PING ACKs received (answers to our PINGs, whoever sent them). */
  pingAcksReceived = 0;
  /** performance.now() when the client was created, and when 'end' / 'close' were seen. */
  readonly createdAt = performance.now();
  endedAt: number | undefined;
  closedAt: number | undefined;

  private readonly streams = new Map<number, StreamRecord>();
  private readonly decoder = new HpackDecoder(4096);
  private readonly waiters = new Set<Waiter>();
  private readonly pings = new Map<string, () => void>();
  private inbuf: Buffer = Buffer.alloc(0);
  private streamIdNext = 1;
  private contStream: number | undefined; // header block in progress
  private contPush = false;
  private contFragments: Buffer[] = [];
  private contEndStream = false;
  private connSendWindow = DEFAULT_WINDOW;
  private connRecvWindow: number;
  private readonly connRecvTarget: number;
  private pingSeq = 0;
  private isPaused = false;

  private constructor(
    readonly socket: tls.TLSSocket,
    private readonly opts: Required<Omit<ConnectOptions, 'host' | 'port' | 'settings'>> & { settings: [number, number][] },
  ) {
    this.connRecvTarget = Math.min(DEFAULT_WINDOW + opts.connectionWindowIncrement, MAX_WINDOW);
    this.connRecvWindow = this.connRecvTarget;
    for (const [id, v] of opts.settings) if (id === Setting.HEADER_TABLE_SIZE) this.decoder.settingsMax = v;
    // Small control frames (WINDOW_UPDATE, ACKs) must not wait for Nagle + delayed ACK.
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('end', () => {
      this.socketEnded = true;
      this.endedAt ??= performance.now();
      this.notify();
    });
    socket.on('error', (err) => {
      this.socketError ??= err;
      this.notify();
    });
    socket.on('close', () => {
      this.socketClosed = true;
      this.closedAt ??= performance.now();
      this.notify();
    });
    // Preface, SETTINGS, connection WINDOW_UPDATE: one write.
    const settings: [number, number][] = [
      [Setting.ENABLE_PUSH, 0],
      [Setting.INITIAL_WINDOW_SIZE, opts.initialWindowSize],
      ...opts.settings,
    ];
    const sp = Buffer.alloc(settings.length * 6);
    settings.forEach(([id, v], i) => {
      sp.writeUInt16BE(id, i * 6);
      sp.writeUInt32BE(v >>> 0, i * 6 + 2);
    });
    const parts = [PREFACE, frame(FrameType.SETTINGS, 0, 0, sp)];
    this.countSent(FrameType.SETTINGS, 0);
    if (opts.connectionWindowIncrement > 0) {
      parts.push(frame(FrameType.WINDOW_UPDATE, 0, 0, u32(opts.connectionWindowIncrement)));
      this.countSent(FrameType.WINDOW_UPDATE, 0);
    }
    const out = Buffer.concat(parts);
    this.bytesSent += out.length;
    socket.write(out);
  }

  /** Connects with TLS + ALPN h2 (certificate not verified) and sends preface, SETTINGS and WINDOW_UPDATE. */
  static connect(options: ConnectOptions): Promise<RawH2Client> {
    const {
      port,
      host = '127.0.0.1',
      initialWindowSize = MAX_WINDOW,
      connectionWindowIncrement = 2 ** 30,
      timeoutMs = 5000,
      settings = [],
      autoWindowUpdate = true,
      keepBody = true,
      ackSettings = true,
      ackPings = true,
      forgetClosedStreams = false,
    } = options;
    if (initialWindowSize < 0 || initialWindowSize > MAX_WINDOW) throw new RangeError('initialWindowSize');
    if (connectionWindowIncrement < 0 || connectionWindowIncrement > MAX_WINDOW) throw new RangeError('connectionWindowIncrement');
    return new Promise((resolve, reject) => {
      const socket = tls.connect({
        host,
        port,
        ALPNProtocols: ['h2'],
        rejectUnauthorized: false,
        ...(net.isIP(host) ? {} : { servername: host }),
      });
      let done = false;
      const fail = (err: Error) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        socket.destroy();
        reject(err);
      };
      const timer = setTimeout(() => fail(new Error(`h2raw: connect to ${host}:${port} timed out after ${timeoutMs} ms`)), timeoutMs);
      const onError = (err: Error) => fail(err);
      const onClose = () => fail(new Error(`h2raw: connection to ${host}:${port} closed before the TLS handshake completed`));
      socket.once('error', onError);
      socket.once('close', onClose);
      socket.once('secureConnect', () => {
        if (done) return;
        if (socket.alpnProtocol !== 'h2') {
          fail(new Error(`h2raw: ALPN negotiated ${JSON.stringify(socket.alpnProtocol)}, not h2`));
          return;
        }
        done = true;
        clearTimeout(timer);
        socket.off('error', onError);
        socket.off('close', onClose);
        resolve(
          new RawH2Client(socket, {
            initialWindowSize, connectionWindowIncrement, timeoutMs, settings, autoWindowUpdate, keepBody, ackSettings, ackPings, forgetClosedStreams,
          }),
        );
      });
    });
  }

  // ---- sending --------------------------------------------------------------

  /** Writes one raw frame (no checks). Returns false if the socket is no longer writable. */
  sendFrame(type: number, flags: number, streamId: number, payload: Buffer = Buffer.alloc(0)): boolean {
    if (this.socket.destroyed || !this.socket.writable) return false;
    const f = frame(type, flags, streamId, payload);
    this.countSent(type, f.length);
    this.socket.write(f);
    return true;
  }

  /**
   * Writes pre-encoded bytes (e.g. many frames built with encodeFrame()) and
   * counts them: `frames` frames of type `type` (for framesSentByType; -1:
   * not counted by type). Returns socket.write()'s answer: false when the
   * socket's buffer is full (wait with waitDrain()) or the socket is gone.
   */
  writeRaw(bytes: Buffer, frames = 0, type = -1): boolean {
    if (this.socket.destroyed || !this.socket.writable) return false;
    this.bytesSent += bytes.length;
    this.framesSent += frames;
    if (type >= 0 && frames > 0) this.framesSentByType.set(type, (this.framesSentByType.get(type) ?? 0) + frames);
    return this.socket.write(bytes);
  }

  /** Bytes written but not yet handed to the kernel (the TLS socket's buffer). */
  get writableLength(): number {
    return this.socket.writableLength;
  }

  /** The socket's buffer is over its high-water mark: wait for 'drain' before writing more. */
  get needsDrain(): boolean {
    return this.socket.writableNeedDrain;
  }

  /** The socket can still be written to. */
  get writable(): boolean {
    return !this.socket.destroyed && this.socket.writable;
  }

  /**
   * Resolves true once the socket's buffer drained (at once if it needs no
   * drain), false when the socket closes or timeoutMs pass first. Never rejects.
   */
  waitDrain(timeoutMs = this.opts.timeoutMs): Promise<boolean> {
    if (!this.writable) return Promise.resolve(false);
    if (!this.socket.writableNeedDrain) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = (v: boolean) => {
        clearTimeout(timer);
        this.socket.off('drain', onDrain);
        this.socket.off('close', onClose);
        resolve(v);
      };
      const onDrain = () => done(true);
      const onClose = () => done(false);
      const timer = setTimeout(() => done(false), Math.max(0, timeoutMs));
      this.socket.on('drain', onDrain);
      this.socket.on('close', onClose);
    });
  }

  /** The id the next request() will use (1, 3, 5, ...); settable, e.g. to reuse a lower id. */
  get nextStreamId(): number {
    return this.streamIdNext;
  }
  set nextStreamId(id: number) {
    if (!Number.isInteger(id) || id < 1 || id > 0x7fffffff) throw new RangeError(`bad stream id ${id}`);
    this.streamIdNext = id;
  }

  /** Takes the next client stream id (and advances it by 2) without sending anything. */
  allocStreamId(): number {
    const id = this.streamIdNext;
    this.streamIdNext += 2;
    return id;
  }

  /** The server's SETTINGS_MAX_CONCURRENT_STREAMS (Infinity until it sends one). */
  get serverMaxConcurrentStreams(): number {
    return this.serverSettings.get(Setting.MAX_CONCURRENT_STREAMS) ?? Infinity;
  }

  /**
   * Sends a pre-encoded header block fragment in a HEADERS frame (at most
   * 16384 bytes: no automatic splitting), then each of `continuations` in a
   * CONTINUATION frame; END_HEADERS goes on the last frame unless
   * endHeaders is false (the block then stays open: sendContinuation()).
   * The block is not checked, and the client's own HPACK state is not involved.
   */
  sendHeaderBlock(streamId: number, block: Buffer, options: HeaderBlockOptions = {}): void {
    const { endStream = false, endHeaders = true, continuations = [] } = options;
    const st = this.stream(streamId);
    const hflags = (endStream ? Flag.END_STREAM : 0) | (endHeaders && continuations.length === 0 ? Flag.END_HEADERS : 0);
    this.sendFrame(FrameType.HEADERS, hflags, streamId, block);
    continuations.forEach((frag, i) => {
      const last = i === continuations.length - 1;
      this.sendFrame(FrameType.CONTINUATION, last && endHeaders ? Flag.END_HEADERS : 0, streamId, frag);
    });
    if (endStream) st.localEnded = true;
  }

  /** Sends one CONTINUATION frame (no checks: it may follow nothing). */
  sendContinuation(streamId: number, fragment: Buffer, endHeaders = false): boolean {
    return this.sendFrame(FrameType.CONTINUATION, endHeaders ? Flag.END_HEADERS : 0, streamId, fragment);
  }

  /** Opens the next client stream (1, 3, 5, ...) with a HEADERS block; returns its id. */
  request(path: string, options: RequestOptions = {}): number {
    const { method = 'GET', authority = 'localhost', scheme = 'https', headers = [], endStream = true, rawHeaders } = options;
    const id = this.allocStreamId();
    const list: HeaderList = rawHeaders ?? [[':method', method], [':scheme', scheme], [':path', path], [':authority', authority], ...headers];
    this.sendHeaders(id, list, endStream);
    return id;
  }

  /** Sends a header block (HEADERS + CONTINUATION as needed) on a stream, e.g. trailers. */
  sendHeaders(streamId: number, headers: HeaderList, endStream: boolean): void {
    const st = this.stream(streamId);
    const block = hpackEncodeLiteral(headers);
    let off = 0;
    let first = true;
    do {
      const frag = block.subarray(off, off + FRAME_MAX);
      off += frag.length;
      const last = off >= block.length;
      const flags = (last ? Flag.END_HEADERS : 0) | (first && endStream ? Flag.END_STREAM : 0);
      this.sendFrame(first ? FrameType.HEADERS : FrameType.CONTINUATION, flags, streamId, frag);
      first = false;
    } while (off < block.length);
    if (endStream) st.localEnded = true;
  }

  /**
   * Sends a request body in DATA frames of at most 16384 bytes, within the
   * server's flow-control windows: what does not fit is queued and sent as
   * WINDOW_UPDATEs arrive (see pendingBytes()).
   */
  data(streamId: number, payload: Buffer, endStream: boolean): void {
    const st = this.stream(streamId);
    st.sendQueue.push({ buf: payload, end: endStream });
    if (endStream) st.localEnded = true;
    this.flush();
  }

  /** Request-body bytes still queued on a stream for lack of flow-control window. */
  pendingBytes(streamId: number): number {
    const st = this.streams.get(streamId);
    return st ? st.sendQueue.reduce((n, q) => n + q.buf.length, 0) : 0;
  }

  rstStream(streamId: number, code: number = ErrorCode.CANCEL): void {
    const st = this.stream(streamId);
    st.sendQueue = [];
    this.sendFrame(FrameType.RST_STREAM, 0, streamId, u32(code));
  }

  goaway(code: number = ErrorCode.NO_ERROR, lastStreamId = 0, debugData = ''): void {
    const p = Buffer.alloc(8);
    p.writeUInt32BE(lastStreamId & 0x7fffffff, 0);
    p.writeUInt32BE(code >>> 0, 4);
    this.sendFrame(FrameType.GOAWAY, 0, 0, Buffer.concat([p, Buffer.from(debugData, 'utf8')]));
  }

  windowUpdate(streamId: number, increment: number): void {
    this.sendFrame(FrameType.WINDOW_UPDATE, 0, streamId, u32(increment));
  }

  /** Sends a PING and resolves with the round trip in ms when its ACK arrives. */
  ping(timeoutMs = this.opts.timeoutMs): Promise<number> {
    const payload = Buffer.alloc(8);
    payload.writeUInt32BE(0x68327261, 0); // 'h2ra'
    payload.writeUInt32BE(++this.pingSeq, 4);
    const key = payload.toString('hex');
    let acked = false;
    this.pings.set(key, () => (acked = true));
    const t0 = performance.now();
    this.sendFrame(FrameType.PING, 0, 0, payload);
    return this.waitUntil(`PING ACK`, () => acked, timeoutMs).then(
      () => performance.now() - t0,
      (err) => {
        this.pings.delete(key);
        throw err;
      },
    );
  }

  /** Stops reading the socket: the TCP receive window fills and the server's writes block. */
  pause(): void {
    this.isPaused = true;
    this.socket.pause();
  }

  resume(): void {
    this.isPaused = false;
    this.socket.resume();
  }

  get paused(): boolean {
    return this.isPaused;
  }

  destroy(): void {
    this.socket.destroy();
  }

  // ---- what was received ------------------------------------------------------

  dataBytes(streamId: number): number {
    return this.streams.get(streamId)?.dataBytes ?? 0;
  }

  /** The DATA payloads received on a stream (empty if keepBody was false). */
  body(streamId: number): Buffer {
    const st = this.streams.get(streamId);
    if (!st) return Buffer.alloc(0);
    if (st.chunks.length > 1) st.chunks = [Buffer.concat(st.chunks)];
    return st.chunks[0] ?? Buffer.alloc(0);
  }

  ended(streamId: number): boolean {
    return this.streams.get(streamId)?.ended ?? false;
  }

  rstCode(streamId: number): number | undefined {
    return this.streams.get(streamId)?.rstCode;
  }

  /** Raw header blocks received on a stream (HEADERS + CONTINUATION fragments joined). */
  headerBlocks(streamId: number): Buffer[] {
    return this.streams.get(streamId)?.headerBlocks ?? [];
  }

  /** The response header list: the first decoded block whose :status is not 1xx. */
  headers(streamId: number): HeaderList | undefined {
    const st = this.streams.get(streamId);
    return st ? finalHeaders(st) : undefined;
  }

  /** A header block received after the response headers (trailers), if any. */
  trailers(streamId: number): HeaderList | undefined {
    const st = this.streams.get(streamId);
    if (!st) return undefined;
    const h = finalHeaders(st);
    if (!h) return undefined;
    const i = st.headerLists.indexOf(h);
    return st.headerLists[i + 1];
  }

  /** The first value of a response header (names compared lower-case). */
  header(streamId: number, name: string): string | undefined {
    const n = name.toLowerCase();
    return this.headers(streamId)?.find(([k]) => k === n)?.[1];
  }

  /** The response :status as a number. */
  status(streamId: number): number | undefined {
    const s = this.header(streamId, ':status');
    return s === undefined ? undefined : Number(s);
  }

  /** The last GOAWAY received. */
  get goawayInfo(): GoawayInfo | undefined {
    return this.goaways[this.goaways.length - 1];
  }

  get socketErrorCode(): string | undefined {
    return (this.socketError as NodeJS.ErrnoException | undefined)?.code;
  }

  /** The record of a stream (undefined if unknown or forgotten); read-only use. */
  streamRecord(streamId: number): Readonly<StreamRecord> | undefined {
    return this.streams.get(streamId);
  }

  /** The stream ids seen so far (ours and any the server used). */
  streamIds(): number[] {
    return [...this.streams.keys()];
  }

  // ---- waiting -----------------------------------------------------------------

  /**
   * Resolves once cond() is true (checked now and after every chunk read and
   * socket event); rejects after timeoutMs, or when the socket closes first
   * unless failOnClose is false.
   */
  waitUntil(what: string, cond: () => boolean, timeoutMs = this.opts.timeoutMs, failOnClose = true): Promise<void> {
    return new Promise((resolve, reject) => {
      const w: Waiter = {
        check: () => {
          let ok: boolean;
          try {
            ok = cond();
          } catch (err) {
            finish();
            reject(err);
            return true;
          }
          if (ok) {
            finish();
            resolve();
            return true;
          }
          if (failOnClose && this.socketClosed) {
            finish();
            reject(new Error(`h2raw: ${what}: connection closed first (${this.describe()})`));
            return true;
          }
          return false;
        },
      };
      const timer = setTimeout(() => {
        finish();
        reject(new Error(`h2raw: ${what}: not within ${timeoutMs} ms (${this.describe()})`));
      }, timeoutMs);
      const finish = () => {
        clearTimeout(timer);
        this.waiters.delete(w);
      };
      if (!w.check()) this.waiters.add(w);
    });
  }

  /** Waits for END_STREAM; rejects early if the stream is reset or excluded by a GOAWAY. */
  async waitEnd(streamId: number, timeoutMs = this.opts.timeoutMs): Promise<void> {
    await this.waitUntil(
      `END_STREAM on stream ${streamId}`,
      () => {
        const st = this.streams.get(streamId);
        if (st?.ended) return true;
        if (st?.rstCode !== undefined) throw new Error(`h2raw: stream ${streamId} reset with code ${st.rstCode} before END_STREAM`);
        const g = this.goawayInfo;
        if (g && g.lastStreamId < streamId && streamId % 2 === 1)
          throw new Error(`h2raw: stream ${streamId} not processed: GOAWAY last-stream-id ${g.lastStreamId}, code ${g.errorCode} ${g.debugData}`);
        return false;
      },
      timeoutMs,
    );
  }

  /** Waits for the response headers; resolves with them. */
  async waitHeaders(streamId: number, timeoutMs = this.opts.timeoutMs): Promise<HeaderList> {
    await this.waitUntil(
      `response headers on stream ${streamId}`,
      () => {
        const st = this.streams.get(streamId);
        if (st && finalHeaders(st)) return true;
        if (st?.rstCode !== undefined) throw new Error(`h2raw: stream ${streamId} reset with code ${st.rstCode} before its headers`);
        if (this.hpackError) throw new Error(`h2raw: HPACK: ${this.hpackError}`);
        return false;
      },
      timeoutMs,
    );
    return this.headers(streamId)!;
  }

  /** Waits for a RST_STREAM on the stream; resolves with its error code. */
  async waitRst(streamId: number, timeoutMs = this.opts.timeoutMs): Promise<number> {
    await this.waitUntil(`RST_STREAM on stream ${streamId}`, () => this.streams.get(streamId)?.rstCode !== undefined, timeoutMs);
    return this.streams.get(streamId)!.rstCode!;
  }

  /** Waits for a GOAWAY; resolves with the last one received. */
  async waitGoaway(timeoutMs = this.opts.timeoutMs): Promise<GoawayInfo> {
    await this.waitUntil('GOAWAY', () => this.goaways.length > 0, timeoutMs);
    return this.goawayInfo!;
  }

  /** Waits for the socket to close (for any reason). */
  async waitClosed(timeoutMs = this.opts.timeoutMs): Promise<{ ended: boolean; errorCode: string | undefined }> {
    await this.waitUntil('socket close', () => this.socketClosed, timeoutMs, false);
    return { ended: this.socketEnded, errorCode: this.socketErrorCode };
  }

  /** One line describing the connection, for error messages. */
  describe(): string {
    const g = this.goawayInfo;
    const parts = [
      `paused=${this.isPaused}`,
      `ended=${this.socketEnded}`,
      `closed=${this.socketClosed}`,
      this.socketError ? `error=${this.socketErrorCode ?? this.socketError.message}` : '',
      g ? `goaway={last=${g.lastStreamId} code=${g.errorCode} debug=${JSON.stringify(g.debugData)}}` : '',
      this.hpackError ? `hpackError=${this.hpackError}` : '',
      this.protocolError ? `protocolError=${this.protocolError}` : '',
      ...[...this.streams.values()].map(
        (s) =>
          `stream ${s.id}: status=${statusOf(s) ?? '-'} data=${s.dataBytes} end=${s.ended}` + (s.rstCode !== undefined ? ` rst=${s.rstCode}` : ''),
      ),
    ];
    return parts.filter(Boolean).join(', ');
  }

  // ---- receiving -----------------------------------------------------------------

  private countSent(type: number, bytes: number): void {
    this.framesSent++;
    this.bytesSent += bytes;
    this.framesSentByType.set(type, (this.framesSentByType.get(type) ?? 0) + 1);
  }

  /** forgetClosedStreams: drops the record of a stream that is done (nothing of ours left to send). */
  private maybeForget(st: StreamRecord): void {
    if (this.opts.forgetClosedStreams && (st.ended || st.rstCode !== undefined) && this.contStream !== st.id) this.streams.delete(st.id);
  }

  private notify(): void {
    for (const w of [...this.waiters]) w.check();
  }

  private stream(id: number): StreamRecord {
    let st = this.streams.get(id);
    if (!st) {
      st = {
        id,
        dataBytes: 0,
        dataFrames: 0,
        chunks: [],
        ended: false,
        headerBlocks: [],
        headerLists: [],
        sendWindow: this.serverSettings.get(Setting.INITIAL_WINDOW_SIZE) ?? DEFAULT_WINDOW,
        sendQueue: [],
        recvWindow: this.opts.initialWindowSize,
        localEnded: false,
      };
      this.streams.set(id, st);
    }
    return st;
  }

  private onData(chunk: Buffer): void {
    this.bytesReceived += chunk.length;
    this.inbuf = this.inbuf.length ? Buffer.concat([this.inbuf, chunk]) : chunk;
    let off = 0;
    try {
      while (this.inbuf.length - off >= 9) {
        const len = this.inbuf.readUIntBE(off, 3);
        if (this.inbuf.length - off < 9 + len) break;
        const type = this.inbuf[off + 3];
        const flags = this.inbuf[off + 4];
        const sid = this.inbuf.readUInt32BE(off + 5) & 0x7fffffff;
        const payload = this.inbuf.subarray(off + 9, off + 9 + len);
        off += 9 + len;
        this.onFrame(type, flags, sid, payload);
      }
    } finally {
      // Copy the partial frame left over so the (possibly large) chunk can be freed.
      this.inbuf = off >= this.inbuf.length ? Buffer.alloc(0) : off > 0 ? Buffer.from(this.inbuf.subarray(off)) : this.inbuf;
    }
    this.notify();
  }

  private onFrame(type: number, flags: number, sid: number, p: Buffer): void {
    this.frameCounts.set(type, (this.frameCounts.get(type) ?? 0) + 1);
    if (this.contStream !== undefined && (type !== FrameType.CONTINUATION || sid !== this.contStream)) {
      this.protocolError ??= `frame type ${type} on stream ${sid} inside a header block of stream ${this.contStream}`;
    }
    switch (type) {
      case FrameType.DATA: {
        const st = this.stream(sid);
        const body = stripPadding(p, flags);
        st.dataBytes += body.length;
        st.dataFrames++;
        if (this.opts.keepBody && body.length) st.chunks.push(body);
        if (flags & Flag.END_STREAM && !st.ended) {
          st.ended = true;
          st.endedAt = performance.now();
          this.streamsEnded++;
        }
        this.connRecvWindow -= p.length;
        st.recvWindow -= p.length;
        if (this.opts.autoWindowUpdate) {
          if (this.connRecvWindow <= this.connRecvTarget / 2) {
            this.windowUpdate(0, this.connRecvTarget - this.connRecvWindow);
            this.connRecvWindow = this.connRecvTarget;
          }
          const target = this.opts.initialWindowSize;
          if (!st.ended && st.recvWindow <= target / 2 && target - st.recvWindow > 0) {
            this.windowUpdate(sid, target - st.recvWindow);
            st.recvWindow = target;
          }
        }
        this.maybeForget(st);
        break;
      }
      case FrameType.HEADERS: {
        let frag = stripPadding(p, flags);
        if (flags & Flag.PRIORITY) frag = frag.subarray(5);
        this.startBlock(sid, false, frag, (flags & Flag.END_STREAM) !== 0, flags);
        break;
      }
      case FrameType.PUSH_PROMISE: {
        // We sent ENABLE_PUSH=0, but the block must still be decoded to keep HPACK state.
        this.protocolError ??= 'PUSH_PROMISE received with push disabled';
        const frag = stripPadding(p, flags).subarray(4);
        this.startBlock(sid, true, frag, false, flags);
        break;
      }
      case FrameType.CONTINUATION: {
        if (this.contStream !== sid) {
          this.protocolError ??= `CONTINUATION on stream ${sid} without a header block in progress`;
          break;
        }
        this.contFragments.push(Buffer.from(p));
        if (flags & Flag.END_HEADERS) this.endBlock();
        break;
      }
      case FrameType.RST_STREAM:
        if (p.length >= 4) {
          const code = p.readUInt32BE(0);
          const st = this.stream(sid);
          st.rstCode = code;
          st.rstAt ??= performance.now();
          this.rstCounts.set(code, (this.rstCounts.get(code) ?? 0) + 1);
          this.maybeForget(st);
        }
        break;
      case FrameType.SETTINGS: {
        if (flags & Flag.ACK) {
          this.settingsAcked = true;
          this.settingsAcksReceived++;
          break;
        }
        this.settingsFramesReceived++;
        for (let i = 0; i + 6 <= p.length; i += 6) {
          const id = p.readUInt16BE(i);
          const v = p.readUInt32BE(i + 2);
          if (id === Setting.INITIAL_WINDOW_SIZE) {
            const delta = v - (this.serverSettings.get(id) ?? DEFAULT_WINDOW);
            for (const st of this.streams.values()) st.sendWindow += delta;
          }
          this.serverSettings.set(id, v);
        }
        this.settingsReceived = true;
        if (this.opts.ackSettings) this.sendFrame(FrameType.SETTINGS, Flag.ACK, 0);
        this.flush();
        break;
      }
      case FrameType.PING:
        if (flags & Flag.ACK) {
          this.pingAcksReceived++;
          const key = p.toString('hex');
          const f = this.pings.get(key);
          if (f) {
            this.pings.delete(key);
            f();
          }
        } else {
          this.pingsReceived++;
          if (this.opts.ackPings) this.sendFrame(FrameType.PING, Flag.ACK, 0, Buffer.from(p));
        }
        break;
      case FrameType.GOAWAY:
        if (p.length >= 8) {
          this.goaways.push({
            lastStreamId: p.readUInt32BE(0) & 0x7fffffff,
            errorCode: p.readUInt32BE(4),
            debugData: p.subarray(8).toString('utf8'),
          });
          this.goawayTimes.push(performance.now());
        }
        break;
      case FrameType.WINDOW_UPDATE: {
        if (p.length < 4) break;
        const inc = p.readUInt32BE(0) & 0x7fffffff;
        if (sid === 0) this.connSendWindow += inc;
        else this.stream(sid).sendWindow += inc;
        this.flush();
        break;
      }
      default:
        break; // PRIORITY and unknown types: ignored
    }
  }

  private startBlock(sid: number, push: boolean, frag: Buffer, endStream: boolean, flags: number): void {
    this.contStream = sid;
    this.contPush = push;
    this.contFragments = [Buffer.from(frag)];
    this.contEndStream = endStream;
    if (flags & Flag.END_HEADERS) this.endBlock();
  }

  private endBlock(): void {
    const sid = this.contStream!;
    const block = Buffer.concat(this.contFragments);
    this.contStream = undefined;
    this.contFragments = [];
    let list: HeaderList | undefined;
    try {
      list = this.decoder.decode(block);
    } catch (err) {
      this.hpackError ??= (err as Error).message;
    }
    if (this.contPush) return;
    const st = this.stream(sid);
    const hadFinal = finalHeaders(st) !== undefined;
    st.headerBlocks.push(block);
    st.headerLists.push(list);
    if (!hadFinal) {
      const status = statusOf(st);
      if (status !== undefined) {
        this.statusCounts.set(status, (this.statusCounts.get(status) ?? 0) + 1);
        st.headersAt = performance.now();
      }
    }
    if (this.contEndStream && !st.ended) {
      st.ended = true;
      st.endedAt = performance.now();
      this.streamsEnded++;
    }
    this.maybeForget(st);
  }

  private flush(): void {
    for (const st of this.streams.values()) {
      while (st.sendQueue.length) {
        const item = st.sendQueue[0];
        if (item.buf.length === 0) {
          this.sendFrame(FrameType.DATA, item.end ? Flag.END_STREAM : 0, st.id);
          st.sendQueue.shift();
          continue;
        }
        const n = Math.min(item.buf.length, FRAME_MAX, this.connSendWindow, st.sendWindow);
        if (n <= 0) break;
        const part = item.buf.subarray(0, n);
        item.buf = item.buf.subarray(n);
        const last = item.buf.length === 0;
        this.sendFrame(FrameType.DATA, last && item.end ? Flag.END_STREAM : 0, st.id, part);
        this.connSendWindow -= n;
        st.sendWindow -= n;
        if (last) st.sendQueue.shift();
      }
    }
  }
}

/** One HTTP/2 frame: the 9-byte header and the payload (no checks: any length, type, flags). */
export function encodeFrame(type: number, flags: number, streamId: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  return frame(type, flags, streamId, payload);
}

/** The name of an HTTP/2 error code ('PROTOCOL_ERROR'), or 'UNKNOWN_0x..'. */
export function errorCodeName(code: number): string {
  for (const [k, v] of Object.entries(ErrorCode)) if (v === code) return k;
  return `UNKNOWN_0x${code.toString(16)}`;
}

function frame(type: number, flags: number, streamId: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(9);
  h.writeUIntBE(payload.length, 0, 3);
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(streamId & 0x7fffffff, 5);
  return Buffer.concat([h, payload]);
}

function u32(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(v >>> 0, 0);
  return b;
}

function stripPadding(p: Buffer, flags: number): Buffer {
  if (!(flags & Flag.PADDED)) return p;
  const pad = p[0] ?? 0;
  return p.subarray(1, Math.max(1, p.length - pad));
}

function statusOf(st: StreamRecord): string | undefined {
  return finalHeaders(st)?.find(([k]) => k === ':status')?.[1];
}

function finalHeaders(st: StreamRecord): HeaderList | undefined {
  for (const l of st.headerLists) {
    if (!l) continue;
    const s = l.find(([k]) => k === ':status')?.[1];
    if (s === undefined || !/^1\d\d$/.test(s)) return l;
  }
  return undefined;
}


// ---------------------------------------------------------------------------
// HPACK (RFC 7541)

/** Encodes an HPACK integer with an N-bit prefix; `flags` fills the first byte's high bits. */
export function hpackInt(value: number, prefixBits: number, flags = 0): Buffer {
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`bad HPACK integer ${value}`);
  const max = (1 << prefixBits) - 1;
  if (value < max) return Buffer.from([flags | value]);
  const out = [flags | max];
  let rest = value - max;
  while (rest >= 128) {
    out.push((rest % 128) | 0x80);
    rest = Math.floor(rest / 128);
  }
  out.push(rest);
  return Buffer.from(out);
}

/** An HPACK string literal without Huffman coding (H bit clear, 7-bit prefix length). */
function hpackString(s: string | Buffer): Buffer {
  const b = typeof s === 'string' ? Buffer.from(s, 'latin1') : s;
  return Buffer.concat([hpackInt(b.length, 7, 0x00), b]);
}

/**
 * Encodes a header list as "literal header field without indexing — new name"
 * (RFC 7541 §6.2.2) for every field, pseudo-headers included: no Huffman, no
 * dynamic table, so no encoder state. Strings are encoded as latin1.
 */
export function hpackEncodeLiteral(headers: HeaderList): Buffer {
  const parts: Buffer[] = [];
  for (const [name, value] of headers) parts.push(Buffer.from([0x00]), hpackString(name), hpackString(value));
  return Buffer.concat(parts);
}

/**
 * Encodes a header list as "literal header field with incremental indexing —
 * new name" (RFC 7541 §6.2.1, first byte 0x40) for every field: the decoder
 * adds each field to its dynamic table (entry size name + value + 32 octets).
 * No Huffman; strings as latin1.
 */
export function hpackEncodeIndexedLiteral(headers: HeaderList): Buffer {
  const parts: Buffer[] = [];
  for (const [name, value] of headers) parts.push(Buffer.from([0x40]), hpackString(name), hpackString(value));
  return Buffer.concat(parts);
}

/**
 * An indexed header field (RFC 7541 §6.1): one byte 0x80|index below 127,
 * longer (7-bit prefix integer) from 127 on. Index 1..61: the static table,
 * 62 and up: the dynamic table, newest entry first.
 */
export function hpackIndexedField(index: number): Buffer {
  if (!Number.isInteger(index) || index < 1) throw new RangeError(`bad HPACK index ${index}`);
  return hpackInt(index, 7, 0x80);
}

interface HuffTree {
  child0: Int32Array;
  child1: Int32Array;
  sym: Int16Array;
}
let huffTree: HuffTree | undefined;

function buildHuffTree(): HuffTree {
  // A complete prefix code of 257 symbols has 2*257-1 nodes.
  const size = 2 * 257 - 1;
  const t: HuffTree = { child0: new Int32Array(size), child1: new Int32Array(size), sym: new Int16Array(size).fill(-1) };
  let nodes = 1;
  for (let s = 0; s < 257; s++) {
    const code = HUFF_CODES[s];
    const len = HUFF_LENS[s];
    let n = 0;
    for (let i = len - 1; i >= 0; i--) {
      if (t.sym[n] >= 0) throw new Error('Huffman table is not a prefix code');
      const bit = Math.floor(code / 2 ** i) % 2;
      const arr = bit ? t.child1 : t.child0;
      if (arr[n] === 0) {
        if (nodes >= size) throw new Error('Huffman table is not a complete prefix code');
        arr[n] = nodes++;
      }
      n = arr[n];
    }
    if (t.sym[n] >= 0 || t.child0[n] || t.child1[n]) throw new Error('Huffman table is not a prefix code');
    t.sym[n] = s;
  }
  if (nodes !== size) throw new Error('Huffman table is not a complete prefix code');
  return t;
}

/** Decodes a Huffman-coded HPACK string (RFC 7541 §5.2, Appendix B). Throws on EOS or bad padding. */
export function huffmanDecode(input: Buffer): Buffer {
  const t = (huffTree ??= buildHuffTree());
  const out: number[] = [];
  let n = 0;
  let pendingBits = 0; // bits read since the last complete symbol
  let pendingOnes = true; // ... and whether they were all ones
  for (const byte of input) {
    for (let i = 7; i >= 0; i--) {
      const bit = (byte >> i) & 1;
      n = bit ? t.child1[n] : t.child0[n];
      if (n === 0) throw new Error('Huffman: invalid code');
      const s = t.sym[n];
      if (s >= 0) {
        if (s === 256) throw new Error('Huffman: EOS in string');
        out.push(s);
        n = 0;
        pendingBits = 0;
        pendingOnes = true;
      } else {
        pendingBits++;
        pendingOnes &&= bit === 1;
      }
    }
  }
  if (pendingBits > 7 || !pendingOnes) throw new Error('Huffman: invalid padding');
  return Buffer.from(out);
}

/** Huffman-encodes bytes (RFC 7541 Appendix B), padding with the EOS prefix. */
export function huffmanEncode(input: Buffer | string): Buffer {
  const b = typeof input === 'string' ? Buffer.from(input, 'latin1') : input;
  const out: number[] = [];
  let acc = 0; // < 2^(7+30): exact in a double
  let bits = 0;
  for (const byte of b) {
    acc = acc * 2 ** HUFF_LENS[byte] + HUFF_CODES[byte];
    bits += HUFF_LENS[byte];
    while (bits >= 8) {
      bits -= 8;
      out.push(Math.floor(acc / 2 ** bits) & 0xff);
      acc %= 2 ** bits;
    }
  }
  if (bits > 0) out.push(((acc << (8 - bits)) | ((1 << (8 - bits)) - 1)) & 0xff);
  return Buffer.from(out);
}

/**
 * A full HPACK decoder: indexed fields, literals with/without/never indexing,
 * dynamic table with eviction and size updates, Huffman strings. Names and
 * values are decoded as latin1 (one char per octet, as Node does), so entry
 * sizes are name.length + value.length + 32.
 */
export class HpackDecoder {
  private table: [string, string][] = []; // newest first
  private size = 0;
  private maxSize: number;

  /** `settingsMax`: the SETTINGS_HEADER_TABLE_SIZE we advertised (the upper bound for size updates). */
  constructor(public settingsMax = 4096) {
    this.maxSize = settingsMax;
  }

  get dynamicTable(): ReadonlyArray<readonly [string, string]> {
    return this.table;
  }
  get dynamicTableSize(): number {
    return this.size;
  }
  get dynamicTableMaxSize(): number {
    return this.maxSize;
  }

  decode(block: Buffer): HeaderList {
    const out: HeaderList = [];
    let pos = 0;
    let sawField = false;
    const int = (prefixBits: number): number => {
      if (pos >= block.length) throw new Error('HPACK: truncated integer');
      const mask = (1 << prefixBits) - 1;
      let v = block[pos++] & mask;
      if (v < mask) return v;
      let m = 0;
      for (;;) {
        if (pos >= block.length) throw new Error('HPACK: truncated integer');
        const b = block[pos++];
        v += (b & 0x7f) * 2 ** m;
        m += 7;
        if (!(b & 0x80)) break;
        if (m > 35) throw new Error('HPACK: integer overflow');
      }
      if (!Number.isSafeInteger(v) || v > 2 ** 32) throw new Error('HPACK: integer overflow');
      return v;
    };
    const str = (): string => {
      if (pos >= block.length) throw new Error('HPACK: truncated string');
      const huff = (block[pos] & 0x80) !== 0;
      const len = int(7);
      if (pos + len > block.length) throw new Error('HPACK: truncated string');
      const raw = block.subarray(pos, pos + len);
      pos += len;
      return (huff ? huffmanDecode(raw) : raw).toString('latin1');
    };
    while (pos < block.length) {
      const b = block[pos];
      if (b & 0x80) {
        // 1xxxxxxx: indexed header field
        const idx = int(7);
        out.push(this.entry(idx));
        sawField = true;
      } else if (b & 0x40) {
        // 01xxxxxx: literal with incremental indexing
        const idx = int(6);
        const name = idx ? this.entry(idx)[0] : str();
        const value = str();
        out.push([name, value]);
        this.add(name, value);
        sawField = true;
      } else if (b & 0x20) {
        // 001xxxxx: dynamic table size update (only at the start of a block)
        if (sawField) throw new Error('HPACK: table size update after a header field');
        const size = int(5);
        if (size > this.settingsMax) throw new Error(`HPACK: table size update ${size} > ${this.settingsMax}`);
        this.maxSize = size;
        this.evict(0);
      } else {
        // 0000xxxx without indexing, 0001xxxx never indexed
        const idx = int(4);
        const name = idx ? this.entry(idx)[0] : str();
        const value = str();
        out.push([name, value]);
        sawField = true;
      }
    }
    return out;
  }

  private entry(idx: number): [string, string] {
    if (idx === 0) throw new Error('HPACK: index 0');
    if (idx <= STATIC_TABLE.length) {
      const [n, v] = STATIC_TABLE[idx - 1];
      return [n, v];
    }
    const e = this.table[idx - STATIC_TABLE.length - 1];
    if (!e) throw new Error(`HPACK: index ${idx} out of range (dynamic table has ${this.table.length})`);
    return [e[0], e[1]];
  }

  private evict(room: number): void {
    while (this.table.length && this.size + room > this.maxSize) {
      const [n, v] = this.table.pop()!;
      this.size -= n.length + v.length + 32;
    }
  }

  private add(name: string, value: string): void {
    const sz = name.length + value.length + 32;
    if (sz > this.maxSize) {
      this.table = [];
      this.size = 0;
      return;
    }
    this.evict(sz);
    this.table.unshift([name, value]);
    this.size += sz;
  }
}

// RFC 7541 Appendix A: the static table (index 1..61).
const STATIC_TABLE: ReadonlyArray<readonly [string, string]> = [
  [':authority', ''],
  [':method', 'GET'],
  [':method', 'POST'],
  [':path', '/'],
  [':path', '/index.html'],
  [':scheme', 'http'],
  [':scheme', 'https'],
  [':status', '200'],
  [':status', '204'],
  [':status', '206'],
  [':status', '304'],
  [':status', '400'],
  [':status', '404'],
  [':status', '500'],
  ['accept-charset', ''],
  ['accept-encoding', 'gzip, deflate'],
  ['accept-language', ''],
  ['accept-ranges', ''],
  ['accept', ''],
  ['access-control-allow-origin', ''],
  ['age', ''],
  ['allow', ''],
  ['authorization', ''],
  ['cache-control', ''],
  ['content-disposition', ''],
  ['content-encoding', ''],
  ['content-language', ''],
  ['content-length', ''],
  ['content-location', ''],
  ['content-range', ''],
  ['content-type', ''],
  ['cookie', ''],
  ['date', ''],
  ['etag', ''],
  ['expect', ''],
  ['expires', ''],
  ['from', ''],
  ['host', ''],
  ['if-match', ''],
  ['if-modified-since', ''],
  ['if-none-match', ''],
  ['if-range', ''],
  ['if-unmodified-since', ''],
  ['last-modified', ''],
  ['link', ''],
  ['location', ''],
  ['max-forwards', ''],
  ['proxy-authenticate', ''],
  ['proxy-authorization', ''],
  ['range', ''],
  ['referer', ''],
  ['refresh', ''],
  ['retry-after', ''],
  ['server', ''],
  ['set-cookie', ''],
  ['strict-transport-security', ''],
  ['transfer-encoding', ''],
  ['user-agent', ''],
  ['vary', ''],
  ['via', ''],
  ['www-authenticate', ''],
];

// RFC 7541 Appendix B: Huffman code of each symbol 0..255 and EOS (256),
// right-aligned, and its length in bits.
const HUFF_CODES: readonly number[] = [
  0x1ff8, 0x7fffd8, 0xfffffe2, 0xfffffe3, 0xfffffe4, 0xfffffe5, 0xfffffe6, 0xfffffe7,
  0xfffffe8, 0xffffea, 0x3ffffffc, 0xfffffe9, 0xfffffea, 0x3ffffffd, 0xfffffeb, 0xfffffec,
  0xfffffed, 0xfffffee, 0xfffffef, 0xffffff0, 0xffffff1, 0xffffff2, 0x3ffffffe, 0xffffff3,
  0xffffff4, 0xffffff5, 0xffffff6, 0xffffff7, 0xffffff8, 0xffffff9, 0xffffffa, 0xffffffb,
  0x14, 0x3f8, 0x3f9, 0xffa, 0x1ff9, 0x15, 0xf8, 0x7fa,
  0x3fa, 0x3fb, 0xf9, 0x7fb, 0xfa, 0x16, 0x17, 0x18,
  0x0, 0x1, 0x2, 0x19, 0x1a, 0x1b, 0x1c, 0x1d,
  0x1e, 0x1f, 0x5c, 0xfb, 0x7ffc, 0x20, 0xffb, 0x3fc,
  0x1ffa, 0x21, 0x5d, 0x5e, 0x5f, 0x60, 0x61, 0x62,
  0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a,
  0x6b, 0x6c, 0x6d, 0x6e, 0x6f, 0x70, 0x71, 0x72,
  0xfc, 0x73, 0xfd, 0x1ffb, 0x7fff0, 0x1ffc, 0x3ffc, 0x22,
  0x7ffd, 0x3, 0x23, 0x4, 0x24, 0x5, 0x25, 0x26,
  0x27, 0x6, 0x74, 0x75, 0x28, 0x29, 0x2a, 0x7,
  0x2b, 0x76, 0x2c, 0x8, 0x9, 0x2d, 0x77, 0x78,
  0x79, 0x7a, 0x7b, 0x7ffe, 0x7fc, 0x3ffd, 0x1ffd, 0xffffffc,
  0xfffe6, 0x3fffd2, 0xfffe7, 0xfffe8, 0x3fffd3, 0x3fffd4, 0x3fffd5, 0x7fffd9,
  0x3fffd6, 0x7fffda, 0x7fffdb, 0x7fffdc, 0x7fffdd, 0x7fffde, 0xffffeb, 0x7fffdf,
  0xffffec, 0xffffed, 0x3fffd7, 0x7fffe0, 0xffffee, 0x7fffe1, 0x7fffe2, 0x7fffe3,
  0x7fffe4, 0x1fffdc, 0x3fffd8, 0x7fffe5, 0x3fffd9, 0x7fffe6, 0x7fffe7, 0xffffef,
  0x3fffda, 0x1fffdd, 0xfffe9, 0x3fffdb, 0x3fffdc, 0x7fffe8, 0x7fffe9, 0x1fffde,
  0x7fffea, 0x3fffdd, 0x3fffde, 0xfffff0, 0x1fffdf, 0x3fffdf, 0x7fffeb, 0x7fffec,
  0x1fffe0, 0x1fffe1, 0x3fffe0, 0x1fffe2, 0x7fffed, 0x3fffe1, 0x7fffee, 0x7fffef,
  0xfffea, 0x3fffe2, 0x3fffe3, 0x3fffe4, 0x7ffff0, 0x3fffe5, 0x3fffe6, 0x7ffff1,
  0x3ffffe0, 0x3ffffe1, 0xfffeb, 0x7fff1, 0x3fffe7, 0x7ffff2, 0x3fffe8, 0x1ffffec,
  0x3ffffe2, 0x3ffffe3, 0x3ffffe4, 0x7ffffde, 0x7ffffdf, 0x3ffffe5, 0xfffff1, 0x1ffffed,
  0x7fff2, 0x1fffe3, 0x3ffffe6, 0x7ffffe0, 0x7ffffe1, 0x3ffffe7, 0x7ffffe2, 0xfffff2,
  0x1fffe4, 0x1fffe5, 0x3ffffe8, 0x3ffffe9, 0xffffffd, 0x7ffffe3, 0x7ffffe4, 0x7ffffe5,
  0xfffec, 0xfffff3, 0xfffed, 0x1fffe6, 0x3fffe9, 0x1fffe7, 0x1fffe8, 0x7ffff3,
  0x3fffea, 0x3fffeb, 0x1ffffee, 0x1ffffef, 0xfffff4, 0xfffff5, 0x3ffffea, 0x7ffff4,
  0x3ffffeb, 0x7ffffe6, 0x3ffffec, 0x3ffffed, 0x7ffffe7, 0x7ffffe8, 0x7ffffe9, 0x7ffffea,
  0x7ffffeb, 0xffffffe, 0x7ffffec, 0x7ffffed, 0x7ffffee, 0x7ffffef, 0x7fffff0, 0x3ffffee,
  0x3fffffff,
];
const HUFF_LENS: readonly number[] = [
  13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28,
  28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 28,
  6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6,
  5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10,
  13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
  7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6,
  15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5,
  6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28,
  20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23,
  24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24,
  22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23,
  21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23,
  26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25,
  19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27,
  20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23,
  26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26,
  30,
];
