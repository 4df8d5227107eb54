// The vectorized float32 kernels (backend/cpu/simd_math.h): ulp error against libm in double
// over dense sweeps, exact special values, every instruction set this CPU runs, tails and
// in-place calls, and the same kernels reached through pullback ops on contiguous, strided,
// broadcast and half-precision arrays.
#include <gtest/gtest.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "pullback/backend/cpu/simd_math.h"
#include "pullback/ops.h"
#include "test_utils.h"

using namespace pullback;
using namespace pbtest;
using simd::BinaryKind;
using simd::Isa;
using simd::KernelTable;
using simd::Operands;
using simd::UnaryKind;

namespace {

const float kInf = std::numeric_limits<float>::infinity();
const float kNaN = std::numeric_limits<float>::quiet_NaN();

// Position on the number line in ulps (+0 and -0 both 0), so that the distance of two
// finite floats is their difference.
int64_t ulp_key(float f) {
  const uint32_t b = bits_of(f);
  return (b & 0x80000000u) ? -int64_t(b & 0x7fffffffu) : int64_t(b);
}

struct MathCase {
  UnaryKind kind;
  const char* name;
  double (*reference)(double);  // in double, then rounded to float
  int64_t max_ulp;              // the bound the sweeps assert
};

double sigmoid_ref(double x) { return 1.0 / (1.0 + std::exp(-x)); }

const MathCase kCases[] = {
    {UnaryKind::Exp, "exp", [](double x) { return std::exp(x); }, 1},
    {UnaryKind::Expm1, "expm1", [](double x) { return std::expm1(x); }, 1},
    {UnaryKind::Log, "log", [](double x) { return std::log(x); }, 1},
    {UnaryKind::Log1p, "log1p", [](double x) { return std::log1p(x); }, 1},
    {UnaryKind::Sin, "sin", [](double x) { return std::sin(x); }, 1},
    {UnaryKind::Cos, "cos", [](double x) { return std::cos(x); }, 1},
    {UnaryKind::Tanh, "tanh", [](double x) { return std::tanh(x); }, 1},
    {UnaryKind::Sigmoid, "sigmoid", sigmoid_ref, 2},
    {UnaryKind::Erf, "erf", [](double x) { return std::erf(x); }, 1},
};

// The tables this CPU can run, baseline first.
std::vector<const KernelTable*> tables() {
  std::vector<const KernelTable*> out;
  for (Isa isa : {Isa::Baseline, Isa::Avx2, Isa::Avx512}) {
    if (const KernelTable* t = simd::kernels_for(isa)) out.push_back(t);
  }
  return out;
}

// Special inputs every function is checked on exactly.
std::vector<float> special_inputs() {
  std::vector<float> v = {0.f, -0.f, kInf, -kInf, kNaN, -kNaN, float_of(0x7fa00000u) /* sNaN */,
                          std::numeric_limits<float>::denorm_min(), -std::numeric_limits<float>::denorm_min(),
                          FLT_MIN, -FLT_MIN, FLT_MAX, -FLT_MAX, 1.f, -1.f, 0.5f, -0.5f, 2.f,
                          88.0f, 88.3762626647949f, 88.72283f, 88.722839f, 88.7228394f, 89.f, 100.f,
                          -87.33654f, -88.f, -100.f, -103.9720840454f, -103.972084f, -104.f, -105.f,
                          -1e30f, 1e30f, 1e-30f, -1e-30f, 1e-40f, -1e-40f, 1e-7f, -1e-7f,
                          3.14159265f, -3.14159265f, 1.57079633f, 6.28318531f, 1e4f, -1e4f,
                          1048575.9f, 1048576.f, 1048577.f, 1e7f, -1e7f, 1e20f, 0.625f, 0.62499994f,
                          -0.625f, 3.99999976f, 4.f, 4.0000005f, 0.99999994f, 1.0000001f,
                          -0.99999994f, -1.0000001f, 24.f, 25.f, 30.f, -30.f, -17.f, 17.f};
  return v;
}

// 1e6 inputs: bit patterns spread evenly over every float (both signs, subnormals, inf and
// NaN) plus uniform draws over the ranges where the functions do their work.
std::vector<float> sweep_inputs(UnaryKind kind) {
  std::vector<float> v;
  v.reserve(1000000);
  for (uint64_t i = 0; i < 600000; ++i) v.push_back(float_of(uint32_t(i * 7158278ull + 12345)));
  std::mt19937 rng(1234);
  const bool trig = kind == UnaryKind::Sin || kind == UnaryKind::Cos;
  const bool near_one = kind == UnaryKind::Log || kind == UnaryKind::Log1p;
  std::uniform_real_distribution<float> wide(trig ? -1e4f : -110.f, trig ? 1e4f : 110.f);
  std::uniform_real_distribution<float> mid(-5.f, 5.f);
  std::uniform_real_distribution<float> unit(-1.f, near_one ? 2.f : 1.f);
  for (int i = 0; i < 150000; ++i) v.push_back(wide(rng));
  for (int i = 0; i < 150000; ++i) v.push_back(mid(rng));
  for (int i = 0; i < 100000; ++i) v.push_back(unit(rng));
  return v;
}

// Checks got against reference(x) rounded to float: same NaN-ness, same infinities, same
// sign of zero, else within max_ulp. Returns the largest ulp distance seen.
int64_t check_against_reference(const MathCase& c, const std::vector<float>& x,
                                 const std::vector<float>& got, const std::string& what) {
  int64_t worst = 0;
  int failures = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    const float want = static_cast<float>(c.reference(static_cast<double>(x[i])));
    const float y = got[i];
    std::string bad;
    if (std::isnan(want) || std::isnan(y)) {
      if (std::isnan(want) != std::isnan(y)) bad = "NaN mismatch";
    } else if (std::isinf(want) || std::isinf(y)) {
      if (want != y) bad = "infinity mismatch";
    } else if (want == 0.f && y == 0.f) {
      if (std::signbit(want) != std::signbit(y)) bad = "sign of zero";
    } else {
      const int64_t d = std::llabs(ulp_key(y) - ulp_key(want));
      worst = std::max(worst, d);
      if (d > c.max_ulp) bad = std::to_string(d) + " ulp";
    }
    if (!bad.empty() && ++failures <= 10) {
      ADD_FAILURE() << what << " " << c.name << "(" << std::hexfloat << x[i] << " = "
                    << std::defaultfloat << x[i] << "): got " << y << ", want " << want << " ("
                    << bad << ")";
    }
  }
  EXPECT_EQ(failures, 0) << what << " " << c.name;
  return worst;
}

TEST(SimdMath, KernelsMatchLibmWithinUlpBoundsOnEveryIsa) {
  for (const KernelTable* t : tables()) {
    for (const MathCase& c : kCases) {
      std::vector<float> x = sweep_inputs(c.kind);
      std::vector<float> y(x.size());
      t->unary[size_t(c.kind)](x.data(), y.data(), x.size());
      const int64_t worst = check_against_reference(c, x, y, simd::isa_name(t->isa));
      RecordProperty(std::string(simd::isa_name(t->isa)) + "_" + c.name + "_max_ulp", int(worst));
    }
  }
}

TEST(SimdMath, SpecialValuesMatchLibm) {
  const std::vector<float> x = special_inputs();
  for (const KernelTable* t : tables()) {
    for (const MathCase& c : kCases) {
      std::vector<float> y(x.size());
      t->unary[size_t(c.kind)](x.data(), y.data(), x.size());
      check_against_reference(c, x, y, std::string(simd::isa_name(t->isa)) + " special");
    }
  }
}

// The behaviours that matter most, spelled out (the table above covers them too).
TEST(SimdMath, NamedSpecialCases) {
  for (const KernelTable* t : tables()) {
    auto run = [&](UnaryKind k, float v) {
      float y;
      t->unary[size_t(k)](&v, &y, 1);
      return y;
    };
    const std::string isa = simd::isa_name(t->isa);
    SCOPED_TRACE(isa);
    for (const MathCase& c : kCases) EXPECT_TRUE(std::isnan(run(c.kind, kNaN))) << c.name;
    EXPECT_EQ(run(UnaryKind::Exp, -kInf), 0.f);
    EXPECT_EQ(run(UnaryKind::Exp, kInf), kInf);
    EXPECT_EQ(run(UnaryKind::Exp, 88.7228394f), kInf);  // overflow
    EXPECT_TRUE(std::isfinite(run(UnaryKind::Exp, 88.72283f)));
    EXPECT_EQ(run(UnaryKind::Exp, -104.f), 0.f);  // underflow
    EXPECT_GT(run(UnaryKind::Exp, -100.f), 0.f);  // subnormal
    EXPECT_LT(run(UnaryKind::Exp, -100.f), FLT_MIN);
    EXPECT_EQ(run(UnaryKind::Exp, 0.f), 1.f);
    EXPECT_EQ(run(UnaryKind::Expm1, -kInf), -1.f);
    EXPECT_EQ(run(UnaryKind::Expm1, kInf), kInf);
    EXPECT_EQ(run(UnaryKind::Expm1, 100.f), kInf);
    EXPECT_TRUE(std::signbit(run(UnaryKind::Expm1, -0.f)));
    EXPECT_EQ(run(UnaryKind::Log, 0.f), -kInf);
    EXPECT_EQ(run(UnaryKind::Log, -0.f), -kInf);
    EXPECT_TRUE(std::isnan(run(UnaryKind::Log, -1.f)));
    EXPECT_TRUE(std::isnan(run(UnaryKind::Log, -kInf)));
    EXPECT_EQ(run(UnaryKind::Log, kInf), kInf);
    EXPECT_EQ(run(UnaryKind::Log, 1.f), 0.f);
    EXPECT_EQ(run(UnaryKind::Log1p, -1.f), -kInf);
    EXPECT_TRUE(std::isnan(run(UnaryKind::Log1p, -2.f)));
    EXPECT_EQ(run(UnaryKind::Log1p, kInf), kInf);
    EXPECT_TRUE(std::signbit(run(UnaryKind::Log1p, -0.f)));
    EXPECT_TRUE(std::isnan(run(UnaryKind::Sin, kInf)));
    EXPECT_TRUE(std::isnan(run(UnaryKind::Sin, -kInf)));
    EXPECT_TRUE(std::isnan(run(UnaryKind::Cos, kInf)));
    EXPECT_TRUE(std::signbit(run(UnaryKind::Sin, -0.f)));
    EXPECT_EQ(run(UnaryKind::Cos, -0.f), 1.f);
    EXPECT_EQ(run(UnaryKind::Tanh, kInf), 1.f);
    EXPECT_EQ(run(UnaryKind::Tanh, -kInf), -1.f);
    EXPECT_EQ(run(UnaryKind::Tanh, 20.f), 1.f);
    EXPECT_TRUE(std::signbit(run(UnaryKind::Tanh, -0.f)));
    EXPECT_EQ(run(UnaryKind::Sigmoid, kInf), 1.f);
    EXPECT_EQ(run(UnaryKind::Sigmoid, -kInf), 0.f);
    EXPECT_EQ(run(UnaryKind::Sigmoid, 100.f), 1.f);
    EXPECT_EQ(run(UnaryKind::Sigmoid, 0.f), 0.5f);
    EXPECT_EQ(run(UnaryKind::Sigmoid, -200.f), 0.f);
    const float tiny = run(UnaryKind::Sigmoid, -100.f);  // e^-100: subnormal, not flushed
    EXPECT_GT(tiny, 0.f);
    EXPECT_NEAR(tiny, std::exp(-100.0), 1.5e-45);
    EXPECT_EQ(run(UnaryKind::Erf, kInf), 1.f);
    EXPECT_EQ(run(UnaryKind::Erf, -kInf), -1.f);
    EXPECT_TRUE(std::signbit(run(UnaryKind::Erf, -0.f)));
  }
}

// Large and non-finite sin/cos inputs take libm inside a block of fast ones, also in place.
TEST(SimdMath, TrigFallbackForLargeInputs) {
  std::vector<float> x;
  for (int i = 0; i < 3000; ++i) x.push_back(0.37f * i - 500.f);
  x[17] = 1e7f;
  x[600] = -3.5e6f;
  x[1500] = kInf;
  x[1501] = kNaN;
  x[2999] = 1e38f;
  for (const KernelTable* t : tables()) {
    for (UnaryKind k : {UnaryKind::Sin, UnaryKind::Cos}) {
      std::vector<float> y(x.size()), z = x;
      t->unary[size_t(k)](x.data(), y.data(), x.size());
      t->unary[size_t(k)](z.data(), z.data(), z.size());
      for (size_t i = 0; i < x.size(); ++i) {
        const float want = k == UnaryKind::Sin ? std::sin(x[i]) : std::cos(x[i]);
        if (std::fabs(x[i]) > simd::kTrigFastLimit || !std::isfinite(x[i])) {
          EXPECT_TRUE(bits_of(y[i]) == bits_of(want) || (std::isnan(y[i]) && std::isnan(want)))
              << x[i];
        }
        EXPECT_TRUE(bits_of(z[i]) == bits_of(y[i]) || (std::isnan(y[i]) && std::isnan(z[i])))
            << "in place differs at " << i;
      }
    }
  }
}

// Every length up to a few vectors (tails), in place and not, gives the same bits as one
// call over everything.
TEST(SimdMath, TailsAndInPlaceCallsAgree) {
  std::vector<float> x(200);
  for (size_t i = 0; i < x.size(); ++i) x[i] = 0.173f * float(i) - 17.f;
  for (const KernelTable* t : tables()) {
    for (size_t k = 0; k < size_t(UnaryKind::Count); ++k) {
      std::vector<float> whole(x.size());
      t->unary[k](x.data(), whole.data(), x.size());
      for (size_t n = 0; n <= 70; ++n) {
        std::vector<float> y(n + 1, -7.f), z(x.begin() + 3, x.begin() + 3 + n);
        t->unary[k](x.data() + 3, y.data(), n);
        t->unary[k](z.data(), z.data(), n);
        for (size_t i = 0; i < n; ++i) {
          const uint32_t want = bits_of(whole[3 + i]);
          ASSERT_TRUE(bits_of(y[i]) == want || (std::isnan(y[i]) && std::isnan(whole[3 + i])))
              << simd::isa_name(t->isa) << " kernel " << k << " n=" << n << " i=" << i;
          ASSERT_TRUE(bits_of(z[i]) == want || (std::isnan(z[i]) && std::isnan(whole[3 + i])))
              << simd::isa_name(t->isa) << " kernel " << k << " in place n=" << n;
        }
        EXPECT_EQ(y[n], -7.f) << "wrote past the end";
      }
    }
  }
}

// The AVX2 and AVX-512 kernels fuse the same multiply-adds, so they agree bit for bit.
TEST(SimdMath, FusedIsasAgreeBitwise) {
  const KernelTable* avx2 = simd::kernels_for(Isa::Avx2);
  const KernelTable* avx512 = simd::kernels_for(Isa::Avx512);
  if (!avx2 || !avx512) GTEST_SKIP() << "needs AVX2 and AVX-512";
  for (const MathCase& c : kCases) {
    std::vector<float> x = sweep_inputs(c.kind), a(x.size()), b(x.size());
    avx2->unary[size_t(c.kind)](x.data(), a.data(), x.size());
    avx512->unary[size_t(c.kind)](x.data(), b.data(), x.size());
    for (size_t i = 0; i < x.size(); ++i) {
      ASSERT_TRUE(bits_of(a[i]) == bits_of(b[i]) || (std::isnan(a[i]) && std::isnan(b[i])))
          << c.name << "(" << x[i] << ")";
    }
  }
}

TEST(SimdMath, ChosenTableIsOneThisCpuRuns) {
  const KernelTable& k = simd::kernels();
  EXPECT_EQ(simd::kernels_for(k.isa), &k);
  EXPECT_NE(simd::kernels_for(Isa::Baseline), nullptr);
}

TEST(SimdMath, ExactUnaryKernels) {
  std::vector<float> x = special_inputs();
  for (int i = 0; i < 100; ++i) x.push_back(0.37f * float(i) - 20.f);
  for (const KernelTable* t : tables()) {
    std::vector<float> y(x.size());
    auto check = [&](UnaryKind k, float (*f)(float), const char* name) {
      t->unary[size_t(k)](x.data(), y.data(), x.size());
      for (size_t i = 0; i < x.size(); ++i) {
        const float want = f(x[i]);
        EXPECT_TRUE(bits_of(y[i]) == bits_of(want) || (std::isnan(y[i]) && std::isnan(want)))
            << simd::isa_name(t->isa) << " " << name << "(" << x[i] << ") = " << y[i];
      }
    };
    check(UnaryKind::Sqrt, [](float v) { return std::sqrt(v); }, "sqrt");
    check(UnaryKind::Negative, [](float v) { return -v; }, "negative");
    check(UnaryKind::Abs, [](float v) { return std::fabs(v); }, "abs");
    check(UnaryKind::Square, [](float v) { return v * v; }, "square");
  }
}

float max_ref(float a, float b) { return (a > b || std::isnan(a)) ? a : b; }
float min_ref(float a, float b) { return (a < b || std::isnan(a)) ? a : b; }

TEST(SimdMath, BinaryKernelsEveryOperandForm) {
  std::vector<float> a = special_inputs(), b = special_inputs();
  std::reverse(b.begin(), b.end());
  for (int i = 0; i < 61; ++i) {
    a.push_back(0.5f * float(i) - 7.f);
    b.push_back(3.f - 0.25f * float(i));
  }
  const size_t n = a.size();
  struct Op {
    BinaryKind kind;
    float (*f)(float, float);
  };
  const Op ops[] = {{BinaryKind::Add, [](float x, float y) { return x + y; }},
                    {BinaryKind::Subtract, [](float x, float y) { return x - y; }},
                    {BinaryKind::Multiply, [](float x, float y) { return x * y; }},
                    {BinaryKind::Divide, [](float x, float y) { return x / y; }},
                    {BinaryKind::Maximum, max_ref},
                    {BinaryKind::Minimum, min_ref}};
  auto same = [](float x, float y) { return bits_of(x) == bits_of(y) || (std::isnan(x) && std::isnan(y)); };
  for (const KernelTable* t : tables()) {
    for (const Op& op : ops) {
      const auto* k = t->binary[size_t(op.kind)];
      std::vector<float> y(n);
      k[size_t(Operands::VectorVector)](a.data(), b.data(), y.data(), n);
      for (size_t i = 0; i < n; ++i) ASSERT_TRUE(same(y[i], op.f(a[i], b[i]))) << int(op.kind) << " vv " << i;
      for (size_t s : {size_t(0), size_t(4), size_t(5), n - 1}) {
        k[size_t(Operands::ScalarVector)](&a[s], b.data(), y.data(), n);
        for (size_t i = 0; i < n; ++i) ASSERT_TRUE(same(y[i], op.f(a[s], b[i]))) << int(op.kind) << " sv " << i;
        k[size_t(Operands::VectorScalar)](a.data(), &b[s], y.data(), n);
        for (size_t i = 0; i < n; ++i) ASSERT_TRUE(same(y[i], op.f(a[i], b[s]))) << int(op.kind) << " vs " << i;
      }
      std::vector<float> z = a;  // in place into the first operand
      k[size_t(Operands::VectorVector)](z.data(), b.data(), z.data(), n);
      for (size_t i = 0; i < n; ++i) ASSERT_TRUE(same(z[i], op.f(a[i], b[i]))) << int(op.kind) << " in place";
    }
  }
}

// ---- Through pullback ops: every layout reaches the same kernel. ----

using OpFn = array (*)(const array&, Stream);
struct OpCase {
  OpFn op;
  UnaryKind kind;
  const char* name;
};
const OpCase kOps[] = {{exp, UnaryKind::Exp, "exp"},         {expm1, UnaryKind::Expm1, "expm1"},
                       {log, UnaryKind::Log, "log"},         {log1p, UnaryKind::Log1p, "log1p"},
                       {sin, UnaryKind::Sin, "sin"},         {cos, UnaryKind::Cos, "cos"},
                       {tanh, UnaryKind::Tanh, "tanh"},      {sigmoid, UnaryKind::Sigmoid, "sigmoid"},
                       {erf, UnaryKind::Erf, "erf"},         {sqrt, UnaryKind::Sqrt, "sqrt"},
                       {negative, UnaryKind::Negative, "negative"}, {abs, UnaryKind::Abs, "abs"},
                       {square, UnaryKind::Square, "square"}};

// What the chosen kernel gives for each of `x`.
std::vector<float> kernel_values(UnaryKind k, const std::vector<float>& x) {
  std::vector<float> y(x.size());
  simd::kernels().unary[size_t(k)](x.data(), y.data(), x.size());
  return y;
}

void expect_same_bits(const std::vector<float>& got, const std::vector<float>& want, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_TRUE(bits_of(got[i]) == bits_of(want[i]) || (std::isnan(got[i]) && std::isnan(want[i])))
        << what << " [" << i << "]: got " << got[i] << ", want " << want[i];
  }
}

// compile's merged runs of scalar steps round every product and sum on its own: the bits of the
// step-by-step loop (signed zeros, infinities and NaN included), at every length and in place.
TEST(SimdMath, AffineChainRoundsEachStep) {
  std::vector<float> x = special_inputs();
  std::mt19937 rng(3);
  std::normal_distribution<float> normal(0.f, 30.f);
  while (x.size() < 300) x.push_back(normal(rng));
  const std::vector<float> mul = {1.01f, -1.f, 0.f, 3.f, 1.f, -0.f, 1e30f};
  const std::vector<float> add = {0.1f, -0.f, -0.f, 2.5f, -7.f, -0.f, 1.f};
  for (const KernelTable* t : tables()) {
    for (size_t steps : {size_t(0), size_t(1), size_t(2), mul.size()}) {
      for (size_t n : {size_t(0), size_t(1), size_t(63), size_t(64), size_t(65), x.size()}) {
        std::vector<float> want(n), got(n), in_place(x.begin(), x.begin() + n);
        for (size_t i = 0; i < n; ++i) {
          volatile float v = x[i];  // no contraction into a fused multiply-add
          for (size_t s = 0; s < steps; ++s) {
            volatile float p = v * mul[s];
            v = p + add[s];
          }
          want[i] = v;
        }
        t->affine(x.data(), got.data(), n, mul.data(), add.data(), steps);
        t->affine(in_place.data(), in_place.data(), n, mul.data(), add.data(), steps);
        const std::string what = std::string(simd::isa_name(t->isa)) + " affine steps=" +
                                 std::to_string(steps) + " n=" + std::to_string(n);
        expect_same_bits(got, want, what);
        expect_same_bits(in_place, want, what + " in place");
      }
    }
  }
}

TEST(SimdMathOps, ContiguousStridedAndBroadcastFloat32) {
  // (300, 700) values in [-6, 6) plus specials; large enough to split across threads.
  const int64_t rows = 300, cols = 700;
  std::vector<double> v(rows * cols);
  for (size_t i = 0; i < v.size(); ++i) v[i] = -6.0 + 12.0 * double((i * 7919) % v.size()) / double(v.size());
  const float specials[] = {0.f, -0.f, kInf, -kInf, kNaN, 1e-40f, 2e6f};
  for (size_t i = 0; i < 7; ++i) v[i * 1001] = specials[i];
  array x = from_doubles(v, {rows, cols}, Dtype::float32);
  std::vector<float> xv = to_vector<float>(x);
  array xt = transpose(x);                                   // (700, 300), strided
  std::vector<float> xtv = to_vector<float>(xt);
  array xs = slice(x, {0, 1}, {rows, cols}, {2, 3});         // every other row, every third column
  std::vector<float> xsv = to_vector<float>(xs);
  array row = slice(x, {5, 0}, {6, cols}, {1, 1});           // (1, 700)
  array xb = broadcast_to(row, {4, cols});
  std::vector<float> xbv = to_vector<float>(xb);
  array xsc = broadcast_to(array(0.75f), {3, 5});            // broadcast scalar
  for (const OpCase& c : kOps) {
    SCOPED_TRACE(c.name);
    expect_same_bits(to_vector<float>(c.op(x, current_stream())), kernel_values(c.kind, xv), "contiguous");
    expect_same_bits(to_vector<float>(c.op(xt, current_stream())), kernel_values(c.kind, xtv), "transposed");
    expect_same_bits(to_vector<float>(c.op(xs, current_stream())), kernel_values(c.kind, xsv), "sliced");
    expect_same_bits(to_vector<float>(c.op(xb, current_stream())), kernel_values(c.kind, xbv), "broadcast row");
    expect_same_bits(to_vector<float>(c.op(xsc, current_stream())),
                     std::vector<float>(15, kernel_values(c.kind, {0.75f})[0]), "broadcast scalar");
  }
  // And the values are right, not only consistent: within the sweep bounds of libm.
  for (const MathCase& m : kCases) {
    for (const OpCase& c : kOps) {
      if (c.kind != m.kind) continue;
      check_against_reference(m, xtv, to_vector<float>(c.op(xt, current_stream())), "transposed op");
    }
  }
}

TEST(SimdMathOps, HalfTypesRoundTheFloatKernel) {
  std::vector<double> v;
  for (int i = 0; i < 3000; ++i) v.push_back(-8.0 + 16.0 * i / 3000.0);
  for (Dtype dt : {Dtype::float16, Dtype::bfloat16}) {
    array x = from_doubles(v, {3000}, dt);
    std::vector<float> xf;
    for (double d : to_doubles(x)) xf.push_back(float(d));
    for (const OpCase& c : kOps) {
      if (c.kind == UnaryKind::Sqrt || c.kind == UnaryKind::Negative || c.kind == UnaryKind::Abs ||
          c.kind == UnaryKind::Square)
        continue;
      std::vector<float> want = kernel_values(c.kind, xf);
      std::vector<double> got = to_doubles(c.op(x, current_stream()));
      std::vector<double> got_t = to_doubles(c.op(slice(x, {1}, {3000}, {3}), current_stream()));
      for (size_t i = 0; i < xf.size(); ++i) {
        const double w = round_trip(double(want[i]), dt);
        ASSERT_TRUE(got[i] == w || (std::isnan(got[i]) && std::isnan(w))) << dtype_name(dt) << " " << c.name << " " << i;
        if (i % 3 == 1) ASSERT_TRUE(got_t[i / 3] == got[i] || (std::isnan(got[i]) && std::isnan(got_t[i / 3])));
      }
    }
  }
}

TEST(SimdMathOps, BinaryFloat32Layouts) {
  const int64_t n = 200003;  // odd, and large enough to split across threads
  array x = multiply(iota({n}), array(1e-3f));
  array y = subtract(array(50.f), multiply(iota({n}), array(7e-4f)));
  std::vector<float> xv = to_vector<float>(x), yv = to_vector<float>(y);
  std::vector<float> s = to_vector<float>(add(multiply(x, array(2.f)), array(1.f)));
  std::vector<float> q = to_vector<float>(divide(array(3.f), y));
  std::vector<float> mx = to_vector<float>(maximum(x, y));
  std::vector<float> mn = to_vector<float>(minimum(x, array(kNaN)));
  for (int64_t i = 0; i < n; ++i) {
    ASSERT_EQ(s[i], xv[i] * 2.f + 1.f) << i;
    ASSERT_EQ(bits_of(q[i]), bits_of(3.f / yv[i])) << i;
    ASSERT_EQ(mx[i], std::max(xv[i], yv[i])) << i;
    ASSERT_TRUE(std::isnan(mn[i])) << i;
  }
  // A broadcast row against a column (scalar-vector rows through the strided path).
  array col = reshape(slice(x, {0}, {300}, {1}), {300, 1});
  array rowv = reshape(slice(y, {0}, {400}, {1}), {1, 400});
  std::vector<float> outer = to_vector<float>(subtract(col, rowv));
  for (int64_t i = 0; i < 300; ++i)
    for (int64_t j = 0; j < 400; ++j) ASSERT_EQ(outer[i * 400 + j], xv[i] - yv[j]);
}

}  // namespace
