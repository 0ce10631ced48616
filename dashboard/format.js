/*
 * valk-aio dashboard: the one formatter (docs/design.md §8). Every number the
 * page shows becomes text here: counts, bytes, byte rates, event rates,
 * durations, percentages. format(kind, value) picks one by name; anything
 * not a finite number reads "--".
 *
 * Pure functions, no DOM. Runs on the page's only thread (and under Node in
 * the tests).
 */

function finite(n) {
  return typeof n === 'number' && isFinite(n);
}

/** 1234567 -> "1,234,567" (no locale: the same everywhere). */
export function formatNumber(n) {
  if (!finite(n)) return '--';
  var neg = n < 0;
  var s = String(Math.round(Math.abs(n)));
  s = s.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return neg ? '-' + s : s;
}

/** Bytes in binary units: 512 -> "512 B", 61.67 -> "62 B" (a rate), 1536 -> "1.5 KiB", 64 MiB -> "64.0 MiB". */
export function formatBytes(n) {
  if (!finite(n)) return '--';
  var units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  var v = Math.abs(n);
  var i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  var sign = n < 0 ? '-' : '';
  if (i === 0 && Math.round(v) === 1024) return sign + '1.0 KiB';
  return i === 0 ? sign + Math.round(v) + ' B' : sign + v.toFixed(1) + ' ' + units[i];
}

/** Bytes per second: "1.5 KiB/s". */
export function formatRate(bytesPerSecond) {
  if (!finite(bytesPerSecond)) return '--';
  return formatBytes(bytesPerSecond) + '/s';
}

/** Events per second: "0.5/s", "12.3/s", "1,234/s" (one decimal below 100). */
export function formatPerSecond(n) {
  if (!finite(n)) return '--';
  return (Math.abs(n) < 100 ? (Math.round(n * 10) / 10).toFixed(1) : formatNumber(n)) + '/s';
}

function pad2(n) {
  return n < 10 ? '0' + n : String(n);
}

/**
 * A duration in seconds for people: "250 µs", "12.5 ms", "45.2s",
 * "5m 03s", "2h 34m 12s", "3d 04h 05m" (docs/design.md §8).
 */
export function formatDuration(seconds) {
  if (!finite(seconds) || seconds < 0) return '--';
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
export function formatMs(ms) {
  if (!finite(ms)) return '--';
  return formatDuration(ms / 1000);
}

/** A ratio 0..1 as "73.2%". */
export function formatPct(ratio) {
  if (!finite(ratio)) return '--';
  return (ratio * 100).toFixed(1) + '%';
}

/** A Unix time in ms as the UTC time of day to the ms: "20:49:12.345" (the event log's clock; the timeline's label). */
export function formatClock(ms) {
  if (!finite(ms) || Math.abs(ms) > 8.64e15) return '--';
  return new Date(ms).toISOString().slice(11, 23);
}

var KINDS = {
  count: formatNumber,
  bytes: formatBytes,
  rate: formatRate,
  perSecond: formatPerSecond,
  duration: formatDuration,
  ms: formatMs,
  pct: formatPct,
};

/** The kinds format() knows. */
export var FORMAT_KINDS = Object.keys(KINDS);

/** format('bytes', 1536) -> "1.5 KiB"; an unknown kind throws (a bug in the page, not in the data). */
export function format(kind, value) {
  var f = KINDS[kind];
  if (!f) throw new Error('format: unknown kind ' + kind);
  return f(value);
}
