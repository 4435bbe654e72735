"""Grader checks for the dashboard: implausibly fast graders, and agreement per pair of graders.

A pure function of the study's snapshot, computed with the other default results by each
refresh (`annotation.results.store`), never in a dashboard request; the statistics
(medians, agreement, Cohen's kappa) come from `scoring.grader_checks`.
"""

from __future__ import annotations

from annotation.results.agreement import rating_table
from annotation.results.snapshot import StudyData
from scoring import grader_checks as checks

# Hundreds of graders make tens of thousands of pairs: the page shows the best-supported ones.
MAX_PAIRS = 50
# Fewer timed judgments than this say too little about a grader's habits to flag them.
MIN_JUDGMENTS = 5


def grader_checks(data: StudyData) -> dict:
    """For the study's human graders on regular tasks:

    - ``speed``: each grader's timed judgments, median seconds and whether that median lies
      below the study's ``min_median_seconds`` (``fast``: the flagged graders' names);
    - ``pairs``: per pair of graders, the items both judged, the share with the same answer
      and Cohen's kappa, on verdicts (ratings in a study without pairwise verdicts);
    - ``graders_per_item``: the most graders any item has; with two or fewer, "agreement
      with the majority" is only agreement with the one other grader
      (``majority_meaningful`` is False) and the pair table is what to read.
    """
    speed = checks.grader_speed(
        data.timed, threshold=data.min_median_seconds, min_judgments=MIN_JUDGMENTS
    )
    question = "verdict"
    long = data.verdicts[["item", "grader", "value"]]
    if long.empty:
        question = "rating"
        long = rating_table(data)
    pairs = checks.pairwise_agreement(long, max_pairs=MAX_PAIRS)
    per_item = int(long.groupby("item")["grader"].nunique().max()) if len(long) else 0
    return {
        "threshold": data.min_median_seconds,
        "min_judgments": MIN_JUDGMENTS,
        "speed": speed.to_dict(orient="records"),
        "fast": sorted(speed.loc[speed["too_fast"].astype(bool), "grader"].tolist()),
        "question": question,
        "pairs": pairs.to_dict(orient="records"),
        "graders_per_item": per_item,
        "majority_meaningful": per_item >= 3,
    }
