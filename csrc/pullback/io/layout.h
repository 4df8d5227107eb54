// Array buffers as files hold them. Internal to csrc/pullback/io.
#pragma once

#include "pullback/array.h"
#include "pullback/io/file.h"

namespace pullback::io {

// Bytes of an array of `shape` and `dtype`; a count no file could hold (a corrupt header) is
// a std::runtime_error naming `src`.
uint64_t payload_bytes(const Shape& shape, Dtype dtype, const Source& src);
// An evaluated array with a fresh, uninitialised buffer in C order, or Fortran order when
// `fortran` (strides reversed, so that the file's bytes are read as they are).
array empty_with_layout(const Shape& shape, Dtype dtype, bool fortran);
// `a` evaluated and dense: itself when row-contiguous (or column-contiguous, if allowed),
// else a row-major copy.
array dense_for_writing(const array& a, bool allow_fortran);

}  // namespace pullback::io
