#!/usr/bin/env node
// Writes docs/metrics.md from lib/metrics's field table and the addon's metric
// catalogue (csrc/valk_metrics.h). Run after `npm run build:ts`:
//   node scripts/gen-metrics-doc.js [docs/metrics.md]
// test/metrics.test.ts fails when docs/metrics.md and metricsMarkdown() differ.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { metricsMarkdown } = require('../dist/lib/metrics.js');

const file = process.argv[2] ?? path.join(__dirname, '..', 'docs', 'metrics.md');
const next = metricsMarkdown();
const same = fs.existsSync(file) && fs.readFileSync(file, 'utf8') === next;
if (!same) {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, next);
}
console.log(`${file}: ${same ? 'already up to date' : 'written'}`);
