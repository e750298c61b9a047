#!/usr/bin/env bash
# Nobody runs code on the cluster without its secret, loopback included. On a
# real head and two workers started the default way (authenticated by the
# cluster secret the head creates, mode 0600):
# - as the unprivileged user nobody, who cannot read the secret: cluster
#   status, job submit, job list and a RemoteEnvironment program are refused
#   with a clear line, while a job of the cluster's owner runs on undisturbed;
# - a wrong secret is refused, and so is a secret readable by others;
# - garbage (random bytes, random 4-byte length prefixes, zeros) on every port
#   the cluster's processes listen on, during jobs, leaves them running and
#   their results correct;
# - a peer that connects and never finishes the handshake is cut after 10 s;
# - `--insecure` works and says so.
#
# Usage: auth_test.sh PATH/TO/sage PATH/TO/sage-job-series
set -euo pipefail
sage=$1
prog=$2
. "$(dirname "$0")/cluster_lib.sh"
cluster_script_setup "$prog"
export HOME="$state/home"  # no ~/.sage/cluster.secret of the machine's
mkdir -p "$HOME"

# The binaries where an unprivileged user may run them (the build tree may not be reachable).
pub="$state/pub"
mkdir -p "$pub" && cp "$sage" "$prog" "$pub/" && chmod 755 "$state" "$pub" "$pub"/*
sage="$pub/$(basename "$sage")"
prog="$pub/$(basename "$prog")"
as_nobody() { (cd / && runuser -u nobody -- env -u SAGE_SECRET_FILE HOME=/nonexistent "$@"); }
as_nobody "$sage" --help >/dev/null || { echo "SKIP: cannot run programs as nobody here"; exit 0; }

head_port=$(free_port)
head="127.0.0.1:$head_port"
export SAGE_ADDRESS=$head
out=$("$sage" cluster start --head --port "$head_port" --state-dir "$state/head" 2>"$state/head.err")
pids+=("$(started_pid "$out")")
secret="$state/head/cluster.secret"
grep -q "created the cluster secret $secret" "$state/head.err" || fail "the head did not say it made a secret: $(cat "$state/head.err")"
[ "$(stat -c %a "$secret")" = 600 ] || fail "the secret's mode is $(stat -c %a "$secret")"
chmod 700 "$state/head"
export SAGE_SECRET_FILE=$secret
for w in w1 w2; do
  out=$("$sage" cluster start --worker --head-address "$head" --state-dir "$state/$w")
  pids+=("$(started_pid "$out")")
done
wait_count "$head" 3 || fail "expected the head and 2 workers alive"

echo "a worker without the secret cannot join"
msg=$(env -u SAGE_SECRET_FILE "$sage" cluster start --worker --head-address "$head" --state-dir "$state/w3" 2>&1) &&
  fail "a worker started without a secret: $msg"
[[ $msg == *"no cluster secret"* ]] || fail "worker without a secret: $msg"
echo "  $msg" | cut -c1-160

echo "the owner's job runs while nobody knocks"
"$sage" job submit "$prog" endless >"$state/endless.out" 2>&1 &
endless=$!; pids+=("$endless")
id=""
for _ in $(seq 1 200); do
  id=$(sed -nE 's/^sage: job ([0-9a-f]+) submitted$/\1/p' "$state/endless.out")
  [ -n "$id" ] && break
  sleep 0.1
done
[ -n "$id" ] || fail "endless printed no job id: $(cat "$state/endless.out")"
running() { "$sage" job status "$id" --format json | grep -q '"state":"running"'; }
sleep 1
running || fail "the owner's job does not run"

for cmd in "cluster status" "job list" "job status $id" "job cancel $id" "cluster stop --all"; do
  if msg=$(as_nobody "$sage" $cmd --address "$head" 2>&1); then fail "nobody: sage $cmd worked: $msg"; fi
  [[ $msg == *"the cluster is authenticated"* ]] || fail "nobody: sage $cmd: $msg"
done
echo "  nobody: $msg" | cut -c1-200
if msg=$(as_nobody env SAGE_SECRET_FILE="$secret" "$sage" cluster status --address "$head" 2>&1); then
  fail "nobody read the secret: $msg"
fi
[[ $msg == *"cannot read $secret"*"Permission denied"* ]] || fail "nobody with the secret's path: $msg"
echo "  nobody, pointed at the secret: $msg" | cut -c1-200
if msg=$(as_nobody "$sage" job submit --address "$head" "$prog" chain 2>&1); then fail "nobody submitted: $msg"; fi
[[ $msg == *"authenticated"* ]] || fail "nobody: job submit: $msg"
if msg=$(as_nobody env SAGE_ADDRESS="$head" "$prog" chain 2>&1); then fail "nobody's program ran: $msg"; fi
[[ $msg == *"authenticated"* ]] || fail "nobody's RemoteEnvironment: $msg"
echo "  nobody's program: ${msg%%$'\n'*}" | cut -c1-200
running || fail "the owner's job stopped while nobody knocked"

echo "plaintext after the secret's handshake only between processes of one user"
# shellcheck disable=SC2016
refusal=$(as_nobody timeout 10 bash -c 'exec 3<>/dev/tcp/127.0.0.1/'"$head_port"'
  { printf "SAGEAUT1"; head -c 32 /dev/zero; } >&3
  cat <&3 | tr -cd "[:print:]"') || true
[[ $refusal == *"connections from processes of other users must use TLS"* ]] ||
  fail "nobody's plaintext handshake was not refused with a reason: $refusal"
echo "  nobody's plaintext handshake: ${refusal#??}"
# nobody relays a port to the head: a member that dials it talks TLS through it
# (the relay sees ciphertext only), not plain BASP the relay could read and change.
relay_dir="$state/relay" && mkdir -p "$relay_dir" && chmod 777 "$relay_dir"
cp "$(dirname "$0")/relay.py" "$pub/relay.py" && chmod 755 "$pub/relay.py"
as_nobody /usr/bin/python3 "$pub/relay.py" "$head_port" "$relay_dir/first-byte" >"$relay_dir/port" &
relay=$!
for _ in $(seq 1 50); do [ -s "$relay_dir/port" ] && break; sleep 0.1; done
relay_port=$(cat "$relay_dir/port")
[ -n "$relay_port" ] || fail "the relay did not start"
"$sage" cluster status --address "127.0.0.1:$relay_port" >/dev/null ||
  fail "cluster status through another user's relay failed"
first=$(od -An -tx1 "$relay_dir/first-byte" | tr -d ' ')
[ "$first" = 16 ] || fail "a member spoke to another user's relay in plain (first byte $first, not TLS's 16)"
echo "  through nobody's relay: TLS (first byte 0x$first), and the status answered"
running || fail "the owner's job stopped while nobody relayed"
pkill -u nobody -f relay.py 2>/dev/null || true
wait "$relay" 2>/dev/null || true

echo "a wrong secret, and a secret others may read, are refused"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
  -subj /CN=intruder -keyout "$state/k.pem" -out "$state/c.pem" 2>/dev/null
(umask 077; cat "$state/c.pem" "$state/k.pem" >"$state/wrong.secret")
if msg=$("$sage" cluster status --secret-file "$state/wrong.secret" 2>&1); then fail "a wrong secret worked"; fi
[[ $msg == *"refused the handshake with the cluster secret $state/wrong.secret"* ]] || fail "wrong secret: $msg"
echo "  $msg" | cut -c1-200
cp "$state/wrong.secret" "$state/open.secret" && chmod 644 "$state/open.secret"
if msg=$("$sage" cluster status --secret-file "$state/open.secret" 2>&1); then fail "an open secret worked"; fi
[[ $msg == *"chmod 600"* ]] || fail "open secret: $msg"
running || fail "the owner's job stopped after a wrong secret"

echo "garbage on every port of the cluster's processes, during jobs"
"$sage" job submit "$prog" series 20 >"$state/series.out" 2>&1 &
series=$!; pids+=("$series")
sleep 0.5
# Ours: the daemons (sage), the submitters (this program) and the task hosts (the
# program as the nodes store it, named by its SHA-256).
digest=$(sha256sum "$prog" | cut -c1-15)
ports=$(ss -Hltnp 2>/dev/null | grep -E "\"($(basename "$sage")|$(basename "$prog" | cut -c1-15)|$digest)\"" |
  awk '{ print $4 }' | sed -E 's/.*:([0-9]+)$/\1/' | sort -u)
[ "$(wc -w <<<"$ports")" -ge 5 ] || fail "found only these ports: $ports"
knock() {  # port, what
  case $2 in
    random) head -c 4096 /dev/urandom ;;
    prefix) printf '\x7f\xff\xff\xf0'; head -c 64 /dev/urandom ;;
    zeros) head -c 4096 /dev/zero ;;
  esac >"/dev/tcp/127.0.0.1/$1" 2>/dev/null || true
}
for round in 1 2 3; do
  for p in $ports; do
    for what in random prefix zeros; do knock "$p" "$what" & done
  done
  wait $(jobs -p | grep -v -w -e "$endless" -e "$series") 2>/dev/null || true
done
echo "  knocked $(( 3 * 3 * $(wc -w <<<"$ports") )) times on ports $(tr '\n' ' ' <<<"$ports")"
wait "$series" || fail "the series failed under garbage: $(cat "$state/series.out")"
grep -q "^ok: 20 jobs" "$state/series.out" || fail "series under garbage: $(cat "$state/series.out")"
running || fail "the endless job stopped under garbage"
echo "a peer that connects and says nothing is cut after 10 s"
exec 7<>"/dev/tcp/127.0.0.1/$head_port"  # holds the connection, sends nothing
sleep 11
"$sage" cluster status >/dev/null || fail "status after a silent peer"  # the next connection sweeps
timeout 5 cat <&7 >/dev/null || fail "the head kept a silent connection open past its handshake deadline"
exec 7<&-
running || fail "the endless job stopped after a silent peer"
echo "  cut; the job runs on"
"$sage" job stop "$id" >/dev/null || fail "job stop"
wait "$endless" || true
grep -q "^returned: finished" "$state/endless.out" || fail "endless: $(cat "$state/endless.out")"
echo "  every job ran on; the series' results are correct"
"$sage" cluster stop --all >/dev/null

echo "--insecure works, and says so"
msg=$(env -u SAGE_SECRET_FILE "$sage" cluster start --head --insecure --port "$(free_port)" --state-dir "$state/probe" 2>&1 >/dev/null)
kill -9 "$(cat "$state/probe/head.pid")" 2>/dev/null || true
[[ $msg == *"WARNING: --insecure"* ]] || fail "no warning at an insecure start: $msg"
[ ! -e "$state/probe/cluster.secret" ] || fail "an insecure head made a secret"
start_cluster 1 insecure --insecure  # and SAGE_INSECURE=1 for what follows
"$sage" cluster status | grep -q "^WARNING: this cluster was started --insecure" ||
  fail "cluster status does not warn"
line=$("$prog" chain 2>/dev/null) || fail "a job on the insecure cluster: $line"
[[ $line == ok:* ]] || fail "a job on the insecure cluster: $line"
echo "  $line"
"$sage" cluster stop --all >/dev/null
echo "PASS"
