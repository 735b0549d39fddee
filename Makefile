# Tessera: `make test` and `make bench` work on a fresh Debian 12 machine. Both install what is
# missing (tools/install-deps.sh), configure and build into build/, then run.
BUILD_DIR ?= build
BUILD_TYPE ?= Release
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=
BENCH_FLAGS ?=

.PHONY: all deps configure build test bench clean

all: build

deps:
	bash tools/install-deps.sh

configure: deps
	cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) -DTESSERA_WERROR=ON $(CMAKE_FLAGS)

build: configure
	cmake --build $(BUILD_DIR) -j $(JOBS)

test: build
	ctest --test-dir $(BUILD_DIR) --output-on-failure -j $(JOBS)

bench: build
	$(BUILD_DIR)/bin/kbench --json $(BUILD_DIR)/bench/kbench.json --md $(BUILD_DIR)/bench/kbench.md --plots $(BUILD_DIR)/bench/plots $(BENCH_FLAGS)

clean:
	rm -rf $(BUILD_DIR)
