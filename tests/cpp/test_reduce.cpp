// Reductions: values against hand-computed expectations and a naive double-precision
// reference over every axis combination and input layout, output dtypes, errors, and
// derivatives through vjp/jvp (checked against closed forms and finite differences).
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "pullback/ops.h"
#include "pullback/transforms/transforms.h"
#include "test_utils.h"

using namespace pullback;
using namespace pbtest;

namespace {

const float kInf = std::numeric_limits<float>::infinity();
const float kNaN = std::numeric_limits<float>::quiet_NaN();

void expect_near(const std::vector<float>& got, const std::vector<float>& want, float tol) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    if (std::isnan(want[i])) {
      EXPECT_TRUE(std::isnan(got[i])) << "at " << i;
    } else if (std::isinf(want[i])) {
      EXPECT_EQ(got[i], want[i]) << "at " << i;
    } else {
      EXPECT_NEAR(got[i], want[i], tol * (1.f + std::fabs(want[i]))) << "at " << i;
    }
  }
}

array tangent_of(const std::function<array(const array&)>& fn, const array& x, const array& t) {
  auto f = [&](const std::vector<array>& in) { return std::vector<array>{fn(in[0])}; };
  return jvp(f, {x}, {t}).second[0];
}

// d sum(fn(x) * w) / dx by central differences, w a fixed weighting of the outputs.
std::vector<float> numeric_grad(const std::function<array(const array&)>& fn,
                                const std::vector<float>& x0, const Shape& shape,
                                const array& w, float eps = 1e-2f) {
  std::vector<float> g(x0.size());
  for (size_t i = 0; i < x0.size(); ++i) {
    auto at = [&](float delta) {
      std::vector<float> x = x0;
      x[i] += delta;
      array y = fn(from_vector(x, shape));
      double acc = 0;
      std::vector<float> yv = to_vector<float>(y), wv = to_vector<float>(w);
      for (size_t k = 0; k < yv.size(); ++k) acc += double(yv[k]) * wv[k];
      return acc;
    };
    g[i] = static_cast<float>((at(eps) - at(-eps)) / (2 * eps));
  }
  return g;
}

enum class Ref { Sum, Prod, Max, Min };

// A naive reduction in double precision of row-major `x` of `shape`.
std::vector<double> reference(const std::vector<float>& x, const Shape& shape,
                              const std::vector<int>& axes, Ref op) {
  std::vector<bool> reduced(shape.size(), false);
  for (int a : axes) reduced[a] = true;
  size_t out_size = 1;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (!reduced[d]) out_size *= shape[d];
  }
  double init = op == Ref::Sum ? 0 : op == Ref::Prod ? 1 : op == Ref::Max ? -INFINITY : INFINITY;
  std::vector<double> out(out_size, init);
  std::vector<int64_t> idx(shape.size(), 0);
  for (size_t i = 0; i < x.size(); ++i) {
    size_t rem = i;
    for (int d = static_cast<int>(shape.size()) - 1; d >= 0; --d) {
      idx[d] = rem % shape[d];
      rem /= shape[d];
    }
    size_t o = 0;
    for (size_t d = 0; d < shape.size(); ++d) {
      if (!reduced[d]) o = o * shape[d] + idx[d];
    }
    double v = x[i];
    switch (op) {
      case Ref::Sum: out[o] += v; break;
      case Ref::Prod: out[o] *= v; break;
      case Ref::Max: out[o] = std::max(out[o], v); break;
      case Ref::Min: out[o] = std::min(out[o], v); break;
    }
  }
  return out;
}

// Small exact values: sums and products (powers of two) stay exact in float32.
array pattern(const Shape& shape) {
  std::vector<float> v(shape_size(shape));
  const float choices[] = {0.5f, 1.f, 2.f, -1.f, -2.f, 1.f, 0.5f};
  for (size_t i = 0; i < v.size(); ++i) v[i] = choices[(i * 5 + i / 3) % 7];
  return from_vector(v, shape);
}

std::vector<std::vector<int>> all_axis_subsets(int ndim) {
  std::vector<std::vector<int>> out;
  for (int mask = 0; mask < (1 << ndim); ++mask) {
    std::vector<int> axes;
    for (int d = 0; d < ndim; ++d) {
      if (mask & (1 << d)) axes.push_back(d);
    }
    out.push_back(axes);
  }
  return out;
}

void check_against_reference(const array& x, const std::string& label) {
  std::vector<float> xv = to_vector<float>(x);
  for (const auto& axes : all_axis_subsets(x.ndim())) {
    SCOPED_TRACE(label + " axes " + std::to_string(axes.size()));
    Axes ax(axes.begin(), axes.end());
    Shape kept;
    for (int d = 0; d < x.ndim(); ++d) {
      if (std::find(axes.begin(), axes.end(), d) == axes.end()) kept.push_back(x.shape(d));
    }
    struct Case {
      Ref op;
      std::function<array(const array&, const Axes&)> fn;
    } cases[] = {
        {Ref::Sum, [](const array& a, const Axes& ax) { return sum(a, ax); }},
        {Ref::Prod, [](const array& a, const Axes& ax) { return prod(a, ax); }},
        {Ref::Max, [](const array& a, const Axes& ax) { return max(a, ax); }},
        {Ref::Min, [](const array& a, const Axes& ax) { return min(a, ax); }},
    };
    for (auto& c : cases) {
      array r = c.fn(x, ax);
      ASSERT_EQ(r.shape(), kept);
      std::vector<double> want = reference(xv, x.shape(), axes, c.op);
      std::vector<float> got = to_vector<float>(r);
      ASSERT_EQ(got.size(), want.size());
      for (size_t i = 0; i < got.size(); ++i) EXPECT_EQ(got[i], want[i]) << "at " << i;
    }
  }
}

}  // namespace

TEST(Reduce, SumHandComputed) {
  array a = iota({2, 3, 4});  // a[i,j,k] = 12i + 4j + k
  EXPECT_EQ(to_vector<float>(sum(a)), (std::vector<float>{276}));
  EXPECT_EQ(sum(a).shape(), (Shape{}));
  EXPECT_EQ(to_vector<float>(sum(a, Axes{0})),
            (std::vector<float>{12, 14, 16, 18, 20, 22, 24, 26, 28, 30, 32, 34}));
  EXPECT_EQ(to_vector<float>(sum(a, Axes{1})),
            (std::vector<float>{12, 15, 18, 21, 48, 51, 54, 57}));
  EXPECT_EQ(to_vector<float>(sum(a, Axes{-1})), (std::vector<float>{6, 22, 38, 54, 70, 86}));
  EXPECT_EQ(to_vector<float>(sum(a, Axes{0, 2})), (std::vector<float>{60, 92, 124}));
  EXPECT_EQ(to_vector<float>(sum(a, Axes{2, 0})), (std::vector<float>{60, 92, 124}));
  EXPECT_EQ(to_vector<float>(sum(a, Axes{0, 1})), (std::vector<float>{60, 66, 72, 78}));
  EXPECT_EQ(sum(a, Axes{0, 2}, true).shape(), (Shape{1, 3, 1}));
  EXPECT_EQ(to_vector<float>(sum(a, Axes{0, 2}, true)), (std::vector<float>{60, 92, 124}));
  EXPECT_EQ(sum(a, std::nullopt, true).shape(), (Shape{1, 1, 1}));
  // No axes: nothing is reduced.
  EXPECT_EQ(sum(a, Axes{}).shape(), (Shape{2, 3, 4}));
  EXPECT_EQ(to_vector<float>(sum(a, Axes{})), to_vector<float>(a));
  // A scalar reduces to itself.
  EXPECT_EQ(to_vector<float>(sum(array(3.f))), (std::vector<float>{3}));
}

TEST(Reduce, OtherReductionsHandComputed) {
  array a = from_doubles({3, -1, 4, 1, -5, 9}, {2, 3}, Dtype::float32);
  EXPECT_EQ(to_vector<float>(prod(a, Axes{1})), (std::vector<float>{-12, -45}));
  EXPECT_EQ(to_vector<float>(prod(a)), (std::vector<float>{540}));
  EXPECT_EQ(to_vector<float>(max(a, Axes{0})), (std::vector<float>{3, -1, 9}));
  EXPECT_EQ(to_vector<float>(min(a, Axes{1})), (std::vector<float>{-1, -5}));
  EXPECT_EQ(to_vector<float>(max(a)), (std::vector<float>{9}));
  EXPECT_EQ(to_vector<float>(mean(a, Axes{1})), (std::vector<float>{2, 5.f / 3}));
  EXPECT_EQ(to_vector<float>(mean(a)), (std::vector<float>{11.f / 6}));
  // var of (3,-1,4): mean 2, squares 1+9+4 = 14.
  // (1,-5,9): mean 5/3, squares (4 + 400 + 484) / 9 = 888 / 9.
  expect_near(to_vector<float>(var(a, Axes{1})), {14.f / 3, 888.f / 27}, 1e-6f);
  expect_near(to_vector<float>(var(a, Axes{1}, false, 1)), {7.f, 888.f / 18}, 1e-6f);
  expect_near(to_vector<float>(pullback::std(a, Axes{1}, false, 1)),
              {std::sqrt(7.f), std::sqrt(888.f / 18)}, 1e-6f);
  // ddof equal to the count divides by zero (NumPy and MLX give inf).
  EXPECT_EQ(to_vector<float>(var(a, Axes{1}, false, 3)), (std::vector<float>{kInf, kInf}));
  EXPECT_EQ(var(a, Axes{1}, true).shape(), (Shape{2, 1}));

  array b = array(std::vector<uint8_t>{1, 0, 1, 1, 1, 1}.data(), {2, 3}, Dtype::bool_);
  EXPECT_EQ(to_vector<bool>(all(b, Axes{1})), (std::vector<bool>{false, true}));
  EXPECT_EQ(to_vector<bool>(any(b, Axes{0})), (std::vector<bool>{true, true, true}));
  EXPECT_EQ(to_vector<bool>(all(b)), (std::vector<bool>{false}));
  EXPECT_EQ(to_vector<bool>(max(b, Axes{1})), (std::vector<bool>{true, true}));
  EXPECT_EQ(to_vector<bool>(min(b, Axes{1})), (std::vector<bool>{false, true}));
  EXPECT_EQ(max(b).dtype(), Dtype::bool_);
  EXPECT_EQ(to_vector<uint32_t>(argmin(b, 1)), (std::vector<uint32_t>{1, 0}));
  EXPECT_EQ(to_vector<int32_t>(prod(b, Axes{0})), (std::vector<int32_t>{1, 0, 1}));
  EXPECT_EQ(to_vector<bool>(all(a)), (std::vector<bool>{true}));  // non-bool: nonzero test
  EXPECT_EQ(to_vector<bool>(any(from_doubles({0, 0, 0, 2}, {2, 2}, Dtype::float32), Axes{1})),
            (std::vector<bool>{false, true}));
}

TEST(Reduce, MatchesReferenceOnEveryAxisSubsetAndLayout) {
  array x = pattern({3, 4, 5});
  check_against_reference(x, "contiguous");
  check_against_reference(transpose(x, {2, 0, 1}), "transposed");
  check_against_reference(transpose(x, {1, 2, 0}), "transposed2");
  check_against_reference(broadcast_to(pattern({4, 1}), {3, 4, 5}), "broadcast");
  check_against_reference(slice(x, {2, 3, 4}, {-1, -1, -1}, {-1, -1, -2}), "reversed");
  check_against_reference(slice(pattern({6, 4, 7}), {1, 0, 2}, {6, 4, 7}, {2, 1, 1}), "sliced");
  check_against_reference(pattern({2, 1, 6, 3}), "unit axis");
}

TEST(Reduce, LargeLayoutsMatchReference) {
  // Sizes that take the parallel paths: over outputs, and over slices of few long ones.
  struct Case {
    Shape shape;
    std::vector<int> axes;
  } cases[] = {
      {{1 << 20}, {0}},       {{3, 200000}, {1}},  {{200000, 3}, {0}},
      {{200000, 40}, {0}},    {{40, 200000}, {0}}, {{600, 700}, {0}},
      {{600, 700}, {1}},      {{50, 70, 90}, {0, 2}}, {{5000, 2, 7}, {0}},
      {{100, 3000}, {0, 1}},
  };
  for (auto& c : cases) {
    SCOPED_TRACE(shape_str(c.shape));
    size_t n = shape_size(c.shape);
    std::vector<float> v(n);
    for (size_t i = 0; i < n; ++i) v[i] = static_cast<float>((i * 7919) % 17) - 8.f;
    array x = from_vector(v, c.shape);
    Axes ax(c.axes.begin(), c.axes.end());
    std::vector<double> s = reference(v, c.shape, c.axes, Ref::Sum);
    std::vector<double> m = reference(v, c.shape, c.axes, Ref::Max);
    std::vector<float> got_s = to_vector<float>(sum(x, ax)), got_m = to_vector<float>(max(x, ax));
    std::vector<float> got_a = to_vector<float>(min(x, ax));
    std::vector<double> a = reference(v, c.shape, c.axes, Ref::Min);
    ASSERT_EQ(got_s.size(), s.size());
    for (size_t i = 0; i < s.size(); ++i) {
      ASSERT_EQ(got_s[i], s[i]) << i;  // small integers: exact
      ASSERT_EQ(got_m[i], m[i]) << i;
      ASSERT_EQ(got_a[i], a[i]) << i;
    }
  }
  // 8M ones sum exactly; a float32 sum of 0.1s stays close to the true value.
  EXPECT_EQ(to_vector<float>(sum(ones({1 << 23}))), (std::vector<float>{8388608.f}));
  float s = to_vector<float>(sum(full({1 << 22}, array(0.1f))))[0];
  EXPECT_NEAR(s, 0.1 * (1 << 22), 0.1 * (1 << 22) * 1e-5);
}

TEST(Reduce, OutputDtypes) {
  array i8 = astype(iota({4}), Dtype::int8);
  EXPECT_EQ(sum(i8).dtype(), Dtype::int32);
  EXPECT_EQ(prod(astype(iota({4}), Dtype::int16)).dtype(), Dtype::int32);
  EXPECT_EQ(sum(astype(iota({4}), Dtype::uint8)).dtype(), Dtype::uint32);
  EXPECT_EQ(sum(astype(iota({4}), Dtype::uint16)).dtype(), Dtype::uint32);
  EXPECT_EQ(sum(astype(iota({4}), Dtype::bool_)).dtype(), Dtype::int32);
  EXPECT_EQ(sum(astype(iota({4}), Dtype::int64)).dtype(), Dtype::int64);
  EXPECT_EQ(sum(astype(iota({4}), Dtype::uint64)).dtype(), Dtype::uint64);
  EXPECT_EQ(sum(astype(iota({4}), Dtype::float16)).dtype(), Dtype::float16);
  EXPECT_EQ(sum(astype(iota({4}), Dtype::bfloat16)).dtype(), Dtype::bfloat16);
  EXPECT_EQ(sum(astype(iota({4}), Dtype::float64)).dtype(), Dtype::float64);
  EXPECT_EQ(max(i8).dtype(), Dtype::int8);
  EXPECT_EQ(mean(i8).dtype(), Dtype::float32);
  EXPECT_EQ(var(i8).dtype(), Dtype::float32);
  EXPECT_EQ(pullback::std(astype(iota({4}), Dtype::float16)).dtype(), Dtype::float16);
  EXPECT_EQ(logsumexp(i8).dtype(), Dtype::float32);
  EXPECT_EQ(softmax(i8).dtype(), Dtype::float32);
  EXPECT_EQ(all(i8).dtype(), Dtype::bool_);
  EXPECT_EQ(any(iota({4})).dtype(), Dtype::bool_);
  EXPECT_EQ(argmax(iota({4})).dtype(), Dtype::uint32);
  EXPECT_EQ(argmin(i8).dtype(), Dtype::uint32);

  // Values through the widened accumulators.
  EXPECT_EQ(to_vector<int32_t>(sum(full({300}, array(int64_t(100), Dtype::int8)))),
            (std::vector<int32_t>{30000}));
  EXPECT_EQ(to_vector<uint32_t>(sum(full({1000}, array(int64_t(255), Dtype::uint8)))),
            (std::vector<uint32_t>{255000}));
  EXPECT_EQ(to_vector<int32_t>(sum(greater(iota({10}), array(3.f)))), (std::vector<int32_t>{6}));
  EXPECT_EQ(to_vector<int64_t>(sum(full({4}, array(int64_t(1) << 40, Dtype::int64)))),
            (std::vector<int64_t>{int64_t(1) << 42}));
  EXPECT_EQ(
      to_vector<double>(mean(astype(from_doubles({1, 2, 4}, {3}, Dtype::float32), Dtype::float64))),
      (std::vector<double>{7.0 / 3}));
  EXPECT_EQ(
      to_vector<float>(mean(astype(from_doubles({1, 2, 4}, {3}, Dtype::float32), Dtype::int32))),
      (std::vector<float>{7.f / 3}));
  EXPECT_EQ(
      to_vector<int8_t>(min(astype(from_doubles({5, -3, 7}, {3}, Dtype::float32), Dtype::int8))),
      (std::vector<int8_t>{-3}));
  EXPECT_EQ(
      to_vector<uint64_t>(max(astype(from_doubles({5, 3, 7}, {3}, Dtype::float32), Dtype::uint64))),
      (std::vector<uint64_t>{7}));
}

TEST(Reduce, HalfPrecisionAccumulatesInFloat32) {
  // 4096 ones in float16: a float16 accumulator would stall at 2048.
  array h = ones({4096}, Dtype::float16);
  EXPECT_EQ(to_floats(sum(h)), (std::vector<float>{4096}));
  EXPECT_EQ(to_floats(mean(h)), (std::vector<float>{1}));
  // A mean whose sum would overflow float16 (max 65504).
  EXPECT_EQ(to_floats(mean(full({100000}, array(2.0, Dtype::float16)))), (std::vector<float>{2}));
  array b = astype(from_doubles({1.5f, -2.f, 3.25f, 0.f}, {2, 2}, Dtype::float32), Dtype::bfloat16);
  EXPECT_EQ(to_floats(max(b, Axes{1})), (std::vector<float>{1.5f, 3.25f}));
  EXPECT_EQ(to_floats(min(b, Axes{0})), (std::vector<float>{1.5f, -2.f}));
  EXPECT_EQ(to_floats(sum(b, Axes{0})), (std::vector<float>{4.75f, -2.f}));
  array f = astype(from_doubles({1e-7f, -0.f, 65504.f, kInf, -kInf, 3.f}, {6}, Dtype::float32),
                   Dtype::float16);
  std::vector<float> fv = to_floats(f);
  EXPECT_EQ(to_floats(max(f)), (std::vector<float>{kInf}));
  EXPECT_EQ(to_floats(min(f)), (std::vector<float>{-kInf}));
  EXPECT_EQ(to_floats(sum(slice(f, {0}, {3}, {1}))), (std::vector<float>{fv[0] + 65504.f}));
  EXPECT_EQ(to_vector<uint32_t>(argmax(f)), (std::vector<uint32_t>{3}));
  // precise softmax of float16 computes in float32 and returns float16.
  array sm = softmax(astype(from_doubles({0, 1, 2}, {3}, Dtype::float32), Dtype::float16),
                     std::nullopt, true);
  EXPECT_EQ(sm.dtype(), Dtype::float16);
  expect_near(to_floats(sm), {0.09003057f, 0.24472847f, 0.66524096f}, 1e-3f);
  expect_near(
      to_floats(softmax(astype(from_doubles({0, 1, 2}, {3}, Dtype::float32), Dtype::bfloat16))),
      {0.09003057f, 0.24472847f, 0.66524096f}, 1e-2f);
}

TEST(Reduce, NaNAndInfinities) {
  array a = from_doubles({1, kNaN, 3, -2, 5, 0}, {2, 3}, Dtype::float32);
  std::vector<float> mx = to_vector<float>(max(a, Axes{1})), mn = to_vector<float>(min(a, Axes{1}));
  EXPECT_TRUE(std::isnan(mx[0]));
  EXPECT_EQ(mx[1], 5.f);
  EXPECT_TRUE(std::isnan(mn[0]));
  EXPECT_EQ(mn[1], -2.f);
  EXPECT_EQ(to_vector<uint32_t>(argmax(a, 1)), (std::vector<uint32_t>{1, 1}));
  EXPECT_EQ(to_vector<uint32_t>(argmin(a, 1)), (std::vector<uint32_t>{1, 0}));
  // NaN also propagates in the vectorized paths (long rows and columns).
  std::vector<float> v(1000, 1.f);
  v[777] = kNaN;
  EXPECT_TRUE(std::isnan(to_vector<float>(max(from_vector(v, {1000})))[0]));
  EXPECT_TRUE(std::isnan(to_vector<float>(min(from_vector(v, {10, 100}), Axes{0}))[77]));
  EXPECT_EQ(to_vector<uint32_t>(argmax(from_vector(v, {1000})))[0], 777u);
  EXPECT_EQ(to_vector<uint32_t>(argmin(from_vector(v, {10, 100}), 0))[77], 7u);
  EXPECT_EQ(to_vector<float>(max(from_doubles({-kInf, -kInf}, {2}, Dtype::float32))),
            (std::vector<float>{-kInf}));
  // Long runs are read as several streams plus a tail: a NaN anywhere still wins.
  for (size_t n : {size_t(1000), size_t(100003)}) {
    for (size_t at : {size_t(0), size_t(500), size_t(995), n - 1, n / 2 + 40000}) {
      if (at >= n) continue;
      std::vector<float> w(n);
      for (size_t i = 0; i < n; ++i) w[i] = static_cast<float>(i % 97);
      w[at] = kNaN;
      SCOPED_TRACE(std::to_string(n) + " nan at " + std::to_string(at));
      array x = from_vector(w, {static_cast<int64_t>(n)});
      EXPECT_TRUE(std::isnan(to_vector<float>(max(x))[0]));
      EXPECT_TRUE(std::isnan(to_vector<float>(min(x))[0]));
      EXPECT_TRUE(std::isnan(to_vector<float>(sum(x))[0]));
      EXPECT_EQ(to_vector<uint32_t>(argmax(x))[0], at);
      EXPECT_EQ(to_vector<uint32_t>(argmin(x))[0], at);
      EXPECT_TRUE(std::isnan(to_floats(max(astype(x, Dtype::float16)))[0]));
    }
  }
}

TEST(Reduce, ArgReductions) {
  array a = from_doubles({3, 7, 7, 1, 0, 9, 9, 2, -4, 5, 5, -4}, {3, 4}, Dtype::float32);
  EXPECT_EQ(to_vector<uint32_t>(argmax(a, 1)), (std::vector<uint32_t>{1, 1, 1}));  // first of ties
  EXPECT_EQ(to_vector<uint32_t>(argmin(a, 1)), (std::vector<uint32_t>{3, 0, 0}));
  EXPECT_EQ(to_vector<uint32_t>(argmax(a, 0)), (std::vector<uint32_t>{0, 1, 1, 1}));
  EXPECT_EQ(to_vector<uint32_t>(argmin(a, -2)), (std::vector<uint32_t>{2, 2, 2, 2}));
  EXPECT_EQ(to_vector<uint32_t>(argmax(a)), (std::vector<uint32_t>{5}));
  EXPECT_EQ(to_vector<uint32_t>(argmin(a)), (std::vector<uint32_t>{8}));
  EXPECT_EQ(argmax(a).shape(), (Shape{}));
  EXPECT_EQ(argmax(a, std::nullopt, true).shape(), (Shape{1, 1}));
  EXPECT_EQ(argmax(a, 1, true).shape(), (Shape{3, 1}));
  EXPECT_EQ(argmax(a, 0).shape(), (Shape{4}));
  EXPECT_EQ(to_vector<uint32_t>(argmax(transpose(a), 1)), (std::vector<uint32_t>{0, 1, 1, 1}));
  EXPECT_EQ(to_vector<uint32_t>(argmax(array(2.f))), (std::vector<uint32_t>{0}));
  EXPECT_EQ(to_vector<uint32_t>(argmin(astype(a, Dtype::int16), 1)),
            (std::vector<uint32_t>{3, 0, 0}));
  // Large, parallel, both layouts.
  std::vector<float> v(300 * 500);
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>((i * 7919) % 1009);
  array big = from_vector(v, {300, 500});
  std::vector<uint32_t> rows = to_vector<uint32_t>(argmax(big, 1));
  std::vector<uint32_t> cols = to_vector<uint32_t>(argmin(big, 0));
  for (int r = 0; r < 300; ++r) {
    uint32_t best = 0;
    for (int c = 1; c < 500; ++c) {
      if (v[r * 500 + c] > v[r * 500 + best]) best = c;
    }
    ASSERT_EQ(rows[r], best) << r;
  }
  for (int c = 0; c < 500; ++c) {
    uint32_t best = 0;
    for (int r = 1; r < 300; ++r) {
      if (v[r * 500 + c] < v[best * 500 + c]) best = r;
    }
    ASSERT_EQ(cols[c], best) << c;
  }
}

TEST(Reduce, EmptyReductions) {
  array e = iota({3, 0});
  EXPECT_EQ(to_vector<float>(sum(e, Axes{1})), (std::vector<float>{0, 0, 0}));
  EXPECT_EQ(to_vector<float>(prod(e, Axes{1})), (std::vector<float>{1, 1, 1}));
  EXPECT_EQ(to_vector<bool>(all(e, Axes{1})), (std::vector<bool>{true, true, true}));
  EXPECT_EQ(to_vector<bool>(any(e, Axes{1})), (std::vector<bool>{false, false, false}));
  EXPECT_EQ(sum(e, Axes{0}).shape(), (Shape{0}));
  EXPECT_TRUE(std::isnan(to_vector<float>(mean(e))[0]));
  EXPECT_EQ(to_vector<float>(logsumexp(e, Axes{1})), (std::vector<float>{-kInf, -kInf, -kInf}));
  EXPECT_EQ(softmax(e, Axes{1}).shape(), (Shape{3, 0}));
  // NumPy's rule: max/min/argmax over zero elements fail even when the output is empty.
  EXPECT_EQ(error_of<std::invalid_argument>([&] { max(e, Axes{1}); }),
            "[max] Cannot reduce over zero elements: array of shape (3,0) over axes (1,) (the "
            "reduction has no identity).");
  EXPECT_THROW(min(e), std::invalid_argument);
  EXPECT_THROW(max(iota({0, 0}), Axes{1}), std::invalid_argument);
  EXPECT_EQ(max(iota({0, 3}), Axes{1}).shape(), (Shape{0}));
  EXPECT_EQ(error_of<std::invalid_argument>([&] { argmax(e, 1); }),
            "[argmax] Cannot take the argmax over axis 1 of length zero in an array of shape "
            "(3,0).");
  EXPECT_THROW(argmin(e), std::invalid_argument);
  EXPECT_EQ(argmin(iota({0, 3}), 1).shape(), (Shape{0}));
}

TEST(Reduce, AxisErrors) {
  array a = iota({2, 3});
  // An axis out of range is an IndexError (std::out_of_range), as in MLX; a repeated one a
  // ValueError.
  EXPECT_EQ(error_of<std::out_of_range>([&] { sum(a, Axes{2}); }),
            "[sum] axis 2 is out of bounds for array of dimension 2.");
  EXPECT_THROW(mean(a, Axes{-3}), std::out_of_range);
  EXPECT_EQ(error_of<std::invalid_argument>([&] { sum(a, Axes{1, -1}); }),
            "[sum] Duplicate axis 1 in axes (1,-1) for array of shape (2,3).");
  EXPECT_THROW(max(a, Axes{0, 0}), std::invalid_argument);
  EXPECT_THROW(argmax(a, 2), std::out_of_range);
  EXPECT_THROW(softmax(a, Axes{5}), std::out_of_range);
  EXPECT_THROW(logsumexp(a, Axes{0, -2}), std::invalid_argument);
  EXPECT_THROW(var(a, Axes{3}), std::out_of_range);
  EXPECT_THROW(sum(array(1.f), Axes{0}), std::out_of_range);
}

TEST(Reduce, LogSumExpAndSoftmax) {
  array a = from_doubles({1, 2, 3, 1000, 1001, 1002}, {2, 3}, Dtype::float32);
  float l = std::log(std::exp(1.f) + std::exp(2.f) + std::exp(3.f));
  expect_near(to_vector<float>(logsumexp(a, Axes{1})), {l, 999 + l}, 1e-6f);
  EXPECT_EQ(logsumexp(a, Axes{1}, true).shape(), (Shape{2, 1}));
  expect_near(to_vector<float>(logsumexp(a)),
              {1002 + std::log(1 + std::exp(-1.f) + std::exp(-2.f))}, 1e-6f);
  // Infinite maxima: all -inf gives -inf, any +inf gives +inf.
  expect_near(to_vector<float>(logsumexp(
                  from_doubles({-kInf, -kInf, 0, kInf}, {2, 2}, Dtype::float32), Axes{1})),
              {-kInf, kInf}, 0);
  expect_near(to_vector<float>(logsumexp(from_doubles({-kInf, 0}, {2}, Dtype::float32))), {0}, 0);

  std::vector<float> sm = to_vector<float>(softmax(a, Axes{1}));
  float z = std::exp(1.f) + std::exp(2.f) + std::exp(3.f);
  std::vector<float> row = {std::exp(1.f) / z, std::exp(2.f) / z, std::exp(3.f) / z};
  expect_near(sm, {row[0], row[1], row[2], row[0], row[1], row[2]}, 1e-6f);
  // Over several axes, and with the default (all axes).
  std::vector<float> all =
      to_vector<float>(softmax(from_doubles({0, 0, 0, 0}, {2, 2}, Dtype::float32), Axes{0, 1}));
  expect_near(all, {0.25f, 0.25f, 0.25f, 0.25f}, 1e-7f);
  expect_near(to_vector<float>(softmax(from_doubles({0, 0, 0, 0}, {2, 2}, Dtype::float32))),
              {0.25f, 0.25f, 0.25f, 0.25f}, 1e-7f);
  expect_near(to_vector<float>(softmax(from_doubles({0, -kInf}, {2}, Dtype::float32))), {1, 0}, 0);
}

TEST(ReduceGrad, SumMeanBroadcastBack) {
  array x = iota({2, 3});
  EXPECT_EQ(to_vector<float>(grad_of([](const array& a) { return sum(a); }, x)),
            std::vector<float>(6, 1));
  array ct = from_doubles({1, 2, 3}, {3}, Dtype::float32);
  EXPECT_EQ(to_vector<float>(grad_of([](const array& a) { return sum(a, Axes{0}); }, x, ct)),
            (std::vector<float>{1, 2, 3, 1, 2, 3}));
  EXPECT_EQ(to_vector<float>(grad_of([](const array& a) { return sum(a, Axes{1}, true); }, x,
                                     from_doubles({1, 2}, {2, 1}, Dtype::float32))),
            (std::vector<float>{1, 1, 1, 2, 2, 2}));
  expect_near(to_vector<float>(grad_of([](const array& a) { return mean(a, Axes{1}); }, x,
                                       from_doubles({3, 6}, {2}, Dtype::float32))),
              {1, 1, 1, 2, 2, 2}, 1e-7f);
  array h = astype(x, Dtype::float16);
  array gh = grad_of([](const array& a) { return mean(a); }, h);
  EXPECT_EQ(gh.dtype(), Dtype::float16);
  expect_near(to_floats(gh), std::vector<float>(6, 1.f / 6), 1e-3f);
  // jvp of a sum is the sum of the tangent.
  EXPECT_EQ(to_vector<float>(tangent_of([](const array& a) { return sum(a, Axes{0}); }, x,
                                        iota({2, 3}, Dtype::float32, 1))),
            (std::vector<float>{5, 7, 9}));
}

TEST(ReduceGrad, ProdHandlesZeros) {
  auto p = [](const array& a) { return prod(a, Axes{1}); };
  // No zero: prod / x.
  EXPECT_EQ(to_vector<float>(grad_of(p, from_doubles({2, 3, 4}, {1, 3}, Dtype::float32))),
            (std::vector<float>{12, 8, 6}));
  // One zero: only the zero gets the product of the others.
  EXPECT_EQ(to_vector<float>(grad_of(p, from_doubles({2, 0, 4}, {1, 3}, Dtype::float32))),
            (std::vector<float>{0, 8, 0}));
  // Two zeros: everything is zero.
  EXPECT_EQ(to_vector<float>(grad_of(p, from_doubles({0, 3, 0}, {1, 3}, Dtype::float32))),
            (std::vector<float>{0, 0, 0}));
  // Rows are independent; the cotangent scales.
  EXPECT_EQ(to_vector<float>(grad_of(p, from_doubles({1, 2, 3, 0, 5, 6}, {2, 3}, Dtype::float32),
                                     from_doubles({1, 2}, {2}, Dtype::float32))),
            (std::vector<float>{6, 3, 2, 60, 0, 0}));
  // Second derivative stays finite: d/dx0 of d prod/dx1 at (2, 0, 4) is x2 = 4.
  auto g1 = [](const array& a) {
    return sum(multiply(grad_of([](const array& b) { return prod(b); }, a),
                        from_doubles({0, 1, 0}, {3}, Dtype::float32)));
  };
  EXPECT_EQ(to_vector<float>(grad_of(g1, from_doubles({2, 0, 4}, {3}, Dtype::float32))),
            (std::vector<float>{4, 0, 2}));
  EXPECT_EQ(to_vector<float>(tangent_of([](const array& a) { return prod(a); },
                                        from_doubles({2, 3, 4}, {3}, Dtype::float32),
                                        from_doubles({1, 0, 1}, {3}, Dtype::float32))),
            (std::vector<float>{12 + 6}));
}

TEST(ReduceGrad, MaxMinTies) {
  array x = from_doubles({1, 5, 5, 2, 3, 0}, {2, 3}, Dtype::float32);
  EXPECT_EQ(to_vector<float>(grad_of([](const array& a) { return max(a, Axes{1}); }, x,
                                     from_doubles({2, 1}, {2}, Dtype::float32))),
            (std::vector<float>{0, 1, 1, 0, 1, 0}));
  EXPECT_EQ(to_vector<float>(grad_of([](const array& a) { return min(a, Axes{0}); }, x)),
            (std::vector<float>{1, 0, 0, 0, 1, 1}));
  EXPECT_EQ(to_vector<float>(grad_of([](const array& a) { return max(a); },
                                     from_doubles({4, 4, 4, 4}, {4}, Dtype::float32))),
            (std::vector<float>{0.25f, 0.25f, 0.25f, 0.25f}));
  EXPECT_EQ(
      to_vector<float>(tangent_of([](const array& a) { return max(a, Axes{1}); }, x, iota({2, 3}))),
      (std::vector<float>{1, 4}));  // the jvp takes the first tie's tangent (MLX)
}

TEST(ReduceGrad, NotDifferentiableGiveZeros) {
  array x = from_doubles({1, 5, 2}, {3}, Dtype::float32);
  EXPECT_EQ(to_vector<float>(
                grad_of([](const array& a) { return astype(argmax(a), Dtype::float32); }, x)),
            (std::vector<float>{0, 0, 0}));
  EXPECT_EQ(
      to_vector<float>(grad_of([](const array& a) { return astype(all(a), Dtype::float32); }, x)),
      (std::vector<float>{0, 0, 0}));
  EXPECT_EQ(
      to_vector<float>(grad_of([](const array& a) { return astype(any(a), Dtype::float32); }, x)),
      (std::vector<float>{0, 0, 0}));
}

TEST(ReduceGrad, ComposedOpsMatchFiniteDifferences) {
  std::vector<float> x0 = {0.3f, -1.2f, 2.f, 0.7f, 1.1f, -0.4f};
  Shape shape = {2, 3};
  array x = from_vector(x0, shape);
  struct Case {
    const char* name;
    std::function<array(const array&)> fn;
  } cases[] = {
      {"var", [](const array& a) { return var(a, Axes{1}); }},
      {"var_ddof", [](const array& a) { return var(a, Axes{0}, false, 1); }},
      {"std", [](const array& a) { return pullback::std(a); }},
      {"logsumexp", [](const array& a) { return logsumexp(a, Axes{1}); }},
      {"logsumexp_all", [](const array& a) { return logsumexp(a, std::nullopt, true); }},
      {"softmax", [](const array& a) { return softmax(a, Axes{1}); }},
      {"softmax0", [](const array& a) { return softmax(a, Axes{0}); }},
      {"mean", [](const array& a) { return mean(a, Axes{0}); }},
      {"prod", [](const array& a) { return prod(a, Axes{0}); }},
  };
  for (auto& c : cases) {
    SCOPED_TRACE(c.name);
    array y = c.fn(x);
    std::vector<float> w(y.size());
    for (size_t i = 0; i < w.size(); ++i) w[i] = 0.5f + 0.25f * i;
    array wa = from_vector(w, y.shape());
    std::vector<float> num = numeric_grad(c.fn, x0, shape, wa);
    expect_near(to_vector<float>(grad_of(c.fn, x, wa)), num, 2e-3f);
    // jvp along a direction agrees with the vjp: <J t, w> == <t, J^T w>.
    array t = from_doubles({1, -2, 0.5f, 0.25f, 3, -1}, shape, Dtype::float32);
    std::vector<float> jt = to_vector<float>(tangent_of(c.fn, x, t));
    std::vector<float> gt = to_vector<float>(grad_of(c.fn, x, wa)), tv = to_vector<float>(t);
    double lhs = 0, rhs = 0;
    for (size_t i = 0; i < jt.size(); ++i) lhs += double(jt[i]) * w[i];
    for (size_t i = 0; i < gt.size(); ++i) rhs += double(gt[i]) * tv[i];
    EXPECT_NEAR(lhs, rhs, 1e-4 * (1 + std::fabs(rhs)));
  }
  // logsumexp's gradient is the softmax, even with huge inputs.
  array big = from_doubles({1000, 1001, 1002}, {3}, Dtype::float32);
  expect_near(to_vector<float>(grad_of([](const array& a) { return logsumexp(a); }, big)),
              to_vector<float>(softmax(big)), 1e-6f);
}
