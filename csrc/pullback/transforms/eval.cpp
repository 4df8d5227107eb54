#include <stdexcept>

#include "pullback/primitives/primitive.h"
#include "pullback/transforms/graph.h"
#include "pullback/transforms/transforms.h"

namespace pullback {

namespace detail {
int g_tracing = 0;
}

bool in_tracing() { return detail::g_tracing > 0; }

void eval(const std::vector<array>& outputs) {
  static uint32_t walk_counter = 0;
  const uint32_t mark = ++walk_counter;
  for (auto& o : outputs) {
    if (!o.valid()) throw std::invalid_argument("[eval] Cannot evaluate an uninitialized array.");
  }
  std::vector<array> tape;
  walk_graph(
      outputs,
      [mark](const array& a) {
        if (a.is_evaluated() || !a.visit(mark)) return false;
        if (!a.has_primitive()) {
          throw std::invalid_argument("[eval] Found an array with neither data nor a primitive.");
        }
        return true;
      },
      [&tape](array& a) { tape.push_back(std::move(a)); });

  bool keep_graph = in_tracing();
  for (auto& entry : tape) {
    // Taking the node out of the tape lets its inputs' buffers go (or be donated) as
    // soon as their last consumer has run.
    array node = std::move(entry);
    if (node.is_evaluated()) continue;
    std::vector<array> outs = node.outputs();
    Primitive& p = node.primitive();
    if (p.device().type == Device::Type::cpu) {
      p.eval_cpu(node.inputs(), outs);
    } else {
      p.eval_gpu(node.inputs(), outs);
    }
    for (auto& o : outs) o.mark_evaluated();
    if (!keep_graph) node.detach();
  }
}

}  // namespace pullback
