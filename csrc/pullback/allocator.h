// Size-bucketed buffer cache with memory counters (active, peak, cache) and limits.
#pragma once

#include <cstddef>

namespace pullback::allocator {

void* malloc(size_t nbytes);  // throws std::bad_alloc naming the size when it cannot
void free(void* ptr, size_t nbytes);

size_t get_active_memory();
size_t get_peak_memory();
void reset_peak_memory();
size_t get_cache_memory();
void clear_cache();
size_t get_memory_limit();
size_t set_memory_limit(size_t limit);  // returns the previous limit
size_t set_cache_limit(size_t limit);   // returns the previous limit

}  // namespace pullback::allocator
