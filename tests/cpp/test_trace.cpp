// The replayable Trace: creation stamps, what a trace records (nodes that depend on the inputs
// or on lifted captures) and what it keeps as externals, and replay on new arrays.
#include <gtest/gtest.h>

#include <cmath>
#include <stdexcept>

#include "pullback/ops.h"
#include "pullback/primitives/misc.h"
#include "pullback/transforms/trace.h"
#include "test_utils.h"

using namespace pullback;
using namespace pbtest;

namespace {

array tracer_of(const array& x) {
  array t(x.shape(), x.dtype(), std::make_shared<Identity>(current_stream()), {x});
  t.set_tracer(true);
  return t;
}

}  // namespace

TEST(Trace, StampsIncreaseWithCreation) {
  array a = f64({1.0});
  uint64_t stamp = next_array_stamp();
  array b = exp(a);
  EXPECT_LT(a.created(), stamp);
  EXPECT_GT(b.created(), stamp);
}

TEST(Trace, RecordsDependentNodesAndClassifiesExternals) {
  array x = f64({0.5, 1.0, 2.0});
  array constant = f64({1.0, 2.0, 3.0});      // evaluated data: a constant
  array capture = exp(f64({0.0, 1.0, 2.0}));  // lazy: may depend on a transform, so lifted
  uint64_t stamp = next_array_stamp();
  array t = tracer_of(x);
  array made_inside = sin(constant);  // built during the call from a constant: a constant
  array out = add(multiply(t, capture), add(constant, made_inside));
  Trace trace = trace_function({out}, {t}, stamp);

  // multiply, then the outer add: add(constant, made_inside) and sin depend on nothing varied.
  ASSERT_EQ(trace.nodes.size(), 2u);
  ASSERT_EQ(trace.num_lifted(), 1u);
  EXPECT_TRUE(trace.lifted_externals()[0].is_same(capture));
  for (size_t j = 0; j < trace.externals.size(); ++j) {
    EXPECT_EQ(static_cast<bool>(trace.lifted[j]), trace.externals[j].is_same(capture));
  }

  array x2 = f64({1.0, -1.0, 3.0});
  array capture2 = f64({2.0, 2.0, 2.0});
  std::vector<array> outs = replay(trace, {x2}, trace.with_captures({capture2}));
  ASSERT_EQ(outs.size(), 1u);
  std::vector<double> got = to_vector<double>(outs[0]);
  std::vector<double> xs = {1.0, -1.0, 3.0}, cs = {1.0, 2.0, 3.0};
  for (size_t i = 0; i < 3; ++i) EXPECT_NEAR(got[i], xs[i] * 2.0 + cs[i] + std::sin(cs[i]), 1e-12);
}

TEST(Trace, OutputsThatAreInputsOrExternals) {
  array x = f64({1.0, 2.0});
  array c = exp(f64({0.0, 0.0}));
  uint64_t stamp = next_array_stamp();
  array t = tracer_of(x);
  Trace trace = trace_function({t, c}, {t}, stamp);
  EXPECT_TRUE(trace.nodes.empty());
  array x2 = f64({5.0, 6.0});
  std::vector<array> outs = replay(trace, {x2}, trace.externals);
  EXPECT_TRUE(outs[0].is_same(x2));
  EXPECT_TRUE(outs[1].is_same(c));
}

TEST(Trace, ReplayOnNewShapesAsksThePrimitives) {
  array x = f64({0.1, 0.2, 0.3});
  uint64_t stamp = next_array_stamp();
  array t = tracer_of(x);
  Trace trace = trace_function({exp(sin(t))}, {t}, stamp);
  array x2 = f64({0.5, 0.6, 0.7, 0.8, 0.9});
  std::vector<array> outs = replay(trace, {x2}, trace.externals);
  ASSERT_EQ(outs[0].shape(), Shape({5}));
  EXPECT_NEAR(to_vector<double>(outs[0])[4], std::exp(std::sin(0.9)), 1e-12);
}

TEST(Trace, ReplayChecksItsArguments) {
  array x = f64({1.0});
  uint64_t stamp = next_array_stamp();
  array t = tracer_of(x);
  Trace trace = trace_function({exp(t)}, {t}, stamp);
  EXPECT_THROW(replay(trace, {}, trace.externals), std::invalid_argument);
}
