// Cutting a traced forward into segments (frontiers, stages) and the segment-by-segment vjp of
// checkpoint(fun, interval=k). segments.h states the rules.
#include "pullback/transforms/segments.h"

#include <algorithm>
#include <numeric>
#include <stdexcept>

#include "pullback/ops.h"
#include "pullback/primitives/attention.h"
#include "pullback/primitives/conv.h"
#include "pullback/primitives/custom.h"
#include "pullback/primitives/matmul.h"

namespace pullback {

namespace {

constexpr uint32_t kUnset = UINT32_MAX;

// The work of a layer: a stage holds at least one of these.
bool is_contraction(const Primitive& p) {
  return dynamic_cast<const Matmul*>(&p) || dynamic_cast<const Convolution*>(&p) ||
         dynamic_cast<const ScaledDotProductAttention*>(&p) ||
         dynamic_cast<const CustomTransforms*>(&p);
}

// The dominator tree of the trace read backwards: the root (index n, standing for the caller
// that reads the outputs) reaches a node through its consumers. Node u's immediate dominator is
// the nearest node every path from the root to u passes through.
struct Dominators {
  std::vector<uint32_t> idom, depth;
  std::vector<bool> is_output;
};

// Reads of free nodes (see cut_trace) are reads of leaves: they are left out.
bool reads_bound(const TraceRef& r, const std::vector<bool>& free) {
  return r.kind == TraceRef::Kind::node && !free[r.index];
}

Dominators dominators(const Trace& trace, const std::vector<bool>& free) {
  const uint32_t n = static_cast<uint32_t>(trace.nodes.size());
  std::vector<std::vector<uint32_t>> consumers(n);
  Dominators d;
  d.is_output.assign(n, false);
  for (uint32_t k = 0; k < n; ++k) {
    if (free[k]) continue;
    for (auto& r : trace.nodes[k].inputs) {
      if (reads_bound(r, free)) consumers[r.index].push_back(k);
    }
  }
  for (auto& r : trace.outputs) {
    if (reads_bound(r, free)) d.is_output[r.index] = true;
  }
  d.idom.assign(n + 1, n);
  d.depth.assign(n + 1, 0);
  auto common = [&d](uint32_t a, uint32_t b) {
    while (a != b) {
      if (d.depth[a] >= d.depth[b]) a = d.idom[a];
      if (d.depth[b] > d.depth[a]) b = d.idom[b];
    }
    return a;
  };
  // Consumers come after their inputs in the topological order: walking it backwards, each
  // node's consumers already have their dominators (the nearest common one of theirs is u's).
  for (uint32_t k = n; k-- > 0;) {
    uint32_t dom = d.is_output[k] ? n : kUnset;
    for (uint32_t c : consumers[k]) dom = dom == kUnset ? c : common(dom, c);
    if (dom == kUnset) dom = n;  // read by nothing (a sibling output): only the caller
    d.idom[k] = dom;
    d.depth[k] = d.depth[dom] + 1;
  }
  return d;
}

// Which nodes are frontiers (segments.h). Node v is not one exactly when some node u that v
// dominates (or v itself) reads a node p that v does not dominate: then v lies on the
// dominator-tree path from u up to, not including, idom(p) (idom(p) dominates every consumer of
// p, so it is on u's path). Each edge marks that path; skip pointers over marked nodes keep the
// total work near linear.
std::vector<bool> frontiers(const Trace& trace, const Dominators& d,
                            const std::vector<bool>& free) {
  const uint32_t n = static_cast<uint32_t>(trace.nodes.size());
  std::vector<uint32_t> up(n + 1);
  std::iota(up.begin(), up.end(), 0u);
  std::vector<bool> ruled_out(n + 1, false);
  auto unmarked = [&up](uint32_t x) {
    while (up[x] != x) {
      up[x] = up[up[x]];
      x = up[x];
    }
    return x;
  };
  for (uint32_t u = 0; u < n; ++u) {
    if (free[u]) continue;
    for (auto& r : trace.nodes[u].inputs) {
      if (!reads_bound(r, free)) continue;
      const uint32_t stop_depth = d.depth[d.idom[r.index]];
      for (uint32_t x = unmarked(u); d.depth[x] > stop_depth; x = unmarked(d.idom[x])) {
        ruled_out[x] = true;
        up[x] = d.idom[x];
      }
    }
  }
  std::vector<bool> out(n, false);
  for (uint32_t v = 0; v < n; ++v) {
    const TraceNode& node = trace.nodes[v];
    out[v] = !free[v] && !ruled_out[v] && !d.is_output[v] && node.shapes.size() == 1 &&
             is_inexact(node.dtypes[0]);
  }
  return out;
}

// The longest chain of frontiers: the dominator-tree path from the root with the most of them
// (frontiers on one root path are each an ancestor of the next). Deepest (earliest) first.
std::vector<uint32_t> frontier_chain(const Dominators& d, const std::vector<bool>& frontier) {
  const uint32_t n = static_cast<uint32_t>(frontier.size());
  std::vector<uint32_t> below(n + 1, 0), best_child(n + 1, kUnset);
  // Children come before their dominator in the topological order.
  for (uint32_t k = 0; k < n; ++k) {
    uint32_t along = below[k] + (frontier[k] ? 1 : 0), parent = d.idom[k];
    if (best_child[parent] == kUnset || along > below[parent]) {
      below[parent] = along;
      best_child[parent] = k;
    }
  }
  std::vector<uint32_t> chain;
  for (uint32_t v = best_child[n]; v != kUnset; v = best_child[v]) {
    if (frontier[v]) chain.push_back(v);
  }
  std::reverse(chain.begin(), chain.end());
  return chain;
}

}  // namespace

std::vector<TracePart> cut_trace(const Trace& trace, int interval) {
  const uint32_t n = static_cast<uint32_t>(trace.nodes.size());
  std::vector<TracePart> whole(1);
  whole[0].nodes.resize(n);
  std::iota(whole[0].nodes.begin(), whole[0].nodes.end(), 0u);
  whole[0].results = trace.outputs;
  if (interval < 1 || n == 0) return whole;

  // Free nodes: computed from the inputs and externals without a contraction (a transposed
  // weight, a mask, a slice of an argument). Every segment that reads one recomputes it, so
  // one computed once and read by every layer does not tie the layers together.
  std::vector<bool> free(n), contracts(n);
  for (uint32_t k = 0; k < n; ++k) {
    contracts[k] = is_contraction(*trace.nodes[k].primitive);
    bool f = !contracts[k];
    for (auto& r : trace.nodes[k].inputs) f = f && !reads_bound(r, free);
    free[k] = f;
  }
  Dominators d = dominators(trace, free);
  std::vector<uint32_t> chain = frontier_chain(d, frontiers(trace, d, free));
  const uint32_t links = static_cast<uint32_t>(chain.size());
  // Gap i: the nodes that chain[i] dominates and chain[i - 1] does not; gap `links`: the rest.
  // A node's gap is that of the nearest chain frontier dominating it.
  std::vector<uint32_t> gap(n + 1, links), link(n + 1, kUnset);
  for (uint32_t i = 0; i < links; ++i) link[chain[i]] = i;
  std::vector<bool> gap_contracts(links + 1, false);
  for (uint32_t k = n; k-- > 0;) {
    if (free[k]) continue;
    gap[k] = link[k] != kUnset ? link[k] : gap[d.idom[k]];
    if (contracts[k]) gap_contracts[gap[k]] = true;
  }
  // Stage ends: the last frontier before a contraction, once the stage has one.
  std::vector<uint32_t> stage_ends;
  bool contracted = false;
  for (uint32_t i = 0; i < links; ++i) {
    contracted = contracted || gap_contracts[i];
    if (contracted && gap_contracts[i + 1]) {
      stage_ends.push_back(i);
      contracted = false;
    }
  }
  // The kept ends (chain positions) and the segment of each gap.
  std::vector<uint32_t> kept;
  for (size_t s = static_cast<size_t>(interval); s <= stage_ends.size(); s += interval) {
    kept.push_back(stage_ends[s - 1]);
  }
  if (kept.empty()) return whole;
  std::vector<uint32_t> segment_of_gap(links + 1);
  for (uint32_t i = 0, s = 0; i <= links; ++i) {
    segment_of_gap[i] = s;
    if (s < kept.size() && kept[s] == i) ++s;
  }
  std::vector<TracePart> parts(kept.size() + 1);
  std::vector<std::vector<bool>> member(parts.size(), std::vector<bool>(n, false));
  for (uint32_t k = 0; k < n; ++k) {
    if (!free[k]) member[segment_of_gap[gap[k]]][k] = true;
  }
  for (size_t s = 0; s < parts.size(); ++s) {
    TracePart& part = parts[s];
    if (s > 0) {
      part.has_carried = true;
      part.carried = TraceRef{TraceRef::Kind::node, chain[kept[s - 1]], 0};
    }
    if (s < kept.size()) {
      part.results = {TraceRef{TraceRef::Kind::node, chain[kept[s]], 0}};
    } else {
      part.results = trace.outputs;
    }
    // The free nodes the part reads, and theirs: later nodes first, so one pass finds them.
    std::vector<bool>& in = member[s];
    for (auto& r : part.results) {
      if (r.kind == TraceRef::Kind::node && free[r.index]) in[r.index] = true;
    }
    for (uint32_t k = n; k-- > 0;) {
      if (!in[k]) continue;
      for (auto& r : trace.nodes[k].inputs) {
        if (r.kind == TraceRef::Kind::node && free[r.index]) in[r.index] = true;
      }
    }
    for (uint32_t k = 0; k < n; ++k) {
      if (in[k]) part.nodes.push_back(k);
    }
  }
  return parts;
}

namespace {

bool same_leaf(const TraceRef& a, const TraceRef& b) {
  return a.kind == b.kind && a.index == b.index;
}

// Whether the part reads input or external `ref` (in a node or as a result).
bool part_reads(const Trace& trace, const TracePart& part, const TraceRef& ref) {
  for (auto& r : part.results) {
    if (same_leaf(r, ref)) return true;
  }
  for (uint32_t k : part.nodes) {
    for (auto& r : trace.nodes[k].inputs) {
      if (same_leaf(r, ref)) return true;
    }
  }
  return false;
}

}  // namespace

std::vector<array> segmented_vjp(const Trace& trace, const std::vector<TracePart>& parts,
                                 const std::vector<array>& inputs,
                                 const std::vector<array>& externals,
                                 const std::vector<TraceRef>& wrt,
                                 const std::vector<array>& cotangents, std::vector<array> kept,
                                 const std::vector<array>& after) {
  auto leaf = [&](const TraceRef& r) -> const array& {
    return r.kind == TraceRef::Kind::input ? inputs.at(r.index) : externals.at(r.index);
  };
  if (kept.size() + 1 != parts.size()) {
    // Recomputed lazily, one part after the other: evaluating them keeps only the boundaries.
    kept.clear();
    array carried;
    for (size_t s = 0; s + 1 < parts.size(); ++s) {
      carried = replay(trace, parts[s], inputs, externals, carried).at(0);
      kept.push_back(carried);
    }
  }
  std::vector<array> result(wrt.size());
  std::vector<array> cts = cotangents;
  std::vector<array> done = after;  // what the next replay waits for: the later part's backward
  for (size_t s = parts.size(); s-- > 0;) {
    const TracePart& part = parts[s];
    std::vector<size_t> read;  // positions in `wrt` that this part reads
    for (size_t k = 0; k < wrt.size(); ++k) {
      if (part_reads(trace, part, wrt[k])) read.push_back(k);
    }
    const size_t first = part.has_carried ? 1 : 0;
    std::vector<array> xs;
    if (part.has_carried) {
      // The replay of this part waits for the later part's backward pass: eval then releases
      // the later part's values before it computes this one's.
      xs.push_back(done.empty() ? kept[s - 1] : depends({kept[s - 1]}, done)[0]);
    }
    for (size_t k : read) xs.push_back(leaf(wrt[k]));
    Fn fn = [&](const std::vector<array>& args) {
      std::vector<array> ins = inputs, exts = externals;
      for (size_t j = 0; j < read.size(); ++j) {
        const TraceRef& r = wrt[read[j]];
        (r.kind == TraceRef::Kind::input ? ins : exts)[r.index] = args[first + j];
      }
      return replay(trace, part, ins, exts, part.has_carried ? args[0] : array());
    };
    done = vjp(fn, xs, cts).second;
    for (size_t j = 0; j < read.size(); ++j) {
      array& r = result[read[j]];
      r = r.valid() ? add(r, done[first + j]) : done[first + j];
    }
    if (part.has_carried) cts = {done[0]};
  }
  for (size_t k = 0; k < wrt.size(); ++k) {
    if (!result[k].valid()) result[k] = zeros_like(leaf(wrt[k]));
  }
  return result;
}

}  // namespace pullback
