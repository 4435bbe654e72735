"""How far a study has come: slots filled, per grader, per model, per slice."""

from __future__ import annotations

from annotation.results.payloads import ProgressPayload
from annotation.results.snapshot import StudyData, metadata_columns


def progress(data: StudyData) -> ProgressPayload:
    """Counted judgments against the study's human slots (model judges fill none), each
    grader's judgments and open assignments (busiest first), each model's battles and
    ratings, and the battles per value of each prompt metadata column."""
    graders = [
        {"grader": grader, "kind": kind, "judgments": int(n), "active": int(active)}
        for grader, kind, n, active in data.graders.sort_values(
            ["judgments", "grader"], ascending=[False, True]
        ).itertuples(index=False)
    ]
    battles, labels = data.battles, data.labels
    per_model = {m: {"model": m, "battles": 0, "ratings": 0} for m in data.models}
    for column in ("model_a", "model_b"):
        for model, n in battles[column].value_counts().items():
            per_model[model]["battles"] += int(n)
    for model, n in labels["model"].value_counts().items():
        per_model[model]["ratings"] += int(n)
    per_slice = []
    for column in metadata_columns(battles):
        counts = battles[column].astype(str).value_counts().sort_index()
        per_slice.append({"column": column, "counts": {k: int(v) for k, v in counts.items()}})
    filled = data.counted_judgments
    wanted = data.tasks * data.overlap
    return {
        "tasks": data.tasks,
        "overlap": data.overlap,
        "slots": wanted,
        "judgments": filled,
        "slots_taken": data.slots_taken,
        "percent": round(100 * min(filled, wanted) / wanted, 1) if wanted else 0.0,
        "graders": graders,
        "models": sorted(per_model.values(), key=lambda r: r["model"]),
        "slices": per_slice,
    }
