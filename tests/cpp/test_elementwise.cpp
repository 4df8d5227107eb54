// Elementwise ops: every unary and binary op in ops.h against <cmath> per float dtype,
// integer division rules, comparisons, where, astype across dtypes, strided and broadcast
// operands, and error messages.
#include <gtest/gtest.h>

#include <cmath>
#include <complex>
#include <functional>
#include <limits>
#include <stdexcept>
#include <string>

#include "pullback/ops.h"
#include "test_utils.h"

using namespace pullback;
using namespace pbtest;

namespace {

const double kInf = std::numeric_limits<double>::infinity();
const double kNaN = std::numeric_limits<double>::quiet_NaN();

const Dtype kFloatTypes[] = {Dtype::float32, Dtype::float64, Dtype::float16, Dtype::bfloat16};

struct Tol {
  double rtol, atol;
};
Tol tolerance(Dtype t) {
  switch (t) {
    case Dtype::float64: return {1e-12, 1e-14};
    case Dtype::float32: return {4e-6, 1e-6};
    case Dtype::float16: return {2e-3, 1e-4};
    default: return {1e-2, 1e-3};  // bfloat16: 8 significant bits
  }
}

double erfinv_reference(double y) {
  if (y <= -1) return y == -1 ? -kInf : kNaN;
  if (y >= 1) return y == 1 ? kInf : kNaN;
  double lo = -7, hi = 7;
  for (int i = 0; i < 200; ++i) {
    double mid = 0.5 * (lo + hi);
    (std::erf(mid) < y ? lo : hi) = mid;
  }
  return 0.5 * (lo + hi);
}

double python_mod(double a, double b) {
  double r = std::fmod(a, b);
  if (r != 0 && ((r < 0) != (b < 0))) r += b;
  return r;
}

using UnaryFn = array (*)(const array&);
using BinaryFn = array (*)(const array&, const array&);
using UnaryRef = double (*)(double);
using BinaryRef = double (*)(double, double);

struct UnaryCase {
  const char* name;
  UnaryFn op;
  UnaryRef ref;
  std::vector<double> xs;
};

const std::vector<UnaryCase>& unary_cases() {
  static const std::vector<UnaryCase> cases = {
      {"abs", [](const array& a) { return abs(a); }, [](double x) { return std::fabs(x); },
       {-2.5, -0.5, 0, 1.75, 3}},
      {"negative", [](const array& a) { return negative(a); }, [](double x) { return -x; },
       {-2.5, -0.5, 0, 1.75, 3}},
      {"sign", [](const array& a) { return sign(a); },
       [](double x) { return static_cast<double>((0 < x) - (x < 0)); }, {-2.5, -0.25, 0, 0.5, 3}},
      {"exp", [](const array& a) { return exp(a); }, [](double x) { return std::exp(x); },
       {-3, -0.5, 0, 0.7, 2.5}},
      {"expm1", [](const array& a) { return expm1(a); }, [](double x) { return std::expm1(x); },
       {-1, -1e-3, 0, 1e-4, 0.5, 2}},
      {"log", [](const array& a) { return log(a); }, [](double x) { return std::log(x); },
       {0.01, 0.5, 1, 2, 10, 100}},
      {"log1p", [](const array& a) { return log1p(a); }, [](double x) { return std::log1p(x); },
       {-0.5, -1e-3, 0, 1e-4, 1, 9}},
      {"log2", [](const array& a) { return log2(a); }, [](double x) { return std::log2(x); },
       {0.125, 0.5, 1, 3, 10, 1000}},
      {"log10", [](const array& a) { return log10(a); }, [](double x) { return std::log10(x); },
       {0.125, 0.5, 1, 3, 10, 1000}},
      {"sqrt", [](const array& a) { return sqrt(a); }, [](double x) { return std::sqrt(x); },
       {0, 0.25, 2, 9, 100}},
      {"rsqrt", [](const array& a) { return rsqrt(a); },
       [](double x) { return 1 / std::sqrt(x); }, {0.25, 2, 9, 100}},
      {"square", [](const array& a) { return square(a); }, [](double x) { return x * x; },
       {-3, -0.5, 0, 1.5, 4}},
      {"reciprocal", [](const array& a) { return reciprocal(a); }, [](double x) { return 1 / x; },
       {-4, -0.5, 0.25, 3, 10}},
      {"sin", [](const array& a) { return sin(a); }, [](double x) { return std::sin(x); },
       {-2, -0.5, 0, 0.3, 1.2}},
      {"cos", [](const array& a) { return cos(a); }, [](double x) { return std::cos(x); },
       {-2, -0.5, 0, 0.3, 1.2}},
      {"tan", [](const array& a) { return tan(a); }, [](double x) { return std::tan(x); },
       {-1.2, -0.5, 0, 0.3, 1.2}},
      {"arcsin", [](const array& a) { return arcsin(a); }, [](double x) { return std::asin(x); },
       {-0.9, -0.5, 0, 0.25, 0.75}},
      {"arccos", [](const array& a) { return arccos(a); }, [](double x) { return std::acos(x); },
       {-0.9, -0.5, 0, 0.25, 0.75}},
      {"arctan", [](const array& a) { return arctan(a); }, [](double x) { return std::atan(x); },
       {-10, -1, 0, 0.5, 3}},
      {"sinh", [](const array& a) { return sinh(a); }, [](double x) { return std::sinh(x); },
       {-3, -0.5, 0, 0.8, 2}},
      {"cosh", [](const array& a) { return cosh(a); }, [](double x) { return std::cosh(x); },
       {-3, -0.5, 0, 0.8, 2}},
      {"tanh", [](const array& a) { return tanh(a); }, [](double x) { return std::tanh(x); },
       {-3, -0.5, 0, 0.8, 2}},
      {"arcsinh", [](const array& a) { return arcsinh(a); },
       [](double x) { return std::asinh(x); }, {-5, -0.5, 0, 1, 10}},
      {"arccosh", [](const array& a) { return arccosh(a); },
       [](double x) { return std::acosh(x); }, {1, 1.5, 3, 10}},
      {"arctanh", [](const array& a) { return arctanh(a); },
       [](double x) { return std::atanh(x); }, {-0.9, -0.5, 0, 0.25, 0.75}},
      {"sigmoid", [](const array& a) { return sigmoid(a); },
       [](double x) { return 1 / (1 + std::exp(-x)); }, {-20, -2, 0, 1.5, 20}},
      {"erf", [](const array& a) { return erf(a); }, [](double x) { return std::erf(x); },
       {-2, -0.5, 0, 0.3, 1.5}},
      {"erfinv", [](const array& a) { return erfinv(a); }, erfinv_reference,
       {-0.9, -0.5, 0, 0.3, 0.99}},
      {"floor", [](const array& a) { return floor(a); }, [](double x) { return std::floor(x); },
       {-2.5, -1.25, -0.5, 0, 0.5, 1.75, 3}},
      {"ceil", [](const array& a) { return ceil(a); }, [](double x) { return std::ceil(x); },
       {-2.5, -1.25, -0.5, 0, 0.5, 1.75, 3}},
      {"round", [](const array& a) { return round(a); },
       [](double x) { return std::nearbyint(x); },  // halves to even
       {-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 0.75, -1.25}},
  };
  return cases;
}

struct BinaryCase {
  const char* name;
  BinaryFn op;
  BinaryRef ref;
  std::vector<double> as, bs;
};

const std::vector<double> kA = {-2.5, -1, 0, 0.5, 3, 7, -7, 7};
const std::vector<double> kB = {1.5, -2, 4, 0.25, -0.75, 2, 2, -2};

const std::vector<BinaryCase>& binary_cases() {
  static const std::vector<BinaryCase> cases = {
      {"add", [](const array& a, const array& b) { return add(a, b); },
       [](double a, double b) { return a + b; }, kA, kB},
      {"subtract", [](const array& a, const array& b) { return subtract(a, b); },
       [](double a, double b) { return a - b; }, kA, kB},
      {"multiply", [](const array& a, const array& b) { return multiply(a, b); },
       [](double a, double b) { return a * b; }, kA, kB},
      {"divide", [](const array& a, const array& b) { return divide(a, b); },
       [](double a, double b) { return a / b; }, kA, kB},
      {"floor_divide", [](const array& a, const array& b) { return floor_divide(a, b); },
       [](double a, double b) { return std::floor(a / b); }, kA, kB},
      {"remainder", [](const array& a, const array& b) { return remainder(a, b); }, python_mod,
       kA, kB},
      {"power", [](const array& a, const array& b) { return power(a, b); },
       [](double a, double b) { return std::pow(a, b); },
       {0.5, 1.5, 2, 3, 0.25, 4, -2, -3}, {2, -1, 0.5, 3, 1.5, -2, 3, 2}},
      {"maximum", [](const array& a, const array& b) { return maximum(a, b); },
       [](double a, double b) { return std::max(a, b); }, kA, kB},
      {"minimum", [](const array& a, const array& b) { return minimum(a, b); },
       [](double a, double b) { return std::min(a, b); }, kA, kB},
      {"arctan2", [](const array& a, const array& b) { return arctan2(a, b); },
       [](double a, double b) { return std::atan2(a, b); }, kA, kB},
      {"logaddexp", [](const array& a, const array& b) { return logaddexp(a, b); },
       [](double a, double b) {
         double m = std::max(a, b);
         return m + std::log1p(std::exp(-std::fabs(a - b)));
       },
       kA, kB},
  };
  return cases;
}

struct CompareCase {
  const char* name;
  BinaryFn op;
  bool (*ref)(double, double);
};

const std::vector<CompareCase>& compare_cases() {
  static const std::vector<CompareCase> cases = {
      {"equal", [](const array& a, const array& b) { return equal(a, b); },
       [](double a, double b) { return a == b; }},
      {"not_equal", [](const array& a, const array& b) { return not_equal(a, b); },
       [](double a, double b) { return a != b; }},
      {"less", [](const array& a, const array& b) { return less(a, b); },
       [](double a, double b) { return a < b; }},
      {"less_equal", [](const array& a, const array& b) { return less_equal(a, b); },
       [](double a, double b) { return a <= b; }},
      {"greater", [](const array& a, const array& b) { return greater(a, b); },
       [](double a, double b) { return a > b; }},
      {"greater_equal", [](const array& a, const array& b) { return greater_equal(a, b); },
       [](double a, double b) { return a >= b; }},
  };
  return cases;
}

std::vector<double> rounded(const std::vector<double>& v, Dtype t) {
  std::vector<double> out;
  for (double x : v) out.push_back(round_trip(x, t));
  return out;
}

std::vector<double> bools(const array& a) {
  EXPECT_EQ(a.dtype(), Dtype::bool_);
  return to_doubles(a);
}

void expect_values(const array& got, const std::vector<double>& want, const std::string& what,
                   double rtol = 0, double atol = 0) {
  expect_close(to_doubles(got), want, rtol, atol, what);
}

}  // namespace

TEST(Unary, EveryOpMatchesCmathPerFloatDtype) {
  for (const auto& c : unary_cases()) {
    for (Dtype t : kFloatTypes) {
      std::string what = std::string(c.name) + " " + dtype_name(t);
      std::vector<double> xs = rounded(c.xs, t);
      array out = c.op(from_doubles(xs, {static_cast<int64_t>(xs.size())}, t));
      EXPECT_EQ(out.dtype(), t) << what;
      EXPECT_EQ(out.shape(), (Shape{static_cast<int64_t>(xs.size())})) << what;
      std::vector<double> want;
      for (double x : xs) want.push_back(c.ref(x));
      Tol tol = tolerance(t);
      expect_values(out, want, what, tol.rtol, tol.atol);
    }
  }
}

TEST(Unary, SpecialValues) {
  array x = from_doubles({kInf, -kInf, kNaN, 0.0, -0.0}, Dtype::float32);
  std::vector<double> e = to_doubles(exp(x));
  EXPECT_EQ(e[0], kInf);
  EXPECT_EQ(e[1], 0.0);
  EXPECT_TRUE(std::isnan(e[2]));
  EXPECT_EQ(e[3], 1.0);
  std::vector<double> l = to_doubles(log(from_doubles({0.0, -1.0, kInf}, Dtype::float32)));
  EXPECT_EQ(l[0], -kInf);
  EXPECT_TRUE(std::isnan(l[1]));
  EXPECT_EQ(l[2], kInf);
  std::vector<double> s = to_doubles(sqrt(from_doubles({-1.0}, Dtype::float64)));
  EXPECT_TRUE(std::isnan(s[0]));
  std::vector<double> sg = to_doubles(sign(from_doubles({kNaN, -0.0}, Dtype::float32)));
  EXPECT_EQ(sg[0], 0.0);  // sign(NaN) is 0 in MLX
  EXPECT_EQ(sg[1], 0.0);
  // Sigmoid neither overflows nor returns NaN far from zero.
  std::vector<double> sig = to_doubles(sigmoid(from_doubles({-200, 200}, Dtype::float32)));
  EXPECT_EQ(sig[0], 0.0);
  EXPECT_EQ(sig[1], 1.0);
  std::vector<double> ei = to_doubles(erfinv(from_doubles({-1, 1, 1.5}, Dtype::float32)));
  EXPECT_EQ(ei[0], -kInf);
  EXPECT_EQ(ei[1], kInf);
  EXPECT_TRUE(std::isnan(ei[2]));
  std::vector<double> r = to_doubles(reciprocal(from_doubles({0.0, -0.0}, Dtype::float32)));
  EXPECT_EQ(r[0], kInf);
  EXPECT_EQ(r[1], -kInf);
}

TEST(Unary, IntegerInputs) {
  array i = from_doubles({-5, -1, 0, 2, 7}, Dtype::int32);
  EXPECT_EQ(abs(i).dtype(), Dtype::int32);
  EXPECT_EQ(to_vector<int32_t>(abs(i)), (std::vector<int32_t>{5, 1, 0, 2, 7}));
  EXPECT_EQ(to_vector<int32_t>(negative(i)), (std::vector<int32_t>{5, 1, 0, -2, -7}));
  EXPECT_EQ(to_vector<int32_t>(sign(i)), (std::vector<int32_t>{-1, -1, 0, 1, 1}));
  EXPECT_EQ(to_vector<int32_t>(square(i)), (std::vector<int32_t>{25, 1, 0, 4, 49}));
  // Rounding an integer is the identity, in the same dtype.
  for (UnaryFn f : {UnaryFn([](const array& a) { return floor(a); }),
                    UnaryFn([](const array& a) { return ceil(a); }),
                    UnaryFn([](const array& a) { return round(a); })}) {
    array r = f(i);
    EXPECT_EQ(r.dtype(), Dtype::int32);
    EXPECT_EQ(to_vector<int32_t>(r), (std::vector<int32_t>{-5, -1, 0, 2, 7}));
  }
  // Transcendental ops on integers compute in float32.
  array e = exp(i);
  EXPECT_EQ(e.dtype(), Dtype::float32);
  expect_values(e, {std::exp(-5.0), std::exp(-1.0), 1, std::exp(2.0), std::exp(7.0)}, "exp int",
                4e-6, 0);
  array sq = sqrt(from_doubles({4, 9, 16}, Dtype::uint8));
  EXPECT_EQ(sq.dtype(), Dtype::float32);
  EXPECT_EQ(to_vector<float>(sq), (std::vector<float>{2, 3, 4}));
  // Unsigned and narrow types keep their dtype and wrap like C (and NumPy).
  array u = from_doubles({0, 1, 200}, Dtype::uint8);
  EXPECT_EQ(to_vector<uint8_t>(abs(u)), (std::vector<uint8_t>{0, 1, 200}));
  EXPECT_EQ(to_vector<uint8_t>(negative(u)), (std::vector<uint8_t>{0, 255, 56}));
  EXPECT_EQ(to_vector<uint8_t>(sign(u)), (std::vector<uint8_t>{0, 1, 1}));
  array i64 = from_doubles({-3e12, 4e12}, Dtype::int64);
  EXPECT_EQ(to_vector<int64_t>(abs(i64)), (std::vector<int64_t>{3000000000000LL, 4000000000000LL}));
  // Bool: sign and square keep bool; abs too.
  array b = from_doubles({0, 1}, Dtype::bool_);
  EXPECT_EQ(abs(b).dtype(), Dtype::bool_);
  EXPECT_EQ(to_doubles(square(b)), (std::vector<double>{0, 1}));
}

TEST(Unary, RoundWithDecimals) {
  array x = from_doubles({1.2345, 0.125, -2.5, 1234.5, 2.5}, Dtype::float64);
  expect_values(round(x, 2), {1.23, 0.12, -2.5, 1234.5, 2.5}, "round 2", 1e-12, 1e-12);
  expect_values(round(x, -2), {0, 0, 0, 1200, 0}, "round -2", 1e-12, 1e-12);
  array f = from_doubles({1.2345, -0.555}, Dtype::float32);
  expect_values(round(f, 1), {1.2, -0.6}, "round f32", 1e-6, 1e-6);
  EXPECT_EQ(round(f, 1).dtype(), Dtype::float32);
}

TEST(Unary, Predicates) {
  std::vector<double> v = {kNaN, kInf, -kInf, 1.5, 0, -2};
  for (Dtype t : kFloatTypes) {
    SCOPED_TRACE(dtype_name(t));
    array x = from_doubles(v, t);
    EXPECT_EQ(bools(isnan(x)), (std::vector<double>{1, 0, 0, 0, 0, 0}));
    EXPECT_EQ(bools(isinf(x)), (std::vector<double>{0, 1, 1, 0, 0, 0}));
    EXPECT_EQ(bools(isfinite(x)), (std::vector<double>{0, 0, 0, 1, 1, 1}));
    EXPECT_EQ(bools(isposinf(x)), (std::vector<double>{0, 1, 0, 0, 0, 0}));
    EXPECT_EQ(bools(isneginf(x)), (std::vector<double>{0, 0, 1, 0, 0, 0}));
    EXPECT_EQ(bools(logical_not(x)), (std::vector<double>{0, 0, 0, 0, 1, 0}));
  }
  array i = from_doubles({-1, 0, 3}, Dtype::int32);
  EXPECT_EQ(bools(isnan(i)), (std::vector<double>{0, 0, 0}));
  EXPECT_EQ(bools(isinf(i)), (std::vector<double>{0, 0, 0}));
  EXPECT_EQ(bools(isfinite(i)), (std::vector<double>{1, 1, 1}));
  EXPECT_EQ(bools(logical_not(i)), (std::vector<double>{0, 1, 0}));
  EXPECT_EQ(bools(logical_not(from_doubles({0, 1}, Dtype::bool_))), (std::vector<double>{1, 0}));
}

TEST(Unary, ComplexInputs) {
  std::vector<complex64_t> v = {{1.f, 2.f}, {-0.5f, 0.25f}, {0.f, -1.f}};
  array z(v.data(), {3}, Dtype::complex64);
  struct Case {
    const char* name;
    UnaryFn op;
    std::complex<double> (*ref)(std::complex<double>);
  };
  const Case cases[] = {
      {"exp", [](const array& a) { return exp(a); },
       [](std::complex<double> x) { return std::exp(x); }},
      {"log", [](const array& a) { return log(a); },
       [](std::complex<double> x) { return std::log(x); }},
      {"sqrt", [](const array& a) { return sqrt(a); },
       [](std::complex<double> x) { return std::sqrt(x); }},
      {"sin", [](const array& a) { return sin(a); },
       [](std::complex<double> x) { return std::sin(x); }},
      {"square", [](const array& a) { return square(a); },
       [](std::complex<double> x) { return x * x; }},
      {"negative", [](const array& a) { return negative(a); },
       [](std::complex<double> x) { return -x; }},
  };
  for (const auto& c : cases) {
    array out = c.op(z);
    ASSERT_EQ(out.dtype(), Dtype::complex64) << c.name;
    std::vector<complex64_t> got = to_vector<complex64_t>(out);
    for (size_t i = 0; i < v.size(); ++i) {
      std::complex<double> want = c.ref(std::complex<double>(v[i].real(), v[i].imag()));
      EXPECT_NEAR(got[i].real(), want.real(), 1e-5 * (1 + std::abs(want))) << c.name << i;
      EXPECT_NEAR(got[i].imag(), want.imag(), 1e-5 * (1 + std::abs(want))) << c.name << i;
    }
  }
  array m = abs(z);
  EXPECT_EQ(m.dtype(), Dtype::float32);
  expect_values(m, {std::sqrt(5.0), std::sqrt(0.3125), 1.0}, "abs complex", 1e-6, 0);
}

TEST(Binary, EveryOpMatchesCmathPerFloatDtype) {
  for (const auto& c : binary_cases()) {
    for (Dtype t : kFloatTypes) {
      std::string what = std::string(c.name) + " " + dtype_name(t);
      std::vector<double> as = rounded(c.as, t), bs = rounded(c.bs, t);
      array out = c.op(from_doubles(as, t), from_doubles(bs, t));
      EXPECT_EQ(out.dtype(), t) << what;
      std::vector<double> want;
      for (size_t i = 0; i < as.size(); ++i) want.push_back(c.ref(as[i], bs[i]));
      Tol tol = tolerance(t);
      expect_values(out, want, what, tol.rtol, tol.atol);
    }
  }
}

TEST(Binary, SpecialFloatValues) {
  array a = from_doubles({1, -1, 0, kNaN, 1, kInf}, Dtype::float32);
  array b = from_doubles({0, 0, 0, 1, kNaN, kInf}, Dtype::float32);
  std::vector<double> q = to_doubles(divide(a, b));
  EXPECT_EQ(q[0], kInf);
  EXPECT_EQ(q[1], -kInf);
  EXPECT_TRUE(std::isnan(q[2]));
  EXPECT_TRUE(std::isnan(q[3]));
  std::vector<double> mx = to_doubles(maximum(a, b)), mn = to_doubles(minimum(a, b));
  EXPECT_TRUE(std::isnan(mx[3]) && std::isnan(mx[4])) << "maximum must propagate NaN";
  EXPECT_TRUE(std::isnan(mn[3]) && std::isnan(mn[4])) << "minimum must propagate NaN";
  std::vector<double> fd = to_doubles(floor_divide(a, b));
  EXPECT_EQ(fd[0], kInf);
  EXPECT_EQ(fd[1], -kInf);
  std::vector<double> rm = to_doubles(remainder(a, b));
  EXPECT_TRUE(std::isnan(rm[0]));
  // logaddexp is stable for large and infinite arguments.
  array x = from_doubles({1000, -kInf, kInf, -1000}, Dtype::float32);
  array y = from_doubles({1000, -kInf, kInf, -1000}, Dtype::float32);
  std::vector<double> lae = to_doubles(logaddexp(x, y));
  EXPECT_NEAR(lae[0], 1000 + std::log(2.0), 1e-3);
  EXPECT_EQ(lae[1], -kInf);
  EXPECT_EQ(lae[2], kInf);
  EXPECT_NEAR(lae[3], -1000 + std::log(2.0), 1e-3);
}

TEST(Binary, IntegerFloorDivideAndRemainderSignRules) {
  // Python semantics: the quotient rounds toward -inf and the remainder takes the divisor's sign.
  const std::vector<double> a = {7, -7, 7, -7, 6, -6, 0, 1, -1};
  const std::vector<double> b = {2, 2, -2, -2, 3, -3, 5, 7, 7};
  const std::vector<double> q = {3, -4, -4, 3, 2, 2, 0, 0, -1};
  const std::vector<double> r = {1, 1, -1, -1, 0, 0, 0, 1, 6};
  for (Dtype t : {Dtype::int8, Dtype::int16, Dtype::int32, Dtype::int64}) {
    SCOPED_TRACE(dtype_name(t));
    array x = from_doubles(a, t), y = from_doubles(b, t);
    array fq = floor_divide(x, y), fr = remainder(x, y);
    EXPECT_EQ(fq.dtype(), t);
    EXPECT_EQ(fr.dtype(), t);
    EXPECT_EQ(to_doubles(fq), q);
    EXPECT_EQ(to_doubles(fr), r);
    // Identity a == b * q + r.
    EXPECT_EQ(to_doubles(add(multiply(y, fq), fr)), a);
  }
  for (Dtype t : {Dtype::uint8, Dtype::uint16, Dtype::uint32, Dtype::uint64}) {
    SCOPED_TRACE(dtype_name(t));
    array x = from_doubles({250, 7, 0, 9}, t), y = from_doubles({7, 250, 3, 9}, t);
    EXPECT_EQ(to_doubles(floor_divide(x, y)), (std::vector<double>{35, 0, 0, 1}));
    EXPECT_EQ(to_doubles(remainder(x, y)), (std::vector<double>{5, 7, 0, 0}));
  }
}

TEST(Binary, IntegerDivisionByZero) {
  for (Dtype t : {Dtype::int8, Dtype::int16, Dtype::int32, Dtype::int64, Dtype::uint8,
                  Dtype::uint16, Dtype::uint32, Dtype::uint64}) {
    SCOPED_TRACE(dtype_name(t));
    array x = from_doubles({7, 0, 100}, t), zero = from_doubles({0, 0, 0}, t);
    EXPECT_EQ(to_doubles(floor_divide(x, zero)), (std::vector<double>{0, 0, 0}));
    EXPECT_EQ(to_doubles(remainder(x, zero)), (std::vector<double>{7, 0, 100}));  // x % 0 = x (MLX)
  }
  // The most negative value divided by -1 wraps instead of trapping.
  array m8 = from_doubles({-128}, Dtype::int8), n8 = from_doubles({-1}, Dtype::int8);
  EXPECT_EQ(to_vector<int8_t>(floor_divide(m8, n8))[0], -128);
  EXPECT_EQ(to_vector<int8_t>(remainder(m8, n8))[0], 0);
  array m32 = from_doubles({-2147483648.0}, Dtype::int32), n32 = from_doubles({-1}, Dtype::int32);
  EXPECT_EQ(to_vector<int32_t>(floor_divide(m32, n32))[0], std::numeric_limits<int32_t>::min());
  EXPECT_EQ(to_vector<int32_t>(remainder(m32, n32))[0], 0);
  array m64 = from_doubles({-9223372036854775808.0}, Dtype::int64);
  EXPECT_EQ(to_vector<int64_t>(remainder(m64, from_doubles({-1}, Dtype::int64)))[0], 0);
  // True division of integers is float division.
  array d = divide(from_doubles({7, 1, -1, 0}, Dtype::int32), from_doubles({2, 0, 0, 0}, Dtype::int32));
  EXPECT_EQ(d.dtype(), Dtype::float32);
  std::vector<double> dv = to_doubles(d);
  EXPECT_EQ(dv[0], 3.5);
  EXPECT_EQ(dv[1], kInf);
  EXPECT_EQ(dv[2], -kInf);
  EXPECT_TRUE(std::isnan(dv[3]));
}

TEST(Binary, IntegerArithmetic) {
  array a = from_doubles({2, -2, 3, 1, -1, 2, 0}, Dtype::int32);
  array b = from_doubles({10, 3, 0, -3, -3, -1, 0}, Dtype::int32);
  array p = power(a, b);
  EXPECT_EQ(p.dtype(), Dtype::int32);
  EXPECT_EQ(to_vector<int32_t>(p), (std::vector<int32_t>{1024, -8, 1, 1, -1, 0, 1}));
  EXPECT_EQ(to_vector<int32_t>(maximum(a, b)), (std::vector<int32_t>{10, 3, 3, 1, -1, 2, 0}));
  EXPECT_EQ(to_vector<int32_t>(minimum(a, b)), (std::vector<int32_t>{2, -2, 0, -3, -3, -1, 0}));
  EXPECT_EQ(to_vector<int32_t>(subtract(a, b)), (std::vector<int32_t>{-8, -5, 3, 4, 2, 3, 0}));
  EXPECT_EQ(to_vector<int32_t>(multiply(a, b)), (std::vector<int32_t>{20, -6, 0, -3, 3, -2, 0}));
  // Exact 64-bit arithmetic beyond float precision.
  array big = from_doubles({9007199254740993.0}, Dtype::int64);  // rounds to 2^53 on the host
  array r = add(big, from_doubles({1}, Dtype::int64));
  EXPECT_EQ(to_vector<int64_t>(r)[0], 9007199254740993LL);
  // uint8 wraps.
  EXPECT_EQ(to_vector<uint8_t>(add(from_doubles({250}, Dtype::uint8), from_doubles({10}, Dtype::uint8)))[0],
            4);
}

TEST(Binary, MixedDtypesPromote) {
  array i = from_doubles({1, 2, 3}, Dtype::int32);
  array f = from_doubles({0.5, 0.5, 0.5}, Dtype::float32);
  array h = from_doubles({0.25, 0.25, 0.25}, Dtype::float16);
  array r = add(i, f);
  EXPECT_EQ(r.dtype(), Dtype::float32);
  EXPECT_EQ(to_doubles(r), (std::vector<double>{1.5, 2.5, 3.5}));
  array s = multiply(i, h);
  EXPECT_EQ(s.dtype(), Dtype::float16);
  EXPECT_EQ(to_doubles(s), (std::vector<double>{0.25, 0.5, 0.75}));
  array t = subtract(h, from_doubles({1, 1, 1}, Dtype::bfloat16));
  EXPECT_EQ(t.dtype(), Dtype::float32);
  EXPECT_EQ(to_doubles(t), (std::vector<double>{-0.75, -0.75, -0.75}));
  array bsum = add(from_doubles({0, 1, 1}, Dtype::bool_), i);
  EXPECT_EQ(bsum.dtype(), Dtype::int32);
  EXPECT_EQ(to_doubles(bsum), (std::vector<double>{1, 3, 4}));
  // A scalar array of the same kind does not widen an array's dtype.
  array g = add(from_doubles({1, 2}, Dtype::float16), array(1.5, Dtype::float16));
  EXPECT_EQ(g.dtype(), Dtype::float16);
  EXPECT_EQ(to_doubles(g), (std::vector<double>{2.5, 3.5}));
}

TEST(Binary, ComplexArithmetic) {
  std::vector<complex64_t> av = {{1.f, 2.f}, {-3.f, 0.5f}}, bv = {{0.5f, -1.f}, {2.f, 2.f}};
  array a(av.data(), {2}, Dtype::complex64), b(bv.data(), {2}, Dtype::complex64);
  std::vector<complex64_t> s = to_vector<complex64_t>(add(a, b));
  std::vector<complex64_t> p = to_vector<complex64_t>(multiply(a, b));
  std::vector<complex64_t> q = to_vector<complex64_t>(divide(a, b));
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(s[i], av[i] + bv[i]);
    EXPECT_NEAR(std::abs(p[i] - av[i] * bv[i]), 0, 1e-6);
    EXPECT_NEAR(std::abs(q[i] - av[i] / bv[i]), 0, 1e-6);
  }
  // A real array promotes to complex.
  array r = add(from_doubles({1, 2}, Dtype::float32), a);
  EXPECT_EQ(r.dtype(), Dtype::complex64);
  EXPECT_EQ(to_vector<complex64_t>(r)[1], complex64_t(-1.f, 0.5f));
  EXPECT_EQ(bools(equal(a, a)), (std::vector<double>{1, 1}));
  EXPECT_EQ(bools(not_equal(a, b)), (std::vector<double>{1, 1}));
}

TEST(Compare, EveryComparisonPerDtype) {
  const std::vector<double> a = {1, 2, 3, 0, 5, kNaN, 1};
  const std::vector<double> b = {1, 3, 2, 0, 4, 1, kNaN};
  for (Dtype t : {Dtype::float32, Dtype::float64, Dtype::float16, Dtype::bfloat16, Dtype::int32,
                  Dtype::uint8, Dtype::int64}) {
    size_t n = is_floating(t) ? a.size() : a.size() - 2;  // NaN only for floats
    std::vector<double> as(a.begin(), a.begin() + n), bs(b.begin(), b.begin() + n);
    array x = from_doubles(as, t), y = from_doubles(bs, t);
    for (const auto& c : compare_cases()) {
      array out = c.op(x, y);
      EXPECT_EQ(out.dtype(), Dtype::bool_);
      std::vector<double> want;
      for (size_t i = 0; i < n; ++i) want.push_back(c.ref(as[i], bs[i]) ? 1 : 0);
      EXPECT_EQ(to_doubles(out), want) << c.name << " " << dtype_name(t);
    }
  }
  // Mixed dtypes compare after promotion: int32 3 equals float32 3.0; 0.5 is not 0.
  array i = from_doubles({3, 0}, Dtype::int32), f = from_doubles({3, 0.5}, Dtype::float32);
  EXPECT_EQ(bools(equal(i, f)), (std::vector<double>{1, 0}));
  EXPECT_EQ(bools(less(i, f)), (std::vector<double>{0, 1}));
  // uint8 255 against int8 -1 compares as int16, not as wrapped bytes.
  EXPECT_EQ(bools(greater(from_doubles({255}, Dtype::uint8), from_doubles({-1}, Dtype::int8))),
            (std::vector<double>{1}));
}

TEST(Compare, LogicalOps) {
  array p = from_doubles({0, 0, 1, 1}, Dtype::bool_), q = from_doubles({0, 1, 0, 1}, Dtype::bool_);
  EXPECT_EQ(bools(logical_and(p, q)), (std::vector<double>{0, 0, 0, 1}));
  EXPECT_EQ(bools(logical_or(p, q)), (std::vector<double>{0, 1, 1, 1}));
  // Non-bool operands count as true when nonzero.
  array x = from_doubles({0, 2.5, -1, 0}, Dtype::float32), y = from_doubles({3, 0, 7, 0}, Dtype::int32);
  EXPECT_EQ(bools(logical_and(x, y)), (std::vector<double>{0, 0, 1, 0}));
  EXPECT_EQ(bools(logical_or(x, y)), (std::vector<double>{1, 1, 1, 0}));
}

TEST(Where, SelectsAndBroadcasts) {
  array cond = from_doubles({1, 0, 1}, {3, 1}, Dtype::bool_);
  array x = from_doubles({10, 20, 30, 40}, {1, 4}, Dtype::float32);
  array y(int64_t(-1), Dtype::int32);
  array w = where(cond, x, y);
  EXPECT_EQ(w.dtype(), Dtype::float32);
  EXPECT_EQ(w.shape(), (Shape{3, 4}));
  EXPECT_EQ(to_doubles(w), (std::vector<double>{10, 20, 30, 40, -1, -1, -1, -1, 10, 20, 30, 40}));
  // A non-bool condition is true where nonzero.
  array c2 = from_doubles({0, 0.5, -2, 0}, Dtype::float32);
  array w2 = where(c2, from_doubles({1, 2, 3, 4}, Dtype::int8), from_doubles({-1, -2, -3, -4}, Dtype::int8));
  EXPECT_EQ(w2.dtype(), Dtype::int8);
  EXPECT_EQ(to_doubles(w2), (std::vector<double>{-1, 2, 3, -4}));
  // Strided operands: a transposed x and a broadcast y.
  array xt = transpose(iota({3, 2}, Dtype::float64));  // (2,3): [[0,2,4],[1,3,5]]
  array cond3 = from_doubles({1, 0, 1, 0, 1, 0}, {2, 3}, Dtype::bool_);
  array w3 = where(cond3, xt, broadcast_to(from_doubles({-7}, {1}, Dtype::float64), {2, 3}));
  EXPECT_EQ(to_doubles(w3), (std::vector<double>{0, -7, 4, -7, 3, -7}));
  // Every element width goes through the select.
  for (Dtype t : {Dtype::bool_, Dtype::int16, Dtype::float32, Dtype::int64, Dtype::complex64}) {
    array a = from_doubles({1, 0}, t), b = from_doubles({0, 1}, t);
    array s = where(from_doubles({0, 1}, Dtype::bool_), a, b);
    EXPECT_EQ(s.dtype(), t);
    EXPECT_EQ(to_doubles(astype(s, Dtype::float64)), (std::vector<double>{0, 0})) << dtype_name(t);
  }
}

TEST(Astype, SmallIntegersRoundTripBetweenAllDtypes) {
  const std::vector<double> v = {0, 1, 2, 5};
  for (int i = 0; i < kNumDtypes; ++i) {
    for (int j = 0; j < kNumDtypes; ++j) {
      Dtype from = static_cast<Dtype>(i), to = static_cast<Dtype>(j);
      array src = from_doubles(v, from);
      array dst = astype(src, to);
      ASSERT_EQ(dst.dtype(), to);
      std::vector<double> want = v;
      if (from == Dtype::bool_ || to == Dtype::bool_) want = {0, 1, 1, 1};
      std::vector<double> got;
      if (to == Dtype::complex64) {
        for (auto c : to_vector<complex64_t>(dst)) {
          got.push_back(c.real());
          EXPECT_EQ(c.imag(), 0.f);
        }
      } else {
        got = to_doubles(dst);
      }
      EXPECT_EQ(got, want) << dtype_name(from) << " -> " << dtype_name(to);
    }
  }
}

TEST(Astype, ConversionSemantics) {
  // Float to integer truncates toward zero.
  array f = from_doubles({-1.7, -0.5, 0.5, 2.9, 100.99}, Dtype::float32);
  EXPECT_EQ(to_vector<int32_t>(astype(f, Dtype::int32)), (std::vector<int32_t>{-1, 0, 0, 2, 100}));
  EXPECT_EQ(to_vector<int8_t>(astype(f, Dtype::int8)), (std::vector<int8_t>{-1, 0, 0, 2, 100}));
  EXPECT_EQ(to_vector<uint8_t>(astype(from_doubles({3.9, 0.2}, Dtype::float64), Dtype::uint8)),
            (std::vector<uint8_t>{3, 0}));
  // Integer narrowing wraps.
  array i = from_doubles({300, -1, 65537}, Dtype::int32);
  EXPECT_EQ(to_vector<uint8_t>(astype(i, Dtype::uint8)), (std::vector<uint8_t>{44, 255, 1}));
  EXPECT_EQ(to_vector<int16_t>(astype(i, Dtype::int16)), (std::vector<int16_t>{300, -1, 1}));
  EXPECT_EQ(to_vector<uint32_t>(astype(i, Dtype::uint32))[1], 4294967295u);
  // To bool: nonzero is true, NaN included.
  array fb = astype(from_doubles({0, -0.0, 0.5, -3, kNaN, kInf}, Dtype::float32), Dtype::bool_);
  EXPECT_EQ(to_doubles(fb), (std::vector<double>{0, 0, 1, 1, 1, 1}));
  EXPECT_EQ(to_doubles(astype(from_doubles({0, 0.25}, Dtype::bfloat16), Dtype::bool_)),
            (std::vector<double>{0, 1}));
  // From bool: 0 and 1.
  EXPECT_EQ(to_vector<float>(astype(from_doubles({1, 0}, Dtype::bool_), Dtype::float32)),
            (std::vector<float>{1, 0}));
  // Complex to real keeps the real part; real to complex has zero imaginary part.
  std::vector<complex64_t> cv = {{1.5f, 2.f}, {-3.f, -4.f}};
  array c(cv.data(), {2}, Dtype::complex64);
  EXPECT_EQ(to_vector<float>(astype(c, Dtype::float32)), (std::vector<float>{1.5f, -3.f}));
  EXPECT_EQ(to_vector<int32_t>(astype(c, Dtype::int32)), (std::vector<int32_t>{1, -3}));
  // Wide integers to floats round to nearest.
  array big = from_doubles({0}, Dtype::int64);
  big.data<int64_t>()[0] = (int64_t(1) << 53) + 1;
  EXPECT_EQ(to_vector<double>(astype(big, Dtype::float64))[0], 9007199254740992.0);
  array umax = from_doubles({0}, Dtype::uint64);
  umax.data<uint64_t>()[0] = std::numeric_limits<uint64_t>::max();
  EXPECT_EQ(to_vector<float>(astype(umax, Dtype::float32))[0], 18446744073709551616.0f);
  // Between float widths.
  array d = from_doubles({0.1, 1e10, 1e-50}, Dtype::float64);
  std::vector<float> df = to_vector<float>(astype(d, Dtype::float32));
  EXPECT_EQ(df[0], 0.1f);
  EXPECT_EQ(df[1], 1e10f);
  EXPECT_EQ(df[2], 0.f);
  std::vector<double> dh = to_doubles(astype(d, Dtype::float16));
  EXPECT_EQ(dh[0], static_cast<double>(static_cast<float>(float16_t(0.1f))));
  EXPECT_TRUE(std::isinf(dh[1]));
  // astype to the same dtype is the same array.
  EXPECT_TRUE(astype(d, Dtype::float64).is_same(d));
}

TEST(Astype, StridedAndBroadcastInputs) {
  array t = transpose(iota({2, 3}, Dtype::float32));  // (3,2): [[0,3],[1,4],[2,5]]
  array ti = astype(t, Dtype::int16);
  EXPECT_EQ(ti.shape(), (Shape{3, 2}));
  EXPECT_EQ(to_vector<int16_t>(ti), (std::vector<int16_t>{0, 3, 1, 4, 2, 5}));
  array b = broadcast_to(from_doubles({1.5, -2.5}, {2, 1}, Dtype::float64), {2, 3});
  EXPECT_EQ(to_doubles(astype(b, Dtype::bfloat16)), (std::vector<double>{1.5, 1.5, 1.5, -2.5, -2.5, -2.5}));
  array s = slice(iota({10}, Dtype::int32), {1}, {10}, {3});  // 1, 4, 7
  EXPECT_EQ(to_vector<double>(astype(s, Dtype::float64)), (std::vector<double>{1, 4, 7}));
}

TEST(ElementwiseBroadcast, BinaryOpsOverBroadcastShapes) {
  array a = iota({2, 3}, Dtype::float32);
  array row = from_doubles({10, 20, 30}, Dtype::float32);
  array r = add(a, row);
  EXPECT_EQ(r.shape(), (Shape{2, 3}));
  EXPECT_EQ(to_doubles(r), (std::vector<double>{10, 21, 32, 13, 24, 35}));
  array col = from_doubles({1, 2, 3}, {3, 1}, Dtype::float32);
  array outer = multiply(col, from_doubles({1, 10, 100, 1000}, {1, 4}, Dtype::float32));
  EXPECT_EQ(outer.shape(), (Shape{3, 4}));
  EXPECT_EQ(to_doubles(outer),
            (std::vector<double>{1, 10, 100, 1000, 2, 20, 200, 2000, 3, 30, 300, 3000}));
  array c3 = subtract(iota({2, 1, 3}, Dtype::int32), iota({4, 1}, Dtype::int32));
  EXPECT_EQ(c3.shape(), (Shape{2, 4, 3}));
  std::vector<double> got = to_doubles(c3);
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 4; ++j)
      for (int k = 0; k < 3; ++k) EXPECT_EQ(got[(i * 4 + j) * 3 + k], (i * 3 + k) - j);
  // Scalars on either side.
  EXPECT_EQ(to_doubles(subtract(array(1.f), row)), (std::vector<double>{-9, -19, -29}));
  EXPECT_EQ(to_doubles(divide(row, array(10.f))), (std::vector<double>{1, 2, 3}));
  // An empty axis broadcasts to empty.
  array e = add(array::empty({0, 3}, Dtype::float32), row);
  EXPECT_EQ(e.shape(), (Shape{0, 3}));
  EXPECT_EQ(to_doubles(e).size(), 0u);
}

TEST(ElementwiseBroadcast, StridedTransposedAndBroadcastOperands) {
  // Transposed (strides (1,4)) plus row-contiguous.
  array t = transpose(iota({3, 4}, Dtype::float64));  // (4,3), t[i][j] = 4j + i
  array c = iota({4, 3}, Dtype::float64);            // c[i][j] = 3i + j
  std::vector<double> sum = to_doubles(add(t, c));
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 3; ++j) EXPECT_EQ(sum[i * 3 + j], (4 * j + i) + (3 * i + j));
  // Transposed against an explicitly broadcast column.
  array bc = broadcast_to(from_doubles({100, 200, 300, 400}, {4, 1}, Dtype::float64), {4, 3});
  std::vector<double> m = to_doubles(multiply(t, bc));
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 3; ++j) EXPECT_EQ(m[i * 3 + j], (4 * j + i) * 100.0 * (i + 1));
  // Both operands transposed.
  array u = transpose(iota({3, 4}, Dtype::float64));
  std::vector<double> tt = to_doubles(subtract(t, multiply(u, array(2.0, Dtype::float64))));
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 3; ++j) EXPECT_EQ(tt[i * 3 + j], -(4 * j + i));
  // Strided slices (every other element) on both sides.
  array s1 = slice(iota({8}, Dtype::float32), {1}, {8}, {2});  // 1 3 5 7
  array s2 = slice(iota({12}, Dtype::float32), {0}, {12}, {3});  // 0 3 6 9
  EXPECT_EQ(to_doubles(add(s1, s2)), (std::vector<double>{1, 6, 11, 16}));
  // A 3-d transpose with a broadcast middle axis.
  array p = transpose(iota({2, 3, 4}, Dtype::int32), {2, 0, 1});  // (4,2,3)
  array q = broadcast_to(from_doubles({1000, 2000}, {1, 2, 1}, Dtype::int32), {4, 2, 3});
  std::vector<double> pq = to_doubles(add(p, q));
  for (int a = 0; a < 4; ++a)
    for (int b = 0; b < 2; ++b)
      for (int k = 0; k < 3; ++k)
        EXPECT_EQ(pq[(a * 2 + b) * 3 + k], (b * 12 + k * 4 + a) + 1000.0 * (b + 1));
  // Comparison and where on transposed inputs.
  std::vector<double> g = to_doubles(greater(t, c));
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 3; ++j) EXPECT_EQ(g[i * 3 + j], (4 * j + i) > (3 * i + j) ? 1 : 0);
}

TEST(ElementwiseBroadcast, UnaryOpsOnViews) {
  array t = transpose(iota({2, 3}, Dtype::float32));  // (3,2): [[0,3],[1,4],[2,5]]
  expect_values(exp(t), {1, std::exp(3.0), std::exp(1.0), std::exp(4.0), std::exp(2.0), std::exp(5.0)},
                "exp transposed", 4e-6, 0);
  array b = broadcast_to(array(0.5f), {2, 3});
  expect_values(sin(b), std::vector<double>(6, std::sin(0.5)), "sin broadcast", 4e-6, 0);
  array rb = broadcast_to(from_doubles({-1, 2}, {2, 1}, Dtype::int32), {2, 3});
  EXPECT_EQ(to_vector<int32_t>(abs(rb)), (std::vector<int32_t>{1, 1, 1, 2, 2, 2}));
  array s = slice(iota({9}, Dtype::float64), {2}, {9}, {3});  // 2 5 8
  expect_values(sqrt(s), {std::sqrt(2.0), std::sqrt(5.0), std::sqrt(8.0)}, "sqrt strided", 1e-15, 0);
  EXPECT_EQ(to_doubles(isnan(t)), std::vector<double>(6, 0));
}

TEST(ElementwiseBroadcast, LargeArraysUseEveryThreadCorrectly) {
  const int64_t n = 300001;
  array x = iota({n}, Dtype::float32);
  std::vector<float> y = to_vector<float>(add(multiply(x, array(2.f)), array(1.f)));
  for (int64_t i = 0; i < n; ++i) ASSERT_EQ(y[i], 2.f * i + 1.f) << i;
  std::vector<float> e = to_vector<float>(exp(multiply(x, array(1e-6f))));
  for (int64_t i = 0; i < n; i += 997) ASSERT_NEAR(e[i], std::exp(i * 1e-6), 1e-6 * std::exp(i * 1e-6));
  std::vector<double> conv = to_doubles(astype(x, Dtype::int32));
  for (int64_t i = 0; i < n; i += 1013) ASSERT_EQ(conv[i], static_cast<double>(i));
  // A large transposed operand goes through the strided path.
  array big = transpose(iota({600, 500}, Dtype::float32));  // (500,600), big[i][j] = 500j + i
  std::vector<float> bt = to_vector<float>(subtract(big, iota({500, 600}, Dtype::float32)));
  for (int64_t i = 0; i < 500; ++i)
    for (int64_t j = 0; j < 600; ++j)
      ASSERT_EQ(bt[i * 600 + j], static_cast<float>((500 * j + i) - (600 * i + j))) << i << "," << j;
  std::vector<double> w = to_doubles(where(greater(x, array(150000.f)), x, array(0.f)));
  for (int64_t i = 0; i < n; i += 1009) ASSERT_EQ(w[i], i > 150000 ? static_cast<double>(i) : 0.0);
}

TEST(ElementwiseErrors, IncompatibleShapes) {
  array a = iota({2, 3}), b = iota({4});
  std::string msg = error_of<std::invalid_argument>([&] { add(a, b); });
  EXPECT_TRUE(starts_with(msg, "[broadcast_shapes]")) << msg;
  EXPECT_NE(msg.find("(2,3)"), std::string::npos) << msg;
  EXPECT_NE(error_of<std::invalid_argument>([&] { multiply(iota({3, 2}), iota({2, 3})); }), "");
  EXPECT_NE(error_of<std::invalid_argument>([&] { where(iota({2}), iota({3}), iota({3})); }), "");
  EXPECT_NE(error_of<std::invalid_argument>([&] { equal(iota({5}), iota({4})); }), "");
}

TEST(ElementwiseErrors, NegativeOfBool) {
  std::string msg =
      error_of<std::invalid_argument>([&] { negative(from_doubles({1, 0}, Dtype::bool_)); });
  EXPECT_TRUE(starts_with(msg, "[negative]")) << msg;
}

// Validation errors name the user-level op (as in "[matmul] ..."), not the primitive class.
TEST(ElementwiseErrors, ComplexInputsNameTheUserOp) {
  std::vector<complex64_t> v = {{1.f, 1.f}};
  array z(v.data(), {1}, Dtype::complex64);
  struct Case {
    const char* name;
    std::function<void()> f;
  };
  const Case cases[] = {
      {"floor_divide", [&] { floor_divide(z, z).eval(); }},
      {"remainder", [&] { remainder(z, z).eval(); }},
      {"arctan2", [&] { arctan2(z, z).eval(); }},
      {"logaddexp", [&] { logaddexp(z, z).eval(); }},
      {"expm1", [&] { expm1(z).eval(); }},
      {"sigmoid", [&] { sigmoid(z).eval(); }},
      {"erf", [&] { erf(z).eval(); }},
      {"floor", [&] { floor(z).eval(); }},
  };
  for (const auto& c : cases) {
    std::string msg = error_of<std::invalid_argument>(c.f);
    EXPECT_TRUE(starts_with(msg, std::string("[") + c.name + "]"))
        << c.name << " threw: \"" << msg << "\"";
  }
}
