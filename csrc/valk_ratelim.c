/*
 * valk_ratelim.c: the token bucket. See valk_ratelim.h.
 */
#include "valk_ratelim.h"

#include <assert.h>

void valk_ratelim_init(valk_ratelim_t *r, uint64_t rate, uint64_t burst, uint64_t now_ms) {
  assert(rate >= 1 && burst >= 1);
  r->rate = rate;
  r->cap = burst * 1000;
  r->milli = r->cap;
  r->last_ms = now_ms;
}

int valk_ratelim_take(valk_ratelim_t *r, uint64_t now_ms) {
  if (now_ms > r->last_ms) {
    uint64_t add = (now_ms - r->last_ms) * r->rate; /* rate tokens/s = rate milli-tokens/ms */
    r->milli = add >= r->cap - r->milli ? r->cap : r->milli + add;
    r->last_ms = now_ms;
  }
  if (r->milli < 1000) return -1;
  r->milli -= 1000;
  return 0;
}
