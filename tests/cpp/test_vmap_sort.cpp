// The vmap rule of SortedGroups, which only unique builds (and unique under vmap also needs
// Gather's and Scatter's rules): the rule is checked here on the primitive itself, against the
// primitive applied to each row, for batches along either axis, with ties, NaNs and short rows.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <memory>
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
