// Helpers for the primitives' vmap rules (the transform itself is declared in transforms.h).
// In a rule, `axes[i]` is input i's batch axis, or -1 where input i is not batched.
#pragma once

#include <vector>

#include "pullback/array.h"

namespace pullback {

// The size of the batch: the extent of the first batched input along its batch axis.
int64_t vmap_batch_size(const std::vector<array>& inputs, const std::vector<int>& axes);

// `x` with its batch axis moved to the front. An unbatched `x` (axis -1) gets a leading batch
// axis of size `batch` by broadcasting (a view: nothing is copied).
array vmap_to_front(const array& x, int axis, int64_t batch);

// Every input with its batch axis at the front, unbatched ones broadcast to the batch size:
// the form an elementwise rule applies its primitive to directly.
std::vector<array> vmap_all_to_front(const std::vector<array>& inputs, const std::vector<int>& axes);

}  // namespace pullback
