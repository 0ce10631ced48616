// sources: valk_h2_rules.c
/* Frame boundaries found across any split of the input; closed-stream records;
 * RFC 9113 §5.1 verdicts for each case the server judges itself. */
#include <stdio.h>
#include <string.h>

#include "valk_h2_rules.h"

#include "valk_test.h"

static size_t frame(uint8_t *p, uint32_t len, uint8_t type, uint8_t flags, int32_t id) {
  p[0] = (uint8_t)(len >> 16);
  p[1] = (uint8_t)(len >> 8);
  p[2] = (uint8_t)len;
  p[3] = type;
  p[4] = flags;
  p[5] = (uint8_t)((uint32_t)id >> 24);
  p[6] = (uint8_t)(id >> 16);
  p[7] = (uint8_t)(id >> 8);
  p[8] = (uint8_t)id;
  memset(p + 9, 0xab, len);
  return 9 + len;
}

/* The preface, then frames of lengths 0, 5, 16384, 1: every split point and
 * every chunk size finds the same four headers at the same offsets. */
static void test_frame_scan_any_split(void) {
  static uint8_t in[24 + 4 * 9 + 16390];
  size_t len = 24, ends[4], found[4];
  uint32_t lens[4] = {0, 5, 16384, 1};
  size_t chunk;
  int i;
  memset(in, 'P', 24);
  for (i = 0; i < 4; i++) {
    ends[i] = len + 8;
    len += frame(in + len, lens[i], (uint8_t)i, (uint8_t)(i + 1), 2 * i + 1);
  }
  for (chunk = 1; chunk <= len; chunk += chunk < 40 ? 1 : 997) {
    valk_frame_scan_t s;
    size_t at = 0;
    int nf = 0;
    valk_frame_scan_init(&s, VALK_CLIENT_PREFACE_LEN);
    while (at < len) {
      size_t n = len - at < chunk ? len - at : chunk, off = 0;
      while (off < n) {
        valk_frame_hd_t hd;
        size_t k = valk_frame_scan(&s, in + at + off, n - off, &hd);
        if (k == n - off) break;
        CHECK(nf < 4);
        found[nf] = at + off + k;
        CHECK(hd.length == lens[nf] && hd.type == nf && hd.flags == nf + 1 && hd.stream_id == 2 * nf + 1);
        nf++;
        off += k + 1;
      }
      at += n;
    }
    CHECK(nf == 4);
    for (i = 0; i < 4; i++) CHECK(found[i] == ends[i]);
  }
}

static void test_reserved_bit_ignored(void) {
  uint8_t p[9];
  valk_frame_scan_t s;
  valk_frame_hd_t hd;
  frame(p, 0, VALK_FRAME_PING, 0, 0);
  p[5] = 0x80; /* the reserved bit */
  valk_frame_scan_init(&s, 0);
  CHECK(valk_frame_scan(&s, p, 9, &hd) == 8 && hd.stream_id == 0);
}

static void test_closed_ring(void) {
  valk_closed_ring_t r;
  int32_t id;
  memset(&r, 0, sizeof(r));
  CHECK(valk_closed_find(&r, 1) == VALK_CLOSED_NONE);
  valk_closed_add(&r, 1, VALK_CLOSED_NORMAL);
  valk_closed_add(&r, 3, VALK_CLOSED_RESET);
  CHECK(valk_closed_find(&r, 1) == VALK_CLOSED_NORMAL && valk_closed_find(&r, 3) == VALK_CLOSED_RESET);
  valk_closed_add(&r, 1, VALK_CLOSED_RESET); /* a reset wins */
  CHECK(valk_closed_find(&r, 1) == VALK_CLOSED_RESET);
  for (id = 101; id < 101 + 2 * VALK_CLOSED_NORMALS; id += 2) valk_closed_add(&r, id, VALK_CLOSED_NORMAL);
  CHECK(valk_closed_find(&r, 101) == VALK_CLOSED_NORMAL); /* the oldest of 16 is still there */
  valk_closed_add(&r, 999, VALK_CLOSED_NORMAL);
  CHECK(valk_closed_find(&r, 101) == VALK_CLOSED_NONE);
  CHECK(valk_closed_find(&r, 3) == VALK_CLOSED_RESET); /* normals never push out resets */
  for (id = 1001; id < 1001 + 2 * VALK_CLOSED_RESETS; id += 2) valk_closed_add(&r, id, VALK_CLOSED_RESET);
  CHECK(valk_closed_find(&r, 3) == VALK_CLOSED_NONE && valk_closed_find(&r, 1001) == VALK_CLOSED_RESET);
}

static valk_frame_verdict_t verdict(const valk_closed_ring_t *r, uint8_t type, int32_t id, int open, int rc) {
  valk_frame_hd_t hd = {0, type, 0, id};
  return valk_h2_frame_verdict(r, 9, &hd, open, rc);
}

static void test_verdicts(void) {
  valk_closed_ring_t r;
  memset(&r, 0, sizeof(r));
  valk_closed_add(&r, 3, VALK_CLOSED_NORMAL);
  valk_closed_add(&r, 5, VALK_CLOSED_RESET);
  /* Open streams: fine, unless the client already ended them. */
  CHECK(verdict(&r, VALK_FRAME_DATA, 7, 1, 0) == VALK_VERDICT_PASS);
  CHECK(verdict(&r, VALK_FRAME_DATA, 7, 1, 1) == VALK_VERDICT_STREAM_CLOSED);
  CHECK(verdict(&r, VALK_FRAME_HEADERS, 7, 1, 1) == VALK_VERDICT_STREAM_CLOSED);
  /* Closed normally: a connection error. */
  CHECK(verdict(&r, VALK_FRAME_DATA, 3, 0, 0) == VALK_VERDICT_CONN_CLOSED);
  CHECK(verdict(&r, VALK_FRAME_HEADERS, 3, 0, 0) == VALK_VERDICT_CONN_CLOSED);
  /* Reset: late frames are ignored. */
  CHECK(verdict(&r, VALK_FRAME_DATA, 5, 0, 0) == VALK_VERDICT_PASS);
  CHECK(verdict(&r, VALK_FRAME_HEADERS, 5, 0, 0) == VALK_VERDICT_PASS);
  /* A lower id never seen (skipped, or long gone): HEADERS opens a stream lower than one used. */
  CHECK(verdict(&r, VALK_FRAME_HEADERS, 1, 0, 0) == VALK_VERDICT_CONN_PROTOCOL);
  CHECK(verdict(&r, VALK_FRAME_DATA, 1, 0, 0) == VALK_VERDICT_PASS);
  /* New ids, other frame types, stream 0, even ids: nghttp2's to judge. */
  CHECK(verdict(&r, VALK_FRAME_HEADERS, 11, 0, 0) == VALK_VERDICT_PASS);
  CHECK(verdict(&r, VALK_FRAME_RST_STREAM, 3, 0, 0) == VALK_VERDICT_PASS);
  CHECK(verdict(&r, VALK_FRAME_PRIORITY, 1, 0, 0) == VALK_VERDICT_PASS);
  CHECK(verdict(&r, VALK_FRAME_DATA, 0, 0, 0) == VALK_VERDICT_PASS);
  CHECK(verdict(&r, VALK_FRAME_HEADERS, 2, 0, 0) == VALK_VERDICT_PASS);
}

int main(void) {
  test_frame_scan_any_split();
  test_reserved_bit_ignored();
  test_closed_ring();
  test_verdicts();
  printf("test_valk_h2_rules: 4 passed\n");
  return 0;
}
