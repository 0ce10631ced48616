// The shape of the C core (docs/architecture.md): calls go one way, the
// transport exists once, and no file grows past what a reader can hold.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';

const { graph, cycles } = createRequire(__filename)('../scripts/module-graph.js') as {
  graph: (dir: string) => Map<string, Set<string>>;
  cycles: (edges: Map<string, Set<string>>) => string[][];
};

const root = path.join(__dirname, '..');
const objDir = path.join(root, 'build/Release/obj.target/valk_aio/csrc');
const csrc = path.join(root, 'csrc');

function read(file: string): string {
  return fs.readFileSync(path.join(csrc, file), 'utf8');
}

/** The code of a C file without its comments and string literals. */
function code(file: string): string {
  return read(file)
    .replace(/\/\*[\s\S]*?\*\//g, '')
    .replace(/\/\/.*$/gm, '')
    .replace(/"(?:[^"\\\n]|\\.)*"/g, '""');
}

describe('the C modules', () => {
  it('their symbol graph has no cycle (a module uses another when it references a symbol the other defines)', () => {
    const edges = graph(objDir);
    expect(edges.size, 'object files of the build').toBeGreaterThan(20);
    expect(cycles(edges)).toEqual([]);
  });

  it('the layers: leaf modules call no protocol module, the connection layer neither server nor client', () => {
    const edges = graph(objDir);
    const protocol = ['valk_h2_server', 'valk_h2_session', 'valk_h2_stream', 'valk_h2_client', 'valk_sse',
      'valk_system', 'valk_dispatch'];
    const leaves = ['valk_slab', 'valk_arena', 'valk_ring', 'valk_tls', 'valk_metrics', 'valk_owner',
      'valk_snapshot', 'valk_admission', 'valk_route', 'valk_ratelim', 'valk_h2_mem', 'valk_reqhdrs',
      'valk_h2_rules', 'valk_h1_parse', 'valk_common', 'valk_op', 'valk_evring', 'valk_bpstate'];
    for (const m of [...leaves, 'valk_conn']) {
      expect(edges.has(m), `${m}.o exists`).toBe(true);
      const up = [...(edges.get(m) ?? [])].filter((t) => protocol.includes(t) || t === 'binding');
      expect(up, `${m} calls up`).toEqual([]);
    }
    expect([...(edges.get('valk_h2_client') ?? [])].filter((t) => t.startsWith('valk_h2_s'))).toEqual([]);
    for (const m of ['valk_h2_server', 'valk_h2_session', 'valk_h2_stream'])
      expect(edges.get(m)?.has('valk_h2_client'), `${m} -> valk_h2_client`).toBe(false);
  });

  it('server and client share one transport: only valk_conn.c reads, writes, encrypts or decrypts', () => {
    const transport = /\b(uv_write|uv_read_start|uv_read_stop|uv_shutdown|SSL_write|SSL_read|SSL_do_handshake|BIO_read|BIO_write)\s*\(/;
    const files = fs.readdirSync(csrc).filter((f) => /\.(c|cc)$/.test(f));
    const users = files.filter((f) => transport.test(code(f)));
    expect(users).toEqual(['valk_conn.c']);
  });

  it('server and client include neither the other', () => {
    const inc = (f: string) => [...read(f).matchAll(/#include "([^"]+)"/g)].map((m) => m[1]);
    for (const f of ['valk_h2_client.c', 'valk_h2_client.h'])
      expect(inc(f).filter((h) => /valk_h2_s(erver|ession|tream)\.h/.test(h)), f).toEqual([]);
    for (const f of fs.readdirSync(csrc).filter((n) => /^valk_h2_s(erver|ession|tream)\.[ch]$/.test(n)))
      expect(inc(f), f).not.toContain('valk_h2_client.h');
  });
});

describe('every source file', () => {
  it('is at most 1,000 lines (csrc/, lib/, cli/)', () => {
    const long: string[] = [];
    for (const dir of ['csrc', 'lib', 'cli']) {
      for (const f of fs.readdirSync(path.join(root, dir))) {
        if (!/\.(c|cc|h|ts)$/.test(f)) continue;
        const n = fs.readFileSync(path.join(root, dir, f), 'utf8').split('\n').length - 1;
        if (n > 1000) long.push(`${dir}/${f}: ${n}`);
      }
    }
    expect(long).toEqual([]);
  });

  it('cites this repository\'s documents only (no seeds, no SPEC-MAP)', () => {
    // git grep exits 1 when nothing matches; untracked files are searched too.
    // A citation: "seed 000", "seed phase 4", "the seeds", "seed's", "SPEC-MAP" (a hash seed is not one).
    const cite = "seed ?[0-9]|seeds\\b|seed's|seed phases?|seed §|the seed\\b|spec-map";
    const r = spawnSync('git', ['grep', '-n', '-i', '--untracked', '-E', cite, '--', 'csrc', 'lib',
      'cli', 'scripts', 'dashboard', 'bench/*.sh', 'README.md', 'docs'], { cwd: root, encoding: 'utf8' });
    expect(r.status === 0 || r.status === 1, r.stderr).toBe(true);
    expect(r.stdout).toBe('');
  });
});
