// binding_system.cc: a system's lifecycle as JavaScript drives it:
// createSystem(cfg) starts the AIO thread, listen() and closeServer() hand
// servers over, stop() ends it; ops coming back (the done ring) are finished
// here and their callbacks called (docs/design.md §1 Thread ownership).
//
// Thread: Node's main thread, except Notify (the AIO thread: uv_async_send only).
#include "binding.h"

#include "valk_tls.h"

namespace valk_binding {

Nan::Persistent<v8::Function> SystemWrap::constructor;  // set by SystemWrap::Init (binding.cc)

void SystemWrap::New(const Nan::FunctionCallbackInfo<Value> &info) {
  (new SystemWrap())->Wrap(info.This());
  info.GetReturnValue().Set(info.This());
}

void SystemWrap::Notify(void *data) {  // AIO thread
  uv_async_send(static_cast<uv_async_t *>(data));
}

void SystemWrap::OnAsyncClosed(uv_handle_t *handle) { delete reinterpret_cast<uv_async_t *>(handle); }

void SystemWrap::OnAsync(uv_async_t *handle) {
  Nan::HandleScope scope;
  SystemWrap *self = static_cast<SystemWrap *>(handle->data);
  valk_op_t *ops[VALK_OP_RING_SIZE];
  uint32_t n;
  if (self->sys_ == nullptr) return;
  // Ops first: a LISTEN's answer must reach JavaScript before its server's requests.
  n = valk_system_take_done(self->sys_, ops, VALK_OP_RING_SIZE);
  for (uint32_t i = 0; i < n; i++) self->Finish(reinterpret_cast<PendingOp *>(ops[i]));
  if (self->sys_ != nullptr) self->DeliverRequests();
  if (self->sys_ != nullptr) self->DeliverCancels();
  if (self->sys_ != nullptr) self->ReleasePins();
  if (self->sys_ != nullptr) self->DeliverBodies();
}

// An op back from the AIO thread: its callback gets (err) or (null, result).
// STOP's answer also joins the thread and frees the system.
void SystemWrap::Finish(PendingOp *p) {
  Nan::AsyncResource resource("valk-aio:op");
  Local<Value> argv[2] = {Nan::Null(), Nan::Undefined()};
  in_flight_--;
  if (p->op.status != 0) {
    argv[0] = MakeError(p->op.status, p->op.error);
  } else if (p->op.type == VALK_OP_LISTEN) {
    Local<Object> out = Nan::New<Object>();
    SetNumber(out, "id", p->op.u.listen.server_id);
    SetNumber(out, "port", p->op.u.listen.port);
    argv[1] = out;
  } else if (p->op.type == VALK_OP_CONNECT) {
    Local<Object> out = Nan::New<Object>();
    SetNumber(out, "id", p->op.u.connect.client_id);
    argv[1] = out;
  } else if (p->op.type == VALK_OP_REQUEST) {
    argv[1] = ClientResponse(p->op.u.request.req);
  } else if (p->op.type == VALK_OP_STOP) {
    requests_.clear();
    pins_.clear();  // the AIO thread has ended: nothing reads them
    streaming_.clear();
    on_drain_.Reset();
    on_requests_.Reset();
    on_cancel_.Reset();
    strs_.reset();  // the cached strings go with the system
    Local<Object> out = Nan::New<Object>();
    SetNumber(out, "leakedConnections", p->op.u.stop.leaked_connections);
    SetNumber(out, "leakedTcpBuffers", p->op.u.stop.leaked_tcp_buffers);
    SetNumber(out, "leakedArenas", p->op.u.stop.leaked_arenas);
    SetNumber(out, "leakedGracefulSlots", p->op.u.stop.leaked_graceful);
    SetNumber(out, "leakedAdminSlots", p->op.u.stop.leaked_admin);
    uint32_t nslots = p->op.u.stop.leaked_connections < 16 ? p->op.u.stop.leaked_connections : 16;
    Local<v8::Array> slots = Nan::New<v8::Array>(nslots);
    for (uint32_t i = 0; i < nslots; i++) Nan::Set(slots, i, Nan::New(p->op.u.stop.leaked_slots[i]));
    Nan::Set(out, Nan::New("leakedSlots").ToLocalChecked(), slots);
    argv[1] = out;
    valk_system_join_and_free(sys_);
    sys_ = nullptr;
    uv_close(reinterpret_cast<uv_handle_t *>(async_), OnAsyncClosed);
    async_ = nullptr;
    Unref();
  }
  if (p->op.type == VALK_OP_REQUEST) valk_client_req_free(p->op.u.request.req);
  p->callback.Call(2, argv, &resource);
  delete p;
}

// createSystem(cfg: NativeSystemConfig) -> NativeSystem: the pools are made
// and the AIO thread runs when it returns; throws (starting nothing) otherwise.
void SystemWrap::Create(const Nan::FunctionCallbackInfo<Value> &info) {
  valk_system_config_t cfg;
  char err[256] = "";
  ConfigFromJs(info[0].As<Object>(), &cfg);

  Local<Object> obj = Nan::NewInstance(Nan::New(constructor)).ToLocalChecked();
  SystemWrap *self = Nan::ObjectWrap::Unwrap<SystemWrap>(obj);
  self->async_ = new uv_async_t();
  uv_async_init(Nan::GetCurrentEventLoop(), self->async_, OnAsync);
  self->async_->data = self;
  int rc = valk_system_start(&self->sys_, &cfg, Notify, self->async_, err, sizeof(err));
  if (rc != 0) {
    uv_close(reinterpret_cast<uv_handle_t *>(self->async_), OnAsyncClosed);
    self->async_ = nullptr;
    return ThrowError(rc, err);
  }
  self->Ref();  // alive until stop() comes back
  info.GetReturnValue().Set(obj);
}

namespace {

// Adds lib/routes.ts's NativeRoute list to opts' route table; false (an
// exception thrown) when one is refused.
bool AddRoutes(valk_server_opts_t *opts, Local<v8::Array> routes) {
  char err[256] = "";
  for (uint32_t i = 0; i < routes->Length(); i++) {
    Local<Object> r = Nan::Get(routes, i).ToLocalChecked().As<Object>();
    std::string path = StringField(r, "path");
    Local<v8::Array> hv = Field(r, "headers").As<v8::Array>();
    std::vector<std::string> strings;
    std::vector<const char *> ptrs;
    for (uint32_t j = 0; j < hv->Length(); j++) {
      Nan::Utf8String s(Nan::Get(hv, j).ToLocalChecked());
      strings.emplace_back(*s ? *s : "", s.length());
    }
    for (auto &s : strings) ptrs.push_back(s.c_str());
    Local<Object> body = Field(r, "body").As<Object>();
    int rc = valk_route_table_add(
        &opts->routes, path.c_str(), (int)NumberField(r, "status"), ptrs.data(), ptrs.size() / 2,
        reinterpret_cast<const uint8_t *>(node::Buffer::Data(body)), node::Buffer::Length(body),
        err, sizeof(err));
    if (rc != 0) {
      ThrowError(rc, err);
      return false;
    }
  }
  return true;
}

}  // namespace

// listen({host, port, tls, key, cert, routes, maxResponseBodySize, error503Body,
// hasHandler, admin, streamBodies}, cb): cb(err, {id, port}) once the AIO thread has bound it.
// tls false: a cleartext listener (no key or cert; HTTP/2 with prior knowledge).
void SystemWrap::Listen(const Nan::FunctionCallbackInfo<Value> &info) {
  SystemWrap *self = Self(info);
  Local<Object> o = info[0].As<Object>();
  char err[256] = "";
  valk_server_opts_t *opts = valk_server_opts_new();
  if (opts == nullptr) return ThrowError(VALK_ENOMEM);
  std::string host = StringField(o, "host"), key = StringField(o, "key"), cert = StringField(o, "cert");
  snprintf(opts->host, sizeof(opts->host), "%s", host.c_str());
  opts->port = (int)NumberField(o, "port");
  opts->max_response_body_size = (uint64_t)NumberField(o, "maxResponseBodySize");
  opts->has_handler = Nan::To<bool>(Field(o, "hasHandler")).FromMaybe(false);
  opts->admin = Nan::To<bool>(Field(o, "admin")).FromMaybe(false);
  opts->stream_bodies = Nan::To<bool>(Field(o, "streamBodies")).FromMaybe(false);
  Local<Object> body503 = Field(o, "error503Body").As<Object>();
  opts->error_503_len = node::Buffer::Length(body503);
  opts->error_503_body = static_cast<uint8_t *>(malloc(opts->error_503_len + 1));
  if (opts->error_503_body != nullptr)
    memcpy(opts->error_503_body, node::Buffer::Data(body503), opts->error_503_len);
  if (opts->error_503_body == nullptr ||
      valk_route_table_set_overload_body(&opts->routes, opts->error_503_body, opts->error_503_len) != 0) {
    valk_server_opts_free(opts);
    return ThrowError(VALK_ENOMEM);
  }
  Local<Value> tls_field = Field(o, "tls");
  bool tls = tls_field->IsUndefined() || Nan::To<bool>(tls_field).FromMaybe(true);
  if (tls && valk_tls_server_ctx_new(&opts->ssl_ctx, key.data(), key.size(), cert.data(), cert.size(),
                                     err, sizeof(err)) != 0) {
    valk_server_opts_free(opts);
    return ThrowError(VALK_ETLS, err);
  }
  if (!AddRoutes(opts, Field(o, "routes").As<v8::Array>())) {
    valk_server_opts_free(opts);
    return;
  }
  opts->has_js = opts->has_handler;
  for (uint32_t i = 0; i < opts->routes.count; i++)
    if (opts->routes.routes[i]->status == VALK_ROUTE_JS) opts->has_js = 1;
  PendingOp *p = NewOp(VALK_OP_LISTEN, info[1]);
  p->op.u.listen.opts = opts;
  self->Submit(p);
}

// closeServer(id, cb): GOAWAY to the server's connections, bounded drain, close.
void SystemWrap::CloseServer(const Nan::FunctionCallbackInfo<Value> &info) {
  PendingOp *p = NewOp(VALK_OP_CLOSE_SERVER, info[1]);
  p->op.u.close.server_id = Nan::To<uint32_t>(info[0]).FromMaybe(0);
  Self(info)->Submit(p);
}

// stop(cb): cb(err, report) once the thread is joined and every pool freed.
void SystemWrap::Stop(const Nan::FunctionCallbackInfo<Value> &info) {
  Self(info)->Submit(NewOp(VALK_OP_STOP, info[0]));
}

}  // namespace valk_binding
