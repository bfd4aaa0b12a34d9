#!/usr/bin/env bash
# Builds the libFuzzer harnesses (tests/fuzz/, clang, ASan+UBSan) in
# build-fuzz/ and runs each one for SECONDS (default 60) from its committed
# corpus and regression inputs. New inputs go to build-fuzz/fuzz-scratch/,
# crashes to build-fuzz/fuzz-artifacts/; the committed corpus is only read.
#
#   scripts/fuzz.sh [SECONDS] [HARNESS...]     harnesses: handshake chunk amf flv session http
#                                              (default: all of tests/fuzz/fuzz.cmake's)
#
#   FUZZ_JOBS=2          harnesses run at once (default 1; the machine is shared)
#   FUZZ_BUILD_DIR=dir   another build tree (default build-fuzz)
#
# Prints, per harness: runs, coverage (cov and ft of libFuzzer's last status
# line), corpus size, and the crash file if any. Exits 1 on a crash, a
# timeout (-timeout=10 s per input) or an out-of-memory (-rss_limit_mb=2048).
# Reproduce a crash with: build-fuzz/fuzz_<harness> <crash file>
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
build_dir=${FUZZ_BUILD_DIR:-$here/build-fuzz}
seconds=${1:-60}
[ $# -gt 0 ] && shift
harnesses=("$@")
jobs=${FUZZ_JOBS:-1}

# The harnesses and each one's largest input come from tests/fuzz/fuzz.cmake
# (RTMPD_FUZZ_HARNESSES, rtmpd_fuzz_max_len_<harness>), which ctest uses too.
cmake_file=$here/tests/fuzz/fuzz.cmake
if ! ((${#harnesses[@]})); then
  read -r -a harnesses <<<"$(sed -nE 's/^set\(RTMPD_FUZZ_HARNESSES (.*)\)$/\1/p' "$cmake_file")"
  ((${#harnesses[@]})) || { echo "fuzz.sh: no RTMPD_FUZZ_HARNESSES in $cmake_file" >&2; exit 2; }
fi
declare -A max_len=()
for h in "${harnesses[@]}"; do
  max_len[$h]=""
  [[ $h =~ ^[a-z0-9_]+$ ]] &&
    max_len[$h]=$(sed -nE "s/^set\(rtmpd_fuzz_max_len_$h ([0-9]+)\)$/\1/p" "$cmake_file")
  [ -n "${max_len[$h]}" ] || { echo "fuzz.sh: unknown harness $h" >&2; exit 2; }
done

"$here/scripts/bootstrap.sh" --deps
echo "fuzz.sh: building harnesses in $build_dir"
CC=clang cmake -S "$here" -B "$build_dir" -DRTMPD_FUZZ=ON -DRTMPD_TESTS=OFF >/dev/null
cmake --build "$build_dir" --target fuzz -j"$(nproc)" >/dev/null

export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

run_one() {
  local h=$1
  local scratch=$build_dir/fuzz-scratch/$h artifacts=$build_dir/fuzz-artifacts/$h
  local log=$build_dir/fuzz-logs/$h.log
  mkdir -p "$scratch" "$artifacts" "$(dirname "$log")" \
           "$here/tests/fuzz/corpus/$h" "$here/tests/fuzz/regressions/$h"
  "$build_dir/fuzz_$h" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 \
      -max_len="${max_len[$h]}" -print_final_stats=1 -artifact_prefix="$artifacts/" \
      "$scratch" "$here/tests/fuzz/corpus/$h" "$here/tests/fuzz/regressions/$h" \
      >"$log" 2>&1 || true
}

report() {
  local h=$1
  local log=$build_dir/fuzz-logs/$h.log status last runs cov ft corp crash
  last=$(grep -E '^#[0-9]+' "$log" | grep 'cov:' | tail -1 || true)
  runs=$(grep -oE 'stat::number_of_executed_units: [0-9]+' "$log" | grep -oE '[0-9]+$' || true)
  [ -n "$runs" ] || runs=$(sed -nE 's/^#([0-9]+).*/\1/p' <<<"$last")
  cov=$(grep -oE 'cov: [0-9]+' <<<"$last" | grep -oE '[0-9]+' || true)
  ft=$(grep -oE 'ft: [0-9]+' <<<"$last" | grep -oE '[0-9]+' || true)
  corp=$(grep -oE 'corp: [0-9]+/[0-9A-Za-z]+' <<<"$last" | cut -d' ' -f2 || true)
  crash=$(sed -nE 's/.*Test unit written to (.*)$/\1/p' "$log" | tail -1)
  status=ok
  if [ -n "$crash" ] || grep -qE 'ERROR: libFuzzer|ERROR: AddressSanitizer|runtime error|invariant failed' "$log"; then
    status=FAIL
  fi
  printf '%-10s %-4s runs %-10s cov %-5s ft %-6s corpus %-12s %s\n' \
         "$h" "$status" "${runs:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}" "${crash:+crash: $crash}"
  if [ "$status" = FAIL ]; then
    grep -m5 -E 'invariant failed|ERROR:|runtime error|SUMMARY' "$log" | sed 's/^/    /'
    echo "    log: $log"
    return 1
  fi
}

echo "fuzz.sh: ${#harnesses[@]} harness(es), ${seconds}s each, $jobs at a time"
running=0
for h in "${harnesses[@]}"; do
  run_one "$h" &
  running=$((running + 1))
  if ((running >= jobs)); then
    wait -n
    running=$((running - 1))
  fi
done
wait

failed=0
for h in "${harnesses[@]}"; do
  report "$h" || failed=1
done
exit $failed
