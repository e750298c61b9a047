#!/usr/bin/env bash
# Big records and big volumes across nodes, on a real head and two workers on
# loopback: documents of 4, 16 and 32 KB and one record of 100 MB cross the
# edge between two nodes (placement spread) with results equal to the local
# run's, whatever batch.size; the peak memory of every process is printed and
# stays bounded; a record above record.max_bytes fails the job naming the
# operator and the size.
#
# Usage: big_records_test.sh PATH/TO/sage PATH/TO/sage-big-records
set -euo pipefail
sage=$1
prog=$2
. "$(dirname "$0")/cluster_lib.sh"
cluster_script_setup "$prog"

start_cluster 2 cluster  # $head, and SAGE_ADDRESS and SAGE_SECRET_FILE for what follows

# The peak RSS (MB) the job's task hosts logged, one per line.
task_host_peaks() {
  cat "$state"/cluster/*/jobs/"$1"/*.log 2>/dev/null | sed -nE 's/.*peak RSS of [^:]*: ([0-9]+) MB.*/\1/p'
}

# N records of BYTES each, locally then across nodes; $3: MB no process may exceed.
across() {
  local n=$1 bytes=$2 bound=$3 extra=${4:-} local_line remote_out remote_line id peaks max
  local_line=$("$prog" --local docs "$n" "$bytes" $extra 2>/dev/null) || true
  local_line=${local_line%%$'\n'*}
  [[ $local_line == ok:* ]] || fail "$n x $bytes locally: $local_line"
  remote_out=$("$sage" job submit "$prog" docs "$n" "$bytes" $extra 2>&1) ||
    fail "$n x $bytes across nodes: $remote_out"
  remote_line=$(grep -m1 -E '^(ok|FAIL|failed)' <<<"$remote_out")
  [ "$remote_line" = "$local_line" ] || fail "$n x $bytes: across nodes [$remote_line], locally [$local_line]"
  id=$(sed -nE 's/^sage: job ([0-9a-f]+) submitted$/\1/p' <<<"$remote_out" | head -n 1)
  peaks=$(task_host_peaks "$id" | tr '\n' ' ')
  submitter=$(sed -nE 's/^peak RSS of the submitter: ([0-9]+) MB/\1/p' <<<"$remote_out")
  max=$(echo $peaks $submitter | tr ' ' '\n' | sort -n | tail -n 1)
  echo "  $n x $bytes bytes $extra: $remote_line; peak RSS (MB): task hosts $peaks, submitter $submitter"
  [ -n "$peaks" ] || fail "no task host logged its peak RSS"
  [ "$max" -le "$bound" ] || fail "a process reached $max MB (bound $bound MB)"
}

echo "documents across nodes: results equal to the local run's, memory bounded"
across 100000 4096 300
across 20000 16384 300
across 8192 32768 300
across 20000 16384 300 "--batch-size 64"
across 20000 16384 300 "--batch-size 100000"
echo "one record of 100 MB across nodes"
across 1 104857600 1200

echo "a record above record.max_bytes fails the job, naming the operator and the size"
for where in "" --local; do
  line=$("$prog" $where docs 2 2000000 --record-max 1000000 2>/dev/null) || true
  line=${line%%$'\n'*}
  [[ $line == failed:*'operator "produce"'*'a record of 20000'*' bytes exceeds record.max_bytes (1000000)'* ]] ||
    fail "record.max_bytes $where: $line"
  echo "  $line"
done
echo "PASS"
