// compile: a function traced once per input signature, simplified and fused, then replayed.
#pragma once

#include <cstddef>
#include <memory>
#include <vector>

#include "pullback/transforms/trace.h"
#include "pullback/transforms/transforms.h"

namespace pullback {

struct CompiledGraph {
  Trace trace;  // simplified: common subexpressions merged, elementwise chains fused
  // For each external that is a broadcast the call made of a constant, the constant (invalid
  // array otherwise): a shapeless call re-broadcasts it to the new shapes.
  std::vector<array> broadcast_sources;
  size_t merged = 0;  // nodes removed as common subexpressions
  size_t fused = 0;   // chains fused (each one Fused node)
};

// Calls `fn` on data-less stand-ins shaped like `inputs` (evaluating anything that depends on
// them fails with a ValueError that suggests mx.where), records the graph, merges common
// subexpressions and fuses float32 elementwise chains. Arrays the function reads without
// receiving them are constants of the compiled graph.
std::shared_ptr<const CompiledGraph> compile_function(const Fn& fn,
                                                      const std::vector<array>& inputs);

// The compiled graph rebuilt lazily on `inputs` (of the traced dtypes and ranks; where the
// shapes differ from the traced ones, each node's shape follows from its inputs').
std::vector<array> compiled_call(const CompiledGraph& graph, const std::vector<array>& inputs);

}  // namespace pullback
