#!/usr/bin/env bash
# Data-parallel training on this machine's cores: one epoch of part 3 (ibug_landmarks train, global
# batch 16) on 2 ranks x 1 thread against 1 process x 2 threads, in alternating rounds; prints each
# run's training images per second (the progress line's, validation excluded) and the seconds rank 0
# spent summing gradients, then the medians. BENCHMARKS.md ("Data-parallel training") quotes it.
#
#   bash scripts/bench-distributed.sh [ROUNDS]      default 3; needs ../shared/data (or KEYNET_DATA)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
work=$(mktemp -d /tmp/keynet-bench-distributed.XXXXXX)
trap 'rm -rf "$work"' EXIT
run() {  # NAME COMMAND...: one epoch; prints NAME, training images/s (rank 0's progress, all ranks' images)
  local name=$1; shift  # and the seconds rank 0 spent summing gradients
  rm -rf "$work/run"
  "$@" train --epochs 1 --out "$work/run" > "$work/log" 2>&1 || { cat "$work/log"; exit 1; }
  local rate summing
  rate=$(grep -o '[0-9.]* img/s' "$work/log" | tail -1 | cut -d' ' -f1)
  summing=$(sed -n 's/.*summing the gradients took \([0-9.]*\) s.*/\1/p' "$work/log")
  echo "$name $rate ${summing:-0}"
}
echo "config images_per_second allreduce_seconds"
for round in $(seq "$rounds"); do
  run "1x2" env KEYNET_THREADS=2 ./build/ibug_landmarks
  run "2x1" mpirun -np 2 --oversubscribe -x KEYNET_THREADS=1 ./build/ibug_landmarks
done | tee "$work/rows"
for config in 1x2 2x1; do
  awk -v c="$config" '$1 == c { print $2 }' "$work/rows" | sort -n |
    awk -v c="$config" '{ v[NR] = $1 } END { printf "median %s: %.2f images/s\n", c, v[int((NR + 1) / 2)] }'
done
