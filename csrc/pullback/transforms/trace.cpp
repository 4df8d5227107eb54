// The tape of a traced function (shared by vjp, jvp and vmap) and the replayable Trace
// (shared by custom_function and checkpoint).
#include "pullback/transforms/trace.h"

#include <stdexcept>
#include <string>
#include <unordered_map>

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


// ---- Trace: record and replay ----

size_t Trace::num_lifted() const {
  size_t n = 0;
  for (bool l : lifted) n += l;
  return n;
}

std::vector<array> Trace::lifted_externals() const {
  std::vector<array> out;
  for (size_t j = 0; j < externals.size(); ++j) {
    if (lifted[j]) out.push_back(externals[j]);
  }
  return out;
}

std::vector<array> Trace::with_captures(const std::vector<array>& captures) const {
  std::vector<array> out = externals;
  size_t k = 0;
  for (size_t j = 0; j < out.size(); ++j) {
    if (lifted[j]) out[j] = captures.at(k++);
  }
  return out;
}

Trace trace_function(const std::vector<array>& outputs, const std::vector<array>& inputs,
                     uint64_t start_stamp, std::vector<array>* node_values) {
  Trace trace;
  // What each array met so far is to the trace, by node identity.
  struct Seen {
    TraceRef ref;
    bool depends;  // on an input or a lifted capture
  };
  std::unordered_map<uintptr_t, Seen> known;
  std::unordered_set<uintptr_t> entered;
  for (size_t i = 0; i < inputs.size(); ++i) {
    trace.input_shapes.push_back(inputs[i].shape());
    known.emplace(inputs[i].id(), Seen{{TraceRef::Kind::input, static_cast<uint32_t>(i)}, true});
  }
  // An array that is not a recorded node becomes an external the first time it is read.
  auto resolve = [&](const array& a) -> Seen {
    auto it = known.find(a.id());
    if (it != known.end()) return it->second;
    bool lifted = a.created() <= start_stamp && (a.has_primitive() || a.is_tracer());
    Seen s{{TraceRef::Kind::external, static_cast<uint32_t>(trace.externals.size())}, lifted};
    trace.externals.push_back(a);
    trace.external_shapes.push_back(a.shape());
    trace.lifted.push_back(lifted);
    known.emplace(a.id(), s);
    return s;
  };
  walk_graph(
      outputs,
      [&](const array& a) {
        if (known.count(a.id()) || !a.has_primitive() || a.created() <= start_stamp) return false;
        if (!entered.insert(a.id()).second) return false;
        for (auto& s : a.siblings()) entered.insert(s.id());
        return true;
      },
      [&](array& node) {
        TraceNode rec;
        bool depends = false;
        for (auto& in : node.inputs()) {
          Seen s = resolve(in);
          depends = depends || s.depends;
          rec.inputs.push_back(s.ref);
        }
        // A node of the call that reads nothing the caller can vary is a constant: it stays
        // out of the record and becomes an external when something reads it.
        if (!depends) return;
        uint32_t k = static_cast<uint32_t>(trace.nodes.size());
        std::vector<array> outs = node.outputs();
        for (size_t p = 0; p < outs.size(); ++p) {
          rec.shapes.push_back(outs[p].shape());
          rec.dtypes.push_back(outs[p].dtype());
          known[outs[p].id()] = Seen{{TraceRef::Kind::node, k, static_cast<uint32_t>(p)}, true};
        }
        rec.primitive = node.primitive_ptr();
        trace.nodes.push_back(std::move(rec));
        if (node_values) node_values->push_back(outs[0]);
      });
  for (auto& o : outputs) trace.outputs.push_back(resolve(o).ref);
  return trace;
}

namespace {

// Checks the arguments of a replay; returns whether every shape is the traced one (the output
// shapes are a function of the input shapes: then the traced ones hold).
bool replay_shapes_unchanged(const Trace& trace, const std::vector<array>& inputs,
                             const std::vector<array>& externals) {
  if (inputs.size() != trace.input_shapes.size() || externals.size() != trace.externals.size()) {
    throw std::invalid_argument("[replay] The trace takes " +
                                std::to_string(trace.input_shapes.size()) + " inputs and " +
                                std::to_string(trace.externals.size()) + " externals; got " +
                                std::to_string(inputs.size()) + " and " +
                                std::to_string(externals.size()) + ".");
  }
  bool same_shapes = true;
  for (size_t i = 0; i < inputs.size(); ++i) {
    same_shapes = same_shapes && inputs[i].shape() == trace.input_shapes[i];
  }
  for (size_t j = 0; j < externals.size(); ++j) {
    same_shapes = same_shapes && externals[j].shape() == trace.external_shapes[j];
  }
  return same_shapes;
}

// Rebuilds node `node` on the values its inputs resolve to.
template <typename Value>
std::vector<array> replay_node(const TraceNode& node, bool same_shapes, const Value& value,
                               std::vector<array>& ins) {
  ins.clear();
  for (auto& r : node.inputs) ins.push_back(value(r));
  std::vector<Shape> shapes = same_shapes ? node.shapes : node.primitive->output_shapes(ins);
  return array::make_arrays(std::move(shapes), node.dtypes, node.primitive, ins);
}

}  // namespace

std::vector<array> replay(const Trace& trace, const std::vector<array>& inputs,
                          const std::vector<array>& externals) {
  bool same_shapes = replay_shapes_unchanged(trace, inputs, externals);
  std::vector<std::vector<array>> values(trace.nodes.size());
  auto value = [&](const TraceRef& r) -> const array& {
    switch (r.kind) {
      case TraceRef::Kind::input: return inputs[r.index];
      case TraceRef::Kind::external: return externals[r.index];
      default: return values[r.index][r.output];
    }
  };
  std::vector<array> ins;
  for (size_t k = 0; k < trace.nodes.size(); ++k) {
    values[k] = replay_node(trace.nodes[k], same_shapes, value, ins);
  }
  std::vector<array> out;
  out.reserve(trace.outputs.size());
  for (auto& r : trace.outputs) out.push_back(value(r));
  return out;
}

std::vector<array> replay(const Trace& trace, const TracePart& part,
                          const std::vector<array>& inputs, const std::vector<array>& externals,
                          const array& carried) {
  bool same_shapes = replay_shapes_unchanged(trace, inputs, externals);
  if (part.has_carried) {
    const TraceNode& from = trace.nodes.at(part.carried.index);
    same_shapes = same_shapes && carried.shape() == from.shapes.at(part.carried.output);
  }
  // A part is a small piece of a possibly large trace: its values go in a map, not a vector
  // as long as the trace.
  std::unordered_map<uint32_t, std::vector<array>> values;
  auto value = [&](const TraceRef& r) -> const array& {
    switch (r.kind) {
      case TraceRef::Kind::input: return inputs[r.index];
      case TraceRef::Kind::external: return externals[r.index];
      default: break;
    }
    if (part.has_carried && r.index == part.carried.index && r.output == part.carried.output) {
      return carried;
    }
    auto it = values.find(r.index);
    if (it == values.end()) {
      throw std::logic_error("[replay] A part of a trace reads node " + std::to_string(r.index) +
                             ", computed outside it.");
    }
    return it->second[r.output];
  };
  std::vector<array> ins;
  for (uint32_t k : part.nodes) {
    values[k] = replay_node(trace.nodes.at(k), same_shapes, value, ins);
  }
  std::vector<array> out;
  out.reserve(part.results.size());
  for (auto& r : part.results) out.push_back(value(r));
  return out;
}

}  // namespace pullback
