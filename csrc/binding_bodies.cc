// binding_bodies.cc: request bodies that stream to JavaScript (requestBodies
// 'stream', docs/design.md §7). The AIO thread hands a request's chunks over
// one at a time (valk_dispatch.h): it marks the chunk READY and pushes the
// token onto sys->bodies, which here only wakes the handler's reader
// (onBody); the reader takes the chunk (takeBody: copied into a Buffer, then
// handed back, which opens the client's window for the next) when it wants
// it. So a handler that does not read holds one chunk, and its client waits.
//
// Thread: Node's main thread.
#include "binding.h"

namespace valk_binding {

valk_js_request_t *SystemWrap::BodyOwner(double token) const {
  valk_js_request_t *r = InFlight(token);
  if (r != nullptr || !(token >= 0)) return r;
  auto it = streaming_.find((uint64_t)token);
  return it != streaming_.end() ? it->second : nullptr;
}

// Tells JavaScript which requests may have a chunk ready: fn(tokens). The
// requests pushed before a notice are delivered first, so a handler always
// exists for its body. A notice is only a wake-up: the chunk's state says
// whether there is something to take.
void SystemWrap::DeliverBodies() {
  uint64_t tokens[256];
  uint32_t n;
  if (atomic_exchange_explicit(&sys_->bodies_lost, 0, std::memory_order_acq_rel)) WakeAllReaders();
  while ((n = valk_dispatch_take_bodies(sys_, tokens, 256)) > 0) {
    DeliverRequests();
    if (sys_ == nullptr) return;
    Nan::HandleScope scope;
    Nan::AsyncResource resource("valk-aio:body");
    std::vector<Local<Value>> live;
    for (uint32_t i = 0; i < n; i++)
      if (BodyOwner((double)tokens[i]) != nullptr) live.push_back(Nan::New<v8::Number>((double)tokens[i]));
    if (live.empty() || on_body_.IsEmpty()) continue;
    Local<Value> argv[1] = {v8::Array::New(v8::Isolate::GetCurrent(), live.data(), live.size())};
    on_body_.Call(1, argv, &resource);
    if (sys_ == nullptr) return;
  }
}

// A notice was lost to a full ring: every request whose body streams is woken
// (a reader with nothing ready finds nothing and waits on).
void SystemWrap::WakeAllReaders() {
  Nan::HandleScope scope;
  Nan::AsyncResource resource("valk-aio:body");
  std::vector<Local<Value>> all;
  for (valk_js_request_t *r : requests_)
    if (r != nullptr && r->body_streaming) all.push_back(Nan::New<v8::Number>((double)valk_js_token(r)));
  for (auto &e : streaming_)
    if (e.second->body_streaming) all.push_back(Nan::New<v8::Number>((double)e.first));
  if (all.empty() || on_body_.IsEmpty()) return;
  Local<Value> argv[1] = {v8::Array::New(v8::Isolate::GetCurrent(), all.data(), all.size())};
  on_body_.Call(1, argv, &resource);
}

// onBody(fn): fn(tokens) when requests' next body chunks may be ready.
void SystemWrap::OnBody(const Nan::FunctionCallbackInfo<Value> &info) {
  Self(info)->on_body_.Reset(info[0].As<v8::Function>());
}

// takeBody(token) -> [chunk: Buffer, end: boolean] (the chunk copied, and
// handed back at once), false when no chunk is ready (wait for onBody), or
// null when the stream died first (or token names no request reading).
void SystemWrap::TakeBody(const Nan::FunctionCallbackInfo<Value> &info) {
  SystemWrap *self = Self(info);
  valk_js_request_t *r = self->sys_ != nullptr ? self->BodyOwner(Nan::To<double>(info[0]).FromMaybe(-1)) : nullptr;
  if (r == nullptr || !r->body_streaming) return info.GetReturnValue().SetNull();
  if (valk_dispatch_body_claim(r) != 0) {  // not READY: nothing yet, or the stream died (DROPPED)
    if (atomic_load_explicit(&r->in_state, std::memory_order_acquire) == VALK_IN_DROPPED)
      return info.GetReturnValue().SetNull();
    return info.GetReturnValue().Set(false);
  }
  Local<Object> chunk = Nan::CopyBuffer(reinterpret_cast<const char *>(r->in_data), r->in_len).ToLocalChecked();
  bool end = r->in_end != 0;
  valk_dispatch_body_taken(self->sys_, r, 0);
  v8::Isolate *iso = v8::Isolate::GetCurrent();
  Local<Value> out[2] = {chunk, Nan::New(end)};
  info.GetReturnValue().Set(v8::Array::New(iso, out, 2));
}

// discardBody(token) -> true when the ready chunk was dropped and the rest of
// the body will be (the client's window opens, nothing more is handed
// over), false when no chunk is ready (call again at the next onBody).
void SystemWrap::DiscardBody(const Nan::FunctionCallbackInfo<Value> &info) {
  SystemWrap *self = Self(info);
  valk_js_request_t *r = self->sys_ != nullptr ? self->BodyOwner(Nan::To<double>(info[0]).FromMaybe(-1)) : nullptr;
  if (r == nullptr || !r->body_streaming || valk_dispatch_body_claim(r) != 0) return info.GetReturnValue().Set(false);
  valk_dispatch_body_taken(self->sys_, r, 1);
  info.GetReturnValue().Set(true);
}

}  // namespace valk_binding
