// Caches that heal: each way a disk cache entry can be broken (host/src/disk_cache.h) on each
// backend with a device here (the OpenCL program cache, the Vulkan pipeline cache). The next
// call must still succeed bit for bit, the entry must be rewritten valid, and the problem
// reported once; what is not ours to delete (a directory with files, a fifo) is left alone and
// the cache bypassed for it.
#include <gtest/gtest.h>

#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "host/src/backends.h"
#include "host/src/disk_cache.h"
#include "host/src/opencl/introspect.h"
#include "host/src/vulkan/testing.h"
#include "reference/formats.h"
#include "tessera/overrides.h"
#include "variant_launch.h"

namespace tessera {
namespace {

namespace fs = std::filesystem;
namespace ocl = detail::opencl;
namespace vk = detail::vulkan;
namespace dc = detail::disk_cache;

// The entry layout of disk_cache.h: magic, version, key size, payload size, key, payload, sum.
constexpr size_t kKeySizeAt = 16, kPayloadSizeAt = 24, kHeaderSize = 32;
// Beyond any pid_max (at most 2^22 on Linux): a process that cannot exist.
constexpr long kDeadPid = 0x7ffffff0;

fs::path base_dir() {
  return fs::path(TESSERA_TEST_TMP) / fmt::format("cache_faults_{}", static_cast<long>(::getpid()));
}

void use_cache_dir(const fs::path& dir) {
  Overrides o;
  o.cache_dir = dir.string();
  set_overrides(o);
}

// Set before any device opens, so no test reads or writes the user's ~/.cache.
class Environment : public ::testing::Environment {
public:
  void SetUp() override { use_cache_dir(base_dir() / "default"); }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(base_dir(), ec);
  }
};
const auto* const g_env = ::testing::AddGlobalTestEnvironment(new Environment);

std::string read_bytes(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

void write_bytes(const fs::path& p, const std::string& bytes) {
  std::ofstream f(p, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

uint64_t u64_at(const std::string& s, size_t at) {
  uint64_t v = 0;
  std::memcpy(&v, s.data() + at, sizeof v);
  return v;
}

void write_marker(const fs::path& entry, long pid) {
  write_bytes(fs::path(entry.string() + ".loading"), std::to_string(pid));
}

::testing::AssertionResult valid_entry(const fs::path& p) {
  std::error_code ec;
  if (!fs::is_regular_file(p, ec)) return ::testing::AssertionFailure() << p << " is not a file";
  std::string why;
  if (!dc::parse(read_bytes(p), why))
    return ::testing::AssertionFailure() << p << " is not a valid entry: " << why;
  return ::testing::AssertionSuccess();
}

// ---- the backends -----------------------------------------------------------------------------

struct Counts {
  int64_t hits = 0, rejected = 0, writes = 0;
};

const std::vector<float> kInput = {0.3f, -7.0f, 1e9f, -0.0f, 1.75f, 448.0f, 3e-3f, -500.0f};

std::vector<uint8_t> reference_e4m3() {
  std::vector<uint8_t> want;
  for (float x : kInput)
    want.push_back(ref::f32_to_e4m3(x));
  return want;
}

// Runs the conversion through `run` and checks it bit for bit against the reference.
template <class Run> void convert_on(Run run) {
  std::vector<uint8_t> got(kInput.size(), 0xA5);
  ASSERT_NO_THROW(run(detail::ConvertArgs{kInput.data(), static_cast<int64_t>(kInput.size()),
                                          Format::E4M3, got.data()}));
  EXPECT_EQ(got, reference_e4m3());
}

// fresh_convert runs a conversion as a new process would (the memo of programs or pipelines
// dropped, the disk cache read again); its one cache file is the only one ending in `extension`
// in <cache_dir>/<subdir>.
struct Backend {
  const char* name;
  bool (*available)();
  void (*fresh_convert)();
  Counts (*counts)();
  const char* subdir;
  const char* extension;
};

void PrintTo(const Backend* b, std::ostream* os) { *os << b->name; }

const Backend kOpenCL{"opencl",
                      [] { return !ocl::devices().empty(); },
                      [] {
                        ocl::forget_programs();
                        convert_on([](const auto& args) { test::launch_opencl(0, "elementwise", args); });
                      },
                      [] {
                        auto s = ocl::program_cache_stats();
                        return Counts{s.disk_hits, s.disk_rejected, s.disk_writes};
                      },
                      "opencl",
                      ".clbin"};

const Backend kVulkan{"vulkan",
                      [] { return !vk::devices().empty(); },
                      [] {
                        vk::reopen_pipeline_cache(0);
                        convert_on([](const auto& args) { test::launch_vulkan(0, "elementwise", args); });
                      },
                      [] {
                        auto s = vk::pipeline_cache_stats();
                        return Counts{s.loaded, s.rejected, s.writes};
                      },
                      "",
                      ".pipelines"};

// ---- the fixture ------------------------------------------------------------------------------

class CacheFaults : public ::testing::TestWithParam<const Backend*> {
protected:
  void SetUp() override {
    b_ = GetParam();
    if (!b_->available()) GTEST_SKIP() << "no " << b_->name << " device here";
    std::string test = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::replace(test.begin(), test.end(), '/', '_');
    dir_ = base_dir() / test;
    fs::remove_all(dir_);
    use_cache_dir(dir_);
    b_->fresh_convert(); // writes the entry
    std::vector<fs::path> found;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(dir_ / b_->subdir, ec))
      if (e.path().extension() == b_->extension) found.push_back(e.path());
    ASSERT_EQ(found.size(), 1u) << "cache entries under " << dir_;
    entry_ = found[0];
    ASSERT_TRUE(valid_entry(entry_));
    good_ = read_bytes(entry_);
    key_size_ = u64_at(good_, kKeySizeAt);
    payload_size_ = u64_at(good_, kPayloadSizeAt);
  }
  void TearDown() override {
    std::error_code ec;
    if (!entry_.empty()) fs::permissions(entry_, fs::perms::owner_all, ec);
    use_cache_dir(base_dir() / "default");
    fs::remove_all(dir_, ec);
  }

  fs::path marker() const { return entry_.string() + ".loading"; }
  size_t payload_at() const { return kHeaderSize + key_size_; }

  // The next call works, rejects the entry once, rewrites it valid, and the call after that
  // loads it.
  void expect_heals() {
    Counts c0 = b_->counts();
    b_->fresh_convert();
    Counts c1 = b_->counts();
    EXPECT_EQ(c1.rejected - c0.rejected, 1);
    EXPECT_GE(c1.writes - c0.writes, 1);
    EXPECT_TRUE(valid_entry(entry_));
    EXPECT_FALSE(fs::exists(marker()));
    b_->fresh_convert();
    Counts c2 = b_->counts();
    EXPECT_EQ(c2.hits - c1.hits, 1) << "the rewritten entry was not loaded";
    EXPECT_EQ(c2.rejected, c1.rejected);
  }

  // Calls keep working around what is at the entry's path, which stays as it is.
  void expect_bypassed() {
    for (int i = 0; i < 2; ++i) {
      Counts c0 = b_->counts();
      b_->fresh_convert();
      Counts c1 = b_->counts();
      EXPECT_EQ(c1.rejected - c0.rejected, 1);
      EXPECT_EQ(c1.writes, c0.writes);
      EXPECT_EQ(c1.hits, c0.hits);
    }
  }

  const Backend* b_ = nullptr;
  fs::path dir_, entry_;
  std::string good_;
  uint64_t key_size_ = 0, payload_size_ = 0;
};

TEST_P(CacheFaults, GoodEntryIsLoaded) {
  Counts c0 = b_->counts();
  b_->fresh_convert();
  Counts c1 = b_->counts();
  EXPECT_EQ(c1.hits - c0.hits, 1);
  EXPECT_EQ(c1.rejected, c0.rejected);
  EXPECT_FALSE(fs::exists(marker()));
}

TEST_P(CacheFaults, EmptyDirectoryInPlaceOfEntry) {
  fs::remove(entry_);
  fs::create_directory(entry_);
  expect_heals();
}

TEST_P(CacheFaults, ZeroLengthFile) {
  write_bytes(entry_, "");
  expect_heals();
}

TEST_P(CacheFaults, TruncatedInThePayload) {
  write_bytes(entry_, good_.substr(0, payload_at() + payload_size_ / 2));
  expect_heals();
}

TEST_P(CacheFaults, FlippedByteInThePayload) {
  std::string bad = good_;
  bad[payload_at() + payload_size_ / 2] ^= 0x5a;
  write_bytes(entry_, bad);
  expect_heals();
}

TEST_P(CacheFaults, FlippedByteInTheKey) {
  std::string bad = good_;
  bad[kHeaderSize + key_size_ / 2] ^= 0x5a;
  write_bytes(entry_, bad);
  expect_heals();
}

TEST_P(CacheFaults, PayloadSizeBeyondTheFile) {
  std::string bad = good_;
  uint64_t size = payload_size_ + 4096;
  std::memcpy(bad.data() + kPayloadSizeAt, &size, sizeof size);
  write_bytes(entry_, bad);
  expect_heals();
}

// An earlier process died while its driver was loading the entry: it is not loaded again.
TEST_P(CacheFaults, StaleMarkerOfADeadProcess) {
  write_marker(entry_, kDeadPid);
  expect_heals();
}

// A live pid, but older than any load takes: the pid was reused, or is another namespace's.
TEST_P(CacheFaults, StaleMarkerTooOld) {
  write_marker(entry_, static_cast<long>(::getpid()));
  fs::last_write_time(marker(), fs::file_time_type::clock::now() - std::chrono::minutes(10));
  expect_heals();
}

// Another process (here: this one) is loading the entry right now: this call builds from source
// and neither rejects the entry nor touches the marker.
TEST_P(CacheFaults, LiveMarkerIsLeftAlone) {
  write_marker(entry_, static_cast<long>(::getpid()));
  Counts c0 = b_->counts();
  b_->fresh_convert();
  Counts c1 = b_->counts();
  EXPECT_EQ(c1.rejected, c0.rejected);
  EXPECT_EQ(c1.hits, c0.hits);
  EXPECT_TRUE(fs::exists(marker()));
  EXPECT_TRUE(valid_entry(entry_));
  fs::remove(marker());
  b_->fresh_convert();
  EXPECT_EQ(b_->counts().hits - c1.hits, 1);
}

TEST_P(CacheFaults, UnreadableFile) {
  if (::geteuid() == 0) GTEST_SKIP() << "root reads a mode-000 file anyway";
  fs::permissions(entry_, fs::perms::none);
  expect_heals();
}

// A directory with files in it may be the user's: it is never deleted, the cache is bypassed.
TEST_P(CacheFaults, DirectoryWithFilesIsLeftAlone) {
  fs::remove(entry_);
  fs::create_directory(entry_);
  write_bytes(entry_ / "keep", "mine");
  expect_bypassed();
  EXPECT_EQ(read_bytes(entry_ / "keep"), "mine");
}

// Reading must not wait for a writer, and a fifo is not ours to remove.
TEST_P(CacheFaults, FifoIsLeftAlone) {
  fs::remove(entry_);
  ASSERT_EQ(::mkfifo(entry_.c_str(), 0644), 0);
  expect_bypassed();
  EXPECT_TRUE(fs::is_fifo(entry_));
}

TEST_P(CacheFaults, BadEntryIsReportedOnce) {
  std::string bad = good_;
  bad[payload_at()] ^= 0x5a;
  ::testing::internal::CaptureStderr();
  for (int i = 0; i < 3; ++i) {
    write_bytes(entry_, bad);
    b_->fresh_convert();
  }
  std::string err = ::testing::internal::GetCapturedStderr();
  size_t reports = 0;
  for (size_t at = err.find(entry_.string()); at != std::string::npos;
       at = err.find(entry_.string(), at + 1))
    ++reports;
  EXPECT_EQ(reports, 1u) << err;
  EXPECT_TRUE(valid_entry(entry_));
}

INSTANTIATE_TEST_SUITE_P(Backends, CacheFaults, ::testing::Values(&kOpenCL, &kVulkan),
                         [](const auto& info) { return std::string(info.param->name); });

// ---- the entry format, without a device -------------------------------------------------------

TEST(CacheEntryFormat, RoundTrips) {
  std::string e = dc::frame("the key", "the payload");
  std::string why;
  auto parsed = dc::parse(e, why);
  ASSERT_TRUE(parsed) << why;
  EXPECT_EQ(parsed->key, "the key");
  EXPECT_EQ(parsed->payload, "the payload");
}

TEST(CacheEntryFormat, EveryTruncationAndFlipIsRefused) {
  const std::string e = dc::frame("key", "payload bytes");
  std::string why;
  for (size_t n = 0; n < e.size(); ++n)
    EXPECT_FALSE(dc::parse(e.substr(0, n), why)) << "cut to " << n;
  for (size_t i = 0; i < e.size(); ++i) {
    std::string bad = e;
    bad[i] ^= 1;
    EXPECT_FALSE(dc::parse(bad, why)) << "bit flipped in byte " << i;
  }
  EXPECT_FALSE(dc::parse(e + "x", why));
}

} // namespace
} // namespace tessera
