// sources: valk_ring.c valk_common.c
/* The bounded ring: FIFO order, full at capacity, "was empty" on the first push. */
#include <stdio.h>
#include <stdlib.h>

#include "valk_ring.h"

#include "valk_test.h"

int main(void) {
  valk_ring_t r;
  int items[4];
  void *out[8];
  CHECK(valk_ring_init(&r, 4) == 0);
  CHECK(valk_ring_push(&r, &items[0]) == 1);
  CHECK(valk_ring_push(&r, &items[1]) == 0);
  CHECK(valk_ring_push(&r, &items[2]) == 0);
  CHECK(valk_ring_push(&r, &items[3]) == 0);
  CHECK(valk_ring_push(&r, &items[0]) < 0);
  CHECK(valk_ring_drain(&r, out, 8) == 4);
  CHECK(out[0] == &items[0] && out[3] == &items[3]);
  CHECK(valk_ring_push(&r, &items[2]) == 1);
  valk_ring_destroy(&r);
  printf("test_valk_ring: 1 passed\n");
  return 0;
}
