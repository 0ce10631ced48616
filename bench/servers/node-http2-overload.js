#!/usr/bin/env node
// Overload benchmark peer: Node's own http2.createSecureServer serving the same
// static response as bench/servers/valk-overload.js (same status, headers,
// bytes, and an EC P-256 key pair from valk-aio's generateSelfSigned), with or
// without a connection limit, printing a once-per-second sample of its counters.
//
// Usage: node bench/servers/node-http2-overload.js [port] [maxConnections]
//   port            argv[2] or $PORT            (default 0 = pick a free one)
//   maxConnections  argv[3] or $MAX_CONNECTIONS (default 0 = no limit); when > 0
//                   it is set as server.maxConnections: Node's net server then
//                   closes every socket accepted past it and emits 'drop' for it
//                   (Node >= 18.6), which is what `rejected` counts.
//
// stdout, one line each:
//   READY <port>                       once listening
//   {"sample":{...}}                   every second (and once more on SIGTERM):
//     t         ms since this script started
//     now       Date.now() (wall clock, ms)
//     ok        cumulative 2xx responses whose stream finished (stream.end callback without error)
//     bytes     cumulative response body bytes of those (body, not wire)
//     active    HTTP/2 sessions open now ('session' minus session 'close')
//     accepted  cumulative TCP connections handed to the TLS server ('connection')
//     sessions  cumulative HTTP/2 sessions ('session')
//     rejected  cumulative sockets dropped by maxConnections ('drop'); 0 without a limit
//     tls_errors cumulative 'tlsClientError' events
//     rss       process RSS, bytes
// On SIGTERM/SIGINT: closes the server, destroys open sessions, exits 0.
// Listens on 127.0.0.1 only. The sampler runs on the same (busy) event loop,
// so samples can be late; each carries its own timestamp.
'use strict';
const http2 = require('node:http2');
const path = require('node:path');
const { generateSelfSigned } = require(path.join(__dirname, '..', '..', 'dist', 'lib', 'index.js'));
const { closeOnSignal } = require('./common');

const BODY = Buffer.from('hello from valk-aio\n', 'utf8');
const T0 = Date.now();

function intArg(value, name, fallback) {
  if (value === undefined || value === '') return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) {
    console.error(`node-http2-overload: ${name} must be a non-negative integer, got '${value}'`);
    process.exit(2);
  }
  return n;
}

const port = intArg(process.argv[2] ?? process.env.PORT, 'port', 0);
const maxConnections = intArg(process.argv[3] ?? process.env.MAX_CONNECTIONS, 'maxConnections', 0);
if (port > 65535) {
  console.error(`node-http2-overload: port must be from 0 to 65535, got ${port}`);
  process.exit(2);
}

const { key, cert } = generateSelfSigned(['localhost', '127.0.0.1']);
const server = http2.createSecureServer({ key, cert, allowHTTP1: false });
if (maxConnections > 0) server.maxConnections = maxConnections;

let ok = 0;
let bytes = 0;
let active = 0;
let peakActive = 0;
let accepted = 0;
let sessionsTotal = 0;
let rejected = 0;
let tlsErrors = 0;
const sessions = new Set();

server.on('connection', () => { accepted++; });
server.on('drop', () => { rejected++; });
server.on('tlsClientError', () => { tlsErrors++; });
// Errors of sessions that clients abandon are expected under overload; never crash on them.
server.on('sessionError', () => {});

server.on('session', (session) => {
  sessions.add(session);
  sessionsTotal++;
  active++;
  if (active > peakActive) peakActive = active;
  session.on('close', () => {
    sessions.delete(session);
    active--;
  });
});

const onEnd = (err) => {
  if (!err) { ok++; bytes += BODY.length; }
};

// Same bytes on the wire as valk-aio: :status 200, content-length, content-type.
// sendDate: false because valk-aio sends no date header.
server.on('stream', (stream) => {
  stream.on('error', () => {});
  try {
    stream.respond({
      ':status': 200,
      'content-length': BODY.length,
      'content-type': 'text/plain',
    }, { sendDate: false });
    stream.end(BODY, onEnd);
  } catch {
    // The session went away under us; not a 2xx.
  }
});
server.on('error', (err) => {
  console.error(`node-http2-overload: ${err && err.stack || err}`);
  process.exit(1);
});

function sample() {
  const now = Date.now();
  process.stdout.write(JSON.stringify({
    sample: {
      t: now - T0,
      now,
      ok,
      bytes,
      active,
      peak_active: peakActive,
      accepted,
      sessions: sessionsTotal,
      rejected,
      tls_errors: tlsErrors,
      rss: process.memoryUsage.rss(),
      src: maxConnections > 0 ? `node maxConnections=${maxConnections}` : 'node unlimited',
    },
  }) + '\n');
}
const timer = setInterval(sample, 1000);

server.listen(port, '127.0.0.1', () => {
  process.stdout.write(`READY ${server.address().port}\n`);
  sample();
});

closeOnSignal(server, sessions, () => {
  clearInterval(timer);
  sample();
});
