#!/usr/bin/env bash
# The data subset that travels to the lent GPU machine (scripts/gpu-check.sh; its KEYNET_DATA): at most
# 15 MiB, made from the datasets here. The iBUG TEST set (labels_ibug_300W_test.xml) never goes in.
#   imm_face_db/   IMM persons 01-04 (train side of the final split) and 33-34 (validation), every view
#   ibug_300w/     every 25th face of labels_ibug_300W_train.xml (49 faces, as one XML of the same name),
#                  their crop_manifest.csv rows and photos, mirror_permutation_68.txt
#   faces_extra/   two photos for predict (the face finder) and face_morph --points auto
#
#   bash scripts/make-gpu-data.sh DIR        (sources: $KEYNET_DATA, else ../shared/data beside the repo)
# DIR is replaced. The folder .gpu-data/ in the repository is git-ignored and carried (README, GPU).
set -euo pipefail
out=${1:?usage: make-gpu-data.sh DIR}
root=$(cd "$(dirname "$0")/.." && pwd)
src=${KEYNET_DATA:-$root/../shared/data}
limit=$((15 * 1024 * 1024))
for need in imm_face_db ibug_300w/labels_ibug_300W_train.xml ibug_300w/crop_manifest.csv \
            ibug_300w/mirror_permutation_68.txt faces_extra/Chris.jpeg faces_extra/Paul.jpeg; do
  [ -e "$src/$need" ] || { echo "make-gpu-data: $src/$need is missing (set KEYNET_DATA to the datasets)" >&2; exit 1; }
done

rm -rf "$out"
mkdir -p "$out/imm_face_db" "$out/ibug_300w" "$out/faces_extra"
for person in 01 02 03 04 33 34; do
  cp "$src"/imm_face_db/"$person"-*.asf "$src"/imm_face_db/"$person"-*.jpg "$out/imm_face_db/"
done

# Every 25th <image>...</image> block of the training XML, header and footer kept; then the photos and
# manifest rows of the faces kept.
xml=labels_ibug_300W_train.xml
awk -v every=25 '
  /<image / { n++; keep = (n % every == 1) }
  /<\/images>/ { keep = 1 }
  n == 0 || keep { print }
  /<\/image>/ { keep = 0 }' "$src/ibug_300w/$xml" >"$out/ibug_300w/$xml"
grep -o "<image file='[^']*'" "$out/ibug_300w/$xml" | sed "s/<image file='//; s/'$//" >"$out/files.txt"
head -1 "$src/ibug_300w/crop_manifest.csv" >"$out/ibug_300w/crop_manifest.csv"
awk -F, 'NR == FNR { want[$1]; next } FNR > 1 && $1 in want' "$out/files.txt" "$src/ibug_300w/crop_manifest.csv" \
  >>"$out/ibug_300w/crop_manifest.csv"
while read -r file; do
  mkdir -p "$out/ibug_300w/$(dirname "$file")"
  cp "$src/ibug_300w/$file" "$out/ibug_300w/$file"
done <"$out/files.txt"
faces=$(wc -l <"$out/files.txt")
rows=$(($(wc -l <"$out/ibug_300w/crop_manifest.csv") - 1))
rm "$out/files.txt"
[ "$rows" = "$faces" ] || { echo "make-gpu-data: $faces faces but $rows crop_manifest.csv rows" >&2; exit 1; }
cp "$src/ibug_300w/mirror_permutation_68.txt" "$out/ibug_300w/"
cp "$src/faces_extra/Chris.jpeg" "$src/faces_extra/Paul.jpeg" "$out/faces_extra/"

bytes=$(du -sb "$out" | cut -f1)
if [ "$bytes" -gt "$limit" ]; then
  echo "make-gpu-data: $out takes $bytes bytes, over the 15 MiB ($limit bytes) the GPU run allows" >&2
  exit 1
fi
echo "make-gpu-data: $out: $(ls "$out/imm_face_db" | grep -c '\.jpg$') IMM photos, $faces iBUG training faces," \
     "2 extra photos; $bytes bytes"
