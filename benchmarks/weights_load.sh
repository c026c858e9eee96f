#!/usr/bin/env bash
# Load time with --weights shared vs each (issue 16 item 7): for 1, 2 and 4
# ranks as that many pipelines of one stage (every rank loads the whole
# model, so a stage group is all the ranks), each way, with the model's
# files in the page cache (warm) and evicted before each run (cold), RUNS
# runs each; prints min and median of the job's load time ("farm: loaded
# ... in X s": rank 0's load_s, which ends when every rank has loaded) and
# the summary line's bytes read from files and received, over all ranks.
# Cold: `sync; echo 3 > /proc/sys/vm/drop_caches` where /proc/sys is
# writable, else each model file's pages are dropped with
# posix_fadvise(DONTNEED) (GNU dd iflag=nocache count=0), which a container
# allows. Not a test: it measures. Usage:
#   benchmarks/weights_load.sh MODEL_DIR [RUNS=3] [RANKS="1 2 4"]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
farm=${FARM_BIN:-${FARM_BUILD:-$root/build}/bin/farm}
model=$1 runs=${2:-3} ranks=${3:-"1 2 4"}
work=$(mktemp -d /tmp/farm-weights-load.XXXXXX)
trap 'rm -rf "$work"' EXIT
printf '{"prompt": "a red circle", "seed": 1}\n' >"$work/one.jsonl"
mpi=(mpirun --oversubscribe --bind-to none)
[[ $(id -u) == 0 ]] && mpi+=(--allow-run-as-root)

evict() {
  sync
  if { echo 3 >/proc/sys/vm/drop_caches; } 2>/dev/null; then return; fi
  find "$model" -name '*.safetensors' -exec dd if={} iflag=nocache count=0 status=none \;
}

# min and median of the numbers on stdin
stats() { sort -g | awk '{v[NR] = $1} END {printf "%6.3f %6.3f", v[1], (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2)}'; }

bytes=$(find "$model" -name '*.safetensors' -printf '%s\n' | awk '{s += $1} END {printf "%.0f", s / 1e6}')
echo "model $model ($bytes MB of .safetensors), $(nproc) cores, $runs runs each, $(date -u +%FT%TZ)"
echo "ranks  weights  cache  load_s min median   MB read (all ranks)  MB received"
# The two ways alternate run by run, so a burst of other load on the machine
# falls on both.
for np in $ranks; do
  for cache in warm cold; do
    : >"$work/shared.times"
    : >"$work/each.times"
    for ((i = 0; i < runs; ++i)); do
      for w in shared each; do
        if [[ $cache == cold ]]; then evict; else cat $(find "$model" -name '*.safetensors') >/dev/null; fi
        OMP_NUM_THREADS=1 "${mpi[@]}" -np "$np" "$farm" render --model "$model" --prompts "$work/one.jsonl" \
          --out "$work/out" --overwrite --steps 1 --width 32 --height 32 --pipelines "$np" --stages 1 \
          --weights "$w" --progress-every 1000 >"$work/log" 2>&1 || { tail -5 "$work/log"; exit 1; }
        sed -nE 's/^farm: loaded .* in ([0-9.]+) s$/\1/p' "$work/log" >>"$work/$w.times"
        # One rank prints no weight line: it reads everything itself.
        sed -nE 's/^farm: weights .*: ([0-9.]+) MB read .*, ([0-9.]+) MB received .*/\1 \2/p' "$work/log" >"$work/$w.mb"
      done
    done
    for w in shared each; do
      read -r mb_read mb_recv <"$work/$w.mb" || mb_read=- mb_recv=-
      printf "%5d  %-7s  %-5s  %s   %12s  %12s\n" "$np" "$w" "$cache" "$(stats <"$work/$w.times")" "$mb_read" "$mb_recv"
    done
  done
done
