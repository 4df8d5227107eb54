// Planned 1-d FFTs of complex64 (and real float32) lines, written for pullback (no FFT library).
//
// A plan for length n is made once per n and cached (shared, immutable, safe to use from any
// thread). Lengths whose prime factors are 2, 3, 5 or small primes run a mixed-radix Stockham
// FFT (radix 4, 2, 3, 5 and a generic odd radix); lengths with a large prime factor run
// Bluestein's chirp-z algorithm on a 2^a 3^b 5^c length of at least 2n - 1.
// Transforms are unnormalized: forward sum_j x_j e^{-2 pi i jk/n}, inverse with e^{+...}.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

namespace pullback::cpu::fft {

struct Cx {
  float re, im;
};

class ComplexPlan {
 public:
  static std::shared_ptr<const ComplexPlan> get(int64_t n);
  explicit ComplexPlan(int64_t n);

  int64_t size() const { return n_; }
  // Complex elements of scratch `execute` needs.
  size_t scratch_size() const;
  // out = DFT(in) (in != out; neither overlaps scratch). `in` is left as it was. Passes of a
  // long transform are split over threads unless called from inside a parallel_for chunk.
  void execute(const Cx* in, Cx* out, Cx* scratch, bool inverse) const;

 private:
  struct Pass {
    int radix;
    int64_t stride;          // product of the radices of the passes before this one
    std::vector<Cx> twiddle;  // [k][r - 1] = e^{-2 pi i r k / (stride * radix)}
    std::vector<Cx> roots;    // generic radix only: e^{-2 pi i q / radix}
  };
  void run_passes(const Cx* in, Cx* out, Cx* scratch, bool inverse) const;
  void bluestein(const Cx* in, Cx* out, Cx* scratch, bool inverse) const;

  int64_t n_;
  std::vector<Pass> passes_;
  // Bluestein: chirp_[j] = e^{-pi i j^2 / n}, kernel_ = FFT_m(conj chirp, wrapped) / m.
  std::shared_ptr<const ComplexPlan> inner_;
  std::vector<Cx> chirp_, kernel_;
};

// Transforms of real lines of length n through a complex FFT of n / 2 (even n) or n (odd n).
class RealPlan {
 public:
  static std::shared_ptr<const RealPlan> get(int64_t n);
  explicit RealPlan(int64_t n);

  int64_t size() const { return n_; }
  size_t scratch_size() const;  // complex elements
  // out[0 .. n/2] = scale * DFT(in)[0 .. n/2] for real in[0 .. n).
  void forward(const float* in, Cx* out, Cx* scratch, float scale) const;
  // out[0 .. n) = scale * inverse DFT of the Hermitian spectrum whose first n/2 + 1 terms are
  // in (imaginary parts of the terms at 0 and, for even n, n/2 are ignored).
  void inverse(const Cx* in, float* out, Cx* scratch, float scale) const;

 private:
  int64_t n_;
  std::shared_ptr<const ComplexPlan> half_;  // length n/2 (even n) or n (odd n)
  std::vector<Cx> twiddle_;                  // even n: e^{-2 pi i k / n}, k < n/2
};

}  // namespace pullback::cpu::fft
