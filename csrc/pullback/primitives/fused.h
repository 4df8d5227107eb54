// A chain of float32 elementwise ops that compile fused into one pass over memory.
//
// The node's inputs are the chain's leaves (arrays the chain reads but does not compute), all
// of the output's shape (broadcasts stay outside as zero-copy views, which the kernel reads
// with their strides). Its first output is the chain's last value; further outputs are inner
// values that nodes outside the chain also read (an optimizer step's new moments beside the
// new parameter), written in the same pass. The kernel runs the chain block by block (a few
// thousand elements that stay in the L1 cache) with the vectorized kernels of the elementwise
// math table (backend/cpu/simd_math.h), the same ones the unfused ops call, so a fused chain
// gives the unfused chain's bits. The derivative and batching rules transform a replay of the
// unfused chain (`body`).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "pullback/primitives/primitive.h"
#include "pullback/transforms/trace.h"
#include "pullback/transforms/transforms.h"

namespace pullback {

struct FusedStep {
  enum class Kind : uint8_t { unary, binary };
  Kind kind;
  uint8_t op;        // simd::UnaryKind or simd::BinaryKind
  uint16_t a, b;     // source registers (b: binary only)
  uint16_t dst;      // destination register
};

// Registers 0 .. num_leaves-1 hold the leaves; each step writes a new register; the last step
// writes the first output. `outputs[i]` is the register output i holds (outputs[0]: the last
// step's). `buffer[r]` is the scratch block register r lives in (reused once its value is
// dead), -1 for leaves and for outputs (written straight into the output arrays).
struct FusedProgram {
  uint16_t num_leaves = 0;
  uint16_t num_buffers = 0;
  std::vector<FusedStep> steps;
  std::vector<int16_t> buffer;
  std::vector<uint16_t> outputs;
};

class Fused : public Primitive, public std::enable_shared_from_this<Fused> {
 public:
  Fused(Stream s, FusedProgram program, std::shared_ptr<const Trace> body)
      : Primitive(s), program_(std::move(program)), body_(std::move(body)) {}
  const char* name() const override { return "Fused"; }
  void eval_cpu(const std::vector<array>& inputs, std::vector<array>& outputs) override;
  std::vector<array> vjp(const std::vector<array>&, const std::vector<array>&,
                         const std::vector<int>&, const std::vector<array>&) override;
  std::vector<array> jvp(const std::vector<array>&, const std::vector<array>&,
                         const std::vector<int>&) override;
  std::pair<std::vector<array>, std::vector<int>> vmap(const std::vector<array>& inputs,
                                                       const std::vector<int>& axes) override;
  std::vector<Shape> output_shapes(const std::vector<array>& inputs) override;
  bool is_equivalent(const Primitive& other) const override { return this == &other; }
  const FusedProgram& program() const { return program_; }

 private:
  // The unfused chain rebuilt on `leaves`: its values for each output.
  std::vector<array> unfused(const std::vector<array>& leaves) const;
  // The unfused chain as a function of the leaves in `argnums`, the others fixed.
  Fn unfused_of(const std::vector<array>& primals, const std::vector<int>& argnums) const;
  FusedProgram program_;
  std::shared_ptr<const Trace> body_;
};

}  // namespace pullback
