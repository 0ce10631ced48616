// What the benchmark servers share: argument parsing, the response bytes, and
// valk-aio serving them on 127.0.0.1 with a fresh self-signed key pair.
'use strict';
const path = require('node:path');
const valk = require(path.join(__dirname, '..', '..', 'dist', 'lib', 'index.js'));

/** The body every server under test returns for `/`. */
const BODY = 'hello from valk-aio\n';

/** A non-negative integer argument, or fallback; exits 2 with a message otherwise. */
function intArg(prog, value, name, fallback) {
  if (value === undefined || value === '') return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) {
    console.error(`${prog}: ${name} must be a non-negative integer, got '${value}'`);
    process.exit(2);
  }
  return n;
}

const HEADERS = { 'content-type': 'text/plain' };

/**
 * Starts a valk-aio system with cfg and serves BODY on `/` at 127.0.0.1:port:
 * as a static route (answered on the AIO thread), or with mode 'handler' from
 * a JavaScript handler (every request crosses to Node's thread and back).
 */
async function serveValk(port, cfg, mode = 'static') {
  const sys = valk.startWithConfig(cfg);
  // TLS=0: a cleartext listener (HTTP/2 with prior knowledge), as bench/static.sh TLS=0 runs it.
  const tls = process.env.TLS === '0' ? { tls: false } : valk.generateSelfSigned(['localhost', '127.0.0.1']);
  const answer = mode === 'handler' ? { handler: () => ({ status: 200, headers: HEADERS, body: BODY }) }
    : { routes: { '/': { status: 200, headers: HEADERS, body: BODY } } };
  const srv = await sys.listen({ host: '127.0.0.1', port, ...tls, ...answer });
  return { sys, srv };
}

/**
 * Stops sys once on SIGTERM or SIGINT: before() runs first (a last sample),
 * then sys.stop(); the stop report goes through report() to stdout as one
 * JSON line. Exit code 0, or 1 (and a message naming prog) when stopping failed.
 */
function stopOnSignal(prog, sys, report = (r) => r, before = () => {}) {
  let stopping = false;
  const stop = async (signal) => {
    if (stopping) return;
    stopping = true;
    try {
      before();
      const out = report(await sys.stop());
      process.stdout.write(JSON.stringify(out) + '\n');
      process.exitCode = 0;
    } catch (err) {
      console.error(`${prog}: stop after ${signal} failed: ${err && err.stack || err}`);
      process.exitCode = 1;
    }
  };
  process.on('SIGTERM', () => { stop('SIGTERM'); });
  process.on('SIGINT', () => { stop('SIGINT'); });
}

/**
 * Closes a Node http2 server once on SIGTERM or SIGINT: before() first, then
 * the server closes, its open sessions are destroyed, and the process exits 0
 * when the server is closed, or after 5 s at most (never hangs on a stuck session).
 */
function closeOnSignal(server, sessions, before = () => {}) {
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    before();
    server.close(() => process.exit(0));
    for (const s of sessions) s.destroy();
    setTimeout(() => process.exit(0), 5000).unref();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

module.exports = { BODY, closeOnSignal, intArg, serveValk, stopOnSignal, valk };
