#include "pullback/device.h"

#include <stdexcept>

namespace pullback {
namespace {
Device g_default_device{Device::Type::cpu, 0};
Stream g_default_cpu_stream{0, Device{Device::Type::cpu, 0}};
int g_next_stream = 1;
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

}  // namespace pullback
