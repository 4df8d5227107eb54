// Gather and scatter with dimension numbers: values against loops written out here, layouts,
// batch axes, repeated indices, bounds errors, and every derivative against finite differences.
#include <gtest/gtest.h>

#include <stdexcept>

#include "pullback/ops.h"
#include "test_utils.h"

using namespace pullback;
using namespace pbtest;

namespace {

array ints(const std::vector<int32_t>& v, const Shape& shape) { return from_vector<int32_t>(v, shape); }
array ints(const std::vector<int32_t>& v) { return ints(v, {static_cast<int64_t>(v.size())}); }

}  // namespace

TEST(Gather, RowsOfAMatrix) {
  array a = iota({4, 3});  // a[i, j] = 3i + j
  array out = gather(a, {ints({2, 0, -1})}, {0}, {1, 3});
  EXPECT_EQ(out.shape(), (Shape{3, 1, 3}));
  EXPECT_EQ(to_floats(out), (std::vector<float>{6, 7, 8, 0, 1, 2, 9, 10, 11}));
}

TEST(Gather, ElementsByTwoBroadcastIndexArrays) {
  array a = iota({4, 5});
  array rows = ints({0, 3}, {2, 1});
  array cols = ints({1, 4, 2}, {1, 3});
  array out = gather(a, {rows, cols}, {0, 1}, {1, 1});
  EXPECT_EQ(out.shape(), (Shape{2, 3, 1, 1}));
  std::vector<float> want;
  for (int r : {0, 3}) {
    for (int c : {1, 4, 2}) want.push_back(static_cast<float>(5 * r + c));
  }
  EXPECT_EQ(to_floats(out), want);
}

TEST(Gather, StridedOperandAndPartialSlices) {
  array a = transpose(iota({3, 6}));  // shape (6, 3), a[i, j] = 6j + i
  array out = gather(a, {ints({4, 1})}, {0}, {2, 2});
  EXPECT_EQ(out.shape(), (Shape{2, 2, 2}));
  // start row 4: a[4:6, 0:2]; start row 1: a[1:3, 0:2]
  EXPECT_EQ(to_floats(out), (std::vector<float>{4, 10, 5, 11, 1, 7, 2, 8}));
  array reversed = slice(iota({8}), {7}, {-1}, {-2});  // 7, 5, 3, 1
  EXPECT_EQ(to_floats(gather(reversed, {ints({3, 0})}, {0}, {1})), (std::vector<float>{1, 7}));
}

TEST(Gather, BatchAxesIndexEachBatchEntry) {
  array a = iota({2, 5});
  array idx = ints({4, 0, 2, 1, 1, 3}, {2, 3});
  array out = gather(a, {idx}, {1}, {1}, /*batch=*/1);
  EXPECT_EQ(out.shape(), (Shape{2, 3, 1}));
  EXPECT_EQ(to_floats(out), (std::vector<float>{4, 0, 2, 6, 6, 8}));
  // Index batch axes of size 1 broadcast against the array's.
  array shared = gather(a, {ints({3}, {1, 1})}, {1}, {1}, 1);
  EXPECT_EQ(to_floats(shared), (std::vector<float>{3, 8}));
}

TEST(Gather, EveryIndexDtypeAndEmptyIndices) {
  array a = iota({5});
  for (Dtype t : {Dtype::int8, Dtype::uint8, Dtype::int16, Dtype::uint16, Dtype::int32,
                  Dtype::uint32, Dtype::int64, Dtype::uint64}) {
    array idx = astype(ints({4, 2}), t);
    EXPECT_EQ(to_floats(gather(a, {idx}, {0}, {1})), (std::vector<float>{4, 2})) << dtype_name(t);
  }
  array none = gather(a, {ints({}, {0})}, {0}, {1});
  EXPECT_EQ(none.shape(), (Shape{0, 1}));
  none.eval();
}

TEST(Gather, OutOfRangeIndicesRaiseAtEvaluation) {
  array a = iota({3, 2});
  EXPECT_THROW(gather(a, {ints({0, 3})}, {0}, {1, 2}).eval(), std::out_of_range);
  EXPECT_THROW(gather(a, {ints({-4})}, {0}, {1, 2}).eval(), std::out_of_range);
  EXPECT_THROW(gather(a, {ints({2})}, {0}, {2, 2}).eval(), std::out_of_range);  // slice leaves
  array big = astype(array(int64_t(-1), Dtype::int64), Dtype::uint64);  // 2**64 - 1
  EXPECT_THROW(gather(a, {reshape(big, {1})}, {0}, {1, 2}).eval(), std::out_of_range);
  try {
    gather(a, {ints({5})}, {0}, {1, 2}).eval();
  } catch (const std::out_of_range& e) {
    EXPECT_STREQ(e.what(), "[gather] Index 5 is out of bounds for axis 0 with size 3.");
  }
}

TEST(Gather, ArgumentErrors) {
  array a = iota({3, 2});
  EXPECT_THROW(gather(a, {ints({0})}, {0, 1}, {1, 2}), std::invalid_argument);    // counts
  EXPECT_THROW(gather(a, {ints({0})}, {2}, {1, 2}), std::out_of_range);       // axis
  EXPECT_THROW(gather(a, {ints({0})}, {0}, {1}), std::invalid_argument);          // sizes
  EXPECT_THROW(gather(a, {ints({0})}, {0}, {1, 3}), std::invalid_argument);       // too big
  EXPECT_THROW(gather(a, {iota({1})}, {0}, {1, 2}), std::invalid_argument);       // float index
  EXPECT_THROW(gather(a, {ints({0}), ints({0})}, {0, 0}, {1, 1}), std::invalid_argument);
  EXPECT_THROW(gather(a, {ints({0, 1})}, {0}, {1, 2}, 1), std::invalid_argument);  // batch axis
  EXPECT_THROW(gather(a, {ints({0, 1}, {2, 1})}, {1}, {1}, 1), std::invalid_argument);
}

TEST(Scatter, AssignKeepsTheLastOfRepeatedIndices) {
  array a = zeros({4});
  array out = scatter(a, {ints({1, 3, 1})}, iota({3, 1}, Dtype::float32, 10), {0});
  EXPECT_EQ(to_floats(out), (std::vector<float>{0, 12, 0, 11}));
  // `a` itself is unchanged (its buffer is not written unless donated).
  EXPECT_EQ(to_floats(a), (std::vector<float>{0, 0, 0, 0}));
}

TEST(Scatter, ReductionsCombineRepeatedIndices) {
  array a = from_doubles({1, 2, 3, 4}, {4}, Dtype::float32);
  array idx = ints({0, 2, 0, 0});
  array upd = from_doubles({5, -1, 2, 7}, {4, 1}, Dtype::float32);
  EXPECT_EQ(to_floats(scatter(a, {idx}, upd, {0}, ScatterReduce::Add)),
            (std::vector<float>{15, 2, 2, 4}));
  EXPECT_EQ(to_floats(scatter(a, {idx}, upd, {0}, ScatterReduce::Prod)),
            (std::vector<float>{70, 2, -3, 4}));
  EXPECT_EQ(to_floats(scatter(a, {idx}, upd, {0}, ScatterReduce::Max)),
            (std::vector<float>{7, 2, 3, 4}));
  EXPECT_EQ(to_floats(scatter(a, {idx}, upd, {0}, ScatterReduce::Min)),
            (std::vector<float>{1, 2, -1, 4}));
  array ia = from_vector<int32_t>({1, 2, 3, 4}, {4});
  EXPECT_EQ(to_vector<int32_t>(scatter(ia, {idx}, upd, {0}, ScatterReduce::Add)),
            (std::vector<int32_t>{15, 2, 2, 4}));
}

TEST(Scatter, SlicesBatchesAndBroadcastUpdates) {
  array a = zeros({3, 4});
  // Rows 2 and 0 get the (1, 4) slices of the updates.
  array out = scatter(a, {ints({2, 0})}, iota({2, 1, 4}, Dtype::float32, 1), {0});
  EXPECT_EQ(to_floats(out), (std::vector<float>{5, 6, 7, 8, 0, 0, 0, 0, 1, 2, 3, 4}));
  // A scalar-like update broadcast over index positions and the slice.
  out = scatter(a, {ints({1})}, full({1, 1, 1}, array(9.0f)), {0}, ScatterReduce::Add);
  EXPECT_EQ(to_floats(out), (std::vector<float>{0, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0}));
  // Batch axis: row b gets column idx[b].
  out = scatter(zeros({2, 3}), {ints({2, 0}, {2, 1})}, ones({2, 1, 1}), {1}, ScatterReduce::None, 1);
  EXPECT_EQ(to_floats(out), (std::vector<float>{0, 0, 1, 1, 0, 0}));
  // Transposed operand.
  out = scatter(transpose(iota({2, 3})), {ints({1})}, zeros({1, 1, 2}), {0});
  EXPECT_EQ(to_floats(out), (std::vector<float>{0, 3, 0, 0, 2, 5}));
}

TEST(Scatter, OutOfRangeWritesNothing) {
  array a = iota({3});
  EXPECT_THROW(scatter(a, {ints({0, 3})}, ones({2, 1}), {0}).eval(), std::out_of_range);
  EXPECT_EQ(to_floats(a), (std::vector<float>{0, 1, 2}));
  EXPECT_THROW(scatter(a, {ints({0})}, ones({2, 2}), {0}), std::invalid_argument);
  EXPECT_THROW(scatter(astype(a, Dtype::complex64), {ints({0})}, ones({1, 1}), {0},
                       ScatterReduce::Max),
               std::invalid_argument);
}

TEST(GatherScatterDerivatives, AgreeWithFiniteDifferences) {
  array x = f64({0.3, -1.2, 2.5, 0.7, -0.4, 1.9}, {3, 2});
  array idx = ints({2, 0, 2});
  check_derivatives([&](const std::vector<array>& p) {
    return std::vector<array>{gather(p[0], {idx}, {0}, {1, 2})};
  }, {x}, "gather rows (repeated)");
  check_derivatives([&](const std::vector<array>& p) {
    return std::vector<array>{gather(p[0], {ints({1, 0, 1}, {3, 1})}, {1}, {1}, 1)};
  }, {x}, "batched gather");
  array upd = f64({1.5, -0.5, 0.25, 2.0, -3.0, 0.5}, {3, 1, 2});
  for (ScatterReduce r : {ScatterReduce::None, ScatterReduce::Add, ScatterReduce::Prod,
                          ScatterReduce::Max, ScatterReduce::Min}) {
    check_derivatives([&](const std::vector<array>& p) {
      return std::vector<array>{scatter(p[0], {idx}, p[1], {0}, r)};
    }, {x, upd}, std::string("scatter reduce ") + std::to_string(static_cast<int>(r)));
  }
}

TEST(GatherScatterDerivatives, ProductsWithZerosStayFinite) {
  // One and two zero updates landing on one element: the exclusive products avoid 0 / 0.
  array a = f64({2.0, 3.0});
  for (auto u : {std::vector<double>{0.0, 4.0, 5.0}, std::vector<double>{0.0, 0.0, 5.0}}) {
    array upd = f64(u, {3, 1});
    check_derivatives([&](const std::vector<array>& p) {
      return std::vector<array>{scatter(p[0], {ints({0, 0, 1})}, p[1], {0}, ScatterReduce::Prod)};
    }, {a, upd}, "scatter_prod with zeros");
  }
}
