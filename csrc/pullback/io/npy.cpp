// NumPy's .npy format: a magic string, a version, a Python dict literal naming dtype, order
// and shape, then the raw elements. bfloat16, which NumPy lacks, is written as MLX writes it:
// a two-byte void ('<V2'), which is read back as bfloat16.
#include <cstring>
#include <stdexcept>
#include <string>

#include "pullback/io/file.h"
#include "pullback/io/io.h"
#include "pullback/io/layout.h"
#include "pullback/ops.h"

namespace pullback::io {

namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicSize = 6;
// The dict of a valid file is tens of bytes; a larger claim is a corrupt length field.
constexpr uint32_t kMaxHeader = 1u << 20;

const char* npy_descr(Dtype t) {
  switch (t) {
    case Dtype::bool_: return "|b1";
    case Dtype::uint8: return "|u1";
    case Dtype::uint16: return "<u2";
    case Dtype::uint32: return "<u4";
    case Dtype::uint64: return "<u8";
    case Dtype::int8: return "|i1";
    case Dtype::int16: return "<i2";
    case Dtype::int32: return "<i4";
    case Dtype::int64: return "<i8";
    case Dtype::float16: return "<f2";
    case Dtype::bfloat16: return "<V2";
    case Dtype::float32: return "<f4";
    case Dtype::float64: return "<f8";
    default: return "<c8";
  }
}

// ---- reading the header dict: {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), } ----

struct Header {
  Dtype dtype = Dtype::float32;
  bool big_endian = false;
  bool fortran = false;
  Shape shape;
};

class DictReader {
 public:
  DictReader(const std::string& text, const Source& src) : s_(text), src_(src) {}

  Header parse() {
    Header h;
    bool seen_descr = false, seen_order = false, seen_shape = false;
    expect('{');
    while (true) {
      skip_space();
      if (peek() == '}') break;
      std::string key = quoted();
      expect(':');
      if (key == "descr") {
        skip_space();
        if (peek() != '\'' && peek() != '"') {
          throw std::invalid_argument(prefix() + "holds a structured dtype; pullback loads only "
                                      "plain numeric arrays.");
        }
        set_dtype(h, quoted());
        seen_descr = true;
      } else if (key == "fortran_order") {
        h.fortran = boolean();
        seen_order = true;
      } else if (key == "shape") {
        h.shape = tuple();
        seen_shape = true;
      } else {
        corrupt("has an unknown key '" + printable(key) + "' in its header");
      }
      skip_space();
      if (peek() == ',') {
        ++i_;
        continue;
      }
      if (peek() != '}') corrupt("has a malformed header");
    }
    ++i_;
    if (!seen_descr || !seen_order || !seen_shape) {
      corrupt("has a header without 'descr', 'fortran_order' and 'shape'");
    }
    return h;
  }

 private:
  std::string prefix() const { return std::string("[") + src_.op() + "] '" + src_.name() + "' "; }
  [[noreturn]] void corrupt(const std::string& what) const {
    throw std::runtime_error(prefix() + what + " (not a valid .npy file).");
  }
  char peek() const { return i_ < s_.size() ? s_[i_] : '\0'; }
  void skip_space() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r')) ++i_;
  }
  void expect(char c) {
    skip_space();
    if (peek() != c) corrupt("has a malformed header");
    ++i_;
  }
  std::string quoted() {
    skip_space();
    char q = peek();
    if (q != '\'' && q != '"') corrupt("has a malformed header");
    size_t end = s_.find(q, i_ + 1);
    if (end == std::string::npos) corrupt("has a malformed header");
    std::string out = s_.substr(i_ + 1, end - i_ - 1);
    i_ = end + 1;
    return out;
  }
  bool boolean() {
    skip_space();
    if (s_.compare(i_, 4, "True") == 0) return i_ += 4, true;
    if (s_.compare(i_, 5, "False") == 0) return i_ += 5, false;
    corrupt("has a malformed 'fortran_order'");
  }
  Shape tuple() {
    Shape shape;
    expect('(');
    while (true) {
      skip_space();
      if (peek() == ')') break;
      if (peek() < '0' || peek() > '9') corrupt("has a malformed 'shape'");
      int64_t d = 0;
      while (peek() >= '0' && peek() <= '9') {
        if (d > (int64_t(1) << 58)) corrupt("has a dimension too large for any file");
        d = d * 10 + (s_[i_++] - '0');
      }
      if (peek() == 'L') ++i_;  // Python 2's long literals
      shape.push_back(d);
      if (shape.size() > static_cast<size_t>(kMaxNdim)) {
        throw std::invalid_argument(prefix() + "has more than " + std::to_string(kMaxNdim) +
                                    " dimensions.");
      }
      skip_space();
      if (peek() == ',') {
        ++i_;
      } else if (peek() != ')') {
        corrupt("has a malformed 'shape'");
      }
    }
    ++i_;
    return shape;
  }
  void set_dtype(Header& h, const std::string& descr) {
    std::string body = descr;
    char order = body.empty() ? '\0' : body[0];
    if (order == '<' || order == '>' || order == '|' || order == '=') body = body.substr(1);
    h.big_endian = order == '>';
    static const std::pair<const char*, Dtype> kinds[] = {
        {"b1", Dtype::bool_},   {"?", Dtype::bool_},     {"u1", Dtype::uint8},
        {"u2", Dtype::uint16},  {"u4", Dtype::uint32},   {"u8", Dtype::uint64},
        {"i1", Dtype::int8},    {"i2", Dtype::int16},    {"i4", Dtype::int32},
        {"i8", Dtype::int64},   {"f2", Dtype::float16},  {"f4", Dtype::float32},
        {"f8", Dtype::float64}, {"c8", Dtype::complex64}, {"V2", Dtype::bfloat16}};
    for (const auto& [name, dtype] : kinds) {
      if (body == name) {
        h.dtype = dtype;
        return;
      }
    }
    throw std::invalid_argument(prefix() + "holds dtype '" + printable(descr) +
                                "', which pullback does not support.");
  }

  const std::string& s_;
  const Source& src_;
  size_t i_ = 0;
};

// Reverses the bytes of each element (of each part, for complex) in place.
void swap_bytes(array& a) {
  size_t part = a.dtype() == Dtype::complex64 ? 4 : a.itemsize();
  size_t n = a.nbytes() / part;
  auto* p = static_cast<unsigned char*>(a.raw_data());
  if (part == 2) {
    auto* q = reinterpret_cast<uint16_t*>(p);
    for (size_t i = 0; i < n; ++i) q[i] = __builtin_bswap16(q[i]);
  } else if (part == 4) {
    auto* q = reinterpret_cast<uint32_t*>(p);
    for (size_t i = 0; i < n; ++i) q[i] = __builtin_bswap32(q[i]);
  } else if (part == 8) {
    auto* q = reinterpret_cast<uint64_t*>(p);
    for (size_t i = 0; i < n; ++i) q[i] = __builtin_bswap64(q[i]);
  }
}

uint32_t read_le(const unsigned char* p, int bytes) {
  uint32_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

array load(const Source& src) {
  unsigned char prefix[12];
  src.read(0, prefix, 10, "the .npy preamble");
  if (std::memcmp(prefix, kMagic, kMagicSize) != 0) {
    throw std::runtime_error(std::string("[") + src.op() + "] '" + src.name() +
                             "' is not a .npy file (it does not start with \\x93NUMPY).");
  }
  int major = prefix[6];
  uint64_t header_start;
  uint32_t header_len;
  if (major == 1) {
    header_start = 10;
    header_len = read_le(prefix + 8, 2);
  } else if (major == 2 || major == 3) {
    src.read(10, prefix + 10, 2, "the .npy preamble");
    header_start = 12;
    header_len = read_le(prefix + 8, 4);
  } else {
    throw std::runtime_error(std::string("[") + src.op() + "] '" + src.name() +
                             "' has .npy format version " + std::to_string(major) + "." +
                             std::to_string(prefix[7]) + "; pullback reads versions 1 to 3.");
  }
  if (header_len > kMaxHeader) {
    throw std::runtime_error(std::string("[") + src.op() + "] '" + src.name() +
                             "' claims a header of " + std::to_string(header_len) +
                             " bytes (not a valid .npy file).");
  }
  std::string text(header_len, '\0');
  src.read(header_start, text.data(), header_len, "the .npy header");
  Header h = DictReader(text, src).parse();

  uint64_t data_start = header_start + header_len;
  uint64_t nbytes = payload_bytes(h.shape, h.dtype, src);
  if (data_start > src.size() || nbytes > src.size() - data_start) {
    throw std::runtime_error(std::string("[") + src.op() + "] File '" + src.name() +
                             "' is truncated: its header promises " + std::to_string(nbytes) +
                             " bytes of " + dtype_name(h.dtype) + " data of shape " +
                             shape_str(h.shape) + " but " +
                             std::to_string(src.size() > data_start ? src.size() - data_start : 0) +
                             " follow.");
  }
  array out = empty_with_layout(h.shape, h.dtype, h.fortran);
  src.read(data_start, out.raw_data(), out.nbytes(), "the array data");
  if (h.big_endian && out.itemsize() > 1) swap_bytes(out);
  return out;
}

}  // namespace

std::pair<std::string, array> npy_encode(const array& a) {
  array data = dense_for_writing(a, /*allow_fortran=*/true);
  bool fortran = !data.flags().row_contiguous;
  std::string dict = std::string("{'descr': '") + npy_descr(a.dtype()) +
                     "', 'fortran_order': " + (fortran ? "True" : "False") + ", 'shape': (";
  for (size_t i = 0; i < a.shape().size(); ++i) {
    dict += std::to_string(a.shape()[i]) + (a.ndim() == 1 || i + 1 < a.shape().size() ? ", " : "");
  }
  if (a.ndim() == 1) dict.pop_back();  // "(3,)"
  dict += "), }";
  // The payload starts at a multiple of 64 bytes (NumPy's alignment); the dict ends in '\n'.
  size_t preamble = dict.size() + 1 + 10 <= 65535 ? 10 : 12;
  size_t total = (preamble + dict.size() + 1 + 63) / 64 * 64;
  dict.append(total - preamble - dict.size() - 1, ' ');
  dict += '\n';
  std::string out(kMagic, kMagicSize);
  out += static_cast<char>(preamble == 10 ? 1 : 2);
  out += '\0';
  for (size_t i = 0; i < preamble - 8; ++i) out += static_cast<char>((dict.size() >> (8 * i)) & 0xff);
  out += dict;
  return {std::move(out), std::move(data)};
}

void save_npy(const std::string& path, const array& a) {
  auto [header, data] = npy_encode(a);
  write_file(path, "save", header, {data});
}

array load_npy(const std::string& path, uint64_t offset, std::optional<uint64_t> length,
               const std::string& name) {
  Source src(path, "load", offset, length.value_or(~0ull));
  if (!name.empty()) src.rename(name);
  return load(src);
}

array load_npy(const void* data, size_t size, const std::string& name) {
  Source src(data, size, name, "load");
  return load(src);
}

}  // namespace pullback::io
