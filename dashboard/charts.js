/*
 * dashboard/charts.js: small SVG charts (sparklines) for the history section
 * (docs/design.md §8 "History"). Built from DOM/SVG
 * elements (no inline script, no library; the page's CSP allows this and
 * element.style). Reads nothing itself: panel-history.js hands each chart
 * its points ([{t, v}], from history.js), the time range (history.js
 * timeRange: at most the 5 minutes up to the newest sample), horizontal lines (the watermarks) and the watermark
 * markers. Every number shown goes through format.js. Runs on the page's
 * only thread.
 *
 * Pure functions first (path math, exported for test/dashboard-history.test.ts),
 * then the DOM builder. A chart holds no array of its own: it redraws from
 * the points it is given (at most history.js MAX_SAMPLES a series).
 */
import { format } from './format.js';

/** The viewBox of every chart; the SVG is stretched to its box (non-scaling strokes). */
export const VIEW_W = 300;
export const VIEW_H = 60;
/** Two points further apart than this are not joined (the poll stopped, the page was away). */
export const GAP_MS = 5000;

const SVG_NS = 'http://www.w3.org/2000/svg';

function r1(n) {
  return Math.round(n * 10) / 10;
}

/** x of time t on a chart w wide showing [tMin, tMax]. */
export function xOf(t, w, tMin, tMax) {
  if (!(tMax > tMin)) return w;
  return r1(((t - tMin) / (tMax - tMin)) * w);
}

/** y of value v on a chart h high whose top is yMax (clamped into the chart; y grows down). */
export function yOf(v, h, yMax) {
  if (!(yMax > 0)) return h;
  return r1(h - (Math.min(Math.max(v, 0), yMax) / yMax) * h);
}

/**
 * A round top for the y axis: the smallest 1, 2, 2.5 or 5 × 10^k at or above
 * v (1 when v is 0, negative or unknown), so the label reads well.
 */
export function niceMax(v) {
  if (typeof v !== 'number' || !isFinite(v) || v <= 0) return 1;
  var p = Math.pow(10, Math.floor(Math.log10(v)));
  var steps = [1, 2, 2.5, 5, 10];
  for (var i = 0; i < steps.length; i++) if (steps[i] * p >= v * (1 - 1e-12)) return steps[i] * p;
  return 10 * p;
}

/**
 * SVG path data for points [{t, v}] (oldest first) on a w × h chart showing
 * [tMin, tMax] and values 0..yMax: "M x y L x y ...". Points with v null (no
 * value: a counter reset, no sample) and points before tMin are left out; two
 * points more than gapMs apart start a new subpath; a lone point is drawn as
 * a dot ("h0" with round caps). '' when nothing is drawn.
 */
export function seriesPath(points, w, h, tMin, tMax, yMax, gapMs) {
  var gap = typeof gapMs === 'number' ? gapMs : GAP_MS;
  var out = '';
  var prevT = null;
  var runLen = 0;
  for (var i = 0; i < (points || []).length; i++) {
    var p = points[i];
    if (!p || typeof p.v !== 'number' || !isFinite(p.v) || p.t < tMin || p.t > tMax) continue;
    var xy = xOf(p.t, w, tMin, tMax) + ' ' + yOf(p.v, h, yMax);
    if (prevT === null || p.t - prevT > gap) {
      if (runLen === 1) out += 'h0';
      out += 'M' + xy;
      runLen = 1;
    } else {
      out += 'L' + xy;
      runLen++;
    }
    prevT = p.t;
  }
  if (runLen === 1) out += 'h0';
  return out;
}

/** Path data of a horizontal line at value v (e.g. a watermark ratio). */
export function hLinePath(v, w, h, yMax) {
  var y = yOf(v, h, yMax);
  return 'M0 ' + y + 'H' + w;
}

/** Path data of a vertical marker at time t ('' outside the range). */
export function vLinePath(t, w, h, tMin, tMax) {
  if (t < tMin || t > tMax) return '';
  return 'M' + xOf(t, w, tMin, tMax) + ' 0V' + h;
}

/* ------------------------------------------------------------------ */
/* DOM                                                                 */
/* ------------------------------------------------------------------ */

function svgEl(name, cls) {
  var e = document.createElementNS(SVG_NS, name);
  if (cls) e.setAttribute('class', cls);
  return e;
}

function htmlEl(name, cls, text) {
  var e = document.createElement(name);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

/**
 * A chart element for spec = {id, title, kind (a format.js kind), series:
 * [{name, label, cls}], legend (bool)}. Returns {el, update(data)}; the
 * element carries data-series (spec.id) and, after each update, data-points,
 * data-max, data-last and data-markers for tests and the curious.
 */
export function createChart(spec) {
  var el = htmlEl('div', 'hchart');
  el.setAttribute('data-series', spec.id);
  var head = htmlEl('div', 'hchart-head');
  head.appendChild(htmlEl('span', 'hchart-title', spec.title));
  var lastEl = htmlEl('span', 'hchart-last', '--');
  head.appendChild(lastEl);
  el.appendChild(head);

  var body = htmlEl('div', 'hchart-body');
  var svg = svgEl('svg', 'hchart-svg');
  svg.setAttribute('viewBox', '0 0 ' + VIEW_W + ' ' + VIEW_H);
  svg.setAttribute('preserveAspectRatio', 'none');
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', spec.title + ', the last 5 minutes');
  var marks = svgEl('g', 'hchart-markers');
  var hlines = svgEl('g', 'hchart-hlines');
  svg.appendChild(marks);
  svg.appendChild(hlines);
  var paths = spec.series.map(function (s, i) {
    var p = svgEl('path', 'hchart-line ' + (s.cls || 'hs-' + i));
    p.setAttribute('data-name', s.name);
    p.setAttribute('vector-effect', 'non-scaling-stroke');
    svg.appendChild(p);
    return p;
  });
  body.appendChild(svg);
  var maxEl = htmlEl('span', 'hchart-max', '--');
  body.appendChild(maxEl);
  el.appendChild(body);

  var axis = htmlEl('div', 'hchart-axis');
  var spanEl = htmlEl('span', 'hchart-span', '--');
  axis.appendChild(spanEl);
  axis.appendChild(htmlEl('span', '', 'now'));
  el.appendChild(axis);

  var legendVals = null;
  if (spec.legend) {
    var legend = htmlEl('div', 'hchart-legend');
    legendVals = spec.series.map(function (s, i) {
      var item = htmlEl('span', 'legend-item');
      item.appendChild(htmlEl('span', 'legend-swatch ' + (s.cls || 'hs-' + i)));
      item.appendChild(document.createTextNode(s.label + ' '));
      var b = htmlEl('b', '', '--');
      item.appendChild(b);
      legend.appendChild(item);
      return b;
    });
    el.appendChild(legend);
  }

  /**
   * data = {tMin, tMax, lines: {name: [{t, v}]}, stats: {name: {points, max,
   * last}} (history.js stats), yMax (fixed top, else niceMax of the data),
   * hlines: [{v, cls, title}], markers: [{t, state}]}.
   */
  function update(data) {
    var top = null;
    var points = 0;
    spec.series.forEach(function (s) {
      var st = data.stats[s.name];
      if (st.max !== null) top = top === null ? st.max : Math.max(top, st.max);
      points = Math.max(points, st.points);
    });
    var yMax = data.yMax > 0 ? data.yMax : niceMax(top);
    spec.series.forEach(function (s, i) {
      paths[i].setAttribute('d', seriesPath(data.lines[s.name], VIEW_W, VIEW_H, data.tMin, data.tMax, yMax));
      paths[i].setAttribute('data-points', String(data.stats[s.name].points));
      if (legendVals) legendVals[i].textContent = format(spec.kind, data.stats[s.name].last);
    });
    hlines.textContent = '';
    (data.hlines || []).forEach(function (l) {
      if (typeof l.v !== 'number') return;
      var p = svgEl('path', 'hchart-hline ' + (l.cls || ''));
      p.setAttribute('d', hLinePath(l.v, VIEW_W, VIEW_H, yMax));
      p.setAttribute('vector-effect', 'non-scaling-stroke');
      var tip = svgEl('title');
      tip.textContent = l.title + ' ' + format(spec.kind, l.v);
      p.appendChild(tip);
      hlines.appendChild(p);
    });
    marks.textContent = '';
    var shown = 0;
    (data.markers || []).forEach(function (mk) {
      var d = vLinePath(mk.t, VIEW_W, VIEW_H, data.tMin, data.tMax);
      if (!d) return;
      var p = svgEl('path', 'hchart-marker wm-' + mk.state);
      p.setAttribute('d', d);
      p.setAttribute('vector-effect', 'non-scaling-stroke');
      p.setAttribute('data-state', mk.state);
      var tip = svgEl('title');
      tip.textContent = 'watermark ' + mk.state + ', ' + format('duration', Math.max(0, (data.tMax - mk.t) / 1000)) + ' ago';
      p.appendChild(tip);
      marks.appendChild(p);
      shown++;
    });
    var last = spec.series.length === 1 ? data.stats[spec.series[0].name].last : null;
    if (spec.series.length > 1) {
      // the sum of the series (all reasons together), '--' while none has a value
      spec.series.forEach(function (s) {
        var v = data.stats[s.name].last;
        if (v !== null) last = (last || 0) + v;
      });
    }
    lastEl.textContent = format(spec.kind, last);
    spanEl.textContent = '-' + format('duration', (data.tMax - data.tMin) / 1000);
    maxEl.textContent = format(spec.kind, yMax);
    el.setAttribute('data-points', String(points));
    el.setAttribute('data-max', top === null ? '' : String(top));
    el.setAttribute('data-last', last === null ? '' : String(last));
    el.setAttribute('data-markers', String(shown));
  }

  return { el: el, update: update };
}
