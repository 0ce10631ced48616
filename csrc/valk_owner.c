/*
 * valk_owner.c: the owner registry. See valk_owner.h (AIO thread only).
 */
#include "valk_owner.h"

#include <stdio.h>
#include <string.h>

uint8_t valk_owner_register(valk_owner_registry_t *r, const char *name, valk_owner_type_t type) {
  uint8_t i;
  for (i = 0; i < VALK_MAX_OWNERS; i++) {
    valk_owner_entry_t *e = &r->entries[i];
    if (e->used) continue;
    snprintf(e->name, sizeof(e->name), "%s", name);
    e->type = (uint8_t)type;
    e->used = 1;
    return i;
  }
  return VALK_OWNER_OTHER;
}

void valk_owner_unregister(valk_owner_registry_t *r, uint8_t idx) {
  if (idx >= VALK_MAX_OWNERS) return;
  memset(&r->entries[idx], 0, sizeof(r->entries[idx]));
}

const char *valk_owner_name(const valk_owner_registry_t *r, uint8_t idx) {
  if (idx == VALK_OWNER_OTHER) return "other";
  if (idx >= VALK_MAX_OWNERS || !r->entries[idx].used) return "";
  return r->entries[idx].name;
}

uint32_t valk_owner_count(const valk_owner_registry_t *r) {
  uint32_t i, n = 0;
  for (i = 0; i < VALK_MAX_OWNERS; i++) n += r->entries[i].used;
  return n;
}
