#!/usr/bin/env bash
# Builds and runs every test: the tsan preset builds and runs the concurrency
# tests under ThreadSanitizer, the asan preset the rest under AddressSanitizer
# + UndefinedBehaviorSanitizer (each builds only those binaries), the clang
# preset checks the lock annotations (-Wthread-safety) of the libraries and
# the canopy binary, and the plain (release) build runs all the tests plus the
# end-to-end test against a real Prometheus.
# The end-to-end test mostly waits for alerts to fire and resolve, so it runs
# in the background from the start, beside the sanitizer builds; everything
# else runs at a lower priority (nice) so it keeps its timing. Ends with
# ctest's summary of the plain run; prints when each phase starts.
set -euo pipefail
cd "$(dirname "$0")/.."
# The tests start the real prometheus and promtool (Debian's prometheus
# package); the end-to-end test is a python3 script (standard library only);
# clang checks the lock annotations; the observer tests drive Debian's chromium
# through chromium-driver and `canopy top` inside tmux.
bash scripts/install-deps.sh prometheus victoria-metrics python3 openssl clang chromium chromium-driver tmux
jobs=$(nproc)
started=$SECONDS
phase() {
  echo "=== $1 (at $((SECONDS - started)) s)"
}
low() {
  nice -n 10 "$@"
}

phase "release: build the canopy server"
cmake --preset release -DCANOPY_BUILD_TESTS=ON >/dev/null
low cmake --build --preset release -j "$jobs" --target canopy

phase "release: end-to-end test, in the background"
e2e_log=build/release/e2e.log
# Its own process group, so that an early exit of this script stops it too.
setsid ctest --preset release -L e2e >"$e2e_log" 2>&1 &
e2e_pid=$!
trap 'kill -- -"$e2e_pid" 2>/dev/null || true' EXIT

for preset in tsan asan; do
  phase "$preset: build"
  cmake --preset "$preset" -DCANOPY_BUILD_TESTS=ON >/dev/null
  low cmake --build --preset "$preset" -j "$jobs"
  phase "$preset: test"
  low ctest --preset "$preset" -j "$jobs"
done

phase "clang: lock annotations"
cmake --preset clang >/dev/null
low cmake --build --preset clang -j "$jobs"

phase "release: build"
low cmake --build --preset release -j "$jobs"

phase "release: end-to-end test (waiting for it)"
e2e_rc=0
wait "$e2e_pid" || e2e_rc=$?
trap - EXIT
cat "$e2e_log"
if [ "$e2e_rc" -ne 0 ]; then
  echo "the end-to-end test failed (exit code $e2e_rc)"
  exit 1
fi

phase "release: test (all but the end-to-end test, which passed above)"
ctest --preset release -j "$jobs" -LE e2e
