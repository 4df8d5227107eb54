// The allocator's counters (active, peak, cache), its buffer cache, and the limits; and that
// evaluation releases intermediates as it goes.
#include <gtest/gtest.h>

#include <cstring>
#include <new>

#include "pullback/allocator.h"
#include "pullback/ops.h"
#include "test_utils.h"

using namespace pullback;
using namespace pbtest;

namespace {

// Restores the cache limit a test changes, even when an assertion fails midway.
struct CacheLimitGuard {
  size_t old;
  explicit CacheLimitGuard(size_t limit) : old(allocator::set_cache_limit(limit)) {}
  ~CacheLimitGuard() { allocator::set_cache_limit(old); }
};

// The allocator rounds sizes up to buckets; a request is charged at least its size and,
// for these sizes, less than a quarter more.
void expect_charged(size_t delta, size_t nbytes) {
  EXPECT_GE(delta, nbytes);
  EXPECT_LE(delta, nbytes + nbytes / 4 + 64);
}

}  // namespace

TEST(Memory, MallocAndFreeMoveTheActiveCounter) {
  allocator::clear_cache();
  const size_t base = allocator::get_active_memory();
  void* p = allocator::malloc(1000);
  ASSERT_NE(p, nullptr);
  std::memset(p, 0xab, 1000);  // the memory is really there
  size_t charged = allocator::get_active_memory() - base;
  expect_charged(charged, 1000);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % 16, 0u);
  void* q = allocator::malloc(3 << 20);
  expect_charged(allocator::get_active_memory() - base - charged, 3 << 20);
  allocator::free(q, 3 << 20);
  EXPECT_EQ(allocator::get_active_memory(), base + charged);
  allocator::free(p, 1000);
  EXPECT_EQ(allocator::get_active_memory(), base);
  allocator::free(nullptr, 100);  // a no-op
  EXPECT_EQ(allocator::get_active_memory(), base);
}

TEST(Memory, FreedBuffersAreCachedAndReused) {
  allocator::clear_cache();
  EXPECT_EQ(allocator::get_cache_memory(), 0u);
  const size_t base = allocator::get_active_memory();
  const size_t n = 100000;
  void* p = allocator::malloc(n);
  size_t charged = allocator::get_active_memory() - base;
  allocator::free(p, n);
  EXPECT_EQ(allocator::get_cache_memory(), charged);
  EXPECT_EQ(allocator::get_active_memory(), base);
  // A request of the same size comes back from the cache.
  void* r = allocator::malloc(n);
  EXPECT_EQ(r, p);
  EXPECT_EQ(allocator::get_cache_memory(), 0u);
  EXPECT_EQ(allocator::get_active_memory(), base + charged);
  // So does a slightly different size in the same bucket.
  allocator::free(r, n);
  void* s = allocator::malloc(n - 10);
  EXPECT_EQ(s, p);
  allocator::free(s, n - 10);
  allocator::clear_cache();
  EXPECT_EQ(allocator::get_cache_memory(), 0u);
  EXPECT_EQ(allocator::get_active_memory(), base);
}

TEST(Memory, ClearCacheEmptiesEveryBucket) {
  allocator::clear_cache();
  const size_t sizes[] = {64, 5000, 70000, 1 << 20, 5 << 20};
  std::vector<void*> ptrs;
  for (size_t n : sizes) ptrs.push_back(allocator::malloc(n));
  for (size_t i = 0; i < ptrs.size(); ++i) allocator::free(ptrs[i], sizes[i]);
  size_t total = 0;
  for (size_t n : sizes) total += n;
  EXPECT_GE(allocator::get_cache_memory(), total);
  allocator::clear_cache();
  EXPECT_EQ(allocator::get_cache_memory(), 0u);
}

TEST(Memory, PeakTracksTheHighWaterMark) {
  allocator::clear_cache();
  allocator::reset_peak_memory();
  const size_t base = allocator::get_active_memory();
  EXPECT_EQ(allocator::get_peak_memory(), base);
  void* a = allocator::malloc(1 << 20);
  void* b = allocator::malloc(2 << 20);
  const size_t high = allocator::get_active_memory();
  EXPECT_EQ(allocator::get_peak_memory(), high);
  allocator::free(b, 2 << 20);
  EXPECT_EQ(allocator::get_peak_memory(), high);  // the peak stays after a free
  void* c = allocator::malloc(1 << 16);
  EXPECT_EQ(allocator::get_peak_memory(), high);  // below the old peak
  allocator::free(c, 1 << 16);
  allocator::free(a, 1 << 20);
  EXPECT_EQ(allocator::get_active_memory(), base);
  EXPECT_EQ(allocator::get_peak_memory(), high);
  allocator::reset_peak_memory();
  EXPECT_EQ(allocator::get_peak_memory(), base);
  // A buffer taken from the cache counts toward the peak as well.
  void* d = allocator::malloc(2 << 20);
  EXPECT_EQ(allocator::get_peak_memory(), allocator::get_active_memory());
  EXPECT_GT(allocator::get_peak_memory(), base);
  allocator::free(d, 2 << 20);
  allocator::clear_cache();
}

TEST(Memory, ZeroCacheLimitDropsTheCache) {
  allocator::clear_cache();
  void* p = allocator::malloc(1 << 20);
  allocator::free(p, 1 << 20);
  ASSERT_GT(allocator::get_cache_memory(), 0u);
  {
    CacheLimitGuard guard(0);
    EXPECT_EQ(allocator::get_cache_memory(), 0u);
    // With no cache allowed, freed buffers go straight back to the system.
    void* q = allocator::malloc(1 << 20);
    allocator::free(q, 1 << 20);
    EXPECT_EQ(allocator::get_cache_memory(), 0u);
    {
      array a = array::empty({1 << 16}, Dtype::float32);
    }
    EXPECT_EQ(allocator::get_cache_memory(), 0u);
  }
  // The previous limit is back: caching works again.
  void* r = allocator::malloc(1 << 20);
  allocator::free(r, 1 << 20);
  EXPECT_GT(allocator::get_cache_memory(), 0u);
  allocator::clear_cache();
}

TEST(Memory, CacheLimitCapsTheCache) {
  allocator::clear_cache();
  const size_t old = allocator::set_cache_limit(3 << 20);
  EXPECT_GT(old, 0u);
  EXPECT_EQ(allocator::set_cache_limit(3 << 20), size_t(3) << 20);  // returns the previous limit
  std::vector<void*> ptrs;
  for (int i = 0; i < 5; ++i) ptrs.push_back(allocator::malloc(1 << 20));
  for (void* p : ptrs) allocator::free(p, 1 << 20);
  EXPECT_LE(allocator::get_cache_memory(), size_t(3) << 20);
  EXPECT_GE(allocator::get_cache_memory(), size_t(2) << 20);
  // Lowering the limit trims what is cached now.
  allocator::set_cache_limit(1 << 20);
  EXPECT_LE(allocator::get_cache_memory(), size_t(1) << 20);
  EXPECT_EQ(allocator::set_cache_limit(old), size_t(1) << 20);
  allocator::clear_cache();
}

TEST(Memory, MemoryLimitGetAndSet) {
  const size_t old = allocator::get_memory_limit();
  EXPECT_GT(old, size_t(0));
  EXPECT_EQ(allocator::set_memory_limit(old / 2), old);
  EXPECT_EQ(allocator::get_memory_limit(), old / 2);
  EXPECT_EQ(allocator::set_memory_limit(old), old / 2);
  EXPECT_EQ(allocator::get_memory_limit(), old);
}

TEST(Memory, ReachingTheMemoryLimitReleasesTheCacheFirst) {
  allocator::clear_cache();
  void* p = allocator::malloc(4 << 20);
  allocator::free(p, 4 << 20);
  ASSERT_GE(allocator::get_cache_memory(), size_t(4) << 20);
  const size_t old = allocator::set_memory_limit(allocator::get_active_memory() + (5 << 20));
  // Active + cache + the new request exceed the limit: the cache is given back first.
  void* q = allocator::malloc(3 << 20);
  EXPECT_EQ(allocator::get_cache_memory(), 0u);
  allocator::free(q, 3 << 20);
  allocator::set_memory_limit(old);
  allocator::clear_cache();
}

TEST(Memory, ImpossibleAllocationThrowsBadAlloc) {
  const size_t active = allocator::get_active_memory();
  EXPECT_THROW(allocator::malloc(size_t(1) << 60), std::bad_alloc);
  EXPECT_EQ(allocator::get_active_memory(), active);
  void* z = allocator::malloc(0);  // a zero-byte request still gives a valid pointer
  EXPECT_NE(z, nullptr);
  allocator::free(z, 0);
  EXPECT_EQ(allocator::get_active_memory(), active);
}

TEST(Memory, ArraysChargeAndReturnTheirBuffers) {
  allocator::clear_cache();
  const size_t base = allocator::get_active_memory();
  {
    array a = array::empty({256, 256}, Dtype::float32);
    expect_charged(allocator::get_active_memory() - base, 256 * 256 * 4);
    array v = reshape(a, {256 * 256});  // a view: no new buffer
    v.eval();
    expect_charged(allocator::get_active_memory() - base, 256 * 256 * 4);
  }
  EXPECT_EQ(allocator::get_active_memory(), base);
  // Scalars and other tiny arrays never reach the allocator.
  {
    array s(1.5f);
    array t(int64_t(3), Dtype::int64);
    std::vector<float> four{1, 2, 3, 4};
    array u(four.data(), {4}, Dtype::float32);
    EXPECT_EQ(allocator::get_active_memory(), base);
  }
  allocator::clear_cache();
}

TEST(Memory, EvaluationReleasesIntermediates) {
  allocator::clear_cache();
  const int64_t n = 1 << 18;  // 1 MiB of float32
  const size_t bytes = n * 4;
  array x = iota({n});
  const size_t base = allocator::get_active_memory();
  allocator::reset_peak_memory();
  array y = x;
  for (int i = 0; i < 20; ++i) y = add(multiply(y, array(0.5f)), array(1.f));
  y.eval();
  // Only the result is left, and at no point were more than two buffers alive: each
  // intermediate is freed (or donated) as soon as its consumer has run.
  expect_charged(allocator::get_active_memory() - base, bytes);
  EXPECT_LE(allocator::get_peak_memory() - base, 2 * bytes + bytes / 4);
  std::vector<float> got = to_vector<float>(y), xs = to_vector<float>(x);
  for (int64_t i = 0; i < n; i += 4099) {
    double want = xs[i];
    for (int k = 0; k < 20; ++k) want = want * 0.5 + 1;
    ASSERT_NEAR(got[i], want, 1e-5 * std::fabs(want) + 1e-6) << i;
  }
  y = array();
  EXPECT_EQ(allocator::get_active_memory(), base);
  allocator::clear_cache();
}

TEST(Memory, UnevaluatedGraphsHoldNoBuffers) {
  allocator::clear_cache();
  array x = iota({1 << 16});
  const size_t base = allocator::get_active_memory();
  array y = exp(multiply(x, x));
  EXPECT_EQ(allocator::get_active_memory(), base);
  y.eval();
  EXPECT_GT(allocator::get_active_memory(), base);
  y = array();
  EXPECT_EQ(allocator::get_active_memory(), base);
  allocator::clear_cache();
}
