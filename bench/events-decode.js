#!/usr/bin/env node
// bench/events-decode.js: the JavaScript side of the event ring's drain (lib/events.ts): ns to
// decode one 32-byte record into an event, median of 31 rounds of 200 batches of 4096 records.
// Run by bench/evring.sh after the C microbenchmark.
'use strict';
const path = require('node:path');
const { decodeEvents } = require(path.join(__dirname, '..', 'dist', 'lib', 'events.js'));

const N = 4096;
const buf = Buffer.alloc(32 * N);
for (let i = 0; i < N; i++) {
  buf.writeBigUInt64LE(BigInt(i) * 1000000n, i * 32);
  buf.writeBigUInt64LE(BigInt(i + 1), i * 32 + 8);
  buf.writeUInt16LE(1 + (i % 10), i * 32 + 16);
  buf.writeUInt32LE(i, i * 32 + 20);
}
const rounds = [];
let sink = 0;
for (let r = 0; r < 31; r++) {
  const t0 = process.hrtime.bigint();
  for (let k = 0; k < 200; k++) sink += decodeEvents(buf).length;
  rounds.push(Number(process.hrtime.bigint() - t0) / (200 * N));
}
rounds.sort((a, b) => a - b);
const ns = rounds[15];
console.log(`decode (JavaScript) ${ns.toFixed(1).padStart(6)} ns an event, ${(1000 / ns).toFixed(1)} M events/s (${sink > 0 ? 'ok' : '?'})`);
