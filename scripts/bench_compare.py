#!/usr/bin/env python3
"""keynet against PyTorch, training step by step: reads bench_gpu's and bench_torch_gpu.py's markdown
tables and prints one table of step times with the ratios (target: vendor within 1.2x of PyTorch).
usage: bench_compare.py BENCH_GPU.md BENCH_TORCH.md"""
import sys


def rows(path, cols):
    out = {}
    for line in open(path):
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == cols and cells[1].isdigit():
            out.setdefault((cells[0], cells[1]), []).append(cells)
    return out


def main():
    ours, torch = rows(sys.argv[1], 6), rows(sys.argv[2], 5)
    print("### keynet vs PyTorch, training step (ms; ratio = keynet / PyTorch, target vendor <= 1.2)\n")
    print("| network | batch | PyTorch | keynet vendor | ratio | keynet fast | ratio |")
    print("|---|---|---|---|---|---|---|")
    for key, trows in torch.items():
        t = float(trows[0][2])
        impl = {r[2]: float(r[3]) for r in ours.get(key, [])}
        v, f = impl.get("vendor", float("nan")), impl.get("fast", float("nan"))
        print(f"| {key[0]} | {key[1]} | {t:.2f} | {v:.2f} | {v / t:.2f} | {f:.2f} | {f / t:.2f} |")


if __name__ == "__main__":
    main()
