#!/usr/bin/env bash
# Reproduces RESULTS.md's parts 1 and 2: the nose-tip and 58-point recipes trained with seeds 0, 1 and
# 2 on persons 1-32 and measured once on persons 33-40 (the model at the end of training), the
# nose-tip sweep on the dev split, and each run's wall time. Run folders go to OUT (default
# runs/reproduce); the seed-0 models are the ones shipped in models/.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-runs/reproduce}
mkdir -p "$out"
for app in nose_tip face_points; do
  for seed in 0 1 2; do
    start=$(date +%s.%N)
    ./build/$app train --seed "$seed" --out "$out/${app}_s$seed" 2> "$out/${app}_s$seed.log"
    echo "$app seed $seed: $(echo "$(date +%s.%N) - $start" | bc) s wall"
  done
done
./build/nose_tip sweep --out "$out/nose_tip_sweep" 2> "$out/nose_tip_sweep.log"
