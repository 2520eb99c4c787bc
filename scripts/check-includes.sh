#!/usr/bin/env bash
# Keeps the folders' dependencies one way (docs/DESIGN.md):
#   tensor <- kernels <- layers <- optim <- io <- train <- apps/common <- apps
# A file may include its own folder and the folders before it in that chain; data/ may include only
# tensor/ and data/, and only train/ and the folders after it may include data/. Every #include of a
# project header in those folders is checked; tests/ and fuzz/ may include anything. Each offending
# include is listed as file:line with the rule it breaks, and the script exits 1.
# Inside kernels/, the backends (kernels/cpu, kernels/cuda, kernels/cudnn) may not include kernels/ops.h:
# ops.cpp dispatches down to them, and what they share with the API is in kernels/descriptors.h.
# docs/DESIGN.md must hold the whiteboard these rules print (--whiteboard), so the picture people read
# is the rule CI checks.
# Usage: bash scripts/check-includes.sh [ROOT]      check the tree at ROOT (default: this repository)
#        bash scripts/check-includes.sh --whiteboard print each folder's may / must never include
#        bash scripts/check-includes.sh --self-test  plant a bad include in a temporary tree and
#                                                    require the check to report it (exit 0 if it does)
set -euo pipefail

chain=(tensor kernels layers optim io train apps/common apps)
checked_folders=(tensor kernels layers optim io data train apps)

rank() {  # FOLDER -> its position in the chain, or nothing for data/
  local i
  for i in "${!chain[@]}"; do
    if [ "${chain[$i]}" = "$1" ]; then
      echo "$i"
      return
    fi
  done
}

chain_text() {  # "tensor <- kernels <- ... <- apps"
  local text=${chain[*]}
  echo "${text// / <- }"
}

folder_of() {  # PATH relative to the root -> the folder the rules know it by, or nothing
  case "$1" in
    apps/common/*) echo apps/common ;;
    apps/*) echo apps ;;
    tensor/* | kernels/* | layers/* | optim/* | io/* | data/* | train/*) echo "${1%%/*}" ;;
  esac
}

# Prints "the rule it breaks" when a file in folder FROM may not include folder TO; nothing if it may.
broken_rule() {  # FROM TO
  local from=$1 to=$2
  [ "$from" = "$to" ] && return
  if [ "$from" = data ]; then
    [ "$to" = tensor ] || echo "data/ depends on tensor/ only"
    return
  fi
  if [ "$to" = data ]; then
    [ "$(rank "$from")" -ge "$(rank train)" ] || echo "only train/ and the folders after it use data/"
    return
  fi
  [ "$(rank "$to")" -lt "$(rank "$from")" ] ||
    echo "$from/ may include only $from/ and the folders before it in $(chain_text)"
}

# Prints the rule a file breaks by including TARGET within its own folder; nothing if it breaks none.
broken_inner_rule() {  # FILE TARGET
  case "$1" in
    kernels/cpu/* | kernels/cuda/* | kernels/cudnn/*)
      [ "$2" != kernels/ops.h ] ||
        echo "a kernel backend may not include kernels/ops.h, the dispatch above it (see kernels/descriptors.h)" ;;
  esac
}

# The rules as a table, one row per folder, computed from broken_rule and broken_inner_rule.
whiteboard() {
  local folders=(tensor kernels layers optim io data train apps/common apps) from to may never
  echo "| folder | may include | must never include |"
  echo "|---|---|---|"
  for from in "${folders[@]}"; do
    may="" never=""
    for to in "${folders[@]}"; do
      if [ -z "$(broken_rule "$from" "$to")" ]; then may+="$to/ "; else never+="$to/ "; fi
    done
    echo "| $from/ | ${may% } | ${never:-nothing} |" | sed 's/ *|$/ |/'
  done
  for from in kernels/cpu kernels/cuda kernels/cudnn; do
    [ -n "$(broken_inner_rule "$from/x.h" kernels/ops.h)" ] &&
      echo "| $from/ | as kernels/ | kernels/ops.h (the dispatch above it; kernels/descriptors.h instead) |"
  done
  echo "| tests/, fuzz/ | anything | nothing |"
}

# Refuses a docs/DESIGN.md whose whiteboard (the table from its "| folder | may include ..." line to the
# first line that is not a table row) differs from the rules'.
check_whiteboard() {  # ROOT
  local design=$1/docs/DESIGN.md found
  [ -f "$design" ] || return 0
  found=$(awk '/^\| folder \| may include \| must never include \|$/ {on = 1} on && !/^\|/ {exit} on {print}' "$design")
  if [ "$found" != "$(whiteboard)" ]; then
    echo "check-includes: docs/DESIGN.md's whiteboard differs from the rules this script checks (< DESIGN.md, > rules):"
    diff <(echo "$found") <(whiteboard) | sed 's/^/  /'
    echo "paste the output of 'bash scripts/check-includes.sh --whiteboard' in its place"
    return 1
  fi
}

# The included path relative to the root: project paths are written from the root ("layers/module.h");
# any other path counts only if it names a file of the tree beside the including one ("common.cuh").
resolve() {  # ROOT INCLUDING_FILE INCLUDED
  local root=$1 file=$2 included=$3
  if [ -n "$(folder_of "$included")" ]; then
    echo "$included"
  elif [ -f "$root/$(dirname "$file")/$included" ]; then
    realpath -m --relative-to="$root" "$root/$(dirname "$file")/$included"
  fi
}

check_tree() {  # ROOT; prints each violation, returns 1 if there is any
  local root=$1 violations=0 file line_number text included target from to rule
  local folders=()
  for from in "${checked_folders[@]}"; do
    [ -d "$root/$from" ] && folders+=("$from")
  done
  [ ${#folders[@]} -gt 0 ] || { echo "check-includes: no source folders under $root" >&2; return 1; }
  while IFS=: read -r file line_number text; do
    included=$(sed -E 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*["<]([^">]+)[">].*/\1/' <<<"$text")
    target=$(resolve "$root" "$file" "$included")
    [ -n "$target" ] || continue
    from=$(folder_of "$file")
    to=$(folder_of "$target")
    [ -n "$to" ] || continue
    rule=$(broken_rule "$from" "$to")
    [ -n "$rule" ] || rule=$(broken_inner_rule "$file" "$target")
    if [ -n "$rule" ]; then
      echo "$file:$line_number: includes \"$included\": $rule"
      violations=$((violations + 1))
    fi
  done < <(cd "$root" && grep -rnE --include='*.h' --include='*.hpp' --include='*.cpp' --include='*.cu' \
             --include='*.cuh' '^[[:space:]]*#[[:space:]]*include[[:space:]]*["<]' "${folders[@]}")
  if [ "$violations" -gt 0 ]; then
    echo "check-includes: $violations include(s) against the dependency order (docs/DESIGN.md, Layout)"
    return 1
  fi
  echo "check-includes: every include in ${folders[*]} follows the dependency order"
  check_whiteboard "$root"
}

# The check must fail on a tree that breaks each kind of rule, and pass on one that keeps them.
self_test() {
  local status=0 report
  tree=$(mktemp -d)
  trap 'rm -rf "$tree"' EXIT
  mkdir -p "$tree"/{tensor,kernels/cuda,layers,data,train,apps/common}
  printf '#pragma once\n' > "$tree/tensor/tensor.h"
  printf '#pragma once\n#include "tensor/tensor.h"\n' > "$tree/kernels/descriptors.h"
  printf '#pragma once\n#include "kernels/descriptors.h"\n' > "$tree/kernels/cuda/kernels.h"
  printf '#pragma once\n#include "kernels/descriptors.h"\n' > "$tree/kernels/ops.h"
  printf '#include "kernels/ops.h"\n#include "kernels/cuda/kernels.h"\n' > "$tree/kernels/ops.cpp"
  printf '#pragma once\n#include "tensor/tensor.h"\n' > "$tree/layers/module.h"
  printf '#pragma once\n#include "tensor/tensor.h"\n' > "$tree/data/image.h"
  printf '#include "layers/module.h"\n#include "data/image.h"\n' > "$tree/train/trainer.cpp"
  printf '#include "train/trainer.cpp"\n' > "$tree/apps/common/cli.cpp"
  if ! report=$(check_tree "$tree"); then
    echo "check-includes self-test: a tree without bad includes was refused:"
    echo "$report"
    return 1
  fi
  local planted=(
    'tensor/x.h|#include "layers/module.h"|tensor/ may include only'
    'kernels/cuda/x.h|#include "kernels/ops.h"|a kernel backend may not include kernels/ops.h'
    'data/x.h|#include "layers/module.h"|data/ depends on tensor/ only'
    'layers/x.h|#include "data/image.h"|only train/ and the folders after it use data/'
    'layers/y.h|#include <train/trainer.cpp>|layers/ may include only'
    'apps/common/x.h|#include "apps/tool.cpp"|apps/common/ may include only'
  )
  local entry file include expected
  for entry in "${planted[@]}"; do
    IFS='|' read -r file include expected <<<"$entry"
    printf '#pragma once\n%s\n' "$include" > "$tree/$file"
    [ "$file" = apps/common/x.h ] && printf '\n' > "$tree/apps/tool.cpp"
    if report=$(check_tree "$tree"); then
      echo "check-includes self-test: FAILED: $file with $include was not refused"
      status=1
    elif ! grep -qF "$file:2: includes" <<<"$report" || ! grep -qF "$expected" <<<"$report"; then
      echo "check-includes self-test: FAILED: $file with $include: the report does not name it and its rule:"
      echo "$report"
      status=1
    else
      echo "check-includes self-test: refused as expected: $(grep -F "$file:2:" <<<"$report")"
    fi
    rm -f "$tree/$file" "$tree/apps/tool.cpp"
  done
  mkdir -p "$tree/docs"
  whiteboard | sed 's/^| data\/ | tensor\/ data\/ |/| data\/ | tensor\/ layers\/ data\/ |/' > "$tree/docs/DESIGN.md"
  if report=$(check_tree "$tree"); then
    echo "check-includes self-test: FAILED: a DESIGN.md whose whiteboard lets data/ include layers/ was accepted"
    status=1
  else
    echo "check-includes self-test: refused as expected: $(grep -F '< | data/' <<<"$report")"
  fi
  whiteboard > "$tree/docs/DESIGN.md"
  if ! report=$(check_tree "$tree"); then
    echo "check-includes self-test: FAILED: a DESIGN.md holding the rules' whiteboard was refused:"
    echo "$report"
    status=1
  fi
  [ "$status" -eq 0 ] && echo "check-includes self-test: every planted bad include was caught"
  return "$status"
}

if [ "${1:-}" = --self-test ]; then
  self_test
elif [ "${1:-}" = --whiteboard ]; then
  whiteboard
else
  check_tree "${1:-$(cd "$(dirname "$0")/.." && pwd)}"
fi
