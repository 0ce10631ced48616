/*
 * valk_arena.h: a pool of fixed-size per-stream arenas with bump allocation.
 *
 * The pool reserves count * arena_size bytes of address space once, with one
 * anonymous MAP_NORESERVE mapping: a page costs RSS only when first touched,
 * so 200 arenas of 64 MiB cost address space at start, not 12.8 GB. Arena i
 * starts at base + i * arena_size. Its header is item i of a valk_slab, so a
 * free arena is found in O(1) and an exhausted pool is counted as the slab's
 * overflow. The mapping is marked MADV_NOHUGEPAGE (best effort): a 2 MiB huge
 * page per arena would defeat keep. Under vm.overcommit_memory=2 the kernel
 * ignores MAP_NORESERVE and the whole reservation counts against the commit
 * limit, so init may fail with VALK_ENOMEM there.
 *
 * An arena hands out memory by bumping an offset; nothing is freed one by one.
 * valk_arena_release gives the whole arena back: the offset goes back to 0
 * and its pages stay committed, so the next stream that takes it (the free
 * list is LIFO: the warmest first) writes a bulk body without a page fault
 * per page. valk_arena_pool_trim, called about once a second, returns to the
 * OS (madvise(MADV_DONTNEED)) every page beyond the first `keep` bytes of each
 * arena that stayed free for a whole trim period: after a burst, RSS falls
 * back within two periods. Keeping them costs nothing the ceiling does not
 * count: committed never exceeds count * arena_size (estimateFootprint's
 * arenaCeiling), and what a free arena keeps is what a stream used in it.
 *
 * Accounting (all in bytes):
 *   dirty     per arena: the end of the highest byte handed out since the
 *             arena was last trimmed, rounded up to a page. alloc raises it;
 *             release lowers it to min(dirty, keep). Pages in [0, dirty) may
 *             be committed; pages beyond it are not. alloc does not touch
 *             memory, so this is an upper bound on the pool's real RSS.
 *   committed sum of dirty over all arenas; committed_peak its maximum.
 *   hwm       per arena: the most bytes used in one lifetime (acquire to
 *             release, alignment padding included); pool hwm: max over arenas.
 *
 * Sizes: arena_size is rounded up to a multiple of the page size
 * (sysconf(_SC_PAGESIZE)); keep is rounded down to a page multiple and capped
 * at arena_size. The values in use are pool->arena_size and pool->keep.
 *
 * Memory handed out is not zeroed: the kept head keeps the previous
 * lifetime's bytes; trimmed pages read back as zeros.
 *
 * Thread: init and destroy run while no other thread uses the pool. acquire,
 * release and alloc run on one thread only, the AIO thread that owns the pool.
 * The getters for counters (valk_arena_pool_used/available/overflow/hwm/
 * committed/committed_peak/alloc_failures, valk_arena_hwm_at) are safe from
 * any thread between init and destroy.
 */
#ifndef VALK_ARENA_H
#define VALK_ARENA_H

#include <stddef.h>
#include <stdint.h>

#include "valk_common.h"
#include "valk_slab.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Owner: the AIO thread (it alone reads or writes every field but hwm). hwm:
 * written by the AIO thread, readable from any thread. */
typedef struct valk_arena {
  uint8_t *base;                     /* start of this arena's reserved range */
  size_t size;                       /* pool->arena_size, so remaining() needs no pool */
  VALK_ATOMIC(size_t) used;          /* bump offset: written by the arena's owner (relaxed), read by the snapshot */
  size_t dirty;                      /* bytes possibly committed: page-rounded max used since last trim */
  VALK_ATOMIC(uint64_t) hwm;         /* most bytes used in one lifetime */
  uint32_t index;                    /* slab index = position in the pool */
  uint32_t released;                 /* pool->epoch at its release; 0 while acquired */
} valk_arena_t;

/* Owner: the AIO thread. Atomic counters: written by the AIO thread, readable
 * from any thread. Every other field is fixed after init. */
typedef struct valk_arena_pool {
  uint8_t *base;                     /* count * arena_size reserved bytes */
  size_t arena_size;                 /* page multiple */
  size_t keep;                       /* page multiple, <= arena_size */
  size_t page;                       /* sysconf(_SC_PAGESIZE) */
  uint32_t count;
  uint32_t epoch;                    /* trim periods so far, from 1 (AIO thread) */
  uint32_t warm;                     /* free arenas with dirty > keep (AIO thread) */
  valk_slab_t *headers;              /* count items of valk_arena_t */
  VALK_ATOMIC(uint64_t) hwm;         /* max over arenas */
  VALK_ATOMIC(uint64_t) committed;   /* sum of dirty extents (page-rounded) */
  VALK_ATOMIC(uint64_t) committed_peak;
  VALK_ATOMIC(uint64_t) alloc_failures; /* valk_arena_alloc calls that did not fit */
} valk_arena_pool_t;

/*
 * Reserves count arenas of arena_size bytes (rounded up to a page), keeping
 * keep bytes (rounded down to a page, capped at arena_size) committed across
 * releases. Returns 0, VALK_EINVAL (count 0 or UINT32_MAX, arena_size 0,
 * count * arena_size overflows size_t) or VALK_ENOMEM (mmap or slab failed).
 * On error the pool is left zeroed (valk_arena_pool_destroy is a no-op).
 * Thread: before any other thread sees the pool.
 */
int valk_arena_pool_init(valk_arena_pool_t *pool, uint32_t count, size_t arena_size, size_t keep);

/*
 * Unmaps every arena and frees the headers; arenas still acquired die with it.
 * Safe on a zeroed pool and twice. Thread: after all other threads stopped.
 */
void valk_arena_pool_destroy(valk_arena_pool_t *pool);

/*
 * A free arena with used == 0, or NULL when all count are in use (the slab
 * counts that as overflow, see valk_arena_pool_overflow). O(1). AIO thread.
 */
valk_arena_t *valk_arena_acquire(valk_arena_pool_t *pool);

/*
 * Gives a back: used resets to 0, the arena becomes free, its pages stay
 * committed until a trim finds it free for a whole period. Every pointer
 * from a dies here. An arena not from this pool, or released twice, is
 * logged (VALK_ERROR) and otherwise ignored. AIO thread.
 */
void valk_arena_release(valk_arena_pool_t *pool, valk_arena_t *a);

/*
 * One trim period ends: every arena released before the previous call and
 * free since gives its pages beyond keep back to the OS. Returns the bytes
 * given back. O(count) when some free arena holds more than keep, O(1)
 * otherwise. AIO thread, about once a second (valk_system.c's sweep).
 */
uint64_t valk_arena_pool_trim(valk_arena_pool_t *pool);

/*
 * size bytes from a, aligned to align (a power of two; the address itself is
 * aligned, so any power of two works). Returns NULL if size plus padding does
 * not fit in what is left (counted in alloc_failures), or if align is not a
 * power of two (not counted: a caller bug). size 0 returns the aligned
 * current position, which must not be dereferenced. Not zeroed. O(1). AIO
 * thread.
 */
void *valk_arena_alloc(valk_arena_pool_t *pool, valk_arena_t *a, size_t size, size_t align);

/* Bytes left in a (before alignment padding). AIO thread. */
size_t valk_arena_remaining(const valk_arena_t *a);

/* Arenas acquired now / free now / acquires that found none free. Any thread; 0 on a zeroed pool. */
uint32_t valk_arena_pool_used(const valk_arena_pool_t *pool);
uint32_t valk_arena_pool_available(const valk_arena_pool_t *pool);
uint64_t valk_arena_pool_overflow(const valk_arena_pool_t *pool);

/* Pool-wide high-water, committed estimate, its peak, alloc failures. Any thread. */
uint64_t valk_arena_pool_hwm(const valk_arena_pool_t *pool);
uint64_t valk_arena_pool_committed(const valk_arena_pool_t *pool);
uint64_t valk_arena_pool_committed_peak(const valk_arena_pool_t *pool);
uint64_t valk_arena_pool_alloc_failures(const valk_arena_pool_t *pool);

/* High-water of arena index (acquired or not); 0 if index >= count. Any thread. */
uint64_t valk_arena_hwm_at(const valk_arena_pool_t *pool, uint32_t index);

#ifdef __cplusplus
}
#endif
#endif /* VALK_ARENA_H */
