// Byte sources and an atomically replaced output file, shared by the .npy and .safetensors
// readers and writers. Internal to csrc/pullback/io.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace pullback::io {

// A range of bytes to read from: part of a file (read with pread, so reads can run in
// parallel and never move a shared file position) or a block of memory.
class Source {
 public:
  // [offset, offset + length) of the file at `path` (to its end when length is ~0).
  Source(const std::string& path, const char* op, uint64_t offset = 0, uint64_t length = ~0ull);
  Source(const void* data, size_t size, std::string name, const char* op);
  ~Source();
  Source(const Source&) = delete;
  Source& operator=(const Source&) = delete;

  uint64_t size() const { return size_; }
  const std::string& name() const { return name_; }
  const char* op() const { return op_; }
  void rename(std::string name) { name_ = std::move(name); }  // what errors call the source
  // Copies n bytes at `offset` into dst; large reads from a file are split across threads.
  // Throws std::runtime_error ("... is truncated") when the source ends first.
  void read(uint64_t offset, void* dst, size_t n, const char* what) const;

 private:
  int fd_ = -1;
  uint64_t base_ = 0;  // offset of byte 0 in the file
  const unsigned char* memory_ = nullptr;
  uint64_t size_ = 0;
  std::string name_;
  const char* op_;
};

// `text` read from a file, quotable in an error message: bytes outside printable ASCII as \xNN
// (the message becomes a Python str, which must be valid UTF-8).
std::string printable(const std::string& text);

// Output to `path` through a temporary file beside it: commit() renames it over `path`; a
// destructor without commit (an error midway) removes the temporary file.
class AtomicFile {
 public:
  AtomicFile(const std::string& path, const char* op);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  void write(const void* data, size_t n);
  void commit();

 private:
  std::string path_, temp_;
  int fd_ = -1;
  const char* op_;
};

}  // namespace pullback::io
