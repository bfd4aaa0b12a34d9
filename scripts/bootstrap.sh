#!/usr/bin/env bash
# Installs rtmpd's build and test dependencies from Debian's packages (only
# those missing), then configures and builds into build/.
#
#   scripts/bootstrap.sh            packages + build
#   scripts/bootstrap.sh --deps     packages only
#   BUILD_DIR=dir CMAKE_ARGS=...    another build directory / extra options
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
build_dir=${BUILD_DIR:-$here/build}

packages=(
  build-essential cmake pkg-config
  libev-dev libssl-dev zlib1g-dev libconfig-dev libhttp-parser-dev libjansson-dev libsystemd-dev
  libcmocka-dev
  clang libclang-rt-14-dev
  ffmpeg rtmpdump iproute2 procps python3 curl
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]})); then
  echo "bootstrap: installing ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

[ "${1:-}" = "--deps" ] && exit 0

cmake -S "$here" -B "$build_dir" ${CMAKE_ARGS:-} >/dev/null
cmake --build "$build_dir" -j"$(nproc)"
