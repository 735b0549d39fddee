// Reads the raw DeviceFacts of every OpenCL device (core/device.h); classification happens
// elsewhere, from these facts alone, so a probed device and a device file are treated alike.
// When no device is found, says why: the failing call, the platforms without devices and the
// ICD files the loader had to work with.
#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "runtime.h"

namespace tessera::detail::opencl {

namespace fs = std::filesystem;

namespace {
// cl_nv_device_attribute_query and cl_amd_device_attribute_query tokens, spelled out because
// the Khronos headers keep them in cl_ext.h behind vendor sections.
constexpr cl_device_info kComputeCapabilityMajorNV = 0x4000;
constexpr cl_device_info kComputeCapabilityMinorNV = 0x4001;
constexpr cl_device_info kWarpSizeNV = 0x4003;
constexpr cl_device_info kWavefrontWidthAMD = 0x4043;
constexpr cl_int kPlatformNotFoundKHR = -1001; // cl_khr_icd: the loader found no platform

std::string_view trim_space(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front())))
    s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back())))
    s.remove_suffix(1);
  return s;
}

template <class T> T device_info(cl_device_id d, cl_device_info what) {
  T v{};
  check(clGetDeviceInfo(d, what, sizeof v, &v, nullptr),
        fmt::format("clGetDeviceInfo(0x{:X})", what));
  return v;
}

std::string trim_nul(std::string s) {
  while (!s.empty() && (s.back() == '\0' || s.back() == ' '))
    s.pop_back();
  return s;
}

std::string device_string(cl_device_id d, cl_device_info what) {
  size_t n = 0;
  check(clGetDeviceInfo(d, what, 0, nullptr, &n), fmt::format("clGetDeviceInfo(0x{:X})", what));
  std::string s(n, '\0');
  check(clGetDeviceInfo(d, what, n, s.data(), nullptr),
        fmt::format("clGetDeviceInfo(0x{:X})", what));
  return trim_nul(std::move(s));
}

std::string platform_string(cl_platform_id p, cl_platform_info what) {
  size_t n = 0;
  check(clGetPlatformInfo(p, what, 0, nullptr, &n), "clGetPlatformInfo");
  std::string s(n, '\0');
  check(clGetPlatformInfo(p, what, n, s.data(), nullptr), "clGetPlatformInfo");
  return trim_nul(std::move(s));
}

bool has(const std::vector<std::string>& list, std::string_view name) {
  for (const auto& e : list)
    if (e == name) return true;
  return false;
}

// "CL_PLATFORM_NOT_FOUND_KHR (-1001: the ICD loader loaded no platform)": the name, and what
// the code probing meets when there is no ICD means.
std::string status_words(cl_int code) {
  if (code == kPlatformNotFoundKHR)
    return fmt::format("{} ({}: the ICD loader loaded no platform)", error_name(code), code);
  return fmt::format("{} ({})", error_name(code), code);
}

std::string platform_label(cl_platform_id p) {
  try {
    return platform_string(p, CL_PLATFORM_NAME);
  } catch (const std::exception&) {
    return "(unnamed)";
  }
}

// "pocl.icd -> libpocl.so.2": an .icd file and the library it names. A library named by an
// absolute path that does not exist is marked, since the loader then skips that ICD silently.
std::string icd_entry(const fs::path& file, const std::string& shown) {
  std::ifstream f(file);
  std::string line;
  std::getline(f, line);
  std::string library(trim_space(line));
  std::error_code ec;
  if (library.empty()) return shown + " names no library";
  bool missing = library.front() == '/' && !fs::exists(library, ec);
  return fmt::format("{} -> {}{}", shown, library, missing ? " (missing)" : "");
}

// The .icd files of `dir`, sorted, or why there are none.
std::string icd_dir_listing(const fs::path& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return "no such directory";
  std::vector<std::string> found;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.path().extension() == ".icd")
      found.push_back(icd_entry(e.path(), e.path().filename().string()));
  if (found.empty()) return "no .icd file";
  std::sort(found.begin(), found.end());
  std::string s;
  for (const std::string& f : found)
    s += (s.empty() ? "" : ", ") + f;
  return s;
}

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

// Where the ICD loader looked and what it found there, as ocl-icd documents its search:
// OCL_ICD_VENDORS (a directory, an .icd file, else a library to load), else OPENCL_VENDOR_PATH,
// else /etc/OpenCL/vendors. OCL_ICD_FILENAMES is the Khronos loader's list; shown when set.
std::string icd_files() {
  std::string s = "ICD files: ";
  if (std::string names = env("OCL_ICD_FILENAMES"); !names.empty())
    s += fmt::format("OCL_ICD_FILENAMES={}; ", names);
  std::string vendors = env("OCL_ICD_VENDORS"), vendor_path = env("OPENCL_VENDOR_PATH");
  std::error_code ec;
  if (!vendors.empty() && !fs::is_directory(vendors, ec)) {
    if (vendors.ends_with(".icd"))
      return s + (fs::exists(vendors, ec)
                      ? "OCL_ICD_VENDORS=" + icd_entry(vendors, vendors)
                      : fmt::format("OCL_ICD_VENDORS={}: no such file", vendors));
    return s + fmt::format("OCL_ICD_VENDORS={}: {}", vendors,
                           fs::exists(vendors, ec)
                               ? "loaded as an ICD library"
                               : "no such directory (the loader tried it as a library)");
  }
  if (!vendors.empty())
    return s + fmt::format("OCL_ICD_VENDORS={}: {}", vendors, icd_dir_listing(vendors));
  if (!vendor_path.empty())
    return s + fmt::format("OPENCL_VENDOR_PATH={}: {}", vendor_path, icd_dir_listing(vendor_path));
  return s + "/etc/OpenCL/vendors: " + icd_dir_listing("/etc/OpenCL/vendors");
}

std::unique_ptr<Device> probe_device(cl_platform_id platform, cl_device_id id) {
  auto d = std::make_unique<Device>();
  d->platform = platform;
  d->id = id;
  d->platform_name = platform_string(platform, CL_PLATFORM_NAME);
  d->platform_version = platform_string(platform, CL_PLATFORM_VERSION);
  size_t sizes[3] = {};
  check(clGetDeviceInfo(id, CL_DEVICE_MAX_WORK_ITEM_SIZES, sizeof sizes, sizes, nullptr),
        "clGetDeviceInfo(CL_DEVICE_MAX_WORK_ITEM_SIZES)");
  d->max_work_item_size = sizes[0];
  d->base_addr_align = device_info<cl_uint>(id, CL_DEVICE_MEM_BASE_ADDR_ALIGN) / 8;

  DeviceFacts& f = d->facts;
  f.backend = "opencl";
  f.name = device_string(id, CL_DEVICE_NAME);
  // PoCL's CPU device reports a vendor id too (Intel's, even on AMD CPUs); the device type
  // "cpu" is what classification looks at first.
  f.vendor_id = device_info<cl_uint>(id, CL_DEVICE_VENDOR_ID);
  // Accelerators and custom devices are scheduled like GPUs: many work-groups, device memory.
  f.device_type =
      (device_info<cl_device_type>(id, CL_DEVICE_TYPE) & CL_DEVICE_TYPE_CPU) ? "cpu" : "gpu";
  f.driver_version = device_string(id, CL_DRIVER_VERSION);
  std::istringstream ext(device_string(id, CL_DEVICE_EXTENSIONS));
  for (std::string e; ext >> e;)
    f.extensions.push_back(e);
  f.compute_units = device_info<cl_uint>(id, CL_DEVICE_MAX_COMPUTE_UNITS);
  f.max_workgroup_size =
      static_cast<int64_t>(device_info<size_t>(id, CL_DEVICE_MAX_WORK_GROUP_SIZE));
  f.local_memory_bytes = static_cast<int64_t>(device_info<cl_ulong>(id, CL_DEVICE_LOCAL_MEM_SIZE));
  f.global_memory_bytes =
      static_cast<int64_t>(device_info<cl_ulong>(id, CL_DEVICE_GLOBAL_MEM_SIZE));
  f.max_clock_mhz = device_info<cl_uint>(id, CL_DEVICE_MAX_CLOCK_FREQUENCY);
  f.correctly_rounded_divide = (device_info<cl_device_fp_config>(id, CL_DEVICE_SINGLE_FP_CONFIG) &
                                CL_FP_CORRECTLY_ROUNDED_DIVIDE_SQRT) != 0;
  // CL_DEVICE_DOUBLE_FP_CONFIG is reported as 0 by devices without doubles; an OpenCL 1.x
  // device without cl_khr_fp64 may refuse the query instead.
  cl_device_fp_config dbl = 0;
  f.fp64 =
      clGetDeviceInfo(id, CL_DEVICE_DOUBLE_FP_CONFIG, sizeof dbl, &dbl, nullptr) == CL_SUCCESS &&
      dbl != 0;
  if (has(f.extensions, "cl_nv_device_attribute_query")) {
    f.compute_capability = fmt::format("{}.{}", device_info<cl_uint>(id, kComputeCapabilityMajorNV),
                                       device_info<cl_uint>(id, kComputeCapabilityMinorNV));
    f.subgroup_size = device_info<cl_uint>(id, kWarpSizeNV);
  } else if (has(f.extensions, "cl_amd_device_attribute_query")) {
    f.subgroup_size = device_info<cl_uint>(id, kWavefrontWidthAMD);
  }
  return d;
}
} // namespace

Probe probe_all() noexcept {
  Probe out;
  std::vector<std::string> notes; // what gave no device, for why_none
  try {
    cl_uint np = 0;
    cl_int err = clGetPlatformIDs(0, nullptr, &np);
    std::vector<cl_platform_id> platforms(err == CL_SUCCESS ? np : 0);
    if (!platforms.empty()) err = clGetPlatformIDs(np, platforms.data(), nullptr);
    if (err != CL_SUCCESS) {
      notes.push_back("clGetPlatformIDs: " + status_words(err));
      platforms.clear();
    } else if (platforms.empty()) {
      notes.push_back("the ICD loader lists no platform");
    }
    for (cl_platform_id p : platforms) {
      cl_uint nd = 0;
      cl_int derr = clGetDeviceIDs(p, CL_DEVICE_TYPE_ALL, 0, nullptr, &nd);
      std::vector<cl_device_id> ids(derr == CL_SUCCESS ? nd : 0);
      if (!ids.empty()) derr = clGetDeviceIDs(p, CL_DEVICE_TYPE_ALL, nd, ids.data(), nullptr);
      if (derr != CL_SUCCESS || ids.empty()) {
        notes.push_back(fmt::format("platform '{}' has no device ({})", platform_label(p),
                                    derr != CL_SUCCESS ? "clGetDeviceIDs: " + status_words(derr)
                                                       : "it lists none"));
        continue;
      }
      for (cl_device_id id : ids) {
        // A device whose facts cannot be read is left out; the others still work.
        try {
          out.devices.push_back(probe_device(p, id));
        } catch (const std::exception& e) {
          notes.push_back(fmt::format("a device of platform '{}' was skipped: {}",
                                      platform_label(p), e.what()));
        }
      }
    }
    if (out.devices.empty()) {
      notes.push_back(icd_files());
      for (const std::string& n : notes)
        out.why_none += (out.why_none.empty() ? "" : "; ") + n;
    }
  } catch (...) {
    // Allocation failure while probing: report what was found so far rather than throw.
  }
  return out;
}

} // namespace tessera::detail::opencl
