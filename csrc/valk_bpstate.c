/*
 * valk_bpstate.c: the backpressure state machine's one transition rule and
 * the single-writer tracker; see valk_bpstate.h and docs/design.md §13.
 *
 * Thread: valk_bp_next, valk_bp_levels_of and valk_bp_state_name are pure;
 * valk_bpstate_update only from the tracker's owner thread; the readers from any.
 */
#include "valk_bpstate.h"

#include <assert.h>
#include <stdatomic.h>
#include <string.h>

const char *valk_bp_state_name(valk_bp_state_t s) {
  switch (s) {
#define XX(name, lower) \
  case VALK_BP_##name:  \
    return #lower;
    VALK_BP_STATE_MAP(XX)
#undef XX
  default: return "unknown";
  }
}

/* RECOVERY: back to DROPPING, or NORMAL once the fill stayed low for the stability period. */
static valk_bp_state_t valk__recovery(const valk_bp_levels_t *l, uint64_t fill, uint64_t now_ns, uint64_t *low_since) {
  if (fill >= l->dropping_at) return VALK_BP_DROPPING;
  if (fill >= l->recovery_below) { /* the stability period starts again once it is low */
    *low_since = 0;
    return VALK_BP_RECOVERY;
  }
  if (*low_since == 0) {
    *low_since = now_ns + 1;
    return VALK_BP_RECOVERY;
  }
  return now_ns + 1 - *low_since >= l->stability_ns ? VALK_BP_NORMAL : VALK_BP_RECOVERY;
}

valk_bp_state_t valk_bp_next(const valk_bp_levels_t *l, valk_bp_state_t st, uint64_t fill, uint64_t now_ns,
                             uint64_t *low_since) {
  int low = fill < l->recovery_below;
  assert(l->recovery_below >= 1 && l->recovery_below <= l->pressure_at && l->pressure_at <= l->dropping_at);
  switch (st) {
  case VALK_BP_NORMAL:
    return fill >= l->dropping_at ? VALK_BP_DROPPING : fill >= l->pressure_at ? VALK_BP_PRESSURE : st;
  case VALK_BP_PRESSURE:
    return fill >= l->dropping_at ? VALK_BP_DROPPING : low ? VALK_BP_NORMAL : st;
  case VALK_BP_DROPPING:
    if (!low) return st;
    *low_since = now_ns + 1; /* the stability period starts now */
    return VALK_BP_RECOVERY;
  case VALK_BP_RECOVERY: return valk__recovery(l, fill, now_ns, low_since);
  default: assert(0); return st;
  }
}

/* pct of capacity, rounded up, at least 1. */
static uint64_t valk__at(uint64_t capacity, uint32_t pct) {
  uint64_t n = (capacity * pct + 99) / 100;
  return n < 1 ? 1 : n;
}

valk_bp_levels_t valk_bp_levels_of(uint64_t capacity, uint32_t pressure_pct, uint32_t dropping_pct,
                                   uint32_t recovery_pct, uint64_t stability_ns) {
  valk_bp_levels_t l;
  assert(recovery_pct <= pressure_pct && pressure_pct <= dropping_pct && dropping_pct <= 100);
  l.pressure_at = valk__at(capacity, pressure_pct);
  l.dropping_at = valk__at(capacity, dropping_pct);
  l.recovery_below = capacity * recovery_pct / 100;
  if (l.recovery_below < 1) l.recovery_below = 1; /* an empty queue is always low */
  l.stability_ns = stability_ns;
  return l;
}

void valk_bpstate_init(valk_bpstate_t *t, const valk_bp_levels_t *l) {
  int k;
  assert(l->recovery_below >= 1 && l->recovery_below <= l->pressure_at && l->pressure_at <= l->dropping_at);
  memset(t, 0, sizeof(*t));
  t->levels = *l;
  atomic_init(&t->state, VALK_BP_NORMAL);
  for (k = 0; k < VALK_BP_STATES; k++) atomic_init(&t->transitions[k], 0);
}

valk_bp_state_t valk_bpstate_update(valk_bpstate_t *t, uint64_t fill, uint64_t now_ns) {
  valk_bp_state_t st = (valk_bp_state_t)atomic_load_explicit(&t->state, memory_order_relaxed);
  valk_bp_state_t to = valk_bp_next(&t->levels, st, fill, now_ns, &t->low_since);
  if (to == st) return st;
  atomic_store_explicit(&t->state, (int)to, memory_order_relaxed);
  /* Only the owner writes it: a load and a store, no locked add. */
  atomic_store_explicit(&t->transitions[to], atomic_load_explicit(&t->transitions[to], memory_order_relaxed) + 1,
                        memory_order_relaxed);
  return to;
}

valk_bp_state_t valk_bpstate_state(const valk_bpstate_t *t) {
  return (valk_bp_state_t)atomic_load_explicit(&t->state, memory_order_relaxed);
}

void valk_bpstate_transitions(const valk_bpstate_t *t, uint64_t *out) {
  int k;
  for (k = 0; k < VALK_BP_STATES; k++) out[k] = atomic_load_explicit(&t->transitions[k], memory_order_relaxed);
}
