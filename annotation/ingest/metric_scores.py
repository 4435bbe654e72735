"""Metric scores computed elsewhere (files, lm-evaluation-harness logs, the API), stored
all or nothing: every score must name a response of the study, a repeated score must
agree with the first, and a stored value of the same metric is replaced."""

from __future__ import annotations

import math
import os

from django.db import transaction

from annotation.ingest.errors import ErrorList
from annotation.ingest.reading import chunks, csv_records, jsonl_objects, read_text
from annotation.models import MetricScore, Response, Study
from annotation.results.correlations import SCORE_COLUMNS
from scoring.metrics import MetricError

DEFAULT_SOURCE = "api"


def check_metric_name(name: str) -> None:
    """The one rule for the name a metric is stored under: it may not shadow a column of
    the scores table (`SCORE_COLUMNS`). Raises MetricError saying so."""
    if name in SCORE_COLUMNS:
        raise MetricError(
            f"'{name}' names a column of the scores table; choose another metric name"
        )


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
    for chunk in chunks(prompt_ids):
        for pk, ext, model in Response.objects.filter(
            prompt__study=study, prompt__external_id__in=chunk
        ).values_list("pk", "prompt__external_id", "model__name"):
            responses[(ext, model)] = pk
    known_prompts = {ext for ext, _ in responses}
    details: list[dict] = []
    wanted: dict[tuple[int, str], tuple[int, MetricScore]] = {}
    for index, score in enumerate(scores):
        prompt_id, model, metric = score["prompt_id"], score["model"], score["metric"]
        try:
            check_metric_name(metric)
        except MetricError as exc:
            details.append(_error(index, "metric", str(exc)))
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
        # As in file imports (import_scores): a repeat is fine, a conflict is not.
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
        for chunk in chunks(sorted({row.response_id for row in rows})):
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
# Fields of an lm-evaluation-harness sample that are not metrics.
LM_EVAL_FIELDS = frozenset(
    {
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
    }
)

Row = tuple[int, object, object, object, object]  # line, prompt_id, model, metric, value


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
    errors = ErrorList(path)
    if fmt == "lm-eval" and not model:
        errors.add(None, None, "lm-eval logs need --model: the model whose responses were scored")
    errors.raise_if_any()
    text = read_text(path, errors)
    if fmt == "csv":
        rows = _csv_rows(text, errors)
    elif fmt == "jsonl":
        rows = _jsonl_rows(text, errors)
    elif fmt == "lm-eval":
        rows = _lm_eval_rows(text, errors, model, id_field)
    else:
        errors.add(None, None, f"unknown format '{fmt}': csv, jsonl or lm-eval")
        errors.raise_if_any()

    source = f"imported from {os.path.basename(path)}"
    scores: list[dict] = []
    lines: list[int] = []
    for row in rows:
        score = _score(row, prefix, source, errors)
        if score is not None:
            scores.append(score)
            lines.append(row[0])
    if not scores and not errors:
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


def _csv_rows(text: str, errors: ErrorList) -> list[Row]:
    """Long rows (metric and value columns) or wide ones (a column per metric)."""
    header, records = csv_records(text, errors)
    for name in ("prompt_id", "model"):
        if name not in header:
            errors.add(1, name, "missing column")
    errors.raise_if_any()
    long = "metric" in header and "value" in header
    rows: list[Row] = []
    for line, record in records:
        if not any(cell.strip() for cell in record.values()):
            continue
        if long:
            rows.append(
                (line, record["prompt_id"], record["model"], record["metric"], record["value"])
            )
            continue
        rows.extend(
            (line, record["prompt_id"], record["model"], name, record[name])
            for name in header
            if name not in RESERVED and (record.get(name) or "").strip()
        )
    return rows


def _jsonl_rows(text: str, errors: ErrorList) -> list[Row]:
    """Long lines (metric and value fields) or wide ones (a field per metric)."""
    rows: list[Row] = []
    for line, obj in jsonl_objects(text, errors):
        if "metric" in obj and "value" in obj:
            rows.append((line, obj.get("prompt_id"), obj.get("model"), obj["metric"], obj["value"]))
            continue
        rows.extend(
            (line, obj.get("prompt_id"), obj.get("model"), name, value)
            for name, value in obj.items()
            if name not in RESERVED
        )
    return rows


def _lm_eval_rows(
    text: str, errors: ErrorList, model: str | None, id_field: str | None
) -> list[Row]:
    """Each sample's numeric fields (true/false as 1/0), as scores of `model`."""
    rows: list[Row] = []
    for line, obj in jsonl_objects(text, errors):
        doc = obj.get("doc") if isinstance(obj.get("doc"), dict) else {}
        key = doc.get(id_field) if id_field else obj.get("doc_id")
        if key is None:
            errors.add(line, f"doc.{id_field}" if id_field else "doc_id", "is missing")
            continue
        for name, value in obj.items():
            if name in LM_EVAL_FIELDS:
                continue
            if isinstance(value, bool):
                rows.append((line, str(key), model, name, float(value)))
            elif isinstance(value, int | float):
                rows.append((line, str(key), model, name, value))
    return rows


def _score(row: Row, prefix: str, source: str, errors: ErrorList) -> dict | None:
    """A row as a score for upsert_metric_scores, or None after recording what is wrong."""
    line, prompt_id, model_name, metric, value = row
    if (
        not isinstance(prompt_id, str | int)
        or isinstance(prompt_id, bool)
        or str(prompt_id).strip() == ""
    ):
        errors.add(line, "prompt_id", "is missing")
        return None
    if not isinstance(model_name, str) or not model_name.strip():
        errors.add(line, "model", "is missing")
        return None
    if not isinstance(metric, str) or not metric.strip() or len(prefix + metric) > 100:
        errors.add(line, "metric", "must be a name of at most 100 characters")
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        errors.add(line, metric, f"not a number: {value!r}")
        return None
    if not math.isfinite(number):
        errors.add(line, metric, f"not a finite number: {value!r}")
        return None
    return {
        "prompt_id": str(prompt_id),
        "model": model_name,
        "metric": prefix + metric,
        "value": number,
        "source": source,
    }
