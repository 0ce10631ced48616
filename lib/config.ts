// The configuration of valk-aio: ONE table (CONFIG_FIELDS) declares every
// field once, and resolution, validation, the CLI flags, the README table and
// the TypeScript types all come from it.
//
// Semantics (seed 002, adapted by SPEC-MAP.md): a field left `undefined` means
// "use the default" or, for the three pool sizes, "derive it from the two
// primaries"; an explicit value, including 0, is validated as given.
//
// Thread: pure functions on Node's main thread. It imports no other module
// of lib/: the addon's side of each field is data here (FieldSpec.c), and
// lib/footprint.ts, which may load the addon, imports this file, never the
// reverse.

/** How a field's value is written and checked. */
export type FieldKind = 'int' | 'float' | 'bytes' | 'string' | 'enum';

/** 'system' fields go to startWithConfig(); 'server' fields go to listen(). */
export type FieldScope = 'system' | 'server';

/** The already-resolved primaries a derivation may read. */
export interface DerivationInput {
  readonly maxConnections: number;
  readonly maxConcurrentStreams: number;
  /** Resolved before maxSessionMemory (table order); absent for the derivations that do not need it. */
  readonly maxHeaderListSize?: number;
}

/** How a derived field is computed when it is left undefined. */
export interface Derivation {
  /** The formula as the README and the CLI show it. */
  readonly formula: string;
  /** The formula itself; the result is clamped into the field's range. */
  readonly compute: (p: DerivationInput) => number;
}

/** One row of the options table (V: the allowed values of an 'enum' row). */
export interface FieldSpec<
  N extends string = string,
  K extends FieldKind = FieldKind,
  S extends FieldScope = FieldScope,
  V extends readonly string[] = readonly string[],
> {
  /** camelCase name, as in the API; the CLI flag is derived from it. */
  readonly name: N;
  readonly kind: K;
  readonly scope: S;
  /** Default value; absent when the field is derived. */
  readonly default?: number | string;
  /** Present for the derived pool sizes. */
  readonly derive?: Derivation;
  /** Lower bound (for 'string': of the UTF-8 byte length; for 'enum': 0, unused). */
  readonly min: number;
  /** Upper bound (for 'string': of the UTF-8 byte length; for 'enum': values.length - 1, unused). */
  readonly max: number;
  /** The lower bound itself is not allowed. */
  readonly minExclusive?: boolean;
  /** The upper bound itself is not allowed. */
  readonly maxExclusive?: boolean;
  /** The allowed values of an 'enum' field (its TS type is their union). */
  readonly values?: V;
  readonly unit: string;
  readonly description: string;
}

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;

/** Keeps the literal name/kind/scope types of a row (for the derived TS types). */
function field<const N extends string, const K extends FieldKind, const S extends FieldScope>(
  spec: FieldSpec<N, K, S>,
): FieldSpec<N, K, S> {
  return Object.freeze(spec);
}

/**
 * An 'enum' row: a string that must be one of `values` (the default among them,
 * checked by the compiler). min and max are filled in as the index range of
 * `values`; no check reads them.
 */
function enumField<const N extends string, const S extends FieldScope, const V extends readonly [string, ...string[]]>(
  spec: Omit<FieldSpec<N, 'enum', S, V>, 'kind' | 'min' | 'max' | 'default' | 'derive' | 'values'> & {
    readonly values: V;
    readonly default: V[number];
  },
): FieldSpec<N, 'enum', S, V> {
  return Object.freeze({ ...spec, kind: 'enum', min: 0, max: spec.values.length - 1 });
}

/** The recommended TCP buffer count: floor(maxConnections × (16 + maxConcurrentStreams) / 8). */
export function recommendedTcpBuffers(p: DerivationInput): number {
  return Math.floor((p.maxConnections * (16 + p.maxConcurrentStreams)) / 8);
}

/** The default body of the pre-rendered 503 overload response. */
export const DEFAULT_ERROR_503_BODY = '{"error":"service unavailable"}\n';

/** Every configuration field, primaries before the fields derived from them. */
export const CONFIG_FIELDS = Object.freeze([
  field({
    name: 'maxConnections', kind: 'int', scope: 'system', default: 100, min: 1, max: 100_000,
    unit: 'connections', description: 'Primary knob: size of the connection slab; further connections are refused.',
  }),
  field({
    name: 'maxConcurrentStreams', kind: 'int', scope: 'system', default: 100, min: 1, max: 1000,
    unit: 'streams', description: 'Primary knob: HTTP/2 streams per connection, sent in SETTINGS.',
  }),
  field({
    name: 'tcpBufferPoolSize', kind: 'int', scope: 'system', min: 16, max: 1_000_000,
    derive: { formula: 'floor(maxConnections × (16 + maxConcurrentStreams) / 8)', compute: recommendedTcpBuffers },
    unit: 'buffers', description: 'TCP buffers (fixed 2 × SSL3_RT_MAX_PACKET_SIZE each); must be ≥ maxConnections.',
  }),
  field({
    name: 'arenaPoolSize', kind: 'int', scope: 'system', min: 1, max: 10_000,
    derive: { formula: '2 × maxConnections', compute: (p) => 2 * p.maxConnections },
    unit: 'arenas', description: 'Per-stream arenas; a stream that finds none gets a 503. Must be ≥ maxConnections / 10.',
  }),
  field({
    name: 'queueCapacity', kind: 'int', scope: 'system', min: 16, max: 100_000,
    derive: { formula: '2 × maxConnections', compute: (p) => 2 * p.maxConnections },
    unit: 'entries', description: 'Depth of each queue (requests, responses) between the AIO thread and JavaScript.',
  }),
  field({
    name: 'arenaSize', kind: 'bytes', scope: 'system', default: 64 * MiB, min: 1 * MiB, max: 256 * MiB,
    unit: 'bytes', description: 'Address space reserved per arena; committed only as a stream uses it.',
  }),
  field({
    name: 'maxRequestBodySize', kind: 'bytes', scope: 'system', default: 8 * MiB, min: 1 * KiB, max: 256 * MiB,
    unit: 'bytes', description: 'Largest request body; requests are buffered whole before the handler sees them.',
  }),
  field({
    name: 'bufferHighWatermark', kind: 'float', scope: 'system', default: 0.85, min: 0, max: 1,
    minExclusive: true, maxExclusive: true,
    unit: 'fraction', description: 'TCP buffer usage from which a new connection needs 2 × minBuffersPerConn free buffers.',
  }),
  field({
    name: 'bufferCriticalWatermark', kind: 'float', scope: 'system', default: 0.95, min: 0, max: 1,
    minExclusive: true,
    unit: 'fraction', description: 'TCP buffer usage from which every new connection is refused; must be > bufferHighWatermark.',
  }),
  field({
    name: 'minBuffersPerConn', kind: 'int', scope: 'system', default: 4, min: 1, max: 1024,
    unit: 'buffers', description: 'Buffers a new connection is assumed to need above the high watermark.',
  }),
  enumField({
    name: 'rejectMode', scope: 'system', values: ['rst', 'goaway'], default: 'rst',
    unit: 'mode', description:
      "How a refused connection is closed: 'rst' resets the TCP connection before any TLS work; 'goaway' completes TLS " +
      'and sends SETTINGS + GOAWAY(last-stream-id 0, overloadGoawayCode, "server overloaded"), up to ' +
      'maxGracefulRejections at once, RST beyond.',
  }),
  field({
    name: 'maxGracefulRejections', kind: 'int', scope: 'system', default: 32, min: 1, max: 4096,
    unit: 'connections', description: "Graceful ('goaway') rejections in flight at once; beyond it refusals fall back to RST.",
  }),
  enumField({
    name: 'overloadGoawayCode', scope: 'system', values: ['ENHANCE_YOUR_CALM', 'NO_ERROR'], default: 'ENHANCE_YOUR_CALM',
    unit: 'error code', description:
      'HTTP/2 error code of every GOAWAY sent to shed load (graceful rejections, backpressure evictions).',
  }),
  field({
    name: 'backpressureListMax', kind: 'int', scope: 'system', default: 1000, min: 1, max: 100_000,
    unit: 'connections', description:
      'Connections paused for lack of TCP buffers at once; past it the lowest-priority paused connection is evicted with GOAWAY.',
  }),
  field({
    name: 'maxConnectionsPerIp', kind: 'int', scope: 'system', default: 0, min: 0, max: 100_000,
    unit: 'connections', description:
      'Connections one client IP may hold; further ones are refused (counted as per-ip rejections); 0 = no limit.',
  }),
  enumField({
    name: 'softLimit', scope: 'system', values: ['on', 'off'], default: 'on',
    unit: 'switch', description:
      'When connection-slab usage reaches bufferHighWatermark, close the longest-idle connections (idle at least ' +
      'softLimitIdleMs) with GOAWAY(NO_ERROR) so active clients and newcomers get room.',
  }),
  field({
    name: 'softLimitIdleMs', kind: 'int', scope: 'system', default: 1000, min: 0, max: 86_400_000,
    unit: 'ms', description: 'How long a connection must have been idle before the soft limit may close it.',
  }),
  field({
    name: 'streamResetRate', kind: 'int', scope: 'system', default: 1000, min: 1, max: 1_000_000,
    unit: 'resets/s', description:
      'RST_STREAM frames per second on one connection, those the client sends and those it makes the server send ' +
      '(bursts of 10 × this), before the connection gets GOAWAY(ENHANCE_YOUR_CALM): the rapid-reset guard ' +
      "(CVE-2023-44487, and CVE-2025-8671 \"MadeYouReset\"). nghttp2's own 33/s closed a Go client's connection " +
      'every few seconds under load.',
  }),
  field({
    name: 'controlFrameRate', kind: 'int', scope: 'system', default: 1000, min: 1, max: 1_000_000,
    unit: 'frames/s', description:
      'SETTINGS, PING and PRIORITY frames, empty DATA frames and frames of unknown types a client may send per second ' +
      'on one connection (bursts of 10 × this) before GOAWAY(ENHANCE_YOUR_CALM): floods of frames that cost work ' +
      'and carry no request.',
  }),
  field({
    name: 'maxHeaderListSize', kind: 'bytes', scope: 'system', default: 64 * KiB, min: 1 * KiB, max: 1 * MiB,
    unit: 'bytes', description:
      'Largest request header section (headers, or trailers), counted as RFC 9113 counts it: name + value + 32 ' +
      'bytes per field; advertised in SETTINGS_MAX_HEADER_LIST_SIZE and checked while decoding, before anything is ' +
      'copied. Past it: 431, or RST_STREAM once the response began.',
  }),
  field({
    name: 'maxHeaderPairs', kind: 'int', scope: 'system', default: 128, min: 4, max: 10_000,
    unit: 'fields', description: 'Most fields (pseudo-headers included) in one request header section; past it as for maxHeaderListSize.',
  }),
  field({
    name: 'maxSessionMemory', kind: 'bytes', scope: 'system', min: 256 * KiB, max: 1 * GiB,
    derive: {
      formula: 'max(16 KiB × maxConcurrentStreams, 8 × maxHeaderListSize)',
      compute: (p) => Math.max(16 * KiB * p.maxConcurrentStreams, 8 * (p.maxHeaderListSize ?? 64 * KiB)),
    },
    unit: 'bytes', description:
      "Memory one connection's HTTP/2 state may hold: nghttp2's allocations, stream records and request headers " +
      'waiting for their body. Past three quarters of it new streams are refused (RST_STREAM REFUSED_STREAM); ' +
      'an allocation past it closes the connection. Must be at least 4 × maxHeaderListSize.',
  }),
  field({
    name: 'sseIntervalMs', kind: 'int', scope: 'system', default: 100, min: 10, max: 60_000,
    unit: 'ms', description: 'How often the memory diagnostics stream (/debug/diagnostics/memory) pushes a snapshot.',
  }),
  field({
    name: 'maxSseStreams', kind: 'int', scope: 'system', default: 100, min: 1, max: 10_000,
    unit: 'streams', description:
      'Memory diagnostics streams open at once; one more gets 503. Each holds one event buffer (see `valk-aio config`).',
  }),
  field({
    name: 'adminMaxConnections', kind: 'int', scope: 'system', default: 16, min: 1, max: 1024,
    unit: 'connections', description:
      "Connections the admin listener (listenAdmin(), CLI --admin-port) takes at once, from its own slab: outside " +
      'maxConnections and the load-shedding checks, so the dashboard stays reachable when the server is full.',
  }),
  field({
    name: 'drainTimeoutMs', kind: 'int', scope: 'system', default: 5000, min: 0, max: 600_000,
    unit: 'ms', description: 'How long stop() and close() wait for connections to drain before closing them.',
  }),
  field({
    name: 'handshakeTimeoutMs', kind: 'int', scope: 'system', default: 10_000, min: 100, max: 600_000,
    unit: 'ms', description: 'A connection that has not finished its TLS handshake by then is closed and its slot freed.',
  }),
  field({
    name: 'idleTimeoutMs', kind: 'int', scope: 'system', default: 60_000, min: 0, max: 86_400_000,
    unit: 'ms', description: 'A connection with no open stream for this long gets GOAWAY(NO_ERROR) and is closed; 0 disables.',
  }),
  field({
    name: 'settingsTimeoutMs', kind: 'int', scope: 'system', default: 10_000, min: 100, max: 600_000,
    unit: 'ms', description: "A client that has not acknowledged the server's SETTINGS by then gets GOAWAY(SETTINGS_TIMEOUT) and is closed.",
  }),
  field({
    name: 'headersTimeoutMs', kind: 'int', scope: 'system', default: 10_000, min: 100, max: 600_000,
    unit: 'ms', description:
      'A request header block (HEADERS and its CONTINUATION frames) not complete by then ends its connection with ' +
      'GOAWAY(ENHANCE_YOUR_CALM): HPACK cannot skip half a block.',
  }),
  field({
    name: 'bodyTimeoutMs', kind: 'int', scope: 'system', default: 10_000, min: 100, max: 3_600_000,
    unit: 'ms', description:
      'A request whose body receives no DATA for this long gets 408 and its arena back (RST_STREAM(CANCEL) if its ' +
      'response began). Not counted while the server itself stops reading the connection.',
  }),
  field({
    name: 'requestTimeoutMs', kind: 'int', scope: 'system', default: 60_000, min: 100, max: 86_400_000,
    unit: 'ms', description:
      'A request not complete (END_STREAM) this long after its first HEADERS frame gets 408: trickling a byte at a ' +
      'time does not keep it alive.',
  }),
  field({
    name: 'sendTimeoutMs', kind: 'int', scope: 'system', default: 30_000, min: 100, max: 3_600_000,
    unit: 'ms', description:
      'A response that has not moved for this long (the client keeps its flow-control window closed) is reset ' +
      '(RST_STREAM(CANCEL)) and its arena freed; a connection whose writes, or whose wait for TCP buffers, make no ' +
      'progress for this long is closed. Progress is bytes the client accepted: what it sends does not count.',
  }),
  field({
    name: 'maxResponseBodySize', kind: 'bytes', scope: 'server', default: 64 * MiB, min: 1 * KiB, max: 1 * GiB,
    unit: 'bytes', description: 'Largest response body a handler may return (per server).',
  }),
  field({
    name: 'handlerTimeoutMs', kind: 'int', scope: 'server', default: 30_000, min: 1, max: 3_600_000,
    unit: 'ms', description: 'A JavaScript handler that has not answered by then gets a 504 sent for it; its late answer is dropped.',
  }),
  field({
    name: 'error503Body', kind: 'string', scope: 'server', default: DEFAULT_ERROR_503_BODY, min: 0, max: 64 * KiB,
    unit: 'text', description: 'Body of the pre-rendered 503 sent when the server is overloaded (per server).',
  }),
] as const);

type AnyField = (typeof CONFIG_FIELDS)[number];
type FieldsIn<S extends FieldScope> = Extract<AnyField, { readonly scope: S }>;
/** The value type of a row: the union of its values for 'enum', string for 'string', else number. */
type ValueOf<F extends AnyField> = F extends { readonly kind: 'enum'; readonly values?: infer V }
  ? V extends readonly (infer E)[] ? E : string
  : F['kind'] extends 'string' ? string : number;
type Resolved<S extends FieldScope> = { readonly [F in FieldsIn<S> as F['name']]: ValueOf<F> };
type Partial_<S extends FieldScope> = { [F in FieldsIn<S> as F['name']]?: ValueOf<F> };

/** Names of the fields startWithConfig() takes. */
export type SystemFieldName = FieldsIn<'system'>['name'];
/** Names of the fields listen() takes. */
export type ServerFieldName = FieldsIn<'server'>['name'];
/** Any configuration field name. */
export type ConfigFieldName = AnyField['name'];
/** Names of the numeric ('int', 'float', 'bytes') system fields. */
export type NumericSystemFieldName = Exclude<FieldsIn<'system'>, { readonly kind: 'string' | 'enum' }>['name'];
/** The allowed values of an 'enum' field: EnumValues<'rejectMode'> is 'rst' | 'goaway'. */
export type EnumValues<N extends ConfigFieldName> = ValueOf<Extract<AnyField, { readonly name: N; readonly kind: 'enum' }>>;

/** What a user passes to startWithConfig(): any subset; undefined means default/derive. */
export type SystemConfig = Partial_<'system'>;
/** Every system field, resolved and validated (frozen). */
export type ResolvedConfig = Resolved<'system'>;
/** What a user passes to listen() for the per-server limits. */
export type ServerConfig = Partial_<'server'>;
/** Every server field, resolved and validated (frozen). */
export type ResolvedServerConfig = Resolved<'server'>;

const BY_NAME: ReadonlyMap<string, AnyField> = new Map(CONFIG_FIELDS.map((f) => [f.name, f]));

/** The row of a field, or undefined for an unknown name. */
export function fieldSpec(name: string): FieldSpec | undefined {
  return BY_NAME.get(name);
}

/** The rows of one scope, in table order. */
export function fieldsOf(scope: FieldScope): readonly FieldSpec[] {
  return CONFIG_FIELDS.filter((f) => f.scope === scope);
}

/** camelCase -> kebab-case, with digits split off: error503Body -> error-503-body. */
export function kebabCase(name: string): string {
  return name
    .replace(/([a-z])([A-Z0-9])/g, '$1-$2')
    .replace(/([0-9])([A-Za-z])/g, '$1-$2')
    .toLowerCase();
}

/** The CLI flag of a field: maxConnections -> --max-connections. */
export function flagOf(name: string): string {
  return `--${kebabCase(name)}`;
}

// ---------------------------------------------------------------------------
// ConfigError

/** A piece of an error message: literal text, or a reference to a field. */
export type MessagePart = string | { readonly ref: string };

/** How field names are written when a message is rendered. */
export type NameStyle = 'field' | 'flag';

function renderParts(parts: readonly MessagePart[], style: NameStyle): string {
  return parts.map((p) => (typeof p === 'string' ? p : style === 'flag' ? flagOf(p.ref) : p.ref)).join('');
}

/**
 * A configuration value that is not accepted. `message` reads
 * `maxConnections: 0 is out of range (allowed 1 to 100,000)`.
 */
export class ConfigError extends Error {
  /** camelCase name of the field (or of the CLI-only option) at fault. */
  readonly field: string;
  /** The offending value, as given. */
  readonly value: unknown;
  private readonly parts: readonly MessagePart[];

  constructor(field: string, value: unknown, detail: string | readonly MessagePart[]) {
    const parts = typeof detail === 'string' ? [detail] : detail;
    super(`${field}: ${renderParts(parts, 'field')}`);
    this.name = 'ConfigError';
    this.field = field;
    this.value = value;
    this.parts = parts;
  }

  /** The CLI flag of the field: `--max-connections`. */
  get flag(): string {
    return flagOf(this.field);
  }

  /** The message without the leading name, names written in the given style. */
  detail(style: NameStyle = 'field'): string {
    return renderParts(this.parts, style);
  }

  /** The message as the CLI prints it: `--max-connections: 0 is out of range (...)`. */
  get cliMessage(): string {
    return `${this.flag}: ${this.detail('flag')}`;
  }
}

// ---------------------------------------------------------------------------
// Formatting

/** An integer with thousands separators: 100000 -> "100,000". */
export function formatCount(n: number): string {
  return Number.isInteger(n) ? n.toLocaleString('en-US') : String(n);
}

const BYTE_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'] as const;

/** Bytes for people, binary units, one decimal at most: 47513600 -> "45.3 MiB". */
export function formatBytes(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  const last = BYTE_UNITS.length - 1;
  let value = Math.abs(n);
  let unit = 0;
  while (unit < last && value >= 1024) {
    value /= 1024;
    unit += 1;
  }
  if (unit > 0 && unit < last && Number(value.toFixed(1)) >= 1024) {
    value /= 1024; // 1023.96 KiB prints as 1 MiB, not 1024 KiB
    unit += 1;
  }
  const text = unit === 0 ? String(value) : value.toFixed(1).replace(/\.0$/, '');
  return `${n < 0 ? '-' : ''}${text} ${BYTE_UNITS[unit]}`;
}

const BYTE_MULTIPLIERS: Readonly<Record<string, number>> = {
  '': 1, b: 1,
  k: KiB, kb: KiB, kib: KiB,
  m: MiB, mb: MiB, mib: MiB,
  g: GiB, gb: GiB, gib: GiB,
  t: 1024 * GiB, tb: 1024 * GiB, tib: 1024 * GiB,
};

const BYTE_SIZE_HINT = 'is not a byte size such as 8388608, 512KiB, 8MiB or 1GiB';

/** The byte count of `text`, or null when it is not a byte size. */
function bytesOf(text: string): number | null {
  const m = /^\s*(\d+(?:\.\d+)?|\.\d+)\s*([a-z]*)\s*$/i.exec(text);
  const mult = m ? BYTE_MULTIPLIERS[m[2].toLowerCase()] : undefined;
  const bytes = m && mult !== undefined ? Number(m[1]) * mult : NaN;
  return Number.isSafeInteger(bytes) ? bytes : null;
}

/**
 * Parses a byte size as the CLI accepts it: a plain count (`8388608`) or a
 * number with a binary unit, case-insensitive, optional space: `512K`, `512KiB`,
 * `8M`, `8MiB`, `8MB`, `1G`, `1GiB`, `1.5MiB`. Every unit is a power of 1024
 * (as in seed 002, where "1 MB" is 1 << 20). Throws RangeError otherwise, or
 * when the result is not a whole number of bytes.
 */
export function parseBytes(text: string): number {
  const bytes = bytesOf(text);
  if (bytes === null) throw new RangeError(`${formatValue(text)} ${BYTE_SIZE_HINT}`);
  return bytes;
}

function formatBound(spec: FieldSpec, n: number): string {
  if (spec.kind === 'bytes' || spec.kind === 'string') return formatBytes(n);
  return formatCount(n);
}

/** The allowed range as messages and the README write it: `1 to 100,000`. */
export function formatRange(spec: FieldSpec): string {
  if (spec.kind === 'enum') return `one of ${(spec.values ?? []).join(', ')}`;
  const lo = formatBound(spec, spec.min);
  const hi = formatBound(spec, spec.max);
  if (spec.kind === 'string') return `at most ${hi} of UTF-8`;
  if (!spec.minExclusive && !spec.maxExclusive) return `${lo} to ${hi}`;
  const lower = spec.minExclusive ? `greater than ${lo}` : `at least ${lo}`;
  const upper = spec.maxExclusive ? `less than ${hi}` : `at most ${hi}`;
  return `${lower} and ${upper}`;
}

/** A value as an error message shows it: numbers plainly, strings quoted and cut. */
export function formatValue(value: unknown): string {
  if (typeof value === 'string') {
    const cut = value.length > 40 ? `${value.slice(0, 37)}...` : value;
    return JSON.stringify(cut);
  }
  if (typeof value === 'number' || typeof value === 'boolean' || value === null || value === undefined) {
    return String(value);
  }
  if (typeof value === 'bigint') return `${value}n`;
  return Array.isArray(value) ? 'an array' : `a ${typeof value}`;
}

/** A field's default for people: "100", "64 MiB", "derived: 2 × maxConnections". */
export function formatDefault(spec: FieldSpec): string {
  if (spec.derive) return `derived: ${spec.derive.formula}`;
  return formatFieldValue(spec, spec.default ?? '');
}

/** A resolved value for people, by kind: "1,450", "64 MiB", "0.85", an enum value as is, a quoted string. */
export function formatFieldValue(spec: FieldSpec, value: number | string): string {
  if (typeof value === 'string') return spec.kind === 'enum' ? value : JSON.stringify(value);
  if (spec.kind === 'bytes') return formatBytes(value);
  return formatCount(value);
}

// ---------------------------------------------------------------------------
// Checking one value

function problem(spec: FieldSpec, value: unknown, what: string): ConfigError {
  return new ConfigError(spec.name, value, `${formatValue(value)} ${what} (allowed ${formatRange(spec)})`);
}

function numberProblem(spec: FieldSpec, value: unknown): ConfigError | null {
  if (typeof value !== 'number') return problem(spec, value, 'is not a number');
  if (!Number.isFinite(value)) return problem(spec, value, 'is not a finite number');
  if (spec.kind !== 'float' && !Number.isInteger(value)) {
    return problem(spec, value, spec.kind === 'bytes' ? 'is not a whole number of bytes' : 'is not an integer');
  }
  const low = spec.minExclusive ? value <= spec.min : value < spec.min;
  const high = spec.maxExclusive ? value >= spec.max : value > spec.max;
  return low || high ? problem(spec, value, 'is out of range') : null;
}

function stringProblem(spec: FieldSpec, value: unknown): ConfigError | null {
  if (typeof value !== 'string') return problem(spec, value, 'is not a string');
  if (spec.kind === 'enum') {
    return spec.values?.includes(value) ? null : problem(spec, value, 'is not an allowed value');
  }
  const len = Buffer.byteLength(value, 'utf8');
  if (len < spec.min || len > spec.max) return problem(spec, value, `is ${formatBytes(len)} long`);
  return null;
}

/** Checks one value against its row (type, integer-ness, range); null when fine. */
export function checkField(spec: FieldSpec, value: unknown): ConfigError | null {
  return spec.kind === 'string' || spec.kind === 'enum' ? stringProblem(spec, value) : numberProblem(spec, value);
}

/**
 * Converts CLI text to a field's value (numbers for numeric kinds, byte units for
 * 'bytes') without range checks; throws ConfigError naming the field.
 */
export function parseFieldText(spec: FieldSpec, text: string): number | string {
  if (spec.kind === 'string' || spec.kind === 'enum') return text;
  if (spec.kind === 'bytes') return bytesOf(text) ?? throwText(spec, text, BYTE_SIZE_HINT);
  if (!/^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$/.test(text)) {
    return throwText(spec, text, spec.kind === 'int' ? 'is not an integer' : 'is not a number');
  }
  return Number(text);
}

function throwText(spec: FieldSpec, text: string, what: string): never {
  throw problem(spec, text, what);
}

// ---------------------------------------------------------------------------
// Resolution

type Values = Record<string, number | string>;

function nearestName(key: string): string | undefined {
  const squash = (s: string): string => s.replace(/[-_\s]/g, '').toLowerCase();
  return CONFIG_FIELDS.find((f) => squash(f.name) === squash(key))?.name;
}

const SCOPE_HOME: Readonly<Record<FieldScope, string>> = {
  system: 'startWithConfig()',
  server: 'listen()',
};

function keyProblem(key: string, value: unknown, scope: FieldScope): ConfigError {
  const spec = BY_NAME.get(key);
  if (spec && spec.scope !== scope) {
    return new ConfigError(key, value, `a ${spec.scope} setting: pass it to ${SCOPE_HOME[spec.scope]}, not ${SCOPE_HOME[scope]}`);
  }
  const near = nearestName(key);
  const hint = near ? `; did you mean ${near}?` : '';
  return new ConfigError(key, value, `unknown configuration field for ${SCOPE_HOME[scope]}${hint}`);
}

function entriesOf(partial: object | null | undefined, scope: FieldScope): [string, unknown][] {
  if (partial === undefined || partial === null) return [];
  if (typeof partial !== 'object' || Array.isArray(partial)) {
    throw new TypeError(`valk-aio: the configuration passed to ${SCOPE_HOME[scope]} must be an object`);
  }
  const entries = Object.entries(partial);
  for (const [key, value] of entries) {
    if (BY_NAME.get(key)?.scope !== scope) throw keyProblem(key, value, scope);
  }
  return entries.filter(([, value]) => value !== undefined);
}

function clampInto(spec: FieldSpec, n: number): number {
  return Math.min(spec.max, Math.max(spec.min, n));
}

/** Fills in defaults and derivations for one scope; checks each explicit value first. */
function resolveScope(partial: object | null | undefined, scope: FieldScope): Values {
  const given = new Map(entriesOf(partial, scope));
  const out: Values = {};
  for (const spec of fieldsOf(scope)) {
    if (given.has(spec.name)) {
      const err = checkField(spec, given.get(spec.name));
      if (err) throw err;
      out[spec.name] = given.get(spec.name) as number | string;
    } else if (spec.derive) {
      out[spec.name] = clampInto(spec, spec.derive.compute(out as unknown as DerivationInput));
    } else {
      out[spec.name] = spec.default as number | string;
    }
  }
  return out;
}

/**
 * Resolves what a user passes to startWithConfig(): defaults for absent fields,
 * derived pool sizes from the resolved primaries (clamped into their ranges; an
 * explicit value is kept as given), then validateConfig(). Returns a frozen
 * object; throws ConfigError for an explicit 0, a negative, a fraction where an
 * integer is required, NaN, Infinity, a non-number, null, an unknown key, a
 * server-scope key, or a broken relationship rule.
 */
export function resolveConfig(partial?: SystemConfig | null): ResolvedConfig {
  const resolved = resolveScope(partial, 'system') as unknown as ResolvedConfig;
  const err = checkConfig(resolved);
  if (err) throw err;
  return Object.freeze(resolved);
}

/** The same as resolveConfig() for the per-server fields listen() takes. */
export function resolveServerConfig(partial?: ServerConfig | null): ResolvedServerConfig {
  return Object.freeze(resolveScope(partial, 'server') as unknown as ResolvedServerConfig);
}

let defaults: ResolvedConfig | undefined;

/** The resolved defaults (frozen): 100 connections, 100 streams, 1,450 buffers, ... */
export function defaultConfig(): ResolvedConfig {
  defaults ??= resolveConfig();
  return defaults;
}

/** The fields resolveConfig(partial) derives (those left undefined that have a formula). */
export function derivedFields(partial?: SystemConfig | null): SystemFieldName[] {
  const given = partial ?? {};
  return fieldsOf('system')
    .filter((f) => f.derive && (given as Record<string, unknown>)[f.name] === undefined)
    .map((f) => f.name as SystemFieldName);
}

// ---------------------------------------------------------------------------
// Validation

/** A relationship between fields that a valid configuration keeps (seed 002, seed 000 phase 2). */
interface RelationRule {
  /** The field the rule is about (the one the error names). */
  readonly field: NumericSystemFieldName;
  /** The lowest allowed value of `field` given the others, or null. */
  readonly floor: (c: ResolvedConfig) => number | null;
  /** The highest allowed value (exclusive) of `field` given the others, or null. */
  readonly ceilingBelow: (c: ResolvedConfig) => number | null;
  /** The highest allowed value (inclusive) of `field` given the others; absent: none. */
  readonly ceiling?: (c: ResolvedConfig) => number;
  readonly text: readonly MessagePart[];
}

const RELATION_RULES: readonly RelationRule[] = [
  {
    field: 'tcpBufferPoolSize', floor: (c) => c.maxConnections, ceilingBelow: () => null,
    text: ['must be at least ', { ref: 'maxConnections' }],
  },
  {
    field: 'arenaPoolSize', floor: (c) => Math.floor(c.maxConnections / 10), ceilingBelow: () => null,
    text: ['must be at least ', { ref: 'maxConnections' }, ' / 10'],
  },
  {
    field: 'bufferHighWatermark', floor: () => null, ceilingBelow: (c) => c.bufferCriticalWatermark,
    text: ['must be less than ', { ref: 'bufferCriticalWatermark' }],
  },
  {
    // A request body is kept whole in one arena.
    field: 'maxRequestBodySize', floor: () => null, ceilingBelow: () => null, ceiling: (c) => c.arenaSize,
    text: ['must be at most ', { ref: 'arenaSize' }, ' (a request body is kept in one arena)'],
  },
  {
    // A request with headers at the limit must fit the connection's budget, with room for nghttp2.
    field: 'maxSessionMemory', floor: (c) => 4 * c.maxHeaderListSize, ceilingBelow: () => null,
    text: ['must be at least 4 × ', { ref: 'maxHeaderListSize' }],
  },
];

function relationProblem(rule: RelationRule, c: ResolvedConfig): ConfigError | null {
  const spec = BY_NAME.get(rule.field) as FieldSpec;
  const value = c[rule.field];
  const floor = rule.floor(c);
  const below = rule.ceilingBelow(c);
  const ceiling = rule.ceiling?.(c) ?? null;
  if ((floor === null || value >= floor) && (below === null || value < below) &&
      (ceiling === null || value <= ceiling)) return null;
  const range = ceiling !== null
    ? `${formatBound(spec, spec.min)} to ${formatBound(spec, Math.min(ceiling, spec.max))}`
    : floor !== null
    ? `${formatBound(spec, Math.max(floor, spec.min))} to ${formatBound(spec, spec.max)}`
    : `greater than ${formatBound(spec, spec.min)} and less than ${formatBound(spec, below ?? spec.max)}`;
  return new ConfigError(rule.field, value, [`${formatValue(value)} `, ...rule.text, ` (allowed ${range})`]);
}

/** Hard limits of every field, then the relationship rules; the first failure or null. */
function checkConfig(c: ResolvedConfig): ConfigError | null {
  const values = c as unknown as Record<string, unknown>;
  for (const spec of fieldsOf('system')) {
    const err = checkField(spec, values[spec.name]);
    if (err) return err;
  }
  for (const rule of RELATION_RULES) {
    const err = relationProblem(rule, c);
    if (err) return err;
  }
  return null;
}

/**
 * Checks a resolved configuration against seed 002's hard limits and
 * relationship rules (tcpBufferPoolSize ≥ maxConnections, arenaPoolSize ≥
 * floor(maxConnections / 10)) and seed 000's bufferHighWatermark <
 * bufferCriticalWatermark. Returns null when valid, else the message.
 */
export function validateConfig(resolved: ResolvedConfig): string | null {
  return checkConfig(resolved)?.message ?? null;
}

/**
 * Seed 002's advisory warnings: a TCP buffer pool below 70% of the recommended
 * floor(maxConnections × (16 + maxConcurrentStreams) / 8), fewer arenas than
 * connections; and a maxConnectionsPerIp above maxConnections (a per-IP limit
 * that can never be reached). Never fatal.
 */
export function configWarnings(c: ResolvedConfig): string[] {
  const warnings: string[] = [];
  const recommended = recommendedTcpBuffers(c);
  if (c.tcpBufferPoolSize < recommended * 0.7) {
    warnings.push(
      `tcpBufferPoolSize (${formatCount(c.tcpBufferPoolSize)}) may be insufficient for ` +
        `${formatCount(c.maxConcurrentStreams)} streams per connection; recommend >= ${formatCount(recommended)}`,
    );
  }
  if (c.arenaPoolSize < c.maxConnections) {
    warnings.push(
      `arenaPoolSize (${formatCount(c.arenaPoolSize)}) < maxConnections (${formatCount(c.maxConnections)}) ` +
        'may cause frequent 503 responses',
    );
  }
  if (c.maxConnectionsPerIp > c.maxConnections) {
    warnings.push(
      `maxConnectionsPerIp (${formatCount(c.maxConnectionsPerIp)}) > maxConnections (${formatCount(c.maxConnections)}): ` +
        'the per-IP limit can never be reached',
    );
  }
  return warnings;
}

// ---------------------------------------------------------------------------
// README table

function markdownCell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

function defaultCell(spec: FieldSpec): string {
  if (spec.derive) {
    const example = spec.derive.compute(defaultConfig());
    return `derived: \`${spec.derive.formula}\` (${formatCount(example)} with the defaults)`;
  }
  if (typeof spec.default === 'string') return `\`${spec.default.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}\``;
  return formatDefault(spec);
}

function rangeCell(spec: FieldSpec): string {
  if (spec.kind === 'enum') return `one of ${(spec.values ?? []).map((v) => `\`${v}\``).join(', ')}`;
  return formatRange(spec);
}

/**
 * The README's configuration table, generated from CONFIG_FIELDS (a test keeps
 * README.md equal to it). Derived values are clamped into their range.
 */
export function configTableMarkdown(): string {
  const header = '| Field | Scope | CLI flag | Default | Range | Unit | Description |';
  const rule = '| --- | --- | --- | --- | --- | --- | --- |';
  const rows = CONFIG_FIELDS.map((f) =>
    [
      `\`${f.name}\``,
      f.scope === 'system' ? 'system (`startWithConfig`)' : 'server (`listen`)',
      `\`${flagOf(f.name)}\``,
      defaultCell(f),
      rangeCell(f),
      f.unit,
      f.description,
    ].map(markdownCell).join(' | '),
  );
  return [header, rule, ...rows.map((r) => `| ${r} |`)].join('\n') + '\n';
}
