// JavaScript handlers: requests the AIO thread could not answer from a static
// route arrive here in batches (one uv_async wake-up, one call), run the
// server's handler, and go back through the binding's respond().
//
// Thread: Node's main thread only. A request's memory (its arena) belongs to
// this thread from its arrival until respond() hands it back; every request
// is answered exactly once: by the handler, by a 500 when it throws, by a 504
// at handlerTimeoutMs, by a 503 when the system stops, or, when its stream
// dies first (the client reset it, or the connection went), at once and
// unseen by anyone, its signal aborted (docs/design.md §7).
import { BAD_VALUE, CONNECTION_SPECIFIC, HEADER_NAME } from './headers';
import { Trailers, encodeTrailers } from './trailers';
import { NativeSystem, native } from './native';

/** What a handler receives. */
export interface Request {
  method: string;
  /** The path without the query string. */
  path: string;
  /** The query string, parsed. */
  query: URLSearchParams;
  /** Request headers, names lower-case (pseudo-headers such as :authority included); repeated ones joined with ', '. */
  headers: Record<string, string>;
  /**
   * The whole request body (at most maxRequestBodySize), when the server
   * buffers bodies (requestBodies 'buffer', the default). With requestBodies
   * 'stream' reading it throws a TypeError: iterate the request or await
   * bytes() instead.
   */
  readonly body: Buffer;
  remoteAddress: string;
  streamId: number;
  /**
   * Aborted when the request's stream dies before it is answered: the client
   * reset it, or its connection closed. Its reason is a DOMException named
   * 'AbortError'. The request is answered by then (the answer would reach
   * nobody); what the handler returns later is dropped.
   */
  readonly signal: AbortSignal;
  /**
   * The body as it arrives, in the chunks it arrives in: `for await (const
   * chunk of req)`. With requestBodies 'stream' the client's flow-control
   * window opens only as chunks are taken, so a handler that reads slowly
   * slows its client down, and the server holds at most streamWindowSize
   * bytes of it. Buffered, the whole body comes as one chunk. Read once;
   * leaving the loop early drops the rest. `Readable.from(req)` and
   * `ReadableStream.from(req)` make a Node or a WHATWG stream of it. Rejects
   * with the signal's AbortError when the stream dies, and with an Error
   * once the request was answered (not with a streaming answer, which may
   * keep reading: an echo).
   */
  [Symbol.asyncIterator](): AsyncIterator<Buffer>;
  /**
   * The whole body as one Buffer, at most maxRequestBodySize bytes: past it, a
   * BodyTooLargeError, which answers 413 if the handler lets it through.
   */
  bytes(): Promise<Buffer>;
}

/** req.bytes() found a body over maxRequestBodySize; a handler that lets it through answers 413. */
export class BodyTooLargeError extends RangeError {
  readonly status = 413;
  constructor(limit: number) {
    super(`request body exceeds maxRequestBodySize (${limit} bytes)`);
    this.name = 'BodyTooLargeError';
  }
}

/** A body that arrives in chunks: an async iterable (a Node Readable and a WHATWG ReadableStream are both). */
export type StreamingBody = AsyncIterable<string | Buffer | Uint8Array>;

/** What a handler returns (or resolves to). */
export interface Response {
  /** 200 to 599. */
  status: number;
  /** Names in any case; an array value sends the field once per element (repeated fields: set-cookie). */
  headers?: Record<string, string | number | readonly string[]>;
  /**
   * The whole body, or a streaming one: headers go out at once, then each
   * chunk as the client's flow control lets it (one chunk at a time is with
   * the server; the next is pulled once it went out). A Buffer body or chunk
   * is sent without a copy: do not change it after handing it over.
   */
  body?: string | Buffer | Uint8Array | StreamingBody;
  /**
   * Fields sent after the body (gRPC's grpc-status), or a function that gives
   * them once the body is out (its last chunk known). HTTP/2 sends them as a
   * HEADERS frame that ends the stream; HTTP/1.1 drops them. An answer with
   * trailers always streams (no content-length). At most 64 fields, 16 KiB.
   */
  trailers?: Trailers | (() => Trailers | Promise<Trailers>);
}

export type Handler = (req: Request) => Response | Promise<Response>;

/** The per-server part the dispatcher needs. */
export interface HandlerTarget {
  readonly handler: Handler;
  readonly maxResponseBodySize: number;
  /** The system's maxRequestBodySize: the bound of req.bytes(). */
  readonly maxRequestBodySize: number;
  /** Whether request bodies stream (requestBodies 'stream'). */
  readonly streamBodies: boolean;
  readonly handlerTimeoutMs: number;
  /** Reports a handler failure (an 'error' event on the server). */
  fail(err: Error): void;
  readonly counters: HandlerCounters;
}

/** Counted on Node's side (the C side counts statuses). */
export interface HandlerCounters {
  handled: number;
  errors: number;
  timeouts: number;
}

/**
 * A batch as the binding delivers it (csrc/binding_requests.cc, AppendRequest): one flat
 * array; per request the FIELDS below, then `count` header (name, value) pairs.
 * No object per request crosses from C++: the request object is built here.
 */
type NativeBatch = unknown[];
const F_TOKEN = 0;
const F_SERVER = 1;
const F_STREAM = 2;
const F_METHOD = 3;
const F_PATH = 4;
const F_REMOTE = 5;
const F_BODY = 6; // a Buffer, undefined for an empty body, or true when the body streams
const F_COUNT = 7;
const FIELDS = 8;

type NativeRespond = NativeSystem['respond'];

/** Connection-specific fields, and content-length (the server sets it). */
const FORBIDDEN = new Set([...CONNECTION_SPECIFIC, 'content-length']);
const EMPTY = Buffer.alloc(0);

/**
 * A request as handlers see it, read from its place in a batch. The headers
 * object is built and the query string parsed on first use: a handler that
 * reads neither pays for neither.
 */
class HandlerRequest implements Request {
  readonly method: string;
  readonly path: string;
  private readonly buffered?: Buffer;
  /** The streaming body's reader (requestBodies 'stream' and a body coming). */
  private readonly reader?: BodyReader;
  private read = false;
  readonly remoteAddress: string;
  readonly streamId: number;
  private readonly search: string;
  private parsed?: URLSearchParams;
  private built?: Record<string, string>;
  /** Where the header pairs are, until the headers object is built. */
  private batch?: NativeBatch;
  private readonly at: number;
  /** Made on first use of signal (most handlers never look). */
  private controller?: AbortController;
  private cancelled = false;
  /**
   * @internal Runs when the stream dies, as the signal aborts, without making
   * the signal (lib/node-adapter.ts: every request of a Node listener watches for it).
   */
  onCancel?: () => void = undefined;

  constructor(batch: NativeBatch, at: number, private readonly target: HandlerTarget, source: BodySource) {
    const path = batch[at + F_PATH] as string;
    const q = path.indexOf('?');
    const body = batch[at + F_BODY] as Buffer | undefined | true;
    this.method = batch[at + F_METHOD] as string;
    this.path = q < 0 ? path : path.slice(0, q);
    this.search = q < 0 ? '' : path.slice(q + 1);
    if (body === true) this.reader = new BodyReader(source, batch[at + F_TOKEN] as number);
    else this.buffered = body ?? EMPTY;
    this.remoteAddress = batch[at + F_REMOTE] as string;
    this.streamId = batch[at + F_STREAM] as number;
    this.batch = batch;
    this.at = at;
  }

  get body(): Buffer {
    if (this.target.streamBodies) {
      throw new TypeError("valk-aio: this server streams request bodies (requestBodies: 'stream'): " +
        'read them with for await (const chunk of req), or await req.bytes()');
    }
    return this.buffered!;
  }

  [Symbol.asyncIterator](): AsyncIterator<Buffer> {
    if (this.read) throw new TypeError('valk-aio: a request body can be read once');
    this.read = true;
    if (this.reader) return this.reader;
    const whole = this.buffered!;
    let given = whole.length === 0;
    return {
      next: () => {
        if (given) return Promise.resolve({ done: true, value: undefined });
        given = true;
        return Promise.resolve({ done: false, value: whole });
      },
      return: () => {
        given = true;
        return Promise.resolve({ done: true, value: undefined });
      },
    };
  }

  async bytes(): Promise<Buffer> {
    const limit = this.target.maxRequestBodySize;
    if (!this.reader) {
      this.read = true;
      return this.buffered!;
    }
    const parts: Buffer[] = [];
    let size = 0;
    for await (const chunk of this) {
      size += chunk.length;
      if (size > limit) throw new BodyTooLargeError(limit); // leaving the loop drops the rest
      parts.push(chunk);
    }
    return parts.length === 1 ? parts[0] : Buffer.concat(parts, size);
  }

  /** A notice from the AIO thread: the next chunk may be ready. */
  bodyReady(): void {
    this.reader?.wake();
  }

  /** The request was answered: its body is no longer read (a streaming answer calls it at its end). */
  answered(): void {
    this.reader?.fail(new Error('valk-aio: the request was answered: its body is no longer read'));
  }

  /** Request headers, names lower-case; repeated ones joined with ', '. */
  get headers(): Record<string, string> {
    if (this.built === undefined) {
      const b = this.batch!;
      const h: Record<string, string> = {};
      const first = this.at + FIELDS;
      const end = first + 2 * (b[this.at + F_COUNT] as number);
      for (let i = first; i < end; i += 2) {
        const name = b[i] as string;
        h[name] = name in h ? `${h[name]}, ${b[i + 1] as string}` : b[i + 1] as string;
      }
      this.built = h;
      this.batch = undefined;
    }
    return this.built;
  }

  get query(): URLSearchParams {
    this.parsed ??= new URLSearchParams(this.search);
    return this.parsed;
  }

  get signal(): AbortSignal {
    if (this.controller === undefined) {
      this.controller = new AbortController();
      if (this.cancelled) this.controller.abort(cancelReason());
    }
    return this.controller.signal;
  }

  /** The stream died: the signal is aborted (now, or when first read), the body's reader fails. */
  cancel(): void {
    if (this.cancelled) return;
    this.cancelled = true;
    const reason = cancelReason();
    this.controller?.abort(reason);
    this.reader?.fail(reason);
    this.onCancel?.();
  }
}

/** What a BodyReader reads through: the binding, and the dispatcher's handler clock. */
interface BodySource {
  take(token: number): [Buffer, boolean] | false | null;
  discard(token: number): boolean;
  /** A chunk was taken: the handler is making progress (its handlerTimeoutMs starts again). */
  progress(token: number): void;
}

/**
 * A streaming request body: one chunk with the server at a time. next()
 * takes the ready chunk (the client's window opens for the next) or waits
 * for the AIO thread's notice (wake); return() drops the rest.
 */
class BodyReader implements AsyncIterator<Buffer> {
  private ended = false;
  private dropping = false;
  private error?: Error;
  private waiter?: { resolve: (r: IteratorResult<Buffer>) => void; reject: (e: Error) => void };

  constructor(private readonly source: BodySource, private readonly token: number) {}

  next(): Promise<IteratorResult<Buffer>> {
    if (this.error) return Promise.reject(this.error);
    if (this.ended) return Promise.resolve({ done: true, value: undefined });
    if (this.waiter) return Promise.reject(new TypeError('valk-aio: next() called before the previous chunk came'));
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
      this.pull();
    });
  }

  return(): Promise<IteratorResult<Buffer>> {
    if (!this.ended && !this.error) {
      this.dropping = true;
      this.drop();
    }
    this.ended = true;
    return Promise.resolve({ done: true, value: undefined });
  }

  /** The AIO thread's notice: a chunk may be ready. */
  wake(): void {
    if (this.dropping) this.drop();
    else if (this.waiter) this.pull();
  }

  /** The body cannot be read any more: a waiting next() rejects, and every later one. */
  fail(err: Error): void {
    if (this.ended || this.error) return;
    this.error = err;
    const w = this.waiter;
    this.waiter = undefined;
    w?.reject(err);
  }

  private drop(): void {
    if (this.source.discard(this.token)) this.dropping = false;
  }

  private pull(): void {
    const got = this.source.take(this.token);
    if (got === false) return; // not yet: wake() comes
    const w = this.waiter!;
    this.waiter = undefined;
    if (got === null) {
      this.error ??= cancelReason();
      w.reject(this.error);
      return;
    }
    const [chunk, end] = got;
    this.source.progress(this.token);
    if (end) this.ended = true;
    if (chunk.length > 0) w.resolve({ done: false, value: chunk });
    else if (end) w.resolve({ done: true, value: undefined });
    else {
      this.waiter = w; // an empty chunk: wait for the next
    }
  }
}

function cancelReason(): DOMException {
  return new DOMException('the client reset the stream or closed the connection', 'AbortError');
}

/** Response header names already checked, lower-cased (bounded: at most VALID_NAMES_MAX). */
const VALID_NAMES = new Map<string, string>();
const VALID_NAMES_MAX = 1024;

/** name lower-cased, or a TypeError when it may not be sent. */
function headerName(name: string): string {
  const known = VALID_NAMES.get(name);
  if (known !== undefined) return known;
  const lower = name.toLowerCase();
  if (!HEADER_NAME.test(lower) || FORBIDDEN.has(lower)) throw new TypeError(`response header '${name}' is not allowed`);
  if (VALID_NAMES.size < VALID_NAMES_MAX) VALID_NAMES.set(name, lower);
  return lower;
}

/**
 * A handler's body as it goes to the binding: a string stays a string (the
 * binding writes it into the arena as UTF-8: one copy, no Buffer); bytes as a
 * Buffer (no copy). Throws a RangeError past limit bytes.
 */
function wireBody(body: unknown, limit: number): Buffer | string {
  let bytes: number;
  if (typeof body === 'string') {
    // At most 3 UTF-8 bytes per UTF-16 unit: count them only near the limit.
    if (body.length * 3 <= limit || (bytes = Buffer.byteLength(body, 'utf8')) <= limit) return body;
  } else {
    const b = bodyBuffer(body, 'handler response');
    if (b.length <= limit) return b;
    bytes = b.length;
  }
  throw new RangeError(`response body of ${bytes} bytes exceeds maxResponseBodySize (${limit})`);
}

/** A route's or a handler's body as bytes (no copy for Buffer/Uint8Array); `where` names it in the error. */
export function bodyBuffer(body: unknown, where: string): Buffer {
  if (body === undefined || body === null) return EMPTY;
  if (typeof body === 'string') return Buffer.from(body, 'utf8');
  if (body instanceof Uint8Array) return Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  throw new TypeError(`valk-aio: ${where}: body must be a string, Buffer or Uint8Array`);
}

/**
 * The largest response header block a handler may send, counted as RFC 9113
 * counts a header list (name + value + 32 bytes per field), and what :status
 * and content-length take of it: the addon's (csrc/valk_route.h,
 * VALK_RESP_HEADERS_MAX), which C checks again. nghttp2 refuses a block over
 * 64 KiB once encoded, and such a refusal would end the whole connection.
 */
let headerBounds: { max: number; fixed: number } | undefined;
function responseHeaderBounds(): { max: number; fixed: number } {
  const k = native().constants;
  headerBounds ??= { max: k.responseHeadersMax, fixed: k.responseFixedHeadersBytes };
  return headerBounds;
}

/** Whether a body streams: an async iterable that is not a string or bytes. */
function isStreaming(body: unknown): body is StreamingBody {
  return typeof body === 'object' && body !== null && !(body instanceof Uint8Array) &&
    typeof (body as { [Symbol.asyncIterator]?: unknown })[Symbol.asyncIterator] === 'function';
}

/** Appends one response header field to flat; returns its size as RFC 9113 counts it. */
function field(flat: string[], name: string, lower: string, value: unknown): number {
  const v = String(value);
  if (BAD_VALUE.test(v)) throw new TypeError(`response header '${name}' has CR, LF or NUL in its value`);
  flat.push(lower, v);
  return lower.length + Buffer.byteLength(v, 'utf8') + 32;
}

/** Checks a handler's answer; returns [status, flat headers, body] or throws a TypeError/RangeError. */
/** An answer's trailers as they go to stream(): encoded already (given as fields), or the function that gives them. */
type WireTrailers = Buffer | (() => Trailers | Promise<Trailers>) | undefined;

function toWire(res: unknown, limit: number): [number, string[], Buffer | string | StreamingBody, WireTrailers] {
  if (typeof res !== 'object' || res === null) throw new TypeError('the handler must return { status, headers?, body? }');
  const r = res as Response;
  if (!Number.isInteger(r.status) || r.status < 200 || r.status > 599) {
    throw new RangeError(`status ${String(r.status)} is not an integer from 200 to 599`);
  }
  const flat: string[] = [];
  const headers = r.headers;
  const bounds = responseHeaderBounds();
  let size = bounds.fixed;
  if (headers !== undefined && headers !== null) {
    for (const name of Object.keys(headers)) {
      const lower = headerName(name);
      const value = headers[name];
      if (!Array.isArray(value)) size += field(flat, name, lower, value);
      else for (const item of value) size += field(flat, name, lower, item);
    }
  }
  if (size > bounds.max) {
    throw new RangeError(`response headers of ${size} bytes exceed ${bounds.max} (name + value + 32 per field)`);
  }
  const body = isStreaming(r.body) ? r.body : wireBody(r.body, limit);
  if (r.trailers === undefined || r.trailers === null) return [r.status, flat, body, undefined];
  /* fields are checked (and encoded) now: a bad one is a 500, not a reset */
  const trailers = typeof r.trailers === 'function' ? r.trailers : encodeTrailers(r.trailers);
  return [r.status, flat, isStreaming(body) ? body : oneChunk(body), trailers];
}

/** A whole body as a streaming one of one chunk (an answer with trailers streams). */
async function* oneChunk(body: Buffer | string): AsyncGenerator<Buffer | string> {
  if (body.length > 0) yield body;
}

const CHUNK_END = 1;
const CHUNK_ABORT = 2;
const CHUNK_TRAILERS = 4; /* with END: the chunk is the trailer fields (lib/trailers.ts) */

/** A chunk of a streaming body as bytes (strings as UTF-8), or a TypeError. */
function chunkBuffer(chunk: unknown): Buffer {
  if (typeof chunk === 'string') return Buffer.from(chunk, 'utf8');
  if (chunk instanceof Uint8Array) return Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  throw new TypeError('valk-aio: a streaming body must yield strings, Buffers or Uint8Arrays');
}

/** A streaming answer in progress (HandlerDispatcher.stream). */
interface StreamState {
  readonly req: HandlerRequest;
  /** The iterator being pulled. */
  it?: AsyncIterator<unknown>;
  /** Resolves the pump's wait for the chunk with the server to come back. */
  drained?: () => void;
  /** A chunk is with the server (no other may go until it comes back). */
  outstanding: boolean;
  /** The final chunk went. */
  finished: boolean;
  /** The final chunk to send once the outstanding one came back. */
  pendingFinal?: number;
}

/**
 * Runs handlers for one system. Every request it receives is answered exactly
 * once; stop() answers the outstanding ones with 503 so the AIO thread can end.
 *
 * A token names one request for good (the binding's gen x 2^21 + slot, see
 * csrc/valk_dispatch.h): a handler that answers after its 504, or twice, finds
 * its token gone from `pending` and its answer is dropped; it can never reach
 * the request that reuses the slot.
 */
export class HandlerDispatcher {
  /** token -> its server, deadline (ms) and request, in arrival order. */
  private readonly pending = new Map<number, { target: HandlerTarget; deadline: number; req: HandlerRequest }>();
  private sweeper?: NodeJS.Timeout;
  private stopping = false;

  private readonly respond: NativeRespond;
  /** Streaming answers in progress, by token. */
  private readonly streams = new Map<number, StreamState>();
  /** How streaming request bodies are read (HandlerRequest's BodyReader). */
  private readonly bodies: BodySource;

  constructor(
    private readonly native: NativeSystem,
    private readonly target: (serverId: number) => HandlerTarget | undefined,
  ) {
    this.respond = native.respond.bind(native);
    this.bodies = {
      take: (token) => native.takeBody(token),
      discard: (token) => native.discardBody(token),
      progress: (token) => {
        const p = this.pending.get(token);
        if (p !== undefined) p.deadline = Date.now() + p.target.handlerTimeoutMs;
      },
    };
    native.onBody((tokens: number[]) => {
      for (const token of tokens) (this.pending.get(token)?.req ?? this.streams.get(token)?.req)?.bodyReady();
    });
    native.onRequests((batch: NativeBatch) => {
      const now = Date.now();
      for (let at = 0; at < batch.length; at += FIELDS + 2 * (batch[at + F_COUNT] as number)) this.dispatch(batch, at, now);
    });
    native.onCancel((tokens: number[]) => {
      for (const token of tokens) this.cancel(token);
    });
    native.onDrain((tokens: number[]) => {
      for (const token of tokens) {
        const st = this.streams.get(token);
        if (st === undefined) continue;
        st.outstanding = false;
        if (st.pendingFinal !== undefined) this.endStream(token, st, st.pendingFinal);
        const wake = st.drained;
        st.drained = undefined;
        wake?.();
      }
    });
  }

  /**
   * The request's stream died: it is answered now (nobody will read it; its
   * arena goes back at once instead of when the handler gives up) and its
   * signal aborted. A notice for a request already answered finds nothing.
   */
  private cancel(token: number): void {
    const st = this.streams.get(token);
    if (st !== undefined) { /* a streaming answer: it ends now (its pump stops at its next step) */
      st.req.cancel();
      this.endStream(token, st, CHUNK_ABORT);
      return;
    }
    const p = this.pending.get(token);
    if (p === undefined) return; /* counted in C: requests_cancelled */
    p.req.cancel(); /* first: its body's reader fails with the AbortError, not as answered */
    this.answer(token, 503, [], EMPTY);
  }

  /**
   * Ends a streaming answer once: the final chunk (END, or ABORT: the stream is
   * reset) goes now, or once the chunk with the server came back. An aborted
   * body's iterator is closed (a Readable is destroyed).
   */
  private endStream(token: number, st: StreamState, flags: number, trailers?: Buffer): void {
    if (st.finished) return;
    if (st.outstanding) {
      st.pendingFinal ??= flags & ~CHUNK_TRAILERS; /* only an ABORT waits: trailers come after the last chunk's drain */
      return;
    }
    st.finished = true;
    this.streams.delete(token);
    this.native.chunk(token, trailers, flags);
    st.req.answered();
    const wake = st.drained;
    st.drained = undefined;
    wake?.();
    if (flags === CHUNK_ABORT && st.it?.return) Promise.resolve().then(() => st.it!.return!()).catch(() => {});
  }

  /**
   * Sends a streaming answer: the headers now, then each chunk once the one
   * before went out (onDrain), so the server holds one chunk per stream and a
   * client that stops reading stops the pulling (docs/design.md §7).
   */
  private async stream(t: HandlerTarget, token: number, status: number, headers: string[], body: StreamingBody,
    trailers?: WireTrailers): Promise<void> {
    const entry = this.pending.get(token)!;
    this.pending.delete(token);
    const st: StreamState = { req: entry.req, outstanding: false, finished: false };
    if (!this.respond(token, status, headers, EMPTY, true)) {
      t.fail(new Error("valk-aio: the response did not fit the request's arena: sent 500"));
      return;
    }
    this.streams.set(token, st);
    try {
      st.it = body[Symbol.asyncIterator]();
      for (;;) {
        const next = await st.it.next();
        if (st.finished || st.pendingFinal !== undefined) return;
        if (next.done) break;
        const buf = chunkBuffer(next.value);
        if (buf.length === 0) continue;
        const drained = new Promise<void>((resolve) => { st.drained = resolve; });
        st.outstanding = true;
        if (!this.native.chunk(token, buf, 0)) { /* the system stopped */
          st.finished = true;
          this.streams.delete(token);
          return;
        }
        await drained;
        if (st.finished || st.pendingFinal !== undefined) return;
      }
      if (trailers === undefined) return this.endStream(token, st, CHUNK_END);
      const fields = typeof trailers === 'function' ? encodeTrailers(await trailers()) : trailers;
      if (st.finished || st.pendingFinal !== undefined) return;
      this.endStream(token, st, CHUNK_END | CHUNK_TRAILERS, fields);
    } catch (err) {
      if (!st.finished) t.fail(err instanceof Error ? err : new Error(String(err)));
      this.endStream(token, st, CHUNK_ABORT);
    }
  }

  /** Answers every outstanding request with 503 and ends every streaming answer; later ones get 503 at once. */
  stop(): void {
    this.stopping = true;
    for (const [token, st] of [...this.streams]) this.endStream(token, st, CHUNK_ABORT);
    for (const token of [...this.pending.keys()]) this.answer(token, 503, [], EMPTY);
    if (this.sweeper) clearInterval(this.sweeper);
    this.sweeper = undefined;
  }

  /** One timer for every request (not one each): 504 past handlerTimeoutMs. */
  private sweep(): void {
    const now = Date.now();
    for (const [token, p] of this.pending) {
      if (p.deadline > now) continue;
      p.target.counters.timeouts++;
      this.answer(token, 504, [], EMPTY);
    }
    if (this.pending.size === 0 && this.sweeper) {
      clearInterval(this.sweeper);
      this.sweeper = undefined;
    }
  }

  private track(token: number, t: HandlerTarget, now: number, req: HandlerRequest): void {
    this.pending.set(token, { target: t, deadline: now + t.handlerTimeoutMs, req });
    if (!this.sweeper) {
      this.sweeper = setInterval(() => this.sweep(), Math.min(100, Math.max(5, t.handlerTimeoutMs / 4)));
      this.sweeper.unref();
    }
  }

  /** Runs the handler for the request at batch[at]; now: Date.now() at the batch's arrival. */
  private dispatch(batch: NativeBatch, at: number, now: number): void {
    const token = batch[at + F_TOKEN] as number;
    const t = this.target(batch[at + F_SERVER] as number);
    if (!t || this.stopping) {
      this.respond(token, 503, [], EMPTY);
      return;
    }
    const req = new HandlerRequest(batch, at, t, this.bodies);
    this.track(token, t, now, req);
    let result: Response | Promise<Response>;
    try {
      result = t.handler(req);
    } catch (err) {
      this.failed(t, token, err);
      return;
    }
    if (result instanceof Promise) {
      result.then((res) => this.finish(t, token, res), (err) => this.failed(t, token, err));
    } else {
      this.finish(t, token, result);
    }
  }

  private finish(t: HandlerTarget, token: number, res: unknown): void {
    if (!this.pending.has(token)) return; // timed out or stopped: dropped
    let wire: ReturnType<typeof toWire>;
    try {
      wire = toWire(res, t.maxResponseBodySize);
    } catch (err) {
      this.failed(t, token, err);
      return;
    }
    t.counters.handled++;
    if (isStreaming(wire[2])) {
      void this.stream(t, token, wire[0], wire[1], wire[2], wire[3]);
      return;
    }
    if (!this.answer(token, wire[0], wire[1], wire[2] as Buffer | string)) t.fail(new Error("valk-aio: the response did not fit the request's arena: sent 500"));
  }

  private failed(t: HandlerTarget, token: number, err: unknown): void {
    if (!this.pending.has(token)) return;
    if (err instanceof BodyTooLargeError) { /* req.bytes() past maxRequestBodySize, not caught: the client's fault */
      this.answer(token, 413, [], EMPTY);
      return;
    }
    t.counters.errors++;
    this.answer(token, 500, [], EMPTY);
    t.fail(err instanceof Error ? err : new Error(String(err)));
  }

  /** Sends the answer if the request is still outstanding. */
  private answer(token: number, status: number, headers: string[], body: Buffer | string): boolean {
    const p = this.pending.get(token);
    if (p === undefined) return true;
    this.pending.delete(token);
    const ok = this.respond(token, status, headers, body);
    p.req.answered();
    return ok;
  }
}
