#include "pullback/allocator.h"

#include <unistd.h>

#include <cstdlib>
#include <mutex>
#include <new>
#include <unordered_map>
#include <vector>

namespace pullback::allocator {
namespace {

// Rounded sizes make nearby requests share a bucket: 64-byte steps up to a page,
// whole pages up to 1 MiB, then 1/8 steps of the next power of two.
size_t bucket_size(size_t n) {
  if (n <= 4096) return (n + 63) & ~size_t(63);
  if (n <= (size_t(1) << 20)) return (n + 4095) & ~size_t(4095);
  size_t p = 1;
  while (p < n) p <<= 1;
  size_t step = p >> 3;
  return (n + step - 1) / step * step;
}

size_t physical_memory() {
  long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
  return (pages > 0 && page > 0) ? size_t(pages) * size_t(page) : (size_t(8) << 30);
}

struct Cache {
  std::mutex mu;
  std::unordered_map<size_t, std::vector<void*>> free_lists;
  size_t active = 0, peak = 0, cached = 0;
  size_t memory_limit = physical_memory() / 10 * 9;
  size_t cache_limit = physical_memory() / 10 * 9;

  void release_cached_locked(size_t target) {
    for (auto it = free_lists.begin(); it != free_lists.end() && cached > target;) {
      auto& v = it->second;
      while (!v.empty() && cached > target) {
        std::free(v.back());
        v.pop_back();
        cached -= it->first;
      }
      it = v.empty() ? free_lists.erase(it) : std::next(it);
    }
  }
};

Cache& cache() {
  static Cache* c = new Cache();  // never destroyed: buffers may outlive static teardown
  return *c;
}

}  // namespace

void* malloc(size_t nbytes) {
  size_t b = bucket_size(nbytes == 0 ? 1 : nbytes);
  Cache& c = cache();
  {
    std::lock_guard<std::mutex> lock(c.mu);
    auto it = c.free_lists.find(b);
    if (it != c.free_lists.end() && !it->second.empty()) {
      void* p = it->second.back();
      it->second.pop_back();
      c.cached -= b;
      c.active += b;
      if (c.active > c.peak) c.peak = c.active;
      return p;
    }
    if (c.active + c.cached + b > c.memory_limit) c.release_cached_locked(0);
  }
  void* p = std::aligned_alloc(64, b);
  if (!p) {
    std::lock_guard<std::mutex> lock(c.mu);
    c.release_cached_locked(0);
    p = std::aligned_alloc(64, b);
    if (!p) throw std::bad_alloc();
  }
  std::lock_guard<std::mutex> lock(c.mu);
  c.active += b;
  if (c.active > c.peak) c.peak = c.active;
  return p;
}

void free(void* ptr, size_t nbytes) {
  if (!ptr) return;
  size_t b = bucket_size(nbytes == 0 ? 1 : nbytes);
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  c.active -= b;
  if (c.cached + b <= c.cache_limit) {
    c.free_lists[b].push_back(ptr);
    c.cached += b;
  } else {
    std::free(ptr);
  }
}

size_t get_active_memory() {
  std::lock_guard<std::mutex> lock(cache().mu);
  return cache().active;
}
size_t get_peak_memory() {
  std::lock_guard<std::mutex> lock(cache().mu);
  return cache().peak;
}
void reset_peak_memory() {
  std::lock_guard<std::mutex> lock(cache().mu);
  cache().peak = cache().active;
}
size_t get_cache_memory() {
  std::lock_guard<std::mutex> lock(cache().mu);
  return cache().cached;
}
void clear_cache() {
  std::lock_guard<std::mutex> lock(cache().mu);
  cache().release_cached_locked(0);
}
size_t get_memory_limit() {
  std::lock_guard<std::mutex> lock(cache().mu);
  return cache().memory_limit;
}
size_t set_memory_limit(size_t limit) {
  std::lock_guard<std::mutex> lock(cache().mu);
  size_t old = cache().memory_limit;
  cache().memory_limit = limit;
  return old;
}
size_t set_cache_limit(size_t limit) {
  std::lock_guard<std::mutex> lock(cache().mu);
  size_t old = cache().cache_limit;
  cache().cache_limit = limit;
  cache().release_cached_locked(limit);
  return old;
}

}  // namespace pullback::allocator
