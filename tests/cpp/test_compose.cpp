// Composed ops (ops_compose.cpp): values, derivatives against finite differences, and errors
// from C++ (the Python suite covers the bindings and the NumPy comparisons).
#include "test_utils.h"

using namespace pullback;
using namespace pbtest;

TEST(Compose, PadModesMatchNumPy) {
  array x = f64({1, 2, 3}, {3});
  array zero(0.0, Dtype::float64);
  expect_close(to_doubles(pad(x, {{2, 1}}, "constant", zero)), {0, 0, 1, 2, 3, 0}, 0, 0, "pad");
  expect_close(to_doubles(pad(x, {{2, 1}}, "edge", zero)), {1, 1, 1, 2, 3, 3}, 0, 0, "pad");
  expect_close(to_doubles(pad(x, {{2, 1}}, "reflect", zero)), {3, 2, 1, 2, 3, 2}, 0, 0, "pad");
  expect_close(to_doubles(pad(x, {{2, 1}}, "symmetric", zero)), {2, 1, 1, 2, 3, 3}, 0, 0, "pad");
  EXPECT_TRUE(starts_with(error_of<std::invalid_argument>([&] { pad(x, {{-1, 0}}, "constant", zero); }), "[pad]"));
  EXPECT_TRUE(starts_with(error_of<std::invalid_argument>([&] { pad(x, {{1, 0}}, "wrap", zero); }), "[pad]"));
}

TEST(Compose, Derivatives) {
  array m = f64({0.3, -1.2, 2.5, 0.7, -0.4, 1.1}, {2, 3});
  for (const char* mode : {"constant", "edge", "reflect", "symmetric"}) {
    check_derivatives([mode](const std::vector<array>& in) {
      return std::vector<array>{pad(in[0], {{1, 2}, {2, 1}}, mode, array(0.5, Dtype::float64))};
    }, {m}, std::string("pad ") + mode);
  }
  check_derivatives([](const std::vector<array>& in) {
    return std::vector<array>{einsum("ij,kj->ik", {in[0], in[1]})};
  }, {m, f64({1, 2, 3, 4, 5, 6}, {2, 3})}, "einsum");
  check_derivatives([](const std::vector<array>& in) {
    return std::vector<array>{roll(in[0], {1, 2}, Axes{0, 1}), trace(in[0], 1)};
  }, {m}, "roll and trace");
}

TEST(Compose, EinsumPath) {
  auto [path, text] = einsum_path("ij,jk,kl->il", {{2, 3}, {3, 4}, {4, 5}});
  ASSERT_EQ(path.size(), 2u);
  EXPECT_EQ(path[0], (std::vector<int>{1, 2}));
  EXPECT_EQ(path[1], (std::vector<int>{0, 1}));
  EXPECT_NE(text.find("Optimized FLOP count:  180"), std::string::npos);
  EXPECT_TRUE(starts_with(error_of<std::invalid_argument>([] { einsum_path("ij->ii", {{2, 2}}); }), "[einsum]"));
}
