// Scans: hand-computed values (every op, reverse, exclusive, strided and long layouts), integer
// wrapping, NaN propagation, errors, and derivatives against finite differences.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <stdexcept>
#include <vector>

#include "pullback/ops.h"
#include "pullback/transforms/transforms.h"
#include "test_utils.h"

using namespace pullback;
using namespace pbtest;

namespace {

void expect_values(const array& got, const std::vector<double>& want) {
  std::vector<double> g = to_doubles(got);
  ASSERT_EQ(g.size(), want.size());
  for (size_t i = 0; i < g.size(); ++i) {
    if (std::isnan(want[i])) {
      EXPECT_TRUE(std::isnan(g[i])) << "at " << i;
    } else if (std::isinf(want[i])) {
      EXPECT_EQ(g[i], want[i]) << "at " << i;
    } else {
      EXPECT_NEAR(g[i], want[i], 1e-9 * (1 + std::fabs(want[i]))) << "at " << i;
    }
  }
}

const double kInf = std::numeric_limits<double>::infinity();
const double kNaN = std::numeric_limits<double>::quiet_NaN();

}  // namespace

TEST(Scan, HandComputed) {
  array x = f64({1, 2, 3, 4});
  expect_values(cumsum(x), {1, 3, 6, 10});
  expect_values(cumsum(x, 0, true), {10, 9, 7, 4});
  expect_values(cumsum(x, 0, false, false), {0, 1, 3, 6});
  expect_values(cumsum(x, 0, true, false), {9, 7, 4, 0});
  expect_values(cumprod(x), {1, 2, 6, 24});
  expect_values(cumprod(x, 0, false, false), {1, 1, 2, 6});
  array y = f64({2, 1, 3, 0});
  expect_values(cummax(y), {2, 2, 3, 3});
  expect_values(cummin(y, 0, true), {0, 0, 0, 0});
  expect_values(cummax(y, 0, false, false), {-kInf, 2, 2, 3});
  expect_values(cummin(y, 0, false, false), {kInf, 2, 1, 1});
  expect_values(logcumsumexp(f64({0, 0, 0})), {0, std::log(2.0), std::log(3.0)});
  expect_values(logcumsumexp(f64({0, 0}), 0, false, false), {-kInf, 0});
}

TEST(Scan, AxesAndFlattening) {
  array x = f64({1, 2, 3, 4, 5, 6}, {2, 3});
  expect_values(cumsum(x), {1, 3, 6, 10, 15, 21});
  EXPECT_EQ(cumsum(x).shape(), Shape({6}));
  expect_values(cumsum(x, 0), {1, 2, 3, 5, 7, 9});
  expect_values(cumsum(x, -1), {1, 3, 6, 4, 9, 15});
  expect_values(cumsum(transpose(x), 1), {1, 5, 2, 7, 3, 9});
}

TEST(Scan, LongRowsAndColumnsMatchSequential) {
  for (Shape shape : {Shape{1 << 18}, Shape{300, 700}, Shape{3000, 3}}) {
    int64_t n = 1;
    for (auto d : shape) n *= d;
    std::vector<double> v(n);
    for (int64_t i = 0; i < n; ++i) v[i] = std::sin(0.1 * i);
    array x = f64(v, shape);
    for (int axis = 0; axis < static_cast<int>(shape.size()); ++axis) {
      int64_t len = shape[axis], inner = 1;
      for (size_t d = axis + 1; d < shape.size(); ++d) inner *= shape[d];
      std::vector<double> want(v);
      for (int64_t o = 0; o < n / (len * inner); ++o) {
        for (int64_t k = 0; k < inner; ++k) {
          double acc = 0;
          for (int64_t i = len - 1; i >= 0; --i) {
            int64_t at = (o * len + i) * inner + k;
            acc += v[at];
            want[at] = acc;
          }
        }
      }
      expect_values(cumsum(x, axis, true), want);
    }
  }
}

TEST(Scan, IntegersWrapAndDtypes) {
  int8_t raw[] = {100, 100, 100};
  array x(raw, {3}, Dtype::int8);
  EXPECT_EQ(cumsum(x).dtype(), Dtype::int8);
  expect_values(cumsum(x), {100, -56, 44});
  bool flags[] = {true, true, false};
  array b(flags, {3}, Dtype::bool_);
  EXPECT_EQ(cumsum(b).dtype(), Dtype::int32);
  expect_values(cumsum(b), {1, 2, 2});
  EXPECT_EQ(cumprod(b).dtype(), Dtype::bool_);
  EXPECT_EQ(logcumsumexp(x).dtype(), Dtype::float32);
  EXPECT_EQ(cumsum(x, {}, false, true, Dtype::float64).dtype(), Dtype::float64);
}

TEST(Scan, NaNPropagates) {
  array x = f64({1, kNaN, 3});
  expect_values(cummax(x), {1, kNaN, kNaN});
  expect_values(cummin(x), {1, kNaN, kNaN});
  expect_values(logcumsumexp(f64({-kInf, -kInf, 0})), {-kInf, -kInf, 0});
}

TEST(Scan, Errors) {
  array x = f64({1, 2, 3, 4}, {2, 2});
  EXPECT_THROW(cumsum(x, 2), std::out_of_range);
  EXPECT_THROW(cummax(x, -3), std::out_of_range);
  EXPECT_THROW(logcumsumexp(f64({1}, {}), 0), std::out_of_range);
  try {
    cumprod(x, 5);
    FAIL();
  } catch (const std::out_of_range& e) {
    EXPECT_EQ(std::string(e.what()).rfind("[cumprod]", 0), 0u) << e.what();
  }
}

TEST(Scan, DerivativesMatchFiniteDifferences) {
  array x = f64({0.3, -1.2, 2.0, 0.7, -0.4, 1.1}, {2, 3});
  array with_zeros = f64({2.0, 0.0, 3.0, 0.0, 1.5, -1.0}, {2, 3});
  for (bool reverse : {false, true}) {
    for (int axis : {0, 1}) {
      auto wrap = [&](auto op) {
        return [=](const std::vector<array>& in) { return std::vector<array>{op(in[0])}; };
      };
      std::string what = std::string(reverse ? "reverse" : "forward") + " axis " +
                         std::to_string(axis);
      check_derivatives(wrap([=](const array& a) { return cumsum(a, axis, reverse, false); }),
                        {x}, "cumsum exclusive " + what);
      check_derivatives(wrap([=](const array& a) { return cumprod(a, axis, reverse); }), {x},
                        "cumprod " + what);
      check_derivatives(wrap([=](const array& a) { return cumprod(a, axis, reverse); }),
                        {with_zeros}, "cumprod with zeros " + what);
      check_derivatives(wrap([=](const array& a) { return cumprod(a, axis, reverse, false); }),
                        {with_zeros}, "cumprod exclusive with zeros " + what);
      check_derivatives(wrap([=](const array& a) { return cummax(a, axis, reverse); }), {x},
                        "cummax " + what);
      check_derivatives(wrap([=](const array& a) { return cummin(a, axis, reverse); }), {x},
                        "cummin " + what);
      check_derivatives(wrap([=](const array& a) { return logcumsumexp(a, axis, reverse); }),
                        {x}, "logcumsumexp " + what);
    }
  }
}
