#!/usr/bin/env bash
# keynet and PyTorch (Debian's python3-torch) side by side on the CPU, alternating, ROUNDS times, so
# that machine noise hits both alike: the per-op table (3x3 128->128 conv) and the training steps.
# CLOCK is wall (default) or cpu (process CPU time, for one thread). With BEFORE set to another build's
# bench_cpu (an older commit's), each round runs it too, between keynet and PyTorch: a before/after in
# one run. Then each runs the ResNet18 step alone, for its peak memory. scripts/bench_cpu_summary.py turns
# the log into the tables of BENCHMARKS.md.
# usage: [BEFORE=path/to/bench_cpu] scripts/bench-cpu-compare.sh [ROUNDS] [THREADS] [CLOCK]   (expects build/)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
threads=${2:-2}
clock=${3:-wall}
for round in $(seq 1 "$rounds"); do
  echo "### round $round of $rounds, $(date -u +%H:%M:%S) UTC, load $(cut -d' ' -f1 /proc/loadavg)"
  echo "#### keynet"
  ./build/bench_cpu --threads "$threads" --reps 5 --part all --clock "$clock"
  if [ -n "${BEFORE:-}" ]; then
    echo "#### before"
    "$BEFORE" --threads "$threads" --reps 5 --part all --clock "$clock"
  fi
  echo "#### pytorch"
  /usr/bin/python3 scripts/bench_torch_cpu.py --threads "$threads" --reps 5 --part all --clock "$clock"
  # peak memory of the ResNet18 step, each in a process of its own
  echo "#### keynet-alone"
  ./build/bench_cpu --threads "$threads" --reps 2 --part nets --net resnet18
  if [ -n "${BEFORE:-}" ]; then
    echo "#### before-alone"
    "$BEFORE" --threads "$threads" --reps 2 --part nets --net resnet18
  fi
  echo "#### pytorch-alone"
  /usr/bin/python3 scripts/bench_torch_cpu.py --threads "$threads" --reps 2 --part nets --net resnet18
done
