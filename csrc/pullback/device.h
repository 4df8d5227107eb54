// Devices and streams. Work is recorded on a stream; a stream belongs to a device.
#pragma once

namespace pullback {

struct Device {
  enum class Type { cpu, gpu };
  Type type = Type::cpu;
  int index = 0;
  constexpr Device() = default;
  constexpr Device(Type t, int i = 0) : type(t), index(i) {}
  bool operator==(const Device& o) const { return type == o.type && index == o.index; }
  bool operator!=(const Device& o) const { return !(*this == o); }
};

struct Stream {
  int index = 0;
  Device device;
  bool operator==(const Stream& o) const { return index == o.index && device == o.device; }
};

// Whether the device type has a working backend in this build (gpu needs Metal).
bool is_available(Device d);
Device default_device();
void set_default_device(Device d);
Stream default_stream(Device d);
void set_default_stream(Stream s);
Stream new_stream(Device d);
// MLX's new_thread_unsafe_stream: streams here hold no thread state, so it is new_stream.
Stream new_thread_unsafe_stream(Device d);

// A handle that names a different stream in each thread that uses it (made on first use).
struct ThreadLocalStream {
  int id = 0;
  Device device;
};
ThreadLocalStream new_thread_local_stream(Device d);
// The calling thread's stream for `tls`.
Stream resolve_stream(const ThreadLocalStream& tls);
// Forgets the streams the calling thread made for thread-local handles (MLX's clear_streams);
// a later use of such a handle on this thread makes a fresh stream.
void clear_streams();

// The stream an op runs on when the caller names none.
inline Stream current_stream() { return default_stream(default_device()); }

}  // namespace pullback
