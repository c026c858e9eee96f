#!/usr/bin/env bash
# Weights read once per stage group (--weights shared, issue 16 item 7), on
# 4 ranks as 2 pipelines x 2 stages: stages 0 and 1 each form a group of two
# ranks, whose lowest rank (0, 1) reads and the other (2, 3) receives.
#   render: the demo job renders byte-identical to the one-process render;
#           --stats shows ranks 2 and 3 read 0 bytes from files and received
#           exactly what their stage's reader read; --weights each reads
#           everything on every rank and renders the same images, as does
#           the default, auto, on one host (the page cache shares reads).
#   errors: a truncated UNet file (every rank fails opening it) and a UNet
#           weight renamed away (only the last stage's group needs it) end
#           the job with exit 2 and an error naming the file (and the key),
#           well inside the timeout: no rank is left blocked in a broadcast.
# Usage: weights_shared_test.sh FARM MODEL PROMPTS CONFIG REF_DIR WORK_DIR render|errors
set -uo pipefail
farm=$1 model=$2 prompts=$3 config=$4 ref=$5 work=$6 mode=$7
rm -rf "$work" && mkdir -p "$work"
export OMP_NUM_THREADS=1
mpi=(mpirun --oversubscribe -np 4)
[[ $(id -u) == 0 ]] && mpi+=(--allow-run-as-root)
layout=(--pipelines 2 --stages 2 --progress-every 1000)
die() { echo "FAIL: $*"; exit 1; }

# "field" of every rank in a --stats file, in rank order (dump(1) indents a
# rank's own fields by three spaces, nested ones deeper).
per_rank() { grep -E "^   \"$2\": " "$1" | sed -E 's/.*: ([0-9]+),?$/\1/' | tr '\n' ' '; }

same_pngs() {  # out dir
  local n
  n=$(find "$1" -name '*.png' | wc -l)
  [[ $n -gt 0 && $n == $(find "$ref" -name '*.png' | wc -l) ]] || die "$1: $n images, the reference has another count"
  for f in "$ref"/*.png; do cmp -s "$f" "$1/$(basename "$f")" || die "$1/$(basename "$f") differs from the one-process render"; done
}

if [[ $mode == render ]]; then
  for w in shared each auto; do
    timeout 240 "${mpi[@]}" "$farm" render --model "$model" --prompts "$prompts" --config "$config" \
      --out "$work/$w" "${layout[@]}" --weights "$w" --stats "$work/$w.json" >"$work/$w.log" 2>&1 ||
      { tail -15 "$work/$w.log"; die "--weights $w: the render failed"; }
    same_pngs "$work/$w"
    read -r -a read <<<"$(per_rank "$work/$w.json" weight_bytes_read)"
    read -r -a recv <<<"$(per_rank "$work/$w.json" weight_bytes_received)"
    read -r -a total <<<"$(per_rank "$work/$w.json" weight_bytes)"
    [[ ${#read[@]} == 4 && ${#recv[@]} == 4 && ${#total[@]} == 4 ]] || die "$w.json: no weight counters for 4 ranks"
    echo "--weights $w: read ${read[*]}, received ${recv[*]}, loaded ${total[*]}"
    grep -q "farm: weights (--weights $w)" "$work/$w.log" || die "no weight summary line for --weights $w"
    for r in 0 1 2 3; do
      ((read[r] + recv[r] == total[r])) || die "rank $r: read + received is not what it loaded"
    done
    for r in 0 1; do
      ((total[r] > 0 && total[r] == total[r + 2])) || die "ranks $r and $((r + 2)) (stage $r) loaded different bytes"
      if [[ $w == shared ]]; then
        ((read[r] == total[r] && recv[r] == 0)) || die "rank $r, its stage's reader, did not read all its weights"
        ((read[r + 2] == 0 && recv[r + 2] == read[r])) ||
          die "rank $((r + 2)) read ${read[r + 2]} bytes and received ${recv[r + 2]}; its reader read ${read[r]}"
      else
        ((read[r + 2] == total[r] && recv[r + 2] == 0)) || die "--weights each: rank $((r + 2)) did not read its own"
      fi
    done
  done
  echo "OK: shared and each render byte-identical images; with shared, ranks 2 and 3 read nothing from files"
  exit 0
fi

printf '{"prompt": "a red circle", "seed": 1}\n' >"$work/one.jsonl"
expect_error() {  # name, needle (regex), model folder
  local t0 code
  t0=$(date +%s)
  timeout 120 "${mpi[@]}" "$farm" render --model "$3" --prompts "$work/one.jsonl" --config "$config" \
    --out "$work/out_$1" "${layout[@]}" --weights shared >"$work/$1.log" 2>&1
  code=$?
  [[ $code != 124 ]] || { tail -8 "$work/$1.log"; die "$1: still running after 120 s (a rank blocked?)"; }
  [[ $code == 2 ]] || { tail -8 "$work/$1.log"; die "$1: exit $code, expected 2"; }
  grep -Eq "$2" "$work/$1.log" || { tail -8 "$work/$1.log"; die "$1: no error matching $2"; }
  ! find "$work/out_$1" -name '*.png' 2>/dev/null | grep -q . || die "$1: images written"
  echo "ok $1 (exit 2 in $(($(date +%s) - t0)) s): $(grep -m1 -E "$2" "$work/$1.log" | head -c 240)"
}

cp -r "$model" "$work/truncated"
unet=$(ls "$work"/truncated/unet/*.safetensors | head -1)
truncate -s $(($(stat -c %s "$unet") * 2 / 3)) "$unet"
expect_error truncated "rank [0-9] \(host [^)]*\): $unet: .*truncated" "$work/truncated"

# The same length of header, so the file stays valid; the last stage's
# conv_out.weight is gone, ranks 1 and 3 fail, ranks 0 and 2 load and wait.
cp -r "$model" "$work/renamed"
unet=$(ls "$work"/renamed/unet/*.safetensors | head -1)
perl -0777 -pi -e 's/"conv_out\.weight"/"conv_out\.weighX"/' "$unet"
grep -q 'conv_out.weighX' "$unet" || die "could not rename conv_out.weight in $unet"
expect_error renamed "$unet: missing weight 'conv_out.weight'" "$work/renamed"
grep -q "rank 1 (host" "$work/renamed.log" && grep -q "rank 3 (host" "$work/renamed.log" ||
  die "renamed: the error does not name ranks 1 and 3, the last stage's"
! grep -Eq "rank [02] \(host" "$work/renamed.log" || die "renamed: ranks 0 or 2 (stage 0) failed too"
echo "OK: both broken models end the job with exit 2 and the file named"
