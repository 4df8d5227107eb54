// NumPy indexing for the Python array type: Python keys translated to the core's IndexKey.
#pragma once

#include <nanobind/nanobind.h>

#include "pullback/ops.h"

// a[key]: a view of `a` where the layout allows (slices, integers and new axes never copy);
// array indices gather.
pullback::array index_array(const pullback::array& a, nanobind::handle key);
// The array `a[key] = value` (or `a.at[key].add(value)` and the other reductions) leaves
// behind: `a` with the indexed region replaced or combined with `value` (broadcast to the
// region and cast to a's dtype). `a` itself is not modified.
pullback::array update_array(const pullback::array& a, nanobind::handle key,
                             const pullback::array& value,
                             pullback::ScatterReduce reduce = pullback::ScatterReduce::None);
