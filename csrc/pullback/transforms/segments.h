// A traced forward cut into segments, and its vjp taken one segment at a time: what
// checkpoint(fun, interval=k) recomputes in the backward pass.
//
// Frontiers. A node v of the trace (one floating output, not itself an output of the call) is a
// frontier when everything the trace computes before it reaches the rest only through v: no
// node outside v's ancestors reads one of v's ancestors (inputs and externals don't count;
// any part may read them). So the computation after v is a function of v and of the inputs.
// In the graph read backwards from the outputs, that is: v dominates each of its ancestors.
//
// Stages. Among the frontiers that form the longest chain (each an ancestor of the next), a
// stage ends at the last frontier before a contraction (matmul, convolution, attention or a
// nested custom/checkpoint node) that follows at least one contraction since the previous stage
// end. So for a stack of layers, a stage is one layer (a Linear followed by its activation, a
// residual block) and its end is the layer's output.
//
// Segments. interval=k keeps the end of every k-th stage; the nodes between two kept ends are
// one segment. The backward pass replays the segments last to first, each from its kept
// boundary, and differentiates it; the next replay waits (depends) on that segment's
// cotangents, so eval releases one segment's values before it computes the previous one's.
// The peak holds the kept boundaries, one segment's values and the gradients.
#pragma once

#include <vector>

#include "pullback/transforms/trace.h"

namespace pullback {

// The segments of `trace` for checkpoint(..., interval): part s (s < last) returns its kept
// boundary and the next part carries it; the last part returns the trace's outputs. One part,
// the whole trace, where nothing can be cut (no contraction, no frontier, fewer stages than
// `interval` + 1).
std::vector<TracePart> cut_trace(const Trace& trace, int interval);

// Cotangents of `wrt` (inputs and externals of the trace), given the cotangents of its outputs,
// from a vjp of each part in turn, last first. `kept` holds the values of the parts'
// boundaries where the forward pass kept them; empty, they are recomputed from the inputs.
// The first replay (of the last part) waits for `after`.
std::vector<array> segmented_vjp(const Trace& trace, const std::vector<TracePart>& parts,
                                 const std::vector<array>& inputs,
                                 const std::vector<array>& externals,
                                 const std::vector<TraceRef>& wrt,
                                 const std::vector<array>& cotangents, std::vector<array> kept,
                                 const std::vector<array>& after);

}  // namespace pullback
