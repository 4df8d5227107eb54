// Dtypes, dtype categories, devices, streams and memory counters.
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>

#include "pullback/allocator.h"
#include "pullback/backend/cpu/parallel.h"
#include "python/bindings.h"
#include "python/convert.h"

namespace pullback::python {

using namespace nb::literals;

namespace {
const char* device_type_name(Device::Type t) { return t == Device::Type::cpu ? "cpu" : "gpu"; }
}  // namespace

void init_dtypes_devices(nb::module_& m) {
  auto dtype = nb::enum_<Dtype>(m, "Dtype", "An array's element type.");
  for (int i = 0; i < kNumDtypes; ++i) {
    Dtype t = static_cast<Dtype>(i);
    dtype.value(dtype_name(t), t);
  }
  dtype.def_prop_ro("size", [](Dtype t) { return size_of(t); }, "Size of one element in bytes.")
      .def("__repr__", [](Dtype t) { return std::string("pullback.core.") + dtype_name(t); })
      .def("__str__", [](Dtype t) { return std::string("pullback.core.") + dtype_name(t); });
  for (int i = 0; i < kNumDtypes; ++i) {
    Dtype t = static_cast<Dtype>(i);
    m.attr(t == Dtype::bool_ ? "bool_" : dtype_name(t)) = t;
  }

  auto cat = nb::enum_<DtypeCategory>(m, "DtypeCategory", "A family of dtypes, for issubdtype.");
  for (int i = 0; i <= static_cast<int>(DtypeCategory::generic); ++i) {
    auto c = static_cast<DtypeCategory>(i);
    cat.value(category_name(c), c);
    m.attr(category_name(c)) = c;
  }
  m.def("issubdtype", [](nb::handle a, nb::handle b) {
    auto check = [](nb::handle h, const char* arg) {
      if (!nb::isinstance<Dtype>(h) && !nb::isinstance<DtypeCategory>(h)) {
        throw nb::type_error((std::string("[issubdtype] ") + arg +
                              " must be a Dtype or a DtypeCategory; got " +
                              nb::type_name(h.type()).c_str() + ".").c_str());
      }
    };
    check(a, "arg1");
    check(b, "arg2");
    if (nb::isinstance<Dtype>(a)) {
      Dtype t = nb::cast<Dtype>(a);
      if (nb::isinstance<Dtype>(b)) return t == nb::cast<Dtype>(b);
      return issubdtype(t, nb::cast<DtypeCategory>(b));
    }
    if (nb::isinstance<Dtype>(b)) return false;
    return issubdtype(nb::cast<DtypeCategory>(a), nb::cast<DtypeCategory>(b));
  }, "arg1"_a, "arg2"_a, "Whether arg1 is a dtype or category within arg2.");
  m.def("promote_types", &promote_types, "a"_a, "b"_a);

  nb::enum_<Device::Type>(m, "DeviceType")
      .value("cpu", Device::Type::cpu)
      .value("gpu", Device::Type::gpu);
  m.attr("cpu") = Device::Type::cpu;
  m.attr("gpu") = Device::Type::gpu;

  nb::class_<Device>(m, "Device", "A device that runs kernels.")
      .def(nb::init<Device::Type, int>(), "type"_a, "index"_a = 0)
      .def_ro("type", &Device::type)
      .def_ro("index", &Device::index)
      .def("__eq__", [](const Device& d, nb::handle o) {
        if (nb::isinstance<Device>(o)) return d == nb::cast<Device>(o);
        if (nb::isinstance<Device::Type>(o)) return d.type == nb::cast<Device::Type>(o);
        return false;
      })
      .def("__hash__", [](const Device& d) { return static_cast<int>(d.type) * 1000 + d.index; })
      .def("__repr__", [](const Device& d) {
        return std::string("Device(") + device_type_name(d.type) + ", " + std::to_string(d.index) + ")";
      });
  nb::implicitly_convertible<Device::Type, Device>();

  nb::class_<Stream>(m, "Stream", "An ordered queue of work on a device.")
      .def_ro("device", &Stream::device)
      .def_ro("index", &Stream::index)
      .def("__eq__", [](const Stream& a, nb::handle o) {
        return nb::isinstance<Stream>(o) && a == nb::cast<Stream>(o);
      })
      .def("__hash__", [](const Stream& s) { return s.index; })
      .def("__repr__", [](const Stream& s) {
        return std::string("Stream(Device(") + device_type_name(s.device.type) + ", " +
               std::to_string(s.device.index) + "), " + std::to_string(s.index) + ")";
      });

  m.def("default_device", &default_device);
  m.def("set_default_device", [](nb::handle d) { set_default_device(to_device(d, "set_default_device")); }, "device"_a);
  m.def("default_stream", [](nb::handle d) { return default_stream(to_device(d, "default_stream")); }, "device"_a);
  m.def("set_default_stream", &set_default_stream, "stream"_a);
  m.def("new_stream", [](nb::handle d) { return new_stream(to_device(d, "new_stream")); }, "device"_a);
  m.def("is_available", [](nb::handle d) { return is_available(to_device(d, "is_available")); }, "device"_a);
  m.def("device_count", [](Device::Type t) { return is_available(Device(t)) ? 1 : 0; }, "device_type"_a);
  m.def("synchronize", [](nb::handle) {}, "stream"_a = nb::none(),
        "Waits for the stream's work; evaluation on the CPU is synchronous, so this returns at once.");
  m.def("device_info", [](nb::handle) {
    nb::dict info;
    info["device_name"] = "cpu";
    info["num_threads"] = cpu::num_threads();
    info["memory_size"] = allocator::get_memory_limit();
    return info;
  }, "d"_a = nb::none());

  m.def("get_active_memory", &allocator::get_active_memory,
        "Bytes held by arrays now (excluding the cache).");
  m.def("get_peak_memory", &allocator::get_peak_memory, "The most bytes active at once.");
  m.def("reset_peak_memory", &allocator::reset_peak_memory);
  m.def("get_cache_memory", &allocator::get_cache_memory, "Bytes kept for reuse.");
  m.def("clear_cache", &allocator::clear_cache);
  m.def("_set_print_precision", &set_print_precision);
  m.def("_get_print_precision", &get_print_precision);
  m.def("get_memory_limit", &allocator::get_memory_limit);
  m.def("set_memory_limit", &allocator::set_memory_limit, "limit"_a,
        "Sets the memory limit in bytes and returns the previous one.");
  m.def("set_cache_limit", &allocator::set_cache_limit, "limit"_a,
        "Sets the cache limit in bytes and returns the previous one.");
}

}  // namespace pullback::python
