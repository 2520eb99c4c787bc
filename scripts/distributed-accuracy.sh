#!/usr/bin/env bash
# Does data-parallel training reach one process's accuracy (issue 26)? nose_tip with seeds 0-2 and one
# part 3 run of --epochs 20, each on 1 process and on N ranks (mpirun, the same global batch), one
# training at a time, alternating. Prints each run's final validation metric and training time, then
# the nose_tip ranges and medians. Run folders go under OUT (kept, for their logs and figures).
#   [KEYNET_BIN=DIR] scripts/distributed-accuracy.sh OUT [ranks=2]      (needs a build with KEYNET_MPI=ON; about 1.5 h here)
set -euo pipefail
out=${1:?usage: distributed-accuracy.sh OUT [ranks]}
ranks=${2:-2}
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${KEYNET_BIN:-$root/build}  # where the apps are: a copy keeps them fixed while the tree is rebuilt
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mkdir -p "$out"

# train NAME APP [flags...] on one process, then on the ranks; prints "NAME one|ranks metric seconds"
train() {
  local name=$1 app=$2; shift 2
  for side in one ranks; do
    local dir=$out/$name-$side launcher=()
    [ "$side" = ranks ] && launcher=(mpirun -np "$ranks")
    if [ ! -f "$dir/metrics.json" ]; then
      rm -rf "$dir"
      "${launcher[@]}" "$bin/$app" train --out "$dir" "$@" > "$dir.log" 2>&1 || { tail "$dir.log" >&2; exit 1; }
    fi
    echo "$name $side $(jq -r '.validation | (.mse_normalized // .nme_percent)' "$dir/metrics.json") $(jq -r .train_seconds "$dir/metrics.json")"
  done
}

{
  for seed in 0 1 2; do train "nose_tip-seed$seed" nose_tip --seed "$seed"; done
  train ibug_landmarks-20epochs ibug_landmarks --epochs 20
} | tee "$out/results.txt"
awk '/^nose_tip/ {v[$2] = v[$2] " " $3} END {for (s in v) print "nose_tip " s ":" v[s]}' "$out/results.txt"
