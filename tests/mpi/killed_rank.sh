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
# This job's two ranks, by their --out (other suites may run nose_tip beside this one).
ranks=() victim=""
for pid in $(pgrep -f -- "--out $work/run"); do
  [ "$(cat "/proc/$pid/comm" 2> /dev/null)" = nose_tip ] || continue
  ranks+=("$pid")
  tr '\0' '\n' < "/proc/$pid/environ" 2> /dev/null | grep -qx "OMPI_COMM_WORLD_RANK=1" && victim=$pid
done
[ -n "$victim" ] && [ "${#ranks[@]}" = 2 ] || fail "this job's two ranks not found (${#ranks[@]} nose_tip processes)"
kill -9 "$victim"
start=$(date +%s%N)
for _ in $(seq 300); do
  kill -0 "$launcher" 2> /dev/null || break
  sleep 0.1
done
if kill -0 "$launcher" 2> /dev/null; then
  kill -9 "${ranks[@]}" "$launcher" 2> /dev/null
  fail "the job was still running 30 s after rank 1 was killed"
fi
wait "$launcher"
code=$?
milliseconds=$(( ($(date +%s%N) - start) / 1000000 ))
[ "$code" -ne 0 ] || fail "mpirun exited 0 after a rank was killed"
grep -q "rank 1" "$work/log" || fail "the job's output does not name rank 1"
alive() { [ -d "/proc/$1" ] && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2> /dev/null; }  # zombies are gone
for pid in "${ranks[@]}"; do
  for _ in $(seq 50); do alive "$pid" || break; sleep 0.1; done
  ! alive "$pid" || fail "rank process $pid is still running 5 s after the job ended"
done
echo "rank 1 killed with SIGKILL: the job ended with exit code $code after $milliseconds ms, naming it:"
grep -m1 "rank 1" "$work/log"
