// Bindings of the .npy and .safetensors readers and writers. They are private (_save_npy ...):
// pullback/core/_io.py holds the public save/load functions, which sort out paths, file-like
// objects and the .npz container, and call these.
#include <nanobind/nanobind.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>

#include "pullback/io/io.h"
#include "python/bindings.h"
#include "python/convert.h"

namespace nb = nanobind;
using namespace nb::literals;

namespace pullback::python {

namespace {

// A file that could not be opened or written: the OSError subclass of its errno
// (FileNotFoundError, PermissionError, IsADirectoryError ...).
void translate_file_error(const std::exception_ptr& p, void*) {
  try {
    std::rethrow_exception(p);
  } catch (const io::FileError& e) {
    // OSError(errno, ...) picks the subclass; the raised instance then carries the message
    // alone, so that it reads "[load] ...", and errno. (With strerror or filename set too,
    // OSError's str() would print those instead of the message.)
    nb::object probe = nb::steal(PyObject_CallFunction(PyExc_OSError, "is", e.error_number, ""));
    PyObject* type = probe ? reinterpret_cast<PyObject*>(Py_TYPE(probe.ptr())) : PyExc_OSError;
    nb::object err = nb::steal(PyObject_CallFunction(type, "s", e.what()));
    if (!err) return;
    PyObject_SetAttrString(err.ptr(), "errno", nb::int_(e.error_number).ptr());
    PyErr_SetObject(type, err.ptr());
  }
}

// The bytes of a dense array as a flat uint8 array sharing its buffer: any dtype (bfloat16
// included) can then be handed to a Python file's write() through the buffer protocol.
array byte_view(const array& dense) {
  array bytes(std::make_shared<ArrayDesc>(Shape{static_cast<int64_t>(dense.nbytes())}, Dtype::uint8));
  bytes.copy_shared_buffer(dense, {1}, ArrayFlags{}, dense.nbytes());
  return bytes;
}

const array& array_arg(nb::handle h, const char* op, const std::string& what) {
  const array* a = as_array(h, op);
  if (!a) {
    throw nb::type_error((std::string("[") + op + "] " + what + " must be an array; got " +
                          nb::type_name(h.type()).c_str() + ".").c_str());
  }
  return *a;
}

io::NamedArrays named_arrays(nb::handle arrays, const char* op) {
  if (!nb::isinstance<nb::dict>(arrays)) {
    throw nb::type_error((std::string("[") + op + "] arrays must be a dict of str to array; got " +
                          nb::type_name(arrays.type()).c_str() + ".").c_str());
  }
  io::NamedArrays out;
  for (auto [k, v] : nb::borrow<nb::dict>(arrays)) {
    if (!nb::isinstance<nb::str>(k)) {
      throw nb::type_error((std::string("[") + op + "] Array names must be str; got " +
                            nb::type_name(k.type()).c_str() + ".").c_str());
    }
    std::string name = nb::cast<std::string>(k);
    out.emplace_back(name, array_arg(v, op, "The value of \"" + name + "\""));
  }
  return out;
}

io::Metadata metadata_arg(nb::handle metadata, const char* op) {
  io::Metadata out;
  if (metadata.is_none()) return out;
  bool ok = nb::isinstance<nb::dict>(metadata);
  if (ok) {
    for (auto [k, v] : nb::borrow<nb::dict>(metadata)) {
      if (!nb::isinstance<nb::str>(k) || !nb::isinstance<nb::str>(v)) {
        ok = false;
        break;
      }
      out.emplace_back(nb::cast<std::string>(k), nb::cast<std::string>(v));
    }
  }
  if (!ok) {
    throw std::invalid_argument(std::string("[") + op +
                                "] Metadata must be a dictionary with string keys and values.");
  }
  return out;
}

nb::dict to_dict(io::NamedArrays& arrays) {
  nb::dict d;
  for (auto& [name, a] : arrays) d[nb::str(name.c_str(), name.size())] = nb::cast(std::move(a));
  return d;
}

nb::tuple safetensors_result(std::pair<io::NamedArrays, io::Metadata>& r) {
  nb::dict metadata;
  for (auto& [k, v] : r.second) metadata[nb::str(k.c_str(), k.size())] = nb::str(v.c_str(), v.size());
  return nb::make_tuple(to_dict(r.first), metadata);
}

// A read-only buffer (bytes, bytearray, memoryview) held for the duration of a call.
struct HeldBuffer {
  Py_buffer view{};
  explicit HeldBuffer(nb::handle data) {
    if (PyObject_GetBuffer(data.ptr(), &view, PyBUF_SIMPLE) != 0) throw nb::python_error();
  }
  ~HeldBuffer() { PyBuffer_Release(&view); }
  HeldBuffer(const HeldBuffer&) = delete;
  HeldBuffer& operator=(const HeldBuffer&) = delete;
  size_t size() const { return static_cast<size_t>(view.len); }
};

}  // namespace

void init_io(nb::module_& m) {
  nb::register_exception_translator(translate_file_error);

  m.def("_save_npy", [](const std::string& path, nb::handle a) {
    auto [header, data] = io::npy_encode(array_arg(a, "save", "arr"));
    nb::gil_scoped_release release;
    io::write_file(path, "save", header, {data});
  }, "path"_a, "arr"_a.none(), "Writes arr to path in .npy format (atomically).");
  m.def("_npy_encode", [](nb::handle a) {
    auto [header, data] = io::npy_encode(array_arg(a, "save", "arr"));
    return nb::make_tuple(nb::bytes(header.data(), header.size()), byte_view(data));
  }, "arr"_a.none(), "(header bytes, uint8 array of the payload) of arr's .npy form.");
  m.def("_load_npy", [](const std::string& path, uint64_t offset, std::optional<uint64_t> length,
                        const std::string& name) {
    nb::gil_scoped_release release;
    return io::load_npy(path, offset, length, name);
  }, "path"_a, "offset"_a = 0, "length"_a = nb::none(), "name"_a = "",
     "Reads the .npy at bytes [offset, offset + length) of path.");
  m.def("_load_npy_bytes", [](nb::handle data, const std::string& name) {
    HeldBuffer held(data);
    return io::load_npy(held.view.buf, held.size(), name);
  }, "data"_a, "name"_a, "Reads a .npy held in memory.");

  m.def("_save_safetensors", [](const std::string& path, nb::handle arrays, nb::handle metadata) {
    auto named = named_arrays(arrays, "save_safetensors");
    auto meta = metadata_arg(metadata, "save_safetensors");
    auto [head, data] = io::safetensors_encode(named, meta);
    nb::gil_scoped_release release;
    io::write_file(path, "save_safetensors", head, data);
  }, "path"_a, "arrays"_a.none(), "metadata"_a.none() = nb::none(),
     "Writes the arrays to path in .safetensors format (atomically).");
  m.def("_safetensors_encode", [](nb::handle arrays, nb::handle metadata) {
    auto named = named_arrays(arrays, "save_safetensors");
    auto meta = metadata_arg(metadata, "save_safetensors");
    auto [head, data] = io::safetensors_encode(named, meta);
    nb::list payload;
    for (const array& a : data) payload.append(nb::cast(byte_view(a)));
    return nb::make_tuple(nb::bytes(head.data(), head.size()), payload);
  }, "arrays"_a.none(), "metadata"_a.none() = nb::none(),
     "(head bytes, uint8 arrays of the payload) of the .safetensors form.");
  m.def("_load_safetensors", [](const std::string& path) {
    std::pair<io::NamedArrays, io::Metadata> r;
    {
      nb::gil_scoped_release release;
      r = io::load_safetensors(path);
    }
    return safetensors_result(r);
  }, "path"_a, "Reads a .safetensors file: (dict of arrays, dict of metadata).");
  m.def("_load_safetensors_bytes", [](nb::handle data, const std::string& name) {
    HeldBuffer held(data);
    auto r = io::load_safetensors(held.view.buf, held.size(), name);
    return safetensors_result(r);
  }, "data"_a, "name"_a, "Reads a .safetensors held in memory.");
}

}  // namespace pullback::python
