/*
 * valk-aio dashboard: the live event log panel (#events).
 *
 * Data source: GET /debug/events?after=SEQ, polled every second while the
 * page is not paused (docs/design.md §13, "The dashboard's event log"). The
 * JSON:
 *   {"seq": N, "ring": {"state", "events_dropped"},
 *    "kinds": [{"kind", "help"}],
 *    "events": [{"seq","kind","reason","ts","time","conn","a","b"}]}
 * events are oldest first; seq counts every event the server's log took, so
 * a gap between two seqs is events the log no longer held (the page asks
 * again with after = the last seq it has). The first ask starts the server's
 * recording; it stops 10 s after the last ask.
 *
 * The list keeps the newest KEEP lines (a fixed cap). It keeps polling while
 * the view is paused and draws again on resume. The pure functions are
 * exported for Node's tests. Runs on the page's only thread.
 */
import { on, state as page } from './model.js';
import { $, esc } from './dom.js';
import { formatBytes, formatClock, formatMs, formatNumber } from './format.js';


var EVENTS_URL = '/debug/events';
var POLL_MS = 1000;
var FETCH_TIMEOUT_MS = 3000;
var KEEP = 200;   // lines the panel keeps (newest)
var SHOW = 100;   // lines it draws

var WATERMARK = ['normal', 'high', 'critical'];

/* ---- pure functions ---------------------------------------------- */

/** What an event's a and b mean, by kind (the server's list: /debug/events "kinds"). */
export function eventDetail(e) {
  switch (e.kind) {
    case 'conn_rejected': return 'refused: ' + e.reason;
    case 'conn_closed': return (e.reason !== 'none' ? e.reason + ', ' : '') + 'age ' + formatMs(e.a) + ', sent ' + formatBytes(e.b);
    case 'stream_opened': return 'stream ' + e.a;
    case 'stream_closed': return 'stream ' + e.a + ', ' + formatMs(e.b);
    case 'stream_reset': return 'stream ' + e.a + ', code ' + e.b;
    case 'goaway_sent': return 'code ' + e.b;
    case 'config_warning': return configWarningText(e);
    case 'watermark_changed': return (WATERMARK[e.a] || String(e.a)) + ', ' + formatNumber(e.b) + ' buffers in use';
    default: return e.reason && e.reason !== 'none' ? e.reason : '';
  }
}

var CONFIG_WARNINGS = {
  tcp_buffers_low: ['tcpBufferPoolSize', '< 70% of the recommended'],
  arenas_low: ['arenaPoolSize', '< maxConnections'],
  per_ip_unreachable: ['maxConnectionsPerIp', '> maxConnections'],
};

/** A config_warning event as text: "tcpBufferPoolSize 100 < 70% of the recommended 145". */
function configWarningText(e) {
  var w = CONFIG_WARNINGS[e.reason];
  return w ? w[0] + ' ' + formatNumber(e.a) + ' ' + w[1] + ' ' + formatNumber(e.b) : String(e.reason);
}

/** list + incoming (both oldest first), without seqs already held, the newest keep of them. */
export function mergeEvents(list, incoming, keep) {
  var last = list.length ? list[list.length - 1].seq : 0;
  var out = list.slice();
  for (var i = 0; i < incoming.length; i++) if (incoming[i].seq > last) out.push(incoming[i]);
  return out.length > keep ? out.slice(out.length - keep) : out;
}

/** The events whose kind is on (hidden: kind -> true for the kinds switched off), newest first, at most max. */
export function visibleEvents(list, hidden, max) {
  var out = [];
  for (var i = list.length - 1; i >= 0 && out.length < max; i--) if (!hidden[list[i].kind]) out.push(list[i]);
  return out;
}

/** "12:34:56.789" of an ISO time (UTC, as the server gives it). */
export function clockOf(iso) {
  return formatClock(Date.parse(iso));
}

/* ---- browser ----------------------------------------------------- */

// Off at first: a request's two events outnumber the rest (and the page's own polls are requests).
var HIDDEN_AT_FIRST = { stream_opened: true, stream_closed: true };

var state = { list: [], seq: 0, hidden: {}, kinds: [], timer: null, ring: null };

/** One switch a kind (all on at first but HIDDEN_AT_FIRST); made once, from the first answer. */
function renderFilters() {
  var box = $('event-filters');
  if (box.children.length || !state.kinds.length) return;
  box.innerHTML = state.kinds.map(function (k) {
    return '<label class="event-filter" title="' + esc(k.help) + '"><input type="checkbox" data-kind="' + esc(k.kind) +
      '"' + (state.hidden[k.kind] ? '' : ' checked') + '> ' + esc(k.kind) + '</label>';
  }).join('');
  box.addEventListener('change', function (ev) {
    var t = ev.target;
    if (!t || !t.getAttribute) return;
    state.hidden[t.getAttribute('data-kind')] = !t.checked;
    renderLog();
  });
}

function renderLog() {
  var shown = visibleEvents(state.list, state.hidden, SHOW);
  $('event-log').innerHTML = shown.map(function (e) {
    return '<tr class="ev-' + esc(e.kind) + '"><td class="ev-time">' + esc(clockOf(e.time)) + '</td><td class="ev-kind">' +
      esc(e.kind) + '</td><td class="ev-conn">' + (e.conn ? '#' + e.conn : '') + '</td><td>' + esc(eventDetail(e)) + '</td></tr>';
  }).join('');
  $('event-count').textContent = formatNumber(shown.length) + ' shown · seq ' + formatNumber(state.seq) +
    (state.ring ? ' · ring ' + state.ring.state + ', ' + formatNumber(state.ring.events_dropped) + ' dropped' : '');
}

function poll() {
  var again = false;
  state.timer = null;
  var ctrl = typeof AbortController !== 'undefined' ? new AbortController() : null;
  var to = setTimeout(function () {
    if (ctrl) ctrl.abort();
  }, FETCH_TIMEOUT_MS);
  fetch(EVENTS_URL + '?after=' + state.seq + '&kind=' + encodeURIComponent(askedKinds().join(',')), { cache: 'no-store', signal: ctrl ? ctrl.signal : undefined })
    .then(function (r) {
      if (!r.ok) throw new Error('HTTP ' + r.status);
      return r.json();
    })
    .then(function (j) {
      again = state.kinds.length === 0 && (j.kinds || []).length > 0; // the catalog came: ask for its kinds now
      if (j.seq < state.seq) state.list = []; // the server's log started again (a restart)
      state.seq = j.seq;
      state.kinds = j.kinds || [];
      state.kinds.forEach(function (k) {
        if (!(k.kind in state.hidden)) state.hidden[k.kind] = HIDDEN_AT_FIRST[k.kind] === true;
      });
      state.ring = j.ring;
      state.list = mergeEvents(state.list, j.events || [], KEEP);
      if (!page.paused) {
        renderFilters();
        renderLog();
      }
    })
    .catch(function () {
      /* the metrics poll shows the page stale; the log waits */
    })
    .then(function () {
      clearTimeout(to);
      schedule(again ? 0 : POLL_MS);
    });
}

function schedule(ms) {
  if (state.timer === null) state.timer = setTimeout(poll, ms);
}

/**
 * The kinds the panel shows: the server records only those (docs/design.md
 * §13), so the stream events it hides at first cost the AIO thread nothing
 * under load. None before the first answer names the kinds.
 */
function askedKinds() {
  return state.kinds.filter(function (k) {
    return !state.hidden[k.kind];
  }).map(function (k) {
    return k.kind;
  });
}

export function mount() {
  on('pause', function (paused) {
    if (!paused) {
      renderFilters();
      renderLog();
    }
  });
  poll();
}
