#!/usr/bin/env node
// Rewrites the configuration table in docs/configuration.md (between the
// config-table markers) from lib/config's CONFIG_FIELDS. Run after
// `npm run build:ts`:
//   node scripts/gen-config-table.js [docs/configuration.md]
// test/config.test.ts fails when docs/configuration.md and configTableMarkdown() differ.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { configTableMarkdown } = require('../dist/lib/config-doc.js');

const START = '<!-- config-table:start -->';
const END = '<!-- config-table:end -->';
const file = process.argv[2] ?? path.join(__dirname, '..', 'docs', 'configuration.md');
const text = fs.readFileSync(file, 'utf8');
const a = text.indexOf(START);
const b = text.indexOf(END);
if (a < 0 || b < a) {
  console.error(`gen-config-table: ${file} has no ${START} ... ${END} block`);
  process.exit(1);
}
const next = `${text.slice(0, a + START.length)}\n${configTableMarkdown()}${text.slice(b)}`;
if (next !== text) fs.writeFileSync(file, next);
console.log(`${file}: configuration table ${next === text ? 'already up to date' : 'rewritten'}`);
