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
    if (a.size() > 0) copy_parallel(a, out);
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
