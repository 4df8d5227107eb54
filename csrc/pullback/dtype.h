// Element types, their sizes and categories, and the promotion rules.
#pragma once

#include <complex>
#include <cstdint>
#include <cstring>
#include <string>

namespace pullback {

// bfloat16: the high half of an IEEE float32, rounded to nearest even.
struct bfloat16_t {
  uint16_t bits;
  bfloat16_t() = default;
  bfloat16_t(float f) {
    uint32_t u;
    std::memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) {
      bits = static_cast<uint16_t>((u >> 16) | 0x40);  // quiet NaN
    } else {
      u += 0x7fffu + ((u >> 16) & 1u);
      bits = static_cast<uint16_t>(u >> 16);
    }
  }
  operator float() const {
    uint32_t u = static_cast<uint32_t>(bits) << 16;
    float f;
    std::memcpy(&f, &u, 4);
    return f;
  }
};

using float16_t = _Float16;
using complex64_t = std::complex<float>;

enum class Dtype : uint8_t {
  bool_,
  uint8,
  uint16,
  uint32,
  uint64,
  int8,
  int16,
  int32,
  int64,
  float16,
  bfloat16,
  float32,
  float64,
  complex64,
};
constexpr int kNumDtypes = 14;

enum class DtypeCategory : uint8_t {
  complexfloating,
  floating,
  inexact,
  signedinteger,
  unsignedinteger,
  integer,
  number,
  generic,
};

size_t size_of(Dtype t);
const char* dtype_name(Dtype t);  // "float32"
bool is_floating(Dtype t);        // real floating point
bool is_complex(Dtype t);
bool is_inexact(Dtype t);  // floating or complex
bool is_integral(Dtype t);  // integer (not bool)
bool is_unsigned(Dtype t);
bool is_signed_int(Dtype t);
DtypeCategory category_of(Dtype t);
bool issubdtype(Dtype t, DtypeCategory c);
bool issubdtype(DtypeCategory a, DtypeCategory b);
const char* category_name(DtypeCategory c);

// The type both operands are converted to by a binary op.
Dtype promote_types(Dtype a, Dtype b);
// The float type used by ops like exp/sqrt on a dtype: integers and bool go to float32.
Dtype to_inexact(Dtype t);

// Compile-time mapping between C++ types and Dtype.
template <typename T>
struct dtype_of;
#define PULLBACK_DTYPE_OF(T, D) \
  template <>                  \
  struct dtype_of<T> {         \
    static constexpr Dtype value = Dtype::D; \
  };
PULLBACK_DTYPE_OF(bool, bool_)
PULLBACK_DTYPE_OF(uint8_t, uint8)
PULLBACK_DTYPE_OF(uint16_t, uint16)
PULLBACK_DTYPE_OF(uint32_t, uint32)
PULLBACK_DTYPE_OF(uint64_t, uint64)
PULLBACK_DTYPE_OF(int8_t, int8)
PULLBACK_DTYPE_OF(int16_t, int16)
PULLBACK_DTYPE_OF(int32_t, int32)
PULLBACK_DTYPE_OF(int64_t, int64)
PULLBACK_DTYPE_OF(float16_t, float16)
PULLBACK_DTYPE_OF(bfloat16_t, bfloat16)
PULLBACK_DTYPE_OF(float, float32)
PULLBACK_DTYPE_OF(double, float64)
PULLBACK_DTYPE_OF(complex64_t, complex64)
#undef PULLBACK_DTYPE_OF

// Calls f(T{}) with the C++ type of `t`.
template <typename F>
decltype(auto) dispatch_dtype(Dtype t, F&& f) {
  switch (t) {
    case Dtype::bool_: return f(bool{});
    case Dtype::uint8: return f(uint8_t{});
    case Dtype::uint16: return f(uint16_t{});
    case Dtype::uint32: return f(uint32_t{});
    case Dtype::uint64: return f(uint64_t{});
    case Dtype::int8: return f(int8_t{});
    case Dtype::int16: return f(int16_t{});
    case Dtype::int32: return f(int32_t{});
    case Dtype::int64: return f(int64_t{});
    case Dtype::float16: return f(float16_t{});
    case Dtype::bfloat16: return f(bfloat16_t{});
    case Dtype::float32: return f(float{});
    case Dtype::float64: return f(double{});
    default: return f(complex64_t{});
  }
}

}  // namespace pullback
