#!/usr/bin/env bash
# keynet and PyTorch (Debian's python3-torch) side by side on the CPU, alternating, ROUNDS times, so
# that machine noise hits both alike: the per-op table (3x3 128->128 conv) and the training steps.
# usage: scripts/bench-cpu-compare.sh [ROUNDS] [THREADS]      (expects a build in build/)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
threads=${2:-2}
for round in $(seq 1 "$rounds"); do
  echo "### round $round of $rounds, $(date -u +%H:%M:%S) UTC, load $(cut -d' ' -f1 /proc/loadavg)"
  ./build/bench_cpu --threads "$threads" --reps 5 --part all
  /usr/bin/python3 scripts/bench_torch_cpu.py --threads "$threads" --reps 5 --part all
done
