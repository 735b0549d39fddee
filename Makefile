# Tessera: `make test` and `make bench` work on a fresh Debian 12 machine. Both install what is
# missing (tools/install-deps.sh), configure and build into build/, then run.
#   make quick      the fast tests only (ctest label quick), for a developer's loop
#   make sanitize   the quick tests built with ASan + UBSan into build-asan/
#   make fuzz       the libFuzzer targets (clang-15, build-fuzz/), FUZZ_SECONDS each
#   make api        rewrite the typed API from core/op_table.h (tools/gen_api.cpp)
# ctest labels (tests/CMakeLists.txt): quick, slow, conformance (the conformance suite, also slow)
# and fuzz; e.g. ctest --test-dir build -L conformance.
BUILD_DIR ?= build
BUILD_TYPE ?= Release
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=
BENCH_FLAGS ?=
ASAN_DIR ?= build-asan
FUZZ_DIR ?= build-fuzz
FUZZ_SECONDS ?= 300
FUZZ_TARGETS ?= fuzz_safetensors fuzz_krun

export FUZZ_BUILD_DIR := $(abspath $(FUZZ_DIR))
export FUZZ_JOBS := $(JOBS)

.PHONY: all deps configure build test quick sanitize fuzz bench api clean

all: build

deps:
	bash tools/install-deps.sh

configure: deps
	cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) -DTESSERA_WERROR=ON $(CMAKE_FLAGS)

build: configure
	cmake --build $(BUILD_DIR) -j $(JOBS)

# The whole suite, with the fuzz targets built into $(FUZZ_DIR) and run 30 s each (label fuzz).
test: build
	ctest --test-dir $(BUILD_DIR) --output-on-failure -j $(JOBS)

quick: configure
	cmake --build $(BUILD_DIR) -j $(JOBS) --target tessera_quick_tests
	ctest --test-dir $(BUILD_DIR) -L quick --output-on-failure -j $(JOBS)

# The quick tests with AddressSanitizer (and LeakSanitizer) and UndefinedBehaviorSanitizer (gcc),
# on every backend built, PoCL and lavapipe included; any report fails its test
# (-fno-sanitize-recover for UBSan). No -Werror here: gcc warns spuriously under sanitizers.
# tests/lsan.supp: lavapipe never frees some allocations of its own, which LeakSanitizer would
# report in every test that opens a Vulkan device; only the driver's frames are suppressed.
sanitize: deps
	cmake -S . -B $(ASAN_DIR) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTESSERA_SANITIZE=address,undefined $(CMAKE_FLAGS)
	cmake --build $(ASAN_DIR) -j $(JOBS) --target tessera_quick_tests
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp:print_suppressions=0 \
	  ctest --test-dir $(ASAN_DIR) -L quick --output-on-failure -j $(JOBS)

# Each fuzz target for FUZZ_SECONDS on a working copy of its corpus ($(FUZZ_DIR)/corpus/);
# non-zero exit on a finding, whose input is left in $(FUZZ_DIR)/artifacts/TARGET/.
fuzz: deps
	bash tools/fuzz.sh all $(FUZZ_SECONDS) $(FUZZ_TARGETS)

# After a change to core/op_table.h: rewrite the typed API's generated regions (tools/gen_api.cpp).
api: configure
	cmake --build $(BUILD_DIR) --target api

bench: build
	$(BUILD_DIR)/bin/kbench --json $(BUILD_DIR)/bench/kbench.json --md $(BUILD_DIR)/bench/kbench.md --plots $(BUILD_DIR)/bench/plots $(BENCH_FLAGS)

clean:
	rm -rf $(BUILD_DIR) $(ASAN_DIR) $(FUZZ_DIR)
