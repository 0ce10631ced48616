// What the SSE benchmark clients share: an incremental parser of
// text/event-stream and command-line integers. Node's http2 client only.
'use strict';

/** A non-negative integer from the environment, or fallback; exits 2 otherwise. */
function envInt(prog, name, fallback) {
  const v = process.env[name];
  if (v === undefined || v === '') return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) {
    console.error(`${prog}: ${name} must be a non-negative integer, got '${v}'`);
    process.exit(2);
  }
  return n;
}

/**
 * Incremental SSE parser: push(chunk) returns the complete events in it:
 * { event, id, retry, data (string or undefined), bytes (the event's length on
 * the wire, blank line included) }. Events are split on "\n\n" (the server
 * writes LF only).
 */
class SseParser {
  constructor() { this.buf = ''; }
  push(chunk) {
    this.buf += chunk;
    const out = [];
    for (let end = this.buf.indexOf('\n\n'); end >= 0; end = this.buf.indexOf('\n\n')) {
      const block = this.buf.slice(0, end);
      this.buf = this.buf.slice(end + 2);
      const ev = { event: undefined, id: undefined, retry: undefined, data: undefined, bytes: Buffer.byteLength(block) + 2 };
      for (const line of block.split('\n')) {
        const i = line.indexOf(':');
        if (i === 0) continue; // comment
        const k = i < 0 ? line : line.slice(0, i);
        let v = i < 0 ? '' : line.slice(i + 1);
        if (v.startsWith(' ')) v = v.slice(1);
        if (k === 'event') ev.event = v;
        else if (k === 'id') ev.id = v;
        else if (k === 'retry') ev.retry = Number(v);
        else if (k === 'data') ev.data = ev.data === undefined ? v : ev.data + '\n' + v;
      }
      out.push(ev);
    }
    return out;
  }
}

const SSE_PATH = '/debug/diagnostics/memory';

module.exports = { envInt, SseParser, SSE_PATH };
