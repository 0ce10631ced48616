#!/usr/bin/env node
// Writes csrc/valk_config.h (valk_system_config_t and its X-macro lists) from
// lib/config's options table (CONFIG_FIELDS). Run after `npm run build:ts`:
//   node scripts/gen-config-header.js [csrc/valk_config.h]
// test/config.test.ts fails when csrc/valk_config.h and configHeader() differ.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { configHeader } = require('../dist/lib/config-header.js');

const file = process.argv[2] ?? path.join(__dirname, '..', 'csrc', 'valk_config.h');
const next = configHeader();
const same = fs.existsSync(file) && fs.readFileSync(file, 'utf8') === next;
if (!same) fs.writeFileSync(file, next);
console.log(`${file}: ${same ? 'already up to date' : 'written'}`);
