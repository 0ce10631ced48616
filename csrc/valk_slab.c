/*
 * valk_slab.c: Treiber-stack slab. See valk_slab.h for the contract.
 * Thread: lock-free; see the header for which calls are safe where.
 */
#include "valk_slab.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "valk_common.h"

#define VALK_SLAB_HEAD(tag, index) (((uint64_t)(tag) << 32) | (uint64_t)(index))
#define VALK_SLAB_HEAD_TAG(head) ((uint32_t)((head) >> 32))
#define VALK_SLAB_HEAD_INDEX(head) ((uint32_t)(head))

size_t valk_slab_item_stride(size_t item_size) {
  return VALK_ALIGN_UP(item_size, VALK_SLAB_ALIGN);
}

size_t valk_slab_size(size_t item_size, uint32_t count) {
  return sizeof(valk_slab_t) + (size_t)count * (valk_slab_item_stride(item_size) +
                                                sizeof(uint32_t) + sizeof(uint8_t));
}

int valk_slab_new(valk_slab_t **out, size_t item_size, uint32_t count) {
  valk_slab_t *slab;
  size_t stride;
  uint32_t i;
  void *map;

  *out = NULL;
  if (count == 0 || count == VALK_SLAB_NIL || item_size == 0) return VALK_EINVAL;
  stride = valk_slab_item_stride(item_size);
  if ((size_t)count > SIZE_MAX / stride) return VALK_EINVAL;

  slab = calloc(1, sizeof(*slab));
  if (slab == NULL) return VALK_ENOMEM;
  slab->map_len = (size_t)count * stride;
  map = mmap(NULL, slab->map_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  slab->next = malloc((size_t)count * sizeof(*slab->next));
  slab->used = calloc(count, sizeof(*slab->used));
  if (map == MAP_FAILED || slab->next == NULL || slab->used == NULL) {
    if (map != MAP_FAILED) munmap(map, slab->map_len);
    free((void *)slab->next);
    free((void *)slab->used);
    free(slab);
    return VALK_ENOMEM;
  }
  slab->items = map;
  slab->count = count;
  slab->item_size = item_size;
  slab->stride = stride;
  for (i = 0; i < count; i++) atomic_init(&slab->next[i], i + 1 < count ? i + 1 : VALK_SLAB_NIL);
  atomic_init(&slab->head, VALK_SLAB_HEAD(0, 0));
  atomic_init(&slab->overflow, 0);
  atomic_init(&slab->available, count);
  *out = slab;
  return 0;
}

void valk_slab_free(valk_slab_t *slab) {
  if (slab == NULL) return;
  munmap(slab->items, slab->map_len);
  free((void *)slab->next);
  free((void *)slab->used);
  free(slab);
}

void *valk_slab_acquire(valk_slab_t *slab) {
  uint64_t head = atomic_load_explicit(&slab->head, memory_order_acquire);
  uint32_t index;

  for (;;) {
    uint32_t next;
    index = VALK_SLAB_HEAD_INDEX(head);
    if (index == VALK_SLAB_NIL) {
      atomic_fetch_add_explicit(&slab->overflow, 1, memory_order_relaxed);
      return NULL;
    }
    next = atomic_load_explicit(&slab->next[index], memory_order_relaxed);
    if (atomic_compare_exchange_weak_explicit(
            &slab->head, &head, VALK_SLAB_HEAD(VALK_SLAB_HEAD_TAG(head) + 1, next),
            memory_order_acq_rel, memory_order_acquire))
      break;
  }
  assert(index < slab->count && !atomic_load_explicit(&slab->used[index], memory_order_relaxed));
  atomic_store_explicit(&slab->used[index], 1, memory_order_relaxed);
  atomic_fetch_sub_explicit(&slab->available, 1, memory_order_relaxed);
  return slab->items + (size_t)index * slab->stride;
}

int valk_slab_release(valk_slab_t *slab, void *data) {
  uint32_t index = valk_slab_index_of(slab, data);
  uint64_t head;

  if (index == VALK_SLAB_NIL) return VALK_EINVAL;
  if (atomic_exchange_explicit(&slab->used[index], 0, memory_order_relaxed) != 1)
    return VALK_EDOUBLEFREE;

  head = atomic_load_explicit(&slab->head, memory_order_relaxed);
  do {
    atomic_store_explicit(&slab->next[index], VALK_SLAB_HEAD_INDEX(head), memory_order_relaxed);
  } while (!atomic_compare_exchange_weak_explicit(
      &slab->head, &head, VALK_SLAB_HEAD(VALK_SLAB_HEAD_TAG(head) + 1, index),
      memory_order_release, memory_order_relaxed));
  atomic_fetch_add_explicit(&slab->available, 1, memory_order_relaxed);
  return 0;
}

uint32_t valk_slab_index_of(const valk_slab_t *slab, const void *data) {
  const unsigned char *p = data;
  size_t offset;

  if (data == NULL || p < slab->items) return VALK_SLAB_NIL;
  offset = (size_t)(p - slab->items);
  if (offset % slab->stride != 0 || offset / slab->stride >= slab->count) return VALK_SLAB_NIL;
  return (uint32_t)(offset / slab->stride);
}

void *valk_slab_at(const valk_slab_t *slab, uint32_t index) {
  assert(index < slab->count);
  return slab->items + (size_t)index * slab->stride;
}

int valk_slab_bitmap(const valk_slab_t *slab, uint8_t *out, size_t out_len) {
  size_t bytes = ((size_t)slab->count + 7) / 8;
  uint32_t index, steps = 0;
  uint32_t i;

  if (out_len < bytes) return VALK_EINVAL;
  /* Start all used, clear the bits of free items, then clear the padding. */
  memset(out, 0xff, bytes);
  index = VALK_SLAB_HEAD_INDEX(atomic_load_explicit(&((valk_slab_t *)slab)->head, memory_order_acquire));
  while (index != VALK_SLAB_NIL) {
    if (index >= slab->count || ++steps > slab->count) return VALK_ELIMIT;
    out[index / 8] &= (uint8_t) ~(1u << (index % 8));
    index = atomic_load_explicit(&slab->next[index], memory_order_relaxed);
  }
  for (i = slab->count; i < bytes * 8; i++) out[i / 8] &= (uint8_t) ~(1u << (i % 8));
  return (int)bytes;
}

uint32_t valk_slab_available(const valk_slab_t *slab) {
  return atomic_load_explicit(&((valk_slab_t *)slab)->available, memory_order_relaxed);
}

uint32_t valk_slab_used(const valk_slab_t *slab) {
  return slab->count - valk_slab_available(slab);
}

uint64_t valk_slab_overflow(const valk_slab_t *slab) {
  return atomic_load_explicit(&((valk_slab_t *)slab)->overflow, memory_order_relaxed);
}
