#!/usr/bin/env node
// Benchmark peer: Node's own http2.createSecureServer serving
// bench/servers/apps.js: APP=hono through @hono/node-server's
// getRequestListener (the way Hono runs on Node), APP=express through the
// compatibility API (allowHTTP1), APP=native through the core 'stream' API.
//
// Express 5 does not run on the compatibility API as it is: it sets the
// prototypes of req and res to its own objects, which inherit from
// http.IncomingMessage / http.ServerResponse, not from Http2ServerRequest /
// Http2ServerResponse (the first request fails in IncomingMessage._read).
// The usual bridge, done here, re-points Express's request and response
// objects to the http2 classes.
//
// Usage: APP=native|hono|express node bench/servers/node-http2-adapter.js [port]
// Prints `READY <port>`; SIGTERM/SIGINT closes the server and exits 0.
'use strict';
const http2 = require('node:http2');
const { closeOnSignal, intArg, valk } = require('./common');
const apps = require('./apps');

const port = intArg('node-http2-adapter', process.argv[2] ?? process.env.PORT, 'port', 0);
const app = process.env.APP ?? 'native';
const tls = { ...valk.generateSelfSigned(['localhost', '127.0.0.1']) };
let server;
if (app === 'hono') {
  const { getRequestListener } = require('@hono/node-server');
  server = http2.createSecureServer({ ...tls, allowHTTP1: true }, getRequestListener(apps.honoApp().fetch));
} else if (app === 'express') {
  const ex = apps.expressApp();
  Object.setPrototypeOf(Object.getPrototypeOf(ex.request), http2.Http2ServerRequest.prototype);
  Object.setPrototypeOf(Object.getPrototypeOf(ex.response), http2.Http2ServerResponse.prototype);
  server = http2.createSecureServer({ ...tls, allowHTTP1: true }, ex);
} else if (app === 'native') {
  server = http2.createSecureServer(tls);
  server.on('stream', (stream, headers) => {
    const path = headers[':path'];
    const ok = path.startsWith('/users/');
    const body = ok ? JSON.stringify(apps.user(path.slice(7))) : '{"error":"not found"}';
    stream.respond({ ':status': ok ? 200 : 404, 'content-type': apps.JSON_TYPE, 'content-length': Buffer.byteLength(body) });
    stream.end(body);
  });
} else {
  console.error(`node-http2-adapter: APP must be native, hono or express, got '${app}'`);
  process.exit(2);
}
const sessions = new Set();
server.on('session', (s) => { sessions.add(s); s.on('close', () => sessions.delete(s)); });
server.on('error', (err) => { console.error(`node-http2-adapter: ${err && err.stack || err}`); process.exit(1); });
server.listen(port, '127.0.0.1', () => process.stdout.write(`READY ${server.address().port}\n`));
closeOnSignal(server, sessions);
