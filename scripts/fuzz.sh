#!/usr/bin/env bash
# Coverage-guided fuzzing of every reader of outside input (fuzz/targets.h) with libFuzzer, clang's
# AddressSanitizer and UndefinedBehaviorSanitizer. Each target runs SECONDS (default 60) from its saved
# corpus, fuzz/corpus/<target>/; inputs that reach new code are merged back into it, and a crash is
# written to fuzz/crashes/<target>/ (the default suite replays both: tests/test_fuzz_corpora.cpp).
#   bash scripts/fuzz.sh [SECONDS] [TARGET...]      needs clang and libomp (Debian: clang libomp-dev)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(asf pts dlib_xml image image_header exif safetensors crop_manifest)

cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++ -DKEYNET_CUDA=OFF \
  -DKEYNET_FUZZ=ON -DKEYNET_SANITIZE=address,undefined -DKEYNET_BUILD_TESTS=OFF -DKEYNET_NATIVE=OFF \
  > build-fuzz.log 2>&1 || { cat build-fuzz.log; exit 1; }
cmake --build build-fuzz -j "$(nproc)" --target "${targets[@]/#/fuzz_}" >> build-fuzz.log 2>&1 ||
  { tail -40 build-fuzz.log; echo "fuzz.sh: the build failed (build-fuzz.log)" >&2; exit 1; }

status=0
for target in "${targets[@]}"; do
  work=build-fuzz/corpus/$target
  mkdir -p "$work" "fuzz/crashes/$target" "fuzz/corpus/$target"
  log=build-fuzz/$target.log
  if ./build-fuzz/fuzz_"$target" -max_total_time="$seconds" -print_final_stats=1 -max_len=65536 \
       -artifact_prefix="fuzz/crashes/$target/" "$work" "fuzz/corpus/$target" > "$log" 2>&1; then
    result="no crash"
  else
    result="CRASH (see $log and fuzz/crashes/$target/)"
    status=1
  fi
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
  # Keep only the inputs that add coverage to the saved corpus.
  ./build-fuzz/fuzz_"$target" -merge=1 "fuzz/corpus/$target" "$work" > "build-fuzz/$target.merge.log" 2>&1 || true
  echo "fuzz.sh: $target: $runs executions in ${seconds} s, $result; saved corpus: $(ls "fuzz/corpus/$target" | wc -l) files"
done
exit $status
