// The flat form of custom_function and checkpoint; pullback/core/_custom.py adds the pytrees.
#include <nanobind/stl/pair.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <memory>
#include <string>

#include "pullback/primitives/custom.h"
#include "python/bindings.h"
#include "python/transforms.h"

namespace pullback::python {

using namespace nb::literals;

namespace {

// A Python callable held by a primitive. Graphs are dropped wherever the last reference goes,
// possibly on a thread that does not hold the GIL, so the release takes the GIL; once the
// interpreter is finalizing, the reference is left alone (touching Python then would crash).
class HeldCallable {
 public:
  explicit HeldCallable(nb::handle fn) : fn_(fn.ptr()) { Py_INCREF(fn_); }
  ~HeldCallable() {
#if PY_VERSION_HEX >= 0x030D0000
    bool finalizing = Py_IsFinalizing();
#else
    bool finalizing = _Py_IsFinalizing();
#endif
    if (!Py_IsInitialized() || finalizing) return;
    PyGILState_STATE state = PyGILState_Ensure();
    Py_DECREF(fn_);
    PyGILState_Release(state);
  }
  HeldCallable(const HeldCallable&) = delete;
  HeldCallable& operator=(const HeldCallable&) = delete;

  template <typename... Args>
  nb::object operator()(Args&&... args) const {
    nb::gil_scoped_acquire gil;
    return nb::borrow<nb::callable>(fn_)(std::forward<Args>(args)...);
  }

 private:
  PyObject* fn_;
};

nb::list to_list_of(const std::vector<array>& xs) {
  nb::list out;
  for (auto& x : xs) out.append(nb::cast(x));
  return out;
}

std::shared_ptr<HeldCallable> held(nb::handle fn, const char* what, const char* rule) {
  if (fn.is_none()) return nullptr;
  if (!PyCallable_Check(fn.ptr())) {
    throw nb::type_error((std::string("[") + what + "] The " + rule + " must be callable; got " +
                          nb::type_name(fn.type()).c_str() + ".").c_str());
  }
  return std::make_shared<HeldCallable>(fn);
}

// The rules call back into Python with flat lists (None for a missing tangent or an unbatched
// axis) and take back flat lists.
CustomRules python_rules(nb::handle vjp, nb::handle jvp, nb::handle vmap, const std::string& what) {
  CustomRules rules;
  if (auto fn = held(vjp, what.c_str(), "vjp")) {
    rules.vjp = [fn, what](const std::vector<array>& primals, const std::vector<array>& cts,
                           const std::vector<array>& outs) {
      nb::gil_scoped_acquire gil;
      return arrays_result((*fn)(to_list_of(primals), to_list_of(cts), to_list_of(outs)),
                           what.c_str());
    };
  }
  if (auto fn = held(jvp, what.c_str(), "jvp")) {
    rules.jvp = [fn, what](const std::vector<array>& primals, const std::vector<array>& tangents,
                           const std::vector<int>& argnums) {
      nb::gil_scoped_acquire gil;
      nb::list ts;
      for (size_t i = 0; i < primals.size(); ++i) ts.append(nb::none());
      for (size_t j = 0; j < argnums.size(); ++j) ts[argnums[j]] = nb::cast(tangents[j]);
      return arrays_result((*fn)(to_list_of(primals), ts), what.c_str());
    };
  }
  if (auto fn = held(vmap, what.c_str(), "vmap")) {
    rules.vmap = [fn, what](const std::vector<array>& inputs, const std::vector<int>& axes) {
      nb::gil_scoped_acquire gil;
      nb::list ax;
      for (int a : axes) ax.append(a < 0 ? nb::none() : nb::cast(a));
      nb::object r = (*fn)(to_list_of(inputs), ax);
      auto pair = nb::cast<std::pair<nb::object, nb::object>>(r);
      std::vector<array> outs = arrays_result(pair.first, what.c_str());
      std::vector<int> out_axes;
      for (nb::handle h : nb::cast<nb::list>(pair.second)) {
        out_axes.push_back(h.is_none() ? -1 : to_axis(h, what.c_str(), "out axis"));
      }
      for (size_t k = 0; k < outs.size() && k < out_axes.size(); ++k) {
        if (out_axes[k] < -1 || out_axes[k] >= outs[k].ndim()) {
          throw nb::value_error(("[" + what + "] The vmap rule returned the axis " +
                                 std::to_string(out_axes[k]) + " for output " + std::to_string(k) +
                                 " of shape " + shape_str(outs[k].shape()) + ".").c_str());
        }
      }
      return std::make_pair(std::move(outs), std::move(out_axes));
    };
  }
  return rules;
}

}  // namespace

void init_custom(nb::module_& m) {
  // fun(list of arrays) -> list of arrays; vjp(primals, cotangents, outputs) -> cotangents;
  // jvp(primals, tangents with None where not differentiated) -> output tangents;
  // vmap(inputs, axes with None where unbatched) -> (outputs, axes). Each rule may be None.
  // interval > 0: checkpoint's segments of that many stages (validated by the caller).
  m.def("_custom_function_flat",
        [](nb::callable fun, nb::handle inputs, nb::handle vjp, nb::handle jvp, nb::handle vmap,
           const std::string& what, int interval) {
          CustomRules rules = python_rules(vjp, jvp, vmap, what);
          return custom_function(wrap(fun, what.c_str()), arrays_arg(inputs, what.c_str(), "inputs"),
                                 std::move(rules), what, interval);
        },
        "fun"_a, "inputs"_a, "vjp"_a = nb::none(), "jvp"_a = nb::none(), "vmap"_a = nb::none(),
        "what"_a = "custom_function", "interval"_a = 0);
}

}  // namespace pullback::python
