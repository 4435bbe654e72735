"""Swap consistency: does a grader give the same verdict when a task comes back to them with
the sides swapped (`Study.repeat_fraction`, annotation.handout)? The statistic is
`scoring.position.swap_consistency` (Zheng et al. 2023, sec. 3.3); this module only hands it
the snapshot's re-served tasks (`StudyData.repeats`) and shapes the JSON.

A re-serve is never a vote: the leaderboard, agreement and exports read the first judgment
only. Here both are read, side by side.
"""

from __future__ import annotations

from typing import TypedDict

from annotation.results.snapshot import StudyData
from annotation.results.store import clean
from scoring import position

CONFIDENCE = 0.95


class SwapConsistencyRow(TypedDict):
    """One grader (or ``all``, per kind of grader): of `swapped` re-served pairs,
    `swapped_consistent` got the same verdict (both kinds of tie are one verdict), with an
    exact 95 % interval; `left_flips` / `right_flips`: reversed verdicts that chose the same
    screen side both times (the position decided); `tie_changes`: a tie one time only.
    `same_side*`: pairs re-served with the same sides (none under this app's re-serve)."""

    grader: str
    kind: str
    pairs: int
    swapped: int
    swapped_consistent: int
    swapped_consistency: float | None
    ci_lower: float | None
    ci_upper: float | None
    left_flips: int
    right_flips: int
    tie_changes: int
    same_side: int
    same_side_consistent: int
    same_side_consistency: float | None


class InconsistentRepeat(TypedDict):
    grader: str
    kind: str
    task_id: int
    verdict: str
    repeat_verdict: str
    flip: str


class SwapConsistencyPayload(TypedDict):
    """Per grader, and pooled (`pooled`: ``all`` and, with several kinds, one row each)."""

    confidence: float
    repeats: int
    graders: list[SwapConsistencyRow]
    pooled: list[SwapConsistencyRow]
    inconsistent: list[InconsistentRepeat]


def swap_consistency(data: StudyData, *, confidence: float = CONFIDENCE) -> SwapConsistencyPayload:
    """Each grader's self-consistency on the tasks re-served to them with the sides
    swapped, and pooled; empty lists when no re-served task has been answered."""
    repeats = data.repeats
    if not len(repeats):
        return {
            "confidence": confidence,
            "repeats": 0,
            "graders": [],
            "pooled": [],
            "inconsistent": [],
        }
    found = position.swap_consistency(
        repeats, grader="grader", kind="grader_kind", confidence=confidence
    )
    inconsistent = [
        {
            "grader": row.grader,
            "kind": row.grader_kind,
            "task_id": int(row.task_id),
            "verdict": row.verdict,
            "repeat_verdict": row.repeat_verdict,
            "flip": row.flip,
        }
        for row in found.inconsistent.itertuples(index=False)
    ]
    return clean(
        {
            "confidence": confidence,
            "repeats": len(repeats),
            "graders": found.graders,
            "pooled": found.pooled,
            "inconsistent": inconsistent,
        }
    )
