// CustomTransforms: derivative and batching rules of custom_function and checkpoint.
#include "pullback/primitives/custom.h"

#include <stdexcept>
#include <string>

#include "pullback/ops.h"
#include "pullback/transforms/graph.h"
#include "pullback/transforms/segments.h"
#include "pullback/transforms/vmap.h"

namespace pullback {

namespace {

using Arrays = std::vector<array>;
using Ints = std::vector<int>;

Arrays slice(const Arrays& v, size_t begin, size_t end) {
  return Arrays(v.begin() + begin, v.begin() + end);
}

Arrays pick(const Arrays& v, const Ints& which) {
  Arrays out;
  for (int i : which) out.push_back(v[i]);
  return out;
}

// A user rule's results: as many as expected, each of the expected shape, in the expected dtype.
Arrays checked(const std::string& what, const char* rule, const char* kind, Arrays got,
               const Arrays& like, const char* like_kind) {
  if (got.size() != like.size()) {
    throw std::invalid_argument("[" + what + "] The " + rule + " returned " +
                                std::to_string(got.size()) + " " + kind + "s for " +
                                std::to_string(like.size()) + " " + like_kind + "s.");
  }
  for (size_t i = 0; i < got.size(); ++i) {
    if (got[i].shape() != like[i].shape()) {
      throw std::invalid_argument("[" + what + "] The " + rule + " returned a " + kind +
                                  " of shape " + shape_str(got[i].shape()) + " for " + like_kind +
                                  " " + std::to_string(i) + " of shape " +
                                  shape_str(like[i].shape()) + ".");
    }
    if (got[i].dtype() != like[i].dtype()) got[i] = astype(got[i], like[i].dtype());
  }
  return got;
}

}  // namespace

CustomTransforms::CustomTransforms(Stream s, std::string what, size_t num_inputs,
                                   size_t num_primals, size_t num_outputs, CustomRules rules,
                                   std::shared_ptr<const Trace> forward,
                                   std::vector<TracePart> segments)
    : Primitive(s),
      what_(std::move(what)),
      num_inputs_(num_inputs),
      num_primals_(num_primals),
      num_outputs_(num_outputs),
      rules_(std::move(rules)),
      forward_(std::move(forward)),
      segments_(std::move(segments)) {}

std::vector<Shape> CustomTransforms::output_shapes(const Arrays& inputs) {
  std::vector<Shape> shapes;
  for (size_t k = 0; k < num_outputs_; ++k) shapes.push_back(inputs.at(num_primals_ + k).shape());
  return shapes;
}

const std::shared_ptr<const Trace>& CustomTransforms::forward(const char* transform) const {
  if (!forward_) {
    throw std::logic_error("[" + what_ + "] No traced forward to fall back on for " + transform +
                           ".");
  }
  return forward_;
}

Arrays CustomTransforms::replay_forward(const Arrays& primals) const {
  const Trace& t = *forward("a replay");
  return replay(t, slice(primals, 0, num_inputs_),
                t.with_captures(slice(primals, num_inputs_, num_primals_)));
}

Fn CustomTransforms::replay_of(const Arrays& primals, const Ints& which) const {
  return [this, primals, which](const Arrays& xs) {
    Arrays all = primals;
    for (size_t k = 0; k < which.size(); ++k) all[which[k]] = xs[k];
    return replay_forward(all);
  };
}

// The derivatives of the primals a rule does not cover come from the replayed forward: the
// re-run that checkpointing trades memory for.
Arrays CustomTransforms::primal_cotangents(const Arrays& primals, const Arrays& cotangents,
                                           const Arrays& outputs, const Ints& argnums,
                                           const Arrays& kept) {
  Ints from_rule, from_replay;
  for (int i : argnums) {
    (rules_.vjp && static_cast<size_t>(i) < num_inputs_ ? from_rule : from_replay).push_back(i);
  }
  std::vector<array> result(num_primals_);
  if (!from_rule.empty()) {
    Arrays inputs = slice(primals, 0, num_inputs_);
    Arrays got = checked(what_, "vjp", "cotangent", rules_.vjp(inputs, cotangents, outputs),
                         inputs, "primal");
    for (int i : from_rule) result[i] = got[i];
  }
  if (!from_replay.empty() && segments_.size() > 1) {
    // checkpoint(..., interval): one segment at a time. Primal i is input i of the trace or,
    // past the inputs, its i-th lifted external.
    const Trace& t = *forward("a segmented vjp");
    std::vector<uint32_t> lifted;
    for (size_t j = 0; j < t.externals.size(); ++j) {
      if (t.lifted[j]) lifted.push_back(static_cast<uint32_t>(j));
    }
    std::vector<TraceRef> wrt;
    for (int i : from_replay) {
      wrt.push_back(static_cast<size_t>(i) < num_inputs_
                        ? TraceRef{TraceRef::Kind::input, static_cast<uint32_t>(i), 0}
                        : TraceRef{TraceRef::Kind::external, lifted[i - num_inputs_], 0});
    }
    // The node holds the kept boundaries until it runs; eval may run it late (a loss read
    // only by the caller is evaluated last), so the backward pass starts after it.
    Arrays got = segmented_vjp(t, segments_, slice(primals, 0, num_inputs_),
                               t.with_captures(slice(primals, num_inputs_, num_primals_)), wrt,
                               cotangents, kept, kept.empty() ? Arrays{} : outputs);
    for (size_t k = 0; k < from_replay.size(); ++k) result[from_replay[k]] = got[k];
  } else if (!from_replay.empty()) {
    Arrays got = pullback::vjp(replay_of(primals, from_replay), pick(primals, from_replay),
                               cotangents).second;
    for (size_t k = 0; k < from_replay.size(); ++k) result[from_replay[k]] = got[k];
  }
  Arrays out;
  for (int i : argnums) out.push_back(result[i]);
  return out;
}

Arrays CustomTransforms::output_tangents(const Arrays& primals, const Arrays& tangents,
                                         const Ints& argnums) {
  Arrays out;
  auto accumulate = [&out](Arrays ts) {
    if (out.empty()) {
      out = std::move(ts);
    } else {
      for (size_t k = 0; k < out.size(); ++k) out[k] = add(out[k], ts[k]);
    }
  };
  Ints rule_args, replay_args;
  Arrays rule_tangents, replay_tangents;
  for (size_t j = 0; j < argnums.size(); ++j) {
    bool by_rule = rules_.jvp && static_cast<size_t>(argnums[j]) < num_inputs_;
    (by_rule ? rule_args : replay_args).push_back(argnums[j]);
    (by_rule ? rule_tangents : replay_tangents).push_back(tangents[j]);
  }
  if (!rule_args.empty()) {
    Arrays got = rules_.jvp(slice(primals, 0, num_inputs_), rule_tangents, rule_args);
    if (got.size() != num_outputs_) {
      throw std::invalid_argument("[" + what_ + "] The jvp returned " + std::to_string(got.size()) +
                                  " tangents for " + std::to_string(num_outputs_) + " outputs.");
    }
    accumulate(std::move(got));
  }
  if (!replay_args.empty()) {
    accumulate(pullback::jvp(replay_of(primals, replay_args), pick(primals, replay_args),
                             replay_tangents).second);
  }
  return out;
}

Arrays CustomTransforms::vjp(const Arrays& primals, const Arrays& cotangents, const Ints& argnums,
                             const Arrays& outputs) {
  // The forward outputs enter through stop_gradient: they get zero cotangents.
  Ints wanted;
  for (int i : argnums) {
    if (static_cast<size_t>(i) < num_primals_) wanted.push_back(i);
  }
  // The kept boundaries enter through stop_gradient: the cotangents built on them are right,
  // but their own derivatives miss the boundaries' dependence on the primals. Inside an
  // enclosing transform (a gradient of a gradient, vmap of a gradient), which may differentiate
  // the cotangents further, the boundaries are recomputed from the primals instead.
  Arrays kept;
  if (!in_tracing()) kept = slice(primals, num_primals_ + num_outputs_, primals.size());
  Arrays got =
      primal_cotangents(slice(primals, 0, num_primals_), cotangents, outputs, wanted, kept);
  Arrays out;
  size_t k = 0;
  for (int i : argnums) {
    out.push_back(static_cast<size_t>(i) < num_primals_ ? got[k++] : zeros_like(primals[i]));
  }
  return out;
}

Arrays CustomTransforms::jvp(const Arrays& primals, const Arrays& tangents, const Ints& argnums) {
  Ints wanted;
  Arrays wanted_tangents;
  for (size_t j = 0; j < argnums.size(); ++j) {
    if (static_cast<size_t>(argnums[j]) < num_primals_) {
      wanted.push_back(argnums[j]);
      wanted_tangents.push_back(tangents[j]);
    }
  }
  Arrays outs = slice(primals, num_primals_, num_primals_ + num_outputs_);
  if (wanted.empty()) {
    Arrays zeros;
    for (auto& o : outs) zeros.push_back(zeros_like(o));
    return zeros;
  }
  Arrays got = output_tangents(slice(primals, 0, num_primals_), wanted_tangents, wanted);
  return checked(what_, "jvp", "tangent", std::move(got), outs, "output");
}

std::pair<Arrays, Ints> CustomTransforms::vmap(const Arrays& inputs, const Ints& axes) {
  bool captures_batched = false;
  for (size_t i = num_inputs_; i < num_primals_; ++i) captures_batched |= axes[i] >= 0;
  if (rules_.vmap && !captures_batched) {
    auto [outs, out_axes] =
        rules_.vmap(slice(inputs, 0, num_inputs_), Ints(axes.begin(), axes.begin() + num_inputs_));
    if (outs.size() != num_outputs_ || out_axes.size() != num_outputs_) {
      throw std::invalid_argument("[" + what_ + "] The vmap rule returned " +
                                  std::to_string(outs.size()) + " outputs and " +
                                  std::to_string(out_axes.size()) + " axes for " +
                                  std::to_string(num_outputs_) + " outputs.");
    }
    return {outs, out_axes};
  }
  // Without a batching rule of its own (or with a batched capture, which the user's rule cannot
  // see), the batched call is again one custom node: over the batched primals and the batched
  // forward outputs (the replay of the forward graph already batched them), whose rules are
  // this node's rules mapped over the batch. So custom derivatives survive vmap.
  // The segments' kept boundaries stay behind: the batched vjp recomputes them.
  const size_t used = num_primals_ + num_outputs_;
  Arrays front = vmap_all_to_front(slice(inputs, 0, used), Ints(axes.begin(), axes.begin() + used));
  for (size_t k = num_primals_; k < front.size(); ++k) front[k] = stop_gradient(front[k]);
  auto self = shared_from_this();
  size_t n = num_primals_, m = num_outputs_;
  CustomRules batched;
  batched.vjp = [self, n, m](const Arrays& primals, const Arrays& cts, const Arrays& outs) {
    Arrays all = primals;
    all.insert(all.end(), cts.begin(), cts.end());
    all.insert(all.end(), outs.begin(), outs.end());
    Ints every(n);
    for (size_t i = 0; i < n; ++i) every[i] = static_cast<int>(i);
    return pullback::vmap(
        [self, n, m, every](const Arrays& xs) {
          return self->primal_cotangents(slice(xs, 0, n), slice(xs, n, n + m),
                                         slice(xs, n + m, n + 2 * m), every);
        },
        all, std::vector<std::optional<int>>(all.size(), 0), std::vector<std::optional<int>>{0});
  };
  batched.jvp = [self, n](const Arrays& primals, const Arrays& tangents, const Ints& argnums) {
    Arrays all = primals;
    all.insert(all.end(), tangents.begin(), tangents.end());
    return pullback::vmap(
        [self, n, argnums](const Arrays& xs) {
          return self->output_tangents(slice(xs, 0, n), slice(xs, n, xs.size()), argnums);
        },
        all, std::vector<std::optional<int>>(all.size(), 0), std::vector<std::optional<int>>{0});
  };
  auto prim = std::make_shared<CustomTransforms>(stream(), what_, n, n, m, std::move(batched),
                                                 nullptr);
  std::vector<Shape> shapes;
  std::vector<Dtype> dtypes;
  for (size_t k = n; k < front.size(); ++k) {
    shapes.push_back(front[k].shape());
    dtypes.push_back(front[k].dtype());
  }
  return {array::make_arrays(std::move(shapes), dtypes, prim, front), Ints(m, 0)};
}

std::vector<array> custom_function(const Fn& fn, const Arrays& inputs, CustomRules rules,
                                   const std::string& what, int interval) {
  uint64_t start = next_array_stamp();
  Arrays tracers = make_tracers(inputs);
  Arrays outputs;
  {
    TraceScope scope;
    outputs = fn(tracers);
  }
  if (outputs.empty()) return outputs;
  Arrays node_values;
  auto trace = std::make_shared<Trace>(
      trace_function(outputs, tracers, start, interval > 0 ? &node_values : nullptr));
  std::vector<TracePart> segments;
  if (interval > 0) segments = cut_trace(*trace, interval);
  Arrays node_inputs = inputs;
  for (auto& c : trace->lifted_externals()) node_inputs.push_back(c);
  size_t num_primals = node_inputs.size();
  // The node's inputs hold the captures; the trace need not keep them (nor their graphs) alive.
  for (size_t j = 0; j < trace->externals.size(); ++j) {
    if (trace->lifted[j]) trace->externals[j] = array();
  }
  std::vector<Shape> shapes;
  std::vector<Dtype> dtypes;
  for (auto& o : outputs) {
    node_inputs.push_back(stop_gradient(o));
    shapes.push_back(o.shape());
    dtypes.push_back(o.dtype());
  }
  // The boundaries of the segments, kept from this forward pass for the backward one.
  for (size_t s = 0; s + 1 < segments.size(); ++s) {
    node_inputs.push_back(stop_gradient(node_values.at(segments[s].results.at(0).index)));
  }
  node_values.clear();
  auto prim = std::make_shared<CustomTransforms>(current_stream(), what, inputs.size(),
                                                 num_primals, outputs.size(), std::move(rules),
                                                 std::move(trace), std::move(segments));
  return array::make_arrays(std::move(shapes), dtypes, prim, node_inputs);
}

}  // namespace pullback
