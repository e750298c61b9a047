#!/usr/bin/env bash
# The examples that check their own results (a count or a search by hand in the
# same program), run on a LocalEnvironment: each must print that they agree.
# (job_test.sh runs the event-time word count on a real cluster too.)
#
# Usage: examples_test.sh EXAMPLE... (sage-windowed-word-count, sage-feedback-loop,
#        sage-order-risk, sage-retrieval)
set -euo pipefail
for example in "$@"; do
  out=$("$example" 2>&1) || { echo "FAIL: $example exited with $?: $out"; exit 1; }
  echo "$out" | tail -n 1
  if ! grep -qE "agrees|agree with" <<<"$out" || grep -q "MISMATCH" <<<"$out"; then
    echo "FAIL: $example did not find its results agree: $out"
    exit 1
  fi
done
echo "ok: $# examples agree with their own checks"
