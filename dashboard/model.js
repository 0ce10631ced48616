/*
 * valk-aio dashboard: the data model. The page's state (what arrived last,
 * whether the view is paused, the poll interval) and a small publish /
 * subscribe that hands every arrival to the panels and recorders:
 *
 *   'metrics' fn(m)            every successful GET /debug/metrics, paused or not
 *   'memory'  fn(ev, id, raw)  every SSE memory snapshot (parsed, its id, the data line)
 *   'pause'   fn(paused)       when the view is paused or resumed
 *   'live'    fn(live, why)    the metrics poll's health (after every poll)
 *   'sse'     fn(text, cls)    the memory stream's status ('live' or 'stale')
 *
 * Panels draw only while !state.paused; recorders (history, the timeline)
 * keep recording while paused (docs/design.md §8). The subscriber lists are
 * fixed at start (one per module), so they are bounded by the page's code.
 * Runs on the page's only thread; no DOM here.
 */

export var METRICS_URL = '/debug/metrics';
export var SSE_URL = '/debug/diagnostics/memory';
export var POLL_MS = 1000; // the default /debug/metrics poll interval

export var state = {
  paused: false,
  timer: null,       // the next poll's timeout
  lastOk: 0,         // Date.now() of the last good poll
  pollMs: POLL_MS,   // the metrics poll interval (controls.js: 1 s, 5 s, 10 s)
  lastMetrics: null, // the newest /debug/metrics answer
  sse: null,         // the open EventSource
  lastEvent: null,   // the newest memory snapshot
  lastEventId: null,
  sseAttempt: 0,     // failed stream openings in a row (the backoff's exponent)
  sseRetryMs: 0,     // the last wait before a reconnect
  sseTimer: null,
  // ms the last handling of each arrival took, every subscriber included
  // (emit), and the last history redraw (panel-history.js): bench/dashboard.sh reads them
  timing: { metrics: 0, memory: 0, history: 0 },
};

var clock = typeof performance !== 'undefined' ? function () { return performance.now(); } : Date.now;

var subscribers = { metrics: [], memory: [], pause: [], live: [], sse: [] };

/** Calls fn for every arrival of kind (one of the kinds above). */
export function on(kind, fn) {
  if (!subscribers[kind]) throw new Error('model: unknown kind ' + kind);
  subscribers[kind].push(fn);
}

/** Hands args to every subscriber of kind; one failing subscriber does not stop the others. */
export function emit(kind) {
  var args = Array.prototype.slice.call(arguments, 1);
  var list = subscribers[kind] || [];
  var t0 = clock();
  for (var i = 0; i < list.length; i++) {
    try {
      list[i].apply(null, args);
    } catch (e) {
      if (typeof console !== 'undefined') console.error('dashboard:', kind, e);
    }
  }
  if (kind in state.timing) state.timing[kind] = clock() - t0;
}

/** Times fn() into state.timing[name] (ms). */
export function timed(name, fn) {
  var t0 = clock();
  fn();
  state.timing[name] = clock() - t0;
}

/** Pauses or resumes the view (the data keeps arriving). */
export function setPaused(paused) {
  if (state.paused === !!paused) return;
  state.paused = !!paused;
  emit('pause', state.paused);
}
