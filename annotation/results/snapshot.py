"""One study's data as plain tables, read once per data version: the only place that turns
database rows into the DataFrames scoring/ works on.

`load(study)` reads the rows every result needs in about ten queries and builds a frozen
`StudyData`; each result module (leaderboard, agreement, compare, slices, correlations,
progress) is a pure function of it. Which judgments count is `annotation.counting`'s
decision: the human tables (`battles`, `ratings`, `labels`) hold `COUNTED` judgments only,
`votes` holds every grader's verdicts for comparing model judges with the humans.

The DataFrames are shared by every result computed from one snapshot: treat them as
read-only (copy before adding a column).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pandas as pd
from django.db.models import Count, F, Sum, TextField
from django.db.models.functions import Cast

from annotation.counting import COUNTED, EVERY_GRADER
from annotation.models import (
    Assignment,
    GraderQuality,
    LanguageModel,
    MetricScore,
    Prompt,
    Rating,
    Response,
    Study,
    Task,
    User,
)
from annotation.results.version import data_version
from scoring.verdicts import ARENA_WINNER

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
RATING_COLUMNS = ["judgment_id", "response_id", "prompt_pk", "model", "grader", "label", "tags"]
# Columns of the battle and rating tables that are not prompt metadata.
NOT_METADATA = frozenset(BATTLE_COLUMNS) | {
    "judgment_id",
    "response_id",
    "model",
    "label",
    "tags",
    "prompt_id",
    "prompt_chars",
}


@dataclass(frozen=True)
class StudyData:
    """Everything the results of one study read, as of one data version.

    - ``battles``: one row per counted pairwise verdict, in judgment order: judgment_id,
      task_id, grader, model_a, model_b, response_a_id, response_b_id, winner (the arena
      vocabulary), seconds, then prompt_id, prompt_chars and the prompt's metadata columns.
    - ``ratings``: one row per counted rating of a response, in rating order: judgment_id,
      response_id, model, grader, label ("" when only tags were given), tags (a list),
      then the prompt columns as in ``battles``. ``labels``: the rows with a label.
    - ``votes``: every grader's verdict (humans and model judges) on regular pair tasks:
      item (the task), grader, kind, value (``a``, ``b``, ``tie``, ``both_bad``).
      ``verdicts``: the counted ones (the rows of ``battles``): item, grader, value.
    - ``prompts``: prompt_pk, prompt_id (the external id), prompt_chars, metadata columns.
    - ``responses``: response_id, prompt_id, model, ordered by prompt id and model.
    - ``metric_scores``: response_id, metric, value.
    - ``graders``: every grader with judgments on regular tasks: grader, kind, judgments
      (all their judgments there), active (assignments they hold in the study, gold ones
      included).
    - ``quality``: each grader's quality row: grader, gold_seen, gold_accuracy,
      median_seconds, tie_share.
    - counts: ``tasks`` (regular), ``slots_taken`` on them, ``counted_judgments``.
    """

    study_id: int
    slug: str
    version: str
    good_labels: tuple[str, ...]
    rating_scale: tuple[str, ...]
    tags: tuple[str, ...]
    overlap: int
    models: tuple[str, ...]
    prompts: pd.DataFrame = field(repr=False)
    battles: pd.DataFrame = field(repr=False)
    ratings: pd.DataFrame = field(repr=False)
    labels: pd.DataFrame = field(repr=False)
    votes: pd.DataFrame = field(repr=False)
    verdicts: pd.DataFrame = field(repr=False)
    responses: pd.DataFrame = field(repr=False)
    metric_scores: pd.DataFrame = field(repr=False)
    graders: pd.DataFrame = field(repr=False)
    quality: pd.DataFrame = field(repr=False)
    tasks: int = 0
    slots_taken: int = 0
    counted_judgments: int = 0

    @property
    def metrics(self) -> list[str]:
        """The automatic metrics with a score for some response, sorted by name."""
        return sorted(set(self.metric_scores["metric"]))

    def metric_values(self, metric: str) -> dict[int, float]:
        """One metric's value per response id."""
        scores = self.metric_scores[self.metric_scores["metric"] == metric]
        return dict(zip(scores["response_id"], scores["value"], strict=True))


def metadata_columns(frame: pd.DataFrame) -> list[str]:
    """Columns of prompt metadata that make sensible slices (few distinct values)."""
    return [
        c
        for c in frame.columns
        if c not in NOT_METADATA
        and frame[c].map(lambda v: isinstance(v, str | int | bool)).all()
        and 1 < frame[c].nunique() <= 50
    ]


def load(study: Study, *, version: str | None = None) -> StudyData:
    """Read the study's data once. `version` is the data version the caller read before
    calling (so that a vote arriving meanwhile makes the snapshot newer, never older, than
    its stamp); by default it is read here first."""
    version = version or data_version(study.pk)
    study = Study.objects.get(pk=study.pk)
    prompts = _prompts(study)
    responses = _responses(study)
    model_of = dict(zip(responses["response_id"], responses["model"], strict=True))
    prompt_of = dict(zip(responses["response_id"], responses["prompt_pk"], strict=True))
    judgments, graders = _judgments(study)
    counted = [j for j in judgments if COUNTED.includes(graders[j[4]][1])]

    battle_rows = [
        (jid, task_id, prompt_pk, graders[gid][0], model_of[ra], model_of[rb], ra, rb, v, s)
        for jid, task_id, kind, prompt_pk, gid, ra, rb, v, s in counted
        if kind == Task.Kind.PAIR and v
    ]
    battles = pd.DataFrame(battle_rows, columns=BATTLE_COLUMNS)
    battles["winner"] = battles["winner"].map(ARENA_WINNER)
    battles = _with_prompts(battles, prompts)

    counted_grader = {j[0]: graders[j[4]][0] for j in counted}
    rating_rows = [
        (jid, rid, prompt_of[rid], model_of[rid], counted_grader[jid], label, tags)
        for jid, rid, label, tags in _ratings(study)
        if jid in counted_grader
    ]
    ratings = _with_prompts(pd.DataFrame(rating_rows, columns=RATING_COLUMNS), prompts)
    labels = ratings[ratings["label"] != ""].reset_index(drop=True)

    votes = pd.DataFrame(
        [
            (task_id, graders[gid][0], graders[gid][1], v)
            for _jid, task_id, kind, _p, gid, _a, _b, v, _s in judgments
            if kind == Task.Kind.PAIR and v
        ],
        columns=["item", "grader", "kind", "value"],
    )
    verdicts = pd.DataFrame(
        [(task_id, grader, v) for _j, task_id, _p, grader, *_m, v, _s in battle_rows],
        columns=["item", "grader", "value"],
    )
    tasks = Task.objects.filter(study=study, is_gold=False).aggregate(
        n=Count("pk"), slots=Sum("slots_taken")
    )
    return StudyData(
        study_id=study.pk,
        slug=study.slug,
        version=version,
        good_labels=tuple(study.good_labels),
        rating_scale=tuple(study.rating_scale),
        tags=tuple(study.tags),
        overlap=study.overlap,
        models=tuple(LanguageModel.objects.filter(study=study).values_list("name", flat=True)),
        prompts=prompts,
        battles=battles,
        ratings=ratings,
        labels=labels,
        votes=votes,
        verdicts=verdicts,
        responses=responses.drop(columns=["prompt_pk"]),
        metric_scores=_metric_scores(study),
        graders=_graders(study, judgments, graders),
        quality=_quality(study),
        tasks=tasks["n"],
        slots_taken=tasks["slots"] or 0,
        counted_judgments=len(counted),
    )


def _prompts(study: Study) -> pd.DataFrame:
    rows = [
        {"prompt_pk": pk, "prompt_id": ext, "prompt_chars": len(text), **(meta or {})}
        for pk, ext, text, meta in Prompt.objects.filter(study=study)
        .order_by("pk")
        .values_list("pk", "external_id", "text", "metadata")
    ]
    return (
        pd.DataFrame(rows)
        if rows
        else pd.DataFrame(columns=["prompt_pk", "prompt_id", "prompt_chars"])
    )


def _with_prompts(frame: pd.DataFrame, prompts: pd.DataFrame) -> pd.DataFrame:
    return frame.merge(prompts, how="left", on="prompt_pk").drop(columns=["prompt_pk"])


def _responses(study: Study) -> pd.DataFrame:
    rows = list(
        Response.objects.filter(prompt__study=study)
        .order_by("prompt__external_id", "model__name")
        .values_list("pk", "prompt_id", "prompt__external_id", "model__name")
    )
    return pd.DataFrame(rows, columns=["response_id", "prompt_pk", "prompt_id", "model"])


def _judgments(study: Study) -> tuple[list[tuple], dict[int, tuple[str, str]]]:
    """Every judgment on the study's regular tasks in id order, and grader pk ->
    (username, kind) for their graders."""
    selected = EVERY_GRADER.judgments(study)
    rows = list(
        selected.order_by("pk").values_list(
            "pk",
            "task_id",
            "task__kind",
            "task__prompt_id",
            "grader_id",
            "task__response_a_id",
            "task__response_b_id",
            "verdict",
            "seconds",
        )
    )
    graders = {
        pk: (username, kind)
        for pk, username, kind in User.objects.filter(
            pk__in=selected.values("grader_id")
        ).values_list("pk", "username", "kind")
    }
    return rows, graders


def _ratings(study: Study) -> list[tuple]:
    """(judgment id, response id, label, tags) of ratings on regular tasks, in rating order.

    Tags come as JSON text and are decoded once per distinct value: most ratings share a
    handful of tag lists, and decoding 200,000 of them one by one is most of the cost."""
    rows = (
        Rating.objects.filter(judgment__in=EVERY_GRADER.judgments(study))
        .order_by("pk")
        .values_list("judgment_id", "response_id", "label", Cast("tags", TextField()))
    )
    decoded: dict[str | None, list[str]] = {}
    out = []
    for jid, rid, label, text in rows:
        tags = decoded.get(text)
        if tags is None:
            value = json.loads(text) if text else None
            tags = decoded[text] = list(value or [])
        out.append((jid, rid, label, tags))
    return out


def _metric_scores(study: Study) -> pd.DataFrame:
    rows = list(
        MetricScore.objects.filter(response__prompt__study=study)
        .order_by("pk")
        .values_list("response_id", "metric", "value")
    )
    return pd.DataFrame(rows, columns=["response_id", "metric", "value"])


def _graders(study: Study, judgments: list[tuple], graders: dict) -> pd.DataFrame:
    counts: dict[int, int] = {}
    for row in judgments:
        counts[row[4]] = counts.get(row[4], 0) + 1
    active = dict(
        Assignment.objects.filter(task__study=study, status=Assignment.Status.ACTIVE)
        .values_list("grader__username")
        .annotate(n=Count("pk"))
    )
    rows = [
        (graders[gid][0], graders[gid][1], n, active.get(graders[gid][0], 0))
        for gid, n in counts.items()
    ]
    return pd.DataFrame(rows, columns=["grader", "kind", "judgments", "active"])


def _quality(study: Study) -> pd.DataFrame:
    rows = [
        (username, seen, correct / seen if seen else None, median, ties)
        for username, seen, correct, median, ties in GraderQuality.objects.filter(study=study)
        .order_by("pk")
        .values_list(
            F("grader__username"), "gold_seen", "gold_correct", "median_seconds", "tie_share"
        )
    ]
    return pd.DataFrame(
        rows, columns=["grader", "gold_seen", "gold_accuracy", "median_seconds", "tie_share"]
    )
