// sources: valk_ratelim.c
/* The token bucket behind the flood guards: a burst, then the rate. */
#include <stdio.h>

#include "valk_ratelim.h"

#include "valk_test.h"

static void test_burst_then_rate(void) {
  valk_ratelim_t r;
  int i;
  valk_ratelim_init(&r, 10, 100, 1000); /* 10/s, burst 100 */
  for (i = 0; i < 100; i++) CHECK(valk_ratelim_take(&r, 1000) == 0);
  CHECK(valk_ratelim_take(&r, 1000) == -1);
  CHECK(valk_ratelim_take(&r, 1099) == -1); /* 0.99 tokens */
  CHECK(valk_ratelim_take(&r, 1100) == 0);  /* one token per 100 ms */
  CHECK(valk_ratelim_take(&r, 1100) == -1);
  CHECK(valk_ratelim_take(&r, 2100) == 0);  /* 1 s: 10 tokens */
  for (i = 0; i < 9; i++) CHECK(valk_ratelim_take(&r, 2100) == 0);
  CHECK(valk_ratelim_take(&r, 2100) == -1);
}

static void test_refill_caps_at_burst(void) {
  valk_ratelim_t r;
  int i;
  valk_ratelim_init(&r, 1000, 5, 0);
  for (i = 0; i < 5; i++) CHECK(valk_ratelim_take(&r, 0) == 0);
  CHECK(valk_ratelim_take(&r, 0) == -1);
  /* An hour idle refills to the burst, not beyond. */
  for (i = 0; i < 5; i++) CHECK(valk_ratelim_take(&r, 3600000) == 0);
  CHECK(valk_ratelim_take(&r, 3600000) == -1);
  /* A clock that goes back takes nothing extra. */
  CHECK(valk_ratelim_take(&r, 10) == -1);
}

int main(void) {
  test_burst_then_rate();
  test_refill_caps_at_burst();
  printf("test_valk_ratelim: 2 passed\n");
  return 0;
}
