// vmap of Gather, Scatter, Convolution and ConvolutionWeightGrad builds ONE node of the same
// primitive for the whole batch (never one per example): the graphs are counted here, the
// values are checked against loops in tests/python/test_vmap_indexing.py and test_vmap_conv.py.
#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

#include "pullback/ops.h"
#include "pullback/primitives/primitive.h"
#include "test_utils.h"

using namespace pullback;
using namespace pbtest;

namespace {

// How many nodes of the graph behind `out` run a primitive called `name`.
int count_nodes(const array& out, const std::string& name) {
  std::unordered_set<uintptr_t> seen{out.id()};
  std::vector<array> stack{out};
  int n = 0;
  while (!stack.empty()) {
    array a = stack.back();
    stack.pop_back();
    if (!a.has_primitive()) continue;
    n += name == a.primitive().name();
    for (const array& in : a.inputs()) {
      if (seen.insert(in.id()).second) stack.push_back(in);
    }
  }
  return n;
}

using InAxes = std::vector<std::optional<int>>;

// Every in_axes combination that maps at least one of `n` inputs (axis 0 or unmapped).
std::vector<InAxes> combinations(size_t n) {
  std::vector<InAxes> out;
  for (size_t mask = 1; mask < (size_t(1) << n); ++mask) {
    InAxes axes;
    for (size_t i = 0; i < n; ++i) {
      axes.push_back((mask >> i) & 1 ? std::optional<int>(0) : std::nullopt);
    }
    out.push_back(axes);
  }
  return out;
}

// `fn` vmapped with each combination of mapped / unmapped inputs (batch 3): the result has the
// looped shape and its graph runs exactly one `name` node.
void expect_one_node(const Fn& fn, const std::vector<array>& example, const std::string& name) {
  const Shape want = [&] {
    Shape s = fn(example)[0].shape();
    s.insert(s.begin(), 3);
    return s;
  }();
  for (const InAxes& axes : combinations(example.size())) {
    std::vector<array> in;
    for (size_t i = 0; i < example.size(); ++i) {
      if (!axes[i]) {
        in.push_back(example[i]);
        continue;
      }
      Shape s = example[i].shape();
      s.insert(s.begin(), 3);
      in.push_back(broadcast_to(example[i], s));
    }
    array out = vmap(fn, in, axes, InAxes{0})[0];
    std::string which;
    for (auto& a : axes) which += a ? "0 " : "None ";
    EXPECT_EQ(out.shape(), want) << name << " in_axes " << which;
    EXPECT_EQ(count_nodes(out, name), 1) << name << " in_axes " << which;
  }
}

}  // namespace

TEST(VmapGraph, GatherStaysOneGather) {
  Fn take_rows = [](const std::vector<array>& in) {
    return std::vector<array>{take(in[0], in[1], 1)};
  };
  expect_one_node(take_rows, {iota({4, 5}), from_vector<int32_t>({3, 0, -1}, {3})}, "Gather");
  Fn along = [](const std::vector<array>& in) {
    return std::vector<array>{take_along_axis(in[0], in[1], 0)};
  };
  expect_one_node(along, {iota({4, 5}), from_vector<int32_t>({3, 0, 1, 2, 2}, {1, 5})}, "Gather");
}

TEST(VmapGraph, ScatterStaysOneScatter) {
  Fn add_rows = [](const std::vector<array>& in) {
    return std::vector<array>{scatter(in[0], {in[2]}, in[1], {0}, ScatterReduce::Add, 0)};
  };
  expect_one_node(add_rows,
                  {iota({4, 5}), iota({3, 1, 5}), from_vector<int32_t>({1, 1, -1}, {3})},
                  "ScatterAdd");
}

TEST(VmapGraph, ConvolutionStaysOneConvolution) {
  for (int64_t groups : {1, 2}) {
    Fn conv = [groups](const std::vector<array>& in) {
      return std::vector<array>{conv1d(in[0], in[1], 1, 1, 1, groups)};
    };
    expect_one_node(conv, {iota({2, 7, 4}), iota({6, 3, 4 / groups})}, "Convolution");
  }
}

TEST(VmapGraph, WeightGradientStaysOneWeightGradient) {
  for (int64_t groups : {1, 2}) {
    // d/dw of <ct, conv(x, w)>: a ConvolutionWeightGrad of (x, ct).
    Fn dw = [groups](const std::vector<array>& in) {
      const array& x = in[0];
      const array& ct = in[1];
      auto conv = [&](const array& w) { return conv1d(x, w, 1, 1, 1, groups); };
      return std::vector<array>{grad_of(conv, zeros({6, 3, 4 / groups}, Dtype::float32), ct)};
    };
    expect_one_node(dw, {iota({2, 7, 4}), iota({2, 7, 6})}, "ConvolutionWeightGrad");
  }
}
