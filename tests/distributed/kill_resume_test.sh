#!/usr/bin/env bash
# Exactly once, byte-identical (issue 10, item 4): kill -9 one rank of a job
# at KILLS random instants, rerunning the same command after each kill, then
# let it finish. At the end every item must have exactly one "done" journal
# record and one PNG, byte-identical to an uninterrupted single-process
# render, with the sha256 its record names, and no temporary file may remain.
# Usage: kill_resume_test.sh FARM MODEL JOB WORK_DIR NP KILLS TARGETS [flags...]
#   TARGETS: ranks to kill in turn, e.g. 0,1,3 (rank 0, a middle stage, the last).
# FARM_KILL_SEED picks the instants (printed, so a failure can be replayed).
set -uo pipefail
farm=$1 model=$2 job=$3 work=$4 np=$5 kills=$6 targets=$7
shift 7
rm -rf "$work"
mkdir -p "$work"
ref=$work/ref out=$work/out
export OMP_NUM_THREADS=1
args=(render --model "$model" --prompts "$job" --steps 4 --guidance 2.0 --width 64 --height 64 --job-seed 4242
      --progress-every 1000)
layout=("$@")  # the layout's flags: not for the single-process reference
mpi=()
if ((np > 1)); then
  mpi=(mpirun --oversubscribe -np "$np")
  [[ $(id -u) == 0 ]] && mpi+=(--allow-run-as-root)
fi
die() { echo "FAIL: $*"; exit 1; }

"$farm" "${args[@]}" --out "$ref" >"$work/ref.log" 2>&1 || { cat "$work/ref.log"; die "the reference render failed"; }
items=$(grep -c . "$job")
# One uninterrupted run of this layout: how long a job lasts (the kills land inside it).
t0=$(date +%s%N)
"${mpi[@]}" "$farm" "${args[@]}" "${layout[@]}" --out "$work/full" >"$work/full.log" 2>&1 || { cat "$work/full.log"; die "the layout's uninterrupted render failed"; }
span_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
seed=${FARM_KILL_SEED:-$(( $(date +%s) % 100000 ))}
RANDOM=$seed
echo "kill_resume: $items items, np $np, a run takes $span_ms ms; $kills kills of ranks $targets (FARM_KILL_SEED=$seed)"

# The pid of rank R among the descendants of PID (np 1: the farm process itself).
descendants() {
  local p
  for p in $(pgrep -P "$1"); do echo "$p"; descendants "$p"; done
}
rank_pid() {
  local root=$1 rank=$2 p
  for p in $(descendants "$root"); do
    [[ $(cat "/proc/$p/comm" 2>/dev/null) =~ ^(farm|exe)$ ]] || continue  # exe: re-executed (runtime_env.h)
    if ((np > 1)); then
      tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=$rank" || continue
    fi
    echo "$p"; return 0
  done
  return 1
}

IFS=, read -r -a target_list <<<"$targets"
killed=0 finished_first=0
for ((k = 0; k < kills; ++k)); do
  rank=${target_list[k % ${#target_list[@]}]}
  delay_ms=$(( (RANDOM * 32768 + RANDOM) % (span_ms / 2) ))  # a rerun resumes: later runs are shorter
  timeout 120 "${mpi[@]}" "$farm" "${args[@]}" "${layout[@]}" --out "$out" >>"$work/runs.log" 2>&1 &
  job_pid=$!
  sleep "$(printf '%d.%03d' $((delay_ms / 1000)) $((delay_ms % 1000)))"
  pid=""
  for _ in $(seq 100); do  # the rank may still be starting
    pid=$(rank_pid "$job_pid" "$rank") && break
    kill -0 "$job_pid" 2>/dev/null || break
    sleep 0.05
  done
  if [[ -n $pid ]] && kill -9 "$pid" 2>/dev/null; then
    killed=$((killed + 1))
    echo "  kill $k: rank $rank (pid $pid) after $delay_ms ms" >>"$work/kills.log"
    { wait "$job_pid"; } 2>/dev/null
    echo "    then $(grep -c '"status":"done"' "$out/journal.jsonl" 2>/dev/null) of $items journaled" >>"$work/kills.log"
  else
    finished_first=$((finished_first + 1))
  fi
  { wait "$job_pid"; } 2>/dev/null
  [[ $? == 124 ]] && die "run $k hung after the kill (killed after 120 s)"
done
"${mpi[@]}" "$farm" "${args[@]}" "${layout[@]}" --out "$out" >"$work/last.log" 2>&1 || { tail -20 "$work/last.log"; die "the final run failed"; }

# Every item once, byte-identical, with the sha256 its record names.
pngs=$(find "$out" -name '*.png' | wc -l)
[[ $pngs == "$items" ]] || die "$pngs PNGs in $out, the job has $items items"
for f in "$ref"/*.png; do
  cmp -s "$f" "$out/$(basename "$f")" || die "$(basename "$f") differs from the uninterrupted render"
done
done_records=$(grep '"status":"done"' "$out/journal.jsonl")
dups=$(grep -o '"index":[0-9]*,"item"' <<<"$done_records" | sort | uniq -d)
[[ -z $dups ]] || die "items with more than one done record: $dups"
[[ $(grep -c . <<<"$done_records") == "$items" ]] || die "$(grep -c . <<<"$done_records") done records for $items items"
while read -r line; do
  file=$(grep -o '"file":"[^"]*"' <<<"$line" | cut -d'"' -f4)
  sum=$(grep -o '"sha256":"[0-9a-f]*"' <<<"$line" | cut -d'"' -f4)
  [[ $(sha256sum "$out/$file" | cut -d' ' -f1) == "$sum" ]] || die "$file: its sha256 differs from its journal record"
done <<<"$done_records"
leftovers=$(find "$out" -name '*.tmp*')
[[ -z $leftovers ]] || die "temporary files remain: $leftovers"
cat "$work/kills.log"
echo "OK: $killed kills landed ($finished_first runs ended before their kill), $items items rendered exactly once and byte-identical"
