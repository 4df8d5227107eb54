// Loops shared by the elementwise kernels: contiguous, scalar-broadcast and strided cases.
#pragma once

#include <algorithm>
#include <type_traits>

#include "pullback/backend/cpu/parallel.h"
#include "pullback/backend/cpu/simd_math.h"
#include "pullback/backend/cpu/strided.h"

namespace pullback::cpu {

template <typename T>
constexpr bool is_half_v = std::is_same_v<T, float16_t> || std::is_same_v<T, bfloat16_t>;

// Every one of dst[0, n) set to v.
template <typename U>
void parallel_fill(U* dst, size_t n, U v) {
  parallel_for(n, kElementwiseGrain, [&](size_t b, size_t e) { std::fill(dst + b, dst + e, v); });
}

// Elementwise kernels on a transposed (dense but permuted) operand: when every input is either
// a broadcast scalar or dense with one and the same permuted layout, `kernel(flat_inputs,
// flat_out)` runs over 1-D aliases of the buffers in storage order, and `out` takes the
// inputs' layout. A strided walk in the logical order would touch memory with a large stride
// on every element (x.T + 1 ran 10x slower than x + 1). Returns false, doing nothing, when
// the layouts do not allow it.
template <typename K>
bool run_in_storage_order(const std::vector<array>& inputs, array& out, K&& kernel) {
  const array* layout = nullptr;
  for (const array& in : inputs) {
    if (in.data_size() == 1 && in.size() > 1) continue;  // a broadcast scalar
    if (in.flags().row_contiguous || !in.flags().contiguous || in.data_size() != in.size()) {
      return false;
    }
    for (int64_t st : in.strides()) {
      if (st < 0) return false;
    }
    if (layout && layout->strides() != in.strides()) return false;
    layout = &in;
  }
  if (!layout) return false;
  const size_t n = out.size();
  std::vector<array> flat;
  for (const array& in : inputs) {
    array f(Shape{static_cast<int64_t>(n)}, in.dtype(), nullptr, {});
    if (&in == layout || in.data_size() == n) {
      f.copy_shared_buffer(in, Strides{1}, ArrayFlags{}, n);
    } else {
      f.copy_shared_buffer(in, Strides{0}, ArrayFlags{false, false, false}, 1);
    }
    flat.push_back(std::move(f));
  }
  array flat_out(Shape{static_cast<int64_t>(n)}, out.dtype(), nullptr, {});
  kernel(flat, flat_out);
  out.copy_shared_buffer(flat_out, layout->strides(), layout->flags(), n);
  return true;
}

// f(T) -> U over every element of `in` into row-contiguous `out`.
template <typename T, typename U, typename F>
void unary_loop(const array& in, array& out, F f) {
  const T* src = in.data<T>();
  U* dst = out.data<U>();
  const size_t n = out.size();
  if (in.flags().row_contiguous) {
    parallel_for(n, kElementwiseGrain, [&](size_t b, size_t e) {
      for (size_t i = b; i < e; ++i) dst[i] = f(src[i]);
    });
    return;
  }
  if (in.data_size() == 1) {
    parallel_fill(dst, n, f(src[0]));
    return;
  }
  Shape shape = in.shape();
  std::vector<Strides> st{in.strides(), row_major_strides(in.shape())};
  collapse_dims(shape, st);
  const int64_t si = st[0].back();
  for_each_row<2>(shape, {st[0].data(), st[1].data()},
                  [&](const std::array<int64_t, 2>& o, int64_t b, int64_t e) {
    const T* s = src + o[0];
    U* d = dst + o[1];
    for (int64_t i = b; i < e; ++i) d[i] = f(s[i * si]);
  });
}

// f(T, T) -> U over a and b (same shape, possibly broadcast views) into row-contiguous out.
template <typename T, typename U, typename F>
void binary_loop(const array& a, const array& b, array& out, F f) {
  const T* pa = a.data<T>();
  const T* pb = b.data<T>();
  U* po = out.data<U>();
  const size_t n = out.size();
  const bool ca = a.flags().row_contiguous, cb = b.flags().row_contiguous;
  const bool sa = a.data_size() == 1, sb = b.data_size() == 1;
  if ((ca || sa) && (cb || sb)) {
    parallel_for(n, kElementwiseGrain, [&](size_t s, size_t e) {
      if (sa && !ca) {
        const T x = pa[0];
        if (sb && !cb) {
          for (size_t i = s; i < e; ++i) po[i] = f(x, pb[0]);
        } else {
          for (size_t i = s; i < e; ++i) po[i] = f(x, pb[i]);
        }
      } else if (sb && !cb) {
        const T y = pb[0];
        for (size_t i = s; i < e; ++i) po[i] = f(pa[i], y);
      } else {
        for (size_t i = s; i < e; ++i) po[i] = f(pa[i], pb[i]);
      }
    });
    return;
  }
  Shape shape = out.shape();
  std::vector<Strides> st{a.strides(), b.strides(), row_major_strides(out.shape())};
  collapse_dims(shape, st);
  const int64_t xa = st[0].back(), xb = st[1].back();
  for_each_row<3>(shape, {st[0].data(), st[1].data(), st[2].data()},
                  [&](const std::array<int64_t, 3>& o, int64_t s, int64_t e) {
                    const T* ra = pa + o[0];
                    const T* rb = pb + o[1];
                    U* ro = po + o[2];
                    if (xa == 1 && xb == 1) {
                      for (int64_t i = s; i < e; ++i) ro[i] = f(ra[i], rb[i]);
                    } else if (xa == 0 && xb == 1) {
                      for (int64_t i = s; i < e; ++i) ro[i] = f(ra[0], rb[i]);
                    } else if (xa == 1 && xb == 0) {
                      for (int64_t i = s; i < e; ++i) ro[i] = f(ra[i], rb[0]);
                    } else {
                      for (int64_t i = s; i < e; ++i) ro[i] = f(ra[i * xa], rb[i * xb]);
                    }
                  });
}

// Chunk size for the transcendental kernels (about 1 ns an element), which are worth a thread
// hand-off at smaller sizes than a memory-bound loop.
constexpr size_t kMathGrain = size_t(1) << 14;

// A contiguous float32 kernel over every element of `in` (T is float or a half type, computed
// in float) into row-contiguous `out` of the same dtype. Every layout goes through the same
// kernel, so results do not depend on strides.
template <typename T>
void unary_kernel_loop(const array& in, array& out, simd::UnaryKernel kernel,
                       size_t grain = kElementwiseGrain) {
  const T* src = in.data<T>();
  T* dst = out.data<T>();
  const size_t n = out.size();
  if (!in.flags().row_contiguous && in.data_size() == 1) {
    float v = static_cast<float>(src[0]);
    kernel(&v, &v, 1);
    parallel_fill(dst, n, T(v));
    return;
  }
  if (!in.flags().row_contiguous) {
    // Gathered into out first and then transformed in place: the kernel runs contiguous and
    // split across threads.
    copy_strided(src, in.strides(), dst, row_major_strides(in.shape()), in.shape(), sizeof(T));
    src = dst;
  }
  parallel_for(n, grain, [&](size_t b, size_t e) {
    if constexpr (std::is_same_v<T, float>) {
      kernel(src + b, dst + b, e - b);
    } else {
      constexpr size_t kBlock = 1024;
      float buf[kBlock];
      for (size_t s = b; s < e; s += kBlock) {
        const size_t m = std::min(kBlock, e - s);
        for (size_t i = 0; i < m; ++i) buf[i] = static_cast<float>(src[s + i]);
        kernel(buf, buf, m);
        for (size_t i = 0; i < m; ++i) dst[s + i] = T(buf[i]);
      }
    }
  });
}

// float32 `a op b` with kernels[Operands] when each operand is row-contiguous or a broadcast
// scalar, or, after collapsing axes, reads its last axis as a run or one repeated value;
// returns false, doing nothing, for other layouts (and rows too short to pay for a call).
inline bool binary_kernel_loop(const array& a, const array& b, array& out,
                               const simd::BinaryKernel* kernels) {
  const bool ca = a.flags().row_contiguous, cb = b.flags().row_contiguous;
  const bool a_scalar = !ca && a.data_size() == 1, b_scalar = !cb && b.data_size() == 1;
  const float* pa = a.data<float>();
  const float* pb = b.data<float>();
  float* po = out.data<float>();
  const size_t n = out.size();
  using simd::Operands;
  if (!(ca || a_scalar) || !(cb || b_scalar)) {
    // Broadcast or strided operands (a bias added to every row, say): row by row through the
    // same kernels where each operand's last axis is a run or a repeated value.
    Shape shape = out.shape();
    std::vector<Strides> st{a.strides(), b.strides(), row_major_strides(out.shape())};
    collapse_dims(shape, st);
    const int64_t xa = st[0].back(), xb = st[1].back();
    if ((xa != 0 && xa != 1) || (xb != 0 && xb != 1) || shape.back() < 16) return false;
    const Operands form = xa == 0 && xb == 0 ? Operands::VectorVector  // one value per row
                          : xa == 0         ? Operands::ScalarVector
                          : xb == 0         ? Operands::VectorScalar
                                            : Operands::VectorVector;
    const simd::BinaryKernel kernel = kernels[size_t(form)];
    for_each_row<3>(shape, {st[0].data(), st[1].data(), st[2].data()},
                    [&](const std::array<int64_t, 3>& o, int64_t s, int64_t e) {
                      const float* ra = pa + o[0] + (xa ? s : 0);
                      const float* rb = pb + o[1] + (xb ? s : 0);
                      float* ro = po + o[2] + s;
                      if (xa == 0 && xb == 0) {
                        float v;
                        kernel(ra, rb, &v, 1);
                        std::fill(ro, ro + (e - s), v);
                      } else {
                        kernel(ra, rb, ro, e - s);
                      }
                    });
    return true;
  }
  if (a_scalar && b_scalar) {
    float v;
    kernels[size_t(Operands::VectorVector)](pa, pb, &v, 1);
    parallel_fill(po, n, v);
    return true;
  }
  const Operands form = a_scalar   ? Operands::ScalarVector
                        : b_scalar ? Operands::VectorScalar
                                   : Operands::VectorVector;
  const simd::BinaryKernel kernel = kernels[size_t(form)];
  parallel_for(n, kElementwiseGrain, [&](size_t s, size_t e) {
    kernel(a_scalar ? pa : pa + s, b_scalar ? pb : pb + s, po + s, e - s);
  });
  return true;
}

}  // namespace pullback::cpu
