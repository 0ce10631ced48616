/*
 * valk_bpstate.h: the backpressure state machine of docs/design.md §13, once:
 * the transition rule as a pure function (valk_bp_next), which the event ring
 * (valk_evring.c) and every bounded queue leaving an AIO thread share, and a
 * tracker for a queue whose fill one thread alone evaluates.
 *
 * The four states follow a fill against three levels:
 *   NORMAL   -> PRESSURE  fill >= pressure_at
 *   PRESSURE -> NORMAL    fill <  recovery_below
 *   NORMAL, PRESSURE -> DROPPING  fill >= dropping_at
 *   DROPPING -> RECOVERY  fill <  recovery_below
 *   RECOVERY -> DROPPING  fill >= dropping_at
 *   RECOVERY -> NORMAL    fill stayed < recovery_below for stability_ns
 * What DROPPING means is the queue's own (docs/design.md §13).
 *
 * A leaf module: it includes nothing of the project above valk_common.h.
 * Thread: valk_bp_next and valk_bp_levels_of are pure; a valk_bpstate_t is
 * written by its one evaluating thread, read by any (relaxed loads).
 */
#ifndef VALK_BPSTATE_H
#define VALK_BPSTATE_H

#include <stdint.h>

#include "valk_common.h" /* VALK_ATOMIC: the binding (C++) reads the tracker too */

#ifdef __cplusplus
extern "C" {
#endif

/* The four states (docs/design.md §13). XX(name, lower-case name). */
#define VALK_BP_STATE_MAP(XX) \
  XX(NORMAL, normal)          \
  XX(PRESSURE, pressure)      \
  XX(DROPPING, dropping)      \
  XX(RECOVERY, recovery)

typedef enum {
#define XX(name, lower) VALK_BP_##name,
  VALK_BP_STATE_MAP(XX)
#undef XX
  VALK_BP_STATES
} valk_bp_state_t;

/* The levels, in the queue's unit (records, requests, ...). Immutable once set.
 * Invariant: 1 <= recovery_below <= pressure_at <= dropping_at. */
typedef struct valk_bp_levels {
  uint64_t pressure_at;    /* fill from which NORMAL is PRESSURE */
  uint64_t dropping_at;    /* fill from which the state is DROPPING */
  uint64_t recovery_below; /* fill below which it is low (DROPPING -> RECOVERY, PRESSURE -> NORMAL) */
  uint64_t stability_ns;   /* RECOVERY -> NORMAL after this long low */
} valk_bp_levels_t;

/*
 * Where the state goes from st at fill, at now_ns. *low_since is the
 * caller's memory of the stability period: 0 while the fill is not low in
 * RECOVERY, else 1 + when it became low. It is set on entering RECOVERY,
 * cleared when the fill rises in RECOVERY, left alone in the other states.
 */
valk_bp_state_t valk_bp_next(const valk_bp_levels_t *l, valk_bp_state_t st, uint64_t fill, uint64_t now_ns,
                             uint64_t *low_since);

/* The levels of a queue of capacity entries from percentages of it: pressure
 * and dropping rounded up, recovery down, each at least 1 (an empty queue is
 * always low). Needs recovery_pct <= pressure_pct <= dropping_pct <= 100. */
valk_bp_levels_t valk_bp_levels_of(uint64_t capacity, uint32_t pressure_pct, uint32_t dropping_pct,
                                   uint32_t recovery_pct, uint64_t stability_ns);

/* "normal", "pressure", "dropping", "recovery". */
const char *valk_bp_state_name(valk_bp_state_t s);

/* A queue's state, evaluated by one thread (its owner, e.g. the AIO thread).
 * Owner: that thread writes everything; any thread reads state and
 * transitions (relaxed: a snapshot). */
typedef struct valk_bpstate {
  valk_bp_levels_t levels;                    /* immutable after valk_bpstate_init */
  uint64_t low_since;                         /* the owner's: valk_bp_next's stability memory */
  VALK_ATOMIC(int) state;                     /* valk_bp_state_t */
  VALK_ATOMIC(uint64_t) transitions[VALK_BP_STATES]; /* entries into each state */
} valk_bpstate_t;

/* NORMAL, no transition counted. Before any other thread sees t. */
void valk_bpstate_init(valk_bpstate_t *t, const valk_bp_levels_t *l);

/* Owner thread: evaluates the state at fill and now_ns; returns it. */
valk_bp_state_t valk_bpstate_update(valk_bpstate_t *t, uint64_t fill, uint64_t now_ns);

/* Any thread: the state now, and the entries into each state (out[VALK_BP_STATES]). */
valk_bp_state_t valk_bpstate_state(const valk_bpstate_t *t);
void valk_bpstate_transitions(const valk_bpstate_t *t, uint64_t *out);

#ifdef __cplusplus
}
#endif
#endif /* VALK_BPSTATE_H */
