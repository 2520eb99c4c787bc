#!/usr/bin/env python3
"""The log of scripts/bench-cpu-compare.sh as the tables BENCHMARKS.md quotes: per round and as medians,
the 3x3 128->128 convolution's forward+backward GFLOP/s, each net's training step (ms) and the peak memory
of a process running the ResNet18 step alone (MiB), for
keynet, the optional "before" build and PyTorch, with keynet's ratios to PyTorch (time ratios: lower is
better; the convolution's GFLOP/s ratio: higher is better).
usage: bench_cpu_summary.py LOG"""
import re
import statistics
import sys


def parse(path):
    """{side: {key: [value per round]}}; keys: 'conv' (all GF/s) and (net, batch) -> (ms, peak MiB)."""
    runs, side = {}, None
    for line in open(path):
        if line.startswith("#### "):
            side = line[5:].strip()
            continue
        if side is None:
            continue
        cells = line.split()
        if line.startswith("3x3 128->128 28x28 N16"):
            runs.setdefault(side, {}).setdefault("conv", []).append(float(cells[-1]))
        elif len(cells) == 7 and re.fullmatch(r"(nosenet|facenet|resnet18)", cells[0]) and cells[1].isdigit():
            key = (cells[0], int(cells[1]))
            runs.setdefault(side, {}).setdefault(key, []).append((float(cells[3]), float(cells[6])))
    return runs


def main():
    runs = parse(sys.argv[1])
    sides = [s for s in ("keynet", "before", "pytorch") if s in runs]
    med = statistics.median
    print("| what | " + " | ".join(f"{s} (runs)" for s in sides) + " | " + " | ".join(f"{s} median" for s in sides)
          + " | keynet / PyTorch |")
    print("|---" * (2 * len(sides) + 2) + "|")
    conv = {s: runs[s].get("conv", []) for s in sides}
    ratio = med(conv["keynet"]) / med(conv["pytorch"])
    print("| 3x3 128->128 28x28 N16, fwd+bwd GFLOP/s | " + " | ".join(", ".join(f"{v:.1f}" for v in conv[s]) for s in sides)
          + " | " + " | ".join(f"{med(conv[s]):.1f}" for s in sides) + f" | {ratio:.2f}x the GFLOP/s |")
    for key in sorted(k for k in runs["pytorch"] if k != "conv"):
        ms = {s: [v[0] for v in runs[s].get(key, [])] for s in sides}
        if any(not ms[s] for s in sides):
            continue
        print(f"| {key[0]} b{key[1]} step, ms | " + " | ".join(", ".join(f"{v:.1f}" for v in ms[s]) for s in sides)
              + " | " + " | ".join(f"{med(ms[s]):.1f}" for s in sides)
              + f" | {med(ms['keynet']) / med(ms['pytorch']):.2f} |")
    peaks = {s: [v[1] for v in runs.get(s + "-alone", {}).get(("resnet18", 16), [])] for s in sides}
    if all(peaks.values()):
        print("| ResNet18 step's process alone, peak MiB | " + " | ".join(", ".join(f"{v:.0f}" for v in peaks[s]) for s in sides)
              + " | " + " | ".join(f"{med(peaks[s]):.0f}" for s in sides)
              + f" | {med(peaks['keynet']) / med(peaks['pytorch']):.2f} |")


if __name__ == "__main__":
    main()
