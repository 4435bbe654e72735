"""Automatic metrics on a study's responses: compute (here or in a background job) or import.

Computation goes in chunks; each chunk's scores are written in one transaction
after the whole chunk scored, so a model that fails (bad path, wrong
architecture, out of memory) leaves no partial chunk behind, and a second run
computes only the responses still missing a score.
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Callable
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone
from django_tasks import task

from annotation.importing import _chunks, _Errors, jsonl_objects, read_text
from annotation.models import MetricJob, MetricScore, Response, Study
from annotation.tables import SCORE_COLUMNS
from scoring.metrics import MetricError, MetricInput, get_metric

CHUNK = 2000


@dataclass
class MetricRunSummary:
    metric: str
    store_as: str
    scored: int
    skipped: int
    already: int
    seconds: float
    items_per_second: float
    model: str | None
    device: str | None
    bf16: bool = False

    def describe(self) -> str:
        text = (
            f"{self.store_as}: {self.scored} responses scored, {self.already} already had a score, "
            f"{self.skipped} had nothing to score (e.g. no reference); "
            f"{self.seconds:.1f} s, {self.items_per_second:.1f} responses/s"
        )
        if self.model:
            text += f" with {self.model} on {self.device}"
        if self.bf16:
            text += ", bf16 autocast"
        return text


def _prompt_text(text: str, messages) -> str:
    if not messages:
        return text
    return "\n\n".join(f"{m['role']}: {m['content']}" for m in messages)


def missing_responses(study: Study, store_as: str, *, needs_reference: bool) -> list[tuple]:
    """(response id, prompt text, response text, reference) for responses without this score."""
    done = MetricScore.objects.filter(response__prompt__study=study, metric=store_as).values(
        "response_id"
    )
    query = Response.objects.filter(prompt__study=study).exclude(pk__in=done).order_by("pk")
    if needs_reference:
        query = query.exclude(prompt__reference=None).exclude(prompt__reference="")
    return list(
        query.values_list("pk", "prompt__text", "prompt__messages", "text", "prompt__reference")
    )


def compute(
    study: Study,
    metric_name: str,
    *,
    model: str | None = None,
    store_as: str | None = None,
    batch_size: int | None = None,
    device: str | None = None,
    progress: Callable[[int, int], None] | None = None,
    bf16: bool = False,
) -> MetricRunSummary:
    """Score every response of the study still missing `store_as` (default: the metric name).

    ``bf16`` runs the model under bfloat16 autocast (metrics that offer it); the scores'
    source says so.
    """
    metric = get_metric(metric_name)
    metric.check_bf16(bf16)
    store_as = store_as or metric.name
    if store_as in SCORE_COLUMNS:
        raise MetricError(
            f"'{store_as}' names a column of the scores table; store the metric under another name"
        )
    todo = missing_responses(study, store_as, needs_reference=metric.needs_reference)
    total_responses = Response.objects.filter(prompt__study=study).count()
    already = MetricScore.objects.filter(response__prompt__study=study, metric=store_as).count()
    scored = skipped = 0
    seconds = 0.0
    last_run = None
    source = str(model or metric.default_model or "computed")
    if bf16:
        source = f"{source[:480]} (bf16 autocast)"
    for start in range(0, len(todo), CHUNK):
        chunk = todo[start : start + CHUNK]
        items = [
            MetricInput(prompt=_prompt_text(text, messages), response=response, reference=reference)
            for _pk, text, messages, response, reference in chunk
        ]

        def report(done, _total, offset=start):
            if progress:
                progress(offset + done, len(todo))

        last_run = metric.run(
            items, model=model, batch_size=batch_size, device=device, progress=report, bf16=bf16
        )
        seconds += last_run.seconds
        rows = [
            MetricScore(response_id=row[0], metric=store_as, value=value, source=str(source)[:500])
            for row, value in zip(chunk, last_run.values, strict=True)
            if value is not None
        ]
        with transaction.atomic():
            MetricScore.objects.bulk_create(
                rows,
                update_conflicts=True,
                unique_fields=["response", "metric"],
                update_fields=["value", "source", "computed_at"],
            )
            study.results_changed()
        scored += len(rows)
        skipped += len(chunk) - len(rows)
    skipped += total_responses - already - len(todo)
    return MetricRunSummary(
        metric=metric.name,
        store_as=store_as,
        scored=scored,
        skipped=skipped,
        already=already,
        seconds=seconds,
        items_per_second=(scored + skipped) / seconds if seconds > 0 else 0.0,
        model=last_run.model if last_run else model,
        device=last_run.device if last_run else None,
        bf16=bf16,
    )


def start_job(
    study: Study,
    metric_name: str,
    *,
    model: str = "",
    store_as: str = "",
    batch_size=None,
    user=None,
) -> MetricJob:
    """Queue a background computation; `python manage.py db_worker` runs it."""
    metric = get_metric(metric_name)  # unknown names fail here, before anything is queued
    job = MetricJob.objects.create(
        study=study,
        metric=metric.name,
        model_path=model or "",
        store_as=store_as or metric.name,
        batch_size=batch_size,
        created_by=user,
    )
    transaction.on_commit(lambda: run_metric_job.enqueue(job.pk))
    return job


@task()
def run_metric_job(job_id: int) -> str:
    """The background task: compute the job's metric, reporting progress on the job row."""
    job = MetricJob.objects.select_related("study").get(pk=job_id)
    MetricJob.objects.filter(pk=job_id).update(status=MetricJob.Status.RUNNING)
    last_saved = [0]

    def progress(done: int, total: int) -> None:
        # Write progress at most every 1% so the job row is not hammered.
        if total and (done - last_saved[0] >= max(total // 100, 1) or done == total):
            MetricJob.objects.filter(pk=job_id).update(done=done, total=total)
            last_saved[0] = done

    try:
        summary = compute(
            job.study,
            job.metric,
            model=job.model_path or None,
            store_as=job.store_as,
            batch_size=job.batch_size,
            progress=progress,
        )
    except MetricError as exc:
        MetricJob.objects.filter(pk=job_id).update(
            status=MetricJob.Status.FAILED, message=str(exc), finished_at=timezone.now()
        )
        return str(exc)
    MetricJob.objects.filter(pk=job_id).update(
        status=MetricJob.Status.DONE, message=summary.describe(), finished_at=timezone.now()
    )
    return summary.describe()


# --- scores computed elsewhere: stored all or nothing -----------------------------------------

DEFAULT_SOURCE = "api"


class MetricScoreError(ValueError):
    """Scores that cannot be stored; `details` lists each problem as {index, field, message}."""

    def __init__(self, details: list[dict]):
        super().__init__("; ".join(f"{d['index']}: {d['field']}: {d['message']}" for d in details))
        self.details = details


def upsert_metric_scores(study: Study, scores: list[dict]) -> dict:
    """Store each {prompt_id, model, metric, value[, source]} as the score of that model's
    response to that prompt, replacing a stored value of the same metric.

    Nothing is written unless every score names a response of the study; the study's
    cached results are marked stale. Returns how many scores were created and updated.
    """
    prompt_ids = sorted({score["prompt_id"] for score in scores})
    responses = {}
    for chunk in _chunks(prompt_ids):
        for pk, ext, model in Response.objects.filter(
            prompt__study=study, prompt__external_id__in=chunk
        ).values_list("pk", "prompt__external_id", "model__name"):
            responses[(ext, model)] = pk
    known_prompts = {ext for ext, _ in responses}
    details: list[dict] = []
    wanted: dict[tuple[int, str], tuple[int, MetricScore]] = {}
    for index, score in enumerate(scores):
        prompt_id, model, metric = score["prompt_id"], score["model"], score["metric"]
        if metric in SCORE_COLUMNS:
            details.append(
                _error(
                    index,
                    "metric",
                    f"'{metric}' names a column of the scores table; choose another name",
                )
            )
            continue
        response_id = responses.get((prompt_id, model))
        if prompt_id not in known_prompts:
            details.append(_error(index, "prompt_id", f"no prompt '{prompt_id}' in this study"))
            continue
        if response_id is None:
            details.append(
                _error(index, "model", f"no response of model '{model}' to prompt '{prompt_id}'")
            )
            continue
        # As in file imports (metric_runs.import_scores): a repeat is fine, a conflict is not.
        first = wanted.get((response_id, metric))
        if first is not None:
            if first[1].value != score["value"]:
                details.append(
                    _error(
                        index,
                        "value",
                        f"a second, different {metric} value for '{model}' on '{prompt_id}' "
                        f"(first at index {first[0]})",
                    )
                )
            continue
        wanted[(response_id, metric)] = (
            index,
            MetricScore(
                response_id=response_id,
                metric=metric,
                value=score["value"],
                source=score.get("source") or DEFAULT_SOURCE,
            ),
        )
    if details:
        raise MetricScoreError(details)
    rows = [row for _, row in wanted.values()]
    with transaction.atomic():
        stored = set()
        for chunk in _chunks(sorted({row.response_id for row in rows})):
            stored.update(
                MetricScore.objects.filter(response_id__in=chunk).values_list(
                    "response_id", "metric"
                )
            )
        MetricScore.objects.bulk_create(
            rows,
            batch_size=2000,
            update_conflicts=True,
            unique_fields=["response", "metric"],
            update_fields=["value", "source", "computed_at"],
        )
        study.results_changed()
    updated = sum((row.response_id, row.metric) in stored for row in rows)
    return {"created": len(rows) - updated, "updated": updated}


def _error(index: int, field: str, message: str) -> dict:
    return {"index": index, "field": field, "message": message}


RESERVED = {"prompt_id", "model", "metric", "value"}


def import_scores(
    path: str,
    study: Study,
    fmt: str,
    *,
    model: str | None = None,
    prefix: str = "",
    id_field: str | None = None,
) -> int:
    """Import metric scores from a file, all or nothing; returns how many were written.

    - ``csv`` / ``jsonl``: rows keyed by ``prompt_id`` and ``model``, with either
      ``metric`` and ``value`` columns (long) or one numeric column per metric (wide).
    - ``lm-eval``: lm-evaluation-harness per-sample logs (``samples_<task>_*.jsonl``):
      each line's numeric fields (acc, exact_match, ...) become metrics of `model`'s
      response to the prompt whose id is ``doc[id_field]`` (default: ``doc_id``).
    """
    errors = _Errors(path)
    if fmt == "lm-eval" and not model:
        errors.add(None, None, "lm-eval logs need --model: the model whose responses were scored")
    errors.raise_if_any()
    text = read_text(path, errors)

    rows: list[tuple[int, str, str, str, object]] = []  # line, prompt_id, model, metric, value
    if fmt == "csv":
        reader = csv.DictReader(text.splitlines())
        header = reader.fieldnames or []
        for name in ("prompt_id", "model"):
            if name not in header:
                errors.add(1, name, "missing column")
        errors.raise_if_any()
        long = "metric" in header and "value" in header
        for record in reader:
            line = reader.line_num
            if long:
                rows.append(
                    (line, record["prompt_id"], record["model"], record["metric"], record["value"])
                )
            else:
                for name in header:
                    if name not in RESERVED and (record.get(name) or "").strip():
                        rows.append(
                            (line, record["prompt_id"], record["model"], name, record[name])
                        )
    elif fmt in ("jsonl", "lm-eval"):
        for line, obj in jsonl_objects(text, errors):
            if fmt == "jsonl":
                if "metric" in obj and "value" in obj:
                    rows.append(
                        (line, obj.get("prompt_id"), obj.get("model"), obj["metric"], obj["value"])
                    )
                else:
                    for name, value in obj.items():
                        if name not in RESERVED:
                            rows.append((line, obj.get("prompt_id"), obj.get("model"), name, value))
            else:
                doc = obj.get("doc") if isinstance(obj.get("doc"), dict) else {}
                key = doc.get(id_field) if id_field else obj.get("doc_id")
                if key is None:
                    errors.add(line, f"doc.{id_field}" if id_field else "doc_id", "is missing")
                    continue
                for name, value in obj.items():
                    if name in (
                        "doc_id",
                        "doc",
                        "target",
                        "arguments",
                        "resps",
                        "filtered_resps",
                        "doc_hash",
                        "prompt_hash",
                        "target_hash",
                        "filter",
                        "metrics",
                    ):
                        continue
                    if isinstance(value, int | float) and not isinstance(value, bool):
                        rows.append((line, str(key), model, name, value))
                    elif isinstance(value, bool):
                        rows.append((line, str(key), model, name, float(value)))
    else:
        errors.add(None, None, f"unknown format '{fmt}': csv, jsonl or lm-eval")
        errors.raise_if_any()

    scores: list[dict] = []
    lines: list[int] = []
    for line, prompt_id, model_name, metric, value in rows:
        if (
            not isinstance(prompt_id, str | int)
            or isinstance(prompt_id, bool)
            or str(prompt_id).strip() == ""
        ):
            errors.add(line, "prompt_id", "is missing")
            continue
        if not isinstance(model_name, str) or not model_name.strip():
            errors.add(line, "model", "is missing")
            continue
        if not isinstance(metric, str) or not metric.strip() or len(prefix + metric) > 100:
            errors.add(line, "metric", "must be a name of at most 100 characters")
            continue
        try:
            number = float(value)
        except (TypeError, ValueError):
            errors.add(line, metric, f"not a number: {value!r}")
            continue
        if not math.isfinite(number):
            errors.add(line, metric, f"not a finite number: {value!r}")
            continue
        scores.append(
            {
                "prompt_id": str(prompt_id),
                "model": model_name,
                "metric": prefix + metric,
                "value": number,
                "source": f"imported from {os.path.basename(path)}",
            }
        )
        lines.append(line)
    if not scores and not errors.items:
        errors.add(None, None, "the file holds no scores")
    errors.raise_if_any()
    try:
        summary = upsert_metric_scores(study, scores)
    except MetricScoreError as exc:
        for detail in exc.details:
            errors.add(
                lines[detail["index"]],
                detail["field"],
                detail["message"].replace("(first at index ", "(first at record "),
            )
        errors.raise_if_any()
    return summary["created"] + summary["updated"]
