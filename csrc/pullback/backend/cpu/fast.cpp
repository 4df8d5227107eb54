// CPU kernels of the mx.fast primitives: RMSNorm, LayerNorm, RoPE.
//
// Each views its input as rows of the last axis (a row-contiguous copy is made first for any
// other layout) and treats one row per step: the row is read once for its statistics while it
// sits in L1, then once more to write the output, where the unfused graph streams the whole
// array through memory for every op. Rows are split over threads with parallel_for.
// float16/bfloat16 compute in float32; float64 in double.
//
// NormVJP (the norms' backward) reads x and g once from memory: per row, the statistics are
// recomputed while g is read (the row is then in L1, so this costs less than saving them in the
// forward and reading them back), and dx is written in one more pass over the cached row.
// dw/db are summed per block of norm_sum_rows(D) rows, a size fixed by D alone, then the blocks
// in order, so the result is the same for any thread count.
#include <algorithm>
#include <cmath>
#include <memory>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "pullback/backend/cpu/parallel.h"
#include "pullback/backend/cpu/simd_math.h"
#include "pullback/backend/cpu/strided.h"
#include "pullback/primitives/fast.h"

namespace pullback {
namespace {

template <typename T>
using Acc = std::conditional_t<std::is_same_v<T, double>, double, float>;

template <typename T>
constexpr bool is_float_type = std::is_same_v<T, float> || std::is_same_v<T, double> ||
                               std::is_same_v<T, float16_t> || std::is_same_v<T, bfloat16_t>;

// `a` itself when row-contiguous, else a row-contiguous copy.
array row_major(const array& a) {
  if (a.flags().row_contiguous) return a;
  array c = array::empty(a.shape(), a.dtype());
  c.set_data(std::make_shared<Data>(a.nbytes()));
  cpu::copy_to_contiguous(a, c);
  return c;
}

// Output storage: the input's buffer when it may be reused in place, else a fresh one.
void allocate_output(const array& in, array& out) {
  if (in.is_donatable() && in.flags().row_contiguous && in.data_size() == in.size() &&
      in.dtype() == out.dtype()) {
    out.copy_shared_buffer(in, in.strides(), in.flags(), in.data_size());
  } else {
    out.set_data(std::make_shared<Data>(out.nbytes()));
  }
}

// Rows per parallel chunk: about kElementwiseGrain elements.
size_t row_grain(int64_t width) {
  return std::max<size_t>(1, cpu::kElementwiseGrain / size_t(std::max<int64_t>(width, 1)));
}

// Eight partial sums, so the loop vectorizes without reassociating one running sum.
template <typename T, typename A, typename F>
A row_sum(const T* x, int64_t n, F&& term) {
  A part[8] = {};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int k = 0; k < 8; ++k) part[k] += term(A(x[i + k]));
  A total = 0;
  for (; i < n; ++i) total += term(A(x[i]));
  for (int k = 0; k < 8; ++k) total += part[k];
  return total;
}

template <typename F>
void for_float_type(Dtype t, const char* op, F&& f) {
  dispatch_dtype(t, [&](auto tag) {
    using T = decltype(tag);
    if constexpr (is_float_type<T>) f(tag);
    else throw std::invalid_argument(std::string("[") + op + "] Unsupported type.");
  });
}

}  // namespace

void RMSNorm::eval_cpu(const std::vector<array>& inputs, array& out) {
  array x = row_major(inputs[0]);
  array w = has_weight_ ? row_major(inputs[1]) : x;
  allocate_output(x, out);
  if (out.size() == 0) return;
  const int64_t d = x.shape(-1);
  const int64_t rows = int64_t(x.size()) / d;
  const float eps = eps_;
  const bool has_weight = has_weight_;
  for_float_type(x.dtype(), "rms_norm", [&](auto tag) {
    using T = decltype(tag);
    using A = Acc<T>;
    const T* xp = x.data<T>();
    const T* wp = has_weight ? w.data<T>() : nullptr;
    T* yp = out.data<T>();
    cpu::parallel_for(size_t(rows), row_grain(d), [&](size_t lo, size_t hi) {
      for (size_t r = lo; r < hi; ++r) {
        const T* xr = xp + r * d;
        T* yr = yp + r * d;
        A ss = row_sum<T, A>(xr, d, [](A v) { return v * v; });
        A inv = A(1) / std::sqrt(ss / A(d) + A(eps));
        if (wp) {
          for (int64_t i = 0; i < d; ++i) yr[i] = T(A(xr[i]) * inv * A(wp[i]));
        } else {
          for (int64_t i = 0; i < d; ++i) yr[i] = T(A(xr[i]) * inv);
        }
      }
    });
  });
}

void LayerNorm::eval_cpu(const std::vector<array>& inputs, array& out) {
  array x = row_major(inputs[0]);
  array w = has_weight_ ? row_major(inputs[1]) : x;
  array b = has_bias_ ? row_major(inputs[has_weight_ ? 2 : 1]) : x;
  allocate_output(x, out);
  if (out.size() == 0) return;
  const int64_t d = x.shape(-1);
  const int64_t rows = int64_t(x.size()) / d;
  const float eps = eps_;
  const bool has_weight = has_weight_, has_bias = has_bias_;
  for_float_type(x.dtype(), "layer_norm", [&](auto tag) {
    using T = decltype(tag);
    using A = Acc<T>;
    const T* xp = x.data<T>();
    const T* wp = has_weight ? w.data<T>() : nullptr;
    const T* bp = has_bias ? b.data<T>() : nullptr;
    T* yp = out.data<T>();
    cpu::parallel_for(size_t(rows), row_grain(d), [&](size_t lo, size_t hi) {
      for (size_t r = lo; r < hi; ++r) {
        const T* xr = xp + r * d;
        T* yr = yp + r * d;
        // Two reads of the row (mean, then the centred squares) while it is in L1: the
        // one-pass E[x^2] - E[x]^2 loses all precision when the mean is large.
        A mu = row_sum<T, A>(xr, d, [](A v) { return v; }) / A(d);
        A var = row_sum<T, A>(xr, d, [mu](A v) { return (v - mu) * (v - mu); }) / A(d);
        A inv = A(1) / std::sqrt(var + A(eps));
        for (int64_t i = 0; i < d; ++i) {
          A v = (A(xr[i]) - mu) * inv;
          if (wp) v *= A(wp[i]);
          if (bp) v += A(bp[i]);
          yr[i] = T(v);
        }
      }
    });
  });
}

// ---- NormVJP ----

namespace {

// What every row of a norm's backward shares, in A (float or double).
template <typename A>
struct NormRow {
  bool rms;
  int64_t d;
  A eps;
  const A* w;  // the weight, or ones without one
  // dx with non-temporal stores (rows 64-byte aligned, dx not g): for outputs far larger than
  // the caches, this saves reading each line of dx before it is overwritten.
  bool stream_dx;
};

template <typename A, int W>
PB_SIMD_INLINE A lane_sum(const A* lanes) {
  A t = 0;
  for (int l = 0; l < W; ++l) t += lanes[l];
  return t;
}

// One row, in vectors of W lanes (GCC keeps several running sums scalar otherwise). x, g: the
// row; dx (may be g itself: each g[i] is read before dx[i] is written) or null; dw, db: the
// running sums of the row block, or null.
template <typename A, int W>
PB_SIMD_INLINE void norm_row_body(const NormRow<A>& a, const A* x, const A* g, A* dx, A* dw,
                                  A* db) {
  typedef A V __attribute__((vector_size(W * sizeof(A)), aligned(sizeof(A)), may_alias));
  // Macros, not lambdas: a lambda would not take the enclosing function's target ISA.
#define at(p, i) (*reinterpret_cast<const V*>((p) + (i)))
#define put(p, i, v) (*reinterpret_cast<V*>((p) + (i)) = (v))
  A lanes[W];
#define total(v) (put(lanes, 0, v), lane_sum<A, W>(lanes))
#define put_dx(p, i, v)                                                                   \
  do {                                                                                    \
    V* out_ = reinterpret_cast<V*>((p) + (i));                                            \
    if (!a.stream_dx) *out_ = (v);                                                        \
    else if constexpr (sizeof(V) == 16) asm("movntps %1, %0" : "=m"(*out_) : "x"(V(v)));  \
    else asm("vmovntps %1, %0" : "=m"(*out_) : "v"(V(v)));                                \
  } while (0)
  const int64_t d = a.d, dv = d - d % W;
  const A* w = a.w;
  const A n = A(d);
  if (a.rms) {
    // dx = r h - x r^3 mean(h x) with h = g w; dw += g x r.
    V vss{}, vhx{};
    int64_t i = 0;
    for (; i < dv; i += W) {
      const V xv = at(x, i);
      vss += xv * xv;
      vhx += at(g, i) * at(w, i) * xv;
    }
    A ss = total(vss), hx = total(vhx);
    for (; i < d; ++i) {
      ss += x[i] * x[i];
      hx += g[i] * w[i] * x[i];
    }
    const A r = A(1) / std::sqrt(ss / n + a.eps);
    const A c = r * r * r * hx / n;
    // Every load of an iteration before its stores: the buffers often share their addresses'
    // low 12 bits, and a load after a store to the same offset waits for it (4K aliasing).
    for (i = 0; i < dv; i += W) {
      const V xv = at(x, i), gv = at(g, i), wv = at(w, i);
      if (dw) put(dw, i, at(dw, i) + gv * xv * r);
      if (dx) put_dx(dx, i, r * gv * wv - xv * c);
    }
    for (; i < d; ++i) {
      const A gi = g[i];
      if (dw) dw[i] += gi * x[i] * r;
      if (dx) dx[i] = r * gi * w[i] - x[i] * c;
    }
    if (a.stream_dx) asm volatile("sfence" ::: "memory");
    return;
  }
  // dx = r (h - mean(h) - xhat mean(h xhat)) with xhat = (x - mu) r; dw += g xhat; db += g.
  // The mean first, then the centred sums (E[x^2] - mu^2 loses everything for a large mean).
  V vs{};
  int64_t i = 0;
  for (; i < dv; i += W) vs += at(x, i);
  A s = total(vs);
  for (; i < d; ++i) s += x[i];
  const A mu = s / n;
  V vvar{}, vh{}, vhc{};
  for (i = 0; i < dv; i += W) {
    const V xc = at(x, i) - mu, hv = at(g, i) * at(w, i);
    vvar += xc * xc;
    vh += hv;
    vhc += hv * xc;
  }
  A var = total(vvar), sh = total(vh), shc = total(vhc);
  for (; i < d; ++i) {
    const A xc = x[i] - mu, hv = g[i] * w[i];
    var += xc * xc;
    sh += hv;
    shc += hv * xc;
  }
  const A r = A(1) / std::sqrt(var / n + a.eps);
  const A mean_h = sh / n, mean_hxhat = shc * r / n;
  for (i = 0; i < dv; i += W) {  // loads first, as above
    const V xhat = (at(x, i) - mu) * r, gv = at(g, i), wv = at(w, i);
    const V dwv = dw ? at(dw, i) + gv * xhat : V{}, dbv = db ? at(db, i) + gv : V{};
    if (dw) put(dw, i, dwv);
    if (db) put(db, i, dbv);
    if (dx) put_dx(dx, i, r * (gv * wv - mean_h - xhat * mean_hxhat));
  }
  for (; i < d; ++i) {
    const A xhat = (x[i] - mu) * r, gi = g[i];
    if (dw) dw[i] += gi * xhat;
    if (db) db[i] += gi;
    if (dx) dx[i] = r * (gi * w[i] - mean_h - xhat * mean_hxhat);
  }
  if (a.stream_dx) asm volatile("sfence" ::: "memory");
#undef put_dx
#undef at
#undef put
#undef total
}

template <typename A>
using NormRowFn = void (*)(const NormRow<A>&, const A*, const A*, A*, A*, A*);

#define PB_NORM_ROWS(NS, ATTR, WF, WD)                                                   \
  namespace NS {                                                                         \
  ATTR void row_f(const NormRow<float>& a, const float* x, const float* g, float* dx,    \
                  float* dw, float* db) {                                                \
    norm_row_body<float, WF>(a, x, g, dx, dw, db);                                       \
  }                                                                                      \
  ATTR void row_d(const NormRow<double>& a, const double* x, const double* g, double* dx, \
                  double* dw, double* db) {                                              \
    norm_row_body<double, WD>(a, x, g, dx, dw, db);                                      \
  }                                                                                      \
  }
PB_NORM_ROWS(norm_baseline, , 4, 2)
PB_NORM_ROWS(norm_avx2, __attribute__((target("avx2,fma"))), 8, 4)
PB_NORM_ROWS(norm_avx512, __attribute__((target("avx512f,avx512vl,avx512dq,avx512bw,avx2,fma,prefer-vector-width=512"))), 16, 8)
#undef PB_NORM_ROWS

// The widest row kernel this CPU runs (the elementwise kernels' choice).
template <typename A>
NormRowFn<A> norm_row_kernel() {
  const simd::Isa isa = simd::kernels().isa;
  if constexpr (std::is_same_v<A, float>) {
    return isa == simd::Isa::Avx512 ? norm_avx512::row_f
           : isa == simd::Isa::Avx2 ? norm_avx2::row_f
                                    : norm_baseline::row_f;
  } else {
    return isa == simd::Isa::Avx512 ? norm_avx512::row_d
           : isa == simd::Isa::Avx2 ? norm_avx2::row_d
                                    : norm_baseline::row_d;
  }
}

// Rows per block of the dw/db sums: about 2^18 elements, so that a block is worth a thread
// and the blocks' partial sums (one D-vector each) stay a small fraction of the input.
int64_t norm_sum_rows(int64_t d) { return std::max<int64_t>(1, (int64_t(1) << 18) / d); }

}  // namespace

void NormVJP::eval_cpu(const std::vector<array>& inputs, std::vector<array>& outputs) {
  const NormBackward& spec = spec_;
  array x = row_major(inputs[0]);
  array g = row_major(inputs.back());
  array w = spec.has_weight ? row_major(inputs[1]) : x;
  size_t next = 0;
  array* dx = spec.dx ? &outputs[next++] : nullptr;
  array* dw = spec.dw ? &outputs[next++] : nullptr;
  array* db = spec.db ? &outputs[next++] : nullptr;
  if (dx) allocate_output(g, *dx);
  for (array* o : {dw, db})
    if (o) o->set_data(std::make_shared<Data>(o->nbytes()));
  const int64_t d = x.shape(-1);
  if (d == 0) return;
  const int64_t rows = int64_t(x.size()) / d;
  const int64_t groups = spec.groups < 0 ? 1 : spec.groups;
  if (groups == 0) return;
  const bool sums = dw || db;
  for_float_type(x.dtype(), "NormVJP", [&](auto tag) {
    using T = decltype(tag);
    using A = Acc<T>;
    constexpr bool direct = std::is_same_v<T, A>;
    const T* xp = x.data<T>();
    const T* gp = g.data<T>();
    T* dxp = dx ? dx->data<T>() : nullptr;
    // The weight in A: the input itself, converted, or ones without one.
    std::vector<A> w_own;
    const A* wp = nullptr;
    if (spec.has_weight && direct) {
      wp = reinterpret_cast<const A*>(w.data<T>());
    } else {
      w_own.assign(size_t(d), A(1));
      if (spec.has_weight)
        for (int64_t i = 0; i < d; ++i) w_own[i] = A(w.data<T>()[i]);
      wp = w_own.data();
    }
    const bool stream_dx = direct && dxp && (void*)dxp != (const void*)gp &&
                           dx->nbytes() >= (size_t(1) << 24) &&
                           reinterpret_cast<uintptr_t>(dxp) % 64 == 0 && d * sizeof(A) % 64 == 0;
    const NormRow<A> args{spec.rms, d, A(spec.eps), wp, stream_dx};
    const NormRowFn<A> row = norm_row_kernel<A>();
    // Rows [lo, hi): the half types go through float copies of x and g (dx overwrites g's).
    auto run_rows = [&](int64_t lo, int64_t hi, A* dw_part, A* db_part) {
      std::vector<A> xb(direct ? 0 : size_t(d)), gb(direct ? 0 : size_t(d));
      for (int64_t r = lo; r < hi; ++r) {
        const T* xr = xp + r * d;
        const T* gr = gp + r * d;
        T* dxr = dxp ? dxp + r * d : nullptr;
        if constexpr (direct) {
          row(args, xr, gr, dxr, dw_part, db_part);
        } else {
          for (int64_t i = 0; i < d; ++i) {
            xb[i] = A(xr[i]);
            gb[i] = A(gr[i]);
          }
          row(args, xb.data(), gb.data(), dxr ? gb.data() : nullptr, dw_part, db_part);
          if (dxr)
            for (int64_t i = 0; i < d; ++i) dxr[i] = T(gb[i]);
        }
      }
    };
    if (!sums) {
      cpu::parallel_for(size_t(rows), row_grain(d), [&](size_t lo, size_t hi) {
        run_rows(int64_t(lo), int64_t(hi), nullptr, nullptr);
      });
      return;
    }
    // Blocks of block_rows rows within each group; block k's partial sums at part[k * d].
    const int64_t group_rows = rows / groups;
    const int64_t block_rows = norm_sum_rows(d);
    const int64_t per_group = std::max<int64_t>(1, (group_rows + block_rows - 1) / block_rows);
    const int64_t blocks = groups * per_group;
    std::vector<A> dw_part(dw ? size_t(blocks * d) : 0), db_part(db ? size_t(blocks * d) : 0);
    cpu::parallel_for(size_t(blocks), 1, [&](size_t lo, size_t hi) {
      for (size_t k = lo; k < hi; ++k) {
        const int64_t grp = int64_t(k) / per_group, first = int64_t(k) % per_group * block_rows;
        const int64_t start = grp * group_rows + std::min(first, group_rows);
        const int64_t stop = grp * group_rows + std::min(first + block_rows, group_rows);
        run_rows(start, stop, dw ? dw_part.data() + k * d : nullptr,
                 db ? db_part.data() + k * d : nullptr);
      }
    });
    // Each group's blocks summed in order, columns split over threads.
    auto reduce = [&](const std::vector<A>& part, array* out) {
      if (!out) return;
      T* op = out->template data<T>();
      const A* pp = part.data();
      cpu::parallel_for(size_t(groups * d), row_grain(per_group), [&](size_t lo, size_t hi) {
        for (size_t c = lo; c < hi; ++c) {
          const size_t grp = c / size_t(d), col = c % size_t(d);
          const A* p = pp + grp * size_t(per_group * d) + col;
          A t = 0;
          for (int64_t k = 0; k < per_group; ++k) t += p[k * d];
          op[c] = T(t);
        }
      });
    };
    reduce(dw_part, dw);
    reduce(db_part, db);
  });
}


void RoPE::eval_cpu(const std::vector<array>& inputs, array& out) {
  array x = row_major(inputs[0]);
  allocate_output(x, out);
  if (out.size() == 0) return;
  const int64_t d = x.shape(-1);
  const int64_t len = x.shape(-2);
  const int64_t rows = int64_t(x.size()) / d;
  const int64_t half = dims_ / 2;
  // The inverse frequencies, in double: the angles of late positions need them exact.
  std::vector<double> inv_freq(half);
  if (has_freqs_) {
    array f = row_major(inputs[1]);
    for_float_type(f.dtype(), "rope", [&](auto tag) {
      using F = decltype(tag);
      for (int64_t i = 0; i < half; ++i) inv_freq[i] = 1.0 / double(f.data<F>()[i]);
    });
  } else {
    for (int64_t i = 0; i < half; ++i)
      inv_freq[i] = std::pow(double(base_), -double(2 * i) / double(dims_));
  }
  const double sign = inverse_ ? -1.0 : 1.0;
  const double scale = scale_;
  const int64_t offset = offset_;
  const bool traditional = traditional_;
  const bool in_place = out.data<char>() == x.data<char>();
  for_float_type(x.dtype(), "rope", [&](auto tag) {
    using T = decltype(tag);
    using A = Acc<T>;
    const T* xp = x.data<T>();
    T* yp = out.data<T>();
    // cos and sin of every (position, pair) once, when the table is small: rows of many heads
    // share the positions, and a sin/cos costs far more than the rotation itself.
    const bool tabulate = len * half <= (int64_t(1) << 22);
    std::vector<A> table_cos, table_sin;
    auto angles = [&](int64_t l, A* c, A* sn) {
      const double pos = double(offset + l);
      for (int64_t i = 0; i < half; ++i) {
        double theta = sign * pos * scale * inv_freq[i];
        c[i] = A(std::cos(theta));
        sn[i] = A(std::sin(theta));
      }
    };
    if (tabulate) {
      table_cos.resize(size_t(len * half));
      table_sin.resize(size_t(len * half));
      cpu::parallel_for(size_t(len), row_grain(8 * half), [&](size_t lo, size_t hi) {
        for (size_t l = lo; l < hi; ++l)
          angles(int64_t(l), table_cos.data() + l * half, table_sin.data() + l * half);
      });
    }
    cpu::parallel_for(size_t(rows), row_grain(d), [&](size_t lo, size_t hi) {
      std::vector<A> own_cos(tabulate ? 0 : half), own_sin(tabulate ? 0 : half);
      int64_t l_cached = -1;
      for (size_t r = lo; r < hi; ++r) {
        const int64_t l = int64_t(r) % len;
        const A* cs = nullptr;
        const A* sn = nullptr;
        if (tabulate) {
          cs = table_cos.data() + l * half;
          sn = table_sin.data() + l * half;
        } else {
          if (l != l_cached) angles(l, own_cos.data(), own_sin.data());
          l_cached = l;
          cs = own_cos.data();
          sn = own_sin.data();
        }
        const T* xr = xp + r * d;
        T* yr = yp + r * d;
        const int64_t stride = traditional ? 1 : half;
        for (int64_t i = 0; i < half; ++i) {
          const int64_t a = traditional ? 2 * i : i;
          const A x1 = A(xr[a]), x2 = A(xr[a + stride]);
          yr[a] = T(x1 * cs[i] - x2 * sn[i]);
          yr[a + stride] = T(x1 * sn[i] + x2 * cs[i]);
        }
        if (!in_place)
          for (int64_t i = dims_; i < d; ++i) yr[i] = xr[i];
      }
    });
  });
}

}  // namespace pullback
