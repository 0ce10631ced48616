/*
 * valk_evring.h: a ring of lifecycle events leaving one AIO thread, with the
 * backpressure state machine of docs/design.md §13.
 *
 * Records are fixed-size (valk_event_t, 32 bytes) and copied in and out: no
 * allocation after valk_evring_init. One producer (the AIO thread that owns
 * the ring) records; one consumer (Node's thread) drains in batches. A
 * consumer that stops reading costs dropped events, never memory, and never a
 * wait on the producer's side: recording is a few loads and stores, and a drop
 * is one compare-and-swap.
 *
 * The state (NORMAL, PRESSURE, DROPPING, RECOVERY) follows the ring's fill
 * by valk_bp_next's rule (valk_bpstate.h), the levels in records:
 *   NORMAL   -> PRESSURE  fill >= pressure_pct
 *   PRESSURE -> NORMAL    fill <  recovery_pct
 *   any      -> DROPPING  fill >= dropping_pct, or the ring is full
 *   DROPPING -> RECOVERY  fill <  recovery_pct
 *   RECOVERY -> DROPPING  fill >= dropping_pct
 *   RECOVERY -> NORMAL    fill stayed < recovery_pct for stability_ns
 * While DROPPING, the policy decides: DROP_NEWEST refuses the new event,
 * DROP_OLDEST takes the oldest out to make room (the fill stays where it is).
 * Transitions are compare-and-swaps (acq_rel), so the producer (on record)
 * and the consumer (valk_evring_check after a drain) may both evaluate them:
 * a ring whose producer went quiet still recovers.
 *
 * Thread: valk_evring_record only from the producer thread; valk_evring_drain
 * only from the consumer thread; valk_evring_check and valk_evring_stats from
 * either. init / destroy when neither runs.
 */
#ifndef VALK_EVRING_H
#define VALK_EVRING_H

#include <stdint.h>

#include "valk_bpstate.h" /* the states and their transition rule (valk_bp_next) */
#include "valk_common.h"   /* VALK_ATOMIC: the binding (C++) reads the counters too */

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { VALK_DROP_OLDEST = 0, VALK_DROP_NEWEST = 1 } valk_drop_policy_t;

/* One event: 32 bytes, written and read as four 64-bit words. */
typedef struct valk_event {
  uint64_t ts_ns;   /* when (uv_hrtime) */
  uint64_t uid;     /* the connection's uid (valk_conn_t.uid), or 0 */
  uint16_t kind;    /* what happened (the caller's list) */
  uint16_t reason;  /* why, for the kind */
  uint32_t a;       /* the kind's small argument (a stream id, a state) */
  uint64_t b;       /* the kind's large argument (bytes, a duration) */
} valk_event_t;

typedef struct valk_evring_config {
  uint32_t capacity;     /* records, a power of two >= 2 */
  uint32_t pressure_pct; /* 1..99 */
  uint32_t dropping_pct; /* pressure_pct..100 */
  uint32_t recovery_pct; /* 0..pressure_pct */
  uint64_t stability_ns; /* RECOVERY -> NORMAL after this long below recovery_pct */
  valk_drop_policy_t policy;
} valk_evring_config_t;

/* What any thread may read (relaxed loads: a snapshot). */
typedef struct valk_evring_stats {
  valk_bp_state_t state;
  uint32_t fill;            /* records waiting */
  uint32_t capacity;
  uint64_t recorded;        /* events that went into the ring */
  uint64_t drained;         /* events the consumer took */
  uint64_t events_dropped;  /* events lost: refused (newest) or taken out (oldest) */
  uint64_t bytes_dropped;   /* their bytes */
  uint64_t transitions[VALK_BP_STATES]; /* entries into each state */
} valk_evring_stats_t;

#ifdef __cplusplus
#define VALK__ALIGN64 alignas(64)
#else
#define VALK__ALIGN64 _Alignas(64)
#endif

/* Owner: the producer thread (records) and the consumer thread (drains), as above. */
typedef struct valk_evring {
  VALK_ATOMIC(uint64_t) (*slots)[4];  /* capacity records of four words */
  uint32_t mask;                 /* capacity - 1 */
  valk_bp_levels_t levels;       /* pressure_at, dropping_at, recovery_below (records), stability_ns */
  valk_drop_policy_t policy;
  VALK__ALIGN64 VALK_ATOMIC(uint64_t) tail;  /* next record to write: the producer's */
  VALK__ALIGN64 VALK_ATOMIC(uint64_t) head;  /* next record to read: the consumer's, and the producer's drop-oldest CAS */
  VALK__ALIGN64 VALK_ATOMIC(int) state;      /* valk_bp_state_t */
  VALK_ATOMIC(uint32_t) on;                 /* what is recorded, a bit a class of record (valk_events.h: a bit a kind); 0 off (valk_evring_set_on) */
  VALK_ATOMIC(uint64_t) low_since_ns;       /* RECOVERY: 1 + when the fill became low (0: it is not low) */
  VALK_ATOMIC(uint64_t) recorded, drained, dropped;
  VALK_ATOMIC(uint64_t) transitions[VALK_BP_STATES];
} valk_evring_t;

/* 0, VALK_EINVAL (a config valk_evring_config_check refuses) or VALK_ENOMEM. */
int valk_evring_init(valk_evring_t *r, const valk_evring_config_t *cfg);
void valk_evring_destroy(valk_evring_t *r);

/* NULL when cfg is valid, else the first rule it breaks (a static string). */
const char *valk_evring_config_check(const valk_evring_config_t *cfg);

/* Producer: records ev. 1 recorded, 0 dropped (DROP_NEWEST while dropping). */
int valk_evring_record(valk_evring_t *r, const valk_event_t *ev);

/* Consumer: moves up to max events, oldest first, into out. Returns how many. */
uint32_t valk_evring_drain(valk_evring_t *r, valk_event_t *out, uint32_t max);

/* Either thread: re-evaluates the state at now_ns (the recovery check). Returns the state. */
valk_bp_state_t valk_evring_check(valk_evring_t *r, uint64_t now_ns);

void valk_evring_stats(const valk_evring_t *r, valk_evring_stats_t *out);

/* Consumer: what is recorded, a bit a class of record (the ring does not read
 * them: valk_event_emit records kind k while bit k is set); 0 off. */
void valk_evring_set_on(valk_evring_t *r, uint32_t on);

/* The smallest power of two >= n (at least 2, at most 2^31). */
uint32_t valk_evring_round_capacity(uint32_t n);

#ifdef __cplusplus
}
#endif
#endif /* VALK_EVRING_H */
