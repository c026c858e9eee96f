#!/usr/bin/env bash
# A rank that fails mid-job (FARM_FAULT=RANK:PASSES) must end the whole job
# cleanly: non-zero exit, a message naming the rank and its host, no hang,
# only complete images on disk (each identical to the reference), and the
# same command rerun must finish the job with every image byte-identical.
# Usage: fault_test.sh FARM_BIN MODEL JOB REF_DIR OUT_DIR NP FAIL_RANK PASSES [flags...]
set -euo pipefail
farm=$1 model=$2 job=$3 ref=$4 out=$5 np=$6 rank=$7 passes=$8
shift 8
rm -rf "$out"
mpi=(mpirun --oversubscribe -np "$np")
[[ $(id -u) == 0 ]] && mpi+=(--allow-run-as-root)
# FARM_BASE_ARGS replaces the short-job settings (the emulated tests' smaller job).
read -r -a base <<<"${FARM_BASE_ARGS:---steps 4 --guidance 2.0 --width 64 --height 64}"
args=(render --model "$model" --prompts "$job" --out "$out" "${base[@]}" "$@")
set +e
log=$(FARM_FAULT=$rank:$passes OMP_NUM_THREADS=1 timeout 150 "${mpi[@]}" "$farm" "${args[@]}" 2>&1)
code=$?
set -e
echo "$log" | tail -5
if [[ $code == 124 ]]; then echo "FAIL: the failed job hung (killed after 150 s)"; exit 1; fi
if [[ $code == 0 ]]; then echo "FAIL: the job exited 0 despite the fault"; exit 1; fi
if ! grep -q "error: rank $rank (host .*injected fault" <<<"$log"; then
  echo "FAIL: no message naming rank $rank and its host"; exit 1
fi
if find "$out" -name '*.tmp*' | grep -q .; then echo "FAIL: temporary files left"; exit 1; fi
partial=$(find "$out" -name '*.png' | wc -l)
for f in "$out"/*.png; do
  [[ -e $f ]] || continue
  cmp "$f" "$ref/$(basename "$f")" || { echo "FAIL: $(basename "$f") written by the failed run differs"; exit 1; }
done
OMP_NUM_THREADS=1 "${mpi[@]}" "$farm" "${args[@]}" 2>&1 | grep -E "to render|already" || true
for f in "$ref"/*.png; do
  cmp "$f" "$out/$(basename "$f")" || { echo "FAIL: $(basename "$f") differs after the rerun"; exit 1; }
done
echo "OK: exit $code naming rank $rank; $partial images kept; rerun finished the job byte-identically"
