// A small JSON reader and string escaper for the .safetensors header. Internal to
// csrc/pullback/io. Objects keep their keys in file order (duplicates are an error).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace pullback::io {

struct Json {
  enum class Kind { null, boolean, number, string, array, object };
  Kind kind = Kind::null;
  bool boolean = false;
  // Numbers: `integer` holds a non-negative integer literal that fits in 63 bits; any other
  // number (fraction, exponent, sign, too large) sets is_integer false.
  bool is_integer = false;
  uint64_t integer = 0;
  std::string string;
  std::vector<Json> items;
  std::vector<std::pair<std::string, Json>> members;

  const Json* find(const std::string& key) const;
};

// Parses `text` (one value, surrounded by optional whitespace); strings must be valid UTF-8.
// Errors throw std::runtime_error "<context> ... at byte N".
Json parse_json(const std::string& text, const std::string& context);
// `s` as a JSON string literal, quotes included.
std::string json_quote(const std::string& s);

}  // namespace pullback::io
