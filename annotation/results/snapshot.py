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

import gc
import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import cached_property, partial

import numpy as np
import pandas as pd
from django.db.models import Count, F, Sum, TextField
from django.db.models.functions import Cast

from annotation import grader_stats
from annotation.counting import COUNTED, EVERY_GRADER
from annotation.models import (
    Assignment,
    LanguageModel,
    MetricScore,
    Prompt,
    Rating,
    RepeatJudgment,
    Response,
    Study,
    Task,
    User,
)
from annotation.plans import custom_plans
from annotation.results import parallel
from annotation.results.version import data_version
from scoring.style import FEATURES, style_counts
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
REPEAT_COLUMNS = [
    "grader",
    "grader_kind",
    "task_id",
    "verdict",
    "a_on_left",
    "repeat_verdict",
    "repeat_a_on_left",
]
RATING_COLUMNS = ["judgment_id", "response_id", "prompt_pk", "model", "grader", "label", "tags"]
SIDE_COLUMNS = ["item", "grader", "a_on_left"]
TIMED_COLUMNS = ["grader", "seconds"]
STYLE_COLUMNS = ["response_id", *FEATURES]
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
    - ``repeats``: one row per task re-served to its grader with the sides swapped
      (`Study.repeat_fraction`) and answered again: grader, grader_kind, task_id, verdict and
      a_on_left of the first judgment, repeat_verdict and repeat_a_on_left of the second
      (`scoring.position.swap_consistency`'s input). Every grader kind; never a vote.
    - ``timed``: every counted judgment's grader and seconds (None where not timed).
    - counts: ``tasks`` (regular), ``slots_taken`` on them, ``counted_judgments``.
    - ``sides`` and ``styles``, empty unless read by `with_extras` (the background results):
      the screen side of every judgment handed out here (humans and model judges; imported
      judgments have none): item (the task), grader, a_on_left; and each response's length
      and Markdown counts (`scoring.style.style_counts` of its text): response_id, length,
      headers, lists, bold.
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
    repeats: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=REPEAT_COLUMNS))
    timed: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=TIMED_COLUMNS))
    min_median_seconds: float = 10.0  # the study's threshold for flagging fast graders
    tasks: int = 0
    slots_taken: int = 0
    counted_judgments: int = 0
    sides: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=SIDE_COLUMNS))
    styles: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=STYLE_COLUMNS))

    @cached_property
    def metrics(self) -> list[str]:
        """The automatic metrics with a score for some response, sorted by name."""
        return sorted(pd.unique(self.metric_scores["metric"]).tolist())

    def metric_values(self, metric: str) -> dict[int, float]:
        """One metric's value per response id."""
        scores = self.metric_scores[self.metric_scores["metric"] == metric]
        return dict(zip(scores["response_id"], scores["value"], strict=True))


class NotRead:
    """A table of a snapshot not read yet (`load`'s `before_ratings`): any use raises."""

    def __init__(self, name: str):
        object.__setattr__(self, "_name", name)

    def _fail(self, *args, **kwargs):
        raise RuntimeError(f"the snapshot's {self._name} are not read yet")

    __getattr__ = __getitem__ = __len__ = __iter__ = __bool__ = __contains__ = _fail
    __array__ = __eq__ = __setattr__ = _fail
    __hash__ = None


def metadata_columns(frame: pd.DataFrame) -> list[str]:
    """Columns of prompt metadata that make sensible slices (few distinct values)."""
    return [
        c
        for c in frame.columns
        if c not in NOT_METADATA and _plain_values(frame[c]) and 1 < frame[c].nunique() <= 50
    ]


def _plain_values(column: pd.Series) -> bool:
    """Whether every value is a str, int or bool, as `Series.map` passes them; decided from
    the dtype where it tells (a column of 100,000 battles), else value by value."""
    if column.dtype.kind in "iub":
        return True
    if isinstance(column.dtype, pd.StringDtype):
        return not column.isna().any()
    return bool(column.map(lambda v: isinstance(v, str | int | bool)).all())


def load(
    study: Study,
    *,
    version: str | None = None,
    before_ratings: Callable[[StudyData], None] | None = None,
    read_ahead: bool = False,
) -> StudyData:
    """Read the study's data once. `version` is the data version the caller read before
    calling (so that a vote arriving meanwhile makes the snapshot newer, never older, than
    its stamp); by default it is read here first.

    The ratings are read last (about a third of the time), with the graders' tables:
    `before_ratings`, if given, is called just before with the snapshot as it will be but
    for `ratings`, `labels`, `graders`, `quality` and `repeats`, which raise on any use
    (`NotRead`), so that results that read none of them can start
    (`annotation.results.parallel.start_early`).

    With `read_ahead`, a forked process reads the ratings (about a third of the time) on a
    connection of its own meanwhile (`parallel.read_ahead`; where that is unsafe, or it
    fails, they are read here): the same rows, as the snapshot reads its tables one query
    at a time either way."""
    version = version or data_version(study.pk)
    # Hundreds of thousands of row tuples would set off the cyclic garbage collector again
    # and again while nothing here makes a cycle.
    collecting = gc.isenabled()
    gc.disable()
    ahead = parallel.read_ahead(partial(_ratings, study.pk)) if read_ahead else None
    try:
        # Plans made for this study's values, never a generic one from earlier snapshots
        # of other studies (annotation.plans).
        with custom_plans():
            return _load(Study.objects.get(pk=study.pk), version, before_ratings, ahead)
    finally:
        if ahead is not None:
            ahead.abandon()  # nothing left to do if its value was taken
        if collecting:
            gc.enable()


def _load(
    study: Study,
    version: str,
    before_ratings: Callable[[StudyData], None] | None,
    ahead: parallel.ReadAhead | None = None,
) -> StudyData:
    prompts = _prompts(study)
    responses = _responses(study)
    model_of = pd.Series(responses["model"].array, index=responses["response_id"])
    prompt_of = pd.Series(responses["prompt_pk"].array, index=responses["response_id"])
    judgments = _judgments(study)
    counted = judgments[judgments["grader_kind"].isin(sorted(COUNTED.kinds))]
    verdicts_given = (judgments["task_kind"] == Task.Kind.PAIR) & (judgments["verdict"] != "")

    pairs = counted[verdicts_given.loc[counted.index]]
    if len(pairs):
        battles = pd.DataFrame(
            {
                "judgment_id": pairs["judgment_id"].array,
                "task_id": pairs["task_id"].array,
                "prompt_pk": pairs["prompt_pk"].array,
                "grader": pairs["grader"].array,
                "model_a": pairs["response_a_id"].map(model_of).array,
                "model_b": pairs["response_b_id"].map(model_of).array,
                "response_a_id": pairs["response_a_id"].array,
                "response_b_id": pairs["response_b_id"].to_numpy(dtype="int64"),
                "winner": pairs["verdict"].array,
                "seconds": pairs["seconds"].array,
            }
        )
    else:
        battles = pd.DataFrame([], columns=BATTLE_COLUMNS)
    verdicts = pd.DataFrame(
        {
            "item": battles["task_id"].array,
            "grader": battles["grader"].array,
            "value": battles["winner"].array,
        }
        if len(battles)
        else {"item": [], "grader": [], "value": []}
    )
    battles["winner"] = battles["winner"].map(ARENA_WINNER)
    battles = _with_prompts(battles, prompts)

    voted = judgments[verdicts_given]
    votes = pd.DataFrame(
        {
            "item": voted["task_id"].array,
            "grader": voted["grader"].array,
            "kind": voted["grader_kind"].array,
            "value": voted["verdict"].array,
        }
        if len(voted)
        else {"item": [], "grader": [], "kind": [], "value": []}
    )
    tasks = Task.objects.filter(study=study, is_gold=False, in_queue=True).aggregate(
        n=Count("pk"), slots=Sum("slots_taken")
    )
    data = StudyData(
        study_id=study.pk,
        slug=study.slug,
        version=version,
        good_labels=tuple(study.good_labels),
        rating_scale=tuple(study.rating_scale),
        tags=tuple(study.tags),
        overlap=study.overlap,
        models=tuple(LanguageModel.objects.filter(study=study).values_list("name", flat=True)),
        min_median_seconds=study.min_median_seconds,
        prompts=prompts,
        battles=battles,
        ratings=NotRead("ratings"),
        labels=NotRead("labels"),
        votes=votes,
        verdicts=verdicts,
        responses=responses.drop(columns=["prompt_pk"]),
        metric_scores=_metric_scores(study),
        graders=NotRead("graders"),
        quality=NotRead("quality"),
        repeats=NotRead("repeats"),
        timed=pd.DataFrame(
            {"grader": counted["grader"].array, "seconds": counted["seconds"].array}
            if len(counted)
            else {"grader": [], "seconds": []}
        ),
        tasks=tasks["n"],
        slots_taken=tasks["slots"] or 0,
        counted_judgments=len(counted),
    )
    if before_ratings is not None:
        before_ratings(data)
    done, ratings = ahead.value() if ahead is not None else (False, None)
    if not done:
        ratings = _ratings(study.pk)
    grader_of = pd.Series(counted["grader"].array, index=counted["judgment_id"])
    ratings = ratings[ratings["judgment_id"].isin(grader_of.index)]
    if len(ratings):
        ratings = pd.DataFrame(
            {
                "judgment_id": ratings["judgment_id"].array,
                "response_id": ratings["response_id"].array,
                "prompt_pk": ratings["response_id"].map(prompt_of).array,
                "model": ratings["response_id"].map(model_of).array,
                "grader": ratings["judgment_id"].map(grader_of).array,
                "label": ratings["label"].array,
                "tags": ratings["tags"].array,
            }
        )
    else:
        ratings = pd.DataFrame([], columns=RATING_COLUMNS)
    ratings = _with_prompts(ratings, prompts)
    labels = ratings[ratings["label"] != ""].reset_index(drop=True)

    return replace(
        data,
        ratings=ratings,
        labels=labels,
        graders=_graders(study, judgments),
        quality=_quality(study),
        repeats=_repeats(study),
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


def _judgments(study: Study) -> pd.DataFrame:
    """Every judgment on the study's regular tasks in id order, with its grader's name and
    kind."""
    selected = EVERY_GRADER.judgments(study)
    # Unordered (SQLite would sort 100,000 rows in a temporary B-tree), sorted below.
    rows = list(
        selected.order_by().values_list(
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
    columns = [
        "judgment_id",
        "task_id",
        "task_kind",
        "prompt_pk",
        "grader_id",
        "response_a_id",
        "response_b_id",
        "verdict",
        "seconds",
    ]
    frame = pd.DataFrame(rows, columns=columns)
    frame = frame.sort_values("judgment_id", ignore_index=True)  # ids are unique
    grader_ids = pd.unique(frame["grader_id"]).tolist()
    graders = pd.DataFrame(
        [
            row
            for begin in range(0, len(grader_ids), 500)
            for row in User.objects.filter(pk__in=grader_ids[begin : begin + 500]).values_list(
                "pk", "username", "kind"
            )
        ],
        columns=["grader_id", "grader", "grader_kind"],
    ).set_index("grader_id")
    frame["grader"] = frame["grader_id"].map(graders["grader"])
    frame["grader_kind"] = frame["grader_id"].map(graders["grader_kind"])
    return frame


def _ratings(study: Study | int) -> pd.DataFrame:
    """judgment_id, response_id, label, tags of ratings on regular tasks, in rating order.

    Tags come as JSON text and are decoded once per distinct value: most ratings share a
    handful of tag lists, and decoding 200,000 of them one by one is most of the cost."""
    # Unordered (SQLite would sort 200,000 rows in a temporary B-tree), sorted below.
    rows = list(
        Rating.objects.filter(judgment__in=EVERY_GRADER.judgments(study))
        .order_by()
        .values_list("pk", "judgment_id", "response_id", "label", Cast("tags", TextField()))
    )
    columns = ["judgment_id", "response_id", "label", "tags"]
    if not rows:
        return pd.DataFrame([], columns=columns)
    rating_ids, judgment_ids, response_ids, labels, texts = zip(*rows, strict=True)
    order = np.argsort(np.array(rating_ids, dtype=np.int64))
    positions = order.tolist()
    decoded = {text: list(json.loads(text) or []) if text else [] for text in set(texts)}
    tags = np.empty(len(texts), dtype=object)
    tags[:] = [decoded[texts[i]] for i in positions]
    return pd.DataFrame(
        {
            "judgment_id": np.array(judgment_ids, dtype=np.int64)[order],
            "response_id": np.array(response_ids, dtype=np.int64)[order],
            "label": [labels[i] for i in positions],
            "tags": tags,
        }
    )


def _metric_scores(study: Study) -> pd.DataFrame:
    rows = list(
        MetricScore.objects.filter(response__prompt__study=study)
        .order_by("pk")
        .values_list("response_id", "metric", "value")
    )
    return pd.DataFrame(rows, columns=["response_id", "metric", "value"])


def _graders(study: Study, judgments: pd.DataFrame) -> pd.DataFrame:
    counts = judgments.groupby("grader_id", sort=False).agg(
        grader=("grader", "first"), kind=("grader_kind", "first"), judgments=("judgment_id", "size")
    )
    active = dict(
        Assignment.objects.filter(task__study=study, status=Assignment.Status.ACTIVE)
        .values_list("grader__username")
        .annotate(n=Count("pk"))
    )
    return pd.DataFrame(
        {
            "grader": counts["grader"].to_numpy(),
            "kind": counts["kind"].to_numpy(),
            "judgments": counts["judgments"].to_numpy(),
            "active": [active.get(g, 0) for g in counts["grader"]],
        },
        columns=["grader", "kind", "judgments", "active"],
    )


def _repeats(study: Study) -> pd.DataFrame:
    """Each answered re-serve beside the first judgment it repeats (one query)."""
    rows = list(
        RepeatJudgment.objects.filter(task__study=study, task__is_gold=False)
        .order_by("pk")
        .values_list(
            "grader__username",
            "grader__kind",
            "task_id",
            "first__verdict",
            "first__assignment__a_on_left",
            "verdict",
            "assignment__a_on_left",
        )
    )
    return pd.DataFrame(rows, columns=REPEAT_COLUMNS)


def _quality(study: Study) -> pd.DataFrame:
    rows = [
        (username, seen, correct / seen if seen else None, median, ties)
        # Each row brought up to date first (the vote path only counts; medians are
        # recomputed on read, `grader_stats.for_study`).
        for username, seen, correct, median, ties in grader_stats.for_study(study)
        .order_by("pk")
        .values_list(
            F("grader__username"), "gold_seen", "gold_correct", "median_seconds", "tie_share"
        )
    ]
    return pd.DataFrame(
        rows, columns=["grader", "gold_seen", "gold_accuracy", "median_seconds", "tie_share"]
    )


def with_extras(data: StudyData) -> StudyData:
    """The snapshot with the tables only the background results read (`sides`, `styles`):
    reading 40,000 response texts costs a second, which the dashboard's refresh does not pay."""
    study = Study.objects.get(pk=data.study_id)
    return replace(data, sides=_sides(study), styles=_styles(study))


def _sides(study: Study) -> pd.DataFrame:
    """Which response each grader saw on the left, for judgments handed out here."""
    rows = list(
        EVERY_GRADER.judgments(study)
        .filter(assignment__isnull=False)
        .order_by("pk")
        .values_list("task_id", "grader__username", "assignment__a_on_left")
    )
    return pd.DataFrame(rows, columns=SIDE_COLUMNS)


def _styles(study: Study) -> pd.DataFrame:
    """Length and Markdown counts of each response's text, for style control."""
    rows = [
        (pk, *style_counts(text).values())
        for pk, text in Response.objects.filter(prompt__study=study)
        .order_by("pk")
        .values_list("pk", "text")
        .iterator(chunk_size=5000)
    ]
    return pd.DataFrame(rows, columns=STYLE_COLUMNS)
