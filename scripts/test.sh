#!/usr/bin/env bash
# Builds and runs every test: the tsan preset builds and runs the concurrency
# tests under ThreadSanitizer, the asan preset the rest under AddressSanitizer
# + UndefinedBehaviorSanitizer (each builds only those binaries), and the
# plain (release) build runs all of them plus the end-to-end test against a
# real Prometheus. Ends with ctest's summary of the plain run.
set -euo pipefail
cd "$(dirname "$0")/.."
# The tests start the real prometheus and promtool (Debian's prometheus
# package); the end-to-end test is a python3 script (standard library only).
bash scripts/install-deps.sh prometheus python3 openssl
jobs=$(nproc)

for preset in tsan asan; do
  echo "=== $preset: build"
  cmake --preset "$preset" -DCANOPY_BUILD_TESTS=ON >/dev/null
  cmake --build --preset "$preset" -j "$jobs"
  echo "=== $preset: test"
  ctest --preset "$preset" -j "$jobs"
done

echo "=== release: build"
cmake --preset release -DCANOPY_BUILD_TESTS=ON >/dev/null
cmake --build --preset release -j "$jobs"
echo "=== release: test"
ctest --preset release
