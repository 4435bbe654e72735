"""Results per slice of the prompts (language, category, length bucket) and parity gaps.

A parity gap is, for one model, the largest minus the smallest value of a result across
slices (e.g. Good-Result-Ratio in English minus in Swahili). Gaps above a threshold
(default 3 percentage points, 0.03 on a 0-1 rate) are flagged for a closer look; the flag
is a screening rule, not a significance test, so read it with the slices' intervals.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from scoring.errors import InputError
from scoring.tables import jsonable, require_columns, require_table

MISSING_SLICE = "(missing)"
DEFAULT_THRESHOLD = 0.03


@dataclass(frozen=True)
class SliceResult:
    """`table`: the per-slice results stacked, with the slice value in column `column`.
    `gaps`: the parity gap per group (see `parity_gaps`); empty if no `value` column."""

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
    threshold: float = DEFAULT_THRESHOLD,
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
        ``lambda d: good_result_ratio(d, good_labels={"good"})``. It may return a DataFrame,
        a Series, a result with a ``table`` (such as a `Leaderboard`: its table), another
        dataclass or a dict (scalar fields become columns) or a number.
    value, group, threshold
        Passed to `parity_gaps` (skipped if `value` is None or not in the results).
    min_rows
        Slices with fewer rows are skipped.

    Returns
    -------
    SliceResult with `table` (the results of every slice, the slice value in column
    `column`, first) and `gaps`.
    """
    df = require_table(df)
    require_columns(df, [column])
    keys = df[column].astype(object).where(df[column].notna(), MISSING_SLICE).map(str)
    if isinstance(df[column].dtype, pd.CategoricalDtype):  # keep the categories' order
        order = [str(c) for c in df[column].cat.categories if str(c) in set(keys)]
        order += sorted(set(keys) - set(order))
    else:
        order = sorted(keys.unique())
    frames = []
    for key in order:
        part = df[keys.to_numpy() == key]
        if len(part) < min_rows:
            continue
        result = _as_frame(fn(part))
        result.insert(0, column, key)
        frames.append(result)
    if not frames:
        raise InputError(f"no slice of '{column}' has at least {min_rows} rows")
    table = pd.concat(frames, ignore_index=True)
    gaps = pd.DataFrame()
    if value is not None and value in table.columns:
        groups = [
            g for g in ([group] if isinstance(group, str) else (group or [])) if g in table.columns
        ]
        gaps = parity_gaps(
            table, slice_column=column, value=value, group=groups or None, threshold=threshold
        )
    return SliceResult(column=column, table=table, gaps=gaps)


def parity_gaps(
    table: pd.DataFrame,
    *,
    slice_column: str,
    value: str = "rate",
    group: str | Sequence[str] | None = "model",
    threshold: float = DEFAULT_THRESHOLD,
) -> pd.DataFrame:
    """Parity gap per group: max minus min of `value` across slices, flagged above threshold.

    Returns columns: the group column(s), ``gap``, ``max_slice``, ``max_value``,
    ``min_slice``, ``min_value``, ``slices`` (how many had a value) and ``flagged``
    (gap > threshold). A group seen in one slice only has gap 0.
    """
    require_columns(table, [slice_column, value])
    groups = [group] if isinstance(group, str) else list(group or [])
    require_columns(table, groups)
    data = table[[*groups, slice_column, value]].dropna(subset=[value])
    rows = []
    grouped = data.groupby(groups, sort=True, observed=True) if groups else [((), data)]
    for key, part in grouped:
        key = key if isinstance(key, tuple) else (key,)
        values = part[value].to_numpy(dtype=float)
        hi, lo = int(np.argmax(values)), int(np.argmin(values))
        rows.append(
            {
                **dict(zip(groups, key, strict=True)),
                "gap": float(values[hi] - values[lo]),
                "max_slice": part[slice_column].iloc[hi],
                "max_value": float(values[hi]),
                "min_slice": part[slice_column].iloc[lo],
                "min_value": float(values[lo]),
                "slices": len(values),
                # A gap of exactly the threshold (0.53 - 0.50) must not flag on rounding.
                "flagged": bool(values[hi] - values[lo] > threshold + 1e-9),
            }
        )
    columns = [
        *groups,
        "gap",
        "max_slice",
        "max_value",
        "min_slice",
        "min_value",
        "slices",
        "flagged",
    ]
    return pd.DataFrame(rows, columns=columns)


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
