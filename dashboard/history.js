/*
 * dashboard/history.js: the last 5 minutes of the page's numbers, kept in the
 * browser from the two streams it already receives (docs/design.md §8
 * "History"). Pure: no DOM, no timers; panel-history.js
 * feeds it and charts.js draws it. Runs on the page's only thread.
 *
 * Data read:
 *  - every /debug/metrics poll (docs/metrics.md), via addMetrics(h, m):
 *      timestamp_ms, servers[].key + servers[].requests_total (requests/s),
 *      system.connections_rejected (limit), connections_rejected_load (load),
 *      connections_rejected_per_ip (per-ip), streams_refused (streams),
 *      pools.tcp_buffers.{used,total} (only when no memory snapshot landed in
 *      that second), pools.arenas.committed_bytes + pools.small_arenas.committed_bytes
 *      (arena bytes: the memory the arenas hold committed now, one source for
 *      the whole chart), runtime.event_loop.delay_p99_ms,
 *      watermark.{state,transitions,high,critical};
 *  - every memory snapshot (docs/design.md §8), via addMemory(h, ev):
 *      ts, the connection slab's summary.A (Active: a stream open during the
 *      last interval; /debug/metrics has no such count) and the tcp_buffers
 *      slab's used/total (10 a second: finer than the poll).
 *
 * Bounds (no unbounded array): a ring of at most MAX_SAMPLES = 300 samples,
 * at most one a second: inputs in the same second of the server's clock
 * (floor(t / SAMPLE_MS)) fold into one sample, so 300 samples cover at least
 * the last 5 minutes (at a 5 s or 10 s poll the memory stream still opens a
 * sample a second). Charts show only samples within WINDOW_MS of the newest.
 * Watermark markers: at most MAX_MARKERS = 64, the oldest dropped (a marker
 * older than the window is not drawn). The per-server counters of the previous
 * poll: one entry per servers[] element (at most 16 servers, the
 * http_servers slab), replaced on every poll.
 *
 * Rates use decode.js computeRate: no previous sample, no time passed, or a
 * counter that went down (a restart) gives null: no point for that second
 * (charts.js joins the points around it), never a negative value or a spike. Gauges fed by the memory stream keep the
 * highest value seen during their second, so a 100 ms exhaustion stays
 * visible.
 */
import { computeRate } from './decode.js';

export const MAX_SAMPLES = 300;
export const WINDOW_MS = 5 * 60 * 1000;
export const SAMPLE_MS = 1000;
export const MIN_SPAN_MS = 30 * 1000;
export const MAX_MARKERS = 64;

/** The refusal reasons, their field in system, and their legend label. */
export const REFUSAL_REASONS = [
  { key: 'limit', field: 'connections_rejected', label: 'limit' },
  { key: 'load', field: 'connections_rejected_load', label: 'load' },
  { key: 'perIp', field: 'connections_rejected_per_ip', label: 'per-ip' },
  { key: 'streams', field: 'streams_refused', label: 'streams' },
];

/** The series a sample holds (refusals are refusals.<key>). */
export const SERIES = ['reqs', 'active', 'tcp', 'arena', 'loopDelay'];

/** A new, empty history. */
export function createHistory() {
  return {
    ring: new Array(MAX_SAMPLES), // fixed size; slots reused
    head: 0, // index of the oldest sample
    count: 0,
    markers: [], // at most MAX_MARKERS, oldest first
    lastMetrics: null, // {t, servers: {key: requests_total}, system: {field: n}} of the previous poll
    lastState: null,
    lastTransitions: null,
    watermark: { high: null, critical: null },
  };
}

function num(v) {
  return typeof v === 'number' && isFinite(v) ? v : null;
}

function emptySample(t) {
  return {
    t: t,
    sec: 0, // floor(t / SAMPLE_MS) of its first input
    reqs: null,
    active: null,
    tcp: null,
    arena: null,
    loopDelay: null,
    refusals: { limit: null, load: null, perIp: null, streams: null },
    memSeen: false, // a memory snapshot landed in this second (its gauges win over the poll's)
    base: null, // the poll before this sample's first poll: the rates' start
  };
}

/** The newest sample, or null. */
export function newest(h) {
  return h.count ? h.ring[(h.head + h.count - 1) % MAX_SAMPLES] : null;
}

/**
 * The sample an input at time t goes into: the newest when t falls in its
 * second (or before it: a poll answered after a newer snapshot, or a clock
 * gone back across a restart), else a new one, overwriting the oldest once
 * the ring is full. A sample's t is its newest input's.
 */
function sampleAt(h, t) {
  var last = newest(h);
  var sec = Math.floor(t / SAMPLE_MS);
  if (last && sec <= last.sec) {
    if (t > last.t) last.t = t;
    return last;
  }
  var s = emptySample(t);
  s.sec = sec;
  if (h.count < MAX_SAMPLES) {
    h.ring[(h.head + h.count) % MAX_SAMPLES] = s;
    h.count++;
  } else {
    h.ring[h.head] = s;
    h.head = (h.head + 1) % MAX_SAMPLES;
  }
  return s;
}

function maxOf(a, b) {
  if (a === null) return b;
  if (b === null) return a;
  return Math.max(a, b);
}

/** Counters of one poll that rates are taken from. */
function countersOf(m) {
  var servers = {};
  (Array.isArray(m.servers) ? m.servers : []).forEach(function (s) {
    if (s && typeof s.key === 'string' && num(s.requests_total) !== null) servers[s.key] = s.requests_total;
  });
  var system = {};
  var sys = m.system || {};
  REFUSAL_REASONS.forEach(function (r) {
    system[r.field] = num(sys[r.field]);
  });
  return { t: m.timestamp_ms, servers: servers, system: system };
}

/**
 * Requests a second summed over the servers present in both polls, each with
 * computeRate's rules (a server whose counter went down adds nothing); null
 * when no server gives a rate.
 */
export function requestsRate(prev, cur) {
  if (!prev) return null;
  var sum = null;
  Object.keys(cur.servers).forEach(function (key) {
    var r = computeRate(prev.servers[key], cur.servers[key], prev.t, cur.t);
    if (r !== null) sum = (sum || 0) + r;
  });
  return sum;
}

/** Records one /debug/metrics poll. */
export function addMetrics(h, m) {
  if (!m || num(m.timestamp_ms) === null) return;
  var t = m.timestamp_ms;
  var s = sampleAt(h, t);
  var cur = countersOf(m);
  // A second poll in the same second measures from where the first one started.
  if (s.base === null) s.base = h.lastMetrics || cur;
  var base = s.base;
  s.reqs = base === cur ? null : requestsRate(base, cur);
  REFUSAL_REASONS.forEach(function (r) {
    s.refusals[r.key] = base === cur ? null : computeRate(base.system[r.field], cur.system[r.field], base.t, cur.t);
  });
  h.lastMetrics = cur;

  var pools = m.pools || {};
  var tb = pools.tcp_buffers || {};
  if (!s.memSeen && num(tb.used) !== null && tb.total > 0) s.tcp = tb.used / tb.total;
  var big = num((pools.arenas || {}).committed_bytes);
  var small = num((pools.small_arenas || {}).committed_bytes);
  s.arena = big === null && small === null ? null : (big || 0) + (small || 0);
  s.loopDelay = num(((m.runtime || {}).event_loop || {}).delay_p99_ms);

  var wm = m.watermark || {};
  if (num(wm.high) !== null) h.watermark.high = wm.high;
  if (num(wm.critical) !== null) h.watermark.critical = wm.critical;
  noteWatermark(h, t, wm.state, num(wm.transitions));
}

/**
 * A marker when the watermark state differs from the previous poll's, or its
 * transitions counter went up (a round trip between two polls, e.g.
 * normal -> high -> normal, still shows). The first poll only records.
 */
function noteWatermark(h, t, state, transitions) {
  if (typeof state !== 'string') return;
  var changed = h.lastState !== null && state !== h.lastState;
  var moved = h.lastTransitions !== null && transitions !== null && transitions > h.lastTransitions;
  if (changed || moved) {
    h.markers.push({ t: t, state: state, from: h.lastState, transitions: moved ? transitions - h.lastTransitions : 1 });
    if (h.markers.length > MAX_MARKERS) h.markers.shift();
  }
  h.lastState = state;
  if (transitions !== null) h.lastTransitions = transitions;
}

/** Records one memory snapshot (docs/design.md §8). */
export function addMemory(h, ev) {
  if (!ev || num(ev.ts) === null) return;
  var slabs = Array.isArray(ev.slabs) ? ev.slabs : [];
  var conn = null;
  var tcp = null;
  for (var i = 0; i < slabs.length; i++) {
    if (slabs[i] && slabs[i].name === 'connections') conn = slabs[i];
    else if (slabs[i] && slabs[i].name === 'tcp_buffers') tcp = slabs[i];
  }
  var active = conn && conn.summary ? num(conn.summary.A) : null;
  var util = tcp && num(tcp.used) !== null && tcp.total > 0 ? tcp.used / tcp.total : null;
  if (active === null && util === null) return;
  var s = sampleAt(h, ev.ts);
  if (!s.memSeen) {
    // the first snapshot of the second replaces what a poll put there
    s.memSeen = true;
    s.active = active;
    s.tcp = util;
  } else {
    s.active = maxOf(s.active, active);
    s.tcp = maxOf(s.tcp, util);
  }
}

/** The samples within WINDOW_MS of the newest, oldest first (at most MAX_SAMPLES). */
export function samples(h) {
  var last = newest(h);
  var out = [];
  if (!last) return out;
  for (var i = 0; i < h.count; i++) {
    var s = h.ring[(h.head + i) % MAX_SAMPLES];
    if (s.t >= last.t - WINDOW_MS && s.t <= last.t) out.push(s);
  }
  return out;
}

/** The value of series name ('reqs', ..., or 'refusals.load') in sample s. */
export function valueOf(s, name) {
  if (name.indexOf('refusals.') === 0) return s.refusals[name.slice(9)];
  return s[name];
}

/** One series as [{t, v}] over the window (v null where unknown: a gap). */
export function seriesOf(h, name) {
  return samples(h).map(function (s) {
    var v = valueOf(s, name);
    return { t: s.t, v: v === undefined ? null : v };
  });
}

/**
 * The time range every chart shows (server clock): up to the newest sample,
 * back to the oldest one held but never more than WINDOW_MS (5 minutes) nor
 * less than MIN_SPAN_MS, so a page open for 20 s does not squeeze its lines
 * into the right edge of a 5-minute axis. All charts share it.
 */
export function timeRange(h) {
  var last = newest(h);
  if (!last) return { tMin: -MIN_SPAN_MS, tMax: 0 };
  var first = samples(h)[0];
  return { tMin: Math.max(last.t - WINDOW_MS, Math.min(first.t, last.t - MIN_SPAN_MS)), tMax: last.t };
}

/** The watermark markers within the window, oldest first. */
export function markersIn(h) {
  var r = timeRange(h);
  return h.markers.filter(function (mk) {
    return mk.t >= r.tMin && mk.t <= r.tMax;
  });
}

/** {points, max, last} of a series: points with a value, their highest, the newest value. */
export function stats(points) {
  var n = 0;
  var max = null;
  var last = null;
  for (var i = 0; i < points.length; i++) {
    var v = points[i].v;
    if (v === null) continue;
    n++;
    max = max === null ? v : Math.max(max, v);
    last = v;
  }
  return { points: n, max: max, last: last };
}
