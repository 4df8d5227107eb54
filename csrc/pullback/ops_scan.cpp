// Cumulative scans: each op resolves its axis and input dtype, then builds one Scan node.
#include "pullback/ops.h"
#include "pullback/primitives/scan.h"

namespace pullback {

namespace {

array scan(const array& a, std::optional<int> axis, bool reverse, bool inclusive, ScanOp op,
           const char* name, Stream s) {
  array x = a;
  int ax = 0;
  if (axis) {
    ax = normalize_axis(*axis, a.ndim(), name);
  } else {
    x = reshape(a, {static_cast<int64_t>(a.size())}, s);
  }
  return array(x.shape(), x.dtype(), std::make_shared<Scan>(s, op, ax, reverse, inclusive), {x});
}

array cast(const array& a, Dtype t, Stream s) { return a.dtype() == t ? a : astype(a, t, s); }

}  // namespace

array cumsum(const array& a, std::optional<int> axis, bool reverse, bool inclusive,
             std::optional<Dtype> dtype, Stream s) {
  array x = dtype ? cast(a, *dtype, s) : a;
  // MLX's dtype: bool counts in int32; narrow integers keep their type (and wrap).
  if (x.dtype() == Dtype::bool_) x = astype(x, Dtype::int32, s);
  return scan(x, axis, reverse, inclusive, ScanOp::Sum, "cumsum", s);
}

array cumprod(const array& a, std::optional<int> axis, bool reverse, bool inclusive,
              std::optional<Dtype> dtype, Stream s) {
  array x = dtype ? cast(a, *dtype, s) : a;
  return scan(x, axis, reverse, inclusive, ScanOp::Prod, "cumprod", s);
}

array cummax(const array& a, std::optional<int> axis, bool reverse, bool inclusive, Stream s) {
  return scan(a, axis, reverse, inclusive, ScanOp::Max, "cummax", s);
}

array cummin(const array& a, std::optional<int> axis, bool reverse, bool inclusive, Stream s) {
  return scan(a, axis, reverse, inclusive, ScanOp::Min, "cummin", s);
}

array logcumsumexp(const array& a, std::optional<int> axis, bool reverse, bool inclusive,
                   Stream s) {
  array x = is_inexact(a.dtype()) ? a : astype(a, Dtype::float32, s);
  return scan(x, axis, reverse, inclusive, ScanOp::LogAddExp, "logcumsumexp", s);
}

}  // namespace pullback
