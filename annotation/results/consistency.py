"""Rating-vote consistency and intransitive preferences of each human grader: verdicts that
contradict the grader's own ratings (chose A, rated B higher) and cycles in a grader's
verdicts over one prompt's pairs (A > B > C > A). The statistics are
`scoring.consistency.rating_consistency`'s; the flagged judgments' ids let the judgment
browser show them.
"""

from __future__ import annotations

import pandas as pd

from annotation.results.payloads import ConsistencyPayload
from annotation.results.snapshot import StudyData
from scoring import consistency
from scoring.errors import InputError

CONFIDENCE = 0.95
# Below these counts a grader's rate is not shown as a number.
MIN_RATED = 10
MIN_PROMPTS = 5
# The dashboard lists this many cycles as examples; the browser filter finds them all.
MAX_CYCLES_SHOWN = 20


def judgment_table(data: StudyData) -> pd.DataFrame:
    """One row per counted verdict: judgment_id, grader, prompt, model_a, model_b, verdict
    (arena vocabulary) and the grader's own rating labels of the two responses ("" where
    not rated)."""
    battles = data.battles
    labels = data.labels[["judgment_id", "response_id", "label"]]
    table = pd.DataFrame(
        {
            "judgment_id": battles["judgment_id"].to_numpy(),
            "grader": battles["grader"].to_numpy(),
            "prompt": battles["prompt_id"].to_numpy(),
            "model_a": battles["model_a"].to_numpy(),
            "model_b": battles["model_b"].to_numpy(),
            "verdict": battles["winner"].to_numpy(),
            "response_a_id": battles["response_a_id"].to_numpy(),
            "response_b_id": battles["response_b_id"].to_numpy(),
        }
    )
    if not len(labels):  # no rating at all (an empty table's keys have no integer type)
        table["rating_a"] = table["rating_b"] = ""
        return table.drop(columns=["response_a_id", "response_b_id"])
    for side in ("a", "b"):
        rated = labels.rename(
            columns={"response_id": f"response_{side}_id", "label": f"rating_{side}"}
        )
        table = table.merge(rated, on=["judgment_id", f"response_{side}_id"], how="left")
    for side in ("a", "b"):
        table[f"rating_{side}"] = table[f"rating_{side}"].fillna("")
    return table.drop(columns=["response_a_id", "response_b_id"])


def _empty(notes: list[str]) -> ConsistencyPayload:
    return {
        "graders": [],
        "totals": {"rated": 0, "contradictions": 0, "tie_unequal": 0, "prompts": 0, "cyclic": 0},
        "cycles": [],
        "flagged": {"contradiction": [], "tie_unequal": [], "cycle": []},
        "min_rated": MIN_RATED,
        "min_prompts": MIN_PROMPTS,
        "confidence": CONFIDENCE,
        "notes": notes,
    }


def rating_consistency(data: StudyData) -> ConsistencyPayload:
    """Per human grader: contradiction rate (exact interval) among decisive verdicts with both
    responses rated, ties with unequal ratings, and the share of prompts (with decisive
    verdicts over three or more models) whose verdicts form a cycle; the flagged judgment
    ids; a few cycles as examples."""
    if not len(data.battles):
        return _empty(["no pairwise verdicts yet"])
    table = judgment_table(data)
    try:
        result = consistency.rating_consistency(
            table, scale=list(data.rating_scale) or None, confidence=CONFIDENCE
        )
    except InputError as exc:
        return _empty([f"consistency could not be computed: {exc}"])
    graders = result.graders.to_dict(orient="records")
    for row in graders:
        row["enough_rated"] = row["rated"] >= MIN_RATED
        row["enough_prompts"] = row["prompts"] >= MIN_PROMPTS
    flagged = result.contradictions
    ids = table["judgment_id"].to_numpy()
    cycle_ids = sorted({int(ids[row - 1]) for rows in result.cycles["rows"] for row in rows})
    cycles = [
        {"grader": c["grader"], "prompt": c["prompt"], "cycle": c["cycle"]}
        for c in result.cycles.head(MAX_CYCLES_SHOWN).to_dict(orient="records")
    ]
    frame = result.graders
    notes = []
    if not data.rating_scale:
        notes.append("the study asks for no ratings: only cycles can be checked")
    return {
        "graders": graders,
        "totals": {
            "rated": int(frame["rated"].sum()),
            "contradictions": int(frame["contradictions"].sum()),
            "tie_unequal": int(frame["tie_unequal"].sum()),
            "prompts": int(frame["prompts"].sum()),
            "cyclic": int(frame["cyclic_prompts"].sum()),
        },
        "cycles": cycles,
        "flagged": {
            "contradiction": sorted(
                int(i) for i in flagged.loc[flagged["kind"] == "contradiction", "judgment_id"]
            ),
            "tie_unequal": sorted(
                int(i) for i in flagged.loc[flagged["kind"] == "tie_unequal", "judgment_id"]
            ),
            "cycle": cycle_ids,
        },
        "min_rated": MIN_RATED,
        "min_prompts": MIN_PROMPTS,
        "confidence": CONFIDENCE,
        "notes": notes,
    }


def grader_columns(position: dict | None, consistency: dict | None) -> dict[str, dict]:
    """Per grader, what the dashboard's grader table adds: the position-bias row (left share
    with interval, flag, `enough`) and the consistency row (contradiction and cycle rates,
    `enough_rated`, `enough_prompts`), from the two payloads."""
    out: dict[str, dict] = {}
    for row in (position or {}).get("graders", []):
        out.setdefault(row["grader"], {})["position"] = row
    for row in (consistency or {}).get("graders", []):
        out.setdefault(row["grader"], {})["consistency"] = row
    return out
