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
