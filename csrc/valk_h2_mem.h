/*
 * valk_h2_mem.h: one connection's memory budget for its HTTP/2 state.
 *
 * Every byte a connection's nghttp2 session allocates, and every byte of the
 * server's own per-stream state (stream records, request headers waiting for
 * their body), goes through the connection's budget, which counts it and
 * refuses past a cap (maxSessionMemory, docs/RELIABILITY.md):
 *   - nghttp2's allocations fail past `cap`: nghttp2 reports NOMEM, which is
 *     fatal to the session, and the connection is closed;
 *   - the server's own allocations (valk_h2_budget_alloc/realloc) fail past
 *     `soft` = 3/4 of cap, so the server refuses a stream first and nghttp2
 *     keeps the room it needs to send that refusal.
 * Each allocation carries a 16-byte header with its size. The system-wide
 * gauges (h2_memory_bytes / _peak) are kept up to date too.
 *
 * Thread: a budget belongs to the AIO thread that owns its connection; the
 * system gauges it writes have that thread as their only writer.
 */
#ifndef VALK_H2_MEM_H
#define VALK_H2_MEM_H

#include <nghttp2/nghttp2.h>
#include <stddef.h>
#include <stdint.h>

#include "valk_common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct valk_h2_budget {
  size_t used;                    /* bytes allocated now (payloads, headers excluded) */
  size_t peak;                    /* most bytes at once */
  size_t cap;                     /* nghttp2's allocations fail past it; 0: no cap */
  size_t soft;                    /* the server's own allocations fail past it */
  uint64_t refused;               /* allocations refused (either cap) */
  uint64_t hard_refused;          /* ... of them, nghttp2's (past cap) */
  VALK_ATOMIC(uint64_t) *sys_bytes; /* the system's gauge of all budgets (may be NULL) */
  VALK_ATOMIC(uint64_t) *sys_peak;
} valk_h2_budget_t;

/* An empty budget capped at cap bytes (0: none). sys_bytes/sys_peak may be NULL. */
void valk_h2_budget_init(valk_h2_budget_t *b, size_t cap, VALK_ATOMIC(uint64_t) *sys_bytes,
                         VALK_ATOMIC(uint64_t) *sys_peak);

/* Fills mem with allocators that draw on b (hard cap): for nghttp2_session_*_new3. */
void valk_h2_budget_mem(valk_h2_budget_t *b, nghttp2_mem *mem);

/* The server's own: size bytes, NULL past the soft cap (counted in refused). */
void *valk_h2_budget_alloc(valk_h2_budget_t *b, size_t size);

/* Resizes p (NULL: allocates); NULL past the soft cap, p then unchanged. */
void *valk_h2_budget_realloc(valk_h2_budget_t *b, void *p, size_t size);

/* Frees p (NULL: nothing), from either kind of allocation. */
void valk_h2_budget_free(valk_h2_budget_t *b, void *p);

#ifdef __cplusplus
}
#endif
#endif /* VALK_H2_MEM_H */
