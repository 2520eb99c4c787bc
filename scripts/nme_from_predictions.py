#!/usr/bin/env python3
"""The 68-point metrics of a predictions CSV recomputed without keynet: the check that RESULTS.md's part 3
numbers are what the predictions say (issue 25). Reads the CSV that `ibug_landmarks eval` writes
(predictions/*.csv: image, x0, y0, ..., x67, y67, one row per face in the label XML's order) and the dlib
label XML it was measured on, and prints per-face NME statistics:

    scripts/nme_from_predictions.py PREDICTIONS.csv LABELS.xml [--worst 3]

NME: the mean point-to-point distance over the distance between the outer eye corners (points 36 and 45,
counted from 0), per face, in percent; FR@8: the share of faces above 8%; AUC@8: the area under the
cumulative error distribution from 0 to 8%, over 8 (exactly: the mean of max(0, 8 - NME) / 8)."""
import argparse
import csv
import math
import os
import statistics
import sys
import xml.etree.ElementTree as ET

POINTS = 68
THRESHOLD = 8.0


def read_labels(path):
    faces = []
    for image in ET.parse(path).getroot().iter("image"):
        for box in image.iter("box"):
            parts = {int(p.get("name")): (float(p.get("x")), float(p.get("y"))) for p in box.iter("part")}
            if len(parts) != POINTS:
                sys.exit(f"{path}: a face of {image.get('file')} has {len(parts)} points, not {POINTS}")
            faces.append((image.get("file"), [parts[i] for i in range(POINTS)]))
    return faces


def read_predictions(path):
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    return [(row["image"], [(float(row[f"x{i}"]), float(row[f"y{i}"])) for i in range(POINTS)]) for row in rows]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("predictions")
    parser.add_argument("labels")
    parser.add_argument("--worst", type=int, default=3, help="faces listed at each end")
    args = parser.parse_args()
    truth, predicted = read_labels(args.labels), read_predictions(args.predictions)
    if len(truth) != len(predicted):
        sys.exit(f"{args.predictions}: {len(predicted)} faces, {args.labels}: {len(truth)}")
    nme = []
    here = os.path.dirname(os.path.abspath(args.labels))  # both name images relative to the XML's folder
    for (image, points), (predicted_image, guess) in zip(truth, predicted):
        if os.path.normpath(os.path.join(here, predicted_image)) != os.path.normpath(os.path.join(here, image)):
            sys.exit(f"{args.predictions}: face {len(nme)} is {predicted_image}, the XML's is {image}")
        eyes = math.dist(points[36], points[45])
        nme.append(100 * statistics.fmean(math.dist(p, q) for p, q in zip(points, guess)) / eyes)
    above = [n for n in nme if n > THRESHOLD]
    print(f"faces {len(nme)}  NME {statistics.fmean(nme):.4f}%  median {statistics.median(nme):.4f}%  "
          f"FR@8 {100 * len(above) / len(nme):.4f}% ({len(above)} faces)  "
          f"AUC@8 {statistics.fmean(max(0.0, THRESHOLD - n) / THRESHOLD for n in nme):.4f}")
    order = sorted(range(len(nme)), key=lambda i: nme[i])
    for label, picks in (("best", order[:args.worst]), ("worst", order[-args.worst:])):
        print(f"{label}: " + ", ".join(f"{truth[i][0]} {nme[i]:.2f}%" for i in picks))


if __name__ == "__main__":
    main()
