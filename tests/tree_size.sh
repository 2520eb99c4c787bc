#!/usr/bin/env bash
# The tracked files must stay small enough to travel: the GPU machine accepts a working tree of at most
# 64 MiB, so the files `git ls-files` lists may take at most 40 MiB (41943040 bytes) together, leaving
# room for a build folder carried beside them. Over the limit, it fails naming the total and the five
# largest files. Outside a git checkout (a source archive) there is nothing to measure: exit 77, which
# CTest reports as skipped.
#
#   tests/tree_size.sh SOURCE_DIR [LIMIT_BYTES]      (the limit also from $KEYNET_TREE_LIMIT)
#   tests/tree_size.sh SOURCE_DIR --self-test        (a 1000-byte limit must fail, with the listing)
#   tests/tree_size.sh SOURCE_DIR --travel [LIMIT_BYTES]
#       what scripts/gpu-check.sh sends: the tracked files, the data subset (.gpu-data/, else one made by
#       scripts/make-gpu-data.sh in a temporary folder; at most 15 MiB) and the carried packages (.deps/)
#       take at most 64 MiB together (LIMIT_BYTES, default 67108864); 77 without the datasets or git
set -uo pipefail
source_dir=$(cd "${1:?usage: tree_size.sh SOURCE_DIR [LIMIT_BYTES | --self-test | --travel [LIMIT_BYTES]]}" && pwd)

if [ "${2:-}" = --travel ]; then
  limit=${3:-67108864}
  subset_limit=$((15 * 1024 * 1024))
  tracked=$(bash "$0" "$source_dir" 999999999999 | sed -n 's/.* take \([0-9]*\) bytes.*/\1/p')
  [ -n "$tracked" ] || { echo "skipped: $source_dir is not the top of a git checkout"; exit 77; }
  subset=$source_dir/.gpu-data
  if [ ! -d "$subset" ]; then
    [ -d "${KEYNET_DATA:-$source_dir/../shared/data}/ibug_300w" ] ||
      { echo "skipped: no .gpu-data and no datasets to make it from (KEYNET_DATA)"; exit 77; }
    subset=$(mktemp -d)/gpu-data
    trap 'rm -rf "$(dirname "$subset")"' EXIT
    bash "$source_dir/scripts/make-gpu-data.sh" "$subset" >/dev/null || exit 1
  fi
  subset_bytes=$(du -sb "$subset" | cut -f1)
  deps_bytes=0
  [ -d "$source_dir/.deps" ] && deps_bytes=$(du -sb "$source_dir/.deps" | cut -f1)
  total=$((tracked + subset_bytes + deps_bytes))
  echo "tree_size --travel: tracked $tracked + subset $subset_bytes ($subset) + .deps $deps_bytes" \
       "= $total bytes, limit $limit; the subset's limit $subset_limit"
  [ "$deps_bytes" = 0 ] && echo "  .deps/ not fetched here (scripts/fetch-gpu-deps.sh: about 2.6 MiB)"
  if [ "$subset_bytes" -gt "$subset_limit" ]; then echo "tree_size --travel: the subset is over 15 MiB"; exit 1; fi
  if [ "$total" -gt "$limit" ]; then
    echo "tree_size --travel: over the limit of $limit bytes: the GPU machine takes at most 64 MiB"; exit 1
  fi
  exit 0
fi

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
