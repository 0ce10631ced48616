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
 * Each allocation carries a 16-byte header with its size, except those served
 * from page blocks (below). The system-wide gauges (h2_memory_bytes / _peak)
 * are kept up to date too.
 *
 * Page blocks: the few large allocations of a session (nghttp2's 16 KiB frame
 * buffer, its stream map's 4 KiB table; nghttp2's allocations of a page or
 * more, never the server's own, so no request pays a madvise) come from
 * page-aligned blocks of one reservation per system, committed only as they
 * are written and given back (MADV_DONTNEED) when freed: an idle connection
 * touches the first page of its frame buffer only, and a zeroed allocation
 * needs no memset. Blocks are a fixed number per class; past them, malloc.
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

/* Block classes: exactly 1 page, over 1 and up to 5 pages (a frame buffer: 16,394 bytes). */
#define VALK_H2_PAGE_CLASSES 2

/* Page blocks shared by a system's budgets. AIO thread only. */
typedef struct valk_h2_pages {
  uint8_t *base;                          /* the reservation: each class's blocks in turn */
  size_t block[VALK_H2_PAGE_CLASSES];     /* block sizes (page multiples) */
  size_t min[VALK_H2_PAGE_CLASSES];       /* the smallest allocation a class serves */
  uint32_t count[VALK_H2_PAGE_CLASSES];
  uint32_t *stack[VALK_H2_PAGE_CLASSES];  /* free block indices */
  uint32_t nfree[VALK_H2_PAGE_CLASSES];
  uint32_t *sizes;                        /* the size each block was asked for (class 0's, then 1's) */
  size_t bytes;                           /* the reservation's length */
} valk_h2_pages_t;

/* Reserves blocks_per_class blocks of each class. 0 or VALK_ENOMEM. */
int valk_h2_pages_init(valk_h2_pages_t *p, uint32_t blocks_per_class);

/* Unmaps the reservation (every block must be free). Safe on a zeroed p. */
void valk_h2_pages_destroy(valk_h2_pages_t *p);

typedef struct valk_h2_budget {
  size_t used;                    /* bytes allocated now (payloads, headers excluded) */
  size_t peak;                    /* most bytes at once */
  size_t cap;                     /* nghttp2's allocations fail past it; 0: no cap */
  size_t soft;                    /* the server's own allocations fail past it */
  uint64_t refused;               /* allocations refused (either cap) */
  uint64_t hard_refused;          /* ... of them, nghttp2's (past cap) */
  VALK_ATOMIC(uint64_t) *sys_bytes; /* the system's gauge of all budgets (may be NULL) */
  VALK_ATOMIC(uint64_t) *sys_peak;
  valk_h2_pages_t *pages;         /* page blocks for large allocations, or NULL (malloc only) */
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
