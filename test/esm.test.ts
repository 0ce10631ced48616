// The package from a consumer's side, both module systems (package.json
// "exports"; dist/esm/ from scripts/gen-esm.js): a temp project with
// node_modules/valk-aio linked to this checkout imports it as ESM and requires
// it as CommonJS, gets the same functions (one instance), and a TypeScript
// consumer type-checks in both modes (module nodenext, a .mts and a .cts).
// Needs dist/ built (`npm test` runs tsc and gen-esm first).
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = path.join(__dirname, '..');
let project = '';

function node(args: string[]): { code: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, args, { cwd: project, encoding: 'utf8', timeout: 30_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

beforeAll(() => {
  project = fs.mkdtempSync(path.join(os.tmpdir(), 'valk-esm-'));
  fs.mkdirSync(path.join(project, 'node_modules'));
  fs.symlinkSync(root, path.join(project, 'node_modules', 'valk-aio'), 'dir');
  fs.writeFileSync(path.join(project, 'package.json'), '{ "name": "consumer", "private": true }\n');
});

afterAll(() => {
  if (project) fs.rmSync(project, { recursive: true, force: true });
});

describe('valk-aio as a dependency', () => {
  it('the exports map names files that exist, and main/types stay for old resolvers', () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
    const dot = pkg.exports['.'];
    for (const f of [dot.import.types, dot.import.default, dot.require.types, dot.require.default, pkg.main, pkg.types, pkg.bin['valk-aio']])
      expect(fs.existsSync(path.join(root, f)), f).toBe(true);
    expect(pkg.main).toBe('dist/lib/index.js');
  });

  it('import and require resolve the same module: every name, the same functions', () => {
    const script = `
      import * as esm from 'valk-aio';
      import valk, { startWithConfig, ConfigError } from 'valk-aio';
      import { createRequire } from 'node:module';
      const cjs = createRequire(import.meta.url)('valk-aio');
      const names = (m) => Object.keys(m).filter((n) => n !== 'default' && n !== '__esModule').sort();
      const same = names(cjs).every((n) => esm[n] === cjs[n]);
      const sys = startWithConfig({ maxConnections: 10 });
      const stopped = await sys.stop();
      let threw = false;
      try { startWithConfig({ maxConnections: 0 }); } catch (e) { threw = e instanceof cjs.ConfigError; }
      console.log(JSON.stringify({ esm: names(esm), cjs: names(cjs), same, dflt: valk === cjs,
        fn: typeof startWithConfig, one: startWithConfig === cjs.startWithConfig && ConfigError === cjs.ConfigError,
        leaked: stopped.leakedConnections, threw, url: import.meta.resolve('valk-aio') }));`;
    const r = node(['--input-type=module', '-e', script]);
    expect(r.err).toBe('');
    const got = JSON.parse(r.out);
    expect(got.esm).toEqual(got.cjs);
    expect(got.cjs).toEqual(expect.arrayContaining(['startWithConfig', 'generateSelfSigned', 'ConfigError', 'nativeInfo']));
    expect(got).toMatchObject({ same: true, dflt: true, fn: 'function', one: true, leaked: 0, threw: true });
    expect(got.url).toMatch(/dist\/esm\/index\.mjs$/);
  });

  it('require() gets the CommonJS build; deep paths are closed, package.json is open', () => {
    const r = node(['-e', `
      const v = require('valk-aio');
      console.log(JSON.stringify({ fn: typeof v.startWithConfig, file: require.resolve('valk-aio'),
        version: require('valk-aio/package.json').version,
        deep: (() => { try { require('valk-aio/dist/lib/config.js'); return 'open'; } catch (e) { return e.code; } })() }));`]);
    expect(r.err).toBe('');
    const got = JSON.parse(r.out);
    expect(got.fn).toBe('function');
    expect(got.file).toMatch(/dist\/lib\/index\.js$/);
    expect(got.version).toMatch(/^\d+\.\d+\.\d+/);
    expect(got.deep).toBe('ERR_PACKAGE_PATH_NOT_EXPORTED');
  });

  it('a TypeScript consumer type-checks as ESM (.mts) and CommonJS (.cts), types not any', () => {
    const body = `
      const c: SystemConfig = { maxConnections: 500 };
      const sys: AioSystem = startWithConfig(c);
      const size: number = sys.config.tcpBufferPoolSize;
      // @ts-expect-error maxConnections is a number
      startWithConfig({ maxConnections: 'many' });
      export const used = [size, generateSelfSigned];\n`;
    fs.writeFileSync(path.join(project, 'esm.mts'),
      "import valk, { startWithConfig, generateSelfSigned, type AioSystem, type SystemConfig } from 'valk-aio';\n" +
      `const same: typeof startWithConfig = valk.startWithConfig;\nvoid same;\n${body}`);
    fs.writeFileSync(path.join(project, 'cjs.cts'),
      "import valk = require('valk-aio');\nimport { startWithConfig, generateSelfSigned, type AioSystem, type SystemConfig } from 'valk-aio';\n" +
      `const same: typeof startWithConfig = valk.startWithConfig;\nvoid same;\n${body}`);
    fs.writeFileSync(path.join(project, 'tsconfig.json'), JSON.stringify({
      compilerOptions: {
        module: 'nodenext', moduleResolution: 'nodenext', target: 'ES2022', strict: true, noEmit: true,
        typeRoots: [path.join(root, 'node_modules', '@types')], types: ['node'],
      },
      files: ['esm.mts', 'cjs.cts'],
    }));
    const r = node([path.join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json', '--traceResolution']);
    const resolved = [...r.out.matchAll(/Module name 'valk-aio' was successfully resolved to '([^']+)'/g)].map((m) => m[1]);
    const errors = r.out.split('\n').filter((l) => /error TS/.test(l));
    expect(errors).toEqual([]);
    expect(r.code).toBe(0);
    expect(resolved.some((f) => f.endsWith('dist/esm/index.d.mts')), 'the .mts gets the import types').toBe(true);
    expect(resolved.some((f) => f.endsWith('dist/lib/index.d.ts')), 'the .cts gets the require types').toBe(true);
  }, 60_000);

  it('the bin still runs', () => {
    const r = node([path.join(project, 'node_modules', 'valk-aio', 'dist', 'cli', 'main.js'), '--version']);
    expect(r.code).toBe(0);
    expect(r.out.trim()).toBe(JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')).version);
  });
});
