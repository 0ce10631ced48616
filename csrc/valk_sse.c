/*
 * valk_sse.c: the live memory diagnostics stream. See valk_sse.h; everything
 * here runs on the AIO thread.
 */
#include "valk_sse.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "valk_events.h"
#include "valk_h2_server.h"
#include "valk_owner.h"
#include "valk_slab.h"
#include "valk_snapshot.h"
#include "valk_system.h"

#define VALK__NV(n, v)                                                         \
  { (uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, sizeof(v) - 1,              \
    NGHTTP2_NV_FLAG_NO_COPY_NAME | NGHTTP2_NV_FLAG_NO_COPY_VALUE }

static const nghttp2_nv valk__sse_headers[] = {
  VALK__NV(":status", "200"),
  VALK__NV("content-type", "text/event-stream; charset=utf-8"),
  VALK__NV("cache-control", "no-cache"),
};

enum { VALK__POOL_TCP, VALK__POOL_ARENAS, VALK__POOL_SMALL, VALK__POOL_SERVERS, VALK__POOL_CLIENTS, VALK__POOL_ADMIN,
       VALK__NPOOLS };

/* The snapshot's scratch: sized once from the config. */
typedef struct valk__scratch {
  valk_snap_slot_t *slots;      /* max_connections */
  uint8_t *bits[VALK__NPOOLS];  /* one bitmap per plain pool */
  valk_snap_arena_t *arenas;    /* arena_pool_size */
  const char *owners[VALK_MAX_OWNERS];
} valk__scratch_t;

static uint32_t valk__pool_total(const valk_system_t *sys, int pool) {
  switch (pool) {
  case VALK__POOL_TCP: return sys->config.tcp_buffer_pool_size;
  case VALK__POOL_ARENAS: return sys->config.arena_pool_size;
  case VALK__POOL_SMALL: return sys->config.small_arena_pool_size;
  case VALK__POOL_SERVERS: return VALK_MAX_SERVERS;
  case VALK__POOL_CLIENTS: return VALK_MAX_CLIENTS;
  case VALK__POOL_ADMIN: return sys->config.admin_max_connections;
  default: return 0;
  }
}

int valk_sse_init(valk_system_t *sys) {
  valk_sse_state_t *s = &sys->sse;
  valk__scratch_t *x;
  uint32_t totals[VALK__NPOOLS];
  int i;

  for (i = 0; i < VALK__NPOOLS; i++) totals[i] = valk__pool_total(sys, i);
  s->event_cap = valk_snapshot_max_bytes(sys->config.max_connections, totals, VALK__NPOOLS,
                                         sys->config.arena_pool_size, VALK_MAX_OWNERS);
  if (s->event_cap == 0) return VALK_EINVAL;
  x = calloc(1, sizeof(*x));
  s->scratch = x;
  s->json = malloc(s->event_cap);
  if (x == NULL || s->json == NULL) return VALK_ENOMEM;
  x->slots = calloc(sys->config.max_connections, sizeof(*x->slots));
  x->arenas = calloc(sys->config.arena_pool_size, sizeof(*x->arenas));
  if (x->slots == NULL || x->arenas == NULL) return VALK_ENOMEM;
  for (i = 0; i < VALK__NPOOLS; i++) {
    x->bits[i] = calloc(totals[i] / 8 + 1, 1);
    if (x->bits[i] == NULL) return VALK_ENOMEM;
  }
  return valk_slab_new(&s->slab, sizeof(valk_sse_t) + s->event_cap, sys->config.max_sse_streams);
}

void valk_sse_free(valk_system_t *sys) {
  valk_sse_state_t *s = &sys->sse;
  valk__scratch_t *x = s->scratch;
  int i;
  if (x != NULL) {
    free(x->slots);
    free(x->arenas);
    for (i = 0; i < VALK__NPOOLS; i++) free(x->bits[i]);
    free(x);
  }
  free(s->json);
  if (s->slab != NULL) valk_slab_free(s->slab);
  memset(s, 0, sizeof(*s));
}

/* ---- the snapshot -------------------------------------------------------- */

static char valk__state_char(valk_conn_state_t st) {
  switch (st) {
  case VALK_CONN_CONNECTING: return VALK_SNAP_CONNECTING;
  case VALK_CONN_ACTIVE: return VALK_SNAP_ACTIVE;
  case VALK_CONN_IDLE: return VALK_SNAP_IDLE;
  case VALK_CONN_CLOSING: return VALK_SNAP_CLOSING;
  default: return VALK_SNAP_FREE;
  }
}

/*
 * A slot's state as the snapshot shows it (docs/design.md §8): IDLE counts as
 * ACTIVE when the connection had an open stream during the last interval
 * (it left ACTIVE less than sse_interval_ms ago), so a connection serving
 * requests back to back reads Active, not Idle between two of them.
 */
static char valk__slot_state(const valk_conn_t *c, uint64_t now_ms, uint32_t interval_ms) {
  char st = valk__state_char(c->state);
  if (st == VALK_SNAP_FREE) return VALK_SNAP_CONNECTING; /* acquired, not set up yet */
  if (st == VALK_SNAP_IDLE && c->active_until_ms != 0 && now_ms - c->active_until_ms < interval_ms) return VALK_SNAP_ACTIVE;
  return st;
}

/* Per-slot state, owner and age of the connection slab, from its items. */
static void valk__collect_conns(valk_system_t *sys, valk__scratch_t *x, uint64_t now_ms) {
  const valk_slab_t *slab = sys->conn_slab;
  uint32_t i;
  for (i = 0; i < slab->count; i++) {
    valk_snap_slot_t *o = &x->slots[i];
    const valk_conn_t *c; /* every slot begins with one: server and client connections alike */
    o->state = VALK_SNAP_FREE;
    o->owner = VALK_SNAP_OWNER_OTHER;
    o->age_ms = 0;
    o->wire = 0;
    if (!atomic_load_explicit(&slab->used[i], memory_order_relaxed)) continue;
    c = valk_slab_at(slab, i);
    o->state = valk__slot_state(c, now_ms, sys->config.sse_interval_ms);
    o->owner = c->owner;
    o->age_ms = now_ms > c->state_change_ms ? (uint32_t)(now_ms - c->state_change_ms) : 0;
    o->wire = c->wire == VALK_WIRE_H2 ? VALK_SNAP_WIRE_H2 : c->wire == VALK_WIRE_HTTP1 ? VALK_SNAP_WIRE_HTTP1 : 0;
  }
}

/* The arenas in use: their bytes, from the headers slab. */
static uint32_t valk__collect_arenas(valk_system_t *sys, valk__scratch_t *x) {
  const valk_arena_pool_t *pool = &sys->arenas;
  uint32_t i, n = 0;
  for (i = 0; i < pool->count; i++) {
    const valk_arena_t *a;
    if (!atomic_load_explicit(&pool->headers->used[i], memory_order_relaxed)) continue;
    a = valk_slab_at(pool->headers, i);
    x->arenas[n].index = i;
    /* Relaxed loads: the arena may be Node's thread's right now (a request with JavaScript). */
    x->arenas[n].used = atomic_load_explicit(&a->used, memory_order_relaxed);
    x->arenas[n].high_water = atomic_load_explicit(&a->hwm, memory_order_relaxed);
    x->arenas[n].capacity = a->size;
    x->arenas[n].overflow = 0;
    n++;
  }
  return n;
}

static void valk__pool(valk_snapshot_t *s, const char *name, uint32_t total, uint64_t overflow,
                       const uint8_t *bits) {
  valk_snap_pool_t *p = &s->pools[s->npools++];
  p->name = name;
  p->total = total;
  p->overflow = overflow;
  p->bitmap = bits;
}

static void valk__runtime(valk_system_t *sys, valk_snap_runtime_t *r) {
  const valk_sse_runtime_t *in = &sys->runtime;
  r->updated_ms = atomic_load_explicit(&in->updated_ms, memory_order_relaxed);
  r->heap_used = atomic_load_explicit(&in->heap_used, memory_order_relaxed);
  r->heap_total = atomic_load_explicit(&in->heap_total, memory_order_relaxed);
  r->rss = atomic_load_explicit(&in->rss, memory_order_relaxed);
  r->external = atomic_load_explicit(&in->external, memory_order_relaxed);
  r->gc_count = atomic_load_explicit(&in->gc_count, memory_order_relaxed);
  r->gc_pause_ms = (double)atomic_load_explicit(&in->gc_pause_us, memory_order_relaxed) / 1000.0;
  r->loop_delay_ms = (double)atomic_load_explicit(&in->loop_delay_us, memory_order_relaxed) / 1000.0;
  r->loop_utilization = (double)atomic_load_explicit(&in->loop_utilization_ppm, memory_order_relaxed) / 1e6;
}

static uint64_t valk__epoch_ms(void) {
  struct timeval tv;
  gettimeofday(&tv, NULL);
  return (uint64_t)tv.tv_sec * 1000 + (uint64_t)tv.tv_usec / 1000;
}

/* Takes one snapshot and encodes its JSON into s->json. 0 or a VALK_E* code. */
static int valk__snapshot(valk_system_t *sys) {
  valk_sse_state_t *st = &sys->sse;
  valk__scratch_t *x = st->scratch;
  valk_snapshot_t s;
  uint32_t i;
  int n;

  memset(&s, 0, sizeof(s));
  s.seq = ++st->seq;
  s.timestamp_ms = valk__epoch_ms();
  valk__collect_conns(sys, x, valk_now_ms());
  s.conns.name = "connections";
  s.conns.total = sys->conn_slab->count;
  s.conns.overflow = valk_slab_overflow(sys->conn_slab);
  s.conns.slots = x->slots;
  valk_slab_bitmap(sys->tcp_bufs, x->bits[VALK__POOL_TCP], sys->tcp_bufs->count / 8 + 1);
  valk__pool(&s, "tcp_buffers", sys->tcp_bufs->count, valk_slab_overflow(sys->tcp_bufs), x->bits[VALK__POOL_TCP]);
  valk_slab_bitmap(sys->arenas.headers, x->bits[VALK__POOL_ARENAS], sys->arenas.count / 8 + 1);
  valk__pool(&s, "stream_arenas", sys->arenas.count, valk_arena_pool_overflow(&sys->arenas),
             x->bits[VALK__POOL_ARENAS]);
  if (sys->small_arenas.count > 0) { /* requests without a large body (docs/design.md §6) */
    valk_slab_bitmap(sys->small_arenas.headers, x->bits[VALK__POOL_SMALL], sys->small_arenas.count / 8 + 1);
    valk__pool(&s, "small_arenas", sys->small_arenas.count, valk_arena_pool_overflow(&sys->small_arenas),
               x->bits[VALK__POOL_SMALL]);
  }
  memset(x->bits[VALK__POOL_SERVERS], 0, VALK_MAX_SERVERS / 8 + 1);
  for (i = 0; i < VALK_MAX_SERVERS; i++)
    if (sys->servers[i] != NULL) x->bits[VALK__POOL_SERVERS][i / 8] |= (uint8_t)(1u << (i % 8));
  valk__pool(&s, "http_servers", VALK_MAX_SERVERS, 0, x->bits[VALK__POOL_SERVERS]);
  memset(x->bits[VALK__POOL_CLIENTS], 0, VALK_MAX_CLIENTS / 8 + 1);
  for (i = 0; i < VALK_MAX_CLIENTS; i++)
    if (sys->clients[i] != NULL) x->bits[VALK__POOL_CLIENTS][i / 8] |= (uint8_t)(1u << (i % 8));
  valk__pool(&s, "http_clients", VALK_MAX_CLIENTS, 0, x->bits[VALK__POOL_CLIENTS]);
  valk_slab_bitmap(sys->admin_slab, x->bits[VALK__POOL_ADMIN], sys->admin_slab->count / 8 + 1);
  valk__pool(&s, "admin_connections", sys->admin_slab->count, valk_slab_overflow(sys->admin_slab),
             x->bits[VALK__POOL_ADMIN]);
  for (i = 0; i < VALK_MAX_OWNERS; i++) x->owners[i] = valk_owner_name(&sys->owners, (uint8_t)i);
  s.owners = x->owners;
  s.nowners = VALK_MAX_OWNERS;
  s.arenas = x->arenas;
  s.narenas = valk__collect_arenas(sys, x);
  s.arena_high_water = valk_arena_pool_hwm(&sys->arenas);
  valk__runtime(sys, &s.runtime);
  s.skipped = st->skipped;
  n = valk_snapshot_json(&s, st->json, st->event_cap);
  if (n < 0) {
    st->json_len = 0;
    return n;
  }
  st->json_len = (size_t)n;
  return 0;
}

/* ---- streams --------------------------------------------------------------- */

/* Frames the last snapshot as sse's next event. */
static void valk__fill(valk_system_t *sys, valk_sse_t *sse) {
  valk_sse_state_t *st = &sys->sse;
  uint64_t id = sse->id_base + (st->seq - sse->seq0);
  int n = valk_sse_format(sse->buf, st->event_cap, VALK_SNAP_EVENT, id,
                          sse->retry_sent ? 0 : VALK_SSE_RETRY_MS, st->json, st->json_len);
  sse->sent = 0;
  sse->len = n > 0 ? (size_t)n : 0;
  sse->retry_sent = 1;
  sse->stale = 0;
}

/* Tells nghttp2 that sse has bytes again; its connection goes on *flush
 * (flushed once, after every stream is served: a flush may close it). */
static void valk__kick(valk_sse_t *sse, valk_srv_conn_t **flush) {
  valk_h2_stream_resume(sse->stream, flush);
}

/* Gives the last snapshot to every stream that is ready for it. Returns the
 * tick's level (valk_sse.h): 0, VALK_SSE_LEVEL_BEHIND or VALK_SSE_LEVEL_SKIPPED. */
static uint64_t valk__serve_streams(valk_system_t *sys) {
  valk_sse_state_t *st = &sys->sse;
  valk_sse_t *sse;
  valk_srv_conn_t *flush = NULL;
  uint64_t level = 0;
  for (sse = st->head; sse != NULL; sse = sse->next) {
    if (sse->ending) continue;
    if (sse->sent < sse->len) { /* still sending: keep only "a newer one exists" */
      if (sse->stale) {
        st->skipped++;
        VALK_STAT_ADD(sys, sse_events_skipped, 1);
        level = VALK_SSE_LEVEL_SKIPPED;
      } else if (level == 0) {
        level = VALK_SSE_LEVEL_BEHIND;
      }
      sse->stale = 1;
      continue;
    }
    valk__fill(sys, sse);
    valk__kick(sse, &flush);
  }
  valk_h2_flush_list(flush);
  return level;
}

/* The stream's backpressure state at level, now (docs/design.md §13). */
static void valk__sse_state(valk_system_t *sys, uint64_t level) {
  valk_bpstate_update(&sys->sse_state, level, uv_now(&sys->loop) * 1000000u);
}

void valk_sse_check(valk_system_t *sys) {
  if (sys->sse.open == 0) valk__sse_state(sys, 0);
}

static void valk__on_tick(uv_timer_t *timer) {
  valk_system_t *sys = timer->data;
  uint64_t t0 = uv_hrtime(), ns;
  int rc = valk__snapshot(sys);
  ns = uv_hrtime() - t0;
  VALK_STAT_SET(sys, sse_snapshot_last_ns, ns);
  if (ns > VALK_STAT_READ(&sys->stats, sse_snapshot_max_ns)) VALK_STAT_SET(sys, sse_snapshot_max_ns, ns);
  VALK_STAT_SET(sys, sse_event_bytes_last, sys->sse.json_len);
  if (rc == 0 && sys->sse.json_len > 0) valk__sse_state(sys, valk__serve_streams(sys));
  VALK_STAT_SET(sys, sse_tick_last_ns, uv_hrtime() - t0);
}

/* Opens an SSE stream on st (its request is complete); ids continue after
 * last_event_id (0 without one). NULL when max_sse_streams are open (the
 * server answers 503). The server reads it through valk__sse_read. */
static void *valk__sse_open(valk_system_t *sys, struct valk_stream *stream, uint64_t last_event_id) {
  valk_sse_state_t *st = &sys->sse;
  valk_sse_t *sse = st->slab != NULL ? valk_slab_acquire(st->slab) : NULL;
  if (sse == NULL) {
    VALK_STAT_ADD(sys, sse_streams_refused, 1);
    return NULL;
  }
  memset(sse, 0, sizeof(*sse));
  sse->stream = stream;
  /* Opened after its server's GOAWAY: it ends at once (after the event it has, if any). */
  sse->ending = valk_h2_stream_server(stream)->closing != 0;
  sse->id_base = last_event_id;
  sse->seq0 = st->seq;
  sse->next = st->head;
  if (st->head) st->head->prev = sse;
  st->head = sse;
  VALK_STAT_ADD(sys, sse_streams_active, 1);
  if (st->open++ == 0)
    VALK_UV_CHECK(uv_timer_start(&sys->sse_timer, valk__on_tick, 0, sys->config.sse_interval_ms));
  else if (st->json_len > 0) {
    sse->seq0 = st->seq - 1; /* the current snapshot is this stream's first event */
    valk__fill(sys, sse);
  }
  VALK_STAT_ADD(sys, sse_streams_opened, 1);
  valk_event_emit(&sys->events, uv_now(&sys->loop), VALK_EV_sse_opened, VALK_EVR_none, 0, 0, 0);
  return sse;
}

/* The stream ended (RST_STREAM, connection close, stop): the slot goes back. */
static void valk__sse_close(valk_system_t *sys, void *body) {
  valk_sse_t *sse = body;
  valk_sse_state_t *st = &sys->sse;
  if (sse->prev) sse->prev->next = sse->next;
  else st->head = sse->next;
  if (sse->next) sse->next->prev = sse->prev;
  valk_slab_release(st->slab, sse);
  VALK_STAT_ADD(sys, sse_streams_active, -1);
  valk_event_emit(&sys->events, uv_now(&sys->loop), VALK_EV_sse_closed, VALK_EVR_none, 0, 0, 0);
  assert(st->open > 0);
  if (--st->open == 0) {
    uv_timer_stop(&sys->sse_timer);
    st->json_len = 0;
    valk__sse_state(sys, 0); /* nobody behind: the sweep goes on from here (valk_sse_check) */
  }
}

/* Ends every SSE stream of srv (NULL: all) once its current event is out. */
static void valk__sse_end_server(valk_system_t *sys, struct valk_server *srv) {
  valk_sse_t *sse;
  valk_srv_conn_t *flush = NULL;
  for (sse = sys->sse.head; sse != NULL; sse = sse->next) {
    if ((srv != NULL && valk_h2_stream_server(sse->stream) != srv) || sse->ending) continue;
    sse->ending = 1;
    valk__kick(sse, &flush);
  }
  valk_h2_flush_list(flush);
}

/* nghttp2's data source callback for an SSE stream. */
static ssize_t valk__sse_read(nghttp2_session *session, int32_t stream_id, uint8_t *buf, size_t length,
                      uint32_t *flags, nghttp2_data_source *source, void *user_data) {
  valk_sse_t *sse = source->ptr;
  valk_system_t *sys = valk_h2_stream_server(sse->stream)->sys;
  size_t n;
  (void)session;
  (void)stream_id;
  (void)user_data;

  if (sse->sent == sse->len && sse->stale && !sse->ending) valk__fill(sys, sse); /* the newest only */
  n = sse->len - sse->sent;
  if (n == 0) {
    if (sse->ending) {
      *flags |= NGHTTP2_DATA_FLAG_EOF;
      return 0;
    }
    return NGHTTP2_ERR_DEFERRED;
  }
  if (n > length) n = length;
  memcpy(buf, sse->buf + sse->sent, n);
  sse->sent += n;
  if (sse->sent == sse->len && sse->ending) *flags |= NGHTTP2_DATA_FLAG_EOF;
  return (ssize_t)n;
}

/* ---- the server's view (valk_stream_plugin_t) ----------------------------------- */

static int valk__plugin_between_events(const void *body) {
  const valk_sse_t *sse = body;
  return sse->sent == sse->len && !sse->stale;
}

const valk_stream_plugin_t valk_sse_plugin = {
    .headers = valk__sse_headers,
    .nheaders = VALK_ARRAY_SIZE(valk__sse_headers),
    .open = valk__sse_open,
    .read = valk__sse_read,
    .close = valk__sse_close,
    .between_events = valk__plugin_between_events,
    .end_server = valk__sse_end_server,
};
