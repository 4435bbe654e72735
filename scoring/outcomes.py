"""The outcome formulas every result shares: a verdict's score, the win rate with a tie as
half a win, the good rate of ratings, the preferred side of a task's votes and that side's
share of the votes.

Each formula lives here once; leaderboards, slices, paired comparisons, the per-response
scores table and the preference export all call these functions, so a win rate or a good
rate means the same thing on every page, in every file and in every command.

Scores follow the Chatbot Arena convention (Chiang et al. 2024, "Chatbot Arena: An Open
Platform for Evaluating LLMs by Human Preference", section 4 and its published notebook):
a win scores 1, a loss 0, and either kind of tie (``tie``, ``both_bad``) 1/2 for each side,
so a model's win rate is (wins + ties / 2) / battles, the observed score in the units of
the Bradley-Terry model. Verdicts are those of `scoring.verdicts`.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping

import numpy as np
import pandas as pd

from scoring.verdicts import A, B, parse_verdict

# The score of either side of a tie (and of a "both bad" verdict).
TIE_SCORE = 0.5


# --------------------------------------------------------------------------- win rates


def first_scores(verdicts: Iterable[object]) -> np.ndarray:
    """The first side's score in each verdict: 1 for a win, 0 for a loss, 1/2 for a tie.

    `verdicts` holds labels of `scoring.verdicts` (``a``/``model_a``, ``b``/``model_b``,
    ``tie``, ``both_bad``/``tie (bothbad)`` or any ``tie (…)``); the second side's score is
    ``1 - score``. Raises ValueError for a label that is not a verdict.
    """
    labels = pd.Series(list(verdicts) if not isinstance(verdicts, pd.Series) else verdicts)
    codes, uniques = pd.factorize(labels, use_na_sentinel=True)
    table = np.empty(len(uniques), dtype=float)
    for position, label in enumerate(uniques):
        verdict = parse_verdict(label)
        if verdict is None:
            raise ValueError(f"not a verdict: {label!r}")
        table[position] = 1.0 if verdict == A else 0.0 if verdict == B else TIE_SCORE
    if (codes < 0).any():
        raise ValueError("a verdict is missing")
    return table[codes] if len(table) else np.zeros(0)


def points(wins, ties):
    """Points won: a win counts 1 and a tie 1/2 (scalars or arrays, broadcast)."""
    return wins + TIE_SCORE * ties


def win_rate(wins, ties, battles):
    """(wins + ties / 2) / battles: the share of points won (scalars or arrays).

    With arrays, a count of 0 battles gives NaN (and numpy's warning is silenced); with
    scalars it gives None.
    """
    if np.ndim(battles) == 0 and np.ndim(wins) == 0 and np.ndim(ties) == 0:
        return None if battles == 0 else points(wins, ties) / battles
    with np.errstate(invalid="ignore", divide="ignore"):
        return points(wins, ties) / battles


def side_scores(
    battles: pd.DataFrame,
    *,
    first: str = "model_a",
    second: str = "model_b",
    verdict: str = "winner",
    unit: str = "model",
    keep: Iterable[str] = (),
) -> pd.DataFrame:
    """Each battle seen from both sides: one row per side with ``unit`` (the side's model,
    or whatever `first`/`second` name, e.g. response ids) and ``score`` (1, 0 or 1/2).

    Columns named in `keep` are copied from the battle to both of its rows. The first
    sides come first, then the second sides, each in the battles' order. A unit's win rate
    is the mean of its scores (`mean_scores`).
    """
    score = first_scores(battles[verdict])
    kept = battles[list(keep)]
    side_a = kept.assign(**{unit: battles[first], "score": score})  # type: ignore[arg-type]
    side_b = kept.assign(**{unit: battles[second], "score": 1 - score})  # type: ignore[arg-type]
    return pd.concat([side_a, side_b], ignore_index=True)


def mean_scores(sides: pd.DataFrame, by: str | list[str] = "model") -> pd.DataFrame:
    """Win rate per group of `side_scores` rows: columns `by`, ``win_rate`` (mean score,
    i.e. (wins + ties / 2) / battles) and ``n`` (battles), sorted by `by`."""
    grouped = sides.groupby(by)["score"].agg(["mean", "size"]).reset_index()
    return grouped.rename(columns={"mean": "win_rate", "size": "n"})


# --------------------------------------------------------------------------- good rate


def label_text(value: object) -> str:
    """A rating label as text, so a label 3 read from CSV (as 3 or 3.0) matches "3"."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def good_label_set(good_labels: Collection) -> frozenset[str]:
    """The good labels as text (`label_text`), for `is_good_label`. Raises ValueError when
    none is given: a good rate needs a definition of good."""
    if isinstance(good_labels, str):
        good_labels = [good_labels]
    good = frozenset(label_text(g) for g in good_labels)
    if not good:
        raise ValueError("no good labels given")
    return good


def is_good_label(value: object, good: frozenset[str]) -> bool:
    """Whether one rating label is good; `good` comes from `good_label_set`."""
    return label_text(value) in good


def is_good(labels: Iterable[object], good_labels: Collection) -> np.ndarray:
    """Whether each rating label is one of `good_labels`, compared as text (`label_text`);
    a missing label is not good."""
    good = good_label_set(good_labels)
    values = labels if isinstance(labels, pd.Series) else pd.Series(list(labels), dtype=object)
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    table = np.array([is_good_label(u, good) for u in uniques], dtype=bool)
    mask = table[np.maximum(codes, 0)] if len(table) else np.zeros(len(codes), dtype=bool)
    return mask & (codes >= 0)


def good_rate(labels: Iterable[object], good_labels: Collection) -> float | None:
    """The Good-Result-Ratio of some ratings: the share k / n whose label is good
    (`is_good`); None for no ratings."""
    mask = is_good(labels, good_labels)
    return float(mask.sum() / len(mask)) if len(mask) else None


def good_rates(labels: pd.Series, groups: pd.Series, good_labels: Collection) -> pd.DataFrame:
    """The Good-Result-Ratio of each group of ratings (e.g. per response): indexed by group,
    columns ``n_ratings`` and ``good_rate`` (k / n, `is_good`), sorted by group."""
    frame = pd.DataFrame(
        {"group": np.asarray(groups), "good": is_good(labels.reset_index(drop=True), good_labels)}
    )
    table = frame.groupby("group")["good"].agg(n_ratings="size", good_rate="mean")
    return table.rename_axis(groups.name)  # type: ignore[call-overload]


# --------------------------------------------------------------------------- preferences


def preferred_side(votes: Mapping[str, int]) -> str | None:
    """The side a task's votes prefer: ``a`` or ``b`` when it has strictly more votes than
    the other side, else None. Ties and "both bad" choose no side (they still count in
    `agreement_share`). `votes` maps verdicts (``a``, ``b``, ``tie``, ``both_bad``) to
    counts."""
    a, b = votes.get(A, 0), votes.get(B, 0)
    if a == b:
        return None
    return A if a > b else B


def agreement_share(votes: Mapping[str, int], side: str, *, decisive_only: bool = False) -> float:
    """The share of a task's counted votes that went to `side`: all votes, or with
    `decisive_only` only those for ``a`` or ``b``; 0.0 when no vote is counted."""
    counted = votes.get(A, 0) + votes.get(B, 0) if decisive_only else sum(votes.values())
    return votes.get(side, 0) / counted if counted else 0.0
