# SAGE -- top-level Makefile: a thin wrapper around CMake + Ninja.
#
#   make deps       check (and, as root, install) the Debian packages the build needs
#   make configure  cmake -G Ninja into $(BUILD_DIR) (only when it is not configured yet)
#   make build      build everything (always -j2: each CAF translation unit needs ~1 GB)
#   make run        build, then run the flagship example (sage-word-count); ARGS="..." passes args
#   make test       build, then run every ctest test (unit, integration, consumer)
#   make bench      build, then run the benchmarks
#   make install    install into $(PREFIX) (default /usr/local)
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
                libcapnp-dev libspdlog-dev libfmt-dev doctest-dev libcli11-dev

SHELL := /bin/bash

.PHONY: all deps configure build run test bench install clean

# The targets chain (deps -> configure -> build -> ...): never run them in parallel.
.NOTPARALLEL:

all: build

deps:
	@if ! command -v dpkg-query >/dev/null 2>&1; then \
	  echo "deps: dpkg-query not found (not a Debian system?); install by hand: $(DEB_PACKAGES)"; \
	  exit 0; \
	fi; \
	missing=""; \
	for p in $(DEB_PACKAGES); do \
	  if ! dpkg-query -W -f='$${Status}\n' "$$p" 2>/dev/null | grep -q 'install ok installed'; then \
	    missing="$$missing $$p"; \
	  fi; \
	done; \
	missing="$${missing# }"; \
	if [ -z "$$missing" ]; then \
	  echo "deps: all required packages are installed"; \
	  exit 0; \
	fi; \
	echo "deps: missing Debian packages: $$missing"; \
	if [ "$$(id -u)" -eq 0 ]; then \
	  apt-get update && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y $$missing; \
	else \
	  echo "deps: run as root:"; \
	  echo "  sudo apt-get update && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y $$missing"; \
	  exit 1; \
	fi

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

install: build
	$(CMAKE) --install "$(BUILD_DIR)" --prefix "$(PREFIX)"

clean:
	rm -rf "$(BUILD_DIR)"
