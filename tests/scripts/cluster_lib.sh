# Helpers of the cluster tests, sourced by them: they expect $sage (the sage
# command) to be set.

# A port nothing listens on (nothing answers a connection to it).
# A port nothing uses, below the kernel's range of ephemeral ports: a port in that range
# may be taken by an outgoing connection between the choice and the bind (after a busy
# test, hundreds of them), which made a head fail with cannot_open_port.
free_port() {
  local p low
  low=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
  [ "$low" -gt 12000 ] 2>/dev/null || low=32768
  while :; do
    p=$(( 10000 + RANDOM % (low - 10000) ))
    ss -Htan "( sport = :$p )" 2>/dev/null | grep -q . && continue
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null && continue
    echo "$p"
    return
  done
}
# The state of the node at $2 in the status of the head at $1 (alive, lost, or missing).
node_state() {
  local json state
  json=$("$sage" cluster status --address "$1" --format json 2>/dev/null) || { echo missing; return; }
  state=$(sed 's/{"address"/\n{"address"/g' <<<"$json" | grep -F "\"address\":\"$2\"" |
    grep -oE '"state":"[a-z]+"' | head -n 1 | cut -d'"' -f4)
  echo "${state:-missing}"
}
count_alive() {
  "$sage" cluster status --address "$1" --format json 2>/dev/null | grep -o '"state":"alive"' | wc -l
}
# Waits up to $3 seconds (default 10) until head $1 lists $2 alive nodes.
wait_count() {
  for _ in $(seq 1 $(( ${3:-10} * 2 ))); do
    [ "$(count_alive "$1")" = "$2" ] && return 0
    sleep 0.5
  done
  return 1
}
# Waits up to $3 seconds until node $2 of head $1 is in state $4; prints how long it took.
wait_state() {
  local start=$SECONDS
  for _ in $(seq 1 $(( $3 * 10 ))); do
    [ "$(node_state "$1" "$2")" = "$4" ] && { echo "  $2 $4 (within $(( SECONDS - start + 1 )) s)"; return 0; }
    sleep 0.1
  done
  return 1
}
started_address() { sed -nE 's/.*listening on ([0-9.]+:[0-9]+);.*/\1/p' <<<"$1"; }
started_pid() { sed -nE 's/.*\(pid ([0-9]+)\).*/\1/p' <<<"$1"; }


# What the cluster scripts share: a state directory ($state), processes to end
# at exit ($pids, and the pid files of the nodes under $state), and `fail`.
# $1: the test program, whose submitting processes are killed by name at exit.
cluster_script_setup() {
  program_name=$(basename "$1" | cut -c1-15)
  state=$(mktemp -d)
  pids=()
  trap cluster_script_cleanup EXIT
  trap "exit 1" INT TERM  # the EXIT trap then cleans up
}
cluster_script_cleanup() {
  pkill -9 -x "$program_name" 2>/dev/null || true
  for pid in "${pids[@]}" $(cat "$state"/*/*.pid "$state"/*/*/*.pid 2>/dev/null); do
    kill -CONT "$pid" 2>/dev/null || true
    kill -9 "$pid" 2>/dev/null || true
  done
  [ -n "${SAGE_TEST_KEEP:-}" ] && echo "kept $state" || rm -rf "$state"
}
fail() {
  echo "FAIL: $*"
  echo "--- logs"
  tail -n 20 "$state"/*/*.log "$state"/*/*/*.log "$state"/*/jobs/*/*.log "$state"/*/*/jobs/*/*.log \
    2>/dev/null | tail -n 80 || true
  exit 1
}

# Starts a head and $1 workers (the rest: options for every `cluster start`, e.g.
# --insecure) in the state directory $state/$2, waits until all are alive, and
# points the commands and programs that follow at them: $head, SAGE_ADDRESS,
# SAGE_SECRET_FILE (the secret the head made; none with --insecure).
start_cluster() {
  local workers=$1 dir=$state/$2 port out w
  shift 2
  port=$(free_port)
  head="127.0.0.1:$port"
  export SAGE_ADDRESS=$head
  out=$("$sage" cluster start --head "$@" --port "$port" --state-dir "$dir/head" 2>/dev/null)
  pids+=("$(started_pid "$out")")
  if [[ " $* " == *" --insecure "* ]]; then
    unset SAGE_SECRET_FILE
    export SAGE_INSECURE=1
  else
    export SAGE_SECRET_FILE="$dir/head/cluster.secret"
    unset SAGE_INSECURE
  fi
  for w in $(seq 1 "$workers"); do
    out=$("$sage" cluster start --worker "$@" --head-address "$head" --state-dir "$dir/w$w" 2>/dev/null)
    pids+=("$(started_pid "$out")")
  done
  wait_count "$head" $(( workers + 1 )) 60 ||
    fail "expected the head and $workers workers alive, got $(count_alive "$head")"
}
