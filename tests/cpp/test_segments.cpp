// checkpoint's segments: where cut_trace cuts a traced forward (one stage per layer, the kept
// end of every interval-th stage), what stays whole, and that the parts replay the trace.
#include <gtest/gtest.h>

#include <functional>

#include "pullback/ops.h"
#include "pullback/transforms/graph.h"
#include "pullback/transforms/segments.h"
#include "test_utils.h"

using namespace pullback;
using namespace pbtest;

namespace {

using Body = std::function<array(const array& x, const std::vector<array>& ws)>;

// The trace of `body` with the input and the weights as traced inputs.
Trace trace_of(const Body& body, int layers) {
  std::vector<array> xs = {iota({2, 3}, Dtype::float64, 0.1)};
  for (int i = 0; i < layers; ++i) xs.push_back(iota({3, 3}, Dtype::float64, 0.01 * i));
  uint64_t stamp = next_array_stamp();
  std::vector<array> ts = make_tracers(xs);
  array out = body(ts[0], std::vector<array>(ts.begin() + 1, ts.end()));
  return trace_function({out}, ts, stamp);
}

// tanh(x @ w.T) per layer, the weight transposed inside the layer.
array mlp(const array& x0, const std::vector<array>& ws) {
  array x = x0;
  for (auto& w : ws) x = tanh(matmul(x, transpose(w, {1, 0})));
  return x;
}

// The weights transposed before the first layer: the transposes are free (recomputed by each
// segment), so they do not tie the layers together.
array mlp_transposed_first(const array& x0, const std::vector<array>& ws) {
  std::vector<array> wts;
  for (auto& w : ws) wts.push_back(transpose(w, {1, 0}));
  array x = x0;
  for (auto& wt : wts) x = tanh(matmul(x, wt));
  return x;
}

// Every layer reads the first layer's output: past it, nothing between layers carries all.
array dense_skips(const array& x0, const std::vector<array>& ws) {
  array first = tanh(matmul(x0, ws[0]));
  array x = first;
  for (size_t i = 1; i < ws.size(); ++i) x = add(tanh(matmul(x, ws[i])), first);
  return x;
}

size_t parts_of(const Body& body, int layers, int interval) {
  return cut_trace(trace_of(body, layers), interval).size();
}

}  // namespace

TEST(Segments, OneStagePerLayerAndEveryIntervalthEndKept) {
  for (const Body& body : {Body(mlp), Body(mlp_transposed_first)}) {
    EXPECT_EQ(parts_of(body, 6, 1), 6u);
    EXPECT_EQ(parts_of(body, 6, 2), 3u);
    EXPECT_EQ(parts_of(body, 6, 4), 2u);  // 4 layers, then 2
    EXPECT_EQ(parts_of(body, 6, 5), 2u);
    EXPECT_EQ(parts_of(body, 6, 6), 1u);
    EXPECT_EQ(parts_of(body, 6, 100), 1u);
  }
}

TEST(Segments, NothingToCutStaysWhole) {
  Body elementwise = [](const array& x, const std::vector<array>& ws) {
    array y = x;
    for (auto& w : ws) y = sin(multiply(y, sum(w)));
    return y;
  };
  EXPECT_EQ(parts_of(elementwise, 4, 1), 1u);
  EXPECT_EQ(parts_of(dense_skips, 4, 1), 2u);  // cut only after the first layer
  EXPECT_EQ(cut_trace(trace_of(mlp, 4), 0).size(), 1u);
}

TEST(Segments, PartsReplayTheTrace) {
  Trace trace = trace_of(mlp_transposed_first, 5);
  std::vector<TracePart> parts = cut_trace(trace, 2);
  ASSERT_EQ(parts.size(), 3u);
  std::vector<array> inputs = {iota({2, 3}, Dtype::float64, -0.3)};
  for (int i = 0; i < 5; ++i) inputs.push_back(iota({3, 3}, Dtype::float64, 0.02 * i - 0.1));
  std::vector<array> want = replay(trace, inputs, trace.externals);
  array carried;
  for (size_t s = 0; s < parts.size(); ++s) {
    EXPECT_EQ(parts[s].has_carried, s > 0);
    std::vector<array> got = replay(trace, parts[s], inputs, trace.externals, carried);
    ASSERT_EQ(got.size(), 1u);
    carried = got[0];
  }
  expect_close(to_doubles(carried), to_doubles(want[0]), 1e-12, 1e-12, "segmented replay");
  // A part reads no node of an earlier part other than the carried one.
  TracePart broken = parts[2];
  broken.has_carried = false;
  EXPECT_THROW(replay(trace, broken, inputs, trace.externals, array()), std::logic_error);
}
