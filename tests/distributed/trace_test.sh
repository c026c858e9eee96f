#!/usr/bin/env bash
# One clock for traces (issue 16, item 8): a 3-stage job on 3 ranks whose
# trace clocks are skewed by rank × 5 s (FARM_CLOCK_SKEW_S, as if each rank
# were on a host booted at another time) writes --trace and --stats;
# trace_check then finds the skew recovered within the offsets' error bounds,
# every transfer received after it was sent, every busy interval inside the
# job, and the Trace Event Format's structure. Tracing must not change the
# images: the same job untraced gives the same PNG bytes.
# Usage: trace_test.sh FARM MODEL PROMPTS CONFIG WORK_DIR TRACE_CHECK
set -uo pipefail
farm=$1 model=$2 prompts=$3 config=$4 work=$5 checker=$6
rm -rf "$work"
mkdir -p "$work"
export OMP_NUM_THREADS=1
mpi=(mpirun --oversubscribe -np 3)
[[ $(id -u) == 0 ]] && mpi+=(--allow-run-as-root)
args=(render --model "$model" --prompts "$prompts" --config "$config" --steps 4 --stages 3 --progress-every 1000)
die() { echo "FAIL: $*"; tail -15 "$work/log"; exit 1; }

skew=5
FARM_CLOCK_SKEW_S=$skew "${mpi[@]}" -x FARM_CLOCK_SKEW_S "$farm" "${args[@]}" --out "$work/traced" \
  --trace "$work/trace.json" --stats "$work/stats.json" >"$work/log" 2>&1 || die "the traced run failed"
"$checker" "$work/trace.json" "$work/stats.json" 3 "$skew" || die "trace_check failed"
"${mpi[@]}" "$farm" "${args[@]}" --out "$work/plain" >"$work/log" 2>&1 || die "the untraced run failed"
traced=$(find "$work/traced" -name '*.png' | wc -l)
plain=$(find "$work/plain" -name '*.png' | wc -l)
[[ $plain -gt 0 && $plain == "$traced" ]] || die "$traced traced images, $plain untraced"
for f in "$work/plain"/*.png; do
  cmp "$f" "$work/traced/$(basename "$f")" || die "$(basename "$f") differs with --trace"
done
echo "OK: skew recovered, transfers causal, busy inside the job; $plain images byte-identical with and without --trace"
