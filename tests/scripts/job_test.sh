#!/usr/bin/env bash
# Jobs on a real cluster on loopback: a head and two workers started by `sage
# cluster start` on free ports; programs submitted with RemoteEnvironment and
# `sage job submit`, shipped by the cluster (nothing is copied to the workers).
# Checks: every declarative pipeline case gives the same records remotely as
# locally; collect() brings records back; the flagship's result equals the
# local run's; placement by gpus and labels, and refusals that say what is
# missing; codec and fingerprint refusals; a crashing job takes down only its
# task host; several jobs at once from several clients; `sage job
# list|status|pause|resume|stop|logs|delete`; kill -9 and SIGSTOP of a worker
# mid-job fail the job naming the worker while the head runs on.
#
# Usage: job_test.sh PATH/TO/sage PATH/TO/sage-cluster-check PATH/TO/sage-word-count
#                    PATH/TO/sage-windowed-word-count PATH/TO/sage-order-risk PATH/TO/sage-retrieval
#                    PATH/TO/sage-caf-interop
set -euo pipefail
sage=$1
check=$2
word_count=$3
windowed_word_count=$4
order_risk=$5
retrieval=$6
caf_interop=$7
state=$(mktemp -d)
pids=()
cleanup() {
  # Submitting programs (children of `sage job submit`), by process name: a
  # pattern on the command line would match this script too.
  pkill -9 -x "$(basename "$check" | cut -c1-15)" 2>/dev/null || true
  for pid in "${pids[@]}" $(cat "$state"/*/*.pid 2>/dev/null); do
    kill -CONT "$pid" 2>/dev/null || true
    kill -9 "$pid" 2>/dev/null || true
  done
  rm -rf "$state"
}
trap cleanup EXIT
trap "exit 1" INT TERM  # the EXIT trap then cleans up
fail() {
  echo "FAIL: $*"
  echo "--- logs"
  tail -n 20 "$state"/*/*.log "$state"/*.out 2>/dev/null || true
  exit 1
}
. "$(dirname "$0")/cluster_lib.sh"

head_port=$(free_port)
head="127.0.0.1:$head_port"
export SAGE_ADDRESS=$head
out=$("$sage" cluster start --head --port "$head_port" --state-dir "$state/head")
pids+=("$(started_pid "$out")")
export SAGE_SECRET_FILE="$state/head/cluster.secret"  # made by the head: workers, clients, programs
out=$("$sage" cluster start --worker --head-address "$head" --state-dir "$state/w1")
w1=$(started_address "$out"); w1_pid=$(started_pid "$out"); pids+=("$w1_pid")
out=$("$sage" cluster start --worker --head-address "$head" --gpus 1 --label zone=b --state-dir "$state/w2")
w2=$(started_address "$out"); w2_pid=$(started_pid "$out"); pids+=("$w2_pid")
wait_count "$head" 3 || fail "expected the head and 2 workers alive"

# The id a `sage job submit` printed into file $1 (waits up to 20 s for it).
job_id_in() {
  for _ in $(seq 1 200); do
    local id
    id=$(sed -nE 's/^sage: job ([0-9a-f]+) submitted$/\1/p' "$1" | head -n 1)
    [ -n "$id" ] && { echo "$id"; return 0; }
    sleep 0.1
  done
  return 1
}
job_state() { "$sage" job status "$1" --format json | grep -oE '"state":"[a-z]+"' | head -n 1 | cut -d'"' -f4; }
# Records into operator $2 of job $1 so far.
records_in() {
  "$sage" job status "$1" --format json | sed 's/{"name"/\n{"name"/g' | grep -F "\"name\":\"$2\"" |
    grep -oE '"records_in":[0-9]+' | head -n 1 | cut -d: -f2
}
wait_job_state() {  # job, state, seconds
  for _ in $(seq 1 $(( $3 * 10 ))); do
    [ "$(job_state "$1")" = "$2" ] && return 0
    sleep 0.1
  done
  return 1
}

# Runs `cluster_check ARGS...` and expects its first line to start with "ok:".
expect_ok() {
  local out line
  out=$("$check" "$@" 2>/dev/null) || fail "$*: $out"
  line=${out%%$'\n'*}
  echo "  $line"
  [[ $line == ok:* ]] || fail "$*: $line"
}

echo "the declarative pipeline cases, remotely and locally"
cases=$("$check" count)
[ "$cases" -gt 0 ] || fail "no pipeline cases"
for i in $(seq 0 $(( cases - 1 ))); do
  out=$("$check" pipeline "$i" 2>"$state/case.err") || fail "case $i: $out $(tail -n 3 "$state/case.err")"
  line=${out%%$'\n'*}
  echo "  $line"
  [[ $line == ok:* ]] || fail "case $i: $line"
done

echo "collect() brings records back from every node"
expect_ok collect 200000 3

echo "services: a job of services called from another job's instances and the driver"
expect_ok services 3000 2

echo "services: an instance whose process aborts mid-call fails its calls at once and restarts"
"$sage" job submit "$check" service-crash >"$state/crash.out" 2>&1 || fail "service-crash: $(cat "$state/crash.out")"
grep -m1 '^ok:' "$state/crash.out" | sed 's/^/  /'
crash_id=$(job_id_in "$state/crash.out") || fail "service-crash printed no job id"
crash_json=$("$sage" job status "$crash_id" --format json)
services_json=$(grep -oE '"services":\[.*\]' <<<"$crash_json")
grep -q '"name":"fragile"' <<<"$services_json" || fail "sage job status lists no service: $crash_json"
restarts=$(grep -oE '"restarts":[0-9]+' <<<"$services_json" | head -n 1 | cut -d: -f2)
[ "${restarts:-0}" -ge 1 ] || fail "sage job status shows ${restarts:-no} restarts: $crash_json"
echo "  sage job status lists the service with $restarts restart(s)"

echo "pipeline services: a keyed pipeline across the nodes, called by the driver and another job"
expect_ok pipeline-service 3000 3

echo "the service examples on the cluster, each checking its own answers"
for example in "$order_risk" "$retrieval"; do
  out=$("$example" --address "$head" 2>/dev/null) || fail "$example --address $head: $out"
  line=$(tail -n 1 <<<"$out")
  echo "  $line"
  grep -qE "agrees|agree with" <<<"$line" || fail "$example on the cluster: $line"
done

echo "HybridEnvironment: a .local() operator in this process, the rest on the cluster"
expect_ok hybrid 5000

echo "keyed state: a count per key, on instances across the nodes"
expect_ok keyed-state 30000 3

echo "event time: every window kind and timers, across the nodes, against a brute force"
for p in 1 3; do
  expect_ok windows 20000 $p
done

echo "several inputs: union, comap, keyed connect and joins across the nodes, against a brute force"
for p in 1 3; do
  expect_ok joins 4000 $p
done

echo "feedback loops across the nodes end by themselves (no timeout)"
for p in 1 2; do
  expect_ok loops 2000 $p
done

echo "the event-time word count example on the cluster agrees with its count by hand"
out=$("$windowed_word_count" --address "$head" --parallelism 3 2>&1) || fail "windowed word count: $out"
echo "  ${out##*$'\n'}"
grep -q "agrees with every window" <<<"$out" || fail "windowed word count: $out"

echo "several jobs from one program run, one after the other"
expect_ok sequence
out=$("$sage" job submit "$check" sequence 2>/dev/null) || fail "sequence under sage job submit: $out"
[[ ${out%%$'\n'*} == ok:* ]] || fail "sequence under sage job submit: $out"

echo "sage job submit: the flagship on the cluster, unchanged, as on one process"
local_top=$("$word_count" --repeat 2 2>/dev/null | grep -E '^ +[0-9]+\. ')
"$sage" job submit "$word_count" --repeat 2 >"$state/wc.out" 2>&1 || fail "word count: $(cat "$state/wc.out")"
wc_id=$(job_id_in "$state/wc.out") || fail "no job id printed: $(cat "$state/wc.out")"
[ "$(job_state "$wc_id")" = finished ] || fail "word count job: $(job_state "$wc_id")"
remote_top=$("$sage" job logs "$wc_id" | sed -E 's/^\[[^]]*\] //' | grep -E '^ +[0-9]+\. ')
[ -n "$remote_top" ] && [ "$remote_top" = "$local_top" ] ||
  fail "the top-10 differ: remote [$remote_top] local [$local_top]"
"$sage" job status "${wc_id:0:8}" | grep -qE '^count +2 +244282 ' ||
  fail "job status does not count 244282 words into count: $("$sage" job status "$wc_id")"
grep -qE "244282 words" "$state/wc.out" || fail "the submitter's status() missed the counters: $(cat "$state/wc.out")"
echo "  top-10 equal; status counts every word"

echo "placement: resources and labels, refusals that say what is missing"
line=$("$check" gpus 1 2>/dev/null); [ "$line" = placed ] || fail "gpus 1: $line"
line=$("$check" gpus 2 2>/dev/null)
[[ $line == refused:*"2 gpus"*"worker $w2: 1 gpus free"* ]] || fail "gpus 2: $line"
line=$("$check" label zone=b 2>/dev/null); [ "$line" = placed ] || fail "label zone=b: $line"
line=$("$check" label zone=c 2>/dev/null)
[[ $line == refused:*"label zone=c"*"worker $w2: label zone=b"* ]] || fail "label zone=c: $line"
echo "  ok"

echo "bad jobs: refused or failed with a clear message, the cluster unharmed"
line=$("$check" nocodec 2>/dev/null) || fail "nocodec: $line"
[[ $line == refused:*"no codec"* ]] || fail "nocodec: $line"
line=$("$check" nondeterministic 2>/dev/null) || fail "nondeterministic: $line"
[[ $line == *"built another job"* ]] || fail "nondeterministic: $line"
line=$("$check" abort-at 500 2>/dev/null) || fail "abort: $line"
[[ $line == *"killed by signal 6"* ]] || fail "abort: $line"
wait_count "$head" 3 || fail "a crashing job took down a node"
echo "  ok"

echo "several jobs at once from several clients; pause, resume, stop"
"$sage" job submit "$check" endless >"$state/e1.out" 2>&1 &
e1=$!; pids+=("$e1")
"$sage" job submit "$check" endless >"$state/e2.out" 2>&1 &
e2=$!; pids+=("$e2")
id1=$(job_id_in "$state/e1.out") || fail "endless 1 printed no id"
id2=$(job_id_in "$state/e2.out") || fail "endless 2 printed no id"
sleep 1
[ "$(job_state "$id1")" = running ] && [ "$(job_state "$id2")" = running ] || fail "both jobs should run"
[ "$("$sage" job list --format json | grep -o '"state":"running"' | wc -l)" = 2 ] ||
  fail "job list: $("$sage" job list)"
"$sage" job status "$id1" | grep -q "worker $w1" || fail "status does not show where instances run"
tasks=$("$sage" cluster status --format json | grep -oE '"running_tasks":[0-9]+' | awk -F: '{ s += $2 } END { print s }')
[ "${tasks:-0}" -ge 10 ] || fail "cluster status shows ${tasks:-no} running tasks for two jobs of 5 each"
"$sage" job pause "$id1" >/dev/null
sleep 0.5
before=$(records_in "$id1" increment)
sleep 1
after=$(records_in "$id1" increment)
[ "$(job_state "$id1")" = paused ] || fail "not paused: $(job_state "$id1")"
[ "$before" = "$after" ] || fail "a paused job kept going: $before -> $after"
"$sage" job resume "$id1" >/dev/null
sleep 1
[ "$(records_in "$id1" increment)" -gt "$after" ] || fail "a resumed job did not go on"
"$sage" job stop "${id1:0:10}" | grep -q finished || fail "stop did not finish the job"
wait "$e1" || fail "the stopped job's submitter failed: $(cat "$state/e1.out")"
grep -q "ended: finished" "$state/e1.out" || fail "submitter: $(cat "$state/e1.out")"
[ "$(job_state "$id2")" = running ] || fail "the other job did not keep running"
echo "  ok"

echo "backpressure: a fast source before a slow sink waits for credit most of the time"
"$sage" job submit "$check" slow-sink >"$state/slow.out" 2>&1 &
slow=$!; pids+=("$slow")
slow_id=$(job_id_in "$state/slow.out") || fail "slow-sink printed no id"
wait_job_state "$slow_id" running 10 || fail "slow-sink not running"
sleep 2
bp=$("$sage" job status "$slow_id" --format json | sed 's/{"task"/\n{"task"/g' | grep -F '"task":"fast"' |
  grep -oE '"backpressure":[0-9.e-]+' | cut -d: -f2)
"$sage" job status "$slow_id" | grep -q BACKPRESSURE || fail "job status shows no backpressure"
"$sage" job stop "$slow_id" >/dev/null || fail "stop slow-sink"
wait "$slow" || fail "slow-sink: $(cat "$state/slow.out")"
awk -v b="${bp:-0}" 'BEGIN { exit !(b > 0.5) }' || fail "the fast source's backpressure is ${bp:-none}"
echo "  the source waited for credit ${bp} of the time"

echo "kill -9 of a worker mid-job: the job fails naming it; the head runs on"
kill -9 "$w1_pid"
start=$SECONDS
wait "$e2" && fail "the job survived the loss of its worker"
grep -q "worker $w1" "$state/e2.out" || fail "the failure does not name $w1: $(cat "$state/e2.out")"
echo "  failed within $(( SECONDS - start )) s: $(grep -m1 failed "$state/e2.out")"
[ "$(job_state "$id2")" = failed ] || fail "job state: $(job_state "$id2")"
wait_state "$head" "$w1" 5 lost || fail "$w1 not lost"

echo "SIGSTOP of a worker mid-job: the job fails naming it within about 15 s"
"$sage" job submit "$check" endless >"$state/e3.out" 2>&1 &
e3=$!; pids+=("$e3")
id3=$(job_id_in "$state/e3.out") || fail "endless 3 printed no id"
wait_job_state "$id3" running 10 || fail "endless 3 not running"
sleep 0.5
kill -STOP "$w2_pid"
start=$SECONDS
wait "$e3" && fail "the job survived a frozen worker"
kill -CONT "$w2_pid"
grep -q "worker $w2" "$state/e3.out" || fail "the failure does not name $w2: $(cat "$state/e3.out")"
echo "  failed within $(( SECONDS - start )) s: $(grep -m1 failed "$state/e3.out")"
wait_state "$head" "$w2" 30 alive || fail "$w2 did not come back after SIGCONT"

echo "job logs and delete"
"$sage" job logs "$wc_id" --tail 3 | grep -q '^\[' || fail "job logs --tail"
"$sage" job delete "$wc_id" >/dev/null
"$sage" job list | grep -q "$wc_id" && fail "a deleted job is still listed"
# (w1 was lost: what it holds stays until it comes back and the job is deleted again.)
if [ -e "$state/w2/jobs/$wc_id" ] || [ -e "$state/head/jobs/$wc_id" ]; then
  fail "a deleted job's logs are still on the alive nodes"
fi
line=$("$sage" job status "$wc_id" 2>&1) && fail "status of a deleted job: $line"
[[ $line == *"no job"* ]] || fail "status of a deleted job: $line"
echo "  ok"

echo "sage::Node: a plain CAF program joins the cluster as a worker; a job placed by its label runs there"
caf_stop="$state/caf.stop"
"$caf_interop" join "$head" app=caf "$caf_stop" >"$state/caf.out" 2>&1 &
caf_pid=$!; pids+=("$caf_pid")
for _ in $(seq 1 100); do grep -q '^ok: joined' "$state/caf.out" && break; sleep 0.1; done
grep -q '^ok: joined' "$state/caf.out" || fail "the CAF program did not join: $(cat "$state/caf.out")"
line=$("$check" label app=caf 2>/dev/null); [ "$line" = placed ] || fail "label app=caf: $line"
touch "$caf_stop"
wait "$caf_pid" || fail "the CAF program: $(cat "$state/caf.out")"
echo "  $(grep -m1 '^ok:' "$state/caf.out"); the job ran on it"
echo "PASS"
