#!/usr/bin/env bash
# farm under a real Slurm (issue 16): a one-node cluster on loopback
# (slurm_lab.sh) runs the sbatch templates of launcher/slurm/ on the CPU
# backend (their GPU lines removed):
#   2 and 4 ranks: PNGs byte-identical to one process;
#   `scontrol requeue` mid-run: the job runs again and completes, each item
#   rendered exactly once;
#   `scancel --signal=TERM` mid-run: the ranks stop in order (exit 143), the
#   script requeues itself, the rerun completes, exactly once; the time from
#   the signal to the step's end is printed;
#   a 3-task job array (--shard): the shards' PNGs are the unsliced job's.
# Skipped (77) with the reason where Slurm cannot run (not root, not installed).
# Usage: slurm_test.sh FARM MODEL JOB WORK_DIR
set -uo pipefail
farm=$1 model=$2 job=$3 work=$4
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
source "$here/slurm_lab.sh"
why=$(slurm_possible) || { echo "SKIP: $why"; exit 77; }
rm -rf "$work"
mkdir -p "$work"
lab=$work/slurm
why=$(slurm_up "$lab") || { slurm_down "$lab"; echo "SKIP: Slurm did not start here: $why"; exit 77; }
trap 'scancel --quiet --full $(squeue -h -o %A 2>/dev/null) 2>/dev/null; slurm_down "$lab"' EXIT
export SLURM_CONF=$lab/slurm.conf FARM=$farm FARM_BACKEND=cpu
die() { echo "FAIL: $*"; tail -n 25 "$work"/*.out 2>/dev/null; tail -n 5 "$lab/log/slurmctld.log"; exit 1; }
items=$(grep -c . "$job")
common=(--model "$model" --prompts "$job" --guidance 2.0 --width 64 --height 64 --progress-every 1000)
args=("${common[@]}" --job-seed 7)

# The templates as a CPU cluster runs them: no GPU lines; the rest as shipped.
for t in farm farm-array; do
  grep -v -e '--gpus-per-task' -e '--gpu-bind' "$root/launcher/slurm/$t.sbatch" >"$work/$t.sbatch"
done
cpu=(--nodes=1 --cpus-per-task=1 --chdir="$work")

state() { scontrol show job "$1" 2>/dev/null | grep -o 'JobState=[A-Z_]*' | head -1 | cut -d= -f2; }
wait_state() {  # JOB SECONDS STATE...: until the job is in one of STATEs
  local j=$1 n=$(($2 * 4)) i s
  shift 2
  for ((i = 0; i < n; ++i)); do
    s=$(state "$j")
    for w in "$@"; do [[ $s == "$w" ]] && return 0; done
    sleep 0.25
  done
  die "job $j is $s after $((n / 4)) s, expected $*"
}
pngs() { ls "$1" 2>/dev/null | grep -c '\.png$'; }
same_as_ref() {  # DIR...: together they hold exactly the reference's PNGs
  local f n=0 d
  for d in "$@"; do
    for f in "$d"/*.png; do
      [[ -e $f ]] || continue
      cmp -s "$f" "$work/ref/$(basename "$f")" || die "$f differs from the one-process render"
      n=$((n + 1))
    done
    ! ls -A "$d" | grep -q '\.tmp\.' || die "$d holds temporaries"
  done
  [[ $n == "$items" ]] || die "$* hold $n PNGs, expected $items"
}
exactly_once() {  # DIR: one done record per item, no more
  local j=$1/journal.jsonl
  [[ $(grep -c '"status":"done"' "$j") == "$items" &&
     $(grep '"status":"done"' "$j" | grep -o '"file":"[^"]*"' | sort -u | wc -l) == "$items" ]] ||
    die "$1: not exactly one done record per item ($(grep -c '"status":"done"' "$j") done records)"
}
# A requeued job is held ~2 minutes (its EligibleTime); once it is pending and
# the node has let go of its first run (else: "Job credential revoked"), start it now.
restart_now() {
  wait_state "$1" 60 PENDING
  slurm_wait 60 bash -c "sinfo -h -o %T | grep -qx idle && ! pgrep -f 'slurmstepd: \\[$1\\.' >/dev/null" ||
    die "the first run of job $1 did not end"
  scontrol update JobId="$1" StartTime=now
}

OMP_NUM_THREADS=2 "$farm" render "${args[@]}" --steps 6 --out "$work/ref" >"$work/ref.log" 2>&1 || die "reference render failed"

# 1. Two and four ranks.
for l in "2|--stages 2" "4|--pipelines 2 --stages 2"; do
  n=${l%%|*} layout=${l#*|}
  j=$(sbatch --parsable "${cpu[@]}" --ntasks-per-node="$n" --output="$work/np$n.out" "$work/farm.sbatch" \
      "${args[@]}" --steps 6 $layout --out "$work/np$n") || die "sbatch failed"
  wait_state "$j" 180 COMPLETED FAILED CANCELLED
  [[ $(state "$j") == COMPLETED ]] || die "job $j (np $n) ended $(state "$j")"
  same_as_ref "$work/np$n"
  echo "np $n: COMPLETED, $items PNGs identical to one process"
done

# 2. Requeued by the scheduler, then 3. stopped by scancel --signal=TERM: both
# resume; a longer job, so the interruption lands mid-run.
OMP_NUM_THREADS=2 "$farm" render "${args[@]}" --steps 30 --out "$work/ref" --overwrite >"$work/ref.log" 2>&1 ||
  die "reference render failed"
for how in requeue term; do
  out=$work/$how
  j=$(sbatch --parsable "${cpu[@]}" --ntasks-per-node=2 --output="$work/$how.out" "$work/farm.sbatch" \
      "${args[@]}" --steps 30 --stages 2 --out "$out") || die "sbatch failed"
  for ((i = 0; i < 1200 && $(pngs "$out") < 4; ++i)); do sleep 0.1; done
  [[ $(state "$j") == RUNNING ]] || die "job $j is $(state "$j") before the interruption"
  t0=$(date +%s.%N)
  if [[ $how == requeue ]]; then scontrol requeue "$j"; else scancel --signal=TERM "$j"; fi
  restart_now "$j"
  t1=$(date +%s.%N)
  done1=$(grep -c '"status":"done"' "$out/journal.jsonl")
  wait_state "$j" 180 COMPLETED FAILED CANCELLED
  [[ $(state "$j") == COMPLETED ]] || die "job $j ($how) ended $(state "$j")"
  scontrol show job "$j" | grep -q 'Restarts=1' || die "job $j ($how) did not run exactly twice"
  same_as_ref "$out"
  exactly_once "$out"
  grep -q "$done1 already done" "$work/$how.out" || die "the second run did not skip the $done1 done items"
  [[ $how == requeue ]] || grep -q "stopped by signal 15; requeueing job $j" "$work/$how.out" ||
    die "the script did not requeue itself after SIGTERM"
  echo "$how: stopped after $done1 of $items, pending again $(awk "BEGIN{printf \"%.1f\", $t1 - $t0}") s after" \
       "the $how, completed on its second run; every item exactly once, PNGs identical"
done

# 4. A job array of 3 shards, one rank each.
j=$(FARM_OUT=$work/shards FARM_JOB_SEED=7 sbatch --parsable "${cpu[@]}" --array=0-2 --ntasks-per-node=1 \
    --output="$work/array-%a.out" "$work/farm-array.sbatch" "${common[@]}" --steps 30) || die "sbatch failed"
for t in 0 1 2; do
  wait_state "${j}_$t" 180 COMPLETED FAILED CANCELLED
  [[ $(state "${j}_$t") == COMPLETED ]] || die "array task $t ended $(state "${j}_$t")"
done
same_as_ref "$work"/shards/shard-0000{0,1,2}
echo "array: 3 shards COMPLETED; together the $items PNGs of the unsliced job"
