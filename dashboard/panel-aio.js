/*
 * valk-aio dashboard: the Async I/O cards (Resources, Memory Pools, Event
 * Loop, Queue Status, Backpressure, Event Ring) from each GET /debug/metrics
 * answer (docs/metrics.md).
 * Browser only; runs on the page's only thread.
 */
import { on, state } from './model.js';
import { formatBytes, formatDuration, formatNumber, formatPct } from './format.js';
import { bufferUtilClass, eventRingClass, watermarkClass } from './classes.js';
import { readyText } from './decode.js';
import { $, card, num, row, setText } from './dom.js';

export function renderAio(m) {
  var p = m.pools || {};
  var tcp = p.tcp_buffers || {};
  var ar = p.arenas || {};
  var loop = m.loop || {};
  var q = m.queue || {};
  var res = m.resources || {};
  var wm = m.watermark || {};
  var bp = m.backpressure || {};
  var conns = m.connections || {};
  var ev = m.events || {};
  var util = tcp.total > 0 ? (tcp.used / tcp.total) * 100 : 0;
  setText('aio-sub', num(res.servers) + ' srv, ' + formatNumber(loop.iterations) + ' iters');
  $('aio-cards').innerHTML = [
    card('Resources', [
      row('Servers', formatNumber(res.servers), res.servers > 0 ? 'grn' : ''),
      row('Clients', formatNumber(res.clients)),
      row('Handles', formatNumber(res.handles)),
    ]),
    card('Memory Pools', [
      row('Stream Arenas', formatNumber(ar.used) + '/' + formatNumber(ar.total)),
      row('TCP Buffers', formatNumber(tcp.used) + '/' + formatNumber(tcp.total)),
      row('Buffer Util', formatPct(util / 100), bufferUtilClass(util)),
      row('Buffer Overflow', formatNumber(num(tcp.overflow)), tcp.overflow > 0 ? 'red' : ''),
      row('Arena Committed', formatBytes(ar.committed_bytes)),
    ]),
    card('Event Loop', [
      row('Iterations', formatNumber(loop.iterations)),
      row('Events', formatNumber(loop.events)),
      row('Idle Time', formatDuration(num(loop.idle_ns) / 1e9)),
    ]),
    card('Queue Status', [
      row('Queue State', q.state || '--', eventRingClass(q.state)),
      row('Queue Depth', formatNumber(q.depth) + '/' + formatNumber(q.capacity), q.depth > 0 ? 'blu' : ''),
      row('Pending Reqs', formatNumber(q.pending_requests)),
      row('Pending Resp', formatNumber(q.pending_responses)),
    ]),
    card('Backpressure', [
      row('Paused Conns', formatNumber(num(bp.list_size)), bp.list_size > 0 ? 'ylw' : ''),
      row('Watermark', wm.state || 'normal', watermarkClass(wm.state)),
      row('Conn Slots', formatNumber(conns.available) + '/' + formatNumber(conns.max), conns.available === 0 ? 'red' : ''),
      row('SSE Stream', (m.sse || {}).state || '--', eventRingClass((m.sse || {}).state)),
      row('Ready', readyText(m.ready), m.ready && m.ready.ready === 1 ? 'grn' : 'red'),
    ]),
    card('Event Ring', [
      row('State', ev.state || '--', eventRingClass(ev.state)),
      row('Fill', formatNumber(ev.fill) + '/' + formatNumber(ev.capacity)),
      row('Dropped', formatNumber(num(ev.events_dropped)), ev.events_dropped > 0 ? 'red' : ''),
      row('Recording', ev.recording ? 'on' : 'off', ev.recording ? 'grn' : ''),
    ]),
  ].join('');
}


export function mount() {
  on('metrics', function (m) {
    if (!state.paused) renderAio(m);
  });
}
