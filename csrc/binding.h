// binding.h: what the binding's .cc files share (internal to the addon; the
// binding is the only C++ in it). The binding is thin: it converts JavaScript
// values to the C core's structs and back, and calls the core. One file per
// job, none calling "up" (the files form no cycle):
//
//   binding.cc           module init: the exports, constants, SystemWrap's methods
//   binding_system.cc    a system's lifecycle: start, listen, close, stop, ops coming back
//   binding_ops.cc       ops handed to the AIO thread (the op ring, its control reserve)
//   binding_config.cc    the resolved config -> valk_system_config_t (csrc/valk_config.h)
//   binding_requests.cc  requests to JavaScript and their answers (tokens; docs/design.md §7)
//   binding_client.cc    the HTTP/2 client: connect, request, close
//   binding_metrics.cc   metrics() and the diagnostics read-outs (docs/design.md §9)
//   binding_events.cc    the lifecycle event ring: recording, draining, its state (docs/design.md §13)
//   binding_selftest.cc  test and diagnostic bindings (slabs, the nghttp2 origin)
//
// Thread: every function here runs on Node's main thread, except
// SystemWrap::Notify, which the AIO thread calls; it only does uv_async_send.
#ifndef VALK_BINDING_H
#define VALK_BINDING_H

#include <nan.h>

#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "valk_common.h"
#include "valk_dispatch.h"
#include "valk_h2_client.h"
#include "valk_h2_server.h"
#include "valk_system.h"

namespace valk_binding {

using v8::Local;
using v8::Object;
using v8::Value;

// ---- conversions -------------------------------------------------------------

inline Local<Value> Field(Local<Object> obj, const char *name) {
  return Nan::Get(obj, Nan::New(name).ToLocalChecked()).ToLocalChecked();
}

inline double NumberField(Local<Object> obj, const char *name) {
  return Nan::To<double>(Field(obj, name)).FromMaybe(0);
}

inline std::string StringField(Local<Object> obj, const char *name) {
  Nan::Utf8String s(Field(obj, name));
  return std::string(*s ? *s : "", s.length());
}

// A non-negative finite double as uint64_t; anything else (NaN, negative, huge) is 0.
inline uint64_t Unsigned(double v) {
  return v >= 0 && v < 1.8e19 ? (uint64_t)v : 0;
}

inline void SetNumber(Local<Object> obj, const char *name, double value) {
  Nan::Set(obj, Nan::New(name).ToLocalChecked(), Nan::New(value));
}

inline void SetObject(Local<Object> obj, const char *name, Local<Value> value) {
  Nan::Set(obj, Nan::New(name).ToLocalChecked(), value);
}

inline void SetString(Local<Object> obj, const char *name, const char *value) {
  Nan::Set(obj, Nan::New(name).ToLocalChecked(), Nan::New(value ? value : "").ToLocalChecked());
}

// An Error for code (a VALK_E* code, a UV_E* code or a negative errno): its
// message is message, or valk_strerror(code) when message is NULL or empty;
// err.code is valk_errname(code) ('VALK_ELIMIT', 'EADDRINUSE', ...).
inline Local<Value> MakeError(int code, const char *message = nullptr) {
  Local<Value> err = Nan::Error(message != nullptr && message[0] != '\0' ? message : valk_strerror(code));
  Nan::Set(err.As<Object>(), Nan::New("code").ToLocalChecked(), Nan::New(valk_errname(code)).ToLocalChecked());
  return err;
}

// Throws MakeError(code, message) into JavaScript; the caller returns next.
inline void ThrowError(int code, const char *message = nullptr) {
  Nan::ThrowError(MakeError(code, message));
}

// ---- binding_config.cc -------------------------------------------------------

// Fills *cfg from lib/config.ts's NativeSystemConfig (every field a number).
void ConfigFromJs(Local<Object> o, valk_system_config_t *cfg);

// ---- binding_metrics.cc ------------------------------------------------------

// Every metric of csrc/valk_metrics.h's maps: [{name, kind, scope, help}].
Local<v8::Array> MetricsCatalogue();

// sseEventBytes(maxConnections, tcpBufferPoolSize, arenaPoolSize, adminMaxConnections).
NAN_METHOD(SseEventBytes);

// ---- binding_events.cc -------------------------------------------------------

// The kinds, their help, the reasons and the states of csrc/valk_events.h / valk_evring.h.
Local<Object> EventCatalogue();
// A ring's state and counters (metrics().events too).
Local<Object> EventStats(const valk_evring_t *r);

// ---- binding_selftest.cc -----------------------------------------------------

// Sets the test and diagnostic bindings on the module's exports.
void InitSelftest(Local<Object> target);

// ---- one system --------------------------------------------------------------

// An op on its way to the AIO thread and back, with the JavaScript callback
// that gets its result.
struct PendingOp {
  valk_op_t op;
  Nan::Callback callback;
};

// One AIO system as JavaScript holds it (lib/native.ts NativeSystem). Owns
// the uv_async_t on Node's loop that the AIO thread wakes.
class SystemWrap : public Nan::ObjectWrap {
 public:
  static Nan::Persistent<v8::Function> constructor;

  // binding.cc: the class and its prototype methods.
  static void Init();

  // binding_system.cc: createSystem(cfg) starts a system; listen, closeServer, stop.
  static void Create(const Nan::FunctionCallbackInfo<Value> &info);
  static void Listen(const Nan::FunctionCallbackInfo<Value> &info);
  static void CloseServer(const Nan::FunctionCallbackInfo<Value> &info);
  static void Stop(const Nan::FunctionCallbackInfo<Value> &info);

  // binding_client.cc: the HTTP/2 client.
  static void Connect(const Nan::FunctionCallbackInfo<Value> &info);
  static void Request(const Nan::FunctionCallbackInfo<Value> &info);
  static void CloseClient(const Nan::FunctionCallbackInfo<Value> &info);
  static void ClientLive(const Nan::FunctionCallbackInfo<Value> &info);
  // A client request's answer: {status, headers: [name, value, ...], body: Buffer}.
  static Local<Value> ClientResponse(valk_client_req_t *req);

  // binding_requests.cc: requests to JavaScript and their answers.
  static void OnRequests(const Nan::FunctionCallbackInfo<Value> &info);
  static void OnCancel(const Nan::FunctionCallbackInfo<Value> &info);
  static void OnDrain(const Nan::FunctionCallbackInfo<Value> &info);
  static void Chunk(const Nan::FunctionCallbackInfo<Value> &info);
  static void Respond(const Nan::FunctionCallbackInfo<Value> &info);

  // binding_bodies.cc: request bodies that stream (requestBodies 'stream').
  static void OnBody(const Nan::FunctionCallbackInfo<Value> &info);
  static void TakeBody(const Nan::FunctionCallbackInfo<Value> &info);
  static void DiscardBody(const Nan::FunctionCallbackInfo<Value> &info);

  // binding_events.cc: eventsRecord(on), drainEvents(max), eventStats().
  static void EventsRecord(const Nan::FunctionCallbackInfo<Value> &info);
  static void DrainEvents(const Nan::FunctionCallbackInfo<Value> &info);
  static void EventStatsOf(const Nan::FunctionCallbackInfo<Value> &info);

  // binding_metrics.cc: metrics() and pushRuntime().
  static void Metrics(const Nan::FunctionCallbackInfo<Value> &info);
  static void PushRuntime(const Nan::FunctionCallbackInfo<Value> &info);

  static SystemWrap *Self(const Nan::FunctionCallbackInfo<Value> &info) {
    return Nan::ObjectWrap::Unwrap<SystemWrap>(info.Holder());
  }

  // binding_ops.cc: a new op of type whose result goes to callback cb.
  static PendingOp *NewOp(valk_op_type_t type, Local<Value> cb);
  // Hands op to the AIO thread, or throws (and frees p and what its op owns).
  void Submit(PendingOp *p);

  // binding_requests.cc: moves every waiting request to JavaScript.
  void DeliverRequests();
  void DeliverCancels();
  void ReleasePins();
  void DeliverBodies();
  void WakeAllReaders();
  // The request token names whose body JavaScript may still read: in flight,
  // or answering with a streaming body; nullptr otherwise.
  valk_js_request_t *BodyOwner(double token) const;
  bool PinBody(valk_js_request_t *r, Local<Value> body);

  valk_system_t *sys_ = nullptr;
  uv_async_t *async_ = nullptr;
  uint32_t in_flight_ = 0;
  Nan::Callback on_requests_;                 // fn(batch) for requests to JavaScript
  Nan::Callback on_cancel_;                   // fn(tokens) for requests whose stream died
  std::vector<valk_js_request_t *> requests_; // by token (arena index): with JavaScript now
  std::vector<valk_js_request_t *> answered_; // answers given while a batch runs: sent after it
  // Answer bodies sent without a copy, kept alive until the AIO thread hands
  // their token back (sys->unpins); at most one per request in flight.
  std::unordered_map<uint64_t, Nan::Global<v8::Object>> pins_;
  // Answers whose body streams (respond(..., streaming)): by token, until their final chunk.
  std::unordered_map<uint64_t, valk_js_request_t *> streaming_;
  Nan::Callback on_drain_;                    // fn(tokens): a streaming answer may send its next chunk
  Nan::Callback on_body_;                     // fn(tokens): a request's next body chunk may be ready
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

 private:
  static void New(const Nan::FunctionCallbackInfo<Value> &info);
  static void Notify(void *data);
  static void OnAsync(uv_async_t *handle);
  static void OnAsyncClosed(uv_handle_t *handle);
  void Finish(PendingOp *p);
  Local<v8::String> Str(v8::Isolate *iso, const uint8_t *p, uint32_t len, bool name);
  void AppendRequest(v8::Isolate *iso, std::vector<Local<Value>> &out, const valk_js_request_t *r);
  valk_js_request_t *InFlight(double token) const;
};

}  // namespace valk_binding

#endif  // VALK_BINDING_H
