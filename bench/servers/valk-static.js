#!/usr/bin/env node
// Benchmark server: valk-aio serving `/` over HTTP/2 + TLS from a static route,
// or with MODE=handler from a JavaScript handler.
//
// Usage: [MODE=static|handler] [EVENTS=1] node bench/servers/valk-static.js [port] [maxConnections]
//   port            argv[2] or $PORT           (default 0 = pick a free one)
//   maxConnections  argv[3] or $MAX_CONNECTIONS (default 1000)
//
// Prints `READY <port>` on stdout once listening. On SIGTERM/SIGINT it stops the
// system and prints the stop report as one JSON line, e.g.
//   {"leakedConnections":0,"leakedTcpBuffers":0}
// then exits 0 (1 if stop() failed). Listens on 127.0.0.1 only.
'use strict';
const { intArg: intArgOf, serveValk, stopOnSignal } = require('./common');
const intArg = (value, name, fallback) => intArgOf('valk-static', value, name, fallback);

async function main() {
  const port = intArg(process.argv[2] ?? process.env.PORT, 'port', 0);
  const maxConnections = intArg(process.argv[3] ?? process.env.MAX_CONNECTIONS, 'maxConnections', 1000);

  const { sys, srv } = await serveValk(port, { maxConnections }, process.env.MODE === 'handler' ? 'handler' : 'static');
  // EVENTS=1: a reader attached to the lifecycle events (recording on), reading and discarding (bench/events.sh).
  if (process.env.EVENTS === '1') {
    // EVENTS_BATCH=0: one event at a time (sys.events()); else a batch at a time (sys.eventBatches()).
    const read = process.env.EVENTS_BATCH === '0'
      ? async () => { let n = 0; for await (const e of sys.events()) n += e.a >= 0 ? 1 : 0; return n; }
      : async () => { let n = 0; for await (const b of sys.eventBatches()) n += b.length; return n; };
    read().catch(() => {});
  }

  stopOnSignal('valk-static', sys, (report) => ({
    leakedConnections: report.leakedConnections,
    leakedTcpBuffers: report.leakedTcpBuffers,
  }));

  process.stdout.write(`READY ${srv.port}\n`);
}

main().catch((err) => {
  console.error(`valk-static: ${err && err.stack || err}`);
  process.exit(1);
});
