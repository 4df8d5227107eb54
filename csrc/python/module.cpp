#include "python/bindings.h"

NB_MODULE(_core, m) {
  m.doc() = "pullback's C++ core: arrays, ops and graph transforms.";
  pullback::python::init_dtypes_devices(m);
  pullback::python::init_array(m);
  pullback::python::init_ops(m);
  pullback::python::init_transforms(m);
}
