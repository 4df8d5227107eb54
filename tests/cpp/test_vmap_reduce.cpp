// vmap rules checked from C++: SortedGroups, which only unique builds (and unique under vmap
// also needs Gather's and Scatter's rules), on the primitive itself against the primitive applied
// to each row, with ties, NaNs and short rows; and the shape of the graph Matmul's rule builds.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "pullback/ops.h"
#include "pullback/primitives/sort.h"
#include "pullback/transforms/transforms.h"
#include "test_utils.h"

using namespace pullback;
using namespace pbtest;

namespace {

const double kNaN = std::numeric_limits<double>::quiet_NaN();

array groups_of(const array& sorted) {
  return array(sorted.shape(), Dtype::uint32, std::make_shared<SortedGroups>(current_stream()),
               {sorted});
}

// The group numbers of each of the `rows` (B, n), batched along `axis` of the input, by vmap.
std::vector<double> vmapped(const array& rows, int axis) {
  array input = axis == 0 ? rows : transpose(rows);
  auto fn = [](const std::vector<array>& xs) { return std::vector<array>{groups_of(xs[0])}; };
  array out = vmap(fn, {input}, {axis}, std::vector<std::optional<int>>{0})[0];
  EXPECT_EQ(out.dtype(), Dtype::uint32);
  EXPECT_EQ(out.shape(), rows.shape());
  return to_doubles(out);
}

std::vector<double> looped(const array& rows) {
  std::vector<double> want;
  const int64_t b = rows.shape(0), n = rows.shape(1);
  for (int64_t i = 0; i < b; ++i) {
    array row = reshape(slice(rows, {i, 0}, {i + 1, n}, {1, 1}), {n});
    for (double g : to_doubles(groups_of(row))) want.push_back(g);
  }
  return want;
}

}  // namespace

TEST(VmapSortedGroups, MatchesEachRow) {
  array rows = f64({1, 1, 2, 3, 3, 3,
                    -INFINITY, 0, 0, 5, kNaN, kNaN,
                    -0.0, 0.0, 1, 1, 1, INFINITY},
                   {3, 6});
  for (int axis : {0, 1}) EXPECT_EQ(vmapped(rows, axis), looped(rows)) << "axis " << axis;
  EXPECT_EQ(vmapped(rows, 0),
            (std::vector<double>{0, 0, 1, 2, 2, 2, 0, 1, 1, 2, 3, 4, 0, 0, 1, 1, 1, 2}));
}

TEST(VmapSortedGroups, IntegerAndShortRows) {
  array ints = astype(f64({4, 4, 4, 7, 7, 9, 9, 9}, {2, 4}), Dtype::int32);
  EXPECT_EQ(vmapped(ints, 0), looped(ints));
  EXPECT_EQ(vmapped(ints, 1), looped(ints));
  array single = f64({5, kNaN, 2}, {3, 1});
  EXPECT_EQ(vmapped(single, 0), (std::vector<double>{0, 0, 0}));
  array empty = zeros({3, 0}, Dtype::float32);
  EXPECT_TRUE(vmapped(empty, 0).empty());
  EXPECT_TRUE(vmapped(empty, 1).empty());
}

// Matmul's rule folds a one-sided batch into the rows or columns: the vmapped product must be
// ONE Matmul node on 2-d operands (B*M rows, or B*N columns), not B products.
namespace {

// The Matmul node under `out` (through the reshapes that split the folded axis back out).
array matmul_node(array out) {
  while (out.has_primitive() && std::string(out.primitive().name()) != "Matmul") {
    out = out.inputs().at(0);
  }
  EXPECT_TRUE(out.has_primitive());
  return out;
}

array vmapped_matmul(const array& a, const array& b, std::optional<int> axis_a,
                     std::optional<int> axis_b) {
  auto fn = [](const std::vector<array>& xs) { return std::vector<array>{matmul(xs[0], xs[1])}; };
  return vmap(fn, {a, b}, {axis_a, axis_b}, std::vector<std::optional<int>>{0})[0];
}

}  // namespace

TEST(VmapMatmul, OneSidedBatchIsOneProduct) {
  const int64_t B = 5, M = 3, K = 4, N = 2;
  array a = iota({B, M, K}), b = iota({K, N});
  array rows = matmul_node(vmapped_matmul(a, b, 0, std::nullopt));
  EXPECT_EQ(rows.inputs()[0].shape(), (Shape{B * M, K}));
  EXPECT_EQ(rows.inputs()[1].shape(), (Shape{K, N}));
  // Batch between the rows and K: M*B rows.
  array mid = matmul_node(vmapped_matmul(iota({M, B, K}), b, 1, std::nullopt));
  EXPECT_EQ(mid.inputs()[0].shape(), (Shape{M * B, K}));
  // b batched next to its columns: B*N (or N*B) columns, no copy of b.
  array cols = matmul_node(vmapped_matmul(iota({M, K}), iota({K, B, N}), std::nullopt, 1));
  EXPECT_EQ(cols.inputs()[1].shape(), (Shape{K, B * N}));
  array last = matmul_node(vmapped_matmul(iota({M, K}), iota({K, N, B}), std::nullopt, 2));
  EXPECT_EQ(last.inputs()[1].shape(), (Shape{K, N * B}));
  // b batched ahead of K with many rows in a: moved next to its columns, one product.
  array tall = matmul_node(vmapped_matmul(iota({7, K}), iota({B, K, 1}), std::nullopt, 0));
  EXPECT_EQ(tall.inputs()[1].shape(), (Shape{K, B}));
  // ... and with few rows (a vector): B products reading b in place, without a copy of b.
  array few = matmul_node(vmapped_matmul(iota({1, K}), iota({B, K, N}), std::nullopt, 0));
  EXPECT_EQ(few.inputs()[1].shape(), (Shape{B, K, N}));
  // Values against the loop over the batch.
  for (int64_t i = 0; i < B; ++i) {
    array ai = reshape(slice(a, {i, 0, 0}, {i + 1, M, K}, {1, 1, 1}), {M, K});
    array want = matmul(ai, b);
    array got = reshape(slice(vmapped_matmul(a, b, 0, std::nullopt), {i, 0, 0}, {i + 1, M, N},
                              {1, 1, 1}),
                        {M, N});
    EXPECT_EQ(to_floats(got), to_floats(want));
  }
}
