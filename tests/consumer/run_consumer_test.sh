#!/usr/bin/env bash
# Builds and runs the consumer project (tests/consumer) against SAGE, the way a user would:
#
#   --mode build-tree   find_package(sage) with -Dsage_DIR=<parent build dir>
#   --mode installed    cmake --install <parent build dir> --prefix <prefix>, then
#                       find_package(sage) with -DCMAKE_PREFIX_PATH=<prefix>
#
# Usage (registered by tests/CMakeLists.txt as consumer.build_tree / consumer.installed):
#   run_consumer_test.sh --mode build-tree|installed --parent-build DIR --work-dir DIR
#                        [--prefix DIR] [--cmake PATH] [--generator NAME] [--build-type TYPE]
#                        [--cxx PATH] [--cc PATH]
set -euo pipefail

usage() {
  sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

mode=""
parent_build=""
work_dir=""
prefix=""
cmake_bin="cmake"
generator="Ninja"
build_type="Release"
cxx=""
cc=""

while [[ $# -gt 0 ]]; do
  case "$1" in
    --mode) mode="$2"; shift 2 ;;
    --parent-build) parent_build="$2"; shift 2 ;;
    --work-dir) work_dir="$2"; shift 2 ;;
    --prefix) prefix="$2"; shift 2 ;;
    --cmake) cmake_bin="$2"; shift 2 ;;
    --generator) generator="$2"; shift 2 ;;
    --build-type) build_type="$2"; shift 2 ;;
    --cxx) cxx="$2"; shift 2 ;;
    --cc) cc="$2"; shift 2 ;;
    -h|--help) usage ;;
    *) echo "run_consumer_test.sh: unknown argument '$1'" >&2; usage ;;
  esac
done

[[ -n "$mode" && -n "$parent_build" && -n "$work_dir" ]] || usage
source_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
parent_build="$(cd "$parent_build" && pwd)"

configure_args=(-S "$source_dir" -B "$work_dir" -G "$generator"
                -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF)
[[ -n "$build_type" ]] && configure_args+=("-DCMAKE_BUILD_TYPE=$build_type")
[[ -n "$cxx" ]] && configure_args+=("-DCMAKE_CXX_COMPILER=$cxx")
[[ -n "$cc" ]] && configure_args+=("-DCMAKE_C_COMPILER=$cc")
if command -v ccache >/dev/null 2>&1; then
  configure_args+=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
fi

case "$mode" in
  build-tree)
    expected_dir="$parent_build"
    configure_args+=("-Dsage_DIR=$parent_build")
    ;;
  installed)
    [[ -n "$prefix" ]] || prefix="$parent_build/consumer-prefix"
    rm -rf "$prefix"
    mkdir -p "$prefix"
    prefix="$(cd "$prefix" && pwd)"
    echo "== installing $parent_build into $prefix"
    "$cmake_bin" --install "$parent_build" --prefix "$prefix"
    expected_dir="$prefix"
    configure_args+=("-DCMAKE_PREFIX_PATH=$prefix")
    ;;
  *)
    echo "run_consumer_test.sh: --mode must be build-tree or installed, not '$mode'" >&2
    exit 2
    ;;
esac

rm -rf "$work_dir"
mkdir -p "$work_dir"

echo "== configuring the consumer project ($mode) in $work_dir"
"$cmake_bin" "${configure_args[@]}"

# The consumer must have found *this* sage, not another installation.
found_dir="$(sed -n 's/^sage_DIR:[A-Z]*=//p' "$work_dir/CMakeCache.txt")"
found_dir="$(cd "$found_dir" && pwd)"
case "$found_dir" in
  "$expected_dir"|"$expected_dir"/*) echo "== sage_DIR=$found_dir" ;;
  *) echo "run_consumer_test.sh: sage found in '$found_dir', expected under '$expected_dir'" >&2
     exit 1 ;;
esac

echo "== building the consumer project"
"$cmake_bin" --build "$work_dir" -j2

echo "== running the consumer"
"$work_dir/sage-consumer"
