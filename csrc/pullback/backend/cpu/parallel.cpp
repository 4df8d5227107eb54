#include "pullback/backend/cpu/parallel.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#include "pullback/interrupt.h"

namespace pullback::cpu {
namespace {

class Pool {
 public:
  Pool() {
    int n = static_cast<int>(std::thread::hardware_concurrency());
    if (const char* env = std::getenv("PULLBACK_NUM_THREADS")) n = std::atoi(env);
    n_ = n < 1 ? 1 : n;
    if (const char* env = std::getenv("PULLBACK_SPIN_US")) spin_us_ = std::atoi(env);
    for (int i = 1; i < n_; ++i) workers_.emplace_back([this, i] { work(i); });
  }
  ~Pool() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    for (auto& t : workers_) t.join();
  }
  int size() const { return n_; }

  // Runs job(0) on the caller and job(i) on each worker i that wakes before the caller is
  // done with its own share. A worker that wakes later finds no job: the caller never waits
  // for a thread to be scheduled (on a busy machine that costs milliseconds), only for the
  // workers that have started to finish.
  void run(const std::function<void(int)>& job) {
    std::lock_guard<std::mutex> serial(run_mu_);
    bool any_asleep;
    {
      std::lock_guard<std::mutex> lock(mu_);
      job_ = &job;
      ++generation_;
      published_.store(generation_, std::memory_order_release);
      any_asleep = asleep_ > 0;
    }
    // A spinning worker sees published_ change; only sleeping ones need the (system) call.
    if (any_asleep) cv_.notify_all();
    job(0);
    // The workers that joined usually finish within microseconds of the caller: spin for them
    // before sleeping, since a sleep and its wake-up are two system calls (and, on a virtual
    // machine, an interrupt to the other CPU), tens of microseconds on every parallel loop.
    spin_until([this] { return active_.load(std::memory_order_acquire) == 0; }, spin_us_);
    std::unique_lock<std::mutex> lock(mu_);
    job_ = nullptr;
    done_cv_.wait(lock, [this] { return active_.load(std::memory_order_relaxed) == 0; });
  }

 private:
  template <class Ready>
  static void spin_until(Ready ready, int microseconds) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(microseconds);
    for (unsigned i = 1;; ++i) {
      if (ready()) return;
#if defined(__x86_64__) || defined(__i386__)
      __builtin_ia32_pause();
#endif
      if (i % 256 == 0 && std::chrono::steady_clock::now() > until) return;
    }
  }

  void work(int index) {
    size_t seen = 0;
    for (;;) {
      const std::function<void(int)>* job;
      // After a job a worker spins a while before it sleeps: kernels tend to come back to
      // back, and a worker that is still running joins the next one at once, where waking a
      // sleeping thread takes tens of microseconds (far more on a busy machine).
      spin_until([&] { return published_.load(std::memory_order_acquire) != seen; }, spin_us_);
      {
        std::unique_lock<std::mutex> lock(mu_);
        ++asleep_;
        cv_.wait(lock, [&] { return stop_ || generation_ != seen; });
        --asleep_;
        if (stop_) return;
        seen = generation_;
        job = job_;
        if (!job) continue;  // woke after the caller had finished: nothing to join
        active_.fetch_add(1, std::memory_order_relaxed);
      }
      (*job)(index);
      std::lock_guard<std::mutex> lock(mu_);
      if (active_.fetch_sub(1, std::memory_order_acq_rel) == 1) done_cv_.notify_one();
    }
  }

  int n_;
  std::vector<std::thread> workers_;
  std::mutex mu_, run_mu_;
  std::condition_variable cv_, done_cv_;
  const std::function<void(int)>* job_ = nullptr;
  std::atomic<int> active_{0};  // workers inside the current job (changed under mu_)
  int asleep_ = 0;              // workers waiting on cv_
  size_t generation_ = 0;
  std::atomic<size_t> published_{0};  // generation_, readable without the lock
  bool stop_ = false;
  int spin_us_ = 500;  // PULLBACK_SPIN_US
};

Pool& pool() {
  static Pool* p = new Pool();  // threads live for the process; never joined at exit
  return *p;
}

thread_local bool t_in_pool_job = false;

}  // namespace

int num_threads() { return pool().size(); }

void parallel_for(size_t n, size_t grain, const std::function<void(size_t, size_t)>& f,
                  size_t max_chunk) {
  if (n == 0) return;
  grain = std::max<size_t>(grain, 1);
  // Inside a chunk the outer loop already splits the work and polls.
  if (t_in_pool_job || n < 2 * grain) {
    f(0, n);
    return;
  }
  const size_t threads = static_cast<size_t>(pool().size());
  if (max_chunk == 0) max_chunk = kMaxGrainsPerChunk * grain;
  const size_t even = (n + threads - 1) / threads;
  const size_t chunk = std::max(grain, std::min(even, max_chunk));
  const size_t chunks = (n + chunk - 1) / chunk;

  std::atomic<size_t> next{0};
  std::atomic<bool> stop{false};
  bool interrupted = false;
  std::exception_ptr error;
  std::mutex error_mu;
  auto participate = [&](int participant) {
    t_in_pool_job = true;
    for (;;) {
      // Only the calling thread may talk to the host (it holds Python's GIL).
      if (participant == 0 && interrupt_kernel_now()) {
        interrupted = true;
        stop.store(true, std::memory_order_relaxed);
      }
      if (stop.load(std::memory_order_relaxed)) break;
      const size_t c = next.fetch_add(1, std::memory_order_relaxed);
      if (c >= chunks) break;
      const size_t b = c * chunk, e = std::min(n, b + chunk);
      try {
        f(b, e);
      } catch (...) {
        std::lock_guard<std::mutex> lock(error_mu);
        if (!error) error = std::current_exception();
        stop.store(true, std::memory_order_relaxed);
      }
    }
    t_in_pool_job = false;
  };
  if (threads == 1 || chunks == 1) {
    participate(0);
  } else {
    pool().run(participate);
  }
  if (error) std::rethrow_exception(error);
  if (interrupted) throw Interrupted();
}

}  // namespace pullback::cpu
