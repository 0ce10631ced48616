/*
 * valk_system.h: one AIO system: a thread running its own uv_loop_t, the
 * pools sized once from the resolved config, and the two bounded rings that
 * are the only way in and out of it.
 *
 * Ownership:
 *   - The owner thread (Node's main thread, via the binding) creates the system
 *     with valk_system_start, pushes ops with valk_system_submit, takes finished
 *     ops with valk_system_take_done, and frees the system with
 *     valk_system_join_and_free once the STOP op has come back.
 *   - Everything else (loop, handles, slabs' acquire/release, servers,
 *     connections, sessions) belongs to the AIO thread.
 *   - Counters in valk_stats_t and the slabs' counts are atomics: any thread reads.
 */
#ifndef VALK_SYSTEM_H
#define VALK_SYSTEM_H

#include <openssl/ssl.h>
#include <stdint.h>
#include <uv.h>

#include "valk_admission.h"
#include "valk_arena.h"
#include "valk_bpstate.h"
#include "valk_common.h"
#include "valk_config.h"
#include "valk_conn.h"
#include "valk_metrics.h"
#include "valk_owner.h"
#include "valk_sse.h"
#include "valk_evring.h"
#include "valk_ring.h"
#include "valk_slab.h"

#ifdef __cplusplus
extern "C" {
#endif

#define VALK_MAX_SERVERS 16      /* servers per system (docs/design.md §2) */
#define VALK_MAX_CLIENTS 16      /* HTTP/2 client connections per system (valk_h2_client.h) */
#define VALK_OP_RING_SIZE 64     /* ops in flight between the owner and one system */
#define VALK_REJECT_HANDLES 64   /* handles for refusing connections (RST) at once */
#define VALK_ARENA_KEEP (64 * 1024) /* bytes of a released arena kept committed */
/* The admin listeners' own arenas (so /health and /debug/metrics answer whatever
 * the main listener suffers): 2 per admin connection slot, of at most this size. */
#define VALK_ADMIN_ARENA_SIZE (4u * 1024 * 1024)
#define VALK_ADMIN_ARENAS_PER_CONN 2




typedef enum {
  VALK_OP_LISTEN = 1,
  VALK_OP_CLOSE_SERVER,
  VALK_OP_STOP,
  VALK_OP_CONNECT,      /* an HTTP/2 client connection (valk_h2_client.h) */
  VALK_OP_REQUEST,      /* one request on a client connection */
  VALK_OP_CLIENT_CLOSE  /* closes a client connection */
} valk_op_type_t;

struct valk_server_opts;
struct valk_client_opts;
struct valk_client_req;
struct valk_client;
struct valk_server;
struct valk_srv_conn;

/*
 * One request to a system and, once done, its answer. The submitter allocates
 * it; from valk_system_submit until it comes back from valk_system_take_done it
 * belongs to the AIO thread, then to the submitter again, who frees it.
 */
typedef struct valk_op {
  valk_op_type_t type;
  uint64_t tag;      /* the submitter's, untouched */
  int status;        /* 0 or a negative error code: set by the AIO thread */
  char error[256];   /* a message when status != 0 */
  union {
    struct {
      struct valk_server_opts *opts; /* ownership passes to the AIO thread */
      uint32_t server_id;            /* out */
      int port;                      /* out: the bound port */
    } listen;
    struct {
      uint32_t server_id;
    } close;
    struct {
      struct valk_client_opts *opts; /* ownership passes to the AIO thread */
      uint32_t client_id;            /* out */
    } connect;
    struct {
      struct valk_client_req *req;   /* the submitter's: in (request) and out (response) */
    } request;
    struct {
      uint32_t client_id;
    } client_close;
    struct {
      uint32_t leaked_connections; /* out: connection slots not released */
      uint32_t leaked_tcp_buffers; /* out */
      uint32_t leaked_arenas;      /* out */
      uint32_t leaked_graceful;    /* out: goaway-mode rejection slots */
      uint32_t leaked_admin;       /* out: admin listener connection slots */
      uint32_t leaked_slots[16];   /* out: the first leaked connection slot indices */
    } stop;
  } u;
} valk_op_t;

/* Streaming request bodies' block cache (valk_h2_body.c): size classes of
 * 16 KiB x 2^i up to 16 MiB (streamWindowSize's maximum), and at most
 * VALK_BODY_BLOCKS_MAX bytes kept (estimateFootprint counts them). */
#define VALK_BODY_BLOCK_MIN 16384u
#define VALK_BODY_BLOCK_CLASSES 11
#define VALK_BODY_BLOCKS_MAX (8u << 20)

/* Called on the AIO thread when the done ring goes from empty to non-empty,
 * and once after a loop iteration in which the request ring did (the check
 * phase: one wake-up for every request read in that iteration). */
typedef void (*valk_notify_fn)(void *data);

struct valk_system;
struct valk_stream_plugin;

/*
 * How the layers below reach the orchestration and the features above them
 * (docs/architecture.md): set once by valk_system_start, called on the AIO
 * thread. Function pointers, never symbol references, so calls go one way.
 */
typedef struct valk_system_hooks {
  void (*server_gone)(struct valk_system *sys, struct valk_server *srv); /* a server finished closing */
  void (*client_gone)(struct valk_system *sys);  /* a client's slot is free and the client forgotten */
  void (*slot_freed)(struct valk_system *sys);   /* a connection slot or reject handle came free */
  const struct valk_stream_plugin *sse;          /* the diagnostics stream (valk_sse.h) */
} valk_system_hooks_t;

typedef enum { VALK_SYS_RUNNING = 0, VALK_SYS_STOPPING, VALK_SYS_STOPPED } valk_sys_state_t;

typedef struct valk_reject {
  uv_tcp_t tcp;
  struct valk_system *sys;
  struct valk_reject *next;
} valk_reject_t;

typedef struct valk_system {
  valk_system_config_t config; /* immutable after start */
  valk_stats_t stats;          /* per-thread shards: each thread writes its own, any reads */
  valk_loop_stats_t loop_stats; /* the AIO loop's, published each iteration */
  VALK_ATOMIC(int) state;           /* valk_sys_state_t: any thread reads */

  /* Owner <-> AIO thread. */
  uv_thread_t thread;
  valk_evring_t events;        /* lifecycle events: the AIO thread records, the owner drains (docs/design.md §13) */
  valk_ring_t cmds;            /* owner pushes, AIO thread drains */
  valk_ring_t done;            /* AIO thread pushes, owner drains */
  valk_ring_t requests;        /* queue_capacity: AIO thread pushes, owner drains (valk_dispatch.h) */
  valk_bpstate_t queue_state;  /* the request ring's backpressure state (docs/design.md §13): the AIO
                                * thread evaluates it (each push, each sweep), any thread reads */
  valk_bpstate_t sse_state;    /* the diagnostics stream's (docs/design.md §13): the AIO thread
                                * evaluates it (each SSE tick; each sweep while no stream is open) */
  valk_ring_t responses;       /* one entry per arena of every pool: owner pushes, AIO thread drains */
  valk_ring_t cancels;         /* tokens of requests whose stream died while JavaScript had them
                                * (2 per arena of every pool): AIO thread pushes, owner drains */
  valk_ring_t chunks;          /* streaming answers with their next chunk (1 per arena): owner
                                * pushes, AIO thread drains (valk_dispatch_chunk) */
  valk_ring_t unpins;          /* tokens whose answer body (a JavaScript Buffer the owner keeps
                                * alive) is no longer read (2 per arena): AIO pushes, owner drains */
  valk_ring_t bodies;          /* tokens of requests whose next body chunk is ready (2 per arena):
                                * AIO thread pushes, owner drains (valk_h2_body.h) */
  valk_ring_t takes;           /* tokens of body chunks the owner copied (2 per arena): owner
                                * pushes, AIO thread drains */
  VALK_ATOMIC(int) bodies_lost; /* a notice did not fit the body ring (stale ones filled it): the
                                 * owner wakes every reader (binding_bodies.cc) */
  VALK_ATOMIC(uint32_t) js_in_flight; /* requests pushed whose response is not drained yet */
  VALK_ATOMIC(int) js_backlog;  /* requests wait for room in the request ring: the owner wakes
                                 * the AIO thread when it drained the ring (valk_dispatch_take) */
  valk_sse_runtime_t runtime;  /* Node's heap/GC/loop figures: the owner writes, the AIO thread reads */
  valk_notify_fn notify;
  void *notify_data;

  /* AIO thread only from here on. */
  uv_loop_t loop;
  valk_io_t io;                /* what connections share (valk_conn.h): points into this struct */
  valk_system_hooks_t hooks;
  uv_async_t wakeup;           /* uv_async_send from any thread */
  uv_timer_t sweep;            /* handshake and idle timeouts, every sweep_ms */
  uint64_t arenas_trimmed_ms;  /* when the arena pools' last trim period ended (valk_arena_pool_trim) */
  uv_check_t publish;          /* copies the loop's metrics into loop_stats (unref'd) */
  uv_timer_t sse_timer;        /* the diagnostics snapshot, while SSE streams are open */
  valk_sse_state_t sse;        /* the SSE streams and the snapshot scratch */
  valk_owner_registry_t owners; /* servers (":port") and clients, for the snapshot */
  valk_slab_t *conn_slab;      /* max_connections items of valk_conn_t */
  valk_slab_t *tcp_bufs;       /* tcp_buffer_pool_size items of valk_tcp_buf_t */
  valk_slab_t *graceful;       /* max_graceful_rejections valk_conn_t, goaway mode only */
  valk_slab_t *admin_slab;     /* admin_max_connections valk_conn_t: outside max_connections */
  valk_arena_pool_t arenas;    /* arena_pool_size per-stream arenas */
  valk_arena_pool_t admin_arenas; /* the admin listeners' streams' (VALK_ADMIN_ARENAS_PER_CONN x admin_max_connections) */
  valk_h2_pages_t h2_pages;    /* page blocks for nghttp2's large allocations (valk_h2_mem.h) */
  valk_arena_pool_t small_arenas; /* small_arena_pool_size of small_arena_size: a request without a
                                   * large body (docs/design.md §6) */
  struct valk_js_request **body_reqs; /* by slot: the requests whose body streams (the takes the
                                   * AIO thread accepts: a stale one finds another gen, or none) */
  uint32_t body_slots;         /* body_reqs' length: every pool's arenas (valk_dispatch_slots) */
  void *body_blocks[VALK_BODY_BLOCK_CLASSES]; /* freed body blocks by size class (16 KiB x 2^i),
                                   * linked through their first bytes (valk_h2_body.c) */
  uint64_t body_blocks_bytes;  /* what they hold: at most VALK_BODY_BLOCKS_MAX */
  uint32_t request_gen;        /* generation of the last request handed to JavaScript (valk_dispatch.h) */
  uint64_t next_conn_uid;      /* identity of the last connection accepted (never reused) */
  valk_watermark_t watermark;  /* TCP buffer usage state, with hysteresis */
  valk_bp_heap_t backpressure; /* connections paused for lack of TCP buffers */
  valk_ip_table_t ips;         /* connections per client IP (when limited) */
  struct valk_srv_conn *idle_head, *idle_tail; /* IDLE connections, longest idle first */
  struct valk_stream *backlog_head, *backlog_tail; /* requests for JavaScript waiting for room in
                                                    * the request ring, oldest first (admin first) */
  uint32_t soft_limit_at;      /* connection slots in use from which the soft limit acts */
  valk_server_stats_t server_stats[VALK_MAX_SERVERS]; /* by server slot */
  struct valk_server *servers[VALK_MAX_SERVERS];
  VALK_ATOMIC(uint32_t) server_count;
  uint32_t next_server_id;
  struct valk_client *clients[VALK_MAX_CLIENTS]; /* HTTP/2 client connections */
  VALK_ATOMIC(uint32_t) client_count;
  VALK_ATOMIC(uint32_t) client_live[VALK_MAX_CLIENTS]; /* ids of clients that can take requests (0: none); any thread reads */
  uint32_t next_client_id;
  valk_op_t *stop_op;
  valk_reject_t rejects[VALK_REJECT_HANDLES];
  valk_reject_t *reject_free;
  uint8_t read_scratch[VALK_SCRATCH_SIZE];
  uint8_t write_scratch[VALK_SCRATCH_SIZE];
} valk_system_t;

/*
 * Creates the pools from cfg and starts the AIO thread. notify runs on the AIO
 * thread whenever finished ops are waiting (the binding wakes Node's loop).
 * Returns 0 and *out, VALK_EINVAL (a field C cannot run with, message in err),
 * VALK_ENOMEM, or a UV_E* code.
 */
int valk_system_start(valk_system_t **out, const valk_system_config_t *cfg,
                      valk_notify_fn notify, void *notify_data, char *err,
                      size_t err_len);

/* Any thread. 0, VALK_EFULL (too many ops in flight) or VALK_ESTOPPED. */
int valk_system_submit(valk_system_t *sys, valk_op_t *op);

/* Owner thread. Moves up to max finished ops into out; returns how many. */
uint32_t valk_system_take_done(valk_system_t *sys, valk_op_t **out, uint32_t max);

/* Owner thread, after the STOP op came back: joins the thread, frees everything. */
void valk_system_join_and_free(valk_system_t *sys);

/* AIO thread: hands a finished op back to the owner (valk_op.c: every layer
 * completes ops, so this lives below them). */
void valk_op_complete(valk_system_t *sys, valk_op_t *op);

#ifdef __cplusplus
}
#endif
#endif /* VALK_SYSTEM_H */
