// vmap by trace-then-replay (DESIGN.md, decision 3): the function is traced once on stand-ins
// with the shape of one example, then the tape is replayed with each primitive's vmap rule on
// the batched inputs. No batch tracers sit on the hot path of ordinary ops, and nested
// transforms compose: an inner vmap or grad just leaves more graph for the outer replay.
#include <stdexcept>
#include <string>
#include <unordered_map>

#include "pullback/ops.h"
#include "pullback/primitives/primitive.h"
#include "pullback/transforms/graph.h"
#include "pullback/transforms/transforms.h"
#include "pullback/transforms/vmap.h"

namespace pullback {

namespace {

// The stand-in for one example of a mapped input. It has no data: evaluating it (Python control
// flow on a mapped value, `.item()`, printing) cannot give a per-example answer, so it fails.
class VmapPlaceholder : public UnaryPrimitive {
 public:
  using UnaryPrimitive::UnaryPrimitive;
  const char* name() const override { return "VmapPlaceholder"; }
  void eval_cpu(const std::vector<array>&, array&) override {
    throw std::invalid_argument(
        "[vmap] Cannot evaluate an array that depends on a vmapped input inside the vmapped "
        "function (Python control flow such as `if x.sum() > 0:`, `.item()`, boolean-mask "
        "indexing `x[mask]`, converting to NumPy or printing): its value differs per example and is not known while the function "
        "is traced. Compute both branches and select with mx.where instead.");
  }
};

std::string axis_error(const char* which, size_t i, int axis, int ndim) {
  return std::string("[vmap] ") + which + " " + std::to_string(axis) + " for input " +
         std::to_string(i) + " is out of range for an array with " + std::to_string(ndim) +
         " dimensions.";
}

}  // namespace

int64_t vmap_batch_size(const std::vector<array>& inputs, const std::vector<int>& axes) {
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (axes[i] >= 0) return inputs[i].shape(axes[i]);
  }
  throw std::logic_error("[vmap] A vmap rule was called with no batched input.");
}

array vmap_to_front(const array& x, int axis, int64_t batch) {
  if (axis == 0) return x;
  if (axis > 0) return moveaxis(x, axis, 0);
  Shape shape = x.shape();
  shape.insert(shape.begin(), batch);
  return broadcast_to(x, shape);
}

std::vector<array> vmap_all_to_front(const std::vector<array>& inputs, const std::vector<int>& axes) {
  int64_t batch = vmap_batch_size(inputs, axes);
  std::vector<array> out;
  out.reserve(inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) out.push_back(vmap_to_front(inputs[i], axes[i], batch));
  return out;
}

std::vector<array> vmap(const Fn& fn, const std::vector<array>& inputs,
                        const std::vector<std::optional<int>>& in_axes, const VmapOutAxes& out_axes) {
  if (in_axes.size() != inputs.size()) {
    throw std::invalid_argument("[vmap] Got " + std::to_string(inputs.size()) + " inputs but " +
                                std::to_string(in_axes.size()) + " in_axes.");
  }
  // Validate the axes and agree on one batch size.
  int64_t batch = -1;
  size_t first = 0;
  std::vector<int> axes(inputs.size(), -1);
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!in_axes[i]) continue;
    int nd = inputs[i].ndim();
    int ax = *in_axes[i];
    if (ax < -nd || ax >= nd) throw std::invalid_argument(axis_error("in_axes", i, ax, nd));
    ax = ax < 0 ? ax + nd : ax;
    axes[i] = ax;
    int64_t n = inputs[i].shape(ax);
    if (batch < 0) {
      batch = n;
      first = i;
    } else if (n != batch) {
      throw std::invalid_argument(
          "[vmap] Inconsistent sizes along the mapped axes: input " + std::to_string(first) +
          " has size " + std::to_string(batch) + " along its mapped axis " +
          std::to_string(axes[first]) + ", input " + std::to_string(i) + " has size " +
          std::to_string(n) + " along axis " + std::to_string(ax) + ".");
    }
  }
  if (batch < 0) {
    throw std::invalid_argument("[vmap] At least one input must be mapped (in_axes are all None).");
  }

  // Trace one example.
  std::vector<array> traced_inputs = inputs;
  std::vector<array> placeholders;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (axes[i] < 0) continue;
    Shape shape = inputs[i].shape();
    shape.erase(shape.begin() + axes[i]);
    array p(std::move(shape), inputs[i].dtype(),
            std::make_shared<VmapPlaceholder>(current_stream()), {});
    p.set_tracer(true);
    traced_inputs[i] = p;
    placeholders.push_back(std::move(p));
  }
  std::vector<array> outputs;
  {
    TraceScope scope;
    outputs = fn(traced_inputs);
  }

  // Replay the tape with the batching rules.
  std::unordered_map<uintptr_t, std::pair<array, int>> batched;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (axes[i] >= 0) batched.emplace(traced_inputs[i].id(), std::make_pair(inputs[i], axes[i]));
  }
  std::unordered_set<uintptr_t> depends;
  std::vector<array> tape = dependent_tape(outputs, placeholders, depends,
                                           /*cut_at_stop_gradient=*/false);
  std::vector<array> ins;
  std::vector<int> in_ax;
  for (auto& node : tape) {
    ins.clear();
    in_ax.clear();
    for (auto& in : node.inputs()) {
      auto it = batched.find(in.id());
      if (it != batched.end()) {
        ins.push_back(it->second.first);
        in_ax.push_back(it->second.second);
      } else {
        ins.push_back(in);
        in_ax.push_back(-1);
      }
    }
    bool any_batched = false;
    for (int a : in_ax) any_batched = any_batched || a >= 0;
    std::pair<std::vector<array>, std::vector<int>> rule;
    if (any_batched) {
      rule = node.primitive().vmap(ins, in_ax);
    } else {
      // A rule upstream returned an unbatched output: this call is the same for every
      // example, so it is rebuilt once on its (unbatched) inputs.
      std::vector<Shape> shapes;
      std::vector<Dtype> dtypes;
      for (auto& o : node.outputs()) {
        shapes.push_back(o.shape());
        dtypes.push_back(o.dtype());
      }
      rule.first = array::make_arrays(std::move(shapes), dtypes, node.primitive_ptr(), ins);
      rule.second.assign(rule.first.size(), -1);
    }
    auto& [outs, out_ax] = rule;
    std::vector<array> originals = node.outputs();
    if (outs.size() != originals.size() || out_ax.size() != originals.size()) {
      throw std::logic_error(std::string("[vmap] The vmap rule of ") + node.primitive().name() +
                             " returned the wrong number of outputs.");
    }
    for (size_t k = 0; k < outs.size(); ++k) {
      batched.emplace(originals[k].id(), std::make_pair(std::move(outs[k]), out_ax[k]));
    }
  }

  // Put each output's batch axis where out_axes asks.
  std::vector<std::optional<int>> where = out_axes(outputs.size());
  if (where.size() != outputs.size()) {
    throw std::invalid_argument("[vmap] The function returned " + std::to_string(outputs.size()) +
                                " arrays but out_axes gives " + std::to_string(where.size()) +
                                " axes.");
  }
  std::vector<array> results;
  results.reserve(outputs.size());
  for (size_t k = 0; k < outputs.size(); ++k) {
    auto it = batched.find(outputs[k].id());
    bool is_batched = it != batched.end() && it->second.second >= 0;
    if (!where[k]) {
      if (is_batched) {
        throw std::invalid_argument("[vmap] out_axes is None for output " + std::to_string(k) +
                                    ", but that output depends on a mapped input.");
      }
      results.push_back(it != batched.end() ? it->second.first : outputs[k]);
      continue;
    }
    array value = it != batched.end() ? it->second.first : outputs[k];
    int from = is_batched ? it->second.second : -1;
    int nd = value.ndim() + (is_batched ? 0 : 1);
    int to = *where[k];
    if (to < -nd || to >= nd) {
      throw std::invalid_argument("[vmap] out_axes " + std::to_string(to) + " for output " +
                                  std::to_string(k) + " is out of range for an array with " +
                                  std::to_string(nd) + " dimensions.");
    }
    to = to < 0 ? to + nd : to;
    array front = vmap_to_front(value, from, batch);
    results.push_back(to == 0 ? front : moveaxis(front, 0, to));
  }
  return results;
}

std::vector<array> vmap(const Fn& fn, const std::vector<array>& inputs,
                        const std::vector<std::optional<int>>& in_axes,
                        const std::vector<std::optional<int>>& out_axes) {
  return vmap(fn, inputs, in_axes, [&out_axes](size_t n) {
    if (out_axes.size() == 1 && n != 1) return std::vector<std::optional<int>>(n, out_axes[0]);
    return out_axes;
  });
}

}  // namespace pullback
