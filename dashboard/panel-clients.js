/*
 * valk-aio dashboard: one card per HTTP/2 client the system opened with
 * sys.connect(), from each GET /debug/metrics answer's clients[] (docs/metrics.md:
 * id, key "host:port" of the server it talks to, connected, streams_active,
 * requests_waiting, requests_total, responses_total, errors, uptime_seconds).
 * The open clients come first, then the last 16 closed ones (connected 0, the
 * server keeps no more), so the cards are bounded by that list; the request
 * rate comes from the previous answer (one entry a client shown).
 * Pure function clientCardHtml first, then the DOM. Runs on the page's only
 * thread.
 */
import { on, state } from './model.js';
import { formatDuration, formatNumber, formatPerSecond } from './format.js';
import { computeRate } from './decode.js';
import { card, esc, row } from './dom.js';

/** One client's card (the inside of its section): c an entry of clients[], rate its requests per second or null. */
export function clientCardHtml(c, rate) {
  var up = c.connected === 1;
  return (
    '<h3 class="client-title"><span class="client-key">' + esc(c.key) + '</span> <span class="sub">client #' + esc(c.id) +
    ' · ' + (up ? 'up ' + esc(formatDuration(c.uptime_seconds)) : 'closed') + '</span></h3>' +
    card('HTTP/2 client', [
      row('State', up ? 'connected' : 'closed', up ? 'grn' : 'red'),
      row('Streams Active', formatNumber(c.streams_active), c.streams_active > 0 ? 'grn' : ''),
      row('Waiting', formatNumber(c.requests_waiting), c.requests_waiting > 0 ? 'ylw' : ''),
      row('Requests', formatNumber(c.requests_total)),
      row('Rate', formatPerSecond(rate)),
      row('Responses', formatNumber(c.responses_total)),
      row('Errors', formatNumber(c.errors), c.errors > 0 ? 'red' : ''),
    ])
  );
}

// id -> {t, requests_total} of the previous answer; only clients still listed are kept.
var prevClients = {};

export function renderClients(m) {
  var box = document.getElementById('client-cards');
  var list = m.clients || [];
  var now = typeof m.timestamp_ms === 'number' ? m.timestamp_ms : 0;
  var seen = {};
  list.forEach(function (c) {
    var id = String(c.id);
    seen[id] = true;
    var p = prevClients[id];
    var rate = p ? computeRate(p.requests_total, c.requests_total, p.t, now) : null;
    prevClients[id] = { t: now, requests_total: c.requests_total };
    var el = box.querySelector('[data-client="' + id + '"]');
    if (!el) {
      el = document.createElement('div');
      el.className = 'client-card';
      el.setAttribute('data-client', id);
      box.appendChild(el);
    }
    el.classList.toggle('closed', c.connected !== 1);
    el.innerHTML = clientCardHtml(c, rate);
  });
  Array.prototype.slice.call(box.children).forEach(function (el) {
    if (!seen[el.getAttribute('data-client')]) box.removeChild(el);
  });
  Object.keys(prevClients).forEach(function (id) {
    if (!seen[id]) delete prevClients[id];
  });
  var open = list.filter(function (c) {
    return c.connected === 1;
  }).length;
  var sub = document.getElementById('clients-sub');
  sub.textContent = formatNumber(open) + ' open' + (list.length > open ? ', ' + formatNumber(list.length - open) + ' closed' : '');
  document.getElementById('clients-empty').hidden = list.length > 0;
}

export function mount() {
  on('metrics', function (m) {
    if (!state.paused) renderClients(m);
  });
}
