// Shape ops: values against hand-computed expectations, views sharing buffers, error
// messages, and the vjp/jvp of every shape primitive.
#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "pullback/ops.h"
#include "pullback/transforms/transforms.h"
#include "test_utils.h"

using namespace pullback;
using namespace pbtest;

namespace {

bool shares_buffer(const array& a, const array& b) {
  return a.data_shared_ptr() && a.data_shared_ptr() == b.data_shared_ptr();
}

}  // namespace

TEST(ShapeHelpers, ShapeStrAndNormalizeAxis) {
  EXPECT_EQ(shape_str({2, 3}), "(2,3)");
  EXPECT_EQ(shape_str({4}), "(4,)");
  EXPECT_EQ(shape_str({}), "()");
  EXPECT_EQ(normalize_axis(-1, 3, "op"), 2);
  EXPECT_EQ(normalize_axis(1, 3, "op"), 1);
  // IndexError in Python, as MLX raises for an axis out of range
  EXPECT_EQ(error_of<std::out_of_range>([] { normalize_axis(3, 3, "sum"); }),
            "[sum] axis 3 is out of bounds for array of dimension 3.");
  EXPECT_THROW(normalize_axis(-4, 3, "sum"), std::out_of_range);
}

TEST(Broadcast, Shapes) {
  EXPECT_EQ(broadcast_shapes({2, 1, 3}, {4, 1}), (Shape{2, 4, 3}));
  EXPECT_EQ(broadcast_shapes({}, {5}), (Shape{5}));
  EXPECT_EQ(broadcast_shapes({0, 1}, {1, 3}), (Shape{0, 3}));
  EXPECT_EQ(error_of<std::invalid_argument>([] { broadcast_shapes({2, 3}, {4}); }),
            "[broadcast_shapes] Shapes (2,3) and (4,) cannot be broadcast.");
}

TEST(Broadcast, ToIsAStrideZeroView) {
  array a = from_doubles({1, 2, 3}, {3, 1}, Dtype::float32);
  array b = broadcast_to(a, {2, 3, 2});
  EXPECT_EQ(b.shape(), (Shape{2, 3, 2}));
  EXPECT_EQ(to_vector<float>(b), (std::vector<float>{1, 1, 2, 2, 3, 3, 1, 1, 2, 2, 3, 3}));
  EXPECT_TRUE(shares_buffer(a, b));
  EXPECT_EQ(b.strides(), (Strides{0, 1, 0}));
  EXPECT_FALSE(b.flags().row_contiguous);
  EXPECT_FALSE(b.flags().contiguous);
  EXPECT_EQ(b.data_size(), 3u);

  array s = broadcast_to(array(7.f), {4, 5});
  EXPECT_EQ(to_vector<float>(s), std::vector<float>(20, 7.f));
  EXPECT_EQ(s.data_size(), 1u);

  // Only new leading axes: still dense in memory.
  array c = broadcast_to(a, {1, 3, 1});
  c.eval();
  EXPECT_TRUE(c.flags().row_contiguous);

  EXPECT_EQ(error_of<std::invalid_argument>([&] { broadcast_to(a, {3, 2, 2}); }),
            "[broadcast_to] Cannot broadcast array of shape (3,1) to shape (3,2,2).");
  EXPECT_THROW(broadcast_to(a, {2}), std::invalid_argument);
}

TEST(Broadcast, Arrays) {
  auto out = broadcast_arrays({from_doubles({1, 2}, {2}, Dtype::float32),
                               from_doubles({10, 20, 30}, {3, 1}, Dtype::float32)});
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(to_vector<float>(out[0]), (std::vector<float>{1, 2, 1, 2, 1, 2}));
  EXPECT_EQ(to_vector<float>(out[1]), (std::vector<float>{10, 10, 20, 20, 30, 30}));
  EXPECT_THROW(broadcast_arrays({iota({2, 3}), iota({4})}), std::invalid_argument);
}

TEST(Reshape, InfersAndViews) {
  array a = iota({2, 3});
  array b = reshape(a, {3, -1});
  EXPECT_EQ(b.shape(), (Shape{3, 2}));
  EXPECT_EQ(to_vector<float>(b), (std::vector<float>{0, 1, 2, 3, 4, 5}));
  EXPECT_TRUE(shares_buffer(a, b));
  EXPECT_TRUE(b.flags().row_contiguous);
  EXPECT_EQ(reshape(a, {-1}).shape(), (Shape{6}));
  EXPECT_EQ(reshape(array(3.f), {1, 1}).shape(), (Shape{1, 1}));
  EXPECT_EQ(reshape(iota({0, 3}), {3, 0}).shape(), (Shape{3, 0}));
  EXPECT_THROW(reshape(iota({0, 3}), {3, 0, -1}), std::invalid_argument);  // ambiguous, as in NumPy

  EXPECT_EQ(error_of<std::invalid_argument>([&] { reshape(a, {4, 2}); }),
            "[reshape] Cannot reshape array of size 6 and shape (2,3) into shape (4,2).");
  EXPECT_THROW(reshape(a, {4, -1}), std::invalid_argument);
  EXPECT_THROW(reshape(a, {-1, -1}), std::invalid_argument);
  EXPECT_THROW(reshape(a, {-2, -3}), std::invalid_argument);
  EXPECT_THROW(reshape(iota({0}), {0, -1}), std::invalid_argument);
}

TEST(Reshape, CopiesOnlyWhenStridesCannotExpressIt) {
  array a = iota({3, 4});
  array t = transpose(a);  // (4,3), column-major view
  array flat = reshape(t, {12});
  EXPECT_EQ(to_vector<float>(flat), (std::vector<float>{0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11}));
  EXPECT_FALSE(shares_buffer(a, flat));
  EXPECT_TRUE(flat.flags().row_contiguous);

  // Adding or dropping unit axes of a strided view never copies.
  array cols = slice(a, {0, 1}, {3, 3}, {1, 1});  // (3,2), row stride 4
  array r = reshape(cols, {3, 1, 2});
  EXPECT_EQ(to_vector<float>(r), (std::vector<float>{1, 2, 5, 6, 9, 10}));
  EXPECT_TRUE(shares_buffer(a, r));
  // Splitting a strided axis is a view too.
  array rows = slice(a, {0, 0}, {3, 4}, {1, 2});  // (3,2) with strides (4,2)
  array split_view = reshape(rows, {3, 2, 1});
  split_view.eval();
  EXPECT_TRUE(shares_buffer(a, split_view));
  // Every other column of a (3,4) array is evenly spaced: merging its axes is still a view.
  array even = reshape(rows, {6});
  EXPECT_EQ(to_vector<float>(even), (std::vector<float>{0, 2, 4, 6, 8, 10}));
  EXPECT_TRUE(shares_buffer(a, even));
  EXPECT_EQ(even.strides(), (Strides{2}));
  // Merging axes that are not evenly spaced copies.
  array merged = reshape(cols, {6});
  EXPECT_EQ(to_vector<float>(merged), (std::vector<float>{1, 2, 5, 6, 9, 10}));
  EXPECT_FALSE(shares_buffer(a, merged));

  // A broadcast array keeps its stride-0 axes through a compatible reshape.
  array bc = broadcast_to(from_doubles({1, 2}, {2}, Dtype::float32), {3, 2});
  array bc3 = reshape(bc, {3, 1, 2});
  EXPECT_EQ(to_vector<float>(bc3), (std::vector<float>{1, 2, 1, 2, 1, 2}));
  EXPECT_TRUE(shares_buffer(bc, bc3));
  EXPECT_EQ(to_vector<float>(reshape(bc, {2, 3})), (std::vector<float>{1, 2, 1, 2, 1, 2}));
}

TEST(Transpose, ViewsAndErrors) {
  array a = iota({2, 3, 4});
  array t = transpose(a, {1, 2, 0});
  EXPECT_EQ(t.shape(), (Shape{3, 4, 2}));
  t.eval();
  EXPECT_TRUE(shares_buffer(a, t));
  EXPECT_EQ(t.strides(), (Strides{4, 1, 12}));
  EXPECT_FALSE(t.flags().row_contiguous);
  EXPECT_TRUE(t.flags().contiguous);  // dense, in a permuted order
  auto v = to_vector<float>(t);
  EXPECT_EQ(v[0], 0);
  EXPECT_EQ(v[1], 12);  // t[0,0,1] = a[1,0,0]
  EXPECT_EQ(v[2], 1);   // t[0,1,0] = a[0,0,1]

  array r = transpose(a);  // reverses
  EXPECT_EQ(r.shape(), (Shape{4, 3, 2}));
  r.eval();
  EXPECT_TRUE(r.flags().col_contiguous);
  EXPECT_EQ(to_vector<float>(r)[1], 12);

  EXPECT_EQ(to_vector<float>(transpose(iota({2, 3}), {-1, -2})),
            (std::vector<float>{0, 3, 1, 4, 2, 5}));
  EXPECT_EQ(error_of<std::invalid_argument>([&] { transpose(a, {0, 1}); }),
            "[transpose] Received 2 axes (0,1) for an array of shape (2,3,4).");
  EXPECT_THROW(transpose(a, {0, 0, 1}), std::invalid_argument);
  EXPECT_THROW(transpose(a, {0, 1, 3}), std::out_of_range);
}

TEST(Transpose, SwapAndMoveAxes) {
  array a = iota({2, 3, 4});
  EXPECT_EQ(swapaxes(a, 0, -1).shape(), (Shape{4, 3, 2}));
  EXPECT_EQ(to_vector<float>(swapaxes(a, 0, 2))[1], 12);
  EXPECT_EQ(moveaxis(a, 0, -1).shape(), (Shape{3, 4, 2}));
  EXPECT_EQ(moveaxis(a, 2, 0).shape(), (Shape{4, 2, 3}));
  EXPECT_EQ(to_vector<float>(moveaxis(a, 2, 0))[1], 4);  // [0,0,1] <- a[0,1,0]
  EXPECT_THROW(swapaxes(a, 0, 3), std::out_of_range);
  EXPECT_THROW(moveaxis(a, -4, 0), std::out_of_range);
}

TEST(SqueezeExpand, Shapes) {
  array a = iota({1, 3, 1, 2});
  EXPECT_EQ(squeeze(a).shape(), (Shape{3, 2}));
  EXPECT_EQ(squeeze(a, Axes{2}).shape(), (Shape{1, 3, 2}));
  EXPECT_EQ(squeeze(a, Axes{0, -2}).shape(), (Shape{3, 2}));
  EXPECT_EQ(to_vector<float>(squeeze(a)), to_vector<float>(a));
  EXPECT_EQ(error_of<std::invalid_argument>([&] { squeeze(a, Axes{1}); }),
            "[squeeze] Cannot squeeze axis 1 of an array of shape (1,3,1,2): its size is 3, not 1.");
  EXPECT_THROW(squeeze(a, Axes{4}), std::out_of_range);

  array b = iota({3, 2});
  EXPECT_EQ(expand_dims(b, {0}).shape(), (Shape{1, 3, 2}));
  EXPECT_EQ(expand_dims(b, {-1}).shape(), (Shape{3, 2, 1}));
  EXPECT_EQ(expand_dims(b, {0, 2}).shape(), (Shape{1, 3, 1, 2}));
  EXPECT_EQ(expand_dims(b, {0, -1}).shape(), (Shape{1, 3, 2, 1}));
  EXPECT_EQ(expand_dims(array(1.f), {0}).shape(), (Shape{1}));
  EXPECT_TRUE(shares_buffer(b, [&] { array e = expand_dims(b, {1}); e.eval(); return e; }()));
  EXPECT_THROW(expand_dims(b, {0, 0}), std::invalid_argument);
  EXPECT_THROW(expand_dims(b, {3}), std::out_of_range);
}

TEST(Flatten, Ranges) {
  array a = iota({2, 3, 4});
  EXPECT_EQ(flatten(a).shape(), (Shape{24}));
  EXPECT_EQ(flatten(a, 1).shape(), (Shape{2, 12}));
  EXPECT_EQ(flatten(a, 0, 1).shape(), (Shape{6, 4}));
  EXPECT_EQ(flatten(a, -2, -2).shape(), (Shape{2, 3, 4}));
  EXPECT_EQ(flatten(array(2.f)).shape(), (Shape{1}));
  EXPECT_THROW(flatten(a, 2, 1), std::invalid_argument);
  EXPECT_EQ(flatten(a, 0, 3).shape(), (Shape{24}));  // axes past the end clamp (MLX)
  EXPECT_THROW(flatten(a, 3, 3), std::invalid_argument);
}

TEST(Concatenate, AxesAndPromotion) {
  array a = iota({2, 2});
  array b = iota({2, 1}, Dtype::float32, 10);
  EXPECT_EQ(to_vector<float>(concatenate({a, b}, 1)), (std::vector<float>{0, 1, 10, 2, 3, 11}));
  EXPECT_EQ(to_vector<float>(concatenate({a, iota({1, 2}, Dtype::float32, 10)}, 0)),
            (std::vector<float>{0, 1, 2, 3, 10, 11}));
  EXPECT_EQ(to_vector<float>(concatenate({a, b}, std::nullopt)),
            (std::vector<float>{0, 1, 2, 3, 10, 11}));
  // Strided inputs.
  EXPECT_EQ(to_vector<float>(concatenate({transpose(a), a}, -1)),
            (std::vector<float>{0, 2, 0, 1, 1, 3, 2, 3}));

  int32_t ints[2] = {5, 6};
  array c =
      concatenate({array(ints, {2}, Dtype::int32), from_doubles({0.5f}, {1}, Dtype::float32)});
  EXPECT_EQ(c.dtype(), Dtype::float32);
  EXPECT_EQ(to_vector<float>(c), (std::vector<float>{5, 6, 0.5f}));
  array d = concatenate({array(ints, {2}, Dtype::int32), array(ints, {2}, Dtype::int32)});
  EXPECT_EQ(d.dtype(), Dtype::int32);
  EXPECT_EQ(to_vector<int32_t>(d), (std::vector<int32_t>{5, 6, 5, 6}));

  EXPECT_EQ(error_of<std::invalid_argument>([&] { concatenate({a, iota({3, 3})}, 0); }),
            "[concatenate] Array 0 of shape (2,2) and array 1 of shape (3,3) differ outside the "
            "concatenation axis 0.");
  EXPECT_THROW(concatenate({a, iota({4})}, 0), std::invalid_argument);
  EXPECT_THROW(concatenate({}, 0), std::invalid_argument);
  EXPECT_THROW(concatenate({a, a}, 2), std::out_of_range);
  EXPECT_THROW(concatenate({array(1.f), array(2.f)}, 0), std::invalid_argument);
}

TEST(Stack, Axes) {
  array a = iota({2, 3});
  array b = iota({2, 3}, Dtype::float32, 10);
  EXPECT_EQ(stack({a, b}).shape(), (Shape{2, 2, 3}));
  EXPECT_EQ(stack({a, b}, 1).shape(), (Shape{2, 2, 3}));
  array last = stack({a, b}, -1);
  EXPECT_EQ(last.shape(), (Shape{2, 3, 2}));
  EXPECT_EQ(to_vector<float>(last), (std::vector<float>{0, 10, 1, 11, 2, 12, 3, 13, 4, 14, 5, 15}));
  EXPECT_EQ(to_vector<float>(stack({a, b}, 1)),
            (std::vector<float>{0, 1, 2, 10, 11, 12, 3, 4, 5, 13, 14, 15}));
  EXPECT_EQ(to_vector<float>(stack({array(1.f), array(2.f)})), (std::vector<float>{1, 2}));
  EXPECT_EQ(error_of<std::invalid_argument>([&] { stack({a, iota({3})}); }),
            "[stack] All arrays must have the same shape; array 0 has shape (2,3) and array 1 has "
            "shape (3,).");
  EXPECT_THROW(stack({a, b}, 3), std::out_of_range);
}

TEST(Split, SectionsAndIndices) {
  array a = iota({6, 2});
  auto parts = split(a, 3);
  ASSERT_EQ(parts.size(), 3u);
  EXPECT_EQ(to_vector<float>(parts[1]), (std::vector<float>{4, 5, 6, 7}));
  EXPECT_TRUE(shares_buffer(a, [&] { parts[2].eval(); return parts[2]; }()));
  auto cols = split(a, 2, 1);
  EXPECT_EQ(to_vector<float>(cols[1]), (std::vector<float>{1, 3, 5, 7, 9, 11}));
  EXPECT_EQ(error_of<std::invalid_argument>([&] { split(a, 4); }),
            "[split] Array of shape (6,2) cannot be split into 4 equal sections along axis 0.");
  EXPECT_THROW(split(a, 0), std::invalid_argument);
  EXPECT_THROW(split(a, 2, 2), std::out_of_range);

  auto at = split(a, Shape{1, 4}, 0);
  ASSERT_EQ(at.size(), 3u);
  EXPECT_EQ(at[0].shape(), (Shape{1, 2}));
  EXPECT_EQ(at[1].shape(), (Shape{3, 2}));
  EXPECT_EQ(at[2].shape(), (Shape{2, 2}));
  EXPECT_EQ(to_vector<float>(at[2]), (std::vector<float>{8, 9, 10, 11}));
  // NumPy's rules: negative indices wrap, out-of-order ones give empty sections.
  auto odd = split(a, Shape{-2, 2, 10}, 0);
  ASSERT_EQ(odd.size(), 4u);
  EXPECT_EQ(odd[0].shape(), (Shape{4, 2}));
  EXPECT_EQ(odd[1].shape(), (Shape{0, 2}));
  EXPECT_EQ(odd[2].shape(), (Shape{4, 2}));
  EXPECT_EQ(odd[3].shape(), (Shape{0, 2}));
}

TEST(Slice, ViewsWithAnyStep) {
  array a = iota({4, 5});
  array s = slice(a, {1, 0}, {3, 5}, {1, 2});
  EXPECT_EQ(s.shape(), (Shape{2, 3}));
  EXPECT_EQ(to_vector<float>(s), (std::vector<float>{5, 7, 9, 10, 12, 14}));
  EXPECT_TRUE(shares_buffer(a, s));
  EXPECT_EQ(s.strides(), (Strides{5, 2}));

  array rev = slice(a, {3, 4}, {-1, -1}, {-1, -2});  // a[::-1, ::-2]
  EXPECT_EQ(rev.shape(), (Shape{4, 3}));
  EXPECT_EQ(to_vector<float>(rev), (std::vector<float>{19, 17, 15, 14, 12, 10, 9, 7, 5, 4, 2, 0}));
  EXPECT_TRUE(shares_buffer(a, rev));
  EXPECT_FALSE(rev.flags().contiguous);

  // Rows 1..2 in full are a dense block.
  array rows = slice(a, {1, 0}, {3, 5}, {1, 1});
  rows.eval();
  EXPECT_TRUE(rows.flags().row_contiguous);
  EXPECT_EQ(rows.data_size(), 10u);

  // Slicing a view, then copying it out.
  array twice = slice(rev, {1, 0}, {3, 3}, {1, 2});
  EXPECT_EQ(to_vector<float>(twice), (std::vector<float>{14, 10, 9, 5}));
  EXPECT_EQ(to_vector<float>(copy(twice)), (std::vector<float>{14, 10, 9, 5}));

  // Empty and clamped ranges.
  EXPECT_EQ(slice(a, {2, 0}, {2, 5}, {1, 1}).shape(), (Shape{0, 5}));
  EXPECT_EQ(slice(a, {0, 0}, {10, 5}, {1, 1}).shape(), (Shape{4, 5}));
  EXPECT_THROW(slice(a, {0, 0}, {4, 5}, {1, 0}), std::invalid_argument);
  EXPECT_THROW(slice(a, {0}, {4}, {1}), std::invalid_argument);
}

TEST(SliceUpdate, WritesRegionAndLeavesInputAlone) {
  array a = iota({3, 4});
  array u = from_doubles({-1, -2}, {2}, Dtype::float32);
  array out = slice_update(a, u, {0, 1}, {3, 4}, {2, 2});  // a[::2, 1::2] = u
  EXPECT_EQ(to_vector<float>(out), (std::vector<float>{0, -1, 2, -2, 4, 5, 6, 7, 8, -1, 10, -2}));
  EXPECT_EQ(to_vector<float>(a), (std::vector<float>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}));

  // a[::-1, ::-1]
  array rev = slice_update(a, iota({1, 1, 4}, Dtype::float32, 100), {2, 3}, {-1, -1}, {-1, -1});
  EXPECT_EQ(to_vector<float>(rev),
            (std::vector<float>{103, 102, 101, 100, 103, 102, 101, 100, 103, 102, 101, 100}));

  // The update is cast to a's dtype.
  int32_t ints[4] = {0, 1, 2, 3};
  array ia = array(ints, {4}, Dtype::int32);
  array iu = slice_update(ia, array(7.9f), {1}, {3}, {1});
  EXPECT_EQ(iu.dtype(), Dtype::int32);
  EXPECT_EQ(to_vector<int32_t>(iu), (std::vector<int32_t>{0, 7, 7, 3}));

  // A lazy input no one else holds lends its buffer.
  array donor = copy(iota({4}));
  array donated = slice_update(donor, array(9.f), {0}, {1}, {1});
  donor = array();
  EXPECT_EQ(to_vector<float>(donated), (std::vector<float>{9, 1, 2, 3}));

  EXPECT_EQ(error_of<std::invalid_argument>([&] { slice_update(a, iota({3}), {0, 0}, {3, 4}, {1, 2}); }),
            "[slice_update] Cannot broadcast update of shape (3,) into the slice of shape (3,2) of an "
            "array of shape (3,4).");
}

// ---- derivatives ----

TEST(ShapeGrad, BroadcastSumsOverRepeatedAxes) {
  array x = from_doubles({1, 2, 3}, {3, 1}, Dtype::float32);
  array g = grad_of([](const array& a) { return broadcast_to(a, {2, 3, 4}); }, x, iota({2, 3, 4}));
  // Sum over axes 0 and 2 of iota(2,3,4).
  EXPECT_EQ(g.shape(), (Shape{3, 1}));
  EXPECT_EQ(to_vector<float>(g), (std::vector<float>{60, 92, 124}));
  auto [outs, tans] = jvp([](const std::vector<array>& in) { return std::vector<array>{broadcast_to(in[0], {2, 3, 2})}; },
                          {x}, {from_doubles({1, 0, 2}, {3, 1}, Dtype::float32)});
  EXPECT_EQ(to_vector<float>(tans[0]), (std::vector<float>{1, 1, 0, 0, 2, 2, 1, 1, 0, 0, 2, 2}));
}

TEST(ShapeGrad, ReshapeAndTranspose) {
  array x = iota({2, 3});
  array g = grad_of([](const array& a) { return reshape(a, {3, 2}); }, x,
                    iota({3, 2}, Dtype::float32, 1));
  EXPECT_EQ(g.shape(), (Shape{2, 3}));
  EXPECT_EQ(to_vector<float>(g), (std::vector<float>{1, 2, 3, 4, 5, 6}));

  array y = iota({2, 3, 4});
  array gt = grad_of([](const array& a) { return transpose(a, {2, 0, 1}); }, y, iota({4, 2, 3}));
  EXPECT_EQ(gt.shape(), (Shape{2, 3, 4}));
  // gt[i,j,k] = ct[k,i,j] = 6k + 3i + j
  auto v = to_vector<float>(gt);
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j)
      for (int k = 0; k < 4; ++k) EXPECT_EQ(v[i * 12 + j * 4 + k], 6 * k + 3 * i + j);

  auto [outs, tans] = jvp([](const std::vector<array>& in) { return std::vector<array>{transpose(in[0])}; },
                          {x}, {iota({2, 3}, Dtype::float32, 1)});
  EXPECT_EQ(to_vector<float>(tans[0]), (std::vector<float>{1, 4, 2, 5, 3, 6}));
}

TEST(ShapeGrad, SliceScattersIntoZeros) {
  array x = iota({3, 4});
  array g = grad_of([](const array& a) { return slice(a, {2, 1}, {-1, 4}, {-2, 2}); }, x,
                    from_doubles({1, 2, 3, 4}, {2, 2}, Dtype::float32));
  EXPECT_EQ(to_vector<float>(g), (std::vector<float>{0, 3, 0, 4, 0, 0, 0, 0, 0, 1, 0, 2}));
  auto [outs, tans] = jvp([](const std::vector<array>& in) { return std::vector<array>{slice(in[0], {0, 0}, {3, 4}, {2, 3})}; },
                          {x}, {iota({3, 4}, Dtype::float32, 1)});
  EXPECT_EQ(to_vector<float>(tans[0]), (std::vector<float>{1, 4, 9, 12}));
}

TEST(ShapeGrad, SliceUpdateSplitsTheCotangent) {
  array a = iota({2, 3});
  // Broadcast over the two rows of the region.
  array u = from_doubles({10, 20}, {2}, Dtype::float32);
  auto f = [](const std::vector<array>& in) {
    return std::vector<array>{slice_update(in[0], in[1], {0, 1}, {2, 3}, {1, 1})};
  };
  auto [outs, grads] = vjp(f, {a, u}, {iota({2, 3}, Dtype::float32, 1)});
  EXPECT_EQ(to_vector<float>(outs[0]), (std::vector<float>{0, 10, 20, 3, 10, 20}));
  EXPECT_EQ(to_vector<float>(grads[0]), (std::vector<float>{1, 0, 0, 4, 0, 0}));
  EXPECT_EQ(grads[1].shape(), (Shape{2}));
  EXPECT_EQ(to_vector<float>(grads[1]), (std::vector<float>{2 + 5, 3 + 6}));

  auto [o2, tans] = jvp(f, {a, u}, {ones({2, 3}), from_doubles({-1, -2}, {2}, Dtype::float32)});
  EXPECT_EQ(to_vector<float>(tans[0]), (std::vector<float>{1, -1, -2, 1, -1, -2}));
}

TEST(ShapeGrad, ConcatenateSlicesTheCotangent) {
  array a = iota({2, 1});
  array b = iota({2, 2});
  auto f = [](const std::vector<array>& in) { return std::vector<array>{concatenate(in, 1)}; };
  auto [outs, grads] = vjp(f, {a, b}, {iota({2, 3}, Dtype::float32, 1)});
  EXPECT_EQ(to_vector<float>(grads[0]), (std::vector<float>{1, 4}));
  EXPECT_EQ(to_vector<float>(grads[1]), (std::vector<float>{2, 3, 5, 6}));
  auto [o2, tans] = jvp(f, {a, b}, {ones({2, 1}), zeros({2, 2})});
  EXPECT_EQ(to_vector<float>(tans[0]), (std::vector<float>{1, 0, 0, 1, 0, 0}));
}

TEST(ShapeGrad, CompositesStackSplitSqueeze) {
  array x = iota({4, 2});
  // Sum of the two halves stacked: each element gets the cotangent of its slot.
  auto f = [](const std::vector<array>& in) {
    auto parts = split(in[0], 2, 0);
    return std::vector<array>{stack({parts[1], parts[0]}, 0)};
  };
  auto [outs, grads] = vjp(f, {x}, {iota({2, 2, 2})});
  EXPECT_EQ(to_vector<float>(outs[0]), (std::vector<float>{4, 5, 6, 7, 0, 1, 2, 3}));
  EXPECT_EQ(to_vector<float>(grads[0]), (std::vector<float>{4, 5, 6, 7, 0, 1, 2, 3}));

  array y = iota({1, 3, 1});
  array gs = grad_of([](const array& a) { return squeeze(a); }, y,
                     from_doubles({7, 8, 9}, {3}, Dtype::float32));
  EXPECT_EQ(gs.shape(), (Shape{1, 3, 1}));
  EXPECT_EQ(to_vector<float>(gs), (std::vector<float>{7, 8, 9}));
}
