#!/usr/bin/env bash
# keynet's main job: build, train the nose-tip, 58-point and 68-point networks, evaluate, draw the
# figures and morph faces found automatically, all into one results folder (default results/) whose
# index.html shows it all on one page (scripts/report.sh).
#
#   bash scripts/run.sh            quick mode (about 10 minutes on 2 CPU cores, build included): short
#                                  demo trainings of all three networks, then evaluation, predictions
#                                  and the morph with the models shipped in models/
#   bash scripts/run.sh --full     reproduces RESULTS.md: the full recipes, seeds 0-2 of parts 1 and 2
#                                  and the sweep (about 2.5 hours on 2 CPU cores), evaluated with the
#                                  seed-0 models they train; an interrupted run continues where it stopped
#   bash scripts/run.sh --smoke    every stage on a handful of images (CI)
#   --force                        redo steps already done; --out DIR another results folder
#
# The GPU is used when there is one (the apps' --device auto). A step already done with the same
# command, code and data is reused: each step's stamp holds a hash of all three. A failed step says
# which, with its output (the reason) above, and where its log is.
set -euo pipefail
cd "$(dirname "$0")/.."

mode=quick
force=0
out=results
while [ $# -gt 0 ]; do
  case "$1" in
    --full) mode=full ;;
    --smoke) mode=smoke ;;
    --force) force=1 ;;
    --out) out=$2; shift ;;
    -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "run.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done

data=${KEYNET_DATA:-../shared/data}
if [ ! -d "$data/imm_face_db" ] || [ ! -d "$data/ibug_300w" ]; then
  echo "run.sh: the datasets are not in $data (set KEYNET_DATA to the folder holding imm_face_db/ and ibug_300w/)" >&2
  exit 1
fi
mkdir -p "$out/logs" "$out/.stamps"
started=$(date +%s)

echo "== build ($(nproc) cores)"
bash scripts/build.sh > "$out/logs/build.log" 2>&1 || { tail -30 "$out/logs/build.log"; echo "run.sh: the build failed; log: $out/logs/build.log" >&2; exit 1; }

# What a step's result depends on: the sources (tracked files' hashes plus uncommitted changes) and
# the data's checksum lists.
code_hash=$( { git rev-parse HEAD^{tree} 2>/dev/null || echo no-git; git diff HEAD 2>/dev/null; } | sha256sum | cut -c1-16)
data_hash=$(cat "$data"/ibug_300w/SHA256SUMS.txt "$data"/imm_face_db/*.asf 2>/dev/null | sha256sum | cut -c1-16)

# step NAME DESCRIPTION RESULT COMMAND...: runs COMMAND (its output indented here and in
# $out/logs/NAME.log) unless the stamp says it already ran with the same command, code and data;
# RESULT (the folder or file it writes; and $also_result, when set, another one) is removed first, so a
# redone step starts afresh.
# train_step: the same for a training run, except that a run interrupted (killed, a failed epoch)
# with the same command, code and data continues from its last checkpoint (the apps' --resume).
step() {
  local name=$1 description=$2 result=$3
  shift 3
  local stamp
  stamp=$(printf '%s\n' "$*" "$code_hash" "$data_hash" | sha256sum | cut -c1-16)
  if [ "$force" = 0 ] && [ "$(cat "$out/.stamps/$name" 2>/dev/null)" = "$stamp" ]; then
    echo "== $description: done before with the same settings, code and data (--force redoes it)"
    return
  fi
  if [ "${resumable:-0}" = 1 ] && [ "$force" = 0 ] && [ -e "$result/checkpoints/last.safetensors" ] &&
     [ "$(cat "$out/.stamps/$name.started" 2>/dev/null)" = "$stamp" ]; then
    echo "== $description: continuing the interrupted run from $result/checkpoints/last.safetensors"
    set -- "$@" --resume
  else
    echo "== $description"
    rm -rf "$result" ${also_result:+"$also_result"}
  fi
  echo "$stamp" > "$out/.stamps/$name.started"
  local t0 status=0
  t0=$(date +%s)
  # The apps' progress (epoch, loss, ETA) shows here and goes to the log.
  set +e
  "$@" 2>&1 | tee "$out/logs/$name.log" | sed -u 's/^/   /'
  status=${PIPESTATUS[0]}
  set -e
  if [ "$status" != 0 ]; then
    echo "run.sh: step '$name' ($description) failed with exit code $status; log: $out/logs/$name.log" >&2
    exit 1
  fi
  echo "$stamp" > "$out/.stamps/$name"
  rm -f "$out/.stamps/$name.started"
  local seconds=$(( $(date +%s) - t0 ))
  echo "   $seconds s"
  # The report's table of steps: the newest entry of each step, with its command, in pipeline order.
  touch "$out/steps.tsv"
  awk -F'\t' -v name="$name" -v line="$name"$'\t'"$seconds"$'\t'"$*" \
    '$1 == name { print line; done = 1; next } { print } END { if (!done) print line }' "$out/steps.tsv" > "$out/steps.tsv.tmp"
  mv "$out/steps.tsv.tmp" "$out/steps.tsv"
}

train_step() { resumable=1 step "$@"; }

case $mode in
  quick) nose_epochs=30; points_epochs=12; ibug_epochs=1; ibug_size=160 ;;
  smoke) nose_epochs=1;  points_epochs=1;  ibug_epochs=1; ibug_size=32 ;;
  full)  nose_epochs=160; points_epochs=150; ibug_epochs=100; ibug_size=160 ;;
esac
train=$out/train
if [ "$mode" = full ]; then label=""; else label=" (demo: $mode mode, too short to be accurate; the evaluation uses models/)"; fi

train_step train_nose_tip "part 1: train the nose-tip network, $nose_epochs epochs$label" "$train/nose_tip" \
  ./build/nose_tip train --data "$data" --epochs "$nose_epochs" --out "$train/nose_tip"
train_step train_face_points "part 2: train the 58-point network, $points_epochs epochs$label" "$train/face_points" \
  ./build/face_points train --data "$data" --epochs "$points_epochs" --out "$train/face_points"
train_step train_ibug "part 3: train ResNet18 on 68 iBUG landmarks, $ibug_epochs epochs at ${ibug_size}x$ibug_size$label" "$train/ibug_landmarks" \
  ./build/ibug_landmarks train --data "$data" --epochs "$ibug_epochs" --size "$ibug_size" --out "$train/ibug_landmarks"

if [ "$mode" = full ]; then
  # RESULTS.md's seeds 1 and 2 of parts 1 and 2 (the median of three carries the bar), and the sweep.
  for seed in 1 2; do
    train_step "train_nose_tip_s$seed" "part 1: the nose-tip network, seed $seed" "$train/nose_tip_s$seed" \
      ./build/nose_tip train --data "$data" --seed "$seed" --out "$train/nose_tip_s$seed"
    train_step "train_face_points_s$seed" "part 2: the 58-point network, seed $seed" "$train/face_points_s$seed" \
      ./build/face_points train --data "$data" --seed "$seed" --out "$train/face_points_s$seed"
  done
  step sweep_nose_tip "part 1: learning rates and batch sizes, 25 epochs each on the dev split" "$train/nose_tip_sweep" \
    ./build/nose_tip sweep --data "$data" --out "$train/nose_tip_sweep"
fi

if [ "$mode" = full ]; then
  nose_model=$train/nose_tip/checkpoints/last.safetensors
  points_model=$train/face_points/checkpoints/last.safetensors
  ibug_model=$train/ibug_landmarks/checkpoints/best.safetensors
else
  nose_model=models/nose_tip.safetensors
  points_model=models/face_points.safetensors
  ibug_model=models/ibug_landmarks.safetensors
fi
if [ "$mode" = smoke ]; then
  ibug_labels=tests/fixtures/ibug/labels_fixture.xml
  found_boxes=true
  extra_photos=(tests/fixtures/ibug/afw/2805422179_4.jpg tests/fixtures/ibug/afw/5082623456_2.jpg)
  morph_pair=("${extra_photos[@]}")
  frames=3
else
  ibug_labels=$data/ibug_300w/labels_ibug_300W_test.xml
  found_boxes=$([ "$mode" = full ] && echo true || echo false)  # 11 minutes on a CPU for the 330 faces
  extra_photos=("$data"/faces_extra/*.png "$data"/faces_extra/*.jpg "$data"/faces_extra/*.jpeg)
  morph_pair=("$data/faces_extra/Chris.jpeg" "$data/faces_extra/Paul.jpeg")
  frames=46
fi

step eval_nose_tip "evaluate $nose_model on persons 33-40" "$out/eval/nose_tip" \
  ./build/nose_tip eval --data "$data" --model "$nose_model" --out "$out/eval/nose_tip"
step eval_face_points "evaluate $points_model on persons 33-40" "$out/eval/face_points" \
  ./build/face_points eval --data "$data" --model "$points_model" --out "$out/eval/face_points"
step eval_ibug "evaluate $ibug_model on $(basename "$ibug_labels") (XML boxes; self-found boxes too: $found_boxes)" "$out/eval/ibug_landmarks" \
  ./build/ibug_landmarks eval --model "$ibug_model" --labels "$ibug_labels" --found-boxes "$found_boxes" \
    --out "$out/eval/ibug_landmarks"
step kaggle_ibug "Kaggle CSV for $(basename "$ibug_labels")" "$out/kaggle.csv" \
  ./build/ibug_landmarks kaggle --model "$ibug_model" --labels "$ibug_labels" --out "$out/kaggle.csv"
step predict_extra "68 points on ${#extra_photos[@]} photos, faces found automatically" "$out/predict" \
  bash -c 'points=$1; shift; ./build/ibug_landmarks predict --format json "$@" > "$points"' _ "$out/predictions.json" \
    --model "$ibug_model" --out "$out/predict" "${extra_photos[@]}"
# Its frames as PNGs too (the report shows the first, middle and last beside the GIF).
also_result=$out/morph_frames step morph "morph $(basename "${morph_pair[0]}") into $(basename "${morph_pair[1]}") with automatic keypoints ($frames frames)" \
  "$out/morph.gif" ./build/face_morph sequence "${morph_pair[@]}" --points-a auto --points-b auto \
    --frames "$frames" --out "$out/morph.gif" --frames-dir "$out/morph_frames"

# One page that points at everything.
{
  echo "# keynet results ($mode mode, $(date -u +%Y-%m-%dT%H:%MZ))"
  echo
  echo "Training runs (log.csv, figures/, checkpoints/): $train/*$label"
  echo
  for app in nose_tip face_points ibug_landmarks; do
    echo "## $app"
    echo
    echo '```json'
    cat "$out/eval/$app/metrics.json"
    echo '```'
    echo
  done
  echo "Figures: $out/train/*/figures, $out/eval/*/figures; predictions drawn: $out/predict/predictions (points: $out/predictions.json); Kaggle CSV: $out/kaggle.csv; morph: $out/morph.gif (frames: $out/morph_frames)."
} > "$out/README.md"
bash scripts/report.sh "$out" "$data/faces_extra/LICENSES.txt" \
  "$mode mode; this run of run.sh took $(( $(date +%s) - started )) s (steps done before are reused; each step's own time is in the table).$label" > /dev/null
echo "== done in $(( $(date +%s) - started )) s: open $out/index.html (the report) or read $out/README.md"
