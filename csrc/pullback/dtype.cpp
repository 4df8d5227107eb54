#include "pullback/dtype.h"

#include <stdexcept>

namespace pullback {

size_t size_of(Dtype t) {
  static constexpr size_t sizes[kNumDtypes] = {1, 1, 2, 4, 8, 1, 2, 4, 8, 2, 2, 4, 8, 8};
  return sizes[static_cast<int>(t)];
}

const char* dtype_name(Dtype t) {
  static constexpr const char* names[kNumDtypes] = {
      "bool",  "uint8",   "uint16",   "uint32",  "uint64",  "int8",    "int16",
      "int32", "int64",   "float16",  "bfloat16", "float32", "float64", "complex64"};
  return names[static_cast<int>(t)];
}

bool is_floating(Dtype t) {
  return t == Dtype::float16 || t == Dtype::bfloat16 || t == Dtype::float32 || t == Dtype::float64;
}
bool is_complex(Dtype t) { return t == Dtype::complex64; }
bool is_inexact(Dtype t) { return is_floating(t) || is_complex(t); }
bool is_unsigned(Dtype t) { return t >= Dtype::uint8 && t <= Dtype::uint64; }
bool is_signed_int(Dtype t) { return t >= Dtype::int8 && t <= Dtype::int64; }
bool is_integral(Dtype t) { return is_unsigned(t) || is_signed_int(t); }

DtypeCategory category_of(Dtype t) {
  if (is_complex(t)) return DtypeCategory::complexfloating;
  if (is_floating(t)) return DtypeCategory::floating;
  if (is_signed_int(t)) return DtypeCategory::signedinteger;
  if (is_unsigned(t)) return DtypeCategory::unsignedinteger;
  return DtypeCategory::generic;  // bool
}

bool issubdtype(DtypeCategory a, DtypeCategory b) {
  if (a == b) return true;
  switch (b) {
    case DtypeCategory::generic: return true;
    case DtypeCategory::number: return a != DtypeCategory::generic;
    case DtypeCategory::inexact:
      return a == DtypeCategory::floating || a == DtypeCategory::complexfloating;
    case DtypeCategory::integer:
      return a == DtypeCategory::signedinteger || a == DtypeCategory::unsignedinteger;
    default: return false;
  }
}

bool issubdtype(Dtype t, DtypeCategory c) {
  if (t == Dtype::bool_) return c == DtypeCategory::generic;
  return issubdtype(category_of(t), c);
}

const char* category_name(DtypeCategory c) {
  static constexpr const char* names[] = {"complexfloating", "floating", "inexact", "signedinteger",
                                          "unsignedinteger", "integer",  "number",  "generic"};
  return names[static_cast<int>(c)];
}

namespace {
int rank_in_kind(Dtype t) {
  switch (t) {
    case Dtype::uint8: case Dtype::int8: return 1;
    case Dtype::uint16: case Dtype::int16: case Dtype::float16: case Dtype::bfloat16: return 2;
    case Dtype::uint32: case Dtype::int32: case Dtype::float32: return 4;
    default: return 8;
  }
}
Dtype signed_of_size(int bytes) {
  switch (bytes) {
    case 1: return Dtype::int8;
    case 2: return Dtype::int16;
    case 4: return Dtype::int32;
    default: return Dtype::int64;
  }
}
}  // namespace

Dtype promote_types(Dtype a, Dtype b) {
  if (a == b) return a;
  if (a == Dtype::bool_) return b;
  if (b == Dtype::bool_) return a;
  if (is_complex(a) || is_complex(b)) return Dtype::complex64;
  bool fa = is_floating(a), fb = is_floating(b);
  if (fa && fb) {
    if ((a == Dtype::float16 && b == Dtype::bfloat16) || (a == Dtype::bfloat16 && b == Dtype::float16))
      return Dtype::float32;
    return rank_in_kind(a) >= rank_in_kind(b) ? a : b;
  }
  if (fa) return a;  // integers never widen a float
  if (fb) return b;
  // Both integers.
  if (is_unsigned(a) == is_unsigned(b)) return rank_in_kind(a) >= rank_in_kind(b) ? a : b;
  Dtype u = is_unsigned(a) ? a : b;
  Dtype s = is_unsigned(a) ? b : a;
  if (u == Dtype::uint64) return Dtype::float32;
  int need = rank_in_kind(u) * 2;
  return signed_of_size(need > rank_in_kind(s) ? need : rank_in_kind(s));
}

Dtype to_inexact(Dtype t) { return is_inexact(t) ? t : Dtype::float32; }

}  // namespace pullback
