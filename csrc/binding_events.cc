// binding_events.cc: the lifecycle event ring as JavaScript reads it
// (docs/design.md §13): recording on and off, a batch of events drained into a
// Buffer (lib/events.ts decodes it), the ring's state and counters, and the
// kinds and reasons of csrc/valk_events.h.
//
// Thread: Node's main thread, the ring's consumer.
#include "binding.h"

#include <cstring>

#include "valk_events.h"

namespace valk_binding {

Local<Object> EventCatalogue() {
  Local<Object> out = Nan::New<Object>();
  Local<v8::Array> kinds = Nan::New<v8::Array>(), help = Nan::New<v8::Array>(), reasons = Nan::New<v8::Array>();
#define XX(n, name, text)                                    \
  Nan::Set(kinds, n, Nan::New(#name).ToLocalChecked());      \
  Nan::Set(help, n, Nan::New(text).ToLocalChecked());
  VALK_EVENT_KIND_MAP(XX)
#undef XX
#define XX(n, name) Nan::Set(reasons, n, Nan::New(#name).ToLocalChecked());
  VALK_EVENT_REASON_MAP(XX)
#undef XX
  SetObject(out, "kinds", kinds);
  SetObject(out, "help", help);
  SetObject(out, "reasons", reasons);
  SetNumber(out, "recordSize", sizeof(valk_event_t));
  Local<v8::Array> states = Nan::New<v8::Array>();
  for (int s = 0; s < VALK_BP_STATES; s++) Nan::Set(states, s, Nan::New(valk_bp_state_name((valk_bp_state_t)s)).ToLocalChecked());
  SetObject(out, "states", states);
  return out;
}

Local<Object> EventStats(const valk_evring_t *r) {
  valk_evring_stats_t s;
  valk_evring_stats(r, &s);
  Local<Object> out = Nan::New<Object>(), tr = Nan::New<Object>();
  SetString(out, "state", valk_bp_state_name(s.state));
  SetNumber(out, "fill", s.fill);
  SetNumber(out, "capacity", s.capacity);
  SetNumber(out, "recorded", (double)s.recorded);
  SetNumber(out, "drained", (double)s.drained);
  SetNumber(out, "events_dropped", (double)s.events_dropped);
  SetNumber(out, "bytes_dropped", (double)s.bytes_dropped);
  for (int k = 0; k < VALK_BP_STATES; k++) SetNumber(tr, valk_bp_state_name((valk_bp_state_t)k), (double)s.transitions[k]);
  SetObject(out, "transitions", tr);
  SetNumber(out, "recording", VALK_LOAD_RELAXED(&r->on) != 0 ? 1 : 0);
  return out;
}

// eventsRecord(kinds): the kinds recorded, a bit a kind (bit k: kind k of
// valk_events.h), 0 off; true is every kind, false none.
void SystemWrap::EventsRecord(const Nan::FunctionCallbackInfo<Value> &info) {
  SystemWrap *self = Self(info);
  if (self->sys_ == nullptr) return ThrowError(VALK_ESTOPPED);
  uint32_t kinds;
  if (info[0]->IsBoolean()) kinds = Nan::To<bool>(info[0]).FromMaybe(false) ? UINT32_MAX : 0;
  else kinds = Nan::To<uint32_t>(info[0]).FromMaybe(0);
  valk_evring_set_on(&self->sys_->events, kinds);
}

// drainEvents(max) -> Buffer of up to max records (32 bytes each, oldest first),
// then the state re-evaluated from this side (a quiet producer still recovers).
void SystemWrap::DrainEvents(const Nan::FunctionCallbackInfo<Value> &info) {
  SystemWrap *self = Self(info);
  if (self->sys_ == nullptr) return ThrowError(VALK_ESTOPPED);
  double want = Nan::To<double>(info[0]).FromMaybe(1024);
  uint32_t max = want >= 1 && want <= 65536 ? (uint32_t)want : 1024;
  static std::vector<valk_event_t> out;  // Node's thread only: grown once, never zeroed again
  if (out.size() < max) out.resize(max);
  uint32_t n = valk_evring_drain(&self->sys_->events, out.data(), max);
  valk_evring_check(&self->sys_->events, (uint64_t)uv_hrtime());
  Local<Object> buf = Nan::CopyBuffer(reinterpret_cast<const char *>(out.data()), n * sizeof(valk_event_t)).ToLocalChecked();
  info.GetReturnValue().Set(buf);
}

// eventStats() -> {state, fill, capacity, recorded, drained, events_dropped, bytes_dropped, transitions, recording}.
void SystemWrap::EventStatsOf(const Nan::FunctionCallbackInfo<Value> &info) {
  SystemWrap *self = Self(info);
  if (self->sys_ == nullptr) return ThrowError(VALK_ESTOPPED);
  info.GetReturnValue().Set(EventStats(&self->sys_->events));
}

}  // namespace valk_binding
