// binding_requests.cc: requests to JavaScript and their answers
// (docs/design.md §7 Requests to JavaScript). The AIO thread pushes each
// request for a handler onto the request ring (valk_dispatch.h); here they
// are taken in batches, handed to lib/handler.ts as one flat array, and
// answered through respond(token, ...), which writes the answer into the
// request's arena and pushes it back.
//
// Thread: Node's main thread. From push to answer a request's arena belongs
// to this thread.
#include "binding.h"

#include <cassert>

namespace valk_binding {

namespace {

// Fields of one request in a batch, before its headers (lib/handler.ts reads them).
constexpr uint32_t kReqFields = 8;

// A request's identity as JavaScript holds it: gen x 2^21 + slot (both from
// valk_dispatch.h; slot < 2^21, gen < 2^32: exact in a double). A token is
// never given twice by one system, so a late or repeated respond() names
// a request that is gone, never the one that reuses its slot.
constexpr uint32_t kSlotBits = VALK_TOKEN_SLOT_BITS;
// A Buffer body at least this large is pinned and sent from where it is
// (below, copying into the arena costs less than keeping a handle).
constexpr size_t kPinMinBytes = 16 * 1024;

double Token(const valk_js_request_t *r) {
  return (double)valk_js_token(r);
}

// A new string of bytes p (UTF-8; ASCII takes V8's one-byte path).
Local<v8::String> NewStr(v8::Isolate *iso, const uint8_t *p, uint32_t len, bool ascii, bool name) {
  v8::NewStringType t = name ? v8::NewStringType::kInternalized : v8::NewStringType::kNormal;
  if (ascii) return v8::String::NewFromOneByte(iso, p, t, (int)len).ToLocalChecked();
  return v8::String::NewFromUtf8(iso, reinterpret_cast<const char *>(p), t, (int)len).ToLocalChecked();
}

// Copies a buffer, or a string (any other value: as a string) as UTF-8, into
// the request's arena, with no copy in between; false if it does not fit.
bool ArenaCopy(valk_system_t *sys, valk_js_request_t *r, Local<Value> v, const uint8_t **out, uint32_t *len) {
  uint8_t *dst;
  size_t n;
  if (node::Buffer::HasInstance(v)) {
    n = node::Buffer::Length(v);
    dst = static_cast<uint8_t *>(valk_dispatch_alloc(sys, r, n ? n : 1));
    if (dst == nullptr) return false;
    memcpy(dst, node::Buffer::Data(v), n);
  } else {
    v8::Isolate *iso = v8::Isolate::GetCurrent();
    Local<v8::String> s;
    if (!(v->IsString() ? Nan::MaybeLocal<v8::String>(v.As<v8::String>()) : Nan::To<v8::String>(v)).ToLocal(&s))
      return false;
    n = (size_t)s->Utf8Length(iso);
    dst = static_cast<uint8_t *>(valk_dispatch_alloc(sys, r, n ? n : 1));
    if (dst == nullptr) return false;
    s->WriteUtf8(iso, reinterpret_cast<char *>(dst), (int)n, nullptr,
                 v8::String::NO_NULL_TERMINATION | v8::String::REPLACE_INVALID_UTF8);
  }
  *out = dst;
  *len = (uint32_t)n;
  return true;
}

}  // namespace

// The string of bytes p, from the cache when it is there. name: a header
// name (internalized: JavaScript uses it as a property key).
Local<v8::String> SystemWrap::Str(v8::Isolate *iso, const uint8_t *p, uint32_t len, bool name) {
  uint32_t h = 2166136261u ^ len;
  uint8_t high = 0;
  if (len > kStrMax) {
    for (uint32_t i = 0; i < len; i++) high |= p[i];
    return NewStr(iso, p, len, high < 0x80, name);
  }
  for (uint32_t i = 0; i < len; i++) {
    high |= p[i];
    h = (h ^ p[i]) * 16777619u;
  }
  CachedStr &e = strs_[(h ^ (h >> 15)) & (kStrSlots - 1)];
  if (e.len == len && memcmp(e.bytes, p, len) == 0) {
    e.hot = true;
    return Nan::New(e.str);
  }
  Local<v8::String> s = NewStr(iso, p, len, high < 0x80, name);
  if (e.hot) {
    e.hot = false;  // second chance: keep the hot one this time
    return s;
  }
  e.len = len;
  memcpy(e.bytes, p, len);
  e.str.Reset(s);
  return s;
}

// The request in flight that token names, or nullptr (answered already, or never delivered).
valk_js_request_t *SystemWrap::InFlight(double token) const {
  if (!(token >= 0 && token < 9007199254740992.0)) return nullptr;
  uint64_t t = (uint64_t)token;
  uint64_t slot = t & ((1u << kSlotBits) - 1);
  if ((double)t != token || slot >= requests_.size()) return nullptr;
  valk_js_request_t *r = requests_[slot];
  return r != nullptr && r->gen == (uint32_t)(t >> kSlotBits) ? r : nullptr;
}

// Appends request r to a batch: token, serverId, streamId, method, path,
// remoteAddress, body (a Buffer; undefined when empty; true when it streams), the header count n,
// then n (name, value) pairs in order.
void SystemWrap::AppendRequest(v8::Isolate *iso, std::vector<Local<Value>> &out, const valk_js_request_t *r) {
  out.push_back(Nan::New<v8::Number>(Token(r)));
  out.push_back(v8::Integer::NewFromUnsigned(iso, r->server_id));
  out.push_back(v8::Integer::New(iso, r->stream_id));
  out.push_back(Str(iso, r->method.value, r->method.value_len, false));
  out.push_back(Str(iso, r->path.value, r->path.value_len, false));
  out.push_back(Str(iso, reinterpret_cast<const uint8_t *>(r->remote), (uint32_t)strnlen(r->remote, sizeof(r->remote)), false));
  if (r->body_streaming)
    out.push_back(Nan::True());  // the body follows in chunks (binding_bodies.cc)
  else if (r->body_len > 0)
    out.push_back(Nan::CopyBuffer(reinterpret_cast<const char *>(r->body), r->body_len).ToLocalChecked());
  else
    out.push_back(Nan::Undefined());
  out.push_back(v8::Integer::NewFromUnsigned(iso, r->nheaders));
  for (uint32_t i = 0; i < r->nheaders; i++) {
    const valk_hdr_t *h = &r->headers[i];
    out.push_back(Str(iso, h->name, h->name_len, true));
    out.push_back(Str(iso, h->value, h->value_len, false));
  }
}

// Moves every waiting request to JavaScript in batches: one call per batch,
// with one flat array of every request in it (AppendRequest).
void SystemWrap::DeliverRequests() {
  valk_js_request_t *batch[256];
  uint32_t n;
  v8::Isolate *iso = v8::Isolate::GetCurrent();
  if (requests_.empty()) requests_.assign(valk_dispatch_slots(sys_), nullptr);
  if (!strs_) strs_.reset(new CachedStr[kStrSlots]);
  while ((n = valk_dispatch_take(sys_, batch, 256)) > 0) {
    Nan::HandleScope scope;
    Nan::AsyncResource resource("valk-aio:requests");
    std::vector<Local<Value>> items;
    size_t total = 0;
    for (uint32_t i = 0; i < n; i++) total += kReqFields + 2 * (size_t)batch[i]->nheaders;
    items.reserve(total);
    for (uint32_t i = 0; i < n; i++) {
      assert(batch[i]->slot < requests_.size() && requests_[batch[i]->slot] == nullptr);
      requests_[batch[i]->slot] = batch[i];
      AppendRequest(iso, items, batch[i]);
    }
    Local<Value> argv[1] = {v8::Array::New(iso, items.data(), items.size())};
    delivering_ = true;  // answers given during the call (and its microtasks) go out together
    if (!on_requests_.IsEmpty()) on_requests_.Call(1, argv, &resource);
    delivering_ = false;
    if (sys_ == nullptr) return;
    if (!answered_.empty()) {
      valk_dispatch_respond_batch(sys_, answered_.data(), (uint32_t)answered_.size());
      answered_.clear();
    }
  }
}

// Tells JavaScript which of its requests lost their stream: fn(tokens), only
// tokens still in flight (a notice that comes after the answer is dropped).
void SystemWrap::DeliverCancels() {
  uint64_t tokens[256];
  uint32_t n;
  while ((n = valk_dispatch_take_cancels(sys_, tokens, 256)) > 0) {
    Nan::HandleScope scope;
    Nan::AsyncResource resource("valk-aio:cancel");
    std::vector<Local<Value>> live;
    for (uint32_t i = 0; i < n; i++) {
      double token = (double)tokens[i];
      if (InFlight(token) != nullptr || streaming_.count(tokens[i])) live.push_back(Nan::New<v8::Number>(token));
    }
    if (live.empty() || on_cancel_.IsEmpty()) continue;
    Local<Value> argv[1] = {v8::Array::New(v8::Isolate::GetCurrent(), live.data(), live.size())};
    on_cancel_.Call(1, argv, &resource);
    if (sys_ == nullptr) return;
  }
}

// Keeps body (a Buffer) alive for r's answer, which is sent from its bytes
// without a copy; the AIO thread hands the token back on sys->unpins when it
// no longer reads them (ReleasePins). JavaScript must not change the Buffer
// after returning it (docs/api.md).
bool SystemWrap::PinBody(valk_js_request_t *r, Local<Value> body) {
  Local<Object> obj = body.As<Object>();
  uint64_t token = valk_js_token(r);
  assert(pins_.find(token) == pins_.end());
  pins_.emplace(token, Nan::Global<v8::Object>(obj));
  r->resp_body = reinterpret_cast<const uint8_t *>(node::Buffer::Data(obj));
  r->resp_body_len = node::Buffer::Length(obj);
  r->resp_pinned = 1;
  return true;
}

// Lets go of the bodies the AIO thread no longer reads; a streaming answer
// whose chunk came back may send its next one: fn(tokens) (onDrain).
void SystemWrap::ReleasePins() {
  uint64_t tokens[256];
  uint32_t n;
  while ((n = valk_dispatch_take_unpins(sys_, tokens, 256)) > 0) {
    Nan::HandleScope scope;
    std::vector<Local<Value>> drained;
    for (uint32_t i = 0; i < n; i++) {
      pins_.erase(tokens[i]);
      if (streaming_.count(tokens[i])) drained.push_back(Nan::New<v8::Number>((double)tokens[i]));
    }
    if (drained.empty() || on_drain_.IsEmpty()) continue;
    Nan::AsyncResource resource("valk-aio:drain");
    Local<Value> argv[1] = {v8::Array::New(v8::Isolate::GetCurrent(), drained.data(), drained.size())};
    on_drain_.Call(1, argv, &resource);
    if (sys_ == nullptr) return;
  }
}

// chunk(token, body, flags): a streaming answer's next chunk (a Buffer, or
// undefined), flags VALK_CHUNK_END / VALK_CHUNK_ABORT. Only after the previous
// chunk came back (onDrain). Returns false for a token that does not stream
// (any more); the Buffer is kept alive until the AIO thread hands it back.
void SystemWrap::Chunk(const Nan::FunctionCallbackInfo<Value> &info) {
  SystemWrap *self = Self(info);
  double t = Nan::To<double>(info[0]).FromMaybe(-1);
  uint64_t token = t >= 0 ? (uint64_t)t : 0;
  auto it = self->sys_ != nullptr ? self->streaming_.find(token) : self->streaming_.end();
  if (it == self->streaming_.end()) return info.GetReturnValue().Set(false);
  valk_js_request_t *r = it->second;
  uint32_t flags = Nan::To<uint32_t>(info[2]).FromMaybe(0) & (VALK_CHUNK_END | VALK_CHUNK_ABORT | VALK_CHUNK_TRAILERS);
  if ((flags & VALK_CHUNK_TRAILERS) && (!(flags & VALK_CHUNK_END) || !node::Buffer::HasInstance(info[1]) ||
                                        node::Buffer::Length(info[1]) > VALK_TRAILERS_MAX_BYTES))
    return ThrowError(VALK_EINVAL, "valk-aio: chunk(): trailers come with the end, as one Buffer of at most 16 KiB");
  if (self->pins_.count(token)) return ThrowError(VALK_EINVAL, "valk-aio: chunk(): the previous chunk is still being sent");
  r->chunk = nullptr;
  r->chunk_len = 0;
  r->chunk_flags = (uint8_t)flags;
  if (node::Buffer::HasInstance(info[1]) && node::Buffer::Length(info[1]) > 0) {
    Local<Object> obj = info[1].As<Object>();
    self->pins_.emplace(token, Nan::Global<v8::Object>(obj));
    r->chunk = reinterpret_cast<const uint8_t *>(node::Buffer::Data(obj));
    r->chunk_len = node::Buffer::Length(obj);
  }
  if (flags != 0) self->streaming_.erase(it);  // the final one: the token names nothing after it
  valk_dispatch_chunk(self->sys_, r);
  info.GetReturnValue().Set(true);
}

// onDrain(fn): fn(tokens) when streaming answers may send their next chunk.
void SystemWrap::OnDrain(const Nan::FunctionCallbackInfo<Value> &info) {
  Self(info)->on_drain_.Reset(info[0].As<v8::Function>());
}

// onCancel(fn): fn(tokens) is told of requests whose stream died (docs/design.md §7).
void SystemWrap::OnCancel(const Nan::FunctionCallbackInfo<Value> &info) {
  Self(info)->on_cancel_.Reset(info[0].As<v8::Function>());
}

// onRequests(fn): fn(batch) receives requests for JavaScript handlers.
void SystemWrap::OnRequests(const Nan::FunctionCallbackInfo<Value> &info) {
  Self(info)->on_requests_.Reset(info[0].As<v8::Function>());
}

// respond(token, status, [name, value, ...], body: Buffer | string) -> true, or
// false when headers + body did not fit the request's arena: an empty 500 went
// instead. A string body is written into the arena as UTF-8 (one copy).
// Throws (VALK_ENOTFOUND) for a token that names no request in flight
// (InFlight): nothing is sent.
void SystemWrap::Respond(const Nan::FunctionCallbackInfo<Value> &info) {
  SystemWrap *self = Self(info);
  valk_js_request_t *r = self->sys_ != nullptr ? self->InFlight(Nan::To<double>(info[0]).FromMaybe(-1)) : nullptr;
  if (r == nullptr) return ThrowError(VALK_ENOTFOUND, "valk-aio: respond(): no such request in flight (answered already?)");
  Local<v8::Array> headers = info[2].As<v8::Array>();
  uint32_t n = headers->Length() / 2;
  bool ok = true;
  r->status = Nan::To<int32_t>(info[1]).FromMaybe(500);
  r->resp_nheaders = 0;
  r->resp_body = nullptr;
  r->resp_body_len = 0;
  r->resp_headers = static_cast<valk_hdr_t *>(valk_dispatch_alloc(self->sys_, r, (n ? n : 1) * sizeof(valk_hdr_t)));
  ok = r->resp_headers != nullptr;
  for (uint32_t i = 0; ok && i < n; i++) {
    valk_hdr_t *h = &r->resp_headers[i];
    ok = ArenaCopy(self->sys_, r, Nan::Get(headers, 2 * i).ToLocalChecked(), &h->name, &h->name_len) &&
         ArenaCopy(self->sys_, r, Nan::Get(headers, 2 * i + 1).ToLocalChecked(), &h->value, &h->value_len);
  }
  if (ok) r->resp_nheaders = n;
  bool has_body = node::Buffer::HasInstance(info[3]) ? node::Buffer::Length(info[3]) > 0
                  : info[3]->IsString() && info[3].As<v8::String>()->Length() > 0;
  r->resp_pinned = 0;
  r->resp_streaming = info.Length() > 4 && info[4]->IsTrue();
  if (ok && has_body && !r->resp_streaming) {
    // A large Buffer is sent from where it is; anything else is copied into
    // the arena, or, when it does not fit, sent from a Buffer of its own.
    Local<Value> body = info[3];
    v8::Isolate *iso = v8::Isolate::GetCurrent();
    bool is_buf = node::Buffer::HasInstance(body);
    bool large = is_buf ? node::Buffer::Length(body) >= kPinMinBytes
                        : body->IsString() && (size_t)body.As<v8::String>()->Utf8Length(iso) >= kPinMinBytes;
    uint32_t len = 0;
    if (is_buf && large) {
      ok = self->PinBody(r, body);
    } else if (!large && ArenaCopy(self->sys_, r, body, &r->resp_body, &len)) {
      r->resp_body_len = len;
    } else if (is_buf) {
      ok = self->PinBody(r, body);
    } else {
      Local<v8::String> str;
      Local<Object> buf;
      ok = Nan::To<v8::String>(body).ToLocal(&str) &&
           node::Buffer::New(iso, str, node::UTF8).ToLocal(&buf) && self->PinBody(r, buf);
    }
  }
  if (!ok) {  // did not fit the arena: an empty 500 instead
    if (r->resp_pinned) self->pins_.erase(valk_js_token(r));
    r->resp_streaming = 0;
    r->status = 500;
    r->resp_nheaders = 0;
    r->resp_body = nullptr;
    r->resp_body_len = 0;
    r->resp_pinned = 0;
  }
  self->requests_[r->slot] = nullptr;
  if (r->resp_streaming) self->streaming_[valk_js_token(r)] = r;
  self->sys_->stats.shard[VALK_SHARD_OWNER].responses_from_js.fetch_add(1, std::memory_order_relaxed);
  if (self->delivering_) self->answered_.push_back(r);
  else valk_dispatch_respond(self->sys_, r);
  info.GetReturnValue().Set(ok);
}

}  // namespace valk_binding
