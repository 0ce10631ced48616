/*
 * valk_snapshot.h: the memory snapshot of one AIO system, encoded as one
 * Server-Sent Event of the live diagnostics stream (docs/design.md §8).
 *
 * The AIO thread fills a valk_snapshot_t from its live pools (pointers to
 * bitmaps and slot arrays it owns), and every 100 ms calls
 * valk_snapshot_event() to write the whole event (SSE header, JSON, blank
 * line) straight into a buffer it sized once at start with
 * valk_snapshot_max_bytes(). Nothing here allocates; there is no second copy.
 *
 * Thread: any; pure: every function reads only its arguments and writes only
 * its output buffer. The caller keeps the pointed-to data still during a call
 * (the AIO thread calls between callbacks, as for valk_slab_bitmap).
 *
 * Returns: byte counts (>= 0, not counting the NUL written after them) or a
 * negative VALK_E* code: VALK_EINVAL for a malformed argument, VALK_ELIMIT
 * when the output does not fit. Output never goes past cap; on any error
 * buf[0] is set to '\0' (when cap > 0), so a failed call never leaves a
 * partial event that looks complete.
 *
 * Wire format (one line of JSON, no newline inside, keys always in this order;
 * readers look slabs up by "name", their order is not part of the contract):
 *
 *   event: memory
 *   id: <id>
 *   retry: <retry_ms>            (only when retry_ms != 0)
 *   data: {"seq":S,"ts":MS,
 *          "slabs":[CONN, POOL, ...],
 *          "owner_map":[":8443","127.0.0.1:9000"],
 *          "arenas":{"high_water":H,"count":n,"used":U,"capacity":C,"overflow":O,
 *                    "in_use":[{"i":k,"used":u,"capacity":c,"hwm":h,"overflow":o},..]},
 *          "runtime":{"updated_ms":t,"heap_used":..,"heap_total":..,"rss":..,
 *                     "external":..,"gc_count":..,"gc_pause_ms":1.250,
 *                     "loop_delay_ms":..,"loop_utilization":0.031},
 *          "skipped":K}
 *   <blank line>
 *
 *   CONN (the connection slab, first in "slabs"; omitted when conns.name is NULL):
 *     {"name":"connections","total":T,"used":U,"overflow":O,"detail":true,
 *      "states":"AAIF..","owners":[0,0,-1,..],"ages":[12,4003,..],
 *      "summary":{"A":a,"I":i,"C":c,"N":n,"by_owner":{"0":n0,"other":k}}}
 *   POOL (a plain slab):
 *     {"name":"tcp_buffers","total":T,"used":U,"overflow":O,"bitmap":"05ff.."}
 *
 * Bitmaps are hex of the bytes in order, lowercase, bit i of byte i/8 = slot i
 * (least significant bit first); padding bits past total are sent as 0
 * whatever the input holds. "used" of a pool is counted from its bitmap,
 * "used" of the connection slab from its slots, so each always agrees with
 * what is drawn.
 *
 * Connection states. Input slots carry 'F' free, 'N' connecting (TLS in
 * progress), 'A' active, 'I' idle, 'C' closing (docs/design.md §2). "states"
 * keeps the alphabet A/I/C/F: a connecting slot is written 'A' (any unknown
 * letter is 'A' too).
 * summary.A counts those 'A' cells (connecting included), and summary.N says
 * how many of them are still connecting: N <= A and A + I + C == used.
 * "owners" and "ages" list the non-free slots only, in slot order:
 * owners[k] and ages[k] belong to the k-th non-'F' letter of "states".
 * "ages" are ms since the slot's last state change.
 *
 * Owners. "owner_map" lists at most VALK_SNAP_MAX_OWNERS (16, the owner
 * registry's size) names; owner index j of a slot names owner_map[j]. Any
 * other index (VALK_SNAP_OWNER_OTHER, or >= the map's length, e.g. a 17th
 * owner) is "other": written -1 in "owners" and counted under the key "other"
 * in "by_owner". It is not an error. "by_owner" lists only owners with at
 * least one slot, by index, then "other". Names are JSON-escaped and cut to
 * VALK_SNAP_NAME_MAX bytes (at a UTF-8 character boundary).
 *
 * Large slabs (aggregation). A slab with total > VALK_SNAP_DETAIL_MAX (4096)
 * slots is sent in a coarser form. The rule depends on total only, so the
 * shape of a stream's events never flips from one event to the next:
 *   - the connection slab says "detail":false and drops "owners" and "ages";
 *     "states" (1 byte a slot, bounded by maxConnections) and "summary" stay;
 *   - a plain slab sends, instead of "bitmap",
 *       "agg":{"cells":K,"per":P,"used":[u0,u1,..]}
 *     with P = ceil(total / 1024) slots a cell, K = ceil(total / P) <= 1024
 *     cells, u_k = used slots among [k*P, min((k+1)*P, total)) (the last cell
 *     may be smaller). 145,000 TCP buffers: P = 142, K = 1022, about 4 KB;
 *   - the arena list is cut to the 64 fullest (see Arenas below).
 *
 * Arenas. "count" is the number of arenas in use (narenas); "used",
 * "capacity" and "overflow" are their sums (saturating at UINT64_MAX);
 * "in_use" lists each of them, in the caller's order, or, when more than
 * VALK_SNAP_ARENA_DETAIL_MAX (64) are in use, only the 64 holding the most
 * bytes (ties: the earlier), still in the caller's order. "i" is the arena's
 * slot in the stream_arenas pool.
 *
 * Numbers are decimal integers, except the runtime's *_ms / utilization
 * doubles, written with exactly 3 decimals, never in exponent form, clamped
 * to [0, 1e15] (NaN is 0). No locale is consulted.
 *
 * Memory bound: valk_snapshot_max_bytes() gives the most bytes (NUL included)
 * any snapshot within its sizes can take, so one buffer sized at start always
 * holds the event. Per slot: <= 15 bytes for a detailed connection slab, 1 for
 * a large one, 1/4 (hex) for a detailed pool; <= 8 KB per large pool
 * (4 KB for 145,000 slots); plus <= 110 bytes per listed arena (64 at most),
 * 380 per owner name (16 at most), 460 per slab head. At the default config
 * (100 connections; pools 1450, 200, 16, 16; 16 owners) the bound is 19,988
 * bytes; a real default-config event is 2-3 KB. At 10,000 connections and
 * 145,000 TCP buffers the bound is 35,266 bytes, a real event about 21 KB.
 */
#ifndef VALK_SNAPSHOT_H
#define VALK_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>

#include "valk_common.h"

#ifdef __cplusplus
extern "C" {
#endif

#define VALK_SNAP_EVENT "memory"      /* the SSE event name */
#define VALK_SNAP_MAX_POOLS 8         /* plain slabs in one snapshot */
#define VALK_SNAP_MAX_OWNERS 16       /* names in owner_map (docs/design.md §2) */
#define VALK_SNAP_OWNER_OTHER 255     /* a slot's owner when it has none in the map */
#define VALK_SNAP_NAME_MAX 63         /* bytes of a name (pool or owner) sent */
#define VALK_SNAP_DETAIL_MAX 4096     /* slabs above this many slots are aggregated */
#define VALK_SNAP_AGG_CELLS 1024      /* most cells of an aggregated bitmap */
#define VALK_SNAP_ARENA_DETAIL_MAX 64 /* most arenas listed in "in_use" */

/* Input letters of valk_snap_slot_t.state. */
#define VALK_SNAP_FREE 'F'
#define VALK_SNAP_CONNECTING 'N'
#define VALK_SNAP_ACTIVE 'A'
#define VALK_SNAP_IDLE 'I'
#define VALK_SNAP_CLOSING 'C'

/* Letters of valk_snap_slot_t.wire, as sent in "protos" (0 is sent as '-'). */
#define VALK_SNAP_WIRE_H2 '2'    /* HTTP/2 (ALPN h2, the preface on a cleartext port, a client) */
#define VALK_SNAP_WIRE_HTTP1 '1' /* HTTP/1.x */
#define VALK_SNAP_WIRE_NONE '-'  /* not known yet (TLS handshake, or no byte yet) */

/*
 * Numbers Node pushes about its own runtime (docs/design.md §1, §8: the
 * process hosting the addon). XX(name, type, help); type u64 is an integer,
 * f3 a double written with 3 decimals. The JSON key is the name.
 */
#define VALK_SNAP_RUNTIME_MAP(XX)                                              \
  XX(heap_used, u64, "V8 heap bytes in use")                                   \
  XX(heap_total, u64, "V8 heap bytes reserved")                                \
  XX(rss, u64, "resident set size of the process, bytes")                      \
  XX(external, u64, "bytes of C++ objects bound to JS objects (Buffers...)")   \
  XX(gc_count, u64, "garbage collections since start")                         \
  XX(gc_pause_ms, f3, "ms spent in GC pauses since start")                     \
  XX(loop_delay_ms, f3, "event-loop delay, p99 of the last interval, ms")      \
  XX(loop_utilization, f3, "event-loop utilization of the last interval, 0..1")

#define VALK_SNAP_TYPE_u64 uint64_t
#define VALK_SNAP_TYPE_f3 double

/* A plain slab: used/free bitmap. */
typedef struct valk_snap_pool {
  const char *name;        /* "tcp_buffers", "stream_arenas", "http_servers", "http_clients" */
  uint32_t total;          /* slots */
  uint32_t used;           /* sent only when bitmap is NULL; else counted from bitmap */
  uint64_t overflow;       /* acquires that found the slab empty */
  const uint8_t *bitmap;   /* (total + 7) / 8 bytes, LSB first (valk_slab_bitmap), or
                              NULL: counts only, no "bitmap"/"agg" key */
} valk_snap_pool_t;

/* One slot of the connection slab. */
typedef struct valk_snap_slot {
  char state;              /* VALK_SNAP_FREE .. VALK_SNAP_CLOSING */
  uint8_t owner;           /* index into owners, or VALK_SNAP_OWNER_OTHER */
  uint32_t age_ms;         /* since its last state change (ignored when free) */
  char wire;               /* VALK_SNAP_WIRE_*, or 0: not known yet */
} valk_snap_slot_t;

/* The connection slab, with per-slot states. */
typedef struct valk_snap_conns {
  const char *name;               /* "connections"; NULL = no connection slab sent */
  uint32_t total;                 /* slots (maxConnections) */
  uint64_t overflow;
  const valk_snap_slot_t *slots;  /* total entries (may be NULL only when total is 0) */
} valk_snap_conns_t;

/* One arena in use. */
typedef struct valk_snap_arena {
  uint32_t index;          /* its slot in the stream_arenas pool */
  uint64_t used;           /* bytes handed out now */
  uint64_t capacity;       /* bytes it may hand out */
  uint64_t high_water;     /* most bytes used at once in this lease */
  uint64_t overflow;       /* allocations it refused */
} valk_snap_arena_t;

typedef struct valk_snap_runtime {
  uint64_t updated_ms;     /* when Node last pushed these (0 = never) */
#define XX(name, type, help) VALK_SNAP_TYPE_##type name;
  VALK_SNAP_RUNTIME_MAP(XX)
#undef XX
} valk_snap_runtime_t;

/*
 * Everything one event shows. The snapshot owns none of the memory it points
 * to: the caller keeps bitmaps, slots, names and arenas alive and unchanged
 * for the duration of the encode.
 */
typedef struct valk_snapshot {
  uint64_t seq;                     /* snapshots taken so far */
  uint64_t timestamp_ms;            /* "ts": Unix epoch ms (what a browser shows) */
  valk_snap_pool_t pools[VALK_SNAP_MAX_POOLS];
  uint32_t npools;                  /* <= VALK_SNAP_MAX_POOLS */
  valk_snap_conns_t conns;
  const char *const *owners;        /* nowners names; beyond 16 they are "other" */
  uint32_t nowners;
  const valk_snap_arena_t *arenas;  /* arenas in use only */
  uint32_t narenas;
  uint64_t arena_high_water;        /* most bytes any one arena has held (the pool's hwm) */
  valk_snap_runtime_t runtime;      /* pushed from Node */
  uint64_t skipped;                 /* events this client missed (flow control) */
} valk_snapshot_t;

/*
 * The buffer size (bytes, NUL included) that holds the event of any snapshot
 * with: a connection slab of at most conn_total slots; npools plain pools with
 * pool_totals[i] slots each (in the snapshot's order, or any order: the bound
 * is per pool); at most max_arenas arenas in use (arena_pool_size; any number
 * when max_arenas >= VALK_SNAP_ARENA_DETAIL_MAX); at most max_owners names
 * (pass VALK_SNAP_MAX_OWNERS unless fewer can ever register; more count as
 * 16); any id, any retry_ms, any values and names. A snapshot beyond these
 * sizes may still fit, or fail with VALK_ELIMIT, never overflow.
 * Returns 0 when npools > VALK_SNAP_MAX_POOLS or pool_totals is NULL with
 * npools > 0. O(npools).
 */
size_t valk_snapshot_max_bytes(uint32_t conn_total, const uint32_t *pool_totals,
                               uint32_t npools, uint32_t max_arenas,
                               uint32_t max_owners);

/*
 * Writes the whole SSE event of s (event: memory, id, retry when retry_ms is
 * not 0, one data line, blank line) into buf, then a NUL. Returns its length
 * (NUL not counted), VALK_ELIMIT when cap < length + 1, VALK_EINVAL when s is
 * malformed (npools too big, a NULL name, slots/owners/arenas NULL
 * where entries are promised). O(conns.total + sum of pool bytes + narenas).
 */
int valk_snapshot_event(const valk_snapshot_t *s, uint64_t id, uint32_t retry_ms,
                        char *buf, size_t cap);

/* The JSON alone (the event's data line), same contract. */
int valk_snapshot_json(const valk_snapshot_t *s, char *buf, size_t cap);

/*
 * Frames data as one SSE event: "event: E\n" (omitted when event is NULL),
 * "id: N\n", "retry: R\n" (omitted when retry_ms is 0), "data: <data>\n\n",
 * then a NUL. data must be one line: VALK_EINVAL if it (or event) holds a CR
 * or LF, or if data is NULL with data_len > 0. Returns the length (NUL not
 * counted) or VALK_ELIMIT when cap < length + 1.
 */
int valk_sse_format(char *buf, size_t cap, const char *event, uint64_t id,
                    uint32_t retry_ms, const char *data, size_t data_len);

/*
 * Writes 2 * nbytes lowercase hex digits of bits (byte order, high nibble
 * first: {0xde, 0xad} -> "dead") and a NUL. Returns 2 * nbytes, VALK_ELIMIT
 * when out_cap < 2 * nbytes + 1, VALK_EINVAL for a NULL pointer.
 */
int valk_bitmap_to_hex(const uint8_t *bits, size_t nbytes, char *out, size_t out_cap);

#ifdef __cplusplus
}
#endif
#endif /* VALK_SNAPSHOT_H */
