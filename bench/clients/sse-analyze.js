#!/usr/bin/env node
// bench/sse.sh's arithmetic on the raw outputs of its processes: prints
// KEY=VALUE lines (numbers, or "nan" when missing) for the shell to read.
//
//   node bench/clients/sse-analyze.js snap <server.stdout> <clients.stdout>
//     snapshot time of the snapshots taken inside the clients' window
//     ({"snap":..} lines of bench/servers/valk-sse.js with SAMPLE_MS > 0):
//     SNAPS, NS_P50_MS, NS_P90_MS, NS_P99_MS, NS_MAX_MS, JSON_BYTES_P50/MAX
//     (server's sse_event_bytes_last), plus the clients' summary (see clients)
//     and NS_MAX_EVER_MS (sse_snapshot_max_ns at stop: every snapshot of the run)
//   node bench/clients/sse-analyze.js clients <clients.stdout>
//     STARTED, ENDED, RATE_MIN/MEDIAN/MAX, GAP_MAX_MS, GAP_MEDIAN_MS (per client's
//     longest wait), GAP_AT_SPREAD_MS (how far apart those waits ended),
//     GAP_AT_S (when, s into the window), LAT_P50/P99/MAX_MS, ID_GAPS, ID_BACKWARDS,
//     FAILED, EVENT_BYTES_MEDIAN/MAX, JSON_BYTES_MEDIAN/MAX, EVENTS_N
//   node bench/clients/sse-analyze.js reconnect <client.stdout> <listening_ms> <stopped_ms>
//     one restart: the new server listened at listening_ms, the old one's
//     process was gone at stopped_ms. LAST_ID_BEFORE, SENT_LAST_EVENT_ID,
//     FIRST_ID_AFTER, IDS_OK (1: first id = Last-Event-ID + 1 and the ids after
//     it increase), RECONNECT_MS (first event after listening - listening),
//     GAP_MS (last event before the stop -> first event after), ATTEMPTS
//     (connections tried between stop and success)
'use strict';
const fs = require('node:fs');

const lines = (f) => fs.readFileSync(f, 'utf8').split('\n').filter((l) => l.startsWith('{')).map((l) => {
  try { return JSON.parse(l); } catch { return null; }
}).filter(Boolean);
const pct = (a, p) => {
  if (a.length === 0) return NaN;
  const s = [...a].sort((x, y) => x - y);
  return s[Math.max(0, Math.ceil(p * s.length) - 1)]; // nearest rank
};
const fmt = (v, d = 3) => (typeof v === 'number' && Number.isFinite(v) ? (Number.isInteger(v) ? String(v) : v.toFixed(d)) : 'nan');
const put = (k, v, d) => process.stdout.write(`${k}=${fmt(v, d)}\n`);

function clients(file) {
  const L = lines(file);
  const started = L.find((o) => o.started)?.started;
  const ended = L.find((o) => o.ended)?.ended;
  const s = L.find((o) => o.summary)?.summary;
  put('STARTED', started);
  put('ENDED', ended);
  put('RATE_MIN', s?.rate.min, 2);
  put('RATE_MEDIAN', s?.rate.median, 2);
  put('RATE_MAX', s?.rate.max, 2);
  put('GAP_MAX_MS', s?.max_gap_ms.max);
  put('GAP_MEDIAN_MS', s?.max_gap_ms.median);
  put('GAP_AT_SPREAD_MS', s ? s.max_gap_at.max - s.max_gap_at.min : NaN);
  put('GAP_AT_S', s && started ? (s.max_gap_at.median - started) / 1000 : NaN, 1);
  put('LAT_P50_MS', s?.latency_ms?.p50);
  put('LAT_P99_MS', s?.latency_ms?.p99);
  put('LAT_MAX_MS', s?.latency_ms?.max);
  put('ID_GAPS', s?.id_gaps_total);
  put('ID_BACKWARDS', s?.id_backwards_total);
  put('FAILED', s?.failed);
  put('EVENT_BYTES_MEDIAN', s?.sizes.event_bytes.median);
  put('EVENT_BYTES_MAX', s?.sizes.event_bytes.max);
  put('JSON_BYTES_MEDIAN', s?.sizes.json_bytes.median);
  put('JSON_BYTES_MAX', s?.sizes.json_bytes.max);
  put('EVENTS_N', s?.sizes.n);
  return { started, ended };
}

function snap(serverFile, clientFile) {
  const { started, ended } = clients(clientFile);
  const S = lines(serverFile);
  const snaps = S.filter((o) => o.snap && o.snap.t >= started && o.snap.t <= ended).map((o) => o.snap);
  const ms = snaps.map((x) => x.ns / 1e6);
  put('SNAPS', snaps.length);
  put('NS_P50_MS', pct(ms, 0.5));
  put('NS_P90_MS', pct(ms, 0.9));
  put('NS_P99_MS', pct(ms, 0.99));
  put('NS_MAX_MS', ms.length ? Math.max(...ms) : NaN);
  put('JSON_BYTES_P50', pct(snaps.map((x) => x.bytes), 0.5));
  put('JSON_BYTES_SRV_MAX', snaps.length ? Math.max(...snaps.map((x) => x.bytes)) : NaN);
  put('CONNS_IN_USE', pct(snaps.map((x) => x.conns), 0.5));
  const stop = S.find((o) => o.stop)?.stop;
  const maxEver = stop?.final?.max_ns ?? S.filter((o) => o.snap).map((o) => o.snap.max_ns).pop();
  put('NS_MAX_EVER_MS', typeof maxEver === 'number' ? maxEver / 1e6 : NaN);
}

function reconnect(file, listening, stopped) {
  listening = Number(listening);
  stopped = Number(stopped);
  const L = lines(file);
  const evs = L.filter((o) => o.ev).map((o) => o.ev);
  const before = evs.filter((e) => e.t <= stopped);
  const after = evs.filter((e) => e.t >= listening);
  const last = before[before.length - 1];
  const first = after[0];
  const open = first ? L.find((o) => o.open && o.open.conn === first.conn)?.open : undefined;
  let idsOk = 0;
  if (last && first && open) {
    idsOk = String(open.last_event_id) === String(last.id) && first.id === last.id + 1 ? 1 : 0;
    const same = after.filter((e) => e.conn === first.conn);
    for (let i = 1; i < same.length; i++) if (!(same[i].id > same[i - 1].id)) idsOk = 0;
  }
  const attempts = new Set(L.filter((o) => o.retry && o.retry.t >= (last ? last.t : stopped)).map((o) => o.retry.conn)).size;
  put('LAST_ID_BEFORE', last?.id);
  put('SENT_LAST_EVENT_ID', open ? Number(open.last_event_id) : NaN);
  put('FIRST_ID_AFTER', first?.id);
  put('IDS_OK', idsOk);
  put('RECONNECT_MS', first ? first.t - listening : NaN);
  put('GAP_MS', first && last ? first.t - last.t : NaN);
  put('ATTEMPTS', attempts);
  put('EVENTS_AFTER', after.filter((e) => first && e.conn === first.conn).length);
}

const [cmd, ...args] = process.argv.slice(2);
if (cmd === 'snap' && args.length === 2) snap(...args);
else if (cmd === 'clients' && args.length === 1) clients(...args);
else if (cmd === 'reconnect' && args.length === 3) reconnect(...args);
else {
  console.error('usage: sse-analyze.js snap <server.stdout> <clients.stdout> | clients <clients.stdout> | reconnect <client.stdout> <listening_ms> <stopped_ms>');
  process.exit(2);
}
