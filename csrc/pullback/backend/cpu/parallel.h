// A small pool of worker threads for kernels that are large enough to split.
#pragma once

#include <cstddef>
#include <functional>

namespace pullback::cpu {

int num_threads();
// Runs f(begin, end) over [0, n) in chunks of at least `grain` and at most `max_chunk`
// (default: kMaxGrainsPerChunk grains), which the threads take in turn; runs inline when
// n < 2 * grain or when called from inside another parallel_for's chunk.
// Between chunks the calling thread polls for a user interrupt and, when the kernel may stop
// (interrupt.h), skips the remaining chunks and throws Interrupted. An exception thrown by f
// on any thread stops the remaining chunks and is rethrown on the calling thread.
void parallel_for(size_t n, size_t grain, const std::function<void(size_t, size_t)>& f,
                  size_t max_chunk = 0);

// Elements per chunk below which splitting costs more than it saves.
constexpr size_t kElementwiseGrain = size_t(1) << 16;
// A chunk spans at most this many grains by default: long enough to amortize taking it, short
// enough (milliseconds for elementwise work) that an interrupt is acted on promptly.
constexpr size_t kMaxGrainsPerChunk = 64;

}  // namespace pullback::cpu
