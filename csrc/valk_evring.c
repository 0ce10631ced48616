/*
 * valk_evring.c: the lifecycle event ring and its backpressure state machine;
 * see valk_evring.h and docs/design.md §13.
 *
 * Owner: one producer thread (the AIO thread: record) and one consumer thread
 * (Node's: drain); check and stats from either.
 *
 * Indices are 64-bit counts that only grow: fill = tail - head. The producer
 * alone moves tail (release, after the record's words); head moves by CAS,
 * from the consumer (past what it read) and, with DROP_OLDEST, from the
 * producer (past the oldest record, before it reuses that slot). A consumer
 * whose CAS fails read records that may have been overwritten: it drops its
 * copy and reads again. A successful CAS from h proves no drop moved head
 * since h, so none of the records it read was overwritten.
 */
#include "valk_evring.h"

#include <assert.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "valk_common.h"

_Static_assert(sizeof(valk_event_t) == 32, "an event is four 64-bit words");

#define VALK__RELAXED memory_order_relaxed
#define VALK__ACQUIRE memory_order_acquire
#define VALK__RELEASE memory_order_release
#define VALK__ACQ_REL memory_order_acq_rel

const char *valk_evring_config_check(const valk_evring_config_t *cfg) {
  if (cfg->capacity < 2 || (cfg->capacity & (cfg->capacity - 1)) != 0) return "capacity must be a power of two, at least 2";
  if (cfg->pressure_pct < 1 || cfg->pressure_pct > 99) return "pressure_pct must be 1..99";
  if (cfg->dropping_pct < cfg->pressure_pct || cfg->dropping_pct > 100) return "dropping_pct must be pressure_pct..100";
  if (cfg->recovery_pct > cfg->pressure_pct) return "recovery_pct must be 0..pressure_pct";
  if (cfg->policy != VALK_DROP_OLDEST && cfg->policy != VALK_DROP_NEWEST) return "policy must be oldest or newest";
  return NULL;
}

int valk_evring_init(valk_evring_t *r, const valk_evring_config_t *cfg) {
  memset(r, 0, sizeof(*r));
  if (valk_evring_config_check(cfg) != NULL) return VALK_EINVAL;
  r->slots = calloc(cfg->capacity, sizeof(*r->slots));
  if (r->slots == NULL) return VALK_ENOMEM;
  r->mask = cfg->capacity - 1;
  r->levels = valk_bp_levels_of(cfg->capacity, cfg->pressure_pct, cfg->dropping_pct, cfg->recovery_pct,
                               cfg->stability_ns);
  r->policy = cfg->policy;
  atomic_init(&r->state, VALK_BP_NORMAL);
  return 0;
}

void valk_evring_destroy(valk_evring_t *r) {
  free(r->slots);
  r->slots = NULL;
}

/* Moves the state from st to where fill says (valk_bp_next), by CAS; returns
 * the state now. The stability memory is an atomic both threads may update:
 * valk_bp_next works on a copy, stored back (before the CAS) when it changed. */
static valk_bp_state_t valk__evaluate(valk_evring_t *r, valk_bp_state_t st, uint64_t fill, uint64_t now_ns) {
  uint64_t since0 = atomic_load_explicit(&r->low_since_ns, VALK__RELAXED), since = since0;
  valk_bp_state_t to = valk_bp_next(&r->levels, st, fill, now_ns, &since);
  int expected = (int)st;
  if (since != since0) atomic_store_explicit(&r->low_since_ns, since, VALK__RELAXED);
  if (to == st) return st;
  if (!atomic_compare_exchange_strong_explicit(&r->state, &expected, (int)to, VALK__ACQ_REL, VALK__ACQUIRE))
    return (valk_bp_state_t)expected; /* the other thread moved it first */
  atomic_fetch_add_explicit(&r->transitions[to], 1, VALK__RELAXED);
  return to;
}

/* A counter only the producer writes (recorded, dropped): a load and a store, no locked add. */
static void valk__bump(VALK_ATOMIC(uint64_t) *c) {
  atomic_store_explicit(c, atomic_load_explicit(c, VALK__RELAXED) + 1, VALK__RELAXED);
}

int valk_evring_record(valk_evring_t *r, const valk_event_t *ev) {
  uint64_t t = atomic_load_explicit(&r->tail, VALK__RELAXED);
  uint64_t h = atomic_load_explicit(&r->head, VALK__ACQUIRE);
  uint64_t w[4];
  VALK_ATOMIC(uint64_t) *slot;
  valk_bp_state_t st = (valk_bp_state_t)atomic_load_explicit(&r->state, VALK__RELAXED);

  if (st != VALK_BP_NORMAL || t - h >= r->levels.pressure_at) st = valk__evaluate(r, st, t - h, ev->ts_ns);
  if (st == VALK_BP_DROPPING || t - h > r->mask) {
    if (r->policy == VALK_DROP_NEWEST) {
      valk__bump(&r->dropped);
      return 0;
    }
    /* DROP_OLDEST: the oldest goes, unless the consumer took it meanwhile (then there is room). */
    if (t != h && atomic_compare_exchange_strong_explicit(&r->head, &h, h + 1, VALK__ACQ_REL, VALK__ACQUIRE))
      valk__bump(&r->dropped);
  }
  assert(t - atomic_load_explicit(&r->head, VALK__ACQUIRE) <= r->mask);
  memcpy(w, ev, sizeof(w));
  slot = r->slots[t & r->mask];
  atomic_store_explicit(&slot[0], w[0], VALK__RELAXED);
  atomic_store_explicit(&slot[1], w[1], VALK__RELAXED);
  atomic_store_explicit(&slot[2], w[2], VALK__RELAXED);
  atomic_store_explicit(&slot[3], w[3], VALK__RELAXED);
  atomic_store_explicit(&r->tail, t + 1, VALK__RELEASE);
  valk__bump(&r->recorded);
  return 1;
}

uint32_t valk_evring_drain(valk_evring_t *r, valk_event_t *out, uint32_t max) {
  for (;;) {
    uint64_t h = atomic_load_explicit(&r->head, VALK__ACQUIRE);
    uint64_t t = atomic_load_explicit(&r->tail, VALK__ACQUIRE);
    uint64_t n = t - h, i;
    if (n > (uint64_t)r->mask + 1) n = (uint64_t)r->mask + 1; /* h is stale: the CAS below fails */
    if (n > max) n = max;
    if (n == 0) return 0;
    for (i = 0; i < n; i++) {
      VALK_ATOMIC(uint64_t) *slot = r->slots[(h + i) & r->mask];
      uint64_t w[4];
      w[0] = atomic_load_explicit(&slot[0], VALK__RELAXED);
      w[1] = atomic_load_explicit(&slot[1], VALK__RELAXED);
      w[2] = atomic_load_explicit(&slot[2], VALK__RELAXED);
      w[3] = atomic_load_explicit(&slot[3], VALK__RELAXED);
      memcpy(&out[i], w, sizeof(w));
    }
    if (atomic_compare_exchange_strong_explicit(&r->head, &h, h + n, VALK__ACQ_REL, VALK__ACQUIRE)) {
      atomic_fetch_add_explicit(&r->drained, n, VALK__RELAXED);
      return (uint32_t)n;
    }
  }
}

valk_bp_state_t valk_evring_check(valk_evring_t *r, uint64_t now_ns) {
  uint64_t h = atomic_load_explicit(&r->head, VALK__ACQUIRE);
  uint64_t t = atomic_load_explicit(&r->tail, VALK__ACQUIRE);
  valk_bp_state_t st = (valk_bp_state_t)atomic_load_explicit(&r->state, VALK__ACQUIRE);
  return valk__evaluate(r, st, t > h ? t - h : 0, now_ns);
}

void valk_evring_stats(const valk_evring_t *r, valk_evring_stats_t *out) {
  uint64_t h = atomic_load_explicit(&r->head, VALK__ACQUIRE);
  uint64_t t = atomic_load_explicit(&r->tail, VALK__ACQUIRE);
  int k;
  out->state = (valk_bp_state_t)atomic_load_explicit(&r->state, VALK__RELAXED);
  out->fill = (uint32_t)(t > h ? t - h : 0);
  out->capacity = r->mask + 1;
  out->recorded = atomic_load_explicit(&r->recorded, VALK__RELAXED);
  out->drained = atomic_load_explicit(&r->drained, VALK__RELAXED);
  out->events_dropped = atomic_load_explicit(&r->dropped, VALK__RELAXED);
  out->bytes_dropped = out->events_dropped * sizeof(valk_event_t);
  for (k = 0; k < VALK_BP_STATES; k++) out->transitions[k] = atomic_load_explicit(&r->transitions[k], VALK__RELAXED);
}

void valk_evring_set_on(valk_evring_t *r, uint32_t on) {
  atomic_store_explicit(&r->on, on, VALK__RELEASE);
}

uint32_t valk_evring_round_capacity(uint32_t n) {
  uint32_t c = 2;
  while (c < n && c < (1u << 31)) c <<= 1;
  return c;
}
