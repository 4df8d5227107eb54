// Dtypes: sizes, names, categories, the promotion table (MLX's), and half-precision rounding.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>

#include "pullback/dtype.h"
#include "pullback/ops.h"
#include "test_utils.h"

using namespace pullback;
using namespace pbtest;

namespace {

constexpr Dtype kAll[kNumDtypes] = {
    Dtype::bool_, Dtype::uint8,   Dtype::uint16,   Dtype::uint32,  Dtype::uint64,
    Dtype::int8,  Dtype::int16,   Dtype::int32,    Dtype::int64,   Dtype::float16,
    Dtype::bfloat16, Dtype::float32, Dtype::float64, Dtype::complex64};

uint16_t bf16_bits(float f) { return bfloat16_t(f).bits; }
uint16_t f16_bits(float16_t h) {
  uint16_t u;
  std::memcpy(&u, &h, 2);
  return u;
}

}  // namespace

TEST(Dtype, EnumOrderAndCount) {
  EXPECT_EQ(kNumDtypes, 14);
  for (int i = 0; i < kNumDtypes; ++i) EXPECT_EQ(static_cast<int>(kAll[i]), i);
}

TEST(Dtype, Sizes) {
  const size_t expected[kNumDtypes] = {1, 1, 2, 4, 8, 1, 2, 4, 8, 2, 2, 4, 8, 8};
  for (int i = 0; i < kNumDtypes; ++i) EXPECT_EQ(size_of(kAll[i]), expected[i]) << dtype_name(kAll[i]);
  // The C++ types the kernels use have the same sizes.
  for (Dtype t : kAll) {
    size_t cpp = dispatch_dtype(t, [](auto tag) { return sizeof(tag); });
    EXPECT_EQ(cpp, size_of(t)) << dtype_name(t);
    Dtype back = dispatch_dtype(t, [](auto tag) { return dtype_of<decltype(tag)>::value; });
    EXPECT_EQ(back, t);
  }
}

TEST(Dtype, Names) {
  const char* expected[kNumDtypes] = {"bool",  "uint8",   "uint16",   "uint32",  "uint64",
                                      "int8",  "int16",   "int32",    "int64",   "float16",
                                      "bfloat16", "float32", "float64", "complex64"};
  for (int i = 0; i < kNumDtypes; ++i) EXPECT_STREQ(dtype_name(kAll[i]), expected[i]);
}

TEST(Dtype, KindPredicates) {
  for (Dtype t : kAll) {
    bool fl = t == Dtype::float16 || t == Dtype::bfloat16 || t == Dtype::float32 || t == Dtype::float64;
    bool cx = t == Dtype::complex64;
    bool un = t == Dtype::uint8 || t == Dtype::uint16 || t == Dtype::uint32 || t == Dtype::uint64;
    bool si = t == Dtype::int8 || t == Dtype::int16 || t == Dtype::int32 || t == Dtype::int64;
    SCOPED_TRACE(dtype_name(t));
    EXPECT_EQ(is_floating(t), fl);
    EXPECT_EQ(is_complex(t), cx);
    EXPECT_EQ(is_inexact(t), fl || cx);
    EXPECT_EQ(is_unsigned(t), un);
    EXPECT_EQ(is_signed_int(t), si);
    EXPECT_EQ(is_integral(t), un || si);
  }
}

TEST(Dtype, Categories) {
  EXPECT_EQ(category_of(Dtype::complex64), DtypeCategory::complexfloating);
  for (Dtype t : {Dtype::float16, Dtype::bfloat16, Dtype::float32, Dtype::float64})
    EXPECT_EQ(category_of(t), DtypeCategory::floating);
  for (Dtype t : {Dtype::int8, Dtype::int16, Dtype::int32, Dtype::int64})
    EXPECT_EQ(category_of(t), DtypeCategory::signedinteger);
  for (Dtype t : {Dtype::uint8, Dtype::uint16, Dtype::uint32, Dtype::uint64})
    EXPECT_EQ(category_of(t), DtypeCategory::unsignedinteger);

  EXPECT_STREQ(category_name(DtypeCategory::complexfloating), "complexfloating");
  EXPECT_STREQ(category_name(DtypeCategory::floating), "floating");
  EXPECT_STREQ(category_name(DtypeCategory::inexact), "inexact");
  EXPECT_STREQ(category_name(DtypeCategory::signedinteger), "signedinteger");
  EXPECT_STREQ(category_name(DtypeCategory::unsignedinteger), "unsignedinteger");
  EXPECT_STREQ(category_name(DtypeCategory::integer), "integer");
  EXPECT_STREQ(category_name(DtypeCategory::number), "number");
  EXPECT_STREQ(category_name(DtypeCategory::generic), "generic");
}

TEST(Dtype, IssubdtypeOfDtypes) {
  using C = DtypeCategory;
  // For each dtype, the categories it belongs to (as in MLX / NumPy).
  for (Dtype t : kAll) {
    SCOPED_TRACE(dtype_name(t));
    bool fl = is_floating(t), cx = is_complex(t), un = is_unsigned(t), si = is_signed_int(t);
    EXPECT_EQ(issubdtype(t, C::floating), fl);
    EXPECT_EQ(issubdtype(t, C::complexfloating), cx);
    EXPECT_EQ(issubdtype(t, C::inexact), fl || cx);
    EXPECT_EQ(issubdtype(t, C::signedinteger), si);
    EXPECT_EQ(issubdtype(t, C::unsignedinteger), un);
    EXPECT_EQ(issubdtype(t, C::integer), un || si);
    EXPECT_EQ(issubdtype(t, C::number), t != Dtype::bool_);
    EXPECT_TRUE(issubdtype(t, C::generic));
  }
}

TEST(Dtype, IssubdtypeOfCategories) {
  using C = DtypeCategory;
  const C all[] = {C::complexfloating, C::floating,  C::inexact, C::signedinteger,
                   C::unsignedinteger, C::integer,   C::number,  C::generic};
  // parent[c] lists every category c is a sub-category of (itself included).
  auto expected = [](C a, C b) {
    if (a == b || b == C::generic) return true;
    switch (a) {
      case C::complexfloating:
      case C::floating: return b == C::inexact || b == C::number;
      case C::inexact: return b == C::number;
      case C::signedinteger:
      case C::unsignedinteger: return b == C::integer || b == C::number;
      case C::integer: return b == C::number;
      default: return false;
    }
  };
  for (C a : all) {
    for (C b : all) {
      EXPECT_EQ(issubdtype(a, b), expected(a, b)) << category_name(a) << " in " << category_name(b);
    }
  }
}

TEST(Dtype, PromoteTypesFullTable) {
  const Dtype b = Dtype::bool_, u8 = Dtype::uint8, u16 = Dtype::uint16, u32 = Dtype::uint32,
              u64 = Dtype::uint64, i8 = Dtype::int8, i16 = Dtype::int16, i32 = Dtype::int32,
              i64 = Dtype::int64, f16 = Dtype::float16, bf = Dtype::bfloat16, f32 = Dtype::float32,
              f64 = Dtype::float64, c64 = Dtype::complex64;
  // Rows and columns in enum order: b u8 u16 u32 u64 i8 i16 i32 i64 f16 bf16 f32 f64 c64.
  const Dtype expected[kNumDtypes][kNumDtypes] = {
      /* b   */ {b, u8, u16, u32, u64, i8, i16, i32, i64, f16, bf, f32, f64, c64},
      /* u8  */ {u8, u8, u16, u32, u64, i16, i16, i32, i64, f16, bf, f32, f64, c64},
      /* u16 */ {u16, u16, u16, u32, u64, i32, i32, i32, i64, f16, bf, f32, f64, c64},
      /* u32 */ {u32, u32, u32, u32, u64, i64, i64, i64, i64, f16, bf, f32, f64, c64},
      /* u64 */ {u64, u64, u64, u64, u64, f32, f32, f32, f32, f16, bf, f32, f64, c64},
      /* i8  */ {i8, i16, i32, i64, f32, i8, i16, i32, i64, f16, bf, f32, f64, c64},
      /* i16 */ {i16, i16, i32, i64, f32, i16, i16, i32, i64, f16, bf, f32, f64, c64},
      /* i32 */ {i32, i32, i32, i64, f32, i32, i32, i32, i64, f16, bf, f32, f64, c64},
      /* i64 */ {i64, i64, i64, i64, f32, i64, i64, i64, i64, f16, bf, f32, f64, c64},
      /* f16 */ {f16, f16, f16, f16, f16, f16, f16, f16, f16, f16, f32, f32, f64, c64},
      /* bf  */ {bf, bf, bf, bf, bf, bf, bf, bf, bf, f32, bf, f32, f64, c64},
      /* f32 */ {f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f64, c64},
      /* f64 */ {f64, f64, f64, f64, f64, f64, f64, f64, f64, f64, f64, f64, f64, c64},
      /* c64 */ {c64, c64, c64, c64, c64, c64, c64, c64, c64, c64, c64, c64, c64, c64},
  };
  for (int i = 0; i < kNumDtypes; ++i) {
    for (int j = 0; j < kNumDtypes; ++j) {
      EXPECT_EQ(promote_types(kAll[i], kAll[j]), expected[i][j])
          << dtype_name(kAll[i]) << " + " << dtype_name(kAll[j]) << " gave "
          << dtype_name(promote_types(kAll[i], kAll[j])) << ", want " << dtype_name(expected[i][j]);
    }
  }
}

TEST(Dtype, OpsApplyThePromotionTable) {
  for (Dtype a : kAll) {
    for (Dtype b : kAll) {
      array x = zeros({2}, a), y = zeros({2}, b);
      Dtype want = promote_types(a, b);
      EXPECT_EQ(add(x, y).dtype(), want) << dtype_name(a) << " + " << dtype_name(b);
      EXPECT_EQ(multiply(y, x).dtype(), want);
      EXPECT_EQ(equal(x, y).dtype(), Dtype::bool_);
      EXPECT_EQ(divide(x, y).dtype(), to_inexact(want));
    }
  }
  // And the arithmetic is done in the promoted type: uint8 255 + int8 1 is 256 in int16.
  array u = from_doubles({255}, {1}, Dtype::uint8), s = from_doubles({1}, {1}, Dtype::int8);
  array r = add(u, s);
  EXPECT_EQ(r.dtype(), Dtype::int16);
  EXPECT_EQ(to_vector<int16_t>(r)[0], 256);
  array big = from_doubles({4e9}, {1}, Dtype::uint32), neg = from_doubles({-1}, {1}, Dtype::int32);
  array r2 = add(big, neg);
  EXPECT_EQ(r2.dtype(), Dtype::int64);
  EXPECT_EQ(to_vector<int64_t>(r2)[0], 3999999999LL);
}

TEST(Dtype, ToInexact) {
  for (Dtype t : kAll) {
    Dtype want = is_inexact(t) ? t : Dtype::float32;
    EXPECT_EQ(to_inexact(t), want) << dtype_name(t);
  }
}

TEST(Dtype, Bfloat16RoundsToNearestEven) {
  EXPECT_EQ(bf16_bits(1.0f), 0x3f80);
  EXPECT_EQ(bf16_bits(-2.0f), 0xc000);
  EXPECT_EQ(bf16_bits(0.0f), 0x0000);
  EXPECT_EQ(bf16_bits(-0.0f), 0x8000);
  // Exactly halfway: ties go to the even mantissa.
  EXPECT_EQ(bf16_bits(float_of(0x3f808000)), 0x3f80);
  EXPECT_EQ(bf16_bits(float_of(0x3f818000)), 0x3f82);
  EXPECT_EQ(bf16_bits(float_of(0xbf818000)), 0xbf82);
  // Just off halfway: nearest.
  EXPECT_EQ(bf16_bits(float_of(0x3f808001)), 0x3f81);
  EXPECT_EQ(bf16_bits(float_of(0x3f807fff)), 0x3f80);
  EXPECT_EQ(bf16_bits(float_of(0x3f81ffff)), 0x3f82);
  // Infinities stay infinite; the largest finite floats round up to infinity.
  EXPECT_EQ(bf16_bits(std::numeric_limits<float>::infinity()), 0x7f80);
  EXPECT_EQ(bf16_bits(-std::numeric_limits<float>::infinity()), 0xff80);
  EXPECT_EQ(bf16_bits(std::numeric_limits<float>::max()), 0x7f80);
  EXPECT_EQ(bf16_bits(float_of(0x7f7f0000)), 0x7f7f);
  // NaN stays NaN (never collapses into infinity).
  bfloat16_t n(std::numeric_limits<float>::quiet_NaN());
  EXPECT_TRUE(std::isnan(static_cast<float>(n)));
  bfloat16_t sn(float_of(0x7f800001));  // signalling NaN whose payload is in the low half
  EXPECT_TRUE(std::isnan(static_cast<float>(sn)));
  // Subnormals keep their value when representable.
  EXPECT_EQ(static_cast<float>(bfloat16_t(float_of(0x00010000))), float_of(0x00010000));
  // Values round-trip exactly when they fit in 8 significant bits.
  for (float v : {0.5f, 3.0f, -7.5f, 256.0f, 1.0f / 1024, 65280.0f}) {
    EXPECT_EQ(static_cast<float>(bfloat16_t(v)), v);
  }
  EXPECT_EQ(static_cast<float>(bfloat16_t(257.0f)), 256.0f);  // tie -> even
  EXPECT_EQ(static_cast<float>(bfloat16_t(259.0f)), 260.0f);  // tie -> even
}

TEST(Dtype, AstypeToHalfTypesRoundsToNearestEven) {
  const double ulp_bf = std::ldexp(1.0, -7), ulp_f16 = std::ldexp(1.0, -10);
  array x = from_doubles({1 + ulp_bf / 2, 1 + 1.5 * ulp_bf, 1 + 0.75 * ulp_bf, 257, 259, -259},
                         {6}, Dtype::float32);
  std::vector<double> bf = to_doubles(astype(x, Dtype::bfloat16));
  EXPECT_EQ(bf, (std::vector<double>{1.0, 1 + 2 * ulp_bf, 1 + ulp_bf, 256, 260, -260}));

  array y = from_doubles({1 + ulp_f16 / 2, 1 + 1.5 * ulp_f16, 2049, 2051, 65504, 65520, 1e-8},
                         {7}, Dtype::float32);
  std::vector<double> h = to_doubles(astype(y, Dtype::float16));
  EXPECT_EQ(h[0], 1.0);
  EXPECT_EQ(h[1], 1 + 2 * ulp_f16);
  EXPECT_EQ(h[2], 2048.0);
  EXPECT_EQ(h[3], 2052.0);
  EXPECT_EQ(h[4], 65504.0);
  EXPECT_TRUE(std::isinf(h[5]) && h[5] > 0);  // 65520 is the halfway point to infinity
  EXPECT_EQ(h[6], 0.0);
  EXPECT_EQ(f16_bits(float16_t(1.0f)), 0x3c00);

  // From float64 as well (no double rounding for these).
  array z = from_doubles({1 + ulp_bf / 2, 259.0}, {2}, Dtype::float64);
  EXPECT_EQ(to_doubles(astype(z, Dtype::bfloat16)), (std::vector<double>{1.0, 260.0}));
}

TEST(Dtype, HalfTypesConvertBackExactly) {
  // Every bfloat16 bit pattern that is finite converts to float and back unchanged.
  for (uint32_t bits = 0; bits < 0x10000; bits += 7) {
    bfloat16_t h;
    h.bits = static_cast<uint16_t>(bits);
    float f = static_cast<float>(h);
    if (std::isnan(f)) continue;
    EXPECT_EQ(bfloat16_t(f).bits, h.bits) << std::hex << bits;
  }
}
