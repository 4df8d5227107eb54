// Per-thread tracing, interruptible evaluation and errors raised inside parallel kernels.
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "pullback/backend/cpu/parallel.h"
#include "pullback/interrupt.h"
#include "test_utils.h"

using namespace pullback;
using namespace pbtest;

namespace {

// A poll that reports an interrupt on its `fire_at`-th call (0: never).
std::atomic<int> g_polls{0};
std::atomic<int> g_fire_at{0};
bool counting_poll() {
  int n = ++g_polls;
  return g_fire_at.load() != 0 && n >= g_fire_at.load();
}

struct PollGuard {
  explicit PollGuard(int fire_at) {
    g_polls = 0;
    g_fire_at = fire_at;
    set_interrupt_poll(counting_poll);
  }
  ~PollGuard() { set_interrupt_poll(nullptr); }
};

// A sum over 2^28 broadcast elements: one node whose kernel runs many chunks.
array long_sum() { return sum(broadcast_to(array(1.0f), {int64_t(1) << 28})); }

}  // namespace

TEST(Interrupt, StopsALongKernelAndLeavesItUnevaluated) {
  array s = long_sum();
  {
    PollGuard guard(/*fire_at=*/3);
    EXPECT_THROW(s.eval(), Interrupted);
    // Stopped after a few chunks, not after all of them.
    EXPECT_LT(g_polls.load(), 10);
  }
  EXPECT_FALSE(s.is_evaluated());
  // The graph is intact: evaluating again gives the full result.
  EXPECT_EQ(s.item<float>(), static_cast<float>(int64_t(1) << 28));
}

TEST(Interrupt, StopsBetweenNodesAndKeepsFinishedResults) {
  array x = f64({1, 2, 3});
  std::vector<array> chain{x};
  for (int i = 0; i < 100; ++i) chain.push_back(add(chain.back(), array(1.0, Dtype::float64)));
  {
    PollGuard guard(/*fire_at=*/1);
    EXPECT_THROW(eval({chain.back()}), Interrupted);
  }
  EXPECT_FALSE(chain.back().is_evaluated());
  EXPECT_EQ(to_doubles(chain.back()), (std::vector<double>{101, 102, 103}));
  EXPECT_EQ(to_doubles(chain[50]), (std::vector<double>{51, 52, 53}));
}

TEST(Interrupt, KernelOverwritingADonatedInputRunsToItsEnd) {
  // exp's input is evaluated and held only by the graph, so exp writes into its buffer; the
  // interrupt it sees is acted on once it has finished, and its result is complete.
  const int64_t n = int64_t(1) << 24;
  array m = multiply(broadcast_to(array(0.0f), {n}), array(1.0f));
  m.eval();
  array y = exp(m);
  m = array();
  {
    PollGuard guard(/*fire_at=*/1);
    EXPECT_THROW(y.eval(), Interrupted);
  }
  EXPECT_TRUE(y.is_evaluated());
  std::vector<float> v = to_vector<float>(y);
  for (int64_t i = 0; i < n; i += 4099) ASSERT_EQ(v[i], 1.0f) << i;
  EXPECT_EQ(v.back(), 1.0f);
}

TEST(Interrupt, NoPollNoInterrupt) {
  array s = long_sum();
  EXPECT_EQ(s.item<float>(), static_cast<float>(int64_t(1) << 28));
}

TEST(ParallelFor, AnErrorOnAWorkerReachesTheCaller) {
  const size_t n = size_t(1) << 24;
  std::atomic<size_t> done{0};
  auto f = [&](size_t b, size_t e) {
    if (b <= n / 2 && n / 2 < e) throw std::out_of_range("[test] index out of range");
    done += e - b;
  };
  EXPECT_THROW(cpu::parallel_for(n, 1024, f), std::out_of_range);
  EXPECT_LT(done.load(), n);
}

TEST(ParallelFor, CoversEveryIndexOnce) {
  for (size_t n : {size_t(1), size_t(100), size_t(1) << 16, (size_t(1) << 22) + 7}) {
    std::vector<std::atomic<int>> hits(n);
    cpu::parallel_for(n, 1000, [&](size_t b, size_t e) {
      for (size_t i = b; i < e; ++i) ++hits[i];
    });
    for (size_t i = 0; i < n; ++i) ASSERT_EQ(hits[i].load(), 1) << "n=" << n << " i=" << i;
  }
}

TEST(StridedWalk, LongRowsAndManyRowsMatchAPlainLoop) {
  // A transposed and a reversed view, both large enough to be split across chunks and rows.
  array base = arange(0.0, 3.0 * 70000, 1.0, Dtype::float32);
  array t = transpose(reshape(base, {3, 70000}));
  std::vector<float> got = to_vector<float>(add(t, array(0.0f)));
  for (int64_t i = 0; i < 70000; ++i) {
    for (int64_t j = 0; j < 3; ++j) ASSERT_EQ(got[i * 3 + j], static_cast<float>(j * 70000 + i));
  }
}

TEST(Tracing, IsPerThread) {
  std::mutex mu;
  std::condition_variable cv;
  bool inside = false, release = false;
  std::thread tracer([&] {
    ArrayFn f = [&](const std::vector<array>& p) {
      {
        std::unique_lock<std::mutex> lock(mu);
        inside = true;
        cv.notify_all();
        cv.wait(lock, [&] { return release; });
      }
      return std::vector<array>{multiply(p[0], p[0])};
    };
    vjp(f, {f64({2})}, {f64({1})});
  });
  {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return inside; });
  }
  // Another thread is inside vjp; this one is not tracing, so its eval releases its graph.
  EXPECT_FALSE(in_tracing());
  array a = exp(f64({0.0}));
  array b = add(a, f64({1.0}));
  b.eval();
  EXPECT_TRUE(b.inputs().empty());
  {
    std::lock_guard<std::mutex> lock(mu);
    release = true;
  }
  cv.notify_all();
  tracer.join();
}
