#!/usr/bin/env node
// Benchmark server for bench/sse.sh: valk-aio listening with `debug: true`, so
// it answers the memory diagnostics stream (GET /debug/diagnostics/memory,
// Server-Sent Events, on the AIO thread) next to a static route `/`.
//
// Usage: [PROFILE=default|big] [SAMPLE_MS=0] node bench/servers/valk-sse.js [port]
//   port       argv[2] or $PORT (default 0 = pick a free one); 127.0.0.1 only
//   PROFILE    default: startWithConfig({}) (maxConnections 100, the defaults)
//              big:     startWithConfig({ maxConnections: 10000,
//                         tcpBufferPoolSize: 145000, arenaPoolSize: 10000,
//                         idleTimeoutMs: 0 })
//                       arenaPoolSize: its derivation (2 x maxConnections =
//                       20,000) is above the field's max (10,000) and would be
//                       clamped; it is given explicitly (>= maxConnections/10).
//                       idleTimeoutMs 0: the idle connections that fill the
//                       slab must not be closed after 60 s while we measure.
//   MAX_CONNECTIONS, SSE_INTERVAL_MS, MAX_SSE_STREAMS: override those fields.
//   SAMPLE_MS  > 0: read sys.metrics() in-process every SAMPLE_MS and print a
//              line whenever the last snapshot's time changed (one line per
//              snapshot the AIO thread took, as long as SAMPLE_MS is well
//              under sseIntervalMs). 0 = no sampling.
//
// stdout, one line each:
//   READY <port>                        once listening
//   {"listening":<Date.now()>,"port":P} the same moment, wall clock (ms)
//   {"snap":{"t":ms,"ns":N,"max_ns":M,"bytes":B,"conns":C,"sse":S,"skipped":K}}
//                                       per snapshot seen (SAMPLE_MS > 0)
//   {"metrics":{"t":ms,...}}            on SIGUSR2: the SSE counters, the
//                                       connections in use, process.memoryUsage()
//                                       (rss, heap_total, heap_used, external)
//   {"stop":{...stop report...}}        on SIGTERM/SIGINT, then exit 0 (1 if
//                                       stop() failed)
'use strict';
const { intArg: intArgOf, stopOnSignal, valk, BODY } = require('./common');
const intArg = (value, name, fallback) => intArgOf('valk-sse', value, name, fallback);

// The snapshot timing metrics are sse_snapshot_last_ns / sse_snapshot_max_ns
// (csrc/valk_metrics.h); an intermediate tree named them sse_snapshot_ns_last /
// sse_snapshot_ns_max: accept both.
const pick = (s, ...names) => {
  for (const n of names) if (typeof s[n] === 'number') return s[n];
  return null;
};

function sseCounters(sys) {
  const m = sys.metrics();
  const s = m.system;
  return {
    t: Date.now(),
    ns: pick(s, 'sse_snapshot_last_ns', 'sse_snapshot_ns_last'),
    max_ns: pick(s, 'sse_snapshot_max_ns', 'sse_snapshot_ns_max'),
    bytes: pick(s, 'sse_event_bytes_last'),
    conns: m.connections.active,
    sse: pick(s, 'sse_streams_active'),
    opened: pick(s, 'sse_streams_opened'),
    refused: pick(s, 'sse_streams_refused'),
    skipped: pick(s, 'sse_events_skipped'),
    soft_closed: pick(s, 'connections_soft_closed'),
    rejected: (s.connections_rejected || 0) + (s.connections_rejected_load || 0) + (s.connections_rejected_per_ip || 0),
    timed_out: pick(s, 'connections_timed_out'),
    ...(() => {
      const u = process.memoryUsage();
      return { rss: u.rss, heap_total: u.heapTotal, heap_used: u.heapUsed, external: u.external };
    })(),
  };
}

async function main() {
  const port = intArg(process.argv[2] ?? process.env.PORT, 'port', 0);
  const profile = process.env.PROFILE || 'default';
  const sampleMs = intArg(process.env.SAMPLE_MS, 'SAMPLE_MS', 0);
  let cfg;
  if (profile === 'big') cfg = { maxConnections: 10000, tcpBufferPoolSize: 145000, arenaPoolSize: 10000, idleTimeoutMs: 0 };
  else if (profile === 'default') cfg = {};
  else {
    console.error(`valk-sse: PROFILE must be default or big, got '${profile}'`);
    process.exit(2);
  }
  for (const [env, field] of [['MAX_CONNECTIONS', 'maxConnections'], ['SSE_INTERVAL_MS', 'sseIntervalMs'], ['MAX_SSE_STREAMS', 'maxSseStreams']]) {
    if (process.env[env]) cfg[field] = intArg(process.env[env], env, undefined);
  }

  const sys = valk.startWithConfig(cfg);
  const { key, cert } = valk.generateSelfSigned(['localhost', '127.0.0.1']);
  const srv = await sys.listen({
    host: '127.0.0.1', port, key, cert, debug: true,
    routes: { '/': { status: 200, headers: { 'content-type': 'text/plain' }, body: BODY } },
  });
  const listening = Date.now();

  let timer = null;
  if (sampleMs > 0) {
    let last = null;
    timer = setInterval(() => {
      const c = sseCounters(sys);
      if (c.ns !== null && c.ns !== 0 && c.ns !== last) {
        last = c.ns;
        process.stdout.write(JSON.stringify({ snap: { t: c.t, ns: c.ns, max_ns: c.max_ns, bytes: c.bytes, conns: c.conns, sse: c.sse, skipped: c.skipped } }) + '\n');
      }
    }, sampleMs);
  }

  process.on('SIGUSR2', () => {
    process.stdout.write(JSON.stringify({ metrics: sseCounters(sys) }) + '\n');
  });

  let final;
  stopOnSignal('valk-sse', sys, (report) => ({ stop: { ...report, final } }), () => {
    if (timer) clearInterval(timer);
    final = sseCounters(sys);
  });

  process.stdout.write(`READY ${srv.port}\n`);
  process.stdout.write(JSON.stringify({ listening, port: srv.port, config: sys.config }) + '\n');
}

main().catch((err) => {
  console.error(`valk-sse: ${err && err.stack || err}`);
  process.exit(1);
});
