"""Hand-made `StudyData` for testing the result modules without a database: each result is
a pure function of a snapshot, so a few rows written out here are all a test needs."""

from __future__ import annotations

import pandas as pd

from annotation.results.snapshot import BATTLE_COLUMNS, RATING_COLUMNS, StudyData

VERDICT_OF = {"model_a": "a", "model_b": "b", "tie": "tie", "tie (bothbad)": "both_bad"}


def study_data(
    battles=(),
    ratings=(),
    *,
    models=None,
    prompts=None,
    judges=(),
    metric_scores=(),
    good_labels=("good",),
    rating_scale=("poor", "acceptable", "good"),
    tags=(),
    overlap=2,
    tasks=None,
    quality=(),
    active=None,
) -> StudyData:
    """A snapshot from plain rows.

    - battles: (prompt_id, model_a, model_b, winner, grader), winner in the arena vocabulary;
    - ratings: (prompt_id, model, grader, label, tags);
    - judges: (prompt_id, model_a, model_b, verdict, judge) votes of model judges;
    - prompts: {prompt_id: metadata} (default: every prompt mentioned, no metadata);
    - metric_scores: (prompt_id, model, metric, value);
    - quality: (grader, gold_seen, gold_accuracy, median_seconds, tie_share);
    - active: {grader: open assignments}.
    Response ids number (prompt, model) pairs in order of appearance; task ids number
    (prompt, model_a, model_b).
    """
    prompts = dict(prompts or {})
    for row in [*battles, *ratings, *judges, *metric_scores]:
        prompts.setdefault(row[0], {})
    models = tuple(
        models
        or sorted(
            {m for b in [*battles, *judges] for m in b[1:3]}
            | {r[1] for r in [*ratings, *metric_scores]}
        )
    )
    prompt_rows = [
        {"prompt_pk": i + 1, "prompt_id": p, "prompt_chars": 10 * (i + 1), **meta}
        for i, (p, meta) in enumerate(prompts.items())
    ]
    prompt_frame = (
        pd.DataFrame(prompt_rows)
        if prompt_rows
        else pd.DataFrame(columns=["prompt_pk", "prompt_id", "prompt_chars"])
    )
    prompt_pk = {p: i + 1 for i, p in enumerate(prompts)}
    response_ids: dict[tuple[str, str], int] = {}
    for p in prompts:
        for m in models:
            response_ids[(p, m)] = len(response_ids) + 1
    task_ids: dict[tuple, int] = {}

    def task(p, a, b):
        return task_ids.setdefault((p, a, b), len(task_ids) + 1)

    battle_rows = [
        (
            i + 1,
            task(p, a, b),
            prompt_pk[p],
            g,
            a,
            b,
            response_ids[(p, a)],
            response_ids[(p, b)],
            w,
            12.5,
        )
        for i, (p, a, b, w, g) in enumerate(battles)
    ]
    battle_frame = pd.DataFrame(battle_rows, columns=BATTLE_COLUMNS)
    rating_rows = [
        (1000 + i, response_ids[(p, m)], prompt_pk[p], m, g, label, list(tags_))
        for i, (p, m, g, label, tags_) in enumerate(ratings)
    ]
    rating_frame = pd.DataFrame(rating_rows, columns=RATING_COLUMNS)
    merge = {"how": "left", "on": "prompt_pk"}
    battle_frame = battle_frame.merge(prompt_frame, **merge).drop(columns=["prompt_pk"])
    rating_frame = rating_frame.merge(prompt_frame, **merge).drop(columns=["prompt_pk"])
    labels = rating_frame[rating_frame["label"] != ""].reset_index(drop=True)
    verdicts = pd.DataFrame(
        {
            "item": battle_frame["task_id"],
            "grader": battle_frame["grader"],
            "value": battle_frame["winner"].map(VERDICT_OF),
        }
    )
    judge_rows = [(task(p, a, b), j, "model_judge", v) for p, a, b, v, j in judges]
    votes = pd.concat(
        [
            verdicts.assign(kind="human")[["item", "grader", "kind", "value"]],
            pd.DataFrame(judge_rows, columns=["item", "grader", "kind", "value"]),
        ],
        ignore_index=True,
    )
    counts: dict[tuple[str, str], int] = {}
    for g in [*battle_frame["grader"], *(r[2] for r in ratings)]:
        counts[(g, "human")] = counts.get((g, "human"), 0) + 1
    for *_, j in judges:
        counts[(j, "model_judge")] = counts.get((j, "model_judge"), 0) + 1
    graders = pd.DataFrame(
        [(g, k, n, (active or {}).get(g, 0)) for (g, k), n in counts.items()],
        columns=["grader", "kind", "judgments", "active"],
    )
    responses = pd.DataFrame(
        [(rid, p, m) for (p, m), rid in response_ids.items()],
        columns=["response_id", "prompt_id", "model"],
    )
    scores = pd.DataFrame(
        [(response_ids[(p, m)], metric, value) for p, m, metric, value in metric_scores],
        columns=["response_id", "metric", "value"],
    )
    return StudyData(
        study_id=1,
        slug="hand-made",
        version="v-test",
        good_labels=tuple(good_labels),
        rating_scale=tuple(rating_scale),
        tags=tuple(tags),
        overlap=overlap,
        models=models,
        prompts=prompt_frame,
        battles=battle_frame,
        ratings=rating_frame,
        labels=labels,
        votes=votes,
        verdicts=verdicts,
        responses=responses,
        metric_scores=scores,
        graders=graders,
        quality=pd.DataFrame(
            list(quality),
            columns=["grader", "gold_seen", "gold_accuracy", "median_seconds", "tie_share"],
        ),
        tasks=len(task_ids) if tasks is None else tasks,
        slots_taken=len(battle_rows),
        counted_judgments=len(battle_rows),
    )
