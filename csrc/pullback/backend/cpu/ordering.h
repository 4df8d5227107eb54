// NaN tests and the order of the kernels' element types, shared by the reductions and scans:
// complex numbers order lexicographically (real part first), as in NumPy; a NaN anywhere in a
// complex number makes it NaN.
#pragma once

#include <type_traits>

#include "pullback/dtype.h"

namespace pullback::cpu {

template <typename A>
inline bool is_nan(A v) {
  if constexpr (std::is_floating_point_v<A>) {
    return v != v;
  } else if constexpr (std::is_same_v<A, complex64_t>) {
    return v.real() != v.real() || v.imag() != v.imag();
  } else {
    return false;
  }
}

template <typename A>
inline bool greater(A a, A b) {
  if constexpr (std::is_same_v<A, complex64_t>) {
    return a.real() > b.real() || (a.real() == b.real() && a.imag() > b.imag());
  } else {
    return a > b;
  }
}

template <typename A>
inline bool less(A a, A b) {
  return greater(b, a);
}

}  // namespace pullback::cpu
