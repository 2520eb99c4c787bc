#!/usr/bin/env bash
# One prepared run on a machine with an NVIDIA GPU (made for an H200, 16 cores, ~6 minutes):
#   nvidia-smi -> configure (Release, CUDA on) -> build the GPU tests and bench_gpu -> ctest -L gpu
#   -> bench_gpu (ours: fast and vendor) -> bench_torch_gpu.py (PyTorch, same networks) -> summary.md
# Every step writes its stdout/stderr to OUTDIR/<step>.log and has its own time limit; a failing step
# never stops the later ones. Always exits 0 after writing OUTDIR/summary.md.
# usage: scripts/gpu-check.sh OUTDIR        (env: KEYNET_GPU_BUILD_DIR, default build-gpu/)
set -u
if [[ $# -lt 1 ]]; then
  echo "usage: $0 OUTDIR" >&2
  exit 0
fi
mkdir -p "$1"
OUT=$(cd "$1" && pwd)
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${KEYNET_GPU_BUILD_DIR:-$ROOT/build-gpu}
JOBS=$(nproc 2>/dev/null || echo 16)
T0=$(date +%s)
RESULTS=()

# step NAME LIMIT_SECONDS COMMAND...: runs COMMAND with a time limit, output to OUTDIR/NAME.log
step() {
  local name=$1 limit=$2
  shift 2
  local start=$(date +%s)
  echo "== $name (limit ${limit}s): $*" | tee -a "$OUT/steps.log"
  timeout --kill-after=10 "$limit" "$@" >"$OUT/$name.log" 2>&1
  local rc=$?
  local took=$(( $(date +%s) - start ))
  local status=passed
  if [[ $rc -eq 124 || $rc -eq 137 ]]; then status="TIMED OUT"; elif [[ $rc -ne 0 ]]; then status="FAILED (exit $rc)"; fi
  echo "   $name: $status in ${took}s" | tee -a "$OUT/steps.log"
  RESULTS+=("| $name | $status | ${took}s | $name.log |")
  return $rc
}

cd "$ROOT" || exit 0
{ git log --oneline -3; git status --short | head -20; } >"$OUT/git.log" 2>&1

step nvidia-smi 30 bash -c 'nvidia-smi; nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,power.limit --format=csv'

step configure 90 cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DKEYNET_CUDA=ON -DKEYNET_CUDNN=AUTO \
  -DCMAKE_CUDA_ARCHITECTURES=90
grep -A8 "keynet configuration" "$OUT/configure.log" >"$OUT/configuration.txt" 2>/dev/null

# only what this run needs: the GPU suites and the benchmark
TARGETS=(bench_gpu)
for f in "$ROOT"/tests/gpu/test_*.cpp; do TARGETS+=("gpu_$(basename "$f" .cpp)"); done
step build 240 cmake --build "$BUILD" -j "$JOBS" --target "${TARGETS[@]}"

step gpu-tests 150 bash -c "cd '$BUILD' && ctest -L gpu -V --timeout 140"
# the parity table and any failing comparison, for the summary
grep -E "^([0-9]+: )?(\| |FAIL )" "$OUT/gpu-tests.log" | sed -E 's/^[0-9]+: //' >"$OUT/parity-table.md" 2>/dev/null

step bench-keynet 150 "$BUILD/bench_gpu" --markdown "$OUT/bench_gpu.md"
step bench-torch 120 "${PYTHON:-python3}" "$ROOT/scripts/bench_torch_gpu.py" --markdown "$OUT/bench_torch.md"

{
  echo "# keynet GPU check"
  echo
  echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(( $(date +%s) - T0 ))s in all; commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null)"
  echo
  tail -n +2 "$OUT/nvidia-smi.log" 2>/dev/null | tail -1 | sed 's/^/GPU: /'
  echo
  echo "| step | result | time | log |"
  echo "|---|---|---|---|"
  printf '%s\n' "${RESULTS[@]}"
  echo
  echo "## GPU tests"
  grep -E "tests passed|tests failed|Skipped|Failed|Passed|\*\*\*" "$OUT/gpu-tests.log" 2>/dev/null | sed 's/^/    /' | tail -15
  echo
  if [[ -s "$OUT/parity-table.md" ]]; then head -80 "$OUT/parity-table.md"; echo; fi
  for f in bench_gpu.md bench_torch.md; do
    if [[ -s "$OUT/$f" ]]; then cat "$OUT/$f"; echo; fi
  done
} >"$OUT/summary.md" 2>&1
echo "summary: $OUT/summary.md"
exit 0
