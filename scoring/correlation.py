"""Do automatic metrics agree with human judgments? Correlations and pairwise accuracy.

Segment level: one row per response (human score, metric score). System level: the same
after averaging per model (``by="model"``), as in the WMT metrics shared tasks (e.g. Freitag
et al. 2021, "Results of the WMT21 Metrics Shared Task"). Pairwise accuracy counts how often
the metric orders two responses (or two systems) as the humans did (Kocmi et al. 2021,
"To Ship or Not to Ship: An Extensive Evaluation of Automatic Metrics for Machine
Translation").
"""

from __future__ import annotations

import itertools
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from scoring.errors import InputError, row_error
from scoring.rates import wilson_interval
from scoring.tables import jsonable, missing_mask, numeric_column, require_columns, require_table
from scoring.verdicts import A, B, to_verdicts

METHODS = ("pearson", "spearman", "kendall")


def _pearson_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Pearson r of each row pair of two (rounds, n) arrays; NaN where a row is constant."""
    xc = x - x.mean(axis=1, keepdims=True)
    yc = y - y.mean(axis=1, keepdims=True)
    return _pearson_from_sums((xc * xc).sum(axis=1), (yc * yc).sum(axis=1), (xc * yc).sum(axis=1))


def _pearson_from_sums(sxx: np.ndarray, syy: np.ndarray, sxy: np.ndarray) -> np.ndarray:
    """Pearson r from the centred sums of squares and products of each row (the rows of one
    call share the threshold below which a row counts as constant)."""
    denominator = np.sqrt(sxx * syy)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = sxy / denominator
    return np.where(denominator > 1e-12 * (1 + np.abs(denominator).max()), r, np.nan)


def _aggregate(df: pd.DataFrame, human: str, metric: str, by: str | None):
    df = require_table(df)
    require_columns(df, [human, metric, *([by] if by else [])])
    h = numeric_column(df, human)
    m = numeric_column(df, metric)
    keep = ~(np.isnan(h) | np.isnan(m))
    dropped = int((~keep).sum())
    if by:
        missing = missing_mask(df[by])
        if (missing & keep).any():
            raise row_error(int(np.argmax(missing & keep)), f"{by} is empty")
        frame = pd.DataFrame({"unit": df[by].to_numpy()[keep], "h": h[keep], "m": m[keep]})
        means = frame.groupby("unit", sort=True, observed=True)[["h", "m"]].mean()
        return means["h"].to_numpy(), means["m"].to_numpy(), dropped
    return h[keep], m[keep], dropped


def correlate(
    df: pd.DataFrame,
    *,
    human: str,
    metric: str,
    by: str | None = None,
    bootstrap: int = 1000,
    rng: np.random.Generator | int | None = None,
    confidence: float = 0.95,
) -> CorrelationResult:
    """Pearson, Spearman and Kendall (tau-b) correlation of a human score with a metric.

    Rows where either score is missing are left out (counted in ``dropped``); a value that
    is not a number raises `InputError` naming its row. With `by` (e.g. ``"model"``), both
    scores are first averaged per value of that column (system level), and the units are
    those groups.

    r and p come from `scipy.stats.pearsonr` (t-test), `spearmanr` (t approximation) and
    `kendalltau` (tau-b; exact or normal approximation). ``ci_lower``/``ci_upper`` are
    percentile bootstrap intervals over units resampled with replacement `bootstrap` times
    (Efron & Tibshirani 1993, ch. 13); resamples where a coefficient is undefined (a
    constant column) are left out.

    Returns a `CorrelationResult`; `rng` is a Generator or a seed (None: fresh entropy).
    Raises `InputError` with fewer than 3 units or a constant column.
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence!r}")
    if bootstrap < 0:
        raise ValueError(f"bootstrap must be >= 0, got {bootstrap!r}")
    h, m, dropped = _aggregate(df, human, metric, by)
    n = len(h)
    what = f"groups of '{by}'" if by else "rows with both scores"
    if n < 3:
        raise InputError(f"correlation needs at least 3 {what}, got {n}")
    for name, values in ((human, h), (metric, m)):
        if np.ptp(values) == 0:
            raise InputError(
                f"column '{name}' has the same value in every unit; correlation is undefined"
            )
    estimates = {
        "pearson": stats.pearsonr(h, m),
        "spearman": stats.spearmanr(h, m),
        "kendall": stats.kendalltau(h, m),
    }
    intervals = _bootstrap_intervals(h, m, bootstrap, np.random.default_rng(rng), confidence)
    coefficients = {}
    for method in METHODS:
        r, p = estimates[method]
        lower, upper = intervals.get(method, (None, None))
        coefficients[method] = Coefficient(
            r=float(r), p=float(p), ci_lower=lower, ci_upper=upper, n=n
        )
    return CorrelationResult(
        **coefficients,
        n=n,
        dropped=dropped,
        level=f"by {by}" if by else "segment",
        bootstrap=bootstrap,
        confidence=confidence,
    )


@dataclass(frozen=True)
class Coefficient:
    """One correlation coefficient with its p-value and bootstrap interval."""

    r: float
    p: float
    ci_lower: float | None
    ci_upper: float | None
    n: int


@dataclass(frozen=True)
class CorrelationResult:
    """Pearson, Spearman and Kendall correlation of a human score with a metric
    (`correlate`); `level` is "segment" or "by COLUMN"."""

    pearson: Coefficient
    spearman: Coefficient
    kendall: Coefficient
    n: int
    dropped: int
    level: str
    bootstrap: int
    confidence: float

    def to_dict(self) -> dict:
        """Plain JSON-ready dict (NaN becomes None)."""
        return jsonable(self)  # type: ignore[return-value]


def _bootstrap_intervals(
    h: np.ndarray, m: np.ndarray, rounds: int, generator: np.random.Generator, confidence: float
) -> dict:
    if rounds == 0:
        return {}
    n = len(h)
    samples = {method: np.empty(rounds) for method in METHODS}
    tables = _TieTables.of(h, m)
    step = max(1, 2_000_000 // n)
    for begin in range(0, rounds, step):
        size = min(step, rounds - begin)
        idx = generator.integers(0, n, size=(size, n))
        hs, ms = h[idx], m[idx]
        done = slice(begin, begin + size)
        samples["pearson"][done] = _pearson_rows(hs, ms)
        if tables is None:
            samples["spearman"][done] = _pearson_rows(
                stats.rankdata(hs, axis=1), stats.rankdata(ms, axis=1)
            )
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # constant resamples: NaN, left out below
                samples["kendall"][done] = [
                    stats.kendalltau(hs[i], ms[i]).statistic for i in range(size)
                ]
        else:
            samples["spearman"][done], samples["kendall"][done] = tables.rank_correlations(idx)
    tail = (1 - confidence) / 2
    out = {}
    for method, values in samples.items():
        values = values[np.isfinite(values)]
        if len(values):
            lower, upper = np.quantile(values, [tail, 1 - tail])
            out[method] = (float(lower), float(upper))
    return out


@dataclass(frozen=True)
class _TieTables:
    """Spearman and Kendall correlations of bootstrap resamples from counts.

    Human scores (shares of a handful of ratings) and many metrics take few distinct
    values, so a resample is described by how often it holds each (human, metric) pair of
    values: an a x b table of counts. Ranks with ties averaged, and the concordant,
    discordant and tied pair counts of Kendall's tau-b, follow from the table in
    O(a b) instead of sorting the n units of every resample. The counts are integers and
    the final formulas are `scipy.stats.rankdata`'s and `scipy.stats.kendalltau`'s, so the
    values are the same to the last bit (the tests compare them with scipy's)."""

    h_code: np.ndarray  # per unit: index of its human value among the distinct ones
    m_code: np.ndarray
    cell: np.ndarray  # per unit: h_code * b + m_code
    a: int
    b: int

    # Use the tables while they are no larger than this many cells per unit.
    MAX_CELLS_PER_UNIT = 8
    # Cells of count tables held at once (int64): bounds the memory of one batch.
    MAX_BATCH_CELLS = 4_000_000
    # Up to this many units (n^3 < 2^53) the rank sums of Spearman's rho are exact.
    EXACT_RANK_SUMS = 208_063

    @classmethod
    def of(cls, h: np.ndarray, m: np.ndarray) -> _TieTables | None:
        h_values, h_code = np.unique(h, return_inverse=True)
        m_values, m_code = np.unique(m, return_inverse=True)
        a, b = len(h_values), len(m_values)
        if a * b > cls.MAX_CELLS_PER_UNIT * len(h):
            return None
        return cls(h_code, m_code, h_code.astype(np.int64) * b + m_code, a, b)

    def rank_correlations(self, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Spearman's rho and Kendall's tau-b of each resample (a row of indices).

        Spearman's rho is `_pearson_rows` of the mid-ranks. Below n = 208,063 units
        (n^3 < 2^53) every number it sums is a multiple of 1/4 (ranks are multiples of 1/2,
        their mean (n + 1) / 2) and every partial sum stays exact in floating point, so the
        sums of squares and products equal the integer sums over the table, whatever the
        order; the last steps are then `_pearson_rows`' own. Above that the ranks are laid
        out unit by unit as scipy's are."""
        n = idx.shape[1]
        exact = n <= self.EXACT_RANK_SUMS
        sums = np.empty((3, len(idx)))
        spearman = np.empty(len(idx))
        kendall = np.empty(len(idx))
        batch = max(1, self.MAX_BATCH_CELLS // (self.a * self.b))
        for begin in range(0, len(idx), batch):
            rows = idx[begin : begin + batch]
            done = slice(begin, begin + len(rows))
            counts = self._counts(rows)
            h_counts, m_counts = counts.sum(axis=2), counts.sum(axis=1)
            if exact:
                sums[:, done] = _rank_sums(counts, h_counts, m_counts, n)
            else:
                spearman[done] = _pearson_rows(
                    _mid_ranks(h_counts, self.h_code[rows]),
                    _mid_ranks(m_counts, self.m_code[rows]),
                )
            kendall[done] = _tau_b(counts, h_counts, m_counts, n)
        if exact:
            spearman = _pearson_from_sums(*sums)
        return spearman, kendall

    def _counts(self, rows: np.ndarray) -> np.ndarray:
        cells = self.a * self.b
        offset = np.arange(len(rows), dtype=np.int64)[:, None] * cells
        flat = np.bincount((self.cell[rows] + offset).ravel(), minlength=len(rows) * cells)
        return flat.reshape(len(rows), self.a, self.b)


def _mid_ranks(counts: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """Per resample (row), the rank of each unit with ties given their average rank, from
    the counts of each distinct value: `scipy.stats.rankdata`'s ``ordinal + (count - 1) / 2``
    with ordinal the 1-based position of the first of the tied values."""
    first = np.cumsum(counts, axis=1) - counts + 1
    ranks = first + (counts - 1) / 2
    return np.take_along_axis(ranks, codes, axis=1)


def _rank_sums(
    counts: np.ndarray, x_counts: np.ndarray, y_counts: np.ndarray, n: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Centred sums of squares and products of the mid-ranks of each table of counts, in
    integers: with 2 x the centred mid-rank of a value, X = 2 (units before it) + its
    count - n, the sums are sum(count X^2) / 4, sum(count Y^2) / 4 and
    sum(count(x, y) X Y) / 4."""
    x = 2 * (np.cumsum(x_counts, axis=1) - x_counts) + x_counts - n
    y = 2 * (np.cumsum(y_counts, axis=1) - y_counts) + y_counts - n
    sxx = (x_counts * x * x).sum(axis=1)
    syy = (y_counts * y * y).sum(axis=1)
    sxy = ((counts * y[:, None, :]).sum(axis=2) * x).sum(axis=1)
    return sxx / 4, syy / 4, sxy / 4


def _tau_b(counts: np.ndarray, x_counts: np.ndarray, y_counts: np.ndarray, n: int) -> np.ndarray:
    """Kendall's tau-b of each table of counts (resample x a x b), as `scipy.stats.kendalltau`
    computes it from the number of discordant pairs and of ties in x, in y and in both:
    (tot - xtie - ytie + ntie - 2 dis) / sqrt(tot - xtie) / sqrt(tot - ytie), NaN when
    either variable is constant."""
    tot = n * (n - 1) // 2
    xtie = (x_counts * (x_counts - 1) // 2).sum(axis=1)
    ytie = (y_counts * (y_counts - 1) // 2).sum(axis=1)
    ntie = (counts * (counts - 1) // 2).sum(axis=(1, 2))
    # Discordant: the other unit has a larger x and a smaller y.
    smaller_y = np.cumsum(counts, axis=2) - counts
    larger_x_smaller_y = np.cumsum(smaller_y[:, ::-1], axis=1)[:, ::-1] - smaller_y
    dis = (counts * larger_x_smaller_y).sum(axis=(1, 2))
    defined = (xtie != tot) & (ytie != tot)
    with np.errstate(invalid="ignore", divide="ignore"):
        tau = (tot - xtie - ytie + ntie - 2 * dis) / np.sqrt(tot - xtie) / np.sqrt(tot - ytie)
    return np.where(defined, np.minimum(1.0, np.maximum(-1.0, tau)), np.nan)


@dataclass(frozen=True)
class PairwiseAccuracy:
    """Share of human-ordered pairs that the metric orders the same way.

    Metric ties count as half right. ``ci_lower``/``ci_upper``: Wilson interval over the
    pairs (battle level only; None at system level, where pairs share systems).
    """

    accuracy: float
    n: int
    metric_ties: int
    ci_lower: float | None
    ci_upper: float | None
    dropped: int = 0

    def to_dict(self) -> dict:
        """Plain JSON-ready dict (NaN becomes None)."""
        return jsonable(self)  # type: ignore[return-value]


def _agreement_score(human_sign: np.ndarray, metric_diff: np.ndarray) -> np.ndarray:
    metric_sign = np.sign(metric_diff)
    return np.where(metric_sign == 0, 0.5, (metric_sign == human_sign).astype(float))


def pairwise_accuracy(
    battles: pd.DataFrame,
    *,
    metric_a: str = "metric_a",
    metric_b: str = "metric_b",
    winner: str = "winner",
    higher_is_better: bool = True,
    confidence: float = 0.95,
) -> PairwiseAccuracy:
    """Pairwise accuracy of a metric against human preferences between two responses.

    Each row is one human verdict (`winner` one of model_a, model_b, tie, tie (bothbad))
    with the metric's score of each response (`metric_a`, `metric_b`). Human ties are left
    out; the accuracy is the share of the remaining verdicts where the metric scores the
    preferred response higher (lower if not `higher_is_better`), a metric tie counting
    half, so a constant metric scores 0.5 (Kocmi et al. 2021, pairwise accuracy). Rows with
    a missing metric score are left out (``dropped``). Wilson interval over the verdicts.
    """
    battles = require_table(battles, "battle table")
    require_columns(battles, [winner, metric_a, metric_b], "battle table")
    verdict = to_verdicts(battles[winner], what=winner)
    a, b = numeric_column(battles, metric_a), numeric_column(battles, metric_b)
    decided = (verdict == A) | (verdict == B)
    present = ~(np.isnan(a) | np.isnan(b))
    use = decided & present
    if not use.any():
        raise InputError("no verdict with a winner and both metric scores")
    human_sign = np.where(verdict[use] == A, 1.0, -1.0)
    diff = (a[use] - b[use]) * (1.0 if higher_is_better else -1.0)
    score = _agreement_score(human_sign, diff)
    n = int(use.sum())
    lower, upper = wilson_interval(score.sum(), n, confidence=confidence)
    return PairwiseAccuracy(
        accuracy=float(score.mean()),
        n=n,
        metric_ties=int((diff == 0).sum()),
        ci_lower=lower,
        ci_upper=upper,
        dropped=int((decided & ~present).sum()),
    )


def system_pairwise_accuracy(
    df: pd.DataFrame,
    *,
    human: str,
    metric: str,
    by: str | None = None,
    higher_is_better: bool = True,
) -> PairwiseAccuracy:
    """System-level pairwise accuracy (Kocmi et al. 2021): over all pairs of systems whose
    human scores differ, the share the metric orders the same way (metric ties: half).

    With `by`, scores are first averaged per value of that column; otherwise each row is a
    system.
    """
    h, m, dropped = _aggregate(df, human, metric, by)
    if len(h) < 2:
        raise InputError("pairwise accuracy needs at least two systems")
    pairs = np.array(list(itertools.combinations(range(len(h)), 2)))
    human_diff = h[pairs[:, 0]] - h[pairs[:, 1]]
    decided = human_diff != 0
    if not decided.any():
        raise InputError("every system has the same human score")
    metric_diff = (m[pairs[:, 0]] - m[pairs[:, 1]])[decided]
    if not higher_is_better:
        metric_diff = -metric_diff
    score = _agreement_score(np.sign(human_diff[decided]), metric_diff)
    return PairwiseAccuracy(
        accuracy=float(score.mean()),
        n=int(decided.sum()),
        metric_ties=int((metric_diff == 0).sum()),
        ci_lower=None,
        ci_upper=None,
        dropped=dropped,
    )
