#!/usr/bin/env python3
"""Compares the numbers of two metrics.json files (the same eval on two devices or Impls): every numeric
leaf but run times ("seconds") must agree within a relative tolerance (default 1e-3). Prints a markdown
table of every compared number; exits 1 naming each number that differs or is missing on one side.
usage: compare_metrics.py A.json B.json [--rtol R] [--names "A,B"]"""
import argparse
import json
import sys


def leaves(node, path=""):
    if isinstance(node, dict):
        for key, value in node.items():
            if key != "seconds":  # wall time, not a result
                yield from leaves(value, f"{path}.{key}" if path else key)
    elif isinstance(node, (int, float)) and not isinstance(node, bool):
        yield path, float(node)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("a")
    parser.add_argument("b")
    parser.add_argument("--rtol", type=float, default=1e-3)
    parser.add_argument("--names", default="A,B")
    args = parser.parse_args()
    name_a, name_b = args.names.split(",")
    for path in (args.a, args.b):
        try:
            open(path).close()
        except OSError as error:
            print(f"compare_metrics: cannot read {path} ({error.strerror}); did its eval run?", file=sys.stderr)
            return 1
    with open(args.a) as fa, open(args.b) as fb:
        a, b = dict(leaves(json.load(fa))), dict(leaves(json.load(fb)))
    problems = [f"{key}: only in {name_a if key in a else name_b}" for key in sorted(set(a) ^ set(b))]
    print(f"| number | {name_a} | {name_b} | relative difference |\n|---|---|---|---|")
    for key in sorted(set(a) & set(b)):
        scale = max(abs(a[key]), abs(b[key]))
        rel = abs(a[key] - b[key]) / scale if scale > 0 else 0.0
        print(f"| {key} | {a[key]:.6g} | {b[key]:.6g} | {rel:.2e} |")
        if not rel <= args.rtol:
            problems.append(f"{key}: {a[key]!r} vs {b[key]!r}, relative difference {rel:.2e} > {args.rtol:g}")
    if not a:
        problems.append(f"{args.a}: no numbers")
    for problem in problems:
        print(f"DIFFERS: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
