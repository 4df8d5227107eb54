// Regression tests for issue 5's numerics items that are natural to check from C++: slice
// lengths at the int64 edges, integer ranges, integer sums in 64 bits, and complex rules.
#include <cstdint>
#include <limits>

#include "pullback/primitives/shape.h"
#include "test_utils.h"

using namespace pullback;
using pbtest::from_vector;
using pbtest::to_vector;

namespace {

constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
constexpr int64_t kMin = std::numeric_limits<int64_t>::min();

}  // namespace

TEST(HardeningNumerics, SliceLengthNeverOverflows) {
  EXPECT_EQ(slice_length(0, 10, kMax), 1);
  EXPECT_EQ(slice_length(9, -1, -kMax), 1);
  EXPECT_EQ(slice_length(9, -1, kMin), 1);
  EXPECT_EQ(slice_length(kMin, kMax, kMax), 3);  // kMin, -1, kMax - 1: 2**64 - 1 apart
  EXPECT_EQ(slice_length(kMax, kMin, kMin), 2);  // kMax, -1
  EXPECT_EQ(slice_length(0, 10, 3), 4);
  EXPECT_EQ(slice_length(9, -1, -3), 4);
  EXPECT_EQ(slice_length(5, 5, 1), 0);
  EXPECT_EQ(slice_length(5, 6, -1), 0);
}

TEST(HardeningNumerics, SliceWithHugeStepIsAView) {
  array a = from_vector<int32_t>({0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, {10});
  EXPECT_EQ(to_vector<int32_t>(slice(a, {0}, {10}, {kMax})), (std::vector<int32_t>{0}));
  EXPECT_EQ(to_vector<int32_t>(slice(a, {9}, {-1}, {-kMax})), (std::vector<int32_t>{9}));
  EXPECT_EQ(to_vector<int32_t>(slice(a, {9}, {-1}, {kMin})), (std::vector<int32_t>{9}));
  array u = slice_update(a, array(100), {9}, {-1}, {-kMax});
  EXPECT_EQ(to_vector<int32_t>(u), (std::vector<int32_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 100}));
  u = slice_update(a, array(100), {3}, {10}, {kMax});
  EXPECT_EQ(to_vector<int32_t>(u), (std::vector<int32_t>{0, 1, 2, 100, 4, 5, 6, 7, 8, 9}));
}

TEST(HardeningNumerics, IntegerArangeIsExactAndWraps) {
  array r = integer_arange(kMax - 2, kMax, 1, Dtype::int64);
  EXPECT_EQ(to_vector<int64_t>(r), (std::vector<int64_t>{kMax - 2, kMax - 1}));
  r = integer_arange(kMin, int64_t(1) << 62, int64_t(1) << 62, Dtype::int64);
  EXPECT_EQ(to_vector<int64_t>(r),
            (std::vector<int64_t>{kMin, kMin + (int64_t(1) << 62), 0}));
  r = integer_arange((int64_t(1) << 53) + 1, (int64_t(1) << 53) + 3, 1, Dtype::int64);
  EXPECT_EQ(to_vector<int64_t>(r),
            (std::vector<int64_t>{(int64_t(1) << 53) + 1, (int64_t(1) << 53) + 2}));
  r = integer_arange(0, 300, 100, Dtype::int8);
  EXPECT_EQ(to_vector<int8_t>(r), (std::vector<int8_t>{0, 100, -56}));
  EXPECT_THROW(integer_arange(kMin, kMax, 1, Dtype::int64), std::invalid_argument);
  EXPECT_THROW(integer_arange(0, 1, 0, Dtype::int64), std::invalid_argument);
  // The float64 arange into an integer dtype converts without undefined casts.
  r = arange(-1e30, 1e30, 1e30, Dtype::int32);
  EXPECT_EQ(r.size(), 2u);
  r.eval();
}

TEST(HardeningNumerics, Int32SumAccumulatesIn64Bits) {
  // Partial sums pass INT32_MAX; the total fits.
  std::vector<int32_t> v(64, std::numeric_limits<int32_t>::max());
  for (int i = 0; i < 32; ++i) v[2 * i + 1] = -std::numeric_limits<int32_t>::max();
  v[0] = 5;
  int64_t expected = 0;
  for (int32_t x : v) expected += x;
  array s = sum(from_vector<int32_t>(v, {64}));
  EXPECT_EQ(s.dtype(), Dtype::int32);
  EXPECT_EQ(to_vector<int32_t>(s)[0], static_cast<int32_t>(expected));
  array big = broadcast_to(array(int64_t(1), Dtype::int64), {(int64_t(1) << 31) + 5});
  EXPECT_EQ(to_vector<int64_t>(sum(big))[0], (int64_t(1) << 31) + 5);
}

TEST(HardeningNumerics, ArgmaxRejectsAxesBeyondUint32) {
  array big = broadcast_to(array(1.0f), {(int64_t(1) << 32) + 1});
  EXPECT_THROW(argmax(big), std::invalid_argument);
  array ok = broadcast_to(array(1.0f), {int64_t(1) << 20});
  EXPECT_EQ(to_vector<uint32_t>(argmax(ok))[0], 0u);
}

TEST(HardeningNumerics, ComplexVjpConjugatesTheDerivative) {
  // d/dz |c z| summed: the gradient is conj(c) c z / |c z| = |c| z / |z|.
  complex64_t c(1.f, 2.f), z0(1.f, 2.f);
  auto f = [&](const std::vector<array>& in) { return std::vector<array>{sum(abs(multiply(in[0], array(c))))}; };
  auto [outs, grads] = vjp(f, {from_vector<complex64_t>({z0}, {1})}, {array(1.0f)});
  complex64_t g = to_vector<complex64_t>(grads[0])[0];
  EXPECT_NEAR(g.real(), 1.0, 1e-5);
  EXPECT_NEAR(g.imag(), 2.0, 1e-5);
}

TEST(HardeningNumerics, ComplexComparisonsAreLexicographic) {
  array a = from_vector<complex64_t>({{1.f, 2.f}, {3.f, -1.f}, {1.f, 1.f}}, {3});
  array b = from_vector<complex64_t>({{1.f, 1.f}, {2.f, 5.f}, {1.f, 1.f}}, {3});
  EXPECT_EQ(to_vector<bool>(less(a, b)), (std::vector<bool>{false, false, false}));
  EXPECT_EQ(to_vector<bool>(greater(a, b)), (std::vector<bool>{true, true, false}));
  EXPECT_EQ(to_vector<bool>(less_equal(a, b)), (std::vector<bool>{false, false, true}));
  auto m = to_vector<complex64_t>(minimum(a, b));
  EXPECT_EQ(m[0], complex64_t(1.f, 1.f));
  EXPECT_EQ(m[1], complex64_t(2.f, 5.f));
}

// Integer overflow wraps modulo 2^bits (as NumPy and MLX give) without signed-overflow undefined
// behaviour; the sanitized CI build fails on any UB here.
TEST(HardeningNumerics, IntegerOverflowWraps) {
  constexpr int32_t kMax32 = std::numeric_limits<int32_t>::max();
  constexpr int32_t kMin32 = std::numeric_limits<int32_t>::min();
  array a = from_vector<int32_t>({kMax32, kMin32, -7}, {3});
  EXPECT_EQ(to_vector<int32_t>(multiply(a, array(2))), (std::vector<int32_t>{-2, 0, -14}));
  EXPECT_EQ(to_vector<int32_t>(add(a, array(1))), (std::vector<int32_t>{kMin32, kMin32 + 1, -6}));
  EXPECT_EQ(to_vector<int32_t>(subtract(a, array(1))), (std::vector<int32_t>{kMax32 - 1, kMax32, -8}));
  EXPECT_EQ(to_vector<int32_t>(negative(a)), (std::vector<int32_t>{-kMax32, kMin32, 7}));
  EXPECT_EQ(to_vector<int32_t>(abs(a)), (std::vector<int32_t>{kMax32, kMin32, 7}));
  EXPECT_EQ(to_vector<int32_t>(square(a)), (std::vector<int32_t>{1, 0, 49}));
  EXPECT_EQ(to_vector<int32_t>(floor_divide(a, array(-1))), (std::vector<int32_t>{-kMax32, kMin32, 7}));
  EXPECT_EQ(to_vector<int32_t>(power(a, array(3))),
            (std::vector<int32_t>{static_cast<int32_t>(uint32_t(kMax32) * uint32_t(kMax32) * uint32_t(kMax32)), 0, -343}));
  array big = from_vector<int64_t>({kMax, kMin, int64_t(1) << 40, int64_t(1) << 40}, {4});
  EXPECT_EQ(to_vector<int64_t>(negative(big))[1], kMin);
  EXPECT_EQ(to_vector<int64_t>(sum(big))[0], kMax + kMin + (int64_t(1) << 41));  // -1 + 2^41
  EXPECT_EQ(to_vector<int64_t>(prod(slice(big, {2}, {4}, {1})))[0], 0);  // 2^80 wraps to 0
  // uint16 * uint16 is computed in unsigned int, not in (overflowing) int.
  array u = from_vector<uint16_t>({65535, 300}, {2});
  EXPECT_EQ(to_vector<uint16_t>(multiply(u, u)), (std::vector<uint16_t>{1, 24464}));
}

TEST(HardeningNumerics, ComplexAndTinyFloatsAreTrue) {
  array z = from_vector<complex64_t>({complex64_t(0, 1), complex64_t(0, 0), complex64_t(2, 0)}, {3});
  EXPECT_EQ(to_vector<bool>(astype(z, Dtype::bool_)), (std::vector<bool>{true, false, true}));
  array d = from_vector<double>({1e-300, 0.0, -0.0}, {3});
  EXPECT_EQ(to_vector<bool>(astype(d, Dtype::bool_)), (std::vector<bool>{true, false, false}));
}
