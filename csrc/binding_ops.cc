// binding_ops.cc: ops handed to the AIO thread: the op ring (VALK_OP_RING_SIZE
// in flight, docs/design.md §1 Thread ownership) and the reserve kept for
// control ops so that stop() and close() always get through. Their results
// come back in binding_system.cc (SystemWrap::Finish).
//
// Thread: Node's main thread.
#include "binding.h"

namespace valk_binding {

namespace {

// Ops kept free for control (STOP, CLOSE_SERVER, CLIENT_CLOSE, LISTEN,
// CONNECT): client requests may fill the rest, never these, so stop() and
// close() always get through.
constexpr uint32_t kControlOps = 8;

}  // namespace

PendingOp *SystemWrap::NewOp(valk_op_type_t type, Local<Value> cb) {
  PendingOp *p = new PendingOp();
  memset(&p->op, 0, sizeof(p->op));
  p->op.type = type;
  p->callback.Reset(cb.As<v8::Function>());
  return p;
}

void SystemWrap::Submit(PendingOp *p) {
  int rc = VALK_ESTOPPED;
  uint32_t limit = p->op.type == VALK_OP_REQUEST ? VALK_OP_RING_SIZE - kControlOps : VALK_OP_RING_SIZE;
  if (sys_ != nullptr && in_flight_ >= limit) rc = VALK_EFULL;
  else if (sys_ != nullptr) rc = valk_system_submit(sys_, &p->op);
  if (rc == 0) {
    in_flight_++;
    return;
  }
  if (p->op.type == VALK_OP_LISTEN) valk_server_opts_free(p->op.u.listen.opts);
  if (p->op.type == VALK_OP_CONNECT) valk_client_opts_free(p->op.u.connect.opts);
  if (p->op.type == VALK_OP_REQUEST) valk_client_req_free(p->op.u.request.req);
  ThrowError(rc);
  delete p;
}

}  // namespace valk_binding
