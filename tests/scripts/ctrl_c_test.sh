#!/usr/bin/env bash
# Ctrl-C on a local job stops it cleanly: the program started with an unbounded
# source gets SIGINT once it runs, stops gracefully (close() runs, the final
# report is printed) and exits with status 0.
#
# Usage: ctrl_c_test.sh PATH/TO/sage-sensor-stream
set -euo pipefail
program=$1
out=$(mktemp)
err=$(mktemp)
"$program" --rate 50000 --report-every 5000 >"$out" 2>"$err" &
pid=$!
cleanup() { kill -9 "$pid" 2>/dev/null || true; rm -f "$out" "$err"; }
trap cleanup EXIT

for _ in $(seq 1 300); do  # up to 30 s for the job to get going
  grep -q '^processed' "$out" && break
  sleep 0.1
done
grep -q '^processed' "$out" || { echo "FAIL: the job never reported progress"; cat "$out"; exit 1; }

kill -INT "$pid"
status=0
for _ in $(seq 1 300); do  # up to 30 s to stop
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.1
done
if kill -0 "$pid" 2>/dev/null; then echo "FAIL: still running 30 s after SIGINT"; cat "$out"; exit 1; fi
wait "$pid" || status=$?
cat "$out" "$err"
[ "$status" -eq 0 ] || { echo "FAIL: exit status $status"; exit 1; }
grep -q '^stopped after' "$out" || { echo "FAIL: close() did not run (no final report)"; exit 1; }
grep -q '^job finished' "$out" || { echo "FAIL: the job did not finish gracefully"; exit 1; }
# SAGE logs to stderr only: stdout is the program's (and print()'s).
grep -q 'stopping its sources' "$err" || { echo "FAIL: no log line on stderr"; cat "$err"; exit 1; }
if grep -qE '\[(info|warning|error|debug)\]' "$out"; then echo "FAIL: log lines on stdout"; exit 1; fi
echo "ok: stopped cleanly on SIGINT"
