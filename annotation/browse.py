"""The judgment browser: a study's judgments, filtered, grouped by task, a page at a time.

A researcher filters by model pair, verdict, winner, tag, grader, prompt metadata, prompt
length, gold or regular tasks, and "graders disagree"; each task on the page shows the
prompt, both responses and every grader's answer side by side. The page is a page of tasks
(items): tasks with at least one judgment that matches, in task order.

Two levels of filter keep the queries on indexes at 100,000 judgments: what is a property
of the task (models, prompt, disagreement) filters the task table; what is a property of
one judgment (verdict, tag, grader) goes into an EXISTS over the task's judgments, which
the (task, grader) unique index answers.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

from django import forms
from django.db import connection
from django.db.models import Exists, Lookup, OuterRef, Q, QuerySet
from django.db.models.expressions import RawSQL
from django.db.models.fields.json import KeyTransform
from django.db.models.functions import Length

from annotation.models import Judgment, LanguageModel, Prompt, Rating, Response, Study, Task, User
from annotation.rendering import render_markdown
from scoring.verdicts import BOTH_BAD, TIE, A, B

PAGE_SIZE = 20
# Counting stops here: past 100 pages a researcher narrows the filters rather than pages on,
# and a count that stops early keeps every page fast however many tasks match.
COUNT_CAP = 2000
# Metadata keys with more distinct values than this (ids, free text) make no useful filter;
# the same rule as the slices (tables.metadata_columns).
MAX_METADATA_VALUES = 50

GRADER_KINDS = [
    ("human", "humans (as in the results)"),
    ("model_judge", "model judges"),
    ("all", "everyone"),
]
TASK_KINDS = [("regular", "regular tasks"), ("gold", "gold tasks"), ("all", "all tasks")]
# Flags of `annotation.results.consistency`, as of the last computed results.
CONSISTENCY = [
    ("", "—"),
    ("contradiction", "verdict contradicts own ratings"),
    ("tie_unequal", "tie with unequal ratings"),
    ("cycle", "in a preference cycle"),
]
VERDICTS = [
    ("", "any verdict"),
    ("decisive", "one answer better"),
    (TIE, "tie"),
    (BOTH_BAD, "both bad"),
]


class ListHasItem(Lookup):
    """``tags__has_item="untrue"``: a JSON list holds the string, on SQLite and PostgreSQL
    (Django's ``contains`` on JSON is not available on SQLite)."""

    lookup_name = "has_item"
    prepare_rhs = False

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        if connection.vendor == "postgresql":
            return f"{lhs} @> %s::jsonb", [*lhs_params, json.dumps([self.rhs])]
        # Most ratings carry no tag: the cheap text test spares them the table function.
        return (
            f"({lhs} <> '[]' AND EXISTS (SELECT 1 FROM json_each({lhs}) WHERE value = %s))",
            [*lhs_params, *lhs_params, self.rhs],
        )


Rating._meta.get_field("tags").register_lookup(ListHasItem)


# --- what the filters offer -------------------------------------------------------------------


def options(study: Study) -> dict:
    """The choices of the filter form: models, graders who judged here, tags, and the prompt
    metadata keys with their values (JSON-ready, so it can be cached with the results)."""
    judged_here = Judgment.objects.filter(grader_id=OuterRef("pk"), task__study=study)
    graders = list(
        User.objects.filter(Exists(judged_here))
        .order_by("kind", "username")
        .values_list("username", "kind")
    )
    return {
        "models": sorted(study.models.values_list("name", flat=True)),
        "graders": [{"username": u, "kind": k} for u, k in graders],
        "tags": list(study.tags),
        "metadata": [
            {"key": key, "values": sorted(values.items())}
            for key, values in sorted(metadata_values(study).items())
        ],
    }


def metadata_values(study: Study) -> dict[str, dict[str, object]]:
    """Per prompt metadata key that makes a filter (text, whole-number or true/false values,
    2 to MAX_METADATA_VALUES of them), its values by their text. The database lists the
    distinct (key, type, value) triples itself, so no prompt's JSON is decoded here."""
    table = Prompt._meta.db_table
    if connection.vendor == "postgresql":
        sql = (
            f"SELECT j.key, jsonb_typeof(j.value), j.value #>> '{{}}' FROM {table} p, "
            "jsonb_each(p.metadata) j WHERE p.study_id = %s AND jsonb_typeof(p.metadata) = "
            "'object' GROUP BY 1, 2, 3"
        )
    else:
        sql = (
            f"SELECT j.key, j.type, j.atom FROM {table} p, json_each(p.metadata) j "
            "WHERE p.study_id = %s AND json_type(p.metadata) = 'object' GROUP BY 1, 2, 3"
        )
    with connection.cursor() as cursor:
        cursor.execute(sql, [study.pk])
        rows = cursor.fetchall()
    values: dict[str, dict[str, object]] = {}
    unusable: set[str] = set()
    for key, kind, raw in rows:
        if kind == "null":
            continue
        value = _metadata_value(kind, raw)
        if value is None:
            unusable.add(key)
        else:
            values.setdefault(key, {}).setdefault(str(value), value)
    return {
        key: found
        for key, found in values.items()
        if key not in unusable and 1 < len(found) <= MAX_METADATA_VALUES
    }


def _metadata_value(kind: str, raw) -> str | int | bool | None:
    """A metadata value as stored in JSON, from the database's (type, value) of it; None for
    a type that makes no filter (numbers with a fraction, lists, objects)."""
    if kind in ("text", "string"):
        return str(raw)
    if kind in ("true", "false"):  # SQLite
        return kind == "true"
    if kind == "boolean":  # PostgreSQL
        return raw == "true"
    if kind == "integer":  # SQLite
        return int(raw)
    if kind == "number" and str(raw).lstrip("-").isdigit():  # PostgreSQL
        return int(raw)
    return None


class FilterForm(forms.Form):
    """The browser's filters, normalised: unknown models, graders or values are errors that
    name what is wrong (a stale drill-down link must not show everything instead)."""

    model = forms.ChoiceField(required=False, label="Model")
    opponent = forms.ChoiceField(required=False, label="against")
    verdict = forms.ChoiceField(required=False, choices=VERDICTS, label="Verdict")
    winner = forms.ChoiceField(required=False, label="Preferred model")
    tag = forms.ChoiceField(required=False, label="Tag")
    grader = forms.ChoiceField(required=False, label="Grader")
    graders = forms.ChoiceField(required=False, choices=GRADER_KINDS, label="Judgments by")
    disagree = forms.ChoiceField(required=False, label="Graders disagree")
    consistency = forms.ChoiceField(
        required=False, choices=CONSISTENCY, label="Grader's own consistency"
    )
    tasks = forms.ChoiceField(required=False, choices=TASK_KINDS, label="Tasks")
    prompt = forms.CharField(required=False, max_length=200, label="Prompt id")
    prompt_chars_min = forms.IntegerField(required=False, min_value=0, label="Prompt length ≥")
    prompt_chars_max = forms.IntegerField(required=False, min_value=0, label="≤ characters")
    page = forms.IntegerField(required=False, min_value=1)

    def __init__(self, data, *, options: dict):
        super().__init__(data)
        self.options = options
        models = [("", "any model")] + [(m, m) for m in options["models"]]
        self.fields["model"].choices = models
        self.fields["opponent"].choices = models
        self.fields["winner"].choices = models
        self.fields["tag"].choices = [("", "any tag")] + [(t, t) for t in options["tags"]]
        self.fields["grader"].choices = [("", "any grader")] + [
            (g["username"], g["username"] + (" (model judge)" if g["kind"] != "human" else ""))
            for g in options["graders"]
        ]
        self.fields["disagree"].choices = [
            ("", "—"),
            ("verdict", "on the verdict"),
            ("rating", "on a rating"),
        ] + [(f"tag:{t}", f"on the tag {t}") for t in options["tags"]]
        self.meta_fields = []
        for entry in options["metadata"]:
            name = f"meta_{entry['key']}"
            self.fields[name] = forms.ChoiceField(
                required=False,
                label=f"Prompt {entry['key']}",
                choices=[("", "any")] + [(label, label) for label, _ in entry["values"]],
            )
            self.meta_fields.append(name)

    def clean(self):
        data = super().clean()
        if data.get("model") and data.get("model") == data.get("opponent"):
            self.add_error("opponent", "choose a different model from the first")
        low, high = data.get("prompt_chars_min"), data.get("prompt_chars_max")
        if low is not None and high is not None and low > high:
            self.add_error("prompt_chars_max", "must not be below the minimum")
        return data

    def filters(self) -> Filters:
        data = self.cleaned_data
        typed = {entry["key"]: dict(entry["values"]) for entry in self.options["metadata"]}
        metadata = {
            name[len("meta_") :]: typed[name[len("meta_") :]][data[name]]
            for name in self.meta_fields
            if data.get(name)
        }
        return Filters(
            model=data.get("model") or "",
            opponent=data.get("opponent") or "",
            verdict=data.get("verdict") or "",
            winner=data.get("winner") or "",
            tag=data.get("tag") or "",
            grader=data.get("grader") or "",
            graders=data.get("graders") or "human",
            disagree=data.get("disagree") or "",
            consistency=data.get("consistency") or "",
            tasks=data.get("tasks") or "regular",
            prompt=(data.get("prompt") or "").strip(),
            prompt_chars_min=data.get("prompt_chars_min"),
            prompt_chars_max=data.get("prompt_chars_max"),
            metadata=metadata,
        )


@dataclass(frozen=True)
class Filters:
    """What to show. Empty strings mean "any". `metadata` maps a prompt metadata key to the
    value (as stored: text, number or boolean) the prompt must have."""

    model: str = ""
    opponent: str = ""
    verdict: str = ""
    winner: str = ""
    tag: str = ""
    grader: str = ""
    graders: str = "human"
    disagree: str = ""
    consistency: str = ""
    tasks: str = "regular"
    prompt: str = ""
    prompt_chars_min: int | None = None
    prompt_chars_max: int | None = None
    metadata: dict = field(default_factory=dict)


# --- the queries ------------------------------------------------------------------------------


def _model_ids(study: Study, *names: str) -> dict[str, int]:
    wanted = [n for n in names if n]
    if not wanted:
        return {}
    return dict(
        LanguageModel.objects.filter(study=study, name__in=wanted).values_list("name", "pk")
    )


def _responses_of(model_id: int) -> QuerySet:
    # An IN over the model's responses (its index) is far cheaper than joining the response
    # table (long rows of text) twice for every task.
    return Response.objects.filter(model_id=model_id).values("pk")


def _model_judges() -> list[int]:
    """The model-judge accounts (a handful): leaving them out by id spares every count a join
    with the user table."""
    return list(User.objects.filter(kind=User.Kind.MODEL_JUDGE).values_list("pk", flat=True))


def _by_humans(queryset: QuerySet, judges: list[int], prefix: str = "") -> QuerySet:
    return queryset.exclude(**{f"{prefix}grader_id__in": judges}) if judges else queryset


def _disagreement(on: str, judges: list[int]) -> Exists:
    """Whether the human graders of a task (``OuterRef("pk")``) gave different answers:
    different verdicts (``on="verdict"``), different rating labels for the same response
    (``"rating"``), or some tagged a response with the tag and others not (``"tag:NAME"``).

    Each is two nested EXISTS over the task's few judgments (the (task, grader) index), so
    the cost follows the tasks looked at, not a GROUP BY over the whole study."""
    if on == "verdict":
        other = _by_humans(Judgment.objects.filter(task_id=OuterRef("task_id")), judges)
        other = other.exclude(verdict="").exclude(verdict=OuterRef("verdict"))
        first = _by_humans(Judgment.objects.filter(task_id=OuterRef("pk")), judges)
        return Exists(first.exclude(verdict="").filter(Exists(other)))
    ratings = _by_humans(Rating.objects.all(), judges, "judgment__")
    same_answer = {
        "judgment__task_id": OuterRef("judgment__task_id"),
        "response_id": OuterRef("response_id"),
    }
    if on == "rating":
        other = ratings.filter(**same_answer).exclude(label="").exclude(label=OuterRef("label"))
        first = ratings.filter(judgment__task_id=OuterRef("pk")).exclude(label="")
        return Exists(first.filter(Exists(other)))
    if on.startswith("tag:"):
        tag = on[len("tag:") :]
        untagged = ratings.filter(**same_answer).exclude(tags__has_item=tag)
        tagged = ratings.filter(judgment__task_id=OuterRef("pk"), tags__has_item=tag)
        return Exists(tagged.filter(Exists(untagged)))
    raise ValueError(f"unknown disagreement {on!r}")


def matching_tasks(study: Study, f: Filters, *, judges: list[int] | None = None) -> QuerySet:
    """The tasks with at least one judgment that passes every filter, in task order."""
    judges = _model_judges() if judges is None else judges
    ids = _model_ids(study, f.model, f.opponent, f.winner)
    tasks = Task.objects.filter(study=study)
    if f.tasks == "regular":
        tasks = tasks.filter(is_gold=False)
    elif f.tasks == "gold":
        tasks = tasks.filter(is_gold=True)
    if f.model and f.opponent:
        m, o = _responses_of(ids.get(f.model, -1)), _responses_of(ids.get(f.opponent, -1))
        tasks = tasks.filter(
            Q(response_a_id__in=m, response_b_id__in=o)
            | Q(response_a_id__in=o, response_b_id__in=m)
        )
    elif f.model or f.opponent:
        m = _responses_of(ids.get(f.model or f.opponent, -1))
        tasks = tasks.filter(Q(response_a_id__in=m) | Q(response_b_id__in=m))
    if f.prompt:
        tasks = tasks.filter(prompt__external_id=f.prompt)
    for i, (key, value) in enumerate(sorted(f.metadata.items())):
        # An explicit key transform: a key may hold "__" or spaces, which a lookup string
        # would misread.
        tasks = tasks.alias(**{f"_meta{i}": KeyTransform(key, "prompt__metadata")}).filter(
            **{f"_meta{i}": value}
        )
    if f.prompt_chars_min is not None or f.prompt_chars_max is not None:
        tasks = tasks.alias(_chars=Length("prompt__text"))
        if f.prompt_chars_min is not None:
            tasks = tasks.filter(_chars__gte=f.prompt_chars_min)
        if f.prompt_chars_max is not None:
            tasks = tasks.filter(_chars__lte=f.prompt_chars_max)
    if f.disagree:
        tasks = tasks.filter(_disagreement(f.disagree, judges))
    judgments = matching_judgments(study, f, ids, judges=judges)
    return tasks.filter(Exists(judgments.filter(task_id=OuterRef("pk"))))


def matching_judgments(
    study: Study, f: Filters, ids: dict[str, int] | None = None, *, judges: list[int] | None = None
) -> QuerySet:
    """The judgment-level filters (who judged, the verdict, the winner, the tag); the task-
    level ones are `matching_tasks`'."""
    ids = ids if ids is not None else _model_ids(study, f.model, f.opponent, f.winner)
    judges = _model_judges() if judges is None else judges
    judgments = Judgment.objects.all()
    if f.graders == "human":
        judgments = _by_humans(judgments, judges)
    elif f.graders == "model_judge":
        judgments = judgments.filter(grader_id__in=judges)
    if f.grader:
        judgments = judgments.filter(grader__username=f.grader)
    if f.verdict == "decisive":
        judgments = judgments.filter(verdict__in=[A, B])
    elif f.verdict:
        judgments = judgments.filter(verdict=f.verdict)
    if f.winner:
        w = _responses_of(ids.get(f.winner, -1))
        judgments = judgments.filter(
            Q(verdict=A, task__response_a_id__in=w) | Q(verdict=B, task__response_b_id__in=w)
        )
    if f.consistency:
        judgments = judgments.filter(pk__in=_ids_in(flagged_judgments(study, f.consistency)))
    if f.tag:
        tagged = Rating.objects.filter(judgment_id=OuterRef("pk"), tags__has_item=f.tag)
        if f.model:
            # "model X, tag T": T on X's response, not on its opponent's.
            tagged = tagged.filter(response__model_id=ids.get(f.model, -1))
        judgments = judgments.filter(Exists(tagged))
    return judgments


def flagged_judgments(study: Study, kind: str) -> list[int]:
    """The judgment ids `annotation.results.consistency` flagged as `kind` in the study's
    last computed results (none while the background worker has not computed them)."""
    from annotation.results.store import stored  # the results package imports this app

    row = stored(study, "consistency")
    return list((row.payload if row else {}).get("flagged", {}).get(kind, []))


def flags_computed_at(study: Study):
    """When the consistency flags the filter reads were computed (None: not yet)."""
    from annotation.results.store import stored

    row = stored(study, "consistency")
    return row.computed_at if row else None


def _ids_in(ids: list[int]) -> RawSQL:
    """A subquery of the given ids, passed as one JSON parameter: thousands of ids would
    overflow the bound-parameter limits of an IN list."""
    if connection.vendor == "postgresql":
        return RawSQL("SELECT (jsonb_array_elements_text(%s::jsonb))::bigint", [json.dumps(ids)])
    return RawSQL("SELECT value FROM json_each(%s)", [json.dumps(ids)])


def count_judgments(study: Study, f: Filters) -> int:
    """How many judgments pass every filter (the page counts tasks; this is for checks)."""
    judges = _model_judges()
    tasks = matching_tasks(study, f, judges=judges)
    return matching_judgments(study, f, judges=judges).filter(task__in=tasks.values("pk")).count()


@dataclass
class Page:
    """One page of the browser. `n_tasks` counts the matching tasks up to COUNT_CAP; `more`
    says there are more than that."""

    number: int
    n_tasks: int
    more: bool
    has_next: bool
    n_matched_here: int  # matching judgments on this page's tasks
    items: list[dict]
    per_page: int = PAGE_SIZE

    @property
    def pages(self) -> int | None:
        """How many pages, when the count is exact."""
        return None if self.more else max(1, math.ceil(self.n_tasks / self.per_page))

    @property
    def first_index(self) -> int:
        return (self.number - 1) * self.per_page + 1 if self.items else 0

    @property
    def last_index(self) -> int:
        return (self.number - 1) * self.per_page + len(self.items)

    @property
    def previous(self) -> int | None:
        return self.number - 1 if self.number > 1 else None

    @property
    def next(self) -> int | None:
        return self.number + 1 if self.has_next else None


def browse(study: Study, f: Filters, page: int = 1, *, per_page: int = PAGE_SIZE) -> Page:
    """One page of matching tasks, each with its prompt, responses and every judgment."""
    judges = _model_judges()
    ids = _model_ids(study, f.model, f.opponent, f.winner)
    tasks = matching_tasks(study, f, judges=judges).order_by("pk")
    # The count stops at COUNT_CAP: "more than 2,000" is all a pager needs to say.
    n_tasks = tasks.values("pk")[: COUNT_CAP + 1].count()
    capped = n_tasks > COUNT_CAP
    number = max(page, 1)
    if not capped:
        number = min(number, max(1, math.ceil(n_tasks / per_page)))
    start = (number - 1) * per_page
    found = list(tasks.values_list("pk", flat=True)[start : start + per_page + 1])
    page_ids, has_next = found[:per_page], len(found) > per_page
    if capped and not page_ids and number > 1:
        # Paged past the end of a long list: show its last page.
        total = tasks.count()
        number = max(1, math.ceil(total / per_page))
        start = (number - 1) * per_page
        page_ids = list(tasks.values_list("pk", flat=True)[start : start + per_page])
        has_next = False
    matched = set(
        matching_judgments(study, f, ids, judges=judges)
        .filter(task_id__in=page_ids)
        .values_list("pk", flat=True)
    )
    return Page(
        number=number,
        n_tasks=min(n_tasks, COUNT_CAP),
        more=capped,
        has_next=has_next,
        n_matched_here=len(matched),
        items=items(page_ids, matched),
        per_page=per_page,
    )


# --- what a page shows -----------------------------------------------------------------------


def _verdict_text(verdict: str, names: list[str]) -> str:
    if verdict == A:
        return f"{names[0]} better"
    if verdict == B and len(names) > 1:
        return f"{names[1]} better"
    if verdict == TIE:
        return "tie"
    if verdict == BOTH_BAD:
        return "both bad"
    return ""


def items(task_ids: list[int], matched: set[int] = frozenset()) -> list[dict]:
    """Each task with its prompt, its responses (rendered, sanitised Markdown) and every
    grader's answer; `matched` marks the judgments that passed the filters."""
    if not task_ids:
        return []
    tasks = {
        t.pk: t
        for t in Task.objects.filter(pk__in=task_ids).select_related(
            "prompt", "response_a__model", "response_b__model"
        )
    }
    ratings: dict[int, dict[int, tuple[str, list]]] = {}
    for judgment_id, response_id, label, tags in Rating.objects.filter(
        judgment__task_id__in=task_ids
    ).values_list("judgment_id", "response_id", "label", "tags"):
        ratings.setdefault(judgment_id, {})[response_id] = (label, list(tags or []))
    by_task: dict[int, list[Judgment]] = {}
    for judgment in (
        Judgment.objects.filter(task_id__in=task_ids)
        .select_related("grader")
        .order_by("task_id", "grader__kind", "grader__username")  # humans, then model judges
    ):
        by_task.setdefault(judgment.task_id, []).append(judgment)

    out = []
    for task_id in task_ids:
        task = tasks[task_id]
        responses = task.responses
        names = [r.model.name for r in responses]
        answers = []
        for judgment in by_task.get(task_id, []):
            mine = ratings.get(judgment.pk, {})
            answers.append(
                {
                    "id": judgment.pk,
                    "grader": judgment.grader.username,
                    "kind": judgment.grader.kind,
                    "verdict": judgment.verdict,
                    "verdict_text": _verdict_text(judgment.verdict, names),
                    "ratings": [mine.get(r.pk, ("", []))[0] for r in responses],
                    "tags": [mine.get(r.pk, ("", []))[1] for r in responses],
                    "comment": judgment.comment,
                    "seconds": judgment.seconds,
                    "source": judgment.source,
                    "created_at": judgment.created_at,
                    "matched": judgment.pk in matched,
                }
            )
        humans = [a for a in answers if a["kind"] == User.Kind.HUMAN and a["verdict"]]
        counts: dict[str, int] = {}
        for answer in humans:
            counts[answer["verdict_text"]] = counts.get(answer["verdict_text"], 0) + 1
        prompt = task.prompt
        out.append(
            {
                "task_id": task.pk,
                "kind": task.kind,
                "is_gold": task.is_gold,
                "gold_answer": task.gold_answer,
                "prompt_id": prompt.external_id,
                # The HTML stored at import (the last turn is the prompt itself).
                "prompt_html": (prompt.conversation_html or [{"html": ""}])[-1]["html"],
                "conversation": (prompt.conversation_html or [])[:-1],
                "reference_html": render_markdown(prompt.reference) if prompt.reference else "",
                "metadata": sorted((str(k), str(v)) for k, v in (prompt.metadata or {}).items()),
                "responses": [
                    {
                        "label": "AB"[i],
                        "model": r.model.name,
                        "html": r.html,
                        "chars": len(r.text),
                    }
                    for i, r in enumerate(responses)
                ],
                "answers": answers,
                "human_summary": sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])),
                "humans_disagree": len({a["verdict"] for a in humans}) > 1,
            }
        )
    return out
