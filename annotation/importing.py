"""Import a study file (JSONL or CSV) into the database: all or nothing, idempotent.

Reading and checking the whole file comes first and touches no table; only a
file without a single error is written, in one transaction. Every error names
the file, the line and the field, so a researcher can fix the file and rerun.
The formats are DESIGN.md's:

JSONL, one prompt per line::

    {"id": "p1", "prompt": "text" | [{"role": "user", "content": "..."}, ...],
     "reference": "...", "metadata": {...},
     "outputs": {"model name": "text" | {"text": "...", "metadata": {...}}}}

CSV with columns ``id, prompt, model, output`` (+ ``reference`` and
``meta_*`` columns for prompt metadata), one row per output.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path

from django.db import transaction

from annotation.models import (
    DEFAULT_GOOD_LABELS,
    DEFAULT_RATING_SCALE,
    DEFAULT_TAGS,
    LanguageModel,
    Prompt,
    Response,
    Study,
    Task,
)

MAX_REPORTED_ERRORS = 20


class StudyFileError(Exception):
    """A study file that cannot be imported; `errors` holds one line per problem."""

    def __init__(self, errors: list[str]):
        self.errors = errors
        more = (
            "" if len(errors) < MAX_REPORTED_ERRORS else f"\n(stopped after {len(errors)} errors)"
        )
        super().__init__("\n".join(errors) + more)


@dataclass
class OutputRecord:
    model: str
    text: str
    metadata: dict


@dataclass
class PromptRecord:
    line: int
    id: str
    text: str
    messages: list | None
    reference: str | None
    metadata: dict
    outputs: dict[str, OutputRecord] = field(default_factory=dict)

    def content(self) -> tuple:
        return (self.text, self.messages, self.reference, self.metadata)


@dataclass
class StudyOptions:
    """Options for a study the import creates; None means "keep the default / stored value"."""

    protocol: str | None = None
    overlap: int | None = None
    rating_scale: list[str] | None = None
    good_labels: list[str] | None = None
    tags: list[str] | None = None
    name: str | None = None
    instructions: str | None = None
    require_ratings: bool | None = None
    pairs_per_prompt: int | None = None


@dataclass
class ImportSummary:
    study: Study
    created_study: bool
    prompts_in_file: int
    prompts_created: int
    models_created: int
    responses_created: int
    tasks_created: int

    def describe(self) -> str:
        return (
            f"{'Created' if self.created_study else 'Updated'} study '{self.study.slug}': "
            f"{self.prompts_in_file} prompts in file, {self.prompts_created} prompts, "
            f"{self.models_created} models, {self.responses_created} responses and "
            f"{self.tasks_created} tasks added."
        )


class _Errors:
    def __init__(self, path: str):
        self.name = os.path.basename(path)
        self.items: list[str] = []

    def add(self, line: int | None, fieldname: str | None, message: str) -> None:
        where = f"{self.name}:{line}" if line is not None else self.name
        what = f" field '{fieldname}':" if fieldname else ""
        self.items.append(f"{where}:{what} {message}")
        if len(self.items) >= MAX_REPORTED_ERRORS:
            raise StudyFileError(self.items)

    def raise_if_any(self) -> None:
        if self.items:
            raise StudyFileError(self.items)


# --- reading -----------------------------------------------------------------------------


def read_text(path: str, errors: _Errors, *, suffixes: tuple[str, ...] | None = None) -> str:
    """A whole input file as text, or errors naming what is wrong with it: an unknown file
    type, a missing file, bytes that are not UTF-8 (a BOM is dropped), a NUL character."""
    suffix = Path(path).suffix.lower()
    if suffixes and suffix not in suffixes:
        errors.add(None, None, f"unknown file type '{suffix}': expected {' or '.join(suffixes)}")
    elif not os.path.isfile(path):
        errors.add(None, None, "no such file")
    errors.raise_if_any()
    with open(path, "rb") as handle:
        raw = handle.read()
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        errors.add(
            line, None, f"not UTF-8 text (byte 0x{raw[exc.start]:02x}); save the file as UTF-8"
        )
        errors.raise_if_any()
    if "\x00" in text:
        errors.add(text.count("\n", 0, text.index("\x00")) + 1, None, "contains a NUL character")
        errors.raise_if_any()
    return text


def jsonl_objects(text: str, errors: _Errors) -> Iterator[tuple[int, dict]]:
    """(line number, object) for each non-blank line that is a JSON object; every other
    line is recorded in `errors`. An escaped NUL is refused too (PostgreSQL cannot store it)."""
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            errors.add(number, None, f"malformed JSON ({exc.msg} at column {exc.colno})")
            continue
        if not isinstance(obj, dict):
            errors.add(number, None, f"each line must be a JSON object, got {_type_name(obj)}")
            continue
        if "\\u0000" in line:
            errors.add(number, None, "contains a NUL character (\\u0000)")
            continue
        yield number, obj


def read_study_file(path: str | Path) -> list[PromptRecord]:
    """Parse and check a whole study file; raise StudyFileError listing every problem."""
    path = str(path)
    errors = _Errors(path)
    text = read_text(path, errors, suffixes=(".jsonl", ".csv"))
    if Path(path).suffix.lower() == ".jsonl":
        records = _read_jsonl(text, errors)
    else:
        records = _read_csv(text, errors)
    if not records and not errors.items:
        errors.add(None, None, "the file holds no prompts")
    errors.raise_if_any()
    return records


def _check_metadata(value, line: int, fieldname: str, errors: _Errors) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        errors.add(line, fieldname, f"must be an object, got {_type_name(value)}")
        return {}
    return value


def _type_name(value) -> str:
    return {
        str: "a string",
        int: "a number",
        float: "a number",
        bool: "true/false",
        list: "a list",
        dict: "an object",
        type(None): "null",
    }.get(type(value), type(value).__name__)


def _check_id(value, line: int, errors: _Errors) -> str | None:
    if isinstance(value, bool) or not isinstance(value, str | int):
        errors.add(line, "id", f"must be a string, got {_type_name(value)}")
        return None
    value = str(value).strip()
    if not value:
        errors.add(line, "id", "is empty")
        return None
    if len(value) > 200:
        errors.add(line, "id", "is longer than 200 characters")
        return None
    return value


def _check_prompt(value, line: int, errors: _Errors) -> tuple[str, list | None] | None:
    if isinstance(value, str):
        if not value.strip():
            errors.add(line, "prompt", "is empty")
            return None
        return value, None
    if isinstance(value, list):
        if not value:
            errors.add(line, "prompt", "is an empty conversation")
            return None
        messages = []
        for i, turn in enumerate(value):
            name = f"prompt[{i}]"
            if not isinstance(turn, dict):
                errors.add(
                    line, name, f"must be an object with role and content, got {_type_name(turn)}"
                )
                return None
            role, content = turn.get("role"), turn.get("content")
            if not isinstance(role, str) or not role.strip():
                errors.add(line, f"{name}.role", "must be a non-empty string")
                return None
            if not isinstance(content, str) or not content.strip():
                errors.add(line, f"{name}.content", "must be a non-empty string")
                return None
            messages.append({"role": role.strip(), "content": content})
        user_turns = [m["content"] for m in messages if m["role"] == "user"]
        text = user_turns[-1] if user_turns else messages[-1]["content"]
        return text, messages
    errors.add(line, "prompt", f"must be text or a list of messages, got {_type_name(value)}")
    return None


def _check_output(model, value, line: int, errors: _Errors) -> OutputRecord | None:
    fieldname = f"outputs.{model}"
    if not isinstance(model, str) or not model.strip():
        errors.add(line, "outputs", "has an empty model name")
        return None
    if len(model) > 200:
        errors.add(line, fieldname, "model name is longer than 200 characters")
        return None
    metadata: dict = {}
    if isinstance(value, dict):
        metadata = _check_metadata(value.get("metadata"), line, f"{fieldname}.metadata", errors)
        if "text" not in value:
            errors.add(line, f"{fieldname}.text", "is missing")
            return None
        value = value["text"]
        fieldname = f"{fieldname}.text"
    if not isinstance(value, str):
        errors.add(line, fieldname, f"must be text, got {_type_name(value)}")
        return None
    if not value.strip():
        errors.add(line, fieldname, "is an empty output")
        return None
    return OutputRecord(model=model.strip(), text=value, metadata=metadata)


def _read_jsonl(text: str, errors: _Errors) -> list[PromptRecord]:
    records: dict[str, PromptRecord] = {}
    for number, obj in jsonl_objects(text, errors):
        missing = [name for name in ("id", "prompt", "outputs") if name not in obj]
        for name in missing:
            errors.add(number, name, "is missing")
        if missing:
            continue
        record = _record_from_fields(number, obj, errors)
        if record is not None:
            _add_record(records, record, errors)
    return list(records.values())


def _record_from_fields(number: int, obj: dict, errors: _Errors) -> PromptRecord | None:
    before = len(errors.items)
    prompt_id = _check_id(obj["id"], number, errors)
    prompt = _check_prompt(obj["prompt"], number, errors)
    reference = obj.get("reference")
    if reference is not None and not isinstance(reference, str):
        errors.add(number, "reference", f"must be text, got {_type_name(reference)}")
    metadata = _check_metadata(obj.get("metadata"), number, "metadata", errors)
    outputs_raw = obj["outputs"]
    outputs: dict[str, OutputRecord] = {}
    if not isinstance(outputs_raw, dict):
        errors.add(
            number,
            "outputs",
            f"must be an object of model name -> output, got {_type_name(outputs_raw)}",
        )
    elif not outputs_raw:
        errors.add(number, "outputs", "has no outputs")
    else:
        for model, value in outputs_raw.items():
            output = _check_output(model, value, number, errors)
            if output is not None:
                if output.model in outputs:
                    errors.add(number, f"outputs.{output.model}", "model appears twice")
                outputs[output.model] = output
    if len(errors.items) > before:
        return None
    text, messages = prompt
    return PromptRecord(
        line=number,
        id=prompt_id,
        text=text,
        messages=messages,
        reference=reference if reference and reference.strip() else None,
        metadata=metadata,
        outputs=outputs,
    )


def _add_record(records: dict[str, PromptRecord], record: PromptRecord, errors: _Errors) -> None:
    first = records.get(record.id)
    if first is None:
        records[record.id] = record
        return
    if first.content() != record.content():
        errors.add(
            record.line,
            "id",
            f"duplicate id '{record.id}' with different content (first on line {first.line})",
        )
        return
    for model, output in record.outputs.items():
        known = first.outputs.get(model)
        if known is None:
            first.outputs[model] = output
        elif (known.text, known.metadata) != (output.text, output.metadata):
            errors.add(
                record.line,
                f"outputs.{model}",
                f"differs from the output for id '{record.id}' on line {first.line}",
            )


CSV_REQUIRED = ("id", "prompt", "model", "output")


def _read_csv(text: str, errors: _Errors) -> list[PromptRecord]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = reader.fieldnames or []
    header = [name.strip() if name else "" for name in header]
    reader.fieldnames = header
    if not header:
        return []
    for name in CSV_REQUIRED:
        if name not in header:
            errors.add(1, name, "missing column")
    if errors.items:
        return []
    meta_columns = [name for name in header if name.startswith("meta_") and len(name) > 5]
    records: dict[str, PromptRecord] = {}
    line = 1
    try:
        for row in reader:
            line = reader.line_num
            if None in row:
                errors.add(
                    line,
                    None,
                    f"has {len(header) + len(row[None])} cells, the header has {len(header)}",
                )
                continue
            if all(not (value or "").strip() for value in row.values()):
                continue
            obj = {
                "id": row["id"],
                "prompt": row["prompt"],
                "outputs": {row["model"]: row["output"] or ""},
                "reference": row.get("reference") or None,
                "metadata": {
                    name[5:]: row[name] for name in meta_columns if (row[name] or "").strip()
                },
            }
            record = _record_from_fields(line, obj, errors)
            if record is not None:
                _add_record(records, record, errors)
    except csv.Error as exc:
        errors.add(line + 1, None, f"malformed CSV ({exc})")
    return list(records.values())


# --- writing -----------------------------------------------------------------------------


def import_study(path: str | Path, slug: str, options: StudyOptions | None = None) -> ImportSummary:
    """Read `path` and write its prompts, models, responses and tasks into study `slug`.

    Nothing is written unless the whole file is valid and agrees with what is
    already stored; rerunning the same file changes nothing.
    """
    records = read_study_file(path)
    errors = _Errors(str(path))
    with transaction.atomic():
        study, created = _get_or_create_study(slug, options or StudyOptions(), errors)
        summary = _write_records(study, records, errors, options or StudyOptions())
        summary.created_study = created
    return summary


class RecordsError(StudyFileError):
    """StudyFileError for in-memory records; `details` holds each problem as
    ``{"index": ..., "field": ..., "message": ...}`` (index and field may be None)."""

    def __init__(self, errors: list[str], details: list[dict]):
        super().__init__(errors)
        self.details = details


class _RecordErrors(_Errors):
    """_Errors that also keeps each problem as a record, for a caller to report field by field."""

    def __init__(self, name: str):
        super().__init__(name)
        self.details: list[dict] = []

    def add(self, line: int | None, fieldname: str | None, message: str) -> None:
        self.details.append({"index": line, "field": fieldname, "message": message})
        super().add(line, fieldname, message)


def _has_nul(value) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


def import_records(
    records: list[dict],
    slug: str,
    options: StudyOptions | None = None,
    source_name: str = "request",
) -> ImportSummary:
    """Import study-file records already in memory (each a dict shaped like one JSONL line)
    into study `slug`, with the same checks, all-or-nothing write and idempotency as
    `import_study`. An error's line is the record's index in `records`; on any error
    nothing is written and RecordsError lists every problem.
    """
    options = options or StudyOptions()
    errors = _RecordErrors(source_name)
    parsed: dict[str, PromptRecord] = {}
    try:
        if not isinstance(records, list):
            errors.add(None, None, f"must be a list of records, got {_type_name(records)}")
            records = []
        for index, obj in enumerate(records):
            if not isinstance(obj, dict):
                errors.add(index, None, f"each record must be an object, got {_type_name(obj)}")
                continue
            if _has_nul(obj):
                errors.add(index, None, "contains a NUL character")
                continue
            missing = [name for name in ("id", "prompt", "outputs") if name not in obj]
            for name in missing:
                errors.add(index, name, "is missing")
            if missing:
                continue
            record = _record_from_fields(index, obj, errors)
            if record is not None:
                _add_record(parsed, record, errors)
        if not records and not errors.items:
            errors.add(None, None, "holds no prompts")
        errors.raise_if_any()
        with transaction.atomic():
            study, created = _get_or_create_study(slug, options, errors)
            errors.raise_if_any()
            summary = _write_records(study, list(parsed.values()), errors, options)
            summary.created_study = created
    except StudyFileError as exc:
        raise RecordsError(exc.errors, errors.details) from None
    return summary


def _get_or_create_study(slug: str, options: StudyOptions, errors: _Errors) -> tuple[Study, bool]:
    study = Study.objects.select_for_update().filter(slug=slug).first()
    wanted = {
        "protocol": options.protocol,
        "overlap": options.overlap,
        "rating_scale": options.rating_scale,
        "good_labels": options.good_labels,
        "tags": options.tags,
        "require_ratings": options.require_ratings,
    }
    if study is not None:
        for name, value in wanted.items():
            if value is not None and getattr(study, name) != value:
                errors.add(
                    None,
                    None,
                    f"study '{slug}' already exists with {name}={getattr(study, name)!r}, "
                    f"not {value!r}; change it in the admin or import into a new study",
                )
        return study, False
    scale = options.rating_scale or list(DEFAULT_RATING_SCALE)
    good = options.good_labels or [label for label in DEFAULT_GOOD_LABELS if label in scale]
    unknown = [label for label in good if label not in scale]
    if unknown:
        errors.add(None, None, f"good labels {unknown} are not on the rating scale {scale}")
    study = Study(
        slug=slug,
        name=options.name or slug.replace("-", " ").replace("_", " ").capitalize(),
        instructions=options.instructions or "",
        protocol=options.protocol or Study.Protocol.PAIRWISE,
        overlap=options.overlap or 3,
        rating_scale=scale,
        good_labels=good or scale[-1:],
        tags=options.tags if options.tags is not None else list(DEFAULT_TAGS),
        require_ratings=bool(options.require_ratings),
    )
    study.full_clean(exclude=["members"])
    study.save()
    return study, True


def _write_records(
    study: Study, records: list[PromptRecord], errors: _Errors, options: StudyOptions
) -> ImportSummary:
    models = dict(LanguageModel.objects.filter(study=study).values_list("name", "pk"))
    new_model_names = sorted({m for r in records for m in r.outputs} - models.keys())
    LanguageModel.objects.bulk_create([LanguageModel(study=study, name=n) for n in new_model_names])
    if new_model_names:
        models = dict(LanguageModel.objects.filter(study=study).values_list("name", "pk"))

    stored_prompts = {
        ext: (pk, (text, messages, reference, metadata or {}))
        for pk, ext, text, messages, reference, metadata in Prompt.objects.filter(
            study=study
        ).values_list("pk", "external_id", "text", "messages", "reference", "metadata")
    }
    new_prompts = []
    for record in records:
        stored = stored_prompts.get(record.id)
        if stored is None:
            new_prompts.append(
                Prompt(
                    study=study,
                    external_id=record.id,
                    text=record.text,
                    messages=record.messages,
                    reference=record.reference,
                    metadata=record.metadata,
                )
            )
        elif stored[1] != record.content():
            differing = [
                name
                for name, a, b in zip(
                    ("prompt", "prompt", "reference", "metadata"),
                    stored[1],
                    record.content(),
                    strict=True,
                )
                if a != b
            ]
            errors.add(
                record.line,
                differing[0],
                f"id '{record.id}' is already stored in study '{study.slug}' with a different {differing[0]}",
            )
    errors.raise_if_any()
    Prompt.objects.bulk_create(new_prompts, batch_size=2000)
    prompt_pk = {ext: pk for ext, (pk, _) in stored_prompts.items()}
    prompt_pk.update({p.external_id: p.pk for p in new_prompts})

    file_prompt_pks = [prompt_pk[r.id] for r in records]
    stored_responses = {}
    for chunk in _chunks(file_prompt_pks, 5000):
        for pk, prompt_id, model_id, text, metadata in Response.objects.filter(
            prompt_id__in=chunk
        ).values_list("pk", "prompt_id", "model_id", "text", "metadata"):
            stored_responses[(prompt_id, model_id)] = (pk, text, metadata or {})
    new_responses = []
    for record in records:
        ppk = prompt_pk[record.id]
        for model, output in record.outputs.items():
            stored = stored_responses.get((ppk, models[model]))
            if stored is None:
                new_responses.append(
                    Response(
                        prompt_id=ppk,
                        model_id=models[model],
                        text=output.text,
                        metadata=output.metadata,
                    )
                )
            elif (stored[1], stored[2]) != (output.text, output.metadata):
                field_name = "text" if stored[1] != output.text else "metadata"
                errors.add(
                    record.line,
                    f"outputs.{model}",
                    f"the output of '{model}' for id '{record.id}' is already stored with a different {field_name}",
                )
    errors.raise_if_any()
    Response.objects.bulk_create(new_responses, batch_size=2000)

    tasks = _missing_tasks(study, file_prompt_pks, options.pairs_per_prompt)
    Task.objects.bulk_create(tasks, batch_size=2000)
    if new_prompts or new_responses or tasks:
        study.results_changed()
    return ImportSummary(
        study=study,
        created_study=False,
        prompts_in_file=len(records),
        prompts_created=len(new_prompts),
        models_created=len(new_model_names),
        responses_created=len(new_responses),
        tasks_created=len(tasks),
    )


def _chunks(items: list, size: int = 5000):
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _missing_tasks(study: Study, prompt_pks: list[int], pairs_per_prompt: int | None) -> list[Task]:
    """The pair and single tasks the protocol needs for these prompts and does not have yet.

    All pairs by default. With `pairs_per_prompt`, each prompt gets that many
    pairs, chosen so that every model pair is used about equally often across
    the study (least-used pair first; ties broken by a hash of prompt and pair,
    so the choice is the same on every run).
    """
    responses: dict[int, list[tuple[int, str]]] = defaultdict(list)
    for chunk in _chunks(prompt_pks, 5000):
        for pk, prompt_id, model_name in Response.objects.filter(prompt_id__in=chunk).values_list(
            "pk", "prompt_id", "model__name"
        ):
            responses[prompt_id].append((pk, model_name))
    existing_pairs: dict[int, set[tuple[int, int]]] = defaultdict(set)
    existing_singles: set[int] = set()
    for kind, prompt_id, a, b in Task.objects.filter(study=study, is_gold=False).values_list(
        "kind", "prompt_id", "response_a_id", "response_b_id"
    ):
        if kind == Task.Kind.PAIR:
            existing_pairs[prompt_id].add((a, b))
        else:
            existing_singles.add(a)

    tasks: list[Task] = []
    if study.asks_singles:
        for prompt_id in prompt_pks:
            for pk, _ in responses[prompt_id]:
                if pk not in existing_singles:
                    tasks.append(
                        Task(
                            study=study,
                            kind=Task.Kind.SINGLE,
                            prompt_id=prompt_id,
                            response_a_id=pk,
                        )
                    )
    if not study.asks_pairs:
        return tasks

    names = {pk: name for items in responses.values() for pk, name in items}
    usage: dict[tuple[str, str], int] = defaultdict(int)
    if pairs_per_prompt:
        for pairs in existing_pairs.values():
            for a, b in pairs:
                if a in names and b in names:
                    usage[tuple(sorted((names[a], names[b])))] += 1
    for prompt_id in prompt_pks:
        candidates = [
            tuple(sorted(pair)) for pair in combinations([pk for pk, _ in responses[prompt_id]], 2)
        ]
        have = existing_pairs.get(prompt_id, set())
        if pairs_per_prompt:
            wanted = pairs_per_prompt - len(have)
            if wanted <= 0:
                continue
            free = [pair for pair in candidates if pair not in have]
            free.sort(
                key=lambda pair: (
                    usage[tuple(sorted((names[pair[0]], names[pair[1]])))],
                    _stable_hash(study.slug, prompt_id, names[pair[0]], names[pair[1]]),
                )
            )
            chosen = free[:wanted]
            for a, b in chosen:
                usage[tuple(sorted((names[a], names[b])))] += 1
        else:
            chosen = [pair for pair in candidates if pair not in have]
        for a, b in chosen:
            tasks.append(
                Task(
                    study=study,
                    kind=Task.Kind.PAIR,
                    prompt_id=prompt_id,
                    response_a_id=a,
                    response_b_id=b,
                )
            )
    return tasks


def _stable_hash(*parts) -> str:
    return hashlib.sha1("\x1f".join(map(str, parts)).encode()).hexdigest()


# --- gold tasks ----------------------------------------------------------------------------


def import_gold(path: str | Path, slug: str) -> int:
    """Add gold tasks (known answers, mixed in at the study's gold rate) from a JSONL file.

    Each line is a pair, ``{"prompt_id": ..., "models": [m1, m2], "answer": m1 | m2 |
    "tie" | "both_bad"}``, or a single response, ``{"prompt_id": ..., "model": m,
    "answer": <rating label>}``. All or nothing, and idempotent; returns how many
    gold tasks were created.
    """
    path = str(path)
    errors = _Errors(path)
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
    if not wanted and not errors.items and not existing:
        errors.add(None, None, "the file holds no gold tasks")
    errors.raise_if_any()
    with transaction.atomic():
        Task.objects.bulk_create(wanted)
    return len(wanted)


def _gold_task(
    study: Study, obj: dict, number: int, responses: dict, errors: _Errors
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
        models = obj["models"]
        if not (
            isinstance(models, list)
            and len(models) == 2
            and all(isinstance(m, str) for m in models)
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
        if answer in ("tie", "both_bad"):
            verdict_for_first = answer
        elif answer in models:
            verdict_for_first = "first" if answer == models[0] else "second"
        else:
            errors.add(
                number,
                "answer",
                f"must be one of the two models, 'tie' or 'both_bad', got '{answer}'",
            )
            return None
        (pk0, prompt_pk), (pk1, _) = found
        a, b = sorted((pk0, pk1))
        if verdict_for_first in ("tie", "both_bad"):
            gold = verdict_for_first
        else:
            winner = pk0 if verdict_for_first == "first" else pk1
            gold = "a" if winner == a else "b"
        return Task(
            study=study,
            kind=Task.Kind.PAIR,
            prompt_id=prompt_pk,
            response_a_id=a,
            response_b_id=b,
            is_gold=True,
            gold_answer=gold,
        )
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
