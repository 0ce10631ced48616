/*
 * valk_h2_rules.c: frame boundaries, closed streams and RFC 9113 §5.1
 * verdicts. See valk_h2_rules.h. Thread: whoever owns the structs.
 */
#include "valk_h2_rules.h"

#include <assert.h>
#include <string.h>

void valk_frame_scan_init(valk_frame_scan_t *s, uint32_t skip) {
  memset(s, 0, sizeof(*s));
  s->skip = skip;
}

size_t valk_frame_scan(valk_frame_scan_t *s, const uint8_t *p, size_t n, valk_frame_hd_t *hd) {
  size_t i = 0;
  while (i < n) {
    if (s->skip > 0) {
      size_t k = n - i < s->skip ? n - i : s->skip;
      s->skip -= (uint32_t)k;
      i += k;
      continue;
    }
    s->hdr[s->have++] = p[i];
    if (s->have < VALK_FRAME_HEADER_LEN) {
      i++;
      continue;
    }
    hd->length = ((uint32_t)s->hdr[0] << 16) | ((uint32_t)s->hdr[1] << 8) | s->hdr[2];
    hd->type = s->hdr[3];
    hd->flags = s->hdr[4];
    hd->stream_id = (int32_t)((((uint32_t)s->hdr[5] & 0x7f) << 24) | ((uint32_t)s->hdr[6] << 16) |
                              ((uint32_t)s->hdr[7] << 8) | s->hdr[8]);
    s->have = 0;
    s->skip = hd->length;
    return i;
  }
  return n;
}

static int valk__has(const int32_t *ids, uint32_t n, int32_t id) {
  uint32_t i;
  for (i = 0; i < n; i++)
    if (ids[i] == id) return 1;
  return 0;
}

void valk_closed_add(valk_closed_ring_t *r, int32_t id, valk_closed_how_t how) {
  assert(id > 0 && how != VALK_CLOSED_NONE);
  if (how == VALK_CLOSED_RESET) {
    if (valk__has(r->reset, VALK_CLOSED_RESETS, id)) return;
    r->reset[r->next_reset] = id;
    r->next_reset = (r->next_reset + 1) % VALK_CLOSED_RESETS;
  } else {
    if (valk__has(r->normal, VALK_CLOSED_NORMALS, id)) return;
    r->normal[r->next_normal] = id;
    r->next_normal = (r->next_normal + 1) % VALK_CLOSED_NORMALS;
  }
}

valk_closed_how_t valk_closed_find(const valk_closed_ring_t *r, int32_t id) {
  if (valk__has(r->reset, VALK_CLOSED_RESETS, id)) return VALK_CLOSED_RESET;
  if (valk__has(r->normal, VALK_CLOSED_NORMALS, id)) return VALK_CLOSED_NORMAL;
  return VALK_CLOSED_NONE;
}

valk_frame_verdict_t valk_h2_frame_verdict(const valk_closed_ring_t *r, int32_t max_peer_id,
                                           const valk_frame_hd_t *hd, int open, int remote_closed) {
  valk_closed_how_t how;
  if ((hd->type != VALK_FRAME_DATA && hd->type != VALK_FRAME_HEADERS) || hd->stream_id <= 0 ||
      (hd->stream_id & 1) == 0)
    return VALK_VERDICT_PASS; /* nghttp2 judges the rest itself */
  if (open) return remote_closed ? VALK_VERDICT_STREAM_CLOSED : VALK_VERDICT_PASS;
  if (hd->stream_id > max_peer_id) return VALK_VERDICT_PASS; /* a new stream (or DATA on idle: nghttp2) */
  how = valk_closed_find(r, hd->stream_id);
  if (how == VALK_CLOSED_NORMAL) return VALK_VERDICT_CONN_CLOSED;
  if (how == VALK_CLOSED_RESET) return VALK_VERDICT_PASS;
  return hd->type == VALK_FRAME_HEADERS ? VALK_VERDICT_CONN_PROTOCOL : VALK_VERDICT_PASS;
}
