#!/usr/bin/env bash
# Runs every libFuzzer target under BUILD_DIR/fuzz for FUZZ_SECONDS each (default
# 60), with a corpus kept in BUILD_DIR/fuzz/corpus/<target> and the regression
# inputs of tests/fuzz/regressions/<target> (each a crash once found: they run
# first, and must pass). Prints the executions of each run; exits non-zero on a
# crash, a sanitizer report, a leak or an allocation beyond 2 GB, leaving the
# input in BUILD_DIR/fuzz/crash-<target>-*.
#
# Usage: tests/fuzz/run.sh BUILD_DIR   (what `make fuzz` calls)
set -euo pipefail
build=$1
seconds=${FUZZ_SECONDS:-60}
here=$(cd "$(dirname "$0")" && pwd)
status=0
for target in "$build"/fuzz/fuzz_*; do
  [ -x "$target" ] || continue
  name=$(basename "$target")
  corpus="$build/fuzz/corpus/$name"
  mkdir -p "$corpus"
  regressions="$here/regressions/$name"
  if [ -d "$regressions" ] && [ -n "$(ls -A "$regressions")" ]; then
    if ! "$target" -malloc_limit_mb=2048 "$regressions"/* >"$build/fuzz/$name.regressions.log" 2>&1; then
      echo "fuzz: $name: a regression input fails again (see $build/fuzz/$name.regressions.log)"
      status=1
      continue
    fi
  fi
  log="$build/fuzz/$name.log"
  if "$target" -max_total_time="$seconds" -malloc_limit_mb=2048 -print_final_stats=1 \
       -artifact_prefix="$build/fuzz/crash-$name-" "$corpus" >"$log" 2>&1; then
    runs=$(sed -nE 's/^stat::number_of_executed_units: *([0-9]+)/\1/p' "$log" | tail -n 1)
    cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -n 1)
    echo "fuzz: $name: ${runs:-?} executions in ${seconds} s (${runs:+$((runs / seconds))}/s), ${cov:-cov: ?}, corpus $(ls "$corpus" | wc -l) inputs, no crash"
  else
    echo "fuzz: $name: FAILED (see $log; the input is in $build/fuzz/crash-$name-*)"
    grep -E "ERROR|runtime error|SUMMARY" "$log" | head -n 5 || true
    status=1
  fi
done
exit $status
