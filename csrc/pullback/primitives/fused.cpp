// Fused: derivative and batching rules of a fused elementwise chain.
#include "pullback/primitives/fused.h"

#include "pullback/ops.h"
#include "pullback/transforms/transforms.h"
#include "pullback/transforms/vmap.h"

namespace pullback {

std::vector<array> Fused::unfused(const std::vector<array>& leaves) const {
  return replay(*body_, leaves, body_->externals);
}

// The derivatives are those of the unfused chain: it is rebuilt lazily on the primals and
// differentiated. Only what the (co)tangent graph reads of it is ever computed.
Fn Fused::unfused_of(const std::vector<array>& primals, const std::vector<int>& argnums) const {
  return [this, primals, argnums](const std::vector<array>& xs) {
    std::vector<array> all = primals;
    for (size_t k = 0; k < argnums.size(); ++k) all[argnums[k]] = xs[k];
    return unfused(all);
  };
}

std::vector<array> Fused::vjp(const std::vector<array>& primals,
                              const std::vector<array>& cotangents,
                              const std::vector<int>& argnums, const std::vector<array>&) {
  std::vector<array> wrt;
  for (int i : argnums) wrt.push_back(primals[i]);
  return pullback::vjp(unfused_of(primals, argnums), wrt, cotangents).second;
}

std::vector<array> Fused::jvp(const std::vector<array>& primals,
                              const std::vector<array>& tangents,
                              const std::vector<int>& argnums) {
  std::vector<array> wrt;
  for (int i : argnums) wrt.push_back(primals[i]);
  return pullback::jvp(unfused_of(primals, argnums), wrt, tangents).second;
}

// Elementwise over leaves of one shape: with every batch axis moved to the front and the
// unbatched leaves broadcast along it (views, not copies), the same fused chain runs batched.
std::pair<std::vector<array>, std::vector<int>> Fused::vmap(const std::vector<array>& inputs,
                                                            const std::vector<int>& axes) {
  int64_t batch = vmap_batch_size(inputs, axes);
  Shape shape;
  std::vector<array> leaves(inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (axes[i] >= 0) {
      leaves[i] = vmap_to_front(inputs[i], axes[i], batch);
      shape = leaves[i].shape();
    }
  }
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (axes[i] < 0) leaves[i] = broadcast_to(inputs[i], shape, stream());
  }
  const size_t n = program_.outputs.size();
  return {array::make_arrays(std::vector<Shape>(n, shape), std::vector<Dtype>(n, Dtype::float32),
                             shared_from_this(), leaves),
          std::vector<int>(n, 0)};
}

std::vector<Shape> Fused::output_shapes(const std::vector<array>& inputs) {
  return std::vector<Shape>(program_.outputs.size(), inputs.at(0).shape());
}

}  // namespace pullback
