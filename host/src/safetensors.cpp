#include "tessera/safetensors.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <limits>
#include <new>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

#include "tessera/error.h"

namespace tessera::safetensors {

namespace {

using nlohmann::json;

// A valid header nests three levels ({name: {shape: [..]}}); anything much deeper is hostile,
// and refusing it early keeps every later walk over the tree shallow.
constexpr int kMaxDepth = 16;
// Names and dtypes come from the file: a message quotes at most this many bytes of them
// (nlohmann's own messages, which quote the text it choked on, get a little more).
constexpr size_t kMaxQuoted = 80;
constexpr size_t kMaxJsonMessage = 240;

template <class... Args>
[[noreturn]] void fail(ErrorCode code, fmt::format_string<Args...> f, Args&&... args) {
  throw Error(code, fmt::format(f, std::forward<Args>(args)...));
}

// Text from the file goes into one-line messages: control bytes are escaped so a name cannot
// break the line, long text is cut on a character boundary, and `ascii_only` also escapes
// bytes >= 0x80 for text (nlohmann's "last read") that may not be valid UTF-8.
std::string printable(std::string_view s, bool ascii_only = false, size_t max = kMaxQuoted) {
  size_t n = s.size();
  if (n > max) {
    n = max;
    while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80)
      --n;
  }
  std::string out;
  for (size_t i = 0; i < n; ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == 0x7F || (ascii_only && c >= 0x80))
      out += fmt::format("\\x{:02x}", c);
    else
      out += static_cast<char>(c);
  }
  return n < s.size() ? out + "..." : out;
}

std::string quote(std::string_view s) { return fmt::format("'{}'", printable(s)); }

struct Entry {
  std::string name;
  DType dtype;
  Shape shape;
  uint64_t begin, end;
};

// A JSON integer in [0, max], or nullopt for floats, negatives, strings and the rest.
std::optional<uint64_t> as_count(const json& v, uint64_t max) {
  if (v.is_number_unsigned()) {
    auto u = v.get<uint64_t>();
    if (u <= max) return u;
  } else if (v.is_number_integer() && v.get<int64_t>() == 0) {
    return 0; // "-0"
  }
  return std::nullopt;
}

std::string describe(const json& v) {
  return v.is_number() ? v.dump() : std::string("a JSON ") + v.type_name();
}

const json& field(const json& entry, const char* key, std::string_view where,
                  const std::string& name) {
  auto it = entry.find(key);
  if (it == entry.end())
    fail(ErrorCode::MalformedFile, "{}: tensor {} has no \"{}\"", where, quote(name), key);
  return *it;
}

Entry read_entry(const std::string& name, const json& v, std::string_view where) {
  const std::string q = quote(name);
  if (!v.is_object())
    fail(ErrorCode::MalformedFile, "{}: tensor {} is {}, not an object", where, q, describe(v));
  Entry e{name, DType::F32, {}, 0, 0};

  const json& dt = field(v, "dtype", where, name);
  if (!dt.is_string())
    fail(ErrorCode::MalformedFile, "{}: tensor {} dtype is {}, not a string", where, q,
         describe(dt));
  const auto& dts = dt.get_ref<const std::string&>();
  auto dtype = dtype_from_name(dts);
  if (!dtype)
    fail(ErrorCode::MalformedFile, "{}: tensor {} has unsupported dtype {}", where, q, quote(dts));
  e.dtype = *dtype;

  const json& sh = field(v, "shape", where, name);
  if (!sh.is_array())
    fail(ErrorCode::MalformedFile, "{}: tensor {} shape is {}, not an array", where, q,
         describe(sh));
  for (size_t i = 0; i < sh.size(); ++i) {
    auto d = as_count(sh[i], std::numeric_limits<int64_t>::max());
    if (!d)
      fail(ErrorCode::MalformedFile, "{}: tensor {} shape[{}] is {}, not a non-negative integer",
           where, q, i, describe(sh[i]));
    e.shape.push_back(static_cast<int64_t>(*d));
  }
  // The library's one rule for shapes (tensor.h): a file cannot describe what no Tensor may hold.
  auto bytes = checked_bytes(e.dtype, e.shape);
  if (!bytes)
    fail(ErrorCode::MalformedFile, "{}: tensor {} {} {} describes more than 2^62 elements or bytes", where, q, dts,
         shape_str(e.shape));
  const uint64_t need = *bytes;

  const json& off = field(v, "data_offsets", where, name);
  if (!off.is_array() || off.size() != 2)
    fail(ErrorCode::MalformedFile, "{}: tensor {} data_offsets is {}, not [begin, end]", where, q,
         off.is_array() ? fmt::format("an array of {}", off.size()) : describe(off));
  for (size_t i = 0; i < 2; ++i)
    if (!as_count(off[i], std::numeric_limits<uint64_t>::max()))
      fail(ErrorCode::MalformedFile,
           "{}: tensor {} data_offsets[{}] is {}, not a non-negative integer", where, q, i,
           describe(off[i]));
  e.begin = off[0].get<uint64_t>();
  e.end = off[1].get<uint64_t>();
  if (e.begin > e.end)
    fail(ErrorCode::MalformedFile, "{}: tensor {} data_offsets [{}, {}] begin after end", where, q,
         e.begin, e.end);
  if (e.end - e.begin != need)
    fail(ErrorCode::MalformedFile,
         "{}: tensor {} data_offsets [{}, {}] hold {} bytes but {} {} needs {}", where, q, e.begin,
         e.end, e.end - e.begin, dts, shape_str(e.shape), need);
  return e;
}

// The header is read as a stream of JSON events (SAX), never as one document: nlohmann's
// document parser keeps the last of two equal keys, and its callback form, which could see
// them, rescans the parent object after every nested one (quadratic in the tensor count). Here
// each tensor's entry is built as a small document of its own, checked (read_entry) and
// dropped, and __metadata__ is checked as it streams by, so time and memory stay linear in the
// header. Duplicate keys are refused at every level: a file that says two things about one
// tensor is ambiguous.
class HeaderReader {
public:
  HeaderReader(std::string_view where, const Limits& limits) : where_(where), limits_(limits) {}

  std::vector<Entry> entries;

  bool null() { return scalar(json(nullptr)); }
  bool boolean(bool v) { return scalar(json(v)); }
  bool number_integer(json::number_integer_t v) { return scalar(json(v)); }
  bool number_unsigned(json::number_unsigned_t v) { return scalar(json(v)); }
  bool number_float(json::number_float_t v, const std::string&) { return scalar(json(v)); }
  bool string(std::string& v) { return scalar(json(std::move(v))); }
  bool binary(json::binary_t&) { return scalar(json(nullptr)); } // JSON text has none

  bool start_object(size_t) { return open(false); }
  bool start_array(size_t) { return open(true); }
  bool end_object() { return close(); }
  bool end_array() { return close(); }

  bool key(std::string& k) {
    if (frames_.empty()) { // a tensor name, or __metadata__
      if (!names_.insert(k).second) fail(ErrorCode::MalformedFile, "{}: duplicate key {}", where_, quote(k));
      name_ = std::move(k);
      return true;
    }
    if (!frames_.back().keys.insert(k).second)
      fail(ErrorCode::MalformedFile, "{}: duplicate key {} in {}", where_, quote(k), quote(name_));
    key_ = k;
    return metadata() || dom_->key(k);
  }

  bool parse_error(size_t, const std::string&, const nlohmann::detail::exception& e) {
    // Drop nlohmann's "[json.exception.parse_error.101] " prefix: the reader wants the reason.
    std::string_view what = e.what();
    if (auto p = what.find("] "); what.starts_with("[json.") && p != what.npos) what.remove_prefix(p + 2);
    fail(ErrorCode::MalformedFile, "{}: header is not valid JSON: {}", where_, printable(what, true, kMaxJsonMessage));
  }

private:
  // A container below the top-level object, with the keys seen in it (objects).
  struct Frame {
    bool array;
    std::unordered_set<std::string> keys;
  };
  // An entry holds three fields and at most kMaxRank extents; this leaves room for fields the
  // reader ignores, and none for an entry that would make it hold millions of values.
  static constexpr size_t kMaxEntryValues = 64;

  bool metadata() const { return name_ == "__metadata__"; }

  // Every value inside a tensor's entry counts against the entry's limit; an array directly in
  // the entry (shape, data_offsets) has at most kMaxRank elements.
  void count_value() {
    if (++values_ > kMaxEntryValues)
      fail(ErrorCode::MalformedFile, "{}: tensor {} holds more than {} values", where_, quote(name_), kMaxEntryValues);
    if (frames_.size() == 2 && frames_.back().array && ++array_size_ > kMaxRank)
      fail(ErrorCode::MalformedFile, "{}: tensor {} {} has more than {} elements (a tensor has at most {} dimensions)",
           where_, quote(name_), key_, kMaxRank, kMaxRank);
  }

  [[noreturn]] void fail_metadata(const json& v) {
    if (frames_.empty()) fail(ErrorCode::MalformedFile, "{}: \"__metadata__\" is {}, not an object", where_, describe(v));
    fail(ErrorCode::MalformedFile, "{}: \"__metadata__\" value {} is {}, not a string", where_, quote(key_), describe(v));
  }

  bool open(bool array) {
    if (!root_seen_) { // the header itself
      root_seen_ = true;
      if (array) fail(ErrorCode::MalformedFile, "{}: header is a JSON array, not an object", where_);
      return true;
    }
    if (frames_.size() + 2 > static_cast<size_t>(kMaxDepth))
      fail(ErrorCode::MalformedFile, "{}: header nests deeper than {} levels", where_, kMaxDepth);
    if (metadata()) {
      if (array || !frames_.empty()) fail_metadata(array ? json::array() : json::object());
      frames_.push_back(Frame{false, {}});
      return true;
    }
    if (frames_.empty()) {
      value_ = json();
      dom_.emplace(value_, true);
      values_ = 0;
    } else {
      count_value();
    }
    if (frames_.size() == 1 && array) array_size_ = 0;
    frames_.push_back(Frame{array, {}});
    return array ? dom_->start_array(static_cast<size_t>(-1)) : dom_->start_object(static_cast<size_t>(-1));
  }

  bool close() {
    if (frames_.empty()) return true; // the end of the header object
    const bool array = frames_.back().array;
    frames_.pop_back();
    if (metadata()) return true;
    bool ok = array ? dom_->end_array() : dom_->end_object();
    if (frames_.empty()) add_entry();
    return ok;
  }

  bool scalar(json v) {
    if (!root_seen_) fail(ErrorCode::MalformedFile, "{}: header is {}, not an object", where_, describe(v));
    if (metadata()) {
      if (frames_.empty() || !v.is_string()) fail_metadata(v);
      return true;
    }
    if (frames_.empty()) { // an entry that is no object: read_entry says so
      value_ = std::move(v);
      add_entry();
      return true;
    }
    count_value();
    switch (v.type()) { // into the entry's document
    case json::value_t::null: return dom_->null();
    case json::value_t::boolean: return dom_->boolean(v.get<bool>());
    case json::value_t::number_integer: return dom_->number_integer(v.get<json::number_integer_t>());
    case json::value_t::number_unsigned: return dom_->number_unsigned(v.get<json::number_unsigned_t>());
    case json::value_t::number_float: return dom_->number_float(v.get<json::number_float_t>(), {});
    default: return dom_->string(v.get_ref<std::string&>());
    }
  }

  // One tensor's entry is complete: check it now and keep only what a tensor needs.
  void add_entry() {
    dom_.reset();
    if (entries.size() == limits_.max_tensors)
      fail(ErrorCode::MalformedFile, "{}: header lists more than {} tensors (safetensors::Limits::max_tensors)", where_,
           limits_.max_tensors);
    entries.push_back(read_entry(name_, value_, where_));
    value_ = json();
  }

  std::string_view where_;
  const Limits& limits_;
  bool root_seen_ = false;
  std::unordered_set<std::string> names_; // top-level keys seen
  std::string name_;                      // the top-level key being read
  std::string key_;                       // the last key inside it
  std::vector<Frame> frames_;             // containers open below the top level
  size_t values_ = 0, array_size_ = 0;    // in the entry, and in its current array
  json value_;                            // the entry being built
  std::optional<nlohmann::detail::json_sax_dom_parser<json>> dom_;
};

[[noreturn]] void fail_io(const std::string& path, std::string_view what, int err) {
  fail(ErrorCode::Io, "{}: {}: {}", path, what, std::strerror(err));
}

} // namespace

TensorMap parse(std::span<const std::byte> bytes, std::string_view where, const Limits& limits) {
  if (bytes.size() < 8)
    fail(ErrorCode::MalformedFile, "{}: file is {} bytes, shorter than the 8-byte header length",
         where, bytes.size());
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i)
    n = (n << 8) | std::to_integer<uint64_t>(bytes[i]);
  if (n > limits.max_header_bytes)
    fail(ErrorCode::MalformedFile, "{}: header length {} is over the limit of {} bytes (safetensors::Limits::max_header_bytes)",
         where, n, limits.max_header_bytes);
  if (n > bytes.size() - 8)
    fail(ErrorCode::MalformedFile, "{}: header length {} runs past the end of the {}-byte file",
         where, n, bytes.size());
  std::string_view text(reinterpret_cast<const char*>(bytes.data()) + 8, n);
  const auto data = bytes.subspan(8 + n);

  // nlohmann's lexer takes a NUL byte for the end of input, which would hide whatever follows.
  if (auto nul = text.find('\0'); nul != text.npos)
    fail(ErrorCode::MalformedFile, "{}: header is not valid JSON: NUL byte at offset {}", where,
         nul);
  HeaderReader reader(where, limits);
  json::sax_parse(text.begin(), text.end(), &reader);
  std::vector<Entry>& entries = reader.entries;
  for (const Entry& e : entries)
    if (e.end > data.size())
      fail(ErrorCode::MalformedFile,
           "{}: tensor {} data_offsets [{}, {}] run past the end of the {}-byte data", where,
           quote(e.name), e.begin, e.end, data.size());

  // Empty tensors own no bytes, so they may sit anywhere, including inside another's range.
  std::vector<const Entry*> ranges;
  for (const auto& e : entries)
    if (e.begin != e.end) ranges.push_back(&e);
  std::sort(ranges.begin(), ranges.end(),
            [](const Entry* a, const Entry* b) { return a->begin < b->begin; });
  const Entry* reach = nullptr; // the range ending furthest so far
  for (const Entry* e : ranges) {
    if (reach && e->begin < reach->end)
      fail(ErrorCode::MalformedFile, "{}: tensors {} [{}, {}] and {} [{}, {}] overlap", where,
           quote(reach->name), reach->begin, reach->end, quote(e->name), e->begin, e->end);
    if (!reach || e->end > reach->end) reach = e;
  }

  TensorMap out;
  for (auto& e : entries) {
    Tensor t(e.dtype, std::move(e.shape));
    if (t.nbytes()) std::memcpy(t.data(), data.data() + e.begin, t.nbytes());
    out.emplace_hint(out.end(), std::move(e.name), std::move(t));
  }
  return out;
}

TensorMap load(const std::string& path, const Limits& limits) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    fail_io(path, "cannot open", err);
  }
  std::vector<std::byte> buf;
  int err = 0;
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    err = errno;
  } else if (S_ISDIR(st.st_mode)) {
    err = EISDIR;
  } else {
    try {
      // Sized first so a regular file is read into one allocation; anything else (a pipe)
      // grows as it is read.
      buf.resize(S_ISREG(st.st_mode) ? static_cast<size_t>(st.st_size) + 1 : 1 << 16);
      size_t got = 0;
      for (;;) {
        if (got == buf.size()) buf.resize(buf.size() * 2);
        ssize_t r = ::read(fd, buf.data() + got, buf.size() - got);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
          err = errno;
          break;
        }
        if (r == 0) break;
        got += static_cast<size_t>(r);
      }
      buf.resize(got);
    } catch (const std::bad_alloc&) {
      err = ENOMEM;
    }
  }
  ::close(fd);
  if (err) fail_io(path, "cannot read", err);
  return parse(buf, path, limits);
}

std::vector<std::byte> serialize(const TensorMap& tensors) {
  // Written entry by entry: nlohmann's ordered_json finds keys by linear search, which a
  // checkpoint of thousands of tensors would feel. Entries keep the official writer's key order.
  std::string text = "{";
  uint64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    if (name == "__metadata__")
      fail(ErrorCode::InvalidArgument, "safetensors: \"__metadata__\" cannot name a tensor");
    nlohmann::ordered_json entry = {{"dtype", dtype_name(t.dtype())},
                                    {"shape", t.shape()},
                                    {"data_offsets", {offset, offset + t.nbytes()}}};
    if (text.size() > 1) text += ',';
    try {
      text += json(name).dump();
    } catch (const json::exception&) {
      fail(ErrorCode::InvalidArgument, "safetensors: tensor name '{}' is not valid UTF-8",
           printable(name, true));
    }
    text += ':' + entry.dump();
    offset += t.nbytes();
  }
  text += '}';
  if (text.size() > kMaxHeaderBytes)
    fail(ErrorCode::InvalidArgument, "safetensors: header of {} bytes is over the {}-byte limit",
         text.size(), kMaxHeaderBytes);
  // Data starts on an 8-byte boundary, as the official writer pads it.
  text.append((8 - text.size() % 8) % 8, ' ');

  std::vector<std::byte> out(8 + text.size() + offset);
  for (int i = 0; i < 8; ++i)
    out[i] = std::byte((uint64_t(text.size()) >> (8 * i)) & 0xFF);
  std::memcpy(out.data() + 8, text.data(), text.size());
  std::byte* p = out.data() + 8 + text.size();
  for (const auto& [name, t] : tensors) {
    if (t.nbytes()) std::memcpy(p, t.data(), t.nbytes());
    p += t.nbytes();
  }
  return out;
}

void save(const std::string& path, const TensorMap& tensors) {
  const auto image = serialize(tensors);
  // pid and a counter keep two processes, or two threads, from sharing a temporary.
  static std::atomic<unsigned> counter{0};
  const std::string tmp = fmt::format("{}.tmp.{}.{}", path, ::getpid(), counter++);
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
  if (fd < 0) {
    int err = errno;
    fail_io(path, fmt::format("cannot create {}", tmp), err);
  }

  int err = 0;
  size_t done = 0;
  while (done < image.size() && !err) {
    ssize_t w = ::write(fd, image.data() + done, image.size() - done);
    if (w < 0 && errno != EINTR) err = errno;
    if (w == 0) err = EIO;
    if (w > 0) done += static_cast<size_t>(w);
  }
  if (!err && ::fsync(fd) != 0) err = errno;
  if (::close(fd) != 0 && !err) err = errno;
  if (!err && ::rename(tmp.c_str(), path.c_str()) != 0) err = errno;
  if (err) {
    ::unlink(tmp.c_str());
    fail_io(path, "cannot write", err);
  }
}

} // namespace tessera::safetensors
