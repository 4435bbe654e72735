"""Gold tasks: pairs or single responses with a known answer, mixed into graders' work at
the study's gold rate to measure each grader's accuracy.

Each JSONL line is a pair, ``{"prompt_id": ..., "models": [m1, m2], "answer": m1 | m2 |
"tie" | "both_bad"}``, or a single response, ``{"prompt_id": ..., "model": m,
"answer": <rating label>}``. All or nothing, and idempotent.
"""

from __future__ import annotations

from pathlib import Path

from django.db import transaction

from annotation.ingest.errors import ErrorList
from annotation.ingest.reading import jsonl_objects, read_text
from annotation.models import Response, Study, Task
from scoring import verdicts


def import_gold(path: str | Path, slug: str) -> int:
    """Add the file's gold tasks to study `slug`; returns how many were created."""
    path = str(path)
    errors = ErrorList(path)
    study = Study.objects.filter(slug=slug).first()
    if study is None:
        errors.add(None, None, f"no study with slug '{slug}'")
    errors.raise_if_any()
    text = read_text(path, errors, suffixes=(".jsonl",))
    responses = {
        (ext, name): (pk, prompt_pk)
        for pk, prompt_pk, ext, name in Response.objects.filter(prompt__study=study).values_list(
            "pk", "prompt_id", "prompt__external_id", "model__name"
        )
    }
    existing = {
        (a, b): answer
        for a, b, answer in Task.objects.filter(study=study, is_gold=True).values_list(
            "response_a_id", "response_b_id", "gold_answer"
        )
    }
    wanted: list[Task] = []
    for number, obj in jsonl_objects(text, errors):
        task = _gold_task(study, obj, number, responses, errors)
        if task is None:
            continue
        key = (task.response_a_id, task.response_b_id)
        if key in existing:
            if existing[key] != task.gold_answer:
                errors.add(
                    number,
                    "answer",
                    f"a gold task for this pair is already stored with answer '{existing[key]}'",
                )
            continue
        existing[key] = task.gold_answer
        wanted.append(task)
    if not wanted and not errors and not existing:
        errors.add(None, None, "the file holds no gold tasks")
    errors.raise_if_any()
    with transaction.atomic():
        Task.objects.bulk_create(wanted)
    return len(wanted)


def _gold_task(
    study: Study, obj: dict, number: int, responses: dict, errors: ErrorList
) -> Task | None:
    prompt_id = obj.get("prompt_id")
    if not isinstance(prompt_id, str | int) or isinstance(prompt_id, bool):
        errors.add(number, "prompt_id", "is missing or not a string")
        return None
    prompt_id = str(prompt_id)
    answer = obj.get("answer")
    if not isinstance(answer, str) or not answer.strip():
        errors.add(number, "answer", "is missing or not a string")
        return None
    if "models" in obj:
        return _gold_pair(study, obj["models"], prompt_id, answer, number, responses, errors)
    model = obj.get("model")
    if not isinstance(model, str):
        errors.add(
            number, "model", "is missing: give 'model' for a single response or 'models' for a pair"
        )
        return None
    hit = responses.get((prompt_id, model))
    if hit is None:
        errors.add(
            number,
            "model",
            f"no response of '{model}' to prompt '{prompt_id}' in study '{study.slug}'",
        )
        return None
    if answer not in study.rating_scale:
        errors.add(number, "answer", f"'{answer}' is not on the rating scale {study.rating_scale}")
        return None
    return Task(
        study=study,
        kind=Task.Kind.SINGLE,
        prompt_id=hit[1],
        response_a_id=hit[0],
        is_gold=True,
        gold_answer=answer,
    )


def _gold_pair(study, models, prompt_id, answer, number, responses, errors) -> Task | None:
    if not (
        isinstance(models, list) and len(models) == 2 and all(isinstance(m, str) for m in models)
    ):
        errors.add(number, "models", "must be a list of two model names")
        return None
    if models[0] == models[1]:
        errors.add(number, "models", "names the same model twice")
        return None
    found = [responses.get((prompt_id, m)) for m in models]
    for model, hit in zip(models, found, strict=True):
        if hit is None:
            errors.add(
                number,
                "models",
                f"no response of '{model}' to prompt '{prompt_id}' in study '{study.slug}'",
            )
    if None in found:
        return None
    if answer in models:
        verdict = verdicts.A if answer == models[0] else verdicts.B
    else:
        verdict = verdicts.parse_verdict(answer)
        if verdict not in verdicts.TIES:
            errors.add(
                number,
                "answer",
                f"must be one of the two models, 'tie' or 'both_bad', got '{answer}'",
            )
            return None
    (pk0, prompt_pk), (pk1, _) = found
    a, b = sorted((pk0, pk1))
    if verdict in (verdicts.A, verdicts.B) and pk0 != a:
        verdict = verdicts.B if verdict == verdicts.A else verdicts.A
    return Task(
        study=study,
        kind=Task.Kind.PAIR,
        prompt_id=prompt_pk,
        response_a_id=a,
        response_b_id=b,
        is_gold=True,
        gold_answer=verdict,
    )
