// A replayable record of the graph a function call built: primitives and topology only.
//
// DESIGN.md decision 1. The record holds no intermediate arrays (holding them would keep their
// buffers alive, which is what checkpointing avoids), so the call can be re-run on new arrays,
// and differentiated with respect to its captures, without calling back into Python.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "pullback/array.h"

namespace pullback {

class Primitive;

// Where a value of the trace comes from: the call's input `index`, the trace's external
// `index`, or output `output` of recorded node `index`.
struct TraceRef {
  enum class Kind : uint8_t { input, external, node };
  Kind kind;
  uint32_t index;
  uint32_t output = 0;
};

struct TraceNode {
  std::shared_ptr<Primitive> primitive;
  std::vector<TraceRef> inputs;
  std::vector<Shape> shapes;  // of the outputs, as traced (the replay's when shapes are unchanged)
  std::vector<Dtype> dtypes;
};

struct Trace {
  std::vector<Shape> input_shapes;
  std::vector<TraceNode> nodes;  // topological order: inputs before the nodes that read them
  // Arrays the call read that are not its inputs. `lifted[j]`: external j is a capture that
  // may depend on an enclosing transform's tracer (it has a primitive or is a tracer), so a
  // transform must see it as an input of the call; the others are constants.
  std::vector<array> externals;
  std::vector<Shape> external_shapes;
  std::vector<bool> lifted;
  std::vector<TraceRef> outputs;

  size_t num_lifted() const;
  // The lifted externals, in order.
  std::vector<array> lifted_externals() const;
  // `externals` with the lifted ones replaced, in order, by `captures`.
  std::vector<array> with_captures(const std::vector<array>& captures) const;
};

// Records the part of the graph between `inputs` and `outputs` that a call begun at stamp
// `start_stamp` (next_array_stamp()) built: nodes created after the stamp that depend on an
// input or on a lifted capture. Arrays created before the stamp are externals and are not
// walked into; nodes created during the call that depend on neither are constants (externals).
// With `node_values`, it receives the first output of each recorded node (the call's own
// arrays, e.g. for keeping some of them).
Trace trace_function(const std::vector<array>& outputs, const std::vector<array>& inputs,
                     uint64_t start_stamp, std::vector<array>* node_values = nullptr);

// The traced outputs rebuilt lazily with the same primitives on `inputs` and `externals` (as
// many as the trace has; shapes come from each primitive's output_shapes where they changed).
std::vector<array> replay(const Trace& trace, const std::vector<array>& inputs,
                          const std::vector<array>& externals);

// A piece of a trace, replayed on its own: `nodes` (indices into Trace::nodes, in topological
// order) read the trace's inputs and externals, each other and, where `has_carried`, one value
// computed before the piece: output `carried.output` of node `carried.index`.
struct TracePart {
  std::vector<uint32_t> nodes;
  bool has_carried = false;
  TraceRef carried{TraceRef::Kind::node, 0, 0};
  std::vector<TraceRef> results;  // what its replay returns
};

// The values of `part.results` rebuilt lazily from `inputs`, `externals` and `carried`.
std::vector<array> replay(const Trace& trace, const TracePart& part,
                          const std::vector<array>& inputs, const std::vector<array>& externals,
                          const array& carried);

}  // namespace pullback
