// CPU kernels of the special family: as_strided and view make views of their input's buffer
// where its layout allows (copies otherwise); the Hadamard transform runs butterflies per row.
#include <algorithm>
#include <cstdint>
#include <cstring>

#include "pullback/backend/cpu/elementwise.h"
#include "pullback/backend/cpu/parallel.h"
#include "pullback/backend/cpu/strided.h"
#include "pullback/primitives/special.h"

namespace pullback {

namespace {

// `in` itself when it is row-contiguous from its first element, else a row-contiguous copy.
array row_contiguous(const array& in) {
  if (in.flags().row_contiguous && in.data_size() == in.size()) return in;
  array tmp = array::empty(in.shape(), in.dtype());
  if (in.size() > 0) cpu::copy_to_contiguous(in, tmp);
  return tmp;
}

// Layout flags of an as_strided view: only the plain row- and column-major cases count as
// contiguous (overlapping or gapped views never do), which keeps every kernel on a safe path.
ArrayFlags strided_view_flags(const Shape& shape, const Strides& strides) {
  ArrayFlags f;
  if (shape_size(shape) == 0) return f;
  int64_t expected = 1;
  for (int d = static_cast<int>(shape.size()) - 1; d >= 0; --d) {
    if (shape[d] == 1) continue;
    f.row_contiguous = f.row_contiguous && strides[d] == expected;
    expected *= shape[d];
  }
  expected = 1;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 1) continue;
    f.col_contiguous = f.col_contiguous && strides[d] == expected;
    expected *= shape[d];
  }
  f.contiguous = f.row_contiguous || f.col_contiguous;
  return f;
}

}  // namespace

void AsStrided::eval_cpu(const std::vector<array>& inputs, array& out) {
  array base = row_contiguous(inputs[0]);
  if (out.size() == 0) {
    out.copy_shared_buffer(base, strides_, ArrayFlags{}, 0, 0);
    return;
  }
  // Elements reachable from the view's first element, counted as the shape walk does (the op
  // checked that all of them, before and after it, lie inside the input).
  int64_t extent = 0;
  for (size_t d = 0; d < shape_.size(); ++d) {
    extent += (shape_[d] - 1) * (strides_[d] < 0 ? -strides_[d] : strides_[d]);
  }
  out.copy_shared_buffer(base, strides_, strided_view_flags(shape_, strides_),
                         static_cast<size_t>(extent + 1), offset_);
}

void View::eval_cpu(const std::vector<array>& inputs, array& out) {
  const array& in = inputs[0];
  const size_t out_size = out.itemsize();
  const bool aligned = reinterpret_cast<uintptr_t>(in.raw_data()) % out_size == 0;
  if (dtype_ != Dtype::bool_ && aligned && in.flags().row_contiguous &&
      in.data_size() == in.size()) {
    out.copy_shared_buffer(in, row_major_strides(out.shape()),
                           ArrayFlags{true, out.ndim() <= 1 || out.size() <= 1, true}, out.size());
    return;
  }
  array base = row_contiguous(in);
  out.set_data(std::make_shared<Data>(out.nbytes()));
  if (out.nbytes() == 0) return;
  if (dtype_ == Dtype::bool_) {
    const auto* src = static_cast<const uint8_t*>(base.raw_data());
    bool* dst = out.data<bool>();
    cpu::parallel_for(out.size(), cpu::kElementwiseGrain, [&](size_t b, size_t e) {
      for (size_t i = b; i < e; ++i) dst[i] = src[i] != 0;
    });
    return;
  }
  std::memcpy(out.raw_data(), base.raw_data(), out.nbytes());
}

namespace {

// In place: row <- S_n row (unscaled), n a power of two. Each pass combines pairs `h` apart.
template <typename A>
void walsh_hadamard(A* row, int64_t n) {
  for (int64_t h = 1; h < n; h *= 2) {
    for (int64_t i = 0; i < n; i += 2 * h) {
      for (int64_t j = i; j < i + h; ++j) {
        A x = row[j], y = row[j + h];
        row[j] = x + y;
        row[j + h] = x - y;
      }
    }
  }
}

// MLX's Hadamard matrices of orders 12, 20 and 28 (recorded from its outputs, so that ours give
// its values): bit j of row i is set where entry (i, j) is +1, clear where it is -1.
constexpr uint32_t kHadamard12[12] = {
    0x0000ffd, 0x0000554, 0x0000c37, 0x0000691, 0x00000df, 0x0000a45,
    0x0000373, 0x0000919, 0x0000dc3, 0x0000469, 0x000070f, 0x00001a5};
constexpr uint32_t kHadamard20[20] = {
    0x006cc21, 0x00d1c42, 0x00ab884, 0x005f108, 0x00b6610, 0x009c83e, 0x003945d,
    0x007289b, 0x00e5117, 0x00ca60f, 0x00f05ac, 0x00e8b58, 0x00d92b1, 0x00ba163,
    0x007c2c6, 0x0008592, 0x0010b05, 0x002122a, 0x0042074, 0x00840c9};
constexpr uint32_t kHadamard28[28] = {
    0x3296181, 0x6528382, 0xc854704, 0x92a8e08, 0x2751c10, 0x4ca7820, 0x994b0c0,
    0x4b980bc, 0x9534178, 0x2a6c271, 0x54d8463, 0xa9b0847, 0x536500f, 0xa4ce01e,
    0x7804cda, 0xf009935, 0xe21326a, 0xc6224d5, 0x8e409ab, 0x1e81356, 0x3d0262d,
    0x030ed66, 0x041dacd, 0x083b51b, 0x1072ab6, 0x20e15ec, 0x41c2b59, 0x81856b3};

const uint32_t* hadamard_rows(int m) {
  switch (m) {
    case 12: return kHadamard12;
    case 20: return kHadamard20;
    case 28: return kHadamard28;
    default: return nullptr;
  }
}

// In place: row (m blocks of p = n / m) <- kron(H_m, S_p) row, unscaled, or its transpose.
// S_p on each block, then H_m across the blocks: block a becomes sum_c H_m[a][c] block c.
template <typename A>
void hadamard_rows_transform(A* row, int64_t n, int m, bool transposed, A* scratch) {
  const int64_t p = n / m;
  for (int c = 0; c < m; ++c) walsh_hadamard(row + c * p, p);
  if (m == 1) return;
  const uint32_t* h = hadamard_rows(m);
  for (int a = 0; a < m; ++a) {
    A* acc = scratch + a * p;
    for (int64_t j = 0; j < p; ++j) acc[j] = A(0);
    for (int c = 0; c < m; ++c) {
      const bool plus = transposed ? (h[c] >> a) & 1u : (h[a] >> c) & 1u;
      const A* block = row + c * p;
      if (plus) {
        for (int64_t j = 0; j < p; ++j) acc[j] += block[j];
      } else {
        for (int64_t j = 0; j < p; ++j) acc[j] -= block[j];
      }
    }
  }
  std::copy(scratch, scratch + n, row);
}

}  // namespace

void Hadamard::eval_cpu(const std::vector<array>& inputs, array& out) {
  array in = row_contiguous(inputs[0]);
  out.set_data(std::make_shared<Data>(out.nbytes()));
  if (out.size() == 0) return;
  const int64_t n = in.shape(-1);
  const size_t rows = out.size() / static_cast<size_t>(n);
  dispatch_dtype(in.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double> || cpu::is_half_v<T>) {
      using A = std::conditional_t<std::is_same_v<T, double>, double, float>;
      const T* src = in.template data<T>();
      T* dst = out.template data<T>();
      const A scale = static_cast<A>(scale_);
      const size_t grain = std::max<size_t>(1, cpu::kElementwiseGrain / static_cast<size_t>(n));
      const int m = hadamard_order_of(n);
      cpu::parallel_for(rows, grain, [&](size_t b, size_t e) {
        std::vector<A> buf(static_cast<size_t>(n)), scratch(m > 1 ? static_cast<size_t>(n) : 0);
        for (size_t r = b; r < e; ++r) {
          const T* x = src + r * static_cast<size_t>(n);
          for (int64_t j = 0; j < n; ++j) buf[j] = static_cast<A>(x[j]);
          hadamard_rows_transform(buf.data(), n, m, transposed_, scratch.data());
          T* y = dst + r * static_cast<size_t>(n);
          for (int64_t j = 0; j < n; ++j) y[j] = static_cast<T>(buf[j] * scale);
        }
      });
    }
  });
}

}  // namespace pullback
