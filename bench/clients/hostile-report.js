#!/usr/bin/env node
// The analysis of bench/hostile.sh (plain JavaScript, no build):
//
//   node bench/clients/hostile-report.js record <meta.tsv>   -> one JSON line on stdout
//   node bench/clients/hostile-report.js table <runs.jsonl>  -> the Markdown report on stdout
//
// meta.tsv: `key<TAB>value` lines written by hostile.sh for one (attack,
// server) run: the names of its raw files (RSS samples, attacker and probe
// JSON, server stdout) and the moments (epoch ms) the attack started and
// ended and the server was sent SIGTERM.
'use strict';
const fs = require('node:fs');

const read = (f) => { try { return fs.readFileSync(f, 'utf8'); } catch { return ''; } };
const lastJson = (text) => {
  const lines = text.split('\n').filter((l) => l.trim().startsWith('{'));
  for (let i = lines.length - 1; i >= 0; i--) { try { return JSON.parse(lines[i]); } catch { /* next */ } }
  return null;
};
const MiB = (kb) => (kb == null || !Number.isFinite(kb) ? null : Math.round(kb / 1024 * 10) / 10);

function record(metaFile) {
  const meta = {};
  for (const line of read(metaFile).split('\n')) {
    const i = line.indexOf('\t');
    if (i > 0) meta[line.slice(0, i)] = line.slice(i + 1);
  }
  const num = (k) => (meta[k] === undefined || meta[k] === '' ? null : Number(meta[k]));
  const t0 = num('t_attack0'), t1 = num('t_attack1'), tStop = num('t_stop');
  // RSS samples: "<epoch ms> <VmRSS kB>"; "KILLED <kB> <epoch ms>" when the limit was hit.
  const samples = [];
  let killedAtLimit = null;
  for (const line of read(meta.rss_file).split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f[0] === 'KILLED') killedAtLimit = { rssKb: Number(f[1]), atMs: Number(f[2]) - t0 };
    else if (f.length === 2 && /^\d+$/.test(f[0]) && /^\d+$/.test(f[1])) samples.push({ t: Number(f[0]), kb: Number(f[1]) });
  }
  const inWin = (a, b) => samples.filter((s) => s.t >= a && s.t <= b).map((s) => s.kb);
  const maxOf = (xs) => (xs.length ? Math.max(...xs) : null);
  const rssStart = num('rss_start_kb');
  const peakAttack = maxOf(inWin(t0, t1));
  const peakAfter = maxOf(inWin(t1, tStop ?? Infinity));
  const peakStop = maxOf(inWin(tStop ?? Infinity, Infinity));
  // The peak over the whole life of the server from the attack on: during it, the POST seconds after, and its stop.
  let peak = rssStart, peakAtMs = null;
  for (const s of samples) if (s.t >= t0 && (peak == null || s.kb > peak)) { peak = s.kb; peakAtMs = s.t - t0; }
  if (killedAtLimit && (peak == null || killedAtLimit.rssKb > peak)) { peak = killedAtLimit.rssKb; peakAtMs = killedAtLimit.atMs; }
  const atEnd = (() => { const xs = inWin(t0, t1); return xs.length ? xs[xs.length - 1] : null; })();
  const attack = lastJson(read(meta.attack_file));
  const probes = lastJson(read(meta.probe_file))?.probes ?? null;
  // valk-hostile.js prints {"stop":{...}}; the CLI prints "stopped: N leaked connections, M leaked TCP buffers".
  const serverOut = read(meta.server_out);
  let stop = lastJson(serverOut)?.stop ?? null;
  const cli = /stopped: (\d+) leaked connections, (\d+) leaked TCP buffers/.exec(serverOut);
  if (!stop && cli) stop = { leakedConnections: Number(cli[1]), leakedTcpBuffers: Number(cli[2]) };
  const hz = num('clk_tck') || 100;
  const cpu = num('cpu1') != null && num('cpu0') != null && t1 > t0 ? Math.round(100 * (num('cpu1') - num('cpu0')) / hz / ((t1 - t0) / 1000)) : null;
  const out = {
    run: meta.run,
    date: meta.date,
    attack: meta.attack,
    fn: meta.fn,
    server: meta.server,
    durationS: num('duration_s'),
    rssKb: {
      start: rssStart, endOfAttack: atEnd, peakAttack, peakAfter, peakStop, peak, peakAtMs,
      growth: peak != null && rssStart != null ? peak - rssStart : null,
    },
    rssSamples: samples.length,
    rssLimitKb: num('rss_limit_kb'),
    killedAtLimit,
    serverCpuPct: cpu,
    serverStop: meta.stop_res,
    stopReport: stop,
    serverStderr: read(meta.server_err).slice(0, 500),
    attackRc: num('attack_rc'),
    attackStderr: read(meta.attack_err).slice(0, 500),
    probeRc: num('probe_rc'),
    probes,
    attacker: attack,
    serverCmd: meta.server_cmd,
    attackCmd: meta.attack_cmd,
  };
  process.stdout.write(JSON.stringify(out) + '\n');
}

function probeCell(p) {
  if (!p) return 'n/a';
  const p99 = Number.isFinite(p.latencyMs?.p99) ? `${p.latencyMs.p99} ms` : '-';
  const fails = Object.entries(p.errors || {}).sort((a, b) => b[1] - a[1]).slice(0, 2).map(([k, v]) => `${k}×${v}`).join(', ');
  return `${p.ok}/${p.failed}${p.skipped ? ` (+${p.skipped} skipped)` : ''} p99 ${p99}${fails ? ` (${fails})` : ''}`;
}

const compact = (o, n = 3) => Object.entries(o || {}).sort((a, b) => b[1] - a[1]).slice(0, n).map(([k, v]) => `${k}×${v}`).join(', ');

function attackerCell(a) {
  if (!a) return 'no result';
  const parts = [`${a.connections} conn${a.connections === 1 ? '' : 's'}` + (a.connectFailures ? ` (+${a.connectFailures} failed)` : '') +
    `, ${a.serverClosedConnections} closed by server`];
  parts.push(`${a.streamsOpened} streams, ${a.framesSent} frames, ${(a.bytesSent / 1048576).toFixed(1)} MiB sent`);
  if (Object.keys(a.goawayCodes).length) parts.push(`GOAWAY ${compact(a.goawayCodes, 2)}`);
  if (a.serverClosedConnections) parts.push(`server closes: ${compact(a.serverCloseKinds, 2)}`);
  if (Object.keys(a.rstReceived).length) parts.push(`RST ${compact(a.rstReceived)}`);
  if (Object.keys(a.statuses).length) parts.push(`status ${compact(a.statuses)}`);
  const x = a.extra || {};
  if (a.attack === 'hpackBomb') parts.push(`${x.bombStreams} bombs of ${x.bombFrameBytes} bytes (${Math.round(x.decodedBytesPerStream / 1e6)} MB decoded each)`);
  if (a.attack === 'zeroWindowHeadersFlood') parts.push(`${x.floodFrames} flood HEADERS, ${(x.blockedMs / 1000).toFixed(1)} s blocked on drain`);
  if (a.attack === 'continuationFlood') parts.push(`${x.continuationFrames} CONTINUATIONs`);
  if (a.attack === 'madeYouReset') parts.push(`${x.requestsSent} requests + ${a.options.provoke}`);
  if (x.byHow) parts.push(`streams ended: ${compact(x.byHow)}` + (x.endedAtMs ? ` (median at ${x.endedAtMs.p50} ms)` : ''));
  if (a.attack === 'settingsFlood' || a.attack === 'pingFlood') parts.push(`${x.acksReceived} ACKs read`);
  if (a.attack === 'zeroWindowReader') parts.push(`${x.streamsWithHeaders} got headers, ${x.streamsReset} reset, ${x.openAtEnd} open at end`);
  if (a.attack === 'stuckStreams') parts.push(`${x.openAtEnd} of ${x.streams} still open at end`);
  if (a.errorCount) parts.push(`errors: ${a.errors.slice(0, 2).join('; ').slice(0, 120)}`);
  return parts.join('; ');
}

function stopCell(r) {
  if (r.killedAtLimit) return `**KILLED at ${MiB(r.killedAtLimit.rssKb)} MiB RSS** (+${(r.killedAtLimit.atMs / 1000).toFixed(1)} s)`;
  let s = r.serverStop || '?';
  if (r.stopReport) {
    const leaks = Object.entries(r.stopReport).filter(([k, v]) => k.startsWith('leaked') && typeof v === 'number' && v > 0);
    s += leaks.length ? `, LEAKS ${leaks.map(([k, v]) => `${k}=${v}`).join(' ')}` : ', 0 leaks';
  }
  return s;
}

function table(file) {
  const runs = read(file).split('\n').filter(Boolean).map((l) => JSON.parse(l));
  const probeNames = [...new Set(runs.flatMap((r) => Object.keys(r.probes || {})))];
  const head = ['attack', 'server', 'RSS start MiB', 'at attack end', 'peak MiB (at s)', 'growth MiB', 'server CPU', ...probeNames.map((n) => `probe ${n} ok/failed`), 'server stop', 'what the attacker saw'];
  console.log(`| ${head.join(' | ')} |`);
  console.log(`|${head.map((h, i) => (i >= 2 && i <= 6 ? '---:' : '---')).join('|')}|`);
  for (const r of runs) {
    const g = r.rssKb.growth;
    const row = [
      r.attack, r.server, MiB(r.rssKb.start), MiB(r.rssKb.endOfAttack),
      `${MiB(r.rssKb.peak)}${r.rssKb.peakAtMs != null ? ` (${(r.rssKb.peakAtMs / 1000).toFixed(1)})` : ''}`,
      g == null ? '?' : (g > 256 * 1024 ? `**${MiB(g)}**` : MiB(g)),
      r.serverCpuPct == null ? '?' : `${r.serverCpuPct}%`,
      ...probeNames.map((n) => (r.probes && n in r.probes ? probeCell(r.probes[n]) : '')),
      stopCell(r),
      attackerCell(r.attacker).replace(/\|/g, '\\|'),
    ];
    console.log(`| ${row.join(' | ')} |`);
  }
  console.log('');
  console.log('RSS: VmRSS of the server process; "at attack end": the last sample before the attacker exited; peak: the highest');
  console.log('sample from the attack start on (the POST seconds after it and the stop included), with its time in s since');
  console.log('the attack started. server CPU: all its threads, during the attack, in % of one core. probe ok/failed: 2xx');
  console.log('answers / errors, timeouts and non-2xx; "skipped": ticks while the previous probe request was still');
  console.log('pending; p99 over the 2xx answers. Attacker: "closed by server": connections the server ended or reset');
  console.log('before the attacker closed them ("no GOAWAY / ECONNRESET": reset without a GOAWAY the attacker could read).');
}

const [mode, arg] = process.argv.slice(2);
if (mode === 'record' && arg) record(arg);
else if (mode === 'table' && arg) table(arg);
else {
  console.error('usage: hostile-report.js record <meta.tsv> | table <runs.jsonl>');
  process.exit(2);
}
