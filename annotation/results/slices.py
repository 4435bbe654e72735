"""Win rate and Good-Result-Ratio per model in each slice of the prompts' metadata, with
parity gaps."""

from __future__ import annotations

from functools import partial

import pandas as pd

from annotation.results.parallel import Part, Split
from annotation.results.payloads import SlicesPayload
from annotation.results.snapshot import StudyData, metadata_columns
from scoring import outcomes, rates, slices

DEFAULT_THRESHOLD = slices.DEFAULT_THRESHOLD


def _win_rate(sides: pd.DataFrame) -> pd.DataFrame:
    # Battles on one prompt are correlated: the prompt is the cluster of the interval.
    return rates.mean_rate(sides, cluster="prompt_id").rename(columns={"rate": "win_rate"})


def slice_results(data: StudyData, *, threshold: float = DEFAULT_THRESHOLD) -> SlicesPayload:
    """Win rate and Good-Result-Ratio per model in each slice of each prompt metadata
    column (and a prompt-length bucket), each with n and an interval, with parity gaps
    flagged when significant and above `threshold` (`scoring.slices.parity_gaps`)."""
    return slices_split(data, threshold=threshold).compute()


def slices_split(data: StudyData, *, threshold: float = DEFAULT_THRESHOLD) -> Split:
    """`slice_results` as two parts, which a refresh may run in other processes
    (`annotation.results.parallel`): the win rates (reading no rating: it may start
    before the ratings are read) and the Good-Result-Ratios."""
    # Weights: seconds of CPU at 100,000 judgments (bench/bench_dashboard.py).
    return Split(
        (
            Part("slices: win rates", partial(_win_rates, data, threshold), 0.5, early=True),
            Part("slices: good results", partial(_good_results, data, threshold), 0.5),
        ),
        partial(_combine, data, threshold),
    )


def _with_lengths(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """`columns` of the frame (those there) and its prompts' length bucket."""
    frame = frame[[c for c in dict.fromkeys([*columns, "prompt_chars"]) if c in frame]].copy()
    if len(frame):
        frame["prompt_length"] = slices.length_buckets(frame["prompt_chars"]).astype(str)
    return frame


def _win_rates(data: StudyData, threshold: float, columns: list[str] | None = None) -> dict:
    """The win-rate entry of each column (by default the battles' own slice columns; the
    labels' may add more, `_combine`)."""
    if not len(data.battles):
        return {}
    if columns is None:
        columns = sorted(set(metadata_columns(data.battles)) | {"prompt_length"})
    read = ["model_a", "model_b", "winner", "prompt_id"]
    battles = _with_lengths(data.battles, [*columns, *read])
    columns = [c for c in columns if c in battles]
    # Only the columns the rates read: each slice takes its rows of every column.
    sides = outcomes.side_scores(battles, keep=[*columns, "prompt_id"])
    out = {}
    for column in columns:
        result = slices.by_slice(
            sides[list(dict.fromkeys([column, "model", "score", "prompt_id"]))],
            column,
            _win_rate,
            value="win_rate",
            threshold=threshold,
        )
        out[column] = {"table": result.table, "gaps": result.gaps}
    return out


def _slice_columns(data: StudyData) -> list[str]:
    """The prompt metadata columns that make slices, and the prompts' length bucket."""
    battles, labels = data.battles, data.labels
    return sorted(
        set(metadata_columns(battles)) | set(metadata_columns(labels)) | {"prompt_length"}
    )


def _good_results(data: StudyData, threshold: float) -> dict:
    """The Good-Result-Ratio entry of each slice column."""
    good = set(data.good_labels)
    if not (len(data.labels) and good):
        return {}
    columns = _slice_columns(data)
    labels = _with_lengths(data.labels, [*columns, "model", "label", "response_id"])
    out = {}
    for column in columns:
        if column not in labels:
            continue
        result = slices.by_slice(
            labels[list(dict.fromkeys([column, "model", "label", "response_id"]))],
            column,
            lambda d: rates.good_result_ratio(d, good_labels=good, cluster="response_id"),
            value="rate",
            threshold=threshold,
        )
        out[column] = {"table": result.table, "gaps": result.gaps}
    return out


def _combine(data: StudyData, threshold: float, values: list[dict]) -> SlicesPayload:
    win_rates, good_results = values
    columns = _slice_columns(data)
    # A column only the labels make a slice column: its win rates too (rare).
    missing = [c for c in columns if c not in win_rates]
    if missing:
        win_rates = {**win_rates, **_win_rates(data, threshold, missing)}
    out = []
    for column in columns:
        entry = {"column": column}
        if column in win_rates:
            entry["win_rate"] = win_rates[column]
        if column in good_results:
            entry["grr"] = good_results[column]
        if len(entry) > 1:
            out.append(entry)
    return {"threshold": threshold, "slices": out}
