/*
 * valk-aio dashboard: the header (docs/design.md §8): uptime, the metrics
 * poll's live dot, the memory stream's dot, pause / resume, the metrics poll
 * interval (1 s, 5 s, 10 s) and "Copy as JSON" (the newest /debug/metrics
 * answer and memory snapshot, as one JSON document, to the clipboard).
 *
 * The pure functions are exported for Node's tests. Runs on the page's only
 * thread.
 */
import { on, setPaused, state } from './model.js';
import { pollNow } from './sources.js';
import { formatDuration } from './format.js';
import { $, setText } from './dom.js';

export var INTERVALS_MS = [1000, 5000, 10000];

/** The interval a select's value names, or 1000 for anything else. */
export function intervalOf(value) {
  var n = Number(value);
  return INTERVALS_MS.indexOf(n) >= 0 ? n : INTERVALS_MS[0];
}

/** What "Copy as JSON" copies: when, the metrics and the snapshot (either may be null). */
export function snapshotDocument(metrics, memory, now) {
  return JSON.stringify({ copied_at: new Date(now).toISOString(), metrics: metrics, memory: memory }, null, 2);
}

function setPollInterval(ms) {
  state.pollMs = ms;
  pollNow();
}

/** Copies text; resolves with how it went ("copied" or why not). */
function copyText(text) {
  if (navigator.clipboard && navigator.clipboard.writeText) {
    return navigator.clipboard.writeText(text).then(function () { return 'copied'; }, function (e) { return 'not copied: ' + e.message; });
  }
  var area = document.createElement('textarea'); // older browsers, plain http: the selection
  area.value = text;
  document.body.appendChild(area);
  area.select();
  var ok = document.execCommand && document.execCommand('copy');
  document.body.removeChild(area);
  return Promise.resolve(ok ? 'copied' : 'not copied');
}

function setLive(live, why) {
  $('status-dot').className = 'dot ' + (live ? 'live' : 'stale');
  setText('status-text', live ? 'live' : 'stale' + (why ? ' (' + why + ')' : ''));
}

function showPaused(paused) {
  var btn = $('pause');
  btn.textContent = paused ? 'resume' : 'pause';
  btn.setAttribute('aria-pressed', paused ? 'true' : 'false');
  document.body.classList.toggle('paused', paused);
}

function mountCopy() {
  var button = $('copy-json');
  button.addEventListener('click', function () {
    var text = snapshotDocument(state.lastMetrics, state.lastEvent, Date.now());
    copyText(text).then(function (how) {
      button.setAttribute('data-copied', how === 'copied' ? String(text.length) : '0');
      button.title = how;
      button.textContent = how === 'copied' ? 'copied' : 'copy failed';
      setTimeout(function () { button.textContent = 'Copy as JSON'; }, 1500);
    });
  });
}

export function mount() {
  var select = $('poll-interval');
  select.addEventListener('change', function () {
    setPollInterval(intervalOf(select.value));
  });
  $('pause').addEventListener('click', function () {
    setPaused(!state.paused);
  });
  mountCopy();
  on('pause', showPaused);
  on('live', setLive);
  on('sse', function (text, cls) {
    $('sse-dot').className = 'dot ' + cls;
    setText('sse-status', text);
  });
  on('metrics', function (m) {
    if (!state.paused) setText('uptime', formatDuration(m.uptime_seconds));
  });
}
