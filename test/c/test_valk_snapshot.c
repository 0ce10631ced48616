// sources: valk_snapshot.c valk_slab.c valk_common.c
/*
 * The memory snapshot encoder (valk_snapshot.h): hex bitmaps LSB first, real
 * slabs in, one SSE event out, connection states/owners/ages/summary, escaping,
 * VALK_ELIMIT at every too-small cap, the size bound, and the large config's
 * size and encode time. Set VALK_SNAP_PRINT=1 to print the default-config event.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "valk_slab.h"
#include "valk_snapshot.h"

#include "valk_test.h"

/* ---- helpers ------------------------------------------------------------- */

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static uint64_t rnd(void) { /* xorshift64* */
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  return rng_state * 0x2545F4914F6CDD1Dull;
}

static uint32_t rnd_below(uint32_t n) { return n == 0 ? 0 : (uint32_t)(rnd() % n); }

/* A number of a random size: 0, small, or anything up to max. */
static uint64_t rnd_num(uint64_t max) {
  switch (rnd_below(4)) {
  case 0: return 0;
  case 1: return rnd() % 1000 % (max == UINT64_MAX ? max : max + 1);
  case 2: return max;
  default: return max == UINT64_MAX ? rnd() : rnd() % (max + 1);
  }
}

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static size_t count_str(const char *hay, const char *needle) {
  size_t n = 0, len = strlen(needle);
  for (const char *p = strstr(hay, needle); p != NULL; p = strstr(p + len, needle)) n++;
  return n;
}

/* A strict little JSON checker: the whole text is one value, nothing else. */
typedef struct {
  const char *p;
} jp_t;

static int j_value(jp_t *j, int depth);

static int j_string(jp_t *j) {
  if (*j->p != '"') return 0;
  j->p++;
  while (*j->p != '"') {
    unsigned char c = (unsigned char)*j->p;
    if (c == '\0' || c < 0x20) return 0;
    if (c == '\\') {
      j->p++;
      if (*j->p == 'u') {
        for (int k = 1; k <= 4; k++)
          if (strchr("0123456789abcdefABCDEF", j->p[k]) == NULL || j->p[k] == '\0') return 0;
        j->p += 4;
      } else if (strchr("\"\\/bfnrt", *j->p) == NULL || *j->p == '\0') {
        return 0;
      }
    }
    j->p++;
  }
  j->p++;
  return 1;
}

static int j_number(jp_t *j) {
  const char *s = j->p;
  if (*j->p == '-') j->p++;
  if (*j->p < '0' || *j->p > '9') return 0;
  if (*j->p == '0' && j->p[1] >= '0' && j->p[1] <= '9') return 0; /* no leading zeros */
  while (*j->p >= '0' && *j->p <= '9') j->p++;
  if (*j->p == '.') {
    j->p++;
    if (*j->p < '0' || *j->p > '9') return 0;
    while (*j->p >= '0' && *j->p <= '9') j->p++;
  }
  return j->p > s;
}

static int j_list(jp_t *j, int depth, char close, int object) {
  j->p++;
  if (*j->p == close) {
    j->p++;
    return 1;
  }
  for (;;) {
    if (object) {
      if (!j_string(j) || *j->p != ':') return 0;
      j->p++;
    }
    if (!j_value(j, depth + 1)) return 0;
    if (*j->p == close) {
      j->p++;
      return 1;
    }
    if (*j->p != ',') return 0;
    j->p++;
  }
}

static int j_value(jp_t *j, int depth) {
  if (depth > 16) return 0;
  switch (*j->p) {
  case '{': return j_list(j, depth, '}', 1);
  case '[': return j_list(j, depth, ']', 0);
  case '"': return j_string(j);
  case 't': return strncmp(j->p, "true", 4) == 0 ? (j->p += 4, 1) : 0;
  case 'f': return strncmp(j->p, "false", 5) == 0 ? (j->p += 5, 1) : 0;
  default: return j_number(j);
  }
}

static int json_ok(const char *s, size_t len) {
  jp_t j = {s};
  return j_value(&j, 0) && j.p == s + len;
}

/* The JSON object of slab name, or NULL. */
static const char *slab_of(const char *json, const char *name) {
  char key[128];
  snprintf(key, sizeof(key), "{\"name\":\"%s\"", name);
  return strstr(json, key);
}

/* The number after "key": following from (keys near the start of an object). */
static unsigned long long num_after(const char *from, const char *key) {
  char k[64];
  const char *p;
  snprintf(k, sizeof(k), "\"%s\":", key);
  p = strstr(from, k);
  CHECK(p != NULL);
  return strtoull(p + strlen(k), NULL, 10);
}

/* The string after "key":" following from, copied into out. */
static void str_after(const char *from, const char *key, char *out, size_t cap) {
  char k[64];
  const char *p, *e;
  snprintf(k, sizeof(k), "\"%s\":\"", key);
  p = strstr(from, k);
  CHECK(p != NULL);
  p += strlen(k);
  e = strchr(p, '"');
  CHECK(e != NULL && (size_t)(e - p) < cap);
  memcpy(out, p, (size_t)(e - p));
  out[e - p] = '\0';
}

/* Encodes s as an event into a buffer of the exact needed size; returns it. */
static char *event_of(const valk_snapshot_t *s, uint64_t id, uint32_t retry, int *len) {
  static char probe[1 << 20];
  char *buf;
  int n = valk_snapshot_event(s, id, retry, probe, sizeof(probe));
  CHECK(n > 0);
  buf = malloc((size_t)n + 1);
  CHECK(buf != NULL);
  CHECK(valk_snapshot_event(s, id, retry, buf, (size_t)n + 1) == n);
  CHECK(memcmp(buf, probe, (size_t)n + 1) == 0);
  *len = n;
  return buf;
}

/* The data line of an event (points into it), its length in *n. */
static const char *data_of(const char *ev, size_t *n) {
  const char *p = strstr(ev, "\ndata: ");
  const char *e;
  CHECK(p != NULL);
  p += strlen("\ndata: ");
  e = strchr(p, '\n');
  CHECK(e != NULL);
  *n = (size_t)(e - p);
  return p;
}

/* ---- tests named after docs/design.md §11.3 (D1-D6) ---------------------- */

static void test_bitmap_to_hex(void) {
  uint8_t bits[] = {0xDE, 0xAD, 0xBE, 0xEF};
  char hex[9], small[8];
  CHECK(valk_bitmap_to_hex(bits, 4, hex, sizeof(hex)) == 8);
  CHECK(strcmp(hex, "deadbeef") == 0);
  memset(small, 'x', sizeof(small));
  CHECK(valk_bitmap_to_hex(bits, 4, small, sizeof(small)) == VALK_ELIMIT);
  CHECK(small[0] == '\0');
  CHECK(valk_bitmap_to_hex(bits, 0, hex, 1) == 0 && hex[0] == '\0');
  CHECK(valk_bitmap_to_hex(NULL, 0, hex, 1) == 0);
  CHECK(valk_bitmap_to_hex(NULL, 4, hex, sizeof(hex)) == VALK_EINVAL);
  CHECK(valk_bitmap_to_hex(bits, 4, NULL, 0) == VALK_EINVAL);
}

/* The empty/full/partial bitmap cases (docs/design.md §11.3, D1-D3), least
 * significant bit first (§8): slots 0 and 2 used of 8 is 0x05 ("05"), not 0xA0. */
static void test_slab_to_bitmap(void) {
  valk_slab_t *slab;
  void *items[8];
  uint8_t bm[13];
  char hex[32];
  CHECK(valk_slab_new(&slab, 64, 100) == 0);
  CHECK(valk_slab_bitmap(slab, bm, sizeof(bm)) == 13);
  for (size_t i = 0; i < 13; i++) CHECK(bm[i] == 0);
  valk_slab_free(slab);

  CHECK(valk_slab_new(&slab, 64, 8) == 0);
  for (int i = 0; i < 8; i++) CHECK((items[i] = valk_slab_acquire(slab)) != NULL);
  CHECK(valk_slab_bitmap(slab, bm, 1) == 1 && bm[0] == 0xFF);
  for (int i = 0; i < 8; i++) CHECK(valk_slab_release(slab, items[i]) == 0);
  valk_slab_free(slab);

  CHECK(valk_slab_new(&slab, 64, 8) == 0);
  for (int i = 0; i < 4; i++) CHECK((items[i] = valk_slab_acquire(slab)) != NULL);
  for (int i = 0; i < 4; i++) CHECK(valk_slab_index_of(slab, items[i]) == (uint32_t)i);
  CHECK(valk_slab_release(slab, items[1]) == 0);
  CHECK(valk_slab_release(slab, items[3]) == 0);
  CHECK(valk_slab_bitmap(slab, bm, 1) == 1 && bm[0] == 0x05);
  CHECK(valk_bitmap_to_hex(bm, 1, hex, sizeof(hex)) == 2 && strcmp(hex, "05") == 0);

  /* Through the encoder, and with padding bits set in the input: 3 slots of
   * 0xFD keep only bits 0..2 (0x05), and "used" counts 2. */
  {
    valk_snapshot_t s = {0};
    uint8_t padded = 0xFD;
    char out[2048];
    s.npools = 2;
    s.pools[0] = (valk_snap_pool_t){.name = "eight", .total = 8, .bitmap = bm};
    s.pools[1] = (valk_snap_pool_t){.name = "three", .total = 3, .used = 99, .bitmap = &padded};
    CHECK(valk_snapshot_json(&s, out, sizeof(out)) > 0);
    CHECK(strstr(out, "{\"name\":\"eight\",\"total\":8,\"used\":2,\"overflow\":0,\"bitmap\":\"05\"}") != NULL);
    CHECK(strstr(out, "{\"name\":\"three\",\"total\":3,\"used\":2,\"overflow\":0,\"bitmap\":\"05\"}") != NULL);
  }
  CHECK(valk_slab_release(slab, items[0]) == 0);
  CHECK(valk_slab_release(slab, items[2]) == 0);
  valk_slab_free(slab);
}

/* Five real slabs through valk_slab_bitmap into one snapshot, read back. */
static void test_mem_snapshot_collect(void) {
  static const char *names[] = {"tcp_buffers", "connections", "stream_arenas",
                                "http_servers", "http_clients"};
  static const uint32_t totals[] = {1450, 100, 200, 16, 16};
  static const uint32_t used[] = {37, 5, 3, 1, 0};
  valk_slab_t *slabs[5];
  uint8_t *bms[5];
  valk_snap_slot_t slots[100];
  const char *owners[] = {":8443"};
  valk_snapshot_t s = {0};
  char *json;
  int n;

  for (int k = 0; k < 5; k++) {
    CHECK(valk_slab_new(&slabs[k], 16, totals[k]) == 0);
    for (uint32_t i = 0; i < used[k]; i++) CHECK(valk_slab_acquire(slabs[k]) != NULL);
    CHECK(valk_slab_overflow(slabs[k]) == 0);
    bms[k] = calloc((totals[k] + 7) / 8, 1);
    CHECK(bms[k] != NULL);
    CHECK(valk_slab_bitmap(slabs[k], bms[k], (totals[k] + 7) / 8) == (int)((totals[k] + 7) / 8));
  }
  /* Connection slots from the connection slab's bitmap. */
  for (uint32_t i = 0; i < 100; i++) {
    int in_use = (bms[1][i / 8] >> (i % 8)) & 1;
    slots[i] = (valk_snap_slot_t){in_use ? 'A' : 'F', 0, in_use ? 100 * i : 0, '2'};
  }
  s.seq = 7;
  s.timestamp_ms = 1733600000000ull;
  s.conns = (valk_snap_conns_t){names[1], totals[1], 0, slots};
  s.npools = 4;
  for (int k = 0, p = 0; k < 5; k++) {
    if (k == 1) continue;
    s.pools[p++] = (valk_snap_pool_t){.name = names[k], .total = totals[k],
                                      .used = valk_slab_used(slabs[k]), .bitmap = bms[k]};
  }
  s.owners = owners;
  s.nowners = 1;

  json = malloc(1 << 16);
  CHECK(json != NULL);
  n = valk_snapshot_json(&s, json, 1 << 16);
  CHECK(n > 0 && json_ok(json, (size_t)n));
  CHECK(count_str(json, "{\"name\":") == 5);
  for (int k = 0; k < 5; k++) {
    const char *o = slab_of(json, names[k]);
    CHECK(o != NULL);
    CHECK(num_after(o, "total") == totals[k]);
    CHECK(num_after(o, "used") == used[k]);
    CHECK(num_after(o, "overflow") == 0);
  }
  {
    static const char head[] = "{\"seq\":7,\"ts\":1733600000000,\"slabs\":[{\"name\":\"connections\"";
    CHECK(strncmp(json, head, strlen(head)) == 0);
  }
  /* 37 TCP buffers from index 0: 4 bytes ff, then 0x1f, then zeros. */
  CHECK(strstr(json, "\"bitmap\":\"ffffffff1f0000") != NULL);
  CHECK(strstr(json, "\"states\":\"AAAAAFFFFF") != NULL);
  CHECK(strstr(json, "\"owners\":[0,0,0,0,0],\"ages\":[0,100,200,300,400]") != NULL);
  CHECK(strstr(json, "\"by_owner\":{\"0\":5}") != NULL);
  CHECK(strstr(json, "\"owner_map\":[\":8443\"]") != NULL);
  CHECK(strstr(json, "{\"name\":\"http_clients\",\"total\":16,\"used\":0,"
                     "\"overflow\":0,\"bitmap\":\"0000\"}") != NULL);
  free(json);
  for (int k = 0; k < 5; k++) {
    free(bms[k]);
    /* items still acquired are fine to drop with the slab in a test */
    valk_slab_free(slabs[k]);
  }
}

static void test_sse_event_format(void) {
  valk_snapshot_t s = {0};
  const uint8_t ff = 0xFF;
  char buf[4096];
  int n;
  s.npools = 1;
  s.pools[0] = (valk_snap_pool_t){.name = "test", .total = 8, .used = 8, .bitmap = &ff};

  n = valk_snapshot_event(&s, 12345, 0, buf, sizeof(buf));
  CHECK(n > 0 && (size_t)n == strlen(buf));
  CHECK(strncmp(buf, "event: memory\nid: 12345\ndata: {", 31) == 0);
  CHECK(strstr(buf, "retry:") == NULL);
  CHECK(strstr(buf, "\"name\":\"test\"") != NULL);
  CHECK(strstr(buf, "\"bitmap\":\"ff\"") != NULL);
  CHECK(n >= 2 && strcmp(buf + n - 2, "\n\n") == 0);
  CHECK(count_str(buf, "\n") == 4 && count_str(buf, "data:") == 1);
  {
    size_t dn;
    const char *d = data_of(buf, &dn);
    CHECK(json_ok(d, dn));
  }

  n = valk_snapshot_event(&s, 12346, 3000, buf, sizeof(buf));
  CHECK(n > 0);
  CHECK(strncmp(buf, "event: memory\nid: 12346\nretry: 3000\ndata: {", 43) == 0);
  CHECK(count_str(buf, "\n") == 5 && count_str(buf, "retry:") == 1);

  /* The framing alone. */
  {
    static const char want[] = "event: memory\nid: 7\nretry: 1000\ndata: {}\n\n";
    CHECK(valk_sse_format(buf, sizeof(buf), "memory", 7, 1000, "{}", 2) == (int)strlen(want));
    CHECK(strcmp(buf, want) == 0);
    CHECK(valk_sse_format(buf, strlen(want), "memory", 7, 1000, "{}", 2) == VALK_ELIMIT);
    CHECK(buf[0] == '\0');
  }
  CHECK(valk_sse_format(buf, sizeof(buf), NULL, 1, 0, "x", 1) == (int)strlen("id: 1\ndata: x\n\n"));
  CHECK(strcmp(buf, "id: 1\ndata: x\n\n") == 0);
  CHECK(valk_sse_format(buf, sizeof(buf), NULL, 1, 0, NULL, 0) == (int)strlen("id: 1\ndata: \n\n"));
  CHECK(valk_sse_format(buf, sizeof(buf), "memory", 1, 0, "a\nb", 3) == VALK_EINVAL);
  CHECK(buf[0] == '\0');
  CHECK(valk_sse_format(buf, sizeof(buf), "memory", 1, 0, "a\rb", 3) == VALK_EINVAL);
  CHECK(valk_sse_format(buf, sizeof(buf), "mem\nory", 1, 0, "a", 1) == VALK_EINVAL);
  CHECK(valk_sse_format(buf, sizeof(buf), "memory", 1, 0, NULL, 3) == VALK_EINVAL);
  CHECK(valk_sse_format(NULL, 10, "memory", 1, 0, "a", 1) == VALK_EINVAL);
  CHECK(valk_sse_format(NULL, 0, "memory", 7, 1000, "{}", 2) == VALK_ELIMIT);
}

/* ---- connection slab ----------------------------------------------------- */

static void test_conn_states_owners_ages(void) {
  const valk_snap_slot_t slots[] = {
      {'F', 0, 999, '2'},      {'A', 0, 10, '2'},  {'N', 0, 20, 0},
      {'I', 1, 30, '1'},       {'C', 0, 40, '2'},  {'A', VALK_SNAP_OWNER_OTHER, 50, '1'},
      {'F', 1, 0, 0},          {'I', 7, 60, 'x'},  {'A', 1, UINT32_MAX, '2'},
      {'?', 0, 0, '1'},
  };
  const char *owners[] = {":8443", "127.0.0.1:9000"};
  valk_snapshot_t s = {0};
  char buf[4096];
  int n;
  s.conns = (valk_snap_conns_t){"connections", 10, 3, slots};
  s.owners = owners;
  s.nowners = 2;
  n = valk_snapshot_json(&s, buf, sizeof(buf));
  CHECK(n > 0 && json_ok(buf, (size_t)n));
  CHECK(strstr(buf,
               "{\"name\":\"connections\",\"total\":10,\"used\":8,\"overflow\":3,"
               "\"detail\":true,\"states\":\"FAAICAFIAA\","
               "\"owners\":[0,0,1,0,-1,-1,1,0],"
               "\"ages\":[10,20,30,40,50,60,4294967295,0],"
               "\"protos\":\"2-121-21\","
               "\"summary\":{\"A\":5,\"I\":2,\"C\":1,\"N\":1,\"h2\":3,\"http1\":3,"
               "\"by_owner\":{\"0\":4,\"1\":2,\"other\":2}}}") != NULL);
  CHECK(strstr(buf, "\"owner_map\":[\":8443\",\"127.0.0.1:9000\"]") != NULL);
  {
    char st[16];
    str_after(buf, "states", st, sizeof(st));
    CHECK(strcmp(st, "FAAICAFIAA") == 0);
  }

  /* All free: empty lists, empty by_owner. */
  {
    const valk_snap_slot_t free3[] = {{'F', 0, 0, 0}, {'F', 0, 0, 0}, {'F', 0, 0, 0}};
    s.conns = (valk_snap_conns_t){"connections", 3, 0, free3};
    CHECK((n = valk_snapshot_json(&s, buf, sizeof(buf))) > 0 && json_ok(buf, (size_t)n));
    CHECK(strstr(buf, "\"states\":\"FFF\",\"owners\":[],\"ages\":[],\"protos\":\"\","
                      "\"summary\":{\"A\":0,\"I\":0,\"C\":0,\"N\":0,\"h2\":0,\"http1\":0,\"by_owner\":{}}}") != NULL);
  }
  /* No connection slab at all, and an empty snapshot. */
  s.conns.name = NULL;
  CHECK((n = valk_snapshot_json(&s, buf, sizeof(buf))) > 0 && json_ok(buf, (size_t)n));
  CHECK(strstr(buf, "\"slabs\":[],") != NULL);
  {
    valk_snapshot_t empty = {0};
    CHECK((n = valk_snapshot_json(&empty, buf, sizeof(buf))) > 0 && json_ok(buf, (size_t)n));
    CHECK(strcmp(buf, "{\"seq\":0,\"ts\":0,\"slabs\":[],\"owner_map\":[],"
                      "\"arenas\":{\"high_water\":0,\"count\":0,\"used\":0,"
                      "\"capacity\":0,\"overflow\":0,\"in_use\":[]},"
                      "\"runtime\":{\"updated_ms\":0,\"heap_used\":0,\"heap_total\":0,"
                      "\"rss\":0,\"external\":0,\"gc_count\":0,\"gc_pause_ms\":0.000,"
                      "\"loop_delay_ms\":0.000,\"loop_utilization\":0.000},"
                      "\"skipped\":0}") == 0);
  }
  /* Malformed input. */
  s.conns = (valk_snap_conns_t){"connections", 3, 0, NULL};
  CHECK(valk_snapshot_json(&s, buf, sizeof(buf)) == VALK_EINVAL && buf[0] == '\0');
  s.conns.name = NULL;
  s.npools = VALK_SNAP_MAX_POOLS + 1;
  CHECK(valk_snapshot_json(&s, buf, sizeof(buf)) == VALK_EINVAL);
  s.npools = 1;
  CHECK(valk_snapshot_json(&s, buf, sizeof(buf)) == VALK_EINVAL); /* pools[0].name NULL */
  s.npools = 0;
  s.narenas = 1;
  CHECK(valk_snapshot_event(&s, 1, 0, buf, sizeof(buf)) == VALK_EINVAL);
  s.narenas = 0;
  s.owners = NULL;
  CHECK(valk_snapshot_event(&s, 1, 0, buf, sizeof(buf)) == VALK_EINVAL);
  CHECK(valk_snapshot_event(NULL, 1, 0, buf, sizeof(buf)) == VALK_EINVAL);
}

/* A 17th owner (and any beyond) is "other", not an error. */
static void test_owner_other(void) {
  char names[17][16];
  const char *owners[17];
  valk_snap_slot_t slots[3] = {{'A', 15, 1, 0}, {'I', 16, 2, 0}, {'C', 0, 3, 0}};
  valk_snapshot_t s = {0};
  char buf[4096];
  int n;
  for (int i = 0; i < 17; i++) {
    snprintf(names[i], sizeof(names[i]), "o%d", i);
    owners[i] = names[i];
  }
  s.conns = (valk_snap_conns_t){"connections", 3, 0, slots};
  s.owners = owners;
  s.nowners = 17;
  CHECK((n = valk_snapshot_json(&s, buf, sizeof(buf))) > 0 && json_ok(buf, (size_t)n));
  CHECK(strstr(buf, "\"owners\":[15,-1,0]") != NULL);
  CHECK(strstr(buf, "\"by_owner\":{\"0\":1,\"15\":1,\"other\":1}") != NULL);
  CHECK(strstr(buf, ",\"o15\"],\"arenas\"") != NULL);
  CHECK(strstr(buf, "\"o16\"") == NULL);
  for (int i = 0; i < 16; i++) {
    char q[16];
    snprintf(q, sizeof(q), "\"o%d\"", i);
    CHECK(count_str(buf, q) == 1);
  }
}

static void test_json_escape(void) {
  char long_name[80], utf8_name[80], buf[8192], want[160];
  const char *owners[3];
  valk_snapshot_t s = {0};
  int n;
  memset(long_name, 'x', 70);
  long_name[70] = '\0';
  memset(utf8_name, 'y', 62);
  memcpy(utf8_name + 62, "\xc3\xa9z", 4); /* "é" straddles byte 63 */
  owners[0] = "a\"b\\c\n\x01\t\xc3\xa9/";
  owners[1] = long_name;
  owners[2] = utf8_name;
  s.owners = owners;
  s.nowners = 3;
  s.npools = 1;
  s.pools[0] = (valk_snap_pool_t){.name = "p\"q", .total = 0};
  CHECK((n = valk_snapshot_json(&s, buf, sizeof(buf))) > 0 && json_ok(buf, (size_t)n));
  CHECK(strstr(buf, "\"owner_map\":[\"a\\\"b\\\\c\\n\\u0001\\t\xc3\xa9/\",") != NULL);
  snprintf(want, sizeof(want), ",\"%.63s\",\"%.62s\"]", long_name, utf8_name);
  CHECK(strstr(buf, want) != NULL);
  CHECK(strstr(buf, "{\"name\":\"p\\\"q\",\"total\":0,\"used\":0,\"overflow\":0}") != NULL);
  CHECK(strchr(buf, '\n') == NULL);
}

/* Arenas: sums, all listed up to 64, then the 64 fullest in the caller's order. */
static void test_arenas(void) {
  valk_snap_arena_t ar[300];
  valk_snapshot_t s = {0};
  char *buf = malloc(1 << 16), want[128];
  int n;
  CHECK(buf != NULL);
  for (uint32_t i = 0; i < 300; i++) /* used: 300 - i for odd i, i for even: distinct */
    ar[i] = (valk_snap_arena_t){1000 + i, i % 2 ? 1000 - i : i, 1u << 20, 7, i == 5};
  s.arenas = ar;
  s.narenas = 3;
  s.arena_high_water = 9;
  CHECK((n = valk_snapshot_json(&s, buf, 1 << 16)) > 0 && json_ok(buf, (size_t)n));
  CHECK(strstr(buf, "\"arenas\":{\"high_water\":9,\"count\":3,\"used\":1001,"
                    "\"capacity\":3145728,\"overflow\":0,\"in_use\":["
                    "{\"i\":1000,\"used\":0,\"capacity\":1048576,\"hwm\":7,\"overflow\":0},"
                    "{\"i\":1001,\"used\":999,\"capacity\":1048576,\"hwm\":7,\"overflow\":0},"
                    "{\"i\":1002,\"used\":2,\"capacity\":1048576,\"hwm\":7,\"overflow\":0}]}") != NULL);
  s.narenas = VALK_SNAP_ARENA_DETAIL_MAX;
  CHECK((n = valk_snapshot_json(&s, buf, 1 << 16)) > 0);
  CHECK(count_str(buf, "{\"i\":") == VALK_SNAP_ARENA_DETAIL_MAX);
  /* 300: odd i have used 1000 - i (999 .. 701), even i have i (0 .. 298): the
   * 64 fullest are the odd i from 1 to 127, listed in order. */
  s.narenas = 300;
  CHECK((n = valk_snapshot_json(&s, buf, 1 << 16)) > 0 && json_ok(buf, (size_t)n));
  CHECK(count_str(buf, "{\"i\":") == VALK_SNAP_ARENA_DETAIL_MAX);
  CHECK(strstr(buf, "\"count\":300,") != NULL && strstr(buf, "\"overflow\":1,\"in_use\"") != NULL);
  {
    const char *p = strstr(buf, "\"in_use\":[");
    for (uint32_t i = 1; i < 128; i += 2) {
      snprintf(want, sizeof(want), "{\"i\":%u,\"used\":%u,", 1000 + i, 1000 - i);
      p = strstr(p, want);
      CHECK(p != NULL);
    }
  }
  /* Ties keep the earlier ones; saturating sums. */
  for (uint32_t i = 0; i < 300; i++) ar[i].used = UINT64_MAX / 2;
  CHECK((n = valk_snapshot_json(&s, buf, 1 << 16)) > 0);
  CHECK(strstr(buf, "\"used\":18446744073709551615,") != NULL);
  CHECK(strstr(buf, "{\"i\":1063,") != NULL && strstr(buf, "{\"i\":1064,") == NULL);
  free(buf);
}

/* ---- sizes --------------------------------------------------------------- */

typedef struct fixture {
  valk_snapshot_t s;
  valk_snap_slot_t *slots;
  uint8_t *bms[VALK_SNAP_MAX_POOLS];
  valk_snap_arena_t *arenas;
  char names[VALK_SNAP_MAX_OWNERS + 4][VALK_SNAP_NAME_MAX + 8];
  const char *owners[VALK_SNAP_MAX_OWNERS + 4];
  uint32_t pool_totals[VALK_SNAP_MAX_POOLS];
} fixture_t;

static void fixture_free(fixture_t *f) {
  free(f->slots);
  for (int k = 0; k < VALK_SNAP_MAX_POOLS; k++) free(f->bms[k]);
  free(f->arenas);
  memset(f, 0, sizeof(*f));
}

/* The default config (100 connections, max_concurrent_streams 100): pools
 * 1450 / 200 / 16 / 16, used connections with owner 0, 10 arenas in use. */
static void fixture_default(fixture_t *f, uint32_t conns_used, uint32_t max_age) {
  static const char *pool_names[] = {"tcp_buffers", "stream_arenas", "http_servers", "http_clients"};
  static const uint32_t totals[] = {1450, 200, 16, 16};
  static const uint32_t used[] = {4 * 40, 10, 1, 0};
  static const char letters[] = "AAAAAAAANIC";
  memset(f, 0, sizeof(*f));
  f->slots = calloc(100, sizeof(*f->slots));
  CHECK(f->slots != NULL);
  for (uint32_t i = 0; i < 100; i++) {
    f->slots[i].state = 'F';
    if (i < conns_used)
      f->slots[i] = (valk_snap_slot_t){letters[rnd_below(sizeof(letters) - 1)], 0,
                                       rnd_below(max_age + 1), "21-"[rnd_below(3)]};
  }
  f->s.conns = (valk_snap_conns_t){"connections", 100, 0, f->slots};
  f->s.npools = 4;
  for (int k = 0; k < 4; k++) {
    f->bms[k] = calloc((totals[k] + 7) / 8, 1);
    CHECK(f->bms[k] != NULL);
    for (uint32_t u = 0; u < used[k]; u++) f->bms[k][u / 8] |= (uint8_t)(1u << (u % 8));
    f->s.pools[k] = (valk_snap_pool_t){.name = pool_names[k], .total = totals[k], .bitmap = f->bms[k]};
    f->pool_totals[k] = totals[k];
  }
  f->arenas = calloc(10, sizeof(*f->arenas));
  CHECK(f->arenas != NULL);
  for (uint32_t i = 0; i < 10; i++)
    f->arenas[i] = (valk_snap_arena_t){i, 4096 + 1000 * i, 64ull << 20, 65536 + 1000 * i, 0};
  f->s.arenas = f->arenas;
  f->s.narenas = 10;
  f->s.arena_high_water = 12;
  f->owners[0] = ":8443";
  f->s.owners = f->owners;
  f->s.nowners = 1;
  f->s.seq = 1234;
  f->s.timestamp_ms = 1733600000123ull;
  f->s.runtime = (valk_snap_runtime_t){1733600000100ull, 24117248, 35651584, 81920000,
                                       2097152, 42, 37.5, 11.25, 0.031};
}

static void test_small_buffer(void) {
  fixture_t f;
  char *ref, *buf;
  int len;
  fixture_default(&f, 40, 60000);
  ref = event_of(&f.s, 99, 1000, &len);
  for (size_t cap = 0; cap <= (size_t)len; cap++) {
    buf = malloc(cap == 0 ? 1 : cap);
    CHECK(buf != NULL);
    memset(buf, 'x', cap);
    CHECK(valk_snapshot_event(&f.s, 99, 1000, cap == 0 ? NULL : buf, cap) == VALK_ELIMIT);
    CHECK(cap == 0 || buf[0] == '\0');
    free(buf);
  }
  buf = malloc((size_t)len + 1);
  CHECK(buf != NULL);
  CHECK(valk_snapshot_event(&f.s, 99, 1000, buf, (size_t)len + 1) == len);
  CHECK(memcmp(buf, ref, (size_t)len + 1) == 0);
  free(buf);
  /* The JSON alone, too. */
  {
    size_t dn;
    const char *d = data_of(ref, &dn);
    for (size_t cap = 0; cap <= dn; cap++) {
      buf = malloc(cap == 0 ? 1 : cap);
      CHECK(buf != NULL);
      CHECK(valk_snapshot_json(&f.s, buf, cap) == VALK_ELIMIT);
      free(buf);
    }
    buf = malloc(dn + 1);
    CHECK(buf != NULL);
    CHECK(valk_snapshot_json(&f.s, buf, dn + 1) == (int)dn && memcmp(buf, d, dn) == 0);
    free(buf);
  }
  free(ref);
  fixture_free(&f);
}

static void test_default_config(void) {
  fixture_t f;
  char *ev;
  int len, full_len;
  size_t bound;
  fixture_default(&f, 40, 60000);
  ev = event_of(&f.s, 1234, 0, &len);
  {
    size_t dn;
    const char *d = data_of(ev, &dn);
    CHECK(json_ok(d, dn));
  }
  if (getenv("VALK_SNAP_PRINT") != NULL) fwrite(ev, 1, (size_t)len, stdout);
  free(ev);
  fixture_free(&f);
  /* Every connection used, ages up to 10 minutes. */
  fixture_default(&f, 100, 600000);
  ev = event_of(&f.s, 1234, 0, &full_len);
  bound = valk_snapshot_max_bytes(100, f.pool_totals, 4, 200, VALK_SNAP_MAX_OWNERS);
  CHECK((size_t)full_len + 1 <= bound);
  printf("default config event: %d bytes (40 of 100 connections used), %d bytes (100 used); "
         "bound %zu bytes (200 arenas, 16 owners)\n", len, full_len, bound);
  CHECK(len < 4096 && full_len < 4096);
  free(ev);
  fixture_free(&f);
}

static void rnd_name(char *out) {
  uint32_t n = rnd_below(4) == 0 ? VALK_SNAP_NAME_MAX + 5 : rnd_below(12);
  for (uint32_t i = 0; i < n; i++) {
    char c = (char)(1 + rnd_below(255)); /* any byte but NUL */
    out[i] = c;
  }
  out[n] = '\0';
}

/* Random shapes and fills: the bound always holds and the JSON parses. */
static void test_max_bytes_random(void) {
  static const uint32_t sizes[] = {0, 1, 7, 8, 9, 100, 1450, 4095, 4096, 4097, 5000, 20000};
  static const char states[] = "FNAIC?";
  char *buf = NULL;
  size_t buf_cap = 0, worst_slack = SIZE_MAX;
  for (int iter = 0; iter < 300; iter++) {
    fixture_t f;
    uint32_t conn_total = sizes[rnd_below(VALK_ARRAY_SIZE(sizes))];
    uint32_t max_arenas = rnd_below(100), max_owners = rnd_below(20);
    size_t bound;
    int n;
    memset(&f, 0, sizeof(f));
    f.slots = calloc(conn_total + 1, sizeof(*f.slots));
    CHECK(f.slots != NULL);
    for (uint32_t i = 0; i < conn_total; i++)
      f.slots[i] = (valk_snap_slot_t){states[rnd_below(6)], (uint8_t)rnd_num(255),
                                      (uint32_t)rnd_num(UINT32_MAX), (char)rnd_num(255)};
    f.s.conns = (valk_snap_conns_t){rnd_below(8) == 0 ? NULL : f.names[0], conn_total,
                                    rnd_num(UINT64_MAX), f.slots};
    rnd_name(f.names[0]);
    f.s.npools = rnd_below(VALK_SNAP_MAX_POOLS + 1);
    for (uint32_t k = 0; k < f.s.npools; k++) {
      uint32_t t = sizes[rnd_below(VALK_ARRAY_SIZE(sizes))];
      if (rnd_below(10) == 0) t = 145000;
      f.pool_totals[k] = t;
      f.bms[k] = malloc(t / 8 + 1);
      CHECK(f.bms[k] != NULL);
      for (uint32_t b = 0; b < t / 8 + 1; b++) f.bms[k][b] = (uint8_t)rnd();
      rnd_name(f.names[1 + k]);
      f.s.pools[k] = (valk_snap_pool_t){f.names[1 + k], t, (uint32_t)rnd_num(UINT32_MAX),
                                        rnd_num(UINT64_MAX), rnd_below(5) == 0 ? NULL : f.bms[k]};
    }
    f.s.nowners = rnd_below(max_owners + 1);
    for (uint32_t o = 0; o < f.s.nowners; o++) {
      /* names are reused across owners: only their bytes matter here */
      f.owners[o] = f.names[o % (VALK_SNAP_MAX_POOLS + 1)];
    }
    f.s.owners = f.owners;
    f.s.narenas = rnd_below(max_arenas + 1);
    f.arenas = calloc(f.s.narenas + 1, sizeof(*f.arenas));
    CHECK(f.arenas != NULL);
    for (uint32_t a = 0; a < f.s.narenas; a++)
      f.arenas[a] = (valk_snap_arena_t){(uint32_t)rnd_num(UINT32_MAX), rnd_num(UINT64_MAX),
                                        rnd_num(UINT64_MAX), rnd_num(UINT64_MAX), rnd_num(UINT64_MAX)};
    f.s.arenas = f.arenas;
    f.s.seq = rnd_num(UINT64_MAX);
    f.s.timestamp_ms = rnd_num(UINT64_MAX);
    f.s.arena_high_water = rnd_num(UINT64_MAX);
    f.s.skipped = rnd_num(UINT64_MAX);
    f.s.runtime.heap_used = rnd_num(UINT64_MAX);
    f.s.runtime.gc_pause_ms = rnd_below(3) == 0 ? 1e300 : (double)rnd_num(100000) / 7.0;
    f.s.runtime.loop_utilization = rnd_below(3) == 0 ? -1.0 : 0.5;

    bound = valk_snapshot_max_bytes(conn_total, f.pool_totals, f.s.npools, max_arenas,
                                    max_owners);
    CHECK(bound > 0);
    if (bound > buf_cap) {
      free(buf);
      buf = malloc(bound);
      CHECK(buf != NULL);
      buf_cap = bound;
    }
    n = valk_snapshot_event(&f.s, rnd_num(UINT64_MAX), (uint32_t)rnd_num(UINT32_MAX), buf, bound);
    CHECK(n > 0 && (size_t)n + 1 <= bound);
    if (bound - (size_t)n < worst_slack) worst_slack = bound - (size_t)n;
    {
      size_t dn;
      const char *d = data_of(buf, &dn);
      CHECK(json_ok(d, dn));
    }
    fixture_free(&f);
  }
  CHECK(valk_snapshot_max_bytes(0, NULL, 1, 0, 0) == 0);
  CHECK(valk_snapshot_max_bytes(0, NULL, VALK_SNAP_MAX_POOLS + 1, 0, 0) == 0);
  printf("max_bytes: 300 random snapshots within the bound (least slack %zu bytes)\n",
         worst_slack);
  free(buf);
}

/* Every value at its longest: the bound holds and is close to the truth. */
static void test_max_bytes_worst(void) {
  static fixture_t f; /* large: keep it off the stack */
  const uint32_t conn_total = VALK_SNAP_DETAIL_MAX;
  size_t bound;
  char *buf;
  int n;
  memset(&f, 0, sizeof(f));
  for (int k = 0; k < VALK_SNAP_MAX_OWNERS + 1; k++) {
    memset(f.names[k], 1, VALK_SNAP_NAME_MAX + 2); /* every byte escaped as \u0001 */
    f.names[k][VALK_SNAP_NAME_MAX + 2] = '\0';
    f.owners[k] = f.names[k];
  }
  f.slots = malloc(conn_total * sizeof(*f.slots));
  CHECK(f.slots != NULL);
  for (uint32_t i = 0; i < conn_total; i++)
    f.slots[i] = (valk_snap_slot_t){'A', (uint8_t)(10 + i % 6), UINT32_MAX, '2'};
  f.s.conns = (valk_snap_conns_t){f.names[0], conn_total, UINT64_MAX, f.slots};
  f.s.owners = f.owners;
  f.s.nowners = VALK_SNAP_MAX_OWNERS + 1;
  f.s.npools = VALK_SNAP_MAX_POOLS;
  for (uint32_t k = 0; k < f.s.npools; k++) {
    uint32_t t = k % 2 ? VALK_SNAP_DETAIL_MAX : UINT32_MAX - 1;
    f.pool_totals[k] = t;
    if (t <= VALK_SNAP_DETAIL_MAX) {
      f.bms[k] = malloc(t / 8);
      CHECK(f.bms[k] != NULL);
      memset(f.bms[k], 0xFF, t / 8);
    }
    f.s.pools[k] = (valk_snap_pool_t){f.names[k], t, UINT32_MAX, UINT64_MAX, f.bms[k]};
  }
  f.arenas = malloc(200 * sizeof(*f.arenas));
  CHECK(f.arenas != NULL);
  for (uint32_t a = 0; a < 200; a++)
    f.arenas[a] = (valk_snap_arena_t){UINT32_MAX, UINT64_MAX, UINT64_MAX, UINT64_MAX, UINT64_MAX};
  f.s.arenas = f.arenas;
  f.s.narenas = 200;
  f.s.seq = f.s.timestamp_ms = f.s.arena_high_water = f.s.skipped = UINT64_MAX;
#define XX(name, type, help) f.s.runtime.name = (VALK_SNAP_TYPE_##type)UINT64_MAX;
  VALK_SNAP_RUNTIME_MAP(XX)
#undef XX
  f.s.runtime.updated_ms = UINT64_MAX;
  bound = valk_snapshot_max_bytes(conn_total, f.pool_totals, f.s.npools, 200,
                                  VALK_SNAP_MAX_OWNERS);
  buf = malloc(bound);
  CHECK(buf != NULL);
  /* Pools of UINT32_MAX - 1 slots with a NULL bitmap: counts only. Fill them
   * with a real bitmap only for the bound, not the encode (512 MB). */
  n = valk_snapshot_event(&f.s, UINT64_MAX, UINT32_MAX, buf, bound);
  CHECK(n > 0 && (size_t)n + 1 <= bound);
  printf("max_bytes worst case: %d bytes encoded, bound %zu\n", n, bound);
  /* Without the large pools (which had no bitmap) the bound is nearly exact. */
  f.s.npools = 2; /* pools 0 (counts only, UINT32_MAX - 1) and 1 (4096, full) */
  {
    uint32_t totals[2] = {0, VALK_SNAP_DETAIL_MAX};
    size_t b2 = valk_snapshot_max_bytes(conn_total, totals, 2, 200, VALK_SNAP_MAX_OWNERS);
    f.s.pools[0].total = 0;
    f.s.pools[0].used = UINT32_MAX;
    n = valk_snapshot_event(&f.s, UINT64_MAX, UINT32_MAX, buf, b2);
    CHECK(n > 0 && (size_t)n + 1 <= b2);
    printf("max_bytes tightness: %d bytes encoded, bound %zu (slack %zu: summary and "
           "by_owner counts that cannot all be at their longest at once)\n",
           n, b2, b2 - (size_t)n - 1);
    CHECK(b2 - (size_t)n - 1 < 400);
  }
  free(buf);
  fixture_free(&f);
}

/* 10,000 connections all used, 145,000 TCP buffers half used. */
static void test_large_config(void) {
  static const char states[] = "NAIC";
  fixture_t f;
  const uint32_t conns = 10000, tcp = 145000, arenas = 20000, in_use = 200;
  size_t bound;
  char *buf;
  int n = 0;
  double best = 1e9, sum = 0;
  const int runs = 50;
  memset(&f, 0, sizeof(f));
  f.slots = malloc(conns * sizeof(*f.slots));
  CHECK(f.slots != NULL);
  for (uint32_t i = 0; i < conns; i++)
    f.slots[i] = (valk_snap_slot_t){states[rnd_below(4)], (uint8_t)rnd_below(3), rnd_below(3600000), "21"[rnd_below(2)]};
  f.s.conns = (valk_snap_conns_t){"connections", conns, 17, f.slots};
  f.pool_totals[0] = tcp;
  f.pool_totals[1] = arenas;
  f.pool_totals[2] = 16;
  f.pool_totals[3] = 16;
  for (int k = 0; k < 4; k++) {
    f.bms[k] = calloc((f.pool_totals[k] + 7) / 8, 1);
    CHECK(f.bms[k] != NULL);
  }
  for (uint32_t i = 0; i < tcp; i++)
    if (rnd_below(2)) f.bms[0][i / 8] |= (uint8_t)(1u << (i % 8));
  for (uint32_t i = 0; i < in_use; i++) f.bms[1][i / 8] |= (uint8_t)(1u << (i % 8));
  f.bms[2][0] = 0x07;
  f.s.npools = 4;
  f.s.pools[0] = (valk_snap_pool_t){.name = "tcp_buffers", .total = tcp, .bitmap = f.bms[0]};
  f.s.pools[1] = (valk_snap_pool_t){.name = "stream_arenas", .total = arenas, .bitmap = f.bms[1]};
  f.s.pools[2] = (valk_snap_pool_t){.name = "http_servers", .total = 16, .bitmap = f.bms[2]};
  f.s.pools[3] = (valk_snap_pool_t){.name = "http_clients", .total = 16, .bitmap = f.bms[3]};
  f.arenas = calloc(in_use, sizeof(*f.arenas));
  CHECK(f.arenas != NULL);
  for (uint32_t i = 0; i < in_use; i++)
    f.arenas[i] = (valk_snap_arena_t){i, rnd_below(1 << 26), 64ull << 20, rnd_below(1 << 26), 0};
  f.s.arenas = f.arenas;
  f.s.narenas = in_use;
  f.owners[0] = ":8443";
  f.owners[1] = ":9443";
  f.s.owners = f.owners;
  f.s.nowners = 2;

  bound = valk_snapshot_max_bytes(conns, f.pool_totals, 4, arenas, VALK_SNAP_MAX_OWNERS);
  buf = malloc(bound);
  CHECK(buf != NULL);
  for (int r = 0; r < runs; r++) {
    double t0 = now_ms(), dt;
    n = valk_snapshot_event(&f.s, (uint64_t)r + 1, 0, buf, bound);
    dt = now_ms() - t0;
    CHECK(n > 0 && (size_t)n + 1 <= bound);
    sum += dt;
    if (dt < best) best = dt;
  }
  {
    size_t dn;
    const char *d = data_of(buf, &dn);
    const char *tcp_obj, *p;
    unsigned long long cells, per, total_used = 0, used;
    CHECK(json_ok(d, dn));
    CHECK(strstr(d, "\"detail\":false,\"states\":\"") != NULL);
    CHECK(strstr(d, "\"owners\":[") == NULL && strstr(d, "\"ages\":[") == NULL);
    CHECK(count_str(d, "\"bitmap\":") == 2); /* the two pools of 16 */
    tcp_obj = slab_of(d, "tcp_buffers");
    CHECK(tcp_obj != NULL);
    used = num_after(tcp_obj, "used");
    cells = num_after(tcp_obj, "cells");
    per = num_after(tcp_obj, "per");
    CHECK(per == 142 && cells == 1022);
    p = strstr(tcp_obj, "\"per\":142,\"used\":[") + strlen("\"per\":142,\"used\":[");
    for (unsigned long long k = 0; k < cells; k++) {
      char *end;
      unsigned long long c = strtoull(p, &end, 10);
      CHECK(end != p && c <= per);
      total_used += c;
      p = end + 1;
      CHECK(*end == (k + 1 == cells ? ']' : ','));
    }
    CHECK(total_used == used && used > tcp / 3 && used < tcp * 2 / 3);
    CHECK(num_after(slab_of(d, "stream_arenas"), "used") == in_use);
    CHECK(num_after(slab_of(d, "connections"), "used") == conns);
    CHECK(strstr(d, "\"count\":200,") != NULL);
    CHECK(count_str(d, "{\"i\":") == VALK_SNAP_ARENA_DETAIL_MAX);
    {
      const char *st = strstr(d, "\"states\":\"") + strlen("\"states\":\"");
      CHECK(strspn(st, "AIC") == conns && st[conns] == '"');
    }
  }
  printf("large config (10,000 connections all used, 145,000 TCP buffers half used, "
         "20,000 stream arenas, 200 arenas in use): event %d bytes, bound %zu bytes; "
         "encode best %.3f ms, mean %.3f ms over %d runs\n",
         n, bound, best, sum / runs, runs);
  free(buf);
  fixture_free(&f);
}

int main(void) {
  test_bitmap_to_hex();
  test_slab_to_bitmap();
  test_mem_snapshot_collect();
  test_sse_event_format();
  test_conn_states_owners_ages();
  test_owner_other();
  test_json_escape();
  test_arenas();
  test_small_buffer();
  test_default_config();
  test_max_bytes_random();
  test_max_bytes_worst();
  test_large_config();
  printf("test_valk_snapshot: 13 passed\n");
  return 0;
}
