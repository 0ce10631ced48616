// The HTTP/2 client: AioSystem.connect() -> AioClient -> request().
//
// The connection runs on the system's AIO thread (csrc/valk_h2_client.c): it
// takes a slot of the same connection slab as the servers' connections (it
// counts against maxConnections and shows in the diagnostics snapshot under
// its owner "host:port"). Thread: Node's main thread; results come back
// through the binding's uv_async_t.
import * as net from 'node:net';
import { BAD_VALUE, CONNECTION_SPECIFIC, HEADER_NAME, TOKEN } from './headers';
import { hasCode, valkError } from './errors';
import { NativeClientResponse, NativeSystem } from './native';

/** What connect() takes. */
export interface ConnectOptions {
  /** The server's address: an IPv4 or IPv6 literal, or 'localhost' (127.0.0.1). Default 127.0.0.1. */
  host?: string;
  /** The server's port. */
  port: number;
  /** PEM certificate(s) to verify the server against; without it, the system store. */
  ca?: string | Buffer;
  /** Verify the server's certificate (chain and IP address). Default true. */
  rejectUnauthorized?: boolean;
  /** A longer response body fails its request. Default 64 MiB, at most 1 GiB. */
  maxResponseBodySize?: number;
}

/** What request() takes. */
export interface ClientRequest {
  /** An HTTP method token. Default 'GET'. */
  method?: string;
  /** Starts with '/'. */
  path: string;
  /** Lower-case names; no pseudo-headers or connection-specific headers. */
  headers?: Record<string, string | number>;
  body?: string | Buffer | Uint8Array;
}

/** One client as sys.metrics().clients[] lists it (docs/metrics.md). */
export interface ClientMetrics {
  id: number;
  /** "host:port" of the server it talks to (its owner name in the diagnostics snapshot). */
  key: string;
  host: string;
  port: number;
  /** 1 while it takes requests, 0 once closed (close(), the system stopping, or the server's GOAWAY / close). */
  connected: number;
  uptime_seconds: number;
  /** Requests on the AIO thread without their answer yet (at most 32): its open streams. */
  streams_active: number;
  /** Requests queued in JavaScript behind those (at most 1,024). */
  requests_waiting: number;
  /** Requests handed to the AIO thread. */
  requests_total: number;
  /** Requests answered with a response (any status). */
  responses_total: number;
  /** Requests accepted by request() that failed: the connection closed, the stream reset, the body too long, the client closed. */
  errors: number;
}

/** A response: headers that repeat are joined with ', '. */
export interface ClientResponse {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

const DEFAULT_MAX_RESPONSE_BODY = 64 * 1024 * 1024;
const MAX_RESPONSE_BODY = 1024 * 1024 * 1024;
/** Requests of one client handed to the AIO thread at once; more wait here (the op ring holds 64). */
const MAX_IN_FLIGHT = 32;
/** Requests queued in JavaScript behind those in flight, per client; more are refused (nothing grows without bound). */
const MAX_WAITING = 1024;
/** Connection-specific fields, and host (the client sends :authority). */
const FORBIDDEN = new Set([...CONNECTION_SPECIFIC, 'host']);

function fail(what: string): TypeError {
  return new TypeError(`valk-aio: client: ${what}`);
}

/** Checks connect()'s options; returns what C takes. Throws TypeError/RangeError. */
export function resolveConnectOptions(options: ConnectOptions) {
  if (typeof options !== 'object' || options === null) throw fail('connect() takes { host?, port, ca?, rejectUnauthorized? }');
  const { host = '127.0.0.1', port, ca, rejectUnauthorized = true, maxResponseBodySize = DEFAULT_MAX_RESPONSE_BODY, ...rest } = options;
  if (Object.keys(rest).length > 0) throw fail(`unknown option '${Object.keys(rest)[0]}'`);
  const ip = host === 'localhost' ? '127.0.0.1' : host;
  if (typeof ip !== 'string' || net.isIP(ip) === 0) throw fail(`host ${String(host)} is not an IP address (or 'localhost')`);
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new RangeError(`valk-aio: client: port ${String(port)} is not an integer from 1 to 65535`);
  }
  if (ca !== undefined && typeof ca !== 'string' && !Buffer.isBuffer(ca)) throw fail('ca must be a PEM string or Buffer');
  if (typeof rejectUnauthorized !== 'boolean') throw fail('rejectUnauthorized must be a boolean');
  if (!Number.isInteger(maxResponseBodySize) || maxResponseBodySize < 0 || maxResponseBodySize > MAX_RESPONSE_BODY) {
    throw new RangeError(`valk-aio: client: maxResponseBodySize ${String(maxResponseBodySize)} is not an integer from 0 to ${MAX_RESPONSE_BODY}`);
  }
  return { host: ip, port, ca: ca === undefined ? '' : ca.toString('utf8'), rejectUnauthorized, maxResponseBodySize };
}

/** Checks a request; returns [method, path, flat headers, body]. Throws TypeError. */
function toWire(req: ClientRequest): [string, string, string[], Buffer | undefined] {
  if (typeof req !== 'object' || req === null) throw fail('request() takes { method?, path, headers?, body? }');
  const { method = 'GET', path, headers = {}, body } = req;
  if (typeof method !== 'string' || !TOKEN.test(method)) throw fail(`method ${JSON.stringify(method)} is not an HTTP token`);
  if (typeof path !== 'string' || !path.startsWith('/') || /[\s\x00-\x1f\x7f]/.test(path)) {
    throw fail(`path ${JSON.stringify(path)} must start with '/' and hold no whitespace or control characters`);
  }
  if (typeof headers !== 'object' || headers === null) throw fail('headers must be an object');
  const flat: string[] = [];
  for (const [name, value] of Object.entries(headers)) {
    if (!HEADER_NAME.test(name)) throw fail(`header name ${JSON.stringify(name)} is not a lower-case token`);
    if (FORBIDDEN.has(name)) throw fail(`header '${name}' is connection-specific and not allowed in HTTP/2`);
    if (typeof value !== 'string' && typeof value !== 'number') throw fail(`header '${name}' must be a string or number`);
    const v = String(value);
    if (BAD_VALUE.test(v)) throw fail(`header '${name}' holds CR, LF or NUL`);
    flat.push(name, v);
  }
  let buf: Buffer | undefined;
  if (typeof body === 'string') buf = Buffer.from(body, 'utf8');
  else if (body instanceof Uint8Array) buf = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  else if (body !== undefined && body !== null) throw fail('body must be a string, Buffer or Uint8Array');
  return [method, path, flat, buf && buf.length > 0 ? buf : undefined];
}

function toResponse(raw: NativeClientResponse): ClientResponse {
  const headers: Record<string, string> = {};
  for (let i = 0; i + 1 < raw.headers.length; i += 2) {
    const [n, v] = [raw.headers[i], raw.headers[i + 1]];
    headers[n] = n in headers ? `${headers[n]}, ${v}` : v;
  }
  return { status: raw.status, headers, body: raw.body };
}

function wrap(err: Error): Error {
  if (!err.message.startsWith('valk-aio')) err.message = `valk-aio: ${err.message}`;
  return err;
}

interface Waiting {
  wire: [string, string, string[], Buffer | undefined];
  resolve: (r: ClientResponse) => void;
  reject: (e: Error) => void;
}

/** One HTTP/2 client connection on a system's AIO thread. */
export class AioClient {
  private closing?: Promise<void>;
  private inFlight = 0;
  private readonly waiting: Waiting[] = [];
  private retry?: NodeJS.Timeout;
  private readonly since = Date.now();
  private requestsTotal = 0;
  private responsesTotal = 0;
  private errors = 0;

  /** @internal Use AioSystem.connect(). */
  constructor(
    private readonly handle: () => NativeSystem | undefined,
    /** @internal The system-local id of this client. */
    readonly id: number,
    readonly host: string,
    readonly port: number,
  ) {}

  /**
   * True once close() has been called, the system stopped, or the connection
   * ended from the other side (closed, or GOAWAY received): requests would fail.
   */
  get closed(): boolean {
    const h = this.handle();
    return this.closing !== undefined || h === undefined || !h.clientLive(this.id);
  }

  /**
   * Sends one request and resolves with the whole response. Rejects when the
   * client is closed, the connection closes or the stream is reset, or the body
   * passes maxResponseBodySize.
   */
  request(req: ClientRequest): Promise<ClientResponse> {
    let wire: Waiting['wire'];
    try {
      wire = toWire(req);
    } catch (err) {
      return Promise.reject(err);
    }
    if (this.closed) return Promise.reject(this.closedError());
    if (this.waiting.length >= MAX_WAITING) {
      return Promise.reject(valkError('VALK_EFULL', `valk-aio: client ${this.host}:${this.port}: ${MAX_WAITING} requests already wait for a slot`));
    }
    return new Promise((resolve, reject) => {
      this.waiting.push({
        wire,
        resolve: (r) => { this.responsesTotal++; resolve(r); },
        reject: (e) => { this.errors++; reject(e); },
      });
      this.pump();
    });
  }

  /** @internal Its entry of sys.metrics().clients[]. */
  _metrics(): ClientMetrics {
    return {
      id: this.id, key: `${this.host}:${this.port}`, host: this.host, port: this.port,
      connected: this.closed ? 0 : 1, uptime_seconds: (Date.now() - this.since) / 1000,
      streams_active: this.inFlight, requests_waiting: this.waiting.length,
      requests_total: this.requestsTotal, responses_total: this.responsesTotal, errors: this.errors,
    };
  }

  /** Hands waiting requests to the AIO thread, at most MAX_IN_FLIGHT at once. */
  private pump(): void {
    while (this.waiting.length > 0 && this.inFlight < MAX_IN_FLIGHT) {
      const w = this.waiting[0];
      const h = this.handle();
      if (!h || this.closing) {
        this.waiting.shift();
        w.reject(this.closedError());
        continue;
      }
      try {
        h.request(this.id, ...w.wire, (err, res) => {
          this.inFlight--;
          if (err || !res) w.reject(wrap(err ?? new Error('request failed')));
          else w.resolve(toResponse(res));
          this.pump();
        });
      } catch (err) {
        if (hasCode(err, 'VALK_EFULL')) {
          // Other work fills the op ring: try again shortly (or when one of ours ends).
          if (this.inFlight === 0 && !this.retry) this.retry = setTimeout(() => { this.retry = undefined; this.pump(); }, 1);
          return;
        }
        this.waiting.shift();
        w.reject(wrap(err as Error));
        continue;
      }
      this.waiting.shift();
      this.inFlight++;
      this.requestsTotal++;
    }
  }

  /** A request on a closed client: VALK_ESTOPPED, as C answers one. */
  private closedError(): Error {
    return valkError('VALK_ESTOPPED', `valk-aio: client ${this.host}:${this.port} is closed`);
  }

  /** Fails open requests, sends GOAWAY, frees the connection slot. Idempotent. */
  close(): Promise<void> {
    if (this.closing) return this.closing;
    this.closing = new Promise((resolve, reject) => {
      clearTimeout(this.retry);
      const h = this.handle();
      for (const w of this.waiting.splice(0)) w.reject(valkError('VALK_ESTOPPED', `valk-aio: client ${this.host}:${this.port}: closed`));
      if (!h) return resolve();
      try {
        h.closeClient(this.id, (err) => (err ? reject(wrap(err)) : resolve()));
      } catch (err) {
        // The system is stopping (stop() closes the connection); anything else is a real failure.
        if (hasCode(err, 'VALK_ESTOPPED')) resolve();
        else reject(wrap(err as Error));
      }
    });
    return this.closing;
  }
}
