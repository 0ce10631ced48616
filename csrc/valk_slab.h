/*
 * valk_slab.h: a fixed pool of fixed-size items.
 *
 * Free items form a lock-free Treiber stack. The head packs a 32-bit ABA tag
 * (bumped on every push and pop) above a 32-bit item index, so a pop that
 * raced with pop+push of the same item fails its compare-and-swap instead of
 * corrupting the list. VALK_SLAB_NIL (UINT32_MAX) ends the list; it is compared
 * as a 32-bit index, never as SIZE_MAX (docs/design.md §2).
 *
 * Thread: acquire, release, available and overflow are safe from any thread.
 * The free-list walk (valk_slab_bitmap) reads a consistent picture only while
 * no other thread acquires or releases; the AIO thread, which owns every slab
 * it creates, calls it between callbacks.
 *
 * Memory: valk_slab_size(item_size, count) bytes reserved by valk_slab_new;
 * item pages are committed by the kernel on first touch. Nothing is allocated
 * afterwards.
 */
#ifndef VALK_SLAB_H
#define VALK_SLAB_H

#include <stddef.h>
#include <stdint.h>

#include "valk_common.h"

#ifdef __cplusplus
extern "C" {
#endif

#define VALK_SLAB_NIL UINT32_MAX
#define VALK_SLAB_ALIGN 16

/*
 * Free-list links and used flags live out of line, in small arrays, so the
 * items region (an anonymous mapping) is committed only as items are used:
 * 145,000 TCP buffers cost address space at start, not RSS.
 */
typedef struct valk_slab {
  VALK_ATOMIC(uint64_t) head;       /* (tag << 32) | index of first free item */
  VALK_ATOMIC(uint64_t) overflow;   /* acquires that found the slab empty */
  VALK_ATOMIC(uint32_t) available;  /* items on the free list */
  uint32_t count;              /* number of items, fixed */
  size_t item_size;            /* bytes of data per item as asked */
  size_t stride;               /* bytes from one item to the next */
  size_t map_len;              /* bytes mapped for items */
  VALK_ATOMIC(uint32_t) *next;      /* count links: next free index or VALK_SLAB_NIL */
  VALK_ATOMIC(uint8_t) *used;       /* count flags: 1 while acquired */
  unsigned char *items;        /* count * stride bytes */
} valk_slab_t;

/* Bytes from one item to the next for items of item_size (aligned to 16). */
size_t valk_slab_item_stride(size_t item_size);

/* Total bytes valk_slab_new allocates for count items of item_size (items + links + flags). */
size_t valk_slab_size(size_t item_size, uint32_t count);

/*
 * Creates a slab of count items (1 .. UINT32_MAX-1), all free, in index order
 * (the first acquire returns index 0). Returns 0 and sets *out, or VALK_EINVAL
 * / VALK_ENOMEM. Item data starts zeroed; acquire does not clear it again.
 */
int valk_slab_new(valk_slab_t **out, size_t item_size, uint32_t count);

/* Frees the slab. Items still acquired are the caller's leak, not checked here. */
void valk_slab_free(valk_slab_t *slab);

/* Pops a free item: its data pointer, or NULL when exhausted (overflow is counted). O(1). */
void *valk_slab_acquire(valk_slab_t *slab);

/* Pushes data (from valk_slab_acquire) back. 0, or VALK_EDOUBLEFREE / VALK_EINVAL. O(1). */
int valk_slab_release(valk_slab_t *slab, void *data);

/* Items free now / in use now / failed acquires so far. Any thread. */
uint32_t valk_slab_available(const valk_slab_t *slab);
uint32_t valk_slab_used(const valk_slab_t *slab);
uint64_t valk_slab_overflow(const valk_slab_t *slab);

/* Index of an item's data pointer, or VALK_SLAB_NIL if it is not in this slab. */
uint32_t valk_slab_index_of(const valk_slab_t *slab, const void *data);

/* Data pointer of item index (acquired or not). */
void *valk_slab_at(const valk_slab_t *slab, uint32_t index);

/*
 * Walks the free list and writes a used/free bitmap: bit i (least significant
 * bit first within each byte) is 1 when item i is in use. Padding bits past
 * count are 0. out must hold (count + 7) / 8 bytes. Returns the number of
 * bytes written, or VALK_EINVAL if out_len is too small, or VALK_ELIMIT if the
 * free list is longer than count (corruption, or a concurrent writer).
 */
int valk_slab_bitmap(const valk_slab_t *slab, uint8_t *out, size_t out_len);

#ifdef __cplusplus
}
#endif
#endif /* VALK_SLAB_H */
