#!/usr/bin/env bash
# The ring across hosts (issue 16): hosts made of network namespaces on this
# machine (netns_lab.sh), Open MPI over TCP between them.
#   layouts    S = 2 over two hosts, P = 2 × S = 2 over two hosts (every
#              stage boundary crosses a link), S = 3 over two hosts (one
#              boundary on a host, one across), P = 2 × S = 2 with a
#              pipeline per host (each stage's weights read on one host and
#              sent to the other: --weights auto): PNGs byte-identical to
#              one process.
#   host_lost  a host's link is cut mid-job: farm names the rank and host
#              within the stall timeout's bound, the images written are
#              intact, and a rerun renders the rest exactly once.
#   rank_killed  the rank on the other host is killed (kill -9): mpirun ends
#              the job, rank 0 says what it last heard from that rank and
#              host, the images written are intact, a rerun finishes the job.
# Skipped (77) where namespaces cannot be made (not root, no iproute2).
# Usage: multihost_test.sh FARM MODEL JOB WORK_DIR CASE
set -uo pipefail
farm=$1 model=$2 job=$3 work=$4 case=$5
here=$(cd "$(dirname "$0")" && pwd)
source "$here/netns_lab.sh"
why=$(lab_possible) || { echo "SKIP: $why"; exit 77; }
lab=fmh
rm -rf "$work"
mkdir -p "$work"
trap 'lab_down $lab' EXIT
die() { echo "FAIL ($case): $*"; [[ -f $work/log ]] && tail -20 "$work/log"; exit 1; }
items=$(grep -c . "$job")
args=(render --model "$model" --prompts "$job" --guidance 2.0 --width 64 --height 64 --job-seed 7 --progress-every 1000)
same_as_ref() {  # DIR [PARTIAL]: every PNG in DIR is the reference's; all of them unless PARTIAL
  local f n=0
  for f in "$1"/*.png; do
    [[ -e $f ]] || continue
    cmp -s "$f" "$work/ref/$(basename "$f")" || die "$1/$(basename "$f") differs from the one-process render"
    n=$((n + 1))
  done
  [[ -n ${2:-} || $n == "$items" ]] || die "$1 has $n PNGs, expected $items"
  ! ls -A "$1" | grep -q '\.tmp\.' || die "$1 holds temporaries"
}
hostfile() { printf '%s\n' "$@" >"$work/hosts"; }
# A 30-step job over two hosts, stage 1 on LAB-b (extra flags in `extra`).
extra=()
two_host_job() {
  lab_mpirun $lab "$work/hosts" -np 2 "$farm" "${args[@]}" --steps 30 --stages 2 "${extra[@]}" --out "$work/out" \
    >"$work/log" 2>&1
}
# Starts it in the background (its pid in `pid`) and returns once 4 images are written.
start_mid_job() {
  lab_up $lab 2 || die "could not make the lab"
  hostfile "10.77.0.1 slots=1" "10.77.0.2 slots=1"
  two_host_job &
  pid=$!
  for ((i = 0; i < 600; ++i)); do
    [[ $(ls "$work/out" 2>/dev/null | grep -c '\.png$') -ge 4 ]] && break
    sleep 0.1
  done
}
# The lab again (the lost host back), and the same command to finish the job.
rerun_job() {
  lab_down $lab
  lab_up $lab 2 || die "could not remake the lab"
  two_host_job || die "the rerun failed"
}

case $case in
layouts)
  steps=(--steps 6)
  OMP_NUM_THREADS=2 "$farm" "${args[@]}" "${steps[@]}" --out "$work/ref" >"$work/log" 2>&1 || die "reference render failed"
  lab_up $lab 3 || die "could not make the lab"
  # name | hosts (IP slots=N ...) | mpirun placement | farm layout | a rank and its host that must show up
  for l in "s2|10.77.0.1:1 10.77.0.2:1|-np 2|--stages 2|rank 1 ($lab-b)" \
           "p2s2|10.77.0.1:2 10.77.0.2:2|-np 4 --map-by node|--pipelines 2 --stages 2|rank 3 ($lab-b)" \
           "s3|10.77.0.1:2 10.77.0.3:1|-np 3 --map-by slot|--stages 3|rank 2 ($lab-c)" \
           "p2s2_pipeline_per_host|10.77.0.1:2 10.77.0.2:2|-np 4 --map-by slot|--pipelines 2 --stages 2|received from their stage's reader by 2 ranks"; do
    IFS='|' read -r name hosts place layout expect <<<"$l"
    for h in $hosts; do echo "${h%:*} slots=${h#*:}"; done >"$work/hosts"
    # shellcheck disable=SC2086
    timeout 240 bash -c "source '$here/netns_lab.sh'; lab_mpirun $lab '$work/hosts' $place \
      '$farm' ${args[*]} ${steps[*]} $layout --out '$work/$name'" >"$work/log" 2>&1 || die "$name: mpirun failed"
    grep -qF "$expect" "$work/log" || die "$name: no '$expect' in the summary (placement not across hosts?)"
    same_as_ref "$work/$name"
    echo "$name: $items PNGs identical to one process; $(grep -o 'farm: [0-9]* images in .*' "$work/log")"
  done ;;
host_lost)
  stall=6
  extra=(--stall-timeout $stall)
  start_mid_job
  t0=$(date +%s.%N)
  lab_cut $lab b
  t_msg=""
  for ((i = 0; i < 1200; ++i)); do
    if [[ -z $t_msg ]] && grep -q "rank 1 (host $lab-b) has sent nothing" "$work/log"; then t_msg=$(date +%s.%N); fi
    kill -0 $pid 2>/dev/null || break
    sleep 0.1
  done
  t_end=$(date +%s.%N)
  kill -0 $pid 2>/dev/null && { kill -9 $pid; die "mpirun still running 120 s after the cut"; }
  wait $pid
  code=$?
  [[ -n $t_msg ]] || die "no message naming rank 1 and host $lab-b"
  msg_s=$(awk "BEGIN{printf \"%.1f\", $t_msg - $t0}") end_s=$(awk "BEGIN{printf \"%.1f\", $t_end - $t0}")
  bound=$(awk "BEGIN{print $stall * 1.25 + 2 + 2}")  # stall timeout + a quarter, a heartbeat, slack
  awk "BEGIN{exit !($msg_s <= $bound)}" || die "the lost host was named $msg_s s after the cut (bound $bound s)"
  [[ $code != 0 ]] || die "mpirun exited 0 after the cut"
  grep "has sent nothing" "$work/log"
  done1=$(grep -c '"status":"done"' "$work/out/journal.jsonl")
  echo "link cut after $done1 images: farm named the host after ${msg_s} s, mpirun exited $code after ${end_s} s"
  OMP_NUM_THREADS=2 "$farm" "${args[@]}" --steps 30 --out "$work/ref" >/dev/null 2>&1 || die "reference render failed"
  same_as_ref "$work/out" partial
  # The host comes back; the same command renders the rest, each item once.
  rerun_job
  grep -q "$done1 already done" "$work/log" || die "the rerun did not skip the $done1 done items"
  same_as_ref "$work/out"
  [[ $(grep '"status":"done"' "$work/out/journal.jsonl" | grep -o '"file":"[^"]*"' | sort -u | wc -l) == "$items" &&
     $(grep -c '"status":"done"' "$work/out/journal.jsonl") == "$items" ]] || die "not exactly one done record per item"
  echo "rerun: $((items - done1)) rendered, $items PNGs identical, one done record per item" ;;
rank_killed)
  # The other way a host goes: its rank is killed. Open MPI ends the job
  # (SIGTERM, then SIGKILL to the others); rank 0 says what it last heard.
  start_mid_job
  victim=""
  for p in $(ip netns pids $lab-b); do [[ $(cat /proc/$p/comm 2>/dev/null) == exe ]] && victim=$p; done
  [[ -n $victim ]] || die "no farm rank found on $lab-b"
  t0=$(date +%s.%N)
  kill -9 "$victim"
  for ((i = 0; i < 600 && $(kill -0 $pid 2>/dev/null; echo $?) == 0; ++i)); do sleep 0.1; done
  t_end=$(date +%s.%N)
  kill -0 $pid 2>/dev/null && { kill -9 $pid; die "mpirun still running 60 s after the kill"; }
  wait $pid
  code=$?
  [[ $code != 0 ]] || die "mpirun exited 0 after a rank was killed"
  grep -q "rank 1 (host $lab-b) has sent nothing for" "$work/log" || die "rank 0 did not say what it last heard from rank 1"
  grep -A1 "what it last heard" "$work/log"
  done1=$(grep -c '"status":"done"' "$work/out/journal.jsonl")
  echo "rank 1 killed after $done1 images: mpirun exited $code after $(awk "BEGIN{printf \"%.1f\", $t_end - $t0}") s"
  OMP_NUM_THREADS=2 "$farm" "${args[@]}" --steps 30 --out "$work/ref" >/dev/null 2>&1 || die "reference render failed"
  same_as_ref "$work/out" partial
  rerun_job
  same_as_ref "$work/out"
  [[ $(grep -c '"status":"done"' "$work/out/journal.jsonl") == "$items" ]] || die "not exactly one done record per item"
  echo "rerun: $items PNGs identical, one done record per item" ;;
*) echo "unknown case $case"; exit 2 ;;
esac
