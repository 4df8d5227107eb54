// The CPU kernel of CustomTransforms: its outputs are the forward outputs, shared, not copied.
#include "pullback/primitives/custom.h"

namespace pullback {

void CustomTransforms::eval_cpu(const std::vector<array>& inputs, std::vector<array>& outputs) {
  for (size_t k = 0; k < outputs.size(); ++k) {
    outputs[k].copy_shared_buffer(inputs[num_primals_ + k]);
  }
}

}  // namespace pullback
