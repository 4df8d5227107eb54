// Graph transforms over flat lists of arrays.
#pragma once

#include <functional>
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

// Whether a transform is tracing now; eval then keeps the graph so gradients still flow.
bool in_tracing();

}  // namespace pullback
