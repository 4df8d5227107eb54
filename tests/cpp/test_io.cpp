// File formats in C++: the JSON reader of the .safetensors header (escapes, surrogate pairs,
// numbers, malformed input) and .npy / .safetensors round trips through memory.
#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

#include "pullback/io/io.h"
#include "pullback/io/json.h"
#include "test_utils.h"

using namespace pullback;
using namespace pbtest;

namespace {

TEST(IoJson, ParsesValuesEscapesAndSurrogatePairs) {
  io::Json v = io::parse_json(
      R"( {"a": [0, 12, 9223372036854775807, 9223372036854775808, -1, 1.5, 2e3],
          "s": "q\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00", "t": true, "f": false, "n": null} )",
      "test");
  ASSERT_EQ(v.kind, io::Json::Kind::object);
  const io::Json* a = v.find("a");
  ASSERT_TRUE(a && a->items.size() == 7);
  EXPECT_TRUE(a->items[1].is_integer);
  EXPECT_EQ(a->items[1].integer, 12u);
  EXPECT_EQ(a->items[2].integer, 9223372036854775807ull);
  for (int i : {3, 4, 5, 6}) EXPECT_FALSE(a->items[i].is_integer) << i;
  EXPECT_EQ(v.find("s")->string, "q\"\\/\b\f\n\r\t\xc3\xa9\xf0\x9f\x98\x80");
  EXPECT_TRUE(v.find("t")->boolean);
  EXPECT_EQ(v.find("n")->kind, io::Json::Kind::null);
  EXPECT_EQ(v.find("missing"), nullptr);
  // the writer's quoting reads back to the same string
  std::string odd = std::string("x\"\\\n\x01\x1f") + "\xc3\xa9";
  EXPECT_EQ(io::parse_json(io::json_quote(odd), "test").string, odd);
}

TEST(IoJson, RejectsMalformedInput) {
  for (const char* bad : {"", "{", "{\"a\"}", "{\"a\":1,}", "[1 2]", "01", "-", "1.", "1e",
                          "\"\\x\"", "\"\\ud800\"", "\"\\udc00\"", "\"\\u12\"", "\"a\nb\"",
                          "\"\xc3\"", "\"\xed\xa0\x80\"", "\"\xf4\x90\x80\x80\"", "nul",
                          "{\"a\":1,\"a\":2}", "[] []"}) {
    std::string msg = error_of<std::runtime_error>([&] { io::parse_json(bad, "[load] 'f'"); });
    EXPECT_TRUE(starts_with(msg, "[load] 'f': ")) << bad << " -> " << msg;
  }
  std::string deep(1000, '[');
  EXPECT_NE(error_of<std::runtime_error>([&] { io::parse_json(deep, "ctx"); }).find("deeply"),
            std::string::npos);
}

TEST(IoNpy, FortranAndStridedArraysRoundTrip) {
  array x = iota({3, 4}, Dtype::float64);
  for (const array& a : {x, transpose(x), slice(x, {0, 0}, {3, 4}, {1, 2})}) {
    auto [header, data] = io::npy_encode(a);
    std::string bytes = header + std::string(static_cast<const char*>(data.raw_data()), data.nbytes());
    EXPECT_EQ(header.size() % 64, 0u);
    array back = io::load_npy(bytes.data(), bytes.size(), "mem");
    EXPECT_EQ(back.shape(), a.shape());
    EXPECT_EQ(to_doubles(back), to_doubles(a));
  }
  auto [header, data] = io::npy_encode(transpose(x));
  EXPECT_NE(header.find("'fortran_order': True"), std::string::npos);
  EXPECT_TRUE(data.flags().col_contiguous && !data.flags().row_contiguous);
}

TEST(IoSafetensors, RoundTripInMemory) {
  io::NamedArrays arrays = {{"b", iota({2, 3}, Dtype::int8)}, {"w", iota({5}, Dtype::float64)},
                            {"e", iota({0, 2}, Dtype::float32)}};
  auto [head, data] = io::safetensors_encode(arrays, {{"k", "v\"1"}});
  std::string bytes = head;
  for (const array& a : data) bytes.append(static_cast<const char*>(a.raw_data()), a.nbytes());
  auto [back, meta] = io::load_safetensors(bytes.data(), bytes.size(), "mem");
  ASSERT_EQ(back.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(back[i].first, arrays[i].first);
    EXPECT_EQ(back[i].second.dtype(), arrays[i].second.dtype());
    EXPECT_EQ(to_doubles(back[i].second), to_doubles(arrays[i].second));
  }
  ASSERT_EQ(meta.size(), 1u);
  EXPECT_EQ(meta[0].second, "v\"1");
  std::string truncated = bytes.substr(0, bytes.size() - 1);
  EXPECT_NE(error_of<std::runtime_error>([&] {
              io::load_safetensors(truncated.data(), truncated.size(), "mem");
            }).find("truncated"),
            std::string::npos);
}

}  // namespace
