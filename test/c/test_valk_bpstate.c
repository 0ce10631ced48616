// sources: valk_bpstate.c valk_common.c
/*
 * The backpressure state machine's one transition rule, valk_bp_next, and the
 * single-writer tracker (docs/design.md §13), with a fake clock: every
 * transition of the four states, the stability period starting again when the
 * fill rises in RECOVERY, DROPPING again from RECOVERY, the levels from
 * percentages, and the tracker's counts.
 */
#include <string.h>

#include "valk_bpstate.h"
#include "valk_test.h"

#define MS 1000000ull

/* pressure 8, dropping 16, low below 4, stable after 100 ms. */
static const valk_bp_levels_t L = {8, 16, 4, 100 * MS};

static valk_bp_state_t next(valk_bp_state_t st, uint64_t fill, uint64_t now, uint64_t *since) {
  return valk_bp_next(&L, st, fill, now, since);
}

/* Every arrow of the machine, and every state staying where the fill says. */
static void test_every_transition(void) {
  uint64_t since = 0, now = 1000 * MS;
  /* NORMAL */
  CHECK(next(VALK_BP_NORMAL, 7, now, &since) == VALK_BP_NORMAL);
  CHECK(next(VALK_BP_NORMAL, 8, now, &since) == VALK_BP_PRESSURE);
  CHECK(next(VALK_BP_NORMAL, 16, now, &since) == VALK_BP_DROPPING);
  CHECK(since == 0); /* only RECOVERY keeps a stability memory */
  /* PRESSURE */
  CHECK(next(VALK_BP_PRESSURE, 4, now, &since) == VALK_BP_PRESSURE); /* hysteresis: not low yet */
  CHECK(next(VALK_BP_PRESSURE, 3, now, &since) == VALK_BP_NORMAL);
  CHECK(next(VALK_BP_PRESSURE, 15, now, &since) == VALK_BP_PRESSURE);
  CHECK(next(VALK_BP_PRESSURE, 16, now, &since) == VALK_BP_DROPPING);
  /* DROPPING */
  CHECK(next(VALK_BP_DROPPING, 4, now, &since) == VALK_BP_DROPPING);
  CHECK(since == 0);
  CHECK(next(VALK_BP_DROPPING, 3, now, &since) == VALK_BP_RECOVERY);
  CHECK(since == now + 1); /* the stability period starts on entering RECOVERY */
  /* RECOVERY */
  CHECK(next(VALK_BP_RECOVERY, 0, now + 99 * MS, &since) == VALK_BP_RECOVERY);
  CHECK(next(VALK_BP_RECOVERY, 0, now + 100 * MS, &since) == VALK_BP_NORMAL);
  since = now + 1;
  CHECK(next(VALK_BP_RECOVERY, 15, now, &since) == VALK_BP_RECOVERY); /* high, not dropping: waits */
  CHECK(since == 0);
}

/* The fill rising in RECOVERY (not to dropping_at) restarts the period once it is low again. */
static void test_stability_restarts(void) {
  uint64_t since = 0, t = 5000 * MS;
  valk_bp_state_t st = next(VALK_BP_DROPPING, 0, t, &since);
  CHECK(st == VALK_BP_RECOVERY);
  st = next(st, 2, t + 90 * MS, &since); /* low for 90 ms */
  CHECK(st == VALK_BP_RECOVERY);
  st = next(st, 10, t + 95 * MS, &since); /* rises above recovery_below: the period is off */
  CHECK(st == VALK_BP_RECOVERY && since == 0);
  st = next(st, 1, t + 120 * MS, &since); /* low again: a new period from here */
  CHECK(st == VALK_BP_RECOVERY && since == t + 120 * MS + 1);
  st = next(st, 1, t + 200 * MS, &since); /* 100 ms after the first low, but only 80 after the restart */
  CHECK(st == VALK_BP_RECOVERY);
  st = next(st, 0, t + 219 * MS, &since);
  CHECK(st == VALK_BP_RECOVERY);
  st = next(st, 0, t + 220 * MS, &since);
  CHECK(st == VALK_BP_NORMAL);
}

/* From RECOVERY, any fill >= dropping_at is DROPPING again, low or not before. */
static void test_dropping_again(void) {
  uint64_t since = 0, t = 1 * MS;
  valk_bp_state_t st = next(VALK_BP_DROPPING, 3, t, &since);
  CHECK(st == VALK_BP_RECOVERY);
  CHECK(next(st, 16, t + 99 * MS, &since) == VALK_BP_DROPPING);
  CHECK(next(st, 1000, t + 500 * MS, &since) == VALK_BP_DROPPING); /* even after the period */
  /* and back: DROPPING -> RECOVERY starts a fresh period */
  CHECK(next(VALK_BP_DROPPING, 0, t + 600 * MS, &since) == VALK_BP_RECOVERY && since == t + 600 * MS + 1);
}

/* stability 0: RECOVERY is NORMAL at the next low evaluation. */
static void test_zero_stability(void) {
  valk_bp_levels_t l = L;
  uint64_t since = 0;
  l.stability_ns = 0;
  CHECK(valk_bp_next(&l, VALK_BP_DROPPING, 0, 10, &since) == VALK_BP_RECOVERY);
  CHECK(valk_bp_next(&l, VALK_BP_RECOVERY, 0, 10, &since) == VALK_BP_NORMAL);
}

static void test_levels_of(void) {
  valk_bp_levels_t l = valk_bp_levels_of(16, 50, 100, 25, 7);
  CHECK(l.pressure_at == 8 && l.dropping_at == 16 && l.recovery_below == 4 && l.stability_ns == 7);
  l = valk_bp_levels_of(10, 33, 90, 10, 0); /* pressure and dropping round up, recovery down */
  CHECK(l.pressure_at == 4 && l.dropping_at == 9 && l.recovery_below == 1);
  l = valk_bp_levels_of(3, 1, 1, 0, 0); /* each at least 1: an empty queue is always low */
  CHECK(l.pressure_at == 1 && l.dropping_at == 1 && l.recovery_below == 1);
  CHECK(strcmp(valk_bp_state_name(VALK_BP_RECOVERY), "recovery") == 0);
  CHECK(strcmp(valk_bp_state_name(VALK_BP_NORMAL), "normal") == 0);
}

/* The tracker: the full cycle, each entry counted once, repeated evaluations counting nothing. */
static void test_tracker(void) {
  valk_bpstate_t t;
  uint64_t tr[VALK_BP_STATES], now = 10 * MS;
  valk_bpstate_init(&t, &L);
  valk_bpstate_transitions(&t, tr);
  CHECK(valk_bpstate_state(&t) == VALK_BP_NORMAL && tr[0] + tr[1] + tr[2] + tr[3] == 0);
  CHECK(valk_bpstate_update(&t, 8, now) == VALK_BP_PRESSURE);
  CHECK(valk_bpstate_update(&t, 9, now) == VALK_BP_PRESSURE);
  CHECK(valk_bpstate_update(&t, 16, now) == VALK_BP_DROPPING);
  CHECK(valk_bpstate_update(&t, 16, now) == VALK_BP_DROPPING);
  CHECK(valk_bpstate_update(&t, 0, now) == VALK_BP_RECOVERY);
  CHECK(valk_bpstate_update(&t, 16, now + MS) == VALK_BP_DROPPING); /* back */
  CHECK(valk_bpstate_update(&t, 0, now + 2 * MS) == VALK_BP_RECOVERY);
  CHECK(valk_bpstate_update(&t, 0, now + 101 * MS) == VALK_BP_RECOVERY); /* 99 ms low */
  CHECK(valk_bpstate_update(&t, 0, now + 102 * MS) == VALK_BP_NORMAL);
  CHECK(valk_bpstate_state(&t) == VALK_BP_NORMAL);
  valk_bpstate_transitions(&t, tr);
  CHECK(tr[VALK_BP_PRESSURE] == 1 && tr[VALK_BP_DROPPING] == 2 && tr[VALK_BP_RECOVERY] == 2 && tr[VALK_BP_NORMAL] == 1);
}

int main(void) {
  test_every_transition();
  test_stability_restarts();
  test_dropping_again();
  test_zero_stability();
  test_levels_of();
  test_tracker();
  return 0;
}
