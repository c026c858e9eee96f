#!/usr/bin/env bash
# Load time with --weights shared vs each where reading is the bottleneck,
# as on several nodes loading from one network file system: each rank loads
# its own copy of the model (its own page cache, as on its own node), and
# every read goes through one disk throttled to READ_MBPS (a blkio cgroup:
# the file server's share). Every run starts cold. 1..NP ranks as pipelines
# of one stage, so a stage group is all the ranks; the two ways alternate
# run by run. Needs root and cgroup v1 blkio (/sys/fs/cgroup/blkio); makes
# NP-1 copies of the model beside the work folder. Not a test: it measures.
#   benchmarks/weights_load_slowfs.sh MODEL_DIR [READ_MBPS=100] [RUNS=3] [RANKS="1 2 4"]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
farm=${FARM_BIN:-${FARM_BUILD:-$root/build}/bin/farm}
model=$(cd "$1" && pwd) mbps=${2:-100} runs=${3:-3} ranks=${4:-"1 2 4"}
cg=/sys/fs/cgroup/blkio/farm_weights_load_$$
work=$(mktemp -d /tmp/farm-weights-slowfs.XXXXXX)
trap 'rmdir "$cg" 2>/dev/null; rm -rf "$work"' EXIT
# The whole disk under the model (throttling takes a disk, not a partition).
dev=$(findmnt -no SOURCE --target "$work")
disk=/dev/$(lsblk -no PKNAME "$dev" 2>/dev/null | head -1)
[[ $disk != /dev/ ]] || disk=$dev
mkdir "$cg"
echo "$(lsblk -dno MAJ:MIN "$disk" | tr -d ' ') $((mbps * 1024 * 1024))" >"$cg/blkio.throttle.read_bps_device"
printf '{"prompt": "a red circle", "seed": 1}\n' >"$work/one.jsonl"
max=0
for np in $ranks; do ((np > max)) && max=$np; done
copies=("$model")
for ((r = 1; r < max; ++r)); do cp -r "$model" "$work/model-$r" && copies+=("$work/model-$r"); done
sync
args=(render --prompts "$work/one.jsonl" --out "$work/out" --overwrite --steps 1 --width 32 --height 32 --stages 1
      --progress-every 1000)
stats() { sort -g | awk '{v[NR] = $1} END {printf "%6.2f %6.2f", v[1], (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2)}'; }

echo "model $model, one copy per rank, reads throttled to $mbps MiB/s on $disk, $(nproc) cores, $runs cold runs each, $(date -u +%FT%TZ)"
echo "ranks  weights  load_s min median   MB read (all ranks)  MB received"
for np in $ranks; do
  for w in shared each; do : >"$work/$w.times"; done
  for ((i = 0; i < runs; ++i)); do
    for w in shared each; do
      app=()  # mpirun's MPMD form: rank r gets copy r
      for ((r = 0; r < np; ++r)); do
        find "${copies[r]}" -name '*.safetensors' -exec dd if={} iflag=nocache count=0 status=none \;
        ((r == 0)) || app+=(:)
        app+=(-np 1 "$farm" "${args[@]}" --pipelines "$np" --model "${copies[r]}" --weights "$w")
      done
      mpi=(mpirun --oversubscribe --bind-to none)
      [[ $(id -u) == 0 ]] && mpi+=(--allow-run-as-root)
      # mpirun and every rank in the throttled cgroup
      bash -c 'echo $$ >"$0/cgroup.procs" && exec env OMP_NUM_THREADS=1 "$@"' "$cg" "${mpi[@]}" "${app[@]}" \
        >"$work/log" 2>&1 || { tail -5 "$work/log"; exit 1; }
      sed -nE 's/^farm: loaded .* in ([0-9.]+) s$/\1/p' "$work/log" >>"$work/$w.times"
      sed -nE 's/^farm: weights .*: ([0-9.]+) MB read .*, ([0-9.]+) MB received .*/\1 \2/p' "$work/log" >"$work/$w.mb"
    done
  done
  for w in shared each; do
    read -r mb_read mb_recv <"$work/$w.mb" || mb_read=- mb_recv=-  # one rank prints no weight line
    printf "%5d  %-7s  %s   %12s  %12s\n" "$np" "$w" "$(stats <"$work/$w.times")" "$mb_read" "$mb_recv"
  done
done
