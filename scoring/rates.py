"""Rates with Wilson intervals: Good-Result-Ratio, any label's rate, tag rates per model.

A rate is the share k / n of judged units that are "positive" (rated with a good label,
carrying a tag, ...). Its interval is the Wilson score interval (Wilson 1927), which keeps
its coverage near the nominal level for small n and for rates near 0 or 1, where the
textbook Wald interval fails (Newcombe 1998, method 3; Brown, Cai & DasGupta 2001).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence

import numpy as np
import pandas as pd
from scipy.special import ndtri

from scoring import outcomes
from scoring.errors import InputError, row_error
from scoring.tables import missing_mask, require_columns, require_table

RATE_COLUMNS = ("n", "k", "rate", "ci_lower", "ci_upper")


def _z(confidence: float) -> float:
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence!r}")
    return float(ndtri(0.5 + confidence / 2))


def wilson_interval(successes, n, *, confidence: float = 0.95):
    """Wilson score interval for a binomial proportion successes / n.

    With z the (1 + confidence) / 2 normal quantile and p = k / n:

        (p + z^2 / 2n  -/+  z * sqrt(p (1 - p) / n + z^2 / 4n^2)) / (1 + z^2 / n)

    (Wilson 1927; Newcombe 1998, "Two-sided confidence intervals for the single
    proportion", method 3, without continuity correction). For n = 0 the interval is
    (0, 1). Accepts scalars or arrays (broadcast); returns ``(lower, upper)`` as floats or
    arrays. `successes` may be fractional (e.g. ties counted as half).
    """
    z = _z(confidence)
    k = np.asarray(successes, dtype=float)
    total = np.asarray(n, dtype=float)
    if np.any(total < 0) or np.any(k < 0) or np.any(k > total):
        raise ValueError("need 0 <= successes <= n")
    z2 = z * z
    judged = total > 0
    safe_n = np.where(judged, total, 1.0)
    p = k / safe_n
    denominator = 1 + z2 / safe_n
    centre = (p + z2 / (2 * safe_n)) / denominator
    half = z * np.sqrt(p * (1 - p) / safe_n + z2 / (4 * safe_n**2)) / denominator
    lower = np.where(judged, np.clip(centre - half, 0.0, 1.0), 0.0)
    upper = np.where(judged, np.clip(centre + half, 0.0, 1.0), 1.0)
    # Exact bounds at the edges (the formula gives them up to rounding).
    lower = np.where(k == 0, 0.0, lower)
    upper = np.where(k == total, 1.0, upper)
    if lower.ndim == 0:
        return float(lower), float(upper)
    return lower, upper


def _positive_mask(values: pd.Series, positive) -> np.ndarray:
    if callable(positive):
        result = values.map(positive)
        if not result.map(lambda v: isinstance(v, bool | np.bool_)).all():
            raise InputError("the 'positive' function must return True or False for each value")
        return result.to_numpy(dtype=bool)
    if isinstance(positive, str) or not isinstance(positive, Iterable):
        positive = [positive]
    chosen = set(positive)
    if not chosen:
        raise InputError("no positive values given (e.g. the study's good labels)")
    # Compare as text too, so a label 3 read from CSV matches "3" from a study definition.
    as_text = {str(v) for v in chosen}
    return values.map(lambda v: v in chosen or str(v) in as_text).to_numpy(dtype=bool)


def _groups(group: str | Sequence[str] | None) -> list[str]:
    if group is None:
        return []
    if isinstance(group, str):
        return [group]
    return list(group)


def rate_table(
    df: pd.DataFrame,
    *,
    group: str | Sequence[str] | None = "model",
    value: str = "value",
    positive: Collection | Callable[[object], bool],
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Share of rows whose `value` is positive, per group, with Wilson intervals.

    Parameters
    ----------
    df
        One row per judged unit (e.g. one rating of one response).
    group
        Column(s) to group by (default ``model``); None for one overall row.
    value
        The column judged. Rows where it is missing are not counted (not judged).
    positive
        The values that count as positive (a set of labels; compared as text as well), or a
        function value -> bool.

    Returns
    -------
    DataFrame with the group column(s) and ``n`` (judged rows), ``k`` (positive rows),
    ``rate = k / n``, ``ci_lower``, ``ci_upper`` (`wilson_interval`), sorted by group.
    """
    df = require_table(df)
    groups = _groups(group)
    require_columns(df, [*groups, value])
    rows = np.flatnonzero(~missing_mask(df[value]))
    if rows.size == 0:
        raise InputError(f"no row has a value in column '{value}'")
    judged = df.iloc[rows]
    for column in groups:
        missing = missing_mask(judged[column])
        if missing.any():
            raise row_error(int(rows[np.argmax(missing)]), f"{column} is empty")
    counted = pd.DataFrame(
        {
            "n": np.ones(len(judged), dtype=np.int64),
            "k": _positive_mask(judged[value], positive).astype(np.int64),
        }
    )
    if groups:
        for column in groups:
            counted[column] = judged[column].to_numpy()
        table = counted.groupby(groups, sort=True, observed=True)[["n", "k"]].sum().reset_index()
    else:
        table = counted[["n", "k"]].sum().to_frame().T
    return _with_rates(table, confidence)


def _with_rates(table: pd.DataFrame, confidence: float) -> pd.DataFrame:
    n = table["n"].to_numpy(dtype=float)
    k = table["k"].to_numpy(dtype=float)
    lower, upper = wilson_interval(k, n, confidence=confidence)
    table = table.copy()
    table["n"] = table["n"].astype(np.int64)
    table["k"] = table["k"].astype(np.int64)
    table["rate"] = np.where(n > 0, k / np.where(n > 0, n, 1), np.nan)
    table["ci_lower"] = np.atleast_1d(lower)
    table["ci_upper"] = np.atleast_1d(upper)
    return table.reset_index(drop=True)


def good_result_ratio(
    ratings: pd.DataFrame,
    *,
    good_labels: Collection,
    group: str | Sequence[str] | None = "model",
    label: str = "label",
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Good-Result-Ratio per model: the share of ratings whose label is one of `good_labels`.

    One row of `ratings` is one grader's rating of one response (column `label`, e.g.
    poor / acceptable / good). The ratio and its Wilson interval are computed by
    `rate_table`; the interval treats ratings as independent, which is optimistic when
    the same response is rated by several graders (use `scoring.significance` for a
    prompt-level bootstrap).
    """
    if isinstance(good_labels, str):
        good_labels = [good_labels]
    if not good_labels:
        raise InputError("no good labels given")
    good = outcomes.good_label_set(good_labels)
    return rate_table(
        ratings,
        group=group,
        value=label,
        positive=lambda value: outcomes.is_good_label(value, good),
        confidence=confidence,
    )


def _tag_list(value: object, sep: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, float) and np.isnan(value):
        return []
    if isinstance(value, str):
        return [t.strip() for t in value.split(sep) if t.strip()]
    if isinstance(value, Iterable):
        return [str(t).strip() for t in value if t is not None and str(t).strip()]
    return [str(value)]


def tag_rates(
    df: pd.DataFrame,
    *,
    group: str | Sequence[str] | None = "model",
    tags: str = "tags",
    tag_set: Iterable[str] | None = None,
    unit: str | None = None,
    sep: str = ",",
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Share of judged responses carrying each tag (harmful, untrue, ...), per group.

    Parameters
    ----------
    df
        One row per judged response. Column `tags` holds that judgment's tags: a list (or
        other iterable), a string of tags separated by `sep`, or empty/None for no tags.
    tag_set
        Tags to report, including those nobody used (rate 0); default: every tag seen.
    unit
        If given (e.g. ``"response_id"``), rows are first merged per unit: a response
        carries a tag when any of its judgments gave it. Otherwise every row counts.

    Returns
    -------
    DataFrame with the group column(s), ``tag``, ``n`` (judged responses), ``k``
    (responses with that tag), ``rate``, ``ci_lower``, ``ci_upper`` (Wilson), sorted by
    group and tag.
    """
    df = require_table(df)
    groups = _groups(group)
    require_columns(df, [*groups, tags, *([unit] if unit else [])])
    lists = df[tags].map(lambda v: _tag_list(v, sep))
    frame = df[[*groups, *([unit] if unit else [])]].copy()
    frame["_tags"] = lists.to_numpy()
    if unit:
        keys = [*groups, unit]
        frame = (
            frame.groupby(keys, sort=True, observed=True)["_tags"]
            .agg(lambda s: sorted({t for tags_ in s for t in tags_}))
            .reset_index()
        )
    chosen = (
        sorted({t for tags_ in frame["_tags"] for t in tags_})
        if tag_set is None
        else [str(t) for t in tag_set]
    )
    if not chosen:
        raise InputError(f"no tags found in column '{tags}' and no tag set given")
    frame["_one"] = 1
    totals = (
        frame.groupby(groups, sort=True, observed=True)["_one"].sum().rename("n").reset_index()
        if groups
        else pd.DataFrame({"n": [len(frame)]})
    )
    # A tag given twice in one judgment (or by two graders of one unit) counts once.
    frame["_tags"] = frame["_tags"].map(lambda ts: sorted(set(ts)))
    exploded = frame[[*groups, "_tags"]].explode("_tags").dropna(subset=["_tags"])
    exploded = exploded[exploded["_tags"].isin(chosen)]
    hits = exploded.groupby([*groups, "_tags"], observed=True).size()
    hits = hits.rename("k").reset_index().rename(columns={"_tags": "tag"})
    grid = totals.merge(pd.DataFrame({"tag": chosen}), how="cross")
    table = grid.merge(hits, on=[*groups, "tag"], how="left").fillna({"k": 0})
    table = table[[*groups, "tag", "n", "k"]].sort_values([*groups, "tag"], kind="stable")
    return _with_rates(table.reset_index(drop=True), confidence)
