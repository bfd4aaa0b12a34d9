#!/usr/bin/env bash
# Sets up if needed (packages, build) and runs the whole suite through ctest.
# Extra arguments go to ctest, e.g. scripts/test.sh -L unit
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
build_dir=${BUILD_DIR:-$here/build}

"$here/scripts/bootstrap.sh"
cd "$build_dir"
ctest --output-on-failure -j"$(nproc)" "$@"
