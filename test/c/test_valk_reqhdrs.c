// sources: valk_reqhdrs.c valk_h2_mem.c valk_common.c
/* Header lists: RFC 9113 sizes and pair counts against the limits, the kept
 * copy exported in order, trailers counted as their own section. */
#include <stdio.h>
#include <string.h>

#include "valk_reqhdrs.h"

#include "valk_test.h"

static void test_counts_as_rfc9113(void) {
  valk_reqhdrs_t h;
  valk_hdr_limits_t lim = {100, 3};
  memset(&h, 0, sizeof(h));
  CHECK(valk_reqhdrs_count(&h, &lim, 5, 13) == 0); /* 50 */
  CHECK(h.section_size == 50);
  CHECK(valk_reqhdrs_count(&h, &lim, 10, 8) == 0); /* 100: at the limit */
  CHECK(valk_reqhdrs_count(&h, &lim, 0, 0) == VALK_ELIMIT); /* 132 */
  valk_reqhdrs_section(&h); /* trailers: their own section */
  CHECK(h.section_size == 0 && h.section_pairs == 0);
  lim.max_list_size = 1000;
  CHECK(valk_reqhdrs_count(&h, &lim, 1, 1) == 0);
  CHECK(valk_reqhdrs_count(&h, &lim, 1, 1) == 0);
  CHECK(valk_reqhdrs_count(&h, &lim, 1, 1) == 0);
  CHECK(valk_reqhdrs_count(&h, &lim, 1, 1) == VALK_ELIMIT); /* a 4th pair */
}

static void test_huge_field_does_not_wrap(void) {
  valk_reqhdrs_t h;
  valk_hdr_limits_t lim = {65536, 128};
  memset(&h, 0, sizeof(h));
  CHECK(valk_reqhdrs_count(&h, &lim, 4000, (size_t)UINT32_MAX) == VALK_ELIMIT);
  CHECK(h.section_size == UINT32_MAX);
  CHECK(valk_reqhdrs_count(&h, &lim, 1, 1) == VALK_ELIMIT);
}

static void test_keep_and_export(void) {
  valk_reqhdrs_t h;
  valk_h2_budget_t b;
  valk_hdr_t out[300];
  uint8_t dst[8192];
  char name[16], value[32];
  int i;
  memset(&h, 0, sizeof(h));
  valk_h2_budget_init(&b, 1 << 20, NULL, NULL);
  for (i = 0; i < 300; i++) {
    int nl = snprintf(name, sizeof(name), "h%d", i), vl = snprintf(value, sizeof(value), "value-%d", i * 7);
    CHECK(valk_reqhdrs_keep(&h, &b, (const uint8_t *)name, (size_t)nl, (const uint8_t *)value, (size_t)vl) == 0);
  }
  CHECK(h.n == 300 && b.used == h.cap);
  CHECK(valk_reqhdrs_bytes(&h) < sizeof(dst));
  valk_reqhdrs_export(&h, dst, out);
  CHECK(out[0].name_len == 2 && memcmp(out[0].name, "h0", 2) == 0);
  CHECK(out[0].value_len == 7 && memcmp(out[0].value, "value-0", 7) == 0);
  CHECK(out[299].name_len == 4 && memcmp(out[299].name, "h299", 4) == 0);
  CHECK(out[299].value_len == 10 && memcmp(out[299].value, "value-2093", 10) == 0);
  CHECK(out[299].value + out[299].value_len == dst + valk_reqhdrs_bytes(&h));
  valk_reqhdrs_drop(&h, &b);
  CHECK(h.n == 0 && h.buf == NULL && b.used == 0);
}

static void test_keep_refused_by_budget(void) {
  valk_reqhdrs_t h;
  valk_h2_budget_t b;
  uint8_t big[600];
  memset(&h, 0, sizeof(h));
  memset(big, 'x', sizeof(big));
  valk_h2_budget_init(&b, 1000, NULL, NULL); /* soft cap 750 */
  CHECK(valk_reqhdrs_keep(&h, &b, (const uint8_t *)"a", 1, big, 300) == 0);
  CHECK(valk_reqhdrs_keep(&h, &b, (const uint8_t *)"b", 1, big, 600) == VALK_ENOMEM);
  CHECK(h.n == 1 && b.refused == 1); /* the kept one is intact */
  valk_reqhdrs_drop(&h, &b);
  CHECK(b.used == 0);
}

int main(void) {
  test_counts_as_rfc9113();
  test_huge_field_does_not_wrap();
  test_keep_and_export();
  test_keep_refused_by_budget();
  printf("test_valk_reqhdrs: 4 passed\n");
  return 0;
}
