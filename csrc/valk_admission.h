/*
 * valk_admission.h: the decisions that keep a server standing under overload
 * (docs/design.md §3-§5), as four independent parts with no I/O:
 *
 *   1. valk_watermark_t: TCP buffer usage as NORMAL / HIGH / CRITICAL with a
 *      5% hysteresis band, and the accept-time admission rule (§3, §4).
 *   2. valk_resume_threshold / valk_bp_priority: when a paused connection may
 *      resume, and which one first (§5).
 *   3. valk_bp_heap_t: the backpressure list as a bounded max-heap of
 *      intrusive nodes (§5): O(log n) push, pop and remove.
 *   4. valk_ip_table_t: connections per client address (maxConnectionsPerIp),
 *      a fixed open-addressing table with a per-table random hash seed.
 *
 * Thread: every function runs on the AIO thread that owns the object. Fields
 * declared VALK_ATOMIC are written by that thread only (relaxed) and may be
 * read from any thread (stats, diagnostics).
 *
 * Memory: the heap and the table allocate once, in their init, sized by their
 * argument; nothing is allocated or grows afterwards.
 */
#ifndef VALK_ADMISSION_H
#define VALK_ADMISSION_H

#include <stddef.h>
#include <stdint.h>

#include "valk_common.h"

#ifdef __cplusplus
extern "C" {
#endif

struct sockaddr;

/* ---- 1. Buffer watermarks with hysteresis (docs/design.md §4) ---- */

typedef enum { VALK_WM_NORMAL = 0, VALK_WM_HIGH = 1, VALK_WM_CRITICAL = 2 } valk_wm_state_t;

/* Width of the band below a threshold that usage must fall under to leave it. */
#define VALK_WM_HYSTERESIS 0.05

/*
 * Owner: the AIO thread writes every field; state and transitions are atomics
 * any thread may read. usage = used / total (= 1 - available / total);
 * total 0 or used >= total counts as usage 1.0.
 *
 * State machine, evaluated on every update (exit(x) = max(x - 0.05, 0)):
 *   NORMAL   -> CRITICAL if usage >= critical, else -> HIGH if usage >= high
 *   HIGH     -> CRITICAL if usage >= critical, else -> NORMAL if usage < exit(high)
 *   CRITICAL -> if usage < exit(critical): HIGH if usage >= exit(high), else NORMAL
 * An exit threshold clamped to 0 is also met by usage 0 when its threshold is
 * above 0, so a low threshold (e.g. critical 0.03) cannot latch forever; a
 * threshold of 0 means "always" (entered at usage 0, never left).
 */
typedef struct valk_watermark {
  uint32_t total;               /* buffers in the pool */
  double high, critical;        /* thresholds as fractions, clamped at 0 (NaN -> 0) */
  uint32_t min_free_high;       /* 2 * min_buffers_per_conn (saturating) */
  VALK_ATOMIC(int) state;       /* a valk_wm_state_t */
  VALK_ATOMIC(uint64_t) transitions; /* state changes so far */
} valk_watermark_t;

/* Starts in NORMAL with 0 transitions. Never fails. AIO thread (or before start). */
void valk_watermark_init(valk_watermark_t *wm, uint32_t total, double high, double critical,
                         uint32_t min_buffers_per_conn);

/* Moves the state machine with `used` buffers in use; counts a change as one
 * transition (NORMAL -> CRITICAL directly is one). Returns the new state. */
valk_wm_state_t valk_watermark_update(valk_watermark_t *wm, uint32_t used);

/*
 * Updates with used, then decides admission (docs/design.md §3, rule 3):
 * CRITICAL -> reject; HIGH and (total - used) < min_free_high -> reject; else
 * admit. Returns 1 admit, 0 reject. Counting rejections is the caller's job.
 */
int valk_watermark_admit(valk_watermark_t *wm, uint32_t used);

/* "normal", "high", "critical" ("unknown" for anything else). Never NULL. Any thread. */
const char *valk_wm_state_name(valk_wm_state_t s);

/* ---- 2. Resume threshold and priority (docs/design.md §5) ---- */

/*
 * Free buffers required before resuming a paused connection: usage < 0.5 -> 2;
 * usage < 0.75 -> min_buffers_per_conn; else 2 * min_buffers_per_conn
 * (saturating). The bands are compared exactly in integers. total 0 counts as
 * usage 1.0. Any thread (pure).
 */
uint32_t valk_resume_threshold(uint32_t used, uint32_t total, uint32_t min_buffers_per_conn);

/*
 * docs/design.md §5: +1000 if pending_responses > 0; + bytes_sent / 1024; +
 * min(age_ms / 1000, 100). The sum saturates at UINT32_MAX. Higher resumes
 * first. Any thread (pure).
 */
uint32_t valk_bp_priority(uint32_t pending_responses, uint64_t bytes_sent, uint64_t age_ms);

/* ---- 3. The backpressure list: bounded max-heap (docs/design.md §5) ---- */

#define VALK_BP_NONE UINT32_MAX /* heap_index of a node in no heap */

/*
 * Embedded in the connection (intrusive): the heap never owns or frees it.
 * Owner: the AIO thread. A node is in at most one heap at a time.
 */
typedef struct valk_bp_node {
  uint32_t priority;    /* set by valk_bp_push */
  uint32_t heap_index;  /* slot in items, VALK_BP_NONE when not in the heap */
  uint64_t seq;         /* insertion order from the heap's next_seq; ties: older first */
} valk_bp_node_t;

/*
 * Order: a node is above another when its priority is higher, or equal with a
 * smaller seq (older). seq is unique per push, so the order is total: the
 * top is the highest-priority oldest node, and the lowest-priority newest
 * node is always a leaf. Invariant: items[i]->heap_index == i for i < size.
 * Owner: the AIO thread; size is an atomic any thread may read. Evictions are
 * the caller's to count.
 */
typedef struct valk_bp_heap {
  valk_bp_node_t **items;        /* capacity slots, allocated once */
  uint32_t capacity;
  VALK_ATOMIC(uint32_t) size;
  uint64_t next_seq;
} valk_bp_heap_t;

/* 0, VALK_EINVAL (capacity 0 or UINT32_MAX) or VALK_ENOMEM. */
int valk_bp_init(valk_bp_heap_t *h, uint32_t capacity);

/* Frees the slots. Nodes still in the heap are not touched (their owners may be
 * gone already): reset them with valk_bp_node_init before reuse. Safe on zeroed. */
void valk_bp_destroy(valk_bp_heap_t *h);

/* Marks n as in no heap (heap_index = VALK_BP_NONE). Call once before first use. */
void valk_bp_node_init(valk_bp_node_t *n);

/* 1 if n is in a heap, else 0. */
int valk_bp_contains(const valk_bp_node_t *n);

/*
 * Adds n with priority and the next seq. O(log n). Returns 0; VALK_EINVAL if n
 * is already in a heap; VALK_EFULL when size == capacity (n not added: the
 * caller evicts valk_bp_lowest, counts it, then pushes again).
 */
int valk_bp_push(valk_bp_heap_t *h, valk_bp_node_t *n, uint32_t priority);

/* Highest priority, oldest among equals; NULL if empty. O(1). */
valk_bp_node_t *valk_bp_peek(const valk_bp_heap_t *h);

/* Removes and returns the peek node (heap_index reset); NULL if empty. O(log n). */
valk_bp_node_t *valk_bp_pop(valk_bp_heap_t *h);

/* Removes n from h; no-op if n is not in h. O(log n). */
void valk_bp_remove(valk_bp_heap_t *h, valk_bp_node_t *n);

/* The eviction victim: lowest priority, newest among equals (the tail of a
 * highest-first list, docs/design.md §5); NULL if empty. Scans the leaves:
 * O(n), meant only for overflow. Does not remove it. */
valk_bp_node_t *valk_bp_lowest(const valk_bp_heap_t *h);

/* Nodes in the heap. Any thread (relaxed). */
uint32_t valk_bp_size(const valk_bp_heap_t *h);

/* Checks the heap order and every back-index: 0, or VALK_ELIMIT if broken.
 * O(n): for tests and debug assertions. */
int valk_bp_check(const valk_bp_heap_t *h);

/* ---- 4. Connections per client address (maxConnectionsPerIp, docs/design.md §3) ---- */

struct valk_ip_entry; /* defined in valk_admission.c; valk_ip_table_entry_size() bytes */

/*
 * Open addressing with linear probing and backward-shift deletion (no
 * tombstones): a lookup stops at the first empty slot, always within the
 * cluster, and the load factor never exceeds 1/2 (mask + 1 is the next power
 * of two >= 2 * max_entries), so lookups stay short and always terminate.
 * Keys are 16-byte addresses; IPv4 is stored as IPv4-mapped IPv6
 * (::ffff:a.b.c.d), so a v4 peer and a v4-mapped v6 peer are one client. Port
 * and IPv6 scope id are ignored. Slots are chosen by SipHash-1-3 keyed from a
 * per-table random seed (getrandom, else /dev/urandom, else clocks), so peers
 * cannot aim many addresses at one cluster (hash flooding).
 * Owner: the AIO thread; nothing here is atomic.
 */
typedef struct valk_ip_table {
  struct valk_ip_entry *entries; /* mask + 1 slots, allocated once */
  uint32_t mask;
  uint32_t len;                  /* distinct addresses with count > 0 */
  uint32_t max_entries;
  uint64_t seed;                 /* set by init; change only while len == 0 */
} valk_ip_table_t;

/* 0, VALK_EINVAL (max_entries 0 or above 2^30) or VALK_ENOMEM. */
int valk_ip_table_init(valk_ip_table_t *t, uint32_t max_entries);

/* Frees the slots. Safe on a zeroed table and twice. */
void valk_ip_table_destroy(valk_ip_table_t *t);

/*
 * Counts one more connection from addr (struct sockaddr_in or sockaddr_in6).
 * Returns 0 counted; VALK_ELIMIT when addr already has `limit` connections
 * (not counted; limit 0 refuses everyone, so skip the table when the limit is
 * off); VALK_EFULL when max_entries distinct addresses exist and addr is not
 * one of them (not counted); VALK_EINVAL for another family.
 */
int valk_ip_table_acquire(valk_ip_table_t *t, const struct sockaddr *addr, uint32_t limit);

/* Counts one connection from addr less; the entry is removed at 0. No-op for
 * an address not in the table or another family. */
void valk_ip_table_release(valk_ip_table_t *t, const struct sockaddr *addr);

/* Connections counted for addr now (0 if absent or another family). */
uint32_t valk_ip_table_count(const valk_ip_table_t *t, const struct sockaddr *addr);

/* sizeof one entry, for the memory footprint: (mask + 1) * this bytes. */
size_t valk_ip_table_entry_size(void);

/* Checks that every entry is reachable from its home slot without crossing an
 * empty slot and that len matches: 0, or VALK_ELIMIT. O(slots): for tests. */
int valk_ip_table_check(const valk_ip_table_t *t);

#ifdef __cplusplus
}
#endif
#endif /* VALK_ADMISSION_H */
