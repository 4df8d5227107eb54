// CPU kernels of Gather and Scatter (semantics in primitives/indexing.h).
//
// Both first turn the index arrays into one operand offset per index position (validating
// every index before anything is written), then move whole slices. Gather copies bytes, so it
// has one instance per element size; scatter's reductions are typed.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
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

[[noreturn]] void index_out_of_range(const char* op, int64_t raw, bool unsigned64, int64_t slice,
                                    int axis, int64_t dim) {
  std::string shown = unsigned64 ? std::to_string(static_cast<uint64_t>(raw)) : std::to_string(raw);
  std::string what = slice == 1 ? "Index " + shown + " is out of bounds"
                                : "A slice of size " + std::to_string(slice) + " starting at index " +
                                      shown + " does not fit";
  throw std::out_of_range(std::string("[") + op + "] " + what + " for axis " +
                          std::to_string(axis) + " with size " + std::to_string(dim) + ".");
}

// Adds start * stride to offsets[0, n) (or, with `assign`, stores it there) for the starts
// idx[0, n) of integer type I, checking each (negative starts count from the end of the axis).
template <typename I>
void add_starts(const I* idx, size_t n, int64_t* offsets, bool assign, int64_t dim, int64_t limit,
                int64_t stride, const char* op, int64_t slice, int axis) {
  for (size_t p = 0; p < n; ++p) {
    int64_t x = static_cast<int64_t>(idx[p]);
    if constexpr (std::is_signed_v<I>) {
      if (x < 0) x += dim;
    } else if constexpr (sizeof(I) == 8) {
      if (x < 0) index_out_of_range(op, x, true, slice, axis, dim);  // beyond int64
    }
    if (x < 0 || x > limit) index_out_of_range(op, static_cast<int64_t>(idx[p]), false, slice, axis, dim);
    offsets[p] = (assign ? 0 : offsets[p]) + x * stride;
  }
}

// The operand offset (in elements, with `strides`) of the slice that each index position
// starts, row-major over the index shape, computed a block of positions at a time (a block
// of offsets stays in L1; a whole array of them would be a second pass over memory). Throws
// std::out_of_range naming `op` for an index whose slice leaves its axis.
class SliceOffsets {
 public:
  static constexpr size_t kBlock = 1024;

  SliceOffsets(const char* op, const Shape& operand_shape, const Strides& strides,
               const std::vector<array>& indices, const std::vector<int>& axes,
               const Shape& slice_sizes, int batch, const Shape& index_shape)
      : op_(op), shape_(operand_shape), strides_(strides), axes_(axes), slices_(slice_sizes),
        batch_(batch), positions_(shape_size(index_shape)) {
    // Row-contiguous index arrays are read in place; others (broadcast, strided) packed first.
    for (const array& idx : indices) {
      if (idx.flags().row_contiguous) {
        indices_.push_back(idx);
      } else {
        array packed = array::empty(idx.shape(), idx.dtype());
        cpu::copy_to_contiguous(idx, packed);
        indices_.push_back(packed);
      }
    }
    batch_shape_.assign(shape_.begin(), shape_.begin() + batch);
    batch_strides_.assign(strides_.begin(), strides_.begin() + batch);
    if (batch > 0) inner_ = shape_size(Shape(index_shape.begin() + batch, index_shape.end()));
  }

  size_t positions() const { return positions_; }

  // off[0, e - b) = the offsets of positions [b, e), e - b <= kBlock.
  void fill(size_t b, size_t e, int64_t* off) const {
    // Without batch axes the first index array stores the offsets rather than adding to zeros.
    if (batch_ == 0) {
      if (indices_.empty()) std::fill(off, off + (e - b), int64_t(0));
    } else {  // the batch entry changes every inner_ positions
      size_t q = b / inner_, r = b % inner_;
      int64_t base = cpu::offset_of(q, batch_shape_, batch_strides_);
      for (size_t p = b; p < e; ++p) {
        off[p - b] = base;
        if (++r == inner_) {
          r = 0;
          base = cpu::offset_of(++q, batch_shape_, batch_strides_);
        }
      }
    }
    for (size_t j = 0; j < indices_.size(); ++j) {
      const int axis = axes_[j];
      const int64_t dim = shape_[axis];
      const int64_t slice = slices_[axis - batch_];
      dispatch_dtype(indices_[j].dtype(), [&](auto tag) {
        using I = decltype(tag);
        if constexpr (std::is_integral_v<I> && !std::is_same_v<I, bool>) {
          add_starts(indices_[j].data<I>() + b, e - b, off, batch_ == 0 && j == 0, dim, dim - slice,
                     strides_[axis], op_, slice, axis);
        } else {
          throw std::logic_error("a non-integer index array reached a gather or scatter kernel");
        }
      });
    }
  }

 private:
  const char* op_;
  Shape shape_;
  Strides strides_;
  std::vector<int> axes_;
  Shape slices_;
  int batch_;
  size_t positions_;
  std::vector<array> indices_;
  Shape batch_shape_;
  Strides batch_strides_;
  size_t inner_ = 1;
};

Shape index_shape_of(const std::vector<array>& indices, const Shape& operand_shape, int batch) {
  if (!indices.empty()) return indices[0].shape();
  return Shape(operand_shape.begin(), operand_shape.begin() + batch);
}

template <typename T>
void gather_slices(const array& a, array& out, const SliceOffsets& offsets, const SliceWalk& walk) {
  const T* src = a.data<T>();
  T* dst = out.data<T>();
  const int64_t m = walk.elements;
  const size_t grain = std::max<size_t>(SliceOffsets::kBlock,
                                        cpu::kElementwiseGrain / std::max<int64_t>(m, 1));
  cpu::parallel_for(offsets.positions(), grain, [&](size_t b, size_t e) {
    int64_t off[SliceOffsets::kBlock];
    for (size_t cb = b; cb < e; cb += SliceOffsets::kBlock) {
      const size_t ce = std::min(e, cb + SliceOffsets::kBlock);
      offsets.fill(cb, ce, off);
      if (m == 1) {
        for (size_t p = cb; p < ce; ++p) dst[p] = src[off[p - cb]];
        continue;
      }
      for (size_t p = cb; p < ce; ++p) {
        const T* s = src + off[p - cb];
        T* d = dst + p * m;
        walk.for_each_run([&](int64_t so, int64_t d_o, int64_t n, int64_t step) {
          if (step == 1) {
            std::memcpy(d + d_o, s + so, n * sizeof(T));
          } else {
            for (int64_t i = 0; i < n; ++i) d[d_o + i] = s[so + i * step];
          }
        });
      }
    }
  });
}

// The combining step of scatter reduction R for element type T (half types through float).
template <ScatterReduce R, typename T>
T combine(T cur, T upd) {
  if constexpr (std::is_same_v<T, float16_t> || std::is_same_v<T, bfloat16_t>) {
    return T(combine<R, float>(static_cast<float>(cur), static_cast<float>(upd)));
  } else if constexpr (R == ScatterReduce::None) {
    return upd;
  } else if constexpr (std::is_same_v<T, bool>) {
    return (R == ScatterReduce::Add || R == ScatterReduce::Max) ? (cur || upd) : (cur && upd);
  } else if constexpr (R == ScatterReduce::Add) {
    return cpu::wrapping_add(cur, upd);
  } else if constexpr (R == ScatterReduce::Prod) {
    return cpu::wrapping_mul(cur, upd);
  } else if constexpr (std::is_same_v<T, complex64_t>) {
    throw std::logic_error("complex64 reached scatter max or min");  // rejected by the op
  } else if constexpr (R == ScatterReduce::Max) {
    if constexpr (std::is_floating_point_v<T>) return (upd > cur || std::isnan(upd)) ? upd : cur;
    else return upd > cur ? upd : cur;
  } else {
    if constexpr (std::is_floating_point_v<T>) return (upd < cur || std::isnan(upd)) ? upd : cur;
    else return upd < cur ? upd : cur;
  }
}

// The value a private accumulator of reduction R starts from: combining it changes nothing.
template <ScatterReduce R, typename T>
T reduce_identity() {
  if constexpr (std::is_same_v<T, bool>) {
    return R == ScatterReduce::Prod || R == ScatterReduce::Min;
  } else if constexpr (R == ScatterReduce::Add) {
    return T(0);
  } else if constexpr (R == ScatterReduce::Prod) {
    return T(1);
  } else if constexpr (std::is_integral_v<T>) {
    return R == ScatterReduce::Max ? std::numeric_limits<T>::lowest() : std::numeric_limits<T>::max();
  } else {  // floating types, half types through float
    const float inf = std::numeric_limits<float>::infinity();
    return T(R == ScatterReduce::Max ? -inf : inf);
  }
}

// Positions per block of a privatised scatter, and the most blocks one gets.
constexpr size_t kPrivateBlockPositions = size_t(1) << 17;
constexpr size_t kMaxPrivateBlocks = 8;

// A scatter reduction of single elements (slice size 1) whose output is small next to its
// updates, spread over threads: the positions are cut into blocks, block 0 reduces into the
// output and each other block into a private copy that starts at the identity; the copies are
// then combined into the output in block order. The number of blocks depends on the sizes only,
// never on the threads, so float results are the same on every machine and every run (they
// may differ from a one-by-one reduction in the last bits, as any reordered float sum does).
// Returns false, doing nothing, when the output is too large for copies to pay.
template <ScatterReduce R, typename T>
bool scatter_elements_privately(T* dst, const T* upd, const SliceOffsets& offsets,
                                size_t out_size) {
  const size_t n = offsets.positions();
  size_t blocks = std::min(kMaxPrivateBlocks, n / kPrivateBlockPositions);
  // The copies cost (blocks - 1) * out_size to fill and combine: keep that under n / 4.
  while (blocks >= 2 && (blocks - 1) * out_size > n / 4) --blocks;
  if (blocks < 2) return false;
  const size_t per_block = (n + blocks - 1) / blocks;
  std::unique_ptr<T[]> copies(new T[(blocks - 1) * out_size]);
  cpu::parallel_for(blocks, 1, [&](size_t bb, size_t be) {
    int64_t off[SliceOffsets::kBlock];
    for (size_t blk = bb; blk < be; ++blk) {
      T* acc = dst;
      if (blk > 0) {
        acc = copies.get() + (blk - 1) * out_size;
        std::fill(acc, acc + out_size, reduce_identity<R, T>());
      }
      const size_t end = std::min(n, (blk + 1) * per_block);
      for (size_t cb = blk * per_block; cb < end; cb += SliceOffsets::kBlock) {
        const size_t ce = std::min(end, cb + SliceOffsets::kBlock);
        offsets.fill(cb, ce, off);
        for (size_t p = cb; p < ce; ++p) acc[off[p - cb]] = combine<R>(acc[off[p - cb]], upd[p]);
      }
    }
  });
  cpu::parallel_for(out_size, cpu::kElementwiseGrain, [&](size_t b, size_t e) {
    for (size_t blk = 1; blk < blocks; ++blk) {
      const T* c = copies.get() + (blk - 1) * out_size;
      for (size_t i = b; i < e; ++i) dst[i] = combine<R>(dst[i], c[i]);
    }
  });
  return true;
}

// Applies the updates slice by slice in index order (later updates see earlier ones: the
// last assignment wins and reductions are deterministic). Large slices split across threads;
// reductions of single elements into a small output go to scatter_elements_privately.
// An out-of-range index stops the kernel part way; the output is then discarded (run_node
// resets it), and `a` was either copied or donated, so nobody sees a partial update.
template <ScatterReduce R, typename T>
void scatter_slices(array& out, const array& updates, const SliceOffsets& offsets,
                    const SliceWalk& walk) {
  T* dst = out.data<T>();
  const T* upd = updates.data<T>();
  const int64_t m = walk.elements;
  auto apply_run = [&](T* d, const T* u, int64_t n, int64_t step) {
    if (R == ScatterReduce::None && step == 1) {
      std::memcpy(d, u, n * sizeof(T));
    } else {
      for (int64_t i = 0; i < n; ++i) d[i * step] = combine<R>(d[i * step], u[i]);
    }
  };
  if constexpr (R != ScatterReduce::None) {
    if (m == 1 && scatter_elements_privately<R, T>(dst, upd, offsets, out.size())) return;
  }
  int64_t off[SliceOffsets::kBlock];
  for (size_t cb = 0; cb < offsets.positions(); cb += SliceOffsets::kBlock) {
    const size_t ce = std::min(offsets.positions(), cb + SliceOffsets::kBlock);
    offsets.fill(cb, ce, off);
    if (m == 1) {  // one element per index position: the common case, kept tight
      for (size_t p = cb; p < ce; ++p) dst[off[p - cb]] = combine<R>(dst[off[p - cb]], upd[p]);
      continue;
    }
    for (size_t p = cb; p < ce; ++p) {
      T* d = dst + off[p - cb];
      const T* u = upd + p * m;
      if (static_cast<size_t>(m) >= 2 * cpu::kElementwiseGrain && walk.shape.size() == 1) {
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
}

template <typename T>
void scatter_typed(ScatterReduce r, array& out, const array& updates, const SliceOffsets& offsets,
                   const SliceWalk& walk) {
  switch (r) {
    case ScatterReduce::None: return scatter_slices<ScatterReduce::None, T>(out, updates, offsets, walk);
    case ScatterReduce::Add: return scatter_slices<ScatterReduce::Add, T>(out, updates, offsets, walk);
    case ScatterReduce::Prod: return scatter_slices<ScatterReduce::Prod, T>(out, updates, offsets, walk);
    case ScatterReduce::Max: return scatter_slices<ScatterReduce::Max, T>(out, updates, offsets, walk);
    case ScatterReduce::Min: return scatter_slices<ScatterReduce::Min, T>(out, updates, offsets, walk);
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
  SliceOffsets offsets("gather", a.shape(), a.strides(), indices, axes_, slice_sizes_, batch_,
                       index_shape);
  SliceWalk walk(slice_sizes_, Strides(a.strides().begin() + batch_, a.strides().end()));
  if (walk.elements == 0) {  // nothing to copy, but every index is still checked
    int64_t off[SliceOffsets::kBlock];
    for (size_t b = 0; b < offsets.positions(); b += SliceOffsets::kBlock) {
      offsets.fill(b, std::min(offsets.positions(), b + SliceOffsets::kBlock), off);
    }
    return;
  }
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
  SliceOffsets offsets("scatter", a.shape(), out_strides, indices, axes_, slice_sizes, batch_,
                       index_shape);
  cpu::allocate_output({a}, out);  // only `a` may donate: the updates are read throughout
  if (out.data_shared_ptr() != a.data_shared_ptr()) cpu::copy_to_contiguous(a, out);
  if (!updates.flags().row_contiguous) {
    array packed = array::empty(updates.shape(), updates.dtype());
    cpu::copy_to_contiguous(updates, packed);
    updates = packed;
  }
  SliceWalk walk(slice_sizes, Strides(out_strides.begin() + batch_, out_strides.end()));
  if (reduce_ == ScatterReduce::None) {  // assignment moves bytes: one instance per size
    return dispatch_itemsize(a.itemsize(), [&](auto tag) {
      scatter_slices<ScatterReduce::None, decltype(tag)>(out, updates, offsets, walk);
    });
  }
  dispatch_dtype(a.dtype(), [&](auto tag) {
    scatter_typed<decltype(tag)>(reduce_, out, updates, offsets, walk);
  });
}

namespace {

// Elements of a mask per counting/writing block: fixed, so the work split never depends on
// the number of threads.
constexpr size_t kMaskBlock = size_t(1) << 16;

// Writes the row-major positions of the nonzero bytes of mask[0, n) into the k index arrays
// `out` (axis d of `shape`), in two parallel passes: count per block, then write each block
// from its prefix offset.
template <typename I>
void write_true_positions(const uint8_t* mask, size_t n, const Shape& shape, std::vector<array>& out,
                          const std::vector<size_t>& block_start) {
  const int k = static_cast<int>(shape.size());
  const Strides strides = row_major_strides(shape);
  std::vector<I*> dst(k);
  for (int d = 0; d < k; ++d) dst[d] = out[d].data<I>();
  const size_t blocks = block_start.size() - 1;
  cpu::parallel_for(blocks, 1, [&](size_t bb, size_t be) {
    constexpr size_t kRun = 1024;
    int64_t flat[kRun + 1];  // branch-free appends may write one past the run's last hit
    for (size_t blk = bb; blk < be; ++blk) {
      size_t w = block_start[blk];
      const size_t end = std::min(n, (blk + 1) * kMaskBlock);
      for (size_t r = blk * kMaskBlock; r < end; r += kRun) {
        const size_t re = std::min(end, r + kRun);
        size_t hits = 0;
        for (size_t i = r; i < re; ++i) {
          flat[hits] = static_cast<int64_t>(i);
          hits += mask[i] != 0;
        }
        if (k == 1) {
          for (size_t h = 0; h < hits; ++h) dst[0][w + h] = static_cast<I>(flat[h]);
        } else {
          for (size_t h = 0; h < hits; ++h) {
            int64_t rem = flat[h];
            for (int d = 0; d < k; ++d) {
              dst[d][w + h] = static_cast<I>(rem / strides[d]);
              rem %= strides[d];
            }
          }
        }
        w += hits;
      }
    }
  });
}

}  // namespace

std::vector<array> true_positions(const array& evaluated_mask) {
  array m = evaluated_mask;
  if (!m.flags().row_contiguous) {
    array packed = array::empty(m.shape(), m.dtype());
    cpu::copy_to_contiguous(m, packed);
    m = packed;
  }
  const size_t n = m.size();
  const uint8_t* mask = n ? static_cast<const uint8_t*>(m.raw_data()) : nullptr;
  const size_t blocks = (n + kMaskBlock - 1) / kMaskBlock;
  std::vector<size_t> block_start(blocks + 1, 0);
  cpu::parallel_for(blocks, 1, [&](size_t bb, size_t be) {
    for (size_t blk = bb; blk < be; ++blk) {
      const size_t end = std::min(n, (blk + 1) * kMaskBlock);
      size_t c = 0;
      for (size_t i = blk * kMaskBlock; i < end; ++i) c += mask[i] != 0;
      block_start[blk + 1] = c;
    }
  });
  for (size_t blk = 0; blk < blocks; ++blk) block_start[blk + 1] += block_start[blk];
  const int64_t total = static_cast<int64_t>(block_start[blocks]);
  const Dtype dtype = n <= static_cast<size_t>(INT32_MAX) ? Dtype::int32 : Dtype::int64;
  std::vector<array> out;
  for (int d = 0; d < m.ndim(); ++d) out.push_back(array::empty({total}, dtype));
  if (total == 0) return out;
  if (dtype == Dtype::int32) {
    write_true_positions<int32_t>(mask, n, m.shape(), out, block_start);
  } else {
    write_true_positions<int64_t>(mask, n, m.shape(), out, block_start);
  }
  return out;
}

}  // namespace pullback
