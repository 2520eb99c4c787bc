#!/usr/bin/env bash
# Data-parallel throughput on one machine (issue 26's bar): one part 3 training epoch on 1 process with
# all the cores' threads against N ranks under mpirun with cores/N threads each, the same global batch,
# in alternating rounds. Prints each run's training images per second (validation excluded, from the
# epoch line) and the share of rank 0's training time spent summing gradients, then the medians.
#   scripts/bench-distributed.sh [rounds=3] [ranks=2]      (needs a build with KEYNET_MPI=ON)
set -euo pipefail
rounds=${1:-3}
ranks=${2:-2}
root=$(cd "$(dirname "$0")/.." && pwd)
app=$root/build/ibug_landmarks
cores=$(nproc)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

# Runs one epoch; prints "<img/s> <summing %>" (the share is "-" on one process).
epoch() {
  local log=$work/log out=$work/run
  rm -rf "$out"
  "$@" train --epochs 1 --out "$out" > "$log" 2>&1 || { cat "$log" >&2; exit 1; }
  local rate share
  rate=$(sed -n 's/.*training \([0-9.]*\) img\/s.*/\1/p' "$log" | tail -1)
  share=$(sed -n 's/.*summing the gradients took .*(\([0-9.]*\)%)$/\1/p' "$log" | tail -1)
  echo "$rate ${share:--}"
}

median() { sort -g | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2}'; }

one=() many=() shares=()
for round in $(seq "$rounds"); do
  read -r rate _ < <(KEYNET_THREADS=$cores epoch "$app")
  one+=("$rate")
  read -r rate share < <(KEYNET_THREADS=$((cores / ranks)) epoch mpirun -np "$ranks" -x KEYNET_THREADS "$app")
  many+=("$rate") shares+=("$share")
  echo "round $round: 1 process x $cores threads ${one[-1]} img/s; $ranks ranks x $((cores / ranks)) threads" \
       "$rate img/s, summing gradients $share% of rank 0's training time"
done
m1=$(printf '%s\n' "${one[@]}" | median)
mn=$(printf '%s\n' "${many[@]}" | median)
ms=$(printf '%s\n' "${shares[@]}" | median)
echo "median: 1 process $m1 img/s, $ranks ranks $mn img/s (ratio $(awk -v a="$mn" -v b="$m1" 'BEGIN{printf "%.3f", a/b}')), summing $ms%"
