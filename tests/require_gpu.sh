#!/usr/bin/env bash
# Checks that KEYNET_REQUIRE_GPU=1 turns "no usable CUDA device" into a failure: runs a test binary with
# the variable set and every device hidden (CUDA_VISIBLE_DEVICES empty, so this holds on a GPU machine
# too), and requires an exit code other than 0 and 77 (CTest's "skipped") and the expected sentence.
#   tests/require_gpu.sh 'EXPECTED TEXT' BINARY [ARGS...]
set -uo pipefail
expected=${1:?usage: require_gpu.sh 'EXPECTED TEXT' BINARY [ARGS...]}
shift
output=$(KEYNET_REQUIRE_GPU=1 CUDA_VISIBLE_DEVICES= "$@" 2>&1); status=$?
echo "$output"
if [ "$status" = 0 ] || [ "$status" = 77 ]; then
  echo "require_gpu: $1 exited $status without a device under KEYNET_REQUIRE_GPU=1; it must fail"; exit 1
fi
if ! grep -qF -- "$expected" <<<"$output"; then
  echo "require_gpu: $1 failed (exit $status) but did not say '$expected'"; exit 1
fi
echo "require_gpu: $1 fails without a device under KEYNET_REQUIRE_GPU=1 (exit $status), saying why"
