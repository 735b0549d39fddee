#!/usr/bin/env bash
# Installs the Debian 12 packages Tessera builds, tests and benchmarks with.
# Idempotent: it asks apt only for what is missing, so `make test` stays fast on a ready machine.
set -euo pipefail

packages=(
  build-essential cmake pkg-config git python3
  libfmt-dev nlohmann-json3-dev libcli11-dev googletest libgtest-dev libgmock-dev
  ocl-icd-opencl-dev opencl-headers pocl-opencl-icd clinfo libclblast-dev
  libvulkan-dev mesa-vulkan-drivers vulkan-tools glslang-tools spirv-tools
  gnuplot-nox
  # The OpenCL C front end for nvptx: test_gemm_tensor_core / test_attention_tensor_core compile
  # the NVIDIA source to PTX with it and assemble that with ptxas where the CUDA toolkit is present.
  # Also the fuzz targets' compiler (tools/fuzz.sh): libFuzzer's and the sanitizers' runtimes come
  # with it (libclang-common-15-dev, a dependency, not a recommendation).
  clang-15
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "install-deps: installing ${missing[*]}"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
