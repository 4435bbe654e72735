"""Position bias: does a grader (or a model judge) prefer the response shown on the left, and
does a grader give the same verdict when a task comes back with the sides swapped?

Zheng et al. (2023), "Judging LLM-as-a-judge with MT-Bench and Chatbot Arena", sec. 3.3,
measure a judge's position bias by asking twice with the order swapped; Wang et al. (2023),
"Large language models are not fair evaluators", show how far the verdict can move with the
order. Here the same two measures are computed for every grader, human or model:

* **Left share.** Among a grader's decisive verdicts (ties and "both bad" left out), the share
  that chose the response shown on the left, with an exact (Clopper & Pearson 1934) interval
  and the matching exact two-sided binomial test of 1/2 (twice the smaller tail, so that the
  interval excludes 1/2 exactly when p < 1 - confidence). With many graders some will look
  biased by chance: p-values are also given adjusted by Holm (1979), and ``flagged`` marks
  graders whose adjusted p-value is below ``alpha``. The pooled row per kind of grader uses
  a cluster-robust (graders as clusters) standard error, since one grader's votes are not
  independent of one another: var = G / (G - 1) * sum_g (x_g - p n_g)^2 / N^2 (the ratio
  estimator's sandwich; Cameron & Miller 2015, "A practitioner's guide to cluster-robust
  inference"), with a Wald interval and z-test of 1/2.
* **Swap consistency.** For tasks served to the same grader twice, the share of pairs whose
  two verdicts agree (in terms of the responses; both kinds of tie count as one), separately
  for pairs re-served with the sides swapped and with the same sides (test-retest), with
  exact intervals. An inconsistent swapped pair whose grader chose the left side both times
  is a ``left flip`` (or ``right flip``): the position, not the content, decided.

Verdict labels go through `scoring.verdicts` (``a``/``model_a``, ``b``/``model_b``, ``tie``
and any ``tie (…)``, ``both_bad``/``tie (bothbad)``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from scoring.errors import InputError, row_error
from scoring.tables import missing_mask, require_columns, require_table
from scoring.verdicts import A, B, to_verdicts

_TRUE = {"true", "t", "yes", "y", "1", "left"}
_FALSE = {"false", "f", "no", "n", "0", "right"}


@dataclass(frozen=True)
class PositionBias:
    """Left-side share per grader (`graders`) and pooled per kind of grader (`pooled`).

    graders: grader, kind, judgments, decisive, left, left_share, ci_lower, ci_upper,
    p_value, p_holm, flagged; sorted by p_value. pooled: kind (``all`` and each kind), graders,
    decisive, left, left_share, se (cluster-robust), ci_lower, ci_upper, p_value.
    """

    graders: pd.DataFrame
    pooled: pd.DataFrame
    confidence: float
    alpha: float

    def to_dict(self) -> dict:
        """JSON-ready form (``python -m scoring position --format json``)."""
        return {
            "graders": self.graders,
            "pooled": self.pooled,
            "confidence": self.confidence,
            "alpha": self.alpha,
        }


@dataclass(frozen=True)
class SwapConsistency:
    """Consistency of repeated judgments, per grader (`graders`) and pooled (`pooled`).

    Columns: grader (or ``all``), kind, pairs, swapped, swapped_consistent,
    swapped_consistency, ci_lower, ci_upper, left_flips, right_flips, tie_changes,
    same_side, same_side_consistent, same_side_consistency. `inconsistent`: the rows of the
    input whose two verdicts disagree, with ``flip`` (left, right, tie change or reversed).
    """

    graders: pd.DataFrame
    pooled: pd.DataFrame
    inconsistent: pd.DataFrame
    confidence: float

    def to_dict(self) -> dict:
        """JSON-ready form."""
        return {
            "graders": self.graders,
            "pooled": self.pooled,
            "inconsistent": self.inconsistent,
            "confidence": self.confidence,
        }


# --------------------------------------------------------------------------- helpers


def _booleans(values: pd.Series, column: str, *, allow_missing: bool) -> np.ndarray:
    """A column of booleans (True/False, 1/0, "true"/"false", "left"/"right") as floats,
    NaN where missing (if allowed); anything else is an `InputError` naming the row."""
    if pd.api.types.is_bool_dtype(values.dtype) and not values.isna().any():
        return values.to_numpy(dtype=float)
    out = np.full(len(values), np.nan)
    for position, value in enumerate(values.tolist()):
        if value is None or (isinstance(value, float) and math.isnan(value)):
            if not allow_missing:
                raise row_error(position, f"{column} is empty")
            continue
        if (
            isinstance(value, bool | np.bool_)
            or isinstance(value, int | float | np.integer | np.floating)
            and value in (0, 1)
        ):
            out[position] = float(value)
        elif isinstance(value, str) and value.strip().lower() in _TRUE:
            out[position] = 1.0
        elif isinstance(value, str) and value.strip().lower() in _FALSE:
            out[position] = 0.0
        elif isinstance(value, str) and not value.strip() and allow_missing:
            continue
        else:
            raise row_error(position, f"{column} is {value!r}, not true or false")
    return out


def exact_intervals(
    successes: np.ndarray, trials: np.ndarray, confidence: float
) -> tuple[np.ndarray, np.ndarray]:
    """Clopper-Pearson intervals for binomial proportions (NaN where there is no trial)."""
    k = np.asarray(successes, dtype=float)
    n = np.asarray(trials, dtype=float)
    tail = (1 - confidence) / 2
    with np.errstate(invalid="ignore", divide="ignore"):
        lower = np.where(k > 0, stats.beta.ppf(tail, np.maximum(k, 1), n - k + 1), 0.0)
        upper = np.where(k < n, stats.beta.ppf(1 - tail, k + 1, np.maximum(n - k, 1)), 1.0)
    empty = n == 0
    return np.where(empty, np.nan, lower), np.where(empty, np.nan, upper)


def exact_interval(successes: int, trials: int, confidence: float) -> tuple[float, float]:
    """Clopper-Pearson interval for one binomial proportion (NaN for no trials)."""
    lower, upper = exact_intervals(np.array([successes]), np.array([trials]), confidence)
    return float(lower[0]), float(upper[0])


def exact_tests_half(successes: np.ndarray, trials: np.ndarray) -> np.ndarray:
    """Two-sided exact binomial tests of p = 1/2: twice the smaller tail, at most 1."""
    k = np.asarray(successes, dtype=float)
    n = np.asarray(trials, dtype=float)
    lower_tail = stats.binom.cdf(k, n, 0.5)
    upper_tail = stats.binom.sf(k - 1, n, 0.5)
    p = np.minimum(1.0, 2 * np.minimum(lower_tail, upper_tail))
    return np.where(n == 0, np.nan, p)


def holm(p_values: np.ndarray) -> np.ndarray:
    """Holm's (1979) step-down adjusted p-values (NaN stays NaN)."""
    p = np.asarray(p_values, dtype=float)
    out = np.full(p.shape, np.nan)
    valid = np.flatnonzero(~np.isnan(p))
    if valid.size == 0:
        return out
    order = valid[np.argsort(p[valid], kind="stable")]
    m = len(order)
    adjusted = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    out[order] = adjusted
    return out


def _grader_column(table: pd.DataFrame, grader: str) -> np.ndarray:
    missing = missing_mask(table[grader])
    if missing.any():
        raise row_error(int(np.argmax(missing)), f"{grader} is empty")
    return table[grader].map(str).to_numpy(dtype=object)


def _kinds(table: pd.DataFrame, kind: str | None, graders: np.ndarray) -> np.ndarray:
    if kind is None or kind not in table.columns:
        return np.full(len(graders), "grader", dtype=object)
    kinds = (
        table[kind]
        .map(lambda v: "grader" if v is None or v != v else str(v))
        .to_numpy(dtype=object)
    )
    frame = pd.DataFrame({"g": graders, "k": kinds})
    several = frame.groupby("g")["k"].nunique()
    if (several > 1).any():
        name = several.index[int(np.argmax(several.to_numpy() > 1))]
        position = int(np.argmax(graders == name))
        raise row_error(position, f"grader {name!r} has more than one {kind}")
    return kinds


def _left_chosen(table: pd.DataFrame, verdict: str, a_on_left: str, left_chosen: str) -> np.ndarray:
    """1.0 where the left response was chosen, 0.0 where the right, NaN for a tie."""
    if left_chosen in table.columns:
        return _booleans(table[left_chosen], left_chosen, allow_missing=True)
    for column in (verdict, a_on_left):
        if column not in table.columns:
            found = ", ".join(map(str, table.columns))
            raise InputError(
                f"the judgment table needs '{left_chosen}', or '{verdict}' and '{a_on_left}' "
                f"(columns found: {found})"
            )
    verdicts = to_verdicts(table[verdict], what=verdict)
    left_is_a = _booleans(table[a_on_left], a_on_left, allow_missing=False)
    chose_a = np.where(verdicts == A, 1.0, np.where(verdicts == B, 0.0, np.nan))
    return np.where(np.isnan(chose_a), np.nan, (chose_a == left_is_a).astype(float))


# --------------------------------------------------------------------------- left share


def position_bias(
    judgments: pd.DataFrame,
    *,
    grader: str = "grader",
    verdict: str = "verdict",
    a_on_left: str = "a_on_left",
    left_chosen: str = "left_chosen",
    kind: str | None = "grader_kind",
    confidence: float = 0.95,
    alpha: float = 0.05,
) -> PositionBias:
    """Share of decisive verdicts that chose the left side, per grader and pooled.

    Parameters
    ----------
    judgments
        Long table, one row per pairwise judgment, with

        ``grader``
            who judged (a person or a model judge);
        ``left_chosen``
            True when the response shown on the left was chosen, False for the right,
            empty for a tie or "both bad"; or, instead of it,
        ``verdict`` and ``a_on_left``
            the verdict in terms of the task's responses (labels of `scoring.verdicts`) and
            whether response a was shown on the left (the app's ``Assignment.a_on_left``);
        ``grader_kind`` (optional)
            e.g. ``human`` or ``model``; pooled rows are given per kind.

        Booleans may be true/false, 1/0 or "left"/"right". Column names are keyword
        arguments.
    confidence, alpha
        Interval level; level at which a grader is flagged after Holm's adjustment.
    """
    judgments = require_table(judgments, "judgment table")
    require_columns(judgments, [grader], "judgment table")
    if not 0 < confidence < 1 or not 0 < alpha < 1:
        raise InputError("confidence and alpha must be between 0 and 1")
    names = _grader_column(judgments, grader)
    kinds = _kinds(judgments, kind, names)
    left = _left_chosen(judgments, verdict, a_on_left, left_chosen)
    frame = pd.DataFrame(
        {
            "grader": names,
            "kind": kinds,
            "judgments": 1,
            "decisive": ~np.isnan(left),
            "left": np.nan_to_num(left),
        }
    )
    graders = frame.groupby(["grader", "kind"], sort=True).sum().reset_index()
    decisive = graders["decisive"].to_numpy(dtype=np.int64)
    chose_left = graders["left"].to_numpy(dtype=np.int64)
    lower, upper = exact_intervals(chose_left, decisive, confidence)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = chose_left / decisive
    graders = graders.assign(
        decisive=decisive,
        left=chose_left,
        left_share=share,
        ci_lower=lower,
        ci_upper=upper,
        p_value=exact_tests_half(chose_left, decisive),
    )
    graders["p_holm"] = holm(graders["p_value"].to_numpy())
    graders["flagged"] = graders["p_holm"].to_numpy() < alpha
    graders = graders.sort_values(["p_value", "grader"], na_position="last").reset_index(drop=True)
    pooled_rows = [_pooled("all", graders, confidence)]
    if graders["kind"].nunique() > 1:
        for grader_kind, part in graders.groupby("kind", sort=True):
            pooled_rows.append(_pooled(str(grader_kind), part, confidence))
    return PositionBias(
        graders=graders, pooled=pd.DataFrame(pooled_rows), confidence=confidence, alpha=alpha
    )


def _pooled(label: str, graders: pd.DataFrame, confidence: float) -> dict:
    n_g = graders["decisive"].to_numpy(dtype=float)
    x_g = graders["left"].to_numpy(dtype=float)
    used = n_g > 0
    n_g, x_g = n_g[used], x_g[used]
    total = n_g.sum()
    share = x_g.sum() / total if total else math.nan
    clusters = len(n_g)
    if clusters >= 2:
        se = math.sqrt(clusters / (clusters - 1) * ((x_g - share * n_g) ** 2).sum()) / total
    else:
        se = math.nan
    z = stats.norm.ppf(0.5 + confidence / 2)
    if se and se > 0:
        p_value = float(2 * stats.norm.sf(abs(share - 0.5) / se))
    elif se == 0:
        p_value = 1.0 if share == 0.5 else 0.0
    else:
        p_value = math.nan
    return {
        "kind": label,
        "graders": clusters,
        "decisive": int(total),
        "left": int(x_g.sum()),
        "left_share": share,
        "se": se,
        "ci_lower": share - z * se,
        "ci_upper": share + z * se,
        "p_value": p_value,
    }


# --------------------------------------------------------------------------- swaps


def swap_consistency(
    repeats: pd.DataFrame,
    *,
    grader: str = "grader",
    verdict: str = "verdict",
    a_on_left: str = "a_on_left",
    repeat_verdict: str = "repeat_verdict",
    repeat_a_on_left: str = "repeat_a_on_left",
    kind: str | None = "grader_kind",
    confidence: float = 0.95,
) -> SwapConsistency:
    """Self-consistency of tasks served twice to the same grader.

    Parameters
    ----------
    repeats
        Wide table, one row per task a grader judged twice: ``grader``; ``verdict`` and
        ``a_on_left`` of the first judgment; ``repeat_verdict`` and ``repeat_a_on_left`` of
        the second (verdicts in terms of the task's responses, labels of `scoring.verdicts`;
        ``a_on_left`` True when response a was on the left). Optional ``grader_kind``, and
        any other columns (e.g. ``task``) are kept in `inconsistent`. A row whose two
        ``a_on_left`` differ was re-served swapped; equal, with the same sides.
    confidence
        Level of the exact intervals.
    """
    repeats = require_table(repeats, "repeat table")
    require_columns(
        repeats,
        [grader, verdict, a_on_left, repeat_verdict, repeat_a_on_left],
        "repeat table",
    )
    if not 0 < confidence < 1:
        raise InputError("confidence must be between 0 and 1")
    names = _grader_column(repeats, grader)
    kinds = _kinds(repeats, kind, names)
    first = to_verdicts(repeats[verdict], what=verdict)
    second = to_verdicts(repeats[repeat_verdict], what=repeat_verdict)
    left_a1 = _booleans(repeats[a_on_left], a_on_left, allow_missing=False)
    left_a2 = _booleans(repeats[repeat_a_on_left], repeat_a_on_left, allow_missing=False)
    decisive1 = np.isin(first, [A, B])
    decisive2 = np.isin(second, [A, B])
    # Both kinds of tie are one verdict here.
    consistent = np.where(decisive1 | decisive2, first == second, True)
    swapped = left_a1 != left_a2
    chose_left1 = (first == A) == (left_a1 == 1)
    chose_left2 = (second == A) == (left_a2 == 1)
    both_decisive = decisive1 & decisive2
    flip = np.full(len(repeats), "", dtype=object)
    flip[~consistent & (decisive1 != decisive2)] = "tie change"
    reversed_ = ~consistent & both_decisive
    flip[reversed_ & swapped & chose_left1 & chose_left2] = "left"
    flip[reversed_ & swapped & ~chose_left1 & ~chose_left2] = "right"
    flip[reversed_ & ~swapped] = "reversed"
    frame = pd.DataFrame(
        {
            "grader": names,
            "kind": kinds,
            "consistent": consistent,
            "swapped": swapped,
            "flip": flip,
        }
    )
    rows = [
        _consistency_row(str(name), str(grader_kind), group, confidence)
        for (name, grader_kind), group in frame.groupby(["grader", "kind"], sort=True)
    ]
    graders = pd.DataFrame(rows)
    pooled = [_consistency_row("all", "all", frame, confidence)]
    if frame["kind"].nunique() > 1:
        for grader_kind, group in frame.groupby("kind", sort=True):
            pooled.append(_consistency_row("all", str(grader_kind), group, confidence))
    inconsistent = repeats.loc[~consistent].copy()
    inconsistent["flip"] = flip[~consistent]
    inconsistent.insert(0, "row", np.flatnonzero(~consistent) + 1)
    return SwapConsistency(
        graders=graders,
        pooled=pd.DataFrame(pooled),
        inconsistent=inconsistent.reset_index(drop=True),
        confidence=confidence,
    )


def _consistency_row(name: str, grader_kind: str, group: pd.DataFrame, confidence: float) -> dict:
    swapped = group[group["swapped"]]
    same = group[~group["swapped"]]
    n_swapped, ok_swapped = len(swapped), int(swapped["consistent"].sum())
    lower, upper = exact_interval(ok_swapped, n_swapped, confidence)
    return {
        "grader": name,
        "kind": grader_kind,
        "pairs": len(group),
        "swapped": n_swapped,
        "swapped_consistent": ok_swapped,
        "swapped_consistency": ok_swapped / n_swapped if n_swapped else math.nan,
        "ci_lower": lower,
        "ci_upper": upper,
        "left_flips": int((swapped["flip"] == "left").sum()),
        "right_flips": int((swapped["flip"] == "right").sum()),
        "tie_changes": int((group["flip"] == "tie change").sum()),
        "same_side": len(same),
        "same_side_consistent": int(same["consistent"].sum()),
        "same_side_consistency": same["consistent"].mean() if len(same) else math.nan,
    }
