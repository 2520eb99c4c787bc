#!/usr/bin/env bash
# Writes OUT/index.html: one page with every figure (PNG), animation (GIF) and metrics.json found
# under the results folder OUT, the steps' settings and times (OUT/steps.tsv, written by run.sh), and
# a share-alike notice beside each image derived from a photo whose licence in LICENSES (the
# faces_extra licence file) is CC BY-SA. It links only files that exist, by paths relative to OUT.
#
# The numbers are tables (jq reads each metrics.json): the evaluations against RESULTS.md's bars
# (table#headline), then parts 1-2 and part 3 with one row per evaluation or training run, the sweep,
# and every field of every metrics.json as a key/value table. The figures are a gallery of cells of
# one height, by section; the morph shows its first, middle and last frames (OUT/morph_frames, from
# face_morph sequence --frames-dir) beside the GIF. On load, the page sets <body data-images-loaded="N/M"
# data-headline="yes|no"> (tests/test_apps.cpp reads them from headless Chromium).
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

escape() { sed -e 's/&/\&amp;/g' -e 's/</\&lt;/g' -e 's/>/\&gt;/g' -e 's/"/\&quot;/g'; }

# The notice for a file whose name (or, for the morph and its frames, whose inputs in steps.tsv) mention
# a share-alike stem.
notice() {
  local file=$1 stem
  for stem in "${share_alike[@]}"; do
    if [[ "$(basename "$file")" == *"$stem"* ]] ||
       { [[ "$file" == *.gif || "$file" == *morph_frames/* ]] && grep -q "$stem\." "$out/steps.tsv" 2>/dev/null; }; then
      echo "<p class=\"licence\">Derived from $stem's photo, licensed CC BY-SA: this image is CC BY-SA too (see faces_extra/LICENSES.txt).</p>"
      return
    fi
  done
}

# What a figure shows, from where run.sh and the apps put it and what they name it.
caption() {
  local file=$1 what="" where="" seed
  case "$file" in
    */nose_tip_sweep/*) where="Part 1, nose tip" ;;
    */nose_tip*/*) where="Part 1, nose tip" ;;
    */face_points*/*) where="Part 2, 58 points" ;;
    */ibug_landmarks*/*) where="Part 3, 68 iBUG landmarks" ;;
  esac
  case "$file" in
    */train/*_sweep/*) where="$where, learning-rate and batch-size sweep" ;;
    */train/*_s[0-9]*/*) seed=${file#*/train/*_s}; where="$where, training run (seed ${seed%%/*})" ;;
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
    *) [[ "$file" == */predict/* || "$file" == */predictions/* ]] &&
         what="68 points found automatically (face finder and ResNet18), drawn on the photo" ;;
  esac
  # A figure none of the above knows: its name says what it is.
  [ -n "$what" ] || { what=$(basename "$file"); what=${what%.*}; what="figure: ${what//_/ }"; }
  if [ -n "$where" ]; then echo "$where: $what"; else echo "${what^}"; fi
}

# ---------------------------------------------------------------- the tables (jq)

# Number formats, the bars (RESULTS.md) and table cells. `fixed(n)`: n decimals; `sci`: 2.41e-4.
jq_defs='
def zeros(n): [range(n)] | map("0") | join("");
def fixed(n): if type != "number" then "—"
  else (if . < 0 then "-" else "" end) as $sign
  | ((if . < 0 then -. else . end) * pow(10; n) | round | tostring) as $d
  | if n == 0 then $sign + $d
    else (zeros([n + 1 - ($d | length), 0] | max) + $d) as $p
    | $sign + $p[0:($p | length) - n] + "." + $p[($p | length) - n:] end end;
def sci: if type != "number" then "—" elif . == 0 then "0"
  else (if . < 0 then "-" else "" end) as $sign | (if . < 0 then -. else . end) as $x
  | ($x | log10 | floor) as $e | (($x / pow(10; $e)) * 100 | round / 100) as $m
  | (if $m >= 10 then [$m / 10, $e + 1] else [$m, $e] end) as $me
  | $sign + ($me[0] | fixed(2)) + "e" + ($me[1] | tostring) end;
def esc: tostring | gsub("&"; "&amp;") | gsub("<"; "&lt;") | gsub(">"; "&gt;");
def td: "<td>" + (. | esc) + "</td>";
def num: "<td class=\"n\">" + . + "</td>";
def mark($value; $bar): if ($value | type) != "number" then "<td>—</td>"
  elif $value <= $bar then "<td class=\"met\">✓ met</td>" else "<td class=\"missed\">✗ not met</td>" end;
def app_of($path): if .app then .app
  else ["nose_tip", "face_points", "ibug_landmarks"] | map(select(. as $a | $path | contains($a))) | first // "" end;
def imm_bar($app): if $app == "nose_tip" then 7.0e-4 elif $app == "face_points" then 2.5e-4 else null end;
def part($app): {"nose_tip": "Part 1, nose tip", "face_points": "Part 2, 58 points",
                 "ibug_landmarks": "Part 3, 68 landmarks"}[$app] // $app;
def bar_cells($value; $bar; $applies; $why):
  if $bar == null then "<td>—</td><td>—</td>"
  else ($bar | if . < 0.01 then sci else tostring end) as $shown
  | if $applies then "<td class=\"n\">≤ \($shown)</td>" + mark($value; $bar)
    else "<td class=\"n\">≤ \($shown) (\($why))</td><td>—</td>" end end;
def run_name($path): $path | sub("/metrics.json$"; "");
'

# metrics.json files, relative to OUT: part 1, 2, 3, others; evaluations before training runs.
mapfile -t metrics_files < <(cd "$out" && find . -name metrics.json -not -path './.stamps/*' | sed 's|^\./||' |
  awk '{ part = /nose_tip/ ? 1 : /face_points/ ? 2 : /ibug_landmarks/ ? 3 : 4; print part (/^eval\// ? 0 : 1) "\t" $0 }' |
  sort | cut -f2-)

# jq PROGRAM over every metrics file (each with $path), output concatenated; files it cannot read add nothing.
over_metrics() {
  local file
  for file in "${metrics_files[@]}"; do
    jq -r --arg path "$file" "$jq_defs $1" "$out/$file" 2>/dev/null || true
  done
}

table() {  # table ID-OR-EMPTY HEADER-CELLS ROWS
  [ -n "$3" ] || return 0
  echo "<div class=\"wrap\"><table${1:+ id=\"$1\"}><tr>$2</tr>$3</table></div>"
}

headline_table() {
  local rows
  rows=$(over_metrics '
    (.eval | objects | select(.validation.mse_normalized != null)) as $e | app_of($path) as $app
    | "<tr>" + (part($app) | td) + ($e.model | td) + ("\($e.split) split: " + (if $e.split == "final" then "persons 33-40" else "part of persons 1-32" end) | td)
      + ($e.validation.faces | tostring | num) + ("MSE (normalized)" | td) + ($e.validation.mse_normalized | sci | num)
      + bar_cells($e.validation.mse_normalized; imm_bar($app); $e.split == "final"; "on persons 33-40") + "</tr>"')
  rows+=$(over_metrics '
    to_entries[] | select(.key | startswith("eval_")) | .value | select(.xml_boxes.nme_percent != null) | . as $e
    | ($e.labels | tostring | split("/") | last) as $labels | ($labels == "labels_ibug_300W_test.xml") as $test
    | "<tr>" + (part("ibug_landmarks") | td) + ($e.model | td) + ("\($labels), the XML'"'"'s boxes" | td)
      + ($e.xml_boxes.faces | tostring | num) + ("NME (%)" | td) + ($e.xml_boxes.nme_percent | fixed(3) | num)
      + bar_cells($e.xml_boxes.nme_percent; 4.5; $test; "on the 300-W test faces") + "</tr>",
      ( ($e.xml_boxes.kaggle_mae_original_px // null) as $orig
      | (if $orig != null then ["Kaggle MAE, original photos (px)", $orig] else ["Kaggle MAE, stored images (px)", $e.xml_boxes.kaggle_mae_stored_px] end) as $k
      | select($k[1] != null)
      | "<tr>" + (part("ibug_landmarks") | td) + ($e.model | td) + ("\($labels), the XML'"'"'s boxes" | td)
        + ($e.xml_boxes.faces | tostring | num) + ($k[0] | td) + ($k[1] | fixed(2) | num)
        + "<td class=\"n\">course reference 12.6</td><td class=\"ref\">" + (if $k[1] <= 12.6 then "below the reference" else "above the reference" end)
        + " (other faces: not a bar)</td></tr>")')
  [ -n "$rows" ] || return 0
  echo "<h2>Against the bars</h2>"
  table headline "<th>part</th><th>model</th><th>measured on</th><th>faces</th><th>measure</th><th>value</th><th>bar</th><th>met?</th>" "$rows"
  echo "<p class=\"note\">Bars (RESULTS.md): part 1 MSE at most 7.0e-4 and part 2 at most 2.5e-4 on persons 33-40 (the final split), part 3 NME at most 4.5% on the 300-W test faces with the XML's boxes. The course's reference Kaggle MAE (12.6 px) was measured on other faces, so it is shown, not judged.</p>"
}

imm_table() {
  local rows
  rows=$(over_metrics '
    app_of($path) as $app
    | ( (.eval | objects | select(.validation.mse_normalized != null)) as $e
        | "<tr>" + ("evaluation of \($e.model)" | td) + (part($app) | td) + ($e.split | td) + ($e.validation.faces | tostring | num)
          + ($e.validation.mse_normalized | sci | num) + ($e.validation.mean_point_distance_px | fixed(2) | num)
          + "<td>—</td><td>—</td><td>—</td>" + bar_cells($e.validation.mse_normalized; imm_bar($app); $e.split == "final"; "on the final split") + "</tr>" ),
      ( select(.validation.mse_normalized != null and .epochs != null) | . as $m | ($m.split // "final") as $split
        | "<tr>" + ("training run \(run_name($path))" | td) + (part($app) | td) + ($split | td) + ($m.validation.faces | tostring | num)
          + ($m.validation.mse_normalized | sci | num) + ($m.validation.mean_point_distance_px | fixed(2) | num)
          + ($m.epochs | tostring | num) + ($m.train_seconds | fixed(0) | num) + ($m.device // "—" | td)
          + bar_cells($m.validation.mse_normalized; imm_bar($app); $split == "final"; "on the final split") + "</tr>" )')
  [ -n "$rows" ] || return 0
  echo "<h2>Parts 1 and 2: IMM faces</h2>"
  table "" "<th>run</th><th>part</th><th>split</th><th>faces</th><th>MSE (normalized)</th><th>mean distance (px)</th><th>epochs</th><th>training (seconds)</th><th>device</th><th>bar (MSE)</th><th>met?</th>" "$rows"
  echo "<p class=\"note\">Validation faces: persons 33-40 on the final split, a held-out part of persons 1-32 on the dev split. MSE over coordinates scaled to 0-1 by the image size; mean distance in pixels of the stored 80x60 image. Training runs in quick and smoke mode are short demos.</p>"
}

ibug_table() {
  local rows
  rows=$(over_metrics '
    def boxes_row($e; $b; $which; $test):
      "<tr>" + ("evaluation of \($e.model)" | td) + ("\($e.labels | tostring | split("/") | last), \($which)" | td)
      + ($b.faces | tostring | num) + ($b.nme_percent | fixed(3) | num) + ($b.failure_rate_percent | fixed(2) | num)
      + ($b.auc_8 | fixed(3) | num) + ($b.kaggle_mae_original_px | fixed(2) | num) + ($b.kaggle_mae_stored_px | fixed(2) | num)
      + ($b.no_face_answers | if . == null then "—" else tostring end | num) + ($e.seconds | fixed(0) | num)
      + (if $which == "the XML'"'"'s boxes" then bar_cells($b.nme_percent; 4.5; $test; "test faces")
         else "<td>—</td><td>—</td>" end) + "</tr>";
    ( to_entries[] | select(.key | startswith("eval_")) | .value | select(.xml_boxes != null) | . as $e
      | ($e.labels | tostring | split("/") | last == "labels_ibug_300W_test.xml") as $test
      | boxes_row($e; $e.xml_boxes; "the XML'"'"'s boxes"; $test),
        (select($e.found_boxes != null) | boxes_row($e; $e.found_boxes; "faces found by the app"; $test)) ),
    ( select(.validation.nme_percent != null and .epochs != null) | . as $m
      | "<tr>" + ("training run \(run_name($path)) (\($m.epochs) epoch\(if $m.epochs == 1 then "" else "s" end), \($m.train_seconds | fixed(0)) s on \($m.device // "?"))" | td)
        + ("validation tenth of the training XML" | td) + ($m.validation.faces | tostring | num) + ($m.validation.nme_percent | fixed(3) | num)
        + "<td>—</td><td>—</td><td>—</td><td>—</td><td>—</td>" + ($m.train_seconds | fixed(0) | num)
        + "<td class=\"n\">≤ 4.5 (test faces)</td><td>—</td></tr>" )')
  [ -n "$rows" ] || return 0
  echo "<h2>Part 3: 68 iBUG landmarks</h2>"
  table "" "<th>run</th><th>faces and boxes</th><th>faces</th><th>NME (%)</th><th>failure rate (%)</th><th>AUC@8%</th><th>Kaggle MAE, original photos (px)</th><th>Kaggle MAE, stored images (px)</th><th>no face found (faces)</th><th>seconds</th><th>bar (NME %)</th><th>met?</th>" "$rows"
  echo "<p class=\"note\">NME: mean point-to-point error over the outer-eye-corner distance, per face, averaged; failure: a face with NME over 8%. Kaggle MAE: mean absolute error per coordinate, in the stored (cropped) images and in the original photos.</p>"
}

sweep_table() {
  local rows
  rows=$(over_metrics '
    .sweep | objects | to_entries[] | select(.value.mse_normalized != null)
    | "<tr>" + ("\(run_name($path)): \(.key)" | td) + (.value.faces | tostring | num) + (.value.mse_normalized | sci | num)
      + (.value.mean_point_distance_px | fixed(2) | num) + "</tr>"')
  [ -n "$rows" ] || return 0
  echo "<h2>Sweep</h2>"
  table "" "<th>setting</th><th>faces</th><th>MSE (normalized)</th><th>mean distance (px)</th>" "$rows"
}

# Every field of every metrics.json, dotted keys, with the unit its name implies.
all_fields() {
  local file rows
  ((${#metrics_files[@]})) || return 0
  echo "<h2>Every number</h2><p class=\"note\">Each metrics.json in full, one row per field.</p>"
  for file in "${metrics_files[@]}"; do
    rows=$(jq -r "$jq_defs"'
      paths(scalars) as $p | getpath($p) as $v | ($p | map(tostring) | join(".")) as $key
      | ($key | if test("_px$") then "px" elif test("percent") then "%" elif test("seconds") then "s"
                elif test("mse_normalized$") then "normalized" else "" end) as $unit
      | "<tr>" + ($key | td) + (if ($v | type) == "number" then ($v | tostring | num) else ($v | td) end) + ($unit | td) + "</tr>"' \
      "$out/$file" 2>/dev/null) || rows="<tr><td colspan=\"3\">not valid JSON</td></tr>"
    echo "<details><summary><code>$(escape <<< "$file")</code></summary>"
    table "" "<th>field</th><th>value</th><th>unit</th>" "${rows:-<tr><td colspan=\"3\">no fields</td></tr>}"
    echo "</details>"
  done
}

# ---------------------------------------------------------------- the figures

# Width and height of a PNG (from its header), or nothing.
png_size() {
  [[ "$1" == *.png ]] || return 0
  od -An -tu1 -j16 -N8 "$1" 2>/dev/null | awk 'NF == 8 { print $1 * 16777216 + $2 * 65536 + $3 * 256 + $4, $5 * 16777216 + $6 * 65536 + $7 * 256 + $8 }'
}

# figure FILE [CAPTION]: one gallery cell, linked to the full-size file; wide images span the row.
figure() {
  local file text=${2:-} size class=""
  file=$(escape <<< "$1")
  [ -n "$text" ] || text=$(caption "./$1" | escape)
  size=$(png_size "$out/$1")
  # Wide images (strips of faces, two-panel plots) take two cells or the whole row; the grid fills the gaps.
  if [ -n "$size" ]; then
    class=$(awk -v s="$size" 'BEGIN { split(s, d, " "); r = d[2] > 0 ? d[1] / d[2] : 1
                                      if (r > 3.2) print " class=\"full\""; else if (r > 1.7) print " class=\"wide\"" }')
  fi
  echo "<figure$class><a class=\"frame\" href=\"$file\"><img src=\"$file\" alt=\"${text:-$file}\"></a><figcaption>${text:+$text<br>}<code>$file</code>$(notice "$1")</figcaption></figure>"
}

section_of() {
  case "$1" in
    morph_frames/*|*.gif) echo morph ;;
    */nose_tip*/*|nose_tip*/*) echo part1 ;;
    */face_points*/*|face_points*/*) echo part2 ;;
    */ibug_landmarks*/*|ibug_landmarks*/*) echo part3 ;;
    predict/*|*/predict/*|predictions/*|*/predictions/*) echo predictions ;;
    *) echo other ;;
  esac
}

figures() {
  local -A cells=()
  local file section
  while IFS= read -r file; do
    file=${file#./}
    [[ "$file" == morph_frames/* ]] && continue  # three of them, beside the GIF
    section=$(section_of "$file")
    cells[$section]+=$(figure "$file")$'\n'
  done < <(cd "$out" && find . \( -name '*.png' -o -name '*.gif' \) -not -path './.stamps/*' | sort)
  # The morph's first, middle and last frames.
  local frames=()
  [ -d "$out/morph_frames" ] && mapfile -t frames < <(cd "$out" && find morph_frames -maxdepth 1 -name 'frame_*.png' | sort)
  if ((${#frames[@]})); then
    local last=$((${#frames[@]} - 1)) middle=$((${#frames[@]} / 2))
    cells[morph]+=$(figure "${frames[0]}" "Morph, first frame (1 of ${#frames[@]}): the first photo's face on the morph's canvas")$'\n'
    ((last > 1)) && cells[morph]+=$(figure "${frames[middle]}" "Morph, middle frame ($((middle + 1)) of ${#frames[@]}): shapes and colours halfway between the two faces")$'\n'
    ((last > 0)) && cells[morph]+=$(figure "${frames[last]}" "Morph, last frame (${#frames[@]} of ${#frames[@]}): the second photo's face")$'\n'
  fi
  ((${#cells[@]})) || return 0
  echo "<h2>Figures</h2>"
  local -A titles=([part1]="Part 1: nose tip" [part2]="Part 2: 58 points" [part3]="Part 3: 68 iBUG landmarks"
                [predictions]="68 points on other photos" [morph]="Morph" [other]="Other figures")
  for section in part1 part2 part3 predictions morph other; do
    [ -n "${cells[$section]:-}" ] || continue
    echo "<h3 id=\"figures-$section\">${titles[$section]}</h3><div class=\"gallery $section\">"
    printf '%s' "${cells[$section]}"
    echo "</div>"
  done
}

# ---------------------------------------------------------------- the page

{
  cat <<'HEAD'
<!doctype html>
<html><head><meta charset="utf-8"><title>keynet results</title>
<style>
body { font-family: sans-serif; max-width: 1140px; margin: 1.5em auto; padding: 0 1em; color: #222; }
h2 { margin-top: 1.6em; border-bottom: 1px solid #ddd; padding-bottom: 0.2em; }
.wrap { overflow-x: auto; }
table { border-collapse: collapse; margin: 0.5em 0; font-size: 85%; }
td, th { border: 1px solid #ccc; padding: 0.3em 0.55em; text-align: left; vertical-align: top; }
th { background: #f0f0f0; } td.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.met { color: #176b1e; font-weight: bold; white-space: nowrap; } td.missed { color: #b00; font-weight: bold; white-space: nowrap; }
#headline { font-size: 100%; } #headline th { background: #e4ecf7; }
td.ref { color: #555; } .note { color: #555; font-size: 90%; max-width: 60em; }
details { margin: 0.3em 0; } summary { cursor: pointer; }
.gallery { display: grid; grid-template-columns: repeat(auto-fill, minmax(340px, 1fr)); grid-auto-flow: dense; gap: 12px; }
.gallery figure { margin: 0; border: 1px solid #ddd; background: #fafafa; display: flex; flex-direction: column; }
.gallery.morph { grid-template-columns: repeat(auto-fill, minmax(250px, 1fr)); } .gallery.morph .frame { height: 200px; }
.gallery figure.wide { grid-column: span 2; } .gallery figure.full { grid-column: 1 / -1; }
.gallery .frame { display: block; height: 280px; background: #e8e8e8; }
.gallery img { display: block; width: 100%; height: 100%; object-fit: contain; }
figcaption { font-size: 88%; color: #333; padding: 0.4em 0.6em; } figcaption code { color: #777; font-size: 90%; overflow-wrap: anywhere; }
.licence { color: #a00; font-size: 90%; margin: 0.3em 0 0; }
</style>
<script>
window.addEventListener('load', function () {
  var images = document.images, loaded = 0;
  for (var i = 0; i < images.length; i++) if (images[i].complete && images[i].naturalWidth > 0) loaded++;
  document.body.setAttribute('data-images-loaded', loaded + '/' + images.length);
  document.body.setAttribute('data-headline', document.getElementById('headline') ? 'yes' : 'no');
});
</script></head><body>
<h1>keynet results</h1>
HEAD
  [ -z "$summary" ] || echo "<p><strong>$(escape <<< "$summary")</strong></p>"
  echo "<p>Written $(date -u +%Y-%m-%dT%H:%MZ) from <code>$(cd "$out" && pwd | escape)</code>.</p>"
  headline_table
  imm_table
  ibug_table
  sweep_table
  figures
  if [ -f "$out/steps.tsv" ]; then
    echo "<h2>Steps</h2><table><tr><th>step</th><th>seconds</th><th>command</th></tr>"
    while IFS=$'\t' read -r name seconds command; do
      echo "<tr><td>$(escape <<< "$name")</td><td class=\"n\">$seconds</td><td><code>$(escape <<< "$command")</code></td></tr>"
    done < "$out/steps.tsv"
    echo "</table>"
  fi
  all_fields
  echo "</body></html>"
} > "$out/index.html.tmp"
mv "$out/index.html.tmp" "$out/index.html"
echo "$out/index.html"
