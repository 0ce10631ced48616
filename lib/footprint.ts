// The memory footprint of a configuration: bytes per pool, and their sum,
// the memory ceiling `valk-aio config` prints before anything starts
// (docs/design.md §10 Configuration). Its own module so that lib/config.ts
// (the options table) never loads the addon: only estimateFootprint() without
// explicit sizes does, through lib/native.ts.
//
// Thread: pure functions on Node's main thread.
import type { ResolvedConfig } from './config';
import { native } from './native';

/** The sizes estimateFootprint() needs (a subset of native().constants). */
export interface FootprintSizes {
  readonly connSlotSize: number;
  readonly tcpBufferSlotSize: number;
  readonly queueEntrySize: number;
  /** OpenSSL's per-connection state (an estimate). */
  readonly connProtocolStateEstimate: number;
  /** The bound of a connection's TLS memory BIOs; absent: 0. */
  readonly tlsBufferBound?: number;
  /** Bytes of one per-IP connection-count table entry. */
  readonly ipTableEntrySize: number;
  /** The admin listeners' arenas per admin connection slot, and their size cap; absent: the fallbacks. */
  readonly adminArenasPerConn?: number;
  readonly adminArenaSize?: number;
  /** Streaming request bodies: a fill's least block and the block cache's bound; absent: the fallbacks. */
  readonly bodyBlockMin?: number;
  readonly bodyBlocksMax?: number;
  /** Bytes of one memory diagnostics event for a config (the addon's bound); absent: 0. */
  readonly sseEventBytes?: (c: ResolvedConfig) => number;
}

/**
 * ipTableEntrySize used while the loaded addon does not export it (builds from
 * before the per-IP table): sizeof(struct valk_ip_entry) in csrc/valk_admission.c,
 * a 16-byte address + a uint32 count + a uint32 home slot. Used only by
 * estimateFootprint() without explicit sizes; the addon's own value
 * (valk_ip_table_entry_size()) replaces it as soon as it is exported.
 */
export const IP_TABLE_ENTRY_SIZE_FALLBACK = 24;

/**
 * The admin listeners' own arenas (csrc/valk_system.h): VALK_ADMIN_ARENAS_PER_CONN
 * per admin connection slot, each min(arenaSize, VALK_ADMIN_ARENA_SIZE). The
 * addon exports both (adminArenasPerConn, adminArenaSize); these are used only
 * when explicit sizes leave them out.
 */
export const ADMIN_ARENAS_PER_CONN_FALLBACK = 2;
export const ADMIN_ARENA_SIZE_FALLBACK = 4 * 1024 * 1024;

/** csrc/valk_system.h's VALK_BODY_BLOCK_MIN and VALK_BODY_BLOCKS_MAX, when explicit sizes leave them out. */
export const BODY_BLOCK_MIN_FALLBACK = 16 * 1024;
export const BODY_BLOCKS_MAX_FALLBACK = 8 * 1024 * 1024;

/** Bytes of one backpressure-heap slot (valk_bp_heap_t.items: a pointer to the paused connection's node). */
const BACKPRESSURE_ENTRY_SIZE = 8;

/** Bytes per pool for a resolved configuration; `arenaCeiling` is reserved address space. */
export interface Footprint {
  /** connSlotSize × (maxConnections + adminMaxConnections: the admin listeners' own slab). */
  readonly connectionSlab: number;
  /** tcpBufferSlotSize × tcpBufferPoolSize. */
  readonly tcpBuffers: number;
  /**
   * arenaSize × arenaPoolSize, plus the admin listeners' arenas (adminArenasPerConn ×
   * adminMaxConnections × min(arenaSize, adminArenaSize)): reserved, committed only as
   * streams use it.
   */
  readonly arenaCeiling: number;
  /** smallArenaSize × smallArenaPoolSize: reserved, committed only as requests use it. */
  readonly smallArenas: number;
  /**
   * queueEntrySize × (queueCapacity + 10 × arenas) + 8 × arenas: the request ring; per arena of
   * every pool the response and chunk rings (one entry each), the cancel, unpin, body and take
   * rings (two each; docs/design.md §7), and the streaming bodies' table.
   */
  readonly queues: number;
  /**
   * maxConnections × (4 × connectionWindowSize + 2 × maxConcurrentStreams × bodyBlockMin) +
   * bodyBlocksMax: request bodies streaming to handlers (requestBodies 'stream'). Flow control
   * keeps what a connection holds within its window; a stream holds at most two blocks (its
   * fill and the chunk with JavaScript). A block sized by its stream's last chunk is taken only
   * while the connection's blocks stay within two windows; any other is at most twice what it
   * holds, or bodyBlockMin. The freed blocks kept for reuse are bounded by bodyBlocksMax.
   */
  readonly requestBodies: number;
  /**
   * (connProtocolStateEstimate + tlsBufferBound + maxSessionMemory) × (maxConnections +
   * adminMaxConnections): OpenSSL's state (estimate), the TLS buffers' bound and the HTTP/2
   * state's cap, enforced per connection (docs/RELIABILITY.md): it holds against hostile clients.
   */
  readonly protocolState: number;
  /**
   * maxGracefulRejections × (connSlotSize + the per-connection state of protocolState) when
   * rejectMode is 'goaway' (each graceful refusal holds a TLS + HTTP/2
   * session outside the slab until its GOAWAY is sent); 0 for 'rst'.
   */
  readonly gracefulRejections: number;
  /**
   * backpressureListMax × 8 (the heap of paused connections) +
   * nextPowerOfTwo(2 × maxConnections) × ipTableEntrySize when
   * maxConnectionsPerIp > 0 (the per-IP count table), else + 0.
   */
  readonly admissionTables: number;
  /**
   * The memory diagnostics stream: maxSseStreams event buffers and one
   * encode buffer of sseEventBytes each, plus the snapshot's scratch
   * (8 bytes per connection slot, 40 per arena, the pools' bitmaps).
   */
  readonly diagnostics: number;
  /** The sum: the memory ceiling of the system. */
  readonly total: number;
}

/** People's names of the footprint parts, in the order the CLI prints them. */
export const FOOTPRINT_LABELS: Readonly<Record<Exclude<keyof Footprint, 'total'>, string>> = Object.freeze({
  connectionSlab: 'connection slab',
  tcpBuffers: 'TCP buffers',
  arenaCeiling: 'arenas (reserved, committed on use)',
  smallArenas: 'small arenas (reserved, committed on use)',
  queues: 'queues (request, response, chunk, cancel, unpin, body, take)',
  requestBodies: 'streaming request bodies (within connectionWindowSize)',
  protocolState: 'TLS + HTTP/2 state (HTTP/2 capped at maxSessionMemory)',
  gracefulRejections: 'graceful rejection slots (goaway mode)',
  admissionTables: 'admission tables (backpressure heap, per-IP counts)',
  diagnostics: 'memory diagnostics stream (SSE event buffers)',
});

/** The smallest power of two ≥ n (1 for n ≤ 1). */
function nextPowerOfTwo(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

/** The addon's sizes, ipTableEntrySize falling back to IP_TABLE_ENTRY_SIZE_FALLBACK when absent. */
function nativeSizes(): FootprintSizes {
  const k = native().constants;
  return {
    connSlotSize: k.connSlotSize,
    tcpBufferSlotSize: k.tcpBufferSlotSize,
    queueEntrySize: k.queueEntrySize,
    connProtocolStateEstimate: k.connProtocolStateEstimate,
    tlsBufferBound: k.tlsBufferBound,
    adminArenasPerConn: k.adminArenasPerConn,
    adminArenaSize: k.adminArenaSize,
    bodyBlockMin: k.bodyBlockMin,
    bodyBlocksMax: k.bodyBlocksMax,
    // Older addons do not export it (undefined at run time despite the type).
    ipTableEntrySize: k.ipTableEntrySize ?? IP_TABLE_ENTRY_SIZE_FALLBACK,
    sseEventBytes: (c) => native().sseEventBytes(c.maxConnections, c.tcpBufferPoolSize, c.arenaPoolSize, c.adminMaxConnections,
      c.smallArenaPoolSize),
  };
}

/** The diagnostics stream's buffers and scratch (see Footprint.diagnostics). */
function diagnosticsBytes(c: ResolvedConfig, s: FootprintSizes): number {
  const event = s.sseEventBytes?.(c) ?? 0;
  const SSE_SLOT_OVERHEAD = 64; // the stream record in front of each event buffer, slab-aligned
  const bitmaps = Math.ceil(c.tcpBufferPoolSize / 8) + Math.ceil(c.arenaPoolSize / 8) + Math.ceil(c.smallArenaPoolSize / 8) + 8;
  return (c.maxSseStreams + 1) * (event + SSE_SLOT_OVERHEAD) + c.maxConnections * 8 + c.arenaPoolSize * 40 + bitmaps;
}

/**
 * The memory ceiling of a configuration, per pool; sizes default to the addon's
 * constants (ipTableEntrySize: IP_TABLE_ENTRY_SIZE_FALLBACK when the addon lacks it).
 */
export function estimateFootprint(c: ResolvedConfig, sizes?: FootprintSizes): Footprint {
  const s = sizes ?? nativeSizes();
  const ipTable = c.maxConnectionsPerIp > 0 ? nextPowerOfTwo(2 * c.maxConnections) * s.ipTableEntrySize : 0;
  const perConn = s.connProtocolStateEstimate + (s.tlsBufferBound ?? 0) + c.maxSessionMemory;
  const adminArenas = (s.adminArenasPerConn ?? ADMIN_ARENAS_PER_CONN_FALLBACK) * c.adminMaxConnections;
  const adminArenaSize = s.adminArenaSize ?? ADMIN_ARENA_SIZE_FALLBACK;
  const arenas = c.arenaPoolSize + adminArenas + c.smallArenaPoolSize;
  const parts = {
    connectionSlab: s.connSlotSize * (c.maxConnections + c.adminMaxConnections),
    tcpBuffers: s.tcpBufferSlotSize * c.tcpBufferPoolSize,
    arenaCeiling: c.arenaSize * c.arenaPoolSize + adminArenas * Math.min(c.arenaSize, adminArenaSize),
    smallArenas: c.smallArenaSize * c.smallArenaPoolSize,
    queues: s.queueEntrySize * (c.queueCapacity + 10 * arenas) + 8 * arenas,
    requestBodies: c.maxConnections * (4 * c.connectionWindowSize + 2 * c.maxConcurrentStreams * (s.bodyBlockMin ?? BODY_BLOCK_MIN_FALLBACK)) +
      (s.bodyBlocksMax ?? BODY_BLOCKS_MAX_FALLBACK),
    protocolState: perConn * (c.maxConnections + c.adminMaxConnections),
    gracefulRejections: c.rejectMode === 'goaway' ? c.maxGracefulRejections * (s.connSlotSize + perConn) : 0,
    admissionTables: c.backpressureListMax * BACKPRESSURE_ENTRY_SIZE + ipTable,
    diagnostics: diagnosticsBytes(c, s),
  };
  const total = Object.values(parts).reduce((a, b) => a + b, 0);
  return Object.freeze({ ...parts, total });
}
