// binding.cc: the thin nan binding between JavaScript and the C core. The only
// C++ in the addon. It converts arguments, owns one uv_async_t per system on
// Node's loop (the only contact with Node's loop), and calls JS callbacks when
// ops come back from the AIO thread.
//
// Thread: every function here runs on Node's main thread, except
// SystemWrap::Notify, which the AIO thread calls; it only does uv_async_send.
#include <nan.h>

#include <cassert>
#include <memory>
#include <string>
#include <vector>

#include "valk_common.h"
#include "valk_diag.h"
#include "valk_dispatch.h"
#include "valk_h2_client.h"
#include "valk_h2_server.h"
#include "valk_selftest.h"
#include "valk_slab.h"
#include "valk_snapshot.h"
#include "valk_system.h"
#include "valk_tls.h"

namespace {

using v8::Local;
using v8::Object;
using v8::Value;

// Estimates for estimateFootprint(): bytes of one request/response queue entry
// (a descriptor and its ring slot) and of the TLS state OpenSSL allocates per
// connection outside the pools (its SSL object and record buffers: ~26 KB
// measured on an idle connection, rounded up). The HTTP/2 state is not an
// estimate: each connection's is capped at maxSessionMemory (valk_h2_mem.h),
// and its TLS memory BIOs at VALK_TLS_BIO_MAX (docs/RELIABILITY.md).
constexpr double kQueueEntryBytes = 64;
constexpr double kConnProtocolStateBytes = 48 * 1024;

double NumberField(Local<Object> obj, const char *name) {
  Local<Value> v = Nan::Get(obj, Nan::New(name).ToLocalChecked()).ToLocalChecked();
  return Nan::To<double>(v).FromMaybe(0);
}

// A non-negative finite double as uint64_t; anything else (NaN, negative, huge) is 0.
uint64_t Unsigned(double v) {
  return v >= 0 && v < 1.8e19 ? (uint64_t)v : 0;
}

std::string StringField(Local<Object> obj, const char *name) {
  Local<Value> v = Nan::Get(obj, Nan::New(name).ToLocalChecked()).ToLocalChecked();
  Nan::Utf8String s(v);
  return std::string(*s ? *s : "", s.length());
}

Local<Value> Field(Local<Object> obj, const char *name) {
  return Nan::Get(obj, Nan::New(name).ToLocalChecked()).ToLocalChecked();
}

void SetNumber(Local<Object> obj, const char *name, double value) {
  Nan::Set(obj, Nan::New(name).ToLocalChecked(), Nan::New(value));
}

void SetObject(Local<Object> obj, const char *name, Local<Value> value) {
  Nan::Set(obj, Nan::New(name).ToLocalChecked(), value);
}

void SetString(Local<Object> obj, const char *name, const char *value) {
  Nan::Set(obj, Nan::New(name).ToLocalChecked(), Nan::New(value ? value : "").ToLocalChecked());
}

Local<Value> MakeError(const char *message, int code) {
  Local<Value> err = Nan::Error(message);
  Nan::Set(err.As<Object>(), Nan::New("code").ToLocalChecked(),
           Nan::New(code < -1000 ? "VALK_E" : uv_err_name(code)).ToLocalChecked());
  return err;
}

// ---- system ----------------------------------------------------------------

struct PendingOp {
  valk_op_t op;
  Nan::Callback callback;
};

class SystemWrap : public Nan::ObjectWrap {
 public:
  static Nan::Persistent<v8::Function> constructor;

  static void Init() {
    Local<v8::FunctionTemplate> tpl = Nan::New<v8::FunctionTemplate>(New);
    tpl->SetClassName(Nan::New("NativeSystem").ToLocalChecked());
    tpl->InstanceTemplate()->SetInternalFieldCount(1);
    Nan::SetPrototypeMethod(tpl, "listen", Listen);
    Nan::SetPrototypeMethod(tpl, "closeServer", CloseServer);
    Nan::SetPrototypeMethod(tpl, "stop", Stop);
    Nan::SetPrototypeMethod(tpl, "connect", Connect);
    Nan::SetPrototypeMethod(tpl, "request", Request);
    Nan::SetPrototypeMethod(tpl, "closeClient", CloseClient);
    Nan::SetPrototypeMethod(tpl, "clientLive", ClientLive);
    Nan::SetPrototypeMethod(tpl, "metrics", Metrics);
    Nan::SetPrototypeMethod(tpl, "pushRuntime", PushRuntime);
    Nan::SetPrototypeMethod(tpl, "onRequests", OnRequests);
    Nan::SetPrototypeMethod(tpl, "respond", Respond);
    constructor.Reset(Nan::GetFunction(tpl).ToLocalChecked());
  }

 private:
  valk_system_t *sys_ = nullptr;
  uv_async_t *async_ = nullptr;
  uint32_t in_flight_ = 0;
  Nan::Callback on_requests_;                 // fn(batch) for requests to JavaScript
  std::vector<valk_js_request_t *> requests_; // by token (arena index): with JavaScript now
  std::vector<valk_js_request_t *> answered_; // answers given while a batch runs: sent after it
  bool delivering_ = false;

  // Strings made for requests, kept for the next ones: header names and the
  // values that repeat (method, :scheme, :authority, user-agent, the peer's
  // address, a hot path). Direct-mapped, kStrSlots entries of at most kStrMax
  // bytes: bounded. A slot's string is replaced only if it was not used since
  // the last miss on that slot (a second chance), so one-off values such as
  // unique paths do not push out the hot ones. Node's thread only.
  static constexpr uint32_t kStrSlots = 512;
  static constexpr uint32_t kStrMax = 64;
  struct CachedStr {
    uint32_t len = UINT32_MAX;
    bool hot = false;
    uint8_t bytes[kStrMax];
    Nan::Persistent<v8::String> str;  // Nan::Persistent does not reset itself
    ~CachedStr() { str.Reset(); }
  };
  std::unique_ptr<CachedStr[]> strs_;  // allocated with the first batch

  static void New(const Nan::FunctionCallbackInfo<Value> &info) {
    (new SystemWrap())->Wrap(info.This());
    info.GetReturnValue().Set(info.This());
  }

  static void Notify(void *data) {  // AIO thread
    uv_async_send(static_cast<uv_async_t *>(data));
  }

  static void OnAsyncClosed(uv_handle_t *handle) { delete reinterpret_cast<uv_async_t *>(handle); }

  static void OnAsync(uv_async_t *handle) {
    Nan::HandleScope scope;
    SystemWrap *self = static_cast<SystemWrap *>(handle->data);
    valk_op_t *ops[VALK_OP_RING_SIZE];
    uint32_t n;
    if (self->sys_ == nullptr) return;
    // Ops first: a LISTEN's answer must reach JavaScript before its server's requests.
    n = valk_system_take_done(self->sys_, ops, VALK_OP_RING_SIZE);
    for (uint32_t i = 0; i < n; i++) self->Finish(reinterpret_cast<PendingOp *>(ops[i]));
    if (self->sys_ != nullptr) self->DeliverRequests();
  }

  // A new string of bytes p (UTF-8; ASCII takes V8's one-byte path).
  static Local<v8::String> NewStr(v8::Isolate *iso, const uint8_t *p, uint32_t len, bool ascii, bool name) {
    v8::NewStringType t = name ? v8::NewStringType::kInternalized : v8::NewStringType::kNormal;
    if (ascii) return v8::String::NewFromOneByte(iso, p, t, (int)len).ToLocalChecked();
    return v8::String::NewFromUtf8(iso, reinterpret_cast<const char *>(p), t, (int)len).ToLocalChecked();
  }

  // The string of bytes p, from the cache when it is there. name: a header
  // name (internalized: JavaScript uses it as a property key).
  Local<v8::String> Str(v8::Isolate *iso, const uint8_t *p, uint32_t len, bool name) {
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

  // Fields of one request in a batch, before its headers (lib/handler.ts reads them).
  static constexpr uint32_t kReqFields = 8;

  // A request's identity as JavaScript holds it: gen x 2^16 + slot (both from
  // valk_dispatch.h; slot < 2^16, gen < 2^32: exact in a double). A token is
  // never given twice by one system, so a late or repeated respond() names
  // a request that is gone, never the one that reuses its slot.
  static constexpr uint32_t kSlotBits = 16;
  static double Token(const valk_js_request_t *r) {
    return (double)r->gen * (double)(1u << kSlotBits) + (double)r->slot;
  }

  // The request in flight that token names, or nullptr (answered already, or never delivered).
  valk_js_request_t *InFlight(double token) const {
    if (!(token >= 0 && token < 9007199254740992.0)) return nullptr;
    uint64_t t = (uint64_t)token;
    uint64_t slot = t & ((1u << kSlotBits) - 1);
    if ((double)t != token || slot >= requests_.size()) return nullptr;
    valk_js_request_t *r = requests_[slot];
    return r != nullptr && r->gen == (uint32_t)(t >> kSlotBits) ? r : nullptr;
  }

  // Appends request r to a batch: token, serverId, streamId, method, path,
  // remoteAddress, body (a Buffer; undefined when empty), the header count n,
  // then n (name, value) pairs in order.
  void AppendRequest(v8::Isolate *iso, std::vector<Local<Value>> &out, const valk_js_request_t *r) {
    out.push_back(Nan::New<v8::Number>(Token(r)));
    out.push_back(v8::Integer::NewFromUnsigned(iso, r->server_id));
    out.push_back(v8::Integer::New(iso, r->stream_id));
    out.push_back(Str(iso, r->method.value, r->method.value_len, false));
    out.push_back(Str(iso, r->path.value, r->path.value_len, false));
    out.push_back(Str(iso, reinterpret_cast<const uint8_t *>(r->remote), (uint32_t)strnlen(r->remote, sizeof(r->remote)), false));
    if (r->body_len > 0)
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
  void DeliverRequests() {
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

  // onRequests(fn): fn(batch) receives requests for JavaScript handlers.
  static void OnRequests(const Nan::FunctionCallbackInfo<Value> &info) {
    Self(info)->on_requests_.Reset(info[0].As<v8::Function>());
  }

  // Copies a buffer, or a string (any other value: as a string) as UTF-8, into
  // the request's arena, with no copy in between; false if it does not fit.
  static bool ArenaCopy(valk_system_t *sys, valk_js_request_t *r, Local<Value> v, const uint8_t **out,
                        uint32_t *len) {
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

  // respond(token, status, [name, value, ...], body: Buffer | string) -> true, or
  // false when headers + body did not fit the request's arena: an empty 500 went
  // instead. A string body is written into the arena as UTF-8 (one copy).
  // Throws for a token that names no request in flight (InFlight): nothing is sent.
  static void Respond(const Nan::FunctionCallbackInfo<Value> &info) {
    SystemWrap *self = Self(info);
    valk_js_request_t *r = self->sys_ != nullptr ? self->InFlight(Nan::To<double>(info[0]).FromMaybe(-1)) : nullptr;
    if (r == nullptr) return Nan::ThrowError("valk-aio: respond(): no such request in flight (answered already?)");
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
    if (ok && has_body) {
      uint32_t len = 0;
      ok = ArenaCopy(self->sys_, r, info[3], &r->resp_body, &len);
      r->resp_body_len = len;
    }
    if (!ok) {  // did not fit the arena: an empty 500 instead
      r->status = 500;
      r->resp_nheaders = 0;
      r->resp_body = nullptr;
      r->resp_body_len = 0;
    }
    self->requests_[r->slot] = nullptr;
    self->sys_->stats.shard[VALK_SHARD_OWNER].responses_from_js.fetch_add(1, std::memory_order_relaxed);
    if (self->delivering_) self->answered_.push_back(r);
    else valk_dispatch_respond(self->sys_, r);
    info.GetReturnValue().Set(ok);
  }

  void Finish(PendingOp *p) {
    Nan::AsyncResource resource("valk-aio:op");
    Local<Value> argv[2] = {Nan::Null(), Nan::Undefined()};
    in_flight_--;
    if (p->op.status != 0) {
      argv[0] = MakeError(p->op.error[0] ? p->op.error : valk_strerror(p->op.status), p->op.status);
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
      argv[1] = Response(p->op.u.request.req);
    } else if (p->op.type == VALK_OP_STOP) {
      requests_.clear();
      on_requests_.Reset();
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

  // A client request's answer: {status, headers: [name, value, ...], body: Buffer}.
  // The body's memory moves into the Buffer (no copy).
  static Local<Value> Response(valk_client_req_t *req) {
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

  // Ops kept free for control (STOP, CLOSE_SERVER, CLIENT_CLOSE, LISTEN,
  // CONNECT): client requests may fill the rest, never these, so stop() and
  // close() always get through.
  static constexpr uint32_t kControlOps = 8;

  // Hands op to the AIO thread or calls back at once with the error.
  void Submit(PendingOp *p) {
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
    Nan::ThrowError(MakeError(valk_strerror(rc), rc));
    delete p;
  }

  static SystemWrap *Self(const Nan::FunctionCallbackInfo<Value> &info) {
    return Nan::ObjectWrap::Unwrap<SystemWrap>(info.Holder());
  }

  static PendingOp *NewOp(valk_op_type_t type, Local<Value> cb) {
    PendingOp *p = new PendingOp();
    memset(&p->op, 0, sizeof(p->op));
    p->op.type = type;
    p->callback.Reset(cb.As<v8::Function>());
    return p;
  }

  static bool AddRoutes(valk_server_opts_t *opts, Local<v8::Array> routes) {
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
        Nan::ThrowError(MakeError(err[0] ? err : valk_strerror(rc), rc));
        return false;
      }
    }
    return true;
  }

  // listen({host, port, key, cert, routes, maxResponseBodySize, error503Body}, cb)
  static void Listen(const Nan::FunctionCallbackInfo<Value> &info) {
    SystemWrap *self = Self(info);
    Local<Object> o = info[0].As<Object>();
    char err[256] = "";
    valk_server_opts_t *opts = valk_server_opts_new();
    if (opts == nullptr) return Nan::ThrowError("out of memory");
    std::string host = StringField(o, "host"), key = StringField(o, "key"), cert = StringField(o, "cert");
    snprintf(opts->host, sizeof(opts->host), "%s", host.c_str());
    opts->port = (int)NumberField(o, "port");
    opts->max_response_body_size = (uint64_t)NumberField(o, "maxResponseBodySize");
    opts->has_handler = Nan::To<bool>(Field(o, "hasHandler")).FromMaybe(false);
    opts->admin = Nan::To<bool>(Field(o, "admin")).FromMaybe(false);
    Local<Object> body503 = Field(o, "error503Body").As<Object>();
    opts->error_503_len = node::Buffer::Length(body503);
    opts->error_503_body = static_cast<uint8_t *>(malloc(opts->error_503_len + 1));
    if (opts->error_503_body != nullptr)
      memcpy(opts->error_503_body, node::Buffer::Data(body503), opts->error_503_len);
    if (opts->error_503_body == nullptr ||
        valk_route_table_set_overload_body(&opts->routes, opts->error_503_body, opts->error_503_len) != 0) {
      valk_server_opts_free(opts);
      return Nan::ThrowError("out of memory");
    }
    if (valk_tls_server_ctx_new(&opts->ssl_ctx, key.data(), key.size(), cert.data(), cert.size(),
                                err, sizeof(err)) != 0) {
      valk_server_opts_free(opts);
      return Nan::ThrowError(MakeError(err, VALK_ETLS));
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

  static void CloseServer(const Nan::FunctionCallbackInfo<Value> &info) {
    PendingOp *p = NewOp(VALK_OP_CLOSE_SERVER, info[1]);
    p->op.u.close.server_id = Nan::To<uint32_t>(info[0]).FromMaybe(0);
    Self(info)->Submit(p);
  }

  static void Stop(const Nan::FunctionCallbackInfo<Value> &info) {
    Self(info)->Submit(NewOp(VALK_OP_STOP, info[0]));
  }

  // connect({host, port, ca, rejectUnauthorized, maxResponseBodySize}, cb): cb(err, {id}).
  static void Connect(const Nan::FunctionCallbackInfo<Value> &info) {
    Local<Object> o = info[0].As<Object>();
    char err[256] = "";
    valk_client_opts_t *opts = valk_client_opts_new();
    if (opts == nullptr) return Nan::ThrowError("out of memory");
    std::string host = StringField(o, "host"), ca = StringField(o, "ca");
    snprintf(opts->host, sizeof(opts->host), "%s", host.c_str());
    opts->port = (int)NumberField(o, "port");
    opts->verify = Nan::To<bool>(Field(o, "rejectUnauthorized")).FromMaybe(true) ? 1 : 0;
    opts->max_response_body_size = Unsigned(NumberField(o, "maxResponseBodySize"));
    if (valk_client_tls_ctx_new(&opts->ssl_ctx, ca.data(), ca.size(), opts->verify, err, sizeof(err)) != 0) {
      valk_client_opts_free(opts);
      return Nan::ThrowError(MakeError(err, VALK_ETLS));
    }
    PendingOp *p = NewOp(VALK_OP_CONNECT, info[1]);
    p->op.u.connect.opts = opts;
    Self(info)->Submit(p);
  }

  // request(clientId, method, path, [name, value, ...], body: Buffer | undefined, cb):
  // cb(err, {status, headers, body}).
  static void Request(const Nan::FunctionCallbackInfo<Value> &info) {
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
    if (req == nullptr) return Nan::ThrowError("out of memory");
    PendingOp *p = NewOp(VALK_OP_REQUEST, info[5]);
    p->op.u.request.req = req;
    Self(info)->Submit(p);
  }

  // closeClient(clientId, cb): cb(err) once its connection slot is free.
  // clientLive(id): whether client id still takes requests (atomic loads).
  static void ClientLive(const Nan::FunctionCallbackInfo<Value> &info) {
    SystemWrap *self = Self(info);
    uint32_t id = Nan::To<uint32_t>(info[0]).FromMaybe(0);
    bool live = false;
    for (uint32_t i = 0; self->sys_ != nullptr && id != 0 && i < VALK_MAX_CLIENTS; i++)
      live = live || self->sys_->client_live[i].load(std::memory_order_relaxed) == id;
    info.GetReturnValue().Set(live);
  }

  static void CloseClient(const Nan::FunctionCallbackInfo<Value> &info) {
    PendingOp *p = NewOp(VALK_OP_CLIENT_CLOSE, info[1]);
    p->op.u.client_close.client_id = Nan::To<uint32_t>(info[0]).FromMaybe(0);
    Self(info)->Submit(p);
  }

  static Local<Object> Pool(const valk_slab_t *slab) {
    Local<Object> o = Nan::New<Object>();
    SetNumber(o, "total", slab ? slab->count : 0);
    SetNumber(o, "used", slab ? valk_slab_used(slab) : 0);
    SetNumber(o, "available", slab ? valk_slab_available(slab) : 0);
    SetNumber(o, "overflow", slab ? (double)valk_slab_overflow(slab) : 0);
    return o;
  }

  static Local<Object> Arenas(const valk_arena_pool_t *a) {
    Local<Object> o = Nan::New<Object>();
    SetNumber(o, "total", a->count);
    SetNumber(o, "used", valk_arena_pool_used(a));
    SetNumber(o, "available", valk_arena_pool_available(a));
    SetNumber(o, "overflow", (double)valk_arena_pool_overflow(a));
    SetNumber(o, "arena_size", (double)a->arena_size);
    SetNumber(o, "high_water_bytes", (double)valk_arena_pool_hwm(a));
    SetNumber(o, "committed_bytes", (double)valk_arena_pool_committed(a));
    SetNumber(o, "committed_peak_bytes", (double)valk_arena_pool_committed_peak(a));
    SetNumber(o, "alloc_failures", (double)valk_arena_pool_alloc_failures(a));
    return o;
  }

  static double SecondsSince(uint64_t ns) { return ns ? (double)(uv_hrtime() - ns) / 1e9 : 0; }

  // The latency histogram: non-cumulative counts per bucket (the last is
  // +Inf) and the sum in microseconds; bounds are in constants.
  static Local<Object> Histogram(const valk_histogram_t *h) {
    Local<Object> o = Nan::New<Object>();
    Local<v8::Array> counts = Nan::New<v8::Array>(VALK_LATENCY_BOUNDS + 1);
    for (uint32_t i = 0; i <= VALK_LATENCY_BOUNDS; i++)
      Nan::Set(counts, i, Nan::New<v8::Number>((double)VALK_LOAD_RELAXED(&h->counts[i])));
    SetObject(o, "counts", counts);
    SetNumber(o, "sum_us", (double)VALK_LOAD_RELAXED(&h->sum_us));
    return o;
  }

  static Local<v8::Array> Servers(valk_system_t *sys) {
    Local<v8::Array> list = Nan::New<v8::Array>();
    uint32_t n = 0;
    for (uint32_t i = 0; i < VALK_MAX_SERVERS; i++) {
      valk_server_stats_t *st = &sys->server_stats[i];
      uint32_t id = st->id.load(std::memory_order_acquire);
      if (id == 0) continue;
      Local<Object> o = Nan::New<Object>();
      SetNumber(o, "id", id);
      SetNumber(o, "port", st->port.load(std::memory_order_relaxed));
      SetNumber(o, "uptime_seconds", SecondsSince(VALK_LOAD_RELAXED(&st->started_ns)));
#define XX(name, kind, help) SetNumber(o, #name, (double)VALK_LOAD_RELAXED(&st->name));
      VALK_SERVER_STATS_MAP(XX)
#undef XX
      SetObject(o, "latency", Histogram(&st->latency));
      Nan::Set(list, n++, o);
    }
    return list;
  }

  static Local<Object> Loop(valk_system_t *sys) {
    Local<Object> o = Nan::New<Object>();
    const valk_loop_stats_t *st = &sys->loop_stats;
#define XX(name, kind, help) SetNumber(o, #name, (double)VALK_LOAD_RELAXED(&st->name));
    VALK_LOOP_STATS_MAP(XX)
#undef XX
    return o;
  }

  // The queues between the threads: requests waiting for Node, requests at
  // JavaScript not answered yet, answers waiting for the AIO thread.
  static Local<Object> Queue(valk_system_t *sys) {
    Local<Object> o = Nan::New<Object>();
    SetNumber(o, "depth", valk_ring_size(&sys->requests));
    SetNumber(o, "capacity", sys->config.queue_capacity);
    SetNumber(o, "pending_requests", sys->js_in_flight.load(std::memory_order_relaxed));
    SetNumber(o, "pending_responses", valk_ring_size(&sys->responses));
    return o;
  }

  // metrics(): the system's counters, pools, watermark state and backpressure
  // list, and each server's counters; atomic loads only (any thread may read).
  // pushRuntime({heap_used, heap_total, ...}): Node's runtime figures for the
  // diagnostics snapshot (VALK_SSE_RUNTIME_MAP); relaxed stores the AIO thread reads.
  static void PushRuntime(const Nan::FunctionCallbackInfo<Value> &info) {
    SystemWrap *self = Self(info);
    if (self->sys_ == nullptr || !info[0]->IsObject()) return;
    Local<Object> o = info[0].As<Object>();
    valk_sse_runtime_t *r = &self->sys_->runtime;
#define XX(name) r->name.store(Unsigned(NumberField(o, #name)), std::memory_order_relaxed);
    VALK_SSE_RUNTIME_MAP(XX)
#undef XX
  }

  static void Metrics(const Nan::FunctionCallbackInfo<Value> &info) {
    SystemWrap *self = Self(info);
    if (self->sys_ == nullptr) return Nan::ThrowError(MakeError("system is stopped", VALK_ESTOPPED));
    valk_system_t *sys = self->sys_;
    Local<Object> out = Nan::New<Object>(), system = Nan::New<Object>(), conns = Nan::New<Object>();
    Local<Object> pools = Nan::New<Object>(), wm = Nan::New<Object>(), bp = Nan::New<Object>();
#define XX(name, kind, help) SetNumber(system, #name, (double)VALK_STAT_READ(&sys->stats, name));
    VALK_STATS_MAP(XX)
#undef XX
    uint32_t used = valk_slab_used(sys->conn_slab);
    SetNumber(conns, "active", used);
    SetNumber(conns, "max", sys->conn_slab->count);
    SetNumber(conns, "available", valk_slab_available(sys->conn_slab));
    SetNumber(conns, "soft_limit_at", sys->config.soft_limit ? sys->soft_limit_at : 0);
    SetObject(pools, "connections", Pool(sys->conn_slab));
    SetObject(pools, "tcp_buffers", Pool(sys->tcp_bufs));
    SetObject(pools, "graceful_rejections", Pool(sys->graceful));
    SetObject(pools, "admin_connections", Pool(sys->admin_slab));
    SetObject(pools, "arenas", Arenas(&sys->arenas));
    SetObject(pools, "admin_arenas", Arenas(&sys->admin_arenas));
    uint32_t bufs_used = valk_slab_used(sys->tcp_bufs);
    SetString(wm, "state", valk_wm_state_name((valk_wm_state_t)sys->watermark.state.load()));
    SetNumber(wm, "usage", sys->tcp_bufs->count ? (double)bufs_used / sys->tcp_bufs->count : 0);
    SetNumber(wm, "transitions", (double)sys->watermark.transitions.load());
    SetNumber(wm, "high", sys->config.buffer_high_watermark);
    SetNumber(wm, "critical", sys->config.buffer_critical_watermark);
    SetNumber(bp, "list_size", valk_bp_size(&sys->backpressure));
    SetNumber(bp, "list_max", sys->backpressure.capacity);
    SetNumber(bp, "evicted", (double)VALK_STAT_READ(&sys->stats, connections_evicted));
    SetObject(out, "system", system);
    SetObject(out, "connections", conns);
    SetObject(out, "pools", pools);
    SetObject(out, "watermark", wm);
    SetObject(out, "backpressure", bp);
    SetObject(out, "servers", Servers(sys));
    SetObject(out, "loop", Loop(sys));
    SetObject(out, "queue", Queue(sys));
    SetNumber(out, "uptime_seconds", SecondsSince(VALK_LOAD_RELAXED(&sys->loop_stats.started_ns)));
    SetNumber(out, "server_count", sys->server_count.load(std::memory_order_relaxed));
    info.GetReturnValue().Set(out);
  }

 public:
  static void Create(const Nan::FunctionCallbackInfo<Value> &info) {
    Local<Object> o = info[0].As<Object>();
    valk_system_config_t cfg;
    char err[256] = "";
    memset(&cfg, 0, sizeof(cfg));
    cfg.max_connections = (uint32_t)NumberField(o, "maxConnections");
    cfg.max_concurrent_streams = (uint32_t)NumberField(o, "maxConcurrentStreams");
    cfg.tcp_buffer_pool_size = (uint32_t)NumberField(o, "tcpBufferPoolSize");
    cfg.arena_pool_size = (uint32_t)NumberField(o, "arenaPoolSize");
    cfg.queue_capacity = (uint32_t)NumberField(o, "queueCapacity");
    cfg.arena_size = (uint64_t)NumberField(o, "arenaSize");
    cfg.max_request_body_size = (uint64_t)NumberField(o, "maxRequestBodySize");
    cfg.buffer_high_watermark = NumberField(o, "bufferHighWatermark");
    cfg.buffer_critical_watermark = NumberField(o, "bufferCriticalWatermark");
    cfg.min_buffers_per_conn = (uint32_t)NumberField(o, "minBuffersPerConn");
    cfg.handshake_timeout_ms = (uint32_t)NumberField(o, "handshakeTimeoutMs");
    cfg.idle_timeout_ms = (uint32_t)NumberField(o, "idleTimeoutMs");
    cfg.drain_timeout_ms = (uint32_t)NumberField(o, "drainTimeoutMs");
    cfg.reject_mode = StringField(o, "rejectMode") == "goaway" ? VALK_REJECT_GOAWAY : VALK_REJECT_RST;
    cfg.max_graceful_rejections = (uint32_t)NumberField(o, "maxGracefulRejections");
    cfg.overload_goaway_code =
        StringField(o, "overloadGoawayCode") == "NO_ERROR" ? NGHTTP2_NO_ERROR : NGHTTP2_ENHANCE_YOUR_CALM;
    cfg.backpressure_list_max = (uint32_t)NumberField(o, "backpressureListMax");
    cfg.max_connections_per_ip = (uint32_t)NumberField(o, "maxConnectionsPerIp");
    cfg.soft_limit = StringField(o, "softLimit") == "off" ? 0 : 1;
    cfg.soft_limit_idle_ms = (uint32_t)NumberField(o, "softLimitIdleMs");
    cfg.stream_reset_rate = (uint32_t)NumberField(o, "streamResetRate");
    cfg.sse_interval_ms = (uint32_t)NumberField(o, "sseIntervalMs");
    cfg.max_sse_streams = (uint32_t)NumberField(o, "maxSseStreams");
    cfg.admin_max_connections = (uint32_t)NumberField(o, "adminMaxConnections");
    cfg.max_header_list_size = (uint32_t)NumberField(o, "maxHeaderListSize");
    cfg.max_header_pairs = (uint32_t)NumberField(o, "maxHeaderPairs");
    cfg.max_session_memory = Unsigned(NumberField(o, "maxSessionMemory"));
    cfg.control_frame_rate = (uint32_t)NumberField(o, "controlFrameRate");
    cfg.settings_timeout_ms = (uint32_t)NumberField(o, "settingsTimeoutMs");
    cfg.headers_timeout_ms = (uint32_t)NumberField(o, "headersTimeoutMs");
    cfg.body_timeout_ms = (uint32_t)NumberField(o, "bodyTimeoutMs");
    cfg.request_timeout_ms = (uint32_t)NumberField(o, "requestTimeoutMs");
    cfg.send_timeout_ms = (uint32_t)NumberField(o, "sendTimeoutMs");

    Local<Object> obj = Nan::NewInstance(Nan::New(constructor)).ToLocalChecked();
    SystemWrap *self = Nan::ObjectWrap::Unwrap<SystemWrap>(obj);
    self->async_ = new uv_async_t();
    uv_async_init(Nan::GetCurrentEventLoop(), self->async_, OnAsync);
    self->async_->data = self;
    int rc = valk_system_start(&self->sys_, &cfg, Notify, self->async_, err, sizeof(err));
    if (rc != 0) {
      uv_close(reinterpret_cast<uv_handle_t *>(self->async_), OnAsyncClosed);
      self->async_ = nullptr;
      return Nan::ThrowError(MakeError(err[0] ? err : valk_strerror(rc), rc));
    }
    self->Ref();  // alive until stop() comes back
    info.GetReturnValue().Set(obj);
  }
};

Nan::Persistent<v8::Function> SystemWrap::constructor;

// ---- slab (test binding) -----------------------------------------------------

class SlabWrap : public Nan::ObjectWrap {
 public:
  static Nan::Persistent<v8::Function> constructor;
  valk_slab_t *slab_ = nullptr;

  static void Init() {
    Local<v8::FunctionTemplate> tpl = Nan::New<v8::FunctionTemplate>(New);
    tpl->SetClassName(Nan::New("NativeSlab").ToLocalChecked());
    tpl->InstanceTemplate()->SetInternalFieldCount(1);
    Nan::SetPrototypeMethod(tpl, "acquire", Acquire);
    Nan::SetPrototypeMethod(tpl, "release", Release);
    Nan::SetPrototypeMethod(tpl, "available", Available);
    Nan::SetPrototypeMethod(tpl, "overflow", Overflow);
    Nan::SetPrototypeMethod(tpl, "itemStride", ItemStride);
    Nan::SetPrototypeMethod(tpl, "totalSize", TotalSize);
    Nan::SetPrototypeMethod(tpl, "bitmap", Bitmap);
    Nan::SetPrototypeMethod(tpl, "free", Free);
    constructor.Reset(Nan::GetFunction(tpl).ToLocalChecked());
  }

  ~SlabWrap() { valk_slab_free(slab_); }

  static void Create(const Nan::FunctionCallbackInfo<Value> &info) {
    double size = Nan::To<double>(info[0]).FromMaybe(0), count = Nan::To<double>(info[1]).FromMaybe(0);
    Local<Object> obj = Nan::NewInstance(Nan::New(constructor)).ToLocalChecked();
    SlabWrap *self = Nan::ObjectWrap::Unwrap<SlabWrap>(obj);
    int rc = size < 1 || count < 1 || count > 1e8 ? VALK_EINVAL
                                                  : valk_slab_new(&self->slab_, (size_t)size, (uint32_t)count);
    if (rc != 0) return Nan::ThrowError(MakeError(valk_strerror(rc), rc));
    info.GetReturnValue().Set(obj);
  }

 private:
  static void New(const Nan::FunctionCallbackInfo<Value> &info) {
    (new SlabWrap())->Wrap(info.This());
    info.GetReturnValue().Set(info.This());
  }
  static valk_slab_t *Get(const Nan::FunctionCallbackInfo<Value> &info) {
    valk_slab_t *s = Nan::ObjectWrap::Unwrap<SlabWrap>(info.Holder())->slab_;
    if (s == nullptr) Nan::ThrowError("slab is freed");
    return s;
  }
  static void Acquire(const Nan::FunctionCallbackInfo<Value> &info) {
    valk_slab_t *s = Get(info);
    if (s == nullptr) return;
    void *item = valk_slab_acquire(s);
    info.GetReturnValue().Set(item ? (double)valk_slab_index_of(s, item) : -1.0);
  }
  static void Release(const Nan::FunctionCallbackInfo<Value> &info) {
    valk_slab_t *s = Get(info);
    if (s == nullptr) return;
    uint32_t index = Nan::To<uint32_t>(info[0]).FromMaybe(UINT32_MAX);
    int rc = index < s->count ? valk_slab_release(s, valk_slab_at(s, index)) : VALK_EINVAL;
    if (rc != 0) Nan::ThrowError(MakeError(valk_strerror(rc), rc));
  }
  static void Available(const Nan::FunctionCallbackInfo<Value> &info) {
    valk_slab_t *s = Get(info);
    if (s) info.GetReturnValue().Set((double)valk_slab_available(s));
  }
  static void Overflow(const Nan::FunctionCallbackInfo<Value> &info) {
    valk_slab_t *s = Get(info);
    if (s) info.GetReturnValue().Set((double)valk_slab_overflow(s));
  }
  static void ItemStride(const Nan::FunctionCallbackInfo<Value> &info) {
    valk_slab_t *s = Get(info);
    if (s) info.GetReturnValue().Set((double)s->stride);
  }
  static void TotalSize(const Nan::FunctionCallbackInfo<Value> &info) {
    valk_slab_t *s = Get(info);
    if (s) info.GetReturnValue().Set((double)valk_slab_size(s->item_size, s->count));
  }
  static void Bitmap(const Nan::FunctionCallbackInfo<Value> &info) {
    valk_slab_t *s = Get(info);
    if (s == nullptr) return;
    size_t bytes = ((size_t)s->count + 7) / 8;
    Local<Object> buf = Nan::NewBuffer((uint32_t)bytes).ToLocalChecked();
    int rc = valk_slab_bitmap(s, reinterpret_cast<uint8_t *>(node::Buffer::Data(buf)), bytes);
    if (rc < 0) return Nan::ThrowError(MakeError(valk_strerror(rc), rc));
    info.GetReturnValue().Set(buf);
  }
  static void Free(const Nan::FunctionCallbackInfo<Value> &info) {
    SlabWrap *self = Nan::ObjectWrap::Unwrap<SlabWrap>(info.Holder());
    valk_slab_free(self->slab_);
    self->slab_ = nullptr;
  }
};

Nan::Persistent<v8::Function> SlabWrap::constructor;

// ---- free functions ---------------------------------------------------------

NAN_METHOD(SlabItemStride) {
  info.GetReturnValue().Set((double)valk_slab_item_stride((size_t)Nan::To<double>(info[0]).FromMaybe(0)));
}

NAN_METHOD(SlabSize) {
  info.GetReturnValue().Set((double)valk_slab_size((size_t)Nan::To<double>(info[0]).FromMaybe(0),
                                                   Nan::To<uint32_t>(info[1]).FromMaybe(0)));
}

NAN_METHOD(SlabStress) {
  valk_slab_stress_result_t r;
  int rc = valk_selftest_slab_stress(Nan::To<uint32_t>(info[0]).FromMaybe(0), Nan::To<uint32_t>(info[1]).FromMaybe(0),
                                     Nan::To<uint32_t>(info[2]).FromMaybe(0), &r);
  if (rc != 0) return Nan::ThrowError(MakeError(valk_strerror(rc), rc));
  Local<Object> out = Nan::New<Object>();
  SetNumber(out, "violations", (double)r.violations);
  SetNumber(out, "acquired", (double)r.acquired);
  SetNumber(out, "overflow", (double)r.overflow);
  SetNumber(out, "available", r.available);
  SetNumber(out, "count", r.count);
  info.GetReturnValue().Set(out);
}

NAN_METHOD(ConnStructSize) { info.GetReturnValue().Set((double)VALK_CONN_SLOT_SIZE); }

NAN_METHOD(GenerateSelfSigned) {
  Local<v8::Array> arr = info[0].As<v8::Array>();
  std::vector<std::string> hosts;
  std::vector<const char *> ptrs;
  for (uint32_t i = 0; i < arr->Length(); i++) {
    Nan::Utf8String s(Nan::Get(arr, i).ToLocalChecked());
    hosts.emplace_back(*s ? *s : "");
  }
  for (auto &h : hosts) ptrs.push_back(h.c_str());
  char *key = nullptr, *cert = nullptr;
  int rc = valk_tls_self_signed(ptrs.data(), (int)ptrs.size(), Nan::To<int32_t>(info[1]).FromMaybe(365),
                                &key, &cert);
  if (rc != 0) return Nan::ThrowError(MakeError(valk_strerror(rc), rc));
  Local<Object> out = Nan::New<Object>();
  SetString(out, "key", key);
  SetString(out, "cert", cert);
  free(key);
  free(cert);
  info.GetReturnValue().Set(out);
}

NAN_METHOD(DiagNghttp2Origin) {
  valk_diag_origin_t o;
  char addr[32];
  if (valk_diag_nghttp2_origin(&o) != 0) return Nan::ThrowError("dladdr failed");
  Local<Object> out = Nan::New<Object>();
  SetString(out, "file", o.ours_file);
  snprintf(addr, sizeof(addr), "%p", o.ours_addr);
  SetString(out, "symbolAddress", addr);
  if (o.global_file != nullptr) {
    SetString(out, "nodeExported", o.global_file);
    snprintf(addr, sizeof(addr), "%p", o.global_addr);
    SetString(out, "nodeExportedAddress", addr);
  } else {
    Nan::Set(out, Nan::New("nodeExported").ToLocalChecked(), Nan::Null());
  }
  info.GetReturnValue().Set(out);
}

// Every metric of csrc/valk_metrics.h's maps: name, kind, scope, help.
Local<v8::Array> MetricsCatalogue() {
  uint32_t n = 0;
  const valk_metric_desc_t *d = valk_metrics_catalogue(&n);
  Local<v8::Array> list = Nan::New<v8::Array>(n);
  for (uint32_t i = 0; i < n; i++) {
    Local<Object> o = Nan::New<Object>();
    SetString(o, "name", d[i].name);
    SetString(o, "kind", d[i].kind);
    SetString(o, "scope", d[i].scope);
    SetString(o, "help", d[i].help);
    Nan::Set(list, i, o);
  }
  return list;
}

// sseEventBytes(maxConnections, tcpBufferPoolSize, arenaPoolSize, adminMaxConnections): the bytes
// of one diagnostics event buffer for that config (valk_snapshot_max_bytes).
NAN_METHOD(SseEventBytes) {
  uint32_t conns = Nan::To<uint32_t>(info[0]).FromMaybe(0);
  uint32_t pools[5] = {Nan::To<uint32_t>(info[1]).FromMaybe(0), Nan::To<uint32_t>(info[2]).FromMaybe(0),
                       VALK_MAX_SERVERS, VALK_MAX_CLIENTS, Nan::To<uint32_t>(info[3]).FromMaybe(0)};
  size_t n = valk_snapshot_max_bytes(conns, pools, 5, pools[1], VALK_MAX_OWNERS);
  info.GetReturnValue().Set(Nan::New<v8::Number>((double)n));
}

Local<Object> Constants() {
  Local<Object> c = Nan::New<Object>();
  size_t per_item_meta = valk_slab_size(1, 1) - valk_slab_size(1, 0) - valk_slab_item_stride(1);
  SetNumber(c, "tcpBufferSize", VALK_TCP_BUF_SIZE);
  SetNumber(c, "connSlotSize", (double)(valk_slab_item_stride(VALK_CONN_SLOT_SIZE) + per_item_meta));
  SetNumber(c, "slabItemOverhead", (double)per_item_meta);
  SetNumber(c, "tcpBufferSlotSize", (double)(valk_slab_item_stride(sizeof(valk_tcp_buf_t)) + per_item_meta));
  SetNumber(c, "queueEntrySize", kQueueEntryBytes);
  SetNumber(c, "connProtocolStateEstimate", kConnProtocolStateBytes);
  SetNumber(c, "tlsBufferBound", VALK_TLS_BIO_MAX);
  SetNumber(c, "responseHeadersMax", VALK_RESP_HEADERS_MAX);
  SetNumber(c, "responseFixedHeadersBytes", VALK_RESP_FIXED_HEADERS_BYTES);
  SetNumber(c, "ipTableEntrySize", (double)valk_ip_table_entry_size());
  SetString(c, "nghttp2Version", valk_diag_nghttp2_version());
  SetString(c, "opensslVersion", valk_tls_openssl_version());
  SetObject(c, "metricsCatalogue", MetricsCatalogue());
  Local<v8::Array> bounds = Nan::New<v8::Array>(VALK_LATENCY_BOUNDS);
  for (uint32_t i = 0; i < VALK_LATENCY_BOUNDS; i++)
    Nan::Set(bounds, i, Nan::New<v8::Number>((double)valk_latency_bounds_us[i]));
  SetObject(c, "latencyBoundsUs", bounds);
  return c;
}

NAN_MODULE_INIT(InitAll) {
  SystemWrap::Init();
  SlabWrap::Init();
  Nan::Set(target, Nan::New("constants").ToLocalChecked(), Constants());
  Nan::SetMethod(target, "createSystem", SystemWrap::Create);
  Nan::SetMethod(target, "slabNew", SlabWrap::Create);
  Nan::SetMethod(target, "slabItemStride", SlabItemStride);
  Nan::SetMethod(target, "slabSize", SlabSize);
  Nan::SetMethod(target, "connStructSize", ConnStructSize);
  Nan::SetMethod(target, "slabStress", SlabStress);
  Nan::SetMethod(target, "generateSelfSigned", GenerateSelfSigned);
  Nan::SetMethod(target, "diagNghttp2Origin", DiagNghttp2Origin);
  Nan::SetMethod(target, "sseEventBytes", SseEventBytes);
}

}  // namespace

NODE_MODULE(valk_aio, InitAll)
