#!/usr/bin/env python3
"""How far two models' predictions lie apart: the mean (and largest) distance in pixels between the same
point of the same face in two prediction CSVs written by the apps' eval (predictions/*.csv, columns
x0,y0,x1,y1,... beside the columns that name the face). Used to check that a model stored as F16
predicts what its F32 original does (RESULTS.md, "Shipped models in F16").

    scripts/compare_predictions.py A.csv B.csv [--max-mean-px 0.05]

Exits 1 when the faces differ or the mean distance exceeds --max-mean-px."""
import argparse
import csv
import math
import re
import sys


def read(path):
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        sys.exit(f"{path}: no predictions")
    points = sorted({int(c[1:]) for c in rows[0] if re.fullmatch(r"[xy]\d+", c)})
    keys = [c for c in rows[0] if not re.fullmatch(r"[xy]\d+", c)]
    faces = {}
    for row in rows:
        key = tuple(row[k] for k in keys)
        if key in faces:
            sys.exit(f"{path}: the face {key} appears twice")
        faces[key] = [(float(row[f"x{i}"]), float(row[f"y{i}"])) for i in points]
    return faces


parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("a")
parser.add_argument("b")
parser.add_argument("--max-mean-px", type=float, default=0.05)
args = parser.parse_args()
a, b = read(args.a), read(args.b)
if a.keys() != b.keys():
    sys.exit(f"{args.a} and {args.b} hold different faces ({len(a.keys() ^ b.keys())} not in both)")
distances = [math.dist(p, q) for key in a for p, q in zip(a[key], b[key], strict=True)]
mean = sum(distances) / len(distances)
print(f"{len(a)} faces, {len(distances)} points: mean distance {mean:.4f} px, largest {max(distances):.4f} px")
sys.exit(0 if mean <= args.max_mean_px else 1)
