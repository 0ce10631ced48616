/*
 * valk-aio debug dashboard (served at /debug/ by a server listening with
 * debug: true). Plain ES5-style script, no framework, no build step.
 *
 * Two data sources, both on the page's own origin:
 *
 *  1. GET /debug/metrics, polled every 1 s (docs/design.md §8): one JSON object,
 *     schema in docs/metrics.md. Fields read here:
 *       uptime_seconds, timestamp_ms, resources.{servers,clients,handles},
 *       pools.{tcp_buffers,arenas,connections}.{used,total,overflow},
 *       loop.{iterations,events,idle_ns}, queue.{depth,capacity,pending_*},
 *       watermark.state, backpressure.list_size, connections.{available,max},
 *       runtime.{heap_*,gc,event_loop}, servers[] (keyed by "key" =
 *       "host:port"; latency.bounds_seconds + non-cumulative latency.counts,
 *       whose last entry is the +Inf bucket).
 *
 *  2. GET /debug/diagnostics/memory, an EventSource (Server-Sent Events,
 *     "event: memory", increasing "id:", one JSON "data:" line every 100 ms;
 *     csrc/valk_snapshot.h). The JSON:
 *       {"seq","ts","slabs":[CONN, POOL...],"owner_map":[names],
 *        "arenas":{"high_water","count","used","capacity","overflow",
 *                  "in_use":[{"i","used","capacity","hwm","overflow"}]},
 *        "runtime":{...},"skipped":K}
 *     CONN = {"name":"connections","total","used","overflow","detail",
 *             "states":"AIF..", "owners":[..], "ages":[..], "protos":"21-..",
 *             "summary":{"A","I","C","N","h2","http1","by_owner":{"0":n,"other":k}}}
 *       states: one letter a slot, A active (connecting included), I idle,
 *       C closing, F free. owners[k]/ages[k]/protos[k] belong to the k-th
 *       non-F slot; protos: 2 HTTP/2, 1 HTTP/1.x, - not known yet.
 *       Above 4096 slots "detail" is false and owners/ages/protos are absent.
 *     POOL = {"name","total","used","overflow","bitmap":"05ff.."}
 *       bitmap: hex of bytes in order; bit i of byte i/8 is slot i, least
 *       significant bit first (docs/design.md §8); bits past total are padding.
 *       Above 4096 slots: "agg":{"cells":K,"per":P,"used":[u0..]} instead,
 *       u_k = used slots among [k*P, min((k+1)*P, total)).
 *
 * The pure functions (no DOM) are exported for Node's tests as
 * module.exports; in a browser everything is window.ValkDashboard and the
 * page starts itself.
 */
(function (factory) {
  'use strict';
  var api = factory();
  if (typeof module !== 'undefined' && module.exports) module.exports = api;
  if (typeof window !== 'undefined') {
    window.ValkDashboard = api;
    if (typeof document !== 'undefined' && document.getElementById('valk-dashboard')) {
      if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', api.start);
      else api.start();
    }
  }
})(function () {
  'use strict';

  /* ------------------------------------------------------------------ */
  /* Constants                                                           */
  /* ------------------------------------------------------------------ */

  // The numbers below are docs/design.md §8's dashboard rules.
  var METRICS_URL = '/debug/metrics';
  var SSE_URL = '/debug/diagnostics/memory';
  var POLL_MS = 1000;              // /debug/metrics poll interval
  var SSE_BACKOFF_MIN_MS = 1000;   // the memory stream's reconnect: 1 s, doubling ...
  var SSE_BACKOFF_MAX_MS = 30000;  // ... up to 30 s
  var FETCH_TIMEOUT_MS = 3000;
  var FLASH_MS = 300;              // how long a changed slot flashes
  var MAX_GRID_CELLS = 1024;       // aggregate anything bigger
  var MAX_OWNERS = 16;             // owner registry size; index >= 16 is "other"
  var WARN_PCT = 80;               // capacity banner thresholds
  var CRIT_PCT = 95;

  var STATE_LABELS = { A: 'Active', I: 'Idle', C: 'Closing', F: 'Free' };
  var PROTO_LABELS = { '2': 'HTTP/2', '1': 'HTTP/1.x' };

  /* ------------------------------------------------------------------ */
  /* Pure functions: formatting                                          */
  /* ------------------------------------------------------------------ */

  /** 1234567 -> "1,234,567" (no locale: the same everywhere). */
  function formatNumber(n) {
    if (typeof n !== 'number' || !isFinite(n)) return '--';
    var neg = n < 0;
    var s = String(Math.round(Math.abs(n)));
    s = s.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
    return neg ? '-' + s : s;
  }

  /** Bytes in binary units: 512 -> "512 B", 61.67 -> "62 B" (a rate), 1536 -> "1.5 KiB", 64 MiB -> "64.0 MiB". */
  function formatBytes(n) {
    if (typeof n !== 'number' || !isFinite(n)) return '--';
    var units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
    var v = Math.abs(n);
    var i = 0;
    while (v >= 1024 && i < units.length - 1) {
      v /= 1024;
      i++;
    }
    var sign = n < 0 ? '-' : '';
    return i === 0 ? sign + Math.round(v) + ' B' : sign + v.toFixed(1) + ' ' + units[i];
  }

  /** Bytes per second: "1.5 KiB/s". */
  function formatRate(bytesPerSecond) {
    if (typeof bytesPerSecond !== 'number' || !isFinite(bytesPerSecond)) return '--';
    return formatBytes(bytesPerSecond) + '/s';
  }

  function pad2(n) {
    return n < 10 ? '0' + n : String(n);
  }

  /**
   * A duration in seconds for people: "250 µs", "12.5 ms", "45.2s",
   * "5m 03s", "2h 34m 12s", "3d 04h 05m" (docs/design.md §8).
   */
  function formatDuration(seconds) {
    if (typeof seconds !== 'number' || !isFinite(seconds) || seconds < 0) return '--';
    if (seconds === 0) return '0s';
    if (seconds < 0.001) return (seconds * 1e6).toFixed(0) + ' µs';
    if (seconds < 1) return (seconds * 1e3).toFixed(seconds < 0.01 ? 2 : 1) + ' ms';
    if (seconds < 60) return seconds.toFixed(1) + 's';
    var s = Math.floor(seconds);
    var d = Math.floor(s / 86400);
    var h = Math.floor((s % 86400) / 3600);
    var m = Math.floor((s % 3600) / 60);
    var sec = s % 60;
    if (d > 0) return d + 'd ' + pad2(h) + 'h ' + pad2(m) + 'm';
    if (h > 0) return h + 'h ' + pad2(m) + 'm ' + pad2(sec) + 's';
    return m + 'm ' + pad2(sec) + 's';
  }

  /** Milliseconds, same style: formatMs(1.5) -> "1.50 ms". */
  function formatMs(ms) {
    if (typeof ms !== 'number' || !isFinite(ms)) return '--';
    return formatDuration(ms / 1000);
  }

  /** A ratio 0..1 as "73.2%". */
  function formatPct(ratio) {
    if (typeof ratio !== 'number' || !isFinite(ratio)) return '--';
    return (ratio * 100).toFixed(1) + '%';
  }

  /* ------------------------------------------------------------------ */
  /* Pure functions: color classes                                       */
  /* ------------------------------------------------------------------ */

  /** docs/design.md §8: buffer utilization % > 95 red, > 85 yellow, > 50 blue. */
  function bufferUtilClass(pct) {
    if (pct > 95) return 'red';
    if (pct > 85) return 'ylw';
    if (pct > 50) return 'blu';
    return '';
  }

  /** docs/design.md §8: watermark critical red, high yellow, normal green. */
  function watermarkClass(state) {
    if (state === 'critical') return 'red';
    if (state === 'high') return 'ylw';
    return 'grn';
  }

  /** Capacity banner level of a pool: 'critical' at >= 95 %, 'warning' at >= 80 %, else ''. */
  function capacityLevel(used, total) {
    if (!(total > 0)) return '';
    var pct = (used / total) * 100;
    if (pct >= CRIT_PCT) return 'critical';
    if (pct >= WARN_PCT) return 'warning';
    return '';
  }

  /** docs/design.md §8: arena gauge 0-70 % healthy, 70-90 % warning, 90+ % critical. */
  function gaugeClass(used, capacity) {
    var pct = capacity > 0 ? (used / capacity) * 100 : 0;
    if (pct >= 90) return 'critical';
    if (pct >= 70) return 'warning';
    return 'healthy';
  }

  /* ------------------------------------------------------------------ */
  /* Pure functions: wire formats                                        */
  /* ------------------------------------------------------------------ */

  /**
   * Hex bitmap -> array of 0/1, one entry a slot. The hex is the slab's bytes
   * in order, two digits a byte (high nibble first); inside a byte slot order
   * is least significant bit first: bit i of byte floor(i/8) is slot i
   * (docs/design.md §8). With total given, the result has exactly total
   * entries: padding bits past total are dropped and a
   * bitmap too short for total reads as free slots. A non-hex digit reads 0.
   */
  function hexToBitArray(hex, total) {
    hex = typeof hex === 'string' ? hex : '';
    var nbytes = Math.floor(hex.length / 2);
    var n = typeof total === 'number' && total >= 0 ? Math.floor(total) : nbytes * 8;
    var bits = new Array(n);
    for (var i = 0; i < n; i++) bits[i] = 0;
    for (var b = 0; b < nbytes && b * 8 < n; b++) {
      var byte = parseInt(hex.substr(b * 2, 2), 16);
      if (isNaN(byte)) continue;
      for (var k = 0; k < 8 && b * 8 + k < n; k++) bits[b * 8 + k] = (byte >> k) & 1;
    }
    return bits;
  }

  /** Number of 1s in a bit array. */
  function countUsed(bits) {
    var n = 0;
    for (var i = 0; i < bits.length; i++) n += bits[i] ? 1 : 0;
    return n;
  }

  /**
   * Slot i -> {owner, age} for the connection slab: owners[k] and ages[k]
   * belong to the k-th non-free letter of states; free slots get null. With
   * detail:false (no owners/ages) every used slot gets {owner:null, age:null}.
   */
  function slotDetails(states, owners, ages, protos) {
    states = states || '';
    var out = new Array(states.length);
    var k = 0;
    for (var i = 0; i < states.length; i++) {
      if (states.charAt(i) === 'F') {
        out[i] = null;
        continue;
      }
      out[i] = {
        owner: owners && k < owners.length ? owners[k] : null,
        age: ages && k < ages.length ? ages[k] : null,
        proto: protos && k < protos.length && PROTO_LABELS[protos.charAt(k)] ? protos.charAt(k) : null,
      };
      k++;
    }
    return out;
  }

  /** Counts of each state letter in a states string: {A, I, C, F}. */
  function countStates(states) {
    var c = { A: 0, I: 0, C: 0, F: 0 };
    states = states || '';
    for (var i = 0; i < states.length; i++) {
      var ch = states.charAt(i);
      if (ch === 'I' || ch === 'C' || ch === 'F') c[ch]++;
      else c.A++; // unknown letters are active, as the server writes them
    }
    return c;
  }

  /** The name of owner index idx: owner_map[idx], "other" past 16 or for "other"/-1. */
  function ownerName(idx, ownerMap) {
    if (idx === 'other' || idx === null || idx === undefined) return 'other';
    var i = Number(idx);
    if (!isFinite(i) || i < 0 || i >= MAX_OWNERS) return 'other';
    var name = ownerMap && ownerMap[i];
    return name ? String(name) : 'owner #' + i;
  }

  /**
   * summary.by_owner ({"0": n0, "3": n3, "other": k}) -> [{name, count}],
   * biggest first; indexes past the 16-name registry fold into one "other".
   */
  function ownerBreakdown(byOwner, ownerMap) {
    var merged = {};
    var order = [];
    Object.keys(byOwner || {}).forEach(function (key) {
      var count = Number(byOwner[key]) || 0;
      if (count <= 0) return;
      var name = ownerName(key, ownerMap);
      if (!(name in merged)) {
        merged[name] = 0;
        order.push(name);
      }
      merged[name] += count;
    });
    return order
      .map(function (name) {
        return { name: name, count: merged[name] };
      })
      .sort(function (a, b) {
        if (a.name === 'other' && b.name !== 'other') return 1;
        if (b.name === 'other' && a.name !== 'other') return -1;
        return b.count - a.count;
      });
  }

  /**
   * The quantile q (0..1) of a latency histogram, in seconds, interpolated
   * linearly inside its bucket as Prometheus' histogram_quantile does.
   * bounds: upper bounds of the finite buckets, ascending; counts: one more
   * entry than bounds, NOT cumulative, the last one being +Inf. Returns null
   * when the histogram is empty; a quantile in the +Inf bucket returns the
   * highest finite bound (nothing better is known).
   */
  function histogramQuantile(bounds, counts, q) {
    if (!bounds || !counts || counts.length === 0) return null;
    var total = 0;
    for (var i = 0; i < counts.length; i++) total += counts[i] || 0;
    if (total <= 0) return null;
    q = Math.min(1, Math.max(0, q));
    var rank = q * total;
    var cum = 0;
    for (var b = 0; b < counts.length; b++) {
      var c = counts[b] || 0;
      if (c > 0 && cum + c >= rank) {
        if (b >= bounds.length) return bounds[bounds.length - 1];
        var lower = b === 0 ? 0 : bounds[b - 1];
        var upper = bounds[b];
        return lower + ((upper - lower) * (rank - cum)) / c;
      }
      cum += c;
    }
    return bounds[bounds.length - 1];
  }

  /**
   * Per-second rate of a counter between two samples taken at prevMs and
   * curMs (ms). null when there is no previous sample, no time passed, or the
   * counter went down (a server restarted under the same key).
   */
  function computeRate(prev, cur, prevMs, curMs) {
    if (typeof prev !== 'number' || typeof cur !== 'number') return null;
    var dt = (curMs - prevMs) / 1000;
    if (!(dt > 0) || cur < prev) return null;
    return (cur - prev) / dt;
  }

  /**
   * Folds a bit array into at most maxCells cells of per = ceil(n / maxCells)
   * slots each (the last may be smaller): [{used, size}]. For client-side
   * aggregation of a bitmap too big to draw slot by slot.
   */
  function aggregateBits(bits, maxCells) {
    maxCells = maxCells || MAX_GRID_CELLS;
    var n = bits.length;
    var per = Math.max(1, Math.ceil(n / maxCells));
    var cells = [];
    for (var start = 0; start < n; start += per) {
      var end = Math.min(n, start + per);
      var used = 0;
      for (var i = start; i < end; i++) used += bits[i] ? 1 : 0;
      cells.push({ used: used, size: end - start });
    }
    return { per: per, cells: cells };
  }

  /**
   * The server's aggregated form of a big pool ("agg":{"cells","per","used"})
   * -> [{used, size}] for drawing: cell k covers
   * [k*per, min((k+1)*per, total)), so only the last cell may be smaller.
   */
  function aggToCells(agg, total) {
    var per = Math.max(1, (agg && agg.per) || 1);
    var used = (agg && agg.used) || [];
    var n = Math.min(used.length, Math.ceil(total / per));
    var cells = [];
    for (var k = 0; k < n; k++) {
      var size = Math.min(per, total - k * per);
      cells.push({ used: Math.min(used[k], size), size: size });
    }
    return cells;
  }

  /**
   * Folds a states string into at most maxCells cells: [{A, I, C, F, size}],
   * for the connection slab when it is too big to draw slot by slot.
   */
  function aggregateStates(states, maxCells) {
    maxCells = maxCells || MAX_GRID_CELLS;
    var n = (states || '').length;
    var per = Math.max(1, Math.ceil(n / maxCells));
    var cells = [];
    for (var start = 0; start < n; start += per) {
      var c = countStates(states.substring(start, Math.min(n, start + per)));
      c.size = Math.min(n, start + per) - start;
      cells.push(c);
    }
    return { per: per, cells: cells };
  }

  /** Fill level of an aggregated cell for its color: 0 (empty) .. 4 (full). */
  function fillLevel(used, size) {
    if (!(size > 0) || !(used > 0)) return 0;
    if (used >= size) return 4;
    return Math.min(3, 1 + Math.floor((used / size) * 3));
  }

  /** The state that colors an aggregated connection cell: the most frequent non-free one. */
  function dominantState(cell) {
    var best = 'F';
    var n = 0;
    ['A', 'I', 'C'].forEach(function (s) {
      if (cell[s] > n) {
        best = s;
        n = cell[s];
      }
    });
    return best;
  }

  /**
   * Pools above the banner thresholds: [{name, used, total, pct, level}],
   * critical first. slabs: the SSE event's "slabs".
   */
  function capacityAlerts(slabs) {
    var out = [];
    (slabs || []).forEach(function (s) {
      var level = capacityLevel(s.used, s.total);
      if (level) out.push({ name: s.name, used: s.used, total: s.total, pct: (s.used / s.total) * 100, level: level });
    });
    return out.sort(function (a, b) {
      return b.pct - a.pct;
    });
  }

  /** Latency summary of a server's histogram: {avgMs, p50Ms, p99Ms, count}. */
  function latencySummary(lat) {
    lat = lat || {};
    var p50 = histogramQuantile(lat.bounds_seconds, lat.counts, 0.5);
    var p99 = histogramQuantile(lat.bounds_seconds, lat.counts, 0.99);
    return {
      count: lat.count || 0,
      avgMs: lat.count > 0 ? lat.avg_ms : null,
      p50Ms: p50 === null ? null : p50 * 1000,
      p99Ms: p99 === null ? null : p99 * 1000,
    };
  }

  /** Cell size (px) of a grid of n cells: big cells for tiny slabs (docs/design.md §8). */
  function cellSize(n) {
    if (n <= 16) return 16;
    if (n <= 128) return 11;
    if (n <= 512) return 9;
    return 7;
  }

  /* ------------------------------------------------------------------ */
  /* DOM helpers (browser only from here on)                             */
  /* ------------------------------------------------------------------ */

  function $(id) {
    return document.getElementById(id);
  }

  function esc(s) {
    return String(s).replace(/[&<>"']/g, function (c) {
      return { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c];
    });
  }

  /** One "label: value" row of a card; cls is a color class (grn/red/ylw/blu). */
  function row(label, value, cls) {
    return '<div class="row"><span class="k">' + esc(label) + '</span><span class="v ' + (cls || '') + '">' + esc(value) + '</span></div>';
  }

  function card(title, rows) {
    return '<div class="sub-card"><h3>' + esc(title) + '</h3>' + rows.join('') + '</div>';
  }

  function setText(id, text) {
    var el = $(id);
    if (el && el.textContent !== text) el.textContent = text;
  }

  function num(x) {
    return typeof x === 'number' ? x : 0;
  }

  /* ------------------------------------------------------------------ */
  /* Polled metrics: Async I/O, Node runtime, HTTP servers               */
  /* ------------------------------------------------------------------ */

  var state = {
    paused: false,
    timer: null,
    lastOk: 0,
    prevServers: {},   // key -> {t, bytes_sent, bytes_received, requests_total}
    sse: null,
    lastEvent: null,   // the newest SSE payload (shown when not paused)
    lastEventId: null,
    prevBits: {},      // slab name -> previous bits/states (for the flash)
    pollMs: POLL_MS,   // the metrics poll interval (dashboard/controls.js: 1 s, 5 s, 10 s)
    lastMetrics: null, // the newest /debug/metrics answer (Copy as JSON)
    sseAttempt: 0,     // failed stream openings in a row (the backoff's exponent)
    sseRetryMs: 0,     // the last wait before a reconnect
    sseTimer: null,
  };

  function renderAio(m) {
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
        row('Buffer Util', util.toFixed(1) + '%', bufferUtilClass(util)),
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

  /** /ready as the page shows it (docs/design.md §14): ready, draining, or not ready. */
  function readyText(r) {
    if (!r) return '--';
    return r.ready === 1 ? 'ready' : r.draining === 1 ? 'draining' : 'not ready';
  }

  /** A backpressure state (the event ring's, the request queue's, the SSE stream's) as a colour: DROPPING red,
   * PRESSURE and RECOVERY yellow (docs/design.md §13). */
  function eventRingClass(s) {
    return s === 'dropping' ? 'red' : s === 'pressure' || s === 'recovery' ? 'ylw' : '';
  }

  function renderRuntime(m) {
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

  /** Rates of one server from its previous sample (kept in state.prevServers). */
  function serverRates(s, nowMs) {
    var prev = state.prevServers[s.key];
    state.prevServers[s.key] = { t: nowMs, bytes_sent: s.bytes_sent, bytes_received: s.bytes_received, requests_total: s.requests_total };
    if (!prev) return { send: null, recv: null, req: null };
    return {
      send: computeRate(prev.bytes_sent, s.bytes_sent, prev.t, nowMs),
      recv: computeRate(prev.bytes_received, s.bytes_received, prev.t, nowMs),
      req: computeRate(prev.requests_total, s.requests_total, prev.t, nowMs),
    };
  }

  function serverCardHtml(s, rates) {
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
        row('Rate', rates.req === null ? '--' : rates.req.toFixed(1) + '/s'),
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
  function renderServers(m) {
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
    Object.keys(state.prevServers).forEach(function (k) {
      if (!seen[k]) delete state.prevServers[k];
    });
    setText('servers-sub', servers.length + (servers.length === 1 ? ' server' : ' servers'));
  }

  function cssEscape(s) {
    return String(s).replace(/["\\]/g, '\\$&');
  }

  function renderMetrics(m) {
    setText('uptime', formatDuration(m.uptime_seconds));
    renderAio(m);
    renderRuntime(m);
    renderServers(m);
  }

  function setLive(live, why) {
    var dot = $('status-dot');
    dot.className = 'dot ' + (live ? 'live' : 'stale');
    setText('status-text', live ? 'live' : 'stale' + (why ? ' (' + why + ')' : ''));
  }

  /** One poll of /debug/metrics; the next is scheduled when this one ends (no overlap). */
  function poll() {
    state.timer = null;
    if (state.paused) return;
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
        setLive(true);
        if (!state.paused) renderMetrics(m);
      })
      .catch(function (e) {
        setLive(false, e && e.name === 'AbortError' ? 'timeout' : e && e.message);
      })
      .then(function () {
        clearTimeout(to);
        schedule();
      });
  }

  function schedule() {
    if (!state.paused && state.timer === null) state.timer = setTimeout(poll, state.pollMs);
  }

  /* ------------------------------------------------------------------ */
  /* SSE memory diagnostics                                              */
  /* ------------------------------------------------------------------ */

  /** Makes grid hold exactly n cells of class base; returns its cells. */
  function ensureCells(grid, n, base) {
    while (grid.children.length > n) grid.removeChild(grid.lastChild);
    while (grid.children.length < n) {
      var c = document.createElement('div');
      c.className = base;
      grid.appendChild(c);
    }
    grid.style.gridTemplateColumns = 'repeat(auto-fill, ' + cellSize(n) + 'px)';
    grid.style.gridAutoRows = cellSize(n) + 'px';
    return grid.children;
  }

  /** Adds the flash class to cell for FLASH_MS (docs/design.md §8). */
  function flash(cell) {
    cell.classList.add('flash');
    setTimeout(function () {
      cell.classList.remove('flash');
    }, FLASH_MS);
  }

  /** Sets a cell's classes to cls, keeping a running flash. */
  function setClass(cell, cls) {
    if (cell.getAttribute('data-c') === cls) return;
    cell.setAttribute('data-c', cls);
    cell.className = cls + (cell.classList.contains('flash') ? ' flash' : '');
  }

  /** A plain pool drawn slot by slot from its bitmap (used green, free dark). */
  function renderBitmapGrid(grid, slab) {
    var bits = hexToBitArray(slab.bitmap, slab.total);
    var prev = state.prevBits[slab.name];
    var cells = ensureCells(grid, bits.length, 'cell');
    for (var i = 0; i < bits.length; i++) {
      setClass(cells[i], 'cell ' + (bits[i] ? 'used' : 'free'));
      cells[i].title = 'slot ' + i + (bits[i] ? ': used' : ': free');
      if (prev && prev.length === bits.length && prev[i] !== bits[i]) flash(cells[i]);
    }
    state.prevBits[slab.name] = bits;
  }

  /** A pool drawn from aggregated cells ({used,size}): shade by how full each is. */
  function renderAggGrid(grid, cells, per) {
    var els = ensureCells(grid, cells.length, 'cell');
    for (var k = 0; k < cells.length; k++) {
      var c = cells[k];
      var lvl = fillLevel(c.used, c.size);
      setClass(els[k], 'cell agg ' + (lvl ? 'used l' + lvl : 'free'));
      els[k].title = 'slots ' + k * per + '-' + (k * per + c.size - 1) + ': ' + c.used + '/' + c.size + ' used';
    }
  }

  function poolPanel(name) {
    var id = 'pool-' + name.replace(/[^a-z0-9_-]/gi, '_');
    var el = $(id);
    if (el) return el;
    el = document.createElement('div');
    el.id = id;
    el.className = 'panel pool-panel';
    el.setAttribute('data-slab', name);
    el.innerHTML =
      '<div class="pool-head"><span class="pool-name"></span><span class="pool-usage"></span></div>' +
      '<div class="grid"></div><div class="pool-note"></div>';
    el.querySelector('.pool-name').textContent = name.replace(/_/g, ' ');
    $('pool-panels').appendChild(el);
    return el;
  }

  function usageText(s) {
    var pct = s.total > 0 ? ((s.used / s.total) * 100).toFixed(0) + '%' : '--';
    return formatNumber(s.used) + ' / ' + formatNumber(s.total) + ' (' + pct + ')';
  }

  function renderPool(slab) {
    var panel = poolPanel(slab.name);
    var grid = panel.querySelector('.grid');
    panel.querySelector('.pool-usage').textContent = usageText(slab);
    panel.className = 'panel pool-panel ' + capacityLevel(slab.used, slab.total);
    var note = '';
    if (slab.agg) {
      renderAggGrid(grid, aggToCells(slab.agg, slab.total), slab.agg.per);
      note = 'aggregated: ' + slab.agg.per + ' slots a cell';
    } else if (typeof slab.bitmap === 'string') {
      renderBitmapGrid(grid, slab);
    } else {
      ensureCells(grid, 0, 'cell');
      note = 'counts only';
    }
    if (!(slab.total > 0)) note = 'empty pool';
    if (slab.overflow > 0) note += (note ? ' · ' : '') + formatNumber(slab.overflow) + ' overflows';
    panel.querySelector('.pool-note').textContent = note;
    panel.querySelector('.pool-note').className = 'pool-note' + (slab.overflow > 0 ? ' red' : '');
  }

  /** The connection slab, slot by slot, each cell colored by its state letter. */
  function renderConnCells(grid, slab, ownerMap) {
    var states = slab.states || '';
    var n = Math.min(states.length, slab.total);
    var details = slotDetails(states, slab.owners, slab.ages, slab.protos);
    var prev = state.prevBits.connections;
    var cells = ensureCells(grid, n, 'cell');
    for (var i = 0; i < n; i++) {
      var st = states.charAt(i);
      if (!STATE_LABELS[st]) st = 'A';
      var d = details[i];
      setClass(cells[i], 'cell st-' + st + (d && d.proto === '1' ? ' p1' : ''));
      var tip = 'slot ' + i + ': ' + STATE_LABELS[st];
      if (d && d.proto !== null) tip += ' · ' + PROTO_LABELS[d.proto];
      if (d && d.owner !== null) tip += ' · ' + ownerName(d.owner, ownerMap);
      if (d && d.age !== null) tip += ' · ' + formatMs(d.age);
      cells[i].title = tip;
      if (prev && prev.length === n && prev.charAt(i) !== states.charAt(i)) flash(cells[i]);
    }
    state.prevBits.connections = states;
  }

  /** The connection slab when detail is false: cells of many slots, colored by their main state. */
  function renderConnAgg(grid, slab) {
    var agg = aggregateStates(slab.states || '', MAX_GRID_CELLS);
    var cells = ensureCells(grid, agg.cells.length, 'cell');
    for (var k = 0; k < agg.cells.length; k++) {
      var c = agg.cells[k];
      var st = dominantState(c);
      setClass(cells[k], 'cell agg st-' + st + ' l' + fillLevel(c.size - c.F, c.size));
      cells[k].title = 'slots ' + k * agg.per + '-' + (k * agg.per + c.size - 1) + ': A ' + c.A + ', I ' + c.I + ', C ' + c.C + ', free ' + c.F;
    }
    state.prevBits.connections = null;
    return agg.per;
  }

  function renderConnLegend(slab) {
    var sum = slab.summary || {};
    var counted = countStates(slab.states);
    var a = typeof sum.A === 'number' ? sum.A : counted.A;
    var i = typeof sum.I === 'number' ? sum.I : counted.I;
    var c = typeof sum.C === 'number' ? sum.C : counted.C;
    setText('count-A', formatNumber(a) + (sum.N > 0 ? ' (' + formatNumber(sum.N) + ' connecting)' : ''));
    setText('count-I', formatNumber(i));
    setText('count-C', formatNumber(c));
    setText('count-F', formatNumber(Math.max(0, slab.total - slab.used)));
    setText('count-h2', typeof sum.h2 === 'number' ? formatNumber(sum.h2) : '--');
    setText('count-http1', typeof sum.http1 === 'number' ? formatNumber(sum.http1) : '--');
  }

  /** Stacked bar of connections by owner, plus a legend with counts and shares. */
  function renderOwners(slab, ownerMap) {
    var entries = ownerBreakdown((slab.summary || {}).by_owner, ownerMap);
    var total = entries.reduce(function (t, e) {
      return t + e.count;
    }, 0);
    var bar = $('owner-bar');
    var legend = $('owner-legend');
    bar.textContent = '';
    legend.textContent = '';
    entries.forEach(function (e, idx) {
      var pct = total > 0 ? (e.count / total) * 100 : 0;
      var color = e.name === 'other' ? 'oc-other' : 'oc-' + (idx % 8);
      var seg = document.createElement('div');
      seg.className = 'owner-seg ' + color;
      seg.style.width = pct + '%';
      seg.title = e.name + ': ' + e.count;
      bar.appendChild(seg);
      var item = document.createElement('span');
      item.className = 'legend-item';
      item.innerHTML = '<span class="legend-dot ' + color + '"></span>';
      item.appendChild(document.createTextNode(e.name + ' ' + formatNumber(e.count) + ' (' + pct.toFixed(0) + '%)'));
      legend.appendChild(item);
    });
    if (entries.length === 0) legend.textContent = 'no connections';
  }

  function renderConnections(slab, ownerMap) {
    var grid = $('conn-grid');
    setText('conn-usage', usageText(slab));
    $('conn-panel').className = 'panel conn-panel ' + capacityLevel(slab.used, slab.total);
    var note = '';
    if (slab.detail === false) note = 'aggregated: ' + renderConnAgg(grid, slab) + ' slots a cell, no per-slot owners';
    else renderConnCells(grid, slab, ownerMap);
    if (slab.overflow > 0) note += (note ? ' · ' : '') + formatNumber(slab.overflow) + ' overflows';
    setText('conn-note', note);
    renderConnLegend(slab);
    renderOwners(slab, ownerMap);
  }

  /** One gauge per arena in use: used/capacity bar and the high-water mark. */
  function renderArenas(ar) {
    ar = ar || {};
    var list = ar.in_use || [];
    setText(
      'arena-summary',
      formatNumber(ar.count) + ' in use · ' + formatBytes(ar.used) + ' / ' + formatBytes(ar.capacity) +
        ' · hwm ' + formatBytes(ar.high_water) + (ar.overflow > 0 ? ' · ' + formatNumber(ar.overflow) + ' overflows' : '') +
        (ar.count > list.length ? ' · ' + list.length + ' fullest shown' : '')
    );
    var box = $('arena-list');
    box.textContent = '';
    if (list.length === 0) {
      box.innerHTML = '<div class="muted">no arena in use</div>';
      return;
    }
    list.forEach(function (a) {
      box.appendChild(arenaGauge(a));
    });
  }

  function arenaGauge(a) {
    var g = document.createElement('div');
    g.className = 'arena-gauge' + (a.overflow > 0 ? ' has-overflow' : '');
    var pct = a.capacity > 0 ? (a.used / a.capacity) * 100 : 0;
    var hwm = a.capacity > 0 ? (a.hwm / a.capacity) * 100 : 0;
    g.innerHTML =
      '<span class="arena-name"></span><div class="arena-track"><div class="arena-bar"></div><div class="arena-hwm"></div></div>' +
      '<span class="arena-label"></span>';
    g.querySelector('.arena-name').textContent = 'arena #' + a.i;
    var bar = g.querySelector('.arena-bar');
    bar.className = 'arena-bar ' + gaugeClass(a.used, a.capacity);
    bar.style.width = (a.used > 0 ? Math.max(pct, 0.5) : 0) + '%';
    g.querySelector('.arena-hwm').style.left = Math.min(100, hwm) + '%';
    g.querySelector('.arena-label').textContent =
      formatBytes(a.used) + ' / ' + formatBytes(a.capacity) + ' (' + pct.toFixed(1) + '%) · hwm ' + formatBytes(a.hwm) +
      (a.overflow > 0 ? ' · ' + a.overflow + ' overflows' : '');
    return g;
  }

  /** The banner above everything: pools at >= 80 % (warning) or >= 95 % (critical). */
  function renderBanner(slabs) {
    var alerts = capacityAlerts(slabs);
    var el = $('capacity-banner');
    if (alerts.length === 0) {
      el.hidden = true;
      return;
    }
    el.hidden = false;
    el.className = 'capacity-banner ' + alerts[0].level;
    el.textContent =
      (alerts[0].level === 'critical' ? '⚠ Critical: ' : '⚠ Approaching capacity: ') +
      alerts
        .map(function (a) {
          return a.name.replace(/_/g, ' ') + ' ' + a.pct.toFixed(0) + '% (' + formatNumber(a.used) + '/' + formatNumber(a.total) + ')';
        })
        .join(' · ');
  }

  function renderMemory(ev) {
    var slabs = ev.slabs || [];
    slabs.forEach(function (s) {
      if (s.name === 'connections' || typeof s.states === 'string') renderConnections(s, ev.owner_map || []);
      else renderPool(s);
    });
    renderArenas(ev.arenas);
    renderBanner(slabs);
    setText('sse-skipped', formatNumber(num(ev.skipped)));
    setText('sse-seq', formatNumber(ev.seq));
  }

  function setSseStatus(text, cls) {
    var dot = $('sse-dot');
    dot.className = 'dot ' + cls;
    setText('sse-status', text);
  }

  /** The wait before reconnect attempt n (0 first): 1 s, 2 s, 4 s, ... at most 30 s. */
  function backoffMs(attempt) {
    return Math.min(SSE_BACKOFF_MAX_MS, SSE_BACKOFF_MIN_MS * Math.pow(2, attempt));
  }

  /**
   * Opens the memory stream. On an error the page closes it and opens a new
   * one after backoffMs (the browser's own retry is a fixed second, forever):
   * the dot is red meanwhile, and the wait resets once a stream opens. Each
   * event is a whole snapshot, so a new stream loses nothing but the time.
   */
  function openSse() {
    state.sseTimer = null;
    if (typeof EventSource === 'undefined') {
      setSseStatus('no EventSource in this browser', 'stale');
      return;
    }
    var es = new EventSource(SSE_URL);
    state.sse = es;
    es.onopen = function () {
      state.sseAttempt = 0;
      setSseStatus('streaming', 'live');
    };
    es.onerror = function () {
      es.close();
      if (state.sse !== es || state.sseTimer !== null) return;
      var wait = backoffMs(state.sseAttempt++);
      state.sseRetryMs = wait;
      setSseStatus('disconnected, retry in ' + formatMs(wait), 'stale');
      state.sseTimer = setTimeout(openSse, wait);
    };
    es.addEventListener('memory', function (e) {
      var ev;
      try {
        ev = JSON.parse(e.data);
      } catch (err) {
        setSseStatus('bad event: ' + err.message, 'stale');
        return;
      }
      state.lastEvent = ev;
      state.lastEventId = e.lastEventId;
      if (state.paused) return;
      setText('sse-id', String(e.lastEventId));
      renderMemory(ev);
    });
  }

  /* ------------------------------------------------------------------ */
  /* Start / pause                                                        */
  /* ------------------------------------------------------------------ */

  function togglePause() {
    state.paused = !state.paused;
    var btn = $('pause');
    btn.textContent = state.paused ? 'resume' : 'pause';
    btn.setAttribute('aria-pressed', state.paused ? 'true' : 'false');
    document.body.classList.toggle('paused', state.paused);
    if (state.paused) {
      if (state.timer !== null) clearTimeout(state.timer);
      state.timer = null;
      return;
    }
    if (state.lastEvent) {
      setText('sse-id', String(state.lastEventId));
      renderMemory(state.lastEvent);
    }
    poll();
  }

  /** Marks the page stale when no poll has succeeded for 3 intervals (e.g. a hung fetch). */
  function watchdog() {
    setInterval(function () {
      if (!state.paused && state.lastOk && Date.now() - state.lastOk > 3 * state.pollMs + FETCH_TIMEOUT_MS) setLive(false, 'no data');
    }, POLL_MS);
  }

  function start() {
    $('pause').addEventListener('click', togglePause);
    poll();
    openSse();
    watchdog();
  }

  return {
    // pure functions (Node tests)
    formatNumber: formatNumber,
    formatBytes: formatBytes,
    formatRate: formatRate,
    formatDuration: formatDuration,
    formatMs: formatMs,
    formatPct: formatPct,
    bufferUtilClass: bufferUtilClass,
    watermarkClass: watermarkClass,
    capacityLevel: capacityLevel,
    gaugeClass: gaugeClass,
    hexToBitArray: hexToBitArray,
    countUsed: countUsed,
    slotDetails: slotDetails,
    eventRingClass: eventRingClass,
    backoffMs: backoffMs,
    readyText: readyText,
    countStates: countStates,
    ownerName: ownerName,
    ownerBreakdown: ownerBreakdown,
    histogramQuantile: histogramQuantile,
    computeRate: computeRate,
    aggregateBits: aggregateBits,
    aggToCells: aggToCells,
    aggregateStates: aggregateStates,
    fillLevel: fillLevel,
    dominantState: dominantState,
    capacityAlerts: capacityAlerts,
    latencySummary: latencySummary,
    cellSize: cellSize,
    // browser
    start: start,
    state: state,
    schedule: schedule,
  };
});
