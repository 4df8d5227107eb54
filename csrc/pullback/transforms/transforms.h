// Graph transforms over flat lists of arrays.
#pragma once

#include <functional>
#include <optional>
#include <utility>
#include <vector>

#include "pullback/array.h"

namespace pullback {

// Evaluates the arrays (and everything they depend on) with an iterative schedule.
void eval(const std::vector<array>& outputs);

using Fn = std::function<std::vector<array>(const std::vector<array>&)>;

// Returns (outputs of fn(primals), cotangents of the primals).
std::pair<std::vector<array>, std::vector<array>> vjp(const Fn& fn,
                                                      const std::vector<array>& primals,
                                                      const std::vector<array>& cotangents);
// Returns (outputs of fn(primals), tangents of the outputs).
std::pair<std::vector<array>, std::vector<array>> jvp(const Fn& fn,
                                                      const std::vector<array>& primals,
                                                      const std::vector<array>& tangents);

// Maps `fn` over axis in_axes[i] of inputs[i] (nullopt: inputs[i] is passed whole to every
// example). Each output gets its batch axis at the position out_axes gives (nullopt: the output
// must not depend on a mapped input and is returned as is). `out_axes` is asked for the axes
// once the number of outputs is known; a single axis applies to every output.
using VmapOutAxes = std::function<std::vector<std::optional<int>>(size_t num_outputs)>;
std::vector<array> vmap(const Fn& fn, const std::vector<array>& inputs,
                        const std::vector<std::optional<int>>& in_axes, const VmapOutAxes& out_axes);
std::vector<array> vmap(const Fn& fn, const std::vector<array>& inputs,
                        const std::vector<std::optional<int>>& in_axes,
                        const std::vector<std::optional<int>>& out_axes);

// Whether a transform is tracing on this thread; eval then keeps the graph so gradients still
// flow. Tracing is per thread: while one thread is inside grad, another thread's eval still
// releases its graph as it goes.
bool in_tracing();

// Marks a transform as tracing on this thread for the scope's lifetime (scopes nest).
class TraceScope {
 public:
  TraceScope();
  ~TraceScope();
  TraceScope(const TraceScope&) = delete;
  TraceScope& operator=(const TraceScope&) = delete;
};

}  // namespace pullback
