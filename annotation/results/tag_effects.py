"""Which tags predict losing a battle: `scoring.tag_effects`' Firth logistic regression of the
loser on the two sides' tags (with the models' strengths), for the whole study and for each
slice of the prompts' metadata."""

from __future__ import annotations

import pandas as pd

from annotation.results.payloads import TagEffectsPayload
from annotation.results.snapshot import StudyData, metadata_columns
from scoring import tag_effects
from scoring.errors import InputError

CONFIDENCE = 0.95
# A tag on exactly one side of fewer battles than this gets no coefficient on the page.
MIN_TAG_BATTLES = 10
# Slices with fewer decisive battles are not fitted.
MIN_SLICE_BATTLES = 30


def battle_tags(data: StudyData) -> pd.DataFrame:
    """One row per counted verdict: verdict, model_a, model_b, tags_a, tags_b (the tags the
    grader gave each response in that judgment) and the prompt's metadata columns."""
    battles = data.battles
    tags = data.ratings[["judgment_id", "response_id", "tags"]]
    table = battles.rename(columns={"winner": "verdict"})
    if not len(tags):  # no rating at all (an empty table's keys have no integer type)
        table["tags_a"] = table["tags_b"] = [[] for _ in range(len(table))]
        return table
    for side in ("a", "b"):
        given = tags.rename(columns={"response_id": f"response_{side}_id", "tags": f"tags_{side}"})
        table = table.merge(given, on=["judgment_id", f"response_{side}_id"], how="left")
        table[f"tags_{side}"] = table[f"tags_{side}"].map(
            lambda v: v if isinstance(v, list) else []
        )
    return table


def _fit(table: pd.DataFrame, tags: list[str], by: str | None) -> tuple[list[dict], list[str]]:
    try:
        result = tag_effects.tag_effects(
            table,
            tags=tags,
            by=by,
            confidence=CONFIDENCE,
            min_battles=MIN_SLICE_BATTLES if by else 10,
        )
    except InputError as exc:
        return [], [f"{by + ': ' if by else ''}{exc}"]
    rows = result.table.to_dict(orient="records")
    for row in rows:
        row["enough"] = row["battles"] >= MIN_TAG_BATTLES
        if by is not None:
            row["slice"] = str(row.pop(by))
    return rows, result.notes


def tag_effects_result(data: StudyData) -> TagEffectsPayload:
    """Log-odds of losing per tag (odds ratios, profile intervals, p-values) for the study
    and per slice of each metadata column; notes say which tags or slices were too thin."""
    out: TagEffectsPayload = {
        "study": [],
        "slices": [],
        "min_battles": MIN_TAG_BATTLES,
        "confidence": CONFIDENCE,
        "interval": "profile penalised likelihood (Firth)",
        "notes": [],
    }
    if not data.tags:
        out["notes"].append("the study has no tags")
        return out
    if not len(data.battles):
        out["notes"].append("no pairwise verdicts yet")
        return out
    table = battle_tags(data)
    used = set().union(*table["tags_a"], *table["tags_b"])
    tags = [t for t in data.tags if t in used]
    if not tags:
        out["notes"].append("no grader has tagged a response in a pairwise verdict yet")
        return out
    out["study"], notes = _fit(table, tags, None)
    out["notes"].extend(notes)
    for column in metadata_columns(data.battles):
        rows, notes = _fit(table, tags, column)
        out["slices"].append({"column": column, "rows": rows, "notes": notes})
    return out
