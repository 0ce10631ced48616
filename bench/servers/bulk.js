#!/usr/bin/env node
// Benchmark servers for bench/bulk.sh: one large response body, the same
// bytes from each server.
//
// Usage: node bench/servers/bulk.js SERVER SIZE [port]
//   SERVER  valk-handler  valk-aio, a JavaScript handler answering a Buffer
//           valk-static   valk-aio, a static route
//           node          Node's own http2 (core API), stream.respond + end(buffer)
//   Uploads (bench/bulk.sh MODE=up: each request POSTs SIZE bytes, the answer is their count):
//           valk-handler-up  valk-aio, a handler reading req.body (buffered, the default)
//           valk-stream-up   valk-aio, requestBodies 'stream': for await (const chunk of req)
//           node-up          Node's http2, counting the stream's 'data', with valk-aio's
//                            flow-control windows (256 KiB per stream, 1 MiB per connection)
//           node-buffer-up   the same, the body collected into one Buffer first (Buffer.concat):
//                            what req.body gives a valk-aio handler
//   SIZE    body bytes
// Prints `READY <port>` once listening; SIGTERM stops it (valk-aio prints its
// stop report as one JSON line). Listens on 127.0.0.1 only.
'use strict';
const http2 = require('node:http2');
const { closeOnSignal, intArg: intArgOf, stopOnSignal, valk } = require('./common');
const intArg = (value, name, fallback) => intArgOf('bulk', value, name, fallback);

const kind = process.argv[2];
const size = intArg(process.argv[3], 'SIZE', 256 * 1024);
const port = intArg(process.argv[4] ?? process.env.PORT, 'port', 0);
const body = Buffer.alloc(size, 'x');
const headers = { 'content-type': 'application/octet-stream' };

async function valkServer(mode) {
  const sys = valk.startWithConfig({ maxConnections: 1000 });
  const { key, cert } = valk.generateSelfSigned(['127.0.0.1']);
  const answer = mode === 'handler' ? { handler: () => ({ status: 200, headers, body }) }
    : { routes: { '/': { status: 200, headers, body } } };
  const srv = await sys.listen({ host: '127.0.0.1', port, key, cert, maxResponseBodySize: Math.max(size, 1024), ...answer });
  stopOnSignal('bulk', sys, (r) => ({ leakedConnections: r.leakedConnections, leakedTcpBuffers: r.leakedTcpBuffers, leakedArenas: r.leakedArenas }));
  return srv.port;
}

/** A handler that counts the request body: buffered, or streamed. */
async function valkUpload(mode) {
  const sys = valk.startWithConfig({ maxConnections: 1000, maxRequestBodySize: Math.max(2 * size, 1024 * 1024) });
  const { key, cert } = valk.generateSelfSigned(['127.0.0.1']);
  const handler = mode === 'stream'
    ? async (req) => {
      let n = 0;
      for await (const chunk of req) n += chunk.length;
      return { status: 200, body: String(n) };
    }
    : (req) => ({ status: 200, body: String(req.body.length) });
  const srv = await sys.listen({ host: '127.0.0.1', port, key, cert, handler, requestBodies: mode });
  stopOnSignal('bulk', sys, (r) => ({ leakedConnections: r.leakedConnections, leakedTcpBuffers: r.leakedTcpBuffers, leakedArenas: r.leakedArenas }));
  return srv.port;
}

async function nodeUpload(collect) {
  const { key, cert } = valk.generateSelfSigned(['127.0.0.1']);
  const server = http2.createSecureServer({ key, cert, allowHTTP1: false, settings: { initialWindowSize: 256 * 1024 } });
  const sessions = new Set();
  server.on('session', (s) => {
    sessions.add(s);
    s.on('close', () => sessions.delete(s));
    s.setLocalWindowSize(1024 * 1024);
  });
  server.on('stream', (stream) => {
    let n = 0;
    const parts = [];
    stream.on('data', (d) => {
      n += d.length;
      if (collect) parts.push(d);
    });
    stream.on('end', () => {
      if (collect) n = Buffer.concat(parts, n).length;
      stream.respond({ ':status': 200 });
      stream.end(String(n));
    });
  });
  await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve));
  closeOnSignal(server, sessions);
  return server.address().port;
}

async function nodeServer() {
  const { key, cert } = valk.generateSelfSigned(['127.0.0.1']);
  // maxSessionMemory (MB): Node's default (10) refuses streams once 10 x 16 MiB bodies are queued.
  const server = http2.createSecureServer({ key, cert, allowHTTP1: false, maxSessionMemory: 1000 });
  const sessions = new Set();
  server.on('session', (s) => { sessions.add(s); s.on('close', () => sessions.delete(s)); });
  server.on('stream', (stream) => {
    stream.respond({ ':status': 200, ...headers, 'content-length': size });
    stream.end(body);
  });
  await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve));
  closeOnSignal(server, sessions);
  return server.address().port;
}

const kinds = {
  node: nodeServer, 'valk-handler': () => valkServer('handler'), 'valk-static': () => valkServer('static'),
  'valk-handler-up': () => valkUpload('buffer'), 'valk-stream-up': () => valkUpload('stream'),
  'node-up': () => nodeUpload(false), 'node-buffer-up': () => nodeUpload(true),
};
const start = kinds[kind] ? kinds[kind]() : Promise.reject(new Error(`unknown server '${kind}'`));
start.then((p) => process.stdout.write(`READY ${p}\n`), (err) => {
  console.error(`bulk: ${err && err.stack || err}`);
  process.exit(1);
});
