// sources: valk_evring.c valk_bpstate.c valk_common.c
/*
 * The lifecycle event ring's backpressure state machine (docs/design.md §13),
 * one thread, a fake clock. Test names follow the documented cases (test/CONFORMANCE.md):
 * state__transitions__then_correct, oldest__drops__then_space_freed,
 * load_decrease__then_recovers, pool_exhaustion__detected__then_drops, and the
 * behavioral burst / sustained / oscillating scenarios. The two-thread cases
 * (thread isolation, a concurrent consumer) are test_valk_evring_threads.c.
 */
#include <stdio.h>
#include <string.h>

#include "valk_common.h"
#include "valk_events.h"
#include "valk_evring.h"
#include "valk_test.h"

#define MS 1000000ull

static valk_evring_config_t config(uint32_t capacity, valk_drop_policy_t policy) {
  valk_evring_config_t c = {capacity, 50, 90, 25, 100 * MS, policy};
  return c;
}

/* Records event seq (its b is seq * 3: drain_all checks it arrived whole). */
static int rec(valk_evring_t *r, uint64_t now, uint64_t seq) {
  valk_event_t e = {now, seq, 1, 0, 0, seq * 3};
  return valk_evring_record(r, &e);
}

static uint32_t drain_all(valk_evring_t *r, uint64_t *first, uint64_t *last) {
  valk_event_t out[64];
  uint32_t n, total = 0;
  while ((n = valk_evring_drain(r, out, 64)) > 0) {
    for (uint32_t i = 0; i < n; i++) CHECK(out[i].b == out[i].uid * 3); /* never torn */
    if (total == 0 && first != NULL) *first = out[0].uid;
    if (last != NULL) *last = out[n - 1].uid;
    total += n;
  }
  return total;
}

static valk_bp_state_t state(valk_evring_t *r) {
  valk_evring_stats_t s;
  valk_evring_stats(r, &s);
  return s.state;
}

/* state__transitions__then_correct: NORMAL -> PRESSURE -> DROPPING -> RECOVERY -> NORMAL, each counted once. */
static void test_state_transitions(void) {
  valk_evring_t r;
  valk_evring_config_t c = config(16, VALK_DROP_NEWEST);
  valk_evring_stats_t s;
  uint64_t now = 1000 * MS, seq = 0;
  CHECK(valk_evring_init(&r, &c) == 0);
  while (seq < 8) CHECK(rec(&r, now, ++seq) == 1);
  CHECK(state(&r) == VALK_BP_NORMAL); /* 8 of 16 waiting: the 9th record sees 50 % */
  CHECK(rec(&r, now, ++seq) == 1);
  CHECK(state(&r) == VALK_BP_PRESSURE);
  while (seq < 15) CHECK(rec(&r, now, ++seq) == 1);
  CHECK(state(&r) == VALK_BP_PRESSURE); /* the 15th saw 14 waiting: 90 % is 15 */
  CHECK(rec(&r, now, ++seq) == 0); /* saw 15: DROPPING, newest refused */
  CHECK(state(&r) == VALK_BP_DROPPING);
  CHECK(drain_all(&r, NULL, NULL) == 15);
  CHECK(valk_evring_check(&r, now) == VALK_BP_RECOVERY);
  CHECK(valk_evring_check(&r, now + 99 * MS) == VALK_BP_RECOVERY); /* the stability period is not over */
  CHECK(valk_evring_check(&r, now + 100 * MS) == VALK_BP_NORMAL);
  valk_evring_stats(&r, &s);
  CHECK(s.transitions[VALK_BP_PRESSURE] == 1 && s.transitions[VALK_BP_DROPPING] == 1);
  CHECK(s.transitions[VALK_BP_RECOVERY] == 1 && s.transitions[VALK_BP_NORMAL] == 1);
  CHECK(s.events_dropped == 1 && s.bytes_dropped == sizeof(valk_event_t));
  CHECK(s.recorded == 15 && s.drained == 15 && s.fill == 0);
  /* PRESSURE falls back to NORMAL below recovery_pct, without a stability period. */
  for (int i = 0; i < 9; i++) rec(&r, now, ++seq);
  CHECK(state(&r) == VALK_BP_PRESSURE);
  drain_all(&r, NULL, NULL);
  CHECK(valk_evring_check(&r, now) == VALK_BP_NORMAL);
  CHECK(strcmp(valk_bp_state_name(VALK_BP_DROPPING), "dropping") == 0);
  valk_evring_destroy(&r);
}

/* 100 events into an 8-record ring with policy; what is left is drained (first and last seq). */
static void overfill(valk_drop_policy_t policy, valk_evring_stats_t *s, uint32_t *kept, uint32_t *left,
                     uint64_t *first, uint64_t *last) {
  valk_evring_t r;
  valk_evring_config_t c = config(8, policy);
  CHECK(valk_evring_init(&r, &c) == 0);
  *kept = 0;
  for (uint64_t seq = 1; seq <= 100; seq++) *kept += (uint32_t)rec(&r, seq, seq);
  valk_evring_stats(&r, s);
  *left = drain_all(&r, first, last);
  valk_evring_destroy(&r);
}

/* oldest__drops__then_space_freed: a full DROP_OLDEST ring keeps the newest events, in order;
 * drop-newest keeps the oldest and refuses (and counts) the new ones. */
static void test_drop_oldest_frees_space(void) {
  valk_evring_stats_t s;
  uint32_t kept, left;
  uint64_t first = 0, last = 0;
  overfill(VALK_DROP_OLDEST, &s, &kept, &left, &first, &last);
  CHECK(s.state == VALK_BP_DROPPING && kept == 100);
  CHECK(s.fill == 8); /* at 90 % (8 of 8, rounded up): each new one takes the oldest's place */
  CHECK(s.events_dropped == 100 - s.fill && s.recorded == 100);
  CHECK(left == s.fill && last == 100 && first == 100 - s.fill + 1); /* the newest, in order */
  overfill(VALK_DROP_NEWEST, &s, &kept, &left, &first, &last);
  CHECK(s.state == VALK_BP_DROPPING && kept == 8);
  CHECK(s.events_dropped == 100 - kept && s.fill == kept);
  CHECK(left == kept && first == 1 && last == kept); /* the oldest, in order */
}

/* load_decrease__then_recovers, with the stability period: a fill that rises again restarts it. */
static void test_recovery_after_load_decrease(void) {
  valk_evring_t r;
  valk_evring_config_t c = config(64, VALK_DROP_NEWEST);
  uint64_t now = 5000 * MS, seq = 0;
  CHECK(valk_evring_init(&r, &c) == 0);
  while (state(&r) != VALK_BP_DROPPING) rec(&r, now, ++seq);
  drain_all(&r, NULL, NULL);
  CHECK(valk_evring_check(&r, now) == VALK_BP_RECOVERY);
  now += 60 * MS;
  for (int i = 0; i < 20; i++) rec(&r, now, ++seq); /* 20 of 64: not low */
  CHECK(state(&r) == VALK_BP_RECOVERY);
  now += 60 * MS;
  CHECK(valk_evring_check(&r, now) == VALK_BP_RECOVERY); /* 120 ms since the drain, but it did not stay low */
  drain_all(&r, NULL, NULL);
  CHECK(valk_evring_check(&r, now) == VALK_BP_RECOVERY); /* low again: the period restarts here */
  CHECK(valk_evring_check(&r, now + 99 * MS) == VALK_BP_RECOVERY);
  CHECK(valk_evring_check(&r, now + 100 * MS) == VALK_BP_NORMAL);
  valk_evring_destroy(&r);
}

/* pool_exhaustion__detected__then_drops: every record past a full ring is a counted drop, none is lost silently. */
static void test_pool_exhaustion_detected(void) {
  for (int p = 0; p < 2; p++) {
    valk_evring_t r;
    valk_evring_config_t c = {32, 50, 100, 25, 0, p ? VALK_DROP_NEWEST : VALK_DROP_OLDEST};
    valk_evring_stats_t s;
    CHECK(valk_evring_init(&r, &c) == 0);
    for (uint64_t seq = 1; seq <= 1000; seq++) rec(&r, seq, seq);
    valk_evring_stats(&r, &s);
    CHECK(s.state == VALK_BP_DROPPING && s.fill == 32);
    CHECK(s.recorded - (p ? 0 : s.events_dropped) == s.fill); /* oldest: recorded then dropped; newest: refused */
    CHECK(s.events_dropped + s.fill == 1000);
    valk_evring_destroy(&r);
  }
}

/* The config's rules, each refused by init with its message. */
static void test_config_check(void) {
  valk_evring_t r;
  valk_evring_config_t c = config(16, VALK_DROP_OLDEST);
  CHECK(valk_evring_config_check(&c) == NULL);
  c.capacity = 12;
  CHECK(strstr(valk_evring_config_check(&c), "power of two") != NULL);
  CHECK(valk_evring_init(&r, &c) == VALK_EINVAL);
  c = config(16, VALK_DROP_OLDEST);
  c.dropping_pct = 40;
  CHECK(strstr(valk_evring_config_check(&c), "dropping_pct") != NULL);
  c = config(16, VALK_DROP_OLDEST);
  c.recovery_pct = 60;
  CHECK(strstr(valk_evring_config_check(&c), "recovery_pct") != NULL);
  c = config(16, VALK_DROP_OLDEST);
  c.pressure_pct = 0;
  CHECK(strstr(valk_evring_config_check(&c), "pressure_pct") != NULL);
  c = config(16, (valk_drop_policy_t)7);
  CHECK(strstr(valk_evring_config_check(&c), "policy") != NULL);
}

/* burst__then_drops_controlled: a burst far past capacity costs drops, the ring never holds more than capacity,
 * and once drained it is back to NORMAL after the stability period. */
static void test_burst_drops_controlled(void) {
  valk_evring_t r;
  valk_evring_config_t c = config(256, VALK_DROP_OLDEST);
  valk_evring_stats_t s;
  uint64_t now = MS;
  CHECK(valk_evring_init(&r, &c) == 0);
  for (uint64_t seq = 1; seq <= 100000; seq++) {
    rec(&r, now, seq);
    valk_evring_stats(&r, &s);
    CHECK(s.fill <= 256);
  }
  CHECK(s.events_dropped > 99000);
  drain_all(&r, NULL, NULL);
  CHECK(valk_evring_check(&r, now) == VALK_BP_RECOVERY);
  CHECK(valk_evring_check(&r, now + c.stability_ns) == VALK_BP_NORMAL);
  valk_evring_destroy(&r);
}

/* sustained__then_graceful_degradation: a consumer at half the producer's rate: about half the events arrive,
 * the rest are counted drops, every delivered one intact and in order. */
static void test_sustained_graceful_degradation(void) {
  valk_evring_t r;
  valk_evring_config_t c = config(128, VALK_DROP_NEWEST);
  valk_evring_stats_t s;
  valk_event_t out[1];
  uint64_t now = MS, delivered = 0, prev = 0;
  CHECK(valk_evring_init(&r, &c) == 0);
  for (uint64_t seq = 1; seq <= 20000; seq++) {
    rec(&r, now += 1000, seq);
    if (seq % 2 == 0 && valk_evring_drain(&r, out, 1) == 1) {
      CHECK(out[0].uid > prev && out[0].b == out[0].uid * 3);
      prev = out[0].uid;
      delivered++;
    }
  }
  valk_evring_stats(&r, &s);
  CHECK(delivered == 10000);
  CHECK(s.events_dropped + delivered + s.fill == 20000);
  CHECK(s.events_dropped > 9000 && s.events_dropped < 10000);
  valk_evring_destroy(&r);
}

/* oscillating__then_stays_protected: load that comes and goes faster than the stability period never
 * flaps back to NORMAL; transitions stay bounded by the cycles, not by the events. */
static void test_oscillating_stays_protected(void) {
  valk_evring_t r;
  valk_evring_config_t c = config(64, VALK_DROP_NEWEST);
  valk_evring_stats_t s;
  uint64_t now = MS, seq = 0;
  CHECK(valk_evring_init(&r, &c) == 0);
  for (int cycle = 0; cycle < 50; cycle++) {
    for (int i = 0; i < 200; i++) rec(&r, now, ++seq); /* a burst */
    CHECK(state(&r) == VALK_BP_DROPPING);
    drain_all(&r, NULL, NULL);
    now += 30 * MS; /* quiet for less than the stability period */
    CHECK(valk_evring_check(&r, now) == VALK_BP_RECOVERY);
  }
  valk_evring_stats(&r, &s);
  CHECK(s.transitions[VALK_BP_NORMAL] == 0);
  CHECK(s.transitions[VALK_BP_DROPPING] == 50 && s.transitions[VALK_BP_RECOVERY] == 50);
  CHECK(valk_evring_check(&r, now + c.stability_ns) == VALK_BP_NORMAL); /* it settles once the load stays away */
  valk_evring_destroy(&r);
}

/* valk_event_emit records kind k only while bit k of the ring's on is set (the kinds asked for). */
static void test_emit_records_asked_kinds(void) {
  valk_evring_t r;
  valk_evring_config_t c = config(64, VALK_DROP_NEWEST);
  valk_evring_stats_t s;
  valk_event_t out[8];
  CHECK(valk_evring_init(&r, &c) == 0);
  valk_event_emit(&r, 1, VALK_EV_conn_accepted, VALK_EVR_none, 1, 0, 0); /* off: nothing */
  valk_evring_set_on(&r, (1u << VALK_EV_conn_accepted) | (1u << VALK_EV_conn_closed));
  valk_event_emit(&r, 2, VALK_EV_stream_opened, VALK_EVR_none, 1, 1, 0);
  valk_event_emit(&r, 2, VALK_EV_conn_closed, VALK_EVR_peer, 1, 5, 66);
  valk_event_emit(&r, 3, VALK_EV_stream_closed, VALK_EVR_none, 1, 1, 0);
  valk_evring_stats(&r, &s);
  CHECK(s.recorded == 1);
  CHECK(valk_evring_drain(&r, out, 8) == 1 && out[0].kind == VALK_EV_conn_closed && out[0].b == 66);
  valk_evring_set_on(&r, UINT32_MAX); /* every kind */
  valk_event_emit(&r, 4, VALK_EV_stream_opened, VALK_EVR_none, 1, 3, 0);
  CHECK(valk_evring_drain(&r, out, 8) == 1 && out[0].kind == VALK_EV_stream_opened);
  valk_evring_destroy(&r);
}

int main(void) {
  test_state_transitions();
  test_drop_oldest_frees_space();
  test_recovery_after_load_decrease();
  test_pool_exhaustion_detected();
  test_config_check();
  test_burst_drops_controlled();
  test_sustained_graceful_degradation();
  test_oscillating_stays_protected();
  test_emit_records_asked_kinds();
  printf("test_valk_evring: 9 passed\n");
  return 0;
}
