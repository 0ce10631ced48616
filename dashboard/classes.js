/*
 * valk-aio dashboard: the colour classes and thresholds (docs/design.md §8):
 * which class (grn red ylw blu, healthy warning critical) a value gets.
 *
 * Pure functions, no DOM. Runs on the page's only thread (and under Node in
 * the tests).
 */

export var WARN_PCT = 80; // capacity banner thresholds
export var CRIT_PCT = 95;

/** docs/design.md §8: buffer utilization % > 95 red, > 85 yellow, > 50 blue. */
export function bufferUtilClass(pct) {
  if (pct > 95) return 'red';
  if (pct > 85) return 'ylw';
  if (pct > 50) return 'blu';
  return '';
}

/** docs/design.md §8: watermark critical red, high yellow, normal green. */
export function watermarkClass(state) {
  if (state === 'critical') return 'red';
  if (state === 'high') return 'ylw';
  return 'grn';
}

/** Capacity banner level of a pool: 'critical' at >= 95 %, 'warning' at >= 80 %, else ''. */
export function capacityLevel(used, total) {
  if (!(total > 0)) return '';
  var pct = (used / total) * 100;
  if (pct >= CRIT_PCT) return 'critical';
  if (pct >= WARN_PCT) return 'warning';
  return '';
}

export var PANEL_CRIT_PCT = 85; // a pool panel's critical border

/**
 * The border of a pool or slab panel (docs/design.md §8): 'critical' above
 * 85 % used, 'warning' from 80 % (the banner's first level), else ''.
 */
export function panelLevel(used, total) {
  if (!(total > 0)) return '';
  var pct = (used / total) * 100;
  if (pct > PANEL_CRIT_PCT) return 'critical';
  if (pct >= WARN_PCT) return 'warning';
  return '';
}

/** docs/design.md §8: arena gauge 0-70 % healthy, 70-90 % warning, 90+ % critical. */
export function gaugeClass(used, capacity) {
  var pct = capacity > 0 ? (used / capacity) * 100 : 0;
  if (pct >= 90) return 'critical';
  if (pct >= 70) return 'warning';
  return 'healthy';
}

/** A backpressure state (the event ring's, the request queue's, the SSE stream's) as a colour: DROPPING red,
 * PRESSURE and RECOVERY yellow (docs/design.md §13). */
export function eventRingClass(s) {
  return s === 'dropping' ? 'red' : s === 'pressure' || s === 'recovery' ? 'ylw' : '';
}

/** Fill level of an aggregated cell for its color: 0 (empty) .. 4 (full). */
export function fillLevel(used, size) {
  if (!(size > 0) || !(used > 0)) return 0;
  if (used >= size) return 4;
  return Math.min(3, 1 + Math.floor((used / size) * 3));
}

/** The state that colors an aggregated connection cell: the most frequent non-free one. */
export function dominantState(cell) {
  var best = 'F';
  var n = 0;
  ['A', 'I', 'C'].forEach(function (s) {
    if (cell[s] > n) {
      best = s;
      n = cell[s];
    }
  });
  return best;
}

/** Cell size (px) of a grid of n cells: big cells for tiny slabs (docs/design.md §8). */
export function cellSize(n) {
  if (n <= 16) return 16;
  if (n <= 128) return 11;
  if (n <= 512) return 9;
  return 7;
}

