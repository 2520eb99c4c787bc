#!/usr/bin/env bash
# Writes OUT/index.html: one page with every figure (PNG), animation (GIF) and metrics.json found
# under the results folder OUT, the steps' settings and times (OUT/steps.tsv, written by run.sh), and
# a share-alike notice beside each image derived from a photo whose licence in LICENSES (the
# faces_extra licence file) is CC BY-SA. It links only files that exist, by paths relative to OUT.
#
#   bash scripts/report.sh OUT [LICENSES] [SUMMARY]      SUMMARY: a line shown under the title
set -euo pipefail
out=${1:?usage: report.sh OUT [LICENSES] [SUMMARY]}
licenses=${2:-}
summary=${3:-}
[ -d "$out" ] || { echo "report.sh: $out is not a folder" >&2; exit 1; }

# Photo stems under a share-alike licence: a heading line names the files, a later License line says BY-SA.
share_alike=()
if [ -n "$licenses" ] && [ -f "$licenses" ]; then
  mapfile -t share_alike < <(awk '
    /^[A-Za-z0-9_]+\.(png|jpe?g)/ { names = ""; for (i = 1; i <= NF; i++) if ($i ~ /^[A-Za-z0-9_]+\.(png|jpe?g)$/) { sub(/\.[a-z]+$/, "", $i); names = names " " $i } }
    /License:.*BY-SA/ { n = split(names, list, " "); for (i = 1; i <= n; i++) print list[i] }' "$licenses" | sort -u)
fi

escape() { sed -e 's/&/\&amp;/g' -e 's/</\&lt;/g' -e 's/>/\&gt;/g'; }

# The notice for a file whose name (or, for the morph, whose inputs in steps.tsv) mention a share-alike stem.
notice() {
  local file=$1 stem
  for stem in "${share_alike[@]}"; do
    if [[ "$(basename "$file")" == *"$stem"* ]] ||
       { [[ "$file" == *.gif ]] && grep -q "$stem\." "$out/steps.tsv" 2>/dev/null; }; then
      echo "<p class=\"licence\">Derived from $stem's photo, licensed CC BY-SA: this image is CC BY-SA too (see faces_extra/LICENSES.txt).</p>"
      return
    fi
  done
}

{
  cat <<'HEAD'
<!doctype html>
<html><head><meta charset="utf-8"><title>keynet results</title>
<style>
body { font-family: sans-serif; max-width: 1100px; margin: 2em auto; color: #222; }
img { max-width: 100%; border: 1px solid #ccc; }
figure { margin: 1.5em 0; } figcaption { font-family: monospace; font-size: 90%; color: #555; }
pre { background: #f6f6f6; padding: 0.8em; overflow-x: auto; font-size: 85%; }
table { border-collapse: collapse; } td, th { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: left; }
.licence { color: #a00; font-size: 90%; }
</style></head><body>
<h1>keynet results</h1>
HEAD
  [ -z "$summary" ] || echo "<p><strong>$(escape <<< "$summary")</strong></p>"
  echo "<p>Written $(date -u +%Y-%m-%dT%H:%MZ) from <code>$(cd "$out" && pwd | escape)</code>.</p>"
  if [ -f "$out/steps.tsv" ]; then
    echo "<h2>Steps</h2><table><tr><th>step</th><th>seconds</th><th>command</th></tr>"
    while IFS=$'\t' read -r name seconds command; do
      echo "<tr><td>$(escape <<< "$name")</td><td>$seconds</td><td><code>$(escape <<< "$command")</code></td></tr>"
    done < "$out/steps.tsv"
    echo "</table>"
  fi
  echo "<h2>Metrics</h2>"
  while IFS= read -r file; do
    echo "<h3>${file#./}</h3><pre>$(escape < "$out/$file")</pre>"
  done < <(cd "$out" && find . -name metrics.json -not -path './.stamps/*' | sort)
  echo "<h2>Figures</h2>"
  while IFS= read -r file; do
    echo "<figure><img src=\"${file#./}\" alt=\"${file#./}\"><figcaption>${file#./}</figcaption>$(notice "$file")</figure>"
  done < <(cd "$out" && find . \( -name '*.png' -o -name '*.gif' \) -not -path './.stamps/*' | sort)
  echo "</body></html>"
} > "$out/index.html.tmp"
mv "$out/index.html.tmp" "$out/index.html"
echo "$out/index.html"
