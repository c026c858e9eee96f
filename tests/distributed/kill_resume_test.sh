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
# Its rendering part (report.json), where most kills should land.
render_ms=$(grep -o '"render_s": [0-9.]*' "$work/full/report.json" | awk '{printf "%d", $2 * 1000 + 1}')
echo "kill_resume: $items items, np $np, a run takes $span_ms ms ($render_ms rendering);" \
     "$kills kills of ranks $targets (FARM_KILL_SEED=$seed)"
journaled() { local n; n=$(grep -c '"status":"done"' "$out/journal.jsonl" 2>/dev/null); echo "${n:-0}"; }
runs_started() { local n; n=$(grep -c '"run":' "$out/journal.jsonl" 2>/dev/null); echo "${n:-0}"; }

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
  # One kill in four at any instant from launch (start-up included); the
  # others while it renders: after its run record, within about one image.
  before=$(runs_started)
  if ((k % 4 == 3)); then
    delay_ms=$(( (RANDOM * 32768 + RANDOM) % (span_ms / 2 + 1) ))
  else
    delay_ms=$(( (RANDOM * 32768 + RANDOM) % (2 * render_ms / items + 1) ))  # about one image's time: many kills per job
  fi
  timeout 120 "${mpi[@]}" "$farm" "${args[@]}" "${layout[@]}" --out "$out" >>"$work/runs.log" 2>&1 &
  job_pid=$!
  if ((k % 4 != 3)); then
    for _ in $(seq 1000); do  # until this run has started rendering (its run record), or ended
      (( $(runs_started) > before )) && break
      kill -0 "$job_pid" 2>/dev/null || break
      sleep 0.01
    done
  fi
  sleep "$(printf '%d.%03d' $((delay_ms / 1000)) $((delay_ms % 1000)))"
  pid=""
  for _ in $(seq 100); do  # the rank may still be starting
    pid=$(rank_pid "$job_pid" "$rank") && break
    kill -0 "$job_pid" 2>/dev/null || break
    sleep 0.05
  done
  if [[ -n $pid ]] && kill -9 "$pid" 2>/dev/null; then
    killed=$((killed + 1))
    echo "  kill $k: rank $rank (pid $pid) $delay_ms ms $( ((k % 4 == 3)) && echo "after launch" || echo "into rendering")" >>"$work/kills.log"
    { wait "$job_pid"; } 2>/dev/null
    echo "    then $(journaled) of $items journaled" >>"$work/kills.log"
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
((killed * 2 >= kills)) || die "only $killed of $kills kills landed: the job ends before they come"
leftovers=$(find "$out" -name '*.tmp*')
[[ -z $leftovers ]] || die "temporary files remain: $leftovers"
cat "$work/kills.log"
echo "OK: $killed kills landed ($finished_first runs ended before their kill), $items items rendered exactly once and byte-identical"
