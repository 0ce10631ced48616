// binding_selftest.cc: test and diagnostic bindings: a slab JavaScript can
// drive (slabNew), slab sizes, the multi-thread slab stress (valk_selftest.h),
// the connection slab's item size (VALK_CONN_SLOT_SIZE), and which nghttp2
// the addon's session calls reach (valk_diag.h). Nothing here is part of serving.
//
// Thread: Node's main thread (slabStress runs its threads and joins them).
#include "binding.h"

#include "valk_diag.h"
#include "valk_selftest.h"
#include "valk_slab.h"

namespace valk_binding {

namespace {

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

  // slabNew(itemSize, count) -> NativeSlab.
  static void Create(const Nan::FunctionCallbackInfo<Value> &info) {
    double size = Nan::To<double>(info[0]).FromMaybe(0), count = Nan::To<double>(info[1]).FromMaybe(0);
    Local<Object> obj = Nan::NewInstance(Nan::New(constructor)).ToLocalChecked();
    SlabWrap *self = Nan::ObjectWrap::Unwrap<SlabWrap>(obj);
    int rc = size < 1 || count < 1 || count > 1e8 ? VALK_EINVAL
                                                  : valk_slab_new(&self->slab_, (size_t)size, (uint32_t)count);
    if (rc != 0) return ThrowError(rc);
    info.GetReturnValue().Set(obj);
  }

 private:
  static void New(const Nan::FunctionCallbackInfo<Value> &info) {
    (new SlabWrap())->Wrap(info.This());
    info.GetReturnValue().Set(info.This());
  }
  static valk_slab_t *Get(const Nan::FunctionCallbackInfo<Value> &info) {
    valk_slab_t *s = Nan::ObjectWrap::Unwrap<SlabWrap>(info.Holder())->slab_;
    if (s == nullptr) ThrowError(VALK_EINVAL, "slab is freed");
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
    if (rc != 0) ThrowError(rc);
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
    if (rc < 0) return ThrowError(rc);
    info.GetReturnValue().Set(buf);
  }
  static void Free(const Nan::FunctionCallbackInfo<Value> &info) {
    SlabWrap *self = Nan::ObjectWrap::Unwrap<SlabWrap>(info.Holder());
    valk_slab_free(self->slab_);
    self->slab_ = nullptr;
  }
};

Nan::Persistent<v8::Function> SlabWrap::constructor;

NAN_METHOD(SlabItemStride) {
  info.GetReturnValue().Set((double)valk_slab_item_stride((size_t)Nan::To<double>(info[0]).FromMaybe(0)));
}

NAN_METHOD(SlabSize) {
  info.GetReturnValue().Set((double)valk_slab_size((size_t)Nan::To<double>(info[0]).FromMaybe(0),
                                                   Nan::To<uint32_t>(info[1]).FromMaybe(0)));
}

// slabStress(threads, iterations, items): acquire/claim/release on one slab from many threads.
NAN_METHOD(SlabStress) {
  valk_slab_stress_result_t r;
  int rc = valk_selftest_slab_stress(Nan::To<uint32_t>(info[0]).FromMaybe(0), Nan::To<uint32_t>(info[1]).FromMaybe(0),
                                     Nan::To<uint32_t>(info[2]).FromMaybe(0), &r);
  if (rc != 0) return ThrowError(rc);
  Local<Object> out = Nan::New<Object>();
  SetNumber(out, "violations", (double)r.violations);
  SetNumber(out, "acquired", (double)r.acquired);
  SetNumber(out, "overflow", (double)r.overflow);
  SetNumber(out, "available", r.available);
  SetNumber(out, "count", r.count);
  info.GetReturnValue().Set(out);
}

NAN_METHOD(ConnStructSize) { info.GetReturnValue().Set((double)VALK_CONN_SLOT_SIZE); }

// { file, symbolAddress, nodeExported, nodeExportedAddress } of an origin.
void SetOrigin(Nan::NAN_METHOD_ARGS_TYPE info, int rc, const valk_diag_origin_t &o) {
  char addr[32];
  if (rc != 0) return ThrowError(VALK_ENOTFOUND, "dladdr failed");
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

// diagNghttp2Origin(): the object file holding the nghttp2 the addon calls, and node's.
NAN_METHOD(DiagNghttp2Origin) {
  valk_diag_origin_t o;
  int rc = valk_diag_nghttp2_origin(&o);
  SetOrigin(info, rc, o);
}

// diagLlhttpOrigin(): the same for llhttp.
NAN_METHOD(DiagLlhttpOrigin) {
  valk_diag_origin_t o;
  int rc = valk_diag_llhttp_origin(&o);
  SetOrigin(info, rc, o);
}

}  // namespace

void InitSelftest(Local<Object> target) {
  SlabWrap::Init();
  Nan::SetMethod(target, "slabNew", SlabWrap::Create);
  Nan::SetMethod(target, "slabItemStride", SlabItemStride);
  Nan::SetMethod(target, "slabSize", SlabSize);
  Nan::SetMethod(target, "connStructSize", ConnStructSize);
  Nan::SetMethod(target, "diagLlhttpOrigin", DiagLlhttpOrigin);
  Nan::SetMethod(target, "slabStress", SlabStress);
  Nan::SetMethod(target, "diagNghttp2Origin", DiagNghttp2Origin);
}

}  // namespace valk_binding
