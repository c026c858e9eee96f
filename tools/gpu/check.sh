#!/usr/bin/env bash
# The GPU node check, in one go, under 8 minutes on one node with a built
# farm: `farm selftest`; SD 1.5-shaped renders at 512x512, 20 steps, batch 1
# and batch 8, on the device-resident backend (it/s, images/s, share of the
# GPU's fp16 tensor peak, top 10 ops by device time, peak device memory);
# NCCL send/recv GB/s between every ordered pair of local GPUs
# (benchmarks/nccl_pairs); and for every P x S that `farm plan` lists for
# the local GPU count, a render on all of them (stage to stage over NCCL)
# measured next to the schedule simulator's prediction, bubble and bytes
# (benchmarks/throughput_report). Everything goes to OUT/gpu_check.json.
#
#   tools/gpu/check.sh [--farm build/bin/farm] [--model DIR] [--out DIR] [--dtype f16|bf16] [--device a100|h100]
#
# --model: a diffusers folder with weights; default: configs/sd15 (the SD 1.5
# configs, no weights) with --random-weights — full-size work, noise images,
# nothing to download. --device: the plans' device profile (default from the
# GPU's name). nccl_pairs and throughput_report come from the build that
# holds --farm (BUILD/bin/farm -> BUILD/benchmarks/). Needs python3 for the
# report and mpirun for the P x S renders. Without a GPU it says so and exits
# 3, as `farm selftest` does.
#
# Time budget: one deadline, 465 s after the start (FARM_CHECK_BUDGET_S); each
# step runs under `timeout` with its own cap or what is left, whichever is less:
#   selftest 120 s | batch-1 render 60 s | batch-8 render 90 s | plans ~5 s |
#   nccl_pairs 45 s | P x S renders: the rest (about 140 s), split evenly over
#   the layouts still to run, at least 20 s each (a layout with less is
#   skipped, and the report says so) | report ~5 s.
#
# Dry run without a GPU: FARM_CHECK_BACKEND=cuda-emu renders on the SIMT
# emulator (default model models/tiny-shapes, 16x16, 2 steps), pretends
# FARM_CHECK_GPUS (default 2) GPUs, skips selftest, moves stage tensors over
# MPI, and gives each step 10 times its time (1800 s in all); it checks the
# plumbing, not the figures.
set -uo pipefail
cd "$(dirname "$0")/../.."
backend=${FARM_CHECK_BACKEND:-cuda}
dry=0
[[ $backend == cuda ]] || dry=1
farm=build/bin/farm model=configs/sd15 out=out/gpu_check dtype=f16 device=
size=512x512 steps=20
slow=1 budget=465
if ((dry)); then model=models/tiny-shapes size=16x16 steps=2 slow=10 budget=1800; fi
while (($#)); do
  case $1 in
    --farm) farm=$2; shift 2 ;;
    --model) model=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --dtype) dtype=$2; shift 2 ;;
    --device) device=$2; shift 2 ;;
    *) echo "usage: $0 [--farm BIN] [--model DIR] [--out DIR] [--dtype f16|bf16] [--device a100|h100]" >&2; exit 2 ;;
  esac
done
say() { echo "gpu-check: $*" >&2; }
deadline=$((SECONDS + ${FARM_CHECK_BUDGET_S:-$budget}))
# cap SECONDS: a step's time limit, SECONDS (x 10 on the emulator) or what is left of the budget.
cap() { local want=$(($1 * slow)) left=$((deadline - SECONDS)); echo $((want < left ? want : (left > 0 ? left : 0))); }
# run_for SECONDS CMD...: CMD under timeout; 124 when it ran out of time (or had none).
run_for() {
  local t=$1
  shift
  ((t > 0)) || return 124
  timeout -k 10 "$t" "$@"
}

if ((dry)); then
  gpu="$backend (dry run, no GPU)" gpus=${FARM_CHECK_GPUS:-2}
else
  if ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi -L 2>/dev/null | grep -q '^GPU'; then
    say "no CUDA device found (nvidia-smi lists no GPU); nothing to check"
    exit 3
  fi
  gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -n1)
  gpus=$(nvidia-smi -L | grep -c '^GPU')
  if [[ -n ${CUDA_VISIBLE_DEVICES:-} ]]; then
    IFS=, read -ra visible <<<"$CUDA_VISIBLE_DEVICES"
    gpus=${#visible[@]}
  fi
fi
[[ -x $farm ]] || { say "$farm not found: build farm first (bash launcher/setup.sh)"; exit 2; }
bench=$(cd "$(dirname "$farm")/.." && pwd)/benchmarks
if [[ -z $device ]]; then
  case $gpu in *H100* | *H200* | *H800*) device=h100 ;; *) device=a100 ;; esac
fi
rm -rf "$out/batch1" "$out/batch8" "$out/layouts" "$out"/*.json
mkdir -p "$out"
say "device: $gpu ($gpus visible); plans with the $device profile"

# 1. Every kernel against the reference, a small render on the device vs the CPU.
selftest=0
if ((dry)); then
  echo "selftest: skipped (dry run on $backend)" >"$out/selftest.txt"
else
  run_for "$(cap 120)" "$farm" selftest --dtype "$dtype" >"$out/selftest.txt" 2>&1
  selftest=$?
  tail -n 3 "$out/selftest.txt" >&2
  if ((selftest == 3)); then say "farm selftest found no device"; exit 3; fi
  if ((selftest == 124)); then say "farm selftest ran past its time budget"; fi
fi

# 2. The model: a folder without weights renders with random ones (the work is real, the images noise).
weights=()
if ! compgen -G "$model/unet/*.safetensors" >/dev/null; then
  weights=(--random-weights)
  say "$model has no weights: rendering with --random-weights"
fi
w=${size%x*} h=${size#*x}
common=(--backend "$backend" --dtype "$dtype" --model "$model" --steps "$steps" --width "$w" --height "$h"
  --sampler euler --guidance 7.5 --seed 1 "${weights[@]}")

# 3. Renders: 20 steps, 512x512, CFG 7.5; batch 1 (4 images) and batch 8 (16 images).
for i in $(seq 1 64); do echo "a photograph of an astronaut riding a horse, number $i"; done >"$out/prompts.txt"
render() {  # NAME IMAGES BATCH SECONDS
  local name=$1 images=$2 batch=$3
  head -n "$images" "$out/prompts.txt" >"$out/$name.txt"
  FARM_PROFILE_OPS=1 run_for "$(cap "$4")" "$farm" render "${common[@]}" --prompts "$out/$name.txt" \
    --out "$out/$name" --batch "$batch" --stats "$out/$name.json" 2>"$out/$name.log"
  local rc=$?
  tail -n 2 "$out/$name.log" >&2
  ((rc != 124)) || say "$name render ran past its $(($4 * slow)) s budget"
  return $rc
}
render batch1 4 1 60 || { say "batch 1 render failed (see $out/batch1.log)"; exit 1; }
render batch8 16 8 90 || { say "batch 8 render failed (see $out/batch8.log)"; exit 1; }

# 4. Plans. UNet FLOPs per step from the partitioner's cost model (checked
# against torch's FlopCounterMode in tests/partition), for the report; then
# the P x S layouts `farm plan` lists for this node's GPUs, one plan each.
"$farm" plan --model "$model" --ranks 1 --device "$device" --size "$size" --steps "$steps" >"$out/plan.txt" 2>&1 ||
  { cat "$out/plan.txt" >&2; exit 1; }
"$farm" plan --model "$model" --ranks "$gpus" --device "$device" --size "$size" --steps "$steps" \
  >"$out/layouts.txt" 2>&1 || { cat "$out/layouts.txt" >&2; exit 1; }
# The table after "layouts": "  P x S  images/s ..." rows, best first.
mapfile -t layouts < <(awk '/^layouts/ { on = 1; next } on && $2 == "x" && $1 ~ /^[0-9]+$/ { print $1 "x" $3 }' \
  "$out/layouts.txt")
((${#layouts[@]})) || { say "farm plan listed no layout for $gpus GPU(s) (see $out/layouts.txt)"; exit 1; }
for l in "${layouts[@]}"; do
  mkdir -p "$out/layouts/$l"
  "$farm" plan --model "$model" --ranks "$gpus" --pipelines "${l%x*}" --stages "${l#*x}" --device "$device" \
    --size "$size" --steps "$steps" --json "$out/layouts/$l/plan.json" >"$out/layouts/$l/plan.txt" 2>&1 ||
    { cat "$out/layouts/$l/plan.txt" >&2; exit 1; }
done
say "layouts for $gpus GPU(s): ${layouts[*]}"

# 5. NCCL pair bandwidth: the nccl-tests sizes, and every message a stage of those plans sends per step.
plan_bytes=$(python3 -c 'import json, sys
print(",".join(sorted({str(int(s["send_bytes"])) for f in sys.argv[1:] for s in json.load(open(f))["stage"]
                       if s["send_bytes"] > 0}, key=int)))' "$out"/layouts/*/plan.json)
if [[ -x $bench/nccl_pairs ]]; then
  run_for "$(cap 45)" "$bench/nccl_pairs" --sizes "1M,8M,64M${plan_bytes:+,$plan_bytes}" \
    --json "$out/nccl_pairs.json" >"$out/nccl_pairs.txt" 2>&1
  pairs=$?
  tail -n 2 "$out/nccl_pairs.txt" >&2
  ((pairs == 0)) || say "nccl_pairs failed (rc $pairs; 124: past its time budget; see $out/nccl_pairs.txt)"
else
  pairs=0
  echo "not built: $bench/nccl_pairs (needs FARM_CUDA and NCCL)" >"$out/nccl_pairs.txt"
  say "$bench/nccl_pairs not built: no pair bandwidth"
fi

# 6. Every layout on all local GPUs, stage to stage over NCCL. Enough
# micro-batches for a steady state (2 windows of S + 1 per pipeline); the
# report sets each beside the simulator (CORES = ranks: one GPU each, none shared).
mpi=(mpirun --oversubscribe --bind-to none)
[[ $(id -u) == 0 ]] && mpi+=(--allow-run-as-root)
failed=0
left=${#layouts[@]}
for l in "${layouts[@]}"; do
  P=${l%x*} S=${l#*x} dir=$out/layouts/$l
  np=$((P * S)) images=$((P * (S + 1) * 2))
  transport=nccl
  ((S > 1 && !dry)) || transport=auto  # one stage sends no tensors; the emulator has no NCCL
  t=$(((deadline - SECONDS - 5) / left))
  left=$((left - 1))
  if ((t < 20 * slow)); then
    echo "skipped: out of time budget (${t} s left for it)" >"$dir/status"
    say "$l: skipped, out of time budget"
    continue
  fi
  head -n "$images" "$out/prompts.txt" >"$dir/job.txt"
  run_for "$t" "${mpi[@]}" -np "$np" "$farm" render "${common[@]}" --prompts "$dir/job.txt" --out "$dir/images" \
    --batch 1 --plan "$dir/plan.json" --transport "$transport" --stats "$dir/stats.json" >"$dir/render.log" 2>&1
  rc=$?
  if ((rc == 124)); then
    echo "timed out after $t s (a hang, or slower than the budget; see render.log)" >"$dir/status"
  elif ((rc != 0)); then
    echo "failed (rc $rc; see render.log)" >"$dir/status"
    failed=1
  elif ! "$bench/throughput_report" "$l" "$dir/plan.json" "$dir/stats.json" "$np" --json "$dir/report.json" \
    >"$dir/report.txt" 2>&1; then
    echo "failed: throughput_report (see report.txt)" >"$dir/status"
    failed=1
  else
    echo "ok: $images images, $np ranks, transport $transport, ${t} s budget" >"$dir/status"
  fi
  say "$l: $(cat "$dir/status")"
done

python3 tools/gpu/report.py "$out" "$gpu" "$dtype" || exit 1
exit $((selftest != 0 || pairs != 0 || failed != 0))
