/*
 * valk_admission.c: watermarks, resume policy, the backpressure heap and the
 * per-address connection table. See valk_admission.h for the contract.
 * Thread: the AIO thread that owns each object; atomics are written relaxed by
 * it alone, so plain load + store would do, but fetch_add keeps readers exact.
 */
#include "valk_admission.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/random.h>
#endif

#include "valk_common.h"

#define VALK__RELAXED memory_order_relaxed

/* ---- 1. Watermarks ---- */

/* x if x >= 0, else 0 (NaN included). */
static double valk__clamp0(double x) { return x >= 0.0 ? x : 0.0; }

static uint32_t valk__twice_sat(uint32_t x) { return x > UINT32_MAX / 2 ? UINT32_MAX : 2 * x; }

static double valk__usage(uint32_t used, uint32_t total) {
  if (total == 0 || used >= total) return 1.0;
  return (double)used / (double)total;
}

/* The exit test of a state entered at thr: usage below the hysteresis band, or
 * an empty pool when the band clamps to 0 (so a low threshold cannot latch). */
static int valk__below(double usage, double thr) {
  double exit_at = valk__clamp0(thr - VALK_WM_HYSTERESIS);
  return usage < exit_at || (usage == 0.0 && thr > 0.0);
}

static valk_wm_state_t valk__wm_next(const valk_watermark_t *wm, valk_wm_state_t cur, double usage) {
  switch (cur) {
  case VALK_WM_CRITICAL:
    if (!valk__below(usage, wm->critical)) return VALK_WM_CRITICAL;
    return valk__below(usage, wm->high) ? VALK_WM_NORMAL : VALK_WM_HIGH;
  case VALK_WM_HIGH:
    if (usage >= wm->critical) return VALK_WM_CRITICAL;
    return valk__below(usage, wm->high) ? VALK_WM_NORMAL : VALK_WM_HIGH;
  default:
    if (usage >= wm->critical) return VALK_WM_CRITICAL;
    return usage >= wm->high ? VALK_WM_HIGH : VALK_WM_NORMAL;
  }
}

void valk_watermark_init(valk_watermark_t *wm, uint32_t total, double high, double critical,
                         uint32_t min_buffers_per_conn) {
  wm->total = total;
  wm->high = valk__clamp0(high);
  wm->critical = valk__clamp0(critical);
  wm->min_free_high = valk__twice_sat(min_buffers_per_conn);
  atomic_store_explicit(&wm->state, VALK_WM_NORMAL, VALK__RELAXED);
  atomic_store_explicit(&wm->transitions, 0, VALK__RELAXED);
}

valk_wm_state_t valk_watermark_update(valk_watermark_t *wm, uint32_t used) {
  valk_wm_state_t cur = (valk_wm_state_t)atomic_load_explicit(&wm->state, VALK__RELAXED);
  valk_wm_state_t next = valk__wm_next(wm, cur, valk__usage(used, wm->total));

  if (next != cur) {
    atomic_store_explicit(&wm->state, (int)next, VALK__RELAXED);
    atomic_fetch_add_explicit(&wm->transitions, 1, VALK__RELAXED);
  }
  return next;
}

int valk_watermark_admit(valk_watermark_t *wm, uint32_t used) {
  valk_wm_state_t s = valk_watermark_update(wm, used);
  uint32_t free_bufs = used >= wm->total ? 0 : wm->total - used;

  if (s == VALK_WM_CRITICAL) return 0;
  if (s == VALK_WM_HIGH && free_bufs < wm->min_free_high) return 0;
  return 1;
}

const char *valk_wm_state_name(valk_wm_state_t s) {
  switch (s) {
  case VALK_WM_NORMAL:
    return "normal";
  case VALK_WM_HIGH:
    return "high";
  case VALK_WM_CRITICAL:
    return "critical";
  }
  return "unknown";
}

/* ---- 2. Resume threshold and priority ---- */

uint32_t valk_resume_threshold(uint32_t used, uint32_t total, uint32_t min_buffers_per_conn) {
  uint64_t u = used, t = total;

  if (2 * u < t) return 2;                      /* usage < 0.5 */
  if (4 * u < 3 * t) return min_buffers_per_conn; /* usage < 0.75 */
  return valk__twice_sat(min_buffers_per_conn);
}

uint32_t valk_bp_priority(uint32_t pending_responses, uint64_t bytes_sent, uint64_t age_ms) {
  uint64_t age_s = age_ms / 1000;
  uint64_t score = pending_responses > 0 ? 1000 : 0;

  score += bytes_sent / 1024; /* <= 2^54: cannot wrap */
  score += age_s > 100 ? 100 : age_s;
  return score > UINT32_MAX ? UINT32_MAX : (uint32_t)score;
}

/* ---- 3. Backpressure heap ---- */

/* 1 if a comes out before b: higher priority, or equal and older. */
static int valk__bp_above(const valk_bp_node_t *a, const valk_bp_node_t *b) {
  return a->priority > b->priority || (a->priority == b->priority && a->seq < b->seq);
}

static void valk__bp_place(valk_bp_heap_t *h, uint32_t i, valk_bp_node_t *n) {
  h->items[i] = n;
  n->heap_index = i;
}

static void valk__bp_sift_up(valk_bp_heap_t *h, uint32_t i) {
  valk_bp_node_t *n = h->items[i];

  while (i > 0) {
    uint32_t parent = (i - 1) / 2;
    if (!valk__bp_above(n, h->items[parent])) break;
    valk__bp_place(h, i, h->items[parent]);
    i = parent;
  }
  valk__bp_place(h, i, n);
}

static void valk__bp_sift_down(valk_bp_heap_t *h, uint32_t i, uint32_t size) {
  valk_bp_node_t *n = h->items[i];

  for (;;) {
    uint64_t c = 2 * (uint64_t)i + 1;
    if (c >= size) break;
    if (c + 1 < size && valk__bp_above(h->items[c + 1], h->items[c])) c++;
    if (!valk__bp_above(h->items[c], n)) break;
    valk__bp_place(h, i, h->items[c]);
    i = (uint32_t)c;
  }
  valk__bp_place(h, i, n);
}

int valk_bp_init(valk_bp_heap_t *h, uint32_t capacity) {
  h->items = NULL;
  h->capacity = 0;
  h->next_seq = 0;
  atomic_store_explicit(&h->size, 0, VALK__RELAXED);
  if (capacity == 0 || capacity == VALK_BP_NONE) return VALK_EINVAL;
  h->items = calloc(capacity, sizeof(*h->items));
  if (h->items == NULL) return VALK_ENOMEM;
  h->capacity = capacity;
  return 0;
}

void valk_bp_destroy(valk_bp_heap_t *h) {
  free(h->items);
  h->items = NULL;
  h->capacity = 0;
  atomic_store_explicit(&h->size, 0, VALK__RELAXED);
}

void valk_bp_node_init(valk_bp_node_t *n) {
  n->priority = 0;
  n->heap_index = VALK_BP_NONE;
  n->seq = 0;
}

int valk_bp_contains(const valk_bp_node_t *n) { return n->heap_index != VALK_BP_NONE; }

uint32_t valk_bp_size(const valk_bp_heap_t *h) {
  return atomic_load_explicit(&h->size, VALK__RELAXED);
}

int valk_bp_push(valk_bp_heap_t *h, valk_bp_node_t *n, uint32_t priority) {
  uint32_t size = valk_bp_size(h);

  if (valk_bp_contains(n)) return VALK_EINVAL;
  if (size >= h->capacity) return VALK_EFULL;
  n->priority = priority;
  n->seq = h->next_seq++;
  valk__bp_place(h, size, n);
  atomic_store_explicit(&h->size, size + 1, VALK__RELAXED);
  valk__bp_sift_up(h, size);
  return 0;
}

valk_bp_node_t *valk_bp_peek(const valk_bp_heap_t *h) {
  return valk_bp_size(h) == 0 ? NULL : h->items[0];
}

void valk_bp_remove(valk_bp_heap_t *h, valk_bp_node_t *n) {
  uint32_t size = valk_bp_size(h), i = n->heap_index, last;
  valk_bp_node_t *moved;

  if (i >= size || h->items[i] != n) return; /* not in this heap */
  last = size - 1;
  atomic_store_explicit(&h->size, last, VALK__RELAXED);
  n->heap_index = VALK_BP_NONE;
  moved = h->items[last];
  h->items[last] = NULL;
  if (i == last) return;
  valk__bp_place(h, i, moved);
  if (i > 0 && valk__bp_above(moved, h->items[(i - 1) / 2])) valk__bp_sift_up(h, i);
  else valk__bp_sift_down(h, i, last);
}

valk_bp_node_t *valk_bp_pop(valk_bp_heap_t *h) {
  valk_bp_node_t *top = valk_bp_peek(h);

  if (top != NULL) valk_bp_remove(h, top);
  return top;
}

valk_bp_node_t *valk_bp_lowest(const valk_bp_heap_t *h) {
  uint32_t size = valk_bp_size(h), i;
  valk_bp_node_t *low;

  if (size == 0) return NULL;
  low = h->items[size / 2]; /* leaves are size/2 .. size-1; the minimum is one */
  for (i = size / 2 + 1; i < size; i++) {
    if (valk__bp_above(low, h->items[i])) low = h->items[i];
  }
  return low;
}

int valk_bp_check(const valk_bp_heap_t *h) {
  uint32_t size = valk_bp_size(h), i;

  if (size > h->capacity) return VALK_ELIMIT;
  for (i = 0; i < size; i++) {
    const valk_bp_node_t *n = h->items[i];
    if (n == NULL || n->heap_index != i || n->seq >= h->next_seq) return VALK_ELIMIT;
    if (i > 0 && valk__bp_above(n, h->items[(i - 1) / 2])) return VALK_ELIMIT;
  }
  return 0;
}

/* ---- 4. Per-address table ---- */

struct valk_ip_entry {
  uint8_t addr[16]; /* IPv6, or IPv4-mapped IPv6 */
  uint32_t count;   /* connections; 0 marks an empty slot */
  uint32_t home;    /* hash & mask, kept for backward-shift deletion */
};

#define VALK__ROTL(x, b) (((x) << (b)) | ((x) >> (64 - (b))))

static uint64_t valk__splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

static void valk__sipround(uint64_t v[4]) {
  v[0] += v[1]; v[1] = VALK__ROTL(v[1], 13); v[1] ^= v[0]; v[0] = VALK__ROTL(v[0], 32);
  v[2] += v[3]; v[3] = VALK__ROTL(v[3], 16); v[3] ^= v[2];
  v[0] += v[3]; v[3] = VALK__ROTL(v[3], 21); v[3] ^= v[0];
  v[2] += v[1]; v[1] = VALK__ROTL(v[1], 17); v[1] ^= v[2]; v[2] = VALK__ROTL(v[2], 32);
}

/* SipHash-1-3 of a 16-byte message, key (seed, splitmix64(seed)). */
static uint64_t valk__siphash16(const uint8_t msg[16], uint64_t seed) {
  uint64_t k0 = seed, k1 = valk__splitmix64(seed), m[2], last = (uint64_t)16 << 56;
  uint64_t v[4] = {k0 ^ 0x736f6d6570736575ull, k1 ^ 0x646f72616e646f6dull,
                   k0 ^ 0x6c7967656e657261ull, k1 ^ 0x7465646279746573ull};
  int i;

  memcpy(m, msg, 16);
  for (i = 0; i < 2; i++) {
    v[3] ^= m[i];
    valk__sipround(v);
    v[0] ^= m[i];
  }
  v[3] ^= last;
  valk__sipround(v);
  v[0] ^= last;
  v[2] ^= 0xff;
  for (i = 0; i < 3; i++) valk__sipround(v);
  return v[0] ^ v[1] ^ v[2] ^ v[3];
}

static int valk__read_urandom(uint64_t *out) {
  int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
  ssize_t n;

  if (fd < 0) return -1;
  do n = read(fd, out, sizeof(*out));
  while (n < 0 && errno == EINTR);
  close(fd);
  return n == (ssize_t)sizeof(*out) ? 0 : -1;
}

/* A seed no peer can guess: kernel randomness, else clocks and addresses. */
static uint64_t valk__random_seed(const void *salt) {
  uint64_t s = 0;
  struct timespec rt, mono;

#ifdef __linux__
  if (getrandom(&s, sizeof(s), GRND_NONBLOCK) == (ssize_t)sizeof(s)) return s;
#endif
  if (valk__read_urandom(&s) == 0) return s;
  clock_gettime(CLOCK_REALTIME, &rt);
  clock_gettime(CLOCK_MONOTONIC, &mono);
  s = valk__splitmix64((uint64_t)rt.tv_sec * 1000000000u + (uint64_t)rt.tv_nsec);
  s = valk__splitmix64(s ^ ((uint64_t)mono.tv_sec * 1000000000u + (uint64_t)mono.tv_nsec));
  return valk__splitmix64(s ^ (uint64_t)(uintptr_t)salt ^ (uint64_t)getpid());
}

/* The 16-byte key of a sockaddr_in / sockaddr_in6: 0, or VALK_EINVAL. */
static int valk__ip_key(const struct sockaddr *sa, uint8_t key[16]) {
  if (sa == NULL) return VALK_EINVAL;
  if (sa->sa_family == AF_INET) {
    const struct sockaddr_in *in4 = (const struct sockaddr_in *)(const void *)sa;
    memset(key, 0, 10);
    key[10] = 0xff;
    key[11] = 0xff;
    memcpy(key + 12, &in4->sin_addr, 4);
    return 0;
  }
  if (sa->sa_family == AF_INET6) {
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;
    memcpy(key, &in6->sin6_addr, 16);
    return 0;
  }
  return VALK_EINVAL;
}

static uint32_t valk__ip_home(const valk_ip_table_t *t, const uint8_t key[16]) {
  return (uint32_t)valk__siphash16(key, t->seed) & t->mask;
}

/* Slot holding key, or the empty slot ending its probe run (*found = 0).
 * Terminates: at most half the slots are ever occupied. */
static uint32_t valk__ip_find(const valk_ip_table_t *t, const uint8_t key[16], uint32_t home,
                              int *found) {
  uint32_t i = home;

  while (t->entries[i].count != 0) {
    if (memcmp(t->entries[i].addr, key, 16) == 0) {
      *found = 1;
      return i;
    }
    i = (i + 1) & t->mask;
  }
  *found = 0;
  return i;
}

/* Empties slot hole, shifting back later entries of the run whose probe path
 * crosses it, so every lookup still reaches its entry without tombstones. */
static void valk__ip_delete(valk_ip_table_t *t, uint32_t hole) {
  uint32_t j = hole;

  for (;;) {
    struct valk_ip_entry *e;
    j = (j + 1) & t->mask;
    e = &t->entries[j];
    if (e->count == 0) break;
    if (((j - e->home) & t->mask) >= ((j - hole) & t->mask)) {
      t->entries[hole] = *e;
      hole = j;
    }
  }
  memset(&t->entries[hole], 0, sizeof(t->entries[hole]));
  t->len--;
}

int valk_ip_table_init(valk_ip_table_t *t, uint32_t max_entries) {
  uint32_t slots = 1;

  memset(t, 0, sizeof(*t));
  if (max_entries == 0 || max_entries > (UINT32_C(1) << 30)) return VALK_EINVAL;
  while (slots < 2 * max_entries) slots <<= 1;
  t->entries = calloc(slots, sizeof(*t->entries));
  if (t->entries == NULL) return VALK_ENOMEM;
  t->mask = slots - 1;
  t->max_entries = max_entries;
  t->seed = valk__random_seed(t);
  return 0;
}

void valk_ip_table_destroy(valk_ip_table_t *t) {
  free(t->entries);
  memset(t, 0, sizeof(*t));
}

int valk_ip_table_acquire(valk_ip_table_t *t, const struct sockaddr *addr, uint32_t limit) {
  uint8_t key[16];
  uint32_t home, i;
  int found;

  if (valk__ip_key(addr, key) != 0 || t->entries == NULL) return VALK_EINVAL;
  home = valk__ip_home(t, key);
  i = valk__ip_find(t, key, home, &found);
  if (found) {
    if (t->entries[i].count >= limit) return VALK_ELIMIT;
    t->entries[i].count++;
    return 0;
  }
  if (limit == 0) return VALK_ELIMIT;
  if (t->len >= t->max_entries) return VALK_EFULL;
  memcpy(t->entries[i].addr, key, 16);
  t->entries[i].count = 1;
  t->entries[i].home = home;
  t->len++;
  return 0;
}

void valk_ip_table_release(valk_ip_table_t *t, const struct sockaddr *addr) {
  uint8_t key[16];
  uint32_t i;
  int found;

  if (valk__ip_key(addr, key) != 0 || t->entries == NULL) return;
  i = valk__ip_find(t, key, valk__ip_home(t, key), &found);
  if (!found) return;
  if (--t->entries[i].count == 0) valk__ip_delete(t, i);
}

uint32_t valk_ip_table_count(const valk_ip_table_t *t, const struct sockaddr *addr) {
  uint8_t key[16];
  uint32_t i;
  int found;

  if (valk__ip_key(addr, key) != 0 || t->entries == NULL) return 0;
  i = valk__ip_find(t, key, valk__ip_home(t, key), &found);
  return found ? t->entries[i].count : 0;
}

size_t valk_ip_table_entry_size(void) { return sizeof(struct valk_ip_entry); }

int valk_ip_table_check(const valk_ip_table_t *t) {
  uint32_t i, used = 0;
  int found;

  if (t->entries == NULL) return t->len == 0 ? 0 : VALK_ELIMIT;
  for (i = 0; i <= t->mask; i++) {
    const struct valk_ip_entry *e = &t->entries[i];
    if (e->count == 0) continue;
    used++;
    if (e->home != valk__ip_home(t, e->addr)) return VALK_ELIMIT;
    if (valk__ip_find(t, e->addr, e->home, &found) != i || !found) return VALK_ELIMIT;
  }
  return used == t->len && used <= t->max_entries ? 0 : VALK_ELIMIT;
}
