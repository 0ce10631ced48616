/*
 * valk_op.c: hands a finished op back to the owner thread. Servers, clients
 * and the orchestration all complete ops, so this sits below all of them
 * (docs/architecture.md). AIO thread only.
 */
#include "valk_system.h"

void valk_op_complete(valk_system_t *sys, valk_op_t *op) {
  int rc = valk_ring_push(&sys->done, op);
  if (rc < 0) {
    /* Cannot happen while the binding keeps at most VALK_OP_RING_SIZE ops in flight. */
    VALK_ERROR("done ring full: op %d lost", (int)op->type);
    return;
  }
  if (rc == 1 && sys->notify != NULL) sys->notify(sys->notify_data);
}
