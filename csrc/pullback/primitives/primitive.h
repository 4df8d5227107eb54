// The interface every primitive implements: kernels per device, derivative rules,
// batching rule, equivalence (for graph simplification) and output shapes.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "pullback/array.h"

namespace pullback {

class Primitive {
 public:
  explicit Primitive(Stream stream) : stream_(stream) {}
  virtual ~Primitive() = default;
  Primitive(const Primitive&) = delete;
  Primitive& operator=(const Primitive&) = delete;

  const Stream& stream() const { return stream_; }
  Device device() const { return stream_.device; }

  // The primitive's name as it appears in error messages, e.g. "Add".
  virtual const char* name() const = 0;

  // Compute `outputs` (already shaped, without data) from evaluated `inputs`.
  virtual void eval_cpu(const std::vector<array>& inputs, std::vector<array>& outputs) = 0;
  virtual void eval_gpu(const std::vector<array>& inputs, std::vector<array>& outputs);

  // Cotangents of the inputs listed in `argnums`, given the cotangents of all outputs.
  virtual std::vector<array> vjp(const std::vector<array>& primals,
                                 const std::vector<array>& cotangents,
                                 const std::vector<int>& argnums,
                                 const std::vector<array>& outputs);
  // Tangents of all outputs, given the tangents of the inputs listed in `argnums`.
  virtual std::vector<array> jvp(const std::vector<array>& primals,
                                 const std::vector<array>& tangents,
                                 const std::vector<int>& argnums);
  // Outputs and their batch axes, given inputs whose batch axes are `axes` (-1: unbatched).
  virtual std::pair<std::vector<array>, std::vector<int>> vmap(const std::vector<array>& inputs,
                                                               const std::vector<int>& axes);

  // Whether `other` computes the same function (same type and parameters).
  virtual bool is_equivalent(const Primitive& other) const;
  // Output shapes for the given inputs; used when a graph is replayed on new shapes.
  virtual std::vector<Shape> output_shapes(const std::vector<array>& inputs);

 protected:
  [[noreturn]] void unsupported(const char* what) const;

 private:
  Stream stream_;
};

// Primitives whose only output has the shape and dtype their kernel decides.
class UnaryPrimitive : public Primitive {
 public:
  using Primitive::Primitive;
  void eval_cpu(const std::vector<array>& inputs, std::vector<array>& outputs) final {
    eval_cpu(inputs, outputs[0]);
  }
  virtual void eval_cpu(const std::vector<array>& inputs, array& out) = 0;
};

}  // namespace pullback
