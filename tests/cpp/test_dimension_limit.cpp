// The dimension limit: no array, however it is made, has more than kMaxNdim (64) dimensions,
// and the error names what made it.
#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

#include "pullback/ops.h"
#include "test_utils.h"

using namespace pullback;
using namespace pbtest;

namespace {

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

}  // namespace

TEST(DimensionLimit, SixtyFourDimensionsAreAllowed) {
  Shape shape(kMaxNdim, 1);
  array z = zeros(shape);
  EXPECT_EQ(z.ndim(), 64);
  array r = reshape(ones({2}), [] { Shape s(64, 1); s[63] = 2; return s; }());
  r.eval();
  EXPECT_EQ(r.ndim(), 64);
  EXPECT_EQ(r.data<float>()[1], 1.0f);
}

TEST(DimensionLimit, CreationBeyondTheLimitThrows) {
  Shape shape(kMaxNdim + 1, 1);
  std::string msg = error_of<std::invalid_argument>([&] { zeros(shape); });
  EXPECT_TRUE(contains(msg, "at most 64 dimensions")) << msg;
  EXPECT_TRUE(contains(msg, "65")) << msg;
  float one = 1.0f;
  msg = error_of<std::invalid_argument>([&] { array(&one, shape, Dtype::float32); });
  EXPECT_TRUE(contains(msg, "[array]")) << msg;
  msg = error_of<std::invalid_argument>([&] { array::empty(Shape(200, 1), Dtype::int32); });
  EXPECT_TRUE(contains(msg, "200")) << msg;
}

TEST(DimensionLimit, ShapeOpsBeyondTheLimitNameThePrimitive) {
  array x = ones({1});
  std::string msg = error_of<std::invalid_argument>([&] { reshape(x, Shape(65, 1)); });
  EXPECT_TRUE(contains(msg, "[Reshape]")) << msg;
  EXPECT_TRUE(contains(msg, "65")) << msg;
  msg = error_of<std::invalid_argument>([&] { broadcast_to(x, Shape(65, 1)); });
  EXPECT_TRUE(contains(msg, "at most 64")) << msg;
  msg = error_of<std::invalid_argument>([&] { expand_dims(zeros(Shape(64, 1)), Axes{0}); });
  EXPECT_TRUE(contains(msg, "at most 64")) << msg;
  // An op whose output grows past the limit after broadcasting its inputs.
  msg = error_of<std::invalid_argument>([&] { add(zeros(Shape(64, 1)), zeros(Shape(65, 1))); });
  EXPECT_TRUE(contains(msg, "at most 64")) << msg;
}

TEST(DimensionLimit, CheckNdimNamesTheOp) {
  std::string msg = error_of<std::invalid_argument>([] { check_ndim(Shape(70, 2), "zeros"); });
  EXPECT_TRUE(contains(msg, "[zeros]")) << msg;
  EXPECT_TRUE(contains(msg, "70")) << msg;
  EXPECT_NO_THROW(check_ndim(Shape(64, 2), "zeros"));
}
