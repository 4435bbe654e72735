"""False-positive rate of `compare` per number of prompts, on data with no difference.

    python bench/bench_compare_fpr.py [--studies 2000] [--n 2,3,5,10,20,30]

The seeded simulation of tests/scoring/test_significance.py
(test_false_positive_rate_is_at_most_five_percent_at_every_n), printed: per n, 2,000 null
comparisons of good / not good ratings (3 per response, so per-prompt scores 0, 1/3, 2/3,
1; a prompt's difficulty, uniform between .2 and .8, shared by A and B, who are the same
model). Prints the share of comparisons with p < .05 for the p-value `compare` reports (the
sign-flip permutation test, exact up to 16 non-zero differences) and, for contrast, for the
paired bootstrap p-value it replaced.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scoring.significance import paired_bootstrap, sign_flip_test  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--studies", type=int, default=2000)
    parser.add_argument("--n", default="2,3,5,10,20,30", help="numbers of prompts")
    parser.add_argument("--alpha", type=float, default=0.05)
    args = parser.parse_args()
    print(f"false positives at alpha {args.alpha}, {args.studies} null comparisons per n")
    print(f"{'n':>4}  {'sign-flip (compare)':>20}  {'paired bootstrap (before)':>26}")
    for n in (int(v) for v in args.n.split(",")):
        # The test's seed for this n, so the figures are the test's own.
        rng = np.random.default_rng(100 + n)
        p = rng.uniform(0.2, 0.8, size=(args.studies, n, 1))
        a = rng.binomial(3, p[..., 0]) / 3
        b = rng.binomial(3, p[..., 0]) / 3
        flips = [
            sign_flip_test(a[i] - b[i], resamples=500, rng=i).p_value < args.alpha
            for i in range(args.studies)
        ]
        bootstrap = [
            paired_bootstrap(a[i], b[i], resamples=500, rng=i).p_value < args.alpha
            for i in range(args.studies)
        ]
        print(f"{n:>4}  {np.mean(flips):>19.1%}  {np.mean(bootstrap):>25.1%}", flush=True)


if __name__ == "__main__":
    main()
