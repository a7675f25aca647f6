#!/usr/bin/env bash
# Builds and runs every test: the tsan preset builds and runs the concurrency
# tests under ThreadSanitizer, the asan preset the rest under AddressSanitizer
# + UndefinedBehaviorSanitizer (each builds only those binaries), the clang
# preset checks the lock annotations (-Wthread-safety) of the libraries and
# the canopy binary, and the plain (release) build runs all the tests plus the
# end-to-end test against a real Prometheus, in parallel (the end-to-end
# test, the longest, first).
# Ends with ctest's summary of the plain run; prints how long each phase took.
set -euo pipefail
cd "$(dirname "$0")/.."
# The tests start the real prometheus and promtool (Debian's prometheus
# package); the end-to-end test is a python3 script (standard library only).
# clang checks the lock annotations.
bash scripts/install-deps.sh prometheus python3 openssl clang
jobs=$(nproc)
started=$SECONDS
phase() {
  echo "=== $1 (at $((SECONDS - started)) s)"
}

for preset in tsan asan; do
  phase "$preset: build"
  cmake --preset "$preset" -DCANOPY_BUILD_TESTS=ON >/dev/null
  cmake --build --preset "$preset" -j "$jobs"
  phase "$preset: test"
  ctest --preset "$preset" -j "$jobs"
done

phase "clang: lock annotations"
cmake --preset clang >/dev/null
cmake --build --preset clang -j "$jobs"

phase "release: build"
cmake --preset release -DCANOPY_BUILD_TESTS=ON >/dev/null
cmake --build --preset release -j "$jobs"
phase "release: test"
ctest --preset release -j "$jobs"
