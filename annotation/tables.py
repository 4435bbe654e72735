"""Database rows to plain tables for scoring/: battles, ratings, tags, agreement, scores.

This is the one place that turns a study's judgments into pandas DataFrames.
Every page, API endpoint, export and command that needs numbers builds its
tables here and hands them to scoring/, which never sees Django.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pandas as pd

from annotation.models import Judgment, MetricScore, Rating, Response, Study, Task, User

# How a stored verdict reads in the arena battle format (Chatbot Arena's winner column).
ARENA_WINNER = {"a": "model_a", "b": "model_b", "tie": "tie", "both_bad": "tie (bothbad)"}
# Columns of the `scores` table (response_scores) besides the metrics: no metric may shadow one.
SCORE_COLUMNS = frozenset(
    {"response_id", "prompt_id", "model", "good_rate", "win_rate", "n_ratings", "n_battles"}
)
BATTLE_COLUMNS = [
    "judgment_id",
    "task_id",
    "prompt_pk",
    "grader",
    "model_a",
    "model_b",
    "response_a_id",
    "response_b_id",
    "winner",
    "seconds",
]


def human_judgments(study: Study):
    """Judgments that count for results: human graders' verdicts on regular tasks.

    Gold tasks measure graders, not models; model judges (imported AI verdicts) are
    compared with the humans separately, never mixed into the human results.
    """
    return Judgment.objects.filter(
        task__study=study, task__is_gold=False, grader__kind=User.Kind.HUMAN
    )


def prompt_metadata(study: Study) -> pd.DataFrame:
    """One row per prompt: prompt_id (external id) and its metadata columns, plus a length
    bucket of the prompt text for slicing."""
    rows = [
        {"prompt_pk": pk, "prompt_id": ext, "prompt_chars": len(text), **(meta or {})}
        for pk, ext, text, meta in study.prompts.values_list(
            "pk", "external_id", "text", "metadata"
        )
    ]
    return (
        pd.DataFrame(rows)
        if rows
        else pd.DataFrame(columns=["prompt_pk", "prompt_id", "prompt_chars"])
    )


def battles(study: Study) -> pd.DataFrame:
    """One row per pairwise judgment: model_a, model_b, winner in the arena vocabulary,
    with the prompt, the grader and the prompt's metadata columns."""
    rows = list(
        human_judgments(study)
        .filter(task__kind=Task.Kind.PAIR)
        .exclude(verdict="")
        .order_by("pk")
        .values_list(
            "pk",
            "task_id",
            "task__prompt_id",
            "grader__username",
            "task__response_a__model__name",
            "task__response_b__model__name",
            "task__response_a_id",
            "task__response_b_id",
            "verdict",
            "seconds",
        )
    )
    frame = pd.DataFrame(rows, columns=BATTLE_COLUMNS)
    frame["winner"] = frame["winner"].map(ARENA_WINNER)
    return _with_metadata(frame, study)


def ratings(study: Study) -> pd.DataFrame:
    """One row per rating of a response: model, prompt, grader, label, tags (a list)."""
    rows = list(
        Rating.objects.filter(judgment__in=human_judgments(study))
        .order_by("pk")
        .values_list(
            "judgment_id",
            "response_id",
            "response__prompt_id",
            "response__model__name",
            "judgment__grader__username",
            "label",
            "tags",
        )
    )
    frame = pd.DataFrame(
        rows,
        columns=[
            "judgment_id",
            "response_id",
            "prompt_pk",
            "model",
            "grader",
            "label",
            "tags",
        ],
    )
    frame["tags"] = frame["tags"].map(lambda t: list(t or []))
    return _with_metadata(frame, study)


def _with_metadata(frame: pd.DataFrame, study: Study) -> pd.DataFrame:
    meta = prompt_metadata(study)
    return frame.merge(meta, how="left", on="prompt_pk").drop(columns=["prompt_pk"])


def metadata_columns(frame: pd.DataFrame) -> list[str]:
    """Columns of prompt metadata that make sensible slices (few distinct values)."""
    base = set(BATTLE_COLUMNS) | {
        "judgment_id",
        "response_id",
        "model",
        "label",
        "tags",
        "prompt_id",
        "prompt_chars",
    }
    return [
        c
        for c in frame.columns
        if c not in base
        and frame[c].map(lambda v: isinstance(v, str | int | bool)).all()
        and 1 < frame[c].nunique() <= 50
    ]


def rated_labels(study: Study, frame: pd.DataFrame | None = None) -> pd.DataFrame:
    """Ratings with a label (tags may come without one); `frame`: ratings already loaded."""
    frame = ratings(study) if frame is None else frame
    return frame[frame["label"] != ""].reset_index(drop=True)


def verdict_agreement_table(study: Study) -> pd.DataFrame:
    """Long format for agreement on verdicts: item (task), grader, value (a / b / tie / both_bad)."""
    rows = list(
        human_judgments(study)
        .filter(task__kind=Task.Kind.PAIR)
        .exclude(verdict="")
        .values_list("task_id", "grader__username", "verdict")
    )
    return pd.DataFrame(rows, columns=["item", "grader", "value"])


def latest_ratings(frame: pd.DataFrame) -> pd.DataFrame:
    """A grader may rate the same response in several pairs; their latest rating counts."""
    return frame.sort_values("judgment_id").drop_duplicates(["response_id", "grader"], keep="last")


def rating_agreement_table(ratings_frame: pd.DataFrame) -> pd.DataFrame:
    """Long format for agreement on ratings: item (response), grader, value (label)."""
    frame = latest_ratings(ratings_frame[ratings_frame["label"] != ""])
    return frame.rename(columns={"response_id": "item", "label": "value"})[
        ["item", "grader", "value"]
    ]


def tag_agreement_table(ratings_frame: pd.DataFrame, tag: str) -> pd.DataFrame:
    """Long format for agreement on one tag: item (response), grader, value (1 if tagged)."""
    frame = latest_ratings(ratings_frame)
    return pd.DataFrame(
        {
            "item": frame["response_id"],
            "grader": frame["grader"],
            "value": frame["tags"].map(lambda tags: int(tag in tags)),
        }
    )


def response_scores(study: Study) -> pd.DataFrame:
    """One row per response: prompt_id, model, one column per automatic metric, and the
    human columns good_rate, win_rate, n_ratings, n_battles (DESIGN.md's `scores` table).

    win_rate counts a win as 1 and either kind of tie as 1/2, over the pairwise
    judgments the response took part in; good_rate is the share of its ratings in the
    study's good labels.
    """
    responses = pd.DataFrame(
        list(
            Response.objects.filter(prompt__study=study)
            .order_by("prompt__external_id", "model__name")
            .values_list("pk", "prompt__external_id", "model__name")
        ),
        columns=["response_id", "prompt_id", "model"],
    )
    metrics = pd.DataFrame(
        list(
            MetricScore.objects.filter(response__prompt__study=study).values_list(
                "response_id", "metric", "value"
            )
        ),
        columns=["response_id", "metric", "value"],
    )
    if len(metrics):
        wide = metrics.pivot(index="response_id", columns="metric", values="value")
        wide.columns = [str(c) for c in wide.columns]
        responses = responses.merge(wide, how="left", left_on="response_id", right_index=True)

    labels = rated_labels(study)
    good = set(study.good_labels)
    rated = labels.groupby("response_id")["label"].agg(
        n_ratings="size", good_rate=lambda s: float(np.mean([label in good for label in s]))
    )
    points: dict[int, float] = defaultdict(float)
    played: dict[int, int] = defaultdict(int)
    for a, b, verdict in (
        human_judgments(study)
        .filter(task__kind=Task.Kind.PAIR)
        .exclude(verdict="")
        .values_list("task__response_a_id", "task__response_b_id", "verdict")
    ):
        played[a] += 1
        played[b] += 1
        if verdict == "a":
            points[a] += 1
        elif verdict == "b":
            points[b] += 1
        else:
            points[a] += 0.5
            points[b] += 0.5
    battles_frame = pd.DataFrame(
        {
            "n_battles": pd.Series(played, dtype="int64"),
            "points": pd.Series(points, dtype="float64"),
        }
    )
    # A response that never won has no points entry: zero, not missing.
    battles_frame["points"] = battles_frame["points"].fillna(0.0)
    battles_frame["win_rate"] = battles_frame["points"] / battles_frame["n_battles"]
    responses = responses.merge(rated, how="left", left_on="response_id", right_index=True)
    responses = responses.merge(
        battles_frame[["win_rate", "n_battles"]],
        how="left",
        left_on="response_id",
        right_index=True,
    )
    responses["n_ratings"] = responses["n_ratings"].fillna(0).astype("int64")
    responses["n_battles"] = responses["n_battles"].fillna(0).astype("int64")
    ordered = (
        ["prompt_id", "model"]
        + sorted(set(metrics["metric"]))
        + ["good_rate", "win_rate", "n_ratings", "n_battles"]
    )
    return responses[ordered]


def all_verdict_votes(study: Study) -> pd.DataFrame:
    """Every grader's verdict on regular pair tasks, humans and model judges alike:
    item (task), grader, kind, value."""
    rows = list(
        Judgment.objects.filter(task__study=study, task__is_gold=False, task__kind=Task.Kind.PAIR)
        .exclude(verdict="")
        .values_list("task_id", "grader__username", "grader__kind", "verdict")
    )
    return pd.DataFrame(rows, columns=["item", "grader", "kind", "value"])
