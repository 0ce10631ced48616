// sources: valk_owner.c
/* The owner registry (docs/design.md §2): 16 entries, the 17th is "other",
 * freed entries are reused lowest first. */
#include <stdio.h>
#include <string.h>

#include "valk_owner.h"

#include "valk_test.h"

int main(void) {
  valk_owner_registry_t r;
  char name[32], longname[3 * VALK_OWNER_NAME_MAX];
  int i;
  memset(&r, 0, sizeof(r));
  for (i = 0; i < VALK_MAX_OWNERS; i++) {
    snprintf(name, sizeof(name), ":%d", 8000 + i);
    CHECK(valk_owner_register(&r, name, VALK_OWNER_SERVER) == i);
  }
  CHECK(valk_owner_count(&r) == VALK_MAX_OWNERS);
  CHECK(valk_owner_register(&r, "127.0.0.1:9000", VALK_OWNER_CLIENT) == VALK_OWNER_OTHER);
  CHECK(strcmp(valk_owner_name(&r, VALK_OWNER_OTHER), "other") == 0);
  CHECK(strcmp(valk_owner_name(&r, 3), ":8003") == 0);
  valk_owner_unregister(&r, 3);
  valk_owner_unregister(&r, VALK_OWNER_OTHER); /* nothing to free */
  CHECK(strcmp(valk_owner_name(&r, 3), "") == 0);
  CHECK(valk_owner_count(&r) == VALK_MAX_OWNERS - 1);
  CHECK(valk_owner_register(&r, "127.0.0.1:9000", VALK_OWNER_CLIENT) == 3);
  CHECK(r.entries[3].type == VALK_OWNER_CLIENT);
  memset(longname, 'x', sizeof(longname) - 1);
  longname[sizeof(longname) - 1] = '\0';
  valk_owner_unregister(&r, 0);
  CHECK(valk_owner_register(&r, longname, VALK_OWNER_SERVER) == 0); /* long names are cut, not overflowed */
  CHECK(strlen(valk_owner_name(&r, 0)) == VALK_OWNER_NAME_MAX - 1);
  printf("test_valk_owner: 1 passed\n");
  return 0;
}
