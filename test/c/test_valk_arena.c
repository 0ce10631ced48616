// sources: valk_arena.c valk_slab.c valk_common.c
/*
 * The arena pool: init checks and rounding, acquire until exhausted, bump
 * allocation with alignment, allocations that do not fit, release and reuse,
 * high-water marks, the committed estimate, and real RSS: reserving
 * 200 x 64 MiB costs almost nothing, a released arena stays warm, and a trim
 * a period later gives its touched pages back.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "valk_arena.h"

#include "valk_test.h"

#define KIB ((size_t)1024)
#define MIB (KIB * 1024)

static size_t page;

/* VmRSS of this process in bytes. */
static size_t rss_bytes(void) {
  char line[256];
  size_t kb = 0;
  FILE *f = fopen("/proc/self/status", "r");

  CHECK(f != NULL);
  while (fgets(line, sizeof(line), f) != NULL)
    if (sscanf(line, "VmRSS: %zu kB", &kb) == 1) break;
  fclose(f);
  CHECK(kb > 0);
  return kb * KIB;
}

static void test_init_errors(void) {
  valk_arena_pool_t p;

  CHECK(valk_arena_pool_init(&p, 0, MIB, 0) == VALK_EINVAL);
  CHECK(p.base == NULL && p.headers == NULL);
  CHECK(valk_arena_pool_init(&p, 4, 0, 0) == VALK_EINVAL);
  CHECK(valk_arena_pool_init(&p, UINT32_MAX, page, 0) == VALK_EINVAL);
  CHECK(valk_arena_pool_init(&p, 1, SIZE_MAX, 0) == VALK_EINVAL);
  CHECK(valk_arena_pool_init(&p, 16, (SIZE_MAX / 8) & ~(page - 1), 0) == VALK_EINVAL);
  valk_arena_pool_destroy(&p); /* after a failed init: a no-op */

  memset(&p, 0, sizeof(p)); /* destroy and the getters are safe on a zeroed pool */
  CHECK(valk_arena_pool_used(&p) == 0 && valk_arena_pool_available(&p) == 0);
  CHECK(valk_arena_pool_overflow(&p) == 0 && valk_arena_hwm_at(&p, 0) == 0);
  valk_arena_pool_destroy(&p);
  valk_arena_pool_destroy(&p);
}

static void test_rounding(void) {
  valk_arena_pool_t p;

  CHECK(valk_arena_pool_init(&p, 2, page + 1, page + 1) == 0);
  CHECK(p.arena_size == 2 * page); /* arena_size rounds up */
  CHECK(p.keep == page);           /* keep rounds down */
  CHECK(((uintptr_t)p.base & (page - 1)) == 0);
  valk_arena_pool_destroy(&p);
  CHECK(p.base == NULL && p.headers == NULL);
  valk_arena_pool_destroy(&p);

  CHECK(valk_arena_pool_init(&p, 1, page, 10 * page) == 0);
  CHECK(p.keep == page); /* keep is capped at arena_size */
  valk_arena_pool_destroy(&p);
}

static void test_acquire_all(void) {
  valk_arena_pool_t p;
  valk_arena_t *a[4];
  uint32_t i, j;

  CHECK(valk_arena_pool_init(&p, 4, MIB, 64 * KIB) == 0);
  CHECK(valk_arena_pool_available(&p) == 4 && valk_arena_pool_used(&p) == 0);
  for (i = 0; i < 4; i++) {
    a[i] = valk_arena_acquire(&p);
    CHECK(a[i] != NULL && a[i]->used == 0 && a[i]->index < 4);
    CHECK(a[i]->base == p.base + (size_t)a[i]->index * p.arena_size);
    CHECK(valk_arena_remaining(a[i]) == MIB);
    for (j = 0; j < i; j++) CHECK(a[j]->index != a[i]->index);
  }
  CHECK(valk_arena_pool_used(&p) == 4 && valk_arena_pool_available(&p) == 0);
  CHECK(valk_arena_pool_overflow(&p) == 0);
  CHECK(valk_arena_acquire(&p) == NULL);
  CHECK(valk_arena_acquire(&p) == NULL);
  CHECK(valk_arena_pool_overflow(&p) == 2);

  valk_arena_release(&p, a[2]);
  CHECK(valk_arena_pool_used(&p) == 3 && valk_arena_pool_available(&p) == 1);
  CHECK(valk_arena_acquire(&p) == a[2]);
  for (i = 0; i < 4; i++) valk_arena_release(&p, a[i]);
  CHECK(valk_arena_pool_available(&p) == 4);
  valk_arena_pool_destroy(&p);
}

static void test_alloc_align(void) {
  valk_arena_pool_t p;
  valk_arena_t *a;
  uint8_t *x;

  CHECK(valk_arena_pool_init(&p, 2, MIB, 64 * KIB) == 0);
  a = valk_arena_acquire(&p);
  CHECK(valk_arena_alloc(&p, a, 1, 1) == a->base);
  CHECK(valk_arena_alloc(&p, a, 8, 8) == a->base + 8);
  CHECK(valk_arena_alloc(&p, a, 3, 1) == a->base + 16);
  CHECK(valk_arena_alloc(&p, a, 16, 64) == a->base + 64);
  CHECK(a->used == 80 && valk_arena_remaining(a) == MIB - 80);
  x = valk_arena_alloc(&p, a, 10, 2 * page); /* alignment past a page: by address */
  CHECK(x == a->base + 2 * page && ((uintptr_t)x & (2 * page - 1)) == 0);
  CHECK(a->used == 2 * page + 10);
  /* align not a power of two: NULL, not an alloc failure */
  CHECK(valk_arena_alloc(&p, a, 1, 3) == NULL);
  CHECK(valk_arena_alloc(&p, a, 1, 0) == NULL);
  CHECK(valk_arena_pool_alloc_failures(&p) == 0);
  memset(x, 0x5a, 10);
  valk_arena_release(&p, a);
  valk_arena_pool_destroy(&p);
}

static void test_alloc_full(void) {
  valk_arena_pool_t p;
  valk_arena_t *a;
  size_t left;

  CHECK(valk_arena_pool_init(&p, 1, MIB, 0) == 0);
  a = valk_arena_acquire(&p);
  CHECK(valk_arena_alloc(&p, a, MIB + 1, 1) == NULL);
  CHECK(valk_arena_pool_alloc_failures(&p) == 1 && a->used == 0);
  CHECK(valk_arena_alloc(&p, a, SIZE_MAX, 1) == NULL); /* size + padding must not wrap */
  CHECK(valk_arena_alloc(&p, a, SIZE_MAX - 7, 16) == NULL);
  CHECK(valk_arena_pool_alloc_failures(&p) == 3 && a->used == 0);

  CHECK(valk_arena_alloc(&p, a, 1, 1) != NULL);
  left = valk_arena_remaining(a);
  CHECK(left == MIB - 1);
  CHECK(valk_arena_alloc(&p, a, left, 16) == NULL); /* fits only without the padding */
  CHECK(valk_arena_pool_alloc_failures(&p) == 4);
  CHECK(valk_arena_alloc(&p, a, left - 15, 16) == a->base + 16);
  CHECK(valk_arena_remaining(a) == 0 && a->used == MIB);
  CHECK(valk_arena_alloc(&p, a, 0, 1) == a->base + MIB); /* size 0: a position, not memory */
  CHECK(valk_arena_alloc(&p, a, 1, 1) == NULL);
  CHECK(valk_arena_pool_alloc_failures(&p) == 5);

  valk_arena_release(&p, a);
  a = valk_arena_acquire(&p);
  CHECK(a != NULL && a->used == 0 && valk_arena_remaining(a) == MIB);
  CHECK(valk_arena_alloc(&p, a, MIB, 1) == a->base);
  valk_arena_release(&p, a);
  valk_arena_pool_destroy(&p);
}

static void test_release_misuse(void) {
  valk_arena_pool_t p;
  valk_arena_t *a, other;

  CHECK(valk_arena_pool_init(&p, 2, MIB, 0) == 0);
  a = valk_arena_acquire(&p);
  valk_arena_release(&p, a);
  fprintf(stderr, "test_valk_arena: the next two errors are expected\n");
  valk_arena_release(&p, a); /* twice: logged, ignored */
  valk_arena_release(&p, &other);
  CHECK(valk_arena_pool_available(&p) == 2 && valk_arena_pool_used(&p) == 0);
  valk_arena_pool_destroy(&p);
}

static void test_hwm(void) {
  valk_arena_pool_t p;
  valk_arena_t *a, *b;

  CHECK(valk_arena_pool_init(&p, 3, MIB, 64 * KIB) == 0);
  a = valk_arena_acquire(&p);
  b = valk_arena_acquire(&p);
  CHECK(valk_arena_alloc(&p, a, 300 * KIB, 1) != NULL);
  CHECK(valk_arena_alloc(&p, a, 1, 1) != NULL);
  CHECK(valk_arena_hwm_at(&p, a->index) == 300 * KIB + 1);
  CHECK(valk_arena_pool_hwm(&p) == 300 * KIB + 1);
  valk_arena_release(&p, a);
  a = valk_arena_acquire(&p);
  CHECK(valk_arena_alloc(&p, a, 100 * KIB, 1) != NULL); /* a smaller lifetime keeps the max */
  CHECK(valk_arena_hwm_at(&p, a->index) == 300 * KIB + 1);
  CHECK(valk_arena_alloc(&p, b, 500 * KIB, 1) != NULL);
  CHECK(valk_arena_hwm_at(&p, b->index) == 500 * KIB);
  CHECK(valk_arena_hwm_at(&p, a->index) == 300 * KIB + 1);
  CHECK(valk_arena_pool_hwm(&p) == 500 * KIB);
  CHECK(valk_arena_hwm_at(&p, 2) == 0); /* never acquired */
  CHECK(valk_arena_hwm_at(&p, 3) == 0); /* out of range */
  valk_arena_release(&p, a);
  valk_arena_release(&p, b);
  CHECK(valk_arena_pool_hwm(&p) == 500 * KIB);
  valk_arena_pool_destroy(&p);
}

static void test_committed(void) {
  valk_arena_pool_t p;
  valk_arena_t *a, *b;
  uint64_t peak;
  size_t keep = 64 * KIB;

  CHECK(valk_arena_pool_init(&p, 2, MIB, keep) == 0);
  CHECK(valk_arena_pool_committed(&p) == 0);
  a = valk_arena_acquire(&p);
  b = valk_arena_acquire(&p);
  CHECK(valk_arena_alloc(&p, a, 1, 1) != NULL);
  CHECK(valk_arena_pool_committed(&p) == page && a->dirty == page);
  CHECK(valk_arena_alloc(&p, a, 300 * KIB, 1) != NULL);
  CHECK(valk_arena_pool_committed(&p) == VALK_ALIGN_UP(300 * KIB + 1, page));
  CHECK(valk_arena_alloc(&p, b, 10, 1) != NULL);
  peak = VALK_ALIGN_UP(300 * KIB + 1, page) + page;
  CHECK(valk_arena_pool_committed(&p) == peak);
  CHECK(valk_arena_pool_committed_peak(&p) == peak);

  valk_arena_release(&p, b); /* under keep: nothing to trim, ever */
  CHECK(b->dirty == page && b->used == 0);
  CHECK(valk_arena_pool_committed(&p) == peak);
  valk_arena_release(&p, a); /* stays warm until a trim finds it free for a period */
  CHECK(a->dirty == VALK_ALIGN_UP(300 * KIB + 1, page) && a->used == 0);
  CHECK(valk_arena_pool_committed(&p) == peak && p.warm == 1);

  CHECK(valk_arena_acquire(&p) == a); /* the last released (the warmest) comes back first */
  CHECK(p.warm == 0);
  CHECK(valk_arena_alloc(&p, a, 200 * KIB, 1) != NULL); /* in its warm pages: nothing new */
  CHECK(valk_arena_pool_committed(&p) == peak);
  valk_arena_release(&p, a);
  CHECK(valk_arena_pool_trim(&p) == 0); /* released in this period: kept */
  CHECK(valk_arena_pool_committed(&p) == peak);
  CHECK(valk_arena_pool_trim(&p) == VALK_ALIGN_UP(300 * KIB + 1, page) - keep); /* free a whole period */
  CHECK(a->dirty == keep && p.warm == 0);
  CHECK(valk_arena_pool_committed(&p) == keep + page);
  CHECK(valk_arena_pool_committed_peak(&p) == peak);
  CHECK(valk_arena_pool_trim(&p) == 0); /* nothing warm: O(1) */

  CHECK(valk_arena_acquire(&p) == a);
  CHECK(valk_arena_alloc(&p, a, 10 * KIB, 1) != NULL); /* inside the kept head */
  CHECK(valk_arena_pool_committed(&p) == keep + page);
  CHECK(valk_arena_alloc(&p, a, MIB - 10 * KIB, 1) != NULL); /* the whole arena */
  CHECK(valk_arena_pool_committed(&p) == MIB + page);
  CHECK(valk_arena_pool_committed_peak(&p) == MIB + page);
  CHECK(valk_arena_pool_trim(&p) == 0); /* an acquired arena is never trimmed */
  CHECK(valk_arena_pool_trim(&p) == 0);
  CHECK(a->dirty == MIB);
  valk_arena_release(&p, a);
  valk_arena_pool_trim(&p);
  valk_arena_pool_trim(&p);
  CHECK(valk_arena_pool_committed(&p) <= 2 * keep);
  valk_arena_pool_destroy(&p);
}

static void test_rss(void) {
  valk_arena_pool_t p;
  valk_arena_t *a;
  uint8_t *x;
  size_t before, reserved, touched, released, keep = 64 * KIB, i;

  before = rss_bytes();
  CHECK(valk_arena_pool_init(&p, 200, 64 * MIB, keep) == 0);
  reserved = rss_bytes();
  CHECK(reserved < before + 16 * MIB); /* 12.8 GB of address space, not of RSS */

  a = valk_arena_acquire(&p);
  x = valk_arena_alloc(&p, a, 8 * MIB, 64);
  CHECK(x != NULL);
  memset(x, 0xab, 8 * MIB);
  touched = rss_bytes();
  CHECK(touched >= reserved + 7 * MIB);

  valk_arena_release(&p, a);
  CHECK(rss_bytes() + MIB >= touched); /* free but warm */
  valk_arena_pool_trim(&p);
  valk_arena_pool_trim(&p);
  released = rss_bytes();
  CHECK(released + 6 * MIB <= touched); /* a trim period later madvise gave the pages back */
  CHECK(valk_arena_pool_committed(&p) == keep);

  /* The kept head still holds the old bytes; trimmed pages read as zeros. */
  CHECK(valk_arena_acquire(&p) == a);
  for (i = 0; i < keep; i += page) CHECK(a->base[i] == 0xab);
  for (i = keep; i < 8 * MIB; i += 64 * KIB) CHECK(a->base[i] == 0);
  valk_arena_release(&p, a);

  valk_arena_pool_destroy(&p);
  fprintf(stderr, "test_valk_arena: rss before %zu KiB, reserved %zu, touched %zu, released %zu\n",
          before / KIB, reserved / KIB, touched / KIB, released / KIB);
}

int main(void) {
  page = (size_t)sysconf(_SC_PAGESIZE);
  test_init_errors();
  test_rounding();
  test_acquire_all();
  test_alloc_align();
  test_alloc_full();
  test_release_misuse();
  test_hwm();
  test_committed();
  test_rss();
  printf("test_valk_arena: 9 passed\n");
  return 0;
}
