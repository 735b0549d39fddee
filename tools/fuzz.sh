#!/usr/bin/env bash
# The libFuzzer targets of tests/fuzz/, built with clang-15 (ASan, UBSan, libFuzzer) into their own
# build directory, since the main build uses gcc.
#
#   tools/fuzz.sh build                      configure build-fuzz/ and build the targets
#   tools/fuzz.sh run TARGET SECONDS [FLAG...]  run one (fuzz_safetensors, fuzz_krun) for SECONDS
#   tools/fuzz.sh all SECONDS [TARGET...]    build, then run each target in turn (default: all)
#
# A run starts from the committed seeds (tests/fuzz/corpus/NAME/, read only) and a working
# corpus in build-fuzz/corpus/NAME/, where libFuzzer keeps what it finds interesting; the repo
# is never written. It prints the executions count and exits 0, or prints the report and exits 1
# on a finding (a crash, a sanitizer report, an exception other than tessera::Error, a hang past
# 30 s, RSS past 2 GB), leaving the input that caused it in build-fuzz/artifacts/TARGET/.
# Reproduce one with `build-fuzz/bin/TARGET FILE`. Exit 77: clang++-15 is not installed.
#
# Environment: FUZZ_BUILD_DIR (default: build-fuzz at the repo root), FUZZ_JOBS (build jobs,
# default nproc), FUZZ_CXX (default clang++-15).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dir=${FUZZ_BUILD_DIR:-$root/build-fuzz}
cxx=${FUZZ_CXX:-clang++-15}
jobs=${FUZZ_JOBS:-$(nproc)}
targets_all=(fuzz_safetensors fuzz_krun)
# Stack traces with file and line: llvm-symbolizer when installed, else binutils' addr2line.
if [ -z "${ASAN_SYMBOLIZER_PATH:-}" ]; then
  for s in llvm-symbolizer-15 llvm-symbolizer addr2line; do
    if command -v "$s" >/dev/null 2>&1; then
      export ASAN_SYMBOLIZER_PATH=$(command -v "$s")
      break
    fi
  done
fi

usage() { sed -n '2,20p' "$0" >&2; exit 2; }

need_clang() {
  if ! command -v "$cxx" >/dev/null 2>&1; then
    echo "fuzz: $cxx not found (bash tools/install-deps.sh installs clang-15): not fuzzing" >&2
    exit 77
  fi
}

build() {
  need_clang
  # The fuzz targets reach the CPU backend only: the OpenCL and Vulkan backends are left out
  # (their stubs link instead), which keeps the build small and GPU drivers out of the process.
  cmake -S "$root" -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER="$cxx" \
    -DTESSERA_FUZZ=ON -DTESSERA_BUILD_TESTS=OFF -DTESSERA_CUBLAS_PLUGIN=OFF \
    -DCMAKE_DISABLE_FIND_PACKAGE_OpenCL=ON -DCMAKE_DISABLE_FIND_PACKAGE_Vulkan=ON >/dev/null
  cmake --build "$dir" -j "$jobs" --target "${targets_all[@]}"
}

run() {
  local target=$1 seconds=$2
  shift 2
  need_clang
  local name=${target#fuzz_}
  local bin=$dir/bin/$target seeds=$root/tests/fuzz/corpus/$name
  local work=$dir/corpus/$name artifacts=$dir/artifacts/$target log=$dir/logs/$target.log
  [ -x "$bin" ] || { echo "fuzz: $bin not built (tools/fuzz.sh build)" >&2; exit 2; }
  [ -d "$seeds" ] || { echo "fuzz: no seed corpus $seeds" >&2; exit 2; }
  mkdir -p "$work" "$artifacts" "$(dirname "$log")"
  local flags=(-max_total_time="$seconds" -timeout=30 -rss_limit_mb=2048 -print_final_stats=1
               -error_exitcode=1 -timeout_exitcode=1 -artifact_prefix="$artifacts/")
  [ -f "$root/tests/fuzz/$name.dict" ] && flags+=(-dict="$root/tests/fuzz/$name.dict")
  echo "fuzz: $target for ${seconds} s (seeds $seeds, working corpus $work, log $log)"
  local rc=0
  (cd "$dir" && "$bin" "${flags[@]}" "$@" "$work" "$seeds") >"$log" 2>&1 || rc=$?
  local execs secs
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  secs=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log" | tail -n 1)
  if [ "$rc" -eq 0 ]; then
    echo "fuzz: $target: ${execs:-?} executions in ${secs:-$seconds} s, no findings" \
         "(working corpus: $(find "$work" -type f | wc -l) files)"
    return 0
  fi
  echo "fuzz: $target: FINDING (libFuzzer exit $rc) after ${execs:-?} executions; the end of $log:"
  tail -n 80 "$log"
  echo "fuzz: $target: inputs left in $artifacts/:"
  ls -l "$artifacts"
  echo "fuzz: reproduce with: $bin $artifacts/<file>"
  return 1
}

case ${1:-} in
build) build ;;
run)
  [ $# -ge 3 ] || usage
  run "${@:2}"
  ;;
all)
  [ $# -ge 2 ] || usage
  seconds=$2
  shift 2
  targets=("$@")
  [ ${#targets[@]} -gt 0 ] || targets=("${targets_all[@]}")
  build
  status=0
  for t in "${targets[@]}"; do run "$t" "$seconds" || status=1; done
  exit $status
  ;;
*) usage ;;
esac
