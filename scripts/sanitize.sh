#!/usr/bin/env bash
# The CPU build and its whole test suite under sanitizers (CI runs this after the default suite):
#   build-asan/  AddressSanitizer (with LeakSanitizer) and UndefinedBehaviorSanitizer: every CPU test,
#                then a few training steps of the nose-tip app, which must leak nothing
#   build-tsan/  ThreadSanitizer over the DataLoader tests (its prefetch thread against the consumer)
# Any finding fails the script. Usage: bash scripts/sanitize.sh [asan|tsan] (default: both).
set -euo pipefail
cd "$(dirname "$0")/.."
which=${1:-all}
jobs=$(nproc)

configure() {  # DIR SANITIZERS
  mkdir -p "$1"
  # MPI off: OpenMPI's own allocations would read as leaks (the MPI suites run in the normal build)
  cmake -S . -B "$1" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKEYNET_CUDA=OFF -DKEYNET_MPI=OFF -DKEYNET_SANITIZE="$2" \
    > "$1/configure.log" 2>&1 || { cat "$1/configure.log"; exit 1; }
}

if [ "$which" = all ] || [ "$which" = asan ]; then
  start=$(date +%s)
  configure build-asan address,undefined
  cmake --build build-asan -j "$jobs"
  export ASAN_OPTIONS=detect_leaks=1:halt_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    LSAN_OPTIONS=suppressions=$PWD/scripts/lsan.supp:print_suppressions=0
  (cd build-asan && ctest --output-on-failure -j "$jobs" -L cpu)
  data=${KEYNET_DATA:-../shared/data}
  if [ -d "$data/imm_face_db" ]; then
    rm -rf build-asan/leak-check-run
    ./build-asan/nose_tip train --data "$data" --epochs 2 --out build-asan/leak-check-run > build-asan/leak-check.log 2>&1 ||
      { tail -40 build-asan/leak-check.log; echo "sanitize.sh: nose_tip training under ASan/LSan failed" >&2; exit 1; }
    echo "sanitize.sh: 2 epochs of nose_tip training under ASan, LSan and UBSan: no findings"
  else
    echo "sanitize.sh: no IMM data at $data: the training leak check is skipped"
  fi
  echo "sanitize.sh: ASan/UBSan stage took $(( $(date +%s) - start )) s"
fi

if [ "$which" = all ] || [ "$which" = tsan ]; then
  start=$(date +%s)
  configure build-tsan thread
  cmake --build build-tsan -j "$jobs" --target test_data_loader
  # GCC's OpenMP runtime is not built with TSan, so the end of a parallel region's synchronisation is
  # invisible to it and reads after the region look like races: OpenMP runs one thread here, and TSan
  # checks the DataLoader's own threads (the prefetch producer against the consumer).
  OMP_THREAD_LIMIT=1 TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 ./build-tsan/test_data_loader
  echo "sanitize.sh: TSan stage took $(( $(date +%s) - start )) s"
fi
