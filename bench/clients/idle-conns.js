#!/usr/bin/env node
// Opens CONNS idle HTTP/2 (TLS, ALPN h2) connections to 127.0.0.1:PORT and
// holds them until SIGTERM/SIGINT: they fill valk-aio's connection slab
// (state I, idle) for bench/sse.sh's snapshot-time measurement.
//
// Usage: PORT=p CONNS=4000 [PARALLEL=100] node bench/clients/idle-conns.js
//   A connection counts once the server's SETTINGS arrived (the server
//   finished the handshake and set the connection up). At most PARALLEL are
//   being set up at once.
// stdout:
//   {"progress":n}                        every 500 connections
//   {"connected":n,"failed":f,"ms":t,"first_error":...}   when all were tried
//   {"closed_by_server":k}                on exit: connections the server closed
'use strict';
const http2 = require('node:http2');
const { envInt } = require('./sse-lib');

const PORT = envInt('idle-conns', 'PORT', 0);
const CONNS = envInt('idle-conns', 'CONNS', 4000);
const PARALLEL = Math.max(1, envInt('idle-conns', 'PARALLEL', 100));
if (!PORT) { console.error('idle-conns: PORT is required'); process.exit(2); }

const sessions = [];
let connected = 0, failed = 0, started = 0, closedByServer = 0, firstError = null;
const t0 = Date.now();

function openOne() {
  return new Promise((resolve) => {
    const s = http2.connect(`https://127.0.0.1:${PORT}`, { rejectUnauthorized: false });
    let settled = false;
    const finish = (ok, err) => {
      if (settled) return;
      settled = true;
      if (ok) { connected++; sessions.push(s); s.setTimeout(0); } else { failed++; if (!firstError && err) firstError = String(err.code || err.message || err); s.destroy(); }
      resolve();
    };
    s.on('remoteSettings', () => finish(true));
    s.on('error', (err) => finish(false, err));
    s.on('goaway', () => {});
    s.on('close', () => { if (settled && !stopping) closedByServer++; finish(false, new Error('closed before SETTINGS')); });
    s.setTimeout(30000, () => finish(false, new Error('timeout')));
  });
}

let stopping = false;
async function worker() {
  while (started < CONNS) {
    started++;
    await openOne();
    if ((connected + failed) % 500 === 0) process.stdout.write(JSON.stringify({ progress: connected + failed }) + '\n');
  }
}

function stop() {
  if (stopping) return;
  stopping = true;
  process.stdout.write(JSON.stringify({ closed_by_server: closedByServer }) + '\n');
  for (const s of sessions) s.destroy();
  setTimeout(() => process.exit(0), 200);
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

Promise.all(Array.from({ length: PARALLEL }, worker)).then(() => {
  process.stdout.write(JSON.stringify({ connected, failed, ms: Date.now() - t0, first_error: firstError }) + '\n');
});
