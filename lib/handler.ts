// JavaScript handlers: requests the AIO thread could not answer from a static
// route arrive here in batches (one uv_async wake-up, one call), run the
// server's handler, and go back through the binding's respond().
//
// Thread: Node's main thread only. A request's memory (its arena) belongs to
// this thread from its arrival until respond() hands it back; every request
// is answered exactly once: by the handler, by a 500 when it throws, by a 504
// at handlerTimeoutMs, or by a 503 when the system stops.
import { NativeSystem } from './native';

/** What a handler receives. */
export interface Request {
  method: string;
  /** The path without the query string. */
  path: string;
  /** The query string, parsed. */
  query: URLSearchParams;
  /** Request headers, names lower-case (pseudo-headers such as :authority included); repeated ones joined with ', '. */
  headers: Record<string, string>;
  /** The whole request body (at most maxRequestBodySize). */
  body: Buffer;
  remoteAddress: string;
  streamId: number;
}

/** What a handler returns (or resolves to). */
export interface Response {
  /** 200 to 599. */
  status: number;
  headers?: Record<string, string | number>;
  body?: string | Buffer | Uint8Array;
}

export type Handler = (req: Request) => Response | Promise<Response>;

/** The per-server part the dispatcher needs. */
export interface HandlerTarget {
  readonly handler: Handler;
  readonly maxResponseBodySize: number;
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

/** A request as the binding delivers it. */
interface NativeRequest {
  token: number;
  serverId: number;
  streamId: number;
  method: string;
  path: string;
  headers: string[];
  body: Buffer;
  remoteAddress: string;
}

const FORBIDDEN = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'content-length']);
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9a-z]+$/;
const EMPTY = Buffer.alloc(0);

/** A request as handlers see it; the query string is parsed on first use. */
class HandlerRequest implements Request {
  readonly method: string;
  readonly path: string;
  readonly headers: Record<string, string> = {};
  readonly body: Buffer;
  readonly remoteAddress: string;
  readonly streamId: number;
  private readonly search: string;
  private parsed?: URLSearchParams;

  constructor(n: NativeRequest) {
    for (let i = 0; i < n.headers.length; i += 2) {
      const name = n.headers[i];
      this.headers[name] = name in this.headers ? `${this.headers[name]}, ${n.headers[i + 1]}` : n.headers[i + 1];
    }
    const q = n.path.indexOf('?');
    this.method = n.method;
    this.path = q < 0 ? n.path : n.path.slice(0, q);
    this.search = q < 0 ? '' : n.path.slice(q + 1);
    this.body = n.body;
    this.remoteAddress = n.remoteAddress;
    this.streamId = n.streamId;
  }

  get query(): URLSearchParams {
    this.parsed ??= new URLSearchParams(this.search);
    return this.parsed;
  }
}

/** A route's or a handler's body as bytes (no copy for Buffer/Uint8Array); `where` names it in the error. */
export function bodyBuffer(body: unknown, where: string): Buffer {
  if (body === undefined || body === null) return EMPTY;
  if (typeof body === 'string') return Buffer.from(body, 'utf8');
  if (body instanceof Uint8Array) return Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  throw new TypeError(`valk-aio: ${where}: body must be a string, Buffer or Uint8Array`);
}

/** Checks a handler's answer; returns [status, flat headers, body] or throws a TypeError/RangeError. */
function toWire(res: unknown, limit: number): [number, string[], Buffer] {
  if (typeof res !== 'object' || res === null) throw new TypeError('the handler must return { status, headers?, body? }');
  const r = res as Response;
  if (!Number.isInteger(r.status) || r.status < 200 || r.status > 599) {
    throw new RangeError(`status ${String(r.status)} is not an integer from 200 to 599`);
  }
  const flat: string[] = [];
  for (const [name, value] of Object.entries(r.headers ?? {})) {
    const lower = name.toLowerCase();
    const v = String(value);
    if (!TOKEN.test(lower) || FORBIDDEN.has(lower)) throw new TypeError(`response header '${name}' is not allowed`);
    if (/[\r\n\0]/.test(v)) throw new TypeError(`response header '${name}' has CR, LF or NUL in its value`);
    flat.push(lower, v);
  }
  const body = bodyBuffer(r.body, 'handler response');
  if (body.length > limit) throw new RangeError(`response body of ${body.length} bytes exceeds maxResponseBodySize (${limit})`);
  return [r.status, flat, body];
}

/**
 * Runs handlers for one system. Every request it receives is answered exactly
 * once; stop() answers the outstanding ones with 503 so the AIO thread can end.
 */
export class HandlerDispatcher {
  /** token -> its server and deadline (ms), in arrival order. */
  private readonly pending = new Map<number, { target: HandlerTarget; deadline: number }>();
  private sweeper?: NodeJS.Timeout;
  private stopping = false;

  constructor(
    private readonly native: NativeSystem,
    private readonly target: (serverId: number) => HandlerTarget | undefined,
  ) {
    native.onRequests((batch: NativeRequest[]) => {
      for (const n of batch) this.dispatch(n);
    });
  }

  /** Answers every outstanding request with 503; later ones get 503 at once. */
  stop(): void {
    this.stopping = true;
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

  private track(token: number, t: HandlerTarget): void {
    this.pending.set(token, { target: t, deadline: Date.now() + t.handlerTimeoutMs });
    if (!this.sweeper) {
      this.sweeper = setInterval(() => this.sweep(), Math.min(100, Math.max(5, t.handlerTimeoutMs / 4)));
      this.sweeper.unref();
    }
  }

  private dispatch(n: NativeRequest): void {
    const t = this.target(n.serverId);
    if (!t || this.stopping) {
      this.native.respond(n.token, 503, [], EMPTY);
      return;
    }
    this.track(n.token, t);
    let result: Response | Promise<Response>;
    try {
      result = t.handler(new HandlerRequest(n));
    } catch (err) {
      this.failed(t, n.token, err);
      return;
    }
    if (result instanceof Promise) {
      result.then((res) => this.finish(t, n.token, res), (err) => this.failed(t, n.token, err));
    } else {
      this.finish(t, n.token, result);
    }
  }

  private finish(t: HandlerTarget, token: number, res: unknown): void {
    if (!this.pending.has(token)) return; // timed out or stopped: dropped
    let wire: [number, string[], Buffer];
    try {
      wire = toWire(res, t.maxResponseBodySize);
    } catch (err) {
      this.failed(t, token, err);
      return;
    }
    t.counters.handled++;
    if (!this.answer(token, ...wire)) t.fail(new Error("valk-aio: the response did not fit the request's arena: sent 500"));
  }

  private failed(t: HandlerTarget, token: number, err: unknown): void {
    if (!this.pending.has(token)) return;
    t.counters.errors++;
    this.answer(token, 500, [], EMPTY);
    t.fail(err instanceof Error ? err : new Error(String(err)));
  }

  /** Sends the answer if the request is still outstanding. */
  private answer(token: number, status: number, headers: string[], body: Buffer): boolean {
    if (!this.pending.delete(token)) return true;
    return this.native.respond(token, status, headers, body);
  }
}
