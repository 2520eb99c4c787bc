#!/usr/bin/env bash
# Installs a keynet build to a temporary prefix and uses it the way another project would: builds
# examples/train_small and examples/find_face against it with find_package(keynet) and runs both, compiles
# a program through pkg-config, runs the installed apps (--version, predict on a photo with the shipped
# model found under share/keynet), and checks that no installed file names the source or build tree.
# CTest's install_package runs it on the build under test.
#
#   bash scripts/check-install.sh BUILD_DIR
set -euo pipefail
build=$(cd "${1:?usage: check-install.sh BUILD_DIR}" && pwd)
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d /tmp/keynet-install.XXXXXX)
trap 'rm -rf "$work"' EXIT
prefix=$work/prefix
fail() { echo "check-install: FAILED: $*" >&2; exit 1; }

cmake --install "$build" --prefix "$prefix" > "$work/install.log" || { cat "$work/install.log"; fail "cmake --install"; }
for path in include/keynet/train/trainer.h include/keynet/tensor/tensor.h share/keynet/models/ibug_landmarks.safetensors \
            bin/nose_tip bin/ibug_landmarks; do
  [ -e "$prefix/$path" ] || fail "$path is not installed"
done
libdir=$(dirname "$(find "$prefix" -name 'libkeynet.so.*.*' | head -1)")
[ -f "$libdir/libkeynet.a" ] && [ -L "$libdir/libkeynet.so" ] || fail "libkeynet.a and libkeynet.so are not both in $libdir"
soname=$(objdump -p "$libdir/libkeynet.so" | awk '/SONAME/ { print $2 }')
[[ $soname == libkeynet.so.[0-9]* ]] || fail "libkeynet.so has no versioned SONAME ($soname)"
# No installed file may name the trees it came from (paths compiled in, a CMake export pointing back).
for tree in "$root" "$build"; do
  named=$(grep -rlF "$tree" "$prefix" || true)
  [ -z "$named" ] || fail "installed files name $tree: $named"
done
# Nor include a header that is not installed (a private third-party one, or one of ours left out).
while IFS= read -r header; do
  for included in $(sed -n 's/^#include "\([^"]*\)".*/\1/p' "$header"); do
    [ -f "$prefix/include/keynet/$included" ] || fail "$header includes $included, which is not installed"
  done
done < <(find "$prefix/include/keynet" -name '*.h')

for example in train_small find_face; do
  cmake -S "$root/examples/$example" -B "$work/$example" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_BUILD_TYPE=Release \
    > "$work/$example.log" 2>&1 && cmake --build "$work/$example" >> "$work/$example.log" 2>&1 ||
    { cat "$work/$example.log"; fail "building examples/$example against the installed package"; }
done
"$work/train_small/train_small" "$work/small.safetensors" | tee "$work/train_small.out"
grep -q "the reloaded net predicts the same" "$work/train_small.out" || fail "train_small"
photo=$work/face.jpg
cp "$root/tests/fixtures/ibug/validation/2113106881_1.jpg" "$photo"
"$work/find_face/find_face" "$prefix/share/keynet/models/ibug_landmarks.safetensors" "$photo" > "$work/points.csv" ||
  fail "find_face"
[ "$(grep -c '^[0-9]*,[0-9.]*,[0-9.]*$' "$work/points.csv")" = 68 ] || fail "find_face did not print 68 points"
echo "find_face: 68 points, the first: $(sed -n 2p "$work/points.csv")"

# pkg-config: the same program compiled and linked from keynet.pc alone.
export PKG_CONFIG_PATH="$libdir/pkgconfig"
# shellcheck disable=SC2046
g++ -O1 -o "$work/train_small_pc" "$root/examples/train_small/main.cpp" $(pkg-config --cflags --libs keynet) ||
  fail "compiling with pkg-config --cflags --libs keynet"
LD_LIBRARY_PATH=$libdir "$work/train_small_pc" "$work/small_pc.safetensors" > /dev/null || fail "the pkg-config build"

# The installed apps, run from elsewhere: their version, and a prediction with the model under share/keynet.
cd "$work"
"$prefix/bin/nose_tip" --version | grep -q "nose_tip (keynet [0-9.]*, commit " || fail "nose_tip --version"
"$prefix/bin/ibug_landmarks" predict "$photo" --out "$work/predict" > "$work/predict.csv" || fail "ibug_landmarks predict"
[ "$(wc -l < "$work/predict.csv")" -ge 68 ] || fail "ibug_landmarks predict printed $(wc -l < "$work/predict.csv") lines"
echo "check-install: installed to a temporary prefix; both examples, pkg-config and the installed apps work, and no installed file names the source or build tree"
