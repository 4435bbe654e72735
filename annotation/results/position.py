"""Position bias: each grader's and model judge's share of decisive votes for the response
shown on the left, and the consistency of tasks re-served with the sides swapped.

The screen side is known for judgments handed out here (`StudyData.sides`); imported
judgments carry none and are counted apart. The statistics are `scoring.position`'s.
"""

from __future__ import annotations

import pandas as pd

from annotation.results.payloads import PositionPayload
from annotation.results.snapshot import StudyData
from scoring import position
from scoring.errors import InputError

CONFIDENCE = 0.95
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
    verdict, a_on_left, repeat_verdict, repeat_a_on_left) gives the swap consistency; none
    exist until a study re-serves tasks."""
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
            swap = position.swap_consistency(repeats, confidence=CONFIDENCE)
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
