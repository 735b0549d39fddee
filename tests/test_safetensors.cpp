// safetensors reader and writer: round trips of every dtype, the writer's layout, and one hostile
// file per rule the reader enforces, each hand-built so the test shows exactly what is wrong.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <limits>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "tessera/error.h"
#include "tessera/safetensors.h"
#include "test_util.h"

namespace tessera {
namespace {

namespace fs = std::filesystem;
namespace st = safetensors;
using Bytes = std::vector<std::byte>;

constexpr DType kAllDTypes[] = {DType::F32, DType::F16, DType::BF16,    DType::U8,
                                DType::I32, DType::I64, DType::F8_E4M3, DType::F8_E5M2};

// A file image with an explicit header length, so that the length itself can lie.
Bytes raw_file(uint64_t header_len, std::string_view header, size_t data_bytes = 0) {
  Bytes out(8 + header.size() + data_bytes);
  for (int i = 0; i < 8; ++i)
    out[i] = std::byte((header_len >> (8 * i)) & 0xFF);
  std::memcpy(out.data() + 8, header.data(), header.size());
  for (size_t i = 0; i < data_bytes; ++i)
    out[8 + header.size() + i] = std::byte(i * 37 + 1);
  return out;
}

Bytes file_of(std::string_view header, size_t data_bytes = 0) {
  return raw_file(header.size(), header, data_bytes);
}

// One F32 [2] tensor "a" at [0, 8] followed by `entry` named "b": most hostile cases differ from
// a valid file only in b.
std::string with_b(std::string_view entry) {
  return std::string(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":)") +
         std::string(entry) + "}";
}

// Runs `fn`, which must throw tessera::Error with `code`, and returns the message.
template <class F> std::string error_of(ErrorCode code, F&& fn) {
  try {
    fn();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), code) << e.what();
    return e.what();
  }
  ADD_FAILURE() << "nothing was thrown";
  return {};
}

std::string parse_error(const Bytes& file) {
  return error_of(ErrorCode::MalformedFile, [&] { st::parse(file, "in.safetensors"); });
}

// Asserts that parsing fails as malformed, with a message that starts with the file name and
// mentions each of `parts`.
void expect_malformed(const Bytes& file, std::initializer_list<std::string_view> parts) {
  const std::string m = parse_error(file);
  EXPECT_TRUE(m.starts_with("in.safetensors: ")) << m;
  EXPECT_EQ(m.find('\n'), std::string::npos) << m;
  for (auto p : parts)
    EXPECT_NE(m.find(p), std::string::npos) << "missing \"" << p << "\" in: " << m;
}
#define EXPECT_MALFORMED(file, ...)                                                                \
  do {                                                                                             \
    SCOPED_TRACE(#file);                                                                           \
    expect_malformed(file, {__VA_ARGS__});                                                         \
  } while (0)

Tensor random_tensor(DType t, Shape shape, uint32_t seed) {
  Tensor x(t, std::move(shape));
  std::mt19937 rng(seed);
  for (size_t i = 0; i < x.nbytes(); ++i)
    x.data()[i] = std::byte(rng() & 0xFF);
  return x;
}

void expect_same(const TensorMap& a, const TensorMap& b) {
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [name, x] : a) {
    auto it = b.find(name);
    ASSERT_NE(it, b.end()) << name;
    EXPECT_EQ(it->second.dtype(), x.dtype()) << name;
    EXPECT_EQ(it->second.shape(), x.shape()) << name;
    ASSERT_EQ(it->second.nbytes(), x.nbytes()) << name;
    if (x.nbytes()) {
      EXPECT_EQ(std::memcmp(it->second.data(), x.data(), x.nbytes()), 0) << name;
    }
  }
}

uint64_t header_len(const Bytes& f) {
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i)
    n = (n << 8) | std::to_integer<uint64_t>(f[i]);
  return n;
}

std::string header_text(const Bytes& f) {
  return std::string(reinterpret_cast<const char*>(f.data()) + 8, header_len(f));
}

// ---- round trips and layout ----

TEST(SafetensorsRoundTrip, EveryDTypeAndShapeIsBitExact) {
  TensorMap m;
  uint32_t seed = 1;
  for (DType t : kAllDTypes) {
    const std::string n(dtype_name(t));
    m.emplace(n + "_scalar", random_tensor(t, {}, seed++));
    m.emplace(n + "_empty", random_tensor(t, {0}, seed++));
    m.emplace(n + "_empty3", random_tensor(t, {3, 0, 5}, seed++));
    m.emplace(n + "_odd", random_tensor(t, {7}, seed++));
    m.emplace(n + "_cube", random_tensor(t, {3, 5, 7}, seed++));
    m.emplace(n + "_one", random_tensor(t, {1, 1, 1, 1}, seed++));
  }
  const Bytes f = st::serialize(m);
  const TensorMap back = st::parse(f);
  expect_same(m, back);
  EXPECT_EQ(st::serialize(back), f); // the writer is deterministic
}

TEST(SafetensorsRoundTrip, HeaderIsPaddedAndDataIsContiguousInNameOrder) {
  TensorMap m;
  m.emplace("zeta", random_tensor(DType::U8, {3}, 1));
  m.emplace("alpha", random_tensor(DType::F16, {5}, 2));
  m.emplace("mid", random_tensor(DType::I64, {0}, 3));
  m.emplace("beta", random_tensor(DType::BF16, {}, 4));
  const Bytes f = st::serialize(m);
  const uint64_t n = header_len(f);
  EXPECT_EQ((8 + n) % 8, 0u);
  const std::string text = header_text(f);
  ASSERT_EQ(text.front(), '{');
  const size_t close = text.rfind('}');
  EXPECT_EQ(text.find_first_not_of(' ', close + 1), std::string::npos) << "padding is spaces";
  EXPECT_LT(text.size() - close - 1, 8u);

  auto h = nlohmann::ordered_json::parse(text);
  uint64_t offset = 0;
  std::vector<std::string> names;
  for (const auto& [name, e] : h.items()) {
    names.push_back(name);
    ASSERT_EQ(e["data_offsets"][0].get<uint64_t>(), offset) << name;
    offset = e["data_offsets"][1].get<uint64_t>();
    const Tensor& t = m.at(name);
    if (t.nbytes()) {
      EXPECT_EQ(std::memcmp(f.data() + 8 + n + e["data_offsets"][0].get<uint64_t>(), t.data(),
                            t.nbytes()),
                0)
          << name;
    }
  }
  EXPECT_EQ(names, (std::vector<std::string>{"alpha", "beta", "mid", "zeta"}));
  EXPECT_EQ(8 + n + offset, f.size()) << "no trailing bytes";
}

TEST(SafetensorsRoundTrip, MatchesTheOfficialWriterByteForByte) {
  TensorMap m;
  m.emplace("a", test::f32_tensor({2}, {1.0f, 2.0f}));
  const Bytes f = st::serialize(m);
  const std::string json = R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  const std::string padded = json + std::string((8 - json.size() % 8) % 8, ' ');
  EXPECT_EQ(header_text(f), padded);
  ASSERT_EQ(f.size(), 8 + padded.size() + 8);
  const uint8_t data[8] = {0x00, 0x00, 0x80, 0x3F, 0x00, 0x00, 0x00, 0x40}; // 1.0f, 2.0f LE
  EXPECT_EQ(std::memcmp(f.data() + 8 + padded.size(), data, 8), 0);
}

TEST(SafetensorsRoundTrip, EmptyMapAndUnicodeNames) {
  const Bytes empty = st::serialize({});
  EXPECT_EQ(header_text(empty), "{}      ");
  EXPECT_TRUE(st::parse(empty).empty());

  TensorMap m;
  m.emplace("模型.weight", random_tensor(DType::F32, {2, 2}, 9));
  m.emplace("quote\"and\\slash", random_tensor(DType::U8, {1}, 10));
  m.emplace("", random_tensor(DType::U8, {2}, 11));
  expect_same(m, st::parse(st::serialize(m)));
}

TEST(SafetensorsRoundTrip, SerializeRefusesNamesItCannotWrite) {
  TensorMap meta;
  meta.emplace("__metadata__", Tensor(DType::U8, {1}));
  EXPECT_NE(error_of(ErrorCode::InvalidArgument, [&] { st::serialize(meta); }).find("__metadata__"),
            std::string::npos);
  TensorMap bad;
  bad.emplace("bad\xff", Tensor(DType::U8, {1}));
  const std::string m = error_of(ErrorCode::InvalidArgument, [&] { st::serialize(bad); });
  EXPECT_NE(m.find("'bad\\xff' is not valid UTF-8"), std::string::npos) << m;
}

// ---- what the reader accepts beyond what the writer produces ----

TEST(SafetensorsAccepts, MetadataIsNotATensor) {
  auto m = st::parse(file_of(
      R"({"__metadata__":{"format":"pt","x":""},"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}})",
      2));
  EXPECT_EQ(m.size(), 1u);
  EXPECT_EQ(m.count("a"), 1u);
}

TEST(SafetensorsAccepts, GapsTrailingBytesAndUnknownEntryKeys) {
  auto m = st::parse(file_of(
      R"({"b":{"dtype":"U8","shape":[2],"data_offsets":[10,12],"note":[1]},
          "a":{"dtype":"U8","shape":[2],"data_offsets":[4,6]}})",
      20));
  ASSERT_EQ(m.size(), 2u);
  EXPECT_EQ(m.at("a").data()[0], std::byte(4 * 37 + 1));
  EXPECT_EQ(m.at("b").data()[1], std::byte(11 * 37 + 1));
}

TEST(SafetensorsAccepts, ZeroSizedTensorsOverlapNothing) {
  auto m = st::parse(file_of(
      R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},
          "e1":{"dtype":"F32","shape":[0],"data_offsets":[4,4]},
          "e2":{"dtype":"I64","shape":[3,0],"data_offsets":[4,4]},
          "e3":{"dtype":"U8","shape":[0],"data_offsets":[8,8]},
          "large_but_empty":{"dtype":"F32","shape":[0,1099511627776,4],"data_offsets":[0,0]}})",
      8));
  EXPECT_EQ(m.size(), 5u);
  EXPECT_EQ(m.at("large_but_empty").shape(), (Shape{0, int64_t(1) << 40, 4}));
  EXPECT_EQ(m.at("large_but_empty").nbytes(), 0u);
}

// An empty tensor whose other extents multiply past 2^62 would let an operation that multiplies
// extents of two tensors wrap (tensor.h): refused like a non-empty one.
TEST(SafetensorsHostile, EmptyTensorWithHugeExtents) {
  EXPECT_MALFORMED(file_of(R"({"e":{"dtype":"F32","shape":[0,4611686018427387904,4],"data_offsets":[0,0]}})"),
                   "tensor 'e' F32 [0, 4611686018427387904, 4]", "more than 2^62");
  EXPECT_MALFORMED(file_of(R"({"e":{"dtype":"U8","shape":[1,2,3,4,5,6,7,8,0],"data_offsets":[0,0]}})"),
                   "tensor 'e' shape has more than 8 elements");
}

// ---- hostile files: the framing ----

TEST(SafetensorsHostile, ShorterThanTheLengthField) {
  for (size_t n = 0; n < 8; ++n)
    EXPECT_MALFORMED(Bytes(n), "shorter than the 8-byte");
}

TEST(SafetensorsHostile, HeaderLengthPastTheEnd) {
  EXPECT_MALFORMED(raw_file(100, "{}"), "header length 100", "past the end");
  EXPECT_MALFORMED(raw_file(st::kMaxHeaderBytes, "{}"), "past the end");
}

TEST(SafetensorsHostile, HeaderLengthOverTheLimit) {
  EXPECT_MALFORMED(raw_file(st::kMaxHeaderBytes + 1, "{}"), "over the limit");
  // 8 + length wraps around: the check must not add first.
  EXPECT_MALFORMED(raw_file(std::numeric_limits<uint64_t>::max(), "{}"), "over the limit");
  EXPECT_MALFORMED(raw_file(std::numeric_limits<uint64_t>::max() - 7, "{}"), "over the limit");
}

TEST(SafetensorsHostile, HeaderNotJson) {
  EXPECT_MALFORMED(file_of(""), "not valid JSON");
  EXPECT_MALFORMED(file_of(R"({"a": )"), "not valid JSON");
  EXPECT_MALFORMED(file_of("hello"), "not valid JSON");
  EXPECT_MALFORMED(file_of("{} x"), "not valid JSON");
  EXPECT_MALFORMED(file_of(std::string("{}\0\0", 4)), "not valid JSON", "NUL byte at offset 2");
  EXPECT_MALFORMED(file_of(std::string("{}\0 and anything", 16)), "NUL byte");
  EXPECT_MALFORMED(file_of(R"({"a":1e999})"), "not valid JSON");
  EXPECT_MALFORMED(file_of("{/* no */}"), "not valid JSON");
}

TEST(SafetensorsHostile, HeaderNotUtf8) {
  const std::string m = parse_error(file_of("{\"a\xff\":1}"));
  EXPECT_NE(m.find("not valid JSON"), std::string::npos) << m;
  EXPECT_NE(m.find("UTF-8"), std::string::npos) << m;
  EXPECT_EQ(m.find('\xff'), std::string::npos) << "raw bytes from the file leak into: " << m;
  EXPECT_MALFORMED(file_of("{\"a\xc0\x80\":1}"), "UTF-8"); // overlong NUL
}

TEST(SafetensorsHostile, HeaderNotAnObject) {
  EXPECT_MALFORMED(file_of("[]"), "header is a JSON array, not an object");
  EXPECT_MALFORMED(file_of("3"), "not an object");
  EXPECT_MALFORMED(file_of(R"("x")"), "not an object");
  EXPECT_MALFORMED(file_of("null"), "not an object");
}

TEST(SafetensorsHostile, DeepNesting) {
  EXPECT_MALFORMED(file_of(std::string(100000, '[')), "header is a JSON array, not an object");
  std::string deep = R"({"b":)";
  for (int i = 0; i < 1000; ++i)
    deep += R"({"k":)";
  EXPECT_MALFORMED(file_of(deep), "nests deeper");
  deep = R"({"b":{"shape":)" + std::string(100000, '[');
  EXPECT_MALFORMED(file_of(deep), "nests deeper");
  deep = R"({"__metadata__":)";
  for (int i = 0; i < 1000; ++i)
    deep += R"({"k":)";
  EXPECT_MALFORMED(file_of(deep), "\"__metadata__\" value 'k' is a JSON object, not a string");
}

// ---- hostile files: entries ----

TEST(SafetensorsHostile, EntryNotAnObject) {
  EXPECT_MALFORMED(file_of(with_b("3"), 8), "tensor 'b' is 3, not an object");
  EXPECT_MALFORMED(file_of(with_b("[]"), 8), "'b'", "array", "not an object");
  EXPECT_MALFORMED(file_of(with_b(R"("F32")"), 8), "'b'", "not an object");
}

TEST(SafetensorsHostile, MissingFields) {
  EXPECT_MALFORMED(file_of(with_b(R"({"shape":[],"data_offsets":[8,12]})"), 12), "'b'", "dtype");
  EXPECT_MALFORMED(file_of(with_b(R"({"dtype":"F32","data_offsets":[8,12]})"), 12), "'b'",
                   "\"shape\"");
  EXPECT_MALFORMED(file_of(with_b(R"({"dtype":"F32","shape":[]})"), 12), "'b'", "data_offsets");
}

TEST(SafetensorsHostile, WrongTypedFields) {
  EXPECT_MALFORMED(file_of(with_b(R"({"dtype":5,"shape":[],"data_offsets":[8,12]})"), 12),
                   "'b' dtype is 5, not a string");
  EXPECT_MALFORMED(file_of(with_b(R"({"dtype":"F32","shape":"1","data_offsets":[8,12]})"), 12),
                   "'b' shape", "not an array");
  EXPECT_MALFORMED(file_of(with_b(R"({"dtype":"F32","shape":{},"data_offsets":[8,12]})"), 12),
                   "'b' shape", "not an array");
  EXPECT_MALFORMED(file_of(with_b(R"({"dtype":"F32","shape":[],"data_offsets":"8,12"})"), 12),
                   "'b' data_offsets", "not [begin, end]");
  EXPECT_MALFORMED(file_of(with_b(R"({"dtype":"F32","shape":[],"data_offsets":{}})"), 12),
                   "'b' data_offsets", "not [begin, end]");
}

TEST(SafetensorsHostile, UnsupportedDType) {
  for (const char* dt : {"F64", "f32", "Q4_0", "", "BOOL", "F8_E4M3FN"}) {
    SCOPED_TRACE(dt);
    const std::string e = fmt::format(R"({{"dtype":"{}","shape":[],"data_offsets":[8,12]}})", dt);
    EXPECT_MALFORMED(file_of(with_b(e), 12), "tensor 'b'", fmt::format("dtype '{}'", dt));
  }
}

TEST(SafetensorsHostile, BadShapeEntries) {
  for (const char* d : {"-1", "2.5", "2.0", "\"3\"", "null", "[2]", "9223372036854775808",
                        "18446744073709551616"}) {
    SCOPED_TRACE(d);
    const std::string e =
        fmt::format(R"({{"dtype":"U8","shape":[2,{}],"data_offsets":[8,12]}})", d);
    EXPECT_MALFORMED(file_of(with_b(e), 12), "'b' shape[1]", "not a non-negative integer");
  }
}

TEST(SafetensorsHostile, ShapeOverflows) {
  // Element count 2^64.
  EXPECT_MALFORMED(
      file_of(with_b(R"({"dtype":"U8","shape":[4294967296,4294967296],"data_offsets":[8,8]})"), 8),
      "'b'", "more than 2^62");
  // Element count fits, byte size 2^64 does not.
  EXPECT_MALFORMED(
      file_of(with_b(R"({"dtype":"F32","shape":[4611686018427387904],"data_offsets":[8,8]})"), 8),
      "'b'", "more than 2^62");
  // A zero after an overflowing prefix: the product is 0, but computing it overflows first.
  EXPECT_MALFORMED(
      file_of(with_b(R"({"dtype":"U8","shape":[4611686018427387904,3,0],"data_offsets":[8,8]})"),
              8),
      "'b'", "more than 2^62");
}

TEST(SafetensorsHostile, BadDataOffsets) {
  for (const char* o : {"[8]", "[8,12,16]", "[]", "[-1,3]", "[8,12.0]", "[\"8\",12]",
                        "[8,18446744073709551616]", "[null,12]"}) {
    SCOPED_TRACE(o);
    const std::string e = fmt::format(R"({{"dtype":"F32","shape":[],"data_offsets":{}}})", o);
    EXPECT_MALFORMED(file_of(with_b(e), 12), "'b' data_offsets");
  }
  EXPECT_MALFORMED(file_of(with_b(R"({"dtype":"U8","shape":[0],"data_offsets":[12,8]})"), 12),
                   "'b' data_offsets [12, 8] begin after end");
  EXPECT_MALFORMED(file_of(with_b(R"({"dtype":"F32","shape":[],"data_offsets":[8,12]})"), 11),
                   "'b' data_offsets [8, 12]", "past the end of the 11-byte data");
  EXPECT_MALFORMED(
      file_of(
          with_b(
              R"({"dtype":"U8","shape":[0],"data_offsets":[18446744073709551615,18446744073709551615]})"),
          12),
      "'b'", "past the end");
}

TEST(SafetensorsHostile, ByteLengthDisagreesWithShape) {
  const std::string m =
      parse_error(file_of(R"({"a":{"dtype":"F32","shape":[4,8],"data_offsets":[0,96]}})", 128));
  EXPECT_EQ(m, "in.safetensors: tensor 'a' data_offsets [0, 96] hold 96 bytes but F32 [4, 8] "
               "needs 128");
  EXPECT_MALFORMED(file_of(with_b(R"({"dtype":"U8","shape":[0],"data_offsets":[8,9]})"), 12),
                   "hold 1 bytes but U8 [0] needs 0");
}

TEST(SafetensorsHostile, OverlappingTensors) {
  EXPECT_MALFORMED(file_of(with_b(R"({"dtype":"F32","shape":[2],"data_offsets":[4,12]})"), 12),
                   "tensors 'a' [0, 8] and 'b' [4, 12] overlap");
  // b lies inside a, and c overlaps a but not b: the reader must remember how far a reaches.
  EXPECT_MALFORMED(file_of(R"({"a":{"dtype":"U8","shape":[16],"data_offsets":[0,16]},
                              "b":{"dtype":"U8","shape":[2],"data_offsets":[2,4]},
                              "c":{"dtype":"U8","shape":[4],"data_offsets":[8,12]}})",
                           16),
                   "overlap", "'a'");
  EXPECT_MALFORMED(file_of(with_b(R"({"dtype":"F32","shape":[2],"data_offsets":[0,8]})"), 8),
                   "'a' [0, 8] and 'b' [0, 8] overlap");
}

TEST(SafetensorsHostile, DuplicateKeys) {
  EXPECT_MALFORMED(file_of(R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},
                              "a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}})",
                           2),
                   "duplicate key 'a'");
  EXPECT_MALFORMED(
      file_of(with_b(R"({"dtype":"U8","dtype":"F32","shape":[],"data_offsets":[8,12]})"), 12),
      "duplicate key 'dtype' in 'b'");
  EXPECT_MALFORMED(file_of(R"({"__metadata__":{"k":"1","k":"2"}})"), "duplicate key 'k'",
                   "__metadata__");
  EXPECT_MALFORMED(file_of(R"({"__metadata__":{},"__metadata__":{}})"),
                   "duplicate key '__metadata__'");
}

TEST(SafetensorsHostile, BadMetadata) {
  EXPECT_MALFORMED(file_of(R"({"__metadata__":"x"})"), "\"__metadata__\" is a JSON string");
  EXPECT_MALFORMED(file_of(R"({"__metadata__":[]})"), "\"__metadata__\"", "not an object");
  EXPECT_MALFORMED(file_of(R"({"__metadata__":{"k":1}})"), "\"__metadata__\" value 'k' is 1");
  EXPECT_MALFORMED(file_of(R"({"__metadata__":{"k":{"x":"y"}}})"), "\"__metadata__\"",
                   "not a string");
  // A tensor-shaped metadata entry is still metadata, and so still wrong.
  EXPECT_MALFORMED(
      file_of(R"({"__metadata__":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}})", 1),
      "\"__metadata__\" value 'shape' is a JSON array, not a string");
}

TEST(SafetensorsHostile, NamesFromTheFileCannotBreakTheMessage) {
  const std::string name = "a\nb\x1b[31m" + std::string(1000, 'x');
  const std::string h =
      nlohmann::json{{name, {{"dtype", "F64"}, {"shape", Shape{}}, {"data_offsets", {0, 8}}}}}
          .dump();
  const std::string m = parse_error(file_of(h, 8));
  EXPECT_EQ(m.find('\n'), std::string::npos) << m;
  EXPECT_EQ(m.find('\x1b'), std::string::npos) << m;
  EXPECT_NE(m.find("a\\x0ab"), std::string::npos) << m;
  EXPECT_LT(m.size(), 300u) << m;
}

// ---- files ----

class SafetensorsFiles : public ::testing::Test {
protected:
  void SetUp() override {
    dir_ = fs::path(TESSERA_TEST_TMP) / "safetensors" /
           ::testing::UnitTest::GetInstance()->current_test_info()->name();
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  static std::string read_all(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), {}};
  }
  std::vector<std::string> listing() const {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(dir_))
      names.push_back(e.path().filename());
    std::sort(names.begin(), names.end());
    return names;
  }

  fs::path dir_;
};

TEST_F(SafetensorsFiles, SaveThenLoad) {
  TensorMap m;
  m.emplace("x", random_tensor(DType::BF16, {3, 4}, 5));
  m.emplace("s", random_tensor(DType::F8_E4M3, {}, 6));
  const std::string path = dir_ / "t.safetensors";
  st::save(path, m);
  expect_same(m, st::load(path));
  EXPECT_EQ(listing(), std::vector<std::string>{"t.safetensors"});
}

TEST_F(SafetensorsFiles, LoadMissingFileIsIo) {
  const std::string path = dir_ / "missing.safetensors";
  EXPECT_EQ(error_of(ErrorCode::Io, [&] { st::load(path); }),
            path + ": cannot open: " + std::strerror(ENOENT));
}

TEST_F(SafetensorsFiles, LoadDirectoryIsIo) {
  const std::string m = error_of(ErrorCode::Io, [&] { st::load(dir_); });
  EXPECT_TRUE(m.starts_with(dir_.string() + ": ")) << m;
}

TEST_F(SafetensorsFiles, LoadMalformedNamesThePath) {
  const std::string path = dir_ / "bad.safetensors";
  std::ofstream(path, std::ios::binary) << "\x02\0\0\0\0\0\0\0[]";
  const std::string m = error_of(ErrorCode::MalformedFile, [&] { st::load(path); });
  EXPECT_TRUE(m.starts_with(path + ": ")) << m;
}

TEST_F(SafetensorsFiles, SaveIntoMissingDirectoryIsIoAndLeavesNothing) {
  const fs::path missing = dir_ / "no" / "such";
  const std::string path = missing / "t.safetensors";
  const std::string m = error_of(ErrorCode::Io, [&] { st::save(path, {}); });
  EXPECT_TRUE(m.starts_with(path + ": ")) << m;
  EXPECT_FALSE(fs::exists(dir_ / "no"));
  EXPECT_TRUE(listing().empty());
}

TEST_F(SafetensorsFiles, SaveOverADirectoryIsIoAndLeavesNoTemporary) {
  fs::create_directory(dir_ / "d");
  error_of(ErrorCode::Io, [&] { st::save(dir_ / "d", {}); });
  EXPECT_EQ(listing(), std::vector<std::string>{"d"});
}

TEST_F(SafetensorsFiles, SaveReplacesAnExistingFileByRenaming) {
  const fs::path path = dir_ / "t.safetensors";
  std::ofstream(path, std::ios::binary) << "old contents";
  // A second name for the old file: an in-place rewrite would change what it sees, a rename
  // over the path does not.
  fs::create_hard_link(path, dir_ / "old");
  TensorMap m;
  m.emplace("x", random_tensor(DType::I32, {9}, 7));
  st::save(path, m);
  expect_same(m, st::load(path));
  EXPECT_EQ(read_all(dir_ / "old"), "old contents");
  EXPECT_EQ(listing(), (std::vector<std::string>{"old", "t.safetensors"}));
}

TEST_F(SafetensorsFiles, RefusedSaveLeavesTheExistingFile) {
  const fs::path path = dir_ / "t.safetensors";
  std::ofstream(path, std::ios::binary) << "old contents";
  TensorMap m;
  m.emplace("__metadata__", Tensor(DType::U8, {1}));
  error_of(ErrorCode::InvalidArgument, [&] { st::save(path, m); });
  EXPECT_EQ(read_all(path), "old contents");
  EXPECT_EQ(listing(), std::vector<std::string>{"t.safetensors"});
}

// ---- fuzz-ish: no input may crash the reader or escape as anything but tessera::Error ----

TEST(SafetensorsFuzz, TruncationsAndHeaderMutations) {
  TensorMap m;
  m.emplace("a", random_tensor(DType::F32, {3, 5}, 1));
  m.emplace("b", random_tensor(DType::U8, {0}, 2));
  m.emplace("c", random_tensor(DType::F8_E5M2, {}, 3));
  m.emplace("d", random_tensor(DType::I64, {2, 1, 2}, 4));
  Bytes good = st::serialize(m);
  // A metadata object too, so that its rules get mutated as well.
  {
    std::string text = header_text(good);
    text.insert(1, R"("__metadata__":{"format":"pt"},)");
    text.append((8 - text.size() % 8) % 8, ' ');
    Bytes with_meta = file_of(text, 0);
    with_meta.insert(with_meta.end(), good.begin() + 8 + header_len(good), good.end());
    good = with_meta;
  }
  ASSERT_EQ(st::parse(good).size(), 4u);

  auto survives = [](const Bytes& f) {
    try {
      st::parse(f);
      return 1;
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::MalformedFile);
      return 0;
    } catch (const std::exception& e) {
      ADD_FAILURE() << "escaped: " << e.what();
    } catch (...) {
      ADD_FAILURE() << "escaped: a non-standard exception";
    }
    return 0;
  };

  int parsed = 0;
  for (size_t n = 0; n <= good.size(); ++n)
    parsed += survives(Bytes(good.begin(), good.begin() + n));
  EXPECT_EQ(parsed, 1) << "only the whole file parses"; // the writer adds no trailing bytes

  std::mt19937 rng(20240611);
  const size_t header_end = 8 + header_len(good);
  parsed = 0;
  const int kMutations = 4000;
  for (int i = 0; i < kMutations; ++i) {
    Bytes f = good;
    f[rng() % header_end] = std::byte(rng() & 0xFF);
    parsed += survives(f);
  }
  // Most single-byte changes break something; some (a digit in padding, a name letter) do not.
  EXPECT_GT(parsed, 0);
  EXPECT_LT(parsed, kMutations);
}

} // namespace
} // namespace tessera
