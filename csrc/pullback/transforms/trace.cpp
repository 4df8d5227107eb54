// The tape of a traced function: shared by vjp, jvp and vmap.
#include "pullback/primitives/misc.h"
#include "pullback/transforms/graph.h"

namespace pullback {

std::vector<array> dependent_tape(const std::vector<array>& outputs,
                                  const std::vector<array>& tracers,
                                  std::unordered_set<uintptr_t>& depends,
                                  bool cut_at_stop_gradient) {
  std::unordered_set<uintptr_t> tracer_ids, seen;
  for (auto& t : tracers) {
    tracer_ids.insert(t.id());
    depends.insert(t.id());
  }
  std::vector<array> tape;
  walk_graph(
      outputs,
      [&](const array& a) {
        if (tracer_ids.count(a.id()) || !a.has_primitive() || !seen.insert(a.id()).second) {
          return false;
        }
        for (auto& s : a.siblings()) seen.insert(s.id());
        return true;
      },
      [&](array& node) {
        bool dep = false;
        for (auto& in : node.inputs()) dep = dep || depends.count(in.id());
        if (!dep) return;
        if (cut_at_stop_gradient && dynamic_cast<const StopGradient*>(&node.primitive())) return;
        for (auto& out : node.outputs()) depends.insert(out.id());
        tape.push_back(std::move(node));
      });
  return tape;
}

}  // namespace pullback
