#!/usr/bin/env bash
# A real cluster on loopback: a head and workers as separate processes started by
# `sage cluster start`, on free ports, in a state directory of their own. Checks
# registration, `cluster status`, failure detection (kill -9 and SIGSTOP of a
# worker), a worker that outlives its head and re-registers, garbage bytes on the
# head's port, and `cluster stop --all`. Every process is killed on exit.
#
# Usage: cluster_test.sh PATH/TO/sage
set -euo pipefail
sage=$1
state=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}" $(cat "$state"/*.pid 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
  rm -rf "$state"
}
trap cleanup EXIT
trap "exit 1" INT TERM  # the EXIT trap then cleans up
fail() { echo "FAIL: $*"; echo "--- logs"; tail -n 20 "$state"/*.log 2>/dev/null; exit 1; }

. "$(dirname "$0")/cluster_lib.sh"

head_port=$(free_port)
head="127.0.0.1:$head_port"

# The cluster's secret, made beforehand (any key with its self-signed certificate,
# in one PEM file of mode 0600, will do): the worker below starts before its head.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
  -subj /CN=sage-test -keyout "$state/key.pem" -out "$state/cert.pem" 2>/dev/null
(umask 077; cat "$state/cert.pem" "$state/key.pem" >"$state/cluster.secret")
export SAGE_SECRET_FILE="$state/cluster.secret"

# A worker started before its head keeps trying, and registers once the head is up.
out=$("$sage" cluster start --worker --head-address "$head" --cpus 3 --memory 2G --label zone=a --state-dir "$state")
early=$(started_address "$out"); early_pid=$(started_pid "$out"); pids+=("$early_pid")
sleep 1.5
out=$("$sage" cluster start --head --port "$head_port" --state-dir "$state")
[ "$(started_address "$out")" = "$head" ] || fail "head not on $head: $out"
pids+=("$(started_pid "$out")")
out=$("$sage" cluster start --worker --head-address "$head" --gpus 1 --state-dir "$state")
second=$(started_address "$out"); second_pid=$(started_pid "$out"); pids+=("$second_pid")
# The third reads its labels from a config file (YAML, read by yaml-cpp): a flow map whose
# quoted value holds a '#'.
printf 'node:\n  labels: {zone: "eu # 1", disk: ssd}  # a comment\n' >"$state/worker3.yaml"
out=$("$sage" cluster start --worker --head-address "$head" --config "$state/worker3.yaml" --state-dir "$state")
third=$(started_address "$out"); third_pid=$(started_pid "$out"); pids+=("$third_pid")

echo "registration"
wait_state "$head" "$early" 15 alive || fail "the early worker did not register"
wait_state "$head" "$second" 15 alive || fail "worker 2 did not register"
wait_state "$head" "$third" 15 alive || fail "worker 3 did not register"
wait_count "$head" 4 || fail "expected head + 3 workers alive"
"$sage" cluster status --address "$head" | grep -q "zone=a" || fail "labels missing from status"
"$sage" cluster status --address "$head" | grep "$third" | grep -q "zone=eu # 1" ||
  fail "the labels of the config file are missing: $("$sage" cluster status --address "$head" | grep "$third")"
"$sage" cluster status --address "$head" | grep "$third" | grep -q "disk=ssd" || fail "label disk=ssd missing"
grep -q "cannot reach the head" "$state"/worker-*.log || fail "the early worker did not say it was retrying"

echo "garbage on the head's port"
# Random bytes, and a frame header announcing a 4 GiB payload. CAF 0.17 makes room for
# whatever payload a header announces before it checks anything, and random bytes often
# announce a huge one, which can stall a plain node for seconds so that its peers drop it
# (docs/operations.md). What must hold: the head survives, and the cluster is whole again.
for size in 1 7 64 4096 100000; do
  exec 3<>"/dev/tcp/127.0.0.1/$head_port"
  head -c "$size" /dev/urandom >&3 || true
  exec 3>&- 3<&-
done
exec 3<>"/dev/tcp/127.0.0.1/$head_port"
printf '\x00\x00\x00\x00\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff' >&3 || true
exec 3>&- 3<&-
sleep 0.5
kill -0 "$(cat "$state/head.pid")" || fail "the head died of garbage bytes"
for pid in "$second_pid" "$third_pid"; do kill -0 "$pid" || fail "a worker died when the head got garbage"; done
wait_count "$head" 4 || fail "the cluster did not recover from garbage bytes: $("$sage" cluster status --address "$head" 2>&1)"

echo "failure detection"
kill -9 "$second_pid"
wait_state "$head" "$second" 10 lost || fail "a killed worker was not noticed"
kill -STOP "$third_pid"
wait_state "$head" "$third" 25 lost || fail "a frozen worker was not noticed"  # heartbeat timeout: 15 s
kill -CONT "$third_pid"
[ "$(node_state "$head" "$early")" = alive ] || fail "the head lost a healthy worker"

echo "a worker outlives its head"
head_pid=$(cat "$state/head.pid")
kill -9 "$head_pid"
sleep 2
grep -q "lost the head" "$state"/worker-*.log || fail "no worker said it lost the head"
out=$("$sage" cluster start --head --port "$head_port" --state-dir "$state")
pids+=("$(started_pid "$out")")
wait_state "$head" "$early" 15 alive || fail "the worker did not re-register with the new head"

echo "cluster stop --all, one worker between registrations"
# The head restarts while a worker is frozen: the new head has not seen it, and
# knows it only from the state directory; stop --all must reach it all the same.
head_pid=$(cat "$state/head.pid")
kill -9 "$head_pid"
kill -STOP "$early_pid"
for _ in $(seq 1 50); do [ -e "/proc/$head_pid" ] && [ "$(awk '{ print $3 }' "/proc/$head_pid/stat" 2>/dev/null)" != Z ] || break; sleep 0.1; done
out=$("$sage" cluster start --head --port "$head_port" --state-dir "$state")
pids+=("$(started_pid "$out")")
sleep 0.5
"$sage" cluster status --address "$head" --format json | grep -q "\"unregistered\":\[[^]]*\"$early\"" ||
  fail "the new head does not know the worker it has not seen: $("$sage" cluster status --address "$head" --format json)"
(sleep 1; kill -CONT "$early_pid") &
"$sage" cluster stop --all --address "$head"
for _ in $(seq 1 100); do
  alive=0
  for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
  [ $alive = 0 ] && break
  sleep 0.1
done
for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && fail "process $pid still runs after stop --all"; done
"$sage" cluster status --address "$head" 2>/dev/null && fail "status answered after stop"
message=$("$sage" cluster status --address "$head" 2>&1 || true)
grep -q "^sage: cannot reach the head at $head" <<<"$message" || fail "no clear error from status: $message"
echo "ok: cluster on loopback"
