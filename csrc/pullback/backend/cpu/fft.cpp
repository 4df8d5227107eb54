// CPU kernel for FFT: batches of 1-d transforms along one axis (plans in fft_plan.cpp).
//
// The input is viewed as (outer, length, inner) around the axis (a row-contiguous copy is made
// first when its layout is anything else). With inner == 1 every line is contiguous and is
// transformed in place in the output; otherwise a tile of neighbouring columns is gathered
// into contiguous lines (each read touching consecutive elements), transformed, and scattered
// back. Lines or tiles are split over threads; a few long lines instead split each pass.
#include <algorithm>
#include <vector>

#include "pullback/backend/cpu/fft_plan.h"
#include "pullback/backend/cpu/parallel.h"
#include "pullback/backend/cpu/strided.h"
#include "pullback/primitives/fft.h"

namespace pullback {
namespace {

using cpu::fft::ComplexPlan;
using cpu::fft::Cx;
using cpu::fft::RealPlan;

// Columns of a strided axis gathered together: a run of 16 complex numbers is two cache lines.
constexpr int64_t kColumnTile = 16;
// Lines at least this long, in batches smaller than twice the thread count, split their passes
// over threads instead of the batch.
constexpr int64_t kLongLine = int64_t(1) << 15;

// One line's transform, reading In and writing Out, with its plan and scratch.
struct LineTransform {
  FFTKind kind;
  bool inverse;
  float scale;
  std::shared_ptr<const ComplexPlan> complex_plan;
  std::shared_ptr<const RealPlan> real_plan;

  size_t scratch_size() const {
    return complex_plan ? complex_plan->scratch_size() : real_plan->scratch_size();
  }
  void operator()(const void* in, void* out, Cx* scratch) const {
    switch (kind) {
      case FFTKind::R2C:
        return real_plan->forward(static_cast<const float*>(in), static_cast<Cx*>(out), scratch,
                                  scale);
      case FFTKind::C2R:
        return real_plan->inverse(static_cast<const Cx*>(in), static_cast<float*>(out), scratch,
                                  scale);
      default: {
        Cx* y = static_cast<Cx*>(out);
        complex_plan->execute(static_cast<const Cx*>(in), y, scratch, inverse);
        if (scale != 1.0f) {
          const int64_t n = complex_plan->size();
          for (int64_t k = 0; k < n; ++k) y[k] = {y[k].re * scale, y[k].im * scale};
        }
      }
    }
  }
};

template <typename In, typename Out>
void run_contiguous(const LineTransform& f, const In* in, Out* out, int64_t outer, int64_t len_in,
                    int64_t len_out, int64_t n) {
  if (n >= kLongLine && outer < 2 * cpu::num_threads()) {
    std::vector<Cx> scratch(f.scratch_size());
    for (int64_t o = 0; o < outer; ++o) f(in + o * len_in, out + o * len_out, scratch.data());
    return;
  }
  const size_t grain = std::max<size_t>(1, (size_t(1) << 14) / static_cast<size_t>(n));
  cpu::parallel_for(static_cast<size_t>(outer), grain, [&](size_t b, size_t e) {
    std::vector<Cx> scratch(f.scratch_size());
    for (size_t o = b; o < e; ++o) f(in + o * len_in, out + o * len_out, scratch.data());
  });
}

template <typename In, typename Out>
void run_strided(const LineTransform& f, const In* in, Out* out, int64_t outer, int64_t inner,
                 int64_t len_in, int64_t len_out, int64_t n) {
  const int64_t tiles = (inner + kColumnTile - 1) / kColumnTile;
  const size_t work = static_cast<size_t>(n * std::min(inner, kColumnTile));
  const size_t grain = std::max<size_t>(1, (size_t(1) << 14) / work);
  cpu::parallel_for(static_cast<size_t>(outer * tiles), grain, [&](size_t b, size_t e) {
    std::vector<Cx> scratch(f.scratch_size());
    std::vector<In> lines_in(static_cast<size_t>(kColumnTile * len_in));
    std::vector<Out> lines_out(static_cast<size_t>(kColumnTile * len_out));
    for (size_t job = b; job < e; ++job) {
      const int64_t o = static_cast<int64_t>(job) / tiles;
      const int64_t k0 = (static_cast<int64_t>(job) % tiles) * kColumnTile;
      const int64_t width = std::min(kColumnTile, inner - k0);
      const In* src = in + o * len_in * inner + k0;
      for (int64_t i = 0; i < len_in; ++i) {
        for (int64_t c = 0; c < width; ++c) lines_in[c * len_in + i] = src[i * inner + c];
      }
      for (int64_t c = 0; c < width; ++c) {
        f(lines_in.data() + c * len_in, lines_out.data() + c * len_out, scratch.data());
      }
      Out* dst = out + o * len_out * inner + k0;
      for (int64_t i = 0; i < len_out; ++i) {
        for (int64_t c = 0; c < width; ++c) dst[i * inner + c] = lines_out[c * len_out + i];
      }
    }
  });
}

}  // namespace

void FFT::eval_cpu(const std::vector<array>& inputs, array& out) {
  const array& in = inputs[0];
  out.set_data(std::make_shared<Data>(out.nbytes()));
  if (out.size() == 0) return;
  array src = in;
  if (!in.flags().row_contiguous) {
    src = array::empty(in.shape(), in.dtype());
    src.set_data(std::make_shared<Data>(in.nbytes()));
    cpu::copy_to_contiguous(in, src);
  }
  int64_t outer = 1, inner = 1;
  for (int d = 0; d < axis_; ++d) outer *= in.shape(d);
  for (int d = axis_ + 1; d < in.ndim(); ++d) inner *= in.shape(d);
  const int64_t len_in = in.shape(axis_), len_out = out.shape(axis_);

  LineTransform f{kind_, inverse_, static_cast<float>(scale_), nullptr, nullptr};
  if (kind_ == FFTKind::C2C) {
    f.complex_plan = ComplexPlan::get(n_);
  } else {
    f.real_plan = RealPlan::get(n_);
  }
  auto run = [&](auto* x, auto* y) {
    if (inner == 1) {
      run_contiguous(f, x, y, outer, len_in, len_out, n_);
    } else {
      run_strided(f, x, y, outer, inner, len_in, len_out, n_);
    }
  };
  // complex64 storage (std::complex<float>) has Cx's layout.
  switch (kind_) {
    case FFTKind::R2C:
      return run(src.data<float>(), reinterpret_cast<Cx*>(out.data<complex64_t>()));
    case FFTKind::C2R:
      return run(reinterpret_cast<const Cx*>(src.data<complex64_t>()), out.data<float>());
    default:
      return run(reinterpret_cast<const Cx*>(src.data<complex64_t>()),
                 reinterpret_cast<Cx*>(out.data<complex64_t>()));
  }
}

}  // namespace pullback
