/*
 * dashboard/panel-history.js: the "History (last 5 min)" section
 * (docs/design.md §8 "History"): six charts drawn by charts.js from
 * the history.js ring. Reads the model's 'metrics' events (every
 * /debug/metrics poll) and 'memory' events (every SSE snapshot), both
 * recorded whether or not the page is paused; draws at most once a second
 * (MIN_DRAW_MS) and not while paused ('pause' redraws on resume). Runs on
 * the page's only thread.
 *
 * The section element (#history) counts its draws in data-draws, so a test
 * can see that nothing is drawn while paused.
 */
import { state, on, timed } from './model.js';
import * as H from './history.js';
import { createChart } from './charts.js';

export const MIN_DRAW_MS = 1000;

/** The six charts: id (data-series), title, format.js kind, series (history.js names). */
export const CHARTS = [
  { id: 'reqs', title: 'requests/s', kind: 'perSecond', series: [{ name: 'reqs', cls: 'hs-0' }] },
  { id: 'active', title: 'active connections', kind: 'count', series: [{ name: 'active', cls: 'hs-0' }] },
  { id: 'tcp', title: 'TCP buffer utilization', kind: 'pct', series: [{ name: 'tcp', cls: 'hs-0' }], yMax: 1, watermarks: true },
  {
    id: 'refusals', title: 'refusals/s by reason', kind: 'perSecond', legend: true,
    series: H.REFUSAL_REASONS.map(function (r, i) {
      return { name: 'refusals.' + r.key, label: r.label, cls: 'hs-' + i };
    }),
  },
  { id: 'arena', title: 'arena bytes committed', kind: 'bytes', series: [{ name: 'arena', cls: 'hs-0' }] },
  { id: 'loop', title: 'event-loop delay p99', kind: 'ms', series: [{ name: 'loopDelay', cls: 'hs-0' }] },
];

/** The page's history (one, for the page's life; bounded by history.js). */
export const history = H.createHistory();

/** How long to wait before the next draw: 0 when MIN_DRAW_MS have passed since lastDraw. */
export function drawDelay(now, lastDraw) {
  return Math.max(0, lastDraw + MIN_DRAW_MS - now);
}

/** Everything a chart of spec needs from history h (pure). */
export function chartData(h, spec) {
  var range = H.timeRange(h);
  var lines = {};
  var stats = {};
  spec.series.forEach(function (s) {
    lines[s.name] = H.seriesOf(h, s.name);
    stats[s.name] = H.stats(lines[s.name]);
  });
  var hlines = [];
  if (spec.watermarks) {
    hlines.push({ v: h.watermark.high, cls: 'wm-high', title: 'high watermark' });
    hlines.push({ v: h.watermark.critical, cls: 'wm-critical', title: 'critical watermark' });
  }
  return { tMin: range.tMin, tMax: range.tMax, lines: lines, stats: stats, yMax: spec.yMax, hlines: hlines, markers: H.markersIn(h) };
}

var charts = [];
var section = null;
var timer = null;
var lastDraw = -Infinity;
var draws = 0;

function draw() {
  timer = null;
  if (state.paused || !section) return;
  lastDraw = Date.now();
  timed('history', function () {
    charts.forEach(function (c) {
      c.chart.update(chartData(history, c.spec));
    });
  });
  draws++;
  section.setAttribute('data-draws', String(draws));
  section.setAttribute('data-samples', String(history.count));
}

/** Asks for a draw: at once if the last was MIN_DRAW_MS ago, else when it is due. */
function request() {
  if (state.paused || timer !== null) return;
  timer = setTimeout(draw, drawDelay(Date.now(), lastDraw));
}

/** Builds the charts into #history-charts and subscribes to the model. */
export function mount() {
  section = document.getElementById('history');
  var box = document.getElementById('history-charts');
  if (!section || !box) return;
  charts = CHARTS.map(function (spec) {
    var chart = createChart(spec);
    box.appendChild(chart.el);
    return { spec: spec, chart: chart };
  });
  on('metrics', function (m) {
    H.addMetrics(history, m);
    section.setAttribute('data-samples', String(history.count));
    request();
  });
  on('memory', function (ev) {
    H.addMemory(history, ev);
    section.setAttribute('data-samples', String(history.count));
    request();
  });
  on('pause', function (paused) {
    if (!paused) request();
  });
}
