#!/usr/bin/env bash
# The lent GPU machine reaches no package registry. This downloads (here, where apt works) the Debian
# packages keynet builds against into .deps/ (ignored by git; carry it to the GPU machine), and
# scripts/gpu-check.sh unpacks them there.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .deps
cd .deps
apt-get download libeigen3-dev libstb-dev libstb0 doctest-dev nlohmann-json3-dev libcli11-dev libpugixml-dev \
  libpugixml1v5 libbenchmark-dev libbenchmark1debian libfmt-dev libfmt9
ls -1 "$PWD"
