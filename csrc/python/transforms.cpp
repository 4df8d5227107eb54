// eval and the flat graph transforms; the pytree-aware wrappers live in pullback/core.
#include <nanobind/stl/optional.h>
#include <nanobind/stl/pair.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include "python/transforms.h"

#include "pullback/transforms/transforms.h"
#include "python/bindings.h"

namespace pullback::python {

using namespace nb::literals;

namespace {

[[noreturn]] void not_arrays(const char* name, nb::handle got) {
  throw nb::type_error((std::string("[") + name +
                        "] The function must return an array or a list/tuple of arrays; it returned " +
                        nb::type_name(got.type()).c_str() + ".").c_str());
}

const array& array_output(const char* name, nb::handle h) {
  const array* a = as_array(h, name);
  if (!a) not_arrays(name, h);
  return *a;
}

}  // namespace

std::vector<array> arrays_result(nb::handle r, const char* name) {
  std::vector<array> outs;
  if (nb::isinstance<array>(r)) {
    outs.push_back(array_output(name, r));
    return outs;
  }
  if (!PyList_Check(r.ptr()) && !PyTuple_Check(r.ptr())) not_arrays(name, r);
  nb::tuple items = nb::steal<nb::tuple>(PySequence_Tuple(r.ptr()));
  for (nb::handle h : items) outs.push_back(array_output(name, h));
  return outs;
}

Fn wrap(nb::callable fun, const char* name) {
  return [fun, name](const std::vector<array>& xs) {
    nb::list args;
    for (auto& x : xs) args.append(nb::cast(x));
    return arrays_result(fun(args), name);
  };
}

// The primals/cotangents/tangents arguments: a list or tuple of arrays.
std::vector<array> arrays_arg(nb::handle seq, const char* name, const char* arg) {
  if (!PyList_Check(seq.ptr()) && !PyTuple_Check(seq.ptr())) {
    throw nb::type_error((std::string("[") + name + "] " + arg + " must be a list or tuple of arrays; got " +
                          nb::type_name(seq.type()).c_str() + ".").c_str());
  }
  nb::tuple items = nb::steal<nb::tuple>(PySequence_Tuple(seq.ptr()));
  std::vector<array> out;
  for (nb::handle h : items) {
    const array* a = as_array(h, name);
    if (!a) {
      throw nb::type_error((std::string("[") + name + "] " + arg + " must contain only arrays; got " +
                            nb::type_name(h.type()).c_str() + ".").c_str());
    }
    out.push_back(*a);
  }
  return out;
}

void init_transforms(nb::module_& m) {
  m.def("eval", [](nb::args args) {
    std::vector<array> arrays;
    collect_arrays(args, arrays, "eval");
    eval(arrays);
  }, "Evaluates the arrays in the given pytrees.");
  m.def("async_eval", [](nb::args args) {
    std::vector<array> arrays;
    collect_arrays(args, arrays, "async_eval");
    eval(arrays);
  }, "Evaluates the arrays in the given pytrees (synchronously on the CPU).");
  m.def("_vjp_flat", [](nb::callable fun, nb::handle primals, nb::handle cotangents, const char* name) {
    return vjp(wrap(fun, name), arrays_arg(primals, name, "primals"),
               arrays_arg(cotangents, name, "cotangents"));
  }, "fun"_a, "primals"_a, "cotangents"_a, "name"_a = "vjp");
  m.def("_jvp_flat", [](nb::callable fun, nb::handle primals, nb::handle tangents, const char* name) {
    return jvp(wrap(fun, name), arrays_arg(primals, name, "primals"),
               arrays_arg(tangents, name, "tangents"));
  }, "fun"_a, "primals"_a, "tangents"_a, "name"_a = "jvp");
  // in_axes: one entry per input (None: not mapped). out_axes(n) returns one entry per output
  // once the function has run (pullback.core.vmap matches it against the output pytree).
  m.def("_vmap_flat", [](nb::callable fun, nb::handle inputs, std::vector<std::optional<int>> in_axes,
                         nb::callable out_axes) {
    return vmap(wrap(fun, "vmap"), arrays_arg(inputs, "vmap", "inputs"), in_axes,
                [out_axes](size_t n) {
                  return nb::cast<std::vector<std::optional<int>>>(out_axes(n));
                });
  }, "fun"_a, "inputs"_a, "in_axes"_a, "out_axes"_a);
}

}  // namespace pullback::python
