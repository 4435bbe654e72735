"""Import earlier judgments: arena battle logs and a generic JSONL of judgments.

Same rules as the study import: the whole file is checked first, every error
names the file, line and field, and only a clean file is written, in one
transaction. Rerunning the same file changes nothing.

Arena records (JSON list or JSONL): ``model_a, model_b, winner`` (model_a,
model_b, tie, tie (bothbad)) and optionally ``question_id, judge, turn,
language, tstamp, conversation_a, conversation_b``. Prompts and responses the
study lacks are created from the conversations.

Generic JSONL: ``{"prompt_id", "model_a", "model_b", "grader", "verdict":
"model_a"|"model_b"|"tie"|"both_bad", "rating_a", "rating_b", "tags_a",
"tags_b", "comment", "seconds", "created_at"}`` for a pair, or ``{"prompt_id",
"model", "grader", "rating", "tags", "comment", ...}`` for a single response.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from django.db import transaction
from django.db.models import F
from django.utils.dateparse import parse_datetime

from annotation.importing import _Errors, _type_name, jsonl_objects, read_text
from annotation.models import (
    Judgment,
    LanguageModel,
    Membership,
    Prompt,
    Rating,
    Response,
    Study,
    Task,
    User,
)

ARENA_VERDICT = {"model_a": "first", "model_b": "second", "tie": "tie", "tie (bothbad)": "both_bad"}
GENERIC_VERDICT = {
    "model_a": "first",
    "model_b": "second",
    "tie": "tie",
    "both_bad": "both_bad",
    "tie (bothbad)": "both_bad",
}


@dataclass
class Side:
    model: str
    rating: str = ""
    tags: list[str] = field(default_factory=list)
    text: str | None = None  # from an arena conversation, to create a missing response


@dataclass
class ImportedJudgment:
    line: int
    prompt_id: str
    grader: str
    sides: list[Side]
    verdict: str  # first / second / tie / both_bad, or "" for a single response
    comment: str = ""
    seconds: float | None = None
    created_at: datetime | None = None
    prompt_text: str | None = None
    prompt_messages: list | None = None
    language: str | None = None


@dataclass
class JudgmentImportSummary:
    judgments_created: int
    judgments_unchanged: int
    graders_created: int
    prompts_created: int
    responses_created: int

    def describe(self, slug: str) -> str:
        return (
            f"Imported into '{slug}': {self.judgments_created} judgments "
            f"({self.judgments_unchanged} already there), {self.graders_created} new grader accounts, "
            f"{self.prompts_created} prompts and {self.responses_created} responses created."
        )


def _read_records(path: str, errors: _Errors) -> list[tuple[int, object]]:
    text = read_text(path, errors, suffixes=(".json", ".jsonl"))
    if Path(path).suffix.lower() == ".json" or text.lstrip().startswith("["):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            errors.add(exc.lineno, None, f"malformed JSON ({exc.msg} at column {exc.colno})")
            errors.raise_if_any()
        if not isinstance(data, list):
            errors.add(1, None, "a .json file must hold a list of records")
            errors.raise_if_any()
        # A JSON list has no line per record: number records from 1.
        return list(enumerate(data, start=1))
    return list(jsonl_objects(text, errors))


def _string(obj: dict, name: str, number: int, errors: _Errors, *, required=True) -> str | None:
    value = obj.get(name)
    if value is None:
        if required:
            errors.add(number, name, "is missing")
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        errors.add(number, name, f"must be a string, got {_type_name(value)}")
        return None
    value = str(value).strip()
    if not value and required:
        errors.add(number, name, "is empty")
        return None
    return value


def _timestamp(value, number: int, name: str, errors: _Errors) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(float(value), tz=UTC)
    if isinstance(value, str):
        parsed = parse_datetime(value)
        if parsed is not None:
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    errors.add(number, name, f"must be a unix time or an ISO date, got {value!r}")
    return None


def _conversation(value, number: int, name: str, errors: _Errors) -> list[dict] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not value:
        errors.add(number, name, "must be a non-empty list of {role, content}")
        return None
    turns = []
    for i, turn in enumerate(value):
        if (
            not isinstance(turn, dict)
            or not isinstance(turn.get("role"), str)
            or not isinstance(turn.get("content"), str)
        ):
            errors.add(number, f"{name}[{i}]", "must be an object with string role and content")
            return None
        turns.append({"role": turn["role"], "content": turn["content"]})
    if turns[-1]["role"] != "assistant":
        errors.add(number, name, "must end with the model's (assistant) turn")
        return None
    return turns


def _parse_arena(number: int, obj, errors: _Errors, default_judge: str) -> ImportedJudgment | None:
    if not isinstance(obj, dict):
        errors.add(number, None, f"each record must be a JSON object, got {_type_name(obj)}")
        return None
    before = len(errors.items)
    model_a = _string(obj, "model_a", number, errors)
    model_b = _string(obj, "model_b", number, errors)
    winner = obj.get("winner")
    if winner not in ARENA_VERDICT:
        errors.add(number, "winner", f"must be one of {', '.join(ARENA_VERDICT)}, got {winner!r}")
    if model_a and model_a == model_b:
        errors.add(number, "model_b", f"model '{model_a}' battles itself")
    judge = _string(obj, "judge", number, errors, required=False) or default_judge
    turn = obj.get("turn", 1)
    if turn is None:
        turn = 1
    if isinstance(turn, bool) or not isinstance(turn, int) or turn < 1:
        errors.add(number, "turn", f"must be a positive whole number, got {turn!r}")
    conv_a = _conversation(obj.get("conversation_a"), number, "conversation_a", errors)
    conv_b = _conversation(obj.get("conversation_b"), number, "conversation_b", errors)
    created = _timestamp(obj.get("tstamp"), number, "tstamp", errors)
    question_id = _string(obj, "question_id", number, errors, required=False)
    language = obj.get("language") if isinstance(obj.get("language"), str) else None
    if len(errors.items) > before:
        return None
    if (conv_a is None) != (conv_b is None):
        errors.add(
            number,
            "conversation_b" if conv_b is None else "conversation_a",
            "give both conversations or neither",
        )
        return None
    prompt_messages = conv_a[:-1] if conv_a else None
    if conv_a and conv_b and conv_a[:-1] != conv_b[:-1]:
        errors.add(number, "conversation_b", "the two conversations ask different prompts")
        return None
    if question_id is None:
        if prompt_messages is None:
            errors.add(
                number,
                "question_id",
                "is missing, and there are no conversations to take the prompt from",
            )
            return None
        question_id = (
            "conv-"
            + hashlib.sha1(json.dumps(prompt_messages, sort_keys=True).encode()).hexdigest()[:16]
        )
    prompt_id = question_id if turn == 1 else f"{question_id}#turn{turn}"
    user_turns = [m["content"] for m in prompt_messages or [] if m["role"] == "user"]
    return ImportedJudgment(
        line=number,
        prompt_id=prompt_id,
        grader=judge,
        sides=[
            Side(model=model_a, text=conv_a[-1]["content"] if conv_a else None),
            Side(model=model_b, text=conv_b[-1]["content"] if conv_b else None),
        ],
        verdict=ARENA_VERDICT[winner],
        created_at=created,
        prompt_text=user_turns[-1] if user_turns else None,
        prompt_messages=prompt_messages if prompt_messages and len(prompt_messages) > 1 else None,
        language=language,
    )


def _tags(obj: dict, name: str, number: int, errors: _Errors) -> list[str]:
    value = obj.get(name) or []
    if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
        errors.add(number, name, "must be a list of tag names")
        return []
    return value


def _parse_generic(number: int, obj, errors: _Errors, study: Study) -> ImportedJudgment | None:
    if not isinstance(obj, dict):
        errors.add(number, None, f"each record must be a JSON object, got {_type_name(obj)}")
        return None
    before = len(errors.items)
    prompt_id = _string(obj, "prompt_id", number, errors)
    grader = _string(obj, "grader", number, errors)
    comment = obj.get("comment") or ""
    if not isinstance(comment, str):
        errors.add(number, "comment", f"must be text, got {_type_name(comment)}")
    seconds = obj.get("seconds")
    if seconds is not None and (
        isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 0
    ):
        errors.add(number, "seconds", f"must be a non-negative number, got {seconds!r}")
    created = _timestamp(obj.get("created_at"), number, "created_at", errors)

    def rating(name):
        value = obj.get(name) or ""
        if value and value not in study.rating_scale:
            errors.add(
                number, name, f"'{value}' is not on the study's rating scale {study.rating_scale}"
            )
        return value

    def checked_tags(name):
        tags = _tags(obj, name, number, errors)
        unknown = [t for t in tags if t not in study.tags]
        if unknown:
            errors.add(number, name, f"unknown tags {unknown}; the study's tags are {study.tags}")
        return tags

    if "model" in obj:
        model = _string(obj, "model", number, errors)
        sides = [Side(model=model, rating=rating("rating"), tags=checked_tags("tags"))]
        verdict = ""
        if not sides[0].rating and not sides[0].tags:
            errors.add(number, "rating", "a single-response judgment needs a rating or tags")
    else:
        model_a = _string(obj, "model_a", number, errors)
        model_b = _string(obj, "model_b", number, errors)
        if model_a and model_a == model_b:
            errors.add(number, "model_b", f"model '{model_a}' is compared with itself")
        raw = obj.get("verdict", obj.get("winner"))
        if raw not in GENERIC_VERDICT:
            errors.add(
                number, "verdict", f"must be one of model_a, model_b, tie, both_bad, got {raw!r}"
            )
        sides = [
            Side(model=model_a, rating=rating("rating_a"), tags=checked_tags("tags_a")),
            Side(model=model_b, rating=rating("rating_b"), tags=checked_tags("tags_b")),
        ]
        verdict = GENERIC_VERDICT.get(raw, "")
    if len(errors.items) > before:
        return None
    return ImportedJudgment(
        line=number,
        prompt_id=prompt_id,
        grader=grader,
        sides=sides,
        verdict=verdict,
        comment=comment,
        seconds=seconds,
        created_at=created,
    )


def import_judgments(
    path: str | Path,
    slug: str,
    fmt: str,
    *,
    model_judge: bool = False,
    default_judge: str = "imported",
) -> JudgmentImportSummary:
    """Check and import a file of earlier judgments into study `slug` (all or nothing)."""
    path = str(path)
    errors = _Errors(path)
    study = Study.objects.filter(slug=slug).first()
    if study is None:
        errors.add(
            None,
            None,
            f"no study with slug '{slug}' (import its prompts first, or create it in the admin)",
        )
    if fmt not in ("arena", "jsonl"):
        errors.add(None, None, f"unknown format '{fmt}': arena or jsonl")
    errors.raise_if_any()
    parsed = []
    for number, obj in _read_records(path, errors):
        item = (
            _parse_arena(number, obj, errors, default_judge)
            if fmt == "arena"
            else _parse_generic(number, obj, errors, study)
        )
        if item is not None:
            parsed.append(item)
    if not parsed and not errors.items:
        errors.add(None, None, "the file holds no judgments")
    errors.raise_if_any()
    with transaction.atomic():
        summary = _write(study, parsed, errors, model_judge=model_judge)
        errors.raise_if_any()
    return summary


def _write(
    study: Study, items: list[ImportedJudgment], errors: _Errors, *, model_judge: bool
) -> JudgmentImportSummary:
    models = dict(LanguageModel.objects.filter(study=study).values_list("name", "pk"))
    for name in sorted({s.model for item in items for s in item.sides} - models.keys()):
        models[name] = LanguageModel.objects.create(study=study, name=name).pk
    prompts = dict(Prompt.objects.filter(study=study).values_list("external_id", "pk"))
    prompts_created = responses_created = graders_created = 0
    responses = {
        (prompt_pk, model_pk): pk
        for pk, prompt_pk, model_pk in Response.objects.filter(prompt__study=study).values_list(
            "pk", "prompt_id", "model_id"
        )
    }
    graders: dict[str, User] = {}
    created = unchanged = 0
    for item in items:
        prompt_pk = prompts.get(item.prompt_id)
        if prompt_pk is None:
            if item.prompt_text is None:
                errors.add(
                    item.line,
                    "question_id",
                    f"prompt '{item.prompt_id}' is not in study '{study.slug}' and the record has no conversation to create it from",
                )
                continue
            prompt = Prompt.objects.create(
                study=study,
                external_id=item.prompt_id,
                text=item.prompt_text,
                messages=item.prompt_messages,
                metadata={"language": item.language} if item.language else {},
            )
            prompt_pk = prompts[item.prompt_id] = prompt.pk
            prompts_created += 1
        response_pks = []
        for side in item.sides:
            key = (prompt_pk, models[side.model])
            if key not in responses:
                if side.text is None:
                    errors.add(
                        item.line,
                        "model",
                        f"no response of '{side.model}' to prompt '{item.prompt_id}' in study '{study.slug}'",
                    )
                    break
                responses[key] = Response.objects.create(
                    prompt_id=prompt_pk, model_id=models[side.model], text=side.text
                ).pk
                responses_created += 1
            elif (
                side.text is not None
                and Response.objects.filter(pk=responses[key]).exclude(text=side.text).exists()
            ):
                errors.add(
                    item.line,
                    "conversation",
                    f"the output of '{side.model}' for '{item.prompt_id}' differs from the stored one",
                )
                break
            response_pks.append(responses[key])
        else:
            grader = graders.get(item.grader)
            if grader is None:
                grader, made = User.objects.get_or_create(
                    username=item.grader[:150],
                    defaults={
                        "role": User.Role.GRADER,
                        "kind": User.Kind.MODEL_JUDGE if model_judge else User.Kind.HUMAN,
                    },
                )
                if made:
                    grader.set_unusable_password()
                    grader.save(update_fields=["password"])
                    graders_created += 1
                Membership.objects.get_or_create(study=study, user=grader)
                graders[item.grader] = grader
            task, verdict = _task_and_verdict(study, prompt_pk, response_pks, item.verdict)
            existing = Judgment.objects.filter(task=task, grader=grader).first()
            if existing is not None:
                if existing.verdict != verdict:
                    errors.add(
                        item.line,
                        "winner",
                        f"'{item.grader}' already has a different verdict on this pair ({existing.verdict})",
                    )
                unchanged += 1
                continue
            judgment = Judgment.objects.create(
                task=task,
                grader=grader,
                verdict=verdict,
                comment=item.comment,
                seconds=item.seconds,
                source=Judgment.Source.IMPORTED,
                **({"created_at": item.created_at} if item.created_at else {}),
            )
            Rating.objects.bulk_create(
                Rating(judgment=judgment, response_id=pk, label=side.rating, tags=side.tags)
                for side, pk in zip(item.sides, response_pks, strict=True)
            )
            if grader.kind == User.Kind.HUMAN:
                # A human's imported vote fills one of the task's slots; a model judge's
                # does not take a place meant for a human grader.
                Task.objects.filter(pk=task.pk).update(slots_taken=F("slots_taken") + 1)
            created += 1
    if created:
        study.results_changed()
    return JudgmentImportSummary(
        created, unchanged, graders_created, prompts_created, responses_created
    )


def _task_and_verdict(
    study: Study, prompt_pk: int, response_pks: list[int], verdict: str
) -> tuple[Task, str]:
    if len(response_pks) == 1:
        task, _ = Task.objects.get_or_create(
            study=study,
            kind=Task.Kind.SINGLE,
            response_a_id=response_pks[0],
            is_gold=False,
            defaults={"prompt_id": prompt_pk},
        )
        return task, ""
    first, second = response_pks
    a, b = sorted((first, second))
    task, _ = Task.objects.get_or_create(
        study=study,
        kind=Task.Kind.PAIR,
        response_a_id=a,
        response_b_id=b,
        is_gold=False,
        defaults={"prompt_id": prompt_pk},
    )
    if verdict in ("tie", "both_bad"):
        return task, verdict
    winner = first if verdict == "first" else second
    return task, "a" if winner == a else "b"
