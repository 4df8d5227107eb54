#include "pullback/io/file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <stdexcept>

#include "pullback/backend/cpu/parallel.h"
#include "pullback/io/io.h"

namespace pullback::io {

namespace {

[[noreturn]] void fail_file(const char* op, const std::string& what, const std::string& path,
                            int err) {
  throw FileError(std::string("[") + op + "] " + what + " '" + path + "': " + std::strerror(err),
                  err, path);
}

// Reads exactly n bytes at `offset`, retrying short reads; the count read when the file ends.
size_t pread_full(int fd, void* dst, size_t n, uint64_t offset, const char* op,
                  const std::string& name) {
  size_t done = 0;
  while (done < n) {
    size_t want = std::min<size_t>(n - done, size_t(1) << 30);
    ssize_t got = ::pread(fd, static_cast<char*>(dst) + done, want,
                          static_cast<off_t>(offset + done));
    if (got < 0) {
      if (errno == EINTR) continue;
      fail_file(op, "Failed to read file", name, errno);
    }
    if (got == 0) break;
    done += static_cast<size_t>(got);
  }
  return done;
}

}  // namespace

Source::Source(const std::string& path, const char* op, uint64_t offset, uint64_t length)
    : base_(offset), name_(path), op_(op) {
  fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd_ < 0) fail_file(op, "Failed to open file", path, errno);
  struct stat st;
  if (::fstat(fd_, &st) != 0) {
    int err = errno;
    ::close(fd_);
    fd_ = -1;
    fail_file(op, "Failed to open file", path, err);
  }
  if (S_ISDIR(st.st_mode)) {
    ::close(fd_);
    fd_ = -1;
    fail_file(op, "Failed to open file", path, EISDIR);
  }
  uint64_t file_size = static_cast<uint64_t>(st.st_size);
  if (offset > file_size) offset = base_ = file_size;
  size_ = std::min(length, file_size - offset);
}

Source::Source(const void* data, size_t size, std::string name, const char* op)
    : memory_(static_cast<const unsigned char*>(data)), size_(size), name_(std::move(name)),
      op_(op) {}

Source::~Source() {
  if (fd_ >= 0) ::close(fd_);
}

void Source::read(uint64_t offset, void* dst, size_t n, const char* what) const {
  if (offset > size_ || n > size_ - offset) {
    throw std::runtime_error(std::string("[") + op_ + "] File '" + name_ + "' is truncated: " +
                             what + " needs bytes " + std::to_string(offset) + " to " +
                             std::to_string(offset + n) + " but the file has " +
                             std::to_string(size_) + ".");
  }
  if (n == 0) return;
  if (memory_) {
    std::memcpy(dst, memory_ + offset, n);
    return;
  }
  // Reading a large payload is dominated by copying from the page cache and by the first
  // touch of the fresh buffer's pages; both go faster on several threads.
  constexpr size_t kChunk = size_t(8) << 20;
  std::atomic<bool> short_read{false};
  auto read_range = [&](size_t begin, size_t end) {
    size_t got = pread_full(fd_, static_cast<char*>(dst) + begin, end - begin,
                            base_ + offset + begin, op_, name_);
    if (got != end - begin) short_read = true;
  };
  if (n < 2 * kChunk) {
    read_range(0, n);
  } else {
    cpu::parallel_for(n, kChunk, read_range, kChunk);
  }
  if (short_read) {
    throw std::runtime_error(std::string("[") + op_ + "] File '" + name_ +
                             "' changed size while it was read.");
  }
}

std::string printable(const std::string& text) {
  static const char hex[] = "0123456789abcdef";
  std::string out;
  for (char ch : text) {
    unsigned char c = static_cast<unsigned char>(ch);
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out += ch;
    } else {
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

namespace {
std::atomic<uint64_t> temp_counter{0};
}

AtomicFile::AtomicFile(const std::string& path, const char* op) : path_(path), op_(op) {
  if (path.empty()) fail_file(op, "Failed to open file", path, ENOENT);
  // O_EXCL with a name nobody else picks: pid, a counter and the clock.
  for (int attempt = 0; attempt < 100; ++attempt) {
    uint64_t stamp = static_cast<uint64_t>(
        std::chrono::steady_clock::now().time_since_epoch().count());
    temp_ = path + ".tmp-" + std::to_string(::getpid()) + "-" +
            std::to_string(temp_counter.fetch_add(1)) + "-" + std::to_string(stamp % 1000000);
    fd_ = ::open(temp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd_ >= 0) return;
    if (errno != EEXIST) break;
  }
  fail_file(op, "Failed to open file", path, errno);
}

AtomicFile::~AtomicFile() {
  if (fd_ >= 0) {
    ::close(fd_);
    ::unlink(temp_.c_str());
  }
}

void AtomicFile::write(const void* data, size_t n) {
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    ssize_t put = ::write(fd_, p, std::min<size_t>(n, size_t(1) << 30));
    if (put < 0) {
      if (errno == EINTR) continue;
      fail_file(op_, "Failed to write file", path_, errno);
    }
    p += put;
    n -= static_cast<size_t>(put);
  }
}

void AtomicFile::commit() {
  int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0) {
    int err = errno;
    ::unlink(temp_.c_str());
    fail_file(op_, "Failed to write file", path_, err);
  }
  if (::rename(temp_.c_str(), path_.c_str()) != 0) {
    int err = errno;
    ::unlink(temp_.c_str());
    fail_file(op_, "Failed to write file", path_, err);
  }
}

void write_file(const std::string& path, const char* op, const std::string& head,
                const std::vector<array>& payload) {
  AtomicFile file(path, op);
  file.write(head.data(), head.size());
  for (const array& a : payload) file.write(a.raw_data(), a.nbytes());
  file.commit();
}

}  // namespace pullback::io
