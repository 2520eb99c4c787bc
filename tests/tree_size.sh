#!/usr/bin/env bash
# The tracked files must stay small enough to travel: the GPU machine accepts a working tree of at most
# 64 MiB, so the files `git ls-files` lists may take at most 40 MiB (41943040 bytes) together, leaving
# room for a build folder carried beside them. Over the limit, it fails naming the total and the five
# largest files. Outside a git checkout (a source archive) there is nothing to measure: exit 77, which
# CTest reports as skipped.
#
#   tests/tree_size.sh SOURCE_DIR [LIMIT_BYTES]      (the limit also from $KEYNET_TREE_LIMIT)
#   tests/tree_size.sh SOURCE_DIR --self-test        (a 1000-byte limit must fail, with the listing)
set -uo pipefail
source_dir=$(cd "${1:?usage: tree_size.sh SOURCE_DIR [LIMIT_BYTES | --self-test]}" && pwd)

if [ "${2:-}" = --self-test ]; then
  output=$(bash "$0" "$source_dir" 1000 2>&1); status=$?
  [ "$status" = 77 ] && { echo "$output"; exit 77; }
  echo "$output"
  if [ "$status" = 1 ] && grep -q "over the limit of 1000 bytes" <<<"$output" &&
     [ "$(grep -c '^  *[0-9]\+ bytes  ' <<<"$output")" = 5 ]; then
    echo "self-test: a 1000-byte limit fails, naming the total and five files"; exit 0
  fi
  echo "self-test FAILED: a 1000-byte limit should exit 1 naming the total and five files (exit $status)"; exit 1
fi

limit=${2:-${KEYNET_TREE_LIMIT:-41943040}}
[[ "$limit" =~ ^[0-9]+$ ]] || { echo "tree_size: the limit '$limit' is not a number of bytes"; exit 2; }
top=$(git -C "$source_dir" rev-parse --show-toplevel 2>/dev/null)
if [ -z "$top" ] || [ "$(cd "$top" && pwd -P)" != "$(cd "$source_dir" && pwd -P)" ]; then
  echo "skipped: $source_dir is not the top of a git checkout, so there are no tracked files to measure"
  exit 77
fi

# "size<TAB>path" per tracked file present in the working tree (a link counts as the link itself).
sizes=$(cd "$source_dir" && git ls-files -z | xargs -0 -r stat --printf '%s\t%n\n' 2>/dev/null | sort -k1,1nr)
total=$(awk -F'\t' '{ sum += $1 } END { print sum + 0 }' <<<"$sizes")
count=$(grep -c . <<<"$sizes")
mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }
if [ "$total" -gt "$limit" ]; then
  echo "tree_size: the $count tracked files take $total bytes ($(mib "$total")), over the limit of $limit bytes" \
       "($(mib "$limit")); the GPU machine accepts at most 64 MiB. The largest:"
  head -5 <<<"$sizes" | awk -F'\t' '{ printf "  %10d bytes  %s\n", $1, $2 }'
  echo "shrink them (models: ./build/convert_model, see models/README.md; figures: optipng, gifsicle -O3) or keep" \
       "large files out of git"
  exit 1
fi
echo "tree_size: the $count tracked files take $total bytes ($(mib "$total")), within $limit bytes ($(mib "$limit"))"
