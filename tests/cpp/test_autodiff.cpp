// pullback::vjp and pullback::jvp against central finite differences in float64: every
// elementwise primitive, compositions, broadcasting, higher-order derivatives, closures,
// stop_gradient, and argument errors.
#include <gtest/gtest.h>

#include <cmath>
#include <stdexcept>
#include <string>

#include "pullback/ops.h"
#include "pullback/transforms/transforms.h"
#include "test_utils.h"

using namespace pullback;
using namespace pbtest;

namespace {

ArrayFn unary_fn(array (*op)(const array&)) {
  return [op](const std::vector<array>& p) { return std::vector<array>{op(p[0])}; };
}
ArrayFn binary_fn(array (*op)(const array&, const array&)) {
  return [op](const std::vector<array>& p) { return std::vector<array>{op(p[0], p[1])}; };
}

}  // namespace

TEST(Autodiff, EveryDifferentiableUnaryOp) {
  struct Case {
    const char* name;
    array (*op)(const array&);
    std::vector<double> xs;
  };
  const std::vector<double> any = {-1.3, -0.4, 0.2, 0.9, 1.6};
  const std::vector<double> pos = {0.3, 0.8, 1.5, 2.2, 4.0};
  const std::vector<double> unit = {-0.8, -0.3, 0.1, 0.45, 0.7};
  const Case cases[] = {
      {"abs", [](const array& a) { return abs(a); }, any},
      {"negative", [](const array& a) { return negative(a); }, any},
      {"exp", [](const array& a) { return exp(a); }, any},
      {"expm1", [](const array& a) { return expm1(a); }, any},
      {"log", [](const array& a) { return log(a); }, pos},
      {"log1p", [](const array& a) { return log1p(a); }, {-0.5, -0.1, 0.2, 1.0, 3.0}},
      {"log2", [](const array& a) { return log2(a); }, pos},
      {"log10", [](const array& a) { return log10(a); }, pos},
      {"sqrt", [](const array& a) { return sqrt(a); }, pos},
      {"rsqrt", [](const array& a) { return rsqrt(a); }, pos},
      {"square", [](const array& a) { return square(a); }, any},
      {"reciprocal", [](const array& a) { return reciprocal(a); }, {-2.0, -0.6, 0.3, 1.1, 3.0}},
      {"sin", [](const array& a) { return sin(a); }, any},
      {"cos", [](const array& a) { return cos(a); }, any},
      {"tan", [](const array& a) { return tan(a); }, any},
      {"arcsin", [](const array& a) { return arcsin(a); }, unit},
      {"arccos", [](const array& a) { return arccos(a); }, unit},
      {"arctan", [](const array& a) { return arctan(a); }, any},
      {"sinh", [](const array& a) { return sinh(a); }, any},
      {"cosh", [](const array& a) { return cosh(a); }, any},
      {"tanh", [](const array& a) { return tanh(a); }, any},
      {"arcsinh", [](const array& a) { return arcsinh(a); }, any},
      {"arccosh", [](const array& a) { return arccosh(a); }, {1.2, 1.5, 2.0, 3.0, 6.0}},
      {"arctanh", [](const array& a) { return arctanh(a); }, unit},
      {"sigmoid", [](const array& a) { return sigmoid(a); }, any},
      {"erf", [](const array& a) { return erf(a); }, any},
      {"erfinv", [](const array& a) { return erfinv(a); }, unit},
      // Piecewise constant: derivative zero away from the jumps.
      {"sign", [](const array& a) { return sign(a); }, any},
      {"floor", [](const array& a) { return floor(a); }, any},
      {"ceil", [](const array& a) { return ceil(a); }, any},
      {"round", [](const array& a) { return round(a); }, any},
  };
  for (const auto& c : cases) {
    check_derivatives(unary_fn(c.op), {f64(c.xs)}, c.name);
  }
}

TEST(Autodiff, EveryDifferentiableBinaryOp) {
  struct Case {
    const char* name;
    array (*op)(const array&, const array&);
    std::vector<double> as, bs;
  };
  const std::vector<double> a = {-1.3, -0.4, 0.2, 0.9, 1.6, 2.5};
  const std::vector<double> b = {0.7, -1.1, 1.4, -0.35, 0.5, 2.0};  // no a/b is an integer
  const Case cases[] = {
      {"add", [](const array& x, const array& y) { return add(x, y); }, a, b},
      {"subtract", [](const array& x, const array& y) { return subtract(x, y); }, a, b},
      {"multiply", [](const array& x, const array& y) { return multiply(x, y); }, a, b},
      {"divide", [](const array& x, const array& y) { return divide(x, y); }, a, b},
      {"power", [](const array& x, const array& y) { return power(x, y); },
       {0.3, 0.8, 1.5, 2.2, 4.0, 1.1}, b},
      {"maximum", [](const array& x, const array& y) { return maximum(x, y); }, a, b},
      {"minimum", [](const array& x, const array& y) { return minimum(x, y); }, a, b},
      {"arctan2", [](const array& x, const array& y) { return arctan2(x, y); }, a, b},
      {"logaddexp", [](const array& x, const array& y) { return logaddexp(x, y); }, a, b},
      {"remainder", [](const array& x, const array& y) { return remainder(x, y); }, a, b},
      {"floor_divide", [](const array& x, const array& y) { return floor_divide(x, y); }, a, b},
  };
  for (const auto& c : cases) {
    check_derivatives(binary_fn(c.op), {f64(c.as), f64(c.bs)}, c.name);
  }
}

TEST(Autodiff, WhereRoutesCotangents) {
  array cond = from_doubles({1, 0, 0, 1, 1}, Dtype::bool_);
  ArrayFn f = [cond](const std::vector<array>& p) {
    return std::vector<array>{where(cond, multiply(p[0], p[0]), sin(p[1]))};
  };
  check_derivatives(f, {f64({0.5, -1, 2, 3, -0.25}), f64({1, 2, 3, 4, 5})}, "where");
  auto [outs, grads] = vjp(f, {f64({0.5, -1, 2, 3, -0.25}), f64({1, 2, 3, 4, 5})},
                           {f64({1, 1, 1, 1, 1})});
  EXPECT_EQ(to_doubles(grads[0]), (std::vector<double>{1, 0, 0, 6, -0.5}));
  std::vector<double> gy = to_doubles(grads[1]);
  EXPECT_EQ(gy[0], 0);
  EXPECT_DOUBLE_EQ(gy[1], std::cos(2.0));
  EXPECT_EQ(gy[3], 0);
}

TEST(Autodiff, CompositeFunctionOfSeveralOps) {
  ArrayFn f = [](const std::vector<array>& p) {
    const array& x = p[0];
    const array& y = p[1];
    array t = add(multiply(sin(x), exp(y)), divide(square(x), add(array(1.0, Dtype::float64), square(y))));
    return std::vector<array>{subtract(tanh(t), multiply(log1p(square(y)), sqrt(exp(x))))};
  };
  check_derivatives(f, {f64({0.1, -0.7, 1.2, 0.4, -1.5, 2.0}, {2, 3}),
                        f64({0.3, 0.9, -0.2, -1.1, 0.6, 0.05}, {2, 3})},
                    "composite");
}

TEST(Autodiff, ScalarOutputThroughSum) {
  ArrayFn f = [](const std::vector<array>& p) {
    return std::vector<array>{sum(add(multiply(sin(p[0]), exp(p[1])), multiply(p[0], p[0])))};
  };
  array x = f64({0.5, -1.0, 2.0}), y = f64({0.1, 0.2, -0.3});
  auto [outs, grads] = vjp(f, {x, y}, {array(1.0, Dtype::float64)});
  std::vector<double> xs = to_doubles(x), ys = to_doubles(y);
  std::vector<double> gx = to_doubles(grads[0]), gy = to_doubles(grads[1]);
  for (int i = 0; i < 3; ++i) {
    EXPECT_NEAR(gx[i], std::cos(xs[i]) * std::exp(ys[i]) + 2 * xs[i], 1e-14);
    EXPECT_NEAR(gy[i], std::sin(xs[i]) * std::exp(ys[i]), 1e-14);
  }
  check_derivatives(f, {x, y}, "sum composite");
}

TEST(Autodiff, BroadcastOperandsGetSummedCotangents) {
  ArrayFn f = [](const std::vector<array>& p) {
    // x (2,3), row (3,), col (2,1), s () all broadcast to (2,3).
    return std::vector<array>{
        add(multiply(multiply(p[0], p[1]), p[2]), multiply(p[3], exp(p[1])))};
  };
  std::vector<array> primals = {f64({0.1, 0.2, 0.3, -0.4, 0.5, -0.6}, {2, 3}), f64({1.5, -0.5, 0.25}),
                                f64({2.0, -3.0}, {2, 1}), from_doubles({0.7}, {}, Dtype::float64)};
  check_derivatives(f, primals, "broadcast");
  // Cotangent of ones: the row's gradient sums over the broadcast axis.
  auto [outs, grads] = vjp(f, primals, {f64(std::vector<double>(6, 1.0), {2, 3})});
  ASSERT_EQ(grads[3].shape(), Shape{});
  double want_s = 2 * (std::exp(1.5) + std::exp(-0.5) + std::exp(0.25));
  EXPECT_NEAR(to_doubles(grads[3])[0], want_s, 1e-12);
  EXPECT_EQ(grads[2].shape(), (Shape{2, 1}));
  EXPECT_NEAR(to_doubles(grads[2])[0], 0.1 * 1.5 + 0.2 * -0.5 + 0.3 * 0.25, 1e-14);
}

TEST(Autodiff, SeveralOutputsAndReusedInputs) {
  ArrayFn f = [](const std::vector<array>& p) {
    const array& x = p[0];
    const array& y = p[1];
    return std::vector<array>{multiply(x, y), add(multiply(x, x), x), cos(y)};
  };
  std::vector<array> primals = {f64({0.5, -2.0, 3.0}), f64({1.5, 0.25, -1.0})};
  check_derivatives(f, primals, "multi-output");
  auto [outs, grads] = vjp(f, primals, {f64({1, 1, 1}), f64({1, 1, 1}), f64({0, 0, 0})});
  // d/dx (x*y + x*x + x) = y + 2x + 1.
  expect_close(to_doubles(grads[0]), {1.5 + 1 + 1, 0.25 - 4 + 1, -1 + 6 + 1}, 1e-15, 0, "reuse");
  expect_close(to_doubles(grads[1]), {0.5, -2.0, 3.0}, 1e-15, 0, "reuse y");
}

TEST(Autodiff, GradOfGrad) {
  ArrayFn f = [](const std::vector<array>& p) {
    return std::vector<array>{sum(add(multiply(square(p[0]), p[0]), sin(p[0])))};
  };
  ArrayFn grad_f = [f](const std::vector<array>& p) {
    return vjp(f, p, {array(1.0, Dtype::float64)}).second;
  };
  ArrayFn grad_sum = [grad_f](const std::vector<array>& p) {
    return std::vector<array>{sum(grad_f(p)[0])};
  };
  array x = f64({0.5, -1.2, 2.0, 0.1});
  std::vector<double> xs = to_doubles(x);
  std::vector<double> g1 = to_doubles(grad_f({x})[0]);
  auto [outs, g2] = vjp(grad_sum, {x}, {array(1.0, Dtype::float64)});
  std::vector<double> h = to_doubles(g2[0]);
  for (size_t i = 0; i < xs.size(); ++i) {
    EXPECT_NEAR(g1[i], 3 * xs[i] * xs[i] + std::cos(xs[i]), 1e-14);
    EXPECT_NEAR(h[i], 6 * xs[i] - std::sin(xs[i]), 1e-13);
  }
  // The gradient function's own derivatives agree with finite differences of it.
  check_derivatives(grad_f, {x}, "grad of grad");
  // Third derivative: 6 - cos(x).
  ArrayFn grad2 = [grad_sum](const std::vector<array>& p) {
    return vjp(grad_sum, p, {array(1.0, Dtype::float64)}).second;
  };
  ArrayFn grad2_sum = [grad2](const std::vector<array>& p) {
    return std::vector<array>{sum(grad2(p)[0])};
  };
  std::vector<double> g3 = to_doubles(vjp(grad2_sum, {x}, {array(1.0, Dtype::float64)}).second[0]);
  for (size_t i = 0; i < xs.size(); ++i) EXPECT_NEAR(g3[i], 6 - std::cos(xs[i]), 1e-12);
}

TEST(Autodiff, ForwardOverReverse) {
  // Hessian-vector product of sum(exp(x) * x) via jvp of its gradient: (x + 2) exp(x) v.
  ArrayFn grad_f = [](const std::vector<array>& p) {
    ArrayFn f = [](const std::vector<array>& q) {
      return std::vector<array>{sum(multiply(exp(q[0]), q[0]))};
    };
    return vjp(f, p, {array(1.0, Dtype::float64)}).second;
  };
  array x = f64({0.3, -0.5, 1.0}), v = f64({1.0, 2.0, -1.0});
  auto [g, hv] = jvp(grad_f, {x}, {v});
  std::vector<double> xs = to_doubles(x), vs = to_doubles(v), got = to_doubles(hv[0]);
  for (int i = 0; i < 3; ++i) EXPECT_NEAR(got[i], (xs[i] + 2) * std::exp(xs[i]) * vs[i], 1e-13);
  // Reverse over forward: d/dx <jvp(sin)(x; v), 1> = -sin(x) v.
  ArrayFn jvp_sum = [v](const std::vector<array>& p) {
    ArrayFn f = [](const std::vector<array>& q) { return std::vector<array>{sin(q[0])}; };
    return std::vector<array>{sum(jvp(f, p, {v}).second[0])};
  };
  std::vector<double> rf = to_doubles(vjp(jvp_sum, {x}, {array(1.0, Dtype::float64)}).second[0]);
  for (int i = 0; i < 3; ++i) EXPECT_NEAR(rf[i], -std::sin(xs[i]) * vs[i], 1e-14);
}

TEST(Autodiff, ClosureOverNonPrimalGetsNoGradient) {
  array c = f64({2.0, -3.0, 0.5});
  array lazy_c = exp(f64({0.0, 1.0, -1.0}));  // unevaluated constant
  ArrayFn f = [&](const std::vector<array>& p) {
    return std::vector<array>{add(multiply(p[0], c), multiply(lazy_c, c))};
  };
  array x = f64({1.0, 1.0, 1.0});
  auto [outs, grads] = vjp(f, {x}, {f64({1.0, 1.0, 1.0})});
  ASSERT_EQ(grads.size(), 1u);
  EXPECT_EQ(to_doubles(grads[0]), (std::vector<double>{2.0, -3.0, 0.5}));
  expect_close(to_doubles(outs[0]), {2 + 2, -3 - 3 * std::exp(1.0), 0.5 + 0.5 * std::exp(-1.0)},
               1e-15, 0, "closure outputs");
  // The captured arrays are untouched.
  EXPECT_EQ(to_doubles(c), (std::vector<double>{2.0, -3.0, 0.5}));
  EXPECT_FALSE(c.has_primitive());

  // An output that does not depend on the primal gives it a zero gradient of its shape and dtype.
  ArrayFn g = [&](const std::vector<array>& p) {
    return std::vector<array>{multiply(c, array(2.0, Dtype::float64))};
  };
  auto [gouts, ggrads] = vjp(g, {f64({7.0, 8.0}, {2, 1})}, {f64({1, 1, 1})});
  EXPECT_EQ(ggrads[0].shape(), (Shape{2, 1}));
  EXPECT_EQ(ggrads[0].dtype(), Dtype::float64);
  EXPECT_EQ(to_doubles(ggrads[0]), (std::vector<double>{0, 0}));
  auto [jouts, jt] = jvp(g, {f64({7.0, 8.0}, {2, 1})}, {f64({1, 1}, {2, 1})});
  EXPECT_EQ(jt[0].shape(), (Shape{3}));
  EXPECT_EQ(to_doubles(jt[0]), (std::vector<double>{0, 0, 0}));

  // Capturing the primal's own array (not the traced argument) makes it a constant too.
  array y = f64({3.0, 4.0});
  ArrayFn h = [&](const std::vector<array>& p) {
    return std::vector<array>{add(multiply(y, y), p[0])};
  };
  auto [houts, hgrads] = vjp(h, {y}, {f64({1, 1})});
  EXPECT_EQ(to_doubles(hgrads[0]), (std::vector<double>{1, 1}));
}

TEST(Autodiff, StopGradient) {
  ArrayFn f = [](const std::vector<array>& p) {
    return std::vector<array>{multiply(p[0], stop_gradient(p[0]))};
  };
  array x = f64({1.5, -2.0, 0.5});
  auto [outs, grads] = vjp(f, {x}, {f64({1, 1, 1})});
  EXPECT_EQ(to_doubles(outs[0]), (std::vector<double>{2.25, 4.0, 0.25}));
  EXPECT_EQ(to_doubles(grads[0]), (std::vector<double>{1.5, -2.0, 0.5}));  // not 2x
  auto [jo, jt] = jvp(f, {x}, {f64({1, 2, 3})});
  EXPECT_EQ(to_doubles(jt[0]), (std::vector<double>{1.5, -4.0, 1.5}));
  ArrayFn g = [](const std::vector<array>& p) {
    return std::vector<array>{stop_gradient(exp(p[0]))};
  };
  EXPECT_EQ(to_doubles(vjp(g, {x}, {f64({1, 1, 1})}).second[0]), (std::vector<double>{0, 0, 0}));
  EXPECT_EQ(to_doubles(jvp(g, {x}, {f64({1, 1, 1})}).second[0]), (std::vector<double>{0, 0, 0}));
  // The value passes through unchanged.
  EXPECT_EQ(to_doubles(stop_gradient(x)), to_doubles(x));
}

TEST(Autodiff, EvalInsideTheFunctionKeepsTheGraph) {
  ArrayFn f = [](const std::vector<array>& p) {
    array y = exp(p[0]);
    y.eval();  // a value read mid-trace must not cut the gradient
    EXPECT_TRUE(in_tracing());
    return std::vector<array>{multiply(y, y)};
  };
  EXPECT_FALSE(in_tracing());
  array x = f64({0.1, -0.3});
  auto [outs, grads] = vjp(f, {x}, {f64({1, 1})});
  EXPECT_FALSE(in_tracing());
  std::vector<double> g = to_doubles(grads[0]);
  EXPECT_NEAR(g[0], 2 * std::exp(0.2), 1e-14);
  EXPECT_NEAR(g[1], 2 * std::exp(-0.6), 1e-14);
}

TEST(Autodiff, DtypesOfGradients) {
  ArrayFn f = [](const std::vector<array>& p) { return std::vector<array>{multiply(p[0], p[0])}; };
  array x32 = from_doubles({1.5, -2.0}, Dtype::float32);
  // A float64 cotangent for a float32 output: the gradient stays float32.
  auto [outs, grads] = vjp(f, {x32}, {f64({1, 1})});
  EXPECT_EQ(grads[0].dtype(), Dtype::float32);
  EXPECT_EQ(to_doubles(grads[0]), (std::vector<double>{3.0, -4.0}));
  array x16 = from_doubles({1.5, -2.0}, Dtype::float16);
  auto [o16, g16] = vjp(f, {x16}, {from_doubles({1, 1}, Dtype::float16)});
  EXPECT_EQ(g16[0].dtype(), Dtype::float16);
  EXPECT_EQ(to_doubles(g16[0]), (std::vector<double>{3.0, -4.0}));
  // An integer primal converted to float gets the gradient cast back to its dtype (MLX's rule).
  ArrayFn g = [](const std::vector<array>& p) {
    return std::vector<array>{multiply(astype(p[0], Dtype::float32), array(3.f))};
  };
  auto [io, ig] = vjp(g, {from_doubles({1, 2}, Dtype::int32)}, {from_doubles({1, 1}, Dtype::float32)});
  EXPECT_EQ(ig[0].dtype(), Dtype::int32);
  EXPECT_EQ(to_doubles(ig[0]), (std::vector<double>{3, 3}));
  // Mixed precision: a float32 primal used with a float64 constant.
  ArrayFn h = [](const std::vector<array>& p) {
    return std::vector<array>{multiply(p[0], f64({2.0, 3.0}))};
  };
  auto [ho, hg] = vjp(h, {x32}, {f64({1, 1})});
  EXPECT_EQ(ho[0].dtype(), Dtype::float64);
  EXPECT_EQ(hg[0].dtype(), Dtype::float32);
  EXPECT_EQ(to_doubles(hg[0]), (std::vector<double>{2.0, 3.0}));
}

TEST(Autodiff, MismatchedCotangentsAndTangentsThrow) {
  ArrayFn f = [](const std::vector<array>& p) { return std::vector<array>{exp(p[0])}; };
  array x = f64({1, 2, 3, 4, 5, 6}, {2, 3});
  std::string msg = error_of<std::invalid_argument>([&] { vjp(f, {x}, {f64({1, 1, 1, 1, 1, 1}, {3, 2})}); });
  EXPECT_TRUE(starts_with(msg, "[vjp]")) << msg;
  EXPECT_NE(msg.find("(3,2)"), std::string::npos) << msg;
  EXPECT_NE(msg.find("(2,3)"), std::string::npos) << msg;
  msg = error_of<std::invalid_argument>([&] { vjp(f, {x}, {f64({1, 1, 1})}); });
  EXPECT_TRUE(starts_with(msg, "[vjp]")) << msg;
  msg = error_of<std::invalid_argument>([&] { vjp(f, {x}, {}); });
  EXPECT_TRUE(starts_with(msg, "[vjp]")) << msg;
  msg = error_of<std::invalid_argument>([&] { vjp(f, {x}, {cotangent_like({2, 3}), cotangent_like({2, 3})}); });
  EXPECT_TRUE(starts_with(msg, "[vjp]")) << msg;
  msg = error_of<std::invalid_argument>([&] { jvp(f, {x}, {f64({1, 1, 1, 1, 1, 1}, {6})}); });
  EXPECT_TRUE(starts_with(msg, "[jvp]")) << msg;
  msg = error_of<std::invalid_argument>([&] { jvp(f, {x}, {}); });
  EXPECT_TRUE(starts_with(msg, "[jvp]")) << msg;
  // After a failed call nothing is left tracing.
  EXPECT_FALSE(in_tracing());
  // A function that throws while traced leaves tracing off as well.
  ArrayFn bad = [](const std::vector<array>& p) -> std::vector<array> {
    return {add(p[0], f64({1, 2, 3}))};
  };
  EXPECT_NE(error_of<std::invalid_argument>([&] { vjp(bad, {f64({1, 2})}, {f64({1, 1})}); }), "");
  EXPECT_FALSE(in_tracing());
}
