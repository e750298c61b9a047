# SAGE -- top-level Makefile: a thin wrapper around CMake + Ninja.
#
#   make deps       check (and, as root, install) the Debian packages the build needs
#   make configure  cmake -G Ninja into $(BUILD_DIR) (only when it is not configured yet)
#   make build      build everything (always -j2: each CAF translation unit needs ~1 GB)
#   make run        build, then run the flagship example (sage-word-count); ARGS="..." passes args
#   make test       build, then run every ctest test (unit, integration, consumer)
#   make bench      build, then run the benchmarks
#   make install    install into $(PREFIX) (default /usr/local)
#   make format     clang-format every C++ file (ctest's style.clang_format checks it)
#   make clean      remove $(BUILD_DIR)
#
# Variables: BUILD_DIR (build), BUILD_TYPE (Release), PREFIX (/usr/local), ARGS, CTEST_ARGS,
#            CMAKE_ARGS (extra arguments for the first configure).

BUILD_DIR  ?= build
BUILD_TYPE ?= Release
PREFIX     ?= /usr/local
ARGS       ?=
CTEST_ARGS ?=
CMAKE_ARGS ?=

CMAKE ?= cmake
CTEST ?= ctest

DEB_PACKAGES := build-essential cmake ninja-build ccache pkg-config libcaf-dev capnproto \
                libcapnp-dev libssl-dev openssl iproute2 libspdlog-dev libfmt-dev doctest-dev libcli11-dev \
                python3 libyaml-cpp-dev libtomlplusplus-dev nlohmann-json3-dev

SHELL := /bin/bash

.PHONY: all deps configure build run test bench fuzz install clean format

# The targets chain (deps -> configure -> build -> ...): never run them in parallel.
.NOTPARALLEL:

all: build

deps:
	@bash cluster/install-deps.sh $(DEB_PACKAGES)

configure: deps
	@if [ ! -f "$(BUILD_DIR)/build.ninja" ]; then \
	  if [ -f "$(BUILD_DIR)/CMakeCache.txt" ] && ! grep -q '^CMAKE_GENERATOR:INTERNAL=Ninja$$' "$(BUILD_DIR)/CMakeCache.txt"; then \
	    echo "configure: $(BUILD_DIR) was configured with another generator; run 'make clean' first"; \
	    exit 1; \
	  fi; \
	  echo "$(CMAKE) -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) $(CMAKE_ARGS)"; \
	  $(CMAKE) -S . -B "$(BUILD_DIR)" -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) $(CMAKE_ARGS); \
	fi

build: configure
	$(CMAKE) --build "$(BUILD_DIR)" -j2

run: build
	"$(abspath $(BUILD_DIR))/apps/examples/sage-word-count" $(ARGS)

test: build
	$(CTEST) --test-dir "$(BUILD_DIR)" --output-on-failure -j2 --timeout 600 $(CTEST_ARGS)

bench: build
	"$(abspath $(BUILD_DIR))/apps/bench/sage-bench" $(ARGS)

# libFuzzer targets of the decoders that read a peer's bytes (tests/fuzz), built with clang and
# sanitizers in their own build directory, each run for FUZZ_SECONDS (default 60). Not part of
# `make test`.
FUZZ_BUILD_DIR ?= build-fuzz
fuzz:
	@bash cluster/install-deps.sh $(DEB_PACKAGES) clang-14 libfuzzer-14-dev
	@if [ ! -f "$(FUZZ_BUILD_DIR)/build.ninja" ]; then \
	  $(CMAKE) -S . -B "$(FUZZ_BUILD_DIR)" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	    -DCMAKE_C_COMPILER=clang-14 -DCMAKE_CXX_COMPILER=clang++-14 \
	    -DSAGE_FUZZ=ON -DSAGE_BUILD_TESTS=OFF -DSAGE_BUILD_APPS=OFF; \
	fi
	$(CMAKE) --build "$(FUZZ_BUILD_DIR)" -j2 --target sage-fuzz-targets
	@bash tests/fuzz/run.sh "$(FUZZ_BUILD_DIR)"

install: build
	$(CMAKE) --install "$(BUILD_DIR)" --prefix "$(PREFIX)"

format:
	git ls-files '*.cpp' '*.hpp' | xargs clang-format -i

clean:
	rm -rf "$(BUILD_DIR)" "$(FUZZ_BUILD_DIR)"
