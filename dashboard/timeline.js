/*
 * valk-aio dashboard: the memory timeline's ring (docs/design.md §8,
 * "The dashboard's timeline").
 *
 * Data: every memory snapshot of the SSE stream (GET /debug/diagnostics/memory,
 * one event every sseIntervalMs, 100 ms by default), kept as the raw `data:`
 * string it arrived as and parsed only when shown. Its seq and ts are read
 * from the string's head, which the wire format fixes as
 * {"seq":S,"ts":MS,... (docs/design.md §8, keys always in this order).
 *
 * Two caps, the oldest dropped first when either is reached:
 *   - a count cap, TIMELINE_MAX_SNAPSHOTS = 600: 60 s at the default 100 ms
 *     interval (a slower interval keeps a longer span, a faster one less);
 *   - a byte cap, TIMELINE_MAX_BYTES = 48 MiB of strings, counted as one byte
 *     a character (the JSON is ASCII, which the engine stores one byte a
 *     character). A slab of 10,000 connection slots makes snapshots of tens of
 *     KiB, so at that size the byte cap, not the count, bounds the span.
 * The storage is arrays of the count cap, allocated once: nothing grows.
 *
 * Each kept snapshot has a key: the ring's own push counter, never reused,
 * so a snapshot can be addressed while newer ones arrive and older ones go
 * (a restarted server counts seq from the start again; the key does not).
 * Keys of kept snapshots are consecutive, oldest first.
 *
 * Pure: no DOM, no clock (Node's tests load it). Runs on the page's only
 * thread. The bar that shows it is dashboard/timeline-ui.js; its texts are
 * made here (timelineLabel, timelineSpan) through format.js.
 */
import { formatBytes, formatClock, formatDuration, formatNumber } from './format.js';

/** Snapshots kept at most: 600 = 60 s at the stream's 100 ms interval. */
export var TIMELINE_MAX_SNAPSHOTS = 600;
/** Characters (= bytes, ASCII JSON) of kept snapshot strings at most: 48 MiB. */
export var TIMELINE_MAX_BYTES = 48 * 1024 * 1024;

var HEAD = /^\{"seq":(\d+),"ts":(\d+)/;

/**
 * seq and ts of a snapshot's data string, from its head ({"seq":S,"ts":MS,..),
 * or by parsing it when the head is not in that form; null when it is not a
 * snapshot at all.
 */
export function snapshotHead(raw) {
  if (typeof raw !== 'string') return null;
  var m = HEAD.exec(raw);
  if (m) return { seq: Number(m[1]), ts: Number(m[2]) };
  try {
    var ev = JSON.parse(raw);
    if (ev && typeof ev.seq === 'number' && typeof ev.ts === 'number') return { seq: ev.seq, ts: ev.ts };
  } catch (e) {
    /* not JSON: not kept */
  }
  return null;
}

/**
 * A ring of at most maxCount snapshots and maxBytes characters of them
 * (defaults: the caps above). Entries are {key, seq, ts, id, raw}; index 0
 * is the oldest kept, size() - 1 the newest.
 */
export function createTimeline(maxCount, maxBytes) {
  var cap = maxCount > 0 ? Math.floor(maxCount) : TIMELINE_MAX_SNAPSHOTS;
  var byteCap = maxBytes > 0 ? maxBytes : TIMELINE_MAX_BYTES;
  var raws = new Array(cap);
  var seqs = new Array(cap);
  var tss = new Array(cap);
  var ids = new Array(cap);
  var head = 0;      // slot of the oldest kept
  var count = 0;
  var bytes = 0;
  var nextKey = 1;   // the key of the next push; the oldest kept is nextKey - count
  var dropped = 0;   // snapshots dropped since creation (both caps)

  function slot(i) {
    return (head + i) % cap;
  }

  function entry(i) {
    if (!(i >= 0 && i < count)) return null;
    var s = slot(i);
    return { key: nextKey - count + i, seq: seqs[s], ts: tss[s], id: ids[s], raw: raws[s] };
  }

  function dropOldest() {
    bytes -= raws[head].length;
    raws[head] = undefined;
    head = (head + 1) % cap;
    count--;
    dropped++;
  }

  var t = {
    maxCount: cap,
    maxBytes: byteCap,

    /**
     * Keeps a snapshot's data string (id: its SSE id, shown only). Returns its
     * entry, or null when raw is not a snapshot. A single snapshot larger than
     * the byte cap is kept alone (the ring always holds the newest).
     */
    push: function (raw, id) {
      var h = snapshotHead(raw);
      if (!h) return null;
      while (count > 0 && (count >= cap || bytes + raw.length > byteCap)) dropOldest();
      var s = slot(count);
      raws[s] = raw;
      seqs[s] = h.seq;
      tss[s] = h.ts;
      ids[s] = id === undefined ? null : id;
      count++;
      bytes += raw.length;
      nextKey++;
      return entry(count - 1);
    },

    size: function () {
      return count;
    },
    /** Characters of kept strings. */
    bytes: function () {
      return bytes;
    },
    /** How many were dropped, by either cap, since creation. */
    dropped: function () {
      return dropped;
    },
    clear: function () {
      while (count > 0) dropOldest();
    },

    /** The entry at index i (0 the oldest), or null. */
    at: entry,
    oldest: function () {
      return entry(0);
    },
    newest: function () {
      return entry(count - 1);
    },

    /** The index of the entry with key, or -1 when it is not (or no longer) kept. */
    indexOfKey: function (key) {
      var i = key - (nextKey - count);
      return i >= 0 && i < count && Math.floor(i) === i ? i : -1;
    },
    byKey: function (key) {
      return entry(t.indexOfKey(key));
    },
    /** The newest kept entry with this seq, or null. */
    bySeq: function (seq) {
      for (var i = count - 1; i >= 0; i--) if (seqs[slot(i)] === seq) return entry(i);
      return null;
    },

    /**
     * The snapshot at or before time ms (ts <= ms, the newest such), or null
     * when every kept one is later. Newest first: a clock stepping back puts
     * no snapshot out of reach.
     */
    atOrBefore: function (ms) {
      for (var i = count - 1; i >= 0; i--) if (tss[slot(i)] <= ms) return entry(i);
      return null;
    },

    /**
     * The entry delta places from the one with key (-1 older, +1 newer),
     * stopped at the oldest and the newest. A key no longer kept (older than
     * the oldest) steps from just before the oldest; null when empty.
     */
    step: function (key, delta) {
      if (count === 0) return null;
      var i = t.indexOfKey(key);
      if (i < 0) i = key < nextKey - count ? -1 : count - 1;
      return entry(Math.max(0, Math.min(count - 1, i + delta)));
    },
  };
  return t;
}

/**
 * The bar's label. Live (entry null): "live · seq 1,234 · 20:49:12.345".
 * Scrubbed: how long before the newest it was taken, its seq and its time
 * (UTC): "-30.2s · seq 1,234 · 20:49:12.345"; gone says the ring has
 * dropped it since (it is still drawn).
 */
export function timelineLabel(entry, newest, gone) {
  if (!entry) return newest ? 'live · seq ' + formatNumber(newest.seq) + ' · ' + formatClock(newest.ts) : 'live · no snapshot yet';
  var ago = newest ? newest.ts - entry.ts : 0;
  return (ago > 0 ? '-' + formatDuration(ago / 1000) : 'newest') + ' · seq ' + formatNumber(entry.seq) + ' · ' +
    formatClock(entry.ts) + (gone ? ' · no longer kept' : '');
}

/** What the ring holds: "600 kept · 59.9s · 12.3 MiB". */
export function timelineSpan(t) {
  var n = t.size();
  if (n === 0) return 'nothing kept yet';
  return formatNumber(n) + ' kept · ' + formatDuration((t.newest().ts - t.oldest().ts) / 1000) + ' · ' + formatBytes(t.bytes());
}
