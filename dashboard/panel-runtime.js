/*
 * valk-aio dashboard: the Node runtime cards (heap, GC, event loop) from
 * each GET /debug/metrics answer's runtime (docs/metrics.md).
 * Browser only; runs on the page's only thread.
 */
import { on, state } from './model.js';
import { formatBytes, formatDuration, formatMs, formatNumber, formatPct } from './format.js';
import { bufferUtilClass } from './classes.js';
import { $, card, num, row, setText } from './dom.js';

export function renderRuntime(m) {
  var r = m.runtime || {};
  var gc = r.gc || {};
  var el = r.event_loop || {};
  var heapUtil = num(r.heap_utilization);
  setText('runtime-sub', 'node ' + formatDuration(r.uptime_seconds));
  $('runtime-cards').innerHTML = [
    card('Heap Memory', [
      row('Used', formatBytes(r.heap_used_bytes)),
      row('Total', formatBytes(r.heap_total_bytes)),
      row('Utilization', formatPct(heapUtil), bufferUtilClass(heapUtil * 100)),
      row('RSS', formatBytes(r.rss_bytes)),
    ]),
    card('GC Cycles', [
      row('Total', formatNumber(gc.count)),
      row('Pause Total', formatDuration(num(gc.pause_seconds_total))),
      row('Pause Max', formatMs(gc.pause_max_ms)),
      row('Major / Minor', formatNumber(gc.major) + ' / ' + formatNumber(gc.minor)),
    ]),
    card('Event Loop', [
      row('Delay p50', formatMs(el.delay_p50_ms)),
      row('Delay p99', formatMs(el.delay_p99_ms), el.delay_p99_ms > 100 ? 'ylw' : ''),
      row('Utilization', formatPct(el.utilization), el.utilization > 0.9 ? 'red' : el.utilization > 0.7 ? 'ylw' : ''),
    ]),
  ].join('');
}


export function mount() {
  on('metrics', function (m) {
    if (!state.paused) renderRuntime(m);
  });
}
