#include <cmath>
#include <stdexcept>
#include <string>

#include "pullback/backend/cpu/elementwise.h"
#include "pullback/backend/cpu/wrapping.h"
#include "pullback/primitives/binary.h"

namespace pullback {
namespace {

using cpu::binary_loop;
using cpu::is_half_v;
using cpu::wrapping_add;
using cpu::wrapping_mul;
using cpu::wrapping_sub;

template <typename T>
constexpr bool is_cplx = std::is_same_v<T, complex64_t>;
template <typename T>
constexpr bool is_real_float = std::is_floating_point_v<T>;

[[noreturn]] void bad_dtype(BinaryOp op, Dtype t) {
  throw std::invalid_argument(std::string("[") + binary_op_name(op) + "] Unsupported dtype " +
                              dtype_name(t) + ".");
}

// Integer division and remainder with Python's sign rules; division by zero gives 0
// instead of trapping.
template <typename T>
T int_floor_div(T a, T b) {
  if (b == 0) return 0;
  if constexpr (std::is_signed_v<T>) {
    if (b == T(-1)) return cpu::wrapping_neg(a);  // INT_MIN / -1 wraps to INT_MIN
    T q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
  } else {
    return a / b;
  }
}
template <typename T>
T int_remainder(T a, T b) {
  if (b == 0) return a;  // x mod 0 = x, as in MLX (and Knuth's definition)
  if constexpr (std::is_signed_v<T>) {
    if (b == T(-1)) return 0;
    T r = a % b;
    return (r != 0 && ((r < 0) != (b < 0))) ? r + b : r;
  } else {
    return a % b;
  }
}
template <typename T>
T int_power(T base, T exp) {
  if constexpr (std::is_signed_v<T>) {
    if (exp < 0) return base == 1 ? 1 : (base == -1 ? ((exp & 1) ? -1 : 1) : 0);
  }
  T result = 1;
  while (exp) {
    if (exp & 1) result = wrapping_mul(result, base);
    base = wrapping_mul(base, base);
    exp >>= 1;
  }
  return result;
}

// Shifts as NumPy defines them for every count: a count outside [0, bits) shifts everything
// out (0, or -1 for a negative value shifted right), where C++ leaves it undefined. Signed
// values shift as their unsigned bits (left) or arithmetically (right).
template <typename T>
T shift_left(T a, T b) {
  constexpr int bits = 8 * sizeof(T);
  if constexpr (std::is_signed_v<T>) {
    if (b < 0) return 0;
  }
  if (static_cast<uint64_t>(b) >= static_cast<uint64_t>(bits)) return 0;
  using U = cpu::wrap_unsigned_t<T>;
  return static_cast<T>(static_cast<U>(a) << b);
}
template <typename T>
T shift_right(T a, T b) {
  constexpr int bits = 8 * sizeof(T);
  bool out_of_range = static_cast<uint64_t>(b) >= static_cast<uint64_t>(bits);
  if constexpr (std::is_signed_v<T>) {
    out_of_range = out_of_range || b < 0;
    if (out_of_range) return a < 0 ? T(-1) : T(0);
    return static_cast<T>(a >> b);  // arithmetic shift of a negative value (defined since C++20, and by g++)
  } else {
    return out_of_range ? T(0) : static_cast<T>(a >> b);
  }
}

template <typename T>
T float_remainder(T a, T b) {
  T r = std::fmod(a, b);
  if (r != T(0) && ((r < T(0)) != (b < T(0)))) r += b;
  return r;
}

// Complex numbers order lexicographically, real part first (as MLX and NumPy do); a NaN in
// either part makes every comparison false, as for real NaN.
inline bool complex_less(complex64_t x, complex64_t y) {
  return x.real() < y.real() || (x.real() == y.real() && x.imag() < y.imag());
}
inline bool complex_less_equal(complex64_t x, complex64_t y) {
  return x.real() < y.real() || (x.real() == y.real() && x.imag() <= y.imag());
}
inline bool complex_is_nan(complex64_t x) { return x.real() != x.real() || x.imag() != x.imag(); }

template <typename T>
T logaddexp_impl(T a, T b) {
  if (std::isinf(a) && a == b) return a;  // avoids inf - inf
  T m = std::max(a, b);
  return m + std::log1p(std::exp(-std::abs(a - b)));
}

// Computes `op` on T inputs; half types go through float. Returns false when `op` does not
// apply to T.
template <typename T, typename U, typename F>
void run(const array& a, const array& b, array& out, F f) {
  if constexpr (is_half_v<T>) {
    binary_loop<T, U>(a, b, out, [&](T x, T y) {
      return static_cast<U>(f(static_cast<float>(x), static_cast<float>(y)));
    });
  } else {
    binary_loop<T, U>(a, b, out, f);
  }
}

template <typename T>
void dispatch_op(BinaryOp op, const array& a, const array& b, array& out) {
  using R = std::conditional_t<is_half_v<T>, float, T>;  // the type the arithmetic sees
  constexpr bool is_bool = std::is_same_v<T, bool>;
  constexpr bool is_int = std::is_integral_v<T> && !is_bool;
  switch (op) {
    case BinaryOp::Add:
      return run<T, T>(a, b, out, [](R x, R y) { return static_cast<T>(wrapping_add(x, y)); });
    case BinaryOp::Subtract:
      return run<T, T>(a, b, out, [](R x, R y) { return static_cast<T>(wrapping_sub(x, y)); });
    case BinaryOp::Multiply:
      return run<T, T>(a, b, out, [](R x, R y) { return static_cast<T>(wrapping_mul(x, y)); });
    case BinaryOp::Divide:
      if constexpr (is_int || is_bool) bad_dtype(op, a.dtype());
      else return run<T, T>(a, b, out, [](R x, R y) { return static_cast<T>(x / y); });
    case BinaryOp::FloorDivide:
      if constexpr (is_int) return run<T, T>(a, b, out, int_floor_div<T>);
      else if constexpr (is_bool) return run<T, T>(a, b, out, [](T x, T y) { return T(x && y); });
      else if constexpr (is_real_float<R>)
        return run<T, T>(a, b, out, [](R x, R y) { return static_cast<T>(std::floor(x / y)); });
      else bad_dtype(op, a.dtype());
    case BinaryOp::Remainder:
      if constexpr (is_int) return run<T, T>(a, b, out, int_remainder<T>);
      else if constexpr (is_bool) return run<T, T>(a, b, out, [](T x, T y) { return T(x && !y); });
      else if constexpr (is_real_float<R>)
        return run<T, T>(a, b, out, [](R x, R y) { return static_cast<T>(float_remainder(x, y)); });
      else bad_dtype(op, a.dtype());
    case BinaryOp::Power:
      if constexpr (is_int) return run<T, T>(a, b, out, int_power<T>);
      else if constexpr (is_bool) return run<T, T>(a, b, out, [](T x, T y) { return T(x || !y); });
      else return run<T, T>(a, b, out, [](R x, R y) { return static_cast<T>(std::pow(x, y)); });
    case BinaryOp::Maximum:
      if constexpr (is_cplx<T>)
        return run<T, T>(a, b, out, [](T x, T y) {
          return (complex_less(y, x) || complex_is_nan(x)) ? x : y;  // NaN propagates
        });
      else if constexpr (is_real_float<R>)
        return run<T, T>(a, b, out, [](R x, R y) {
          return static_cast<T>((x > y || std::isnan(x)) ? x : y);  // NaN propagates
        });
      else return run<T, T>(a, b, out, [](R x, R y) { return static_cast<T>(x > y ? x : y); });
    case BinaryOp::Minimum:
      if constexpr (is_cplx<T>)
        return run<T, T>(a, b, out, [](T x, T y) {
          return (complex_less(x, y) || complex_is_nan(x)) ? x : y;
        });
      else if constexpr (is_real_float<R>)
        return run<T, T>(a, b, out, [](R x, R y) {
          return static_cast<T>((x < y || std::isnan(x)) ? x : y);
        });
      else return run<T, T>(a, b, out, [](R x, R y) { return static_cast<T>(x < y ? x : y); });
    case BinaryOp::ArcTan2:
      if constexpr (is_real_float<R>)
        return run<T, T>(a, b, out, [](R x, R y) { return static_cast<T>(std::atan2(x, y)); });
      else bad_dtype(op, a.dtype());
    case BinaryOp::LogAddExp:
      if constexpr (is_real_float<R>)
        return run<T, T>(a, b, out, [](R x, R y) { return static_cast<T>(logaddexp_impl(x, y)); });
      else bad_dtype(op, a.dtype());
    case BinaryOp::BitwiseAnd:
    case BinaryOp::BitwiseOr:
    case BinaryOp::BitwiseXor:
    case BinaryOp::LeftShift:
    case BinaryOp::RightShift:
      if constexpr (is_int || is_bool) {
        switch (op) {
          case BinaryOp::BitwiseAnd: return run<T, T>(a, b, out, [](T x, T y) { return T(x & y); });
          case BinaryOp::BitwiseOr: return run<T, T>(a, b, out, [](T x, T y) { return T(x | y); });
          case BinaryOp::BitwiseXor: return run<T, T>(a, b, out, [](T x, T y) { return T(x ^ y); });
          default: break;
        }
        if constexpr (is_bool) {
          bad_dtype(op, a.dtype());  // the ops shift booleans as uint8
        } else {
          if (op == BinaryOp::LeftShift) return run<T, T>(a, b, out, shift_left<T>);
          return run<T, T>(a, b, out, shift_right<T>);
        }
      } else {
        bad_dtype(op, a.dtype());
      }
    case BinaryOp::Equal: return run<T, bool>(a, b, out, [](R x, R y) { return x == y; });
    case BinaryOp::NotEqual: return run<T, bool>(a, b, out, [](R x, R y) { return x != y; });
    case BinaryOp::Less:
    case BinaryOp::LessEqual:
    case BinaryOp::Greater:
    case BinaryOp::GreaterEqual:
      if constexpr (is_cplx<T>) {
        if (op == BinaryOp::Less) return run<T, bool>(a, b, out, complex_less);
        if (op == BinaryOp::LessEqual) return run<T, bool>(a, b, out, complex_less_equal);
        if (op == BinaryOp::Greater) {
          return run<T, bool>(a, b, out, [](T x, T y) { return complex_less(y, x); });
        }
        return run<T, bool>(a, b, out, [](T x, T y) { return complex_less_equal(y, x); });
      } else {
        if (op == BinaryOp::Less) return run<T, bool>(a, b, out, [](R x, R y) { return x < y; });
        if (op == BinaryOp::LessEqual) return run<T, bool>(a, b, out, [](R x, R y) { return x <= y; });
        if (op == BinaryOp::Greater) return run<T, bool>(a, b, out, [](R x, R y) { return x > y; });
        return run<T, bool>(a, b, out, [](R x, R y) { return x >= y; });
      }
    case BinaryOp::LogicalAnd:
      if constexpr (is_bool) return run<T, bool>(a, b, out, [](bool x, bool y) { return x && y; });
      else bad_dtype(op, a.dtype());
    case BinaryOp::LogicalOr:
      if constexpr (is_bool) return run<T, bool>(a, b, out, [](bool x, bool y) { return x || y; });
      else bad_dtype(op, a.dtype());
  }
}

// The vectorized float32 kernels ([Operands]) for `op`, or nullptr.
const simd::BinaryKernel* fast_kernels(BinaryOp op) {
  const auto& k = simd::kernels().binary;
  switch (op) {
    case BinaryOp::Add: return k[size_t(simd::BinaryKind::Add)];
    case BinaryOp::Subtract: return k[size_t(simd::BinaryKind::Subtract)];
    case BinaryOp::Multiply: return k[size_t(simd::BinaryKind::Multiply)];
    case BinaryOp::Divide: return k[size_t(simd::BinaryKind::Divide)];
    case BinaryOp::Maximum: return k[size_t(simd::BinaryKind::Maximum)];
    case BinaryOp::Minimum: return k[size_t(simd::BinaryKind::Minimum)];
    default: return nullptr;
  }
}

}  // namespace

void Binary::eval_cpu(const std::vector<array>& inputs, array& out) {
  if (cpu::run_in_storage_order(inputs, out, [&](const std::vector<array>& flat, array& flat_out) {
        eval_cpu(flat, flat_out);
      })) {
    return;
  }
  cpu::allocate_output(inputs, out);
  if (out.size() == 0) return;
  if (inputs[0].dtype() == Dtype::float32) {
    // These ops are exact, so the strided layouts that fall through give the same bits.
    const simd::BinaryKernel* k = fast_kernels(op_);
    if (k && cpu::binary_kernel_loop(inputs[0], inputs[1], out, k)) return;
  }
  dispatch_dtype(inputs[0].dtype(),
                 [&](auto tag) { dispatch_op<decltype(tag)>(op_, inputs[0], inputs[1], out); });
}

namespace {
// The flat loop over [b, e) (T an unsigned integer of the element's size), x and y each either
// row-contiguous or one value (`XOne`, `YOne`): a where(mask, g, 0), relu's backward. Both
// sides are read, then masked: a branch on a mask of random signs mispredicts half the time
// (2.5 ns an element). The restrict pointers, and the mask read as bytes (GCC does not
// vectorize a conversion from bool), let it vectorize; an output that took over an input's
// buffer is read and written at the same index only, which vectors keep in order.
template <typename T, bool XOne, bool YOne>
void select_range(const uint8_t* __restrict pc, const T* __restrict px, const T* __restrict py,
                  T* __restrict po, size_t b, size_t e) {
  const T x0 = px[0], y0 = py[0];
  for (size_t i = b; i < e; ++i) {
    const T mask = T(0) - T(pc[i]);
    po[i] = ((XOne ? x0 : px[i]) & mask) | ((YOne ? y0 : py[i]) & ~mask);
  }
}

template <typename T, bool XOne, bool YOne>
void select_flat(const bool* pc, const T* px, const T* py, T* po, size_t n) {
  cpu::parallel_for(n, cpu::kElementwiseGrain, [=](size_t b, size_t e) {
    select_range<T, XOne, YOne>(reinterpret_cast<const uint8_t*>(pc), px, py, po, b, e);
  });
}

template <typename T>
void select_loop(const array& c, const array& x, const array& y, array& out) {
  const bool* pc = c.data<bool>();
  const T* px = x.data<T>();
  const T* py = y.data<T>();
  T* po = out.data<T>();
  // A broadcast scalar has data_size 1 (as in elementwise.h's loops).
  if (c.flags().row_contiguous && (x.flags().row_contiguous || x.data_size() == 1) &&
      (y.flags().row_contiguous || y.data_size() == 1)) {
    const size_t n = out.size();
    const bool x_one = !x.flags().row_contiguous, y_one = !y.flags().row_contiguous;
    if (x_one && y_one) return select_flat<T, true, true>(pc, px, py, po, n);
    if (x_one) return select_flat<T, true, false>(pc, px, py, po, n);
    if (y_one) return select_flat<T, false, true>(pc, px, py, po, n);
    return select_flat<T, false, false>(pc, px, py, po, n);
  }
  Shape shape = out.shape();
  std::vector<Strides> st{c.strides(), x.strides(), y.strides(), row_major_strides(out.shape())};
  cpu::collapse_dims(shape, st);
  const int64_t sc = st[0].back(), sx = st[1].back(), sy = st[2].back();
  cpu::for_each_row<4>(shape, {st[0].data(), st[1].data(), st[2].data(), st[3].data()},
                       [&](const std::array<int64_t, 4>& o, int64_t b, int64_t e) {
                         for (int64_t i = b; i < e; ++i) {
                           po[o[3] + i] = pc[o[0] + i * sc] ? px[o[1] + i * sx] : py[o[2] + i * sy];
                         }
                       });
}
}  // namespace

void Select::eval_cpu(const std::vector<array>& inputs, array& out) {
  cpu::allocate_output({inputs[1], inputs[2]}, out);
  if (out.size() == 0) return;
  switch (out.itemsize()) {
    case 1: return select_loop<uint8_t>(inputs[0], inputs[1], inputs[2], out);
    case 2: return select_loop<uint16_t>(inputs[0], inputs[1], inputs[2], out);
    case 4: return select_loop<uint32_t>(inputs[0], inputs[1], inputs[2], out);
    default: return select_loop<uint64_t>(inputs[0], inputs[1], inputs[2], out);
  }
}

}  // namespace pullback
