#!/usr/bin/env bash
# Builds keynet and runs the default test suite (GPU suites skip themselves without a device).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh "$@"
cd build
ctest --output-on-failure -j 2 --timeout 900
