/*
 * valk-aio dashboard: alert thresholds the operator sets (docs/design.md §8).
 * A "details" control in the header lists five metrics of GET /debug/metrics
 * (docs/metrics.md), each with its current value and a threshold the operator
 * types in (empty: off):
 *
 *   tcp_util     TCP buffer utilization, %      pools.tcp_buffers.used / total
 *   conn_slots   connection slots used, %       connections.max - available, of max
 *   loop_delay   event-loop delay p99, ms       runtime.event_loop.delay_p99_ms
 *   resp_5xx     5xx responses per second       servers[].responses_5xx, between two polls
 *   refusals     refused connections per second servers[].connections_rejected + _load + _per_ip
 *
 * The two rates are per server (each server card's own rows). A metric past
 * its threshold (strictly above) is an alert: its card row gets the class
 * `alert`, the header shows how many alerts are active. Thresholds are kept in
 * localStorage (STORAGE_KEY), so they survive a reload.
 *
 * Reads: each 'metrics' arrival of model.js (and the one before it, for the
 * rates). It highlights after the panels drew (a microtask after the
 * arrival), and only while the view is not paused. Holds two answers, no
 * list that grows. Pure functions (thresholds, evaluateAlerts) first, then
 * the DOM. Runs on the page's only thread (and its pure part under Node).
 */
import { on, state } from './model.js';
import { format } from './format.js';

export var STORAGE_KEY = 'valk-aio.dashboard.alerts.v1';

function finite(n) {
  return typeof n === 'number' && isFinite(n);
}

function refused(s) {
  if (!s) return NaN;
  return (s.connections_rejected || 0) + (s.connections_rejected_load || 0) + (s.connections_rejected_per_ip || 0);
}

/**
 * The metrics an alert can watch. value(m, prev) gives a number (or null:
 * not known yet) for system-wide ones; perServer(s, prevS, dtSeconds) for the
 * per-server rates. rows: where the page shows it (container selector, row
 * labels); kind/scale: how format.js writes it (value × scale).
 */
export var ALERTS = [
  {
    id: 'tcp_util', label: 'TCP buffer utilization', unit: '%', kind: 'pct', scale: 0.01, def: 85,
    value: function (m) {
      var t = (m.pools || {}).tcp_buffers || {};
      return t.total > 0 ? (t.used / t.total) * 100 : null;
    },
    rows: { box: '#aio-cards', labels: ['Buffer Util'] },
  },
  {
    id: 'conn_slots', label: 'Connection slots used', unit: '%', kind: 'pct', scale: 0.01, def: 90,
    value: function (m) {
      var c = m.connections || {};
      return c.max > 0 && finite(c.available) ? ((c.max - c.available) / c.max) * 100 : null;
    },
    rows: { box: '#aio-cards', labels: ['Conn Slots'] },
  },
  {
    id: 'loop_delay', label: 'Event-loop delay p99', unit: 'ms', kind: 'ms', scale: 1, def: 100,
    value: function (m) {
      var d = ((m.runtime || {}).event_loop || {}).delay_p99_ms;
      return finite(d) ? d : null;
    },
    rows: { box: '#runtime-cards', labels: ['Delay p99'] },
  },
  {
    id: 'resp_5xx', label: '5xx responses', unit: '/s', kind: 'perSecond', scale: 1, def: 1,
    perServer: function (s, p, dt) {
      return p && s.responses_5xx >= p.responses_5xx ? (s.responses_5xx - p.responses_5xx) / dt : null;
    },
    rows: { labels: ['5xx'] },
  },
  {
    id: 'refusals', label: 'Refused connections', unit: '/s', kind: 'perSecond', scale: 1, def: 1,
    perServer: function (s, p, dt) {
      return p && refused(s) >= refused(p) ? (refused(s) - refused(p)) / dt : null;
    },
    rows: { labels: ['Rejected (Limit)', 'Rejected (Load)'] },
  },
];

function defById(id) {
  for (var i = 0; i < ALERTS.length; i++) if (ALERTS[i].id === id) return ALERTS[i];
  return null;
}

/** The thresholds before the operator sets any: {id: number}. */
export function defaultThresholds() {
  var t = {};
  ALERTS.forEach(function (a) {
    t[a.id] = a.def;
  });
  return t;
}

/**
 * The thresholds stored as text (localStorage), checked: every known id gets
 * a finite number >= 0 or null (off); missing ids get their default;
 * unknown ids and anything unreadable are dropped.
 */
export function parseThresholds(text) {
  var t = defaultThresholds();
  var raw = null;
  try {
    raw = typeof text === 'string' && text ? JSON.parse(text) : null;
  } catch (e) {
    raw = null;
  }
  if (!raw || typeof raw !== 'object') return t;
  Object.keys(t).forEach(function (id) {
    if (!(id in raw)) return;
    var v = raw[id];
    if (v === null) t[id] = null;
    else if (finite(v) && v >= 0) t[id] = v;
  });
  return t;
}

/** What an input box holds -> a threshold: a number >= 0, or null (empty: off); undefined when not a number. */
export function thresholdOf(text) {
  var s = String(text === undefined || text === null ? '' : text).trim();
  if (s === '') return null;
  var n = Number(s);
  return finite(n) && n >= 0 ? n : undefined;
}

/**
 * The current value of every watched metric: [{id, label, server, value}],
 * one entry per alert, the per-server rates one per server of metrics
 * (server: its key; null for system-wide ones). value is null when not known
 * (a rate without the previous answer, a pool of 0 slots).
 */
export function alertValues(metrics, prevMetrics) {
  var m = metrics || {};
  var out = [];
  var prevByKey = {};
  ((prevMetrics && prevMetrics.servers) || []).forEach(function (s) {
    prevByKey[s.key] = s;
  });
  var dt = prevMetrics ? (m.timestamp_ms - prevMetrics.timestamp_ms) / 1000 : NaN;
  ALERTS.forEach(function (a) {
    if (!a.perServer) {
      var v = a.value(m, prevMetrics);
      out.push({ id: a.id, label: a.label, server: null, value: finite(v) ? v : null });
      return;
    }
    (m.servers || []).forEach(function (s) {
      var v = dt > 0 ? a.perServer(s, prevByKey[s.key], dt) : null;
      out.push({ id: a.id, label: a.label, server: s.key, value: finite(v) ? v : null });
    });
  });
  return out;
}

/**
 * The alerts: every metric of alertValues whose value is above its
 * threshold (a null threshold is off). [{id, label, server, value, threshold, text}],
 * in ALERTS order; text is e.g. "TCP buffer utilization 91.0% > 85.0%".
 */
export function evaluateAlerts(thresholds, metrics, prevMetrics) {
  var th = thresholds || {};
  return alertValues(metrics, prevMetrics)
    .filter(function (v) {
      var t = th[v.id];
      return finite(t) && v.value !== null && v.value > t;
    })
    .map(function (v) {
      var a = defById(v.id);
      var t = th[v.id];
      return {
        id: v.id, label: v.label, server: v.server, value: v.value, threshold: t,
        text: v.label + (v.server ? ' (' + v.server + ')' : '') + ' ' + format(a.kind, v.value * a.scale) + ' > ' + format(a.kind, t * a.scale),
      };
    });
}

/* ------------------------------------------------------------------ */
/* DOM (browser only from here on)                                     */
/* ------------------------------------------------------------------ */

var thresholds = defaultThresholds();
var prev = null;    // the answer before the newest (for the rates)
var newest = null;  // the newest answer

function load() {
  try {
    thresholds = parseThresholds(window.localStorage.getItem(STORAGE_KEY));
  } catch (e) {
    thresholds = defaultThresholds(); // storage off (a private window): the defaults, not kept
  }
}

function save() {
  try {
    window.localStorage.setItem(STORAGE_KEY, JSON.stringify(thresholds));
  } catch (e) {
    /* not kept across a reload; the page still uses them */
  }
}

/** The rows showing alert a for server (null: system-wide). */
function rowsOf(a, server) {
  var sel = server === null ? a.rows.box : '.server-card[data-key="' + String(server).replace(/["\\]/g, '\\$&') + '"]';
  var box = sel ? document.querySelector(sel) : null;
  if (!box) return [];
  return Array.prototype.filter.call(box.querySelectorAll('.row'), function (r) {
    var k = r.querySelector('.k');
    return k && a.rows.labels.indexOf(k.textContent) >= 0;
  });
}

/** Marks the rows of the active alerts, the count in the header, and the values in the control. */
export function applyAlerts() {
  if (!newest) return;
  var list = evaluateAlerts(thresholds, newest, prev);
  Array.prototype.forEach.call(document.querySelectorAll('.row.alert'), function (r) {
    r.classList.remove('alert');
  });
  list.forEach(function (al) {
    rowsOf(defById(al.id), al.server).forEach(function (r) {
      r.classList.add('alert');
      r.title = al.text;
    });
  });
  var count = document.getElementById('alert-count');
  count.textContent = String(list.length);
  count.className = 'alert-count' + (list.length > 0 ? ' active' : '');
  document.getElementById('alerts').setAttribute('data-active', String(list.length));
  var values = alertValues(newest, prev);
  ALERTS.forEach(function (a) {
    var mine = values.filter(function (v) {
      return v.id === a.id && v.value !== null;
    });
    // the worst server for the per-server rates
    var worst = mine.reduce(function (w, v) {
      return w === null || v.value > w ? v.value : w;
    }, null);
    var el = document.getElementById('alert-value-' + a.id);
    el.textContent = worst === null ? '--' : format(a.kind, worst * a.scale);
    el.parentNode.classList.toggle('alert', list.some(function (al) {
      return al.id === a.id;
    }));
  });
  document.getElementById('alert-list').textContent = list.length === 0 ? 'no alert' : list.map(function (al) {
    return al.text;
  }).join(' · ');
}

function build() {
  var details = document.createElement('details');
  details.id = 'alerts';
  details.className = 'alerts stat';
  var summary = document.createElement('summary');
  summary.title = 'alert thresholds: a metric past its threshold is highlighted';
  summary.appendChild(document.createTextNode('alerts '));
  var count = document.createElement('b');
  count.id = 'alert-count';
  count.className = 'alert-count';
  count.textContent = '0';
  summary.appendChild(count);
  details.appendChild(summary);
  var pop = document.createElement('div');
  pop.className = 'alerts-pop';
  ALERTS.forEach(function (a) {
    var line = document.createElement('label');
    line.className = 'alert-line';
    line.setAttribute('data-alert', a.id);
    var name = document.createElement('span');
    name.className = 'alert-name';
    name.textContent = a.label + (a.perServer ? ' (per server)' : '');
    var value = document.createElement('span');
    value.className = 'alert-value';
    value.id = 'alert-value-' + a.id;
    value.textContent = '--';
    var input = document.createElement('input');
    input.type = 'number';
    input.min = '0';
    input.step = 'any';
    input.id = 'alert-th-' + a.id;
    input.placeholder = 'off';
    input.value = thresholds[a.id] === null ? '' : String(thresholds[a.id]);
    input.addEventListener('change', function () {
      var t = thresholdOf(input.value);
      if (t === undefined) {
        input.value = thresholds[a.id] === null ? '' : String(thresholds[a.id]);
        return;
      }
      thresholds[a.id] = t;
      save();
      if (!state.paused) applyAlerts();
    });
    var unit = document.createElement('span');
    unit.className = 'alert-unit';
    unit.textContent = a.unit;
    line.appendChild(name);
    line.appendChild(value);
    line.appendChild(document.createTextNode('> '));
    line.appendChild(input);
    line.appendChild(unit);
    pop.appendChild(line);
  });
  var list = document.createElement('div');
  list.id = 'alert-list';
  list.className = 'alert-list';
  pop.appendChild(list);
  details.appendChild(pop);
  var header = document.querySelector('header.top');
  header.insertBefore(details, document.getElementById('pause'));
}

export function mount() {
  load();
  build();
  on('metrics', function (m) {
    prev = newest;
    newest = m;
    if (state.paused) return;
    // after every panel drew this answer (they subscribed before this module)
    Promise.resolve().then(applyAlerts);
  });
  on('pause', function (paused) {
    if (!paused) Promise.resolve().then(applyAlerts);
  });
}

/** For the browser tests: the thresholds in force. */
export function currentThresholds() {
  return Object.assign({}, thresholds);
}
