#!/usr/bin/env bash
# The GPU-to-GPU ring, counted (issue 13): render a job on the emulated CUDA
# backend with --transport nccl over the plan's layout, then check that
#  - every PNG is byte-identical to the single-process render;
#  - every rank's tensors went over the NCCL link ("tensors_over": "nccl"),
#    and each rank sent exactly the tensor bytes the plan counts for the
#    work it did (throughput_report's per-stage check, to the byte);
#  - no middle stage copied a byte to or from the host in a steady-state
#    step (its per-step device counters).
# Usage: link_bytes_test.sh FARM_BIN REPORT_BIN MODEL JOB REF_DIR OUT_DIR PIPELINES STAGES
set -euo pipefail
farm=$1 report=$2 model=$3 job=$4 ref=$5 out=$6 P=$7 S=$8
np=$((P * S))
rm -rf "$out"
mkdir -p "$out"
"$farm" plan --model "$model" --ranks "$np" --pipelines "$P" --stages "$S" --device a100 --size 16x16 --steps 2 \
  --guidance 2.0 --json "$out/plan.json" >"$out/plan.txt"
mpi=(mpirun --oversubscribe -np "$np")
[[ $(id -u) == 0 ]] && mpi+=(--allow-run-as-root)
OMP_NUM_THREADS=1 "${mpi[@]}" "$farm" render --model "$model" --prompts "$job" --out "$out/png" --backend cuda-emu \
  --steps 2 --guidance 2.0 --width 16 --height 16 --transport nccl --plan "$out/plan.json" --stats "$out/stats.json"
for f in "$ref"/*.png; do
  cmp "$f" "$out/png/$(basename "$f")" || { echo "FAIL: $(basename "$f") differs from the single-process render"; exit 1; }
done
over=$(grep -c '"tensors_over": "nccl"' "$out/stats.json" || true)
[[ $over == "$np" ]] || { echo "FAIL: $over of $np ranks sent their tensors over NCCL"; exit 1; }
line=$("$report" "nccl ${P}x${S}" "$out/plan.json" "$out/stats.json")
echo "$line"
grep -q "sent MB meas/plan.* ok" <<<"$line" || { echo "FAIL: tensor bytes sent differ from the plan's count"; exit 1; }
# Each rank's per-step counters sit under "per_step"; a middle stage (not
# first, not last) moves nothing across the host boundary.
# (nlohmann's dump: keys sorted, one per line; "per_step" comes before "stage".)
awk -v S="$S" '
  /"per_step": \{/ { inside = 1; next }
  inside && /\}/ { inside = 0 }
  inside && /"d2h_bytes"/ { sub(/.*: */, ""); gsub(/[^0-9]/, ""); d2h = $0 }
  inside && /"h2d_bytes"/ { sub(/.*: */, ""); gsub(/[^0-9]/, ""); h2d = $0 }
  /"stage": [0-9]+/ { sub(/.*: */, ""); gsub(/[^0-9]/, ""); st = $0
    if (st > 0 && st < S - 1) {
      ++middle
      if (d2h != 0 || h2d != 0) { printf "FAIL: middle stage %d moved %d bytes down, %d up in a step\n", st, d2h, h2d; bad = 1 }
    }
  }
  END { if (S > 2 && middle == 0) { print "FAIL: no middle stage in the stats"; bad = 1 } exit bad }' "$out/stats.json"
echo "OK: ${P}x${S} over NCCL, byte-identical, bytes as planned"
