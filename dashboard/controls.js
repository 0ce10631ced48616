/*
 * valk-aio debug dashboard: the header's controls beside pause (app.js):
 * the metrics poll interval (1 s, 5 s, 10 s) and "Copy as JSON" (the newest
 * /debug/metrics answer and memory snapshot, as one JSON document, to the
 * clipboard). Plain ES5-style script like app.js; it reads and sets
 * window.ValkDashboard.state.
 *
 * The pure functions are module.exports for Node's tests.
 */
(function (factory) {
  'use strict';
  var api = factory();
  if (typeof module !== 'undefined' && module.exports) module.exports = api;
  if (typeof window !== 'undefined') {
    window.ValkControls = api;
    if (typeof document !== 'undefined' && document.getElementById('poll-interval')) {
      if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', api.start);
      else api.start();
    }
  }
})(function () {
  'use strict';

  var INTERVALS_MS = [1000, 5000, 10000];

  /** The interval a select's value names, or 1000 for anything else. */
  function intervalOf(value) {
    var n = Number(value);
    return INTERVALS_MS.indexOf(n) >= 0 ? n : INTERVALS_MS[0];
  }

  /** What "Copy as JSON" copies: when, the metrics and the snapshot (either may be null). */
  function snapshotDocument(metrics, memory, now) {
    return JSON.stringify({ copied_at: new Date(now).toISOString(), metrics: metrics, memory: memory }, null, 2);
  }

  function dashboard() {
    return typeof window !== 'undefined' ? window.ValkDashboard : undefined;
  }

  function setPollInterval(ms) {
    var d = dashboard();
    if (!d) return;
    d.state.pollMs = ms;
    if (d.state.timer !== null) {
      clearTimeout(d.state.timer);
      d.state.timer = null;
    }
    d.schedule();
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

  function start() {
    var select = document.getElementById('poll-interval');
    select.addEventListener('change', function () {
      setPollInterval(intervalOf(select.value));
    });
    var button = document.getElementById('copy-json');
    button.addEventListener('click', function () {
      var d = dashboard();
      var text = snapshotDocument(d ? d.state.lastMetrics : null, d ? d.state.lastEvent : null, Date.now());
      copyText(text).then(function (how) {
        button.setAttribute('data-copied', how === 'copied' ? String(text.length) : '0');
        button.title = how;
        button.textContent = how === 'copied' ? 'copied' : 'copy failed';
        setTimeout(function () { button.textContent = 'Copy as JSON'; }, 1500);
      });
    });
  }

  return { INTERVALS_MS: INTERVALS_MS, intervalOf: intervalOf, snapshotDocument: snapshotDocument, start: start };
});
