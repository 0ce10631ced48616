#!/usr/bin/env node
// Peer for bench/hostile.sh: Node's own http2.createSecureServer with Node's
// defaults (no options but the key pair), serving the same paths as
// bench/servers/valk-hostile.js:
//
//   /          "hello from valk-aio\n" (one shared Buffer: what a static file server does)
//   /big       BIG_BYTES bytes (default 1 MiB), one shared Buffer
//   /js        200, "<method> <path> <body bytes>\n" once the request body ended
//   /js/big    a fresh BIG_BYTES-byte body per request
//   /health    {"status":"ok"}
//   else       404
//
// Usage: node bench/servers/node-http2-hostile.js [port]
//   port       argv[2] (default 0 = pick a free one); 127.0.0.1 only
//   KEY_FILE, CERT_FILE  PEM key pair (required: bench/hostile.sh makes one with openssl)
//   BIG_BYTES  size of /big and /js/big
//
// stdout: `READY <port>` once listening; SIGTERM/SIGINT closes the server
// (sessions destroyed) and exits 0. Does not load valk-aio.
'use strict';
const fs = require('node:fs');
const http2 = require('node:http2');

const port = Number(process.argv[2] ?? 0);
const bigBytes = Number(process.env.BIG_BYTES ?? 1024 * 1024);
if (!Number.isInteger(port) || port < 0 || port > 65535 || !Number.isInteger(bigBytes) || bigBytes < 0) {
  console.error('node-http2-hostile: bad port or BIG_BYTES');
  process.exit(2);
}
if (!process.env.KEY_FILE || !process.env.CERT_FILE) {
  console.error('node-http2-hostile: KEY_FILE and CERT_FILE are required');
  process.exit(2);
}
const key = fs.readFileSync(process.env.KEY_FILE, 'utf8');
const cert = fs.readFileSync(process.env.CERT_FILE, 'utf8');
const BODY = Buffer.from('hello from valk-aio\n');
const BIG = Buffer.alloc(bigBytes, 0x62);

const server = http2.createSecureServer({ key, cert });
const sessions = new Set();
server.on('session', (s) => {
  sessions.add(s);
  s.on('error', () => {});
  s.on('close', () => sessions.delete(s));
});
server.on('stream', (stream, headers) => {
  stream.on('error', () => {});
  const path = String(headers[':path'] || '').split('?')[0];
  const text = { 'content-type': 'text/plain' };
  if (path === '/') {
    stream.respond({ ':status': 200, ...text, 'content-length': BODY.length });
    stream.end(BODY);
  } else if (path === '/big') {
    stream.respond({ ':status': 200, 'content-type': 'application/octet-stream', 'content-length': BIG.length });
    stream.end(BIG);
  } else if (path === '/health') {
    stream.respond({ ':status': 200, 'content-type': 'application/json' });
    stream.end('{"status":"ok"}\n');
  } else if (path === '/js/big') {
    stream.respond({ ':status': 200, ...text, 'content-length': bigBytes });
    stream.end(Buffer.alloc(bigBytes, 0x6a));
  } else if (path === '/js') {
    let n = 0;
    stream.on('data', (d) => (n += d.length));
    stream.on('end', () => {
      if (stream.destroyed) return;
      stream.respond({ ':status': 200, ...text });
      stream.end(`${headers[':method']} ${path} ${n}\n`);
    });
  } else {
    stream.respond({ ':status': 404, ...text });
    stream.end('not found\n');
  }
});
server.on('error', (err) => {
  console.error(`node-http2-hostile: ${err && err.stack || err}`);
  process.exit(1);
});
server.listen(port, '127.0.0.1', () => process.stdout.write(`READY ${server.address().port}\n`));

let stopping = false;
function stop() {
  if (stopping) return;
  stopping = true;
  server.close(() => process.exit(0));
  for (const s of sessions) s.destroy();
  setTimeout(() => process.exit(0), 5000).unref();
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
