#include <atomic>
#include <stdexcept>

#include "pullback/interrupt.h"
#include "pullback/primitives/primitive.h"
#include "pullback/transforms/graph.h"
#include "pullback/transforms/transforms.h"

namespace pullback {

namespace {
thread_local int t_trace_depth = 0;
}

bool in_tracing() { return t_trace_depth > 0; }
TraceScope::TraceScope() { ++t_trace_depth; }
TraceScope::~TraceScope() { --t_trace_depth; }

namespace {

// Runs one primitive call whose inputs are all evaluated, then drops its graph. `outs` is
// scratch space, reused across calls to save an allocation per node.
void run_node(array node, bool keep_graph, std::vector<array>& outs) {
  if (node.num_outputs() == 1) {
    outs.assign(1, node);
  } else {
    outs = node.outputs();
  }
  Primitive& p = node.primitive();
  // Each output of a multi-output node holds a copy of the inputs. While the kernel runs only
  // `node` does, so that an input nothing else holds can lend its buffer to an output (see
  // array::is_donatable): a fused optimizer step then updates its arrays in place.
  const bool lend = !keep_graph && outs.size() > 1;
  if (lend) {
    for (auto& o : outs) {
      if (!o.is_same(node)) o.inputs().clear();
    }
  }
  try {
    KernelScope scope(node.inputs(), outs);
    if (p.device().type == Device::Type::cpu) {
      p.eval_cpu(node.inputs(), outs);
    } else {
      p.eval_gpu(node.inputs(), outs);
    }
  } catch (...) {
    // A kernel stopped midway (an interrupt, an error): its outputs go back to unevaluated,
    // and the node keeps its graph, so it can be evaluated again.
    for (auto& o : outs) {
      o.reset_data();
      if (lend && !o.is_same(node)) o.inputs() = node.inputs();
    }
    outs.clear();
    throw;
  }
  for (auto& o : outs) o.mark_evaluated();
  outs.clear();
  if (!keep_graph) node.detach();
}

bool inputs_evaluated(const array& a) {
  for (auto& in : a.inputs()) {
    if (!in.is_evaluated()) return false;
  }
  return true;
}

}  // namespace

void eval(const std::vector<array>& outputs) {
  // An op evaluated right after it was recorded, the eager pattern, needs no walk.
  if (outputs.size() == 1 && outputs[0].valid() && !outputs[0].is_evaluated() &&
      outputs[0].has_primitive() && inputs_evaluated(outputs[0])) {
    std::vector<array> outs;
    run_node(outputs[0], in_tracing(), outs);
    // Only an interrupt a kernel already saw: polling the host here would tax every eager op.
    if (interrupt_pending(/*poll_host=*/false)) throw Interrupted();
    return;
  }

  static std::atomic<uint32_t> walk_counter{0};
  const uint32_t mark = ++walk_counter;
  for (auto& o : outputs) {
    if (!o.valid()) throw std::invalid_argument("[eval] Cannot evaluate an uninitialized array.");
  }
  // The walk starts from the last output. Gradients come in parameter order, first layer
  // first, but a backward pass finishes the last layer's first: walking from the first
  // layer's gradient would reach every layer's cotangent through the chain and keep each one
  // alive until that layer's own gradient is reached, as much memory again as the activations.
  std::vector<array> last_first(outputs.rbegin(), outputs.rend());
  std::vector<array> tape;
  walk_graph(
      last_first,
      [mark](const array& a) {
        if (a.is_evaluated() || !a.visit(mark)) return false;
        if (!a.has_primitive()) {
          throw std::invalid_argument("[eval] Found an array with neither data nor a primitive.");
        }
        return true;
      },
      [&tape](array& a) { tape.push_back(std::move(a)); });

  bool keep_graph = in_tracing();
  std::vector<array> outs;
  // Polling costs a call into the host; every few nodes is often enough for a quick stop.
  constexpr size_t kPollEvery = 16;
  for (size_t i = 0; i < tape.size(); ++i) {
    // Taking the node out of the tape lets its inputs' buffers go (or be donated) as
    // soon as their last consumer has run.
    array node = std::move(tape[i]);
    if (!node.is_evaluated()) run_node(std::move(node), keep_graph, outs);
    if (i % kPollEvery == kPollEvery - 1 && interrupt_pending()) throw Interrupted();
  }
  if (interrupt_pending()) throw Interrupted();
}

}  // namespace pullback
