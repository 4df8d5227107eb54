// The CPU kernel of Fused: a chain of float32 elementwise ops in one pass over memory.
//
// Written by hand rather than generated and compiled at run time (as MLX does with a C++
// compiler): the chain is interpreted per block of kBlock elements, each step calling the
// vectorized kernel of the elementwise table on the block. A block's registers stay in the L1
// cache, so memory sees one read of each leaf and one write of each output, the interpretation
// costs one indirect call per step and block, and the bits are those of the unfused kernels.
#include <algorithm>
#include <cmath>
#include <vector>

#include "pullback/backend/cpu/parallel.h"
#include "pullback/backend/cpu/simd_math.h"
#include "pullback/backend/cpu/strided.h"
#include "pullback/primitives/fused.h"

namespace pullback {

namespace {

constexpr size_t kBlock = 2048;

// How the kernel reads a leaf: one value for every element (a broadcast scalar), a row-major
// run, or elements at `strides` gathered into a scratch block.
struct LeafLayout {
  enum class Mode { scalar, contiguous, strided } mode;
  const float* data;
  Strides strides;
};

LeafLayout layout_of(const array& a) {
  const float* p = a.data<float>();
  bool all_zero = true;
  for (auto s : a.strides()) all_zero = all_zero && s == 0;
  if (a.size() == 1 || all_zero) return {LeafLayout::Mode::scalar, p, {}};
  if (a.flags().row_contiguous) return {LeafLayout::Mode::contiguous, p, {}};
  return {LeafLayout::Mode::strided, p, a.strides()};
}

// Copies elements [begin, begin + n) (row-major positions of `shape`) of a strided leaf.
void gather(const LeafLayout& leaf, const Shape& shape, size_t begin, size_t n, float* dst) {
  const int nd = static_cast<int>(shape.size());
  std::vector<int64_t> idx(nd);
  int64_t off = 0;
  size_t r = begin;
  for (int d = nd - 1; d >= 0; --d) {
    idx[d] = static_cast<int64_t>(r % static_cast<size_t>(shape[d]));
    r /= static_cast<size_t>(shape[d]);
    off += idx[d] * leaf.strides[d];
  }
  const int64_t last = leaf.strides[nd - 1], width = shape[nd - 1];
  for (size_t i = 0; i < n;) {
    // The rest of the current row in one stride loop, then carry into the outer axes.
    const size_t run = std::min(n - i, static_cast<size_t>(width - idx[nd - 1]));
    const float* src = leaf.data + off;
    for (size_t j = 0; j < run; ++j) dst[i + j] = src[static_cast<int64_t>(j) * last];
    i += run;
    off += static_cast<int64_t>(run) * last;
    idx[nd - 1] += static_cast<int64_t>(run);
    for (int d = nd - 1; d > 0 && idx[d] == shape[d]; --d) {
      off -= idx[d] * leaf.strides[d];
      idx[d] = 0;
      ++idx[d - 1];
      off += leaf.strides[d - 1];
    }
  }
}

// A register's value within one block.
struct Reg {
  const float* p;  // kBlock-long run, or null for a scalar
  float s;
};

// What the kernel runs for a program, once the leaves' layouts are known: its steps, with each
// run of additions, subtractions and multiplications by a scalar leaf (and negations) that
// carries one value along merged into one affine step (simd::AffineKernel), which keeps the
// value in registers instead of writing and reading a block per step.
struct PlanStep {
  FusedStep step;
  bool affine = false;
  uint32_t first = 0, count = 0;  // its factors and terms in Plan::mul / Plan::add
};

struct Plan {
  std::vector<PlanStep> steps;
  std::vector<float> mul, add;
};

Plan plan_of(const FusedProgram& prog, const std::vector<LeafLayout>& leaves) {
  const size_t num_regs = prog.buffer.size();
  std::vector<bool> is_output(num_regs, false);
  for (uint16_t r : prog.outputs) is_output[r] = true;
  std::vector<bool> scalar(num_regs, false);
  for (size_t i = 0; i < leaves.size(); ++i) scalar[i] = leaves[i].mode == LeafLayout::Mode::scalar;
  std::vector<size_t> last_use(num_regs, 0);
  for (size_t k = 0; k < prog.steps.size(); ++k) {
    last_use[prog.steps[k].a] = k;
    if (prog.steps[k].kind == FusedStep::Kind::binary) last_use[prog.steps[k].b] = k;
  }
  Plan plan;
  for (size_t k = 0; k < prog.steps.size(); ++k) {
    const FusedStep& st = prog.steps[k];
    const bool binary = st.kind == FusedStep::Kind::binary;
    scalar[st.dst] = scalar[st.a] && (!binary || scalar[st.b]);
    // x * m + c, exactly as the step rounds: x + c = x * 1 + c, x * m = x * m + (-0), which
    // keeps the sign of a zero product, c - x = x * -1 + c, -x = x * -1 + (-0).
    bool affine = false;
    uint16_t from = st.a;
    float m = 1.f, c = -0.f;
    if (!scalar[st.dst]) {
      if (!binary && st.op == uint8_t(simd::UnaryKind::Negative)) {
        affine = true;
        m = -1.f;
      } else if (binary) {
        const bool a_leaf = st.a < prog.num_leaves && scalar[st.a];
        const bool b_leaf = st.b < prog.num_leaves && scalar[st.b];
        if (a_leaf != b_leaf) {
          const float v = a_leaf ? leaves[st.a].data[0] : leaves[st.b].data[0];
          from = a_leaf ? st.b : st.a;
          affine = true;
          switch (simd::BinaryKind(st.op)) {
            case simd::BinaryKind::Add: c = v; break;
            case simd::BinaryKind::Subtract:
              if (b_leaf) c = -v;
              else m = -1.f, c = v;
              break;
            case simd::BinaryKind::Multiply: m = v; break;
            default: affine = false;
          }
        }
      }
    }
    if (!affine) {
      plan.steps.push_back({st});
      continue;
    }
    PlanStep* prev = plan.steps.empty() ? nullptr : &plan.steps.back();
    // An output's value must be written, so a run does not merge across it.
    if (prev && prev->affine && prev->step.dst == from && last_use[from] == k &&
        !is_output[from]) {
      prev->step.dst = st.dst;
      // A product then a sum is one step: (x * m + (-0)) + c = x * m + c, bit for bit, since
      // adding -0 changes nothing and multiplying by 1 is exact.
      if (m == 1.f && std::signbit(plan.add.back()) && plan.add.back() == 0.f) {
        plan.add.back() = c;
        continue;
      }
      ++prev->count;
    } else {
      PlanStep p{st, true, static_cast<uint32_t>(plan.mul.size()), 1};
      p.step.a = from;
      plan.steps.push_back(p);
    }
    plan.mul.push_back(m);
    plan.add.push_back(c);
  }
  return plan;
}

}  // namespace

namespace {

// Gives each output a leaf's buffer where one is free to take: a row-contiguous leaf of the
// output's size that nothing else holds and that no step after the output's is to read (a
// step reading and writing the same element is fine: every kernel is elementwise). In place,
// a step like Adam's, which reads four arrays and writes three, moves 28 bytes an element
// instead of 40 (a write to a fresh buffer first reads its cache line).
void allocate_outputs(const std::vector<array>& inputs, const std::vector<LeafLayout>& leaves,
                      const FusedProgram& prog, const Plan& plan, std::vector<array>& outputs) {
  const size_t num_steps = plan.steps.size();
  std::vector<size_t> last_read(inputs.size(), 0);
  std::vector<size_t> written_at(prog.buffer.size(), num_steps);  // scalar-only: at the end
  for (size_t k = 0; k < num_steps; ++k) {
    const PlanStep& ps = plan.steps[k];
    if (ps.step.a < inputs.size()) last_read[ps.step.a] = k;
    if (!ps.affine && ps.step.kind == FusedStep::Kind::binary && ps.step.b < inputs.size()) {
      last_read[ps.step.b] = k;
    }
    written_at[ps.step.dst] = k;
  }
  // The outputs written earliest have the fewest leaves to choose from: they choose first.
  std::vector<size_t> order(outputs.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t x, size_t y) {
    return written_at[prog.outputs[x]] < written_at[prog.outputs[y]];
  });
  std::vector<bool> taken(inputs.size(), false);
  for (size_t i : order) {
    array& out = outputs[i];
    const uint16_t reg = prog.outputs[i];
    bool donated = false;
    for (size_t j = 0; j < inputs.size() && !donated && reg >= inputs.size(); ++j) {
      const array& in = inputs[j];
      if (taken[j] || leaves[j].mode != LeafLayout::Mode::contiguous || in.size() != out.size() ||
          in.dtype() != out.dtype() || last_read[j] > written_at[reg] || !in.is_donatable()) {
        continue;
      }
      out.copy_shared_buffer(in, row_major_strides(out.shape()), ArrayFlags{}, out.size());
      taken[j] = donated = true;
    }
    if (!donated) out.set_data(std::make_shared<Data>(out.nbytes()));
  }
}

}  // namespace

void Fused::eval_cpu(const std::vector<array>& inputs, std::vector<array>& outputs) {
  const FusedProgram& prog = program_;
  if (outputs[0].size() == 0) {
    for (auto& o : outputs) o.set_data(std::make_shared<Data>(o.nbytes()));
    return;
  }
  std::vector<LeafLayout> leaves;
  size_t num_strided = 0;
  for (auto& in : inputs) {
    leaves.push_back(layout_of(in));
    num_strided += leaves.back().mode == LeafLayout::Mode::strided;
  }
  const Plan plan = plan_of(prog, leaves);
  allocate_outputs(inputs, leaves, prog, plan, outputs);
  const array& out = outputs[0];
  const size_t size = out.size();
  const Shape& shape = out.shape();
  const simd::KernelTable& table = simd::kernels();
  const size_t num_regs = prog.buffer.size();
  std::vector<float*> output_of(num_regs, nullptr);  // where an output register is written
  for (size_t i = 0; i < outputs.size(); ++i) output_of[prog.outputs[i]] = outputs[i].data<float>();

  // A program of many steps does that many elementwise ops' work per element: it splits
  // over the pool at as many times fewer elements (an optimizer's update of a 256 x 256
  // weight ran on one thread).
  const size_t grain =
      std::max(kBlock, cpu::kElementwiseGrain / std::max<size_t>(1, prog.steps.size()));
  cpu::parallel_for(size, grain, [&](size_t begin, size_t end) {
    std::vector<float> scratch((prog.num_buffers + num_strided) * kBlock);
    std::vector<Reg> regs(num_regs);
    for (size_t start = begin; start < end; start += kBlock) {
      const size_t n = std::min(kBlock, end - start);
      float* next_gather = scratch.data() + prog.num_buffers * kBlock;
      for (size_t i = 0; i < leaves.size(); ++i) {
        const LeafLayout& leaf = leaves[i];
        switch (leaf.mode) {
          case LeafLayout::Mode::scalar: regs[i] = {nullptr, leaf.data[0]}; break;
          case LeafLayout::Mode::contiguous: regs[i] = {leaf.data + start, 0.f}; break;
          case LeafLayout::Mode::strided:
            gather(leaf, shape, start, n, next_gather);
            regs[i] = {next_gather, 0.f};
            next_gather += kBlock;
            break;
        }
      }
      for (const PlanStep& ps : plan.steps) {
        const FusedStep& step = ps.step;
        float* dst = output_of[step.dst] ? output_of[step.dst] + start
                                         : scratch.data() + prog.buffer[step.dst] * kBlock;
        const Reg a = regs[step.a];
        Reg& result = regs[step.dst];
        if (ps.affine) {
          table.affine(a.p, dst, n, plan.mul.data() + ps.first, plan.add.data() + ps.first,
                       ps.count);
          result = {dst, 0.f};
        } else if (step.kind == FusedStep::Kind::unary) {
          simd::UnaryKernel f = table.unary[step.op];
          if (a.p) {
            f(a.p, dst, n);
            result = {dst, 0.f};
          } else {
            f(&a.s, &result.s, 1);
            result.p = nullptr;
          }
        } else {
          const Reg b = regs[step.b];
          const simd::BinaryKernel* f = table.binary[step.op];
          if (a.p && b.p) {
            f[size_t(simd::Operands::VectorVector)](a.p, b.p, dst, n);
          } else if (b.p) {
            f[size_t(simd::Operands::ScalarVector)](&a.s, b.p, dst, n);
          } else if (a.p) {
            f[size_t(simd::Operands::VectorScalar)](a.p, &b.s, dst, n);
          } else {
            float s;
            f[size_t(simd::Operands::VectorVector)](&a.s, &b.s, &s, 1);
            result = {nullptr, s};
            continue;
          }
          result = {dst, 0.f};
        }
      }
      // A value computed from broadcast scalars only still fills its output.
      for (uint16_t r : prog.outputs) {
        if (!regs[r].p) std::fill(output_of[r] + start, output_of[r] + start + n, regs[r].s);
      }
    }
  });
}

}  // namespace pullback
