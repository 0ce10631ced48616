// The Prometheus text format renderer (lib/prometheus.ts) against the strict
// parser of test/promparse.ts and against promtool (`promtool check metrics`:
// Prometheus's own parser and lint).
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import {
  PROMETHEUS_CONTENT_TYPE,
  PromFamily,
  escapeHelp,
  escapeLabelValue,
  renderPrometheus,
} from '../lib/prometheus';
import { parsePrometheus, sampleValue } from './promparse';

const BOUNDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** Families as the server might expose them. */
function fixture(): PromFamily[] {
  return [
    {
      name: 'valk_aio_requests_total',
      help: 'Requests answered, by status.',
      type: 'counter',
      samples: [
        { labels: { status: '200' }, value: 1234 },
        { labels: { status: '503' }, value: 0 },
      ],
    },
    { name: 'valk_aio_connections', help: 'Open connections.', type: 'gauge', samples: [{ value: 3 }] },
    { name: 'valk_aio_load_ratio', help: 'Load; NaN before the first tick.', type: 'gauge', samples: [{ value: NaN }] },
    { name: 'valk_aio_handler_queue_depth', help: 'Not sampled yet.', type: 'gauge', samples: [] },
    {
      name: 'valk_aio_request_duration_seconds',
      help: 'Time from the request to the response.',
      type: 'histogram',
      samples: [
        { labels: { route: '/' }, bounds: BOUNDS, counts: [5, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2], sum: 31.25 },
        { labels: { route: '/api' }, bounds: BOUNDS, counts: new Array(12).fill(0), sum: 0 },
      ],
    },
  ];
}

const roundTrip = (families: readonly PromFamily[]) => parsePrometheus(renderPrometheus(families));

describe('renderPrometheus', () => {
  it('writes HELP and TYPE for every family, then its samples, and ends with a newline', () => {
    const text = renderPrometheus([
      { name: 'a_total', help: 'A.', type: 'counter', samples: [{ value: 1 }, { labels: { x: 'y', b: 'c' }, value: 2.5 }] },
      { name: 'b', help: 'B.', type: 'gauge', samples: [] },
      { name: 'h', help: 'H.', type: 'histogram', samples: [{ labels: { x: 'y' }, bounds: [0.5, 1], counts: [1, 2, 3], sum: 7 }] },
    ]);
    expect(text).toBe(
      [
        '# HELP a_total A.',
        '# TYPE a_total counter',
        'a_total 1',
        'a_total{x="y",b="c"} 2.5',
        '# HELP b B.',
        '# TYPE b gauge',
        '# HELP h H.',
        '# TYPE h histogram',
        'h_bucket{x="y",le="0.5"} 1',
        'h_bucket{x="y",le="1"} 3',
        'h_bucket{x="y",le="+Inf"} 6',
        'h_sum{x="y"} 7',
        'h_count{x="y"} 6',
        '',
      ].join('\n'),
    );
    expect(renderPrometheus([])).toBe('');
    expect(PROMETHEUS_CONTENT_TYPE).toBe('text/plain; version=0.0.4; charset=utf-8');
  });

  it('round-trips counters and gauges, NaN and infinities included', () => {
    const parsed = roundTrip([
      { name: 'c_total', help: 'c', type: 'counter', samples: [{ value: 0 }, { labels: { k: 'v' }, value: 2 ** 53 }] },
      {
        name: 'g',
        help: 'g',
        type: 'gauge',
        samples: [
          { labels: { v: 'nan' }, value: NaN },
          { labels: { v: 'inf' }, value: Infinity },
          { labels: { v: '-inf' }, value: -Infinity },
          { labels: { v: 'neg' }, value: -1.5 },
          { labels: { v: 'float' }, value: 0.1 + 0.2 },
        ],
      },
    ]);
    expect(parsed.map((f) => [f.name, f.type, f.help])).toEqual([
      ['c_total', 'counter', 'c'],
      ['g', 'gauge', 'g'],
    ]);
    expect(sampleValue(parsed, 'c_total')).toBe(0);
    expect(sampleValue(parsed, 'c_total', { k: 'v' })).toBe(2 ** 53);
    expect(sampleValue(parsed, 'g', { v: 'nan' })).toBeNaN();
    expect(sampleValue(parsed, 'g', { v: 'inf' })).toBe(Infinity);
    expect(sampleValue(parsed, 'g', { v: '-inf' })).toBe(-Infinity);
    expect(sampleValue(parsed, 'g', { v: 'neg' })).toBe(-1.5);
    expect(sampleValue(parsed, 'g', { v: 'float' })).toBe(0.1 + 0.2);
    expect(sampleValue(parsed, 'g', { v: 'absent' })).toBeUndefined();
  });

  it('writes values and le bounds as client libraries do', () => {
    const text = renderPrometheus([
      { name: 'g', help: 'g', type: 'gauge', samples: [{ labels: { i: '1' }, value: 42 }, { labels: { i: '2' }, value: 0.30000000000000004 }, { labels: { i: '3' }, value: -0 }] },
      { name: 'h', help: 'h', type: 'histogram', samples: [{ bounds: [0.001, 0.005, 1, 2.5, 100, 1e6], counts: [0, 0, 0, 0, 0, 0, 0], sum: 0 }] },
    ]);
    expect(text).toContain('g{i="1"} 42\n');
    expect(text).toContain('g{i="2"} 0.30000000000000004\n');
    expect(text).toContain('g{i="3"} 0\n');
    const les = [...text.matchAll(/le="([^"]*)"/g)].map((m) => m[1]);
    expect(les).toEqual(['0.001', '0.005', '1', '2.5', '100', '1000000', '+Inf']);
  });

  it('renders histograms cumulatively, with labels, le last and +Inf equal to _count', () => {
    const parsed = roundTrip(fixture());
    const h = parsed.find((f) => f.name === 'valk_aio_request_duration_seconds');
    expect(h?.type).toBe('histogram');
    const root = { route: '/' };
    expect(sampleValue(parsed, 'valk_aio_request_duration_seconds_bucket', { ...root, le: '0.005' })).toBe(5);
    expect(sampleValue(parsed, 'valk_aio_request_duration_seconds_bucket', { ...root, le: '0.01' })).toBe(6);
    expect(sampleValue(parsed, 'valk_aio_request_duration_seconds_bucket', { ...root, le: '10' })).toBe(6);
    expect(sampleValue(parsed, 'valk_aio_request_duration_seconds_bucket', { ...root, le: '+Inf' })).toBe(8);
    expect(sampleValue(parsed, 'valk_aio_request_duration_seconds_count', root)).toBe(8);
    expect(sampleValue(parsed, 'valk_aio_request_duration_seconds_sum', root)).toBe(31.25);
    expect(sampleValue(parsed, 'valk_aio_request_duration_seconds_count', { route: '/api' })).toBe(0);
    expect(h?.samples).toHaveLength(2 * (BOUNDS.length + 3));
    for (const s of h?.samples ?? []) {
      if (s.name.endsWith('_bucket')) expect(Object.keys(s.labels)).toEqual(['route', 'le']);
    }
    expect(parsed.find((f) => f.name === 'valk_aio_handler_queue_depth')).toEqual({
      name: 'valk_aio_handler_queue_depth',
      help: 'Not sampled yet.',
      type: 'gauge',
      samples: [],
    });
  });

  it('escapes label values (quotes, backslashes, newlines, unicode) and HELP text', () => {
    const values = ['say "hi"', 'C:\\dir\\', 'two\nlines', 'ünïcødé ✓ 日本 🚀', '\\n literally', '', '{}=,# '];
    const help = 'Backslash \\ and\nnewline; "quotes" stay; ✓';
    const parsed = roundTrip([
      { name: 'esc', help, type: 'gauge', samples: values.map((v, i) => ({ labels: { v }, value: i })) },
    ]);
    expect(parsed[0].help).toBe(help);
    values.forEach((v, i) => expect(sampleValue(parsed, 'esc', { v })).toBe(i));
    expect(escapeLabelValue('a"b\\c\nd')).toBe('a\\"b\\\\c\\nd');
    expect(escapeHelp('a"b\\c\nd')).toBe('a"b\\\\c\\nd');
  });

  const counter = (value: number): PromFamily => ({ name: 'x_total', help: 'x', type: 'counter', samples: [{ value }] });
  const hist = (bounds: number[], counts: number[], labels?: Record<string, string>): PromFamily => ({
    name: 'x_seconds',
    help: 'x',
    type: 'histogram',
    samples: [{ labels, bounds, counts, sum: 0 }],
  });
  const gauge = (name: string, ...labels: Record<string, string>[]): PromFamily => ({
    name,
    help: 'x',
    type: 'gauge',
    samples: labels.map((l) => ({ labels: l, value: 1 })),
  });
  it.each<[string, PromFamily[], string]>([
    ['an invalid metric name', [gauge('x-y')], 'x-y'],
    ['a metric name starting with a digit', [gauge('1x')], '1x'],
    ['an invalid label name', [gauge('x', { 'a-b': 'v' })], 'x'],
    ['a reserved (__) label name', [gauge('x', { __name__: 'v' })], 'x'],
    ["a histogram's own le label", [hist([1], [0, 0], { le: '1' })], 'x_seconds'],
    ['a counter without _total', [{ ...counter(1), name: 'x' }], 'x'],
    ['a histogram ending in _total', [{ ...hist([1], [0, 0]), name: 'x_total' }], 'x_total'],
    ['a histogram ending in _bucket', [{ ...hist([1], [0, 0]), name: 'x_bucket' }], 'x_bucket'],
    ['a histogram ending in _count', [{ ...hist([1], [0, 0]), name: 'x_count' }], 'x_count'],
    ['a histogram ending in _sum', [{ ...hist([1], [0, 0]), name: 'x_sum' }], 'x_sum'],
    ['a gauge ending in _total', [gauge('x_total')], 'x_total'],
    ['a gauge ending in _count', [gauge('x_count')], 'x_count'],
    ['duplicate family names', [gauge('x'), gauge('y'), gauge('x')], 'x'],
    ['duplicate label sets', [gauge('x', { a: '1', b: '2' }, { b: '2', a: '1' })], 'x'],
    ['duplicate empty label sets', [gauge('x', {}, {})], 'x'],
    ['a negative counter', [counter(-1)], 'x_total'],
    ['a NaN counter', [counter(NaN)], 'x_total'],
    ['an infinite counter', [counter(Infinity)], 'x_total'],
    ['counts shorter than bounds + 1', [hist([1, 2], [0, 0])], 'x_seconds'],
    ['counts longer than bounds + 1', [hist([1], [0, 0, 0])], 'x_seconds'],
    ['descending bounds', [hist([2, 1], [0, 0, 0])], 'x_seconds'],
    ['repeated bounds', [hist([1, 1], [0, 0, 0])], 'x_seconds'],
    ['an infinite bound', [hist([1, Infinity], [0, 0, 0])], 'x_seconds'],
    ['a negative bucket count', [hist([1], [1, -1])], 'x_seconds'],
  ])('throws, naming the family, on %s', (_what, families, name) => {
    expect(() => renderPrometheus(families)).toThrow(`family '${name}'`);
  });
});

/** Lines of a text, joined with newlines and ended with one. */
const text = (...lines: string[]) => `${lines.join('\n')}\n`;
const G = ['# HELP g G.', '# TYPE g gauge'];
const C = ['# HELP c_total C.', '# TYPE c_total counter'];
const H = ['# HELP h H.', '# TYPE h histogram'];
/** A consistent histogram series `h{labels}` with one bound at 1. */
const hLines = (labels: string, b1: number, inf: number, count = inf) => [
  `h_bucket{${labels}${labels ? ',' : ''}le="1"} ${b1}`,
  `h_bucket{${labels}${labels ? ',' : ''}le="+Inf"} ${inf}`,
  `h_sum${labels ? `{${labels}}` : ''} 1.5`,
  `h_count${labels ? `{${labels}}` : ''} ${count}`,
];

/** What the format allows besides what the renderer writes. */
const LIBERAL = text(
  '# a comment',
  '#another',
  '',
  '# TYPE g gauge',
  '#   HELP   g   ',
  '  g { a = "1" , b="2", } 1e3 1700000000000',
  'g{}\t-.5',
  '# HELP s S.',
  '# TYPE s summary',
  's{quantile="0.5"} 2',
  's{quantile="0.99"} 9',
  's_sum 20',
  's_count 5',
  '# HELP u U.',
  '# TYPE u untyped',
  'u +Inf',
  ...H,
  ...hLines('k="v"', 1, 2),
);

describe('parsePrometheus', () => {
  it('accepts what the format allows: comments, blank lines, blanks between tokens, trailing commas, timestamps, summaries, untyped', () => {
    const parsed = parsePrometheus(LIBERAL);
    expect(parsed.map((f) => `${f.name}:${f.type}`)).toEqual(['g:gauge', 's:summary', 'u:untyped', 'h:histogram']);
    expect(parsed[0].help).toBe('');
    expect(parsed[0].samples[0]).toEqual({ name: 'g', labels: { a: '1', b: '2' }, value: 1000, timestamp: 1700000000000, line: 6 });
    expect(sampleValue(parsed, 'g', { b: '2', a: '1' })).toBe(1000);
    expect(sampleValue(parsed, 'g')).toBe(-0.5);
    expect(sampleValue(parsed, 's', { quantile: '0.99' })).toBe(9);
    expect(sampleValue(parsed, 'u')).toBe(Infinity);
    expect(sampleValue(parsed, 'h_count', { k: 'v' })).toBe(2);
    expect(parsePrometheus('')).toEqual([]);
  });

  it('names the line of a violation', () => {
    expect(() => parsePrometheus(text(...G, 'g 1', 'g 2'))).toThrow(/^line 4: duplicate series g\[\]/);
  });

  it.each<[string, string, RegExp]>([
    ['a missing TYPE', text('# HELP g G.', 'g 1'), /line 2: .*has both HELP and TYPE/],
    ['a missing TYPE, family without samples', text('# HELP g G.', ...C, 'c_total 1'), /line 1: family g has no TYPE/],
    ['a missing HELP', text('# TYPE g gauge', 'g 1'), /line 2: .*has both HELP and TYPE/],
    ['a sample before HELP and TYPE', text('g 1', ...G), /line 1: sample g before any HELP/],
    ['a TYPE after the samples', text('# HELP g G.', 'g 1', '# TYPE g gauge'), /line 2: .*has both HELP and TYPE/],
    ['a HELP after the samples', text(...G, 'g 1', '# HELP g again'), /line 4: HELP for g after its samples/],
    ['a second TYPE', text(...G, '# TYPE g gauge', 'g 1'), /line 3: second TYPE/],
    ['a second HELP', text(...G, '# HELP g again', 'g 1'), /line 3: second HELP/],
    ['an unknown type', text('# HELP g G.', '# TYPE g Gauge', 'g 1'), /line 2: unknown type 'Gauge'/],
    ['text after the type', text('# HELP g G.', '# TYPE g gauge x', 'g 1'), /line 2: unexpected text/],
    ['#HELP without a blank', text('#HELP g G.', '# TYPE g gauge'), /line 1: '#HELP' is ambiguous/],
    ['an invalid metric name', text(...G, 'g-x 1'), /line 3: invalid metric name 'g-x'/],
    ['a metric name starting with a digit', text('# HELP 1g G.'), /line 1: invalid metric name/],
    ['an invalid label name', text(...G, 'g{1a="x"} 1'), /line 3: invalid label name '1a'/],
    ['a reserved label name', text(...G, 'g{__name__="x"} 1'), /line 3: label name '__name__' is reserved/],
    ['a label twice', text(...G, 'g{a="x",a="y"} 1'), /line 3: label 'a' twice/],
    ['an unquoted label value', text(...G, 'g{a=x} 1'), /line 3: expected '"'/],
    ['an invalid escape in a label value', text(...G, 'g{a="\\t"} 1'), /line 3: invalid escape sequence '\\t'/],
    ['an unterminated label value', text(...G, 'g{a="x} 1'), /line 3: unterminated label value/],
    ['an invalid escape in HELP', text('# HELP g a \\" b', '# TYPE g gauge'), /line 1: invalid escape sequence '\\"'/],
    ['a missing value', text(...G, 'g'), /line 3: expected a blank/],
    ['an invalid value (Go hex)', text(...G, 'g 0x10'), /line 3: invalid value '0x10'/],
    ['an invalid value (Infinity)', text(...G, 'g Infinity'), /line 3: invalid value 'Infinity'/],
    ['an invalid value (comma)', text(...G, 'g 1,5'), /line 3: invalid value '1,5'/],
    ['an invalid timestamp', text(...G, 'g 1 1.5'), /line 3: invalid timestamp/],
    ['text after the timestamp', text(...G, 'g 1 2 3'), /line 3: unexpected text/],
    ['a blank at the end of a sample', text(...G, 'g 1 '), /line 3: invalid timestamp '' \(or a trailing blank\)/],
    ['a blank after the timestamp', text(...G, 'g 1 2 '), /line 3: unexpected text or blanks/],
    ['a blank at the end of TYPE', text('# HELP g G.', '# TYPE g gauge '), /line 2: unexpected text or blanks/],
    ['a duplicate series', text(...G, 'g{a="1"} 1', 'g{a="2"} 1', 'g{a="1"} 2'), /line 5: duplicate series/],
    ['a duplicate series, labels reordered', text(...G, 'g{a="1",b="2"} 1', 'g{b="2",a="1"} 1'), /line 4: duplicate series/],
    ['a counter without _total', text('# HELP c C.', '# TYPE c counter', 'c 1'), /line 2: counter 'c' does not end in _total/],
    ['a gauge ending in _total', text('# HELP g_total G.', '# TYPE g_total gauge'), /line 2: gauge 'g_total' ends in _total/],
    ['a gauge ending in _count', text('# HELP g_count G.', '# TYPE g_count gauge'), /line 2: family 'g_count' ends in _count/],
    ['a histogram ending in _sum', text('# HELP h_sum H.', '# TYPE h_sum histogram'), /line 2: family 'h_sum' ends in _sum/],
    ['a _sum sample in a gauge', text(...G, 'g_sum 1'), /line 3: sample g_sum does not belong to family g/],
    ['a plain sample in a histogram', text(...H, 'h 1'), /line 3: sample h does not belong to family h/],
    ['a negative counter', text(...C, 'c_total -1'), /line 3: counter c_total is -1/],
    ['a NaN counter', text(...C, 'c_total NaN'), /line 3: counter c_total is NaN/],
    ['interleaved families', text(...G, 'g{a="1"} 1', ...C, 'c_total 1', 'g{a="2"} 1'), /line 7: sample g does not belong to family c_total/],
    ['a family declared twice', text(...G, 'g 1', ...C, '# HELP g G.'), /line 6: family g declared again/],
    ['bucket counts decreasing', text(...H, ...hLines('', 3, 2)), /line 4: .*bucket count 2 .*cumulative/],
    ['a negative bucket count', text(...H, ...hLines('', -1, 2)), /line 3: .*bucket count -1/],
    ['+Inf bucket != _count', text(...H, ...hLines('', 1, 2, 3)), /line 6: .*h_count 3 != le="\+Inf" bucket 2/],
    ['no +Inf bucket', text(...H, 'h_bucket{le="1"} 1', 'h_sum 1', 'h_count 1'), /line 3: .*no le="\+Inf" bucket/],
    ['buckets not ascending', text(...H, 'h_bucket{le="2"} 1', 'h_bucket{le="1"} 1', 'h_bucket{le="+Inf"} 1', 'h_sum 1', 'h_count 1'), /line 4: .*le=1 does not ascend/],
    ['an le that is not a number', text(...H, 'h_bucket{le="x"} 1', 'h_bucket{le="+Inf"} 1', 'h_sum 1', 'h_count 1'), /line 3: .*le="x" is not a number/],
    ['no _sum', text(...H, ...hLines('', 1, 1).filter((l) => !l.startsWith('h_sum'))), /line 3: .*no h_sum/],
    ['no _count', text(...H, ...hLines('', 1, 1).slice(0, 3)), /line 3: .*no h_count/],
    ['no _count for one label set', text(...H, ...hLines('a="1"', 1, 1), ...hLines('a="2"', 1, 1).slice(0, 3)), /line 7: .*\["a","2"\].*no h_count/],
    ['a bucket without le', text(...H, 'h_bucket 1'), /line 3: 'le' belongs on h_bucket/],
    ['le on _sum', text(...H, 'h_sum{le="1"} 1'), /line 3: 'le' belongs on h_bucket/],
    ['a summary quantile above 1', text('# HELP s S.', '# TYPE s summary', 's{quantile="2"} 1', 's_sum 1', 's_count 1'), /line 3: .*quantile="2"/],
    ['a missing trailing newline', text(...G, 'g 1').trimEnd(), /line 3: missing trailing newline/],
  ])('rejects %s', (_what, bad, err) => {
    expect(() => parsePrometheus(bad)).toThrow(err);
  });
});

/** promtool's path and whether it runs. */
function findPromtool(): boolean {
  const r = spawnSync('promtool', ['--version'], { encoding: 'utf8', timeout: 10_000 });
  return !r.error && r.status === 0;
}
const HAVE_PROMTOOL = findPromtool();
const REQUIRE_PROMTOOL = process.env.VALK_REQUIRE_PROMTOOL === '1';
const SKIP = !HAVE_PROMTOOL && !REQUIRE_PROMTOOL;
const WHY = SKIP ? ' [SKIPPED: promtool is not on PATH; set VALK_REQUIRE_PROMTOOL=1 to make this fail]' : '';

/** `promtool check metrics` with `input` on stdin. */
function promtool(input: string): { status: number | null; output: string } {
  if (!HAVE_PROMTOOL) throw new Error('promtool is not on PATH, and VALK_REQUIRE_PROMTOOL=1 requires it');
  const r = spawnSync('promtool', ['check', 'metrics'], { input, encoding: 'utf8', timeout: 10_000 });
  if (r.error) throw r.error;
  return { status: r.status, output: `${r.stdout}${r.stderr}`.trim() };
}

describe('promtool check metrics', () => {
  it.skipIf(SKIP)(`accepts rendered output with no lint problems${WHY}`, () => {
    const escaping: PromFamily = {
      name: 'valk_aio_route_info',
      help: 'Routes; help with \\ and\nnewline.',
      type: 'gauge',
      samples: [{ labels: { path: '/a "q" \\ \n ✓' }, value: 1 }],
    };
    const rendered = renderPrometheus([...fixture(), escaping]);
    parsePrometheus(rendered);
    expect(promtool(rendered)).toEqual({ status: 0, output: '' });
  });

  it.skipIf(SKIP)(`accepts what the parser accepts beyond the renderer's output${WHY}`, () => {
    // Only the lint's "no help text" for g (its HELP is empty): the parse itself succeeds.
    expect(promtool(LIBERAL)).toEqual({ status: 3, output: 'g no help text' });
  });

  it.skipIf(SKIP)(`rejects what the parser rejects: a counter without _total (lint, exit 3), a missing newline (exit 1)${WHY}`, () => {
    const noTotal = text('# HELP valk_aio_requests Requests.', '# TYPE valk_aio_requests counter', 'valk_aio_requests 1');
    expect(() => parsePrometheus(noTotal)).toThrow(/does not end in _total/);
    const lint = promtool(noTotal);
    expect(lint.status).toBe(3);
    expect(lint.output).toContain('valk_aio_requests counter metrics should have "_total" suffix');

    const noNewline = renderPrometheus(fixture()).slice(0, -1);
    expect(() => parsePrometheus(noNewline)).toThrow(/missing trailing newline/);
    const parse = promtool(noNewline);
    expect(parse.status).toBe(1);
    expect(parse.output).toContain('unexpected end of input stream');
  });
});
