// Walking strided (possibly broadcast) operands: the layout helpers every kernel family uses.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <vector>

#include "pullback/array.h"
#include "pullback/backend/cpu/parallel.h"

namespace pullback::cpu {

// Merges neighbouring axes that are contiguous in every operand, dropping size-1 axes.
// Returns at least one axis (size 1 for a scalar).
void collapse_dims(Shape& shape, std::vector<Strides>& strides);

// Calls f(offsets, begin, end) over pieces of rows: `offsets` holds each operand's element
// offset at the start of a row (an index of all axes but the last), and the caller loops over
// [begin, end) of the last axis. The pieces cover every element once and run in parallel
// (parallel_for, so long walks are split and interruptible): f writes only its own piece.
template <size_t N, typename F>
void for_each_row(const Shape& shape, const std::array<const int64_t*, N>& strides, F&& f) {
  const int nd = static_cast<int>(shape.size());
  const size_t m = nd == 0 ? 1 : static_cast<size_t>(shape.back());
  size_t rows = 1;
  for (int i = 0; i < nd - 1; ++i) rows *= static_cast<size_t>(shape[i]);
  parallel_for(rows * m, kElementwiseGrain, [&](size_t b, size_t e) {
    // The row holding element b: its index along each outer axis, and the operands' offsets.
    std::vector<int64_t> idx(nd > 1 ? nd - 1 : 0);
    std::array<int64_t, N> offs{};
    size_t r = b / m;
    for (int d = nd - 2; d >= 0; --d) {
      idx[d] = static_cast<int64_t>(r % static_cast<size_t>(shape[d]));
      r /= static_cast<size_t>(shape[d]);
      for (size_t k = 0; k < N; ++k) offs[k] += idx[d] * strides[k][d];
    }
    size_t col = b % m;
    for (size_t pos = b; pos < e;) {
      const size_t end = std::min(m, col + (e - pos));
      f(offs, static_cast<int64_t>(col), static_cast<int64_t>(end));
      pos += end - col;
      col = 0;
      for (int d = nd - 2; d >= 0; --d) {
        if (++idx[d] < shape[d]) {
          for (size_t k = 0; k < N; ++k) offs[k] += strides[k][d];
          break;
        }
        for (size_t k = 0; k < N; ++k) offs[k] -= strides[k][d] * (shape[d] - 1);
        idx[d] = 0;
      }
    }
  });
}

// Element offset in an operand with `strides` of the flat row-major index `i` of `shape`.
int64_t offset_of(size_t i, const Shape& shape, const Strides& strides);

// Copies `src` (any layout, `shape`) into `dst` laid out with `dst_strides`; element size in
// bytes is `itemsize`. Offsets and strides are in elements.
void copy_strided(const void* src, const Strides& src_strides, void* dst, const Strides& dst_strides,
                  const Shape& shape, size_t itemsize);
// A row-contiguous copy of `in` into `out`'s fresh buffer (same dtype).
void copy_to_contiguous(const array& in, array& out);
// Fills out with `in`'s elements converted to out's dtype (in may be strided or broadcast).
void convert(const array& in, array& out);

}  // namespace pullback::cpu

namespace pullback::cpu {
// Gives `out` a buffer: an input's when it can be donated (same element size and count,
// row-contiguous, nothing else holds it), else a fresh one.
void allocate_output(const std::vector<array>& inputs, array& out);
}  // namespace pullback::cpu
