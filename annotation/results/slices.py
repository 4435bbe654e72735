"""Win rate and Good-Result-Ratio per model in each slice of the prompts' metadata, with
parity gaps."""

from __future__ import annotations

import pandas as pd

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
    battles = data.battles.copy()
    labels = data.labels.copy()
    for frame in (battles, labels):
        if len(frame):
            frame["prompt_length"] = slices.length_buckets(frame["prompt_chars"]).astype(str)
    columns = sorted(
        set(metadata_columns(battles)) | set(metadata_columns(labels)) | {"prompt_length"}
    )
    good = set(data.good_labels)
    sides = None
    out = []
    for column in columns:
        entry = {"column": column}
        if len(battles) and column in battles:
            if sides is None:
                keep = [c for c in battles.columns if c in columns or c == "prompt_id"]
                sides = outcomes.side_scores(battles, keep=keep)
            # Only the columns the rates read: each slice takes its rows of every column.
            result = slices.by_slice(
                sides[list(dict.fromkeys([column, "model", "score", "prompt_id"]))],
                column,
                _win_rate,
                value="win_rate",
                threshold=threshold,
            )
            entry["win_rate"] = {"table": result.table, "gaps": result.gaps}
        if len(labels) and good and column in labels:
            result = slices.by_slice(
                labels[list(dict.fromkeys([column, "model", "label", "response_id"]))],
                column,
                lambda d: rates.good_result_ratio(d, good_labels=good, cluster="response_id"),
                value="rate",
                threshold=threshold,
            )
            entry["grr"] = {"table": result.table, "gaps": result.gaps}
        if len(entry) > 1:
            out.append(entry)
    return {"threshold": threshold, "slices": out}
