#!/usr/bin/env bash
# Builds the release preset and runs the main job. Until the canopy server
# exists (a later issue), the main job is the ring benchmark: it prints one
# `bench=ring impl=canopy ...` line.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake --preset release -DCANOPY_BUILD_TESTS=OFF
cmake --build --preset release --target canopy-bench
exec build/release/bench/canopy-bench ring "$@"
