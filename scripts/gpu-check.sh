#!/usr/bin/env bash
# The one prepared check for a lent GPU machine (16 cores, one NVIDIA GPU, no package registry), about 6
# minutes there, and its rehearsal here without a GPU (--dry-run, at most 10 minutes on 2 cores):
#   build      Release, KEYNET_CUDA=ON, KEYNET_CUDNN=ON (a missing cuDNN fails), KEYNET_PLOTS=OFF, against the
#              Debian packages of scripts/fetch-gpu-deps.sh (.deps/) unpacked into a prefix of its own;
#              --dry-run: a CPU build (KEYNET_CPU_BUILD_DIR, else build-gpucheck-cpu/) and the unpacking alone
#   tests      the GPU suites and the parity suite under KEYNET_REQUIRE_GPU=1 (a skip or a parity table
#              without CUDA rows fails); --dry-run: the CPU rows and the checks that a missing GPU fails
#   sanitizer  compute-sanitizer memcheck over a short parity run, racecheck over the shared-memory kernels
#              (a machine that refuses the tool is reported, not failed)
#   apps       every app end to end on --device cuda (cpu with --dry-run) on the data subset
#              (scripts/make-gpu-data.sh, .gpu-data/): train with --impl fast and vendor, a run stopped by
#              SIGTERM and --resume'd, eval of models/*.safetensors on both devices with metrics equal
#              within 1e-3 relative (--dry-run: cpu fast against cpu vendor), predict with the face finder,
#              face_morph sequence --points-a auto --points-b auto
#   measures   bench_gpu (ours fast and vendor) and scripts/bench_torch_gpu.py (PyTorch): the networks' steps
#              and ResNet18's 3x3 convolutions; one epoch of part 3 on the subset (--dry-run: on the CPU)
# Each step has its own time limit (cut to what is left of the whole run's budget) and log. OUT receives
# two files: summary.md (each step passed / FAILED / "not run: no device", every number with its command)
# and logs.tar.gz (every log, table and metrics.json). Exits 1 when a step failed or did not run; with
# --dry-run the CUDA parts are "not run: no device" and only a failure of what runs fails it.
#
#   bash scripts/gpu-check.sh [--dry-run] [--only build|tests|sanitizer|apps|measures] OUT
# --only reruns one step (after an incremental build) and rewrites the summary with the other steps'
# last results. Environment: KEYNET_GPU_CHECK_BUDGET (seconds for the whole run; 390, --dry-run 600),
# KEYNET_CPU_BUILD_DIR (--dry-run: an existing CPU build to reuse), CUDNN_ROOT, KEYNET_GPU_DATA (the subset,
# default .gpu-data/; --dry-run makes it from $KEYNET_DATA or ../shared/data when it is missing).
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SELF="$ROOT/scripts/gpu-check.sh"
STEPS=(build tests sanitizer apps measures)

usage() { echo "usage: bash scripts/gpu-check.sh [--dry-run] [--only build|tests|sanitizer|apps|measures] OUT" >&2; exit 2; }

# ------------------------------------------------------------------------------------------ helpers
# cmd LABEL COMMAND...: one command of a step: its line and output into the step's log, a row (result,
# seconds, the command) in the step's table for the summary; a failure marks the step failed, puts the
# command's last lines in the step's failures (the summary shows them), and the step goes on.
cmd() {
  local label=$1
  shift
  echo "\$ $*" >>"$LOG"
  local start=$SECONDS output
  output=$(mktemp)
  "$@" 2>&1 | tee -a "$LOG" >"$output"  # into the log as it runs: a step cut by its limit keeps it
  local rc=${PIPESTATUS[0]}
  local result="ok"
  if [[ $rc -ne 0 ]]; then
    result="FAILED (exit $rc)"
    STEP_FAILED=1
    { echo "\$ ${*//$ROOT\//}"; tail -8 "$output"; echo; } >>"$WORK/rows/$STEP.failures"
  fi
  rm -f "$output"
  row "$label" "$result" "$((SECONDS - start))s" "$*"
  return $rc
}
row() { printf '| %s | %s | %s | `%s` |\n' "$1" "$2" "$3" "${4//$ROOT\//}" >>"$WORK/rows/$STEP.md"; }
not_run() { row "$1" "not run: no device" "-" "$2"; }

# ------------------------------------------------------------------------------------------ steps
step_build() {
  # The packages are unpacked here in the dry run too, so that a broken .deb shows before device time.
  rm -rf "$PREFIX"
  mkdir -p "$PREFIX"
  if compgen -G "$ROOT/.deps/*.deb" >/dev/null; then
    for deb in "$ROOT"/.deps/*.deb; do cmd "unpack $(basename "$deb")" unpack_deb "$deb"; done
    cmd "unpacked headers and libraries present" check_prefix
  elif [[ $DRY == 1 ]]; then
    row "unpack .deps/*.deb" "not here: run scripts/fetch-gpu-deps.sh to rehearse it" "-" "scripts/fetch-gpu-deps.sh"
  else
    row "unpack .deps/*.deb" "FAILED: no .deps/*.deb (scripts/fetch-gpu-deps.sh, carry .deps)" "-" "ls .deps"
    STEP_FAILED=1
  fi
  if [[ $DRY == 1 ]]; then
    if [[ ! -f "$BUILD/CMakeCache.txt" ]]; then
      cmd configure cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DKEYNET_CUDA=OFF || return
    fi
    cmd build cmake --build "$BUILD" -j "$JOBS" --target test_parity nose_tip face_points ibug_landmarks face_morph
    return
  fi
  cmd "cuDNN (CUDNN_ROOT=${CUDNN_ROOT:-none})" test -n "${CUDNN_ROOT:-}" -o -e /usr/local/cuda/include/cudnn.h || return
  local generator=()
  command -v ninja >/dev/null && generator=(-G Ninja)
  cmd configure cmake -S "$ROOT" -B "$BUILD" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release -DKEYNET_CUDA=ON \
    -DKEYNET_CUDNN=ON -DKEYNET_PLOTS=OFF -DKEYNET_CUDA_LINEINFO=ON -DCMAKE_CUDA_ARCHITECTURES=90 "-DCMAKE_PREFIX_PATH=$PREFIX/usr" \
    "-DCMAKE_LIBRARY_PATH=$PREFIX/usr/lib/x86_64-linux-gnu" || return
  grep -A9 "keynet configuration" "$LOG" >"$WORK/logs/configuration.txt"
  local targets=(test_parity bench_gpu nose_tip face_points ibug_landmarks face_morph)
  for f in "$ROOT"/tests/gpu/test_*.cpp; do targets+=("gpu_$(basename "$f" .cpp)"); done
  cmd build cmake --build "$BUILD" -j "$JOBS" --target "${targets[@]}"
}

unpack_deb() {
  if command -v dpkg >/dev/null; then dpkg -x "$1" "$PREFIX"; return; fi
  local tmp
  tmp=$(mktemp -d) && (cd "$tmp" && ar x "$1" && tar xf data.tar.* -C "$PREFIX")
  local rc=$?
  rm -rf "$tmp"
  return $rc
}

check_prefix() {
  local missing=0
  for f in usr/include/cgif.h usr/share/cmake/CLI11/CLI11Config.cmake usr/share/eigen3/cmake/Eigen3Config.cmake \
           usr/include/stb/stb_image.h usr/include/doctest/doctest.h usr/share/cmake/nlohmann_json/nlohmann_jsonConfig.cmake \
           usr/lib/x86_64-linux-gnu/libcgif.so usr/lib/x86_64-linux-gnu/libpugixml.so; do
    [[ -e "$PREFIX/$f" ]] || { echo "missing after unpacking: $PREFIX/$f"; missing=1; }
  done
  return $missing
}

step_tests() {
  if [[ $DRY == 1 ]]; then
    not_run "GPU suites and parity CUDA rows (KEYNET_REQUIRE_GPU=1)" "ctest -R '^(gpu_test_.*|test_parity)\$'"
    cmd "parity suite, CPU rows" "$BUILD/test_parity"
    cp "$LOG" "$WORK/logs/parity.log"
    # the same check that fails the real run when its CUDA rows are missing, shown failing here
    cmd "KEYNET_REQUIRE_GPU=1 fails without CUDA rows" bash "$ROOT/tests/require_gpu.sh" \
      "KEYNET_REQUIRE_GPU=1 but the CUDA rows did not run" "$BUILD/test_parity" "--test-case=zz*"
    return
  fi
  cmd "GPU suites and parity suite" env KEYNET_REQUIRE_GPU=1 ctest --test-dir "$BUILD" \
    -R '^(gpu_test_.*|test_parity)$' -V --timeout 140
  cp "$LOG" "$WORK/logs/parity.log"
  cmd "no test skipped" bash -c "! grep -E '\\*\\*\\*(Skipped|Not Run)' '$LOG'"
  cmd "parity table has CUDA rows" grep -qE '^([0-9]+: )?\| [^|]+ \| cuda/(ref|fast|vendor)' "$LOG"
}

# sanitize TOOL LIMIT ARGS...: compute-sanitizer over one short run; a machine that refuses the tool
# (as gVisor did: "Device not supported", error 999) is reported as refused and does not fail the step.
sanitize() {
  local tool=$1 limit=$2
  shift 2
  local log="$WORK/logs/sanitizer-$tool.log" start=$SECONDS
  local line=(compute-sanitizer --tool "$tool" --error-exitcode 1 "$@")
  echo "\$ ${line[*]}" >>"$LOG"
  env KEYNET_REQUIRE_GPU=1 timeout -k 5 "$limit" "${line[@]}" >"$log" 2>&1
  local rc=$?
  tail -20 "$log" >>"$LOG"
  local result=ok
  if grep -qE "Device not supported|not supported on this|error 999|CUDA_ERROR_UNKNOWN" "$log"; then
    result="refused by the machine (see logs/sanitizer-$tool.log): not checked"
  elif [[ $rc -eq 124 || $rc -eq 137 ]]; then result="FAILED (timed out after ${limit}s)"; STEP_FAILED=1
  elif [[ $rc -ne 0 ]]; then result="FAILED (exit $rc; see logs/sanitizer-$tool.log)"; STEP_FAILED=1
  fi
  row "$tool" "$result" "$((SECONDS - start))s" "${line[*]}"
}

step_sanitizer() {
  local short="--test-case=parity: linear,parity: max_pool2d,parity: batch_norm2d,parity: global_avg_pool,parity: relu and add"
  if [[ $DRY == 1 ]]; then
    not_run "memcheck" "compute-sanitizer --tool memcheck test_parity '$short'"
    not_run "racecheck" "compute-sanitizer --tool racecheck test_parity '--test-case=parity: linear'"
    return
  fi
  # memcheck over the short tables (every Impl's kernels; conv's table, with its 14.5 GFLOP case, is left
  # out for time); racecheck over the linear kernels, whose tiles live in shared memory
  sanitize memcheck 60 "$BUILD/test_parity" "$short"
  sanitize racecheck 45 "$BUILD/test_parity" "--test-case=parity: linear"
}

# resume_check APP ARGS...: a training run stopped by SIGTERM once its first checkpoint exists (the app
# saves and exits 143), then --resume, which must finish with a log row for every epoch.
resume_check() {
  local app=$1 out=$2
  shift 2
  rm -rf "$out"
  "$BUILD/$app" train "$@" --out "$out" &
  local pid=$!
  until [[ -e "$out/checkpoints/last.safetensors" ]] || ! kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
  kill -TERM "$pid" 2>/dev/null
  wait "$pid"
  local rc=$?
  [[ $rc -eq 143 ]] || { echo "resume_check: the run exited $rc, not 143 (stopped by SIGTERM)"; return 1; }
  "$BUILD/$app" train "$@" --out "$out" --resume || return
  local want="" rows=$(($(wc -l <"$out/log.csv") - 1))
  for ((i = 1; i < $#; ++i)); do [[ ${!i} == --epochs ]] && { j=$((i + 1)); want=${!j}; }; done
  echo "resume_check: stopped by SIGTERM, resumed; $rows epoch rows in log.csv, $want asked for"
  [[ $rows == "$want" ]]
}

step_apps() {
  local R="$WORK/runs" labels="$DATA/ibug_300w/labels_ibug_300W_train.xml" photos=("$DATA/faces_extra/Chris.jpeg" "$DATA/faces_extra/Paul.jpeg")
  rm -rf "$R"
  mkdir -p "$R"
  local size=160
  [[ $DRY == 1 ]] && size=64  # ResNet18 at 160x160 on 2 CPU cores would take most of the dry run's 10 minutes
  for impl in fast vendor; do
    cmd "nose_tip train, $impl" "$BUILD/nose_tip" train --data "$DATA" --device "$DEVICE" --impl "$impl" --epochs 3 \
      --out "$R/nose_tip_$impl"
    cmd "face_points train, $impl" "$BUILD/face_points" train --data "$DATA" --device "$DEVICE" --impl "$impl" \
      --epochs 3 --out "$R/face_points_$impl"
    cmd "ibug_landmarks train, $impl" "$BUILD/ibug_landmarks" train --data "$DATA" --device "$DEVICE" --impl "$impl" \
      --epochs 2 --size "$size" --out "$R/ibug_$impl"
  done
  cmd "ibug_landmarks train stopped by SIGTERM, then --resume" resume_check ibug_landmarks "$R/ibug_resume" \
    --data "$DATA" --device "$DEVICE" --epochs 4 --size 64
  # eval of the shipped models: the CPU against the GPU (dry run: the CPU's fast kernels against Eigen's)
  local runs=(cpu:fast cuda:fast)
  [[ $DRY == 1 ]] && runs=(cpu:fast cpu:vendor)
  for run in "${runs[@]}"; do
    local device=${run%:*} impl=${run#*:}
    for app in nose_tip face_points; do
      cmd "$app eval, $device $impl" "$BUILD/$app" eval --data "$DATA" --model "$ROOT/models/$app.safetensors" \
        --device "$device" --impl "$impl" --out "$R/eval_${app}_${device}_$impl"
    done
    # the XML's boxes (--found-boxes false): the face finder has its own row below, and on all 49 faces it
    # would take minutes on the CPU
    cmd "ibug_landmarks eval, $device $impl" "$BUILD/ibug_landmarks" eval --labels "$labels" --allow-training-faces \
      --found-boxes false \
      --model "$ROOT/models/ibug_landmarks.safetensors" --device "$device" --impl "$impl" \
      --out "$R/eval_ibug_landmarks_${device}_$impl"
  done
  [[ $DRY == 1 ]] && not_run "eval on cuda, compared with the CPU" "ibug_landmarks eval --device cuda ..."
  local a=${runs[0]/:/_} b=${runs[1]/:/_}
  for app in nose_tip face_points ibug_landmarks; do
    cmd "$app metrics: ${runs[0]} = ${runs[1]} within 1e-3" compare_eval "$app" "$R/eval_${app}_$a/metrics.json" \
      "$R/eval_${app}_$b/metrics.json"
  done
  cmd "ibug_landmarks predict, face finder" "$BUILD/ibug_landmarks" predict --device "$DEVICE" --out "$R/predict" \
    --format json "${photos[0]}"
  cmd "face_morph sequence, points auto" "$BUILD/face_morph" sequence --points-a auto --points-b auto --frames 4 \
    --size 320x240 --out "$R/morph.gif" "${photos[@]}"
}

compare_eval() {
  {
    echo "### $1: ${runs[0]} against ${runs[1]}"
    echo
    python3 "$ROOT/scripts/compare_metrics.py" "$2" "$3" --names "${runs[0]},${runs[1]}"
  } >>"$WORK/logs/eval-comparison.md"
  local rc=$?
  echo >>"$WORK/logs/eval-comparison.md"
  return $rc
}

step_measures() {
  local R="$WORK/runs"
  if [[ $DRY == 1 ]]; then
    not_run "bench_gpu (ours fast and vendor)" "build-gpu/bench_gpu --markdown bench_gpu.md"
    not_run "PyTorch on the GPU" "python3 scripts/bench_torch_gpu.py --markdown bench_torch.md"
  else
    cmd "bench_gpu (ours fast and vendor)" env KEYNET_CUDNN_VERBOSE=1 "$BUILD/bench_gpu" --markdown "$WORK/logs/bench_gpu.md"
    cmd "PyTorch on the GPU" python3 "$ROOT/scripts/bench_torch_gpu.py" --markdown "$WORK/logs/bench_torch.md"
    cmd "keynet against PyTorch" bash -c "python3 '$ROOT/scripts/bench_compare.py' '$WORK/logs/bench_gpu.md' \
      '$WORK/logs/bench_torch.md' >'$WORK/logs/comparison.md'"
  fi
  for impl in fast vendor; do
    cmd "one epoch of part 3 on the subset, $DEVICE $impl (wall time, start-up and validation included)" \
      "$BUILD/ibug_landmarks" train --data "$DATA" --device "$DEVICE" --impl "$impl" --epochs 1 --out "$R/epoch_$impl"
  done
}

# ------------------------------------------------------------------------------------------ one step
if [[ ${1:-} == --run-step ]]; then
  STEP=$2
  LOG="$WORK/logs/$STEP.log"
  STEP_FAILED=0
  cd "$ROOT" || exit 1
  "step_$STEP"
  exit "$STEP_FAILED"
fi

# ------------------------------------------------------------------------------------------ the run
DRY=0
ONLY=""
OUT_ARG=""
while [[ $# -gt 0 ]]; do
  case $1 in
    --dry-run) DRY=1 ;;
    --only) [[ $# -ge 2 ]] || usage; ONLY=$2; shift ;;
    -h|--help) sed -n '2,31p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "gpu-check: unknown option '$1'" >&2; usage ;;
    *) [[ -z $OUT_ARG ]] || usage; OUT_ARG=$1 ;;
  esac
  shift
done
[[ -n $OUT_ARG ]] || usage
if [[ -n $ONLY && ! " ${STEPS[*]} " =~ " $ONLY " ]]; then
  echo "gpu-check: --only takes one of: ${STEPS[*]}" >&2
  exit 2
fi
mkdir -p "$OUT_ARG" || exit 1
OUT=$(cd "$OUT_ARG" && pwd)
T0=$SECONDS
export DRY ROOT
export WORK="$ROOT/build-gpucheck"       # logs, run folders and each step's last result (git-ignored)
export PREFIX="$WORK/prefix"              # the unpacked Debian packages
export JOBS=$(nproc 2>/dev/null || echo 16)
SOURCE_DATA=${KEYNET_DATA:-$ROOT/../shared/data}  # where a missing subset is made from (--dry-run)
export DATA=${KEYNET_GPU_DATA:-$ROOT/.gpu-data}
export KEYNET_DATA=$DATA  # the apps' datasets: the subset, never the full data (nor its test set)
if [[ $DRY == 1 ]]; then
  export DEVICE=cpu BUILD=${KEYNET_CPU_BUILD_DIR:-$ROOT/build-gpucheck-cpu}
  BUDGET=${KEYNET_GPU_CHECK_BUDGET:-600}
else
  export DEVICE=cuda BUILD=${KEYNET_GPU_BUILD_DIR:-$ROOT/build-gpu}
  BUDGET=${KEYNET_GPU_CHECK_BUDGET:-390}
fi
BUILD=$(mkdir -p "$BUILD" && cd "$BUILD" && pwd)
export BUILD
# our binaries find the unpacked libraries (pugixml, cgif) and a cuDNN outside the toolkit (the
# nvidia-cudnn wheel that comes with PyTorch; CMake finds it through CUDNN_ROOT)
if [[ $DRY == 0 && -z "${CUDNN_ROOT:-}" && ! -e /usr/local/cuda/include/cudnn.h ]]; then
  CUDNN_ROOT=$(python3 -c 'import nvidia.cudnn as m; print(list(m.__path__)[0])' 2>/dev/null)
fi
export CUDNN_ROOT=${CUDNN_ROOT:-}
# NCCL likewise (the nvidia-nccl wheel), for the data-parallel step's test (tests/gpu/test_nccl_step.cpp)
if [[ $DRY == 0 && -z "${NCCL_ROOT:-}" && ! -e /usr/local/cuda/include/nccl.h ]]; then
  NCCL_ROOT=$(python3 -c 'import nvidia.nccl as m; print(list(m.__path__)[0])' 2>/dev/null)
fi
export NCCL_ROOT=${NCCL_ROOT:-}
export LD_LIBRARY_PATH="$PREFIX/usr/lib/x86_64-linux-gnu${CUDNN_ROOT:+:$CUDNN_ROOT/lib}${NCCL_ROOT:+:$NCCL_ROOT/lib}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

if [[ -z $ONLY ]]; then rm -rf "$WORK/logs" "$WORK/rows" "$WORK/status"; fi
mkdir -p "$WORK/logs" "$WORK/rows" "$WORK/status"
if [[ ! -d "$DATA/ibug_300w" ]]; then
  if [[ $DRY == 1 ]]; then KEYNET_DATA=$SOURCE_DATA bash "$ROOT/scripts/make-gpu-data.sh" "$DATA" || exit 1
  else echo "gpu-check: no data subset at $DATA (scripts/make-gpu-data.sh .gpu-data here, and carry .gpu-data)" >&2
  fi
fi
{
  echo "mode: $([[ $DRY == 1 ]] && echo "dry run (CPU)" || echo GPU); build: $BUILD; data: $DATA; CUDNN_ROOT=$CUDNN_ROOT"
  git -C "$ROOT" log --oneline -1; git -C "$ROOT" status --short | head -20
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 | head -3
  for tool in g++ nvcc cmake ninja compute-sanitizer python3; do echo "$tool: $(command -v $tool || echo missing)"; done
  nproc
} >"$WORK/logs/environment.log" 2>&1

# A GPU that cannot be used makes every CUDA step "not run: no device" and the run fail, instead of
# spending the steps' time on errors.
NO_DEVICE=""
if [[ $DRY == 0 ]] && ! nvidia-smi -L >/dev/null 2>&1; then NO_DEVICE="nvidia-smi sees no GPU"; fi

run_step() {
  local name=$1 limit=$2
  local left=$((BUDGET - (SECONDS - T0) - 15))  # 15 s kept for the summary and the archive
  [[ $left -lt $limit ]] && limit=$left
  rm -f "$WORK/rows/$name.md" "$WORK/rows/$name.failures"
  if [[ -n $NO_DEVICE ]]; then
    echo "not run: no device ($NO_DEVICE)|-|-" >"$WORK/status/$name"; return
  fi
  if [[ $limit -lt 10 ]]; then
    echo "FAILED: not run, the run's ${BUDGET}s budget was spent|-|-" >"$WORK/status/$name"; return
  fi
  echo "== $name (limit ${limit}s)"
  local start=$SECONDS
  STEP=$name timeout -k 10 "$limit" bash "$SELF" --run-step "$name"
  local rc=$? result=passed
  if [[ $rc -eq 124 || $rc -eq 137 ]]; then result="FAILED (timed out)"
  elif [[ $rc -ne 0 ]]; then result="FAILED"
  elif [[ $DRY == 1 ]] && grep -q "not run: no device" "$WORK/rows/$name.md" 2>/dev/null; then
    if grep -q "| ok |" "$WORK/rows/$name.md"; then result="passed (CPU parts; CUDA parts not run: no device)"
    else result="not run: no device"; fi
  fi
  echo "   $name: $result in $((SECONDS - start))s"
  echo "$result|$((SECONDS - start))s|${limit}s" >"$WORK/status/$name"
}

declare -A LIMIT=([build]=240 [tests]=150 [sanitizer]=120 [apps]=150 [measures]=150)
[[ $DRY == 1 ]] && LIMIT=([build]=300 [tests]=120 [sanitizer]=30 [apps]=300 [measures]=120)
if [[ -n $ONLY && $ONLY != build ]]; then run_step build "${LIMIT[build]}"; fi
for name in "${STEPS[@]}"; do
  if [[ -z $ONLY || $ONLY == "$name" ]]; then run_step "$name" "${LIMIT[$name]}"; fi
done

# ------------------------------------------------------------------------------------------ summary
FAILED=0
{
  echo "# keynet GPU check$([[ $DRY == 1 ]] && echo " (dry run on the CPU)")"
  echo
  echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $((SECONDS - T0))s in all (budget ${BUDGET}s); commit" \
       "$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null); $(nproc) cores;" \
       "GPU: $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null | head -1 | grep . || echo none)"
  echo
  echo "Command: \`bash scripts/gpu-check.sh$([[ $DRY == 1 ]] && echo " --dry-run")${ONLY:+ --only $ONLY} OUT\`;" \
       "build $BUILD, data $DATA. Logs, tables and metrics: logs.tar.gz."
  [[ -s "$WORK/logs/configuration.txt" ]] && { echo; sed 's/^-- */    /' "$WORK/logs/configuration.txt"; }
  echo
  echo "| step | result | time | limit |"
  echo "|---|---|---|---|"
  for name in "${STEPS[@]}"; do
    result="not run" took=- limit=-
    [[ -f "$WORK/status/$name" ]] && IFS='|' read -r result took limit <"$WORK/status/$name"
    if [[ $DRY == 0 && $result != passed ]] || [[ $DRY == 1 && $result != passed* && $result != "not run: no device" ]]; then
      FAILED=1
    fi
    echo "| $name | $result | $took | $limit |"
  done
  for name in "${STEPS[@]}"; do
    [[ -s "$WORK/rows/$name.md" ]] || continue
    echo
    echo "## $name"
    echo
    echo "| what | result | time | command |"
    echo "|---|---|---|---|"
    cat "$WORK/rows/$name.md"
    if [[ -s "$WORK/rows/$name.failures" ]]; then
      echo
      echo "What the failing commands said (last lines; all in logs/$name.log):"
      echo '```'
      head -120 "$WORK/rows/$name.failures"
      echo '```'
    elif grep -q "FAILED" "$WORK/rows/$name.md" "$WORK/status/$name"; then
      echo
      echo "Last lines of $name.log:"
      echo '```'
      tail -25 "$WORK/logs/$name.log"
      echo '```'
    fi
  done
  if [[ -s "$WORK/logs/parity.log" ]]; then
    echo
    echo "## Parity: largest error / tolerance per (op, row) (command: the tests step's first row)"
    echo
    grep -E "^([0-9]+: )?\| " "$WORK/logs/parity.log" | sed -E 's/^[0-9]+: //'
  fi
  if [[ -s "$WORK/logs/eval-comparison.md" ]]; then
    echo
    echo "## Eval of models/*.safetensors on the subset (commands: the apps step's eval rows)"
    echo
    cat "$WORK/logs/eval-comparison.md"
  fi
  for f in comparison.md bench_gpu.md bench_torch.md; do
    if [[ -s "$WORK/logs/$f" ]]; then echo; cat "$WORK/logs/$f"; fi
  done
} >"$OUT/summary.md"
# every log, table and metrics.json (not the checkpoints) in one archive
tar -czf "$OUT/logs.tar.gz" -C "$WORK" logs status rows \
  $(cd "$WORK" && find runs -name metrics.json -o -name log.csv 2>/dev/null) 2>/dev/null
echo "summary: $OUT/summary.md ($((SECONDS - T0))s)"
sed -n '/^| step | result/,/^$/p' "$OUT/summary.md"
exit "$FAILED"
