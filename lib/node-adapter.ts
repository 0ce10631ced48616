// Node request listeners (`listen({ requestListener })`, fromRequestListener()):
// a `(req, res)` listener, an Express app, served by a valk handler
// (docs/api.md, "Handlers people already have").
//
// req and res are Node's own http.IncomingMessage and http.ServerResponse
// over a stand-in socket (ValkSocket), not look-alikes: Express replaces the
// prototypes of both with its own objects, which inherit from those two
// classes, so methods of a look-alike's class would be lost; Node's classes
// keep their state in the instances and keep working. The socket is where
// the valk request meets them:
//   - the request body: IncomingMessage asks the socket to resume() when it
//     wants data; the socket takes one chunk from the valk request and pushes it;
//   - the response: ServerResponse writes its HTTP/1.1 head, then the body, to
//     the socket. The first write is the head (res._header): status and fields
//     are read from it (connection-specific ones and content-length dropped),
//     and the handler's promise resolves. When end() came in the same tick the
//     answer is the whole body at once; otherwise the body streams, one write
//     a chunk, a write's callback once its chunk went out, write() false past
//     HIGH_WATER_MARK bytes queued and 'drain' once the queue is empty.
//   - the valk request's signal aborting (the stream died): req is destroyed
//     ('aborted', 'close'), the socket and res close ('close').
//
// Thread: Node's main thread.
import * as http from 'node:http';
import { EventEmitter } from 'node:events';
import type { Handler, Request as ValkRequest, Response as ValkResponse } from './handler';
import { DROPPED_RESPONSE_HEADERS, plainHeaders } from './fetch-adapter';

/** A Node request listener: what http.createServer() and http2's compatibility API take (an Express app). */
export type RequestListener = (req: http.IncomingMessage, res: http.ServerResponse) => void;

/** Bytes queued on a streaming response before res.write() returns false. */
const HIGH_WATER_MARK = 64 * 1024;

type Chunk = string | Buffer;
type Callback = (err?: Error | null) => void;

/** OutgoingMessage's own "a write returned false" flag, cleared when 'drain' is emitted (as Node's server does). */
let kNeedDrain: symbol | undefined | null;
function needDrainSymbol(res: http.ServerResponse): symbol | null {
  kNeedDrain ??= Object.getOwnPropertySymbols(res).find((s) => s.description === 'kNeedDrain') ?? null;
  return kNeedDrain;
}

/** The fields of an HTTP/1.1 head as ServerResponse wrote it ("Name: value\r\n" each), names lower-cased. */
export function headFields(head: string): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  let at = head.indexOf('\r\n') + 2;
  const end = head.length - 2;
  while (at > 1 && at < end) {
    const eol = head.indexOf('\r\n', at);
    const colon = head.indexOf(':', at);
    if (eol < 0 || colon < 0 || colon > eol) break;
    const name = head.slice(at, colon).toLowerCase();
    at = eol + 2;
    if (DROPPED_RESPONSE_HEADERS.has(name)) continue;
    const value = head.slice(head.charCodeAt(colon + 1) === 32 ? colon + 2 : colon + 1, eol);
    const had = out[name];
    if (had === undefined) out[name] = value;
    else if (Array.isArray(had)) had.push(value);
    else out[name] = [had, value];
  }
  return out;
}

/**
 * The stand-in socket of one request: the request body's source, the
 * response's sink, and (when it streams) the response body valk pulls.
 */
class ValkSocket extends EventEmitter implements AsyncIterator<Chunk> {
  readable = true;
  writable = true;
  destroyed = false;
  /** IncomingMessage resumes a socket that is not _paused. */
  _paused = false;
  _writableState = { corked: 0 };
  /** Truthy: ServerResponse does not cork and uncork it around each write. */
  writableCorked = 1;
  readonly writableHighWaterMark = HIGH_WATER_MARK;
  readonly readableHighWaterMark = HIGH_WATER_MARK;
  readonly remoteAddress: string;
  readonly remoteFamily: string;
  readonly remotePort = undefined;
  readonly encrypted: boolean | undefined;
  _httpMessage?: http.ServerResponse;

  req!: http.IncomingMessage;
  res!: http.ServerResponse;
  private resolve?: (r: ValkResponse | Promise<ValkResponse>) => void;
  private reject?: (e: Error) => void;
  private status = 0;
  private fields?: Record<string, string | string[]>;
  /** Writes not yet pulled, their callbacks, and their bytes. */
  private readonly queue: Chunk[] = [];
  private readonly callbacks: (Callback | undefined)[] = [];
  private queued = 0;
  /** Callbacks of the chunk handed to valk last: called when the next one is pulled (it went out). */
  private sent?: Callback;
  private waiter?: { resolve: (r: IteratorResult<Chunk>) => void; reject: (e: Error) => void };
  /** Set when the application destroyed a streaming response: the body throws it, which resets the stream. */
  private streamError?: Error;
  private streaming = false;
  /** res.end() was called. */
  private ended = false;
  /** res.addTrailers() fields, lower-cased names (at most what encodeTrailers allows goes out). */
  private trailerFields?: Record<string, string[]>;
  private finished = false;
  private aborted = false;
  private overHighWater = false;
  /** Writes of a chunked frame still to drop (an application's own transfer-encoding: chunked). */
  private dechunk = 0;
  private body?: AsyncIterator<Buffer>;
  private pulling = false;

  constructor(private readonly valk: ValkRequest, scheme: string, private readonly empty: boolean) {
    super();
    this.remoteAddress = valk.remoteAddress;
    this.remoteFamily = valk.remoteAddress.includes(':') ? 'IPv6' : 'IPv4';
    this.encrypted = scheme === 'https' ? true : undefined;
  }

  /** Serves the request to the listener; resolves once the response's head is decided. */
  serve(listener: RequestListener): Promise<ValkResponse> {
    return new Promise<ValkResponse>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
      const valk = this.valk;
      const h = valk.headers;
      const req = new http.IncomingMessage(this as never);
      const headers = plainHeaders(valk);
      if (headers.host === undefined && h[':authority'] !== undefined) headers.host = h[':authority'];
      const http1 = h.host !== undefined; // HTTP/1.1 carries a host field; HTTP/2 clients send :authority
      req.method = valk.method;
      req.url = h[':path'] ?? valk.path;
      req.httpVersionMajor = http1 ? 1 : 2;
      req.httpVersionMinor = http1 ? 1 : 0;
      req.httpVersion = http1 ? '1.1' : '2.0';
      req.headers = headers;
      const raw: string[] = [];
      for (const name in headers) raw.push(name, headers[name]);
      req.rawHeaders = raw;
      const res = new http.ServerResponse(req);
      res.useChunkedEncodingByDefault = false; // valk frames the body
      res.shouldKeepAlive = false;
      res.assignSocket(this as never);
      res.addTrailers = (fields) => { this.addTrailers(fields); }; // sent after the body (HTTP/2), not framed by Node
      res.on('prefinish', () => this.ending());
      (req as unknown as { res: http.ServerResponse }).res = res;
      this.req = req;
      this.res = res;
      const hook = valk as { onCancel?: () => void };
      if ('onCancel' in hook) hook.onCancel = () => this.abort(valk.signal.reason as Error); // no AbortSignal made per request
      else valk.signal.addEventListener('abort', () => this.abort(valk.signal.reason as Error), { once: true });
      if (this.empty) { /* a buffered empty body (GET): ended now, no read of the valk request */
        this.readable = false;
        req.complete = true;
        req.push(null);
      }
      try {
        listener(req, res);
      } catch (err) {
        this.fail(err instanceof Error ? err : new Error(String(err)));
      }
    });
  }

  /** IncomingMessage wants more of the body: one chunk from the valk request. */
  resume(): this {
    if (this.pulling || !this.readable) return this;
    this.pulling = true;
    this.body ??= this.valk[Symbol.asyncIterator]();
    this.body.next().then((next) => {
      this.pulling = false;
      if (this.aborted) return;
      if (next.done) {
        this.readable = false;
        this.req.complete = true;
        this.req.push(null);
      } else {
        this.req.push(next.value);
      }
    }, (err: Error) => {
      this.pulling = false;
      this.readable = false;
      if (this.aborted) return;
      if (this.finished || this.ended) { /* answered: the rest of the body is not read (Node's server dumps it) */
        this.req.complete = true;
        this.req.push(null);
      } else {
        this.req.destroy(err);
      }
    });
    return this;
  }

  pause(): this {
    return this;
  }

  /** What ServerResponse writes: the head first, then the body. */
  write(data: string | Uint8Array, encoding?: BufferEncoding | Callback | null, cb?: Callback): boolean {
    if (typeof encoding === 'function') {
      cb = encoding;
      encoding = undefined;
    }
    if (this.destroyed) {
      if (cb) process.nextTick(cb, new Error('valk-aio: the stream is closed'));
      return false;
    }
    if (this.fields === undefined) {
      const head = (this.res as unknown as { _header: unknown })._header;
      if (typeof head !== 'string' || typeof data !== 'string' || !data.startsWith(head)) { /* an informational (1xx) head: not sent */
        if (cb) process.nextTick(cb);
        return true;
      }
      this.decide(head);
      data = data.length > head.length ? data.slice(head.length) : '';
      if ((this.res as unknown as { chunkedEncoding: boolean }).chunkedEncoding) { /* the application's transfer-encoding: valk frames */
        (this.res as unknown as { chunkedEncoding: boolean }).chunkedEncoding = false;
        this.dechunk = data === '' || data.startsWith('0\r\n') ? 0 : 3; // then: CRLF, the chunk, CRLF
        data = '';
      }
    } else if (this.dechunk > 0) {
      if (this.dechunk-- !== 2) data = '';
    }
    const chunk: Chunk = typeof data === 'string'
      ? (encoding === undefined || encoding === null || encoding === 'utf8' || encoding === 'utf-8' ? data : Buffer.from(data, encoding))
      : Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    this.queue.push(chunk);
    this.callbacks.push(cb);
    this.queued += chunk.length;
    if (this.waiter) queueMicrotask(() => this.wake());
    if (this.queued >= HIGH_WATER_MARK) { /* also before the head is decided: a listener writing in a loop waits for 'drain' */
      this.overHighWater = true;
      return false;
    }
    return true;
  }

  /** The head is written: status and fields are known; whole or streaming is decided at the end of this tick. */
  private decide(head: string): void {
    this.status = this.res.statusCode;
    this.fields = headFields(head);
    queueMicrotask(() => {
      if (this.aborted || !this.resolve) return; /* the listener threw after writing, this tick: fail() answered (a 500) */
      const resolve = this.resolve;
      this.resolve = this.reject = undefined;
      if (!this.ended) { /* trailers the listener adds before its end() are asked for after the last chunk */
        this.streaming = true;
        resolve({ status: this.status, headers: this.fields, body: { [Symbol.asyncIterator]: () => this }, trailers: () => this.trailerFields ?? {} });
        return;
      }
      const q = this.queue;
      let body: Chunk;
      if (q.length === 1) body = q[0];
      else {
        const parts = q.filter((c) => c.length > 0);
        body = parts.length === 1 ? parts[0] : Buffer.concat(parts.map((c) => (typeof c === 'string' ? Buffer.from(c, 'utf8') : c)));
      }
      resolve({ status: this.status, headers: this.fields, body, ...(this.trailerFields ? { trailers: this.trailerFields } : {}) });
      const cbs = this.callbacks.splice(0);
      q.length = 0;
      this.queued = 0;
      this.done(cbs);
    });
  }

  /** res.end() was called (its 'prefinish'). */
  private ending(): void {
    this.ended = true;
    if (this.waiter) queueMicrotask(() => this.wake());
  }

  /** res.addTrailers(): fields (an object, or [name, value] pairs) sent after the body. */
  private addTrailers(fields: http.OutgoingHttpHeaders | readonly [string, string][]): void {
    const out: Record<string, string[]> = (this.trailerFields ??= {});
    const pairs: [string, unknown][] = Array.isArray(fields) ? (fields as [string, string][]) : Object.entries(fields);
    for (const [name, value] of pairs) {
      if (value === undefined) continue;
      (out[name.toLowerCase()] ??= []).push(...(Array.isArray(value) ? value.map(String) : [String(value)]));
    }
  }

  /** The response went out: callbacks (res 'finish'), then 'close' on res, as Node's server does. */
  private done(cbs: (Callback | undefined)[]): void {
    if (this.finished) return;
    this.finished = true;
    this.writable = false;
    for (const cb of cbs) cb?.();
    process.nextTick(() => {
      const res = this.res as unknown as { _closed?: boolean; destroyed: boolean };
      if (res._closed) return;
      res.destroyed = true;
      res._closed = true;
      this.res.emit('close');
      const r = this.req as unknown as { _consuming: boolean; _dump(): void; readableEnded: boolean };
      if (r._consuming || r.readableEnded) return;
      if (this.empty) this.req.emit('close'); // nothing to read: closed as Node's http2 compatibility API closes it
      else r._dump(); // the rest of the body is not read (Node's HTTP/1 server dumps it too)
    });
  }

  /** The streaming body: the next write once the one before went out. */
  next(): Promise<IteratorResult<Chunk>> {
    const sent = this.sent;
    this.sent = undefined;
    sent?.();
    if (this.aborted) return Promise.resolve({ done: true, value: undefined });
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
      this.wake();
    });
  }

  return(): Promise<IteratorResult<Chunk>> {
    this.abort(new Error('valk-aio: the response stream was closed'));
    return Promise.resolve({ done: true, value: undefined });
  }

  private wake(): void {
    const w = this.waiter;
    if (w === undefined) return;
    if (this.queue.length > 0) {
      this.waiter = undefined;
      const chunk = this.queue.shift()!;
      this.sent = this.callbacks.shift();
      this.queued -= chunk.length;
      if (this.overHighWater && this.queued === 0) {
        this.overHighWater = false;
        const sym = needDrainSymbol(this.res);
        if (sym) (this.res as unknown as Record<symbol, boolean>)[sym] = false;
        process.nextTick(() => this.res.emit('drain'));
      }
      w.resolve({ done: false, value: chunk });
    } else if (this.streamError) {
      this.waiter = undefined;
      w.reject(this.streamError);
    } else if (this.ended || this.aborted) {
      this.waiter = undefined;
      if (!this.aborted) this.done([]);
      w.resolve({ done: true, value: undefined });
    }
  }

  /** The listener threw, or destroyed the response before its head. */
  private fail(err: Error): void {
    const reject = this.reject;
    this.resolve = this.reject = undefined;
    if (reject) reject(err);
    else if (this.streaming) this.abort(err);
  }

  /** The stream died (the valk signal), or the body was closed: everything ends now. */
  private abort(reason: Error): void {
    if (this.aborted || this.finished) return;
    this.aborted = true;
    this.readable = this.writable = false;
    this.resolve = this.reject = undefined;
    this.destroyed = true;
    this.req.destroy(reason);
    this.emit('close', true); // res: 'close' (ServerResponse listens on its socket)
    const cbs = [this.sent, ...this.callbacks.splice(0)];
    this.sent = undefined;
    this.queue.length = 0;
    for (const cb of cbs) cb?.(reason);
    this.wake();
  }

  /** res.destroy() / req.destroy() by the application: before the head, a 500; after it, the stream is reset. */
  destroy(err?: Error): this {
    if (this.destroyed) return this;
    if (this.reject) {
      this.fail(err ?? new Error('valk-aio: the response was destroyed before it was sent'));
      this.abort(err ?? new Error('destroyed'));
    } else if (this.streaming) {
      this.streamError = err ?? new Error('valk-aio: the response was destroyed');
      this.abort(this.streamError);
    }
    return this;
  }

  /** Bytes written and not yet pulled (res.writableLength adds it). */
  get writableLength(): number {
    return this.queued;
  }

  cork(): void {}
  uncork(): void {}
  /** Not a way to end the response: res.end() is. */
  end(): this { return this; }
  setTimeout(): this { return this; }
  setNoDelay(): this { return this; }
  setKeepAlive(): this { return this; }
  ref(): this { return this; }
  unref(): this { return this; }
  address(): Record<string, never> { return {}; }
}

/** A Node request listener as a valk Handler. */
export function fromRequestListener(listener: RequestListener): Handler {
  if (typeof listener !== 'function') throw new TypeError('valk-aio: fromRequestListener: listener must be a function');
  let streams = false; // once a request's body streamed (requestBodies 'stream'), req.body is not tried again
  return (req) => {
    let empty = false;
    if (!streams) {
      try {
        empty = req.body.length === 0;
      } catch {
        streams = true;
      }
    }
    return new ValkSocket(req, req.headers[':scheme'] ?? 'https', empty).serve(listener);
  };
}
