#!/usr/bin/env bash
# Does data-parallel training reach one process's accuracy (issue 26)? nose_tip with seeds $SEEDS (default
# 0-9) on --split fold1 (validating on persons 1-8, so that the held-out persons 33-40 are not measured), with
# BatchNorm (bn4, the default) and without (course), and part 3 runs of --epochs 20 with seeds $PART3_SEEDS
# (default 0 1), each on 1 process and on N ranks (mpirun, the same global batch), one training at a time,
# alternating. Prints each run's final validation metric (nose_tip: the course's MSE; part 3: NME %) and
# training seconds, then scripts/distributed_accuracy_summary.py's medians and tests. Run folders go under
# OUT (kept, for their logs and figures; a run whose metrics.json exists is not run again). SYNC_BATCH_NORM=1
# trains the ranks with --sync-batch-norm (the global batch's BatchNorm statistics, as one process has them).
#   [KEYNET_BIN=DIR] [SEEDS="0 1 2"] [PART3_SEEDS="0"] [SYNC_BATCH_NORM=1] scripts/distributed-accuracy.sh OUT [ranks=2]
# (an empty SEEDS= or PART3_SEEDS= skips that part)
# (needs KEYNET_MPI; about a minute per nose_tip run and 15 minutes per part 3 run on 2 quiet cores)
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
    local dir=$out/$name-$side launcher=() sync=()
    if [ "$side" = ranks ]; then
      launcher=(mpirun -np "$ranks")
      if [ "${SYNC_BATCH_NORM:-0}" = 1 ]; then sync=(--sync-batch-norm); fi
    fi
    if [ ! -f "$dir/metrics.json" ]; then
      rm -rf "$dir"
      "${launcher[@]}" "$bin/$app" train --out "$dir" "$@" "${sync[@]}" > "$dir.log" 2>&1 || { tail "$dir.log" >&2; exit 1; }
    fi
    echo "$name $side $(jq -r '.validation | (.mse_normalized // .nme_percent)' "$dir/metrics.json") $(jq -r .train_seconds "$dir/metrics.json")"
  done
}

for seed in ${SEEDS-0 1 2 3 4 5 6 7 8 9}; do
  for arch in bn4 course; do train "nose_tip-fold1-$arch-seed$seed" nose_tip --split fold1 --arch "$arch" --seed "$seed"; done
done | tee "$out/results.txt"
for seed in ${PART3_SEEDS-0 1}; do
  train "ibug_landmarks-20epochs-seed$seed" ibug_landmarks --epochs 20 --seed "$seed"
done | tee -a "$out/results.txt"
python3 "$root/scripts/distributed_accuracy_summary.py" "$out" | tee -a "$out/results.txt"
