/*
 * valk-aio dashboard: one HTTP Server card per servers[].key ("host:port")
 * of each GET /debug/metrics answer: connections, streams, requests and
 * their rate, traffic, latency p50/p99 estimated from the histogram
 * (docs/metrics.md). The rates come from successive polls.
 * Browser only; runs on the page's only thread.
 */
import { on, state } from './model.js';
import { formatBytes, formatDuration, formatMs, formatNumber, formatPerSecond, formatRate } from './format.js';
import { computeRate, latencySummary } from './decode.js';
import { $, card, cssEscape, esc, num, row, setText } from './dom.js';

// key -> {t, bytes_sent, bytes_received, requests_total}; one entry per server
// in the newest answer (entries of servers gone are removed).
var prevServers = {};

/** Rates of one server from its previous sample (kept in prevServers). */
function serverRates(s, nowMs) {
  var prev = prevServers[s.key];
  prevServers[s.key] = { t: nowMs, bytes_sent: s.bytes_sent, bytes_received: s.bytes_received, requests_total: s.requests_total };
  if (!prev) return { send: null, recv: null, req: null };
  return {
    send: computeRate(prev.bytes_sent, s.bytes_sent, prev.t, nowMs),
    recv: computeRate(prev.bytes_received, s.bytes_received, prev.t, nowMs),
    req: computeRate(prev.requests_total, s.requests_total, prev.t, nowMs),
  };
}

export function serverCardHtml(s, rates) {
  var lat = latencySummary(s.latency);
  return (
    '<h2 class="srv-title">HTTP Server <span class="srv-key">' + esc(s.key) + '</span>' +
    '<span class="sub">up ' + esc(formatDuration(s.uptime_seconds)) + '</span></h2><div class="cards">' +
    card('Connections', [
      row('Active', formatNumber(s.connections_active), s.connections_active > 0 ? 'grn' : ''),
      row('Total', formatNumber(s.connections_total)),
      row('Failed', formatNumber(s.connections_failed), s.connections_failed > 0 ? 'red' : ''),
      row('Rejected (Limit)', formatNumber(s.connections_rejected), s.connections_rejected > 0 ? 'ylw' : ''),
      row('Rejected (Load)', formatNumber(s.connections_rejected_load), s.connections_rejected_load > 0 ? 'ylw' : ''),
    ]) +
    card('Streams', [
      row('Active', formatNumber(s.streams_active), s.streams_active > 0 ? 'grn' : ''),
      row('Total', formatNumber(s.streams_total)),
    ]) +
    card('HTTP Requests', [
      row('Total', formatNumber(s.requests_total)),
      row('Rate', formatPerSecond(rates.req)),
      row('2xx', formatNumber(s.responses_2xx), s.responses_2xx > 0 ? 'grn' : ''),
      row('4xx', formatNumber(s.responses_4xx), s.responses_4xx > 0 ? 'ylw' : ''),
      row('5xx', formatNumber(s.responses_5xx), s.responses_5xx > 0 ? 'red' : ''),
      row('over HTTP/2', formatNumber(s.requests_h2)),
      row('over HTTP/1.x', formatNumber(s.requests_http1)),
    ]) +
    card('Traffic', [
      row('Sent', formatBytes(s.bytes_sent)),
      row('Received', formatBytes(s.bytes_received)),
      row('Send Rate', formatRate(rates.send)),
      row('Recv Rate', formatRate(rates.recv)),
    ]) +
    card('Latency', [
      row('Avg Response', lat.avgMs === null ? '--' : formatMs(lat.avgMs)),
      row('p50 (est.)', lat.p50Ms === null ? '--' : formatMs(lat.p50Ms)),
      row('p99 (est.)', lat.p99Ms === null ? '--' : formatMs(lat.p99Ms)),
      row('Requests', formatNumber(lat.count)),
    ]) +
    '</div>'
  );
}

/** One card per server, keyed by "host:port"; cards of servers gone are removed. */
export function renderServers(m) {
  var box = $('server-cards');
  var servers = m.servers || [];
  var seen = {};
  servers.forEach(function (s) {
    seen[s.key] = true;
    var el = box.querySelector('[data-key="' + cssEscape(s.key) + '"]');
    if (!el) {
      el = document.createElement('section');
      el.className = 'group server-card';
      el.setAttribute('data-key', s.key);
      box.appendChild(el);
    }
    el.innerHTML = serverCardHtml(s, serverRates(s, num(m.timestamp_ms)));
  });
  Array.prototype.slice.call(box.children).forEach(function (el) {
    if (!seen[el.getAttribute('data-key')]) box.removeChild(el);
  });
  Object.keys(prevServers).forEach(function (k) {
    if (!seen[k]) delete prevServers[k];
  });
  setText('servers-sub', servers.length + (servers.length === 1 ? ' server' : ' servers'));
}

export function mount() {
  on('metrics', function (m) {
    if (!state.paused) renderServers(m);
  });
}
