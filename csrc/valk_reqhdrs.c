/*
 * valk_reqhdrs.c: header lists counted and kept while received. See valk_reqhdrs.h.
 * Thread: the AIO thread owning the connection.
 */
#include "valk_reqhdrs.h"

#include <assert.h>
#include <string.h>

#define VALK__REC 8u          /* u32 name_len + u32 value_len before each field */
#define VALK__FIELD_COST 32u  /* RFC 9113 §6.5.2: each field counts 32 bytes more */

int valk_reqhdrs_count(valk_reqhdrs_t *h, const valk_hdr_limits_t *lim, size_t namelen, size_t valuelen) {
  uint64_t size = (uint64_t)h->section_size + namelen + valuelen + VALK__FIELD_COST;
  h->section_pairs++;
  h->section_size = size > UINT32_MAX ? UINT32_MAX : (uint32_t)size;
  if (size > lim->max_list_size || h->section_pairs > lim->max_pairs) return VALK_ELIMIT;
  return 0;
}

void valk_reqhdrs_section(valk_reqhdrs_t *h) {
  h->section_size = 0;
  h->section_pairs = 0;
}

static void valk__put32(uint8_t *p, uint32_t v) {
  memcpy(p, &v, sizeof(v));
}

static uint32_t valk__get32(const uint8_t *p) {
  uint32_t v;
  memcpy(&v, p, sizeof(v));
  return v;
}

int valk_reqhdrs_keep(valk_reqhdrs_t *h, valk_h2_budget_t *b, const uint8_t *name, size_t namelen,
                      const uint8_t *value, size_t valuelen) {
  /* Counted first: namelen + valuelen are within max_list_size (<= 1 MiB). */
  size_t need = (size_t)h->len + VALK__REC + namelen + valuelen;
  assert(namelen + valuelen < UINT32_MAX / 2);
  if (need > h->cap) {
    size_t cap = h->cap ? h->cap : 256;
    uint8_t *nb;
    while (cap < need) cap *= 2;
    nb = valk_h2_budget_realloc(b, h->buf, cap);
    if (nb == NULL) return VALK_ENOMEM;
    h->buf = nb;
    h->cap = (uint32_t)cap;
  }
  valk__put32(h->buf + h->len, (uint32_t)namelen);
  valk__put32(h->buf + h->len + 4, (uint32_t)valuelen);
  memcpy(h->buf + h->len + VALK__REC, name, namelen);
  memcpy(h->buf + h->len + VALK__REC + namelen, value, valuelen);
  h->len = (uint32_t)need;
  h->n++;
  return 0;
}

size_t valk_reqhdrs_bytes(const valk_reqhdrs_t *h) {
  return (size_t)h->len - (size_t)h->n * VALK__REC;
}

void valk_reqhdrs_export(const valk_reqhdrs_t *h, uint8_t *dst, valk_hdr_t *out) {
  uint32_t at = 0, i;
  for (i = 0; i < h->n; i++) {
    uint32_t nl = valk__get32(h->buf + at), vl = valk__get32(h->buf + at + 4);
    memcpy(dst, h->buf + at + VALK__REC, (size_t)nl + vl);
    out[i].name = dst;
    out[i].name_len = nl;
    out[i].value = dst + nl;
    out[i].value_len = vl;
    dst += (size_t)nl + vl;
    at += VALK__REC + nl + vl;
  }
  assert(at == h->len);
}

void valk_reqhdrs_drop(valk_reqhdrs_t *h, valk_h2_budget_t *b) {
  valk_h2_budget_free(b, h->buf);
  h->buf = NULL;
  h->len = h->cap = h->n = 0;
}
