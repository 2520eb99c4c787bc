#!/usr/bin/env bash
# The main job at this stage of keynet: build, then time every op and a training step of the three
# reference networks on the CPU (apps/bench_cpu). Arguments go to bench_cpu.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
./build/bench_cpu "$@"
