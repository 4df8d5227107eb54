// Saving and loading arrays: NumPy's .npy and Hugging Face's .safetensors. The .npz container
// (a zip of .npy members) is assembled in Python (pullback/core/_io.py) from these pieces.
//
// Errors: a file that cannot be opened or written is a FileError (OSError in Python, with
// errno); a file whose contents are corrupt or truncated is std::runtime_error; an argument or
// a dtype pullback cannot hold is std::invalid_argument. Every message names the file.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "pullback/array.h"

namespace pullback::io {

struct FileError : std::runtime_error {
  int error_number;  // errno of the failing call
  std::string path;
  FileError(const std::string& msg, int err, std::string p)
      : std::runtime_error(msg), error_number(err), path(std::move(p)) {}
};

using NamedArrays = std::vector<std::pair<std::string, array>>;
using Metadata = std::vector<std::pair<std::string, std::string>>;

// Writes `head` then the buffers of the (dense, evaluated) arrays to `path` through a
// temporary file in the same directory renamed over it at the end, so that a failed save
// leaves any earlier file in place and never a half-written one. `op` names the caller.
void write_file(const std::string& path, const char* op, const std::string& head,
                const std::vector<array>& payload);

// ---- .npy ----
// Evaluates `a` and returns the .npy header (magic, version, dict, padding) and the array
// whose buffer, in memory order, is the payload that follows it: `a` itself when it is dense
// in C or Fortran order (the header says which), else a row-major copy.
std::pair<std::string, array> npy_encode(const array& a);
// Writes `a` to `path` (exactly that name; see write_file).
void save_npy(const std::string& path, const array& a);
// Reads the .npy stored in bytes [offset, offset + length) of `path` (the whole file when
// `length` is empty): the payload is read straight into the new array's buffer. Errors name
// `name` (default: `path`), e.g. "file.npz:x.npy" for a member of an .npz.
array load_npy(const std::string& path, uint64_t offset = 0,
               std::optional<uint64_t> length = std::nullopt, const std::string& name = "");
// The same from memory; `name` stands for the file in error messages.
array load_npy(const void* data, size_t size, const std::string& name);

// ---- .safetensors ----
// Evaluates the arrays and returns the file's head (8-byte length and JSON header, padded to
// a multiple of 8) and the row-contiguous arrays whose buffers follow it, in order.
std::pair<std::string, std::vector<array>> safetensors_encode(const NamedArrays& arrays,
                                                              const Metadata& metadata);
void save_safetensors(const std::string& path, const NamedArrays& arrays,
                      const Metadata& metadata);
std::pair<NamedArrays, Metadata> load_safetensors(const std::string& path);
std::pair<NamedArrays, Metadata> load_safetensors(const void* data, size_t size,
                                                  const std::string& name);

}  // namespace pullback::io
