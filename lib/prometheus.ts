// Prometheus text exposition format, version 0.0.4: what a scrape of
// /metrics returns. Families are rendered in the order given, each as
// `# HELP`, `# TYPE`, then its samples; histograms as cumulative `_bucket`
// lines (`le` last, `+Inf` included), `_sum` and `_count`. No timestamps.
//
// Everything rendered passes `promtool check metrics` (parse and lint) as far
// as the format goes: invalid input throws an Error naming the family, rather
// than producing text a scraper rejects or silently misreads. Naming style
// (units, snake_case, no ':') is the caller's concern.

export type PromType = 'counter' | 'gauge' | 'histogram';
export type PromLabels = Readonly<Record<string, string>>;

/** One counter or gauge series. */
export interface PromSample {
  labels?: PromLabels;
  value: number;
}

/** One histogram series. */
export interface PromHistogramSample {
  labels?: PromLabels;
  /**
   * Upper bounds (le) in ascending order, WITHOUT +Inf, and the NON-cumulative
   * count of observations in each bucket (bucket i = (bound[i-1], bound[i]]);
   */
  bounds: readonly number[];
  /** Length bounds.length + 1: the last is the overflow (> last bound) bucket. */
  counts: readonly number[];
  sum: number;
}

export interface PromFamily {
  /** Full metric family name, e.g. valk_aio_requests_total. */
  name: string;
  help: string;
  type: PromType;
  samples: PromSample[] | PromHistogramSample[];
}

export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
/** Suffixes of a histogram's series; no other family may end in them (they would collide, and promtool's lint asks it). */
const HISTOGRAM_SUFFIXES = ['_bucket', '_count', '_sum'];

/** Escapes HELP text: backslash and newline. */
export function escapeHelp(s: string): string {
  return s.replace(/[\\\n]/g, (c) => (c === '\n' ? '\\n' : '\\\\'));
}

/** Escapes a label value: backslash, double quote and newline. */
export function escapeLabelValue(s: string): string {
  return s.replace(/[\\"\n]/g, (c) => (c === '\n' ? '\\n' : `\\${c}`));
}

/**
 * A sample value or an `le` bound as Prometheus client libraries write them:
 * `NaN`, `+Inf`, `-Inf`, integers without decimals, other numbers in the
 * shortest form that reads back the same (`0.005`, `2.5`; an exponent only
 * below 1e-6 or from 1e21).
 */
export function formatPromValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

/**
 * Renders families in the given order. Throws Error (naming the family) on:
 * invalid metric or label names (a `__` prefix is reserved; `le` is reserved
 * in histograms), a counter whose name does not end in _total, a histogram name
 * ending in _total/_bucket/_count/_sum, a gauge name ending in one of those
 * (promtool's lint rejects it, and it could collide with a histogram's series),
 * duplicate family names, duplicate label sets within a family, a negative or
 * non-finite counter value, mismatched bounds/counts lengths, non-ascending or
 * non-finite bounds, negative or non-finite bucket counts.
 */
export function renderPrometheus(families: readonly PromFamily[]): string {
  const seen = new Set<string>();
  let out = '';
  for (const f of families) {
    if (seen.has(f.name)) throw familyError(f, 'duplicate family name');
    seen.add(f.name);
    out += renderFamily(f);
  }
  return out;
}

/** An Error that names the family. */
function familyError(f: PromFamily, what: string): Error {
  return new Error(`prometheus: family '${String(f.name)}': ${what}`);
}

/** Throws unless the family's name and type agree with each other and with the format. */
function checkFamilyName(f: PromFamily): void {
  if (typeof f.name !== 'string' || !METRIC_NAME.test(f.name)) throw familyError(f, 'invalid metric name');
  if (typeof f.help !== 'string') throw familyError(f, 'help must be a string');
  const endsTotal = f.name.endsWith('_total');
  const endsReserved = HISTOGRAM_SUFFIXES.some((s) => f.name.endsWith(s));
  switch (f.type) {
    case 'counter':
      if (!endsTotal) throw familyError(f, "a counter's name must end in _total");
      break;
    case 'gauge':
    case 'histogram':
      if (endsTotal || endsReserved) throw familyError(f, `a ${f.type}'s name must not end in _total, _bucket, _count or _sum`);
      break;
    default:
      throw familyError(f, `unknown type '${String(f.type)}'`);
  }
}

function renderFamily(f: PromFamily): string {
  checkFamilyName(f);
  let out = `# HELP ${f.name} ${escapeHelp(f.help)}\n# TYPE ${f.name} ${f.type}\n`;
  const labelSets = new Set<string>();
  for (const s of f.samples) {
    const key = labelKey(f, s.labels);
    if (labelSets.has(key)) throw familyError(f, `duplicate label set {${renderLabels(s.labels)}}`);
    labelSets.add(key);
    out += f.type === 'histogram' ? renderHistogram(f, s as PromHistogramSample) : renderSample(f, s as PromSample);
  }
  return out;
}

/** The label set's identity (order-insensitive), after checking its names and values. */
function labelKey(f: PromFamily, labels: PromLabels | undefined): string {
  const entries = Object.entries(labels ?? {});
  for (const [name, value] of entries) {
    if (!LABEL_NAME.test(name) || name.startsWith('__')) throw familyError(f, `invalid label name '${name}'`);
    if (name === 'le' && f.type === 'histogram') throw familyError(f, "label 'le' is reserved in histograms");
    if (typeof value !== 'string') throw familyError(f, `label '${name}' has a value that is not a string`);
  }
  return JSON.stringify(entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** `a="x",b="y"` (no braces), in the given order. */
function renderLabels(labels: PromLabels | undefined): string {
  return Object.entries(labels ?? {})
    .map(([name, value]) => `${name}="${escapeLabelValue(value)}"`)
    .join(',');
}

/** `name{labels} value\n`; extra (the `le` pair) goes last. */
function line(name: string, labels: PromLabels | undefined, value: number, extra = ''): string {
  const inner = [renderLabels(labels), extra].filter((s) => s !== '').join(',');
  return `${name}${inner === '' ? '' : `{${inner}}`} ${formatPromValue(value)}\n`;
}

function renderSample(f: PromFamily, s: PromSample): string {
  if (typeof s.value !== 'number') throw familyError(f, 'a sample value must be a number');
  if (f.type === 'counter' && !(Number.isFinite(s.value) && s.value >= 0)) {
    throw familyError(f, `counter value ${s.value} is negative or not finite`);
  }
  return line(f.name, s.labels, s.value);
}

/** Throws unless bounds ascend strictly and counts are one longer, finite and non-negative. */
function checkHistogram(f: PromFamily, h: PromHistogramSample): void {
  const { bounds, counts } = h;
  if (!Array.isArray(bounds) || !Array.isArray(counts) || counts.length !== bounds.length + 1) {
    throw familyError(f, `counts must have bounds.length + 1 (${(bounds?.length ?? 0) + 1}) entries, not ${counts?.length}`);
  }
  bounds.forEach((b, i) => {
    if (!Number.isFinite(b)) throw familyError(f, `bound ${b} is not finite (+Inf is implicit)`);
    if (i > 0 && !(b > bounds[i - 1])) throw familyError(f, `bounds are not ascending (${bounds[i - 1]}, ${b})`);
  });
  for (const c of counts) {
    if (!(Number.isFinite(c) && c >= 0)) throw familyError(f, `bucket count ${c} is negative or not finite`);
  }
  if (typeof h.sum !== 'number') throw familyError(f, 'a histogram sum must be a number');
}

function renderHistogram(f: PromFamily, h: PromHistogramSample): string {
  checkHistogram(f, h);
  let out = '';
  let cumulative = 0;
  h.bounds.forEach((b, i) => {
    cumulative += h.counts[i];
    out += line(`${f.name}_bucket`, h.labels, cumulative, `le="${formatPromValue(b)}"`);
  });
  cumulative += h.counts[h.counts.length - 1];
  out += line(`${f.name}_bucket`, h.labels, cumulative, 'le="+Inf"');
  out += line(`${f.name}_sum`, h.labels, h.sum);
  return out + line(`${f.name}_count`, h.labels, cumulative);
}
