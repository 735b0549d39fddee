#include "bench/baselines/plugin.h"

#include <dlfcn.h>

#include <climits>
#include <filesystem>

#include <fmt/format.h>

#include "bench/plugins/kbench_plugin.h"

namespace tessera::bench {

CublasPlugin::CublasPlugin(std::string dir) {
  std::error_code ec;
  if (dir.empty()) dir = std::filesystem::read_symlink("/proc/self/exe", ec).parent_path().string();
  std::filesystem::path path = std::filesystem::path(dir) / file_name();
  if (ec || !std::filesystem::exists(path, ec)) {
    why_ =
        fmt::format("{} is not next to kbench (it is built only when CMake finds the CUDA toolkit)",
                    file_name());
    return;
  }
  // Never dlclose'd: unloading the CUDA runtime while its own exit handlers are registered is a
  // known way to crash at exit, and the process ends soon anyway.
  void* lib = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    const char* e = dlerror();
    why_ = fmt::format("cannot load {}: {}", path.string(), e ? e : "unknown error");
    return;
  }
  auto abi = reinterpret_cast<int (*)()>(dlsym(lib, "kbench_plugin_abi"));
  auto device = reinterpret_cast<const char* (*)()>(dlsym(lib, "kbench_plugin_device"));
  gemm_ = reinterpret_cast<decltype(gemm_)>(dlsym(lib, "kbench_plugin_gemm"));
  error_ = reinterpret_cast<decltype(error_)>(dlsym(lib, "kbench_plugin_error"));
  if (!abi || !device || !gemm_ || !error_ || abi() != KBENCH_PLUGIN_ABI) {
    why_ = fmt::format("{} does not speak kbench plugin ABI {}", path.string(), KBENCH_PLUGIN_ABI);
    return;
  }
  const char* name = device();
  if (!name) {
    why_ = fmt::format("the cuBLAS plugin found no GPU: {}", error_());
    return;
  }
  device_ = name;
  ready_ = true;
}

bool CublasPlugin::gemm(const std::string& dtype, const GemmDims& d, double& median_ms,
                        double& noise_pct, std::string& error) {
  if (!ready_) {
    error = why_;
    return false;
  }
  if (d.M > INT_MAX || d.N > INT_MAX || d.K > INT_MAX) {
    error = "a GEMM dimension does not fit the plugin's int";
    return false;
  }
  if (gemm_(dtype.c_str(), static_cast<int>(d.M), static_cast<int>(d.N), static_cast<int>(d.K),
            &median_ms, &noise_pct) != 0) {
    error = error_();
    return false;
  }
  return true;
}

} // namespace tessera::bench
