#include "pullback/device.h"

#include <atomic>
#include <stdexcept>
#include <unordered_map>

namespace pullback {
namespace {
Device g_default_device{Device::Type::cpu, 0};
Stream g_default_cpu_stream{0, Device{Device::Type::cpu, 0}};
// Streams may be made on several threads (thread-local handles resolve lazily).
std::atomic<int> g_next_stream{1};
std::atomic<int> g_next_thread_local{1};
thread_local std::unordered_map<int, Stream> t_thread_streams;
}  // namespace

bool is_available(Device d) { return d.type == Device::Type::cpu; }

Device default_device() { return g_default_device; }

void set_default_device(Device d) {
  if (!is_available(d)) {
    throw std::invalid_argument(
        "[set_default_device] The gpu device is not available: this build has no Metal backend.");
  }
  g_default_device = d;
}

Stream default_stream(Device d) {
  if (!is_available(d)) {
    throw std::invalid_argument(
        "[default_stream] The gpu device is not available: this build has no Metal backend.");
  }
  return g_default_cpu_stream;
}

void set_default_stream(Stream s) {
  if (!is_available(s.device)) {
    throw std::invalid_argument("[set_default_stream] The stream's device is not available.");
  }
  g_default_cpu_stream = s;
  g_default_device = s.device;
}

Stream new_stream(Device d) {
  if (!is_available(d)) {
    throw std::invalid_argument(
        "[new_stream] The gpu device is not available: this build has no Metal backend.");
  }
  return Stream{g_next_stream++, d};
}

Stream new_thread_unsafe_stream(Device d) {
  if (!is_available(d)) {
    throw std::invalid_argument(
        "[new_thread_unsafe_stream] The gpu device is not available: this build has no Metal "
        "backend.");
  }
  return new_stream(d);
}

ThreadLocalStream new_thread_local_stream(Device d) {
  if (!is_available(d)) {
    throw std::invalid_argument(
        "[new_thread_local_stream] The gpu device is not available: this build has no Metal "
        "backend.");
  }
  return ThreadLocalStream{g_next_thread_local++, d};
}

Stream resolve_stream(const ThreadLocalStream& tls) {
  auto it = t_thread_streams.find(tls.id);
  if (it != t_thread_streams.end()) return it->second;
  Stream s = new_stream(tls.device);
  t_thread_streams.emplace(tls.id, s);
  return s;
}

void clear_streams() { t_thread_streams.clear(); }

}  // namespace pullback
