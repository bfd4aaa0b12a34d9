#!/usr/bin/env bash
# Source coverage of the protocol modules reached by the fuzz inputs: the
# committed corpus, the regression inputs and what scripts/fuzz.sh found
# (build-fuzz/fuzz-scratch/). Builds the harnesses with clang's source-based
# coverage in build-fuzz-cov/, replays the inputs once, prints llvm-cov's
# report for the module each harness targets.
#
#   tests/fuzz/coverage.sh [HARNESS...]      harnesses: handshake chunk amf flv session http
#   COV_SHOW=1   also print the source with unexecuted lines marked
set -euo pipefail

here=$(cd "$(dirname "$0")/../.." && pwd)
out=$here/build-fuzz-cov
scratch=${FUZZ_BUILD_DIR:-$here/build-fuzz}/fuzz-scratch
harnesses=("$@")
((${#harnesses[@]})) || harnesses=(handshake chunk amf flv session http)
declare -A module=([handshake]=handshake [chunk]=chunk [amf]=amf [flv]=flv)

flags="-fprofile-instr-generate -fcoverage-mapping"
CC=clang cmake -S "$here" -B "$out" -DRTMPD_FUZZ=ON -DRTMPD_TESTS=OFF \
      -DCMAKE_C_FLAGS="$flags" -DCMAKE_EXE_LINKER_FLAGS="$flags" >/dev/null
cmake --build "$out" --target fuzz -j"$(nproc)" >/dev/null
mkdir -p "$out/profiles"

for h in "${harnesses[@]}"; do
  dirs=("$here/tests/fuzz/corpus/$h" "$here/tests/fuzz/regressions/$h")
  [ -d "$scratch/$h" ] && dirs+=("$scratch/$h")
  rm -f "$out/profiles/$h".*
  LLVM_PROFILE_FILE="$out/profiles/$h.profraw" ASAN_OPTIONS=detect_leaks=0 \
    "$out/fuzz_$h" -runs=0 -rss_limit_mb=4096 "${dirs[@]}" >/dev/null 2>&1
  llvm-profdata merge -sparse "$out/profiles/$h.profraw" -o "$out/profiles/$h.profdata"
  echo "== fuzz_$h: src/${module[$h]}.c"
  llvm-cov report "$out/fuzz_$h" -instr-profile="$out/profiles/$h.profdata" \
    "$here/src/${module[$h]}.c" | sed -n '1,3p;$p'
  if [ "${COV_SHOW:-0}" = 1 ]; then
    llvm-cov show "$out/fuzz_$h" -instr-profile="$out/profiles/$h.profdata" \
      -show-line-counts-or-regions "$here/src/${module[$h]}.c" | grep -E '^ +[0-9]+\| +0\|' || true
  fi
done
