#!/usr/bin/env node
// Driver for bench/dashboard.sh: opens the dashboard in Debian's chromium
// (playwright-core) and times, with performance.now() inside the page, how
// long drawing one memory snapshot takes (docs/design.md §8):
//
//   parse   JSON.parse of the event's data line
//   render  renderMemory(ev): the slab grid, the pool grids, the arena gauges
//   layout  the forced style + layout after it (document.body.offsetHeight)
//   live    then, unpaused: the whole handling of an arrival (every subscriber:
//           history, the timeline, the memory panels) plus the forced layout
//   history each redraw of the six history charts (once a second)
//
// For the first three the live view is paused, so each event is drawn once, by this code.
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
    // the live page: every subscriber of an arrival (history, timeline, the memory panels), then the
    // forced layout (this subscriber comes last, so emit's time includes it); and each history redraw
    Object.assign(out, await page.evaluate((n) => new Promise((resolve) => {
      const D = window.ValkDashboard;
      D.setPaused(false);
      const live = [], hist = [];
      let seen = 0, lastHist = D.state.timing.history;
      D.on('memory', () => {
        void document.body.offsetHeight;
        if (seen++ > 0) live.push(D.state.timing.memory); // the previous arrival's, layout included
        if (D.state.timing.history !== lastHist) hist.push(lastHist = D.state.timing.history);
        if (live.length === n) {
          const q = (a, p) => { const s = a.slice().sort((x, y) => x - y); return s.length ? +s[Math.min(s.length - 1, Math.floor(p * s.length))].toFixed(3) : null; };
          const stat = (a) => ({ p50: q(a, 0.5), p95: q(a, 0.95), max: q(a, 1), n: a.length });
          resolve({ live: stat(live), history: stat(hist) });
        }
      });
    }), EVENTS));
    out.errors = errors;
    process.stdout.write(JSON.stringify(out) + '\n');
  } finally {
    await browser.close();
  }
}
main().catch((e) => { console.error(`dashboard-render: ${e && e.stack || e}`); process.exit(1); });
