#!/usr/bin/env node
// The package's install script (README.md "Install"). Uses the prebuilt addon
// in prebuilds/<platform>-<arch>/ when one matches this Node's ABI (found the
// way lib/native.ts loads it: node-gyp-build) and loads; only otherwise builds
// from source, as a development checkout always does: `bash deps/setup.sh &&
// node-gyp rebuild` (Debian's nghttp2 and llhttp sources fetched by apt-get, a
// C compiler, make, python3). When neither works it says what is missing.
//
//   npm_config_build_from_source=true npm install valk-aio   # skip the prebuilds
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
const tag = `${process.platform}-${process.arch} node ${process.version} (abi${process.versions.modules})`;

function flag(name) {
  const v = process.env[`npm_config_${name}`];
  return v !== undefined && v !== '' && v !== 'false';
}

/** The prebuild node-gyp-build picks for this Node, if it loads; else why not. */
function prebuilt() {
  process.env.PREBUILDS_ONLY = '1'; // read by node-gyp-build when it is loaded
  let file;
  try {
    file = require('node-gyp-build').path(root);
  } catch (err) {
    return { why: `no prebuilt addon for ${tag} in prebuilds/` };
  }
  try {
    require(file);
  } catch (err) {
    return { why: `the prebuilt ${path.relative(root, file)} does not load: ${err.message.split('\n')[0]}` };
  }
  return { file };
}

/** Which of what a source build needs this machine lacks. */
function missing() {
  const has = (cmd) => spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
  const out = [];
  const cc = process.env.CC || 'cc';
  const cxx = process.env.CXX || 'g++';
  if (!has(cc) || spawnSync(cc, ['--version'], { stdio: 'ignore' }).status !== 0) out.push(`a C compiler (${cc})`);
  if (!has(cxx) || spawnSync(cxx, ['--version'], { stdio: 'ignore' }).status !== 0) out.push(`a C++ compiler (${cxx})`);
  for (const tool of ['make', 'python3']) if (!has(tool)) out.push(tool);
  const fetched = fs.existsSync(path.join(root, 'deps', 'nghttp2', 'lib')) && fs.existsSync(path.join(root, 'deps', 'llhttp', 'llhttp.c'));
  if (!fetched) {
    if (!has('apt-get')) out.push('apt-get (Debian or Ubuntu) to fetch the nghttp2 and llhttp sources');
    else if (process.getuid && process.getuid() !== 0) out.push('root for apt-get (or deps/nghttp2 and deps/llhttp fetched beforehand)');
  }
  return out;
}

function buildFromSource(reason) {
  console.error(`valk-aio: building the addon from source: ${reason}`);
  const r = spawnSync('bash deps/setup.sh && node-gyp rebuild', { cwd: root, stdio: 'inherit', shell: true });
  if (r.status === 0) return;
  const lacks = missing();
  console.error([
    `valk-aio: cannot install: ${reason}, and building from source failed.`,
    lacks.length ? `  missing: ${lacks.join('; ')}` : '  (see the build output above)',
    '  prebuilt addons: linux-x64 glibc, the Node ABIs in README.md "Install";',
    '  a source build needs Debian/Ubuntu (apt-get), a C compiler, make, python3 and root for apt-get.',
  ].join('\n'));
  process.exit(1);
}

function main() {
  if (fs.existsSync(path.join(root, '.git'))) return buildFromSource('a development checkout');
  if (flag('build_from_source')) return buildFromSource('npm_config_build_from_source is set');
  const p = prebuilt();
  if (p.file) return;
  buildFromSource(p.why);
}

main();
