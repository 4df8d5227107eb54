// Sorting ops from C++: values against std::sort / hand-written expectations, the NaN order,
// stability, partition invariants, errors, and derivatives against finite differences.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <stdexcept>
#include <vector>

#include "pullback/ops.h"
#include "pullback/transforms/transforms.h"
#include "test_utils.h"

using namespace pullback;
using namespace pbtest;

namespace {

const double kNaN = std::numeric_limits<double>::quiet_NaN();

// Distinct values in a scrambled order (no ties: derivatives are defined).
std::vector<double> scrambled(size_t n) {
  std::vector<double> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = 0.1 + static_cast<double>((i * 7919) % n) / n + 0.001 * i;
  return v;
}

}  // namespace

TEST(Sort, ValuesAndStableIndices) {
  array x = f64({3, kNaN, 1, 2, -INFINITY, 1});
  std::vector<double> s = to_doubles(sort(x));
  std::vector<double> want = {-INFINITY, 1, 1, 2, 3};
  for (size_t i = 0; i < want.size(); ++i) EXPECT_EQ(s[i], want[i]);
  EXPECT_TRUE(std::isnan(s[5]));
  array i = argsort(x);
  EXPECT_EQ(i.dtype(), Dtype::uint32);
  EXPECT_EQ(to_doubles(i), (std::vector<double>{4, 2, 5, 3, 0, 1}));
}

TEST(Sort, LongRowsMatchStdStableSort) {
  // Long enough for the radix path; many ties, negative values, -0.0 next to 0.0.
  const size_t n = 5000;
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<float>(static_cast<int>((i * 37) % 101) - 50) / 4;
  for (size_t i = 0; i < n; i += 13) v[i] = -0.0f;
  for (size_t i = 5; i < n; i += 97) v[i] = std::numeric_limits<float>::quiet_NaN();
  array x = from_vector(v, {static_cast<int64_t>(n)});
  std::vector<uint32_t> want(n);
  std::iota(want.begin(), want.end(), 0u);
  std::stable_sort(want.begin(), want.end(), [&](uint32_t a, uint32_t b) {
    return v[a] < v[b] || (std::isnan(v[b]) && !std::isnan(v[a]));
  });
  std::vector<double> got = to_doubles(argsort(x));
  std::vector<double> vals = to_doubles(sort(x));
  for (size_t k = 0; k < n; ++k) {
    ASSERT_EQ(got[k], want[k]) << k;
    if (std::isnan(v[want[k]])) {
      ASSERT_TRUE(std::isnan(vals[k])) << k;
    } else {
      ASSERT_EQ(vals[k], v[want[k]]) << k;
    }
  }
}

TEST(Sort, AxesAndFlatten) {
  array x = f64({5, 1, 4, 2, 6, 0}, {2, 3});
  EXPECT_EQ(to_doubles(sort(x, 0)), (std::vector<double>{2, 1, 0, 5, 6, 4}));
  EXPECT_EQ(to_doubles(sort(x, 1)), (std::vector<double>{1, 4, 5, 0, 2, 6}));
  array flat = sort(x, std::nullopt);
  EXPECT_EQ(flat.shape(), (Shape{6}));
  EXPECT_EQ(to_doubles(argsort(transpose(x), 0)), (std::vector<double>{1, 2, 2, 0, 0, 1}));
}

TEST(Sort, PartitionAndTopk) {
  array x = f64({9, 3, 7, 1, 8, 2, 6}, {7});
  std::vector<double> p = to_doubles(partition(x, 3));
  EXPECT_EQ(p[3], 6);
  for (int j = 0; j < 3; ++j) EXPECT_LT(p[j], 6);
  for (int j = 4; j < 7; ++j) EXPECT_GT(p[j], 6);
  std::vector<double> ip = to_doubles(argpartition(x, -2));
  EXPECT_EQ(ip[5], 4);  // the second largest, 8
  std::vector<double> t = to_doubles(topk(x, 3));
  std::sort(t.begin(), t.end());
  EXPECT_EQ(t, (std::vector<double>{7, 8, 9}));
  EXPECT_EQ(topk(x, 0).shape(), (Shape{0}));
}

TEST(Sort, MedianAndSearchsorted) {
  array x = f64({1, 5, 3, 2, 2, 9}, {2, 3});
  EXPECT_EQ(to_doubles(median(x)), (std::vector<double>{2.5}));
  EXPECT_EQ(to_doubles(median(x, Axes{1})), (std::vector<double>{3, 2}));
  EXPECT_EQ(median(from_vector<int32_t>({1, 2}, {2})).dtype(), Dtype::float32);
  array seq = f64({1, 2, 2, 3});
  EXPECT_EQ(to_doubles(searchsorted(seq, f64({2, 0, 5}))), (std::vector<double>{1, 0, 4}));
  EXPECT_EQ(to_doubles(searchsorted(seq, f64({2, 0, 5}), "right")),
            (std::vector<double>{3, 0, 4}));
}

TEST(Sort, Unique) {
  auto out = unique(from_vector<int32_t>({3, 1, 3, 2}, {4}), 5, true, true, true);
  ASSERT_EQ(out.size(), 4u);
  EXPECT_EQ(to_doubles(out[0]), (std::vector<double>{1, 2, 3, 1, 1}));
  EXPECT_EQ(to_doubles(out[1]), (std::vector<double>{1, 3, 0, 1, 1}));
  EXPECT_EQ(to_doubles(out[2]), (std::vector<double>{2, 0, 2, 1}));
  EXPECT_EQ(to_doubles(out[3]), (std::vector<double>{1, 1, 2, 0, 0}));
  EXPECT_EQ(out[3].dtype(), Dtype::int32);
}

TEST(Sort, Errors) {
  array x = f64({1, 2, 3});
  EXPECT_THROW(sort(array(1.0, Dtype::float32)), std::out_of_range);
  EXPECT_THROW(argsort(x, 1), std::out_of_range);
  EXPECT_THROW(partition(x, 3), std::invalid_argument);
  EXPECT_THROW(argpartition(x, -4), std::invalid_argument);
  EXPECT_THROW(topk(x, 4), std::invalid_argument);
  EXPECT_THROW(median(f64({}, {0})), std::invalid_argument);
  EXPECT_THROW(searchsorted(f64({1, 2}, {1, 2}), x), std::invalid_argument);
  EXPECT_THROW(searchsorted(x, x, "middle"), std::invalid_argument);
  EXPECT_THROW(unique(x, -1), std::invalid_argument);
  try {
    partition(x, 5);
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_TRUE(starts_with(e.what(), "[partition]")) << e.what();
  }
}

TEST(Sort, Derivatives) {
  array x = f64(scrambled(12), {3, 4});
  check_derivatives([](const std::vector<array>& a) { return std::vector<array>{sort(a[0], 1)}; },
                    {x}, "sort axis 1");
  check_derivatives([](const std::vector<array>& a) { return std::vector<array>{sort(a[0], 0)}; },
                    {x}, "sort axis 0");
  check_derivatives(
      [](const std::vector<array>& a) { return std::vector<array>{partition(a[0], 2, std::nullopt)}; },
      {x}, "partition flattened");
  check_derivatives([](const std::vector<array>& a) { return std::vector<array>{topk(a[0], 2)}; },
                    {x}, "topk");
  check_derivatives(
      [](const std::vector<array>& a) { return std::vector<array>{median(a[0], Axes{0})}; }, {x},
      "median axis 0");
  check_derivatives([](const std::vector<array>& a) { return std::vector<array>{median(a[0])}; },
                    {x}, "median");
}
