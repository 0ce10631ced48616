#!/usr/bin/env node
// The C modules' symbol graph (docs/architecture.md): module A uses module B
// when A's object file references a symbol B's object file defines. Prints the
// edges and any cycle; exits 1 when there is a cycle.
//   node scripts/module-graph.js [objdir]   (default build/Release/obj.target/valk_aio/csrc)
'use strict';
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

function graph(dir) {
  const objs = fs.readdirSync(dir).filter((f) => f.endsWith('.o'));
  const defs = new Map();
  const undefs = new Map();
  for (const o of objs) {
    const mod = o.replace(/\.o$/, '');
    const out = execFileSync('nm', ['-P', path.join(dir, o)], { encoding: 'utf8' });
    const u = new Set();
    for (const line of out.split('\n')) {
      const [sym, type] = line.split(' ');
      if (!sym) continue;
      if (type === 'U') u.add(sym);
      else if (/^[TDBR]$/.test(type)) defs.set(sym, mod);
    }
    undefs.set(mod, u);
  }
  const edges = new Map();
  for (const [mod, u] of undefs) {
    const to = new Set();
    for (const s of u) {
      const d = defs.get(s);
      if (d && d !== mod) to.add(d);
    }
    edges.set(mod, to);
  }
  return edges;
}

function cycles(edges) {
  // Tarjan's strongly connected components; any component of 2+ is a cycle.
  let index = 0;
  const idx = new Map(), low = new Map(), on = new Set(), stack = [], out = [];
  function visit(v) {
    idx.set(v, index); low.set(v, index); index++;
    stack.push(v); on.add(v);
    for (const w of edges.get(v) || []) {
      if (!idx.has(w)) { visit(w); low.set(v, Math.min(low.get(v), low.get(w))); }
      else if (on.has(w)) low.set(v, Math.min(low.get(v), idx.get(w)));
    }
    if (low.get(v) === idx.get(v)) {
      const c = [];
      let w;
      do { w = stack.pop(); on.delete(w); c.push(w); } while (w !== v);
      if (c.length > 1) out.push(c.sort());
    }
  }
  for (const v of edges.keys()) if (!idx.has(v)) visit(v);
  return out;
}

module.exports = { graph, cycles };

if (require.main === module) {
  const dir = process.argv[2] || path.join(__dirname, '..', 'build/Release/obj.target/valk_aio/csrc');
  const edges = graph(dir);
  for (const [m, to] of [...edges].sort()) console.log(`${m} -> ${[...to].sort().join(', ')}`);
  const cs = cycles(edges);
  for (const c of cs) console.log(`CYCLE: ${c.join(' <-> ')}`);
  process.exit(cs.length ? 1 : 0);
}
