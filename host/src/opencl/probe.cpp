// Reads the raw DeviceFacts of every OpenCL device (dispatch/device.h); classification happens
// elsewhere, from these facts alone, so a probed device and a device file are treated alike.
#include <fmt/format.h>

#include <sstream>

#include "runtime.h"

namespace tessera::detail::opencl {

namespace {
// cl_nv_device_attribute_query and cl_amd_device_attribute_query tokens, spelled out because
// the Khronos headers keep them in cl_ext.h behind vendor sections.
constexpr cl_device_info kComputeCapabilityMajorNV = 0x4000;
constexpr cl_device_info kComputeCapabilityMinorNV = 0x4001;
constexpr cl_device_info kWarpSizeNV = 0x4003;
constexpr cl_device_info kWavefrontWidthAMD = 0x4043;

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

std::vector<std::unique_ptr<Device>> probe_all() noexcept {
  std::vector<std::unique_ptr<Device>> out;
  try {
    cl_uint np = 0;
    // No ICD, or an ICD loader without platforms, answers with an error: that is "no device".
    if (clGetPlatformIDs(0, nullptr, &np) != CL_SUCCESS || np == 0) return out;
    std::vector<cl_platform_id> platforms(np);
    if (clGetPlatformIDs(np, platforms.data(), nullptr) != CL_SUCCESS) return out;
    for (cl_platform_id p : platforms) {
      cl_uint nd = 0;
      if (clGetDeviceIDs(p, CL_DEVICE_TYPE_ALL, 0, nullptr, &nd) != CL_SUCCESS || nd == 0) continue;
      std::vector<cl_device_id> ids(nd);
      if (clGetDeviceIDs(p, CL_DEVICE_TYPE_ALL, nd, ids.data(), nullptr) != CL_SUCCESS) continue;
      for (cl_device_id id : ids) {
        // A device whose facts cannot be read is left out; the others still work.
        try {
          out.push_back(probe_device(p, id));
        } catch (const std::exception&) {
        }
      }
    }
  } catch (...) {
    // Allocation failure while probing: report what was found so far rather than throw.
  }
  return out;
}

} // namespace tessera::detail::opencl
