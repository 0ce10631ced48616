// lib/ and cli/ without import cycles: every import, `export ... from` and
// dynamic import() of a relative module, type-only ones included, read from
// the sources themselves (no script, no build), makes an edge; any cycle
// fails the test and is printed.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = path.join(__dirname, '..');
const DIRS = ['lib', 'cli'];

/** Every specifier a module imports or re-exports from: static, type-only and dynamic. */
export function specifiers(source: string): string[] {
  const text = source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
  const out: string[] = [];
  const patterns = [
    /\bimport\s+(?:type\s+)?[\w*{}\s,$]*?\s*from\s*['"]([^'"]+)['"]/g, // import x / { x } / * as x / type { x } from
    /\bimport\s*['"]([^'"]+)['"]/g, // import 'side-effect'
    /\bexport\s+(?:type\s+)?(?:\*(?:\s+as\s+\w+)?|\{[^}]*\})\s*from\s*['"]([^'"]+)['"]/g, // export ... from
    /\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)/g, // import('...')
    /\brequire\s*\(\s*['"]([^'"]+)['"]\s*\)/g, // require('...')
  ];
  for (const re of patterns) for (const m of text.matchAll(re)) out.push(m[1]);
  return out;
}

/** module (path from the root, no extension) -> the modules of lib/ and cli/ it imports. */
function importGraph(): Map<string, Set<string>> {
  const graph = new Map<string, Set<string>>();
  for (const dir of DIRS) {
    for (const file of fs.readdirSync(path.join(ROOT, dir)).filter((f) => f.endsWith('.ts')).sort()) {
      const from = `${dir}/${file.replace(/\.ts$/, '')}`;
      const to = new Set<string>();
      for (const spec of specifiers(fs.readFileSync(path.join(ROOT, dir, file), 'utf8'))) {
        if (!spec.startsWith('.')) continue; // node: builtins and packages
        to.add(path.posix.normalize(path.posix.join(dir, spec)).replace(/\.(js|ts)$/, ''));
      }
      graph.set(from, to);
    }
  }
  return graph;
}

/** Every cycle of the graph, one per strongly connected component of 2+ modules (or a self-import), as a path. */
export function cyclesOf(graph: Map<string, Set<string>>): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, index.get(w)!));
      }
    }
    if (low.get(v) !== index.get(v)) return;
    const component: string[] = [];
    let w: string;
    do {
      w = stack.pop()!;
      onStack.delete(w);
      component.push(w);
    } while (w !== v);
    if (component.length > 1 || graph.get(v)?.has(v)) found.push(cyclePath(graph, new Set(component), v));
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return found;
}

/** One cycle through start inside component: start -> ... -> start (breadth-first, shortest). */
function cyclePath(graph: Map<string, Set<string>>, component: Set<string>, start: string): string[] {
  const prev = new Map<string, string>();
  const queue = [start];
  while (queue.length > 0) {
    const v = queue.shift()!;
    for (const w of graph.get(v) ?? []) {
      if (!component.has(w)) continue;
      if (w === start) {
        const cycle = [start];
        for (let u = v; u !== start; u = prev.get(u)!) cycle.splice(1, 0, u);
        return [...cycle, start];
      }
      if (!prev.has(w)) {
        prev.set(w, v);
        queue.push(w);
      }
    }
  }
  return [start, start];
}

describe('lib/ and cli/ import graph', () => {
  it('the parser sees static, type-only, re-exported and dynamic imports', () => {
    const src = [
      "import * as fs from 'node:fs';",
      "import type { A } from './a';",
      "import { B, C } from './b';",
      "import {\n  D,\n  E,\n} from './d';",
      "export { F } from './f';",
      "export type { G } from './g';",
      "export * from './h';",
      "const { i } = await import('./i');",
      "// import { J } from './j';",
      "/* import { K } from './k'; */",
    ].join('\n');
    expect(specifiers(src)).toEqual(expect.arrayContaining(['node:fs', './a', './b', './d', './f', './g', './h', './i']));
    expect(specifiers(src)).not.toContain('./j');
    expect(specifiers(src)).not.toContain('./k');
  });

  it('cycles are found and printed as paths', () => {
    const g = new Map([
      ['a', new Set(['b'])], ['b', new Set(['c'])], ['c', new Set(['a'])], ['d', new Set(['a', 'd'])],
    ]);
    expect(cyclesOf(g)).toEqual(expect.arrayContaining([['d', 'd']]));
    const abc = cyclesOf(g).find((c) => c.length === 4)!;
    expect(new Set(abc)).toEqual(new Set(['a', 'b', 'c']));
    expect(abc[0]).toBe(abc[3]);
    expect(cyclesOf(new Map([['a', new Set(['b'])], ['b', new Set<string>()]]))).toEqual([]);
  });

  it('the graph is read from the real files (edges it must hold)', () => {
    const g = importGraph();
    expect(g.get('lib/system')).toContain('lib/config');
    expect(g.get('lib/native')).toContain('lib/config'); // type-only
    expect(g.get('cli/main')).toContain('cli/start'); // dynamic
    expect(g.get('lib/index')).toContain('lib/footprint'); // export ... from
  });

  it('has no cycle in lib/*.ts and cli/*.ts', () => {
    const cycles = cyclesOf(importGraph());
    const text = cycles.map((c) => c.join(' -> ')).join('\n');
    if (cycles.length > 0) console.error(`import cycles:\n${text}`);
    expect(text, 'import cycles (type-only imports count)').toBe('');
  });
});
