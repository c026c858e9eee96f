#!/usr/bin/env bash
# What an overnight job meets (issue 10): a failing item, --max-failures, a
# hung rank, a silent rank, SIGTERM, an unwritable folder, a changed prompt
# file, a torn journal, a second job on the same folder, stale temporaries.
# Usage: overnight_test.sh FARM MODEL JOB WORK_DIR CASE
set -uo pipefail
farm=$1 model=$2 job=$3 work=$4 case=$5
rm -rf "$work"
mkdir -p "$work"
export OMP_NUM_THREADS=1
steps=4
[[ $case == sigterm || $case == silent_rank ]] && steps=40  # long enough to be caught mid-job
[[ $case == changed_items ]] && steps=5
common=(render --model "$model" --prompts "$job" --guidance 2.0 --width 64 --height 64 --progress-every 1000)
base=("${common[@]}" --steps "$steps")
args=("${base[@]}" --job-seed 7)
ref_args=("${common[@]}" --steps 4 --job-seed 7)
mpi=(mpirun --oversubscribe -np 2)
[[ $(id -u) == 0 ]] && mpi+=(--allow-run-as-root)
items=$(grep -c . "$job")
die() { echo "FAIL ($case): $*"; [[ -f $work/log ]] && tail -15 "$work/log"; exit 1; }
run() { "$@" >"$work/log" 2>&1; echo $?; }
done_count() { grep -c '"status":"done"' "$1/journal.jsonl" 2>/dev/null || echo 0; }
same_as_ref() {
  "$farm" "${ref_args[@]}" --out "$work/ref" >/dev/null 2>&1 || die "reference render failed"
  for f in "$work/ref"/*.png; do cmp -s "$f" "$1/$(basename "$f")" || die "$(basename "$f") differs from the reference"; done
}

case $case in
item_failures)
  code=$(FARM_FAULT_ITEMS=1,4 run "$farm" "${args[@]}" --out "$work/out")
  [[ $code == 3 ]] || die "exit $code, expected 3 (some items failed)"
  grep -q "item 1 (.*:2) failed: the final latent has 1 non-finite values" "$work/log" || die "no message for item 1"
  [[ $(grep -c '"status":"failed"' "$work/out/journal.jsonl") == 2 ]] || die "not 2 failed records"
  [[ $(done_count "$work/out") == $((items - 2)) ]] || die "not $((items - 2)) done records"
  grep -q '"failed": 2' "$work/out/report.json" || die "report.json does not count 2 failures"
  code=$(run "$farm" "${args[@]}" --out "$work/out")
  [[ $code == 0 ]] || die "the rerun exited $code"
  grep -q "$((items - 2)) already done" "$work/log" || die "the rerun did not skip the done items"
  [[ $(find "$work/out" -name '*.png' | wc -l) == "$items" ]] || die "not $items PNGs after the rerun"
  same_as_ref "$work/out" ;;
max_failures)
  code=$(FARM_FAULT_ITEMS=0,1 run "$farm" "${args[@]}" --out "$work/out" --max-failures 1 --batch 1)
  [[ $code == 1 ]] || die "exit $code, expected 1 (stopped past --max-failures)"
  grep -q "2 items failed, more than --max-failures 1" "$work/log" || die "no --max-failures message" ;;
hung_rank)
  start=$(date +%s)
  code=$(FARM_FAULT=1:2:hang timeout 120 "${mpi[@]}" "$farm" "${args[@]}" --out "$work/out" --stages 2 \
         --stall-timeout 3 >"$work/log" 2>&1; echo $?)
  took=$(( $(date +%s) - start ))
  [[ $code != 0 && $code != 124 ]] || die "exit $code: the hung job did not end by itself"
  grep -q "rank 1 (host .*) stalled: computing (stage 1" "$work/log" || die "no message naming rank 1"
  echo "hung rank 1 ended the job in $took s"
  code=$(run "${mpi[@]}" "$farm" "${args[@]}" --out "$work/out" --stages 2)
  [[ $code == 0 ]] || die "the rerun exited $code"
  same_as_ref "$work/out" ;;
silent_rank)
  # A stopped process sends no heartbeat: rank 0 must notice and say who.
  "${mpi[@]}" "$farm" "${args[@]}" --out "$work/out" --stages 2 --stall-timeout 3 >"$work/log" 2>&1 &
  pid=$!
  rank1=""
  for _ in $(seq 200); do
    for p in $(pgrep -P "$pid"); do
      tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qx OMPI_COMM_WORLD_RANK=1 && rank1=$p
    done
    [[ -n $rank1 ]] && grep -q "loaded" "$work/log" && break
    sleep 0.05
  done
  [[ -n $rank1 ]] || die "rank 1 never started"
  sleep 1
  kill -STOP "$rank1"
  for _ in $(seq 600); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$pid" 2>/dev/null && { kill -9 "$rank1"; kill -CONT "$rank1"; die "the job did not end within 60 s"; }
  kill -9 "$rank1" 2>/dev/null
  grep -q "rank 1 (host .*) has sent nothing for" "$work/log" || die "no message naming the silent rank 1" ;;
sigterm)
  "$farm" "${args[@]}" --out "$work/out" >"$work/log" 2>&1 &
  pid=$!
  for _ in $(seq 300); do [[ $(done_count "$work/out") -ge 1 ]] && break; sleep 0.05; done
  kill -TERM "$pid"
  wait "$pid"
  code=$?
  [[ $code == 143 ]] || die "exit $code after SIGTERM, expected 143"
  grep -q "SIGTERM on rank 0" "$work/log" || die "no message about the signal"
  grep -q "rerun the same command" "$work/log" || die "no word on how to resume"
  [[ -z $(find "$work/out" -name '*.tmp*') ]] || die "temporary files left"
  [[ $(done_count "$work/out") == $(find "$work/out" -name '*.png' | wc -l) ]] || die "PNGs without records"
  code=$(run "$farm" "${args[@]}" --out "$work/out")
  [[ $code == 0 ]] || die "the rerun exited $code" ;;
unwritable)
  # A folder this user cannot write: mode 555 stops a plain user; root needs a
  # read-only mount (a tmpfs, or /sys where it is mounted read-only).
  ro=$work/ro
  mkdir -p "$ro" && chmod 555 "$ro"
  if touch "$ro/probe" 2>/dev/null; then
    rm -f "$ro/probe"
    if ! mount -t tmpfs -o ro,size=1m tmpfs "$ro" 2>/dev/null; then
      ro=/sys
      touch /sys/farm-probe 2>/dev/null && { rm -f /sys/farm-probe; echo "SKIP: no unwritable folder can be made here"; exit 77; }
    fi
  fi
  code=$(run "$farm" "${args[@]}" --out "$ro")
  mountpoint -q "$work/ro" && umount "$work/ro"
  [[ $code == 2 ]] || die "exit $code, expected 2"
  grep -q "$ro: the output folder is not writable" "$work/log" || die "no clear message"
  ! grep -q "loaded" "$work/log" || die "weights were loaded before the folder was checked" ;;
changed_items)
  code=$(run "$farm" "${ref_args[@]}" --out "$work/out")
  [[ $code == 0 ]] || die "first run exited $code"
  code=$(run "$farm" "${args[@]}" --out "$work/out")
  [[ $code == 2 ]] || die "exit $code with changed steps, expected 2"
  own_steps=$(grep -c '"steps"' "$job")  # lines with their own steps keep their key
  grep -q "$((items - own_steps)) items differ from what the journal recorded" "$work/log" ||
    die "no message counting the $((items - own_steps)) changed items"
  grep -q "item 0 (.*:1): was rendered as" "$work/log" || die "item 0 is not named"
  code=$(run "$farm" "${args[@]}" --out "$work/out" --rerender-changed)
  [[ $code == 0 ]] || die "--rerender-changed exited $code"
  code=$(run "$farm" "${base[@]}" --out "$work/out" --job-seed 8)
  [[ $code == 2 ]] || die "another --job-seed on the same folder exited $code"
  grep -q "holds a job started with job seed 7" "$work/log" || die "no job seed message" ;;
torn_journal)
  code=$(run "$farm" "${args[@]}" --out "$work/out")
  [[ $code == 0 ]] || die "first run exited $code"
  last=$(tail -1 "$work/out/journal.jsonl")
  rm "$work/out/$(grep -o '"file":"[^"]*"' <<<"$last" | cut -d'"' -f4)"  # its image and half its record
  sed -i '$ d' "$work/out/journal.jsonl"
  printf '%s' "${last:0:40}" >>"$work/out/journal.jsonl"
  touch "$work/out/.00003-1.png.tmp.99999.0"
  code=$(run "$farm" "${args[@]}" --out "$work/out")
  [[ $code == 0 ]] || die "the run after a torn journal exited $code"
  grep -q "1 to render" "$work/log" || die "not exactly the torn item rendered again"
  grep -q "removed 1 temporary files" "$work/log" || die "the stale temporary was not removed"
  [[ -z $(find "$work/out" -name '*.tmp*') ]] || die "temporary files left"
  [[ $(done_count "$work/out") == "$items" ]] || die "not $items done records"
  same_as_ref "$work/out" ;;
locked_folder)
  mkdir -p "$work/out"
  flock "$work/out" sleep 3 &
  sleep 0.3
  code=$(run "$farm" "${args[@]}" --out "$work/out")
  kill %1 2>/dev/null
  [[ $code == 2 ]] || die "exit $code with the folder locked, expected 2"
  grep -q "another farm job is writing to this output folder" "$work/log" || die "no message" ;;
*) die "unknown case" ;;
esac
echo "OK: $case"
