// Helpers shared by the bindings of the function transforms.
#pragma once

#include <nanobind/nanobind.h>

#include <vector>

#include "pullback/transforms/transforms.h"
#include "python/convert.h"

namespace pullback::python {

// A Python function of a list of arrays returning an array or a list/tuple of them, as an Fn.
Fn wrap(nb::callable fun, const char* name);
// A function's result `r`: an array or a list/tuple of arrays (else a TypeError naming `name`).
std::vector<array> arrays_result(nb::handle r, const char* name);
// An argument that is a list or tuple of arrays (`arg` names it in errors).
std::vector<array> arrays_arg(nb::handle seq, const char* name, const char* arg);

}  // namespace pullback::python
