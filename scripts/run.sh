#!/usr/bin/env bash
# Builds the release preset and runs the main job: the canopy server with
# its demo workload, serving /metrics on 127.0.0.1:9568 (config/canopy.yaml).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake --preset release -DCANOPY_BUILD_TESTS=OFF
cmake --build --preset release --target canopy
exec build/release/app/canopy run --config config/canopy.yaml "$@"
