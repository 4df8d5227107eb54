// eval and the flat graph transforms; the pytree-aware wrappers live in pullback/core.
#include <nanobind/stl/pair.h>
#include <nanobind/stl/vector.h>

#include "pullback/transforms/transforms.h"
#include "python/bindings.h"
#include "python/convert.h"

namespace pullback::python {

using namespace nb::literals;

namespace {

Fn wrap(nb::callable fun, const char* name) {
  return [fun, name](const std::vector<array>& xs) {
    nb::list args;
    for (auto& x : xs) args.append(nb::cast(x));
    nb::object r = fun(args);
    std::vector<array> outs;
    if (nb::isinstance<array>(r)) {
      outs.push_back(nb::cast<array>(r));
      return outs;
    }
    if (!PyList_Check(r.ptr()) && !PyTuple_Check(r.ptr())) {
      throw std::invalid_argument(std::string("[") + name +
                                  "] The function must return an array or a list of arrays.");
    }
    for (nb::handle h : nb::iter(r)) {
      if (!nb::isinstance<array>(h)) {
        throw std::invalid_argument(std::string("[") + name + "] The function returned a " +
                                    nb::cast<std::string>(nb::str(nb::handle(Py_TYPE(h.ptr())))) +
                                    " where an array was expected.");
      }
      outs.push_back(nb::cast<array>(h));
    }
    return outs;
  };
}

}  // namespace

void init_transforms(nb::module_& m) {
  m.def("eval", [](nb::args args) {
    std::vector<array> arrays;
    collect_arrays(args, arrays);
    eval(arrays);
  }, "Evaluates the arrays in the given pytrees.");
  m.def("async_eval", [](nb::args args) {
    std::vector<array> arrays;
    collect_arrays(args, arrays);
    eval(arrays);
  }, "Evaluates the arrays in the given pytrees (synchronously on the CPU).");
  m.def("_vjp_flat", [](nb::callable fun, std::vector<array> primals, std::vector<array> cotangents) {
    return vjp(wrap(fun, "vjp"), primals, cotangents);
  }, "fun"_a, "primals"_a, "cotangents"_a);
  m.def("_jvp_flat", [](nb::callable fun, std::vector<array> primals, std::vector<array> tangents) {
    return jvp(wrap(fun, "jvp"), primals, tangents);
  }, "fun"_a, "primals"_a, "tangents"_a);
}

}  // namespace pullback::python
