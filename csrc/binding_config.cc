// binding_config.cc: the resolved configuration as it crosses into C
// (docs/design.md §10 Configuration). lib/config.ts's toNativeConfig() makes
// every field a number (enum values as their C numbers); csrc/valk_config.h,
// generated from the same table, lists the members (VALK_CONFIG_FIELDS). One
// loop copies them: there is no per-field code here.
//
// Thread: Node's main thread.
#include "binding.h"

#include <cmath>
#include <limits>
#include <type_traits>

namespace valk_binding {

namespace {

// v as a member of type T: doubles as they are; an unsigned integer type gets
// v when v is a whole number in its range, else 0 (NaN, a fraction, negative,
// too big: lib/config.ts never sends those, having validated every value).
template <typename T>
T ToC(double v) {
  if constexpr (std::is_floating_point<T>::value) {
    return (T)v;
  } else {
    double limit = std::ldexp(1.0, std::numeric_limits<T>::digits);  // 2^32, 2^64
    return v >= 0 && v < limit && v == std::floor(v) ? (T)v : 0;
  }
}

// Each enum value's number in lib/config.ts is the C constant it stands for.
#define V(member, text, constant, number)                                     \
  static_assert((constant) == (number), "csrc/valk_config.h: " #member " " text " is not " #constant);
VALK_CONFIG_ENUM_VALUES(V)
#undef V

}  // namespace

void ConfigFromJs(Local<Object> o, valk_system_config_t *cfg) {
  memset(cfg, 0, sizeof(*cfg));
#define X(type, member, name) cfg->member = ToC<type>(NumberField(o, name));
  VALK_CONFIG_FIELDS(X)
#undef X
}

}  // namespace valk_binding
