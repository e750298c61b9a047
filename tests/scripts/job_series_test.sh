#!/usr/bin/env bash
# Programs of several jobs on a real cluster (a head and two workers on
# loopback): every task host sees the program's earlier jobs as the submitter
# saw them, so the results equal a local run's, under RemoteEnvironment and
# under `sage job submit`. Also: a source built from the clock is refused with
# a clear error instead of losing records; `sage job cancel` makes submit(true)
# throw; a graph without a sink is refused; a throwing key selector is
# reported under its operator's name; `sage job submit` of a program that
# submits nothing fails.
#
# Usage: job_series_test.sh PATH/TO/sage PATH/TO/sage-job-series
set -euo pipefail
sage=$1
prog=$2
. "$(dirname "$0")/cluster_lib.sh"
cluster_script_setup "$prog"

start_cluster 2 cluster  # $head, and SAGE_ADDRESS and SAGE_SECRET_FILE for what follows

first_line() { local o=$1; echo "${o%%$'\n'*}"; }
# Runs the mode locally, then on the cluster directly and under `sage job
# submit` (with RemoteEnvironments and with LocalEnvironments): the same line.
same_everywhere() {
  local local_out remote_out submit_out submit_local_out
  local_out=$(first_line "$(env -u SAGE_ADDRESS "$prog" --local "$@" 2>/dev/null)")
  [[ $local_out == ok:* ]] || fail "$* locally: $local_out"
  remote_out=$(first_line "$("$prog" "$@" 2>"$state/err")") || fail "$* remotely: $remote_out $(tail -n 3 "$state/err")"
  submit_out=$(first_line "$("$sage" job submit "$prog" "$@" 2>"$state/err")") ||
    fail "$* under sage job submit: $submit_out $(tail -n 3 "$state/err")"
  submit_local_out=$(first_line "$("$sage" job submit "$prog" --local "$@" 2>"$state/err")") ||
    fail "$* (LocalEnvironments) under sage job submit: $submit_local_out $(tail -n 3 "$state/err")"
  [ "$remote_out" = "$local_out" ] || fail "$*: remotely [$remote_out], locally [$local_out]"
  [ "$submit_out" = "$local_out" ] || fail "$*: under sage job submit [$submit_out], locally [$local_out]"
  [ "$submit_local_out" = "$local_out" ] ||
    fail "$*: LocalEnvironments under sage job submit [$submit_local_out], locally [$local_out]"
  echo "  $*: $local_out"
}

echo "a program of 20 jobs, each built from the last one's results and checked"
same_everywhere series 20
echo "a job built from the first job's collect()"
same_everywhere chain
echo "a first job that fails, a second one built from its error"
same_everywhere fail-then-run

echo "concurrent jobs of a program new to the cluster: each node fetches it once"
fresh="$state/fresh-program"
cp "$prog" "$fresh" && printf 'another build' >>"$fresh" && chmod +x "$fresh"
digest=$(sha256sum "$fresh" | cut -d' ' -f1)
for k in 1 2 3 4; do "$sage" job submit "$fresh" chain >"$state/fresh$k.out" 2>&1 & done
wait
for k in 1 2 3 4; do grep -q "^ok: " "$state/fresh$k.out" || fail "fresh program job $k: $(cat "$state/fresh$k.out")"; done
for node in w1 w2; do
  n=$(cat "$state/cluster/$node"/*.log | grep -c "fetching program $digest" || true)
  [ "$n" -le 1 ] || fail "$node fetched the new program $n times"
done
echo "  4 jobs ok; fetched at most once per node"

echo "a source whose items come from the clock: refused, naming the difference"
line=$(first_line "$("$prog" clock 2>/dev/null)") || fail "clock: $line"
[[ $line == refused:*'built another job'*'"stamps" holding 3 items'* ]] || fail "clock: $line"
echo "  $line" | cut -c1-200

echo "sage job cancel: submit(true) throws JobCancelled"
"$sage" job submit "$prog" endless >"$state/endless.out" 2>&1 &
pids+=("$!"); submitter=$!
id=""
for _ in $(seq 1 200); do
  id=$(sed -nE 's/^sage: job ([0-9a-f]+) submitted$/\1/p' "$state/endless.out" | head -n 1)
  [ -n "$id" ] && break
  sleep 0.1
done
[ -n "$id" ] || fail "endless printed no job id: $(cat "$state/endless.out")"
sleep 1
"$sage" job cancel "$id" >/dev/null || fail "job cancel"
wait "$submitter" || true
grep -q "^cancelled: .*was cancelled" "$state/endless.out" || fail "after cancel: $(cat "$state/endless.out")"
echo "  $(grep '^cancelled' "$state/endless.out")"

echo "a graph without a sink is refused at submit"
line=$(first_line "$("$prog" no-sink 2>/dev/null)")
[[ $line == refused:*"no sink"* ]] || fail "no-sink: $line"
line=$(first_line "$("$prog" --local no-sink 2>/dev/null)")
[[ $line == refused:*"no sink"* ]] || fail "no-sink locally: $line"

echo "a throwing key selector is reported under its operator's name"
for where in "" --local; do
  line=$(first_line "$("$prog" $where bad-key 2>/dev/null)")
  [[ $line == failed:*'operator "numbers" instance 0 failed: its key selector (key_by) threw: key exploded'* ]] ||
    fail "bad-key $where: $line"
done
echo "  $line"

echo "sage job submit of a program that submits no job fails and says so"
if out=$("$sage" job submit "$prog" none 2>&1); then fail "job submit of no job exited 0: $out"; fi
[[ $out == *"submitted no job"* ]] || fail "job submit of no job: $out"
if out=$("$sage" job submit /bin/true 2>&1); then fail "job submit /bin/true exited 0: $out"; fi
echo "  $out"
echo "PASS"
