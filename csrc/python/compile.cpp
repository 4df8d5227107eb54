// The flat form of compile; pullback/core/_compile.py adds the pytrees, the signature cache and
// the captured state.
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <memory>

#include "pullback/primitives/primitive.h"
#include "pullback/transforms/compile.h"
#include "python/bindings.h"
#include "python/transforms.h"

namespace pullback::python {

using namespace nb::literals;

namespace {
// The Python handle of one compiled graph (one input signature).
struct CompiledHandle {
  std::shared_ptr<const CompiledGraph> graph;
};
}  // namespace

void init_compile(nb::module_& m) {
  nb::class_<CompiledHandle>(m, "_CompiledGraph")
      .def_prop_ro("num_nodes", [](const CompiledHandle& h) { return h.graph->trace.nodes.size(); })
      .def_prop_ro("merged", [](const CompiledHandle& h) { return h.graph->merged; })
      .def_prop_ro("fused", [](const CompiledHandle& h) { return h.graph->fused; })
      .def_prop_ro("node_names", [](const CompiledHandle& h) {
        std::vector<std::string> names;
        for (auto& n : h.graph->trace.nodes) names.emplace_back(n.primitive->name());
        return names;
      });
  // fun(list of arrays) -> list of arrays, traced on stand-ins shaped like `inputs`.
  m.def("_compile_flat",
        [](nb::callable fun, nb::handle inputs) {
          return CompiledHandle{compile_function(wrap(fun, "compile"),
                                                 arrays_arg(inputs, "compile", "inputs"))};
        },
        "fun"_a, "inputs"_a);
  m.def("_compiled_call",
        [](const CompiledHandle& h, nb::handle inputs) {
          return compiled_call(*h.graph, arrays_arg(inputs, "compile", "inputs"));
        },
        "graph"_a, "inputs"_a);
}

}  // namespace pullback::python
