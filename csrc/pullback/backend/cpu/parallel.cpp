#include "pullback/backend/cpu/parallel.h"

#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <vector>

namespace pullback::cpu {
namespace {

class Pool {
 public:
  Pool() {
    int n = static_cast<int>(std::thread::hardware_concurrency());
    if (const char* env = std::getenv("PULLBACK_NUM_THREADS")) n = std::atoi(env);
    n_ = n < 1 ? 1 : n;
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

  // Runs job(i) for i in [0, n_) with the caller as participant 0.
  void run(const std::function<void(int)>& job) {
    std::lock_guard<std::mutex> serial(run_mu_);
    {
      std::lock_guard<std::mutex> lock(mu_);
      job_ = &job;
      pending_ = n_ - 1;
      ++generation_;
    }
    cv_.notify_all();
    job(0);
    std::unique_lock<std::mutex> lock(mu_);
    done_cv_.wait(lock, [this] { return pending_ == 0; });
    job_ = nullptr;
  }

 private:
  void work(int index) {
    size_t seen = 0;
    for (;;) {
      const std::function<void(int)>* job;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [&] { return stop_ || generation_ != seen; });
        if (stop_) return;
        seen = generation_;
        job = job_;
      }
      (*job)(index);
      std::lock_guard<std::mutex> lock(mu_);
      if (--pending_ == 0) done_cv_.notify_one();
    }
  }

  int n_;
  std::vector<std::thread> workers_;
  std::mutex mu_, run_mu_;
  std::condition_variable cv_, done_cv_;
  const std::function<void(int)>* job_ = nullptr;
  int pending_ = 0;
  size_t generation_ = 0;
  bool stop_ = false;
};

Pool& pool() {
  static Pool* p = new Pool();  // threads live for the process; never joined at exit
  return *p;
}

thread_local bool t_in_pool_job = false;

}  // namespace

int num_threads() { return pool().size(); }

void parallel_for(size_t n, size_t grain, const std::function<void(size_t, size_t)>& f) {
  if (n == 0) return;
  if (t_in_pool_job || n < 2 * grain || pool().size() == 1) {
    f(0, n);
    return;
  }
  int parts = pool().size();
  size_t max_parts = n / grain;
  if (max_parts < static_cast<size_t>(parts)) parts = static_cast<int>(max_parts);
  size_t chunk = (n + parts - 1) / parts;
  pool().run([&](int i) {
    if (i >= parts) return;
    size_t b = i * chunk, e = b + chunk < n ? b + chunk : n;
    if (b >= e) return;
    t_in_pool_job = true;
    f(b, e);
    t_in_pool_job = false;
  });
}

}  // namespace pullback::cpu
