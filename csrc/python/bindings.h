// The parts of the _core module, one per area.
#pragma once

#include <nanobind/nanobind.h>

namespace pullback::python {
void init_dtypes_devices(nanobind::module_& m);
void init_array(nanobind::module_& m);
void init_ops(nanobind::module_& m);
void init_transforms(nanobind::module_& m);
void init_indexing(nanobind::module_& m);  // after init_array: adds array.at
void init_compose(nanobind::module_& m);
void init_scan(nanobind::module_& m);  // after init_array: adds array.cumsum and friends
void init_sort(nanobind::module_& m);
void init_io(nanobind::module_& m);
void init_conv(nanobind::module_& m);
void init_random(nanobind::module_& m);  // the submodule random
void init_special(nanobind::module_& m);  // after init_array: adds array.view, array.__iter__
void init_fft(nanobind::module_& m);  // the submodule _fft
void init_linalg(nanobind::module_& m);  // the linalg submodule
void init_fast(nanobind::module_& m);  // the submodule _fast
void init_fast_attention(nanobind::module_& m);  // after init_fast: adds to _fast
void init_custom(nanobind::module_& m);
void init_compile(nanobind::module_& m);
}  // namespace pullback::python
