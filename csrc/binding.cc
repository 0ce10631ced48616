// binding.cc: the addon's module init: the exports lib/native.ts declares
// (NativeBinding), the constants, and SystemWrap's prototype. The other
// binding_*.cc files do the work, one job each (binding.h lists them).
//
// Thread: Node's main thread.
#include "binding.h"

#include "valk_diag.h"
#include "valk_slab.h"
#include "valk_tls.h"

namespace valk_binding {

void SystemWrap::Init() {
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
  Nan::SetPrototypeMethod(tpl, "eventsRecord", EventsRecord);
  Nan::SetPrototypeMethod(tpl, "drainEvents", DrainEvents);
  Nan::SetPrototypeMethod(tpl, "eventStats", EventStatsOf);
  Nan::SetPrototypeMethod(tpl, "pushRuntime", PushRuntime);
  Nan::SetPrototypeMethod(tpl, "onRequests", OnRequests);
  Nan::SetPrototypeMethod(tpl, "onCancel", OnCancel);
  Nan::SetPrototypeMethod(tpl, "onDrain", OnDrain);
  Nan::SetPrototypeMethod(tpl, "chunk", Chunk);
  Nan::SetPrototypeMethod(tpl, "respond", Respond);
  Nan::SetPrototypeMethod(tpl, "onBody", OnBody);
  Nan::SetPrototypeMethod(tpl, "takeBody", TakeBody);
  Nan::SetPrototypeMethod(tpl, "discardBody", DiscardBody);
  constructor.Reset(Nan::GetFunction(tpl).ToLocalChecked());
}

namespace {

// Estimates for estimateFootprint(): bytes of one request/response queue entry
// (a descriptor and its ring slot) and of the TLS state OpenSSL allocates per
// connection outside the pools (its SSL object and record buffers: ~26 KB
// measured on an idle connection, rounded up). The HTTP/2 state is not an
// estimate: each connection's is capped at maxSessionMemory (valk_h2_mem.h),
// and its TLS memory BIOs at VALK_TLS_BIO_MAX (docs/RELIABILITY.md).
constexpr double kQueueEntryBytes = 64;
constexpr double kConnProtocolStateBytes = 48 * 1024;

// Every VALK_E* code: name -> value (csrc/valk_common.h VALK_ERRNO_MAP), the
// list lib/error-codes.ts is generated from (a test compares the two).
Local<Object> ErrorCodes() {
  Local<Object> o = Nan::New<Object>();
#define XX(name, value, text) SetNumber(o, "VALK_E" #name, value);
  VALK_ERRNO_MAP(XX)
#undef XX
  return o;
}

Local<Object> Constants() {
  Local<Object> c = Nan::New<Object>();
  size_t per_item_meta = valk_slab_size(1, 1) - valk_slab_size(1, 0) - valk_slab_item_stride(1);
  SetNumber(c, "tcpBufferSize", VALK_TCP_BUF_SIZE);
  SetNumber(c, "connSlotSize", (double)(valk_slab_item_stride(VALK_CONN_SLOT_SIZE) + per_item_meta));
  SetNumber(c, "slabItemOverhead", (double)per_item_meta);
  SetNumber(c, "tcpBufferSlotSize", (double)(valk_slab_item_stride(sizeof(valk_tcp_buf_t)) + per_item_meta));
  SetNumber(c, "queueEntrySize", kQueueEntryBytes);
  SetNumber(c, "adminArenasPerConn", VALK_ADMIN_ARENAS_PER_CONN);
  SetNumber(c, "adminArenaSize", VALK_ADMIN_ARENA_SIZE);
  SetNumber(c, "connProtocolStateEstimate", kConnProtocolStateBytes);
  SetNumber(c, "tlsBufferBound", VALK_TLS_BIO_MAX);
  SetNumber(c, "responseHeadersMax", VALK_RESP_HEADERS_MAX);
  SetNumber(c, "bodyBlocksMax", VALK_BODY_BLOCKS_MAX);
  SetNumber(c, "bodyBlockMin", VALK_BODY_BLOCK_MIN);
  SetNumber(c, "responseFixedHeadersBytes", VALK_RESP_FIXED_HEADERS_BYTES);
  SetNumber(c, "ipTableEntrySize", (double)valk_ip_table_entry_size());
  SetString(c, "nghttp2Version", valk_diag_nghttp2_version());
  SetString(c, "llhttpVersion", valk_diag_llhttp_version());
  SetString(c, "opensslVersion", valk_tls_openssl_version());
  SetObject(c, "metricsCatalogue", MetricsCatalogue());
  SetObject(c, "events", EventCatalogue());
  SetObject(c, "errorCodes", ErrorCodes());
  Local<v8::Array> bounds = Nan::New<v8::Array>(VALK_LATENCY_BOUNDS);
  for (uint32_t i = 0; i < VALK_LATENCY_BOUNDS; i++)
    Nan::Set(bounds, i, Nan::New<v8::Number>((double)valk_latency_bounds_us[i]));
  SetObject(c, "latencyBoundsUs", bounds);
  return c;
}

// generateSelfSigned(hosts, days) -> {key, cert}: PEM, made with the process's OpenSSL.
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
  if (rc != 0) return ThrowError(rc);
  Local<Object> out = Nan::New<Object>();
  SetString(out, "key", key);
  SetString(out, "cert", cert);
  free(key);
  free(cert);
  info.GetReturnValue().Set(out);
}

NAN_MODULE_INIT(InitAll) {
  SystemWrap::Init();
  Nan::Set(target, Nan::New("constants").ToLocalChecked(), Constants());
  Nan::SetMethod(target, "createSystem", SystemWrap::Create);
  Nan::SetMethod(target, "generateSelfSigned", GenerateSelfSigned);
  Nan::SetMethod(target, "sseEventBytes", SseEventBytes);
  InitSelftest(target);
}

}  // namespace
}  // namespace valk_binding

NODE_MODULE(valk_aio, valk_binding::InitAll)
