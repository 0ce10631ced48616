// A strict parser of the Prometheus text exposition format (version 0.0.4),
// for tests: it accepts what the format allows and rejects, with the line
// number, everything a scraper would reject, misread or promtool's lint would
// complain of in the format's own terms:
//
// - lines: blank; `# HELP name text`; `# TYPE name type`; other `#` comments
//   (`#HELP`/`#TYPE` without a blank are ambiguous: rejected); samples
//   `name{label="value",...} value [timestamp]`, blanks between tokens but
//   none at the end of a sample or TYPE line (Prometheus rejects them);
// - metric names [a-zA-Z_:][a-zA-Z0-9_:]*, label names [a-zA-Z_][a-zA-Z0-9_]*
//   (`__` prefixes reserved), no label twice in a sample; escapes `\\`, `\n`
//   in HELP, and also `\"` in label values, nothing else;
// - values: decimal floats, NaN, +Inf, -Inf (not Go's hex or `Infinity`);
// - families: HELP and TYPE exactly once each, both before the family's
//   samples, also for a family without samples; a family's lines contiguous
//   (a family is never declared twice; a sample belongs to the family last
//   declared); names: counters end in _total, no other type does, only
//   histograms and summaries have _bucket/_count/_sum series, and no two
//   families claim the same series name;
// - samples: no (name, label set) twice; counters finite and non-negative;
// - histograms, per label set (without `le`): `le` on buckets only, buckets
//   ascending by `le` and cumulative (non-decreasing, non-negative), the last
//   one `+Inf` and equal to `_count`, `_sum` and `_count` present;
// - summaries: `quantile` in [0, 1] on the plain series only, `_sum` and
//   `_count` present;
// - the text ends with a newline (unless empty).

export type ParsedType = 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';

export interface ParsedSample {
  name: string;
  labels: Record<string, string>;
  value: number;
  /** Milliseconds since the epoch, when the line has one. */
  timestamp?: number;
  /** 1-based. */
  line: number;
}

export interface ParsedFamily {
  name: string;
  help: string;
  type: ParsedType;
  samples: ParsedSample[];
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const FLOAT = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;
const TIMESTAMP = /^-?\d+$/;
const TYPES: readonly string[] = ['counter', 'gauge', 'histogram', 'summary', 'untyped'];
const SERIES_SUFFIXES = ['_bucket', '_count', '_sum'];

/** Thrown for any violation; `line` is 1-based. */
export class PromParseError extends Error {
  constructor(
    readonly line: number,
    what: string,
  ) {
    super(`line ${line}: ${what}`);
  }
}

/** Parses a float as the format writes it, or returns undefined. */
export function parsePromFloat(s: string): number | undefined {
  if (s === 'NaN') return NaN;
  if (s === '+Inf') return Infinity;
  if (s === '-Inf') return -Infinity;
  return FLOAT.test(s) ? Number(s) : undefined;
}

/** A cursor over one line. */
class LineReader {
  pos = 0;
  constructor(
    readonly text: string,
    readonly lineNo: number,
  ) {}

  fail(what: string): never {
    throw new PromParseError(this.lineNo, `${what} (at column ${this.pos + 1}: ${JSON.stringify(this.text)})`);
  }
  get done(): boolean {
    return this.pos >= this.text.length;
  }
  get peek(): string {
    return this.text[this.pos] ?? '';
  }
  /** Skips blanks (space, tab); returns how many. */
  blanks(): number {
    const start = this.pos;
    while (this.peek === ' ' || this.peek === '\t') this.pos++;
    return this.pos - start;
  }
  /** Reads up to the next blank or the end. */
  token(): string {
    const start = this.pos;
    while (!this.done && this.peek !== ' ' && this.peek !== '\t') this.pos++;
    return this.text.slice(start, this.pos);
  }
  /** Reads a metric name (up to a blank, the end or, in a sample, a '{') and checks it. */
  metricName(sample = false): string {
    const start = this.pos;
    while (!this.done && this.peek !== ' ' && this.peek !== '\t' && !(sample && this.peek === '{')) this.pos++;
    const name = this.text.slice(start, this.pos);
    if (!METRIC_NAME.test(name)) this.fail(`invalid metric name '${name}'`);
    return name;
  }
  expect(c: string): void {
    if (this.peek !== c) this.fail(`expected '${c}'`);
    this.pos++;
  }
  /** Reads to the end of the line, undoing escapes (`"` one of them when quoted is given, which then also ends the value). */
  escaped(quoted: boolean): string {
    let out = '';
    for (;;) {
      if (this.done) {
        if (quoted) this.fail('unterminated label value');
        return out;
      }
      const c = this.text[this.pos++];
      if (quoted && c === '"') return out;
      if (c !== '\\') {
        out += c;
        continue;
      }
      const e = this.text[this.pos++];
      if (e === '\\') out += '\\';
      else if (e === 'n') out += '\n';
      else if (e === '"' && quoted) out += '"';
      else this.fail(`invalid escape sequence '\\${e ?? ''}'`);
    }
  }
  /** Nothing may follow, not even blanks (Prometheus's parser rejects them after a sample or a TYPE). */
  end(): void {
    if (!this.done) this.fail('unexpected text or blanks at the end of the line');
  }
}

/** A family being read. */
interface FamilyState {
  fam: ParsedFamily;
  hasHelp: boolean;
  hasType: boolean;
  line: number;
}

/** The label set's identity, order-insensitive, without the labels named in `without`. */
function labelKey(labels: Record<string, string>, ...without: string[]): string {
  const entries = Object.entries(labels).filter(([k]) => !without.includes(k));
  return JSON.stringify(entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** Throws unless the family's name fits its type (as promtool's lint asks). */
function checkNameForType(name: string, type: ParsedType, r: LineReader): void {
  const total = name.endsWith('_total');
  const reserved = SERIES_SUFFIXES.find((s) => name.endsWith(s));
  if (type === 'counter' && !total) r.fail(`counter '${name}' does not end in _total`);
  if (type !== 'counter' && total) r.fail(`${type} '${name}' ends in _total (only counters do)`);
  if (reserved) r.fail(`family '${name}' ends in ${reserved} (a histogram's or summary's series suffix)`);
}

/** The series names a family may use. */
function seriesNames(f: ParsedFamily): string[] {
  if (f.type === 'histogram') return [f.name, ...SERIES_SUFFIXES.map((s) => f.name + s)];
  if (f.type === 'summary') return [f.name, `${f.name}_sum`, `${f.name}_count`];
  return [f.name];
}

/** Per label set (without `le`/`quantile`): its buckets or quantiles, _sum and _count, in order. */
interface Group {
  series: ParsedSample[];
  sum?: ParsedSample;
  count?: ParsedSample;
}

function groups(f: ParsedFamily, reserved: string): Map<string, Group> {
  const out = new Map<string, Group>();
  for (const s of f.samples) {
    const key = labelKey(s.labels, reserved);
    let g = out.get(key);
    if (!g) out.set(key, (g = { series: [] }));
    if (s.name === `${f.name}_sum`) g.sum = s;
    else if (s.name === `${f.name}_count`) g.count = s;
    else g.series.push(s);
  }
  return out;
}

/** Buckets ascending and cumulative, +Inf last and equal to _count, _sum and _count present. */
function checkHistogram(f: ParsedFamily, lastLine: number): void {
  for (const [key, g] of groups(f, 'le')) {
    const where = `histogram ${f.name}${key}`;
    const first = g.series[0] ?? g.sum ?? g.count;
    const at = first?.line ?? lastLine;
    let prevLe = -Infinity;
    let prevCount = 0;
    for (const b of g.series) {
      const le = parsePromFloat(b.labels.le);
      if (le === undefined || Number.isNaN(le)) throw new PromParseError(b.line, `${where}: le="${b.labels.le}" is not a number`);
      if (!(le > prevLe)) throw new PromParseError(b.line, `${where}: le=${b.labels.le} does not ascend`);
      if (!(b.value >= prevCount) || b.value === Infinity) {
        throw new PromParseError(b.line, `${where}: bucket count ${b.value} is not a finite count >= the previous ${prevCount} (counts are cumulative)`);
      }
      prevLe = le;
      prevCount = b.value;
    }
    if (prevLe !== Infinity) throw new PromParseError(at, `${where}: no le="+Inf" bucket`);
    if (!g.sum) throw new PromParseError(at, `${where}: no ${f.name}_sum`);
    if (!g.count) throw new PromParseError(at, `${where}: no ${f.name}_count`);
    if (g.count.value !== prevCount) {
      throw new PromParseError(g.count.line, `${where}: ${f.name}_count ${g.count.value} != le="+Inf" bucket ${prevCount}`);
    }
  }
}

/** Quantiles in [0, 1], _sum and _count present, _count non-negative. */
function checkSummary(f: ParsedFamily, lastLine: number): void {
  for (const [key, g] of groups(f, 'quantile')) {
    const where = `summary ${f.name}${key}`;
    const at = (g.series[0] ?? g.sum ?? g.count)?.line ?? lastLine;
    for (const q of g.series) {
      const v = parsePromFloat(q.labels.quantile);
      if (v === undefined || !(v >= 0 && v <= 1)) throw new PromParseError(q.line, `${where}: quantile="${q.labels.quantile}" is not in [0, 1]`);
    }
    if (!g.sum) throw new PromParseError(at, `${where}: no ${f.name}_sum`);
    if (!g.count) throw new PromParseError(at, `${where}: no ${f.name}_count`);
    if (!(g.count.value >= 0)) throw new PromParseError(g.count.line, `${where}: negative ${f.name}_count`);
  }
}

/** The parser's state over the whole text. */
class Parser {
  readonly families: ParsedFamily[] = [];
  private current?: FamilyState;
  /** Every family name declared so far. */
  private readonly declared = new Set<string>();
  /** Series name -> the family that may use it. */
  private readonly owners = new Map<string, string>();
  /** name + label set of every sample so far. */
  private readonly series = new Set<string>();

  line(r: LineReader): void {
    r.blanks();
    if (r.done) return;
    if (r.peek === '#') this.comment(r);
    else this.sample(r);
  }

  /** Ends the family being read: its HELP and TYPE, its series names and, for histograms and summaries, their consistency. */
  finish(lastLine: number): void {
    const c = this.current;
    if (!c) return;
    this.current = undefined;
    const f = c.fam;
    if (!c.hasHelp) throw new PromParseError(c.line, `family ${f.name} has no HELP`);
    if (!c.hasType) throw new PromParseError(c.line, `family ${f.name} has no TYPE`);
    for (const n of seriesNames(f)) {
      const other = this.owners.get(n);
      if (other !== undefined) throw new PromParseError(c.line, `family ${f.name}'s series ${n} collides with family ${other}`);
      this.owners.set(n, f.name);
    }
    if (f.type === 'histogram') checkHistogram(f, lastLine);
    if (f.type === 'summary') checkSummary(f, lastLine);
  }

  private comment(r: LineReader): void {
    r.expect('#');
    const blank = r.blanks() > 0;
    const keyword = r.token();
    if (keyword !== 'HELP' && keyword !== 'TYPE') return; // any other comment
    if (!blank) r.fail(`'#${keyword}' is ambiguous: write '# ${keyword}' or make it a comment`);
    if (r.blanks() === 0) r.fail(`expected a blank after ${keyword}`);
    const name = r.metricName();
    const c = this.declare(name, keyword, r);
    if (keyword === 'HELP') {
      if (!r.done && r.blanks() === 0) r.fail('expected a blank after the metric name');
      c.fam.help = r.escaped(false);
      c.hasHelp = true;
      return;
    }
    if (r.blanks() === 0) r.fail('expected a blank after the metric name');
    const type = r.token();
    if (!TYPES.includes(type)) r.fail(`unknown type '${type}'`);
    r.end();
    c.fam.type = type as ParsedType;
    c.hasType = true;
    checkNameForType(name, c.fam.type, r);
  }

  /** The family a HELP or TYPE line for `name` belongs to: the current one, or a new one. */
  private declare(name: string, keyword: string, r: LineReader): FamilyState {
    const c = this.current;
    if (c && c.fam.name === name) {
      if (c.fam.samples.length > 0) r.fail(`${keyword} for ${name} after its samples`);
      if (keyword === 'HELP' ? c.hasHelp : c.hasType) r.fail(`second ${keyword} for ${name}`);
      return c;
    }
    this.finish(r.lineNo - 1);
    if (this.declared.has(name)) r.fail(`family ${name} declared again (a family's lines must be contiguous)`);
    this.declared.add(name);
    const fam: ParsedFamily = { name, help: '', type: 'untyped', samples: [] };
    this.families.push(fam);
    this.current = { fam, hasHelp: false, hasType: false, line: r.lineNo };
    return this.current;
  }

  private sample(r: LineReader): void {
    const name = r.metricName(true);
    const blank = r.blanks() > 0;
    const braces = r.peek === '{';
    const labels = braces ? this.labels(r) : {};
    if (braces) r.blanks();
    else if (!blank) r.fail('expected a blank before the value');
    const raw = r.token();
    const value = parsePromFloat(raw);
    if (value === undefined) r.fail(`invalid value '${raw}'`);
    const s: ParsedSample = { name, labels, value, line: r.lineNo };
    if (r.blanks() > 0) {
      const ts = r.token();
      if (!TIMESTAMP.test(ts)) r.fail(`invalid timestamp '${ts}' (or a trailing blank)`);
      s.timestamp = Number(ts);
    }
    r.end();
    this.place(s, r);
  }

  /** `{name="value",...}`, blanks allowed around tokens, a trailing comma allowed. */
  private labels(r: LineReader): Record<string, string> {
    const labels: Record<string, string> = {};
    r.expect('{');
    for (;;) {
      r.blanks();
      if (r.peek === '}') break;
      const start = r.pos;
      while (/[a-zA-Z0-9_]/.test(r.peek)) r.pos++;
      const name = r.text.slice(start, r.pos);
      if (!LABEL_NAME.test(name)) r.fail(`invalid label name '${name}'`);
      if (name.startsWith('__')) r.fail(`label name '${name}' is reserved`);
      if (Object.prototype.hasOwnProperty.call(labels, name)) r.fail(`label '${name}' twice`);
      r.blanks();
      r.expect('=');
      r.blanks();
      r.expect('"');
      labels[name] = r.escaped(true);
      r.blanks();
      if (r.peek === '}') break;
      r.expect(',');
    }
    r.expect('}');
    return labels;
  }

  /** Checks that the sample belongs to the current family and is new, then adds it. */
  private place(s: ParsedSample, r: LineReader): void {
    const c = this.current;
    if (!c) r.fail(`sample ${s.name} before any HELP/TYPE`);
    const f = c.fam;
    if (!c.hasHelp || !c.hasType) r.fail(`sample ${s.name} before family ${f.name} has both HELP and TYPE`);
    const suffix = s.name.startsWith(f.name) ? s.name.slice(f.name.length) : undefined;
    const allowed =
      f.type === 'histogram' ? SERIES_SUFFIXES : f.type === 'summary' ? ['', '_sum', '_count'] : [''];
    if (suffix === undefined || !allowed.includes(suffix)) {
      r.fail(`sample ${s.name} does not belong to family ${f.name} (${f.type}; a family's lines must be contiguous)`);
    }
    const key = s.name + labelKey(s.labels);
    if (this.series.has(key)) r.fail(`duplicate series ${s.name}${labelKey(s.labels)}`);
    this.series.add(key);
    this.checkLabelsAndValue(f, suffix, s, r);
    f.samples.push(s);
  }

  private checkLabelsAndValue(f: ParsedFamily, suffix: string, s: ParsedSample, r: LineReader): void {
    const has = (l: string) => Object.prototype.hasOwnProperty.call(s.labels, l);
    if (f.type === 'counter' && !(Number.isFinite(s.value) && s.value >= 0)) r.fail(`counter ${s.name} is ${s.value}: not finite and non-negative`);
    if (f.type === 'histogram') {
      if ((suffix === '_bucket') !== has('le')) r.fail(`'le' belongs on ${f.name}_bucket and only there`);
      if (suffix === '_count' && !(s.value >= 0 && s.value < Infinity)) r.fail(`${s.name} is ${s.value}`);
    }
    if (f.type === 'summary' && (suffix === '') !== has('quantile')) r.fail(`'quantile' belongs on ${f.name} and only there`);
  }
}

/** Parses and validates `text`; throws a PromParseError (naming the line) on the first violation. */
export function parsePrometheus(text: string): ParsedFamily[] {
  const lines = text.split('\n');
  if (!text.endsWith('\n') && text !== '') throw new PromParseError(lines.length, 'missing trailing newline');
  lines.pop(); // '' after the last newline
  const p = new Parser();
  lines.forEach((l, i) => p.line(new LineReader(l, i + 1)));
  p.finish(lines.length);
  return p.families;
}

/** The sample's value with exactly these labels (in any order), or undefined. */
export function sampleValue(families: readonly ParsedFamily[], name: string, labels: Record<string, string> = {}): number | undefined {
  const key = labelKey(labels);
  for (const f of families) {
    for (const s of f.samples) if (s.name === name && labelKey(s.labels) === key) return s.value;
  }
  return undefined;
}
