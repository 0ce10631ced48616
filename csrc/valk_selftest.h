/*
 * valk_selftest.h: checks that need real threads, run from the test suite
 * through the binding. Thread: the caller's, which starts and joins its own.
 */
#ifndef VALK_SELFTEST_H
#define VALK_SELFTEST_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct valk_slab_stress_result {
  uint64_t violations; /* an item held by two threads at once, or a bad release */
  uint64_t acquired;   /* successful acquires */
  uint64_t overflow;   /* acquires that found the slab empty */
  uint32_t available;  /* free items after every thread released everything */
  uint32_t count;
} valk_slab_stress_result_t;

/*
 * threads threads each run iterations rounds of: acquire up to 4 items, claim
 * each by swapping an owner word from 0 to its id (a non-zero previous value
 * is a violation), check, clear, release. items is the slab size.
 * Returns 0 or a negative error.
 */
int valk_selftest_slab_stress(uint32_t threads, uint32_t iterations, uint32_t items,
                              valk_slab_stress_result_t *out);

#ifdef __cplusplus
}
#endif
#endif /* VALK_SELFTEST_H */
