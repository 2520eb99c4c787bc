#!/usr/bin/env python3
"""Issue 26's accuracy comparison, summarised: the final validation metric of every nose_tip run that
scripts/distributed-accuracy.sh left in its folders (one process against N ranks, per architecture and
seed), with each side's median and range, whether the ranks' median lies inside the one process's
range (the issue's bar), an exact two-sided permutation test of the two medians' difference, and a sign
test over the seeds (both sides of a seed start from the same weights and see the same batches); and
each part 3 pair's final validation NME, one process against the ranks, with the issue's bar (within 0.3
points).

    scripts/distributed_accuracy_summary.py OUT [OUT...]"""
import glob
import itertools
import json
import math
import os
import re
import statistics
import sys


def final_metrics(roots, prefix, metric):
    """{(name, seed, side): the validation `metric`} of the run folders PREFIX-NAME-seedS-SIDE under roots."""
    runs = {}
    for root in roots:
        for path in glob.glob(f"{root}/{prefix}-*-seed*-*/metrics.json"):
            match = re.fullmatch(rf"{prefix}-(\w+)-seed(\d+)-(one|ranks)", os.path.basename(os.path.dirname(path)))
            if match:
                name, seed, side = match.groups()
                runs[(name, int(seed), side)] = json.load(open(path))["validation"][metric]
    return runs


def main():
    roots = sys.argv[1:] or sys.exit(__doc__)
    runs = {key: mse * 1e4 for key, mse in final_metrics(roots, "nose_tip-fold1", "mse_normalized").items()}
    for arch in sorted({a for a, _, _ in runs}):
        seeds = sorted(s for a, s, side in runs if a == arch and side == "one" and (a, s, "ranks") in runs)
        if not seeds:
            continue
        one = [runs[(arch, s, "one")] for s in seeds]
        ranks = [runs[(arch, s, "ranks")] for s in seeds]
        print(f"{arch} (validation MSE x 1e-4), seeds {seeds[0]}-{seeds[-1]}:")
        for s, a, b in zip(seeds, one, ranks):
            print(f"  seed {s}: 1 process {a:.2f}, ranks {b:.2f}")
        median_one, median_ranks = statistics.median(one), statistics.median(ranks)
        inside = min(one) <= median_ranks <= max(one)
        print(f"  1 process median {median_one:.2f} (range {min(one):.2f}-{max(one):.2f}); ranks median "
              f"{median_ranks:.2f} (range {min(ranks):.2f}-{max(ranks):.2f}): {'inside' if inside else 'outside'}")
        pooled, n = one + ranks, len(one)
        observed = abs(median_ranks - median_one)
        splits = list(itertools.combinations(range(len(pooled)), n))
        as_far = sum(abs(statistics.median([pooled[i] for i in range(len(pooled)) if i not in chosen]) -
                         statistics.median([pooled[i] for i in chosen])) >= observed - 1e-12 for chosen in splits)
        higher = sum(b > a for a, b in zip(one, ranks))
        fewer = min(higher, n - higher)
        sign_p = min(1.0, 2 * sum(math.comb(n, i) for i in range(fewer + 1)) / 2 ** n)
        print(f"  medians {observed:.2f} apart: permutation p = {as_far / len(splits):.3f}; the ranks higher for "
              f"{higher} of {n} seeds: sign test p = {sign_p:.3f}")

    part3 = final_metrics(roots, "ibug_landmarks", "nme_percent")
    for recipe, seed, side in sorted(part3):
        if side != "one" or (recipe, seed, "ranks") not in part3:
            continue
        one, ranks = part3[(recipe, seed, "one")], part3[(recipe, seed, "ranks")]
        apart = abs(ranks - one)
        print(f"ibug_landmarks {recipe} seed {seed} (validation NME %): 1 process {one:.3f}, ranks {ranks:.3f}: "
              f"{apart:.3f} points apart ({'within' if apart <= 0.3 else 'outside'} 0.3)")


if __name__ == "__main__":
    main()
