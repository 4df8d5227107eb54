// The FFT plans of fft_plan.h.
//
// Stockham autosort: every pass reads the whole line and writes it to the other buffer, so no
// bit-reversal pass is needed and each pass reads and writes runs of consecutive elements. A
// pass of radix R with stride S (the product of the radices before it) maps butterfly j =
// b * S + k to inputs j + r * n / R (twiddled by e^{-2 pi i r k / (S R)}) and outputs
// b * S * R + k + r * S.
#include "pullback/backend/cpu/fft_plan.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <mutex>
#include <unordered_map>

#include "pullback/backend/cpu/parallel.h"

namespace pullback::cpu::fft {
namespace {

// Odd prime factors up to this run as a generic-radix pass (O(R) work per element); a larger
// one makes the whole length run through Bluestein (three FFTs of a smooth length).
constexpr int kMaxGenericRadix = 61;
// Passes of lines at least this long are split over threads.
constexpr int64_t kParallelLength = int64_t(1) << 15;
// Butterflies per parallel chunk.
constexpr size_t kButterflyGrain = size_t(1) << 12;
// Plans kept per cache; the cache is emptied when a new length would exceed this.
constexpr size_t kMaxCachedPlans = 256;

inline Cx add(Cx a, Cx b) { return {a.re + b.re, a.im + b.im}; }
inline Cx sub(Cx a, Cx b) { return {a.re - b.re, a.im - b.im}; }
inline Cx scaled(Cx a, float s) { return {a.re * s, a.im * s}; }
inline Cx conj(Cx a) { return {a.re, -a.im}; }
// Written out rather than std::complex's operator*, which calls __mulsc3 for its NaN rules.
inline Cx mul(Cx a, Cx b) { return {a.re * b.re - a.im * b.im, a.re * b.im + a.im * b.re}; }
inline Cx mul_conj(Cx a, Cx b) { return {a.re * b.re + a.im * b.im, a.im * b.re - a.re * b.im}; }
// a times -i (forward) or +i (inverse): the rotation by a quarter turn in the transform's sense.
template <bool Inv>
inline Cx quarter(Cx a) {
  return Inv ? Cx{-a.im, a.re} : Cx{a.im, -a.re};
}
template <bool Inv>
inline Cx twiddled(Cx a, Cx w) {
  return Inv ? mul_conj(a, w) : mul(a, w);
}

// e^{-2 pi i num / den}, with num reduced first so that large products keep their accuracy.
Cx unit_root(int64_t num, int64_t den) {
  num %= den;
  if (num < 0) num += den;
  const double angle = -2.0 * M_PI * static_cast<double>(num) / static_cast<double>(den);
  return {static_cast<float>(std::cos(angle)), static_cast<float>(std::sin(angle))};
}

template <int R, bool Inv>
inline void butterfly(Cx* v) {
  if constexpr (R == 2) {
    Cx a = v[0];
    v[0] = add(a, v[1]);
    v[1] = sub(a, v[1]);
  } else if constexpr (R == 4) {
    Cx a0 = add(v[0], v[2]), a1 = sub(v[0], v[2]);
    Cx a2 = add(v[1], v[3]), a3 = quarter<Inv>(sub(v[1], v[3]));
    v[0] = add(a0, a2);
    v[2] = sub(a0, a2);
    v[1] = add(a1, a3);
    v[3] = sub(a1, a3);
  } else if constexpr (R == 3) {
    constexpr float kSin = 0.86602540378443864676f;  // sin(2 pi / 3)
    Cx t1 = add(v[1], v[2]);
    Cx t2 = sub(v[0], scaled(t1, 0.5f));
    Cx t3 = quarter<Inv>(scaled(sub(v[1], v[2]), kSin));
    v[0] = add(v[0], t1);
    v[1] = add(t2, t3);
    v[2] = sub(t2, t3);
  } else {
    static_assert(R == 5, "radix");
    constexpr float c1 = 0.30901699437494742410f;   // cos(2 pi / 5)
    constexpr float c2 = -0.80901699437494742410f;  // cos(4 pi / 5)
    constexpr float s1 = 0.95105651629515357212f;   // sin(2 pi / 5)
    constexpr float s2 = 0.58778525229247312917f;   // sin(4 pi / 5)
    Cx t1 = add(v[1], v[4]), t2 = add(v[2], v[3]);
    Cx t3 = sub(v[1], v[4]), t4 = sub(v[2], v[3]);
    Cx a1 = add(v[0], add(scaled(t1, c1), scaled(t2, c2)));
    Cx a2 = add(v[0], add(scaled(t1, c2), scaled(t2, c1)));
    Cx b1 = quarter<Inv>(add(scaled(t3, s1), scaled(t4, s2)));
    Cx b2 = quarter<Inv>(sub(scaled(t3, s2), scaled(t4, s1)));
    v[0] = add(v[0], add(t1, t2));
    v[1] = add(a1, b1);
    v[4] = sub(a1, b1);
    v[2] = add(a2, b2);
    v[3] = sub(a2, b2);
  }
}

// Calls f(b, k0, k1) for the blocks of butterflies j = b * stride + k, k in [k0, k1), that
// make up [j0, j1): a block shares its inputs' base and its outputs' base.
template <typename F>
inline void for_each_block(int64_t j0, int64_t j1, int64_t stride, F&& f) {
  for (int64_t b = j0 / stride; b * stride < j1; ++b) {
    f(b, std::max<int64_t>(j0 - b * stride, 0), std::min<int64_t>(j1 - b * stride, stride));
  }
}

// Butterflies [j0, j1) of one pass with a radix the compiler knows.
template <int R, bool Inv>
void fixed_pass(const Cx* in, Cx* out, int64_t n, int64_t stride, const Cx* tw, int64_t j0,
                int64_t j1) {
  const int64_t q = n / R;
  if (stride == 1) {  // the first pass: no twiddles
    for (int64_t j = j0; j < j1; ++j) {
      Cx v[R];
      for (int r = 0; r < R; ++r) v[r] = in[j + r * q];
      butterfly<R, Inv>(v);
      for (int r = 0; r < R; ++r) out[j * R + r] = v[r];
    }
    return;
  }
  for_each_block(j0, j1, stride, [&](int64_t b, int64_t k0, int64_t k1) {
    const Cx* src = in + b * stride;
    Cx* dst = out + b * stride * R;
    for (int64_t k = k0; k < k1; ++k) {
      Cx v[R];
      v[0] = src[k];
      const Cx* w = tw + k * (R - 1);
      for (int r = 1; r < R; ++r) v[r] = twiddled<Inv>(src[k + r * q], w[r - 1]);
      butterfly<R, Inv>(v);
      for (int r = 0; r < R; ++r) dst[k + r * stride] = v[r];
    }
  });
}

// A pass of an odd radix R <= kMaxGenericRadix: each output pairs q with R - q, whose sums
// share the real parts of the roots and differ in the sign of the imaginary ones.
template <bool Inv>
void generic_pass(const Cx* in, Cx* out, int64_t n, int R, int64_t stride, const Cx* tw,
                  const Cx* roots, int64_t j0, int64_t j1) {
  const int64_t q = n / R;
  const int h = R / 2;
  Cx v[kMaxGenericRadix], sum[kMaxGenericRadix / 2 + 1], dif[kMaxGenericRadix / 2 + 1];
  for_each_block(j0, j1, stride, [&](int64_t b, int64_t k0, int64_t k1) {
    const Cx* src = in + b * stride;
    Cx* dst = out + b * stride * R;
    for (int64_t k = k0; k < k1; ++k) {
      v[0] = src[k];
      const Cx* w = tw + k * (R - 1);
      for (int r = 1; r < R; ++r) {
        v[r] = stride == 1 ? src[k + r * q] : twiddled<Inv>(src[k + r * q], w[r - 1]);
      }
      Cx total = v[0];
      for (int r = 1; r <= h; ++r) {
        sum[r] = add(v[r], v[R - r]);
        dif[r] = sub(v[r], v[R - r]);
        total = add(total, sum[r]);
      }
      dst[k] = total;
      for (int f = 1; f <= h; ++f) {
        // y_f = v0 + sum_r cos(theta) sum_r - i sin(theta) dif_r, theta = 2 pi r f / R
        Cx even = v[0], odd = {0.0f, 0.0f};
        for (int r = 1; r <= h; ++r) {
          const Cx& root = roots[(static_cast<int64_t>(r) * f) % R];  // cos - i sin
          even = add(even, scaled(sum[r], root.re));
          odd = add(odd, scaled(dif[r], -root.im));
        }
        Cx rot = quarter<Inv>(odd);
        dst[k + f * stride] = add(even, rot);
        dst[k + (R - f) * stride] = sub(even, rot);
      }
    }
  });
}

bool is_smooth(int64_t m) {
  for (int p : {2, 3, 5}) {
    while (m % p == 0) m /= p;
  }
  return m == 1;
}

// The smallest 2^a 3^b 5^c at least `target`.
int64_t smooth_length(int64_t target) {
  int64_t m = target;
  while (!is_smooth(m)) ++m;
  return m;
}

// Radices of n, largest-first for 4 and 2 (fewest passes), then 3, 5 and other primes; an
// empty list when a prime factor exceeds kMaxGenericRadix.
std::vector<int> radices(int64_t n) {
  std::vector<int> out;
  while (n % 4 == 0) {
    out.push_back(4);
    n /= 4;
  }
  if (n % 2 == 0) {
    out.push_back(2);
    n /= 2;
  }
  for (int64_t p = 3; p * p <= n; p += 2) {
    while (n % p == 0) {
      if (p > kMaxGenericRadix) return {};
      out.push_back(static_cast<int>(p));
      n /= p;
    }
  }
  if (n > 1) {
    if (n > kMaxGenericRadix) return {};
    out.push_back(static_cast<int>(n));
  }
  return out;
}

template <typename Plan>
std::shared_ptr<const Plan> cached(int64_t n) {
  static std::mutex mu;
  static std::unordered_map<int64_t, std::shared_ptr<const Plan>> plans;
  {
    std::lock_guard<std::mutex> lock(mu);
    auto it = plans.find(n);
    if (it != plans.end()) return it->second;
  }
  // Built outside the lock: a Bluestein plan asks the cache for its inner length.
  auto plan = std::make_shared<const Plan>(n);
  std::lock_guard<std::mutex> lock(mu);
  if (plans.size() >= kMaxCachedPlans) plans.clear();
  return plans.emplace(n, plan).first->second;
}

}  // namespace

std::shared_ptr<const ComplexPlan> ComplexPlan::get(int64_t n) { return cached<ComplexPlan>(n); }

ComplexPlan::ComplexPlan(int64_t n) : n_(n) {
  if (n <= 1) return;
  std::vector<int> rs = radices(n);
  if (rs.empty()) {
    const int64_t m = smooth_length(2 * n - 1);
    inner_ = get(m);
    chirp_.resize(n);
    // j^2 mod 2n keeps the angle pi j^2 / n exact for any j.
    for (int64_t j = 0; j < n; ++j) {
      const int64_t sq = static_cast<int64_t>((static_cast<unsigned __int128>(j) * j) %
                                              static_cast<unsigned __int128>(2 * n));
      chirp_[j] = unit_root(sq, 2 * n);
    }
    std::vector<Cx> wrapped(m, Cx{0.0f, 0.0f}), scratch(inner_->scratch_size());
    wrapped[0] = conj(chirp_[0]);
    for (int64_t j = 1; j < n; ++j) wrapped[j] = wrapped[m - j] = conj(chirp_[j]);
    kernel_.resize(m);
    inner_->execute(wrapped.data(), kernel_.data(), scratch.data(), false);
    const float inv_m = 1.0f / static_cast<float>(m);
    for (Cx& c : kernel_) c = scaled(c, inv_m);
    return;
  }
  int64_t stride = 1;
  for (int r : rs) {
    Pass p;
    p.radix = r;
    p.stride = stride;
    if (stride > 1) {
      p.twiddle.resize(static_cast<size_t>(stride) * (r - 1));
      for (int64_t k = 0; k < stride; ++k) {
        for (int q = 1; q < r; ++q) p.twiddle[k * (r - 1) + q - 1] = unit_root(q * k, stride * r);
      }
    }
    if (r != 2 && r != 3 && r != 4 && r != 5) {
      p.roots.resize(r);
      for (int q = 0; q < r; ++q) p.roots[q] = unit_root(q, r);
    }
    passes_.push_back(std::move(p));
    stride *= r;
  }
}

size_t ComplexPlan::scratch_size() const {
  if (inner_) return 2 * static_cast<size_t>(inner_->size()) + inner_->scratch_size();
  return static_cast<size_t>(n_);
}

void ComplexPlan::execute(const Cx* in, Cx* out, Cx* scratch, bool inverse) const {
  if (inner_) return bluestein(in, out, scratch, inverse);
  if (passes_.empty()) {
    std::memcpy(out, in, static_cast<size_t>(n_) * sizeof(Cx));
    return;
  }
  run_passes(in, out, scratch, inverse);
}

void ComplexPlan::run_passes(const Cx* in, Cx* out, Cx* scratch, bool inverse) const {
  const size_t count = passes_.size();
  const Cx* src = in;
  for (size_t i = 0; i < count; ++i) {
    // The destinations alternate so that the last pass writes `out`.
    Cx* dst = (count - 1 - i) % 2 == 0 ? out : scratch;
    const Pass& p = passes_[i];
    const Cx* tw = p.twiddle.data();
    auto run = [&](int64_t j0, int64_t j1) {
      switch (p.radix) {
        case 4:
          return inverse ? fixed_pass<4, true>(src, dst, n_, p.stride, tw, j0, j1)
                         : fixed_pass<4, false>(src, dst, n_, p.stride, tw, j0, j1);
        case 2:
          return inverse ? fixed_pass<2, true>(src, dst, n_, p.stride, tw, j0, j1)
                         : fixed_pass<2, false>(src, dst, n_, p.stride, tw, j0, j1);
        case 3:
          return inverse ? fixed_pass<3, true>(src, dst, n_, p.stride, tw, j0, j1)
                         : fixed_pass<3, false>(src, dst, n_, p.stride, tw, j0, j1);
        case 5:
          return inverse ? fixed_pass<5, true>(src, dst, n_, p.stride, tw, j0, j1)
                         : fixed_pass<5, false>(src, dst, n_, p.stride, tw, j0, j1);
        default:
          return inverse
                     ? generic_pass<true>(src, dst, n_, p.radix, p.stride, tw, p.roots.data(), j0, j1)
                     : generic_pass<false>(src, dst, n_, p.radix, p.stride, tw, p.roots.data(), j0,
                                           j1);
      }
    };
    const int64_t butterflies = n_ / p.radix;
    if (n_ >= kParallelLength) {
      parallel_for(static_cast<size_t>(butterflies), kButterflyGrain, [&](size_t b, size_t e) {
        run(static_cast<int64_t>(b), static_cast<int64_t>(e));
      });
    } else {
      run(0, butterflies);
    }
    src = dst;
  }
}

// X_k = c_k sum_j (x_j c_j) conj(c_{k-j}) with the chirp c_j = e^{-pi i j^2 / n}: a circular
// convolution of length m >= 2n - 1, done with the inner plan. The inverse transform is the
// conjugate of the forward one of the conjugate.
void ComplexPlan::bluestein(const Cx* in, Cx* out, Cx* scratch, bool inverse) const {
  const int64_t m = inner_->size();
  Cx* a = scratch;
  Cx* spectrum = scratch + m;
  Cx* rest = scratch + 2 * m;
  for (int64_t j = 0; j < n_; ++j) a[j] = mul(inverse ? conj(in[j]) : in[j], chirp_[j]);
  std::fill(a + n_, a + m, Cx{0.0f, 0.0f});
  inner_->execute(a, spectrum, rest, false);
  for (int64_t k = 0; k < m; ++k) spectrum[k] = mul(spectrum[k], kernel_[k]);
  inner_->execute(spectrum, a, rest, true);
  for (int64_t k = 0; k < n_; ++k) {
    Cx y = mul(a[k], chirp_[k]);
    out[k] = inverse ? conj(y) : y;
  }
}

std::shared_ptr<const RealPlan> RealPlan::get(int64_t n) { return cached<RealPlan>(n); }

RealPlan::RealPlan(int64_t n) : n_(n) {
  if (n % 2 == 0) {
    half_ = ComplexPlan::get(n / 2);
    twiddle_.resize(n / 2);
    for (int64_t k = 0; k < n / 2; ++k) twiddle_[k] = unit_root(k, n);
  } else {
    half_ = ComplexPlan::get(n);
  }
}

size_t RealPlan::scratch_size() const {
  const size_t len = static_cast<size_t>(half_->size());
  return (n_ % 2 == 0 ? len : 2 * len) + half_->scratch_size();
}

// Even n: the line read as n / 2 complex numbers z_j = x_{2j} + i x_{2j+1} has the transform
// Z = E + i O, E and O the transforms of the even and odd samples; each X_k = E_k + w^k O_k
// is rebuilt from Z_k and Z_{h-k}.
void RealPlan::forward(const float* in, Cx* out, Cx* scratch, float scale) const {
  if (n_ % 2 == 1) {
    Cx* line = scratch;
    Cx* spectrum = scratch + n_;
    for (int64_t j = 0; j < n_; ++j) line[j] = {in[j], 0.0f};
    half_->execute(line, spectrum, scratch + 2 * n_, false);
    for (int64_t k = 0; k <= n_ / 2; ++k) out[k] = scaled(spectrum[k], scale);
    return;
  }
  const int64_t h = n_ / 2;
  half_->execute(reinterpret_cast<const Cx*>(in), out, scratch, false);
  const Cx z0 = out[0];
  out[0] = {(z0.re + z0.im) * scale, 0.0f};
  out[h] = {(z0.re - z0.im) * scale, 0.0f};
  const float half_scale = 0.5f * scale;
  for (int64_t k = 1; 2 * k <= h; ++k) {
    const int64_t mk = h - k;
    const Cx zk = out[k], zm = out[mk];
    auto rebuild = [&](Cx a, Cx b, int64_t at) {
      // E = (a + conj b) / 2, O = -i (a - conj b) / 2
      Cx e = add(a, conj(b));
      Cx o = quarter<false>(sub(a, conj(b)));
      return scaled(add(e, mul(o, twiddle_[at])), half_scale);
    };
    out[k] = rebuild(zk, zm, k);
    if (mk != k) out[mk] = rebuild(zm, zk, mk);
  }
}

// The reverse of forward: Z_k = (X_k + conj X_{h-k}) + i w^{-k} (X_k - conj X_{h-k}), whose
// inverse transform of length h holds x_{2j} + i x_{2j+1}.
void RealPlan::inverse(const Cx* in, float* out, Cx* scratch, float scale) const {
  if (n_ % 2 == 1) {
    Cx* line = scratch;
    Cx* signal = scratch + n_;
    line[0] = {in[0].re, 0.0f};
    for (int64_t k = 1; k <= n_ / 2; ++k) {
      line[k] = in[k];
      line[n_ - k] = conj(in[k]);
    }
    half_->execute(line, signal, scratch + 2 * n_, true);
    for (int64_t j = 0; j < n_; ++j) out[j] = signal[j].re * scale;
    return;
  }
  const int64_t h = n_ / 2;
  Cx* z = scratch;
  for (int64_t k = 0; k < h; ++k) {
    Cx a = in[k], b = in[h - k];
    if (k == 0) {
      a.im = 0.0f;
      b.im = 0.0f;
    }
    Cx e = add(a, conj(b));
    Cx o = quarter<true>(mul_conj(sub(a, conj(b)), twiddle_[k]));
    z[k] = scaled(add(e, o), scale);
  }
  half_->execute(z, reinterpret_cast<Cx*>(out), scratch + h, true);
}

}  // namespace pullback::cpu::fft
