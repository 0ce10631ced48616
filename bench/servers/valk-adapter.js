#!/usr/bin/env node
// Benchmark server: valk-aio serving bench/servers/apps.js over HTTP/2 + TLS
// with APP=native (a valk handler), hono (listen({ fetch: app.fetch })) or
// express (listen({ requestListener: app })).
//
// Usage: APP=native|hono|express node bench/servers/valk-adapter.js [port]
// Prints `READY <port>`; on SIGTERM/SIGINT stops the system and prints the
// stop report as one JSON line. Listens on 127.0.0.1 only.
'use strict';
const { intArg, stopOnSignal, valk } = require('./common');
const apps = require('./apps');

async function main() {
  const port = intArg('valk-adapter', process.argv[2] ?? process.env.PORT, 'port', 0);
  const app = process.env.APP ?? 'native';
  const answer = app === 'native' ? { handler: apps.nativeHandler }
    : app === 'hono' ? { fetch: apps.honoApp().fetch }
    : app === 'express' ? { requestListener: apps.expressApp() }
    : undefined;
  if (!answer) {
    console.error(`valk-adapter: APP must be native, hono or express, got '${app}'`);
    process.exit(2);
  }
  const sys = valk.startWithConfig({ maxConnections: Number(process.env.MAX_CONNECTIONS ?? 1000) });
  const srv = await sys.listen({ host: '127.0.0.1', port, ...valk.generateSelfSigned(['localhost', '127.0.0.1']), ...answer });
  srv.on('error', (err) => console.error(`valk-adapter: ${err && err.stack || err}`));
  stopOnSignal('valk-adapter', sys, (r) => ({ leakedConnections: r.leakedConnections, leakedTcpBuffers: r.leakedTcpBuffers }));
  process.stdout.write(`READY ${srv.port}\n`);
}

main().catch((err) => {
  console.error(`valk-adapter: ${err && err.stack || err}`);
  process.exit(1);
});
