#!/usr/bin/env bash
# A busy cluster queues work, it does not fail it. On a head and two workers:
# two rounds of 16 programs submitted at once (32 in all), each a small
# parallel job, all complete with correct results. Then on a head and 32
# workers: 30 jobs in a row, each with 8 instances per operator collected at
# the submitter, all complete with correct results, none hangs.
#
# The cluster is authenticated (the cluster secret's handshake on loopback), as by default;
# SAGE_TEST_LOAD_INSECURE=1 runs it --insecure, for comparison
# (docs/operations.md, "Load"). SAGE_TEST_32_WORKERS=0 leaves out the 32 workers.
#
# Usage: load_test.sh PATH/TO/sage PATH/TO/sage-job-series
set -euo pipefail
sage=$1
prog=$2
. "$(dirname "$0")/cluster_lib.sh"
cluster_script_setup "$prog"

mode=()
[ "${SAGE_TEST_LOAD_INSECURE:-0}" = 1 ] && mode=(--insecure)
echo "(the cluster is ${mode[*]:-authenticated})"

echo "a head and two workers: two rounds of 16 programs submitted at once"
start_cluster 2 a "${mode[@]}"
for round in 1 2; do
  start=$SECONDS
  for k in $(seq 1 16); do
    timeout 300 "$sage" job submit "$prog" chain >"$state/r$round-$k.out" 2>&1 &
  done
  wait || true
  for k in $(seq 1 16); do
    grep -q "^ok: 100 then 100 records" "$state/r$round-$k.out" ||
      fail "round $round, program $k: $(grep -v '^\[' "$state/r$round-$k.out" | tail -n 3)"
  done
  echo "  round $round: 16 of 16 completed, correct, in $(( SECONDS - start )) s"
done
retries=$(cat "$state"/a/*/*.log "$state"/a/*/jobs/*/*.log 2>/dev/null | grep -c "trying again" || true)
echo "  (connections retried under load: $retries)"
"$sage" cluster stop --all "${mode[@]}" >/dev/null

if [ "${SAGE_TEST_32_WORKERS:-1}" = 0 ]; then
  echo "PASS (the 32-worker part is off: SAGE_TEST_32_WORKERS=0)"
  exit 0
fi
echo "a head and 32 workers: 30 jobs in a row, 8 instances per operator"
start_cluster 32 b "${mode[@]}"
start=$SECONDS
line=$(timeout 900 "$prog" wide 30 2>"$state/wide.err") || fail "30 jobs on 32 workers: $line $(grep -v '^\[20' "$state/wide.err" | tail -n 3)"
[[ $line == "ok: 30 jobs"* ]] || fail "30 jobs on 32 workers: $line"
echo "  $line, in $(( SECONDS - start )) s"
"$sage" cluster stop --all "${mode[@]}" >/dev/null
echo "PASS"
