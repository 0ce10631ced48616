// sources: valk_h2_mem.c valk_common.c
/* A connection's HTTP/2 memory budget: nghttp2 is refused past the cap, the
 * server's own allocations past three quarters of it; the system gauges follow. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "valk_h2_mem.h"

#include "valk_test.h"

static void test_hard_and_soft_caps(void) {
  valk_h2_budget_t b;
  VALK_ATOMIC(uint64_t) bytes = 0, peak = 0;
  nghttp2_mem mem;
  void *a, *c, *d;
  valk_h2_budget_init(&b, 1000, &bytes, &peak);
  valk_h2_budget_mem(&b, &mem);
  CHECK(b.soft == 750);
  a = valk_h2_budget_alloc(&b, 700); /* ours: within 750 */
  CHECK(a != NULL && b.used == 700 && bytes == 700);
  CHECK(valk_h2_budget_alloc(&b, 100) == NULL && b.refused == 1); /* 800 > soft */
  c = mem.malloc(250, mem.mem_user_data); /* nghttp2: up to the cap */
  CHECK(c != NULL && b.used == 950);
  CHECK(mem.malloc(51, mem.mem_user_data) == NULL && b.refused == 2 && b.hard_refused == 1);
  CHECK(mem.calloc(10, 6, mem.mem_user_data) == NULL);
  d = mem.calloc(10, 5, mem.mem_user_data);
  CHECK(d != NULL && b.used == 1000 && ((unsigned char *)d)[49] == 0);
  mem.free(d, mem.mem_user_data);
  mem.free(c, mem.mem_user_data);
  CHECK(b.used == 700 && peak == 1000 && b.peak == 1000);
  /* realloc: growing past the soft cap leaves the block as it was. */
  memset(a, 7, 700);
  CHECK(valk_h2_budget_realloc(&b, a, 800) == NULL && b.used == 700);
  a = valk_h2_budget_realloc(&b, a, 750);
  CHECK(a != NULL && ((unsigned char *)a)[699] == 7 && b.used == 750);
  a = valk_h2_budget_realloc(&b, a, 10); /* shrinking always works */
  CHECK(a != NULL && b.used == 10);
  valk_h2_budget_free(&b, a);
  valk_h2_budget_free(&b, NULL);
  CHECK(b.used == 0 && bytes == 0 && peak == 1000);
}

static void test_no_cap(void) {
  valk_h2_budget_t b;
  void *p;
  valk_h2_budget_init(&b, 0, NULL, NULL);
  p = valk_h2_budget_alloc(&b, 1 << 20);
  CHECK(p != NULL && b.used == 1 << 20);
  valk_h2_budget_free(&b, p);
  CHECK(b.used == 0);
}

/* Two budgets share the system gauges: each connection counts its own. */
static void test_shared_gauges(void) {
  valk_h2_budget_t x, y;
  VALK_ATOMIC(uint64_t) bytes = 0, peak = 0;
  void *p, *q;
  valk_h2_budget_init(&x, 100, &bytes, &peak);
  valk_h2_budget_init(&y, 100, &bytes, &peak);
  p = valk_h2_budget_alloc(&x, 60);
  q = valk_h2_budget_alloc(&y, 60); /* 60 of y's 75, though the sum is 120 */
  CHECK(p != NULL && q != NULL && bytes == 120 && peak == 120);
  valk_h2_budget_free(&x, p);
  valk_h2_budget_free(&y, q);
  CHECK(bytes == 0);
}

/* Page blocks: nghttp2's large allocations come page-aligned and zeroed from
 * the reservation, resize in place within their block, go back on free, and
 * fall back to malloc when a class has no free block. */
static void test_page_blocks(void) {
  valk_h2_pages_t pages;
  valk_h2_budget_t b;
  nghttp2_mem mem;
  size_t page = (size_t)sysconf(_SC_PAGESIZE);
  unsigned char *fb, *map, *m2, *other, *moved;
  size_t i;
  int zero = 1;
  CHECK(valk_h2_pages_init(&pages, 1) == 0);
  valk_h2_budget_init(&b, 0, NULL, NULL);
  b.pages = &pages;
  valk_h2_budget_mem(&b, &mem);
  fb = mem.realloc(NULL, 16394, mem.mem_user_data); /* the frame buffer, as nghttp2 asks for it */
  map = mem.calloc(1, 4096, mem.mem_user_data);     /* the stream map's table */
  CHECK(fb != NULL && map != NULL && b.used == 16394 + 4096);
  CHECK((uintptr_t)fb % page == 0 && (uintptr_t)map % page == 0);
  CHECK(pages.nfree[0] == 0 && pages.nfree[1] == 0);
  for (i = 0; i < 4096; i++) zero &= map[i] == 0;
  CHECK(zero);
  memset(fb, 5, 16394);
  memset(map, 6, 4096);
  m2 = mem.calloc(1, 4096, mem.mem_user_data); /* no block left: malloc, zeroed all the same */
  CHECK(m2 != NULL && m2[4095] == 0 && pages.nfree[0] == 0);
  other = mem.malloc(100, mem.mem_user_data);  /* small: malloc */
  CHECK(other != NULL && b.used == 16394 + 4096 + 4096 + 100);
  fb = mem.realloc(fb, 18000, mem.mem_user_data); /* within its 5 pages: in place */
  CHECK(fb != NULL && (uintptr_t)fb % page == 0 && fb[16393] == 5 && b.used == 18000 + 8192 + 100);
  moved = mem.realloc(fb, 64 * 1024, mem.mem_user_data); /* past its block: moved, bytes kept */
  CHECK(moved != NULL && moved[0] == 5 && moved[16393] == 5 && pages.nfree[1] == 1);
  mem.free(map, mem.mem_user_data);
  CHECK(pages.nfree[0] == 1);
  map = mem.calloc(4, 1024, mem.mem_user_data); /* the freed block again: zero once more */
  CHECK(map != NULL && (uintptr_t)map % page == 0 && map[0] == 0 && map[4095] == 0);
  mem.free(map, mem.mem_user_data);
  mem.free(m2, mem.mem_user_data);
  mem.free(other, mem.mem_user_data);
  mem.free(moved, mem.mem_user_data);
  CHECK(b.used == 0 && pages.nfree[0] == 1 && pages.nfree[1] == 1);
  valk_h2_pages_destroy(&pages);
  CHECK(pages.base == NULL);
  valk_h2_pages_destroy(&pages); /* twice: safe */
}

int main(void) {
  test_hard_and_soft_caps();
  test_no_cap();
  test_shared_gauges();
  test_page_blocks();
  printf("test_valk_h2_mem: 4 passed\n");
  return 0;
}
