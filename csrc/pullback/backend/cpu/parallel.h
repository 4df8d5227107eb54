// A small pool of worker threads for kernels that are large enough to split.
#pragma once

#include <cstddef>
#include <functional>

namespace pullback::cpu {

int num_threads();
// Runs f(begin, end) over [0, n) in chunks of at least `grain`, on all threads; runs inline
// when n < 2 * grain or there is only one thread.
void parallel_for(size_t n, size_t grain, const std::function<void(size_t, size_t)>& f);

// Elements per chunk below which splitting costs more than it saves.
constexpr size_t kElementwiseGrain = size_t(1) << 16;

}  // namespace pullback::cpu
