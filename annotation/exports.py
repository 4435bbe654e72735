"""Exports of a study's judgments in the formats people train and analyse with.

- `csv`, `jsonl`, `parquet`, `xlsx`: one row per judgment (model names, verdict,
  ratings, tags, grader, time, prompt metadata). Excel adds a summary sheet and,
  with `slice_by`, one sheet per value of that metadata column.
- `preferences`: JSONL of prompt / chosen / rejected with metadata and agreement,
  the format reward-model and DPO trainers read (TRL's conversational format for
  chat prompts).
- `arena`: JSONL battle records (model_a, model_b, winner, judge, turn, language,
  tstamp, question_id), readable by `python -m scoring leaderboard`.
- `scores`: CSV, one row per response with every automatic metric and the human
  columns good_rate, win_rate, n_ratings, n_battles.

Rows stream from the database in keyset-paginated batches, so memory stays flat
however many judgments a study holds.
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

from annotation import tables
from annotation.models import Judgment, Prompt, Rating, Response, Study, Task

FORMATS = ("csv", "jsonl", "parquet", "xlsx", "preferences", "arena", "scores")
CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "jsonl": "application/x-ndjson",
    "parquet": "application/vnd.apache.parquet",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "preferences": "application/x-ndjson",
    "arena": "application/x-ndjson",
    "scores": "text/csv; charset=utf-8",
}
EXTENSIONS = {"preferences": "preferences.jsonl", "arena": "arena.jsonl", "scores": "scores.csv"}
BATCH = 5000
JUDGMENT_COLUMNS = [
    "judgment_id",
    "created_at",
    "study",
    "prompt_id",
    "task_id",
    "kind",
    "model_a",
    "model_b",
    "verdict",
    "winner",
    "winner_model",
    "grader",
    "grader_kind",
    "rating_a",
    "rating_b",
    "tags_a",
    "tags_b",
    "comment",
    "seconds",
    "source",
]


class ExportError(ValueError):
    """An export that cannot be made as asked (unknown format, bad filter)."""


@dataclass
class PreferenceFilters:
    unanimous: bool = False
    min_agreement: float = 0.0
    drop_ties: bool = False


def filename(study: Study, fmt: str) -> str:
    return f"{study.slug}.{EXTENSIONS.get(fmt, fmt)}"


# --- one row per judgment ------------------------------------------------------------------


def _metadata_keys(study: Study) -> list[str]:
    keys: set[str] = set()
    for meta in (
        Prompt.objects.filter(study=study)
        .values_list("metadata", flat=True)
        .iterator(chunk_size=BATCH)
    ):
        keys.update((meta or {}).keys())
    return sorted(keys)


def _judgment_batches(study: Study) -> Iterator[list[tuple]]:
    """Batches of regular judgments in id order, by keyset pagination."""
    last = 0
    base = Judgment.objects.filter(task__study=study, task__is_gold=False).order_by("pk")
    while True:
        batch = list(
            base.filter(pk__gt=last).values_list(
                "pk",
                "created_at",
                "task__prompt__external_id",
                "task__prompt_id",
                "task_id",
                "task__kind",
                "task__response_a_id",
                "task__response_b_id",
                "task__response_a__model__name",
                "task__response_b__model__name",
                "verdict",
                "grader__username",
                "grader__kind",
                "comment",
                "seconds",
                "source",
            )[:BATCH]
        )
        if not batch:
            return
        yield batch
        last = batch[-1][0]


def judgment_records(study: Study) -> Iterator[dict]:
    """Each regular judgment of the study as a flat record (meta_* for prompt metadata)."""
    meta_keys = _metadata_keys(study)
    metadata: dict[int, dict] = {}
    for batch in _judgment_batches(study):
        ids = [row[0] for row in batch]
        ratings: dict[tuple[int, int], tuple[str, list]] = {
            (j, r): (label, tags or [])
            for j, r, label, tags in Rating.objects.filter(judgment_id__in=ids).values_list(
                "judgment_id", "response_id", "label", "tags"
            )
        }
        missing = {row[3] for row in batch} - metadata.keys()
        if missing:
            metadata.update(Prompt.objects.filter(pk__in=missing).values_list("pk", "metadata"))
        for (
            pk,
            created,
            prompt_ext,
            prompt_pk,
            task_id,
            kind,
            ra,
            rb,
            ma,
            mb,
            verdict,
            grader,
            grader_kind,
            comment,
            seconds,
            source,
        ) in batch:
            rating_a = ratings.get((pk, ra), ("", []))
            rating_b = ratings.get((pk, rb), ("", [])) if rb else ("", [])
            winner_model = ma if verdict == "a" else mb if verdict == "b" else ""
            record = {
                "judgment_id": pk,
                "created_at": created.isoformat(),
                "study": study.slug,
                "prompt_id": prompt_ext,
                "task_id": task_id,
                "kind": kind,
                "model_a": ma,
                "model_b": mb or "",
                "verdict": verdict,
                "winner": tables.ARENA_WINNER.get(verdict, ""),
                "winner_model": winner_model,
                "grader": grader,
                "grader_kind": grader_kind,
                "rating_a": rating_a[0],
                "rating_b": rating_b[0],
                "tags_a": list(rating_a[1]),
                "tags_b": list(rating_b[1]),
                "comment": comment,
                "seconds": seconds,
                "source": source,
            }
            meta = metadata.get(prompt_pk) or {}
            for key in meta_keys:
                record[f"meta_{key}"] = meta.get(key)
            yield record


def _columns(study: Study) -> list[str]:
    return JUDGMENT_COLUMNS + [f"meta_{key}" for key in _metadata_keys(study)]


def _csv_cell(value):
    if isinstance(value, list):
        return ";".join(value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    return "" if value is None else value


def iter_csv(study: Study) -> Iterator[bytes]:
    """CSV in chunks of bytes (tags joined with ';')."""
    columns = _columns(study)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(columns)
    for n, record in enumerate(judgment_records(study), start=1):
        writer.writerow([_csv_cell(record[c]) for c in columns])
        if n % 2000 == 0:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode("utf-8")


def _iter_jsonl(records: Iterator[dict]) -> Iterator[bytes]:
    lines = []
    for record in records:
        lines.append(json.dumps(record, ensure_ascii=False))
        if len(lines) == 2000:
            yield ("\n".join(lines) + "\n").encode("utf-8")
            lines = []
    if lines:
        yield ("\n".join(lines) + "\n").encode("utf-8")


def iter_jsonl(study: Study) -> Iterator[bytes]:
    return _iter_jsonl(judgment_records(study))


def write_parquet(study: Study, out: IO[bytes]) -> int:
    """Parquet, written one row group per batch so memory stays flat."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    columns = _columns(study)
    list_columns = {"tags_a", "tags_b"}
    meta_columns = [c for c in columns if c.startswith("meta_")]
    fields = []
    for name in columns:
        if name in list_columns:
            fields.append(pa.field(name, pa.list_(pa.string())))
        elif name in ("judgment_id", "task_id"):
            fields.append(pa.field(name, pa.int64()))
        elif name == "seconds":
            fields.append(pa.field(name, pa.float64()))
        else:
            fields.append(pa.field(name, pa.string()))
    schema = pa.schema(fields)
    total = 0
    with pq.ParquetWriter(out, schema) as writer:
        batch: list[dict] = []
        for record in judgment_records(study):
            for key in meta_columns:  # metadata may mix types: store as text
                value = record[key]
                record[key] = (
                    None
                    if value is None
                    else value
                    if isinstance(value, str)
                    else json.dumps(value)
                )
            batch.append(record)
            if len(batch) == 50_000:
                writer.write_table(pa.Table.from_pylist(batch, schema=schema))
                total += len(batch)
                batch = []
        if batch or total == 0:
            writer.write_table(pa.Table.from_pylist(batch, schema=schema))
            total += len(batch)
    return total


def write_xlsx(study: Study, out: IO[bytes], *, slice_by: str | None = None) -> int:
    """Excel: a summary sheet, all judgments, and one sheet per value of `slice_by`."""
    from openpyxl import Workbook

    columns = _columns(study)
    slice_column = f"meta_{slice_by}" if slice_by else None
    if slice_column and slice_column not in columns:
        raise ExportError(
            f"no prompt metadata '{slice_by}' to slice by; known: {', '.join(c[5:] for c in columns if c.startswith('meta_')) or 'none'}"
        )
    book = Workbook(write_only=True)
    summary = book.create_sheet("summary")
    everything = book.create_sheet("judgments")
    everything.append(columns)
    slice_sheets: dict[str, object] = {}
    counts: Counter = Counter()
    verdicts: Counter = Counter()
    graders: set[str] = set()
    total = 0
    for record in judgment_records(study):
        row = [_csv_cell(record[c]) for c in columns]
        everything.append(row)
        total += 1
        verdicts[record["verdict"] or "single"] += 1
        graders.add(record["grader"])
        if slice_column:
            key = str(record[slice_column])
            if key not in slice_sheets:
                title = _sheet_title(key, slice_sheets)
                slice_sheets[key] = book.create_sheet(title)
                slice_sheets[key].append(columns)
            slice_sheets[key].append(row)
            counts[key] += 1
    summary.append(["study", study.slug])
    summary.append(["name", study.name])
    summary.append(["judgments", total])
    summary.append(["graders", len(graders)])
    summary.append(["models", ", ".join(study.models.values_list("name", flat=True))])
    for verdict, n in sorted(verdicts.items()):
        summary.append([f"verdict {verdict}", n])
    if slice_column:
        summary.append([])
        summary.append([f"slice by {slice_by}", "judgments"])
        for key, n in sorted(counts.items()):
            summary.append([key, n])
    book.save(out)
    return total


def _sheet_title(key: str, taken: dict) -> str:
    cleaned = "".join("_" if ch in "[]:*?/\\" else ch for ch in key)[:28] or "blank"
    title, n = cleaned, 2
    existing = {getattr(sheet, "title", "") for sheet in taken.values()}
    while title in existing or title in ("summary", "judgments"):
        title, n = f"{cleaned[:25]}_{n}", n + 1
    return title


# --- preferences and arena battles ------------------------------------------------------


def _turns(prompt_text: str, messages) -> int:
    return sum(1 for m in messages if m.get("role") == "user") if messages else 1


def preference_records(study: Study, filters: PreferenceFilters | None = None) -> Iterator[dict]:
    """One record per pair task with a majority preference: prompt, chosen, rejected.

    Votes per task are counted; ties and "both bad" never choose a side. The
    majority side wins when it has strictly more votes than the other side;
    `agreement` is its share of the counted votes (decisive votes only with
    `drop_ties`, else all votes). `unanimous` keeps tasks whose every counted vote
    agrees; `min_agreement` drops tasks below that share.
    """
    filters = filters or PreferenceFilters()
    if not 0 <= filters.min_agreement <= 1:
        raise ExportError("min_agreement must be between 0 and 1")
    last = 0
    base = tables.human_judgments(study).filter(task__kind=Task.Kind.PAIR).exclude(verdict="")
    task_ids_query = Task.objects.filter(study=study, is_gold=False, kind=Task.Kind.PAIR).order_by(
        "pk"
    )
    while True:
        task_ids = list(task_ids_query.filter(pk__gt=last).values_list("pk", flat=True)[:BATCH])
        if not task_ids:
            return
        last = task_ids[-1]
        votes: dict[int, Counter] = {}
        for task_id, verdict in base.filter(task_id__in=task_ids).values_list("task_id", "verdict"):
            votes.setdefault(task_id, Counter())[verdict] += 1
        if not votes:
            continue
        tasks = {
            t[0]: t
            for t in Task.objects.filter(pk__in=votes.keys()).values_list(
                "pk", "prompt_id", "response_a_id", "response_b_id"
            )
        }
        response_ids = [r for t in tasks.values() for r in t[2:]]
        responses = {
            pk: (text, model, meta)
            for pk, text, model, meta in Response.objects.filter(pk__in=response_ids).values_list(
                "pk", "text", "model__name", "metadata"
            )
        }
        prompts = {
            pk: (ext, text, messages, meta)
            for pk, ext, text, messages, meta in Prompt.objects.filter(
                pk__in={t[1] for t in tasks.values()}
            ).values_list("pk", "external_id", "text", "messages", "metadata")
        }
        for task_id in sorted(votes):
            count = votes[task_id]
            a, b = count["a"], count["b"]
            if a == b:
                continue
            counted = a + b if filters.drop_ties else sum(count.values())
            winner_votes = max(a, b)
            agreement = winner_votes / counted if counted else 0.0
            if filters.unanimous and winner_votes != counted:
                continue
            if agreement < filters.min_agreement:
                continue
            _, prompt_pk, ra, rb = tasks[task_id]
            chosen, rejected = (ra, rb) if a > b else (rb, ra)
            ext, text, messages, meta = prompts[prompt_pk]
            chosen_text, chosen_model, _ = responses[chosen]
            rejected_text, rejected_model, _ = responses[rejected]
            if messages:
                prompt_value = messages
                chosen_value = [{"role": "assistant", "content": chosen_text}]
                rejected_value = [{"role": "assistant", "content": rejected_text}]
            else:
                prompt_value, chosen_value, rejected_value = text, chosen_text, rejected_text
            yield {
                "prompt": prompt_value,
                "chosen": chosen_value,
                "rejected": rejected_value,
                "prompt_id": ext,
                "chosen_model": chosen_model,
                "rejected_model": rejected_model,
                "votes": dict(sorted(count.items())),
                "n_votes": sum(count.values()),
                "agreement": round(agreement, 4),
                "metadata": meta or {},
                "study": study.slug,
            }


def arena_records(study: Study) -> Iterator[dict]:
    """Each pairwise judgment as an arena battle record."""
    last = 0
    base = (
        tables.human_judgments(study)
        .filter(task__kind=Task.Kind.PAIR)
        .exclude(verdict="")
        .order_by("pk")
    )
    prompt_info: dict[int, tuple] = {}
    while True:
        batch = list(
            base.filter(pk__gt=last).values_list(
                "pk",
                "task__prompt_id",
                "task__response_a__model__name",
                "task__response_b__model__name",
                "verdict",
                "grader__username",
                "created_at",
            )[:BATCH]
        )
        if not batch:
            return
        last = batch[-1][0]
        missing = {row[1] for row in batch} - prompt_info.keys()
        for pk, ext, text, messages, meta in Prompt.objects.filter(pk__in=missing).values_list(
            "pk", "external_id", "text", "messages", "metadata"
        ):
            prompt_info[pk] = (ext, _turns(text, messages), (meta or {}).get("language"))
        for _pk, prompt_pk, ma, mb, verdict, grader, created in batch:
            ext, turn, language = prompt_info[prompt_pk]
            yield {
                "question_id": ext,
                "model_a": ma,
                "model_b": mb,
                "winner": tables.ARENA_WINNER[verdict],
                "judge": grader,
                "turn": turn,
                "language": language,
                "tstamp": created.timestamp(),
            }


def iter_scores_csv(study: Study) -> Iterator[bytes]:
    frame = tables.response_scores(study)
    yield frame.to_csv(index=False).encode("utf-8")


# --- one entry point for commands, pages and the API -------------------------------------


def stream(study: Study, fmt: str, *, filters: PreferenceFilters | None = None) -> Iterator[bytes]:
    """The export as chunks of bytes, for the text formats."""
    if fmt == "csv":
        return iter_csv(study)
    if fmt == "jsonl":
        return iter_jsonl(study)
    if fmt == "preferences":
        return _iter_jsonl(preference_records(study, filters))
    if fmt == "arena":
        return _iter_jsonl(arena_records(study))
    if fmt == "scores":
        return iter_scores_csv(study)
    raise ExportError(f"unknown text export format '{fmt}'")


def write(
    study: Study,
    fmt: str,
    out: IO[bytes],
    *,
    filters: PreferenceFilters | None = None,
    slice_by: str | None = None,
) -> None:
    """Write the export in `fmt` to a binary file."""
    if fmt not in FORMATS:
        raise ExportError(f"unknown format '{fmt}': choose one of {', '.join(FORMATS)}")
    if fmt == "parquet":
        write_parquet(study, out)
    elif fmt == "xlsx":
        write_xlsx(study, out, slice_by=slice_by)
    else:
        for chunk in stream(study, fmt, filters=filters):
            out.write(chunk)
