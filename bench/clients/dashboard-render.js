#!/usr/bin/env node
// Driver for bench/dashboard.sh: opens the dashboard in Debian's chromium
// (playwright-core) and times, with performance.now() inside the page, how
// long drawing one memory snapshot takes (docs/design.md §8):
//
//   parse   JSON.parse of the event's data line
//   render  renderMemory(ev): the slab grid, the pool grids, the arena gauges
//   layout  the forced style + layout after it (document.body.offsetHeight)
//
// The live view is paused first, so each event is drawn once, by this code.
// Usage: node bench/clients/dashboard-render.js URL EVENTS
// stdout: one JSON line {"events":N,"parse":{p50,p95,max},"render":...,
//         "total":...,"conns":{"total","used","detail"},"pools":[...]}
'use strict';
const { chromium } = require('playwright-core');

const [url, eventsArg] = process.argv.slice(2);
const EVENTS = Number(eventsArg || 100);

async function main() {
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--ignore-certificate-errors'],
  });
  try {
    const page = await browser.newPage({ ignoreHTTPSErrors: true, viewport: { width: 1440, height: 900 } });
    const errors = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(url);
    await page.waitForFunction(() => /^\d+$/.test(document.getElementById('sse-id').textContent || ''), undefined, { timeout: 30_000 });
    const out = await page.evaluate((n) => new Promise((resolve) => {
      const D = window.ValkDashboard;
      D.setPaused(true);
      const parse = [], render = [], total = [];
      let last = null;
      D.on('memory', (_ev, _id, raw) => {
        if (parse.length >= n) return;
        const t0 = performance.now();
        const ev = JSON.parse(raw);
        const t1 = performance.now();
        D.renderMemory(ev);
        const t2 = performance.now();
        void document.body.offsetHeight;
        const t3 = performance.now();
        parse.push(t1 - t0); render.push(t2 - t1); total.push(t3 - t1);
        last = ev;
        if (parse.length === n) {
          const q = (a, p) => { const s = a.slice().sort((x, y) => x - y); return +s[Math.min(s.length - 1, Math.floor(p * s.length))].toFixed(3); };
          const stat = (a) => ({ p50: q(a, 0.5), p95: q(a, 0.95), max: q(a, 1) });
          const conns = last.slabs.find((s) => s.name === 'connections');
          resolve({
            events: n, parse: stat(parse), render: stat(render), total: stat(total),
            conns: { total: conns.total, used: conns.used, detail: conns.detail !== false },
            pools: last.slabs.filter((s) => s !== conns).map((s) => ({ name: s.name, total: s.total, used: s.used, agg: !!s.agg })),
            cells: document.querySelectorAll('.cell').length,
          });
        }
      });
    }), EVENTS);
    out.errors = errors;
    process.stdout.write(JSON.stringify(out) + '\n');
  } finally {
    await browser.close();
  }
}
main().catch((e) => { console.error(`dashboard-render: ${e && e.stack || e}`); process.exit(1); });
