# Helpers of the cluster tests, sourced by them: they expect $sage (the sage
# command) to be set.

# A port nothing listens on (nothing answers a connection to it).
free_port() {
  local p
  while :; do
    p=$(( 20000 + RANDOM % 40000 ))
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
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
# Waits up to 10 s until head $1 lists $2 alive nodes.
wait_count() {
  for _ in $(seq 1 20); do
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

