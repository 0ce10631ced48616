/*
 * valk_snapshot.c: the memory snapshot as one SSE event. See valk_snapshot.h
 * for the wire format and the contract.
 *
 * Everything goes through one append-only writer (valk__w_t) over the
 * caller's buffer: an append that does not fit marks the writer full and
 * writes nothing more, and the end (valk__w_end) turns that into VALK_ELIMIT.
 * The JSON keys are the VALK__K_* literals below; valk_snapshot_max_bytes
 * counts the same literals, so the bound cannot drift from the encoder.
 *
 * Thread: any; pure. Memory: none allocated.
 */
#include "valk_snapshot.h"

#include <assert.h>
#include <limits.h>
#include <string.h>

/* Longest decimal form of each number. */
#define VALK__U32_DIGITS 10
#define VALK__U64_DIGITS 20
#define VALK__F3_DIGITS 20 /* "1000000000000000.000" */
#define VALK__F3_MAX 1e15
#define VALK__OWNER_DIGITS 2 /* "15" or "-1" */
/* A name as sent: quotes around VALK_SNAP_NAME_MAX bytes of "\u00XX" at worst. */
#define VALK__STR_MAX (2 + 6 * (size_t)VALK_SNAP_NAME_MAX)

#define VALK__L(lit) (sizeof(lit) - 1)

/* SSE framing. */
#define VALK__K_EVENT "event: "
#define VALK__K_ID "id: "
#define VALK__K_RETRY "retry: "
#define VALK__K_DATA "data: "
#define VALK__K_EOL "\n"
#define VALK__K_END "\n\n"

/* JSON, in the order written. */
#define VALK__K_SEQ "{\"seq\":"
#define VALK__K_TS ",\"ts\":"
#define VALK__K_SLABS ",\"slabs\":["
#define VALK__K_NAME "{\"name\":"
#define VALK__K_TOTAL ",\"total\":"
#define VALK__K_USED ",\"used\":"
#define VALK__K_OVERFLOW ",\"overflow\":"
#define VALK__K_BITMAP ",\"bitmap\":\""
#define VALK__K_BITMAP_END "\"}"
#define VALK__K_AGG ",\"agg\":{\"cells\":"
#define VALK__K_AGG_PER ",\"per\":"
#define VALK__K_AGG_USED ",\"used\":["
#define VALK__K_AGG_END "]}}"
#define VALK__K_POOL_END "}"
#define VALK__K_DETAIL_TRUE ",\"detail\":true"
#define VALK__K_DETAIL_FALSE ",\"detail\":false"
#define VALK__K_STATES ",\"states\":\""
#define VALK__K_STATES_END "\""
#define VALK__K_OWNERS ",\"owners\":["
#define VALK__K_AGES ",\"ages\":["
#define VALK__K_PROTOS ",\"protos\":\""
#define VALK__K_LIST_END "]"
#define VALK__K_SUM_A ",\"summary\":{\"A\":"
#define VALK__K_SUM_I ",\"I\":"
#define VALK__K_SUM_C ",\"C\":"
#define VALK__K_SUM_N ",\"N\":"
#define VALK__K_SUM_H2 ",\"h2\":"
#define VALK__K_SUM_H1 ",\"http1\":"
#define VALK__K_BY_OWNER ",\"by_owner\":{"
#define VALK__K_BY_OTHER "\"other\":"
#define VALK__K_CONN_END "}}}"
#define VALK__K_OWNER_MAP "],\"owner_map\":["
#define VALK__K_ARENAS "],\"arenas\":{\"high_water\":"
#define VALK__K_AR_COUNT ",\"count\":"
#define VALK__K_AR_SUM_USED ",\"used\":"
#define VALK__K_AR_SUM_CAP ",\"capacity\":"
#define VALK__K_AR_SUM_OVF ",\"overflow\":"
#define VALK__K_IN_USE ",\"in_use\":["
#define VALK__K_AR_I "{\"i\":"
#define VALK__K_AR_USED ",\"used\":"
#define VALK__K_AR_CAP ",\"capacity\":"
#define VALK__K_AR_HWM ",\"hwm\":"
#define VALK__K_AR_OVF ",\"overflow\":"
#define VALK__K_AR_END "}"
#define VALK__K_RUNTIME "]},\"runtime\":{\"updated_ms\":"
#define VALK__K_RT(name) ",\"" #name "\":"
#define VALK__K_SKIPPED "},\"skipped\":"
#define VALK__K_JSON_END "}"

/* ---- the writer ---------------------------------------------------------- */

typedef struct valk__w {
  char *buf;
  size_t cap;   /* bytes usable for text: the caller's cap minus the NUL */
  size_t len;   /* bytes written; len <= cap always */
  int full;     /* an append did not fit; nothing more is written */
  int has_buf;  /* the caller's cap was > 0 (buf[0] may be written) */
} valk__w_t;

static void valk__w_init(valk__w_t *w, char *buf, size_t cap) {
  w->buf = buf;
  w->len = 0;
  w->has_buf = cap > 0;
  w->full = cap == 0;
  w->cap = cap == 0 ? 0 : cap - 1;
  if (w->cap > INT_MAX) w->cap = INT_MAX; /* lengths are returned as int */
}

/* n bytes of room at the end, or NULL (and full) if they do not fit. */
static char *valk__w_room(valk__w_t *w, size_t n) {
  char *p;
  if (w->full || n > w->cap - w->len) {
    w->full = 1;
    return NULL;
  }
  p = w->buf + w->len;
  w->len += n;
  return p;
}

static void valk__w_raw(valk__w_t *w, const char *s, size_t n) {
  char *p = valk__w_room(w, n);
  if (p != NULL) memcpy(p, s, n);
}

#define valk__w_lit(w, lit) valk__w_raw((w), (lit), VALK__L(lit))

static void valk__w_chr(valk__w_t *w, char c) {
  char *p = valk__w_room(w, 1);
  if (p != NULL) *p = c;
}

static void valk__w_u64(valk__w_t *w, uint64_t v) {
  char tmp[VALK__U64_DIGITS];
  size_t n = sizeof(tmp);
  do {
    tmp[--n] = (char)('0' + v % 10);
    v /= 10;
  } while (v != 0);
  valk__w_raw(w, tmp + n, sizeof(tmp) - n);
}

/* A key (a literal ending in ':') and its number. */
#define valk__w_key_u64(w, key, v)                                             \
  do {                                                                         \
    valk__w_lit((w), (key));                                                   \
    valk__w_u64((w), (v));                                                     \
  } while (0)

/* A double as fixed point with 3 decimals, clamped to [0, 1e15]; NaN is 0. */
static void valk__w_f3(valk__w_t *w, double x) {
  uint64_t milli;
  char frac[4];
  if (!(x > 0)) x = 0;
  if (x > VALK__F3_MAX) x = VALK__F3_MAX;
  milli = (uint64_t)(x * 1000.0 + 0.5);
  valk__w_u64(w, milli / 1000);
  frac[0] = '.';
  frac[1] = (char)('0' + milli / 100 % 10);
  frac[2] = (char)('0' + milli / 10 % 10);
  frac[3] = (char)('0' + milli % 10);
  valk__w_raw(w, frac, sizeof(frac));
}

/* Length of name as sent: at most VALK_SNAP_NAME_MAX bytes, cut before a
 * UTF-8 continuation byte so no character is split. */
static size_t valk__name_len(const char *s) {
  size_t n = 0;
  while (n <= VALK_SNAP_NAME_MAX && s[n] != '\0') n++;
  if (n <= VALK_SNAP_NAME_MAX) return n;
  n = VALK_SNAP_NAME_MAX;
  while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80) n--;
  return n;
}

/* s as a JSON string: quotes, \" \\ and control characters escaped; bytes
 * from 0x80 up are copied (names are UTF-8). */
static void valk__w_str(valk__w_t *w, const char *s) {
  static const char hex[] = "0123456789abcdef";
  size_t i, n = valk__name_len(s), run = 0;
  valk__w_chr(w, '"');
  for (i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    char esc[6] = {'\\', 0, 0, 0, 0, 0};
    size_t elen = 2;
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    valk__w_raw(w, s + run, i - run); /* the plain bytes before this one */
    run = i + 1;
    switch (c) {
    case '"': esc[1] = '"'; break;
    case '\\': esc[1] = '\\'; break;
    case '\b': esc[1] = 'b'; break;
    case '\f': esc[1] = 'f'; break;
    case '\n': esc[1] = 'n'; break;
    case '\r': esc[1] = 'r'; break;
    case '\t': esc[1] = 't'; break;
    default:
      memcpy(esc + 1, "u00", 3);
      esc[4] = hex[c >> 4];
      esc[5] = hex[c & 15];
      elen = 6;
    }
    valk__w_raw(w, esc, elen);
  }
  valk__w_raw(w, s + run, n - run);
  valk__w_chr(w, '"');
}

/* nbytes of bits as hex; the last byte ANDed with last_mask (padding bits). */
static void valk__hex(const uint8_t *bits, size_t nbytes, uint8_t last_mask, char *out) {
  static const char hex[] = "0123456789abcdef";
  size_t i;
  for (i = 0; i < nbytes; i++) {
    uint8_t b = i + 1 == nbytes ? (uint8_t)(bits[i] & last_mask) : bits[i];
    out[2 * i] = hex[b >> 4];
    out[2 * i + 1] = hex[b & 15];
  }
}

/* Ends the text: a NUL after it and its length, or VALK_ELIMIT with buf[0]
 * cleared so no partial output is left behind. */
static int valk__w_end(valk__w_t *w) {
  if (w->full) {
    if (w->has_buf) w->buf[0] = '\0';
    return VALK_ELIMIT;
  }
  w->buf[w->len] = '\0';
  return (int)w->len;
}

/* ---- slabs --------------------------------------------------------------- */

static uint32_t valk__digits(uint64_t v) {
  uint32_t n = 1;
  while (v >= 10) {
    v /= 10;
    n++;
  }
  return n;
}

/* Mask of the meaningful bits of a bitmap's last byte. */
static uint8_t valk__last_mask(uint32_t total) {
  return (total & 7) == 0 ? 0xFF : (uint8_t)((1u << (total & 7)) - 1);
}

/* Set bits among slots [lo, hi). */
static uint32_t valk__bits_in(const uint8_t *bits, uint32_t lo, uint32_t hi) {
  uint32_t n = 0;
  while (lo < hi && (lo & 7) != 0) {
    n += (bits[lo >> 3] >> (lo & 7)) & 1u;
    lo++;
  }
  while (hi - lo >= 8) {
    n += (uint32_t)__builtin_popcount(bits[lo >> 3]);
    lo += 8;
  }
  while (lo < hi) {
    n += (bits[lo >> 3] >> (lo & 7)) & 1u;
    lo++;
  }
  return n;
}

/* Slots per cell and cells of an aggregated bitmap of total slots. */
static void valk__agg_shape(uint32_t total, uint32_t *per, uint32_t *cells) {
  *per = (uint32_t)(((uint64_t)total + VALK_SNAP_AGG_CELLS - 1) / VALK_SNAP_AGG_CELLS);
  if (*per == 0) *per = 1;
  *cells = (uint32_t)(((uint64_t)total + *per - 1) / *per);
}

static void valk__w_slab_head(valk__w_t *w, const char *name, uint32_t total,
                              uint32_t used, uint64_t overflow) {
  valk__w_lit(w, VALK__K_NAME);
  valk__w_str(w, name);
  valk__w_key_u64(w, VALK__K_TOTAL, total);
  valk__w_key_u64(w, VALK__K_USED, used);
  valk__w_key_u64(w, VALK__K_OVERFLOW, overflow);
}

static void valk__w_agg(valk__w_t *w, const uint8_t *bits, uint32_t total) {
  uint32_t per, cells, k;
  valk__agg_shape(total, &per, &cells);
  valk__w_key_u64(w, VALK__K_AGG, cells);
  valk__w_key_u64(w, VALK__K_AGG_PER, per);
  valk__w_lit(w, VALK__K_AGG_USED);
  for (k = 0; k < cells && !w->full; k++) {
    uint32_t lo = k * per, hi = total - lo < per ? total : lo + per;
    if (k > 0) valk__w_chr(w, ',');
    valk__w_u64(w, valk__bits_in(bits, lo, hi));
  }
  valk__w_lit(w, VALK__K_AGG_END);
}

static void valk__w_pool(valk__w_t *w, const valk_snap_pool_t *p) {
  size_t nbytes = ((size_t)p->total + 7) / 8;
  uint32_t used = p->used;
  char *hex;
  if (p->bitmap == NULL) {
    valk__w_slab_head(w, p->name, p->total, used, p->overflow);
    valk__w_lit(w, VALK__K_POOL_END);
    return;
  }
  used = p->total == 0 ? 0 : valk__bits_in(p->bitmap, 0, p->total);
  valk__w_slab_head(w, p->name, p->total, used, p->overflow);
  if (p->total > VALK_SNAP_DETAIL_MAX) {
    valk__w_agg(w, p->bitmap, p->total);
    return;
  }
  valk__w_lit(w, VALK__K_BITMAP);
  hex = valk__w_room(w, 2 * nbytes);
  if (hex != NULL) valk__hex(p->bitmap, nbytes, valk__last_mask(p->total), hex);
  valk__w_lit(w, VALK__K_BITMAP_END);
}

/* The state letter sent for an input letter: A, I, C or F. */
static char valk__state_out(char in) {
  return in == VALK_SNAP_FREE || in == VALK_SNAP_IDLE || in == VALK_SNAP_CLOSING
             ? in
             : VALK_SNAP_ACTIVE;
}

typedef struct valk__conn_sum {
  uint32_t used, a, i, c, n;
  uint32_t h2, h1;                             /* by protocol */
  uint32_t by_owner[VALK_SNAP_MAX_OWNERS + 1]; /* the last one is "other" */
} valk__conn_sum_t;

/* Index an owner is sent as: its map index, or -1 for "other". */
static int valk__owner_out(uint8_t owner, uint32_t nmap) {
  return owner < nmap ? owner : -1;
}

static void valk__conn_count(const valk_snap_conns_t *c, uint32_t nmap,
                             valk__conn_sum_t *sum) {
  uint32_t k;
  int o;
  memset(sum, 0, sizeof(*sum));
  for (k = 0; k < c->total; k++) {
    const valk_snap_slot_t *slot = &c->slots[k];
    char st = valk__state_out(slot->state);
    if (st == VALK_SNAP_FREE) continue;
    sum->used++;
    if (st == VALK_SNAP_IDLE) sum->i++;
    else if (st == VALK_SNAP_CLOSING) sum->c++;
    else sum->a++;
    if (slot->state == VALK_SNAP_CONNECTING) sum->n++;
    if (slot->wire == VALK_SNAP_WIRE_H2) sum->h2++;
    else if (slot->wire == VALK_SNAP_WIRE_HTTP1) sum->h1++;
    o = valk__owner_out(slot->owner, nmap);
    sum->by_owner[o < 0 ? VALK_SNAP_MAX_OWNERS : o]++;
  }
}

static void valk__w_states(valk__w_t *w, const valk_snap_conns_t *c) {
  char *p;
  uint32_t k;
  valk__w_lit(w, VALK__K_STATES);
  p = valk__w_room(w, c->total);
  if (p != NULL)
    for (k = 0; k < c->total; k++) p[k] = valk__state_out(c->slots[k].state);
  valk__w_lit(w, VALK__K_STATES_END);
}

/* The letter sent for a slot's protocol. */
static char valk__wire_out(char in) {
  return in == VALK_SNAP_WIRE_H2 || in == VALK_SNAP_WIRE_HTTP1 ? in : VALK_SNAP_WIRE_NONE;
}

/* "protos": a protocol letter per non-free slot, in slot order. */
static void valk__w_protos(valk__w_t *w, const valk_snap_conns_t *c, uint32_t used) {
  char *p;
  uint32_t k, j = 0;
  valk__w_lit(w, VALK__K_PROTOS);
  p = valk__w_room(w, used);
  if (p != NULL)
    for (k = 0; k < c->total && j < used; k++)
      if (valk__state_out(c->slots[k].state) != VALK_SNAP_FREE) p[j++] = valk__wire_out(c->slots[k].wire);
  assert(p == NULL || j == used);
  valk__w_lit(w, VALK__K_STATES_END);
}

/* "owners" (ages == 0) or "ages" (ages == 1) of the non-free slots. */
static void valk__w_slot_list(valk__w_t *w, const valk_snap_conns_t *c,
                              uint32_t nmap, int ages) {
  uint32_t k;
  int first = 1;
  if (ages) valk__w_lit(w, VALK__K_AGES);
  else valk__w_lit(w, VALK__K_OWNERS);
  for (k = 0; k < c->total && !w->full; k++) {
    const valk_snap_slot_t *slot = &c->slots[k];
    int o;
    if (valk__state_out(slot->state) == VALK_SNAP_FREE) continue;
    if (!first) valk__w_chr(w, ',');
    first = 0;
    if (ages) {
      valk__w_u64(w, slot->age_ms);
      continue;
    }
    o = valk__owner_out(slot->owner, nmap);
    if (o < 0) valk__w_lit(w, "-1");
    else valk__w_u64(w, (uint64_t)o);
  }
  valk__w_lit(w, VALK__K_LIST_END);
}

static void valk__w_summary(valk__w_t *w, const valk__conn_sum_t *sum) {
  uint32_t k;
  int first = 1;
  valk__w_key_u64(w, VALK__K_SUM_A, sum->a);
  valk__w_key_u64(w, VALK__K_SUM_I, sum->i);
  valk__w_key_u64(w, VALK__K_SUM_C, sum->c);
  valk__w_key_u64(w, VALK__K_SUM_N, sum->n);
  valk__w_key_u64(w, VALK__K_SUM_H2, sum->h2);
  valk__w_key_u64(w, VALK__K_SUM_H1, sum->h1);
  valk__w_lit(w, VALK__K_BY_OWNER);
  for (k = 0; k <= VALK_SNAP_MAX_OWNERS; k++) {
    if (sum->by_owner[k] == 0) continue;
    if (!first) valk__w_chr(w, ',');
    first = 0;
    if (k == VALK_SNAP_MAX_OWNERS) {
      valk__w_lit(w, VALK__K_BY_OTHER);
    } else {
      valk__w_chr(w, '"');
      valk__w_u64(w, k);
      valk__w_lit(w, "\":");
    }
    valk__w_u64(w, sum->by_owner[k]);
  }
  valk__w_lit(w, VALK__K_CONN_END);
}

static void valk__w_conns(valk__w_t *w, const valk_snap_conns_t *c, uint32_t nmap) {
  valk__conn_sum_t sum;
  int detail = c->total <= VALK_SNAP_DETAIL_MAX;
  valk__conn_count(c, nmap, &sum);
  valk__w_slab_head(w, c->name, c->total, sum.used, c->overflow);
  if (detail) valk__w_lit(w, VALK__K_DETAIL_TRUE);
  else valk__w_lit(w, VALK__K_DETAIL_FALSE);
  valk__w_states(w, c);
  if (detail) {
    valk__w_slot_list(w, c, nmap, 0);
    valk__w_slot_list(w, c, nmap, 1);
    valk__w_protos(w, c, sum.used);
  }
  valk__w_summary(w, &sum);
}

/* ---- the snapshot -------------------------------------------------------- */

static uint32_t valk__owner_map_len(uint32_t nowners) {
  return nowners < VALK_SNAP_MAX_OWNERS ? nowners : VALK_SNAP_MAX_OWNERS;
}

static int valk__check(const valk_snapshot_t *s) {
  uint32_t i;
  if (s == NULL || s->npools > VALK_SNAP_MAX_POOLS) return VALK_EINVAL;
  for (i = 0; i < s->npools; i++)
    if (s->pools[i].name == NULL) return VALK_EINVAL;
  if (s->conns.name != NULL && s->conns.total > 0 && s->conns.slots == NULL)
    return VALK_EINVAL;
  if (s->nowners > 0 && s->owners == NULL) return VALK_EINVAL;
  for (i = 0; i < valk__owner_map_len(s->nowners); i++)
    if (s->owners[i] == NULL) return VALK_EINVAL;
  if (s->narenas > 0 && s->arenas == NULL) return VALK_EINVAL;
  return 0;
}

static uint64_t valk__add_sat(uint64_t a, uint64_t b) {
  return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

/* Does arena a hold more bytes than arena b (on a tie: is it earlier)? */
static int valk__fuller(const valk_snap_arena_t *ar, uint32_t a, uint32_t b) {
  return ar[a].used != ar[b].used ? ar[a].used > ar[b].used : a < b;
}

/* Restores the min-heap h[0..n) (least full arena at the root) below i. */
static void valk__sift_down(const valk_snap_arena_t *ar, uint32_t *h, uint32_t n,
                            uint32_t i) {
  for (;;) {
    uint32_t l = 2 * i + 1, r = l + 1, m = i, t;
    if (l < n && valk__fuller(ar, h[m], h[l])) m = l;
    if (r < n && valk__fuller(ar, h[m], h[r])) m = r;
    if (m == i) return;
    t = h[i];
    h[i] = h[m];
    h[m] = t;
    i = m;
  }
}

/*
 * Positions of the arenas to list, ascending, into sel: all of them, or when
 * there are more than VALK_SNAP_ARENA_DETAIL_MAX, the fullest ones (a bounded
 * min-heap: O(n log k), no allocation). Returns how many.
 */
static uint32_t valk__pick_arenas(const valk_snap_arena_t *ar, uint32_t n, uint32_t *sel) {
  const uint32_t k = VALK_SNAP_ARENA_DETAIL_MAX;
  uint32_t i, j;
  for (i = 0; i < n && i < k; i++) sel[i] = i;
  if (n <= k) return n;
  for (i = k / 2; i-- > 0;) valk__sift_down(ar, sel, k, i);
  for (i = k; i < n; i++) {
    if (!valk__fuller(ar, i, sel[0])) continue;
    sel[0] = i;
    valk__sift_down(ar, sel, k, 0);
  }
  for (i = 1; i < k; i++) /* insertion sort: back to the caller's order */
    for (j = i; j > 0 && sel[j - 1] > sel[j]; j--) {
      uint32_t t = sel[j];
      sel[j] = sel[j - 1];
      sel[j - 1] = t;
    }
  return k;
}

static void valk__w_arena(valk__w_t *w, const valk_snap_arena_t *a) {
  valk__w_key_u64(w, VALK__K_AR_I, a->index);
  valk__w_key_u64(w, VALK__K_AR_USED, a->used);
  valk__w_key_u64(w, VALK__K_AR_CAP, a->capacity);
  valk__w_key_u64(w, VALK__K_AR_HWM, a->high_water);
  valk__w_key_u64(w, VALK__K_AR_OVF, a->overflow);
  valk__w_lit(w, VALK__K_AR_END);
}

static void valk__w_arenas(valk__w_t *w, const valk_snapshot_t *s) {
  uint32_t sel[VALK_SNAP_ARENA_DETAIL_MAX], i, nsel;
  uint64_t used = 0, cap = 0, ovf = 0;
  for (i = 0; i < s->narenas; i++) {
    used = valk__add_sat(used, s->arenas[i].used);
    cap = valk__add_sat(cap, s->arenas[i].capacity);
    ovf = valk__add_sat(ovf, s->arenas[i].overflow);
  }
  valk__w_key_u64(w, VALK__K_ARENAS, s->arena_high_water);
  valk__w_key_u64(w, VALK__K_AR_COUNT, s->narenas);
  valk__w_key_u64(w, VALK__K_AR_SUM_USED, used);
  valk__w_key_u64(w, VALK__K_AR_SUM_CAP, cap);
  valk__w_key_u64(w, VALK__K_AR_SUM_OVF, ovf);
  valk__w_lit(w, VALK__K_IN_USE);
  nsel = valk__pick_arenas(s->arenas, s->narenas, sel);
  for (i = 0; i < nsel && !w->full; i++) {
    if (i > 0) valk__w_chr(w, ',');
    valk__w_arena(w, &s->arenas[sel[i]]);
  }
}

static void valk__w_runtime(valk__w_t *w, const valk_snap_runtime_t *rt) {
  valk__w_key_u64(w, VALK__K_RUNTIME, rt->updated_ms);
#define XX(name, type, help)                                                   \
  valk__w_lit(w, VALK__K_RT(name));                                            \
  valk__w_##type(w, rt->name);
  VALK_SNAP_RUNTIME_MAP(XX)
#undef XX
}

/* The JSON of a checked snapshot. */
static void valk__w_json(valk__w_t *w, const valk_snapshot_t *s) {
  uint32_t i, nmap = valk__owner_map_len(s->nowners);
  int first = 1;
  valk__w_key_u64(w, VALK__K_SEQ, s->seq);
  valk__w_key_u64(w, VALK__K_TS, s->timestamp_ms);
  valk__w_lit(w, VALK__K_SLABS);
  if (s->conns.name != NULL) {
    valk__w_conns(w, &s->conns, nmap);
    first = 0;
  }
  for (i = 0; i < s->npools; i++) {
    if (!first) valk__w_chr(w, ',');
    first = 0;
    valk__w_pool(w, &s->pools[i]);
  }
  valk__w_lit(w, VALK__K_OWNER_MAP);
  for (i = 0; i < nmap; i++) {
    if (i > 0) valk__w_chr(w, ',');
    valk__w_str(w, s->owners[i]);
  }
  valk__w_arenas(w, s);
  valk__w_runtime(w, &s->runtime);
  valk__w_key_u64(w, VALK__K_SKIPPED, s->skipped);
  valk__w_lit(w, VALK__K_JSON_END);
}

static void valk__w_sse_head(valk__w_t *w, const char *event, uint64_t id,
                             uint32_t retry_ms) {
  if (event != NULL) {
    valk__w_lit(w, VALK__K_EVENT);
    valk__w_raw(w, event, strlen(event));
    valk__w_lit(w, VALK__K_EOL);
  }
  valk__w_key_u64(w, VALK__K_ID, id);
  valk__w_lit(w, VALK__K_EOL);
  if (retry_ms != 0) {
    valk__w_lit(w, VALK__K_RETRY);
    valk__w_u64(w, retry_ms);
    valk__w_lit(w, VALK__K_EOL);
  }
  valk__w_lit(w, VALK__K_DATA);
}

int valk_snapshot_json(const valk_snapshot_t *s, char *buf, size_t cap) {
  valk__w_t w;
  int err = valk__check(s);
  if (err == 0 && buf == NULL && cap > 0) err = VALK_EINVAL;
  if (err != 0) {
    if (buf != NULL && cap > 0) buf[0] = '\0';
    return err;
  }
  valk__w_init(&w, buf, cap);
  valk__w_json(&w, s);
  return valk__w_end(&w);
}

int valk_snapshot_event(const valk_snapshot_t *s, uint64_t id, uint32_t retry_ms,
                        char *buf, size_t cap) {
  valk__w_t w;
  int err = valk__check(s);
  if (err == 0 && buf == NULL && cap > 0) err = VALK_EINVAL;
  if (err != 0) {
    if (buf != NULL && cap > 0) buf[0] = '\0';
    return err;
  }
  valk__w_init(&w, buf, cap);
  valk__w_sse_head(&w, VALK_SNAP_EVENT, id, retry_ms);
  valk__w_json(&w, s);
  valk__w_lit(&w, VALK__K_END);
  return valk__w_end(&w);
}

static int valk__one_line(const char *s, size_t n) {
  return memchr(s, '\n', n) == NULL && memchr(s, '\r', n) == NULL;
}

int valk_sse_format(char *buf, size_t cap, const char *event, uint64_t id,
                    uint32_t retry_ms, const char *data, size_t data_len) {
  valk__w_t w;
  int ok = (buf != NULL || cap == 0) && (data != NULL || data_len == 0);
  if (ok && event != NULL) ok = valk__one_line(event, strlen(event));
  if (ok && data_len > 0) ok = valk__one_line(data, data_len);
  if (!ok) {
    if (buf != NULL && cap > 0) buf[0] = '\0';
    return VALK_EINVAL;
  }
  valk__w_init(&w, buf, cap);
  valk__w_sse_head(&w, event, id, retry_ms);
  if (data_len > 0) valk__w_raw(&w, data, data_len);
  valk__w_lit(&w, VALK__K_END);
  return valk__w_end(&w);
}

int valk_bitmap_to_hex(const uint8_t *bits, size_t nbytes, char *out, size_t out_cap) {
  int err = 0;
  if (out == NULL) return VALK_EINVAL;
  if (bits == NULL && nbytes > 0) err = VALK_EINVAL;
  else if (nbytes > (INT_MAX - 1) / 2 || out_cap < 2 * nbytes + 1) err = VALK_ELIMIT;
  if (err != 0) {
    if (out_cap > 0) out[0] = '\0';
    return err;
  }
  if (nbytes > 0) valk__hex(bits, nbytes, 0xFF, out);
  out[2 * nbytes] = '\0';
  return (int)(2 * nbytes);
}

/* ---- the bound ----------------------------------------------------------- */

/* "name", "total", "used", "overflow" at their longest. */
static size_t valk__max_slab_head(void) {
  return VALK__L(VALK__K_NAME) + VALK__STR_MAX + VALK__L(VALK__K_TOTAL) +
         VALK__U32_DIGITS + VALK__L(VALK__K_USED) + VALK__U32_DIGITS +
         VALK__L(VALK__K_OVERFLOW) + VALK__U64_DIGITS;
}

static size_t valk__max_pool(uint32_t total) {
  size_t tail = VALK__L(VALK__K_POOL_END); /* bitmap NULL */
  if (total > VALK_SNAP_DETAIL_MAX) {
    uint32_t per, cells;
    valk__agg_shape(total, &per, &cells);
    tail = VALK__L(VALK__K_AGG) + VALK__U32_DIGITS + VALK__L(VALK__K_AGG_PER) +
           VALK__U32_DIGITS + VALK__L(VALK__K_AGG_USED) +
           (size_t)cells * (valk__digits(per) + 1) + VALK__L(VALK__K_AGG_END);
  } else {
    size_t t = VALK__L(VALK__K_BITMAP) + 2 * (((size_t)total + 7) / 8) +
               VALK__L(VALK__K_BITMAP_END);
    if (t > tail) tail = t;
  }
  return valk__max_slab_head() + tail;
}

static size_t valk__max_conns(uint32_t total, uint32_t nmap) {
  size_t d = valk__digits(total), n = valk__max_slab_head();
  n += VALK__L(VALK__K_DETAIL_FALSE); /* the longer of the two */
  n += VALK__L(VALK__K_STATES) + total + VALK__L(VALK__K_STATES_END);
  if (total <= VALK_SNAP_DETAIL_MAX) {
    n += VALK__L(VALK__K_OWNERS) + (size_t)total * (VALK__OWNER_DIGITS + 1) +
         VALK__L(VALK__K_LIST_END);
    n += VALK__L(VALK__K_AGES) + (size_t)total * (VALK__U32_DIGITS + 1) +
         VALK__L(VALK__K_LIST_END);
    n += VALK__L(VALK__K_PROTOS) + total + VALK__L(VALK__K_STATES_END);
  }
  n += VALK__L(VALK__K_SUM_A) + VALK__L(VALK__K_SUM_I) + VALK__L(VALK__K_SUM_C) +
       VALK__L(VALK__K_SUM_N) + VALK__L(VALK__K_SUM_H2) + VALK__L(VALK__K_SUM_H1) + 6 * d +
       VALK__L(VALK__K_BY_OWNER);
  n += nmap * (VALK__OWNER_DIGITS + VALK__L("\"\":") + d + 1); /* "15":n, */
  n += VALK__L(VALK__K_BY_OTHER) + d + VALK__L(VALK__K_CONN_END);
  return n;
}

static size_t valk__max_tail(uint32_t max_arenas, uint32_t nmap) {
  size_t n = VALK__L(VALK__K_OWNER_MAP) + (size_t)nmap * (VALK__STR_MAX + 1);
  size_t arena = VALK__L(VALK__K_AR_I) + VALK__U32_DIGITS + VALK__L(VALK__K_AR_USED) +
                 VALK__L(VALK__K_AR_CAP) + VALK__L(VALK__K_AR_HWM) +
                 VALK__L(VALK__K_AR_OVF) + 4 * VALK__U64_DIGITS +
                 VALK__L(VALK__K_AR_END) + 1;
  if (max_arenas > VALK_SNAP_ARENA_DETAIL_MAX) max_arenas = VALK_SNAP_ARENA_DETAIL_MAX;
  n += VALK__L(VALK__K_ARENAS) + VALK__U64_DIGITS + VALK__L(VALK__K_AR_COUNT) +
       VALK__U32_DIGITS + VALK__L(VALK__K_AR_SUM_USED) + VALK__L(VALK__K_AR_SUM_CAP) +
       VALK__L(VALK__K_AR_SUM_OVF) + 3 * VALK__U64_DIGITS + VALK__L(VALK__K_IN_USE) +
       (size_t)max_arenas * arena;
  n += VALK__L(VALK__K_RUNTIME) + VALK__U64_DIGITS;
#define VALK__DIGITS_u64 VALK__U64_DIGITS
#define VALK__DIGITS_f3 VALK__F3_DIGITS
#define XX(name, type, help) n += VALK__L(VALK__K_RT(name)) + VALK__DIGITS_##type;
  VALK_SNAP_RUNTIME_MAP(XX)
#undef XX
  n += VALK__L(VALK__K_SKIPPED) + VALK__U64_DIGITS + VALK__L(VALK__K_JSON_END);
  return n;
}

size_t valk_snapshot_max_bytes(uint32_t conn_total, const uint32_t *pool_totals,
                               uint32_t npools, uint32_t max_arenas,
                               uint32_t max_owners) {
  uint32_t i, nmap = valk__owner_map_len(max_owners);
  size_t n;
  if (npools > VALK_SNAP_MAX_POOLS || (pool_totals == NULL && npools > 0)) return 0;
  n = VALK__L(VALK__K_EVENT) + VALK__L(VALK_SNAP_EVENT) + VALK__L(VALK__K_EOL) +
      VALK__L(VALK__K_ID) + VALK__U64_DIGITS + VALK__L(VALK__K_EOL) +
      VALK__L(VALK__K_RETRY) + VALK__U32_DIGITS + VALK__L(VALK__K_EOL) +
      VALK__L(VALK__K_DATA);
  n += VALK__L(VALK__K_SEQ) + VALK__U64_DIGITS + VALK__L(VALK__K_TS) +
       VALK__U64_DIGITS + VALK__L(VALK__K_SLABS);
  n += valk__max_conns(conn_total, nmap) + 1; /* and its comma */
  for (i = 0; i < npools; i++) n += valk__max_pool(pool_totals[i]) + 1;
  n += valk__max_tail(max_arenas, nmap);
  return n + VALK__L(VALK__K_END) + 1; /* the NUL */
}
