// Stopping a long evaluation on a user interrupt (Ctrl-C).
//
// The host (the Python module) installs a poll that reports a pending interrupt. eval polls
// between nodes, and parallel_for polls between chunks of a kernel, so a single long kernel
// stops within a fraction of a second. The interrupted node is left unevaluated with its graph
// intact, so it can be evaluated again; every node computed before it keeps its result.
//
// A kernel that writes into a donated input's buffer is not stopped midway (the input would be
// half overwritten and the node could not be computed again): it runs to its end, and eval
// stops right after it.
#pragma once

#include <exception>
#include <vector>

namespace pullback {

class array;

// Returns true when an interrupt is pending. Called only on the thread that runs eval; it
// must be cheap when nothing is pending. The host keeps its own record of the interrupt (the
// Python module keeps the KeyboardInterrupt) and reports it when Interrupted reaches it.
using InterruptPoll = bool (*)();
void set_interrupt_poll(InterruptPoll poll);

// Thrown out of eval after an interrupt.
class Interrupted : public std::exception {
 public:
  const char* what() const noexcept override;
};

// eval's side: the node whose kernel runs now, for the duration of the kernel.
class KernelScope {
 public:
  KernelScope(const std::vector<array>& inputs, const std::vector<array>& outputs);
  ~KernelScope();
  KernelScope(const KernelScope&) = delete;
  KernelScope& operator=(const KernelScope&) = delete;
};

// Between nodes: reports an interrupt deferred by a kernel or (with poll_host) pending now.
bool interrupt_pending(bool poll_host = true);
// Between chunks of a kernel (on the thread running eval): true when the kernel should stop
// now. A pending interrupt that the kernel may not act on is kept for interrupt_pending().
bool interrupt_kernel_now();

}  // namespace pullback
