#!/usr/bin/env bash
# Hostile and careless commands against the built apps: each case runs in a scratch folder holding
# copies of the fixtures and asserts the exit code, a piece of the message, and that no file in the
# scratch folder was written, changed or removed (unless the case says which output it may write).
# Usage: tests/hostile/run.sh BUILD_DIR SOURCE_DIR. Cases that need the datasets (../shared/data or
# $KEYNET_DATA) are skipped, and counted, without them.
set -uo pipefail
build=$(cd "$1" && pwd)
source_dir=$(cd "$2" && pwd)
fixtures=$source_dir/tests/fixtures
data=${KEYNET_DATA:-$source_dir/../shared/data}
have_data=0; [ -d "$data/imm_face_db" ] && [ -d "$data/ibug_300w" ] && have_data=1
scratch=$(mktemp -d /tmp/keynet_hostile.XXXXXX)
trap 'rm -rf "$scratch"' EXIT
passed=0 failed=0 skipped=0

# The fixtures every case may read, copied so that a case that wrote over one would be caught.
cd "$scratch"
cp "$fixtures"/imm/01-1m.jpg "$fixtures"/imm/01-1m.asf "$fixtures"/imm/19-1m.jpg "$fixtures"/imm/19-1m.asf .
cp "$fixtures"/models/nose_tip_tiny.safetensors model.safetensors
cp -r "$fixtures"/ibug ibug
mkdir -p a b folder_model run_of_face_points existing_run/checkpoints drawn/predictions predictions caricatures_out
cp 01-1m.jpg a/face.jpg && cp 19-1m.jpg b/face.jpg
cp 01-1m.jpg "comma, \"quoted\".jpg"
cp 01-1m.jpg predictions/01-1m_nose_tip.png
echo '{"app": "face_points"}' > run_of_face_points/metrics.json
echo "epoch,train_loss,val_loss,val_metric,lr,seconds" > existing_run/log.csv
touch existing.png existing.gif existing.csv drawn/predictions/01-1m_nose_tip.png caricatures_out/keep.png
ln -s loop_b loop_a && ln -s loop_a loop_b
printf 'not an image at all\n' > text.jpg
: > empty.jpg
head -c 2000 01-1m.jpg > cut.jpg
python3 - <<'PY'
import struct, zlib
def png(w, h, rows=None):  # a gray PNG of zeros; with rows, only that many rows of data follow the header
    chunk = lambda t, d: struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)) + \
        chunk(b"IDAT", zlib.compress(b"\0" * ((w + 1) * (rows or h)))) + chunk(b"IEND", b"")
open("huge.png", "wb").write(png(16000, 12000, rows=1))  # the size alone must refuse it, before any decoding
open("tiny.png", "wb").write(png(1, 1))
open("portrait.png", "wb").write(png(30, 400))
open("wide.png", "wb").write(png(4000, 1))
PY
python3 -c "print('{\"image\": \"19-1m.jpg\", \"points\": [[1,2],[3,4]]}')" > other_image.json
cp ibug/labels_fixture.xml ibug/labels_ibug_300W_train.xml
printf "<dataset><images><image file='afw/2805422179_4.jpg'/></images></dataset>\n" > ibug/no_faces.xml

# Names of everything, and contents of every file; a run folder's .lock (rewritten with each holder's pid)
# and the background run of the lock case are left out.
snapshot() {
  local skip=( \( -path ./busy_run -o -path ./busy.log \) -prune -o )
  { find . "${skip[@]}" ! -name .lock -print; find . "${skip[@]}" -type f ! -name .lock -exec md5sum {} +; } | sort | md5sum
}

# expect CODE MESSAGE [--writes PATH] [--lacks TEXT] [--data] -- COMMAND...: CODE is a number or "nonzero";
# the output must hold MESSAGE and not TEXT.
expect() {
  local code=$1 message=$2; shift 2
  local writes="" lacks="" needs_data=0
  while [ "$1" != "--" ]; do
    case $1 in --writes) writes=$2; shift ;; --lacks) lacks=$2; shift ;; --data) needs_data=1 ;; esac; shift
  done
  shift
  local name="$*"
  if [ "$needs_data" = 1 ] && [ "$have_data" = 0 ]; then skipped=$((skipped + 1)); echo "SKIP (no datasets): $name"; return; fi
  local before after output status
  before=$(snapshot)
  output=$(cd "$scratch" && KEYNET_DATA="$data" timeout 300 "$@" 2>&1 < /dev/null); status=$?
  [ -n "$writes" ] && rm -rf "${scratch:?}/$writes"
  after=$(snapshot)
  local why=""
  if [ "$code" = nonzero ]; then [ "$status" != 0 ] || why="exit 0, expected non-zero"
  elif [ "$status" != "$code" ]; then why="exit $status, expected $code"; fi
  [[ "$output" == *"$message"* ]] || why="$why; the output lacks '$message'"
  [ -z "$lacks" ] || [[ "$output" != *"$lacks"* ]] || why="$why; the output says '$lacks'"
  [ "$before" = "$after" ] || why="$why; files in the scratch folder changed"
  if [ -z "$why" ]; then passed=$((passed + 1)); echo "ok: $name"
  else failed=$((failed + 1)); echo "FAILED: $name: ${why#; }"; echo "$output" | head -5 | sed 's/^/    /'; fi
}

nose=$build/nose_tip points=$build/face_points ibug=$build/ibug_landmarks morph=$build/face_morph
model="--model model.safetensors"
# A finished run to resume with other flags (2 short epochs of part 1).
if [ "$have_data" = 1 ]; then
  KEYNET_DATA="$data" $nose train --epochs 2 --out done_run > done_run.log 2>&1 || { cat done_run.log; exit 1; }
fi

# Outputs that would replace an input, an existing file, or have another format's name.
expect 1 "is one of this command's inputs" -- $morph midway 01-1m.jpg 19-1m.jpg --out 01-1m.jpg
expect 1 "is one of this command's inputs" -- $morph midway 01-1m.jpg 19-1m.jpg --out ./19-1m.jpg --force
expect 1 "writes .gif files" -- $morph sequence 01-1m.jpg 19-1m.jpg --out 01-1m.asf --force
expect 1 "writes .png files" -- $morph midway 01-1m.jpg 19-1m.jpg --out midway.jpg
expect 1 "writes .gif files" -- $morph sequence 01-1m.jpg 19-1m.jpg --out morph.png
expect 1 "existing.png: exists; pass --force" -- $morph midway 01-1m.jpg 19-1m.jpg --out existing.png
expect 1 "existing.gif: exists; pass --force" -- $morph sequence 01-1m.jpg 19-1m.jpg --out existing.gif
expect 1 "is a folder" -- $morph midway 01-1m.jpg 19-1m.jpg --out a
expect 1 "already holds files" -- $morph mean --out caricatures_out
expect 0 "midway face of" --writes midway.png -- $morph midway 01-1m.jpg 19-1m.jpg --out midway.png
expect 1 "would both be drawn to" -- $nose predict $model --out out a/face.jpg b/face.jpg
expect 1 "01-1m_nose_tip.png: exists; pass --force" -- $nose predict $model --out drawn 01-1m.jpg
expect 1 "01-1m.asf: is a file, not a run folder" -- $nose predict $model --out 01-1m.asf 01-1m.jpg
expect 1 "is one of this command's inputs" -- $nose predict $model --out . --force predictions/01-1m_nose_tip.png 01-1m.jpg
expect 1 "holds results of the app \"face_points\"" -- $nose predict $model --out run_of_face_points 01-1m.jpg
expect 1 "writes .csv files" -- $ibug kaggle --labels ibug/labels_fixture.xml --out kaggle.txt
expect 1 "existing.csv: exists; pass --force" -- $ibug kaggle --labels ibug/labels_fixture.xml --out existing.csv
expect 1 "is one of this command's inputs" -- $ibug kaggle --labels ibug/crop_manifest.csv --out ibug/crop_manifest.csv --force

# Files that are not what they claim, and paths that are not files.
expect nonzero "is a folder, not a file" -- $nose predict --model folder_model 01-1m.jpg
expect nonzero "Too many levels of symbolic links" -- $nose predict $model loop_a
expect nonzero "missing.jpg: no such file" -- $nose predict $model missing.jpg
expect 1 "cannot decode image file 'text.jpg'" -- $nose predict $model --out out text.jpg
expect 1 "'empty.jpg' is empty" -- $nose predict $model --out out empty.jpg
expect 1 "'cut.jpg' is truncated" -- $nose predict $model --out out cut.jpg
expect 1 "megapixels" -- $nose predict $model --out out huge.png
expect 1 "1 of 2 images failed" --writes out -- $nose predict $model --out out text.jpg 01-1m.jpg
expect 1 "01-1m.jpg,0," --writes out -- $nose predict $model --out out text.jpg 01-1m.jpg

# Images the IMM networks cannot read, and CSV fields that need quoting.
expect 1 "1x1 is not framed as IMM's photos are" -- $nose predict $model --out out tiny.png
expect 1 "30x400 is not framed as IMM's photos are" -- $nose predict $model --out out portrait.png
expect 1 "is not framed as IMM's photos are" -- $nose predict $model --out out wide.png
expect 0 '"comma, ""quoted"".jpg",0,' --writes out -- $nose predict $model --out out "comma, \"quoted\".jpg"

# --box and other numbers.
expect nonzero "--box" -- $ibug predict --box nan 0 100 100 01-1m.jpg
expect nonzero "--box" -- $ibug predict --box 0 0 inf 100 01-1m.jpg
expect 1 "a face box needs a width and height of 4 to" -- $ibug predict --box 0 0 1e9 1e9 01-1m.jpg
expect 1 "a face box needs a width and height of 4 to" -- $ibug predict --box 0 0 -5 10 01-1m.jpg
expect 1 "lies outside 01-1m.jpg" -- $ibug predict --box -900 -900 10 10 01-1m.jpg
expect nonzero "--lr" -- $nose train --lr nan --out out
expect nonzero "--epochs" -- $nose train --epochs 0 --out out
expect nonzero "--frames" -- $morph sequence 01-1m.jpg 19-1m.jpg --frames 100000 --out m.gif
expect nonzero "--size" -- $morph midway 01-1m.jpg 19-1m.jpg --size 99999x10 --out m.png

# Runs and evals: folders that are another app's, splits that would measure training faces.
expect 1 "holds results of the app \"face_points\"" -- $nose eval $model --out run_of_face_points
expect 1 "are faces it trained on" -- $nose eval $model --split fold1
expect 1 "the models train on these faces" -- $ibug eval --labels ibug/labels_ibug_300W_train.xml
expect 1 "is a file, not a run folder" -- $nose eval $model --out 01-1m.asf
expect 1 "ibug/no_faces.xml: no labelled faces" -- $ibug eval --labels ibug/no_faces.xml
expect 1 "holds no checkpoint to resume" --data -- $nose train --epochs 1 --resume --out fresh_run
expect 1 "already holds a run" --data -- $nose train --epochs 1 --out existing_run
expect 1 "is a file, not a run folder" --data -- $nose train --epochs 1 --out 01-1m.asf
expect 1 "epochs: the run has '2', this command gives '3'" --data -- $nose train --epochs 3 --resume --out done_run
expect 1 "split: the run has 'final', this command gives 'fold2'" --data -- $nose train --epochs 2 --split fold2 --resume --out done_run
expect 1 "seed: the run has '0', this command gives '7'" --data -- $nose train --epochs 2 --seed 7 --resume --out done_run
expect 1 "trained by the app 'nose_tip', not 'face_points'" --data -- $points train --epochs 2 --resume --out done_run
expect 1 "holds results of the app \"nose_tip\"" --data -- $points eval --out done_run
expect 1 "is larger than the" --data -- $ibug train --epochs 1 --batch 4000 --out big_batch

# A second process on a run folder in use is refused with the holder's pid; kill -9 releases it.
if [ "$have_data" = 1 ]; then
  (cd "$scratch" && KEYNET_DATA="$data" exec $nose train --epochs 500 --out busy_run > busy.log 2>&1) &
  holder=$!
  for _ in $(seq 600); do [ -s "$scratch/busy_run/.lock" ] && break; sleep 0.1; done
  expect 1 "busy_run is in use by pid $holder" -- $nose train --epochs 500 --out busy_run
  kill -9 "$holder"; wait "$holder" 2>/dev/null
  # Refused for another reason (no checkpoint yet, or --epochs differs from the run's), never "in use".
  expect 1 "busy_run" --lacks "in use" -- $nose train --epochs 499 --resume --out busy_run
else
  skipped=$((skipped + 2)); echo "SKIP (no datasets): the run folder lock"
fi
echo "hostile inputs: $passed passed, $failed failed, $skipped skipped"
[ "$failed" = 0 ]
