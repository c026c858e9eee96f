#!/usr/bin/env bash
# Throughput across hosts with link latency (issue 16, item 2): two hosts
# made of network namespaces (tests/multihost/netns_lab.sh), one stage on
# each (np 2, --stages 2: every state crosses the link), the link given
# DELAY ms each way at 1 Gbit/s by benchmarks/delayline.py (the kernel has
# no netem). For each delay, back to back and alternated, farm as it is and
# farm as it was before receives were non-blocking and the window grew with
# the measured latency (FARM_BLOCKING_RECEIVE=1, --window 3); each row also
# gives the simulator's figure for the run's own stage times plus the
# latency farm measured at start-up (throughput_report's "sim run").
# Measured 2026-12-02 (2-core VM, tiny-shapes, 10 steps, ddim, CFG; 3 runs of
# each, alternated; images/s, median (min-max)):
#   64x64, 48 images     now                 before
#     0 ms             13.9 (10.3-15.9)     11.7 (11.6-12.6)
#     5 ms each way    13.8 (10.8-14.3)      4.6 (4.5-4.7)     window grew to 12-14
#   128x128, 24 images
#     0 ms              3.25 (3.18-3.75)     2.39 (2.23-2.89)
#     5 ms each way     3.26 (3.02-3.44)     1.58 (1.44-1.63)
# The measured start-up ring round at 5 ms was 40-45 ms (two hops, each a
# 256 KiB rendezvous: 1.5 round trips); "sim run" with it: within 4 % of
# every 5 ms "now" row.
# Not a test: it measures. Root only. Usage:
#   benchmarks/multihost_latency.sh MODEL [SIZE=64x64] [STEPS=10] [IMAGES=48] [DELAYS="0 5"] [REPEATS=2]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${FARM_BUILD:-$root/build}
model=$1 size=${2:-64x64} steps=${3:-10} images=${4:-48} delays=${5:-"0 5"} repeats=${6:-2}
source "$root/tests/multihost/netns_lab.sh"
why=$(lab_possible) || { echo "cannot run: $why"; exit 1; }
lab=fmb
work=$(mktemp -d /tmp/farm-latency.XXXXXX)
delay_pid=""
cleanup() {
  [[ -n $delay_pid ]] && { kill "$delay_pid" 2>/dev/null; wait "$delay_pid" 2>/dev/null; }
  lab_down $lab
  rm -rf "$work"
}
trap cleanup EXIT
w=${size%x*} h=${size#*x}
mapfile -t prompts < <(grep -o '"prompt": "[^"]*"' "$root/configs/demo/prompts.jsonl" | cut -d'"' -f4)
for ((i = 0; i < images; ++i)); do
  printf '{"prompt": "%s", "seed": %d}\n' "${prompts[i % ${#prompts[@]}]}" $((1000 + i))
done >"$work/job.jsonl"
printf '10.77.0.1 slots=1\n10.77.0.2 slots=1\n' >"$work/hosts"
# One thread per rank, as in the lab (one rank per core): the plan is timed the same way.
OMP_NUM_THREADS=1 "$build/bin/farm" plan --model "$model" --ranks 2 --stages 2 --device cpu --size "$size" \
  --steps "$steps" --calibrate --json "$work/plan.json" >"$work/plan.txt" 2>&1

# Host b's cable: a veth (no delay) or the delay line.
cable() {
  local ms=$1
  [[ -n $delay_pid ]] && { kill "$delay_pid"; wait "$delay_pid" 2>/dev/null || true; delay_pid=""; }
  lab_down $lab
  lab_up $lab 2
  ((ms == 0)) && return
  ip -n $lab-b link del net0  # its peer sw-b goes too
  python3 "$root/benchmarks/delayline.py" $lab-b net0 $lab-sw sw-b "$ms" 1000 &
  delay_pid=$!
  for ((i = 0; i < 50; ++i)); do ip -n $lab-b link show net0 >/dev/null 2>&1 && break; sleep 0.1; done
  ip -n $lab-b link set net0 address 02:77:00:00:00:02
  ip -n $lab-b addr add 10.77.0.2/24 dev net0
  ip -n $lab-b link set net0 up
  ip -n $lab-sw link set sw-b master br0
  ip -n $lab-sw link set sw-b up
}

echo "model $model, $size, $steps steps, $images images, np 2 --stages 2 over two namespaced hosts; $(date -u +%FT%TZ)"
echo "label                   PxS  measured |  sim plan (diff)   |  sim run (diff)    | bubble meas vs plan / run  | busy% meas/sim per stage | ..."
for ms in $delays; do
  cable "$ms"
  for ((r = 0; r < repeats; ++r)); do
    for mode in now before; do
      env=() flags=()
      [[ $mode == before ]] && env=(-x FARM_BLOCKING_RECEIVE=1) flags=(--window 3)
      rm -rf "$work/out"
      lab_mpirun $lab "$work/hosts" -np 2 "${env[@]}" "$build/bin/farm" render --model "$model" \
        --prompts "$work/job.jsonl" --out "$work/out" --width "$w" --height "$h" --steps "$steps" --sampler ddim \
        --guidance 7.5 --plan "$work/plan.json" --stats "$work/stats.json" "${flags[@]}" >"$work/render.txt" 2>&1 ||
        { cat "$work/render.txt"; exit 1; }
      "$build/benchmarks/throughput_report" "${ms}ms $mode" "$work/plan.json" "$work/stats.json" 2
      grep -o '"ring_latency_s": [0-9.e-]*' "$work/stats.json" | head -1 | sed 's/^/    /'
      grep -o '"window": [0-9]*' "$work/stats.json" | head -1 | sed 's/^/    /'
    done
  done
done
