#!/usr/bin/env node
// N concurrent clients of valk-aio's memory diagnostics stream, each on its
// own HTTP/2 connection (as N browser tabs would be), counting events.
//
// Usage: PORT=p [N=100] [DURATION=60] [OPEN_TIMEOUT=30] node bench/clients/sse-clients.js
//   Opens N streams (GET /debug/diagnostics/memory); once every one has had
//   its first event the measured window starts and lasts DURATION seconds;
//   then it prints the summary and exits 0 (1 if a stream failed to open,
//   ended or errored, 2 on bad arguments).
// stdout, one line each:
//   {"opened":n,"ms":t}      every stream has its first event
//   {"started":<Date.now()>} the window starts (bench/sse.sh reads the server's RSS)
//   {"ended":<Date.now()>}   the window ends (and again RSS)
//   {"summary":{...}}        per-client counts and the aggregates:
//     clients[i] = {events, rate, max_gap_ms, max_gap_at, max_gap_ts, max_latency_ms,
//                   max_latency_at, id_gaps, id_backwards, first_id, last_id, status, error, ended}
//       events: events received in the window; rate = events / DURATION;
//       max_gap_ms: longest wait between two events in the window (window
//       edges included), max_gap_at: when it ended (Date.now()), max_gap_ts:
//       the "ts" (snapshot time) of the events before and after it;
//       latency: receipt time - the snapshot's "ts" (same machine, same clock);
//       id_gaps: ids missing between consecutive events (snapshots skipped by
//       the server for this client).
//     latency_ms: p50 / p99 / max over every event of every client.
//     sizes: bytes of one event on the wire (event/id/data lines + blank line)
//       and of its JSON (data line): min / median / max over every event.
'use strict';
const http2 = require('node:http2');
const { envInt, SseParser, SSE_PATH } = require('./sse-lib');

const PORT = envInt('sse-clients', 'PORT', 0);
const N = envInt('sse-clients', 'N', 100);
const DURATION = envInt('sse-clients', 'DURATION', 60);
const OPEN_TIMEOUT = envInt('sse-clients', 'OPEN_TIMEOUT', 30);
if (!PORT || N < 1 || DURATION < 1) { console.error('sse-clients: PORT, N >= 1 and DURATION >= 1 are required'); process.exit(2); }

const t0 = Date.now();
let windowStart = 0, windowEnd = 0;
const eventBytes = [], jsonBytes = [], latencies = [];
const clients = [];

function openClient(i) {
  const c = { i, total: 0, events: 0, lastT: 0, maxGap: 0, maxGapAt: 0, maxGapTs: [], maxLat: 0, maxLatAt: 0, prevTs: 0, idGaps: 0, idBackwards: 0, firstId: null, lastId: null,
    status: 0, error: null, ended: false, session: null, req: null };
  const session = http2.connect(`https://127.0.0.1:${PORT}`, { rejectUnauthorized: false });
  c.session = session;
  session.on('error', (err) => { c.error = c.error || `session: ${err.code || err.message}`; });
  session.on('goaway', () => {});
  const req = session.request({ ':path': SSE_PATH, accept: 'text/event-stream' });
  c.req = req;
  req.setEncoding('utf8');
  req.on('response', (h) => { c.status = Number(h[':status']); });
  req.on('error', (err) => { c.error = c.error || `stream: ${err.code || err.message}`; });
  req.on('end', () => { c.ended = true; });
  req.on('close', () => { if (!finishing) c.ended = true; });
  const parser = new SseParser();
  req.on('data', (chunk) => {
    const now = Date.now();
    for (const ev of parser.push(chunk)) {
      c.total++;
      const id = Number(ev.id);
      if (c.lastId !== null) {
        if (id > c.lastId + 1) c.idGaps += id - c.lastId - 1;
        else if (id <= c.lastId) c.idBackwards++;
      }
      c.lastId = id;
      if (windowStart && now >= windowStart && !windowEnd) {
        if (c.firstId === null) c.firstId = id;
        c.events++;
        const gap = now - (c.lastT > windowStart ? c.lastT : windowStart);
        const m = /"ts":(\d+)/.exec(ev.data || '');
        const ts = m ? Number(m[1]) : 0;
        if (gap > c.maxGap) { c.maxGap = gap; c.maxGapAt = now; c.maxGapTs = [c.prevTs, ts]; }
        if (ts) {
          const lat = now - ts;
          latencies.push(lat);
          if (lat > c.maxLat) { c.maxLat = lat; c.maxLatAt = now; }
          c.prevTs = ts;
        }
        c.lastT = now;
        eventBytes.push(ev.bytes);
        jsonBytes.push(ev.data === undefined ? 0 : Buffer.byteLength(ev.data));
      } else if (!windowStart) {
        c.lastT = now;
        eventBytes.push(ev.bytes);
        jsonBytes.push(ev.data === undefined ? 0 : Buffer.byteLength(ev.data));
      }
    }
  });
  clients.push(c);
}

function stats(a) {
  if (a.length === 0) return { min: null, median: null, max: null };
  const s = [...a].sort((x, y) => x - y);
  const mid = s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
  return { min: s[0], median: mid, max: s[s.length - 1] };
}

function pctl(a, p) {
  if (a.length === 0) return null;
  const s = [...a].sort((x, y) => x - y);
  return s[Math.max(0, Math.ceil(p * s.length) - 1)];
}

let finishing = false;
function finish(code) {
  finishing = true;
  for (const c of clients) {
    if (windowStart && windowEnd) c.maxGap = Math.max(c.maxGap, windowEnd - (c.lastT > windowStart ? c.lastT : windowStart));
  }
  const per = clients.map((c) => ({
    i: c.i, events: c.events, rate: +(c.events / DURATION).toFixed(3), max_gap_ms: c.maxGap, max_gap_at: c.maxGapAt,
    max_gap_ts: c.maxGapTs, max_latency_ms: c.maxLat, max_latency_at: c.maxLatAt, id_gaps: c.idGaps,
    id_backwards: c.idBackwards, first_id: c.firstId, last_id: c.lastId, status: c.status, error: c.error, ended: c.ended,
  }));
  const summary = {
    n: N, duration_s: DURATION, window_ms: windowEnd && windowStart ? windowEnd - windowStart : null,
    rate: stats(per.map((p) => p.rate)),
    max_gap_ms: stats(per.map((p) => p.max_gap_ms)),
    max_gap_at: stats(per.map((p) => p.max_gap_at)),
    latency_ms: { p50: pctl(latencies, 0.5), p99: pctl(latencies, 0.99), max: latencies.length ? Math.max(...latencies) : null, n: latencies.length },
    id_gaps_total: per.reduce((a, p) => a + p.id_gaps, 0),
    id_backwards_total: per.reduce((a, p) => a + p.id_backwards, 0),
    failed: per.filter((p) => p.status !== 200 || p.error || p.ended).length,
    sizes: { event_bytes: stats(eventBytes), json_bytes: stats(jsonBytes), n: eventBytes.length },
    clients: per,
  };
  process.stdout.write(JSON.stringify({ summary }) + '\n');
  for (const c of clients) { try { c.req.close(); c.session.destroy(); } catch { /* closing anyway */ } }
  setTimeout(() => process.exit(code), 100);
}

process.on('SIGTERM', () => finish(1));
process.on('SIGINT', () => finish(1));

for (let i = 0; i < N; i++) openClient(i);
const openDeadline = t0 + OPEN_TIMEOUT * 1000;
const waitOpen = setInterval(() => {
  const opened = clients.filter((c) => c.total > 0).length;
  if (opened === N) {
    clearInterval(waitOpen);
    process.stdout.write(JSON.stringify({ opened, ms: Date.now() - t0 }) + '\n');
    windowStart = Date.now();
    process.stdout.write(JSON.stringify({ started: windowStart }) + '\n');
    setTimeout(() => {
      windowEnd = Date.now();
      process.stdout.write(JSON.stringify({ ended: windowEnd }) + '\n');
      const bad = clients.some((c) => c.status !== 200 || c.error || c.ended);
      finish(bad ? 1 : 0);
    }, DURATION * 1000);
  } else if (Date.now() > openDeadline) {
    clearInterval(waitOpen);
    const notOpen = clients.filter((c) => c.total === 0);
    console.error(`sse-clients: ${notOpen.length} of ${N} streams had no event after ${OPEN_TIMEOUT} s; first: status ${notOpen[0].status} ${notOpen[0].error || ''}`);
    finish(1);
  }
}, 20);
