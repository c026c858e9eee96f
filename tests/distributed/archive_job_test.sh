#!/usr/bin/env bash
# The HDF5 archive of a 4-rank job (issue 10, item 5): a job with --archive
# fails part-way (FARM_FAULT), the rerun extends the archive from the
# journal and finishes it; archive_readback then reads it with the HDF5 C API
# and compares every row with its PNG and journal record. `farm archive`
# builds the same from the finished folder.
# Usage: archive_job_test.sh FARM MODEL JOB WORK_DIR ARCHIVE_READBACK
set -uo pipefail
farm=$1 model=$2 job=$3 work=$4 readback=$5
rm -rf "$work"
mkdir -p "$work"
export OMP_NUM_THREADS=1
mpi=(mpirun --oversubscribe -np 4)
[[ $(id -u) == 0 ]] && mpi+=(--allow-run-as-root)
args=(render --model "$model" --prompts "$job" --out "$work/out" --archive "$work/job.h5" --steps 4 --guidance 2.0
      --width 64 --height 64 --pipelines 2 --stages 2 --progress-every 1000)
die() { echo "FAIL: $*"; tail -15 "$work/log"; exit 1; }

FARM_FAULT=3:12 "${mpi[@]}" "$farm" "${args[@]}" >"$work/log" 2>&1 && die "the faulted run exited 0"
partial=$(grep -c '"status":"done"' "$work/out/journal.jsonl")
"$readback" "$work/out" "$work/job.h5" || die "the archive of the failed run does not match its journal"
"${mpi[@]}" "$farm" "${args[@]}" >"$work/log" 2>&1 || die "the rerun failed"
"$readback" "$work/out" "$work/job.h5" || die "the finished archive does not match the folder"
"$farm" archive "$work/out" "$work/rebuilt.h5" >"$work/log" 2>&1 || die "farm archive failed"
"$readback" "$work/out" "$work/rebuilt.h5" || die "farm archive's file does not match the folder"
if command -v h5dump >/dev/null; then
  h5dump -H "$work/job.h5" >"$work/h5dump.txt" || die "h5dump cannot read the archive"
  grep -q 'DATASET "images"' "$work/h5dump.txt" || die "h5dump shows no images dataset"
fi
echo "OK: $partial images archived before the fault, the rerun extended the archive to every item"
