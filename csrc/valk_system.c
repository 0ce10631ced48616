/*
 * valk_system.c: the AIO thread's orchestration: its loop, its pools, the op
 * switch, stop, the sweep and the wake-up. See valk_system.h for who owns
 * what. It calls the features below it (servers, clients, the diagnostics
 * stream, request delivery); they reach back only through sys->hooks.
 */
#include "valk_system.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "valk_common.h"
#include "valk_dispatch.h"
#include "valk_h2_client.h"
#include "valk_h2_server.h"
#include "valk_sse.h"

/* ---- owner thread ------------------------------------------------------- */

/* Arenas of every pool: the slots a request to JavaScript is named by (valk_dispatch.h). */
static uint64_t valk__js_slots(const valk_system_config_t *cfg) {
  return (uint64_t)cfg->arena_pool_size + VALK_ADMIN_ARENAS_PER_CONN * (uint64_t)cfg->admin_max_connections +
         cfg->small_arena_pool_size;
}

static int valk__config_check(const valk_system_config_t *cfg, char *err, size_t err_len) {
  /* lib/config.ts validates everything; these are the bounds C relies on. */
  if (cfg->max_connections < 1 || cfg->max_connections > 1000000) {
    snprintf(err, err_len, "max_connections %u out of range", cfg->max_connections);
    return VALK_EINVAL;
  }
  if (cfg->max_concurrent_streams < 1 || cfg->max_concurrent_streams > 1u << 30) {
    snprintf(err, err_len, "max_concurrent_streams %u out of range", cfg->max_concurrent_streams);
    return VALK_EINVAL;
  }
  if (cfg->handshake_timeout_ms < 1) {
    snprintf(err, err_len, "handshake_timeout_ms must be at least 1");
    return VALK_EINVAL;
  }
  if (cfg->tcp_buffer_pool_size < 2 || cfg->tcp_buffer_pool_size > 10000000) {
    snprintf(err, err_len, "tcp_buffer_pool_size %u out of range", cfg->tcp_buffer_pool_size);
    return VALK_EINVAL;
  }
  if (cfg->arena_pool_size < 1 || cfg->arena_size < 4096 || cfg->queue_capacity < 1) {
    snprintf(err, err_len, "arena_pool_size and arena_size must be positive");
    return VALK_EINVAL;
  }
  if (!(cfg->buffer_high_watermark > 0 && cfg->buffer_high_watermark < cfg->buffer_critical_watermark &&
        cfg->buffer_critical_watermark <= 1)) {
    snprintf(err, err_len, "watermarks must satisfy 0 < high < critical <= 1");
    return VALK_EINVAL;
  }
  if (cfg->sse_interval_ms < 1 || cfg->max_sse_streams < 1 || cfg->admin_max_connections < 1) {
    snprintf(err, err_len, "sse_interval_ms, max_sse_streams and admin_max_connections must be positive");
    return VALK_EINVAL;
  }
  if (cfg->max_header_list_size < 1024 || cfg->max_header_pairs < 4 ||
      cfg->max_session_memory < 4ull * cfg->max_header_list_size || cfg->control_frame_rate < 1 ||
      cfg->settings_timeout_ms < 1 || cfg->headers_timeout_ms < 1 || cfg->body_timeout_ms < 1 ||
      cfg->request_timeout_ms < 1 || cfg->send_timeout_ms < 1) {
    snprintf(err, err_len, "header limits, maxSessionMemory (>= 4 x maxHeaderListSize) or a timeout out of range");
    return VALK_EINVAL;
  }
  if (cfg->small_arena_size < 4096 || cfg->small_arena_size > cfg->arena_size ||
      valk__js_slots(cfg) >= (1ull << VALK_TOKEN_SLOT_BITS)) {
    snprintf(err, err_len, "small arenas out of range (or more than 2^%d arenas in all)", VALK_TOKEN_SLOT_BITS);
    return VALK_EINVAL;
  }
  if (cfg->backpressure_list_max < 1 || cfg->max_graceful_rejections < 1 || cfg->stream_reset_rate < 1 ||
      cfg->reject_mode > VALK_REJECT_GOAWAY) {
    snprintf(err, err_len, "backpressure_list_max, max_graceful_rejections or reject_mode out of range");
    return VALK_EINVAL;
  }
  return 0;
}

static void valk__on_wakeup(uv_async_t *handle);
static void valk__system_wire(valk_system_t *sys);

static void valk__on_publish(uv_check_t *check) {
  valk_system_t *sys = check->data;
  valk_loop_stats_publish(&sys->loop_stats, &sys->loop);
}

/* A trim period of the arena pools (valk_arena.h): a free arena keeps its
 * pages for the next bulk body, at least this long and less than twice it. */
#define VALK_ARENA_TRIM_MS 1000

static void valk__on_sweep(uv_timer_t *timer) {
  valk_system_t *sys = timer->data;
  uint64_t now = uv_now(&sys->loop);
  valk_h2_sweep(sys);
  valk_h2_client_sweep(sys);
  valk_h2_queue_check(sys); /* the queues' backpressure states (docs/design.md §13) */
  valk_sse_check(sys);
  if (now - sys->arenas_trimmed_ms >= VALK_ARENA_TRIM_MS) {
    sys->arenas_trimmed_ms = now;
    valk_arena_pool_trim(&sys->arenas);
    valk_arena_pool_trim(&sys->admin_arenas);
    valk_arena_pool_trim(&sys->small_arenas);
  }
}

/* Sweep often enough to honour the shortest timeout within a quarter of it. */
static uint64_t valk__sweep_ms(const valk_system_config_t *cfg) {
  uint32_t t[] = {cfg->settings_timeout_ms, cfg->headers_timeout_ms, cfg->body_timeout_ms,
                  cfg->request_timeout_ms, cfg->send_timeout_ms};
  uint64_t ms = cfg->handshake_timeout_ms;
  size_t i;
  if (cfg->idle_timeout_ms > 0 && cfg->idle_timeout_ms < ms) ms = cfg->idle_timeout_ms;
  for (i = 0; i < VALK_ARRAY_SIZE(t); i++)
    if (t[i] < ms) ms = t[i];
  ms /= 4;
  return ms < 25 ? 25 : ms > 1000 ? 1000 : ms;
}

/* Slots in use from which the soft limit acts: ceil(high watermark x max). */
static uint32_t valk__soft_limit_at(const valk_system_config_t *cfg) {
  double at = cfg->buffer_high_watermark * cfg->max_connections;
  uint32_t n = (uint32_t)at;
  if ((double)n < at) n++;
  return n < 1 ? 1 : n;
}

static void valk__system_free_pools(valk_system_t *sys) {
  valk_slab_free(sys->conn_slab);
  valk_slab_free(sys->tcp_bufs);
  valk_slab_free(sys->graceful);
  valk_slab_free(sys->admin_slab);
  valk_arena_pool_destroy(&sys->arenas);
  valk_arena_pool_destroy(&sys->admin_arenas);
  valk_bp_destroy(&sys->backpressure);
  valk_ip_table_destroy(&sys->ips);
  valk_ring_destroy(&sys->cmds);
  valk_ring_destroy(&sys->done);
  valk_ring_destroy(&sys->requests);
  valk_ring_destroy(&sys->responses);
  valk_ring_destroy(&sys->cancels);
  valk_ring_destroy(&sys->unpins);
  valk_ring_destroy(&sys->chunks);
  valk_ring_destroy(&sys->bodies);
  valk_ring_destroy(&sys->takes);
  valk_evring_destroy(&sys->events);
  free(sys->body_reqs);
  valk_arena_pool_destroy(&sys->small_arenas);
  valk_h2_pages_destroy(&sys->h2_pages);
  valk_sse_free(sys);
}

/* The event ring, from the trace* fields (lib/config.ts checked their relations). */
static int valk__events_init(valk_system_t *sys) {
  const valk_system_config_t *cfg = &sys->config;
  valk_evring_config_t ec = {valk_evring_round_capacity(cfg->trace_ring_capacity), cfg->trace_pressure_pct,
                             cfg->trace_dropping_pct, cfg->trace_recovery_pct,
                             (uint64_t)cfg->trace_stability_ms * 1000000u, (valk_drop_policy_t)cfg->trace_drop_policy};
  return valk_evring_init(&sys->events, &ec);
}

/* The states of the queues leaving the AIO thread (docs/design.md §13), in
 * the event ring's vocabulary and with its trace* percentages and stability:
 * the request ring DROPPING when full (requests then wait for room), the
 * diagnostics stream at one level per step (valk_sse.h: behind, skipped). */
static void valk__queue_states_init(valk_system_t *sys) {
  const valk_system_config_t *cfg = &sys->config;
  uint64_t stability_ns = (uint64_t)cfg->trace_stability_ms * 1000000u;
  valk_bp_levels_t q = valk_bp_levels_of(cfg->queue_capacity, cfg->trace_pressure_pct, 100, cfg->trace_recovery_pct,
                                         stability_ns);
  valk_bp_levels_t sse = {VALK_SSE_LEVEL_BEHIND, VALK_SSE_LEVEL_SKIPPED, VALK_SSE_LEVEL_BEHIND, stability_ns};
  valk_bpstate_init(&sys->queue_state, &q);
  valk_bpstate_init(&sys->sse_state, &sse);
}

static int valk__system_init_pools(valk_system_t *sys, char *err, size_t err_len) {
  int rc, i;

  rc = valk_ring_init(&sys->cmds, VALK_OP_RING_SIZE);
  if (rc == 0) rc = valk_ring_init(&sys->done, VALK_OP_RING_SIZE);
  if (rc == 0) rc = valk_ring_init(&sys->requests, sys->config.queue_capacity);
  if (rc == 0)
    rc = valk_ring_init(&sys->responses, valk__js_slots(&sys->config));
  if (rc == 0) rc = valk_ring_init(&sys->cancels, 2 * valk__js_slots(&sys->config));
  if (rc == 0) rc = valk_ring_init(&sys->unpins, 2 * valk__js_slots(&sys->config));
  if (rc == 0) rc = valk_ring_init(&sys->chunks, valk__js_slots(&sys->config));
  if (rc == 0) rc = valk_ring_init(&sys->bodies, 2 * valk__js_slots(&sys->config));
  if (rc == 0) rc = valk_ring_init(&sys->takes, 2 * valk__js_slots(&sys->config));
  if (rc == 0) rc = valk__events_init(sys);
  valk__queue_states_init(sys);
  sys->body_slots = (uint32_t)valk__js_slots(&sys->config); /* < 2^21: valk__config_check */
  if (rc == 0 && (sys->body_reqs = calloc(sys->body_slots, sizeof(*sys->body_reqs))) == NULL) rc = VALK_ENOMEM;
  if (rc == 0) rc = valk_slab_new(&sys->conn_slab, VALK_CONN_SLOT_SIZE, sys->config.max_connections);
  if (rc == 0)
    rc = valk_slab_new(&sys->tcp_bufs, sizeof(valk_tcp_buf_t), sys->config.tcp_buffer_pool_size);
  if (rc == 0)
    rc = valk_slab_new(&sys->admin_slab, VALK_CONN_SLOT_SIZE, sys->config.admin_max_connections);
  if (rc == 0 && sys->config.reject_mode == VALK_REJECT_GOAWAY)
    rc = valk_slab_new(&sys->graceful, VALK_CONN_SLOT_SIZE, sys->config.max_graceful_rejections);
  if (rc == 0)
    rc = valk_arena_pool_init(&sys->arenas, sys->config.arena_pool_size,
                              (size_t)sys->config.arena_size, VALK_ARENA_KEEP);
  if (rc == 0)
    rc = valk_arena_pool_init(&sys->admin_arenas, VALK_ADMIN_ARENAS_PER_CONN * sys->config.admin_max_connections,
                              sys->config.arena_size < VALK_ADMIN_ARENA_SIZE ? (size_t)sys->config.arena_size
                                                                             : VALK_ADMIN_ARENA_SIZE,
                              VALK_ARENA_KEEP);
  if (rc == 0 && sys->config.small_arena_pool_size > 0) /* 0: none (a zeroed pool: every request takes a big arena) */
    rc = valk_arena_pool_init(&sys->small_arenas, sys->config.small_arena_pool_size,
                              (size_t)sys->config.small_arena_size, (size_t)sys->config.small_arena_size);
  if (rc == 0) /* two blocks of each class per connection of every slab (valk_h2_mem.h) */
    rc = valk_h2_pages_init(&sys->h2_pages, 2 * (sys->config.max_connections + sys->config.admin_max_connections +
                                                 sys->config.max_graceful_rejections + VALK_MAX_CLIENTS));
  if (rc == 0) rc = valk_bp_init(&sys->backpressure, sys->config.backpressure_list_max);
  if (rc == 0) rc = valk_sse_init(sys);
  if (rc == 0 && sys->config.max_connections_per_ip > 0)
    rc = valk_ip_table_init(&sys->ips, sys->config.max_connections);
  if (rc != 0) {
    snprintf(err, err_len, "cannot create the pools: %s", valk_strerror(rc));
    return rc;
  }
  valk_watermark_init(&sys->watermark, sys->config.tcp_buffer_pool_size,
                      sys->config.buffer_high_watermark, sys->config.buffer_critical_watermark,
                      sys->config.min_buffers_per_conn);
  sys->soft_limit_at = valk__soft_limit_at(&sys->config);
  for (i = VALK_REJECT_HANDLES - 1; i >= 0; i--) {
    sys->rejects[i].sys = sys;
    sys->rejects[i].next = sys->reject_free;
    sys->reject_free = &sys->rejects[i];
  }
  return 0;
}

static void valk__system_thread(void *arg);

int valk_system_start(valk_system_t **out, const valk_system_config_t *cfg,
                      valk_notify_fn notify, void *notify_data, char *err,
                      size_t err_len) {
  valk_system_t *sys;
  int rc;

  *out = NULL;
  rc = valk__config_check(cfg, err, err_len);
  if (rc != 0) return rc;
  sys = calloc(1, sizeof(*sys));
  if (sys == NULL) return VALK_ENOMEM;
  sys->config = *cfg;
  sys->notify = notify;
  sys->notify_data = notify_data;
  rc = valk__system_init_pools(sys, err, err_len);
  if (rc != 0) goto fail;
  valk__system_wire(sys);
  rc = uv_loop_init(&sys->loop);
  if (rc != 0) goto fail;
  uv_loop_configure(&sys->loop, UV_METRICS_IDLE_TIME);
  atomic_store(&sys->loop_stats.started_ns, uv_hrtime());
  rc = uv_async_init(&sys->loop, &sys->wakeup, valk__on_wakeup);
  if (rc != 0) {
    uv_loop_close(&sys->loop);
    goto fail;
  }
  sys->wakeup.data = sys;
  VALK_UV_CHECK(uv_timer_init(&sys->loop, &sys->sweep));
  sys->sweep.data = sys;
  VALK_UV_CHECK(uv_timer_start(&sys->sweep, valk__on_sweep, valk__sweep_ms(cfg), valk__sweep_ms(cfg)));
  VALK_UV_CHECK(uv_timer_init(&sys->loop, &sys->sse_timer));
  sys->sse_timer.data = sys;
  VALK_UV_CHECK(uv_check_init(&sys->loop, &sys->publish));
  sys->publish.data = sys;
  VALK_UV_CHECK(uv_check_start(&sys->publish, valk__on_publish));
  uv_unref((uv_handle_t *)&sys->publish);
  rc = uv_thread_create(&sys->thread, valk__system_thread, sys);
  if (rc != 0) {
    snprintf(err, err_len, "cannot start the AIO thread: %s", uv_strerror(rc));
    uv_close((uv_handle_t *)&sys->wakeup, NULL);
    uv_close((uv_handle_t *)&sys->sweep, NULL);
    uv_close((uv_handle_t *)&sys->publish, NULL);
    uv_close((uv_handle_t *)&sys->sse_timer, NULL);
    uv_run(&sys->loop, UV_RUN_DEFAULT);
    uv_loop_close(&sys->loop);
    goto fail;
  }
  *out = sys;
  return 0;
fail:
  valk__system_free_pools(sys);
  free(sys);
  return rc;
}

int valk_system_submit(valk_system_t *sys, valk_op_t *op) {
  int rc;

  if (op->type == VALK_OP_STOP) {
    int expected = VALK_SYS_RUNNING;
    if (!atomic_compare_exchange_strong(&sys->state, &expected, VALK_SYS_STOPPING))
      return VALK_ESTOPPED;
  } else if (atomic_load(&sys->state) != VALK_SYS_RUNNING) {
    return VALK_ESTOPPED;
  }
  rc = valk_ring_push(&sys->cmds, op);
  if (rc < 0) {
    if (op->type == VALK_OP_STOP) atomic_store(&sys->state, VALK_SYS_RUNNING);
    return rc;
  }
  if (rc == 1) uv_async_send(&sys->wakeup);
  return 0;
}

uint32_t valk_system_take_done(valk_system_t *sys, valk_op_t **out, uint32_t max) {
  return valk_ring_drain(&sys->done, (void **)out, max);
}

void valk_system_join_and_free(valk_system_t *sys) {
  uv_thread_join(&sys->thread);
  uv_loop_close(&sys->loop);
  valk__system_free_pools(sys);
  free(sys);
}

/* ---- AIO thread --------------------------------------------------------- */

static void valk__system_maybe_finish(valk_system_t *sys) {
  /* Requests with JavaScript keep the loop (and wakeup, their way back) alive:
   * the owner answers every one of them when it stops. */
  if (sys->stop_op == NULL || atomic_load(&sys->server_count) > 0 ||
      atomic_load(&sys->client_count) > 0 || atomic_load(&sys->js_in_flight) > 0)
    return;
  if (uv_is_closing((uv_handle_t *)&sys->wakeup)) return;
  uv_close((uv_handle_t *)&sys->wakeup, NULL); /* the loop ends when rejects are closed too */
  uv_close((uv_handle_t *)&sys->sweep, NULL);
  uv_close((uv_handle_t *)&sys->publish, NULL);
  uv_close((uv_handle_t *)&sys->sse_timer, NULL);
}

/* hooks.server_gone: forget srv (and finish a stop). */
static void valk__server_gone(valk_system_t *sys, struct valk_server *srv) {
  uint32_t i;
  for (i = 0; i < VALK_MAX_SERVERS; i++) {
    if (sys->servers[i] == srv) {
      sys->servers[i] = NULL;
      atomic_fetch_sub(&sys->server_count, 1);
    }
  }
  valk__system_maybe_finish(sys);
}

/* hooks.client_gone: a client's slot is free (finishes a stop that waited for it). */
static void valk__client_gone(valk_system_t *sys) {
  valk__system_maybe_finish(sys);
}

/* The hooks and the connection layer's view of the pools (valk_conn.h). */
static void valk__system_wire(valk_system_t *sys) {
  valk_io_t *io = &sys->io;
  io->loop = &sys->loop;
  io->tcp_bufs = sys->tcp_bufs;
  io->watermark = &sys->watermark;
  io->events = &sys->events;
  io->backpressure = &sys->backpressure;
  io->stats = &sys->stats;
  io->min_buffers_per_conn = sys->config.min_buffers_per_conn;
  io->max_session_memory = sys->config.max_session_memory;
  io->pages = &sys->h2_pages;
  io->read_scratch = sys->read_scratch;
  io->write_scratch = sys->write_scratch;
  sys->hooks.server_gone = valk__server_gone;
  sys->hooks.client_gone = valk__client_gone;
  sys->hooks.slot_freed = valk_h2_retry_accepts;
  sys->hooks.sse = &valk_sse_plugin;
}

static struct valk_server *valk__find_server(valk_system_t *sys, uint32_t id) {
  uint32_t i;
  for (i = 0; i < VALK_MAX_SERVERS; i++)
    if (sys->servers[i] != NULL && sys->servers[i]->id == id) return sys->servers[i];
  return NULL;
}

static void valk__begin_stop(valk_system_t *sys, valk_op_t *op) {
  uint32_t i;
  sys->stop_op = op;
  for (i = 0; i < VALK_MAX_SERVERS; i++)
    if (sys->servers[i] != NULL) valk_h2_server_close(sys->servers[i], NULL);
  valk_h2_client_close_all(sys, "system is stopping");
  valk__system_maybe_finish(sys);
}

static void valk__dispatch(valk_system_t *sys, valk_op_t *op) {
  struct valk_server *srv;

  switch (op->type) {
  case VALK_OP_LISTEN:
    valk_h2_server_listen(sys, op);
    return;
  case VALK_OP_CLOSE_SERVER:
    srv = valk__find_server(sys, op->u.close.server_id);
    if (srv != NULL) {
      valk_h2_server_close(srv, op);
      return;
    }
    op->status = VALK_ENOTFOUND;
    snprintf(op->error, sizeof(op->error), "no server %u", op->u.close.server_id);
    break;
  case VALK_OP_STOP:
    valk__begin_stop(sys, op);
    return;
  case VALK_OP_CONNECT:
    valk_h2_client_connect(sys, op);
    return;
  case VALK_OP_REQUEST:
    valk_h2_client_request(sys, op);
    return;
  case VALK_OP_CLIENT_CLOSE:
    valk_h2_client_close(sys, op);
    return;
  default:
    op->status = VALK_EINVAL;
    snprintf(op->error, sizeof(op->error), "unknown op %d", (int)op->type);
    break;
  }
  valk_op_complete(sys, op);
}

static void valk__on_wakeup(uv_async_t *handle) {
  valk_system_t *sys = handle->data;
  valk_op_t *ops[VALK_OP_RING_SIZE];
  uint32_t n, i;
  valk_dispatch_drain_responses(sys);
  valk_dispatch_drain_chunks(sys);
  valk_dispatch_drain_takes(sys);
  valk_h2_backlog_push(sys); /* Node's thread drained the request ring */
  n = valk_ring_drain(&sys->cmds, (void **)ops, VALK_OP_RING_SIZE);
  for (i = 0; i < n; i++) valk__dispatch(sys, ops[i]);
  valk__system_maybe_finish(sys);
}

/* At stop: every slot not released, logged and handed back in the STOP op. */
static void valk__leak_report(valk_system_t *sys, valk_op_t *op) {
  uint8_t bits[4096];
  uint32_t i, n = 0;

  op->u.stop.leaked_connections = valk_slab_used(sys->conn_slab);
  op->u.stop.leaked_tcp_buffers = valk_slab_used(sys->tcp_bufs);
  op->u.stop.leaked_arenas = valk_arena_pool_used(&sys->arenas) + valk_arena_pool_used(&sys->admin_arenas) +
                              valk_arena_pool_used(&sys->small_arenas);
  op->u.stop.leaked_graceful = sys->graceful ? valk_slab_used(sys->graceful) : 0;
  op->u.stop.leaked_admin = valk_slab_used(sys->admin_slab);
  if (op->u.stop.leaked_connections > 0 &&
      valk_slab_bitmap(sys->conn_slab, bits, sizeof(bits)) == 0) {
    for (i = 0; i < sys->conn_slab->count && i < sizeof(bits) * 8 && n < 16; i++)
      if (bits[i / 8] & (1u << (i % 8))) op->u.stop.leaked_slots[n++] = i;
  }
  if (op->u.stop.leaked_connections || op->u.stop.leaked_tcp_buffers ||
      op->u.stop.leaked_arenas || op->u.stop.leaked_graceful || op->u.stop.leaked_admin)
    VALK_WARN("stop: not released: %u connection slots (first at %u), %u TCP buffers, "
              "%u arenas, %u graceful-rejection slots",
              op->u.stop.leaked_connections, n ? op->u.stop.leaked_slots[0] : 0,
              op->u.stop.leaked_tcp_buffers, op->u.stop.leaked_arenas, op->u.stop.leaked_graceful);
  op->status = 0;
}

static void valk__system_thread(void *arg) {
  valk_system_t *sys = arg;
  valk_op_t *op;

  uv_run(&sys->loop, UV_RUN_DEFAULT);
  valk_dispatch_discard(sys);
  op = sys->stop_op;
  if (op != NULL) valk__leak_report(sys, op);
  atomic_store(&sys->state, VALK_SYS_STOPPED);
  if (op != NULL) valk_op_complete(sys, op);
}
