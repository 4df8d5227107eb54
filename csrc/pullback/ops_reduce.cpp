// Reductions: sum, mean, prod, max, min, all, any, var, std, logsumexp, argmax, argmin,
// softmax. The primitive reductions build a Reduce node (which keeps the reduced axes with
// size 1) and reshape it; the rest are compositions of ops.
#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

#include "pullback/ops.h"
#include "pullback/primitives/reduce.h"

namespace pullback {

namespace {

// Sorted, distinct, non-negative axes; all of them when none are given.
std::vector<int> resolve_axes(const array& a, const std::optional<Axes>& axes, const char* op) {
  std::vector<int> out;
  if (!axes) {
    for (int d = 0; d < a.ndim(); ++d) out.push_back(d);
    return out;
  }
  for (int ax : *axes) out.push_back(normalize_axis(ax, a.ndim(), op));
  std::sort(out.begin(), out.end());
  auto dup = std::adjacent_find(out.begin(), out.end());
  if (dup != out.end()) {
    throw std::invalid_argument(std::string("[") + op + "] Duplicate axis " +
                                std::to_string(*dup) + " in axes " + axes_str(*axes) +
                                " for array of shape " + shape_str(a.shape()) + ".");
  }
  return out;
}

Shape reduced_shape(const Shape& shape, const std::vector<int>& axes, bool keepdims) {
  Shape out;
  size_t k = 0;
  for (int d = 0; d < static_cast<int>(shape.size()); ++d) {
    bool reduced = k < axes.size() && axes[k] == d;
    if (reduced) ++k;
    if (!reduced) {
      out.push_back(shape[d]);
    } else if (keepdims) {
      out.push_back(1);
    }
  }
  return out;
}

size_t reduced_size(const Shape& shape, const std::vector<int>& axes) {
  size_t n = 1;
  for (int ax : axes) n *= static_cast<size_t>(shape[ax]);
  return n;
}

array reduce(const array& a, const std::vector<int>& axes, bool keepdims, ReduceOp op,
             Dtype out_dtype, Stream s) {
  array r(reduced_shape(a.shape(), axes, true), out_dtype,
          std::make_shared<Reduce>(s, op, axes, out_dtype), {a});
  if (keepdims || axes.empty()) return r;
  return reshape(r, reduced_shape(a.shape(), axes, false), s);
}

bool is_half(Dtype t) { return t == Dtype::float16 || t == Dtype::bfloat16; }

// The dtype of sum and prod (MLX's): integers narrower than 32 bits and bool widen to 32
// bits, other types keep theirs. (The kernel accumulates integers in 64 bits.)
Dtype sum_dtype(Dtype t) {
  switch (t) {
    case Dtype::bool_:
    case Dtype::int8:
    case Dtype::int16: return Dtype::int32;
    case Dtype::uint8:
    case Dtype::uint16: return Dtype::uint32;
    default: return t;
  }
}

// A sum whose float16/bfloat16 result stays in float32, for ops that go on computing.
array sum_wide(const array& x, const std::vector<int>& axes, bool keepdims, Stream s) {
  Dtype out = is_half(x.dtype()) ? Dtype::float32 : sum_dtype(x.dtype());
  return reduce(x, axes, keepdims, ReduceOp::Sum, out, s);
}

array cast(const array& a, Dtype t, Stream s) { return a.dtype() == t ? a : astype(a, t, s); }

// Integers and bool become float32; floats and complex stay.
Dtype inexact_dtype(Dtype t) { return is_inexact(t) ? t : Dtype::float32; }

void check_nonempty(const array& a, const std::vector<int>& axes, const char* op) {
  if (reduced_size(a.shape(), axes) == 0) {
    Axes given(axes.begin(), axes.end());
    throw std::invalid_argument(std::string("[") + op +
                                "] Cannot reduce over zero elements: array of shape " +
                                shape_str(a.shape()) + " over axes " + axes_str(given) +
                                " (the reduction has no identity).");
  }
}

array extremum(const array& a, const std::optional<Axes>& axes, bool keepdims, ReduceOp op,
               const char* name, Stream s) {
  std::vector<int> ax = resolve_axes(a, axes, name);
  check_nonempty(a, ax, name);
  if (a.dtype() == Dtype::bool_) op = op == ReduceOp::Max ? ReduceOp::Or : ReduceOp::And;
  return reduce(a, ax, keepdims, op, a.dtype(), s);
}

array logical_reduce(const array& a, const std::optional<Axes>& axes, bool keepdims, ReduceOp op,
                     const char* name, Stream s) {
  std::vector<int> ax = resolve_axes(a, axes, name);
  array x = a.dtype() == Dtype::bool_ ? a : not_equal(a, array(int64_t(0), a.dtype()), s);
  return reduce(x, ax, keepdims, op, Dtype::bool_, s);
}

// The variance computed in at least float32, with the dtype the result should have.
array variance(const array& a, const std::optional<Axes>& axes, bool keepdims, int ddof,
               const char* name, Stream s, Dtype& result_dtype) {
  std::vector<int> ax = resolve_axes(a, axes, name);
  Dtype work = is_half(a.dtype()) ? Dtype::float32 : inexact_dtype(a.dtype());
  Dtype real = work == Dtype::complex64 ? Dtype::float32 : work;
  result_dtype = a.dtype() == Dtype::complex64 ? Dtype::float32 : inexact_dtype(a.dtype());
  array x = cast(a, work, s);
  array centered = subtract(x, mean(x, ax, true, s), s);
  array sq = work == Dtype::complex64 ? square(abs(centered, s), s) : square(centered, s);
  // NumPy's and MLX's convention: a divisor of zero or less gives inf (or nan).
  double n = static_cast<double>(reduced_size(a.shape(), ax));
  array divisor(std::max(n - ddof, 0.0), real);
  return divide(reduce(sq, ax, keepdims, ReduceOp::Sum, real, s), divisor, s);
}

array arg_reduce(const array& a, std::optional<int> axis, bool keepdims, ArgReduceOp op,
                 const char* name, Stream s) {
  if (!axis) {
    if (a.size() == 0) {
      throw std::invalid_argument(std::string("[") + name + "] Cannot take the " + name +
                                  " of an empty array of shape " + shape_str(a.shape()) + ".");
    }
    array flat = reshape(a, {static_cast<int64_t>(a.size())}, s);
    array r = arg_reduce(flat, 0, false, op, name, s);
    return keepdims ? reshape(r, Shape(a.ndim(), 1), s) : r;
  }
  int ax = normalize_axis(*axis, a.ndim(), name);
  if (a.shape(ax) == 0) {
    throw std::invalid_argument(std::string("[") + name + "] Cannot take the " + name +
                                " over axis " + std::to_string(*axis) +
                                " of length zero in an array of shape " + shape_str(a.shape()) +
                                ".");
  }
  // The result is uint32 (MLX's dtype): a longer axis would give indices that wrap.
  if (static_cast<uint64_t>(a.shape(ax)) > uint64_t(UINT32_MAX) + 1) {
    throw std::invalid_argument(std::string("[") + name + "] The axis " + std::to_string(*axis) +
                                " of an array of shape " + shape_str(a.shape()) +
                                " is longer than uint32 indices can address (2**32).");
  }
  std::vector<int> axes{ax};
  array r(reduced_shape(a.shape(), axes, true), Dtype::uint32,
          std::make_shared<ArgReduce>(s, op, ax), {a});
  return keepdims ? r : reshape(r, reduced_shape(a.shape(), axes, false), s);
}

}  // namespace

array sum(const array& a, const std::optional<Axes>& axes, bool keepdims, Stream s) {
  return reduce(a, resolve_axes(a, axes, "sum"), keepdims, ReduceOp::Sum, sum_dtype(a.dtype()), s);
}

array prod(const array& a, const std::optional<Axes>& axes, bool keepdims, Stream s) {
  return reduce(a, resolve_axes(a, axes, "prod"), keepdims, ReduceOp::Prod, sum_dtype(a.dtype()),
                s);
}

array mean(const array& a, const std::optional<Axes>& axes, bool keepdims, Stream s) {
  std::vector<int> ax = resolve_axes(a, axes, "mean");
  Dtype result = inexact_dtype(a.dtype());
  array total = sum_wide(cast(a, result, s), ax, keepdims, s);
  Dtype scale_dtype = total.dtype() == Dtype::complex64 ? Dtype::float32 : total.dtype();
  // 0/0 makes the mean of nothing nan, as in NumPy.
  double n = static_cast<double>(reduced_size(a.shape(), ax));
  array r = divide(total, array(n, scale_dtype), s);
  return cast(r, result, s);
}

array max(const array& a, const std::optional<Axes>& axes, bool keepdims, Stream s) {
  return extremum(a, axes, keepdims, ReduceOp::Max, "max", s);
}

array min(const array& a, const std::optional<Axes>& axes, bool keepdims, Stream s) {
  return extremum(a, axes, keepdims, ReduceOp::Min, "min", s);
}

array all(const array& a, const std::optional<Axes>& axes, bool keepdims, Stream s) {
  return logical_reduce(a, axes, keepdims, ReduceOp::And, "all", s);
}

array any(const array& a, const std::optional<Axes>& axes, bool keepdims, Stream s) {
  return logical_reduce(a, axes, keepdims, ReduceOp::Or, "any", s);
}

array var(const array& a, const std::optional<Axes>& axes, bool keepdims, int ddof, Stream s) {
  Dtype result;
  array v = variance(a, axes, keepdims, ddof, "var", s, result);
  return cast(v, result, s);
}

array std(const array& a, const std::optional<Axes>& axes, bool keepdims, int ddof, Stream s) {
  Dtype result;
  array v = variance(a, axes, keepdims, ddof, "std", s, result);
  return cast(sqrt(v, s), result, s);
}

// log(sum(exp(x - m))) + m with m the (finite) maximum, held constant for gradients: the
// result does not depend on m mathematically, and exp never overflows.
array logsumexp(const array& a, const std::optional<Axes>& axes, bool keepdims, Stream s) {
  std::vector<int> ax = resolve_axes(a, axes, "logsumexp");
  Dtype result = inexact_dtype(a.dtype());
  array x = cast(a, result, s);
  if (reduced_size(a.shape(), ax) == 0) {
    return cast(log(sum_wide(exp(x, s), ax, keepdims, s), s), result, s);
  }
  array m = stop_gradient(reduce(x, ax, true, ReduceOp::Max, x.dtype(), s), s);
  // An infinite (or nan) maximum would give inf - inf; shifting by 0 instead yields the
  // right inf, -inf or nan.
  array shift = where(isfinite(m, s), m, array(0.0, x.dtype()), s);
  array total = sum_wide(exp(subtract(x, shift, s), s), ax, true, s);
  array r = cast(add(log(total, s), shift, s), result, s);
  return keepdims ? r : reshape(r, reduced_shape(a.shape(), ax, false), s);
}

array argmax(const array& a, std::optional<int> axis, bool keepdims, Stream s) {
  return arg_reduce(a, axis, keepdims, ArgReduceOp::ArgMax, "argmax", s);
}

array argmin(const array& a, std::optional<int> axis, bool keepdims, Stream s) {
  return arg_reduce(a, axis, keepdims, ArgReduceOp::ArgMin, "argmin", s);
}

// exp(x - m) / sum(exp(x - m)) with m the maximum, held constant for gradients (softmax is
// invariant to the shift). `precise` computes float16/bfloat16 input in float32.
array softmax(const array& a, const std::optional<Axes>& axes, bool precise, Stream s) {
  std::vector<int> ax = resolve_axes(a, axes, "softmax");
  Dtype result = inexact_dtype(a.dtype());
  Dtype work = precise && is_half(result) ? Dtype::float32 : result;
  array x = cast(a, work, s);
  if (x.size() == 0) return cast(x, result, s);
  array m = stop_gradient(reduce(x, ax, true, ReduceOp::Max, work, s), s);
  array e = exp(subtract(x, m, s), s);
  array r = divide(e, reduce(e, ax, true, ReduceOp::Sum, work, s), s);
  return cast(r, result, s);
}

}  // namespace pullback
