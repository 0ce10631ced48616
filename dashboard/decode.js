/*
 * valk-aio dashboard: the data model's decoders, the wire formats of both
 * sources (docs/design.md §8; the schema of /debug/metrics in
 * docs/metrics.md, the memory snapshot in csrc/valk_snapshot.h):
 *
 *  - GET /debug/metrics: uptime_seconds, timestamp_ms, resources, pools,
 *    loop, queue, watermark, backpressure, connections, runtime, servers[]
 *    (keyed by "host:port"; latency.bounds_seconds + non-cumulative
 *    latency.counts whose last entry is the +Inf bucket).
 *  - GET /debug/diagnostics/memory (SSE "event: memory", one JSON line
 *    every 100 ms): {"seq","ts","slabs":[CONN, POOL...],"owner_map":[names],
 *    "arenas":{"high_water","count","used","capacity","overflow",
 *    "in_use":[{"i","used","capacity","hwm","overflow"}]},"runtime","skipped"}
 *    CONN = {"name":"connections","total","used","overflow","detail",
 *            "states":"AIF..","owners":[..],"ages":[..],"protos":"21-..",
 *            "summary":{"A","I","C","N","h2","http1","by_owner":{..}}}
 *      states: one letter a slot, A active, I idle, C closing, F free;
 *      owners[k]/ages[k]/protos[k] belong to the k-th non-F slot; above
 *      4096 slots "detail" is false and they are absent.
 *    POOL = {"name","total","used","overflow","bitmap":"05ff.."}: hex bytes
 *      in order, bit i of byte i/8 is slot i, least significant bit first;
 *      above 4096 slots "agg":{"cells","per","used":[..]} instead.
 *
 * Pure functions, no DOM. Runs on the page's only thread (and under Node in
 * the tests).
 */
import { capacityLevel } from './classes.js';

export var MAX_GRID_CELLS = 1024; // aggregate anything bigger
export var MAX_OWNERS = 16;       // owner registry size; index >= 16 is "other"
export var STATE_LABELS = { A: 'Active', I: 'Idle', C: 'Closing', F: 'Free' };
export var PROTO_LABELS = { '2': 'HTTP/2', '1': 'HTTP/1.x' };


/**
 * Hex bitmap -> array of 0/1, one entry a slot. The hex is the slab's bytes
 * in order, two digits a byte (high nibble first); inside a byte slot order
 * is least significant bit first: bit i of byte floor(i/8) is slot i
 * (docs/design.md §8). With total given, the result has exactly total
 * entries: padding bits past total are dropped and a
 * bitmap too short for total reads as free slots. A non-hex digit reads 0.
 */
export function hexToBitArray(hex, total) {
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
export function countUsed(bits) {
  var n = 0;
  for (var i = 0; i < bits.length; i++) n += bits[i] ? 1 : 0;
  return n;
}

/**
 * Slot i -> {owner, age} for the connection slab: owners[k] and ages[k]
 * belong to the k-th non-free letter of states; free slots get null. With
 * detail:false (no owners/ages) every used slot gets {owner:null, age:null}.
 */
export function slotDetails(states, owners, ages, protos) {
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
export function countStates(states) {
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
export function ownerName(idx, ownerMap) {
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
export function ownerBreakdown(byOwner, ownerMap) {
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
export function histogramQuantile(bounds, counts, q) {
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
export function computeRate(prev, cur, prevMs, curMs) {
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
export function aggregateBits(bits, maxCells) {
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
export function aggToCells(agg, total) {
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
export function aggregateStates(states, maxCells) {
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

/**
 * Pools above the banner thresholds: [{name, used, total, pct, level}],
 * critical first. slabs: the SSE event's "slabs".
 */
export function capacityAlerts(slabs) {
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
export function latencySummary(lat) {
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

/** /ready as the page shows it (docs/design.md §14): ready, draining, or not ready. */
export function readyText(r) {
  if (!r) return '--';
  return r.ready === 1 ? 'ready' : r.draining === 1 ? 'draining' : 'not ready';
}
