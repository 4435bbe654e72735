"""Checks on individual graders: who answers implausibly fast, and how each pair of graders
agrees when there are too few graders per item for "agreement with the majority".

- `grader_speed`: each grader's median seconds per judgment, flagged when it lies below a
  threshold the study sets. The median, not the mean, because one long pause (a coffee
  break with the task open) must not hide a habit of clicking through.
- `pairwise_agreement`: for every pair of graders who judged items in common, the share of
  those items on which they gave the same value, and Cohen's kappa (Cohen 1960) on them.
  With two graders per item the "majority" of the other graders is one grader, so
  agreement with the majority says nothing beyond this table; with three or more it does.

Input is long format like `scoring.agreement`: ``item, grader, value`` (one row per rating)
and ``grader, seconds`` for speed.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from scoring.agreement import cohen_kappa
from scoring.errors import InputError
from scoring.tables import require_columns

SPEED_COLUMNS = ["grader", "n", "median_seconds", "too_fast"]
PAIR_COLUMNS = ["grader_a", "grader_b", "n", "agreement", "kappa"]


def grader_speed(
    table: pd.DataFrame,
    *,
    threshold: float,
    min_judgments: int = 5,
    grader: str = "grader",
    seconds: str = "seconds",
) -> pd.DataFrame:
    """Each grader's timed judgments ``n``, their ``median_seconds`` and ``too_fast``: True
    when the grader has at least `min_judgments` timed judgments and their median is below
    `threshold` seconds (fewer judgments say too little to flag anyone).

    Rows without a time (imported judgments, say) are left out. Sorted fastest first.
    """
    require_columns(table, [grader, seconds])
    if not np.isfinite(threshold) or threshold < 0:
        raise InputError(f"the speed threshold must be a number of seconds >= 0, got {threshold}")
    if min_judgments < 1:
        raise InputError(f"min_judgments must be at least 1, got {min_judgments}")
    timed = pd.DataFrame(
        {"grader": table[grader], "seconds": pd.to_numeric(table[seconds], errors="coerce")}
    ).dropna(subset=["seconds"])
    if timed.empty:
        return pd.DataFrame(columns=SPEED_COLUMNS)
    grouped = timed.groupby("grader", sort=True)["seconds"].agg(["size", "median"]).reset_index()
    out = pd.DataFrame(
        {
            "grader": grouped["grader"],
            "n": grouped["size"].astype(np.int64),
            "median_seconds": grouped["median"].astype(float),
        }
    )
    out["too_fast"] = (out["n"] >= min_judgments) & (out["median_seconds"] < threshold)
    return out.sort_values(["median_seconds", "grader"], kind="stable").reset_index(drop=True)


def pairwise_agreement(
    long_df: pd.DataFrame,
    *,
    max_pairs: int | None = None,
    item: str = "item",
    grader: str = "grader",
    value: str = "value",
) -> pd.DataFrame:
    """For every pair of graders with items in common (each unordered pair once, grader_a <
    grader_b): ``n`` items both judged, ``agreement`` the share of them with equal values,
    and ``kappa``, Cohen's unweighted kappa on those items (NaN when both graders used one
    and the same value throughout, where kappa is undefined).

    Values are compared as given (nominal). Pairs are sorted by ``n``, most shared first;
    `max_pairs` keeps only that many (hundreds of graders make tens of thousands of pairs).
    A grader who judged an item twice raises `InputError`.
    """
    require_columns(long_df, [item, grader, value])
    frame = pd.DataFrame(
        {"item": long_df[item], "grader": long_df[grader].astype(str), "value": long_df[value]}
    ).dropna(subset=["value"])
    if frame.empty:
        return pd.DataFrame(columns=PAIR_COLUMNS)
    twice = frame.duplicated(["item", "grader"])
    if twice.any():
        row = frame[twice].iloc[0]
        raise InputError(f"grader '{row['grader']}' judged item '{row['item']}' twice")
    joined = frame.merge(frame, on="item", suffixes=("_a", "_b"))
    joined = joined[joined["grader_a"] < joined["grader_b"]]
    if joined.empty:
        return pd.DataFrame(columns=PAIR_COLUMNS)
    joined = joined.assign(same=joined["value_a"] == joined["value_b"])
    pairs = (
        joined.groupby(["grader_a", "grader_b"], sort=True)["same"]
        .agg(["size", "mean"])
        .reset_index()
        .rename(columns={"size": "n", "mean": "agreement"})
        .sort_values(["n", "grader_a", "grader_b"], ascending=[False, True, True], kind="stable")
    )
    if max_pairs is not None:
        pairs = pairs.head(max_pairs)
        joined = joined.merge(pairs[["grader_a", "grader_b"]], on=["grader_a", "grader_b"])
    categories = sorted(frame["value"].astype(str).unique())
    kappas = []
    for (a, b), shared in joined.groupby(["grader_a", "grader_b"], sort=False):
        kappas.append(
            (
                a,
                b,
                cohen_kappa(
                    shared["value_a"].astype(str).to_numpy(),
                    shared["value_b"].astype(str).to_numpy(),
                    categories=categories,
                ),
            )
        )
    kappa = pd.DataFrame(kappas, columns=["grader_a", "grader_b", "kappa"])
    out = pairs.merge(kappa, on=["grader_a", "grader_b"], how="left")
    out["n"] = out["n"].astype(np.int64)
    out["agreement"] = out["agreement"].astype(float)
    return out[PAIR_COLUMNS].reset_index(drop=True)
