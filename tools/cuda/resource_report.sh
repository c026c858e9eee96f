#!/usr/bin/env bash
# Static quality report of the CUDA kernels in kernels/cuda, per kernel and
# per arch (sm_80, sm_90): registers, spill stores/loads, shared memory
# (static from ptxas + dynamic from the launch), theoretical occupancy.
# With --check it fails unless the attention and convolution kernels have no
# spills and their SASS holds tensor-core instructions (HMMA).
#
# usage: resource_report.sh [--check] [--nvcc PATH] [--launch-info EXE] [--out DIR]
#   --launch-info: cuda_launch_info (tools/cuda/print_launch_info.cpp), which
#                  prints threads and dynamic shared memory per kernel.
# SASS needs cuobjdump and nvdisasm (CUDA toolkit, or the PyPI packages
# nvidia-cuda-cuobjdump / nvidia-cuda-nvdisasm; set CUOBJDUMP or PATH). Without
# them the tensor-core check falls back to the PTX (wmma.mma / mma.sync, which
# ptxas lowers to HMMA on sm_80+) and says so.
set -euo pipefail

check=0
nvcc=${NVCC:-nvcc}
launch_info=""
out=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --check) check=1; shift ;;
    --nvcc) nvcc=$2; shift 2 ;;
    --launch-info) launch_info=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    *) echo "resource_report.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

root=$(cd "$(dirname "$0")/../.." && pwd)
out=${out:-$(mktemp -d)}
mkdir -p "$out"
sources=(attention.cu conv2d.cu norm.cu elementwise.cu linear_cublas.cu)
# The kernels that must be spill-free and on tensor cores.
must_be_tensor_core='flash_attention_fwd_kernel|conv2d_implicit_gemm_kernel'

cuobjdump=${CUOBJDUMP:-$(command -v cuobjdump || true)}
if [[ -z "$cuobjdump" && -x "$(dirname "$nvcc")/cuobjdump" ]]; then cuobjdump="$(dirname "$nvcc")/cuobjdump"; fi

declare -A threads_of smem_dyn_of
if [[ -n "$launch_info" ]]; then
  while IFS=$'\t' read -r name threads dyn; do
    threads_of["$name"]=$threads
    smem_dyn_of["$name"]=$dyn
  done < <("$launch_info")
fi

fail=0
printf '%-6s %-52s %5s %7s %7s %9s %9s %7s %5s %5s\n' arch kernel regs spill_st spill_ld smem_stat smem_dyn threads occ hmma
for arch in 80 90; do
  # Per-SM limits: registers, shared memory (bytes), threads, blocks.
  if [[ $arch == 80 ]]; then smem_sm=$((164 * 1024)); else smem_sm=$((228 * 1024)); fi
  regs_sm=65536 threads_sm=2048 blocks_sm=32
  for src in "${sources[@]}"; do
    base=${src%.cu}
    log="$out/${base}.sm_${arch}.ptxas.txt"
    "$nvcc" -std=c++20 -arch=sm_$arch -I"$root" -Xptxas -v -cubin -o "$out/${base}.sm_${arch}.cubin" \
      "$root/kernels/cuda/$src" > "$log" 2>&1 || { cat "$log" >&2; echo "nvcc failed on $src" >&2; exit 1; }
    "$nvcc" -std=c++20 -arch=sm_$arch -I"$root" -ptx -o "$out/${base}.sm_${arch}.ptx" "$root/kernels/cuda/$src"
    sass="$out/${base}.sm_${arch}.sass"
    if [[ -n "$cuobjdump" ]]; then "$cuobjdump" -sass "$out/${base}.sm_${arch}.cubin" > "$sass" 2>&1 || true; fi
    # ptxas -v: "Compiling entry function 'X'", then "N bytes spill stores, M bytes spill loads",
    # then "Used R registers, ... [S bytes smem]".
    while IFS='|' read -r mangled regs spill_st spill_ld smem_stat; do
      # "void (anonymous namespace)::k<__half, 48, 64>(params)" -> "k<__half, 48, 64>"
      plain=$(echo "$mangled" | c++filt | sed -E -e 's/^void //' -e 's/\(anonymous namespace\):://g' -e 's/\(.*$//')
      name=$(echo "$plain" | sed -E 's/^([A-Za-z_0-9]+::)*//')
      key=""
      for k in "${!threads_of[@]}"; do
        if [[ "$plain" == *"::$k" || "$plain" == "$k" ]]; then key=$k; fi
      done
      short=${key:-$name}
      occ="?" thr="?" dyn="?"
      if [[ -n "$key" ]]; then
        thr=${threads_of[$key]} dyn=${smem_dyn_of[$key]}
        warps=$(((thr + 31) / 32))
        regs_warp=$(((regs * 32 + 255) / 256 * 256))
        by_regs=$((regs_sm / (regs_warp * warps)))
        smem_block=$((smem_stat + dyn + 1024))  # the runtime reserves 1 KiB per block (sm_80+)
        by_smem=$((smem_sm / smem_block))
        by_threads=$((threads_sm / thr))
        blocks=$blocks_sm
        for lim in $by_regs $by_smem $by_threads; do ((lim < blocks)) && blocks=$lim; done
        occ=$(awk -v b="$blocks" -v w="$warps" 'BEGIN { printf "%d%%", 100 * b * w / 64 }')
      fi
      # Tensor-core instructions of this kernel in its SASS ("-" without cuobjdump).
      hmma="-"
      if [[ -s "$sass" ]] && grep -q "Function : $mangled" "$sass"; then
        hmma=$(awk -v f="Function : $mangled" '/Function :/ { on = (index($0, f) > 0) } on && /HMMA/ { n++ } END { print n + 0 }' "$sass")
      fi
      printf 'sm_%-3s %-52s %5s %7s %7s %9s %9s %7s %5s %5s\n' "$arch" "$short" "$regs" "$spill_st" "$spill_ld" \
        "$smem_stat" "$dyn" "$thr" "$occ" "$hmma"
      if [[ "$short" =~ $must_be_tensor_core ]]; then
        if ((spill_st != 0 || spill_ld != 0)); then
          echo "FAIL: $short on sm_$arch spills ($spill_st bytes stored, $spill_ld loaded)" >&2
          fail=1
        fi
        if [[ "$hmma" != "-" ]]; then
          if ((hmma == 0)); then echo "FAIL: $short on sm_$arch: no HMMA in its SASS" >&2; fail=1; fi
        else
          ptx="$out/${base}.sm_${arch}.ptx"
          n=$(awk -v f="$mangled" '/\.entry/ { on = (index($0, f) > 0) } on && /mma/ { n++ } END { print n + 0 }' "$ptx")
          echo "note: $short on sm_$arch: SASS not inspected (no cuobjdump); $n mma instructions in its PTX" >&2
          if ((n == 0)); then echo "FAIL: $short on sm_$arch: no mma in its PTX" >&2; fail=1; fi
        fi
      fi
    done < <(awk '
      /Compiling entry function/ { match($0, /\047[^\047]+\047/); fn = substr($0, RSTART + 1, RLENGTH - 2); st = 0; ld = 0 }
      /bytes spill stores/ { for (i = 1; i <= NF; i++) { if ($(i+1) == "bytes" && $(i+2) == "spill" && $(i+3) == "stores,") st = $i; if ($(i+1) == "bytes" && $(i+2) == "spill" && $(i+3) == "loads") ld = $i } }
      /Used [0-9]+ registers/ && fn != "" {
        regs = 0; smem = 0
        for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^registers/) regs = $i; if ($(i+1) == "bytes" && $(i+2) ~ /^smem/) smem = $i }
        print fn "|" regs "|" st "|" ld "|" smem; fn = ""
      }' "$log")
  done
done
if [[ -z "$cuobjdump" ]]; then echo "note: cuobjdump not found: tensor-core use checked in PTX, not SASS" >&2; fi
if ((check)) && ((fail)); then exit 1; fi
exit 0
