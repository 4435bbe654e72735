"""Results per slice of the prompts (language, category, length bucket) and parity gaps.

Every slice row carries its size ``n`` and an interval (``ci_lower``, ``ci_upper``) from
the scoring function that computed it. A parity gap is, for one model, the highest minus
the lowest value of a result across the slices that have at least `min_n` rows (e.g.
Good-Result-Ratio in English minus in Swahili). It is flagged only when it is
statistically significant and larger than a practical threshold:

- The test compares the two extreme slices: z = gap / sqrt(se_high^2 + se_low^2), with
  each slice's standard error read off its own interval (the half-width on the side facing
  the other slice, divided by the normal quantile of `confidence`; for a Wilson or a
  cluster-aware interval this carries the slice's own variance, design effect included),
  and a two-sided normal p-value.
- Multiplicity: the extreme pair is the largest of the k (k - 1) / 2 pairwise gaps among
  the k compared slices, so its p-value is multiplied by that number of pairs
  (Bonferroni), which bounds the chance of flagging a model whose slices do not differ at
  `alpha`, for any k. Each row (one model, one slice column) is one such test: with M
  models and C columns, up to M * C * alpha rows may still be flagged by chance; pass a
  smaller `alpha` (e.g. alpha / (M * C)) for a study-wide bound.
- Slices below `min_n` rows (default `DEFAULT_MIN_N` = 30, the usual floor for a normal
  approximation) are listed with their n and interval but left out of the gap: a slice of
  four ratings has an interval too wide to say anything.

The seeded simulation in tests/scoring/test_slices.py measures the false-flag rate on
data without any difference between slices.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import ndtr, ndtri

from scoring.errors import InputError
from scoring.tables import jsonable, require_columns, require_table

MISSING_SLICE = "(missing)"
DEFAULT_THRESHOLD = 0.03
DEFAULT_MIN_N = 30
DEFAULT_ALPHA = 0.05
GAP_COLUMNS = (
    "gap",
    "max_slice",
    "max_value",
    "max_n",
    "min_slice",
    "min_value",
    "min_n",
    "slices",
    "compared",
    "p_value",
    "flagged",
)


@dataclass(frozen=True)
class SliceResult:
    """`table`: the per-slice results stacked, with the slice value in column `column`
    (each row with ``n`` and an interval). `gaps`: the parity gap per group (see
    `parity_gaps`); empty if `value` is None."""

    column: str
    table: pd.DataFrame
    gaps: pd.DataFrame

    def to_dict(self) -> dict:
        """Plain JSON-ready dict (NaN becomes None)."""
        return jsonable(self)


def _as_frame(result: object) -> pd.DataFrame:
    if isinstance(result, pd.DataFrame):
        return result.reset_index(drop=True)
    if isinstance(result, pd.Series):
        return (
            result.to_frame().T.reset_index(drop=True)
            if result.name is None
            else (result.rename_axis(result.index.name or "index").reset_index())  # type: ignore[misc,call-overload,attr-defined,assignment,arg-type]
        )
    if isinstance(getattr(result, "table", None), pd.DataFrame):  # e.g. a Leaderboard
        return _as_frame(result.table)  # type: ignore[attr-defined,union-attr]
    if dataclasses.is_dataclass(result) and not isinstance(result, type):
        return pd.DataFrame(
            [
                {
                    f.name: getattr(result, f.name)
                    for f in dataclasses.fields(result)
                    if np.isscalar(getattr(result, f.name)) or getattr(result, f.name) is None
                }
            ]
        )
    if isinstance(result, dict):
        return pd.DataFrame([{k: v for k, v in result.items() if not isinstance(v, dict)}])
    return pd.DataFrame({"value": [result]})


def by_slice(
    df: pd.DataFrame,
    column: str,
    fn: Callable[[pd.DataFrame], object],
    *,
    value: str | None = "rate",
    group: str | Sequence[str] | None = "model",
    n: str = "n",
    lower: str = "ci_lower",
    upper: str = "ci_upper",
    min_n: int = DEFAULT_MIN_N,
    alpha: float = DEFAULT_ALPHA,
    threshold: float = DEFAULT_THRESHOLD,
    confidence: float = 0.95,
    min_rows: int = 1,
) -> SliceResult:
    """Apply `fn` to the rows of each value of `column` and compute parity gaps.

    Parameters
    ----------
    df
        The table to slice (ratings, battles, scores...).
    column
        The metadata column that defines slices; missing values form the slice
        ``"(missing)"``.
    fn
        Any scoring function of one table, e.g.
        ``lambda d: good_result_ratio(d, good_labels={"good"}, cluster="response_id")``. It
        may return a DataFrame, a Series, a result with a ``table`` (such as a
        `Leaderboard`: its table), another dataclass or a dict (scalar fields become
        columns) or a number. With `value`, its rows must carry the slice size `n` and the
        interval `lower`, `upper` of `value` at `confidence` (`InputError` otherwise).
    value, group, n, lower, upper, min_n, alpha, threshold, confidence
        Passed to `parity_gaps` (skipped if `value` is None).
    min_rows
        Slices with fewer rows of `df` are not computed at all.

    Returns
    -------
    SliceResult with `table` (the results of every slice, the slice value in column
    `column`, first) and `gaps`.
    """
    df = require_table(df)
    require_columns(df, [column])
    codes, uniques = pd.factorize(df[column], use_na_sentinel=True)
    names = [str(u) for u in uniques] + [MISSING_SLICE]  # code -1 (missing) is the last
    keys = np.array(names, dtype=object)[codes]
    seen = set(keys.tolist())
    if isinstance(df[column].dtype, pd.CategoricalDtype):  # keep the categories' order
        order = [str(c) for c in df[column].cat.categories if str(c) in seen]
        order += sorted(seen - set(order))
    else:
        order = sorted(seen)
    frames = []
    for key in order:
        part = df.iloc[np.flatnonzero(keys == key)]
        if len(part) < min_rows:
            continue
        result = _as_frame(fn(part))
        result.insert(0, column, key)
        frames.append(result)
    if not frames:
        raise InputError(f"no slice of '{column}' has at least {min_rows} rows")
    table = pd.concat(frames, ignore_index=True)
    gaps = pd.DataFrame()
    if value is not None:
        missing = [c for c in (value, n, lower, upper) if c not in table.columns]
        if missing:
            raise InputError(
                f"the slice results have no column {', '.join(map(repr, missing))}: parity "
                f"gaps need each slice's '{value}' with its size '{n}' and interval "
                f"'{lower}', '{upper}' (columns found: {', '.join(map(str, table.columns))})"
            )
        groups = [
            g for g in ([group] if isinstance(group, str) else (group or [])) if g in table.columns
        ]
        gaps = parity_gaps(
            table,
            slice_column=column,
            value=value,
            group=groups or None,
            n=n,
            lower=lower,
            upper=upper,
            min_n=min_n,
            alpha=alpha,
            threshold=threshold,
            confidence=confidence,
        )
    return SliceResult(column=column, table=table, gaps=gaps)


def parity_gaps(
    table: pd.DataFrame,
    *,
    slice_column: str,
    value: str = "rate",
    group: str | Sequence[str] | None = "model",
    n: str = "n",
    lower: str = "ci_lower",
    upper: str = "ci_upper",
    min_n: int = DEFAULT_MIN_N,
    alpha: float = DEFAULT_ALPHA,
    threshold: float = DEFAULT_THRESHOLD,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Parity gap per group between its extreme slices, flagged when significant.

    `table` has one row per (group, slice) with `value`, its size `n` and its interval
    (`lower`, `upper`) at `confidence`. Per group, among the slices with a value and at
    least `min_n` rows (``compared`` of the ``slices`` with a value): ``gap`` = highest
    minus lowest value, ``max_slice``/``max_value``/``max_n`` and
    ``min_slice``/``min_value``/``min_n`` name the two, ``p_value`` is the
    Bonferroni-adjusted two-sided p-value of their difference (see the module docstring),
    and ``flagged`` is ``p_value < alpha and gap > threshold`` (the threshold keeps
    significant but negligible gaps unflagged on large studies; 0 turns it off). With
    fewer than two compared slices the gap, the extreme slices and the p-value are None and
    the row is not flagged. A slice whose interval is missing or infinite leaves the
    p-value None (not flagged).
    """
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be between 0 and 1, got {alpha!r}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence!r}")
    groups = [group] if isinstance(group, str) else list(group or [])
    require_columns(table, [slice_column, value, n, lower, upper, *groups])
    data = table[[*groups, slice_column, value, n, lower, upper]].dropna(subset=[value])
    data = data.reset_index(drop=True)
    if groups:
        codes, keys = pd.MultiIndex.from_frame(data[groups]).factorize(sort=True)
        out = pd.DataFrame(list(keys), columns=groups)
    else:
        codes, out = np.zeros(len(data), dtype=np.intp), pd.DataFrame(index=[0])
    count = len(out)
    sizes = data[n].to_numpy(dtype=float)
    big = sizes >= min_n
    out["slices"] = np.bincount(codes, minlength=count)
    out["compared"] = np.bincount(codes[big], minlength=count)
    for column in ("gap", "max_slice", "max_value", "max_n", "min_slice", "min_value", "min_n"):
        out[column] = None
    out["p_value"], out["flagged"] = None, False
    tested = out["compared"].to_numpy() >= 2
    if tested.any():
        eligible = data[big & tested[codes]]
        by_group = eligible.groupby(codes[big & tested[codes]], sort=True)[value]
        hi, lo = by_group.idxmax().to_numpy(), by_group.idxmin().to_numpy()
        values = data[value].to_numpy(dtype=float)
        gap = values[hi] - values[lo]
        z = float(ndtri(0.5 + confidence / 2))
        with np.errstate(invalid="ignore"):
            se_hi = (values[hi] - data[lower].to_numpy(dtype=float)[hi]) / z
            se_lo = (data[upper].to_numpy(dtype=float)[lo] - values[lo]) / z
        p = [_two_sided_p(g, a, b) for g, a, b in zip(gap, se_hi, se_lo, strict=True)]
        pairs = out["compared"].to_numpy()[tested] * (out["compared"].to_numpy()[tested] - 1) / 2
        adjusted = [None if q is None else min(1.0, q * m) for q, m in zip(p, pairs, strict=True)]
        where = np.flatnonzero(tested)
        for column, values_of in (
            ("gap", gap),
            ("max_slice", data[slice_column].to_numpy()[hi]),
            ("max_value", values[hi]),
            ("max_n", sizes[hi].astype(np.int64)),
            ("min_slice", data[slice_column].to_numpy()[lo]),
            ("min_value", values[lo]),
            ("min_n", sizes[lo].astype(np.int64)),
            ("p_value", adjusted),
        ):
            out[column] = out[column].astype(object)
            out.loc[where, column] = pd.Series(list(values_of), index=where, dtype=object)
        # A gap of exactly the threshold (0.53 - 0.50) must not flag on rounding.
        out.loc[where, "flagged"] = [
            q is not None and q < alpha and g > threshold + 1e-9
            for q, g in zip(adjusted, gap, strict=True)
        ]
    out["flagged"] = out["flagged"].astype(bool)
    return out[[*groups, *GAP_COLUMNS]]


def _two_sided_p(gap: float, se_hi: float, se_lo: float) -> float | None:
    """Normal two-sided p-value of a gap with the two slices' standard errors, or None
    when an interval is missing or unbounded."""
    spread = math.hypot(se_hi, se_lo)
    if not math.isfinite(spread) or se_hi < 0 or se_lo < 0:
        return None
    if spread == 0:
        return 1.0 if gap == 0 else 0.0
    return float(2 * ndtr(-abs(gap) / spread))


def length_buckets(
    values: pd.Series | Sequence,
    *,
    edges: Sequence[float] | None = None,
    bins: int = 4,
    unit: str = "chars",
) -> pd.Series:
    """Bucket labels for lengths, to slice by response or prompt length.

    `values` are lengths, or texts whose length is measured in characters
    (``unit="chars"``) or whitespace-separated words (``unit="words"``). With `edges`
    (ascending lower bounds, e.g. ``[0, 100, 500, 2000]``) the buckets are
    ``"0-99"``, ``"100-499"``, ``"500-1999"``, ``"2000+"``; without, `bins` buckets at
    the quantiles of the data (equal-count buckets, Hyndman & Fan 1996 type 7). Returns an
    ordered categorical Series aligned with `values`; missing lengths stay missing.
    """
    series = pd.Series(values)
    if unit not in ("chars", "words"):
        raise ValueError(f"unit must be 'chars' or 'words', got {unit!r}")
    if series.dtype == object or pd.api.types.is_string_dtype(series.dtype):
        count = (lambda t: len(str(t).split())) if unit == "words" else (lambda t: len(str(t)))
        lengths = series.map(count, na_action="ignore").astype(float)
    else:
        lengths = series.astype(float)
    if edges is None:
        finite = lengths.dropna()
        if finite.empty:
            raise InputError("no lengths to bucket")
        quantiles = np.quantile(finite, np.linspace(0, 1, bins + 1)[1:-1])
        edges = sorted({0.0, *np.ceil(quantiles).tolist()})
    edges = [float(e) for e in edges]
    if any(b <= a for a, b in zip(edges, edges[1:], strict=False)):
        raise ValueError("edges must be strictly increasing")
    labels = [
        f"{int(lo)}-{int(hi) - 1}" if hi - lo > 1 else f"{int(lo)}"
        for lo, hi in zip(edges, edges[1:], strict=False)
    ] + [f"{int(edges[-1])}+"]
    codes = np.searchsorted(edges, lengths.to_numpy(), side="right") - 1
    codes = np.where(np.isnan(lengths.to_numpy()), -1, np.maximum(codes, 0))
    # Values below the first edge go to the first bucket.
    return pd.Series(
        pd.Categorical.from_codes(codes, categories=labels, ordered=True),  # type: ignore[misc,call-overload,attr-defined,assignment,arg-type]
        index=series.index,
        name="length_bucket",
    )
