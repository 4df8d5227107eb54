// Integer arithmetic that wraps modulo 2^bits, the result NumPy's and MLX's integer kernels give
// on overflow. Signed overflow is undefined behaviour in C++ (and trips UBSan), so signed operands
// compute in the unsigned type of their width; types narrower than int compute in unsigned int,
// since uint16 * uint16 promoted to int can overflow too. Other types use the plain operator.
#pragma once

#include <type_traits>

namespace pullback::cpu {

template <typename T>
constexpr bool wraps_v = std::is_integral_v<T> && !std::is_same_v<T, bool>;

template <typename T>
using wrap_unsigned_t =
    std::conditional_t<(sizeof(T) < sizeof(unsigned)), unsigned, std::make_unsigned_t<T>>;

template <typename T>
constexpr T wrapping_add(T a, T b) {
  if constexpr (wraps_v<T>) {
    using U = wrap_unsigned_t<T>;
    return static_cast<T>(static_cast<U>(a) + static_cast<U>(b));
  } else {
    return a + b;
  }
}
template <typename T>
constexpr T wrapping_sub(T a, T b) {
  if constexpr (wraps_v<T>) {
    using U = wrap_unsigned_t<T>;
    return static_cast<T>(static_cast<U>(a) - static_cast<U>(b));
  } else {
    return a - b;
  }
}
template <typename T>
constexpr T wrapping_mul(T a, T b) {
  if constexpr (wraps_v<T>) {
    using U = wrap_unsigned_t<T>;
    return static_cast<T>(static_cast<U>(a) * static_cast<U>(b));
  } else {
    return a * b;
  }
}
template <typename T>
constexpr T wrapping_neg(T a) {
  if constexpr (wraps_v<T>) return wrapping_sub(T(0), a);
  else return -a;
}

}  // namespace pullback::cpu
