#!/usr/bin/env node
// One client of the memory diagnostics stream with EventSource semantics
// (WHATWG HTML §9.2): it remembers the last event id and the `retry:` the
// server sent; when the stream ends or the connection fails (also when a
// reconnection attempt is refused) it waits `retry` ms and connects again,
// sending `Last-Event-ID: <last id>`. Runs until SIGTERM/SIGINT.
//
// Usage: PORT=p [RETRY_MS=3000] node bench/clients/sse-reconnect.js
//   RETRY_MS: the reconnection time before the server sent one (EventSource's
//   default is UA-defined, a few seconds; the server's first event carries
//   retry: 1000).
// stdout, one JSON line per happening, t = Date.now():
//   {"ev":{"t":..,"id":..,"retry":..,"conn":k}}     an event (conn: attempt number that got it)
//   {"open":{"t":..,"conn":k,"status":200,"last_event_id":..}}  response headers
//   {"lost":{"t":..,"conn":k,"why":"end"|"error: ..."}}     stream or connection gone
//   {"retry":{"t":..,"conn":k,"in_ms":..,"last_event_id":..}} a reconnection scheduled
'use strict';
const http2 = require('node:http2');
const { envInt, SseParser, SSE_PATH } = require('./sse-lib');

const PORT = envInt('sse-reconnect', 'PORT', 0);
let retryMs = envInt('sse-reconnect', 'RETRY_MS', 3000);
if (!PORT) { console.error('sse-reconnect: PORT is required'); process.exit(2); }

const out = (o) => process.stdout.write(JSON.stringify(o) + '\n');
let lastEventId = ''; // EventSource: the last event ID string
let conn = 0;
let stopping = false;
let current = null;
let timer = null;

function connect() {
  conn++;
  const k = conn;
  let lost = false;
  const session = http2.connect(`https://127.0.0.1:${PORT}`, { rejectUnauthorized: false });
  const headers = { ':path': SSE_PATH, accept: 'text/event-stream', 'cache-control': 'no-cache' };
  if (lastEventId !== '') headers['last-event-id'] = lastEventId;
  const sentId = lastEventId;
  const fail = (why) => {
    if (lost || stopping) return;
    lost = true;
    out({ lost: { t: Date.now(), conn: k, why } });
    session.destroy();
    out({ retry: { t: Date.now(), conn: k, in_ms: retryMs, last_event_id: lastEventId } });
    timer = setTimeout(connect, retryMs);
  };
  session.on('error', (err) => fail(`error: ${err.code || err.message}`));
  session.on('goaway', () => {});
  session.on('close', () => fail('session closed'));
  const req = session.request(headers);
  current = { session, req };
  req.setEncoding('utf8');
  req.on('response', (h) => {
    const status = Number(h[':status']);
    out({ open: { t: Date.now(), conn: k, status, last_event_id: sentId } });
    if (status !== 200) fail(`status ${status}`); // EventSource: fail the connection
  });
  req.on('error', (err) => fail(`error: ${err.code || err.message}`));
  req.on('end', () => fail('end'));
  req.on('close', () => fail('stream closed'));
  const parser = new SseParser();
  req.on('data', (chunk) => {
    const t = Date.now();
    for (const ev of parser.push(chunk)) {
      if (Number.isFinite(ev.retry) && ev.retry > 0) retryMs = ev.retry;
      if (ev.id !== undefined) lastEventId = ev.id;
      out({ ev: { t, id: ev.id === undefined ? null : Number(ev.id), retry: ev.retry ?? null, conn: k } });
    }
  });
}

const stop = () => {
  stopping = true;
  if (timer) clearTimeout(timer);
  if (current) { try { current.req.close(); current.session.destroy(); } catch { /* closing anyway */ } }
  setTimeout(() => process.exit(0), 100);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
connect();
