#!/usr/bin/env bash
# Runs a command of the bundle from tools/gpu-bundle.sh on a machine with an NVIDIA driver and no
# package registry: unpacks the carried .deb files into /tmp/tessera-root (not over /), then finds
# NVIDIA's Vulkan ICD and OpenCL library where the driver image keeps them, and runs the command
# with the loaders pointed at them.
#
#   tools/gpu-run.sh kinfo --json
#   TESSERA_TEST_SIZE=large tools/gpu-run.sh test_conformance
set -euo pipefail
cd "$(dirname "$0")/.."
root=/tmp/tessera-root
if [ ! -d "$root" ]; then
  for f in .gpu/debs/*.deb; do dpkg -x "$f" "$root"; done
fi
export LD_LIBRARY_PATH="$root/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

# Vulkan: the loader's own search first; else the driver's ICD file where NVIDIA images keep it.
if [ -z "${VK_DRIVER_FILES:-}" ]; then
  for icd in /usr/share/vulkan/icd.d/nvidia_icd.json /etc/vulkan/icd.d/nvidia_icd.json \
             /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json; do
    if [ -f "$icd" ]; then export VK_DRIVER_FILES="$icd"; break; fi
  done
fi
# OpenCL: ocl-icd reads vendor files from OCL_ICD_VENDORS; write one for libnvidia-opencl.
if [ -z "${OCL_ICD_VENDORS:-}" ]; then
  lib=$(ldconfig -p | awk '/libnvidia-opencl.so.1/ {print $NF; exit}')
  [ -z "$lib" ] && lib=$(find /usr/local/nvidia /usr/lib /usr/lib64 -name 'libnvidia-opencl.so.1' 2>/dev/null | head -1 || true)
  if [ -n "$lib" ]; then
    mkdir -p /tmp/tessera-icd && echo "$lib" > /tmp/tessera-icd/nvidia.icd
    export OCL_ICD_VENDORS=/tmp/tessera-icd
  else
    echo "gpu-run: no libnvidia-opencl.so.1 on this machine: OpenCL will list no NVIDIA device" >&2
  fi
fi
cmd=$1; shift
exec ".gpu/bin/$cmd" "$@"
