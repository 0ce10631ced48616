/*
 * bench/evring.c: the lifecycle event ring's costs (docs/design.md §13), one
 * thread, medians over rounds of 1024 operations timed together (a clock read
 * per operation would cost more than the operation):
 *   record in NORMAL          the ring below pressure_pct (drained between rounds, untimed)
 *   drop, newest              DROPPING, DROP_NEWEST: the event refused
 *   drop, oldest              DROPPING, DROP_OLDEST: the oldest taken out (a CAS), the new one written
 *   recovery check            valk_evring_check in RECOVERY, the fill low, the period not over
 *   drain                     valk_evring_drain in batches of 256 (events per second)
 * Built and run by bench/evring.sh (-O2, pinned to one CPU).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "valk_evring.h"

#define ROUNDS 2001
#define OPS 1024

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double median(double *v) {
  qsort(v, ROUNDS, sizeof(*v), cmp);
  return v[ROUNDS / 2];
}

static void init(valk_evring_t *r, uint32_t capacity, valk_drop_policy_t policy) {
  valk_evring_config_t c = {capacity, 50, 90, 25, 3600ull * 1000000000ull, policy};
  if (valk_evring_init(r, &c) != 0) {
    fprintf(stderr, "evring: init failed\n");
    exit(2);
  }
}

static valk_event_t out[OPS];
static volatile uint64_t sink;

int main(void) {
  static double v[ROUNDS];
  valk_evring_t r;
  valk_event_t e = {1, 1, 1, 0, 0, 0};
  uint64_t t0;
  int k, i;

  init(&r, 4096, VALK_DROP_OLDEST); /* 1024 records never reach 50 % */
  for (k = 0; k < ROUNDS; k++) {
    t0 = now_ns();
    for (i = 0; i < OPS; i++) {
      e.uid = (uint64_t)i;
      valk_evring_record(&r, &e);
    }
    v[k] = (double)(now_ns() - t0) / OPS;
    while (valk_evring_drain(&r, out, OPS) > 0) {
    }
  }
  printf("record (NORMAL)      %6.1f ns (median of %d rounds of %d)\n", median(v), ROUNDS, OPS);
  valk_evring_destroy(&r);

  for (int p = 0; p < 2; p++) {
    init(&r, 4096, p ? VALK_DROP_OLDEST : VALK_DROP_NEWEST);
    while (valk_evring_record(&r, &e) == 1 && r.state != VALK_BP_DROPPING) {
    }
    for (k = 0; k < ROUNDS; k++) {
      t0 = now_ns();
      for (i = 0; i < OPS; i++) sink += (uint64_t)valk_evring_record(&r, &e);
      v[k] = (double)(now_ns() - t0) / OPS;
    }
    printf("drop (%s)        %6.1f ns\n", p ? "oldest" : "newest", median(v));
    valk_evring_destroy(&r);
  }

  init(&r, 4096, VALK_DROP_NEWEST);
  while (valk_evring_record(&r, &e) == 1) {
  }
  while (valk_evring_drain(&r, out, OPS) > 0) {
  }
  if (valk_evring_check(&r, 1) != VALK_BP_RECOVERY) {
    fprintf(stderr, "evring: not in RECOVERY\n");
    return 2;
  }
  for (k = 0; k < ROUNDS; k++) {
    t0 = now_ns();
    for (i = 0; i < OPS; i++) sink += (uint64_t)valk_evring_check(&r, (uint64_t)(k * OPS + i));
    v[k] = (double)(now_ns() - t0) / OPS;
  }
  printf("recovery check       %6.1f ns\n", median(v));
  valk_evring_destroy(&r);

  init(&r, 4096, VALK_DROP_NEWEST);
  for (k = 0; k < ROUNDS; k++) {
    for (i = 0; i < OPS; i++) valk_evring_record(&r, &e); /* to 25 %: NORMAL */
    t0 = now_ns();
    for (i = 0; i < OPS / 256; i++) sink += valk_evring_drain(&r, out, 256);
    v[k] = (double)(now_ns() - t0) / OPS;
  }
  printf("drain (256 a batch)  %6.1f ns an event, %.1f M events/s\n", median(v), 1000.0 / median(v));
  valk_evring_destroy(&r);
  return 0;
}
