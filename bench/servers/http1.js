#!/usr/bin/env node
// Benchmark servers for bench/http1.sh: one small static response over HTTP/1.1.
//
// Usage: TLS=0|1 node bench/servers/http1.js SERVER [port]
//   SERVER  valk-static   valk-aio, a static route (ALPN http/1.1 with TLS; cleartext: tls false)
//           valk-handler  valk-aio, a JavaScript handler answering the same bytes
//           node          Node's own https (TLS) or http (cleartext) module
// Prints `READY <port>`; SIGTERM stops it. Listens on 127.0.0.1 only.
'use strict';
const http = require('node:http');
const https = require('node:https');
const { closeOnSignal, intArg: intArgOf, stopOnSignal, valk } = require('./common');

const kind = process.argv[2];
const port = intArgOf('http1', process.argv[3] ?? process.env.PORT, 'port', 0);
const tls = process.env.TLS !== '0';
const BODY = Buffer.from('hello from valk-aio\n');
const HEADERS = { 'content-type': 'text/plain' };

async function valkServer(mode) {
  const sys = valk.startWithConfig({ maxConnections: 1000 });
  const pair = tls ? valk.generateSelfSigned(['localhost', '127.0.0.1']) : { tls: false };
  const answer = mode === 'handler' ? { handler: () => ({ status: 200, headers: HEADERS, body: BODY }) }
    : { routes: { '/': { status: 200, headers: HEADERS, body: BODY } } };
  const srv = await sys.listen({ host: '127.0.0.1', port, ...pair, ...answer });
  stopOnSignal('http1', sys, (r) => ({ leakedConnections: r.leakedConnections, leakedTcpBuffers: r.leakedTcpBuffers }));
  return srv.port;
}

async function nodeServer() {
  const onRequest = (req, res) => {
    res.writeHead(200, { ...HEADERS, 'content-length': BODY.length });
    res.end(BODY);
  };
  const server = tls ? https.createServer(valk.generateSelfSigned(['localhost', '127.0.0.1']), onRequest) : http.createServer(onRequest);
  server.keepAliveTimeout = 60_000;
  const sockets = new Set();
  server.on('connection', (s) => { sockets.add(s); s.on('close', () => sockets.delete(s)); });
  await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve));
  closeOnSignal(server, sockets);
  return server.address().port;
}

const kinds = { 'valk-static': () => valkServer('static'), 'valk-handler': () => valkServer('handler'), node: nodeServer };
const start = kinds[kind] ? kinds[kind]() : Promise.reject(new Error(`unknown server '${kind}'`));
start.then((p) => process.stdout.write(`READY ${p}\n`), (err) => {
  console.error(`http1: ${err && err.stack || err}`);
  process.exit(1);
});
