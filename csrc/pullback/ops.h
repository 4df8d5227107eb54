// User-level operations. Each validates its arguments, broadcasts and promotes, and
// returns an unevaluated array. Errors are std::invalid_argument (ValueError in Python)
// or std::out_of_range (IndexError), with the op's name in brackets first.
#pragma once

#include <optional>
#include <vector>

#include "pullback/array.h"

namespace pullback {

using Axes = std::vector<int>;

// ---- creation (ops.cpp) ----
array arange(double start, double stop, double step, Dtype dtype, Stream s = current_stream());
// arange of integers: every value start + i * step is exact (the float64 arange rounds them
// beyond 2**53); values outside `dtype` wrap as in NumPy. (A name of its own: an overload
// of arange would make calls with mixed int and double literals ambiguous.)
array integer_arange(int64_t start, int64_t stop, int64_t step, Dtype dtype,
                     Stream s = current_stream());
array linspace(double start, double stop, int64_t num, bool endpoint, Dtype dtype,
               Stream s = current_stream());
array full(const Shape& shape, const array& vals, Dtype dtype, Stream s = current_stream());
array full(const Shape& shape, const array& vals, Stream s = current_stream());
array zeros(const Shape& shape, Dtype dtype = Dtype::float32, Stream s = current_stream());
array ones(const Shape& shape, Dtype dtype = Dtype::float32, Stream s = current_stream());
array zeros_like(const array& a, Stream s = current_stream());
array ones_like(const array& a, Stream s = current_stream());
array eye(int64_t n, int64_t m, int k, Dtype dtype, Stream s = current_stream());
array identity(int64_t n, Dtype dtype, Stream s = current_stream());
// A row-contiguous copy of `a` (a no-op node when `a` is already contiguous).
array copy(const array& a, Stream s = current_stream());

// ---- elementwise (ops.cpp) ----
array astype(const array& a, Dtype dtype, Stream s = current_stream());
array stop_gradient(const array& a, Stream s = current_stream());

array abs(const array& a, Stream s = current_stream());
array negative(const array& a, Stream s = current_stream());
array sign(const array& a, Stream s = current_stream());
array exp(const array& a, Stream s = current_stream());
array expm1(const array& a, Stream s = current_stream());
array log(const array& a, Stream s = current_stream());
array log1p(const array& a, Stream s = current_stream());
array log2(const array& a, Stream s = current_stream());
array log10(const array& a, Stream s = current_stream());
array sqrt(const array& a, Stream s = current_stream());
array rsqrt(const array& a, Stream s = current_stream());
array square(const array& a, Stream s = current_stream());
array reciprocal(const array& a, Stream s = current_stream());
array sin(const array& a, Stream s = current_stream());
array cos(const array& a, Stream s = current_stream());
array tan(const array& a, Stream s = current_stream());
array arcsin(const array& a, Stream s = current_stream());
array arccos(const array& a, Stream s = current_stream());
array arctan(const array& a, Stream s = current_stream());
array sinh(const array& a, Stream s = current_stream());
array cosh(const array& a, Stream s = current_stream());
array tanh(const array& a, Stream s = current_stream());
array arcsinh(const array& a, Stream s = current_stream());
array arccosh(const array& a, Stream s = current_stream());
array arctanh(const array& a, Stream s = current_stream());
array sigmoid(const array& a, Stream s = current_stream());
array erf(const array& a, Stream s = current_stream());
array erfinv(const array& a, Stream s = current_stream());
array floor(const array& a, Stream s = current_stream());
array ceil(const array& a, Stream s = current_stream());
array round(const array& a, int decimals = 0, Stream s = current_stream());
array isnan(const array& a, Stream s = current_stream());
array isinf(const array& a, Stream s = current_stream());
array isfinite(const array& a, Stream s = current_stream());
array isposinf(const array& a, Stream s = current_stream());
array isneginf(const array& a, Stream s = current_stream());
array logical_not(const array& a, Stream s = current_stream());
// Complex parts; on a real array conjugate and real return it and imag returns zeros.
array conjugate(const array& a, Stream s = current_stream());
array real(const array& a, Stream s = current_stream());
array imag(const array& a, Stream s = current_stream());

array add(const array& a, const array& b, Stream s = current_stream());
array subtract(const array& a, const array& b, Stream s = current_stream());
array multiply(const array& a, const array& b, Stream s = current_stream());
array divide(const array& a, const array& b, Stream s = current_stream());
array floor_divide(const array& a, const array& b, Stream s = current_stream());
array remainder(const array& a, const array& b, Stream s = current_stream());
array power(const array& a, const array& b, Stream s = current_stream());
array maximum(const array& a, const array& b, Stream s = current_stream());
array minimum(const array& a, const array& b, Stream s = current_stream());
array arctan2(const array& a, const array& b, Stream s = current_stream());
array logaddexp(const array& a, const array& b, Stream s = current_stream());
array equal(const array& a, const array& b, Stream s = current_stream());
array not_equal(const array& a, const array& b, Stream s = current_stream());
array less(const array& a, const array& b, Stream s = current_stream());
array less_equal(const array& a, const array& b, Stream s = current_stream());
array greater(const array& a, const array& b, Stream s = current_stream());
array greater_equal(const array& a, const array& b, Stream s = current_stream());
// Bitwise ops on integer and boolean arrays; shifts follow NumPy for counts outside
// [0, bits) (everything shifted out).
array bitwise_and(const array& a, const array& b, Stream s = current_stream());
array bitwise_or(const array& a, const array& b, Stream s = current_stream());
array bitwise_xor(const array& a, const array& b, Stream s = current_stream());
array left_shift(const array& a, const array& b, Stream s = current_stream());
array right_shift(const array& a, const array& b, Stream s = current_stream());
array bitwise_invert(const array& a, Stream s = current_stream());
array logical_and(const array& a, const array& b, Stream s = current_stream());
array logical_or(const array& a, const array& b, Stream s = current_stream());
array where(const array& cond, const array& x, const array& y, Stream s = current_stream());
// |a - b| <= atol + rtol * |b| for finite values; infinities are close only to an infinity
// of the same sign, NaN only to NaN and only with equal_nan (NumPy's rules).
array isclose(const array& a, const array& b, double rtol = 1e-5, double atol = 1e-8,
              bool equal_nan = false, Stream s = current_stream());
array allclose(const array& a, const array& b, double rtol = 1e-5, double atol = 1e-8,
               bool equal_nan = false, Stream s = current_stream());

// ---- reductions (ops_reduce.cpp) ----
// `axes`: std::nullopt reduces every axis; an explicit list (possibly negative, no duplicates)
// reduces those, and an empty list reduces none.
array sum(const array& a, const std::optional<Axes>& axes = {}, bool keepdims = false,
          Stream s = current_stream());
array mean(const array& a, const std::optional<Axes>& axes = {}, bool keepdims = false,
           Stream s = current_stream());
array prod(const array& a, const std::optional<Axes>& axes = {}, bool keepdims = false,
           Stream s = current_stream());
array max(const array& a, const std::optional<Axes>& axes = {}, bool keepdims = false,
          Stream s = current_stream());
array min(const array& a, const std::optional<Axes>& axes = {}, bool keepdims = false,
          Stream s = current_stream());
array all(const array& a, const std::optional<Axes>& axes = {}, bool keepdims = false,
          Stream s = current_stream());
array any(const array& a, const std::optional<Axes>& axes = {}, bool keepdims = false,
          Stream s = current_stream());
array var(const array& a, const std::optional<Axes>& axes = {}, bool keepdims = false,
          int ddof = 0, Stream s = current_stream());
array std(const array& a, const std::optional<Axes>& axes = {}, bool keepdims = false,
          int ddof = 0, Stream s = current_stream());
array logsumexp(const array& a, const std::optional<Axes>& axes = {}, bool keepdims = false,
                Stream s = current_stream());
array argmax(const array& a, std::optional<int> axis = {}, bool keepdims = false,
             Stream s = current_stream());
array argmin(const array& a, std::optional<int> axis = {}, bool keepdims = false,
             Stream s = current_stream());
array softmax(const array& a, const std::optional<Axes>& axes = {}, bool precise = false,
              Stream s = current_stream());

// ---- matmul (ops_matmul.cpp) ----
array matmul(const array& a, const array& b, Stream s = current_stream());

// ---- shape (ops_shape.cpp) ----
array reshape(const array& a, Shape shape, Stream s = current_stream());
array transpose(const array& a, const Axes& axes, Stream s = current_stream());
array transpose(const array& a, Stream s = current_stream());
array swapaxes(const array& a, int axis1, int axis2, Stream s = current_stream());
array moveaxis(const array& a, int source, int destination, Stream s = current_stream());
array squeeze(const array& a, const std::optional<Axes>& axes = {}, Stream s = current_stream());
array expand_dims(const array& a, const Axes& axes, Stream s = current_stream());
array broadcast_to(const array& a, const Shape& shape, Stream s = current_stream());
std::vector<array> broadcast_arrays(const std::vector<array>& arrays, Stream s = current_stream());
Shape broadcast_shapes(const Shape& a, const Shape& b);  // throws naming both shapes
// Whether `from` broadcasts to exactly `to`.
bool is_broadcastable(const Shape& from, const Shape& to);
array flatten(const array& a, int start_axis = 0, int end_axis = -1, Stream s = current_stream());
array concatenate(const std::vector<array>& arrays, std::optional<int> axis = 0,
                  Stream s = current_stream());
array stack(const std::vector<array>& arrays, int axis = 0, Stream s = current_stream());
std::vector<array> split(const array& a, int64_t num_sections, int axis = 0,
                         Stream s = current_stream());
std::vector<array> split(const array& a, const Shape& indices, int axis = 0,
                         Stream s = current_stream());
// Basic slicing: start/stop/strides per axis, already clamped and normalized (stop may be
// below start for negative strides). Produces a view where possible.
array slice(const array& a, const Shape& start, const Shape& stop, const Shape& strides,
            Stream s = current_stream());
// The inverse of slice: `update` written into a copy of `a` at the sliced region.
array slice_update(const array& a, const array& update, const Shape& start, const Shape& stop,
                   const Shape& strides, Stream s = current_stream());

// ---- indexing (ops_indexing.cpp) ----
// Gather and scatter with dimension numbers; primitives/indexing.h states their semantics.
// `indices` (integer arrays, one per entry of `axes`) broadcast together; the first `batch`
// axes of the broadcast index shape broadcast against the first `batch` axes of `a`.
// `slice_sizes` has one size per axis of `a` after the batch axes. Out-of-range indices raise
// std::out_of_range at evaluation.
enum class ScatterReduce { None, Add, Prod, Max, Min };
array gather(const array& a, const std::vector<array>& indices, const Axes& axes,
             const Shape& slice_sizes, int batch = 0, Stream s = current_stream());
// `updates` broadcast to the shape of the matching gather's output (index shape + slice sizes,
// the slice sizes being the trailing a.ndim() - batch axes of `updates`) and take a's dtype.
array scatter(const array& a, const std::vector<array>& indices, const array& updates,
              const Axes& axes, ScatterReduce reduce = ScatterReduce::None, int batch = 0,
              Stream s = current_stream());

// NumPy indexing. A key is a list of items as Python writes them; the bindings only translate
// Python objects into items. Integer-array items are advanced indices (they broadcast together,
// and their axes land where NumPy puts them); boolean arrays select where true (their nonzero
// positions, which evaluates the mask in get_item); integers, slices, None and one Ellipsis
// are basic and give views.
struct IndexItem {
  enum class Kind { Integer, Slice, NewAxis, Ellipsis, Array };
  Kind kind = Kind::Slice;
  int64_t value = 0;                   // Integer
  std::optional<int64_t> start, stop;  // Slice, in Python's sense (nullopt: the default bound)
  int64_t step = 1;                    // Slice; never 0
  array index;                         // Array: an integer or bool array

  static IndexItem integer(int64_t v);
  static IndexItem slice(std::optional<int64_t> start = {}, std::optional<int64_t> stop = {},
                         int64_t step = 1);
  static IndexItem new_axis();
  static IndexItem ellipsis();
  static IndexItem of(const array& index);
};
using IndexKey = std::vector<IndexItem>;
// a[key]. Out-of-range integers raise std::out_of_range here; out-of-range array entries raise
// it when the result is evaluated.
array get_item(const array& a, const IndexKey& key, Stream s = current_stream());
// The array that `a[key] = value` (reduce None) or `a.at[key].add(value)` (Add, ...) leaves:
// `a` with the indexed elements replaced or combined with `value` (broadcast to the shape of
// a[key], cast to a's dtype). With repeated indices, None keeps the last value and the
// reductions combine them all. `a` itself is not modified.
array set_item(const array& a, const IndexKey& key, const array& value,
               ScatterReduce reduce = ScatterReduce::None, Stream s = current_stream());
// NumPy's take (axis nullopt: of the flattened array), take_along_axis and put_along_axis.
array take(const array& a, const array& indices, std::optional<int> axis = {},
           Stream s = current_stream());
array take_along_axis(const array& a, const array& indices, std::optional<int> axis,
                      Stream s = current_stream());
array put_along_axis(const array& a, const array& indices, const array& values,
                     std::optional<int> axis, ScatterReduce reduce = ScatterReduce::None,
                     Stream s = current_stream());

// Slices whose start is an array (one start per entry of `axes`, a 1-d or 0-d integer array):
// MLX's slice(a, start_indices, axes, slice_size) and slice_update. `slice_size` has one size
// per axis of `a`; axes not in `axes` start at 0. A start whose slice leaves its axis raises
// std::out_of_range at evaluation.
array dynamic_slice(const array& a, const array& start, const Axes& axes, const Shape& slice_size,
                    Stream s = current_stream());
array dynamic_slice_update(const array& a, const array& update, const array& start,
                           const Axes& axes, Stream s = current_stream());

// ---- helpers shared by the op files ----
// Normalizes a possibly negative axis; throws "[op] axis A is out of bounds for array of
// dimension N." as std::out_of_range (IndexError, as in MLX).
int normalize_axis(int axis, int ndim, const char* op);
std::string shape_str(const Shape& shape);  // "(2,3)"
std::string axes_str(const Axes& axes);     // "(1,)", "(0,2)"
// Throws std::invalid_argument "[op] msg".
[[noreturn]] void fail(const char* op, const std::string& msg);
// Sets the one -1 of `shape` (if any) so that it holds `total` elements; false, leaving `shape`
// as it was, when no such shape exists (the caller says why). A second -1 or another negative
// size throws naming `op`.
bool infer_shape(Shape& shape, size_t total, const char* op);

}  // namespace pullback

// Op families declared in headers of their own.
#include "pullback/ops_compose.h"
#include "pullback/ops_fast.h"
#include "pullback/ops_attention.h"
#include "pullback/ops_fft.h"
#include "pullback/ops_linalg.h"
#include "pullback/ops_scan.h"
#include "pullback/ops_random.h"
#include "pullback/ops_sort.h"
#include "pullback/ops_conv.h"
#include "pullback/ops_special.h"
