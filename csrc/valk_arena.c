/*
 * valk_arena.c: per-stream bump arenas in one reserved mapping. See
 * valk_arena.h for the contract.
 * Thread: acquire/release/alloc on the AIO thread only; each atomic counter
 * has that one writer, so plain load-then-store suffices for the maxima.
 */
#include "valk_arena.h"

#include <assert.h>
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "valk_common.h"

#define VALK__ARENA_RELAXED memory_order_relaxed

static size_t valk__arena_page_size(void) {
  long page = sysconf(_SC_PAGESIZE);
  return page > 0 ? (size_t)page : 4096;
}

/* Leaves pool as valk_arena_pool_destroy expects a never-initialized one. */
static void valk__arena_pool_clear(valk_arena_pool_t *pool) {
  pool->base = NULL;
  pool->arena_size = 0;
  pool->keep = 0;
  pool->page = 0;
  pool->count = 0;
  pool->epoch = 1;
  pool->warm = 0;
  pool->headers = NULL;
  atomic_init(&pool->hwm, 0);
  atomic_init(&pool->committed, 0);
  atomic_init(&pool->committed_peak, 0);
  atomic_init(&pool->alloc_failures, 0);
}

/* Writes every header once, so hwm reads 0 for arenas never acquired. */
static void valk__arena_headers_init(valk_arena_pool_t *pool) {
  uint32_t i;

  for (i = 0; i < pool->count; i++) {
    valk_arena_t *a = valk_slab_at(pool->headers, i);
    a->base = pool->base + (size_t)i * pool->arena_size;
    a->size = pool->arena_size;
    atomic_store_explicit(&a->used, 0, VALK__ARENA_RELAXED);
    a->dirty = 0;
    atomic_init(&a->hwm, 0);
    a->index = i;
    a->released = pool->epoch; /* free: nothing to trim yet */
  }
}

int valk_arena_pool_init(valk_arena_pool_t *pool, uint32_t count, size_t arena_size, size_t keep) {
  size_t page = valk__arena_page_size();
  void *map;
  int rc;

  valk__arena_pool_clear(pool);
  if (count == 0 || count == VALK_SLAB_NIL || arena_size == 0) return VALK_EINVAL;
  if (arena_size > SIZE_MAX - (page - 1)) return VALK_EINVAL;
  arena_size = VALK_ALIGN_UP(arena_size, page);
  if ((size_t)count > SIZE_MAX / arena_size) return VALK_EINVAL;

  rc = valk_slab_new(&pool->headers, sizeof(valk_arena_t), count);
  if (rc != 0) return rc;
  map = mmap(NULL, (size_t)count * arena_size, PROT_READ | PROT_WRITE,
             MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (map == MAP_FAILED) {
    valk_slab_free(pool->headers);
    pool->headers = NULL;
    return VALK_ENOMEM;
  }
#ifdef MADV_NOHUGEPAGE
  /* Best effort: a 2 MiB huge page would commit far more than keep per arena. */
  (void)madvise(map, (size_t)count * arena_size, MADV_NOHUGEPAGE);
#endif
  pool->base = map;
  pool->arena_size = arena_size;
  pool->keep = keep < arena_size ? keep & ~(page - 1) : arena_size;
  pool->page = page;
  pool->count = count;
  valk__arena_headers_init(pool);
  return 0;
}

void valk_arena_pool_destroy(valk_arena_pool_t *pool) {
  if (pool->base != NULL) munmap(pool->base, (size_t)pool->count * pool->arena_size);
  valk_slab_free(pool->headers);
  valk__arena_pool_clear(pool);
}

valk_arena_t *valk_arena_acquire(valk_arena_pool_t *pool) {
  valk_arena_t *a = valk_slab_acquire(pool->headers);

  if (a == NULL) return NULL;
  atomic_store_explicit(&a->used, 0, VALK__ARENA_RELAXED);
  if (a->dirty > pool->keep) {
    assert(pool->warm > 0);
    pool->warm--;
  }
  a->released = 0;
  return a;
}

/* Returns pages in [keep, dirty) of a free arena to the OS: the bytes given
 * back, 0 on madvise failure (they stay counted and warm). */
static size_t valk__arena_trim(valk_arena_pool_t *pool, valk_arena_t *a) {
  size_t excess;

  assert(a->dirty > pool->keep && a->released != 0);
  excess = a->dirty - pool->keep;
  if (madvise(a->base + pool->keep, excess, MADV_DONTNEED) != 0) {
    VALK_WARN("arena %u: madvise(MADV_DONTNEED) failed: %s", a->index, valk_strerror(-errno));
    return 0;
  }
  atomic_fetch_sub_explicit(&pool->committed, excess, VALK__ARENA_RELAXED);
  a->dirty = pool->keep;
  assert(pool->warm > 0);
  pool->warm--;
  return excess;
}

uint64_t valk_arena_pool_trim(valk_arena_pool_t *pool) {
  uint64_t given = 0;
  uint32_t i;

  for (i = 0; pool->warm > 0 && i < pool->count; i++) {
    valk_arena_t *a = valk_slab_at(pool->headers, i);
    if (a->released != 0 && a->released < pool->epoch && a->dirty > pool->keep) given += valk__arena_trim(pool, a);
  }
  pool->epoch++;
  return given;
}

void valk_arena_release(valk_arena_pool_t *pool, valk_arena_t *a) {
  uint32_t index = valk_slab_index_of(pool->headers, a);
  int rc;

  if (index == VALK_SLAB_NIL) {
    VALK_ERROR("arena release: %p is not an arena of this pool", (void *)a);
    return;
  }
  if (a->released != 0) { /* free already: a double release */
    VALK_ERROR("arena %u release: %s", index, valk_strerror(VALK_EDOUBLEFREE));
    return;
  }
  atomic_store_explicit(&a->used, 0, VALK__ARENA_RELAXED);
  a->released = pool->epoch;
  if (a->dirty > pool->keep) pool->warm++;
  rc = valk_slab_release(pool->headers, a);
  if (rc != 0) VALK_ERROR("arena %u release: %s", index, valk_strerror(rc));
}

/* a handed out bytes up to end > dirty: count the new pages as committed. */
static void valk__arena_grow_dirty(valk_arena_pool_t *pool, valk_arena_t *a, size_t end) {
  size_t dirty = VALK_ALIGN_UP(end, pool->page); /* end <= arena_size, a page multiple */
  uint64_t now = atomic_fetch_add_explicit(&pool->committed, dirty - a->dirty, VALK__ARENA_RELAXED) +
                 (dirty - a->dirty);

  a->dirty = dirty;
  if (now > atomic_load_explicit(&pool->committed_peak, VALK__ARENA_RELAXED))
    atomic_store_explicit(&pool->committed_peak, now, VALK__ARENA_RELAXED);
}

/* The pool's mark may be raised by both threads (an arena with JavaScript is
 * written on Node's): a compare-and-swap loop, so no raise is lost. */
static void valk__arena_raise_hwm(valk_arena_pool_t *pool, valk_arena_t *a, size_t used) {
  uint64_t seen = atomic_load_explicit(&pool->hwm, VALK__ARENA_RELAXED);
  atomic_store_explicit(&a->hwm, used, VALK__ARENA_RELAXED);
  while (used > seen &&
         !atomic_compare_exchange_weak_explicit(&pool->hwm, &seen, used, VALK__ARENA_RELAXED, VALK__ARENA_RELAXED)) {
  }
}

void *valk_arena_alloc(valk_arena_pool_t *pool, valk_arena_t *a, size_t size, size_t align) {
  uintptr_t at;
  size_t pad, left, end, used = atomic_load_explicit(&a->used, VALK__ARENA_RELAXED);

  if (align == 0 || (align & (align - 1)) != 0) return NULL;
  at = (uintptr_t)(a->base + used);
  pad = (size_t)(-at & (uintptr_t)(align - 1));
  left = a->size - used;
  if (VALK_UNLIKELY(pad > left || size > left - pad)) {
    atomic_fetch_add_explicit(&pool->alloc_failures, 1, VALK__ARENA_RELAXED);
    return NULL;
  }
  end = used + pad + size;
  assert(end <= a->size);
  atomic_store_explicit(&a->used, end, VALK__ARENA_RELAXED);
  if (end > a->dirty) valk__arena_grow_dirty(pool, a, end);
  if (end > atomic_load_explicit(&a->hwm, VALK__ARENA_RELAXED)) valk__arena_raise_hwm(pool, a, end);
  return a->base + end - size;
}

size_t valk_arena_remaining(const valk_arena_t *a) {
  return a->size - atomic_load_explicit(&((valk_arena_t *)a)->used, VALK__ARENA_RELAXED);
}

uint32_t valk_arena_pool_used(const valk_arena_pool_t *pool) {
  return pool->headers != NULL ? valk_slab_used(pool->headers) : 0;
}

uint32_t valk_arena_pool_available(const valk_arena_pool_t *pool) {
  return pool->headers != NULL ? valk_slab_available(pool->headers) : 0;
}

uint64_t valk_arena_pool_overflow(const valk_arena_pool_t *pool) {
  return pool->headers != NULL ? valk_slab_overflow(pool->headers) : 0;
}

uint64_t valk_arena_pool_hwm(const valk_arena_pool_t *pool) {
  return atomic_load_explicit(&((valk_arena_pool_t *)pool)->hwm, VALK__ARENA_RELAXED);
}

uint64_t valk_arena_pool_committed(const valk_arena_pool_t *pool) {
  return atomic_load_explicit(&((valk_arena_pool_t *)pool)->committed, VALK__ARENA_RELAXED);
}

uint64_t valk_arena_pool_committed_peak(const valk_arena_pool_t *pool) {
  return atomic_load_explicit(&((valk_arena_pool_t *)pool)->committed_peak, VALK__ARENA_RELAXED);
}

uint64_t valk_arena_pool_alloc_failures(const valk_arena_pool_t *pool) {
  return atomic_load_explicit(&((valk_arena_pool_t *)pool)->alloc_failures, VALK__ARENA_RELAXED);
}

uint64_t valk_arena_hwm_at(const valk_arena_pool_t *pool, uint32_t index) {
  valk_arena_t *a;

  if (pool->headers == NULL || index >= pool->count) return 0;
  a = valk_slab_at(pool->headers, index);
  return atomic_load_explicit(&a->hwm, VALK__ARENA_RELAXED);
}
