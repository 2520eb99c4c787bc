#!/usr/bin/env bash
# One prepared run on a machine with an NVIDIA GPU (made for an H200, 16 cores, ~6 minutes):
#   nvidia-smi -> configure (Release, CUDA on) -> build the GPU tests, test_parity and bench_gpu -> run them
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

# The GPU machine reaches no package registry: unpack the Debian packages that
# scripts/fetch-gpu-deps.sh downloaded into .deps/ (headers and small libraries) into /.
if compgen -G "$ROOT/.deps/*.deb" >/dev/null; then
  for deb in "$ROOT"/.deps/*.deb; do
    if command -v dpkg >/dev/null; then dpkg -x "$deb" /; else (cd /tmp && ar x "$deb" && tar xf data.tar.* -C /); fi ||
      echo "could not unpack $deb"
  done
  ldconfig 2>/dev/null
fi

# A cuDNN outside the toolkit (the nvidia-cudnn wheel that comes with PyTorch): CMake finds it through
# CUDNN_ROOT, and our binaries load it through LD_LIBRARY_PATH (PyTorch keeps loading its own).
if [[ -z "${CUDNN_ROOT:-}" && ! -e /usr/local/cuda/include/cudnn.h ]]; then
  CUDNN_ROOT=$("${PYTHON:-python3}" -c 'import nvidia.cudnn as m; print(list(m.__path__)[0])' 2>/dev/null || true)
fi
OUR_ENV=()
if [[ -n "${CUDNN_ROOT:-}" ]]; then
  export CUDNN_ROOT
  OUR_ENV=(env "LD_LIBRARY_PATH=$CUDNN_ROOT/lib:${LD_LIBRARY_PATH:-}")
fi
{ echo "CUDNN_ROOT=${CUDNN_ROOT:-}"; command -v g++ && g++ --version | head -1; command -v nvcc && nvcc --version | tail -2; command -v cmake && cmake --version | head -1;
  ls /usr/local/cuda/include/cudnn.h 2>&1; } >"$OUT/environment.log" 2>&1

step nvidia-smi 30 bash -c 'nvidia-smi; nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,power.limit --format=csv'

step configure 90 cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DKEYNET_CUDA=ON -DKEYNET_CUDNN=AUTO \
  -DCMAKE_CUDA_ARCHITECTURES=90
grep -A8 "keynet configuration" "$OUT/configure.log" >"$OUT/configuration.txt" 2>/dev/null

# only what this run needs: the GPU suites, the parity suite (its GPU rows run where a device is) and
# the benchmark
TARGETS=(bench_gpu test_parity)
for f in "$ROOT"/tests/gpu/test_*.cpp; do TARGETS+=("gpu_$(basename "$f" .cpp)"); done
step build 240 cmake --build "$BUILD" -j "$JOBS" --target "${TARGETS[@]}"

step gpu-tests 150 "${OUR_ENV[@]}" bash -c "cd '$BUILD' && ctest -R '^(gpu_.*|test_parity)\$' -V --timeout 140"
# for the summary: the largest-error tables, whole-network lines, and every failing comparison
grep -E "^([0-9]+: )?(\| |(ok|FAIL|DIFFERS) +resnet18(\.adam_update| determinism)|DIFFERS|CPU double|GPU impl=)" \
  "$OUT/gpu-tests.log" |
  sed -E 's/^[0-9]+: //' >"$OUT/parity-table.md" 2>/dev/null
grep -E "^([0-9]+: )?FAIL " "$OUT/gpu-tests.log" | sed -E 's/^[0-9]+: //' >"$OUT/failures.txt" 2>/dev/null

step bench-keynet 150 "${OUR_ENV[@]}" env KEYNET_CUDNN_VERBOSE=1 "$BUILD/bench_gpu" --markdown "$OUT/bench_gpu.md"
step bench-torch 120 "${PYTHON:-python3}" "$ROOT/scripts/bench_torch_gpu.py" --markdown "$OUT/bench_torch.md"

# ours against PyTorch, step by step: the 1.2x (vendor) target at a glance
"${PYTHON:-python3}" - "$OUT/bench_gpu.md" "$OUT/bench_torch.md" >"$OUT/comparison.md" 2>"$OUT/comparison.log" <<'PY'
import sys
def rows(path, cols):
    out = {}
    for line in open(path):
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == cols and cells[1].isdigit():
            out.setdefault((cells[0], cells[1]), []).append(cells)
    return out
ours, torch = rows(sys.argv[1], 6), rows(sys.argv[2], 5)
print("### keynet vs PyTorch, training step (ms; ratio = keynet / PyTorch, target vendor <= 1.2)\n")
print("| network | batch | PyTorch | keynet vendor | ratio | keynet fast | ratio |")
print("|---|---|---|---|---|---|---|")
for key, trows in torch.items():
    t = float(trows[0][2])
    impl = {r[2]: float(r[3]) for r in ours.get(key, [])}
    v, f = impl.get("vendor", float("nan")), impl.get("fast", float("nan"))
    print(f"| {key[0]} | {key[1]} | {t:.2f} | {v:.2f} | {v / t:.2f} | {f:.2f} | {f / t:.2f} |")
PY

{
  echo "# keynet GPU check"
  echo
  echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(( $(date +%s) - T0 ))s in all; commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null)"
  echo
  tail -n +2 "$OUT/nvidia-smi.log" 2>/dev/null | tail -1 | sed 's/^/GPU: /'
  echo
  echo "configuration: $(grep -E "CUDA backend|cuDNN" "$OUT/configuration.txt" 2>/dev/null | sed 's/-- *//' | tr -s ' ' | paste -sd';')"
  echo
  echo "| step | result | time | log |"
  echo "|---|---|---|---|"
  printf '%s\n' "${RESULTS[@]}"
  echo
  echo "## GPU tests"
  grep -E "tests passed|tests failed|Skipped|Failed|Passed|\*\*\*" "$OUT/gpu-tests.log" 2>/dev/null | sed 's/^/    /' | tail -15
  echo
  if [[ -s "$OUT/parity-table.md" ]]; then cat "$OUT/parity-table.md"; echo; fi
  if [[ -s "$OUT/failures.txt" ]]; then
    echo "### Failing comparisons ($(wc -l <"$OUT/failures.txt") in all, first 40; see gpu-tests.log)"
    echo '```'
    head -40 "$OUT/failures.txt"
    echo '```'
    echo
  fi
  for f in comparison.md bench_gpu.md bench_torch.md; do
    if [[ -s "$OUT/$f" ]]; then cat "$OUT/$f"; echo; fi
  done
  for name in configure build gpu-tests bench-keynet bench-torch; do
    if ! grep -q "| $name | passed |" <(printf '%s\n' "${RESULTS[@]}"); then
      echo "### $name: last lines of $name.log"
      echo '```'
      grep -v "^ok " "$OUT/$name.log" 2>/dev/null | tail -25
      echo '```'
      echo
    fi
  done
} >"$OUT/summary.md" 2>&1
echo "summary: $OUT/summary.md"
exit 0
