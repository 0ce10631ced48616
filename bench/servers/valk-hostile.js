#!/usr/bin/env node
// Server under test for bench/hostile.sh: valk-aio with the default
// configuration (what `valk-aio start` runs), debug routes on, and an admin
// listener, serving the paths the attacks use:
//
//   /          static route (AIO thread), "hello from valk-aio\n"
//   /big       static route, BIG_BYTES bytes (default 1 MiB)
//   /js        JavaScript handler: 200, "<method> <path> <body bytes>\n"
//   /js/big    JavaScript handler: a fresh BIG_BYTES-byte body per request
//   /health, /debug/metrics, /debug/metrics/prometheus   the debug routes (JavaScript)
//   admin listener: /health, /debug/metrics, /debug/ (dashboard), /debug/diagnostics/memory
//
// Usage: node bench/servers/valk-hostile.js [port] [adminPort]
//   port, adminPort  argv[2], argv[3] (default 0 = pick a free one); 127.0.0.1 only
//   KEY_FILE, CERT_FILE  PEM key pair to use (default: a fresh generateSelfSigned pair)
//   BIG_BYTES            size of /big and /js/big (default 1048576)
//   VALK_CONFIG          JSON merged into startWithConfig() (default {}: every default)
//
// stdout: `READY <port> <adminPort>` once both listen; on SIGTERM/SIGINT the
// stop report as one JSON line {"stop":{...}}, then exit 0 (1 if stop() failed).
'use strict';
const fs = require('node:fs');
const { intArg: intArgOf, stopOnSignal, valk, BODY } = require('./common');
const intArg = (value, name, fallback) => intArgOf('valk-hostile', value, name, fallback);

async function main() {
  const port = intArg(process.argv[2] ?? process.env.PORT, 'port', 0);
  const adminPort = intArg(process.argv[3] ?? process.env.ADMIN_PORT, 'adminPort', 0);
  const bigBytes = intArg(process.env.BIG_BYTES, 'BIG_BYTES', 1024 * 1024);
  const cfg = process.env.VALK_CONFIG ? JSON.parse(process.env.VALK_CONFIG) : {};
  const { key, cert } = process.env.KEY_FILE && process.env.CERT_FILE
    ? { key: fs.readFileSync(process.env.KEY_FILE, 'utf8'), cert: fs.readFileSync(process.env.CERT_FILE, 'utf8') }
    : valk.generateSelfSigned(['localhost', '127.0.0.1']);
  const big = Buffer.alloc(bigBytes, 0x62);
  const text = { 'content-type': 'text/plain' };
  const sys = valk.startWithConfig(cfg);
  const handler = (req) => {
    if (req.path === '/js/big') return { status: 200, headers: text, body: Buffer.alloc(bigBytes, 0x6a) };
    if (req.path === '/js') return { status: 200, headers: text, body: `${req.method} ${req.path} ${req.body.length}\n` };
    return { status: 404, headers: text, body: 'not found\n' };
  };
  const srv = await sys.listen({
    host: '127.0.0.1', port, key, cert, debug: true, handler,
    routes: {
      '/': { status: 200, headers: text, body: BODY },
      '/big': { status: 200, headers: { 'content-type': 'application/octet-stream' }, body: big },
    },
  });
  srv.on('error', (err) => process.stderr.write(`valk-hostile: handler error: ${err.message}\n`));
  const admin = await sys.listenAdmin({ host: '127.0.0.1', port: adminPort, key, cert });

  stopOnSignal('valk-hostile', sys, (report) => ({ stop: report }));
  process.stdout.write(`READY ${srv.port} ${admin.port}\n`);
}

main().catch((err) => {
  console.error(`valk-hostile: ${err && err.stack || err}`);
  process.exit(1);
});
