#!/usr/bin/env bash
# Installs what keynet needs to build and test, from Debian's packages. Used by README.md and .ci/run.
set -euo pipefail
packages=(build-essential cmake libeigen3-dev libstb-dev doctest-dev nlohmann-json3-dev libcli11-dev libfmt-dev
          libpugixml-dev libcgif-dev libbenchmark-dev jq
          libplplot-dev plplot-driver-cairo pkg-config
          libopenmpi-dev openmpi-bin   # data-parallel training (KEYNET_MPI; CI builds with it ON)
          file dpkg-dev   # CPack's .deb: dpkg-shlibdeps reads the binaries' dependencies
          chromium)       # headless, for test_apps' check of the report page (scripts/report.sh)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
fi
echo "keynet dependencies installed"
