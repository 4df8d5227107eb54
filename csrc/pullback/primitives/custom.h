// A function call with its own derivative and batching rules: custom_function and checkpoint.
//
// The node's inputs are the call's primals (the function's array inputs, then the captures
// lifted from its trace) followed by stop_gradient of its m forward outputs; its m outputs share
// the forward outputs' buffers. The forward graph enters only through stop_gradient, so vjp and
// jvp never walk into it: the node's rules stand in for it. A rule left out falls back to
// differentiating (or batching) a replay of the traced forward, which re-runs it: that is
// checkpointing. Captured arrays always get their derivatives from the replayed forward, also
// where the user gives a vjp or jvp for the inputs (those rules see only the inputs).
//
// checkpoint(fun, interval=k) cuts the traced forward into segments (transforms/segments.h):
// the node then also reads stop_gradient of the segments' boundaries, kept from the forward
// pass, after the outputs, and its vjp replays and differentiates one segment at a time.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "pullback/primitives/primitive.h"
#include "pullback/transforms/trace.h"
#include "pullback/transforms/transforms.h"

namespace pullback {

struct CustomRules {
  // Cotangents of the inputs, given the inputs, the outputs' cotangents and the outputs.
  std::function<std::vector<array>(const std::vector<array>& inputs,
                                   const std::vector<array>& cotangents,
                                   const std::vector<array>& outputs)>
      vjp;
  // Tangents of the outputs, given the inputs and the tangents of the inputs in `argnums`.
  std::function<std::vector<array>(const std::vector<array>& inputs,
                                   const std::vector<array>& tangents,
                                   const std::vector<int>& argnums)>
      jvp;
  // Outputs and their batch axes, given the inputs and their batch axes (-1: unbatched).
  std::function<std::pair<std::vector<array>, std::vector<int>>(const std::vector<array>& inputs,
                                                                const std::vector<int>& axes)>
      vmap;
};

class CustomTransforms : public Primitive, public std::enable_shared_from_this<CustomTransforms> {
 public:
  // `num_inputs` of the `num_primals` primals are the function's inputs, the rest captures;
  // `forward` (the traced call, lifted externals cleared) may be null when both vjp and jvp
  // rules are given and there are no captures. With more than one of `segments` (parts of
  // `forward`), the node's inputs end with the values of their boundaries.
  CustomTransforms(Stream s, std::string what, size_t num_inputs, size_t num_primals,
                   size_t num_outputs, CustomRules rules, std::shared_ptr<const Trace> forward,
                   std::vector<TracePart> segments = {});
  const char* name() const override { return "CustomTransforms"; }
  void eval_cpu(const std::vector<array>& inputs, std::vector<array>& outputs) override;
  std::vector<array> vjp(const std::vector<array>&, const std::vector<array>&,
                         const std::vector<int>&, const std::vector<array>&) override;
  std::vector<array> jvp(const std::vector<array>&, const std::vector<array>&,
                         const std::vector<int>&) override;
  std::pair<std::vector<array>, std::vector<int>> vmap(const std::vector<array>&,
                                                       const std::vector<int>&) override;
  std::vector<Shape> output_shapes(const std::vector<array>& inputs) override;
  // Two custom nodes compute the same only if they are calls of one traced function.
  bool is_equivalent(const Primitive& other) const override { return this == &other; }

  // Cotangents of the primals in `argnums` (each < num_primals), given all the primals (and the
  // segments' kept boundaries, where there are; without them, they are recomputed).
  std::vector<array> primal_cotangents(const std::vector<array>& primals,
                                       const std::vector<array>& cotangents,
                                       const std::vector<array>& outputs,
                                       const std::vector<int>& argnums,
                                       const std::vector<array>& kept = {});
  // Tangents of the outputs given the tangents of the primals in `argnums`.
  std::vector<array> output_tangents(const std::vector<array>& primals,
                                     const std::vector<array>& tangents,
                                     const std::vector<int>& argnums);

 private:
  // The forward re-run on `primals` (inputs, then captures).
  std::vector<array> replay_forward(const std::vector<array>& primals) const;
  // The replayed forward as a function of the primals in `which`, the others fixed.
  Fn replay_of(const std::vector<array>& primals, const std::vector<int>& which) const;
  const std::shared_ptr<const Trace>& forward(const char* transform) const;

  std::string what_;  // "custom_function" or "checkpoint", for messages
  size_t num_inputs_, num_primals_, num_outputs_;
  CustomRules rules_;
  std::shared_ptr<const Trace> forward_;
  std::vector<TracePart> segments_;  // empty or one: not cut
};

// Calls `fn` on stand-ins for `inputs`, traces the call and returns its outputs as the outputs
// of one CustomTransforms node with `rules`. `what` names the caller in error messages.
// `interval` > 0 cuts the forward into segments of that many stages (checkpoint's interval).
std::vector<array> custom_function(const Fn& fn, const std::vector<array>& inputs,
                                   CustomRules rules, const std::string& what, int interval = 0);

}  // namespace pullback
