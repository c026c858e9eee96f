#!/usr/bin/env bash
# Bad input under mpirun: the job stops before any compute with one clear
# error (from rank 0), every rank exits, nothing hangs, no image is written.
# Cases: a malformed prompt line (caught by rank 0 before any rank loads
# weights), a truncated UNet weight file (caught while the stages load their
# shares: the message names each rank that failed and its host), a layout
# that does not fit the rank count. Usage: bad_input_test.sh FARM_BIN MODEL WORKDIR
set -uo pipefail
farm=$1 model=$2 work=$3
rm -rf "$work" && mkdir -p "$work"
mpi=(mpirun --oversubscribe -np 3)
[[ $(id -u) == 0 ]] && mpi+=(--allow-run-as-root)
fails=0
expect() {  # name, needle regex, command...
  local name=$1 needle=$2
  shift 2
  local log code
  log=$(OMP_NUM_THREADS=1 timeout 120 "$@" 2>&1)
  code=$?
  local errors
  errors=$(grep -c "farm: error:" <<<"$log")
  if [[ $code == 0 || $code == 124 ]] || ! grep -Eq "$needle" <<<"$log" || [[ $errors != 1 ]] ||
    find "$work" -name '*.png' | grep -q .; then
    echo "FAIL $name (exit $code, $errors error lines):"
    echo "$log" | tail -8
    fails=$((fails + 1))
  else
    echo "ok   $name: $(grep "farm: error:" <<<"$log" | head -c 200)"
  fi
}
printf '{"prompt": "a red circle", "seed": 1}\n{"prompt": "a blue square", "steps": "many"}\n' >"$work/bad.jsonl"
printf '{"prompt": "a red circle", "seed": 1}\n' >"$work/good.jsonl"
expect malformed_line 'bad.jsonl:2.*steps' "${mpi[@]}" "$farm" render --model "$model" --prompts "$work/bad.jsonl" --out "$work/out1"

cp -r "$model" "$work/model"
unet=$(ls "$work"/model/unet/*.safetensors | head -1)
truncate -s $(($(stat -c %s "$unet") / 2)) "$unet"
expect truncated_weights 'rank [0-9]+ \(host [^)]*\): .*safetensors' \
  "${mpi[@]}" "$farm" render --model "$work/model" --prompts "$work/good.jsonl" --out "$work/out2" --stages 3

expect stages_not_dividing 'stages 2: does not divide the 3 ranks' \
  "${mpi[@]}" "$farm" render --model "$model" --prompts "$work/good.jsonl" --out "$work/out3" --stages 2
echo '{"pipelines": 1}' >"$work/plan.json"
expect bad_plan_file 'plan.json' \
  "${mpi[@]}" "$farm" render --model "$model" --prompts "$work/good.jsonl" --out "$work/out4" --plan "$work/plan.json"
# A flag the model cannot honour is the flag's error (the job defaults), not
# an error of every prompt line that inherits it.
expect bad_flag_default 'job defaults \(the flags\): clip_skip 99' \
  "${mpi[@]}" "$farm" render --model "$model" --prompts "$work/good.jsonl" --out "$work/out5" --clip-skip 99
if grep -q "good.jsonl:1" <<<"$(OMP_NUM_THREADS=1 "$farm" render --model "$model" --prompts "$work/good.jsonl" \
    --out "$work/out6" --clip-skip 99 2>&1)"; then
  echo "FAIL bad_flag_default: the error names the prompt file's line"
  fails=$((fails + 1))
fi
# --help and --version print what was asked and nothing else.
for flag in --help --version; do
  out=$("$farm" $flag 2>&1)
  if [[ $? != 0 ]] || grep -q "running with" <<<"$out" || [[ -z $out ]]; then
    echo "FAIL farm $flag: exit or output: $(head -c 200 <<<"$out")"
    fails=$((fails + 1))
  fi
done
grep -Eq '^farm [0-9]+\.[0-9]+\.[0-9]+' <<<"$("$farm" --version)" || { echo "FAIL farm --version: no version"; fails=$((fails + 1)); }
exit $((fails > 0))
