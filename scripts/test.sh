#!/usr/bin/env bash
# Builds and runs every test: the plain (release) build runs all tests, the
# tsan preset runs the concurrency tests under ThreadSanitizer, and the asan
# preset runs all tests under AddressSanitizer + UndefinedBehaviorSanitizer.
# Ends with ctest's summary of the plain run.
set -euo pipefail
cd "$(dirname "$0")/.."
# The tests start the real prometheus and promtool (Debian's prometheus package).
bash scripts/install-deps.sh prometheus
jobs=$(nproc)

for preset in tsan asan; do
  echo "=== $preset: build"
  cmake --preset "$preset" >/dev/null
  cmake --build --preset "$preset" -j "$jobs"
  echo "=== $preset: test"
  ctest --preset "$preset" -j "$jobs"
done

echo "=== release: build"
cmake --preset release >/dev/null
cmake --build --preset release -j "$jobs"
echo "=== release: test"
ctest --preset release
