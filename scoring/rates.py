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
from scipy.special import ndtri, stdtrit

from scoring import outcomes
from scoring.errors import InputError, row_error
from scoring.tables import Interval, missing_mask, numeric_column, require_columns, require_table


def _z(confidence: float) -> float:
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence!r}")
    return float(ndtri(0.5 + confidence / 2))


def wilson_interval(successes, n, *, confidence: float = 0.95) -> Interval:
    """Wilson score interval for a binomial proportion successes / n.

    With z the (1 + confidence) / 2 normal quantile and p = k / n:

        (p + z^2 / 2n  -/+  z * sqrt(p (1 - p) / n + z^2 / 4n^2)) / (1 + z^2 / n)

    (Wilson 1927; Newcombe 1998, "Two-sided confidence intervals for the single
    proportion", method 3, without continuity correction). For n = 0 the interval is
    (0, 1). Accepts scalars or arrays (broadcast); returns an `Interval` of floats or of
    arrays. `successes` may be fractional (e.g. ties counted as half).
    """
    z = _z(confidence)
    k = np.asarray(successes, dtype=float)
    total = np.asarray(n, dtype=float)
    if np.any(total < 0) or np.any(k < 0) or np.any(k > total):
        raise ValueError("need 0 <= successes <= n")
    lower, upper = _wilson(k, total, z)
    if lower.ndim == 0:
        return Interval(float(lower), float(upper))
    return Interval(lower, upper)


def _wilson(k: np.ndarray, total: np.ndarray, z) -> tuple[np.ndarray, np.ndarray]:
    """Wilson bounds for arrays k of total, with z a number or an array (broadcast)."""
    z2 = np.square(z)
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
    return lower, upper


def _positive_mask(values: pd.Series, positive) -> np.ndarray:
    # Each distinct value is judged once (a study has a handful of labels, not millions).
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    distinct = pd.Series(np.asarray(uniques, dtype=object))
    if callable(positive):
        result = distinct.map(positive)
        if not result.map(lambda v: isinstance(v, bool | np.bool_)).all():
            raise InputError("the 'positive' function must return True or False for each value")
        judged = result.to_numpy(dtype=bool)
    else:
        if isinstance(positive, str) or not isinstance(positive, Iterable):
            positive = [positive]
        chosen = set(positive)
        if not chosen:
            raise InputError("no positive values given (e.g. the study's good labels)")
        # Compare as text too, so a label 3 read from CSV matches "3" from a study definition.
        as_text = {str(v) for v in chosen}
        judged = distinct.map(lambda v: v in chosen or str(v) in as_text).to_numpy(dtype=bool)
    judged = np.append(judged, False)  # the missing values' code -1 picks this
    return judged[codes]


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
    cluster: str | None = None,
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
    cluster
        Column naming the unit that several rows may share (e.g. ``response_id``: one
        response rated by three graders). Ratings of one response are correlated, so where
        a group has a cluster with more than one row the interval is `clustered_interval`
        (Wilson's with the effective sample size), not the plain Wilson interval, which
        treats them as independent and under-covers (89 % instead of 95 % at an
        intra-class correlation of .3 with three graders per response).

    Returns
    -------
    DataFrame with the group column(s) and ``n`` (judged rows), ``k`` (positive rows),
    ``rate = k / n``, ``ci_lower``, ``ci_upper``, and with `cluster` also ``n_clusters``
    and ``interval`` (``"wilson"`` or ``"wilson, design effect"``), sorted by group.
    """
    df = require_table(df)
    groups = _groups(group)
    require_columns(df, [*groups, value, *([cluster] if cluster else [])])
    rows = np.flatnonzero(~missing_mask(df[value]))
    if rows.size == 0:
        raise InputError(f"no row has a value in column '{value}'")
    judged = df.iloc[rows]
    positives = _positive_mask(judged[value], positive).astype(np.int64)
    return _rates(judged, rows, positives, groups, cluster, confidence)


def mean_rate(
    df: pd.DataFrame,
    *,
    score: str = "score",
    group: str | Sequence[str] | None = "model",
    cluster: str | None = None,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Mean of a score between 0 and 1 per group, as a rate with a Wilson interval.

    For scores that are not only 0 or 1, such as a model's side of a battle scored 1 for a
    win, 1/2 for a tie and 0 for a loss (`scoring.ratings.EncodedBattles.score_a`, and the
    win rate (wins + ties / 2) / battles is their mean): ``k`` is the sum of the scores
    (points) and the interval is Wilson's for k of n, which stays valid because a score in
    [0, 1] with mean p has a variance of at most p (1 - p) (conservative when there are
    ties). `cluster` (e.g. the prompt: one model's battles on one prompt are correlated)
    switches to `clustered_interval` as in `rate_table`. Rows without a score are not
    counted; a score outside [0, 1] raises `InputError` naming the row.

    Returns the columns of `rate_table` (``n``, ``k``, ``rate``, ``ci_lower``,
    ``ci_upper``; with `cluster` also ``n_clusters`` and ``interval``), ``k`` a float.
    """
    df = require_table(df)
    groups = _groups(group)
    require_columns(df, [*groups, score, *([cluster] if cluster else [])])
    values = numeric_column(df, score)
    rows = np.flatnonzero(~np.isnan(values))
    if rows.size == 0:
        raise InputError(f"no row has a value in column '{score}'")
    outside = (values[rows] < 0) | (values[rows] > 1)
    if outside.any():
        position = int(rows[np.argmax(outside)])
        raise row_error(
            position, f"{score} must be between 0 and 1, got {float(values[position])!r}"
        )
    return _rates(df.iloc[rows], rows, values[rows], groups, cluster, confidence)


def _rates(
    judged: pd.DataFrame,
    rows: np.ndarray,
    k: np.ndarray,
    groups: list[str],
    cluster: str | None,
    confidence: float,
) -> pd.DataFrame:
    """Rates of the positive counts (or scores) `k` of the `judged` rows, per group."""
    for column in [*groups, *([cluster] if cluster else [])]:
        missing = missing_mask(judged[column])
        if missing.any():
            raise row_error(int(rows[np.argmax(missing)]), f"{column} is empty")
    counted = pd.DataFrame({"n": np.ones(len(judged), dtype=np.int64), "k": k})
    counted["_group"] = 0
    if groups:
        counted["_group"] = pd.MultiIndex.from_frame(_as_text(judged[groups])).factorize()[0]
        for column in groups:
            counted[column] = judged[column].array
    keys = groups or ["_group"]
    grouped = counted.groupby(keys, sort=True, observed=True)
    table = grouped[["n", "k"]].sum().reset_index()
    codes = grouped["_group"].first().to_numpy()
    table = _with_rates(table.drop(columns=["_group"], errors="ignore"), confidence)
    if not cluster:
        return table
    # Clusters are told apart as text; integer ids (response ids) are told apart the same
    # way as they are, in the same order of first appearance, without writing them out.
    clusters = judged[cluster]
    counted["_cluster"] = (clusters if clusters.dtype.kind in "iu" else clusters.astype(str)).array
    per_cluster = counted.groupby(["_group", "_cluster"], sort=False)[["n", "k"]].sum()
    per_cluster = per_cluster.assign(
        k2=per_cluster["k"] ** 2,
        kn=per_cluster["k"] * per_cluster["n"],
        n2=per_cluster["n"] ** 2,
        clusters=1,
        shared=per_cluster["n"] > 1,
    )
    sums = per_cluster.groupby(level="_group").sum().reindex(codes)
    columns = (sums[c].to_numpy(dtype=float) for c in ("k", "n", "k2", "kn", "n2", "clusters"))
    lower, upper = _clustered_bounds(*columns, confidence=confidence)
    shared = sums["shared"].to_numpy() > 0
    table["n_clusters"] = sums["clusters"].to_numpy(dtype=np.int64)
    table["interval"] = np.where(shared, "wilson, design effect", "wilson")
    table["ci_lower"] = np.where(shared, lower, table["ci_lower"])
    table["ci_upper"] = np.where(shared, upper, table["ci_upper"])
    return table


def _as_text(frame: pd.DataFrame) -> pd.DataFrame:
    """The columns as text (`astype(str)`), leaving alone those that already are."""
    if all(isinstance(dtype, pd.StringDtype) for dtype in frame.dtypes):
        return frame
    return frame.astype(str)


def clustered_interval(
    successes: np.ndarray, n: np.ndarray, *, confidence: float = 0.95
) -> Interval:
    """Interval for a proportion sum(successes) / sum(n) observed in clusters.

    Korn & Graubard (1998, "Confidence intervals for proportions with small expected
    number of positive counts estimated from survey data", Survey Methodology 24:193-201):
    the Wilson interval computed with the effective sample size n / deff, where the design
    effect deff is the ratio of the cluster-robust variance of p (the between-cluster
    variance of the ratio estimator, C / (C - 1) * sum((k_c - p n_c)^2) / n^2 over C
    clusters) to the binomial p (1 - p) / n, at least 1; and with Student's t quantile on
    C - 1 degrees of freedom instead of the normal one. With one rating per cluster and
    many clusters it is Wilson's interval.
    """
    k = np.asarray(successes, dtype=float)
    m = np.asarray(n, dtype=float)
    sums = [np.array([float(v.sum())]) for v in (k, m, k * k, k * m, m * m)]
    lower, upper = _clustered_bounds(
        sums[0],
        sums[1],
        sums[2],
        sums[3],
        sums[4],
        np.array([float(len(m))]),
        confidence=confidence,
    )
    return Interval(float(lower[0]), float(upper[0]))


def _clustered_bounds(
    k: np.ndarray,
    n: np.ndarray,
    k2: np.ndarray,
    kn: np.ndarray,
    n2: np.ndarray,
    clusters: np.ndarray,
    *,
    confidence: float,
) -> tuple[np.ndarray, np.ndarray]:
    """`clustered_interval` for many groups at once, from each group's sums over its
    clusters: k, n, and the sums of k_c^2, k_c n_c and n_c^2 (so that
    sum((k_c - p n_c)^2) = k2 - 2 p kn + p^2 n2), and the number of clusters."""
    judged = n > 0
    safe_n = np.where(judged, n, 1.0)
    p = k / safe_n
    binomial = p * (1 - p) / safe_n
    several = clusters > 1
    spread = np.maximum(k2 - 2 * p * kn + p * p * n2, 0.0)
    robust = np.where(several, clusters / np.maximum(clusters - 1, 1) * spread / safe_n**2, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        deff = np.where(several & (binomial > 0), np.maximum(1.0, robust / binomial), 1.0)
    n_eff = np.where(judged, safe_n / deff, 0.0)
    # Student's t quantile on C - 1 degrees of freedom where there are several clusters.
    z = np.where(
        several, stdtrit(np.maximum(clusters - 1, 1), 0.5 + confidence / 2), _z(confidence)
    )
    return _wilson(p * n_eff, n_eff, z)


def _with_rates(table: pd.DataFrame, confidence: float) -> pd.DataFrame:
    n = table["n"].to_numpy(dtype=float)
    k = table["k"].to_numpy(dtype=float)
    lower, upper = wilson_interval(k, n, confidence=confidence)
    table = table.copy()
    table["n"] = table["n"].astype(np.int64)
    if np.all(k == np.round(k)):  # counts stay integers; points (ties as half) stay floats
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
    cluster: str | None = None,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Good-Result-Ratio per model: the share of ratings whose label is one of `good_labels`.

    One row of `ratings` is one grader's rating of one response (column `label`, e.g.
    poor / acceptable / good). The ratio and its interval are computed by `rate_table`:
    give `cluster` (e.g. ``"response_id"``, or the prompt column when each model answered
    each prompt once) so that several ratings of one response widen the interval as they
    should (`clustered_interval`); without it, ratings are taken as independent (Wilson).
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
        cluster=cluster,
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


def _per_object(values: list, fn) -> np.ndarray:
    """``fn`` of each value, called once per distinct object: the rows of a table mostly
    share a few tag lists (one decoded list per distinct JSON text), so 200,000 rows need
    a handful of calls. The results are shared between rows: treat them as read-only."""
    seen: dict[int, object] = {}
    out = np.empty(len(values), dtype=object)
    for i, value in enumerate(values):
        key = id(value)  # `values` keeps every object alive: no id is reused meanwhile
        if key not in seen:
            seen[key] = fn(value)
        out[i] = seen[key]
    return out


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
    frame = df[[*groups, *([unit] if unit else [])]].copy()
    frame["_tags"] = _per_object(df[tags].tolist(), lambda v: _tag_list(v, sep))
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
    frame["_tags"] = _per_object(frame["_tags"].tolist(), lambda ts: sorted(set(ts)))
    exploded = frame[[*groups, "_tags"]].explode("_tags").dropna(subset=["_tags"])
    exploded = exploded[exploded["_tags"].isin(chosen)]
    hits = exploded.groupby([*groups, "_tags"], observed=True).size()
    hits = hits.rename("k").reset_index().rename(columns={"_tags": "tag"})  # type: ignore[misc,call-overload,attr-defined,assignment,arg-type]
    grid = totals.merge(pd.DataFrame({"tag": chosen}), how="cross")
    table = grid.merge(hits, on=[*groups, "tag"], how="left").fillna({"k": 0})
    table = table[[*groups, "tag", "n", "k"]].sort_values([*groups, "tag"], kind="stable")
    return _with_rates(table.reset_index(drop=True), confidence)
