"""Coverage of 95 % intervals for Krippendorff's alpha at 30 items, method by method.

    python bench/bench_alpha_coverage.py [--studies 2000] [--items 30] [--only nominal]

Seeded simulations with 3 graders per item. Nominal: a true category (shares .5/.3/.2 unless
stated) reported with probability p, else a category drawn at those shares. Interval (and
ordinal): a 5-point scale, round(2 + latent + noise) clipped to 0-4, latent ~ N(0, 1),
noise ~ N(0, sigma^2); "missing" drops that share of ratings. The true alpha is that of
400,000 items from the same model. Each study gets every interval:

- perc: percentile bootstrap over items, 1,000 resamples (the interval before issue 11);
- bca: bias-corrected and accelerated bootstrap (Efron 1987), acceleration by jackknife;
- jack: jackknife standard error over items on the alpha scale, t quantile on N - 1 df
  (Hughes 2022, arXiv:2210.13265);
- jack_log: the same on the log(1 - alpha) scale: `scoring.agreement.alpha_interval`, the
  one `agreement` reports;
- jack_fisher: the same on Fisher's z scale of an intra-class correlation,
  z = log((1 + (m - 1) alpha) / (1 - alpha)) / 2 with m the mean ratings per item.

Prints coverage (and the share of studies whose interval lies above the true alpha) per
setting. Takes minutes per setting (the bootstrap dominates); the test suite runs a
1,000-study version of the chosen method only (tests/scoring/test_agreement.py).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import krippendorff
import numpy as np
from scipy.special import ndtr, ndtri, stdtrit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scoring.agreement import _alphas, _item_coincidences, alpha_interval  # noqa: E402

SETTINGS = [
    {"kind": "nominal", "param": 0.55},
    {"kind": "nominal", "param": 0.7},
    {"kind": "nominal", "param": 0.85},
    {"kind": "nominal", "param": 0.75, "shares": (0.7, 0.2, 0.1)},
    {"kind": "nominal", "param": 0.8, "shares": (0.85, 0.1, 0.05)},
    {"kind": "interval", "param": 1.0},
    {"kind": "interval", "param": 0.6},
    {"kind": "interval", "param": 0.4},
    {"kind": "interval", "param": 0.6, "missing": 0.2},
    {"kind": "interval", "param": 0.6, "level": "ordinal"},
]


def simulate(rng, kind, param, items, *, shares=(0.5, 0.3, 0.2), missing=0.0, graders=3):
    """Items x values counts of the pairable items of one simulated study."""
    if kind == "nominal":
        shares = np.array(shares)
        size = len(shares)
        truth = rng.choice(size, size=items, p=shares)
        correct = rng.random((items, graders)) < param
        values = np.where(correct, truth[:, None], rng.choice(size, (items, graders), p=shares))
    else:
        latent = rng.normal(size=items)
        noisy = 2 + latent[:, None] + rng.normal(scale=param, size=(items, graders))
        values = np.clip(np.rint(noisy), 0, 4).astype(int)
        size = 5
    kept = rng.random((items, graders)) >= missing if missing else np.ones_like(values, bool)
    counts = np.zeros((items, size), dtype=np.int64)
    for grader in range(graders):
        rows = np.flatnonzero(kept[:, grader])
        np.add.at(counts, (rows, values[rows, grader]), 1)
    return counts[counts.sum(axis=1) >= 2]


def _jackknife_se(values: np.ndarray) -> float:
    n = len(values)
    return float(np.sqrt((n - 1) / n * ((values - values.mean()) ** 2).sum()))


def intervals(counts, domain, level, rng, *, resamples=1000, confidence=0.95):
    """Every method's interval for one study, or None when alpha is undefined."""
    alpha = krippendorff.alpha(value_counts=counts, value_domain=domain, level_of_measurement=level)
    if not np.isfinite(alpha):
        return None
    n = len(counts)
    per_item = _item_coincidences(counts)
    weights = rng.multinomial(n, np.full(n, 1 / n), size=resamples).astype(float)
    boot = _alphas(np.tensordot(weights, per_item, axes=(1, 0)), domain, level)
    boot = boot[np.isfinite(boot)]
    jack = _alphas(per_item.sum(axis=0)[None] - per_item, domain, level)
    tail = (1 - confidence) / 2
    t = stdtrit(n - 1, 1 - tail)
    out = {"perc": np.quantile(boot, [tail, 1 - tail])}
    with np.errstate(divide="ignore", invalid="ignore"):
        z0 = ndtri(np.clip((boot < alpha).mean() + 0.5 * (boot == alpha).mean(), 1e-6, 1 - 1e-6))
        defined = jack[np.isfinite(jack)]
        d = defined.mean() - defined
        accel = (d**3).sum() / (6 * ((d**2).sum()) ** 1.5) if (d**2).sum() > 0 else 0.0
        zs = ndtri(np.array([tail, 1 - tail]))
        out["bca"] = np.quantile(boot, ndtr(z0 + (z0 + zs) / (1 - accel * (z0 + zs))))
        se = _jackknife_se(jack)
        out["jack"] = np.array([alpha - t * se, min(1.0, alpha + t * se)])
        chosen = alpha_interval(counts, domain, level, alpha=alpha, confidence=confidence)
        out["jack_log"] = np.array(
            [-np.inf if chosen.lower is None else chosen.lower, chosen.upper or 1.0]
        )
        m = counts.sum(axis=1).mean()

        def fisher(a):
            return 0.5 * np.log((1 + (m - 1) * a) / (1 - a))

        centre, se = fisher(alpha), _jackknife_se(fisher(jack))
        z = np.array([centre - t * se, centre + t * se])
        out["jack_fisher"] = (np.exp(2 * z) - 1) / (np.exp(2 * z) + m - 1)
    for name, bounds in out.items():
        if not np.all(np.isfinite(bounds)) and name != "jack_log":
            out[name] = out["jack"]
    return out


def run(setting: dict, *, studies: int, items: int, seed: int) -> None:
    kind, param = setting["kind"], setting["param"]
    level = setting.get("level", kind)
    options = {k: setting[k] for k in ("shares", "missing") if k in setting}
    rng = np.random.default_rng(seed)
    big = simulate(rng, kind, param, 400_000, **options)
    domain = np.arange(float(big.shape[1]))
    truth = krippendorff.alpha(value_counts=big, value_domain=domain, level_of_measurement=level)
    covered: dict[str, list[bool]] = {}
    above: dict[str, list[bool]] = {}
    undefined = 0
    started = time.perf_counter()
    for _ in range(studies):
        found = intervals(simulate(rng, kind, param, items, **options), domain, level, rng)
        if found is None:
            undefined += 1
            continue
        for name, (lower, upper) in found.items():
            covered.setdefault(name, []).append(bool(lower <= truth <= upper))
            above.setdefault(name, []).append(bool(truth < lower))
    label = f"{level:8s} p/sigma={param:<4} " + " ".join(f"{k}={v}" for k, v in options.items())
    print(
        f"{label:44s} alpha={truth:.3f} undefined={undefined} "
        f"({time.perf_counter() - started:.0f} s)\n    "
        + "  ".join(
            f"{name} {np.mean(hits):.3f} (above {np.mean(above[name]):.3f})"
            for name, hits in covered.items()
        ),
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--studies", type=int, default=2000)
    parser.add_argument("--items", type=int, default=30)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--only", choices=("nominal", "interval"), help="one kind of setting")
    args = parser.parse_args()
    print(
        f"95 % intervals for Krippendorff's alpha, {args.items} items, 3 graders, "
        f"{args.studies} studies per setting"
    )
    for setting in SETTINGS:
        if args.only is None or setting["kind"] == args.only:
            run(setting, studies=args.studies, items=args.items, seed=args.seed)


if __name__ == "__main__":
    main()
