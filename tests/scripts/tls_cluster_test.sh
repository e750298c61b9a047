#!/usr/bin/env bash
# Mutual TLS between cluster nodes, with certificates made by cluster/make-certs.sh:
# members of the cluster's CA register and are answered; a client without TLS, or with a
# certificate of another CA, is refused with a clear message and cannot register. Then, in
# network namespaces this test creates (head and worker as two machines joined by a veth
# pair, addresses that exist only inside those namespaces), a head listening on a
# non-loopback address, which needs TLS; and a cluster of the default kind (the head's
# secret) across them, whose connections between hosts are TLS too. The namespace part is skipped, saying why, where
# namespaces cannot be created. Every process and namespace is removed on exit.
#
# Usage: tls_cluster_test.sh PATH/TO/sage [PATH/TO/sage-cluster-check]
# With the second program, a job is shipped across the namespaces over TLS too.
set -euo pipefail
sage=$1
check=${2:-}
here=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
ns_head="sage-head-$$"
ns_worker="sage-worker-$$"
cleanup() {
  for f in "$work"/state*/*.pid; do [ -f "$f" ] && { kill -9 "$(cat "$f")" 2>/dev/null || true; }; done
  pkill -9 -f -- "--state-dir $work" 2>/dev/null || true
  [ -n "$check" ] && { pkill -9 -x "$(basename "$check" | cut -c1-15)" 2>/dev/null || true; }
  ip netns del "$ns_head" 2>/dev/null || true
  ip netns del "$ns_worker" 2>/dev/null || true
  [ -n "${KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT
trap "exit 1" INT TERM  # the EXIT trap then cleans up
fail() { echo "FAIL: $*"; tail -n 5 "$work"/state*/*.log 2>/dev/null; exit 1; }
. "$(dirname "$0")/cluster_lib.sh"
alive_count() { "$sage" cluster status --address "$1" --tls-dir "$2" --format json 2>/dev/null | grep -o '"state":"alive"' | wc -l; }
wait_alive() {  # head, tls dir, count
  for _ in $(seq 1 150); do [ "$(alive_count "$1" "$2")" = "$3" ] && return 0; sleep 0.1; done
  return 1
}

export HOME="$work/home"  # no ~/.sage/cluster.secret of the machine's: clients here present only what they are given
bash "$here/cluster/make-certs.sh" "$work/pki" head worker client >/dev/null
bash "$here/cluster/make-certs.sh" "$work/other" intruder >/dev/null

echo "mutual TLS on loopback"
out=$("$sage" cluster start --head --port 0 --tls-dir "$work/pki/head" --state-dir "$work/state")
head=$(started_address "$out")
"$sage" cluster start --worker --head-address "$head" --tls-dir "$work/pki/worker" --state-dir "$work/state" >/dev/null
wait_alive "$head" "$work/pki/client" 2 || fail "a worker with a certificate of the CA did not register"

message=$("$sage" cluster status --address "$head" 2>&1 || true)
grep -q "the cluster is authenticated" <<<"$message" || fail "a client without credentials got no clear refusal: $message"
message=$("$sage" cluster status --address "$head" --tls-dir "$work/other/intruder" 2>&1 || true)
grep -q "is it this cluster's" <<<"$message" || fail "a foreign certificate got no clear refusal: $message"
out=$("$sage" cluster start --worker --head-address "$head" --tls-dir "$work/other/intruder" \
        --state-dir "$work/state-intruder")
intruder=$(started_address "$out")
out=$("$sage" cluster start --worker --insecure --head-address "$head" --state-dir "$work/state-plain" 2>/dev/null)
plain=$(started_address "$out")
# Each is told why at its first refused attempt: usually at once, but an attempt
# that times out first (under load) is retried for up to 30 s (`connect_to`).
told() {  # log glob, text
  for _ in $(seq 1 400); do grep -q "$2" $1 2>/dev/null && return 0; sleep 0.1; done
  return 1
}
told "$work/state-intruder/worker-*.log" "is it this cluster's" || fail "the intruder was not told why"
told "$work/state-plain/worker-*.log" "the cluster is authenticated" || fail "the plain worker was not told why"
status=$("$sage" cluster status --address "$head" --tls-dir "$work/pki/client" --format json) ||
  fail "no status from the head while refused peers knocked"
grep -q "$intruder\|$plain" <<<"$status" && fail "a worker without a certificate of the CA registered: $status"
# Refused handshakes and short-lived clients leave the members' sessions alone
# (CAF 0.17 alone would drop them: actors/src/openssl_error_queue.cpp).
[ "$(alive_count "$head" "$work/pki/client")" = 2 ] || fail "the member worker was dropped"
if grep -q "lost the head" "$work"/state/worker-*.log; then
  fail "the member worker lost its head while refused peers knocked"
fi
kill -9 "$(cat "$work"/state-intruder/worker-*.pid)" "$(cat "$work"/state-plain/worker-*.pid)"

# Broken TLS files are refused before anything starts (CAF would abort at the first connection).
message=$("$sage" cluster start --head --port 0 --tls-dir "$work/nowhere" --state-dir "$work/state-x" 2>&1 || true)
grep -q "cannot read $work/nowhere/ca.crt" <<<"$message" || fail "a missing TLS directory: $message"
mkdir -p "$work/mixed" && cp "$work/pki/ca.crt" "$work/mixed/" && cp "$work/other/intruder/node."* "$work/mixed/"
message=$("$sage" cluster status --address "$head" --tls-dir "$work/mixed" 2>&1 || true)
grep -q "is not signed by" <<<"$message" || fail "a certificate of another CA was not caught: $message"

# Without authentication, only loopback addresses.
message=$("$sage" cluster start --head --insecure --port 0 --bind 0.0.0.0 --state-dir "$work/state-y" 2>&1 || true)
grep -q "needs authentication" <<<"$message" || fail "an insecure head on 0.0.0.0 was not refused: $message"

"$sage" cluster stop --all --address "$head" --tls-dir "$work/pki/client" >/dev/null

echo "head and worker in network namespaces"
if ! ip netns add "$ns_head" 2>/dev/null || ! ip netns add "$ns_worker" 2>/dev/null; then
  echo "SKIP: cannot create network namespaces here (needs root and iproute2)"
  exit 0
fi
ip link add "veth-h-$$" type veth peer name "veth-w-$$"
ip link set "veth-h-$$" netns "$ns_head"
ip link set "veth-w-$$" netns "$ns_worker"
ip -n "$ns_head" addr add 10.201.0.1/24 dev "veth-h-$$"
ip -n "$ns_worker" addr add 10.201.0.2/24 dev "veth-w-$$"
for ns in "$ns_head" "$ns_worker"; do
  ip -n "$ns" link set lo up
done
ip -n "$ns_head" link set "veth-h-$$" up
ip -n "$ns_worker" link set "veth-w-$$" up
bash "$here/cluster/make-certs.sh" "$work/pki" nshead=10.201.0.1 nsworker=10.201.0.2 >/dev/null

out=$(ip netns exec "$ns_head" "$sage" cluster start --head --bind 10.201.0.1 --port 19001 \
        --tls-dir "$work/pki/nshead" --state-dir "$work/state-ns-head")
[ "$(started_address "$out")" = "10.201.0.1:19001" ] || fail "the head in its namespace: $out"
ip netns exec "$ns_worker" "$sage" cluster start --worker --bind 10.201.0.2 --head-address 10.201.0.1:19001 \
  --tls-dir "$work/pki/nsworker" --state-dir "$work/state-ns-worker" >/dev/null
for _ in $(seq 1 150); do
  n=$(ip netns exec "$ns_worker" "$sage" cluster status --address 10.201.0.1:19001 --tls-dir "$work/pki/nsworker" \
        --format json 2>/dev/null | grep -o '"state":"alive"' | wc -l)
  [ "$n" = 2 ] && break
  sleep 0.1
done
[ "${n:-0}" = 2 ] || fail "the worker in its namespace did not register with the head in the other"
ip netns exec "$ns_head" "$sage" cluster status --address 10.201.0.1:19001 --tls-dir "$work/pki/nshead" |
  grep -q "10.201.0.2" || fail "the head does not list the worker at 10.201.0.2"
if [ -n "$check" ]; then
  # A job shipped across the two machines over TLS: collect() brings every record back.
  out=$(timeout 60 ip netns exec "$ns_head" "$sage" job submit --address 10.201.0.1:19001 \
           --tls-dir "$work/pki/nshead" "$check" collect 20000 2 2>"$work/job.err") ||
    fail "the job across namespaces: $out $(tail -n 5 "$work/job.err")"
  line=${out%%$'\n'*}
  [[ $line == ok:* ]] || fail "the job across namespaces: $line $(tail -n 5 "$work/job.err")"
  id=$(sed -nE 's/^sage: job ([0-9a-f]+) submitted$/\1/p' "$work/job.err" | head -n 1)
  status=$(ip netns exec "$ns_head" "$sage" job status "$id" --address 10.201.0.1:19001 \
             --tls-dir "$work/pki/nshead")
  grep -q "worker 10.201.0.2:" <<<"$status" ||
    fail "no instance of the job ran on the worker's machine: $status"
  echo "  a job across the namespaces: $line"
fi
# The cluster secret across the namespaces: connections between hosts are TLS
# with the secret's certificate (a plaintext handshake from another host is
# refused, saying why), and a job runs across them.
secret_head="$work/state-ns-secret-head"
out=$(ip netns exec "$ns_head" "$sage" cluster start --head --bind 10.201.0.1 --port 19002 \
        --state-dir "$secret_head")
[ "$(started_address "$out")" = "10.201.0.1:19002" ] || fail "the secret head in its namespace: $out"
ip netns exec "$ns_worker" "$sage" cluster start --worker --bind 10.201.0.2 --head-address 10.201.0.1:19002 \
  --secret-file "$secret_head/cluster.secret" --state-dir "$work/state-ns-secret-worker" >/dev/null
for _ in $(seq 1 150); do
  n=$(ip netns exec "$ns_worker" "$sage" cluster status --address 10.201.0.1:19002 \
        --secret-file "$secret_head/cluster.secret" --format json 2>/dev/null | grep -o '"state":"alive"' | wc -l)
  [ "$n" = 2 ] && break
  sleep 0.1
done
[ "${n:-0}" = 2 ] || fail "a worker with the secret in the other namespace did not register"
# shellcheck disable=SC2016
refusal=$(ip netns exec "$ns_worker" timeout 10 bash -c '
  exec 3<>/dev/tcp/10.201.0.1/19002
  { printf "SAGEAUT1"; head -c 32 /dev/zero; } >&3
  cat <&3 | tr -cd "[:print:]"') || true
[[ $refusal == *"connections from other hosts must use TLS"* ]] ||
  fail "a plaintext handshake from another host was not refused with a reason: $refusal"
echo "  a plaintext handshake from 10.201.0.2: ${refusal#??}"
if [ -n "$check" ]; then
  out=$(timeout 60 ip netns exec "$ns_head" "$sage" job submit --address 10.201.0.1:19002 \
           --secret-file "$secret_head/cluster.secret" "$check" collect 20000 2 2>"$work/job.err") ||
    fail "the job with the secret across namespaces: $out $(tail -n 5 "$work/job.err")"
  [[ ${out%%$'\n'*} == ok:* ]] || fail "the job with the secret across namespaces: $out"
  id=$(sed -nE 's/^sage: job ([0-9a-f]+) submitted$/\1/p' "$work/job.err" | head -n 1)
  ip netns exec "$ns_head" "$sage" job status "$id" --address 10.201.0.1:19002 \
    --secret-file "$secret_head/cluster.secret" | grep -q "worker 10.201.0.2:" ||
    fail "no instance of the job with the secret ran on the worker's machine"
  echo "  a job with the secret across the namespaces: ${out%%$'\n'*}"
fi
ip netns exec "$ns_head" "$sage" cluster stop --all --address 10.201.0.1:19002 \
  --secret-file "$secret_head/cluster.secret" >/dev/null

# The worker's machine goes away: its link goes down.
ip -n "$ns_worker" link set "veth-w-$$" down
for _ in $(seq 1 250); do  # the heartbeat's timeout is 15 s
  ip netns exec "$ns_head" "$sage" cluster status --address 10.201.0.1:19001 --tls-dir "$work/pki/nshead" \
    --format json 2>/dev/null | grep -q '"state":"lost"' && break
  sleep 0.1
done
ip netns exec "$ns_head" "$sage" cluster status --address 10.201.0.1:19001 --tls-dir "$work/pki/nshead" \
  --format json | grep -q '"state":"lost"' || fail "the unreachable worker was not noticed"
ip netns exec "$ns_head" "$sage" cluster stop --address 10.201.0.1:19001 --tls-dir "$work/pki/nshead" >/dev/null
echo "ok: mutual TLS, and a cluster across network namespaces"
