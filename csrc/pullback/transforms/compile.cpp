// compile: trace once, simplify (common subexpressions), fuse elementwise chains, replay.
#include "pullback/transforms/compile.h"

#include <algorithm>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <typeinfo>

#include "pullback/backend/cpu/simd_math.h"
#include "pullback/ops.h"
#include "pullback/primitives/binary.h"
#include "pullback/primitives/fused.h"
#include "pullback/primitives/shape.h"
#include "pullback/primitives/unary.h"

namespace pullback {

namespace {

// The stand-in for an input while the function is traced. It has no data: a value that depends
// on it is not known until the compiled function is called.
class CompilePlaceholder : public UnaryPrimitive {
 public:
  using UnaryPrimitive::UnaryPrimitive;
  const char* name() const override { return "CompilePlaceholder"; }
  void eval_cpu(const std::vector<array>&, array&) override {
    throw std::invalid_argument(
        "[compile] Cannot evaluate an array that depends on an input of a compiled function "
        "while it is traced (Python control flow such as `if x.sum() > 0:`, `.item()`, "
        "boolean-mask indexing `x[mask]`, converting to NumPy or printing): the compiled graph "
        "must not depend on the values. Compute both branches and select with mx.where, pass "
        "the value as a non-array argument (one compilation per value), or do not compile.");
  }
};

// ---- common subexpressions ----

// Primitives whose is_equivalent compares every parameter: the only ones merged.
bool mergeable(const Primitive& p) {
  return dynamic_cast<const Unary*>(&p) || dynamic_cast<const Binary*>(&p) ||
         dynamic_cast<const Select*>(&p) || dynamic_cast<const Broadcast*>(&p);
}

bool same_ref(const TraceRef& a, const TraceRef& b) {
  return a.kind == b.kind && a.index == b.index && a.output == b.output;
}

// Merges nodes that apply an equivalent primitive to the same inputs. Returns the number merged.
size_t merge_common(Trace& t) {
  std::vector<uint32_t> remap(t.nodes.size());
  std::vector<TraceNode> kept;
  std::multimap<std::pair<const char*, std::vector<uint64_t>>, uint32_t> seen;
  auto key_of = [](const TraceNode& n) {
    std::vector<uint64_t> k;
    for (auto& r : n.inputs) {
      k.push_back((uint64_t(r.kind) << 62) | (uint64_t(r.output) << 32) | r.index);
    }
    return std::make_pair(typeid(*n.primitive).name(), std::move(k));
  };
  size_t merged = 0;
  for (size_t k = 0; k < t.nodes.size(); ++k) {
    TraceNode node = std::move(t.nodes[k]);
    for (auto& r : node.inputs) {
      if (r.kind == TraceRef::Kind::node) r.index = remap[r.index];
    }
    if (mergeable(*node.primitive)) {
      auto key = key_of(node);
      auto range = seen.equal_range(key);
      bool found = false;
      for (auto it = range.first; it != range.second; ++it) {
        const TraceNode& other = kept[it->second];
        if (other.dtypes == node.dtypes && other.shapes == node.shapes &&
            other.primitive->is_equivalent(*node.primitive)) {
          remap[k] = it->second;
          found = true;
          break;
        }
      }
      if (found) {
        ++merged;
        continue;
      }
      seen.emplace(std::move(key), static_cast<uint32_t>(kept.size()));
    }
    remap[k] = static_cast<uint32_t>(kept.size());
    kept.push_back(std::move(node));
  }
  t.nodes = std::move(kept);
  for (auto& r : t.outputs) {
    if (r.kind == TraceRef::Kind::node) r.index = remap[r.index];
  }
  return merged;
}

// ---- fusion ----

// The elementwise table's kernel for a node's op, if the node is a float32 op it has.
struct TableOp {
  FusedStep::Kind kind;
  uint8_t op;
};

std::optional<TableOp> table_op(const TraceNode& n) {
  if (n.dtypes.size() != 1 || n.dtypes[0] != Dtype::float32) return std::nullopt;
  using simd::BinaryKind;
  using simd::UnaryKind;
  auto unary = [](UnaryKind k) { return TableOp{FusedStep::Kind::unary, uint8_t(k)}; };
  auto binary = [](BinaryKind k) { return TableOp{FusedStep::Kind::binary, uint8_t(k)}; };
  if (auto* u = dynamic_cast<const Unary*>(n.primitive.get())) {
    switch (u->op()) {
      case UnaryOp::Exp: return unary(UnaryKind::Exp);
      case UnaryOp::Expm1: return unary(UnaryKind::Expm1);
      case UnaryOp::Log: return unary(UnaryKind::Log);
      case UnaryOp::Log1p: return unary(UnaryKind::Log1p);
      case UnaryOp::Sin: return unary(UnaryKind::Sin);
      case UnaryOp::Cos: return unary(UnaryKind::Cos);
      case UnaryOp::Tanh: return unary(UnaryKind::Tanh);
      case UnaryOp::Sigmoid: return unary(UnaryKind::Sigmoid);
      case UnaryOp::Erf: return unary(UnaryKind::Erf);
      case UnaryOp::Sqrt: return unary(UnaryKind::Sqrt);
      case UnaryOp::Negative: return unary(UnaryKind::Negative);
      case UnaryOp::Abs: return unary(UnaryKind::Abs);
      case UnaryOp::Square: return unary(UnaryKind::Square);
      default: return std::nullopt;
    }
  }
  if (auto* b = dynamic_cast<const Binary*>(n.primitive.get())) {
    switch (b->op()) {
      case BinaryOp::Add: return binary(BinaryKind::Add);
      case BinaryOp::Subtract: return binary(BinaryKind::Subtract);
      case BinaryOp::Multiply: return binary(BinaryKind::Multiply);
      case BinaryOp::Divide: return binary(BinaryKind::Divide);
      case BinaryOp::Maximum: return binary(BinaryKind::Maximum);
      case BinaryOp::Minimum: return binary(BinaryKind::Minimum);
      default: return std::nullopt;
    }
  }
  return std::nullopt;
}

const Shape& shape_of(const Trace& t, const TraceRef& r) {
  switch (r.kind) {
    case TraceRef::Kind::input: return t.input_shapes[r.index];
    case TraceRef::Kind::external: return t.external_shapes[r.index];
    default: return t.nodes[r.index].shapes[r.output];
  }
}

Dtype dtype_of(const Trace& t, const TraceRef& r, const std::vector<Dtype>& input_dtypes) {
  switch (r.kind) {
    case TraceRef::Kind::input: return input_dtypes[r.index];
    case TraceRef::Kind::external: return t.externals[r.index].dtype();
    default: return t.nodes[r.index].dtypes[r.output];
  }
}

// One fused chain: the Fused node replacing `members` (ascending node indices; the last is the
// root, whose value is the first output), reading `leaves`; the values of `exports` (members
// that nodes outside the chain read) are its further outputs.
TraceNode fuse_chain(const Trace& t, const std::vector<uint32_t>& members,
                     const std::vector<TableOp>& ops, const std::vector<uint32_t>& exports,
                     Stream stream) {
  std::vector<TraceRef> leaves;
  std::map<uint32_t, uint16_t> member_reg;  // node index -> register
  auto body = std::make_shared<Trace>();
  FusedProgram prog;
  auto leaf_reg = [&](const TraceRef& r) -> uint16_t {
    for (size_t j = 0; j < leaves.size(); ++j) {
      if (same_ref(leaves[j], r)) return static_cast<uint16_t>(j);
    }
    leaves.push_back(r);
    return static_cast<uint16_t>(leaves.size() - 1);
  };
  // Leaves first (registers 0..L-1), then one register per member.
  for (uint32_t m : members) {
    for (auto& r : t.nodes[m].inputs) {
      if (r.kind != TraceRef::Kind::node || !member_reg.count(r.index)) leaf_reg(r);
    }
    member_reg[m] = 0;  // placeholder: numbered below, once the leaves are known
  }
  const uint16_t num_leaves = static_cast<uint16_t>(leaves.size());
  for (size_t i = 0; i < members.size(); ++i) member_reg[members[i]] = num_leaves + i;
  prog.num_leaves = num_leaves;
  for (auto& r : leaves) body->input_shapes.push_back(shape_of(t, r));
  auto reg_of = [&](const TraceRef& r) -> uint16_t {
    if (r.kind == TraceRef::Kind::node) {
      auto it = member_reg.find(r.index);
      if (it != member_reg.end()) return it->second;
    }
    return leaf_reg(r);
  };
  for (size_t i = 0; i < members.size(); ++i) {
    const TraceNode& node = t.nodes[members[i]];
    FusedStep step{ops[i].kind, ops[i].op, reg_of(node.inputs[0]),
                   node.inputs.size() > 1 ? reg_of(node.inputs[1]) : uint16_t(0),
                   static_cast<uint16_t>(num_leaves + i)};
    prog.steps.push_back(step);
    TraceNode copy = node;
    for (auto& r : copy.inputs) {
      uint16_t reg = reg_of(r);
      r = reg < num_leaves ? TraceRef{TraceRef::Kind::input, reg, 0}
                           : TraceRef{TraceRef::Kind::node, uint32_t(reg - num_leaves), 0};
    }
    body->nodes.push_back(std::move(copy));
  }
  body->outputs.push_back({TraceRef::Kind::node, uint32_t(members.size() - 1), 0});
  prog.outputs.push_back(member_reg[members.back()]);
  for (uint32_t e : exports) {
    const uint32_t position = member_reg[e] - num_leaves;
    body->outputs.push_back({TraceRef::Kind::node, position, 0});
    prog.outputs.push_back(member_reg[e]);
  }

  // Scratch blocks: a member's block is reused once its last reader has run.
  const size_t num_regs = num_leaves + members.size();
  std::vector<size_t> last_use(num_regs, 0);
  for (size_t k = 0; k < prog.steps.size(); ++k) {
    last_use[prog.steps[k].a] = k;
    if (prog.steps[k].kind == FusedStep::Kind::binary) last_use[prog.steps[k].b] = k;
  }
  std::vector<int16_t> pool;  // blocks free for reuse
  int16_t count = 0;
  prog.buffer.assign(num_regs, -1);
  for (size_t k = 0; k + 1 < prog.steps.size(); ++k) {
    const FusedStep& step = prog.steps[k];
    const bool exported =
        std::find(prog.outputs.begin(), prog.outputs.end(), step.dst) != prog.outputs.end();
    if (!exported) {  // an export lives in its output array
      int16_t b = count;
      if (pool.empty()) {
        ++count;
      } else {
        b = pool.back();
        pool.pop_back();
      }
      prog.buffer[step.dst] = b;
    }
    const bool binary = step.kind == FusedStep::Kind::binary;
    for (uint16_t src : {step.a, binary ? step.b : step.a}) {
      if (src >= num_leaves && last_use[src] == k && prog.buffer[src] >= 0 &&
          std::find(pool.begin(), pool.end(), prog.buffer[src]) == pool.end()) {
        pool.push_back(prog.buffer[src]);
      }
    }
  }
  prog.num_buffers = static_cast<uint16_t>(count);

  TraceNode fused;
  fused.primitive = std::make_shared<Fused>(stream, std::move(prog), std::move(body));
  fused.inputs = leaves;
  fused.shapes.assign(1 + exports.size(), t.nodes[members.back()].shapes[0]);
  fused.dtypes.assign(1 + exports.size(), Dtype::float32);
  return fused;
}

// Replaces each chain of float32 table ops by one Fused node. A chain grows by absorbing the
// chains its members read; a member whose value nodes outside the chain also read (or that is
// an output of the graph) becomes an extra output of the Fused node, which takes the place of
// the chain's last member. So a chain absorbs another only when every such outside reader comes
// after that place. Returns the number of chains fused.
size_t fuse_chains(Trace& t, const std::vector<Dtype>& input_dtypes, Stream stream) {
  const size_t n = t.nodes.size();
  std::vector<std::optional<TableOp>> op(n);
  std::vector<std::vector<uint32_t>> readers(n);  // distinct nodes reading each node, ascending
  std::vector<bool> graph_output(n, false);
  for (size_t k = 0; k < n; ++k) {
    op[k] = table_op(t.nodes[k]);
    for (auto& r : t.nodes[k].inputs) {
      if (r.kind != TraceRef::Kind::node) continue;
      auto& list = readers[r.index];
      if (list.empty() || list.back() != k) list.push_back(static_cast<uint32_t>(k));
    }
  }
  for (auto& r : t.outputs) {
    if (r.kind == TraceRef::Kind::node) graph_output[r.index] = true;
  }
  auto in_chain = [](const std::vector<uint32_t>& members, uint32_t m) {
    return std::binary_search(members.begin(), members.end(), m);
  };
  // chain[k]: the members (ascending) of the chain whose root so far is k.
  std::vector<std::vector<uint32_t>> chain(n);
  std::vector<bool> absorbed(n, false);
  for (size_t k = 0; k < n; ++k) {
    if (!op[k]) continue;
    bool inputs_f32 = true;
    for (auto& r : t.nodes[k].inputs) {
      inputs_f32 = inputs_f32 && dtype_of(t, r, input_dtypes) == Dtype::float32 &&
                   shape_of(t, r) == t.nodes[k].shapes[0];
    }
    if (!inputs_f32) continue;
    std::vector<uint32_t> members;
    for (auto& r : t.nodes[k].inputs) {
      if (r.kind != TraceRef::Kind::node || absorbed[r.index] || !op[r.index]) continue;
      const auto& theirs = chain[r.index];
      if (theirs.empty()) continue;
      bool joins = true;  // no outside reader of theirs comes before k
      for (uint32_t m : theirs) {
        for (uint32_t j : readers[m]) joins = joins && (j >= k || in_chain(theirs, j));
      }
      if (!joins) continue;
      members.insert(members.end(), theirs.begin(), theirs.end());
      absorbed[r.index] = true;
      chain[r.index].clear();
    }
    members.push_back(static_cast<uint32_t>(k));
    std::sort(members.begin(), members.end());
    chain[k] = std::move(members);
  }
  // Rebuild: a chain's root becomes its Fused node; its other members go, and a reference to
  // an exported member becomes one to the Fused node's output for it.
  std::vector<TraceNode> out;
  std::vector<uint32_t> new_index(n, 0);
  std::vector<uint32_t> fused_output(n, 0);  // a fused member's output of its Fused node
  std::vector<bool> gone(n, false);
  size_t fused = 0;
  for (size_t k = 0; k < n; ++k) {
    if (chain[k].size() >= 2) {
      for (uint32_t m : chain[k]) gone[m] = m != k;
    }
  }
  for (size_t k = 0; k < n; ++k) {
    if (gone[k]) continue;
    TraceNode node;
    const uint32_t here = static_cast<uint32_t>(out.size());
    if (chain[k].size() >= 2) {
      const auto& members = chain[k];
      std::vector<TableOp> ops;
      std::vector<uint32_t> exports;
      for (uint32_t m : members) {
        ops.push_back(*op[m]);
        if (m == k) continue;
        bool outside = graph_output[m];
        for (uint32_t j : readers[m]) outside = outside || !in_chain(members, j);
        if (!outside) continue;
        exports.push_back(m);
        new_index[m] = here;
        fused_output[m] = static_cast<uint32_t>(exports.size());
      }
      node = fuse_chain(t, members, ops, exports, stream);
      ++fused;
    } else {
      node = t.nodes[k];
    }
    for (auto& r : node.inputs) {
      if (r.kind != TraceRef::Kind::node) continue;
      if (gone[r.index]) r.output = fused_output[r.index];
      r.index = new_index[r.index];
    }
    new_index[k] = here;
    out.push_back(std::move(node));
  }
  t.nodes = std::move(out);
  for (auto& r : t.outputs) {
    if (r.kind != TraceRef::Kind::node) continue;
    if (gone[r.index]) r.output = fused_output[r.index];
    r.index = new_index[r.index];
  }
  return fused;
}

bool is_elementwise(const Primitive& p) {
  return dynamic_cast<const Unary*>(&p) || dynamic_cast<const Binary*>(&p) ||
         dynamic_cast<const Select*>(&p) || dynamic_cast<const Fused*>(&p);
}

}  // namespace

std::shared_ptr<const CompiledGraph> compile_function(const Fn& fn,
                                                      const std::vector<array>& inputs) {
  uint64_t start = next_array_stamp();
  Stream stream = current_stream();
  std::vector<array> placeholders;
  std::vector<Dtype> dtypes;
  for (auto& in : inputs) {
    array p(in.shape(), in.dtype(), std::make_shared<CompilePlaceholder>(stream), {});
    p.set_tracer(true);
    placeholders.push_back(std::move(p));
    dtypes.push_back(in.dtype());
  }
  std::vector<array> outputs;
  {
    TraceScope scope;
    outputs = fn(placeholders);
  }
  auto graph = std::make_shared<CompiledGraph>();
  graph->trace = trace_function(outputs, placeholders, start);
  Trace& t = graph->trace;
  for (auto& e : t.externals) {
    bool is_broadcast = e.has_primitive() && dynamic_cast<const Broadcast*>(&e.primitive());
    graph->broadcast_sources.push_back(is_broadcast ? e.inputs()[0] : array());
  }
  graph->merged = merge_common(t);
  graph->fused = fuse_chains(t, dtypes, stream);
  return graph;
}

std::vector<array> compiled_call(const CompiledGraph& graph, const std::vector<array>& inputs) {
  const Trace& t = graph.trace;
  bool same_shapes = inputs.size() == t.input_shapes.size();
  for (size_t i = 0; same_shapes && i < inputs.size(); ++i) {
    same_shapes = inputs[i].shape() == t.input_shapes[i];
  }
  if (same_shapes) return replay(t, inputs, t.externals);
  if (inputs.size() != t.input_shapes.size()) {
    throw std::invalid_argument("[compile] The compiled graph takes " +
                                std::to_string(t.input_shapes.size()) + " inputs; got " +
                                std::to_string(inputs.size()) + ".");
  }
  // New shapes (shapeless): every node's shape follows from its inputs'. A broadcast the trace
  // made to the traced shapes is dropped, and elementwise ops broadcast their operands again
  // to the shapes they now meet.
  std::vector<std::vector<array>> values(t.nodes.size());
  auto value = [&](const TraceRef& r, bool elementwise) -> array {
    switch (r.kind) {
      case TraceRef::Kind::input: return inputs[r.index];
      case TraceRef::Kind::external: {
        const array& src = graph.broadcast_sources[r.index];
        return elementwise && src.valid() ? src : t.externals[r.index];
      }
      default: return values[r.index][r.output];
    }
  };
  std::vector<array> ins;
  for (size_t k = 0; k < t.nodes.size(); ++k) {
    const TraceNode& node = t.nodes[k];
    const bool elementwise = is_elementwise(*node.primitive);
    ins.clear();
    for (auto& r : node.inputs) ins.push_back(value(r, elementwise));
    if (dynamic_cast<const Broadcast*>(node.primitive.get())) {
      values[k] = {ins[0]};
      continue;
    }
    if (elementwise) {
      Shape target = ins[0].shape();
      for (auto& a : ins) target = broadcast_shapes(target, a.shape());
      for (auto& a : ins) {
        if (a.shape() != target) a = broadcast_to(a, target);
      }
    }
    values[k] = array::make_arrays(node.primitive->output_shapes(ins), node.dtypes,
                                   node.primitive, ins);
  }
  std::vector<array> out;
  for (auto& r : t.outputs) out.push_back(value(r, false));
  return out;
}

}  // namespace pullback
