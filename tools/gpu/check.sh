#!/usr/bin/env bash
# The GPU node check, in one go (under 8 minutes on an A100/H100 node with a
# built farm): `farm selftest`, then SD 1.5-shaped renders at 512x512, 20
# steps, batch 1 and batch 8, on the device-resident backend; prints it/s,
# images/s, the share of the GPU's fp16 tensor peak, the top 10 ops by device
# time, peak device memory, and writes everything to OUT/gpu_check.json.
#
#   tools/gpu/check.sh [--farm build/bin/farm] [--model DIR] [--out DIR] [--dtype f16|bf16]
#
# --model: a diffusers folder with weights; default: configs/sd15 (the SD 1.5
# configs, no weights) with --random-weights — full-size work, noise images,
# nothing to download. Needs python3 for the report. Without a GPU it says so
# and exits 3, as `farm selftest` does.
set -uo pipefail
cd "$(dirname "$0")/../.."
farm=build/bin/farm model=configs/sd15 out=out/gpu_check dtype=f16
while (($#)); do
  case $1 in
    --farm) farm=$2; shift 2 ;;
    --model) model=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --dtype) dtype=$2; shift 2 ;;
    *) echo "usage: $0 [--farm BIN] [--model DIR] [--out DIR] [--dtype f16|bf16]" >&2; exit 2 ;;
  esac
done
say() { echo "gpu-check: $*" >&2; }

if ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi -L 2>/dev/null | grep -q '^GPU'; then
  say "no CUDA device found (nvidia-smi lists no GPU); nothing to check"
  exit 3
fi
[[ -x $farm ]] || { say "$farm not found: build farm first (bash launcher/setup.sh)"; exit 2; }
mkdir -p "$out"
gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -n1)
say "device: $gpu ($(nvidia-smi -L | wc -l) visible)"

# 1. Every kernel against the reference, a small render on the device vs the CPU.
"$farm" selftest --dtype "$dtype" >"$out/selftest.txt" 2>&1
selftest=$?
tail -n 3 "$out/selftest.txt" >&2
if ((selftest == 3)); then say "farm selftest found no device"; exit 3; fi

# 2. The model: a folder without weights renders with random ones (the work is real, the images noise).
weights=()
if ! compgen -G "$model/unet/*.safetensors" >/dev/null; then
  weights=(--random-weights)
  say "$model has no weights: rendering with --random-weights"
fi

# 3. Renders: 20 steps, 512x512, CFG 7.5; batch 1 (4 images) and batch 8 (16 images).
for i in $(seq 1 16); do echo "a photograph of an astronaut riding a horse, number $i"; done >"$out/prompts.txt"
render() {  # NAME IMAGES BATCH
  local name=$1 images=$2 batch=$3
  head -n "$images" "$out/prompts.txt" >"$out/$name.txt"
  rm -rf "$out/$name"
  FARM_PROFILE_OPS=1 timeout 300 "$farm" render --backend cuda --dtype "$dtype" --model "$model" \
    --prompts "$out/$name.txt" --out "$out/$name" --steps 20 --width 512 --height 512 --sampler euler \
    --guidance 7.5 --seed 1 --batch "$batch" --stats "$out/$name.json" "${weights[@]}" 2>"$out/$name.log"
  local rc=$?
  tail -n 2 "$out/$name.log" >&2
  return $rc
}
render batch1 4 1 || { say "batch 1 render failed (see $out/batch1.log)"; exit 1; }
render batch8 16 8 || { say "batch 8 render failed (see $out/batch8.log)"; exit 1; }

# 4. Figures: UNet FLOPs per step from the partitioner's cost model (checked
# against torch's FlopCounterMode in tests/partition), peaks from datasheets.
"$farm" plan --model "$model" --ranks 1 --device a100 --size 512x512 >"$out/plan.txt" 2>&1
python3 tools/gpu/report.py "$out" "$gpu" "$dtype" || exit 1
exit $((selftest != 0))
