#!/usr/bin/env bash
# Sets up if needed (packages, builds) and runs the whole suite through ctest,
# in three steps:
#
#   1. main   build/       unit + integration tests. Extra arguments go to this
#                          ctest, e.g. scripts/test.sh -L unit
#   2. asan   build-asan/  the same suite built with RTMPD_SANITIZE (ASan +
#                          UBSan, no recovery; clang) and run with
#                          LeakSanitizer on: any error, or a leak at exit of a
#                          test program or of rtmpd, fails the test
#   3. fuzz   build-fuzz/  libFuzzer harnesses (clang): replay the committed
#                          corpora and regression inputs, then fuzz each
#                          harness for RTMPD_FUZZ_SECONDS (default 30)
#
#   RTMPD_TEST_STEPS="main asan fuzz"   the steps to run (default all three)
#   RTMPD_FUZZ_SECONDS=30               fuzzing time per harness in step 3
#   BUILD_DIR=dir                       the main build tree (default build/)
#
# Every step runs even if an earlier one failed; the exit status is non-zero
# if any did. Step 2 shares the test media cache with step 1 (build/media).
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
build_dir=${BUILD_DIR:-$here/build}
asan_dir=$here/build-asan
fuzz_dir=$here/build-fuzz
steps=${RTMPD_TEST_STEPS:-main asan fuzz}
fuzz_seconds=${RTMPD_FUZZ_SECONDS:-30}
jobs=$(nproc)

declare -a summary=()
failed=0

banner() {
  printf '\n==== test.sh: %s ====\n' "$*"
}

# Runs one step ("$name" then the command); records its outcome.
record() {
  local name=$1 start=$SECONDS rc=0
  shift
  "$@" || rc=$?
  if ((rc == 0)); then
    summary+=("$(printf '%-5s ok     %4ds' "$name" $((SECONDS - start)))")
  else
    summary+=("$(printf '%-5s FAILED %4ds (status %d)' "$name" $((SECONDS - start)) "$rc")")
    failed=1
  fi
}

want() {
  [[ " $steps " == *" $1 "* ]]
}

# The steps run where `set -e` does not apply (inside `||`): every command
# that can fail ends in `|| return`.
step_main() {
  banner "1/3 main suite: build ($build_dir)"
  "$here/scripts/bootstrap.sh" || return
  banner "1/3 main suite: ctest ${*:-(all)}"
  (cd "$build_dir" && ctest --output-on-failure -j"$jobs" "$@")
}

step_asan() {
  banner "2/3 sanitizer suite: build ($asan_dir, RTMPD_SANITIZE=ON, clang)"
  # clang: gcc 12 with -fsanitize=address warns -Wformat-truncation in
  # src/config.c, which -Werror turns into a build failure.
  BUILD_DIR=$asan_dir CMAKE_ARGS="-DRTMPD_SANITIZE=ON -DCMAKE_C_COMPILER=clang" \
    "$here/scripts/bootstrap.sh" || return
  # Share the encoded test media with the main tree instead of encoding it twice.
  mkdir -p "$build_dir/media" || return
  [ -e "$asan_dir/media" ] || ln -s "$build_dir/media" "$asan_dir/media" || return
  banner "2/3 sanitizer suite: ctest (ASan + UBSan + LeakSanitizer)"
  # Tests that bound rtmpd's RSS (they call rss_kib()) run with a 1 MB ASan
  # quarantine: the default 256 MB keeps freed frames resident. All others
  # get the full quarantine. RTMPD_SANITIZED=1 tells tests that they run
  # under the sanitizers (slower, more memory).
  local rss rc=0
  local san_env=(UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 RTMPD_SANITIZED=1)
  local asan=ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
  rss=$(grep -l 'rss_kib(' "$here"/tests/integration/test_*.py 2>/dev/null |
        xargs -r -n1 basename | sed 's/\.py$//' | paste -sd'|')
  (cd "$asan_dir" && env "${san_env[@]}" "$asan" \
     ctest --output-on-failure -j"$jobs" ${rss:+-E "^integration\.($rss)\$"}) || rc=$?
  if [ -n "$rss" ]; then
    (cd "$asan_dir" && env "${san_env[@]}" "$asan:quarantine_size_mb=1" \
       ctest --output-on-failure -j"$jobs" -R "^integration\.($rss)\$") || rc=$?
  fi
  return $rc
}

step_fuzz() {
  banner "3/3 fuzz: build ($fuzz_dir, clang, libFuzzer)"
  "$here/scripts/bootstrap.sh" --deps || return
  CC=clang cmake -S "$here" -B "$fuzz_dir" -DRTMPD_FUZZ=ON -DRTMPD_TESTS=OFF \
        -DRTMPD_FUZZ_SECONDS="$fuzz_seconds" >/dev/null || return
  cmake --build "$fuzz_dir" --target fuzz -j"$jobs" || return
  banner "3/3 fuzz: replay corpora, then ${fuzz_seconds}s per harness"
  (cd "$fuzz_dir" && ctest --output-on-failure -j"$jobs" -L fuzz)
}

want main && record main step_main "$@"
want asan && record asan step_asan
want fuzz && record fuzz step_fuzz

banner "summary"
printf '%s\n' "${summary[@]}"
exit $failed
