// sources: valk_admission.c valk_common.c
/* Admission control (docs/design.md §3-§5): watermark hysteresis and the
 * admit rule, resume thresholds, the priority score, the backpressure heap and
 * the per-address table (each heap and table also fuzzed against a
 * brute-force model). */
#include <arpa/inet.h>
#include <math.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "valk_admission.h"

#include "valk_test.h"

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

/* xorshift64*: fixed seed, so every run is the same. */
static uint32_t rnd(uint32_t n) {
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  return (uint32_t)((rng_state * 0x2545f4914f6cdd1dull) >> 32) % n;
}

static valk_wm_state_t wm_state(valk_watermark_t *wm) {
  return (valk_wm_state_t)atomic_load(&wm->state);
}

static uint64_t wm_transitions(valk_watermark_t *wm) { return atomic_load(&wm->transitions); }

/* ---- watermarks ---- */

static void test_watermark_states(void) {
  valk_watermark_t wm;

  valk_watermark_init(&wm, 100, 0.85, 0.95, 4);
  CHECK(wm.min_free_high == 8);
  CHECK(wm_state(&wm) == VALK_WM_NORMAL && wm_transitions(&wm) == 0);
  CHECK(valk_watermark_update(&wm, 0) == VALK_WM_NORMAL);
  CHECK(valk_watermark_update(&wm, 84) == VALK_WM_NORMAL);
  CHECK(valk_watermark_update(&wm, 85) == VALK_WM_HIGH); /* usage == high enters */
  CHECK(wm_transitions(&wm) == 1);
  CHECK(valk_watermark_update(&wm, 94) == VALK_WM_HIGH);
  CHECK(valk_watermark_update(&wm, 95) == VALK_WM_CRITICAL);
  CHECK(wm_transitions(&wm) == 2);
  CHECK(valk_watermark_update(&wm, 100) == VALK_WM_CRITICAL);
  CHECK(valk_watermark_update(&wm, 200) == VALK_WM_CRITICAL); /* used > total: usage 1 */
  CHECK(wm_state(&wm) == VALK_WM_CRITICAL && wm_transitions(&wm) == 2);
  /* NORMAL -> CRITICAL directly is one transition. */
  valk_watermark_init(&wm, 100, 0.85, 0.95, 4);
  CHECK(valk_watermark_update(&wm, 99) == VALK_WM_CRITICAL && wm_transitions(&wm) == 1);
  /* No buffers at all: always critical. */
  valk_watermark_init(&wm, 0, 0.85, 0.95, 4);
  CHECK(valk_watermark_update(&wm, 0) == VALK_WM_CRITICAL);
  CHECK(strcmp(valk_wm_state_name(VALK_WM_NORMAL), "normal") == 0);
  CHECK(strcmp(valk_wm_state_name(VALK_WM_HIGH), "high") == 0);
  CHECK(strcmp(valk_wm_state_name(VALK_WM_CRITICAL), "critical") == 0);
  CHECK(strcmp(valk_wm_state_name((valk_wm_state_t)7), "unknown") == 0);
}

static void test_watermark_admit_rule(void) {
  valk_watermark_t wm;

  /* high 0.5, critical 0.95, 2 * 4 = 8 free buffers needed above high. */
  valk_watermark_init(&wm, 100, 0.5, 0.95, 4);
  CHECK(valk_watermark_admit(&wm, 10) == 1);                     /* normal */
  CHECK(valk_watermark_admit(&wm, 60) == 1 && wm_state(&wm) == VALK_WM_HIGH); /* 40 free */
  CHECK(valk_watermark_admit(&wm, 92) == 1);                     /* high, 8 free: enough */
  CHECK(valk_watermark_admit(&wm, 93) == 0 && wm_state(&wm) == VALK_WM_HIGH); /* 7 free */
  CHECK(valk_watermark_admit(&wm, 95) == 0 && wm_state(&wm) == VALK_WM_CRITICAL);
  CHECK(valk_watermark_admit(&wm, 91) == 0 && wm_state(&wm) == VALK_WM_CRITICAL); /* band */
  CHECK(valk_watermark_admit(&wm, 89) == 1 && wm_state(&wm) == VALK_WM_HIGH);     /* 11 free */
  CHECK(valk_watermark_admit(&wm, 300) == 0);                    /* used > total */
  /* The admit rule: below high, few free buffers still admit (small pool). */
  valk_watermark_init(&wm, 10, 0.85, 0.95, 4);
  CHECK(valk_watermark_admit(&wm, 8) == 1 && wm_state(&wm) == VALK_WM_NORMAL);
  CHECK(valk_watermark_admit(&wm, 9) == 0 && wm_state(&wm) == VALK_WM_HIGH);  /* 1 free < 8 */
  valk_watermark_init(&wm, 0, 0.85, 0.95, 4);
  CHECK(valk_watermark_admit(&wm, 0) == 0);
  /* min_free_high saturates. */
  valk_watermark_init(&wm, 100, 0.85, 0.95, UINT32_MAX);
  CHECK(wm.min_free_high == UINT32_MAX);
}

static void test_watermark_hysteresis_high(void) {
  valk_watermark_t wm;
  int i;

  valk_watermark_init(&wm, 100, 0.85, 0.95, 4);
  for (i = 0; i < 40; i++) valk_watermark_update(&wm, (i % 2) ? 86 : 84);
  CHECK(wm_transitions(&wm) == 1 && wm_state(&wm) == VALK_WM_HIGH);
  /* Leaves HIGH only below high - 0.05 = 0.80. */
  CHECK(valk_watermark_update(&wm, 81) == VALK_WM_HIGH);
  CHECK(valk_watermark_update(&wm, 80) == VALK_WM_HIGH);
  CHECK(valk_watermark_update(&wm, 79) == VALK_WM_NORMAL);
  CHECK(wm_transitions(&wm) == 2);
  /* Back in the band from below: NORMAL until high itself. */
  CHECK(valk_watermark_update(&wm, 84) == VALK_WM_NORMAL);
  CHECK(wm_transitions(&wm) == 2);
  /* Swings across the whole band are real transitions. */
  for (i = 0; i < 10; i++) valk_watermark_update(&wm, (i % 2) ? 79 : 85);
  CHECK(wm_transitions(&wm) == 12 && wm_state(&wm) == VALK_WM_NORMAL);
}

static void test_watermark_hysteresis_critical(void) {
  valk_watermark_t wm;
  int i;

  valk_watermark_init(&wm, 100, 0.85, 0.95, 4);
  CHECK(valk_watermark_update(&wm, 90) == VALK_WM_HIGH);
  for (i = 0; i < 40; i++) valk_watermark_update(&wm, (i % 2) ? 94 : 96);
  CHECK(wm_transitions(&wm) == 2 && wm_state(&wm) == VALK_WM_CRITICAL);
  /* Leaves CRITICAL only below critical - 0.05 = 0.90 ... */
  CHECK(valk_watermark_update(&wm, 90) == VALK_WM_CRITICAL);
  /* ... into HIGH while usage >= high - 0.05 (even below high itself) ... */
  CHECK(valk_watermark_update(&wm, 81) == VALK_WM_HIGH);
  CHECK(wm_transitions(&wm) == 3);
  CHECK(valk_watermark_update(&wm, 96) == VALK_WM_CRITICAL);
  CHECK(valk_watermark_update(&wm, 89) == VALK_WM_HIGH);
  CHECK(valk_watermark_update(&wm, 96) == VALK_WM_CRITICAL);
  /* ... else straight to NORMAL, one transition. */
  CHECK(valk_watermark_update(&wm, 79) == VALK_WM_NORMAL);
  CHECK(wm_transitions(&wm) == 7);
  /* Oscillating across critical from NORMAL: one transition in, none out. */
  valk_watermark_init(&wm, 1000, 0.85, 0.95, 4);
  for (i = 0; i < 40; i++) valk_watermark_update(&wm, (i % 2) ? 949 : 951);
  CHECK(wm_transitions(&wm) == 1); /* NORMAL -> CRITICAL at the first 951 */
  CHECK(wm_state(&wm) == VALK_WM_CRITICAL);
}

static void test_watermark_clamp(void) {
  valk_watermark_t wm;
  int i;

  valk_watermark_init(&wm, 100, -0.3, NAN, 4);
  CHECK(wm.high == 0.0 && wm.critical == 0.0);
  /* high 0: always HIGH, and no flapping at usage 0. */
  valk_watermark_init(&wm, 100, 0.0, 0.03, 4);
  for (i = 0; i < 5; i++) CHECK(valk_watermark_update(&wm, 0) == VALK_WM_HIGH);
  CHECK(wm_transitions(&wm) == 1);
  CHECK(valk_watermark_update(&wm, 3) == VALK_WM_CRITICAL);
  CHECK(valk_watermark_update(&wm, 1) == VALK_WM_CRITICAL); /* exit clamps to 0 */
  CHECK(valk_watermark_update(&wm, 0) == VALK_WM_HIGH);     /* empty pool leaves */
  CHECK(valk_watermark_update(&wm, 0) == VALK_WM_HIGH);
  CHECK(wm_transitions(&wm) == 3);
  /* A low critical does not latch: an empty pool returns to NORMAL. */
  valk_watermark_init(&wm, 100, 0.02, 0.04, 4);
  CHECK(valk_watermark_update(&wm, 4) == VALK_WM_CRITICAL);
  CHECK(valk_watermark_update(&wm, 1) == VALK_WM_CRITICAL);
  CHECK(valk_watermark_update(&wm, 0) == VALK_WM_NORMAL);
  CHECK(valk_watermark_update(&wm, 0) == VALK_WM_NORMAL);
  CHECK(wm_transitions(&wm) == 2);
}

/* ---- resume threshold and priority ---- */

static void test_resume_threshold(void) {
  CHECK(valk_resume_threshold(0, 100, 4) == 2);
  CHECK(valk_resume_threshold(49, 100, 4) == 2);
  CHECK(valk_resume_threshold(50, 100, 4) == 4);  /* usage 0.5: medium */
  CHECK(valk_resume_threshold(74, 100, 4) == 4);
  CHECK(valk_resume_threshold(75, 100, 4) == 8);  /* usage 0.75: high */
  CHECK(valk_resume_threshold(100, 100, 4) == 8);
  CHECK(valk_resume_threshold(150, 100, 4) == 8);
  CHECK(valk_resume_threshold(0, 0, 4) == 8);     /* no pool: usage 1 */
  CHECK(valk_resume_threshold(1, 3, 6) == 2);     /* 0.33 */
  CHECK(valk_resume_threshold(2, 3, 6) == 6);     /* 0.67 */
  CHECK(valk_resume_threshold(UINT32_MAX - 1, UINT32_MAX, UINT32_MAX) == UINT32_MAX);
  CHECK(valk_resume_threshold(UINT32_MAX / 2, UINT32_MAX, 7) == 2);
}

static void test_bp_priority(void) {
  const uint64_t sat_kb = (uint64_t)UINT32_MAX * 1024;

  CHECK(valk_bp_priority(0, 0, 0) == 0);
  CHECK(valk_bp_priority(1, 0, 0) == 1000);
  CHECK(valk_bp_priority(17, 0, 0) == 1000);
  CHECK(valk_bp_priority(0, 1023, 0) == 0);
  CHECK(valk_bp_priority(0, 1024, 0) == 1);
  CHECK(valk_bp_priority(0, 10 * 1024 + 5, 0) == 10);
  CHECK(valk_bp_priority(0, 0, 999) == 0);
  CHECK(valk_bp_priority(0, 0, 1000) == 1);
  CHECK(valk_bp_priority(0, 0, 99999) == 99);
  CHECK(valk_bp_priority(0, 0, 100000) == 100);
  CHECK(valk_bp_priority(0, 0, 3600u * 1000u) == 100);  /* capped at 100 s */
  CHECK(valk_bp_priority(0, 0, UINT64_MAX) == 100);
  CHECK(valk_bp_priority(2, 2048, 5500) == 1007);
  CHECK(valk_bp_priority(1, sat_kb - 1101 * 1024, 100000) == UINT32_MAX - 1);
  CHECK(valk_bp_priority(1, sat_kb - 1100 * 1024, 100000) == UINT32_MAX);
  CHECK(valk_bp_priority(1, sat_kb, 100000) == UINT32_MAX);
  CHECK(valk_bp_priority(1, UINT64_MAX, UINT64_MAX) == UINT32_MAX);
}

/* ---- backpressure heap ---- */

static void test_bp_heap_order(void) {
  static const uint32_t prio[6] = {5, 1, 9, 5, 3, 9};
  static const int expect[6] = {2, 5, 0, 3, 4, 1}; /* 9 older, 9, 5 older, 5, 3, 1 */
  valk_bp_heap_t h;
  valk_bp_node_t n[6];
  int i;

  CHECK(valk_bp_init(&h, 0) == VALK_EINVAL);
  CHECK(valk_bp_init(&h, 8) == 0);
  CHECK(valk_bp_peek(&h) == NULL && valk_bp_pop(&h) == NULL && valk_bp_lowest(&h) == NULL);
  for (i = 0; i < 6; i++) {
    valk_bp_node_init(&n[i]);
    CHECK(!valk_bp_contains(&n[i]) && n[i].heap_index == UINT32_MAX);
    CHECK(valk_bp_push(&h, &n[i], prio[i]) == 0);
    CHECK(valk_bp_contains(&n[i]) && n[i].priority == prio[i]);
    CHECK(valk_bp_check(&h) == 0);
  }
  CHECK(n[0].seq < n[3].seq && n[2].seq < n[5].seq);
  CHECK(valk_bp_push(&h, &n[0], 100) == VALK_EINVAL && n[0].priority == 5);
  CHECK(valk_bp_size(&h) == 6);
  for (i = 0; i < 6; i++) {
    CHECK(valk_bp_peek(&h) == &n[expect[i]]);
    CHECK(valk_bp_pop(&h) == &n[expect[i]]);
    CHECK(!valk_bp_contains(&n[expect[i]]));
    CHECK(valk_bp_check(&h) == 0);
  }
  CHECK(valk_bp_size(&h) == 0 && valk_bp_pop(&h) == NULL);
  /* A node pushed again gets a new seq: it is now the newest. */
  CHECK(valk_bp_push(&h, &n[0], 5) == 0 && valk_bp_push(&h, &n[1], 5) == 0);
  CHECK(valk_bp_pop(&h) == &n[0] && valk_bp_pop(&h) == &n[1]);
  valk_bp_destroy(&h);
  valk_bp_destroy(&h); /* twice is harmless */
}

static void test_bp_heap_remove_middle(void) {
  valk_bp_heap_t h, other;
  valk_bp_node_t n[9], *prev, *got;
  int i;

  CHECK(valk_bp_init(&h, 16) == 0);
  CHECK(valk_bp_init(&other, 4) == 0);
  for (i = 0; i < 9; i++) {
    valk_bp_node_init(&n[i]);
    CHECK(valk_bp_push(&h, &n[i], (uint32_t)(i * 7 % 10)) == 0);
  }
  /* Remove nodes sitting at an inner slot, then at the root, then the last slot. */
  for (i = 0; i < 9 && n[i].heap_index != 1; i++) {}
  CHECK(i < 9);
  valk_bp_remove(&h, &n[i]);
  CHECK(!valk_bp_contains(&n[i]) && valk_bp_size(&h) == 8 && valk_bp_check(&h) == 0);
  valk_bp_remove(&h, &n[i]); /* not in: no-op */
  CHECK(valk_bp_size(&h) == 8);
  got = valk_bp_peek(&h);
  valk_bp_remove(&h, got);
  CHECK(valk_bp_size(&h) == 7 && valk_bp_check(&h) == 0);
  valk_bp_remove(&h, h.items[6]);
  CHECK(valk_bp_size(&h) == 6 && valk_bp_check(&h) == 0);
  /* A node of another heap is not removed from this one. */
  {
    valk_bp_node_t stranger;
    valk_bp_node_init(&stranger);
    CHECK(valk_bp_push(&other, &stranger, 1) == 0);
    valk_bp_remove(&h, &stranger);
    CHECK(valk_bp_contains(&stranger) && valk_bp_size(&h) == 6);
    valk_bp_remove(&other, &stranger);
    CHECK(!valk_bp_contains(&stranger));
  }
  /* The rest pops in non-increasing priority. */
  prev = NULL;
  while ((got = valk_bp_pop(&h)) != NULL) {
    if (prev != NULL) CHECK(prev->priority > got->priority ||
                            (prev->priority == got->priority && prev->seq < got->seq));
    prev = got;
  }
  valk_bp_destroy(&other);
  valk_bp_destroy(&h);
}

static void test_bp_heap_full_and_lowest(void) {
  valk_bp_heap_t h;
  valk_bp_node_t n[6], *victim;

  CHECK(valk_bp_init(&h, 4) == 0);
  for (int i = 0; i < 6; i++) valk_bp_node_init(&n[i]);
  CHECK(valk_bp_push(&h, &n[0], 5) == 0);
  CHECK(valk_bp_lowest(&h) == &n[0]); /* one node: root is the leaf */
  CHECK(valk_bp_push(&h, &n[1], 2) == 0);
  CHECK(valk_bp_push(&h, &n[2], 7) == 0);
  CHECK(valk_bp_push(&h, &n[3], 2) == 0);
  CHECK(valk_bp_push(&h, &n[4], 100) == VALK_EFULL);
  CHECK(!valk_bp_contains(&n[4]) && valk_bp_size(&h) == 4);
  /* Lowest priority, newest among equals. */
  CHECK(valk_bp_lowest(&h) == &n[3]);
  /* The integrator's overflow path: evict the victim, then push. */
  victim = valk_bp_lowest(&h);
  valk_bp_remove(&h, victim);
  CHECK(valk_bp_push(&h, &n[4], 100) == 0);
  CHECK(valk_bp_check(&h) == 0);
  CHECK(valk_bp_lowest(&h) == &n[1]);
  CHECK(valk_bp_peek(&h) == &n[4]);
  valk_bp_destroy(&h);
}

#define FUZZ_NODES 96
#define FUZZ_CAP 64

/* Brute force: the best node under (priority desc, seq asc), or the worst. */
static valk_bp_node_t *model_pick(valk_bp_node_t *n, const int *in, int want_lowest) {
  valk_bp_node_t *best = NULL;
  for (int i = 0; i < FUZZ_NODES; i++) {
    int better;
    if (!in[i]) continue;
    if (best == NULL) {
      best = &n[i];
      continue;
    }
    better = n[i].priority > best->priority ||
             (n[i].priority == best->priority && n[i].seq < best->seq);
    if (better != want_lowest) best = &n[i];
  }
  return best;
}

static void test_bp_heap_fuzz(void) {
  valk_bp_heap_t h;
  valk_bp_node_t n[FUZZ_NODES];
  int in[FUZZ_NODES] = {0};
  uint32_t count = 0;

  CHECK(valk_bp_init(&h, FUZZ_CAP) == 0);
  for (int i = 0; i < FUZZ_NODES; i++) valk_bp_node_init(&n[i]);
  for (int op = 0; op < 6000; op++) {
    uint32_t k = rnd(FUZZ_NODES), what = rnd(10);
    if (what < 5) {
      int rc = valk_bp_push(&h, &n[k], rnd(8)); /* few priorities: many ties */
      if (in[k]) CHECK(rc == VALK_EINVAL);
      else if (count == FUZZ_CAP) CHECK(rc == VALK_EFULL && !valk_bp_contains(&n[k]));
      else {
        CHECK(rc == 0);
        in[k] = 1;
        count++;
      }
    } else if (what < 7) {
      valk_bp_node_t *want = model_pick(n, in, 0), *got = valk_bp_pop(&h);
      CHECK(got == want);
      if (got != NULL) {
        in[got - n] = 0;
        count--;
      }
    } else {
      valk_bp_remove(&h, &n[k]);
      if (in[k]) count--;
      in[k] = 0;
      CHECK(!valk_bp_contains(&n[k]));
    }
    CHECK(valk_bp_size(&h) == count && valk_bp_check(&h) == 0);
    CHECK(valk_bp_peek(&h) == model_pick(n, in, 0));
    CHECK(valk_bp_lowest(&h) == model_pick(n, in, 1));
  }
  valk_bp_destroy(&h);
}

/* ---- per-address table ---- */

static struct sockaddr_in mk_v4(uint32_t host_order, uint16_t port) {
  struct sockaddr_in a;
  memset(&a, 0, sizeof(a));
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(host_order);
  return a;
}

static struct sockaddr_in6 mk_v6_mapped(uint32_t host_order, uint16_t port) {
  struct sockaddr_in6 a;
  uint32_t be = htonl(host_order);
  memset(&a, 0, sizeof(a));
  a.sin6_family = AF_INET6;
  a.sin6_port = htons(port);
  a.sin6_addr.s6_addr[10] = 0xff;
  a.sin6_addr.s6_addr[11] = 0xff;
  memcpy(&a.sin6_addr.s6_addr[12], &be, 4);
  return a;
}

static struct sockaddr_in6 mk_v6(uint32_t k, uint16_t port) {
  struct sockaddr_in6 a;
  memset(&a, 0, sizeof(a));
  a.sin6_family = AF_INET6;
  a.sin6_port = htons(port);
  CHECK(inet_pton(AF_INET6, "2001:db8::", &a.sin6_addr) == 1);
  a.sin6_addr.s6_addr[12] = (uint8_t)(k >> 24);
  a.sin6_addr.s6_addr[13] = (uint8_t)(k >> 16);
  a.sin6_addr.s6_addr[14] = (uint8_t)(k >> 8);
  a.sin6_addr.s6_addr[15] = (uint8_t)k;
  return a;
}

#define SA(x) ((const struct sockaddr *)(const void *)&(x))

static void test_ip_table_v4_mapped(void) {
  valk_ip_table_t t;
  struct sockaddr_in v4 = mk_v4(0x0a010203, 1111);
  struct sockaddr_in6 mapped = mk_v6_mapped(0x0a010203, 2222), v6 = mk_v6(1, 3333);
  struct sockaddr_un un;

  memset(&un, 0, sizeof(un));
  un.sun_family = AF_UNIX;
  CHECK(valk_ip_table_init(&t, 16) == 0);
  CHECK(t.mask == 31 && t.max_entries == 16 && t.len == 0);
  CHECK(valk_ip_table_entry_size() >= 20);
  CHECK(valk_ip_table_acquire(&t, SA(v4), 10) == 0);
  CHECK(valk_ip_table_acquire(&t, SA(mapped), 10) == 0);
  CHECK(t.len == 1);
  CHECK(valk_ip_table_count(&t, SA(v4)) == 2 && valk_ip_table_count(&t, SA(mapped)) == 2);
  CHECK(valk_ip_table_acquire(&t, SA(v6), 10) == 0);
  CHECK(t.len == 2 && valk_ip_table_count(&t, SA(v6)) == 1);
  CHECK(valk_ip_table_acquire(&t, SA(un), 10) == VALK_EINVAL);
  CHECK(valk_ip_table_acquire(&t, NULL, 10) == VALK_EINVAL);
  CHECK(valk_ip_table_count(&t, SA(un)) == 0);
  valk_ip_table_release(&t, SA(un)); /* no-op */
  valk_ip_table_release(&t, SA(mapped));
  valk_ip_table_release(&t, SA(v4));
  CHECK(valk_ip_table_count(&t, SA(v4)) == 0 && t.len == 1);
  CHECK(valk_ip_table_check(&t) == 0);
  valk_ip_table_destroy(&t);
}

static void test_ip_table_limit(void) {
  valk_ip_table_t t;
  struct sockaddr_in a = mk_v4(0xc0a80001, 1), b = mk_v4(0xc0a80002, 1);

  CHECK(valk_ip_table_init(&t, 4) == 0);
  for (int i = 0; i < 3; i++) CHECK(valk_ip_table_acquire(&t, SA(a), 3) == 0);
  CHECK(valk_ip_table_acquire(&t, SA(a), 3) == VALK_ELIMIT);
  CHECK(valk_ip_table_count(&t, SA(a)) == 3);
  CHECK(valk_ip_table_acquire(&t, SA(a), 4) == 0); /* the limit is the caller's */
  valk_ip_table_release(&t, SA(a));
  valk_ip_table_release(&t, SA(a));
  CHECK(valk_ip_table_count(&t, SA(a)) == 2);
  CHECK(valk_ip_table_acquire(&t, SA(a), 3) == 0);
  CHECK(valk_ip_table_acquire(&t, SA(b), 0) == VALK_ELIMIT && t.len == 1); /* limit 0 */
  valk_ip_table_release(&t, SA(b)); /* absent: no-op */
  for (int i = 0; i < 3; i++) valk_ip_table_release(&t, SA(a));
  CHECK(valk_ip_table_count(&t, SA(a)) == 0 && t.len == 0);
  valk_ip_table_release(&t, SA(a)); /* already gone: no-op */
  CHECK(t.len == 0 && valk_ip_table_check(&t) == 0);
  valk_ip_table_destroy(&t);
}

static void test_ip_table_full(void) {
  valk_ip_table_t t, t2, zero;
  struct sockaddr_in a;
  struct sockaddr_in6 b;

  memset(&zero, 0, sizeof(zero));
  valk_ip_table_destroy(&zero); /* safe on zeroed */
  CHECK(valk_ip_table_init(&t, 0) == VALK_EINVAL);
  CHECK(valk_ip_table_init(&t, (UINT32_C(1) << 30) + 1) == VALK_EINVAL);
  a = mk_v4(0x0a000001, 80);
  CHECK(valk_ip_table_acquire(&t, SA(a), 1) == VALK_EINVAL); /* failed init left it zeroed */
  CHECK(valk_ip_table_count(&t, SA(a)) == 0);
  CHECK(valk_ip_table_init(&t, 100) == 0);
  CHECK(t.mask == 255);
  CHECK(valk_ip_table_init(&t2, 100) == 0);
  CHECK(t.seed != t2.seed); /* per-table random seeds (fails once in 2^64) */
  valk_ip_table_destroy(&t2);
  for (uint32_t i = 0; i < 100; i++) {
    if (i % 2) {
      b = mk_v6(i, 80);
      CHECK(valk_ip_table_acquire(&t, SA(b), 2) == 0);
    } else {
      a = mk_v4(0x0a000000 + i, 80);
      CHECK(valk_ip_table_acquire(&t, SA(a), 2) == 0);
    }
  }
  CHECK(t.len == 100 && valk_ip_table_check(&t) == 0);
  a = mk_v4(0x0b000000, 80);
  CHECK(valk_ip_table_acquire(&t, SA(a), 2) == VALK_EFULL);
  CHECK(valk_ip_table_count(&t, SA(a)) == 0 && t.len == 100);
  b = mk_v6(1, 80);
  CHECK(valk_ip_table_acquire(&t, SA(b), 2) == 0); /* a known address still counts */
  CHECK(valk_ip_table_acquire(&t, SA(b), 2) == VALK_ELIMIT);
  valk_ip_table_release(&t, SA(b));
  CHECK(valk_ip_table_acquire(&t, SA(a), 2) == VALK_EFULL); /* b still holds its entry */
  valk_ip_table_release(&t, SA(b));
  CHECK(valk_ip_table_acquire(&t, SA(a), 2) == 0);
  CHECK(t.len == 100 && valk_ip_table_check(&t) == 0);
  valk_ip_table_destroy(&t);
  valk_ip_table_destroy(&t);
  CHECK(t.entries == NULL);
}

/* Address k of the fuzz universe: even k are IPv4 (given in either form). */
static int fuzz_acquire(valk_ip_table_t *t, uint32_t k, uint32_t limit, int op) {
  struct sockaddr_in a;
  struct sockaddr_in6 b;

  if (k % 2 == 0 && rnd(2)) {
    a = mk_v4(0x0a000000 + k, (uint16_t)k);
    return op == 0 ? valk_ip_table_acquire(t, SA(a), limit)
           : op == 1 ? (valk_ip_table_release(t, SA(a)), 0)
                     : (int)valk_ip_table_count(t, SA(a));
  }
  b = k % 2 == 0 ? mk_v6_mapped(0x0a000000 + k, 9) : mk_v6(k, 9);
  return op == 0 ? valk_ip_table_acquire(t, SA(b), limit)
         : op == 1 ? (valk_ip_table_release(t, SA(b)), 0)
                   : (int)valk_ip_table_count(t, SA(b));
}

static void ip_fuzz_run(uint32_t max_entries, uint32_t universe, uint64_t seed, int ops) {
  enum { LIMIT = 3 };
  valk_ip_table_t t;
  uint32_t model[512] = {0}, distinct = 0;

  CHECK(universe <= 512);
  CHECK(valk_ip_table_init(&t, max_entries) == 0);
  t.seed = seed; /* fixed layout, so a failure reproduces */
  for (int op = 0; op < ops; op++) {
    uint32_t k = rnd(universe);
    if (rnd(100) < 55) {
      int rc = fuzz_acquire(&t, k, LIMIT, 0);
      if (model[k] >= LIMIT) CHECK(rc == VALK_ELIMIT);
      else if (model[k] == 0 && distinct == max_entries) CHECK(rc == VALK_EFULL);
      else {
        CHECK(rc == 0);
        if (model[k]++ == 0) distinct++;
      }
    } else {
      fuzz_acquire(&t, k, LIMIT, 1);
      if (model[k] > 0 && --model[k] == 0) distinct--;
    }
    CHECK(t.len == distinct && valk_ip_table_check(&t) == 0);
    if (op % 64 == 0) {
      for (uint32_t j = 0; j < universe; j++) CHECK((uint32_t)fuzz_acquire(&t, j, 0, 2) == model[j]);
    }
  }
  for (uint32_t j = 0; j < universe; j++) {
    while (model[j] > 0) {
      fuzz_acquire(&t, j, 0, 1);
      model[j]--;
    }
  }
  CHECK(t.len == 0 && valk_ip_table_check(&t) == 0);
  valk_ip_table_destroy(&t);
}

static void test_ip_table_fuzz(void) {
  ip_fuzz_run(64, 160, 0x0123456789abcdefull, 20000); /* often full: EFULL paths */
  ip_fuzz_run(8, 12, 42, 20000);                      /* 16 slots: long runs, wraparound */
  ip_fuzz_run(200, 260, 7, 20000);
  ip_fuzz_run(5, 5, 99, 5000);                        /* every address fits */
}

int main(void) {
  static void (*const tests[])(void) = {
      test_watermark_states,      test_watermark_admit_rule,  test_watermark_hysteresis_high,
      test_watermark_hysteresis_critical, test_watermark_clamp, test_resume_threshold,
      test_bp_priority,           test_bp_heap_order,         test_bp_heap_remove_middle,
      test_bp_heap_full_and_lowest, test_bp_heap_fuzz,        test_ip_table_v4_mapped,
      test_ip_table_limit,        test_ip_table_full,         test_ip_table_fuzz,
  };
  size_t i;

  for (i = 0; i < sizeof(tests) / sizeof(tests[0]); i++) tests[i]();
  printf("test_valk_admission: %zu passed\n", i);
  return 0;
}
