// Walking the lazy graph without recursion: deep graphs must not overflow the C stack.
#pragma once

#include <cstdint>
#include <unordered_set>
#include <utility>
#include <vector>

#include "pullback/array.h"

namespace pullback {

// Post-order walk from `outputs`: `enter(a)` decides whether node `a` is visited (and its
// inputs walked); `leave(a)` runs once per visited node, after every input it depends on.
template <typename Enter, typename Leave>
void walk_graph(const std::vector<array>& outputs, Enter&& enter, Leave&& leave) {
  std::vector<std::pair<array, size_t>> stack;
  for (auto& o : outputs) {
    if (!enter(o)) continue;
    stack.emplace_back(o, 0);
    while (!stack.empty()) {
      auto& [node, next] = stack.back();
      auto& ins = node.inputs();
      if (next < ins.size()) {
        array in = ins[next++];
        if (enter(in)) stack.emplace_back(std::move(in), 0);
      } else {
        array done = std::move(node);
        stack.pop_back();
        leave(done);
      }
    }
  }
}

// Stand-ins for the primals of a traced call: fresh Identity nodes flagged as tracers, so the
// walks know where to stop, that evaluate to the primals' values.
std::vector<array> make_tracers(const std::vector<array>& primals);

// The primitive calls between `tracers` and `outputs` that depend on a tracer, in topological
// order (inputs first), one entry per call even with several outputs. `depends` receives the
// ids of the tracers and of every array that depends on one. With `cut_at_stop_gradient`,
// stop_gradient ends the dependence (autodiff: indices computed from a primal and wrapped in
// stop_gradient are constants); vmap keeps following it.
std::vector<array> dependent_tape(const std::vector<array>& outputs,
                                  const std::vector<array>& tracers,
                                  std::unordered_set<uintptr_t>& depends,
                                  bool cut_at_stop_gradient);

}  // namespace pullback
