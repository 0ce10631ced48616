// WHATWG fetch handlers (`listen({ fetch })`, toHandler()): a valk request
// becomes a global Request, the Response that comes back a valk answer, with
// bodies streaming both ways and request.signal aborted when the stream dies
// (docs/api.md, "Handlers people already have").
//
// The Request is made lazily: url, method, headers, signal and the body
// readers (text(), json(), arrayBuffer(), body) are answered from the valk
// request itself; anything else (clone(), formData(), blob(), cache, ...)
// builds the real global Request once and asks it. Building one costs more
// than a whole native answer, so a router that reads only url and method
// never pays for it.
//
// Thread: Node's main thread.
import type { Handler, Request as ValkRequest, Response as ValkResponse } from './handler';
import { CONNECTION_SPECIFIC } from './headers';

/** A fetch handler: a WHATWG Request in, a Response (or a promise of one) out (Hono's app.fetch). */
export type FetchHandler = (request: Request) => Response | Promise<Response>;

/** What an adapter drops from an answer: connection-specific fields and content-length (the server sets it). */
export const DROPPED_RESPONSE_HEADERS: ReadonlySet<string> = new Set([...CONNECTION_SPECIFIC, 'content-length']);

/** Bodies up to this size with a declared content-length are read whole and sent in one piece. */
const WHOLE_BODY_MAX = 64 * 1024;

/** The request's URL from its pseudo-headers: scheme, authority (or host), path with the query. */
export function requestUrl(req: ValkRequest): string {
  const h = req.headers;
  const authority = h[':authority'] ?? h.host ?? 'localhost';
  return `${h[':scheme'] ?? 'https'}://${authority}${h[':path'] ?? req.path}`;
}

/**
 * The request's header fields as an HTTP/1.1 server would show them: no
 * pseudo-headers, and cookie fields joined with '; ' (RFC 9113 §8.2.3: the
 * valk request joins repeated fields with ', ', which a cookie-octet never holds).
 */
export function plainHeaders(req: ValkRequest): Record<string, string> {
  const h = req.headers;
  const out: Record<string, string> = {};
  for (const name in h) {
    if (name.charCodeAt(0) === 58 /* ':' */) continue;
    out[name] = name === 'cookie' ? h[name].replace(/, /g, '; ') : h[name];
  }
  return out;
}

/** Whether a request of this method may carry a body (the global Request refuses one on GET and HEAD). */
function mayHaveBody(method: string): boolean {
  return method !== 'GET' && method !== 'HEAD';
}

/**
 * A pull-based ReadableStream over the valk request's body: one chunk read per
 * pull, so the client's flow control follows the reader (ReadableStream.from()
 * is not in every Node 20).
 */
export function bodyStream(req: ValkRequest): ReadableStream<Uint8Array> {
  let it: AsyncIterator<Buffer> | undefined;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      it ??= req[Symbol.asyncIterator]();
      const next = await it.next();
      if (next.done) controller.close();
      else controller.enqueue(next.value);
    },
    async cancel() {
      await it?.return?.();
    },
  }, { highWaterMark: 0 });
}

const kValk = Symbol('valk request');
const kReal = Symbol('global Request');
const kHeaders = Symbol('headers');
const kStream = Symbol('body stream');
const kUsed = Symbol('body used');

/** The lazy Request: its own answers for the common members, the real one for the rest. */
class FetchRequest {
  [kValk]: ValkRequest;
  [kReal]?: Request;
  [kHeaders]?: Headers;
  [kStream]?: ReadableStream<Uint8Array> | null;
  [kUsed] = false;
  readonly url: string;
  readonly method: string;

  constructor(req: ValkRequest) {
    this[kValk] = req;
    this.url = requestUrl(req);
    this.method = req.method;
  }

  get headers(): Headers {
    this[kHeaders] ??= new Headers(plainHeaders(this[kValk]));
    return this[kHeaders];
  }

  get signal(): AbortSignal {
    return this[kValk].signal;
  }

  get body(): ReadableStream<Uint8Array> | null {
    if (this[kReal]) return this[kReal].body;
    if (this[kStream] === undefined) this[kStream] = mayHaveBody(this.method) ? bodyStream(this[kValk]) : null;
    return this[kStream];
  }

  get bodyUsed(): boolean {
    return this[kUsed] || (this[kReal] ? this[kReal].bodyUsed : this[kStream]?.locked ?? false);
  }

  get duplex(): 'half' {
    return 'half';
  }

  /** The whole body, once (a second read rejects as the global Request's does). */
  private async whole(): Promise<Buffer> {
    if (this[kUsed]) throw new TypeError('Body is unusable: Body has already been read');
    if (this[kReal] || this[kStream]) return Buffer.from(await this.real().arrayBuffer());
    this[kUsed] = true;
    return this[kValk].bytes();
  }

  async text(): Promise<string> {
    return (await this.whole()).toString('utf8');
  }

  async json(): Promise<unknown> {
    return JSON.parse(await this.text());
  }

  async arrayBuffer(): Promise<ArrayBuffer> {
    const b = await this.whole();
    return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
  }

  async bytes(): Promise<Uint8Array> {
    return new Uint8Array(await this.arrayBuffer());
  }

  /** The global Request, made once: for the members answered here only through it. */
  real(): Request {
    if (this[kReal] === undefined) {
      const body = !this[kUsed] && mayHaveBody(this.method) ? this.body : null; // read already: bodyUsed stays true here
      this[kReal] = new Request(this.url, {
        method: this.method, headers: this.headers, body, signal: this.signal, duplex: 'half',
      } as RequestInit);
    }
    return this[kReal];
  }
}

// Every other member of the global Request (cache, mode, clone(), formData(), blob(), ...) through the real one.
for (const name of Object.getOwnPropertyNames(Request.prototype)) {
  if (name === 'constructor' || Object.prototype.hasOwnProperty.call(FetchRequest.prototype, name)) continue;
  const desc = Object.getOwnPropertyDescriptor(Request.prototype, name)!;
  if (typeof desc.value === 'function') {
    Object.defineProperty(FetchRequest.prototype, name, {
      value(this: FetchRequest, ...args: unknown[]) {
        return (this.real() as unknown as Record<string, (...a: unknown[]) => unknown>)[name](...args);
      },
      configurable: true, writable: true,
    });
  } else if (desc.get) {
    Object.defineProperty(FetchRequest.prototype, name, {
      get(this: FetchRequest) {
        return (this.real() as unknown as Record<string, unknown>)[name];
      },
      configurable: true,
    });
  }
}
Object.setPrototypeOf(FetchRequest.prototype, Request.prototype); // instanceof Request

/** The request as a global Request (a lazy one: see above). */
export function toFetchRequest(req: ValkRequest): Request {
  return new FetchRequest(req) as unknown as Request;
}

/** Where the global Response (Node's undici) keeps its state, if it does: its body's source is there. */
const kState = Object.getOwnPropertySymbols(new Response('')).find((s) => s.description === 'state');

/**
 * The body a global Response was made with, when it was a string or bytes,
 * read without its stream (a stream costs several promises a chunk); else
 * undefined, and the body is read through its public members.
 */
function sourceOf(res: Response): string | Uint8Array | undefined {
  if (kState === undefined || res.bodyUsed) return undefined;
  const src = (res as unknown as Record<symbol, { body?: { source?: unknown } } | undefined>)[kState]?.body?.source;
  return typeof src === 'string' || src instanceof Uint8Array ? src : undefined;
}

/**
 * A Response as a valk answer: its status, its headers (each set-cookie its
 * own field; connection-specific ones and content-length dropped), its body
 * whole when it was made from a string or bytes or declares a small length,
 * else streamed chunk by chunk.
 */
export function fromFetchResponse(res: Response): ValkResponse | Promise<ValkResponse> {
  if (typeof res !== 'object' || res === null || typeof res.status !== 'number' || typeof res.headers?.forEach !== 'function') {
    throw new TypeError('valk-aio: the fetch handler must return a Response');
  }
  const headers: Record<string, string | string[]> = {};
  let length: string | undefined;
  res.headers.forEach((value, name) => {
    if (DROPPED_RESPONSE_HEADERS.has(name)) {
      if (name === 'content-length') length = value;
      return;
    }
    const had = headers[name];
    if (had === undefined) headers[name] = value;
    else if (Array.isArray(had)) had.push(value);
    else headers[name] = [had, value];
  });
  const status = res.status;
  if (res.body === null) return { status, headers };
  const source = sourceOf(res);
  if (source !== undefined) return { status, headers, body: source };
  if (length !== undefined && Number(length) <= WHOLE_BODY_MAX) {
    return res.arrayBuffer().then((b) => ({ status, headers, body: Buffer.from(b) }));
  }
  return { status, headers, body: res.body as unknown as AsyncIterable<Uint8Array> };
}

/** A fetch handler as a valk Handler. */
export function toHandler(fetch: FetchHandler): Handler {
  if (typeof fetch !== 'function') throw new TypeError('valk-aio: toHandler: fetch must be a function');
  return (req) => {
    const out = fetch(toFetchRequest(req));
    return out instanceof Response ? fromFetchResponse(out) : Promise.resolve(out).then(fromFetchResponse);
  };
}
