/*
 * valk_ring.h: a bounded FIFO of pointers guarded by a mutex: the only way
 * other threads talk to an AIO thread (and back).
 *
 * Producers push under the lock and learn whether the ring went from empty to
 * non-empty, so they wake the consumer (uv_async_send) only then, as Node's
 * inspector_io does. The consumer drains a batch under the lock and works on it
 * outside the lock. A full ring refuses the push (VALK_EFULL): never grows.
 *
 * Thread: any thread may push; one consumer thread drains.
 * Memory: capacity pointers, allocated once by valk_ring_init.
 */
#ifndef VALK_RING_H
#define VALK_RING_H

#include <stdint.h>
#include <uv.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct valk_ring {
  uv_mutex_t lock;
  void **slots;       /* capacity entries */
  uint32_t capacity;
  uint32_t head;      /* index of the oldest entry */
  uint32_t len;       /* entries in use */
} valk_ring_t;

/* 0, VALK_EINVAL (capacity 0) or VALK_ENOMEM. */
int valk_ring_init(valk_ring_t *ring, uint32_t capacity);
void valk_ring_destroy(valk_ring_t *ring);

/*
 * Appends item. Returns 1 if the ring was empty before (wake the consumer),
 * 0 if it was not, VALK_EFULL if there is no room (item not taken).
 */
int valk_ring_push(valk_ring_t *ring, void *item);

/* valk_ring_push that also tells how many entries the ring holds after it
 * (the capacity when it refused the push): *len, read under the same lock. */
int valk_ring_push_len(valk_ring_t *ring, void *item, uint32_t *len);

/* Entries waiting now (a snapshot: any thread, takes the lock). */
uint32_t valk_ring_size(valk_ring_t *ring);

/* Moves up to max entries, oldest first, into out. Returns how many. */
uint32_t valk_ring_drain(valk_ring_t *ring, void **out, uint32_t max);

#ifdef __cplusplus
}
#endif
#endif /* VALK_RING_H */
