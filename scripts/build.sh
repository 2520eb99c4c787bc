#!/usr/bin/env bash
# Configures and builds keynet into build/ (extra arguments go to cmake, e.g. -DKEYNET_CUDA=OFF).
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release "$@" > build-configure.log || { cat build-configure.log; exit 1; }
grep -A8 "keynet configuration" build-configure.log || true
cmake --build build -j "$(nproc)"
