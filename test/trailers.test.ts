// Response trailers (docs/design.md §7, lib/trailers.ts): fields after the body, as a HEADERS
// frame that ends the HTTP/2 stream (gRPC's grpc-status). Whole and streaming bodies, trailers
// given or computed once the body is out, HTTP/1.1 (dropped), bad fields, and a client that
// resets before the trailers go: nothing leaks. Every listener is on 127.0.0.1.
import * as http2 from 'node:http2';
import * as https from 'node:https';
import { afterEach, describe, expect, it } from 'vitest';
import { AioSystem, startWithConfig } from '../lib/system';
import { TRAILERS_MAX, encodeTrailers } from '../lib/trailers';
import { CLEAN_STOP, connect, keyPair, waitFor } from './helpers';

const systems: AioSystem[] = [];
const sessions: http2.ClientHttp2Session[] = [];
afterEach(async () => {
  for (const s of sessions.splice(0)) s.destroy();
  for (const sys of systems.splice(0)) if (sys.running) expect(await sys.stop()).toEqual(CLEAN_STOP);
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const GRPC_BODY = Buffer.from([0, 0, 0, 0, 2, 8, 1]); // one length-prefixed message

async function serve() {
  const sys = startWithConfig({ maxConnections: 8 });
  systems.push(sys);
  const errors: Error[] = [];
  const srv = await sys.listen({
    host: '127.0.0.1', port: 0, ...keyPair(),
    handler: async (req) => {
      if (req.path === '/grpc') {
        return { status: 200, headers: { 'content-type': 'application/grpc' }, body: GRPC_BODY, trailers: { 'grpc-status': '0', 'grpc-message': 'OK' } };
      }
      if (req.path === '/stream') {
        let sum = '';
        const body = (async function* () { for (const part of ['a', 'b', 'c']) { sum += part; yield part; } })();
        return { status: 200, body, trailers: async () => ({ 'x-sum': sum, 'x-list': ['1', '2'] }) };
      }
      if (req.path === '/slow') { // the trailers take a while: the client resets meanwhile
        return { status: 200, body: 'x', trailers: async () => { await sleep(300); return { 'x-late': '1' }; } };
      }
      if (req.path === '/bad-name') return { status: 200, body: 'x', trailers: { 'Content-Length': '1' } };
      if (req.path === '/bad-late') return { status: 200, body: 'x', trailers: () => ({ 'bad name': 'v' }) };
      return { status: 200, body: 'plain' };
    },
  });
  srv.on('error', (e: Error) => errors.push(e));
  return { sys, srv, errors };
}

interface Got { status: number; body: Buffer; trailers?: http2.IncomingHttpHeaders; error?: string }

function ask(s: http2.ClientHttp2Session, path: string, method = 'GET'): Promise<Got> {
  return new Promise((resolve) => {
    const r = s.request({ ':path': path, ':method': method });
    const parts: Buffer[] = [];
    const got: Got = { status: 0, body: Buffer.alloc(0) };
    r.on('response', (h) => { got.status = Number(h[':status']); });
    r.on('trailers', (t) => { got.trailers = t; });
    r.on('data', (d: Buffer) => parts.push(d));
    r.on('end', () => resolve({ ...got, body: Buffer.concat(parts) }));
    r.on('error', (e) => resolve({ ...got, body: Buffer.concat(parts), error: e.message }));
  });
}

async function session(port: number): Promise<http2.ClientHttp2Session> {
  const s = await connect(port);
  s.on('error', () => {});
  sessions.push(s);
  return s;
}

describe('response trailers', () => {
  it('encodeTrailers: names lower-cased, arrays repeated, framing and connection fields refused, bounded', () => {
    expect(encodeTrailers({ 'Grpc-Status': 0, 'x-l': ['a', 'b'] }).toString()).toBe('grpc-status\u00000\u0000x-l\u0000a\u0000x-l\u0000b\u0000');
    for (const name of ['content-length', 'Transfer-Encoding', 'connection', 'host', ':status', 'bad name', 'trailer']) {
      expect(() => encodeTrailers({ [name]: '1' }), name).toThrow(/not allowed/);
    }
    expect(() => encodeTrailers({ 'x-a': 'a\r\nb' })).toThrow(/CR, LF or NUL/);
    const many = Object.fromEntries(Array.from({ length: TRAILERS_MAX + 1 }, (_, i) => [`x-${i}`, 'v']));
    expect(() => encodeTrailers(many)).toThrow(/65 trailer fields exceed 64/);
    expect(() => encodeTrailers({ 'x-big': 'v'.repeat(16 * 1024) })).toThrow(/bytes exceed 16384/);
  });

  it('test_grpc_trailers: a whole body with grpc-status after it; a streaming body with trailers computed once it is out', async () => {
    const { sys, srv } = await serve();
    const s = await session(srv.port);
    const g = await ask(s, '/grpc');
    expect([g.status, g.body.equals(GRPC_BODY), g.trailers?.['grpc-status'], g.trailers?.['grpc-message']]).toEqual([200, true, '0', 'OK']);
    const st = await ask(s, '/stream');
    expect([st.status, st.body.toString(), st.trailers?.['x-sum'], st.trailers?.['x-list']]).toEqual([200, 'abc', 'abc', '1, 2']);
    const plain = await ask(s, '/plain');
    expect([plain.body.toString(), plain.trailers]).toEqual(['plain', undefined]);
    const head = await ask(s, '/grpc', 'HEAD'); // nobody reads the body: the trailers go back unsent
    expect([head.status, head.body.length]).toEqual([200, 0]);
    expect(sys.metrics().system.responses_trailers).toBe(2);
    for (let i = 0; i < 50; i++) expect((await ask(s, '/grpc')).trailers?.['grpc-status']).toBe('0'); // one session, many
  });

  it('HTTP/1.1 drops the trailers: the body arrives whole and the connection stays usable', async () => {
    const { srv } = await serve();
    const agent = new https.Agent({ keepAlive: true, maxSockets: 1, rejectUnauthorized: false });
    try {
      for (let i = 0; i < 3; i++) {
        const r = await new Promise<{ body: string; trailers: NodeJS.Dict<string> }>((resolve, reject) => {
          https.get({ host: '127.0.0.1', port: srv.port, path: '/stream', agent }, (res) => {
            let body = '';
            res.setEncoding('utf8').on('data', (d) => { body += d; }).on('end', () => resolve({ body, trailers: res.trailers }));
          }).on('error', reject);
        });
        expect(r).toEqual({ body: 'abc', trailers: {} });
      }
    } finally {
      agent.destroy();
    }
  });

  it('bad trailers: refused before anything went (500), or after the body (the stream is reset); each reported', async () => {
    const { srv, errors } = await serve();
    const s = await session(srv.port);
    expect((await ask(s, '/bad-name')).status).toBe(500);
    const late = await ask(s, '/bad-late');
    expect(late.status).toBe(200);
    expect(late.error).toMatch(/NGHTTP2_INTERNAL_ERROR|code 2/);
    await waitFor(() => errors.length === 2);
    expect(errors.map((e) => e.message)).toEqual(["valk-aio: trailer field 'Content-Length' is not allowed", "valk-aio: trailer field 'bad name' is not allowed"]);
    expect((await ask(s, '/grpc')).trailers?.['grpc-status']).toBe('0'); // the connection is fine
  });

  it('a client that resets before the trailers go: nothing held (a clean stop)', async () => {
    const { sys, srv } = await serve();
    const s = await session(srv.port);
    for (let i = 0; i < 5; i++) {
      const r = s.request({ ':path': '/slow' });
      r.on('error', () => {});
      r.on('data', () => r.close(http2.constants.NGHTTP2_CANCEL)); // the body came: reset while the trailers wait
    }
    await sleep(600); // the trailers came and found their streams gone
    expect((await ask(s, '/grpc')).trailers?.['grpc-status']).toBe('0');
    expect(await sys.stop()).toEqual(CLEAN_STOP);
  });
});
