#!/usr/bin/env bash
# A rank killed mid-epoch must end the whole data-parallel job with an error naming the rank, in under
# 30 s, and leave no rank behind waiting for it. Trains nose_tip on two ranks, kills rank 1 with SIGKILL
# once an epoch has finished, and times mpirun's end.
#
#   bash tests/mpi/killed_rank.sh BUILD_DIR MPIEXEC
set -uo pipefail
build=${1:?usage: killed_rank.sh BUILD_DIR MPIEXEC}
mpiexec=${2:?usage: killed_rank.sh BUILD_DIR MPIEXEC}
data=${KEYNET_DATA:-$build/share/keynet/data}
if [ ! -d "$data/imm_face_db" ]; then
  [ "${KEYNET_ALLOW_MISSING_DATA:-0}" = 1 ] && { echo "no IMM data at $data: skipped"; exit 77; }
  echo "FAILED: no IMM data at $data (set KEYNET_DATA, or KEYNET_ALLOW_MISSING_DATA=1 to skip)"; exit 1
fi
work=$(mktemp -d /tmp/keynet-killed-rank.XXXXXX)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAILED: $*"; cat "$work/log"; exit 1; }

"$mpiexec" -np 2 --oversubscribe "$build/nose_tip" train --data "$data" --epochs 200 --out "$work/run" \
  > "$work/log" 2>&1 &
launcher=$!
for _ in $(seq 600); do  # up to 60 s for the first epoch
  [ -s "$work/run/log.csv" ] && [ "$(wc -l < "$work/run/log.csv")" -ge 2 ] && break
  kill -0 "$launcher" 2> /dev/null || fail "the job ended before its first epoch"
  sleep 0.1
done
victim=""
for pid in $(pgrep -f "$build/nose_tip train"); do
  tr '\0' '\n' < "/proc/$pid/environ" 2> /dev/null | grep -qx "OMPI_COMM_WORLD_RANK=1" && victim=$pid
done
[ -n "$victim" ] || fail "rank 1's process not found"
kill -9 "$victim"
start=$(date +%s%N)
for _ in $(seq 300); do
  kill -0 "$launcher" 2> /dev/null || break
  sleep 0.1
done
if kill -0 "$launcher" 2> /dev/null; then
  pkill -9 -f "$build/nose_tip train"
  kill -9 "$launcher"
  fail "the job was still running 30 s after rank 1 was killed"
fi
wait "$launcher"
code=$?
milliseconds=$(( ($(date +%s%N) - start) / 1000000 ))
[ "$code" -ne 0 ] || fail "mpirun exited 0 after a rank was killed"
grep -q "rank 1" "$work/log" || fail "the job's output does not name rank 1"
! pgrep -f "$build/nose_tip train" > /dev/null || fail "a rank is still running"
echo "rank 1 killed with SIGKILL: the job ended with exit code $code after $milliseconds ms, naming it:"
grep -m1 "rank 1" "$work/log"
