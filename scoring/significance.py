"""Is model A better than model B on the same prompts? Exact test, bootstrap, sample size.

The unit is the prompt: both models answered it, so comparing them prompt by prompt removes
the prompt-difficulty variance (a paired design). Per prompt we take each model's score
(its Good-Result-Ratio over the ratings of its response, or its win rate over its battles
on that prompt) and the difference d = score_A - score_B. The p-value comes from the
sign-flip permutation test of the mean of d (exact at any n, so its false-positive rate
never exceeds the level, even with two prompts, where a bootstrap test claims p = .0002);
the interval from a paired bootstrap over prompts, with a warning below `MIN_PROMPTS`.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Collection
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.special import ndtri

from scoring import outcomes
from scoring.errors import InputError
from scoring.ratings import encode_battles
from scoring.tables import jsonable, missing_mask, require_columns, require_present, require_table


@dataclass(frozen=True)
class PairedBootstrapResult:
    """Mean paired difference A - B with its bootstrap interval and two-sided p-value."""

    difference: float
    ci_lower: float
    ci_upper: float
    p_value: float
    n: int
    mean_a: float
    mean_b: float
    resamples: int
    confidence: float

    def to_dict(self) -> dict:
        """Plain JSON-ready dict (NaN becomes None)."""
        return jsonable(self)


@dataclass(frozen=True)
class PromptsEstimate:
    """How many prompts (paired units) a significant result would take at the observed
    effect (`prompts_needed`). ``n_needed`` is None when the observed difference is zero
    (no sample size reaches significance for a zero effect)."""

    n_current: int
    n_needed: int | None
    n_more: int | None
    effect: float
    sd: float
    alpha: float
    power: float
    method: str

    def to_dict(self) -> dict:
        """Plain JSON-ready dict (NaN becomes None)."""
        return jsonable(self)  # type: ignore[return-value]


def _paired_arrays(a, b) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    if a.ndim != 1 or a.shape != b.shape:
        raise InputError("paired scores must be two equally long 1-d arrays")
    if len(a) == 0:
        raise InputError("no paired units: the two models share no prompt")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise InputError("paired scores must be finite numbers")
    return a, b


def paired_bootstrap(
    a,
    b,
    *,
    resamples: int = 5000,
    rng: np.random.Generator | int | None = None,
    confidence: float = 0.95,
) -> PairedBootstrapResult:
    """Paired bootstrap of the mean difference between two models' per-unit scores.

    `a[i]` and `b[i]` are the two models' scores on unit i (a prompt). The statistic is
    mean(a - b). Units are resampled with replacement `resamples` times (Efron & Tibshirani
    1993, ch. 6; Koehn 2004, "Statistical significance tests for machine translation
    evaluation"); the interval is the percentile interval, and the two-sided p-value uses
    the bootstrap distribution shifted to the null hypothesis of no difference (Efron &
    Tibshirani 1993, section 16.4): p = (1 + #{|d* - d| >= |d|}) / (resamples + 1), with d
    the observed and d* the resampled mean differences.

    When the differences take few distinct values (e.g. good / not good, -1, 0, 1), their
    counts are drawn from the equivalent multinomial instead of resampling indices: the
    same distribution, faster. `rng`: a Generator or a seed (None: fresh entropy). With
    few prompts this p-value is far too small (two prompts that A won give p = .0002);
    `compare_models` reports the exact `sign_flip_test` instead.
    """
    a, b = _paired_arrays(a, b)
    if resamples < 1:
        raise ValueError(f"resamples must be >= 1, got {resamples!r}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence!r}")
    generator = np.random.default_rng(rng)
    diff = a - b
    n = len(diff)
    observed = float(diff.mean())
    values, counts = np.unique(diff, return_counts=True)
    if len(values) <= 64:
        draws = generator.multinomial(n, counts / n, size=resamples)
        means = draws @ values / n
    else:
        means = np.empty(resamples)
        step = max(1, 4_000_000 // n)
        for begin in range(0, resamples, step):
            rows = min(step, resamples - begin)
            means[begin : begin + rows] = diff[generator.integers(0, n, size=(rows, n))].mean(
                axis=1
            )
    tail = (1 - confidence) / 2
    lower, upper = np.quantile(means, [tail, 1 - tail])
    # Rounding noise must not count as "at least as extreme" when d is exactly 0.
    extreme = np.abs(means - observed) >= abs(observed) - 1e-12
    p_value = float((1 + extreme.sum()) / (resamples + 1))
    return PairedBootstrapResult(
        difference=observed,
        ci_lower=float(lower),
        ci_upper=float(upper),
        p_value=min(1.0, p_value),
        n=n,
        mean_a=float(a.mean()),
        mean_b=float(b.mean()),
        resamples=resamples,
        confidence=confidence,
    )


def prompts_needed(a, b, *, alpha: float = 0.05, power: float = 0.8) -> PromptsEstimate:
    """Prompts (paired units) needed for a two-sided test at level `alpha` to detect the
    observed mean difference with probability `power`.

    Normal approximation with the observed per-prompt standard deviation s of d = a - b and
    mean difference d-bar (the paired z-test sample size; e.g. Chow, Shao & Wang 2008,
    "Sample Size Calculations in Clinical Research", section 3.1):

        n = ceil(((z_{1 - alpha/2} + z_{power}) * s / |d-bar|)^2),

    and never fewer than the exact sign-flip test needs to reach `alpha` at all
    (2 / 2^n < alpha: 6 prompts at alpha = .05). ``n_more = max(0, n - n_current)``. The
    estimate takes the observed effect as the truth, so it is optimistic when the effect
    was overestimated; it counts prompts, not judgments.
    """
    a, b = _paired_arrays(a, b)
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be between 0 and 1, got {alpha!r}")
    if not 0 < power < 1:
        raise ValueError(f"power must be between 0 and 1, got {power!r}")
    diff = a - b
    n = len(diff)
    effect = float(diff.mean())
    sd = float(diff.std(ddof=1)) if n > 1 else 0.0
    method = "normal approximation, observed effect and per-prompt SD"
    if effect == 0:
        return PromptsEstimate(n, None, None, effect, sd, alpha, power, method)
    z = ndtri(1 - alpha / 2) + ndtri(power)
    exact_minimum = math.ceil(math.log2(2 / alpha) + 1e-12)
    needed = max(exact_minimum, math.ceil((z * sd / abs(effect)) ** 2))
    return PromptsEstimate(n, needed, max(0, needed - n), effect, sd, alpha, power, method)


EXACT_LIMIT = 16  # sign-flip test: every one of the 2^n sign patterns up to this many


@functools.lru_cache(maxsize=EXACT_LIMIT + 1)
def _sign_patterns(n: int) -> np.ndarray:
    """All 2^n sign vectors of length n, as a (2^n, n) array of +1/-1."""
    bits = (np.arange(2**n)[:, None] >> np.arange(n)[None, :]) & 1
    return (1 - 2 * bits).astype(float)


@dataclass(frozen=True)
class SignFlipResult:
    """Two-sided sign-flip permutation test of a mean paired difference (`sign_flip_test`)."""

    p_value: float
    exact: bool
    resamples: int

    def to_dict(self) -> dict:
        """Plain JSON-ready dict."""
        return jsonable(self)  # type: ignore[return-value]


def sign_flip_test(
    differences, *, resamples: int = 10_000, rng: np.random.Generator | int | None = None
) -> SignFlipResult:
    """Sign-flip permutation test that the paired differences d are centred on 0.

    Under the null hypothesis that A and B are exchangeable within a prompt, each d_i is
    as likely as -d_i, so the observed |mean(d)| is compared with the means of every sign
    pattern (Fisher 1935, ch. 21; Good 2005, "Permutation, Parametric and Bootstrap Tests
    of Hypotheses", 3.1): p = #{patterns with |mean| >= |observed|} / 2^m over the m
    non-zero differences, exact when m <= `EXACT_LIMIT`, else from `resamples` random
    patterns as p = (1 + count) / (resamples + 1), which is still a valid test (Phipson &
    Smyth 2010). Its false-positive rate never exceeds the level at any n; the smallest
    p-value with m differences is 2 / 2^m.
    """
    d = np.asarray(differences, dtype=float)
    d = d[d != 0]
    m = len(d)
    if m == 0:
        return SignFlipResult(p_value=1.0, exact=True, resamples=0)
    observed = abs(d.mean())
    slack = 1e-12 * (1 + observed)
    if m <= EXACT_LIMIT:
        means = np.abs(_sign_patterns(m) @ d) / m
        p = float(np.mean(means >= observed - slack))
        return SignFlipResult(p_value=min(1.0, p), exact=True, resamples=2**m)
    generator = np.random.default_rng(rng)
    count = 0
    step = max(1, 4_000_000 // m)
    for begin in range(0, resamples, step):
        rows = min(step, resamples - begin)
        signs = generator.integers(0, 2, size=(rows, m)) * 2 - 1
        count += int((np.abs(signs @ d) / m >= observed - slack).sum())
    p = (1 + count) / (resamples + 1)
    return SignFlipResult(p_value=min(1.0, p), exact=False, resamples=resamples)


# --------------------------------------------------------------------------- paired tables


def good_rate_pairs(
    ratings: pd.DataFrame,
    *,
    model_a: str,
    model_b: str,
    good_labels: Collection,
    unit: str = "prompt",
    group: str = "model",
    label: str = "label",
) -> pd.DataFrame:
    """Per prompt, each model's share of good ratings, for the prompts both were rated on.

    Returns a DataFrame (unit, a, b), one row per shared prompt, sorted by unit.
    """
    ratings = require_table(ratings, "rating table")
    require_columns(ratings, [unit, group, label], "rating table")
    if isinstance(good_labels, str):
        good_labels = [good_labels]
    good = {str(v) for v in good_labels}
    if not good:
        raise InputError("no good labels given")
    rated = ratings.loc[~missing_mask(ratings[label]), [unit, group, label]]
    frame = pd.DataFrame(
        {
            "unit": rated[unit].map(str).to_numpy(),
            "model": rated[group].map(str).to_numpy(),
            "score": outcomes.is_good(rated[label], good).astype(float),
        }
    )
    return _pair_up(frame, model_a, model_b, unit)


def win_rate_pairs(
    battles: pd.DataFrame, *, model_a: str, model_b: str, unit: str = "prompt"
) -> pd.DataFrame:
    """Per prompt, each model's score over its battles on it (win 1, tie 1/2, loss 0).

    Battles against any opponent count, so on a prompt where A and B met only each other
    the two scores add up to 1. Returns (unit, a, b) for the prompts where both battled.
    """
    battles = require_table(battles, "battle table")
    require_columns(battles, [unit], "battle table")
    require_present(battles, [unit])
    encoded = encode_battles(battles)
    names = encoded.models
    score_a = encoded.score_a()
    units = battles[unit].map(str).to_numpy()
    frame = pd.DataFrame(
        {
            "unit": np.concatenate([units, units]),
            "model": np.concatenate([names[encoded.a], names[encoded.b]]),
            "score": np.concatenate([score_a, 1.0 - score_a]),
        }
    )
    return _pair_up(frame, model_a, model_b, unit)


def _pair_up(frame: pd.DataFrame, model_a: str, model_b: str, unit: str) -> pd.DataFrame:
    model_a, model_b = str(model_a), str(model_b)
    if model_a == model_b:
        raise InputError(f"model_a and model_b are the same model ({model_a!r})")
    for model in (model_a, model_b):
        if not (frame["model"] == model).any():
            raise InputError(f"model {model!r} does not appear in the table")
    means = (
        frame[frame["model"].isin([model_a, model_b])]
        .groupby(["unit", "model"])["score"]
        .mean()
        .unstack("model")
    )
    paired = means.dropna(subset=[model_a, model_b])
    if paired.empty:
        raise InputError(f"models {model_a!r} and {model_b!r} share no {unit}")
    return pd.DataFrame(
        {
            "unit": paired.index.to_numpy(),
            "a": paired[model_a].to_numpy(dtype=float),
            "b": paired[model_b].to_numpy(dtype=float),
        }
    )


MIN_PROMPTS = 10  # below this many shared prompts the bootstrap interval is rough


@dataclass(frozen=True)
class Comparison:
    """Two models compared on shared prompts (`compare_models`).

    ``difference`` = ``mean_a - mean_b`` over the ``n`` shared prompts, with the paired
    bootstrap interval ``ci_lower``/``ci_upper``; ``p_value`` from the two-sided
    sign-flip test (``test`` says whether exact); ``prompts_needed`` the sample-size
    estimate; ``warnings`` what a reader must know (too few prompts).
    """

    measure: str
    model_a: str
    model_b: str
    difference: float
    ci_lower: float
    ci_upper: float
    p_value: float
    test: str
    n: int
    mean_a: float
    mean_b: float
    resamples: int
    confidence: float
    alpha: float
    significant: bool
    prompts_needed: PromptsEstimate
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        """Plain JSON-ready dict (NaN becomes None)."""
        return jsonable(self)  # type: ignore[return-value]


def compare_models(
    df: pd.DataFrame,
    *,
    model_a: str,
    model_b: str,
    measure: str = "good_rate",
    good_labels: Collection | None = None,
    unit: str = "prompt",
    group: str = "model",
    label: str = "label",
    resamples: int = 5000,
    rng: np.random.Generator | int | None = None,
    confidence: float = 0.95,
    alpha: float = 0.05,
    power: float = 0.8,
    min_prompts: int = MIN_PROMPTS,
) -> Comparison:
    """Paired comparison of two models on shared prompts: exact test, bootstrap interval and
    sample-size estimate.

    `measure` is ``"good_rate"`` (`df` holds ratings: unit, group, label; needs
    `good_labels`) or ``"win_rate"`` (`df` holds battles with a unit column). See
    `sign_flip_test`, `paired_bootstrap` and `prompts_needed`. `rng`: a Generator or a
    seed (None: fresh entropy).
    """
    if measure == "good_rate":
        if not good_labels:
            raise InputError("comparing Good-Result-Ratio needs the good labels")
        pairs = good_rate_pairs(
            df,
            model_a=model_a,
            model_b=model_b,
            good_labels=good_labels,
            unit=unit,
            group=group,
            label=label,
        )
    elif measure == "win_rate":
        pairs = win_rate_pairs(df, model_a=model_a, model_b=model_b, unit=unit)
    else:
        raise InputError(f"unknown measure {measure!r} (use good_rate or win_rate)")
    generator = np.random.default_rng(rng)
    interval = paired_bootstrap(
        pairs["a"], pairs["b"], resamples=resamples, rng=generator, confidence=confidence
    )
    test = sign_flip_test(pairs["a"] - pairs["b"], resamples=resamples, rng=generator)
    n = interval.n
    notes = []
    if n < min_prompts:
        notes.append(
            f"only {n} shared prompt(s) (fewer than {min_prompts}): the bootstrap interval is "
            "rough; the p-value is from the exact sign-flip test"
        )
    return Comparison(
        measure=measure,
        model_a=str(model_a),
        model_b=str(model_b),
        difference=interval.difference,
        ci_lower=interval.ci_lower,
        ci_upper=interval.ci_upper,
        p_value=test.p_value,
        test="sign-flip permutation, " + ("exact" if test.exact else f"{test.resamples} draws"),
        n=n,
        mean_a=interval.mean_a,
        mean_b=interval.mean_b,
        resamples=resamples,
        confidence=confidence,
        alpha=alpha,
        significant=test.p_value < alpha,
        prompts_needed=prompts_needed(pairs["a"], pairs["b"], alpha=alpha, power=power),
        warnings=notes,
    )
