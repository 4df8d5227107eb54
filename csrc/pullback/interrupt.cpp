#include "pullback/interrupt.h"

#include <atomic>

#include "pullback/array.h"

namespace pullback {

namespace {

std::atomic<InterruptPoll> g_poll{nullptr};

// Per thread: each thread's eval polls and defers on its own.
thread_local bool t_deferred = false;
thread_local const std::vector<array>* t_kernel_inputs = nullptr;
thread_local const std::vector<array>* t_kernel_outputs = nullptr;

bool poll() {
  InterruptPoll p = g_poll.load(std::memory_order_relaxed);
  return p != nullptr && p();
}

// Whether an output of the running kernel writes into an input's buffer (a donation).
bool kernel_overwrites_input() {
  if (t_kernel_inputs == nullptr || t_kernel_outputs == nullptr) return false;
  for (auto& out : *t_kernel_outputs) {
    if (!out.data_shared_ptr()) continue;
    for (auto& in : *t_kernel_inputs) {
      if (in.data_shared_ptr() == out.data_shared_ptr()) return true;
    }
  }
  return false;
}

}  // namespace

void set_interrupt_poll(InterruptPoll p) { g_poll.store(p, std::memory_order_relaxed); }

const char* Interrupted::what() const noexcept { return "[eval] Interrupted."; }

KernelScope::KernelScope(const std::vector<array>& inputs, const std::vector<array>& outputs) {
  t_kernel_inputs = &inputs;
  t_kernel_outputs = &outputs;
}

KernelScope::~KernelScope() {
  t_kernel_inputs = nullptr;
  t_kernel_outputs = nullptr;
}

bool interrupt_pending(bool poll_host) {
  bool pending = t_deferred || (poll_host && poll());
  t_deferred = false;
  return pending;
}

bool interrupt_kernel_now() {
  if (!t_deferred && !poll()) return false;
  if (kernel_overwrites_input()) {
    t_deferred = true;
    return false;
  }
  t_deferred = false;
  return true;
}

}  // namespace pullback
