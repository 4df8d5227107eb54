// Basic NumPy indexing for the Python array type: integers, slices, None, Ellipsis and
// tuples of them. Advanced (array or list) indices are rejected with a clear error.
#pragma once

#include <nanobind/nanobind.h>

#include "pullback/array.h"

// a[key]: a view of `a` where the layout allows (slices, integers and new axes never copy).
pullback::array index_array(const pullback::array& a, nanobind::handle key);
// The array `a[key] = value` leaves behind: `a` with the indexed region replaced by `value`
// (broadcast to the region and cast to a's dtype). `a` itself is not modified.
pullback::array update_array(const pullback::array& a, nanobind::handle key,
                             const pullback::array& value);
