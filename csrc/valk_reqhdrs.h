/*
 * valk_reqhdrs.h: a request's header list while it is received.
 *
 * Every field of a header section (the request's headers, or its trailers) is
 * counted as RFC 9113 §6.5.2 counts it, name + value + 32 bytes, against
 * maxHeaderListSize, and against maxHeaderPairs, before anything is copied:
 * the caller stops decoding the section at the first field past a limit
 * (docs/RELIABILITY.md, "Header limits"). The fields a JavaScript handler
 * will see are kept, in order, in one buffer drawn from the connection's
 * budget (valk_h2_mem.h), until the stream takes its arena; then they are
 * copied there (valk_reqhdrs_export) and the buffer goes back.
 *
 * Memory: at most the limits (section bytes, plus 8 bytes per field) per
 * stream, from the budget. Thread: the AIO thread owning the connection.
 */
#ifndef VALK_REQHDRS_H
#define VALK_REQHDRS_H

#include <stddef.h>
#include <stdint.h>

#include "valk_h2_mem.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One header: bytes not NUL-terminated, in whatever buffer holds them. */
typedef struct valk_hdr {
  const uint8_t *name, *value;
  uint32_t name_len, value_len;
} valk_hdr_t;

/* The limits of one header section (the config's maxHeaderListSize, maxHeaderPairs). */
typedef struct valk_hdr_limits {
  uint32_t max_list_size;
  uint32_t max_pairs;
} valk_hdr_limits_t;

typedef struct valk_reqhdrs {
  uint8_t *buf;           /* records: u32 name_len, u32 value_len, name, value; from the budget */
  uint32_t len, cap;
  uint32_t n;             /* fields kept */
  uint32_t section_size;  /* RFC 9113 size of the section being received so far */
  uint32_t section_pairs; /* its fields so far */
} valk_reqhdrs_t;

/* Counts one field of the current section: 0, or VALK_ELIMIT when it takes
 * the section past a limit (the count then stays past it). */
int valk_reqhdrs_count(valk_reqhdrs_t *h, const valk_hdr_limits_t *lim, size_t namelen, size_t valuelen);

/* A new section begins (trailers): its counts start at 0; kept fields stay. */
void valk_reqhdrs_section(valk_reqhdrs_t *h);

/* Keeps a copy of one (counted) field. 0, or VALK_ENOMEM when the budget refuses. */
int valk_reqhdrs_keep(valk_reqhdrs_t *h, valk_h2_budget_t *b, const uint8_t *name, size_t namelen,
                      const uint8_t *value, size_t valuelen);

/* Bytes valk_reqhdrs_export copies (the kept names and values). */
size_t valk_reqhdrs_bytes(const valk_reqhdrs_t *h);

/* Copies the kept fields' bytes into dst (valk_reqhdrs_bytes of them) and
 * fills out[0 .. h->n) with views into dst, in order. */
void valk_reqhdrs_export(const valk_reqhdrs_t *h, uint8_t *dst, valk_hdr_t *out);

/* Gives the kept copy back to the budget; n and len go to 0 (counts stay). */
void valk_reqhdrs_drop(valk_reqhdrs_t *h, valk_h2_budget_t *b);

#ifdef __cplusplus
}
#endif
#endif /* VALK_REQHDRS_H */
