// Hugging Face's .safetensors: an 8-byte little-endian length, a JSON header mapping each
// name to {"dtype", "shape", "data_offsets"} (plus an optional "__metadata__" of strings),
// then the tensors' bytes, row-major, little-endian.
#include <algorithm>
#include <cstring>
#include <stdexcept>

#include "pullback/io/file.h"
#include "pullback/io/io.h"
#include "pullback/io/json.h"
#include "pullback/io/layout.h"
#include "pullback/ops.h"

namespace pullback::io {

namespace {

constexpr const char* kMetadataKey = "__metadata__";
// The reference implementation refuses headers over 100 MB; so do we, before allocating.
constexpr uint64_t kMaxHeader = 100'000'000;

constexpr std::pair<const char*, Dtype> kDtypeNames[] = {
    {"BOOL", Dtype::bool_},   {"U8", Dtype::uint8},     {"U16", Dtype::uint16},
    {"U32", Dtype::uint32},   {"U64", Dtype::uint64},   {"I8", Dtype::int8},
    {"I16", Dtype::int16},    {"I32", Dtype::int32},    {"I64", Dtype::int64},
    {"F16", Dtype::float16},  {"BF16", Dtype::bfloat16}, {"F32", Dtype::float32},
    {"F64", Dtype::float64},  {"C64", Dtype::complex64}};

const char* safetensors_dtype(Dtype t) {
  for (const auto& [name, dtype] : kDtypeNames) {
    if (dtype == t) return name;
  }
  return "?";
}

std::string u64_le(uint64_t v) {
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((v >> (8 * i)) & 0xff);
  return out;
}

std::pair<NamedArrays, Metadata> load(const Source& src) {
  const std::string where = std::string("[") + src.op() + "] '" + src.name() + "'";
  auto corrupt = [&](const std::string& what) -> std::runtime_error {
    return std::runtime_error(where + " " + what + " (not a valid .safetensors file).");
  };
  unsigned char len_bytes[8];
  src.read(0, len_bytes, 8, "the .safetensors header length");
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | len_bytes[i];
  if (header_len > kMaxHeader || header_len > src.size() - 8) {
    throw corrupt("claims a JSON header of " + std::to_string(header_len) +
                  " bytes but the file has " + std::to_string(src.size()));
  }
  std::string text(header_len, '\0');
  src.read(8, text.data(), header_len, "the .safetensors header");
  Json header = parse_json(text, where + " has a malformed JSON header");
  if (header.kind != Json::Kind::object) throw corrupt("has a JSON header that is not an object");

  const uint64_t data_start = 8 + header_len;
  const uint64_t data_size = src.size() - data_start;
  NamedArrays arrays;
  Metadata metadata;
  for (const auto& [name, entry] : header.members) {
    if (name == kMetadataKey) {
      if (entry.kind == Json::Kind::null) continue;
      if (entry.kind != Json::Kind::object) throw corrupt("has a \"__metadata__\" that is not an object");
      for (const auto& [key, value] : entry.members) {
        if (value.kind != Json::Kind::string) {
          throw corrupt("has metadata \"" + key + "\" that is not a string");
        }
        metadata.emplace_back(key, value.string);
      }
      continue;
    }
    const Json* dtype = entry.find("dtype");
    const Json* shape = entry.find("shape");
    const Json* offsets = entry.find("data_offsets");
    if (entry.kind != Json::Kind::object || !dtype || !shape || !offsets ||
        dtype->kind != Json::Kind::string || shape->kind != Json::Kind::array ||
        offsets->kind != Json::Kind::array || offsets->items.size() != 2) {
      throw corrupt("has an entry \"" + name + "\" without a valid dtype, shape and data_offsets");
    }
    auto known = std::find_if(std::begin(kDtypeNames), std::end(kDtypeNames),
                              [&](const auto& p) { return dtype->string == p.first; });
    if (known == std::end(kDtypeNames)) {
      throw std::invalid_argument(where + " holds tensor \"" + name + "\" of dtype " +
                                  printable(dtype->string) + ", which pullback does not support.");
    }
    if (shape->items.size() > static_cast<size_t>(kMaxNdim)) {
      throw std::invalid_argument(where + " holds tensor \"" + name + "\" with more than " +
                                  std::to_string(kMaxNdim) + " dimensions.");
    }
    Shape dims;
    for (const Json& d : shape->items) {
      if (d.kind != Json::Kind::number || !d.is_integer) {
        throw corrupt("has tensor \"" + name + "\" with a shape that is not a list of sizes");
      }
      dims.push_back(static_cast<int64_t>(d.integer));
    }
    for (const Json& o : offsets->items) {
      if (o.kind != Json::Kind::number || !o.is_integer) {
        throw corrupt("has tensor \"" + name + "\" with malformed data_offsets");
      }
    }
    uint64_t begin = offsets->items[0].integer, end = offsets->items[1].integer;
    uint64_t nbytes = payload_bytes(dims, known->second, src);
    if (end < begin || end - begin != nbytes) {
      throw corrupt("has tensor \"" + name + "\" whose data_offsets (" + std::to_string(begin) +
                    ", " + std::to_string(end) + ") do not span the " + std::to_string(nbytes) +
                    " bytes of its shape " + shape_str(dims) + " and dtype " + dtype->string);
    }
    if (end > data_size) {
      throw std::runtime_error(where + " is truncated: tensor \"" + name + "\" needs data bytes " +
                               std::to_string(begin) + " to " + std::to_string(end) +
                               " but the file holds " + std::to_string(data_size) + ".");
    }
    array out = empty_with_layout(dims, known->second, false);
    src.read(data_start + begin, out.raw_data(), nbytes, "the tensor data");
    arrays.emplace_back(name, std::move(out));
  }
  return {std::move(arrays), std::move(metadata)};
}

}  // namespace

std::pair<std::string, std::vector<array>> safetensors_encode(const NamedArrays& arrays,
                                                              const Metadata& metadata) {
  for (size_t i = 0; i < arrays.size(); ++i) {
    if (arrays[i].first == kMetadataKey) {
      throw std::invalid_argument("[save_safetensors] \"__metadata__\" is reserved; it cannot "
                                  "name an array.");
    }
    for (size_t j = 0; j < i; ++j) {
      if (arrays[j].first == arrays[i].first) {
        throw std::invalid_argument("[save_safetensors] Two arrays are named \"" +
                                    arrays[i].first + "\".");
      }
    }
  }
  // Wider elements first: with the header padded to 8 bytes, every tensor then starts at a
  // multiple of its element size, so readers that map the file can use it in place.
  std::vector<size_t> order(arrays.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t x, size_t y) {
    return arrays[x].second.itemsize() > arrays[y].second.itemsize();
  });
  std::vector<uint64_t> begins(arrays.size());
  std::vector<array> data;
  uint64_t offset = 0;
  for (size_t i : order) {
    data.push_back(dense_for_writing(arrays[i].second, false));
    begins[i] = offset;
    offset += data.back().nbytes();
  }
  std::string json = "{";
  if (!metadata.empty()) {
    json += json_quote(kMetadataKey) + ":{";
    for (size_t i = 0; i < metadata.size(); ++i) {
      json += (i ? "," : "") + json_quote(metadata[i].first) + ":" + json_quote(metadata[i].second);
    }
    json += "}";
  }
  for (size_t i = 0; i < arrays.size(); ++i) {
    const array& a = arrays[i].second;
    if (json.size() > 1) json += ",";
    json += json_quote(arrays[i].first) + ":{\"dtype\":\"" + safetensors_dtype(a.dtype()) +
            "\",\"shape\":[";
    for (int d = 0; d < a.ndim(); ++d) json += (d ? "," : "") + std::to_string(a.shape()[d]);
    json += "],\"data_offsets\":[" + std::to_string(begins[i]) + "," +
            std::to_string(begins[i] + a.nbytes()) + "]}";
  }
  json += "}";
  json.append((8 - json.size() % 8) % 8, ' ');
  return {u64_le(json.size()) + json, std::move(data)};
}

void save_safetensors(const std::string& path, const NamedArrays& arrays,
                      const Metadata& metadata) {
  auto [head, data] = safetensors_encode(arrays, metadata);
  write_file(path, "save_safetensors", head, data);
}

std::pair<NamedArrays, Metadata> load_safetensors(const std::string& path) {
  Source src(path, "load");
  return load(src);
}

std::pair<NamedArrays, Metadata> load_safetensors(const void* data, size_t size,
                                                  const std::string& name) {
  Source src(data, size, name, "load");
  return load(src);
}

}  // namespace pullback::io
