// CPU kernels of Gather and Scatter (semantics in primitives/indexing.h).
//
// Both first turn the index arrays into one operand offset per index position (validating
// every index before anything is written), then move whole slices. Gather copies bytes, so it
// has one instance per element size; scatter's reductions are typed.
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "pullback/backend/cpu/parallel.h"
#include "pullback/backend/cpu/strided.h"
#include "pullback/backend/cpu/wrapping.h"
#include "pullback/primitives/indexing.h"

namespace pullback {
namespace {

// Shape and strides (in elements, of the operand and of the row-major slice) of one slice,
// with contiguous neighbouring axes merged.
struct SliceWalk {
  Shape shape;
  Strides src, dst;  // src: the operand's strides; dst: row-major within the slice
  int64_t elements = 1;

  SliceWalk(const Shape& sizes, const Strides& operand_strides) {
    shape = sizes;
    std::vector<Strides> st{operand_strides, row_major_strides(sizes)};
    cpu::collapse_dims(shape, st);
    src = std::move(st[0]);
    dst = std::move(st[1]);
    elements = static_cast<int64_t>(shape_size(sizes));
  }

  // Calls f(src_offset, dst_offset, count, src_step) for each run of the slice's last axis.
  template <typename F>
  void for_each_run(F&& f) const {
    const int nd = static_cast<int>(shape.size());
    const int64_t n = shape.back(), step = src.back();
    if (nd == 1) return f(int64_t(0), int64_t(0), n, step);
    std::vector<int64_t> idx(nd - 1, 0);
    int64_t so = 0, d_o = 0;
    while (true) {
      f(so, d_o, n, step);
      int d = nd - 2;
      for (; d >= 0; --d) {
        so += src[d];
        d_o += dst[d];
        if (++idx[d] < shape[d]) break;
        so -= src[d] * shape[d];
        d_o -= dst[d] * shape[d];
        idx[d] = 0;
      }
      if (d < 0) return;
    }
  }
};

// The operand offset (in elements, with `strides`) of the slice that each index position
// starts, row-major over the index shape. Throws std::out_of_range naming `op` for an index
// whose slice leaves its axis.
std::vector<int64_t> slice_offsets(const char* op, const Shape& operand_shape,
                                   const Strides& strides, const std::vector<array>& indices,
                                   const std::vector<int>& axes, const Shape& slice_sizes,
                                   int batch, const Shape& index_shape) {
  const size_t positions = shape_size(index_shape);
  std::vector<int64_t> offsets(positions, 0);
  if (positions == 0) return offsets;
  // Batch axes: the first `batch` axes of the index shape walk those of the operand.
  if (batch > 0) {
    Shape batch_shape(operand_shape.begin(), operand_shape.begin() + batch);
    Strides batch_strides(strides.begin(), strides.begin() + batch);
    const size_t inner = shape_size(Shape(index_shape.begin() + batch, index_shape.end()));
    for (size_t p = 0; p < positions; ++p) {
      offsets[p] = cpu::offset_of(inner ? p / inner : 0, batch_shape, batch_strides);
    }
  }
  for (size_t j = 0; j < indices.size(); ++j) {
    const int axis = axes[j];
    const int64_t dim = operand_shape[axis];
    const int64_t limit = dim - slice_sizes[axis - batch];  // the largest valid start
    array starts = array::empty(index_shape, Dtype::int64);
    cpu::convert(indices[j], starts);
    const int64_t* v = starts.data<int64_t>();
    const bool unsigned64 = indices[j].dtype() == Dtype::uint64;
    const int64_t stride = strides[axis];
    for (size_t p = 0; p < positions; ++p) {
      int64_t x = v[p];
      // uint64 indices beyond int64 read as negative here; they are out of range anyway.
      if (x < 0 && !unsigned64) x += dim;
      if (x < 0 || x > limit) {
        std::string shown = unsigned64 ? std::to_string(static_cast<uint64_t>(v[p]))
                                       : std::to_string(v[p]);
        std::string what = slice_sizes[axis - batch] == 1
                               ? "Index " + shown + " is out of bounds"
                               : "A slice of size " + std::to_string(slice_sizes[axis - batch]) +
                                     " starting at index " + shown + " does not fit";
        throw std::out_of_range(std::string("[") + op + "] " + what + " for axis " +
                                std::to_string(axis) + " with size " + std::to_string(dim) + ".");
      }
      offsets[p] += x * stride;
    }
  }
  return offsets;
}

Shape index_shape_of(const std::vector<array>& indices, const Shape& operand_shape, int batch) {
  if (!indices.empty()) return indices[0].shape();
  return Shape(operand_shape.begin(), operand_shape.begin() + batch);
}

template <typename T>
void gather_slices(const array& a, array& out, const std::vector<int64_t>& offsets,
                   const SliceWalk& walk) {
  const T* src = a.data<T>();
  T* dst = out.data<T>();
  const int64_t m = walk.elements;
  const size_t grain = std::max<size_t>(1, cpu::kElementwiseGrain / std::max<int64_t>(m, 1));
  cpu::parallel_for(offsets.size(), grain, [&](size_t b, size_t e) {
    for (size_t p = b; p < e; ++p) {
      const T* s = src + offsets[p];
      T* d = dst + p * m;
      if (m == 1) {
        *d = *s;
        continue;
      }
      walk.for_each_run([&](int64_t so, int64_t d_o, int64_t n, int64_t step) {
        if (step == 1) {
          std::memcpy(d + d_o, s + so, n * sizeof(T));
        } else {
          for (int64_t i = 0; i < n; ++i) d[d_o + i] = s[so + i * step];
        }
      });
    }
  });
}

// The combining step of each scatter reduction for element type T (half types through float).
template <typename T>
T combine(ScatterReduce r, T cur, T upd) {
  if constexpr (std::is_same_v<T, float16_t> || std::is_same_v<T, bfloat16_t>) {
    return T(combine<float>(r, static_cast<float>(cur), static_cast<float>(upd)));
  } else if constexpr (std::is_same_v<T, bool>) {
    switch (r) {
      case ScatterReduce::Add:
      case ScatterReduce::Max: return cur || upd;
      case ScatterReduce::Prod:
      case ScatterReduce::Min: return cur && upd;
      default: return upd;
    }
  } else {
    switch (r) {
      case ScatterReduce::Add: return cpu::wrapping_add(cur, upd);
      case ScatterReduce::Prod: return cpu::wrapping_mul(cur, upd);
      case ScatterReduce::Max:
        if constexpr (std::is_same_v<T, complex64_t>) {
          throw std::logic_error("complex64 reached scatter max");
        } else if constexpr (std::is_floating_point_v<T>) {
          return (upd > cur || std::isnan(upd)) ? upd : cur;  // NaN propagates
        } else {
          return upd > cur ? upd : cur;
        }
      case ScatterReduce::Min:
        if constexpr (std::is_same_v<T, complex64_t>) {
          throw std::logic_error("complex64 reached scatter min");
        } else if constexpr (std::is_floating_point_v<T>) {
          return (upd < cur || std::isnan(upd)) ? upd : cur;
        } else {
          return upd < cur ? upd : cur;
        }
      default: return upd;
    }
  }
}

// Applies the updates slice by slice in index order (later updates see earlier ones: the
// last assignment wins and reductions are deterministic). Large slices split across threads.
template <typename T>
void scatter_slices(array& out, const array& updates, const std::vector<int64_t>& offsets,
                    const SliceWalk& walk, ScatterReduce r) {
  T* dst = out.data<T>();
  const T* upd = updates.data<T>();
  const int64_t m = walk.elements;
  auto apply_run = [&](T* d, const T* u, int64_t n, int64_t step) {
    if (r == ScatterReduce::None) {
      if (step == 1) {
        std::memcpy(d, u, n * sizeof(T));
      } else {
        for (int64_t i = 0; i < n; ++i) d[i * step] = u[i];
      }
    } else {
      for (int64_t i = 0; i < n; ++i) d[i * step] = combine<T>(r, d[i * step], u[i]);
    }
  };
  for (size_t p = 0; p < offsets.size(); ++p) {
    T* d = dst + offsets[p];
    const T* u = upd + p * m;
    if (m == 1) {
      apply_run(d, u, 1, 1);
    } else if (static_cast<size_t>(m) >= 2 * cpu::kElementwiseGrain && walk.shape.size() == 1) {
      const int64_t step = walk.src.back();
      cpu::parallel_for(m, cpu::kElementwiseGrain, [&](size_t b, size_t e) {
        apply_run(d + b * step, u + b, static_cast<int64_t>(e - b), step);
      });
    } else {
      walk.for_each_run([&](int64_t so, int64_t d_o, int64_t n, int64_t step) {
        apply_run(d + so, u + d_o, n, step);
      });
    }
  }
}

template <typename F>
void dispatch_itemsize(size_t itemsize, F&& f) {
  switch (itemsize) {
    case 1: return f(uint8_t{});
    case 2: return f(uint16_t{});
    case 4: return f(uint32_t{});
    default: return f(uint64_t{});
  }
}

}  // namespace

void Gather::eval_cpu(const std::vector<array>& inputs, array& out) {
  out.set_data(std::make_shared<Data>(out.nbytes()));
  const array& a = inputs[0];
  std::vector<array> indices(inputs.begin() + 1, inputs.end());
  const Shape index_shape = index_shape_of(indices, a.shape(), batch_);
  auto offsets = slice_offsets("gather", a.shape(), a.strides(), indices, axes_, slice_sizes_,
                               batch_, index_shape);
  if (out.size() == 0) return;
  SliceWalk walk(slice_sizes_, Strides(a.strides().begin() + batch_, a.strides().end()));
  dispatch_itemsize(a.itemsize(), [&](auto tag) {
    gather_slices<decltype(tag)>(a, out, offsets, walk);
  });
}

void Scatter::eval_cpu(const std::vector<array>& inputs, array& out) {
  const array& a = inputs[0];
  array updates = inputs[1];
  std::vector<array> indices(inputs.begin() + 2, inputs.end());
  const Shape index_shape = index_shape_of(indices, a.shape(), batch_);
  const Shape slice_sizes(updates.shape().begin() + index_shape.size(), updates.shape().end());
  const Strides out_strides = row_major_strides(a.shape());
  // Every index is checked before the output is touched (it may be a's donated buffer).
  auto offsets = slice_offsets("scatter", a.shape(), out_strides, indices, axes_, slice_sizes,
                               batch_, index_shape);
  cpu::allocate_output({a}, out);  // only `a` may donate: the updates are read throughout
  if (out.data_shared_ptr() != a.data_shared_ptr()) cpu::copy_to_contiguous(a, out);
  if (offsets.empty() || updates.size() == 0) return;
  if (!updates.flags().row_contiguous) {
    array packed = array::empty(updates.shape(), updates.dtype());
    cpu::copy_to_contiguous(updates, packed);
    updates = packed;
  }
  SliceWalk walk(slice_sizes, Strides(out_strides.begin() + batch_, out_strides.end()));
  if (reduce_ == ScatterReduce::None) {
    return dispatch_itemsize(a.itemsize(), [&](auto tag) {
      scatter_slices<decltype(tag)>(out, updates, offsets, walk, reduce_);
    });
  }
  dispatch_dtype(a.dtype(), [&](auto tag) {
    scatter_slices<decltype(tag)>(out, updates, offsets, walk, reduce_);
  });
}

}  // namespace pullback
