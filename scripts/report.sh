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

# What a figure shows, from where run.sh and the apps put it and what they name it.
caption() {
  local file=$1 what="" where=""
  case "$file" in
    */nose_tip/*) where="Part 1, nose tip" ;;
    */face_points/*) where="Part 2, 58 points" ;;
    */ibug_landmarks/*) where="Part 3, 68 iBUG landmarks" ;;
  esac
  case "$file" in
    */train/*) where="$where, training run" ;;
    */eval/*) where="$where, evaluation of the model" ;;
  esac
  case "$(basename "$file")" in
    loader_samples.png) what="training samples as the data loader gives them (augmented), ground truth in green" ;;
    training_curves.png) what="training and validation loss per epoch, and the validation metric" ;;
    best_and_worst.png|validation_best_and_worst.png)
      what="the two best (top) and two worst (bottom) validation faces: ground truth green, prediction red" ;;
    first_layer_filters.png) what="the first convolution's filters, each scaled to its own range" ;;
    sweep.png) what="validation curves for several learning rates and batch sizes" ;;
    ced_*.png) what="cumulative error distribution: the fraction of faces under each NME" ;;
    best_median_worst_*.png) what="faces from best to worst NME: ground truth green, prediction red" ;;
    *.gif) what="morph animation: shapes and colours blended from the first photo to the second, keypoints found automatically" ;;
    *) [[ "$file" == */predictions/* ]] && what="68 points found automatically (face finder and ResNet18), drawn on the photo" ;;
  esac
  if [ -n "$where" ] && [ -n "$what" ]; then echo "$where: $what"; else echo "${where}${what}"; fi
}

# The headline numbers of every evaluation and training run found, one table (jq reads metrics.json;
# a file without the expected fields adds no row).
summary_table() {
  local file rows=""
  for app in nose_tip face_points; do
    file=$out/eval/$app/metrics.json
    [ -f "$file" ] && rows+=$(jq -r --arg app "$app" '.eval | select(.validation.mse_normalized != null) | "<tr><td>\($app), \(.split) split validation faces</td><td>\(.validation.faces)</td><td>MSE \(.validation.mse_normalized * 1e6 | round / 1e6), mean distance \(.validation.mean_point_distance_px * 100 | round / 100) px</td><td>\(.model)</td></tr>"' "$file" 2>/dev/null || true)
  done
  file=$out/eval/ibug_landmarks/metrics.json
  [ -f "$file" ] && rows+=$(jq -r 'to_entries[] | select(.key | startswith("eval_")) | .value | select(.xml_boxes != null) |
      "<tr><td>ibug_landmarks, \(.labels | split("/") | last)</td><td>\(.xml_boxes.faces)</td><td>NME \(.xml_boxes.nme_percent * 1000 | round / 1000)% (label boxes)" +
      (if .found_boxes then ", \(.found_boxes.nme_percent * 1000 | round / 1000)% (faces found by the app, \(.found_boxes.no_face_answers) without a face)" else "" end) +
      ", failure rate \(.xml_boxes.failure_rate_percent * 100 | round / 100)%, Kaggle MAE \(.xml_boxes.kaggle_mae_original_px * 100 | round / 100) px</td><td>\(.model)</td></tr>"' "$file" 2>/dev/null || true)
  while IFS= read -r file; do
    rows+=$(jq -r --arg run "${file%/metrics.json}" 'select(.validation != null and .epochs != null) |
      "<tr><td>training run \($run) (\(.epochs) epochs, \(.train_seconds | round) s on \(.device))</td><td>\(.validation.faces)</td><td>validation " +
      (if .validation.mse_normalized then "MSE \(.validation.mse_normalized * 1e6 | round / 1e6), mean distance \(.validation.mean_point_distance_px * 100 | round / 100) px"
       else "NME \(.validation.nme_percent * 1000 | round / 1000)%" end) + "</td><td>\($run)/checkpoints</td></tr>"' "$out/$file" 2>/dev/null || true)
  done < <(cd "$out" && find train -maxdepth 2 -name metrics.json 2>/dev/null | sort)
  [ -z "$rows" ] && return
  echo "<h2>Summary</h2><table><tr><th>what</th><th>faces</th><th>result</th><th>model</th></tr>$rows</table>"
  echo "<p>Bars (RESULTS.md): part 1 MSE at most 7.0e-4, part 2 at most 2.5e-4, part 3 NME at most 4.5% on the test faces; the course's reference reached a Kaggle MAE of 12.6 px.</p>"
}

{
  cat <<'HEAD'
<!doctype html>
<html><head><meta charset="utf-8"><title>keynet results</title>
<style>
body { font-family: sans-serif; max-width: 1100px; margin: 2em auto; color: #222; }
img { max-width: 100%; border: 1px solid #ccc; }
figure { margin: 1.5em 0; } figcaption { font-size: 95%; color: #333; } figcaption code { color: #777; }
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
  summary_table
  echo "<h2>Metrics</h2>"
  while IFS= read -r file; do
    echo "<h3>${file#./}</h3><pre>$(escape < "$out/$file")</pre>"
  done < <(cd "$out" && find . -name metrics.json -not -path './.stamps/*' | sort)
  echo "<h2>Figures</h2>"
  while IFS= read -r file; do
    text=$(caption "$file" | escape)
    echo "<figure><img src=\"${file#./}\" alt=\"${text:-${file#./}}\"><figcaption>${text:+$text<br>}<code>${file#./}</code></figcaption>$(notice "$file")</figure>"
  done < <(cd "$out" && find . \( -name '*.png' -o -name '*.gif' \) -not -path './.stamps/*' | sort)
  echo "</body></html>"
} > "$out/index.html.tmp"
mv "$out/index.html.tmp" "$out/index.html"
echo "$out/index.html"
