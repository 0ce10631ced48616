// Loads the C addon and declares the shape of what crosses into C. Only lib/
// talks to the addon; cli/ goes through lib/. The addon is found the way
// node-gyp-build finds it (README.md "Install"): a source build in
// build/Release first (a development checkout, or an install that found no
// prebuild), else the prebuild for this Node's ABI in
// prebuilds/<platform>-<arch>/. VALK_AIO_ADDON names a file instead
// (scripts/sanitize.sh's sanitizer builds).
//
// Thread: everything here runs on Node's main thread. The addon's AIO threads
// never call into V8; they hand results back through uv_async_t handles the
// binding owns on Node's loop.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { NativeSystemConfig } from './config';
import type { ValkErrorCode } from './error-codes';

/** Sizes the addon reports, for estimateFootprint() and the footprint tests. */
export interface NativeConstants {
  /** Bytes of one TCP buffer: 2 * SSL3_RT_MAX_PACKET_SIZE (fixed, not configurable). */
  tcpBufferSize: number;
  /** Bytes one connection struct occupies in the connection slab (item stride). */
  connSlotSize: number;
  /** Bytes of slab bookkeeping per item (header + alignment), included in the strides. */
  slabItemOverhead: number;
  /** Bytes of one TCP buffer slab item (stride, including the header). */
  tcpBufferSlotSize: number;
  /** Bytes of one request/response queue entry. */
  queueEntrySize: number;
  /** The admin listeners' arenas per admin connection slot (VALK_ADMIN_ARENAS_PER_CONN). */
  adminArenasPerConn: number;
  /** The size cap of an admin listener's arena (VALK_ADMIN_ARENA_SIZE). */
  adminArenaSize: number;
  /**
   * Estimate of the per-connection TLS + HTTP/2 protocol state that OpenSSL and
   * nghttp2 allocate outside the pools (measured, not enforced).
   */
  connProtocolStateEstimate: number;
  /** The most bytes a server connection's TLS memory BIOs hold (VALK_TLS_BIO_MAX). */
  tlsBufferBound: number;
  /** The largest response header block the server submits, name + value + 32 per field (VALK_RESP_HEADERS_MAX). */
  responseHeadersMax: number;
  /** What :status and content-length take of it (VALK_RESP_FIXED_HEADERS_BYTES). */
  responseFixedHeadersBytes: number;
  /** Streaming request bodies: the least block a stream's fill takes, and the most the block cache keeps. */
  bodyBlockMin: number;
  bodyBlocksMax: number;
  /**
   * Bytes of one entry of the per-IP connection-count table (maxConnectionsPerIp).
   * Addons built before that table do not export it (undefined at run time);
   * estimateFootprint() then uses IP_TABLE_ENTRY_SIZE_FALLBACK (24) from lib/config.
   */
  ipTableEntrySize: number;
  /** The nghttp2 version compiled into the addon (Debian's source). */
  nghttp2Version: string;
  /** The llhttp version compiled into the addon (Debian's node-llhttp sources). */
  llhttpVersion: string;
  /** OpenSSL_version(OPENSSL_VERSION_STRING) as the addon sees it. */
  opensslVersion: string;
  /** Every metric declared in csrc/valk_metrics.h's lists, in list order. */
  metricsCatalogue: NativeMetricDesc[];
  /** csrc/valk_events.h's kinds (by number; 0 unused), their help, the reasons, the ring states, the record size. */
  events: { kinds: string[]; help: string[]; reasons: string[]; states: string[]; recordSize: number };
  /** The request latency histogram's bucket upper bounds, microseconds (+Inf not included). */
  latencyBoundsUs: number[];
  /** Every VALK_E* code and its number, from csrc/valk_common.h's list (lib/error-codes.ts holds the same). */
  errorCodes: Record<ValkErrorCode, number>;
}

/** One metric of csrc/valk_metrics.h: the one list C, the binding and TypeScript share. */
export interface NativeMetricDesc {
  name: string;
  kind: 'counter' | 'gauge';
  /** server: per server and summed in `system`; system: the system's own; loop: the AIO loop's. */
  scope: 'server' | 'system' | 'loop';
  help: string;
}

/**
 * The resolved configuration as it crosses into C: derived from lib/config.ts's
 * table (each field's C member), made by toNativeConfig().
 */
export type { NativeSystemConfig } from './config';

export interface NativeRoute {
  path: string;
  status: number;
  /** Flattened [name, value, name, value, ...], names lower-case. */
  headers: string[];
  body: Buffer;
}

export interface NativeListenOptions {
  host: string;
  port: number;
  /** false: a cleartext listener (HTTP/2 with prior knowledge); key and cert are '' then. */
  tls: boolean;
  key: string;
  cert: string;
  routes: NativeRoute[];
  maxResponseBodySize: number;
  error503Body: Buffer;
  /** Paths without a route go to JavaScript (onRequests). */
  hasHandler: boolean;
  /** The admin listener: its own connection slab, no admission checks. */
  admin: boolean;
  /** requestBodies 'stream': handlers get requests at the end of their headers, bodies in chunks. */
  streamBodies: boolean;
}

export interface NativeServerInfo {
  id: number;
  host: string;
  port: number;
}

export interface NativeStopReport {
  /** Connection slots not released at stop (0 when healthy). */
  leakedConnections: number;
  leakedTcpBuffers: number;
  leakedArenas: number;
  /** Slots of the goaway-mode rejection slab not released. */
  leakedGracefulSlots: number;
  /** Slots of the admin listeners' connection slab not released. */
  leakedAdminSlots: number;
  /** The first (up to 16) connection slot indices not released. */
  leakedSlots: number[];
}

/** A fixed pool's gauges. */
export interface NativePoolGauges {
  total: number;
  used: number;
  available: number;
  /** Acquires that found the pool empty. */
  overflow: number;
}

/** One server's metrics: every VALK_SERVER_STATS_MAP entry, plus these. */
export interface NativeServerMetrics {
  id: number;
  port: number;
  uptime_seconds: number;
  /** Non-cumulative counts per latencyBoundsUs bucket (the last: above every bound), sum in µs. */
  latency: { counts: number[]; sum_us: number };
  [metric: string]: number | { counts: number[]; sum_us: number };
}

/** What metrics() returns: read with atomic loads while the AIO thread runs. */
export interface NativeMetrics {
  /** Every metric of VALK_STATS_MAP: the servers' summed, then the system's own. */
  system: NativeStats;
  connections: { active: number; max: number; available: number; soft_limit_at: number };
  pools: {
    connections: NativePoolGauges;
    tcp_buffers: NativePoolGauges;
    graceful_rejections: NativePoolGauges;
    admin_connections: NativePoolGauges;
    arenas: NativePoolGauges & {
      arena_size: number;
      high_water_bytes: number;
      committed_bytes: number;
      committed_peak_bytes: number;
      alloc_failures: number;
    };
  };
  watermark: { state: 'normal' | 'high' | 'critical'; usage: number; transitions: number; high: number; critical: number };
  backpressure: { list_size: number; list_max: number; evicted: number };
  /** The lifecycle event ring (docs/design.md §13). */
  events: NativeEventStats;
  servers: NativeServerMetrics[];
  /** VALK_LOOP_STATS_MAP: the AIO loop, as of its last iteration. */
  loop: Record<string, number>;
  queue: { depth: number; capacity: number; pending_requests: number; pending_responses: number } & NativeBpState;
  /** The diagnostics stream's backpressure state (docs/design.md §13). */
  sse: NativeBpState;
  uptime_seconds: number;
  server_count: number;
}

/** A queue's backpressure state and its entries into each state (csrc/valk_bpstate.h). */
export interface NativeBpState {
  state: 'normal' | 'pressure' | 'dropping' | 'recovery';
  transitions: Record<'normal' | 'pressure' | 'dropping' | 'recovery', number>;
}

/** The lifecycle event ring's state and counters (csrc/valk_evring.h). */
export interface NativeEventStats {
  state: 'normal' | 'pressure' | 'dropping' | 'recovery';
  fill: number;
  capacity: number;
  recorded: number;
  drained: number;
  events_dropped: number;
  bytes_dropped: number;
  transitions: Record<'normal' | 'pressure' | 'dropping' | 'recovery', number>;
  /** 1 while a reader is attached (sys.events()), else 0: nothing is recorded. */
  recording: number;
}

/** Raw counters of one system, read with atomic loads from the C side. */
export type NativeStats = Record<string, number>;

/** One running AIO system: a C thread with its own uv loop. */
export interface NativeSystem {
  /** cb(err, info) runs on Node's main thread when the AIO thread has bound the port. */
  listen(opts: NativeListenOptions, cb: (err: Error | null, info?: NativeServerInfo) => void): void;
  /** GOAWAY to the server's connections, bounded drain, close. */
  closeServer(id: number, cb: (err: Error | null) => void): void;
  /** Stops every server, joins the thread, frees every pool. */
  stop(cb: (err: Error | null, report?: NativeStopReport) => void): void;
  metrics(): NativeMetrics;
  /** The lifecycle event kinds recorded: a bit a kind (csrc/valk_events.h), 0 none; true every kind. */
  eventsRecord(kinds: boolean | number): void;
  /** Up to max events, oldest first, as 32-byte records (lib/events.ts decodes them). */
  drainEvents(max: number): Buffer;
  /** The event ring's state and counters. */
  eventStats(): NativeEventStats;
  /** Node's runtime figures for the diagnostics snapshot (csrc/valk_sse.h VALK_SSE_RUNTIME_MAP). */
  pushRuntime(figures: Record<string, number>): void;
  /**
   * fn(batch) runs on Node's main thread with the requests waiting for
   * JavaScript, flat: 8 slots per request (token, server id, stream id,
   * method, path, remote address, body Buffer or undefined, header count),
   * then the header names and values (lib/handler.ts reads it).
   */
  onRequests(fn: (batch: unknown[]) => void): void;
  /** fn(tokens): requests whose stream died (reset, or its connection gone) while JavaScript had them. */
  onCancel(fn: (tokens: number[]) => void): void;
  /**
   * Answers request token (once). false: headers + body did not fit the
   * request's arena and an empty 500 was sent instead. A string body is
   * written into the arena as UTF-8 (one copy).
   */
  respond(token: number, status: number, headers: string[], body: Buffer | string, streaming?: boolean): boolean;
  /** A streaming answer's next chunk (after onDrain said so); flags 1 = end, 2 = abort. False: it does not stream (any more). */
  chunk(token: number, body: Buffer | undefined, flags: number): boolean;
  /** fn(tokens): streaming answers that may send their next chunk. */
  onDrain(fn: (tokens: number[]) => void): void;
  /** Requests (by token) whose next body chunk may be ready (requestBodies 'stream'). */
  onBody(fn: (tokens: number[]) => void): void;
  /**
   * The ready body chunk, copied (the client's window opens for the next):
   * [chunk, end]; false when none is ready yet; null when the stream died first.
   */
  takeBody(token: number): [Buffer, boolean] | false | null;
  /** Drops the ready chunk and the rest of the body: true, or false when none is ready yet (try at the next onBody). */
  discardBody(token: number): boolean;
  /** An HTTP/2 client connection on the AIO thread (csrc/valk_h2_client.h): cb once HTTP/2 is up. */
  connect(opts: NativeConnectOptions, cb: (err: Error | null, info?: { id: number }) => void): void;
  /** One request on client id; headers flat [name, value, ...]. */
  request(id: number, method: string, path: string, headers: string[], body: Buffer | undefined,
    cb: (err: Error | null, res?: NativeClientResponse) => void): void;
  /** GOAWAY and close; cb once the client's connection slot is free. */
  closeClient(id: number, cb: (err: Error | null) => void): void;
  /** Whether client id still takes requests (false once the connection closed or got GOAWAY). */
  clientLive(id: number): boolean;
}

/** What connect() hands to C. */
export interface NativeConnectOptions {
  /** An IPv4 or IPv6 literal. */
  host: string;
  port: number;
  /** PEM certificates to verify the server against; '' = the system store. */
  ca: string;
  rejectUnauthorized: boolean;
  maxResponseBodySize: number;
}

/** A client response as C returns it: headers flat [name, value, ...]. */
export interface NativeClientResponse {
  status: number;
  headers: string[];
  body: Buffer;
}

export interface NativeSlab {
  acquire(): number;          // slot index, or -1 when exhausted
  release(slot: number): void;
  available(): number;
  overflow(): number;
  itemStride(): number;
  totalSize(): number;
  bitmap(): Buffer;           // LSB-first, 1 = used, padding bits zero
  free(): void;
}

export interface NativeBinding {
  constants: NativeConstants;
  createSystem(cfg: NativeSystemConfig): NativeSystem;
  generateSelfSigned(hosts: string[], days: number): { key: string; cert: string };
  /** Bytes of one diagnostics event buffer (csrc/valk_snapshot.h valk_snapshot_max_bytes). */
  sseEventBytes(maxConnections: number, tcpBufferPoolSize: number, arenaPoolSize: number, adminMaxConnections: number, smallArenaPoolSize?: number): number;
  // Test and diagnostic bindings.
  slabNew(itemSize: number, count: number): NativeSlab;
  slabItemStride(itemSize: number): number;
  slabSize(itemSize: number, count: number): number;
  connStructSize(): number;
  /** threads x iterations of acquire/claim/release on one slab of items (valk_selftest.c). */
  slabStress(threads: number, iterations: number, items: number): {
    violations: number; acquired: number; overflow: number; available: number; count: number;
  };
  /** Object file holding nghttp2_session_mem_recv as the addon calls it, and node's export. */
  diagNghttp2Origin(): NativeOrigin;
  /** The same for llhttp_execute. */
  diagLlhttpOrigin(): NativeOrigin;
}

/** Where a function the addon calls lives, and where a global lookup of its name finds it. */
export interface NativeOrigin {
  /** Object file holding the function as the addon calls it. */
  file: string;
  symbolAddress: string;
  /** Object file of the same symbol found by a global lookup (node's), or null. */
  nodeExported: string | null;
  nodeExportedAddress?: string;
}

let cached: NativeBinding | undefined;
let cachedFile = '';

/** The package's root: the nearest directory above this file holding binding.gyp (lib/ or dist/lib/). */
export function packageRoot(): string {
  let dir = __dirname;
  while (!fs.existsSync(path.join(dir, 'binding.gyp'))) {
    const up = path.dirname(dir);
    if (up === dir) throw new Error(`valk-aio: no binding.gyp above ${__dirname}`);
    dir = up;
  }
  return dir;
}

/** The addon, loaded once. Throws a clear error when none has been built for this Node. */
export function native(): NativeBinding {
  if (cached) return cached;
  let file = process.env.VALK_AIO_ADDON ?? packageRoot();
  try {
    if (!process.env.VALK_AIO_ADDON) {
      // eslint-disable-next-line @typescript-eslint/no-var-requires
      file = (require('node-gyp-build') as { path(dir: string): string }).path(file);
    }
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    cached = require(file) as NativeBinding;
    cachedFile = file;
  } catch (err) {
    throw new Error(`valk-aio: cannot load the native addon from ${file}: ${(err as Error).message.trim()} ` +
      `(wanted: build/Release from \`npm run build\`, or a prebuild for ${process.platform}-${process.arch} ` +
      `abi${process.versions.modules} in prebuilds/)`);
  }
  return cached;
}

/** The file the addon was loaded from (build/Release, a prebuild, or VALK_AIO_ADDON): loads it first. */
export function addonFile(): string {
  native();
  return cachedFile;
}
