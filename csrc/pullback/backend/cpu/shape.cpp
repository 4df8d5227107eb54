// CPU kernels of the shape family. Broadcast, Transpose and Slice are always views;
// Reshape is a view whenever the input's strides can describe the new shape.
#include <algorithm>
#include <cstring>
#include <utility>

#include "pullback/backend/cpu/parallel.h"
#include "pullback/backend/cpu/strided.h"
#include "pullback/primitives/shape.h"

namespace pullback {

namespace {

// Layout flags of a view, derived from its strides. Size-1 axes never break contiguity.
ArrayFlags view_flags(const Shape& shape, const Strides& strides, size_t data_size) {
  size_t size = shape_size(shape);
  if (size == 0) return ArrayFlags{true, true, true};
  const int nd = static_cast<int>(shape.size());
  ArrayFlags f;
  int64_t expected = 1;
  for (int d = nd - 1; d >= 0; --d) {
    if (shape[d] == 1) continue;
    f.row_contiguous = f.row_contiguous && strides[d] == expected;
    expected *= shape[d];
  }
  expected = 1;
  for (int d = 0; d < nd; ++d) {
    if (shape[d] == 1) continue;
    f.col_contiguous = f.col_contiguous && strides[d] == expected;
    expected *= shape[d];
  }
  if (f.row_contiguous || f.col_contiguous) {
    f.contiguous = true;
  } else if (data_size != size) {
    f.contiguous = false;
  } else {
    // Dense in some permuted order: sorted by stride, each stride is the product below it.
    std::vector<std::pair<int64_t, int64_t>> axes;  // (stride, extent)
    for (int d = 0; d < nd; ++d) {
      if (shape[d] != 1) axes.emplace_back(strides[d], shape[d]);
    }
    std::sort(axes.begin(), axes.end());
    expected = 1;
    f.contiguous = true;
    for (auto& [st, n] : axes) {
      f.contiguous = f.contiguous && st == expected;
      expected *= n;
    }
  }
  return f;
}

// Elements reachable forward from the view's first element.
size_t view_span(const Shape& shape, const Strides& strides) {
  if (shape_size(shape) == 0) return 0;
  // Negative strides reach elements before the view's start; they count toward the span too.
  int64_t extent = 0;
  for (size_t d = 0; d < shape.size(); ++d) {
    extent += (shape[d] - 1) * (strides[d] < 0 ? -strides[d] : strides[d]);
  }
  return static_cast<size_t>(extent + 1);
}

// Strides that let `new_shape` walk the same elements as (old_shape, old_strides) in row-major
// order, when they exist: every run of old axes merged into new axes must be contiguous with
// itself. Returns false when a copy is needed.
bool reshape_strides(const Shape& old_shape, const Strides& old_strides, const Shape& new_shape,
                     Strides& new_strides) {
  Shape od;
  Strides os;
  for (size_t d = 0; d < old_shape.size(); ++d) {
    if (old_shape[d] != 1) {
      od.push_back(old_shape[d]);
      os.push_back(old_strides[d]);
    }
  }
  const size_t on = od.size(), nn = new_shape.size();
  new_strides.assign(nn, 0);
  size_t oi = 0, oj = 1, ni = 0, nj = 1;
  while (ni < nn && oi < on) {
    int64_t np = new_shape[ni], op = od[oi];
    while (np != op) {
      if (np < op) {
        if (nj >= nn) return false;
        np *= new_shape[nj++];
      } else {
        if (oj >= on) return false;
        op *= od[oj++];
      }
    }
    for (size_t k = oi; k + 1 < oj; ++k) {
      if (os[k] != od[k + 1] * os[k + 1]) return false;
    }
    new_strides[nj - 1] = os[oj - 1];
    for (size_t k = nj - 1; k > ni; --k) new_strides[k - 1] = new_strides[k] * new_shape[k];
    ni = nj++;
    oi = oj++;
  }
  // Trailing size-1 axes: any stride works; use a row-major one.
  for (size_t k = ni; k < nn; ++k) new_strides[k] = 1;
  // Leading or interior size-1 axes that the walk skipped keep a harmless row-major value.
  for (size_t k = 0; k < nn; ++k) {
    if (new_shape[k] == 1 && new_strides[k] == 0) {
      new_strides[k] = k + 1 < nn ? new_strides[k + 1] * new_shape[k + 1] : 1;
    }
  }
  return true;
}

void copy_parallel(const array& in, array& out) {
  // Rows of the leading axis are independent; split them when the copy is large.
  const size_t n = in.size();
  if (n < 2 * cpu::kElementwiseGrain || in.ndim() == 0 || in.shape(0) < 2) {
    cpu::copy_to_contiguous(in, out);
    return;
  }
  if (in.flags().row_contiguous) {
    const size_t isz = in.itemsize();
    const char* src = static_cast<const char*>(in.raw_data());
    char* dst = static_cast<char*>(out.raw_data());
    cpu::parallel_for(n, cpu::kElementwiseGrain, [&](size_t b, size_t e) {
      std::memcpy(dst + b * isz, src + b * isz, (e - b) * isz);
    });
    return;
  }
  const int64_t rows = in.shape(0);
  const size_t row_elems = n / rows;
  Shape sub(in.shape().begin() + 1, in.shape().end());
  Strides sub_src(in.strides().begin() + 1, in.strides().end());
  Strides sub_dst = row_major_strides(sub);
  const size_t isz = in.itemsize();
  const size_t grain = std::max<size_t>(1, cpu::kElementwiseGrain / std::max<size_t>(1, row_elems));
  cpu::parallel_for(static_cast<size_t>(rows), grain, [&](size_t b, size_t e) {
    for (size_t r = b; r < e; ++r) {
      const char* src = static_cast<const char*>(in.raw_data()) +
                        static_cast<int64_t>(r) * in.strides()[0] * static_cast<int64_t>(isz);
      char* dst = static_cast<char*>(out.raw_data()) + r * row_elems * isz;
      cpu::copy_strided(src, sub_src, dst, sub_dst, sub, isz);
    }
  });
}

// Element copies along one row: `n` elements from `src` (element stride `step`, 0 for a
// broadcast value) to the contiguous `dst`.
template <typename T>
void copy_run(const T* src, int64_t step, T* dst, int64_t n) {
  if (step == 1) {
    std::memcpy(dst, src, n * sizeof(T));
  } else if (step == 0) {
    std::fill(dst, dst + n, *src);
  } else {
    for (int64_t i = 0; i < n; ++i) dst[i] = src[i * step];
  }
}

// out = a with the box [start, start + update.shape()) replaced by `update`, writing each
// output element once: every row of out's last axis takes `a` outside the box and `update`
// inside it. Far cheaper than copying all of `a` and then the box when `a` is a broadcast
// fill (pad) or the box is most of the array.
template <typename T>
void update_box_once(const array& a, const array& update, const Shape& start, array& out) {
  const int nd = out.ndim();
  const int64_t len = out.shape().back();
  const int64_t box_lo = start.back(), box_n = update.shape().back();
  size_t rows = 1;
  for (int d = 0; d + 1 < nd; ++d) rows *= static_cast<size_t>(out.shape()[d]);
  const T* src = a.data<T>();
  const T* upd = update.data<T>();
  T* dst = out.data<T>();
  const int64_t sa = a.strides().back(), su = update.strides().back();
  const size_t grain = std::max<size_t>(1, cpu::kElementwiseGrain / static_cast<size_t>(len));
  cpu::parallel_for(rows, grain, [&](size_t rb, size_t re) {
    std::vector<int64_t> idx(nd - 1);
    size_t r = rb;
    for (int d = nd - 2; d >= 0; --d) {
      idx[d] = static_cast<int64_t>(r % static_cast<size_t>(out.shape()[d]));
      r /= static_cast<size_t>(out.shape()[d]);
    }
    for (size_t row = rb; row < re; ++row) {
      int64_t ao = 0, uo = 0;
      bool inside = true;
      for (int d = 0; d + 1 < nd; ++d) {
        ao += idx[d] * a.strides()[d];
        const int64_t rel = idx[d] - start[d];
        inside = inside && rel >= 0 && rel < update.shape()[d];
        uo += rel * update.strides()[d];
      }
      T* o = dst + static_cast<int64_t>(row) * len;
      if (!inside) {
        copy_run(src + ao, sa, o, len);
      } else {
        copy_run(src + ao, sa, o, box_lo);
        copy_run(upd + uo, su, o + box_lo, box_n);
        const int64_t hi = box_lo + box_n;
        copy_run(src + ao + hi * sa, sa, o + hi, len - hi);
      }
      for (int d = nd - 2; d >= 0; --d) {
        if (++idx[d] < out.shape()[d]) break;
        idx[d] = 0;
      }
    }
  });
}

}  // namespace

void Broadcast::eval_cpu(const std::vector<array>& inputs, array& out) {
  const array& in = inputs[0];
  const int diff = out.ndim() - in.ndim();
  Strides st(out.ndim(), 0);
  for (int d = 0; d < in.ndim(); ++d) {
    st[d + diff] = (in.shape()[d] == 1 && out.shape()[d + diff] != 1) ? 0 : in.strides()[d];
  }
  size_t data_size = in.data_size();
  out.copy_shared_buffer(in, st, view_flags(out.shape(), st, data_size), data_size);
}

void Reshape::eval_cpu(const std::vector<array>& inputs, array& out) {
  const array& in = inputs[0];
  Strides st;
  if (in.size() > 0 && reshape_strides(in.shape(), in.strides(), out.shape(), st)) {
    size_t data_size = in.data_size();
    out.copy_shared_buffer(in, st, view_flags(out.shape(), st, data_size), data_size);
    return;
  }
  out.set_data(std::make_shared<Data>(out.nbytes()));
  if (in.size() > 0) copy_parallel(in, out);
}

void Transpose::eval_cpu(const std::vector<array>& inputs, array& out) {
  const array& in = inputs[0];
  Strides st(perm_.size());
  for (size_t i = 0; i < perm_.size(); ++i) st[i] = in.strides()[perm_[i]];
  size_t data_size = in.data_size();
  out.copy_shared_buffer(in, st, view_flags(out.shape(), st, data_size), data_size);
}

void Slice::eval_cpu(const std::vector<array>& inputs, array& out) {
  const array& in = inputs[0];
  Strides st(in.ndim());
  int64_t offset = 0;
  for (int d = 0; d < in.ndim(); ++d) {
    st[d] = in.strides()[d] * strides_[d];
    if (out.size() > 0) offset += start_[d] * in.strides()[d];
  }
  size_t data_size = view_span(out.shape(), st);
  out.copy_shared_buffer(in, st, view_flags(out.shape(), st, data_size), data_size, offset);
}

void SliceUpdate::eval_cpu(const std::vector<array>& inputs, array& out) {
  const array& a = inputs[0];
  const array& update = inputs[1];
  if (a.is_donatable() && a.nbytes() == out.nbytes()) {
    out.copy_shared_buffer(a);
  } else {
    out.set_data(std::make_shared<Data>(out.nbytes()));
    if (a.size() == 0) return;
    const bool unit_steps = std::all_of(strides_.begin(), strides_.end(), [](int64_t v) { return v == 1; });
    // Rows long enough that a row's bookkeeping is small next to its copies.
    if (unit_steps && update.size() > 0 && out.ndim() > 0 && out.shape().back() >= 16) {
      switch (out.itemsize()) {
        case 1: return update_box_once<uint8_t>(a, update, start_, out);
        case 2: return update_box_once<uint16_t>(a, update, start_, out);
        case 4: return update_box_once<uint32_t>(a, update, start_, out);
        default: return update_box_once<uint64_t>(a, update, start_, out);
      }
    }
    copy_parallel(a, out);
  }
  if (update.size() == 0) return;
  Strides ost = row_major_strides(out.shape());
  Strides region(out.ndim());
  int64_t offset = 0;
  for (int d = 0; d < out.ndim(); ++d) {
    offset += start_[d] * ost[d];
    region[d] = ost[d] * strides_[d];
  }
  char* dst = static_cast<char*>(out.raw_data()) + offset * static_cast<int64_t>(out.itemsize());
  cpu::copy_strided(update.raw_data(), update.strides(), dst, region, update.shape(),
                    out.itemsize());
}

void Concatenate::eval_cpu(const std::vector<array>& inputs, array& out) {
  out.set_data(std::make_shared<Data>(out.nbytes()));
  if (out.size() == 0) return;
  const Strides ost = row_major_strides(out.shape());
  const size_t isz = out.itemsize();
  std::vector<int64_t> offsets(inputs.size());
  int64_t k = 0;
  for (size_t i = 0; i < inputs.size(); ++i) {
    offsets[i] = k;
    k += inputs[i].shape()[axis_];
  }
  // Row-contiguous inputs with several rows before the axis: each thread writes whole output
  // rows (every input's piece of the row in turn), one contiguous stretch of memory, rather
  // than every thread writing a strided part of each row.
  const size_t outer = shape_size(Shape(out.shape().begin(), out.shape().begin() + axis_));
  const bool all_rows = std::all_of(inputs.begin(), inputs.end(),
                                    [](const array& in) { return in.flags().row_contiguous; });
  if (outer >= 2 && all_rows) {
    const size_t row_bytes = static_cast<size_t>(ost[axis_] * out.shape()[axis_]) * isz;
    const size_t row_elems = row_bytes / isz;
    std::vector<size_t> piece(inputs.size());  // bytes of input i in one output row
    for (size_t i = 0; i < inputs.size(); ++i) piece[i] = inputs[i].nbytes() / outer;
    char* dst = static_cast<char*>(out.raw_data());
    cpu::parallel_for(outer, std::max<size_t>(1, cpu::kElementwiseGrain / std::max<size_t>(row_elems, 1)),
                      [&](size_t b, size_t e) {
      for (size_t r = b; r < e; ++r) {
        char* o = dst + r * row_bytes;
        for (size_t i = 0; i < inputs.size(); ++i) {
          if (piece[i] == 0) continue;
          std::memcpy(o, static_cast<const char*>(inputs[i].raw_data()) + r * piece[i], piece[i]);
          o += piece[i];
        }
      }
    });
    return;
  }
  auto copy_one = [&](size_t i) {
    const array& in = inputs[i];
    if (in.size() == 0) return;
    char* dst = static_cast<char*>(out.raw_data()) + offsets[i] * ost[axis_] * static_cast<int64_t>(isz);
    cpu::copy_strided(in.raw_data(), in.strides(), dst, ost, in.shape(), isz);
  };
  if (out.size() < 2 * cpu::kElementwiseGrain) {
    for (size_t i = 0; i < inputs.size(); ++i) copy_one(i);
  } else {
    cpu::parallel_for(inputs.size(), 1, [&](size_t b, size_t e) {
      for (size_t i = b; i < e; ++i) copy_one(i);
    });
  }
}

}  // namespace pullback
