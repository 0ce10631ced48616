/*
 * valk_ratelim.h: a token bucket: `rate` events per second on average, up to
 * `burst` at once. The flood guards of a connection (RST_STREAM frames sent
 * and received, control frames) each have one; see docs/RELIABILITY.md.
 *
 * Thread: a bucket belongs to whoever owns the struct it is in (for the
 * guards, the AIO thread that owns the connection). No allocation.
 */
#ifndef VALK_RATELIM_H
#define VALK_RATELIM_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct valk_ratelim {
  uint64_t milli;     /* tokens x 1000: one token per 1000 */
  uint64_t cap;       /* burst x 1000 */
  uint64_t rate;      /* tokens per second = milli-tokens per ms */
  uint64_t last_ms;   /* when milli was last topped up */
} valk_ratelim_t;

/* A full bucket of burst tokens (burst >= 1, rate >= 1) at time now_ms. */
void valk_ratelim_init(valk_ratelim_t *r, uint64_t rate, uint64_t burst, uint64_t now_ms);

/* Takes one token at now_ms: 0, or -1 when the bucket is empty (nothing taken). */
int valk_ratelim_take(valk_ratelim_t *r, uint64_t now_ms);

#ifdef __cplusplus
}
#endif
#endif /* VALK_RATELIM_H */
