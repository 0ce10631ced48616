#!/usr/bin/env node
// Overload benchmark server: valk-aio serving one static route `/` over
// HTTP/2 + TLS with a small connection limit, printing a once-per-second
// sample of its counters so bench/overload.sh can compute goodput over time.
//
// Usage: node bench/servers/valk-overload.js [port] [maxConnections]
//   port            argv[2] or $PORT            (default 0 = pick a free one)
//   maxConnections  argv[3] or $MAX_CONNECTIONS (default 100)
//
// stdout, one line each:
//   READY <port>                       once listening
//   {"sample":{...}}                   every second (and once more on SIGTERM):
//     t         ms since this script started
//     now       Date.now() (wall clock, ms)
//     ok        cumulative 2xx responses
//     bytes     cumulative ciphertext bytes written to sockets (wire)
//     active    connections holding a slot now (metrics().connections.active)
//     accepted  cumulative connections accepted (slot acquired)
//     rejected  cumulative connections refused (limit + load + per-ip)
//     rejected_limit, rejected_load, rejected_per_ip: the same by reason
//     rss       process RSS, bytes
//     src       "metrics" (sys.metrics())
//     watermark the TCP buffer watermark state; paused: the backpressure list size
//   {"stop":{"leakedConnections":0,...,"footprint":<estimateFootprint().total>}}   on SIGTERM/SIGINT
// then exits 0 (1 if stop() failed). Listens on 127.0.0.1 only.
'use strict';
const { intArg: intArgOf, serveValk, stopOnSignal, valk } = require('./common');
const intArg = (value, name, fallback) => intArgOf('valk-overload', value, name, fallback);

const T0 = Date.now();


const num = (v) => (typeof v === 'number' && Number.isFinite(v) ? v : 0);

// One sample from sys.metrics().
function readCounters(sys) {
  const m = sys.metrics();
  const s = m.system;
  return {
    src: 'metrics',
    ok: num(s.responses_2xx),
    bytes: num(s.bytes_sent),
    active: m.connections.active,
    accepted: num(s.connections_total),
    rejected_limit: num(s.connections_rejected),
    rejected_load: num(s.connections_rejected_load),
    rejected_per_ip: num(s.connections_rejected_per_ip),
    watermark: m.watermark.state,
    paused: m.backpressure.list_size,
  };
}

async function main() {
  const port = intArg(process.argv[2] ?? process.env.PORT, 'port', 0);
  const maxConnections = intArg(process.argv[3] ?? process.env.MAX_CONNECTIONS, 'maxConnections', 100);

  const { sys, srv } = await serveValk(port, { maxConnections });

  const sample = () => {
    const c = readCounters(sys);
    const now = Date.now();
    process.stdout.write(JSON.stringify({
      sample: {
        t: now - T0,
        now,
        ok: c.ok,
        bytes: c.bytes,
        active: c.active,
        accepted: c.accepted,
        rejected: c.rejected_limit + c.rejected_load + c.rejected_per_ip,
        rejected_limit: c.rejected_limit,
        rejected_load: c.rejected_load,
        rejected_per_ip: c.rejected_per_ip,
        rss: process.memoryUsage.rss(),
        src: c.src,
      },
    }) + '\n');
  };
  const timer = setInterval(sample, 1000);

  stopOnSignal('valk-overload', sys,
    (report) => ({ stop: { ...report, footprint: valk.estimateFootprint(sys.config).total } }),
    () => { clearInterval(timer); sample(); });

  process.stdout.write(`READY ${srv.port}\n`);
  sample();
}

main().catch((err) => {
  console.error(`valk-overload: ${err && err.stack || err}`);
  process.exit(1);
});
