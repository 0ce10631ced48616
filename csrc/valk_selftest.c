/*
 * valk_selftest.c: see valk_selftest.h. Only the test suite calls it.
 */
#include "valk_selftest.h"

#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "valk_common.h"
#include "valk_slab.h"

#define VALK_STRESS_MAX_THREADS 16
#define VALK_STRESS_HOLD 4

typedef struct {
  valk_slab_t *slab;
  uint32_t id;
  uint32_t iterations;
  uint64_t violations;
  uint64_t acquired;
} valk__stress_arg_t;

static void valk__stress_thread(void *p) {
  valk__stress_arg_t *a = p;
  VALK_ATOMIC(uint64_t) *held[VALK_STRESS_HOLD];
  uint32_t i, k, n;

  for (i = 0; i < a->iterations; i++) {
    for (n = 0; n < VALK_STRESS_HOLD; n++) {
      held[n] = valk_slab_acquire(a->slab);
      if (held[n] == NULL) break;
      a->acquired++;
      if (atomic_exchange(held[n], a->id) != 0) a->violations++;
    }
    for (k = 0; k < n; k++) {
      if (atomic_exchange(held[k], 0) != a->id) a->violations++;
      if (valk_slab_release(a->slab, (void *)held[k]) != 0) a->violations++;
    }
  }
}

int valk_selftest_slab_stress(uint32_t threads, uint32_t iterations, uint32_t items,
                              valk_slab_stress_result_t *out) {
  valk__stress_arg_t args[VALK_STRESS_MAX_THREADS];
  uv_thread_t tids[VALK_STRESS_MAX_THREADS];
  valk_slab_t *slab;
  uint32_t t;
  int rc;

  memset(out, 0, sizeof(*out));
  if (threads < 1 || threads > VALK_STRESS_MAX_THREADS) return VALK_EINVAL;
  rc = valk_slab_new(&slab, sizeof(uint64_t), items);
  if (rc != 0) return rc;
  for (t = 0; t < threads; t++) {
    memset(&args[t], 0, sizeof(args[t]));
    args[t].slab = slab;
    args[t].id = t + 1;
    args[t].iterations = iterations;
    rc = uv_thread_create(&tids[t], valk__stress_thread, &args[t]);
    if (rc != 0) break;
  }
  threads = t;
  for (t = 0; t < threads; t++) {
    uv_thread_join(&tids[t]);
    out->violations += args[t].violations;
    out->acquired += args[t].acquired;
  }
  out->overflow = valk_slab_overflow(slab);
  out->available = valk_slab_available(slab);
  out->count = slab->count;
  valk_slab_free(slab);
  return rc;
}
