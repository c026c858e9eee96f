#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan + UBSan) in build-fuzz and runs
# each for a bounded time from its committed seed corpus; fails when any target
# finds a crash, a sanitizer report, an uncaught non-farm::Error exception, a
# hang (-timeout) or a blow-up in memory (-rss_limit_mb).
#   bash fuzz/run.sh [seconds-per-target]     (default 30)
# Environment: FARM_FUZZ_TARGETS (space-separated subset), FARM_FUZZ_JOBS
# (build parallelism; default nproc).
# New inputs a run finds go to build-fuzz/corpus/<target>/ (kept between local
# runs, never committed); findings go to build-fuzz/findings/<target>/.
set -uo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-30}
build=build-fuzz
# The fuzz step's own packages (not every user's build needs clang): installed
# when missing, as launcher/setup.sh does for the build's. libFuzzer and the
# sanitizer runtimes are in libclang-rt-14-dev, which clang only recommends.
missing=()
for p in clang libclang-rt-14-dev; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "fuzz: installing ${missing[*]}"
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq &&
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}" ||
    { echo "fuzz: cannot install ${missing[*]}; libFuzzer needs clang" >&2; exit 2; }
fi

start=$(date +%s)
cmake -S . -B "$build" -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DFARM_FUZZ=ON \
      -DFARM_TESTS=OFF -DFARM_BENCHMARKS=OFF -DFARM_MPI=OFF -DFARM_CUDA=OFF \
      -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -gline-tables-only" \
      "-DCMAKE_C_FLAGS_RELWITHDEBINFO=-O1 -gline-tables-only" >/dev/null &&
  cmake --build "$build" --target fuzz_targets -j "${FARM_FUZZ_JOBS:-$(nproc)}" >"$build/fuzz_build.log" 2>&1
status=$?
echo "fuzz: build: exit status ${status} after $(( $(date +%s) - start )) s (log: $build/fuzz_build.log)"
if [ "${status}" -ne 0 ]; then
  tail -n 40 "$build/fuzz_build.log"
  exit "${status}"
fi

# A UBSan report names the whole call chain (the first one to the parser).
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
# The targets' input files (fuzz_support.h): a crashed target leaves its folder here, not in /tmp.
export TMPDIR="$PWD/$build/tmp"
rm -rf "$TMPDIR" && mkdir -p "$TMPDIR"
targets=${FARM_FUZZ_TARGETS:-$(cd fuzz && ls fuzz_*.cpp | sed 's/\.cpp$//')}
failed=()
for target in ${targets}; do
  name=${target#fuzz_}
  mkdir -p "$build/corpus/$name" "$build/findings/$name"
  # The first folder takes what this run finds; the committed seeds are read only.
  # -timeout: one input past 10 s is a hang; -rss_limit_mb: 2 GiB is a leak or a blow-up.
  "$build/fuzz/$target" -max_total_time="${seconds}" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
      -artifact_prefix="$build/findings/$name/" "$build/corpus/$name" "fuzz/corpus/$name" \
      >"$build/findings/$name/log.txt" 2>&1
  rc=$?
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$build/findings/$name/log.txt")
  echo "fuzz: ${target}: exit status ${rc}, ${runs:-?} inputs in ${seconds} s"
  if [ "${rc}" -ne 0 ]; then
    failed+=("${target}")
    grep -E -m 20 "ERROR|runtime error|SUMMARY|Test unit written|invariant|terminate|what\(\)" \
      "$build/findings/$name/log.txt"
  fi
done
echo "fuzz: ${#failed[@]} target(s) with findings after $(( $(date +%s) - start )) s${failed:+: ${failed[*]}}"
[ "${#failed[@]}" -eq 0 ]
