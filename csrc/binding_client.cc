// binding_client.cc: the HTTP/2 client on the AIO thread (csrc/valk_h2_client.h)
// as lib/client.ts drives it: connect(), request(), closeClient(), clientLive(),
// and the conversion of a response back to JavaScript. Its connection takes a
// slot of the connection slab (docs/design.md §2 Connection slab and states).
//
// Thread: Node's main thread.
#include "binding.h"

namespace valk_binding {

// connect({host, port, ca, rejectUnauthorized, maxResponseBodySize}, cb): cb(err, {id}).
void SystemWrap::Connect(const Nan::FunctionCallbackInfo<Value> &info) {
  Local<Object> o = info[0].As<Object>();
  char err[256] = "";
  valk_client_opts_t *opts = valk_client_opts_new();
  if (opts == nullptr) return ThrowError(VALK_ENOMEM);
  std::string host = StringField(o, "host"), ca = StringField(o, "ca");
  snprintf(opts->host, sizeof(opts->host), "%s", host.c_str());
  opts->port = (int)NumberField(o, "port");
  opts->verify = Nan::To<bool>(Field(o, "rejectUnauthorized")).FromMaybe(true) ? 1 : 0;
  opts->max_response_body_size = Unsigned(NumberField(o, "maxResponseBodySize"));
  if (valk_client_tls_ctx_new(&opts->ssl_ctx, ca.data(), ca.size(), opts->verify, err, sizeof(err)) != 0) {
    valk_client_opts_free(opts);
    return ThrowError(VALK_ETLS, err);
  }
  PendingOp *p = NewOp(VALK_OP_CONNECT, info[1]);
  p->op.u.connect.opts = opts;
  Self(info)->Submit(p);
}

// request(clientId, method, path, [name, value, ...], body: Buffer | undefined, cb):
// cb(err, {status, headers, body}).
void SystemWrap::Request(const Nan::FunctionCallbackInfo<Value> &info) {
  uint32_t id = Nan::To<uint32_t>(info[0]).FromMaybe(0);
  Nan::Utf8String method(info[1]), path(info[2]);
  Local<v8::Array> hv = info[3].As<v8::Array>();
  std::vector<std::string> strings;
  std::vector<const char *> ptrs;
  std::vector<size_t> lens;
  for (uint32_t i = 0; i < hv->Length(); i++) {
    Nan::Utf8String s(Nan::Get(hv, i).ToLocalChecked());
    strings.emplace_back(*s ? *s : "", s.length());
  }
  if (strings.size() % 2) strings.pop_back();
  for (auto &s : strings) {
    ptrs.push_back(s.data());
    lens.push_back(s.size());
  }
  const uint8_t *body = nullptr;
  size_t body_len = 0;
  if (node::Buffer::HasInstance(info[4])) {
    body = reinterpret_cast<const uint8_t *>(node::Buffer::Data(info[4]));
    body_len = node::Buffer::Length(info[4]);
  }
  valk_client_req_t *req = valk_client_req_new(id, *method, method.length(), *path, path.length(), ptrs.data(),
                                               lens.data(), strings.size() / 2, body, body_len);
  if (req == nullptr) return ThrowError(VALK_ENOMEM);
  PendingOp *p = NewOp(VALK_OP_REQUEST, info[5]);
  p->op.u.request.req = req;
  Self(info)->Submit(p);
}

// clientLive(id): whether client id still takes requests (atomic loads).
void SystemWrap::ClientLive(const Nan::FunctionCallbackInfo<Value> &info) {
  SystemWrap *self = Self(info);
  uint32_t id = Nan::To<uint32_t>(info[0]).FromMaybe(0);
  bool live = false;
  for (uint32_t i = 0; self->sys_ != nullptr && id != 0 && i < VALK_MAX_CLIENTS; i++)
    live = live || self->sys_->client_live[i].load(std::memory_order_relaxed) == id;
  info.GetReturnValue().Set(live);
}

// closeClient(clientId, cb): cb(err) once its connection slot is free.
void SystemWrap::CloseClient(const Nan::FunctionCallbackInfo<Value> &info) {
  PendingOp *p = NewOp(VALK_OP_CLIENT_CLOSE, info[1]);
  p->op.u.client_close.client_id = Nan::To<uint32_t>(info[0]).FromMaybe(0);
  Self(info)->Submit(p);
}

// The body's memory moves into the Buffer (no copy); the caller frees req.
Local<Value> SystemWrap::ClientResponse(valk_client_req_t *req) {
  Local<Object> out = Nan::New<Object>();
  Local<v8::Array> hv = Nan::New<v8::Array>(2 * req->resp_nhdrs);
  const char *p = reinterpret_cast<const char *>(req->resp_hdrs);
  for (uint32_t i = 0; i < 2 * req->resp_nhdrs; i++) {
    size_t n = strlen(p);
    Nan::Set(hv, i, Nan::New<v8::String>(p, (int)n).ToLocalChecked());
    p += n + 1;
  }
  SetNumber(out, "status", req->status);
  SetObject(out, "headers", hv);
  if (req->resp_body_len > 0) {
    SetObject(out, "body", Nan::NewBuffer(reinterpret_cast<char *>(req->resp_body), (uint32_t)req->resp_body_len)
                               .ToLocalChecked());
    req->resp_body = nullptr;  // the Buffer frees it
  } else {
    SetObject(out, "body", Nan::NewBuffer(0).ToLocalChecked());
  }
  return out;
}

}  // namespace valk_binding
