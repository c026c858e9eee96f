#!/usr/bin/env bash
# Distributed render throughput vs the schedule simulator (issue 3, item 8).
# For each layout: `farm plan --calibrate` times the blocks on this CPU and
# writes the plan, `mpirun farm render --plan --stats` renders a job with
# it, and throughput_report prints measured figures beside the simulator's.
# Both use the same threads per rank (cores / ranks, at least 1; or
# OMP_NUM_THREADS), so np=1 has the whole machine, as a user's run would.
# Not a test: it measures. Usage:
#   benchmarks/throughput.sh MODEL_DIR [SIZE=64x64] [STEPS=10] [IMAGES=24] [BATCH=1] [LAYOUTS="1x1 1x2 2x1 1x4 2x2"]
# A Z-Image folder renders with flow_euler at guidance 0 (Turbo's), its DiT
# costed at CAPTION_TOKENS (env, default 40: the demo prompts in the chat template); a config-only folder (no weight
# files, e.g. benchmarks/models/zimage-mid) renders on --random-weights.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${FARM_BUILD:-$root/build}
model=$1 size=${2:-64x64} steps=${3:-10} images=${4:-24} batch=${5:-1}
layouts=${6:-"1x1 1x2 2x1 1x4 2x2"}
work=$(mktemp -d /tmp/farm-throughput.XXXXXX)
trap 'rm -rf "$work"' EXIT
w=${size%x*} h=${size#*x}
mapfile -t prompts < <(grep -o '"prompt": "[^"]*"' "$root/configs/demo/prompts.jsonl" | cut -d'"' -f4)
for ((i = 0; i < images; ++i)); do
  printf '{"prompt": "%s", "seed": %d}\n' "${prompts[i % ${#prompts[@]}]}" $((1000 + i))
done >"$work/job.jsonl"
mpi=(mpirun --oversubscribe --bind-to none)
[[ $(id -u) == 0 ]] && mpi+=(--allow-run-as-root)
cores=$(nproc)
render_args=(--sampler ddim --guidance 7.5)
plan_args=()
what="ddim, CFG 7.5"
if grep -q '"ZImagePipeline"' "$model/model_index.json" 2>/dev/null; then
  render_args=(--guidance 0)
  plan_args=(--guidance 0 --caption-tokens "${CAPTION_TOKENS:-40}")
  what="flow_euler, guidance 0"
fi
if ! find "$model" -name '*.safetensors' | grep -q .; then render_args+=(--random-weights); fi
echo "model $model, ${size}, ${steps} steps ($what), $images images, micro-batch $batch; $cores cores; $(date -u +%FT%TZ)"
echo "layout                  PxS  measured |  sim plan (diff)   |  sim run (diff)    | bubble meas vs plan / run  | busy% meas/sim per stage | state MB/step meas/plan per stage"
for l in $layouts; do
  P=${l%x*} S=${l#*x} np=$((${l%x*} * ${l#*x}))
  "$build/bin/farm" plan --model "$model" --ranks "$np" --pipelines "$P" --stages "$S" --device cpu --size "$size" \
    --steps "$steps" --batch "$batch" "${plan_args[@]}" --calibrate --json "$work/plan-$l.json" >"$work/plan-$l.txt" 2>&1 ||
    { cat "$work/plan-$l.txt"; exit 1; }
  "${mpi[@]}" -np "$np" "$build/bin/farm" render --model "$model" --prompts "$work/job.jsonl" \
    --out "$work/out-$l" --width "$w" --height "$h" --steps "$steps" "${render_args[@]}" --batch "$batch" \
    --plan "$work/plan-$l.json" --stats "$work/stats-$l.json" >"$work/render-$l.txt" 2>&1 ||
    { cat "$work/render-$l.txt"; exit 1; }
  "$build/benchmarks/throughput_report" "np=$np" "$work/plan-$l.json" "$work/stats-$l.json" "$cores"
done
