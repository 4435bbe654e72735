"""Position bias: each grader's and model judge's share of decisive votes for the response
shown on the left, and the consistency of tasks re-served with the sides swapped.

The screen side is known for judgments handed out here (`StudyData.sides`); imported
judgments carry none and are counted apart. Swap consistency: does a grader give the same
verdict when a task comes back to them with the sides swapped (`Study.repeat_fraction`,
annotation.handout)? It reads the snapshot's re-served tasks (`StudyData.repeats`); a
re-serve is never a vote (the leaderboard, agreement and exports read the first judgment
only). The statistics are `scoring.position`'s (Zheng et al. 2023, sec. 3.3).
"""

from __future__ import annotations

from typing import TypedDict

import pandas as pd

from annotation.results.payloads import PositionPayload
from annotation.results.snapshot import StudyData
from annotation.results.store import clean
from scoring import position
from scoring.errors import InputError

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


ALPHA = 0.05
# Fewer decisive votes than this say nothing about one grader's habit: no share is shown.
MIN_DECISIVE = 10


def _table(data: StudyData) -> tuple[pd.DataFrame, int]:
    """Every vote with a recorded screen side (verdict, a_on_left, grader, grader_kind), and
    how many votes had none."""
    if not len(data.votes) or not len(data.sides):
        empty = pd.DataFrame(columns=["grader", "grader_kind", "verdict", "a_on_left"])
        return empty, int(len(data.votes))
    votes = data.votes.merge(data.sides, on=["item", "grader"], how="left")
    known = votes["a_on_left"].notna()
    table = pd.DataFrame(
        {
            "grader": votes.loc[known, "grader"].to_numpy(),
            "grader_kind": votes.loc[known, "kind"].to_numpy(),
            "verdict": votes.loc[known, "value"].to_numpy(),
            "a_on_left": votes.loc[known, "a_on_left"].astype(bool).to_numpy(),
        }
    )
    return table, int((~known).sum())


def position_bias(data: StudyData, *, repeats: pd.DataFrame | None = None) -> PositionPayload:
    """Left-side share per grader (human graders and model judges) with exact intervals,
    exact tests of 1/2 and Holm-adjusted flags; pooled per kind with a cluster-robust
    interval. `repeats` (one row per task a grader judged twice: grader, grader_kind,
    verdict, a_on_left, repeat_verdict, repeat_a_on_left; default the snapshot's
    `StudyData.repeats`) gives the swap consistency; none exist until a study re-serves
    tasks (`Study.repeat_fraction`)."""
    if repeats is None:
        repeats = data.repeats
    table, unknown = _table(data)
    out: PositionPayload = {
        "graders": [],
        "pooled": [],
        "without_side": unknown,
        "min_decisive": MIN_DECISIVE,
        "confidence": CONFIDENCE,
        "alpha": ALPHA,
        "swap": {"repeats": 0, "graders": [], "pooled": [], "note": "no re-served tasks yet"},
        "notes": [],
    }
    if unknown:
        out["notes"].append(
            f"{unknown} votes without a recorded screen side (imported) are left out"
        )
    if len(table):
        bias = position.position_bias(table, confidence=CONFIDENCE, alpha=ALPHA)
        rows = bias.graders.to_dict(orient="records")
        for row in rows:
            row["enough"] = row["decisive"] >= MIN_DECISIVE
        out["graders"] = rows
        out["pooled"] = bias.pooled.to_dict(orient="records")
    else:
        out["notes"].append("no vote with a recorded screen side yet")
    if repeats is not None and len(repeats):
        try:
            swap = position.swap_consistency(
                repeats, grader="grader", kind="grader_kind", confidence=CONFIDENCE
            )
        except InputError as exc:
            out["swap"]["note"] = f"swap consistency could not be computed: {exc}"
        else:
            out["swap"] = {
                "repeats": len(repeats),
                "graders": swap.graders.to_dict(orient="records"),
                "pooled": swap.pooled.to_dict(orient="records"),
                "note": "",
            }
    return out
