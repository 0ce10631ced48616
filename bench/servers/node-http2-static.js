#!/usr/bin/env node
// Benchmark peer: Node's own http2 (core API, 'stream' event) serving the same
// static response as bench/servers/valk-static.js: same status, headers, bytes,
// and the same kind of key pair (valk-aio's generateSelfSigned: EC P-256), so
// the TLS costs are the same on both sides.
//
// Usage: node bench/servers/node-http2-static.js [port]
//   port  argv[2] or $PORT (default 0 = pick a free one)
//
// Prints `READY <port>` on stdout once listening; SIGTERM/SIGINT closes the
// server (open sessions are destroyed) and exits 0. Listens on 127.0.0.1 only.
'use strict';
const http2 = require('node:http2');
const path = require('node:path');
const { generateSelfSigned } = require(path.join(__dirname, '..', '..', 'dist', 'lib', 'index.js'));
const { closeOnSignal } = require('./common');

const BODY = Buffer.from('hello from valk-aio\n', 'utf8');

const portArg = process.argv[2] ?? process.env.PORT ?? '0';
const port = Number(portArg);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`node-http2-static: port must be an integer from 0 to 65535, got '${portArg}'`);
  process.exit(2);
}

// TLS=0: cleartext HTTP/2 with prior knowledge (http2.createServer), as bench/static.sh TLS=0 runs it.
const server = process.env.TLS === '0' ? http2.createServer()
  : http2.createSecureServer({ ...generateSelfSigned(['localhost', '127.0.0.1']), allowHTTP1: false });
const sessions = new Set();

server.on('session', (session) => {
  sessions.add(session);
  session.on('close', () => sessions.delete(session));
});

// Same bytes on the wire as valk-aio: :status 200, content-length, content-type.
// sendDate: false because valk-aio sends no date header.
server.on('stream', (stream) => {
  stream.respond({
    ':status': 200,
    'content-length': BODY.length,
    'content-type': 'text/plain',
  }, { sendDate: false });
  stream.end(BODY);
});
server.on('error', (err) => {
  console.error(`node-http2-static: ${err && err.stack || err}`);
  process.exit(1);
});

server.listen(port, '127.0.0.1', () => {
  process.stdout.write(`READY ${server.address().port}\n`);
});

closeOnSignal(server, sessions);
