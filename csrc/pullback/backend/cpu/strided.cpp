#include "pullback/backend/cpu/strided.h"

#include <cstring>

#include "pullback/backend/cpu/parallel.h"

namespace pullback::cpu {

void collapse_dims(Shape& shape, std::vector<Strides>& strides) {
  Shape ns;
  std::vector<Strides> nst(strides.size());
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 1) continue;
    bool merge = !ns.empty();
    for (size_t k = 0; merge && k < strides.size(); ++k) {
      merge = nst[k].back() == strides[k][d] * shape[d];
    }
    if (merge) {
      ns.back() *= shape[d];
      for (size_t k = 0; k < strides.size(); ++k) nst[k].back() = strides[k][d];
    } else {
      ns.push_back(shape[d]);
      for (size_t k = 0; k < strides.size(); ++k) nst[k].push_back(strides[k][d]);
    }
  }
  if (ns.empty()) {
    ns.push_back(1);
    for (auto& s : nst) s.push_back(1);
  }
  shape = std::move(ns);
  strides = std::move(nst);
}

int64_t offset_of(size_t i, const Shape& shape, const Strides& strides) {
  int64_t off = 0;
  for (int d = static_cast<int>(shape.size()) - 1; d >= 0 && i; --d) {
    off += static_cast<int64_t>(i % shape[d]) * strides[d];
    i /= shape[d];
  }
  return off;
}

namespace {
template <typename T>
void copy_rows(const T* src, const Strides& ss, T* dst, const Strides& ds, const Shape& shape) {
  const int64_t si = ss.back(), di = ds.back();
  for_each_row<2>(shape, {ss.data(), ds.data()},
                  [&](const std::array<int64_t, 2>& o, int64_t b, int64_t e) {
    const T* s = src + o[0];
    T* d = dst + o[1];
    if (si == 1 && di == 1) {
      std::memcpy(d + b, s + b, (e - b) * sizeof(T));
    } else {
      for (int64_t i = b; i < e; ++i) d[i * di] = s[i * si];
    }
  });
}
}  // namespace

void copy_strided(const void* src, const Strides& src_strides, void* dst, const Strides& dst_strides,
                  const Shape& shape_in, size_t itemsize) {
  if (shape_size(shape_in) == 0) return;
  Shape shape = shape_in;
  std::vector<Strides> st{src_strides, dst_strides};
  collapse_dims(shape, st);
  switch (itemsize) {
    case 1: return copy_rows(static_cast<const uint8_t*>(src), st[0], static_cast<uint8_t*>(dst), st[1], shape);
    case 2: return copy_rows(static_cast<const uint16_t*>(src), st[0], static_cast<uint16_t*>(dst), st[1], shape);
    case 4: return copy_rows(static_cast<const uint32_t*>(src), st[0], static_cast<uint32_t*>(dst), st[1], shape);
    default: return copy_rows(static_cast<const uint64_t*>(src), st[0], static_cast<uint64_t*>(dst), st[1], shape);
  }
}

void copy_to_contiguous(const array& in, array& out) {
  if (in.flags().row_contiguous) {
    std::memcpy(out.raw_data(), in.raw_data(), in.nbytes());
    return;
  }
  copy_strided(in.raw_data(), in.strides(), out.raw_data(), row_major_strides(in.shape()),
               in.shape(), in.itemsize());
}

namespace {
template <typename To, typename From>
To convert_one(From v) {
  if constexpr (std::is_same_v<To, From>) {
    return v;
  } else if constexpr (std::is_same_v<To, bool>) {
    // Any nonzero part is true: 1j and 1e-300 (which float32 would flush to 0) included.
    if constexpr (std::is_same_v<From, complex64_t>) return v.real() != 0.f || v.imag() != 0.f;
    else if constexpr (std::is_same_v<From, bfloat16_t> || std::is_same_v<From, float16_t>)
      return static_cast<float>(v) != 0.f;
    else return v != From(0);
  } else if constexpr (std::is_same_v<From, complex64_t>) {
    return convert_one<To>(v.real());
  } else if constexpr (std::is_same_v<To, complex64_t>) {
    return complex64_t(static_cast<float>(v), 0.f);
  } else if constexpr (std::is_same_v<From, bfloat16_t> || std::is_same_v<From, float16_t>) {
    return static_cast<To>(static_cast<float>(v));
  } else if constexpr (std::is_same_v<To, bfloat16_t> || std::is_same_v<To, float16_t>) {
    return To(static_cast<float>(v));
  } else {
    return static_cast<To>(v);
  }
}

// The contiguous loop over [b, e), through restrict pointers so that it vectorizes (an output
// that took over the input's buffer is read and written at the same index only). A bool is
// read as its byte: GCC does not vectorize a conversion from bool (astype(mask, float32), as
// in relu's backward, ran 3x slower).
template <typename To, typename From>
void convert_range(const From* __restrict src, To* __restrict dst, size_t b, size_t e) {
  if constexpr (std::is_same_v<From, bool> && std::is_arithmetic_v<To>) {
    const uint8_t* bytes = reinterpret_cast<const uint8_t*>(src);
    for (size_t i = b; i < e; ++i) dst[i] = static_cast<To>(bytes[i]);
  } else {
    for (size_t i = b; i < e; ++i) dst[i] = convert_one<To>(src[i]);
  }
}

template <typename To, typename From>
void convert_typed(const array& in, array& out) {
  const From* src = in.data<From>();
  To* dst = out.data<To>();
  if (in.flags().row_contiguous) {
    parallel_for(in.size(), kElementwiseGrain,
                 [=](size_t b, size_t e) { convert_range<To, From>(src, dst, b, e); });
    return;
  }
  Shape shape = in.shape();
  std::vector<Strides> st{in.strides(), row_major_strides(in.shape())};
  collapse_dims(shape, st);
  const int64_t si = st[0].back(), di = st[1].back();
  for_each_row<2>(shape, {st[0].data(), st[1].data()},
                  [&](const std::array<int64_t, 2>& o, int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) dst[o[1] + i * di] = convert_one<To>(src[o[0] + i * si]);
  });
}
}  // namespace

void convert(const array& in, array& out) {
  if (in.size() == 0) return;
  dispatch_dtype(out.dtype(), [&](auto to) {
    dispatch_dtype(in.dtype(), [&](auto from) {
      convert_typed<decltype(to), decltype(from)>(in, out);
    });
  });
}

}  // namespace pullback::cpu

namespace pullback::cpu {
void allocate_output(const std::vector<array>& inputs, array& out) {
  for (auto& in : inputs) {
    if (in.itemsize() == out.itemsize() && in.size() == out.size() && in.data_size() == in.size() &&
        in.is_donatable()) {
      out.copy_shared_buffer(in, row_major_strides(out.shape()), ArrayFlags{}, out.size());
      return;
    }
  }
  out.set_data(std::make_shared<Data>(out.nbytes()));
}
}  // namespace pullback::cpu
