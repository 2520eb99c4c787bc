#!/usr/bin/env bash
# Builds keynet's Debian package and checks it as a user would meet it (CI runs this; it needs root):
# a CPU-only build with MPI and KEYNET_NATIVE=OFF (the vector kernels are chosen at run time) installed to /usr,
# `cpack -G DEB` (dependencies read from the binaries by dpkg-shlibdeps), then `apt-get install` of the
# .deb, `nose_tip --version` and `ibug_landmarks predict` on a photo run from PATH with the source tree
# moved away, and `apt-get purge`, after which none of the package's files may be left.
#
#   bash scripts/check-deb.sh [BUILD_DIR]      default build-package/; the .deb is left in BUILD_DIR/package
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build-package}
fail() { echo "check-deb: FAILED: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || fail "installing a .deb needs root"

mkdir -p "$build"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DKEYNET_NATIVE=OFF -DKEYNET_CUDA=OFF -DKEYNET_MPI=ON \
  -DKEYNET_BUILD_TESTS=OFF -DCMAKE_INSTALL_PREFIX=/usr > "$build/configure.log" || { cat "$build/configure.log"; fail configure; }
cmake --build "$build" -j "$(nproc)" --target keynet_shared keynet_static nose_tip face_points ibug_landmarks \
  face_morph convert_model
(cd "$build" && cpack -G DEB > cpack.log) || { cat "$build/cpack.log"; fail cpack; }
deb=$(find "$build/package" -maxdepth 1 -name 'keynet_*.deb' | head -1)
[ -n "$deb" ] || fail "cpack wrote no .deb"
depends=$(dpkg-deb -f "$deb" Depends)
echo "check-deb: $(basename "$deb") ($(du -h "$deb" | cut -f1)), depends: $depends"
[[ $depends == *libopenmpi* ]] || fail "the package is built with MPI but does not depend on OpenMPI"

dpkg -s keynet > /dev/null 2>&1 && fail "a keynet package is already installed; remove it first (apt-get purge keynet)"
work=$(mktemp -d /tmp/keynet-deb.XXXXXX)
away=$root.moved-away
cp "$root/tests/fixtures/ibug/validation/2113106881_1.jpg" "$work/face.jpg"
cp "$deb" "$work/"
restore() {
  [ -d "$away" ] && mv "$away" "$root"
  dpkg -s keynet > /dev/null 2>&1 && apt-get purge -y -qq keynet > /dev/null
  rm -rf "$work"
}
trap restore EXIT
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$work/$(basename "$deb")" > "$work/install.log" ||
  { cat "$work/install.log"; fail "apt-get install"; }
dpkg -L keynet > "$work/files"

mv "$root" "$away"
cd "$work"
nose_tip --version | tee "$work/version"
grep -q "nose_tip (keynet [0-9.]*, commit " "$work/version" || fail "nose_tip --version from PATH"
ibug_landmarks predict face.jpg --out "$work/predict" > "$work/points.csv" || fail "ibug_landmarks predict from PATH"
[ "$(wc -l < "$work/points.csv")" -ge 68 ] || fail "ibug_landmarks predict printed too few lines"
echo "check-deb: predict from PATH, the source tree moved away: $(wc -l < "$work/points.csv") lines of points"
mv "$away" "$root"

apt-get purge -y -qq keynet > /dev/null || fail "apt-get purge keynet"
left=""
while IFS= read -r path; do
  [ -f "$path" ] || [ -L "$path" ] && left+=" $path"
done < "$work/files"
[ -z "$left" ] || fail "files left after purge:$left"
[ ! -d /usr/share/keynet ] && [ ! -d /usr/include/keynet ] || fail "folders left after purge"
echo "check-deb: installed, ran from PATH and purged cleanly"
