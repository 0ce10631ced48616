// What the adapter tests share: a system per test, stopped clean after it,
// and an HTTP/2 client: one request with any method, headers and body,
// bounded in time, and its whole answer.
import * as http2 from 'node:http2';
import { afterEach, expect } from 'vitest';
import { AioSystem, ListenOptions, startWithConfig } from '../lib/system';
import { keyPair, stopAll, trackedSession } from './helpers';

/**
 * For a test file: serve(options) starts a system and listens on 127.0.0.1
 * with a key pair and options; after each test the sessions are destroyed
 * and the systems stopped, each expected to have released everything.
 */
export function adapterServers() {
  const systems: AioSystem[] = [];
  const sessions: http2.ClientHttp2Session[] = [];
  afterEach(() => stopAll(sessions, systems));
  return {
    systems,
    async serve(options: Partial<ListenOptions>) {
      const sys = startWithConfig({});
      systems.push(sys);
      const srv = await sys.listen({ host: '127.0.0.1', port: 0, ...keyPair(), ...options });
      return { sys, srv, session: () => trackedSession(srv.port, sessions) };
    },
  };
}

export interface Answer {
  status: number;
  headers: http2.IncomingHttpHeaders;
  body: string;
  /** Body chunks as they arrived. */
  chunks: number;
  /** The trailer fields, if any came. */
  trailers?: http2.IncomingHttpHeaders;
}

export interface Ask {
  method?: string;
  headers?: Record<string, string | string[]>;
  body?: string | Buffer;
  json?: unknown;
  /** Default 10 s. */
  timeoutMs?: number;
}

/** One request on an open session; rejects on a stream error or after timeoutMs. */
export function ask(s: http2.ClientHttp2Session, path: string, opts: Ask = {}): Promise<Answer> {
  let body = opts.body;
  const headers: Record<string, string | string[]> = { ':path': path, ':method': opts.method ?? (body === undefined && opts.json === undefined ? 'GET' : 'POST'), ...opts.headers };
  if (opts.json !== undefined) {
    body = JSON.stringify(opts.json);
    headers['content-type'] = 'application/json';
  }
  if (body !== undefined) headers['content-length'] = String(Buffer.byteLength(body));
  return new Promise((resolve, reject) => {
    const req = s.request(headers);
    const timer = setTimeout(() => { req.close(); reject(new Error(`${path}: no answer in ${opts.timeoutMs ?? 10_000} ms`)); }, opts.timeoutMs ?? 10_000);
    let status = 0;
    let got: http2.IncomingHttpHeaders = {};
    let trailers: http2.IncomingHttpHeaders | undefined;
    const parts: Buffer[] = [];
    req.on('response', (h) => { got = h; status = Number(h[':status']); });
    req.on('trailers', (t) => { trailers = t; });
    req.on('data', (d: Buffer) => parts.push(d));
    req.on('end', () => { clearTimeout(timer); resolve({ status, headers: got, body: Buffer.concat(parts).toString('utf8'), chunks: parts.length, trailers }); });
    req.on('error', (e) => { clearTimeout(timer); reject(e); });
    req.end(body);
  });
}

/** The 'error' events of a server (handler failures), as they come. */
export function errorsOf(srv: { on(event: 'error', fn: (e: Error) => void): unknown }): Error[] {
  const errors: Error[] = [];
  srv.on('error', (e) => errors.push(e));
  return errors;
}

/**
 * GET /cookies of both test apps: two cookies set, a Connection field set (to
 * be dropped), body 'cookies'.
 */
export async function expectTwoCookies(s: http2.ClientHttp2Session): Promise<void> {
  const r = await ask(s, '/cookies');
  expect(r.status).toBe(200);
  expect(r.headers['set-cookie']).toEqual(['a=1; Path=/', 'b=2; Path=/; HttpOnly']);
  expect(r.headers.connection).toBeUndefined();
  expect(r.body).toBe('cookies');
}

/** A promise bounded in time. */
export function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([p, new Promise<T>((_, reject) => { timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms); })])
    .finally(() => clearTimeout(timer));
}
