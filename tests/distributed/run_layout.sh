#!/usr/bin/env bash
# One layout of the byte-identity test (issue 3, invariant 1): render the
# mixed job under mpirun with NP ranks and the given flags, then compare every
# PNG with the single-process render. Usage:
#   run_layout.sh FARM_BIN MODEL JOB REF_DIR OUT_DIR NP [farm render flags...]
# NP = 0 renders without mpirun (the reference itself).
set -euo pipefail
farm=$1 model=$2 job=$3 ref=$4 out=$5 np=$6
shift 6
rm -rf "$out"
# FARM_BASE_ARGS replaces the short-job settings (the demo test uses the demo's own config).
read -r -a base <<<"${FARM_BASE_ARGS:---steps 4 --guidance 2.0 --width 64 --height 64}"
args=(render --model "$model" --prompts "$job" --out "$out" "${base[@]}" "$@")
if [[ $np == 0 ]]; then
  "$farm" "${args[@]}"
  exit 0
fi
mpi=(mpirun --oversubscribe -np "$np")
[[ $(id -u) == 0 ]] && mpi+=(--allow-run-as-root)
# One OpenMP thread per rank: the ranks already share the cores.
OMP_NUM_THREADS=1 "${mpi[@]}" "$farm" "${args[@]}"
ref_count=$(find "$ref" -name '*.png' | wc -l)
out_count=$(find "$out" -name '*.png' | wc -l)
if [[ $ref_count == 0 || $ref_count != "$out_count" ]]; then
  echo "FAIL: $out_count images, the reference has $ref_count" >&2
  exit 1
fi
for f in "$ref"/*.png; do
  if ! cmp "$f" "$out/$(basename "$f")"; then
    echo "FAIL: $(basename "$f") differs from the single-process render" >&2
    exit 1
  fi
done
if find "$out" -name '*.tmp*' | grep -q .; then
  echo "FAIL: temporary files left in $out" >&2
  exit 1
fi
echo "OK: $out_count images byte-identical to the single-process render (np=$np $*)"
