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

function toRequest(n: NativeRequest): Request {
  const headers: Record<string, string> = {};
  for (let i = 0; i < n.headers.length; i += 2) {
    const name = n.headers[i];
    headers[name] = name in headers ? `${headers[name]}, ${n.headers[i + 1]}` : n.headers[i + 1];
  }
  const q = n.path.indexOf('?');
  return {
    method: n.method,
    path: q < 0 ? n.path : n.path.slice(0, q),
    query: new URLSearchParams(q < 0 ? '' : n.path.slice(q + 1)),
    headers,
    body: n.body,
    remoteAddress: n.remoteAddress,
    streamId: n.streamId,
  };
}

function bodyOf(body: unknown): Buffer {
  if (body === undefined || body === null) return EMPTY;
  if (typeof body === 'string') return Buffer.from(body, 'utf8');
  if (body instanceof Uint8Array) return Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  throw new TypeError('body must be a string, Buffer or Uint8Array');
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
  const body = bodyOf(r.body);
  if (body.length > limit) throw new RangeError(`response body of ${body.length} bytes exceeds maxResponseBodySize (${limit})`);
  return [r.status, flat, body];
}

/**
 * Runs handlers for one system. Every request it receives is answered exactly
 * once; stop() answers the outstanding ones with 503 so the AIO thread can end.
 */
export class HandlerDispatcher {
  private readonly pending = new Map<number, NodeJS.Timeout>();
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
  }

  private dispatch(n: NativeRequest): void {
    const t = this.target(n.serverId);
    if (!t || this.stopping) {
      this.native.respond(n.token, 503, [], EMPTY);
      return;
    }
    const timer = setTimeout(() => {
      t.counters.timeouts++;
      this.answer(n.token, 504, [], EMPTY);
    }, t.handlerTimeoutMs);
    this.pending.set(n.token, timer);
    let result: Response | Promise<Response>;
    try {
      result = t.handler(toRequest(n));
    } catch (err) {
      this.failed(t, n.token, err);
      return;
    }
    Promise.resolve(result).then(
      (res) => {
        if (!this.pending.has(n.token)) return; // timed out or stopped: dropped
        let wire: [number, string[], Buffer];
        try {
          wire = toWire(res, t.maxResponseBodySize);
        } catch (err) {
          this.failed(t, n.token, err);
          return;
        }
        t.counters.handled++;
        if (!this.answer(n.token, ...wire)) t.fail(new Error('valk-aio: the response did not fit the request\'s arena: sent 500'));
      },
      (err) => this.failed(t, n.token, err),
    );
  }

  private failed(t: HandlerTarget, token: number, err: unknown): void {
    if (!this.pending.has(token)) return;
    t.counters.errors++;
    this.answer(token, 500, [], EMPTY);
    t.fail(err instanceof Error ? err : new Error(String(err)));
  }

  /** Sends the answer if the request is still outstanding. */
  private answer(token: number, status: number, headers: string[], body: Buffer): boolean {
    const timer = this.pending.get(token);
    if (timer === undefined) return true;
    clearTimeout(timer);
    this.pending.delete(token);
    return this.native.respond(token, status, headers, body);
  }
}
