#!/usr/bin/env bash
# The lent GPU machine reaches no package registry and has no Debian packages of ours. This downloads
# (here, where apt works) the .deb files keynet builds against there into .deps/ (git-ignored; carried
# to the GPU machine), and scripts/gpu-check.sh unpacks them into a prefix of its own (never into /).
# Headers and small libraries only: PLplot is not among them (the GPU build has KEYNET_PLOTS=OFF).
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf .deps
mkdir -p .deps
cd .deps
apt-get download libeigen3-dev libstb-dev libstb0 doctest-dev nlohmann-json3-dev libcli11-dev libpugixml-dev \
  libpugixml1v5 libcgif-dev libcgif0
du -sh "$PWD"
ls -1 "$PWD"
