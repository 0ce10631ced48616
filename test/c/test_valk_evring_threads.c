// sources: valk_evring.c valk_bpstate.c valk_common.c
// sanitize: thread
/*
 * The lifecycle event ring with a real producer and consumer thread, under
 * ThreadSanitizer (docs/design.md §13): any data race is a report and a
 * nonzero exit. The checks catch lost, duplicated, reordered or torn events,
 * and counters that do not add up: recorded = drained + dropped(oldest) +
 * left, for both policies. Then thread_isolation__independent__then_no_interference:
 * two rings, two producers; one ring's consumer stops, that ring alone goes to
 * DROPPING, the other never leaves NORMAL, and both consumers' states recover
 * independently (valk_evring_check from the consumer side).
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include "valk_evring.h"
#include "valk_test.h"

#define EVENTS 2000000ull

typedef struct {
  valk_evring_t ring;
  atomic_int done;
  uint64_t events;
  uint64_t refused;       /* DROP_NEWEST: record returned 0 */
  uint64_t delivered;
  int consumer_paused;    /* the isolation case: this consumer reads nothing until released */
  int polite;             /* the isolation case: this producer keeps its ring below 25 % */
  atomic_int release;
} lane_t;

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void *producer(void *arg) {
  lane_t *l = arg;
  for (uint64_t seq = 1; seq <= l->events; seq++) {
    valk_event_t e = {now_ns(), seq, 2, 0, (uint32_t)seq, ~seq};
    if (l->polite) {
      valk_evring_stats_t s;
      for (valk_evring_stats(&l->ring, &s); s.fill >= s.capacity / 4; valk_evring_stats(&l->ring, &s)) sched_yield();
    }
    if (!valk_evring_record(&l->ring, &e)) l->refused++;
  }
  atomic_store(&l->done, 1);
  return NULL;
}

static void *consumer(void *arg) {
  lane_t *l = arg;
  valk_event_t out[128];
  uint64_t prev = 0;
  while (l->consumer_paused && !atomic_load(&l->release)) {
    valk_evring_check(&l->ring, now_ns());
    sched_yield();
  }
  for (;;) {
    int done = atomic_load(&l->done);
    uint32_t n = valk_evring_drain(&l->ring, out, 128);
    for (uint32_t i = 0; i < n; i++) {
      CHECK(out[i].uid > prev);                          /* in order, never twice */
      CHECK(out[i].b == ~out[i].uid && out[i].a == (uint32_t)out[i].uid); /* whole */
      prev = out[i].uid;
    }
    l->delivered += n;
    valk_evring_check(&l->ring, now_ns());
    if (n == 0 && done) break;
  }
  return NULL;
}

static void run_policy(valk_drop_policy_t policy) {
  lane_t l;
  pthread_t p, c;
  valk_evring_config_t cfg = {1024, 50, 90, 25, 1000000, policy};
  valk_evring_stats_t s;
  memset(&l, 0, sizeof(l));
  l.events = EVENTS;
  CHECK(valk_evring_init(&l.ring, &cfg) == 0);
  CHECK(pthread_create(&c, NULL, consumer, &l) == 0);
  CHECK(pthread_create(&p, NULL, producer, &l) == 0);
  pthread_join(p, NULL);
  pthread_join(c, NULL);
  valk_evring_stats(&l.ring, &s);
  CHECK(s.fill == 0 && s.drained == l.delivered);
  if (policy == VALK_DROP_NEWEST) CHECK(s.recorded + l.refused == EVENTS && s.events_dropped == l.refused);
  else CHECK(s.recorded == EVENTS && s.events_dropped + l.delivered == EVENTS);
  printf("  %s: %llu delivered, %llu dropped, transitions to dropping %llu\n", policy == VALK_DROP_NEWEST ? "drop-newest" : "drop-oldest",
         (unsigned long long)l.delivered, (unsigned long long)s.events_dropped,
         (unsigned long long)s.transitions[VALK_BP_DROPPING]);
  valk_evring_destroy(&l.ring);
}

static void test_thread_isolation(void) {
  lane_t a, b;
  pthread_t pa, ca, pb, cb;
  valk_evring_config_t cfg = {256, 50, 90, 25, 1000000, VALK_DROP_NEWEST};
  valk_evring_stats_t sa, sb;
  memset(&a, 0, sizeof(a));
  memset(&b, 0, sizeof(b));
  a.events = b.events = 100000;
  a.consumer_paused = 1; /* a's consumer stops reading */
  b.polite = 1;          /* b never fills past 25 %: it has no reason to leave NORMAL */
  CHECK(valk_evring_init(&a.ring, &cfg) == 0 && valk_evring_init(&b.ring, &cfg) == 0);
  CHECK(pthread_create(&ca, NULL, consumer, &a) == 0 && pthread_create(&cb, NULL, consumer, &b) == 0);
  CHECK(pthread_create(&pa, NULL, producer, &a) == 0 && pthread_create(&pb, NULL, producer, &b) == 0);
  pthread_join(pa, NULL);
  pthread_join(pb, NULL);
  pthread_join(cb, NULL);
  valk_evring_stats(&a.ring, &sa);
  valk_evring_stats(&b.ring, &sb);
  CHECK(sa.state == VALK_BP_DROPPING && sa.events_dropped == 100000 - sa.fill);
  CHECK(sb.events_dropped == 0 && b.delivered == 100000 && sb.state == VALK_BP_NORMAL);
  for (int k = 0; k < VALK_BP_STATES; k++) CHECK(sb.transitions[k] == 0); /* a's DROPPING never reached b */
  atomic_store(&a.release, 1); /* a's consumer resumes */
  pthread_join(ca, NULL);
  valk_evring_stats(&a.ring, &sa);
  CHECK(sa.fill == 0 && sa.drained + sa.events_dropped == 100000);
  {
    uint64_t t0 = now_ns();
    while (valk_evring_check(&a.ring, now_ns()) != VALK_BP_NORMAL) CHECK(now_ns() - t0 < 5000000000ull);
  }
  valk_evring_destroy(&a.ring);
  valk_evring_destroy(&b.ring);
}

int main(void) {
  run_policy(VALK_DROP_OLDEST);
  run_policy(VALK_DROP_NEWEST);
  test_thread_isolation();
  printf("test_valk_evring_threads: 3 passed\n");
  return 0;
}
