/*
 * valk_owner.h: the owner registry (docs/design.md §2): who a connection slot
 * belongs to. Servers register as ":port", clients as "host:port"; a slot
 * carries its owner's index, and the diagnostics snapshot sends the names once
 * (owner_map). Fixed size: VALK_MAX_OWNERS entries; when they are all taken a
 * new owner gets VALK_OWNER_OTHER, which the snapshot reports as "other"
 * (not an error).
 *
 * Thread: the AIO thread owns the registry (register, unregister, names).
 * Memory: fixed, inside valk_system_t.
 */
#ifndef VALK_OWNER_H
#define VALK_OWNER_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define VALK_MAX_OWNERS 16
#define VALK_OWNER_OTHER 255 /* no entry was free: reported as "other" */
#define VALK_OWNER_NAME_MAX 64

typedef enum { VALK_OWNER_SERVER = 0, VALK_OWNER_CLIENT = 1 } valk_owner_type_t;

typedef struct valk_owner_entry {
  char name[VALK_OWNER_NAME_MAX];
  uint8_t type;   /* valk_owner_type_t */
  uint8_t used;
} valk_owner_entry_t;

typedef struct valk_owner_registry {
  valk_owner_entry_t entries[VALK_MAX_OWNERS];
} valk_owner_registry_t;

/* Takes the lowest free entry for name (truncated to fit). Returns its index,
 * or VALK_OWNER_OTHER when all VALK_MAX_OWNERS are taken. */
uint8_t valk_owner_register(valk_owner_registry_t *r, const char *name, valk_owner_type_t type);

/* Frees entry idx (VALK_OWNER_OTHER and unused entries: nothing happens). */
void valk_owner_unregister(valk_owner_registry_t *r, uint8_t idx);

/* The name of idx: "other" for VALK_OWNER_OTHER, "" for an unused entry. */
const char *valk_owner_name(const valk_owner_registry_t *r, uint8_t idx);

/* Entries in use. */
uint32_t valk_owner_count(const valk_owner_registry_t *r);

#ifdef __cplusplus
}
#endif
#endif /* VALK_OWNER_H */
