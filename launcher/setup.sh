#!/usr/bin/env bash
# Installs the Debian packages farm's build needs (when missing), then
# configures and builds. Safe to rerun: it only installs what is absent.
#   bash launcher/setup.sh [build-dir]      (default: build)
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${1:-build}

packages=(build-essential cmake pkg-config
          openmpi-bin libopenmpi-dev libhdf5-dev hdf5-tools libpng-dev zlib1g-dev
          libopenblas-dev nlohmann-json3-dev libcli11-dev libtomlplusplus-dev
          libgtest-dev libgmock-dev libbenchmark-dev libicu-dev)
missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=${FARM_BUILD_TYPE:-Release} ${FARM_CMAKE_ARGS:-}
cmake --build "$build_dir" -j "$(nproc)"
