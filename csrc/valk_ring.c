/*
 * valk_ring.c: bounded locked FIFO. See valk_ring.h.
 * Thread: every function takes the ring's lock except init/destroy, which run
 * before any other thread can see the ring and after all have stopped using it.
 */
#include "valk_ring.h"

#include <assert.h>
#include <stdlib.h>

#include "valk_common.h"

int valk_ring_init(valk_ring_t *ring, uint32_t capacity) {
  if (capacity == 0) return VALK_EINVAL;
  ring->slots = calloc(capacity, sizeof(void *));
  if (ring->slots == NULL) return VALK_ENOMEM;
  if (uv_mutex_init(&ring->lock) != 0) {
    free(ring->slots);
    ring->slots = NULL;
    return VALK_ENOMEM;
  }
  ring->capacity = capacity;
  ring->head = 0;
  ring->len = 0;
  return 0;
}

void valk_ring_destroy(valk_ring_t *ring) {
  if (ring->slots == NULL) return;
  uv_mutex_destroy(&ring->lock);
  free(ring->slots);
  ring->slots = NULL;
}

int valk_ring_push_len(valk_ring_t *ring, void *item, uint32_t *len) {
  int was_empty;

  uv_mutex_lock(&ring->lock);
  if (ring->len == ring->capacity) {
    *len = ring->capacity;
    uv_mutex_unlock(&ring->lock);
    return VALK_EFULL;
  }
  assert(ring->len < ring->capacity && ring->head < ring->capacity);
  was_empty = ring->len == 0;
  ring->slots[(ring->head + ring->len) % ring->capacity] = item;
  ring->len++;
  *len = ring->len;
  uv_mutex_unlock(&ring->lock);
  return was_empty;
}

int valk_ring_push(valk_ring_t *ring, void *item) {
  uint32_t len;
  return valk_ring_push_len(ring, item, &len);
}

uint32_t valk_ring_drain(valk_ring_t *ring, void **out, uint32_t max) {
  uint32_t n, i;

  uv_mutex_lock(&ring->lock);
  n = ring->len < max ? ring->len : max;
  for (i = 0; i < n; i++) out[i] = ring->slots[(ring->head + i) % ring->capacity];
  ring->head = (ring->head + n) % ring->capacity;
  ring->len -= n;
  assert(ring->len <= ring->capacity);
  uv_mutex_unlock(&ring->lock);
  return n;
}

uint32_t valk_ring_size(valk_ring_t *ring) {
  uint32_t n;
  uv_mutex_lock(&ring->lock);
  n = ring->len;
  uv_mutex_unlock(&ring->lock);
  return n;
}
