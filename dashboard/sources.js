/*
 * valk-aio dashboard: the two data sources (docs/design.md §8), both on the
 * page's own origin:
 *
 *  1. GET /debug/metrics, polled every state.pollMs (1 s by default); the
 *     next poll is scheduled when one ends, so polls never overlap.
 *  2. GET /debug/diagnostics/memory, an EventSource ("event: memory", one
 *     whole snapshot every 100 ms). On an error the page closes it and opens
 *     a new one after 1 s, 2 s, 4 s ... at most 30 s.
 *
 * Each arrival goes to the model (model.js emit), paused or not; drawing is
 * the panels' business. Runs on the page's only thread.
 */
import { METRICS_URL, SSE_URL, emit, state } from './model.js';
import { formatMs } from './format.js';

export var SSE_BACKOFF_MIN_MS = 1000; // the memory stream's reconnect: 1 s, doubling ...
export var SSE_BACKOFF_MAX_MS = 30000; // ... up to 30 s
export var FETCH_TIMEOUT_MS = 3000;

/** The wait before reconnect attempt n (0 first): 1 s, 2 s, 4 s, ... at most 30 s. */
export function backoffMs(attempt) {
  return Math.min(SSE_BACKOFF_MAX_MS, SSE_BACKOFF_MIN_MS * Math.pow(2, attempt));
}

/** One poll of /debug/metrics; the next is scheduled when this one ends (no overlap). */
export function poll() {
  state.timer = null;
  var ctrl = typeof AbortController !== 'undefined' ? new AbortController() : null;
  var to = setTimeout(function () {
    if (ctrl) ctrl.abort();
  }, FETCH_TIMEOUT_MS);
  fetch(METRICS_URL, { cache: 'no-store', signal: ctrl ? ctrl.signal : undefined })
    .then(function (r) {
      if (!r.ok) throw new Error('HTTP ' + r.status);
      return r.json();
    })
    .then(function (m) {
      state.lastOk = Date.now();
      state.lastMetrics = m;
      emit('live', true);
      emit('metrics', m);
    })
    .catch(function (e) {
      emit('live', false, e && e.name === 'AbortError' ? 'timeout' : e && e.message);
    })
    .then(function () {
      clearTimeout(to);
      schedule();
    });
}

/** Schedules the next poll in state.pollMs unless one is pending. */
export function schedule() {
  if (state.timer === null) state.timer = setTimeout(poll, state.pollMs);
}

/** Polls now (a changed interval takes effect at once). */
export function pollNow() {
  if (state.timer !== null) clearTimeout(state.timer);
  poll();
}

/**
 * Opens the memory stream. On an error the page closes it and opens a new
 * one after backoffMs (the browser's own retry is a fixed second, forever):
 * 'sse' status 'stale' meanwhile, and the wait resets once a stream opens.
 * Each event is a whole snapshot, so a new stream loses nothing but the time.
 */
export function openSse() {
  state.sseTimer = null;
  if (typeof EventSource === 'undefined') {
    emit('sse', 'no EventSource in this browser', 'stale');
    return;
  }
  var es = new EventSource(SSE_URL);
  state.sse = es;
  es.onopen = function () {
    state.sseAttempt = 0;
    emit('sse', 'streaming', 'live');
  };
  es.onerror = function () {
    es.close();
    if (state.sse !== es || state.sseTimer !== null) return;
    var wait = backoffMs(state.sseAttempt++);
    state.sseRetryMs = wait;
    emit('sse', 'disconnected, retry in ' + formatMs(wait), 'stale');
    state.sseTimer = setTimeout(openSse, wait);
  };
  es.addEventListener('memory', function (e) {
    var ev;
    try {
      ev = JSON.parse(e.data);
    } catch (err) {
      emit('sse', 'bad event: ' + err.message, 'stale');
      return;
    }
    state.lastEvent = ev;
    state.lastEventId = e.lastEventId;
    emit('memory', ev, e.lastEventId, e.data);
  });
}

/** Marks the page stale when no poll has succeeded for 3 intervals (e.g. a hung fetch). */
export function watchdog() {
  setInterval(function () {
    if (state.lastOk && Date.now() - state.lastOk > 3 * state.pollMs + FETCH_TIMEOUT_MS) emit('live', false, 'no data');
  }, 1000);
}
