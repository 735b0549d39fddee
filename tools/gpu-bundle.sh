#!/usr/bin/env bash
# Prepares a GPU machine that has an NVIDIA driver but no package registry (issue #8): fetches,
# on this Debian 12 machine, the .deb files of the runtime libraries a Tessera build links
# (ocl-icd's libOpenCL, the Vulkan loader, fmt, CLBlast) into .gpu/debs, and copies the build's
# executables there. On the GPU machine, tools/gpu-run.sh unpacks them into a private prefix
# (never over /) and points the loaders at NVIDIA's OpenCL and Vulkan drivers.
#
#   tools/gpu-bundle.sh [BUILD_DIR]     (default: build; run `make build` first)
# .gpu/ is in .gitignore, so the device tool carries it only when named in `carry`.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
out=.gpu
[ -x "$build/bin/kinfo" ] || { echo "gpu-bundle: $build/bin/kinfo not found; run 'make build' first" >&2; exit 2; }

rm -rf "$out" && mkdir -p "$out/debs" "$out/bin" /tmp/tessera-apt/partial
apt_opts=(-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/tessera-apt)
apt-get "${apt_opts[@]}" update -qq
# The libraries `ldd` shows for kbench and the tests, less glibc/libstdc++ (the image has them).
(cd "$out/debs" && apt-get "${apt_opts[@]}" download ocl-icd-libopencl1 libvulkan1 libfmt9 libclblast1)
for exe in kinfo krun kbench test_conformance test_device; do
  [ -x "$build/bin/$exe" ] && cp "$build/bin/$exe" "$out/bin/"
done
# kbench's cuBLAS plugin (built when CUDA was found), dlopen'd from beside kbench.
cp "$build"/bin/*.so "$out/bin/" 2>/dev/null || true
du -sh "$out"
