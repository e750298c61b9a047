#!/usr/bin/env bash
# Brings a local cluster up or down on this machine: a head and N workers on loopback,
# all started by `sage cluster start`, sharing one state directory.
#
#   cluster/local-cluster.sh up [N] [--port P] [--state-dir DIR] [--sage PATH]
#   cluster/local-cluster.sh status [--port P] [--state-dir DIR] [--sage PATH]
#   cluster/local-cluster.sh down [--port P] [--state-dir DIR] [--sage PATH]
#
# Defaults: N=2 workers, port 19001, state dir ~/.sage/local-cluster, and the `sage`
# built in ./build/apps/cli (else the one on PATH).
set -euo pipefail
cmd=${1:-}
shift || true
workers=2
port=19001
state_dir="$HOME/.sage/local-cluster"
sage=""
while [ $# -gt 0 ]; do
  case "$1" in
    --port) port=$2; shift 2 ;;
    --state-dir) state_dir=$2; shift 2 ;;
    --sage) sage=$2; shift 2 ;;
    [0-9]*) workers=$1; shift ;;
    *) echo "local-cluster: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
if [ -z "$sage" ]; then
  here=$(cd "$(dirname "$0")/.." && pwd)
  if [ -x "$here/build/apps/cli/sage" ]; then sage="$here/build/apps/cli/sage"; else sage=$(command -v sage); fi
fi
address="127.0.0.1:$port"
secret="$state_dir/cluster.secret"  # made by the head; the workers find it in the shared state dir

case "$cmd" in
  up)
    "$sage" cluster start --head --port "$port" --state-dir "$state_dir"
    for _ in $(seq 1 "$workers"); do
      "$sage" cluster start --worker --head-address "$address" --state-dir "$state_dir"
    done
    sleep 1
    "$sage" cluster status --address "$address" --secret-file "$secret"
    echo "programs and sage commands present the cluster's secret: export SAGE_SECRET_FILE=$secret"
    ;;
  status) "$sage" cluster status --address "$address" --secret-file "$secret" ;;
  down) "$sage" cluster stop --all --address "$address" --secret-file "$secret" ;;
  *) sed -n '2,9p' "$0"; exit 2 ;;
esac
