"""Import a study file (JSONL or CSV), or the same records from the API: all or nothing,
idempotent.

Reading and checking the whole file comes first and touches no table; then the plan is
checked against what is stored (changed content, the study's design, the task limit);
only then is anything written, in one transaction. The formats are DESIGN.md's:

JSONL, one prompt per line::

    {"id": "p1", "prompt": "text" | [{"role": "user", "content": "..."}, ...],
     "reference": "...", "metadata": {...},
     "outputs": {"model name": "text" | {"text": "...", "metadata": {...}}}}

CSV with columns ``id, prompt, model, output`` (+ ``reference`` and ``meta_*`` columns
for prompt metadata), one row per output.

Each prompt and output is rendered to sanitised HTML here, once, and stored beside its
text, so pages never render untrusted text on a request.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from django.db import transaction
from django.db.models import Count

from annotation.ingest import task_design
from annotation.ingest.errors import ErrorList, ImportFileError
from annotation.ingest.reading import (
    check_value,
    chunks,
    csv_records,
    jsonl_objects,
    max_import_tasks,
    max_output_chars,
    read_text,
    type_name,
)
from annotation.ingest.writing import (
    bulk_writes,
    db_now,
    gc_paused,
    indexes_built_after,
    insert_rows,
    json_adapter,
    new_pks,
    order_keys,
    update_rows,
)
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
from annotation.rendering import render_conversation, render_markdown


@dataclass(slots=True)
class OutputRecord:
    model: str
    text: str
    metadata: dict


@dataclass(slots=True)
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
    queue_size: int = 0

    def describe(self) -> str:
        design = (
            f"{self.study.pairs_per_prompt} pairs per prompt"
            if self.study.pairs_per_prompt and self.study.asks_pairs
            else "every pair"
            if self.study.asks_pairs
            else "every response"
        )
        return (
            f"{'Created' if self.created_study else 'Updated'} study '{self.study.slug}': "
            f"{self.prompts_in_file} prompts in file, {self.prompts_created} prompts, "
            f"{self.models_created} models, {self.responses_created} responses and "
            f"{self.tasks_created} tasks added.\n"
            f"Grading queue: {self.queue_size} tasks ({design}), "
            f"each for {self.study.overlap} graders."
        )


# --- reading -----------------------------------------------------------------------------


def read_study_file(path: str | Path) -> list[PromptRecord]:
    """Parse and check a whole study file; raise ImportFileError listing every problem."""
    path = str(path)
    errors = ErrorList(path)
    text = read_text(path, errors, suffixes=(".jsonl", ".csv"))
    with gc_paused():
        if Path(path).suffix.lower() == ".jsonl":
            records = _read_jsonl(text, errors)
        else:
            records = _read_csv(text, errors)
    if not records and not errors:
        errors.add(None, None, "the file holds no prompts")
    errors.raise_if_any()
    return records


def _check_text(value: str, line: int, fieldname: str, errors: ErrorList) -> bool:
    limit = max_output_chars()
    if len(value) > limit:
        errors.add(
            line,
            fieldname,
            f"is {len(value):,} characters long; the limit is {limit:,} (MAX_OUTPUT_CHARS)",
        )
        return False
    return True


def _check_metadata(value, line: int, fieldname: str, errors: ErrorList) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        errors.add(line, fieldname, f"must be an object, got {type_name(value)}")
        return {}
    return value


def _check_id(value, line: int, errors: ErrorList) -> str | None:
    if isinstance(value, bool) or not isinstance(value, str | int):
        errors.add(line, "id", f"must be a string, got {type_name(value)}")
        return None
    value = str(value).strip()
    if not value:
        errors.add(line, "id", "is empty")
        return None
    if len(value) > 200:
        errors.add(line, "id", "is longer than 200 characters")
        return None
    return value


def _check_prompt(value, line: int, errors: ErrorList) -> tuple[str, list | None] | None:
    if isinstance(value, str):
        if not value.strip():
            errors.add(line, "prompt", "is empty")
            return None
        if not _check_text(value, line, "prompt", errors):
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
                    line, name, f"must be an object with role and content, got {type_name(turn)}"
                )
                return None
            role, content = turn.get("role"), turn.get("content")
            if not isinstance(role, str) or not role.strip():
                errors.add(line, f"{name}.role", "must be a non-empty string")
                return None
            if not isinstance(content, str) or not content.strip():
                errors.add(line, f"{name}.content", "must be a non-empty string")
                return None
            if not _check_text(content, line, f"{name}.content", errors):
                return None
            messages.append({"role": role.strip(), "content": content})
        user_turns = [m["content"] for m in messages if m["role"] == "user"]
        text = user_turns[-1] if user_turns else messages[-1]["content"]
        return text, messages
    errors.add(line, "prompt", f"must be text or a list of messages, got {type_name(value)}")
    return None


def _check_output(model, value, line: int, errors: ErrorList) -> OutputRecord | None:
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
        errors.add(line, fieldname, f"must be text, got {type_name(value)}")
        return None
    if not value.strip():
        errors.add(line, fieldname, "is an empty output")
        return None
    if not _check_text(value, line, fieldname, errors):
        return None
    return OutputRecord(model=model.strip(), text=value, metadata=metadata)


REQUIRED = ("id", "prompt", "outputs")


def _read_jsonl(text: str, errors: ErrorList) -> list[PromptRecord]:
    records: dict[str, PromptRecord] = {}
    for number, obj in jsonl_objects(text, errors):
        missing = [name for name in REQUIRED if name not in obj]
        for name in missing:
            errors.add(number, name, "is missing")
        if missing:
            continue
        record = _record_from_fields(number, obj, errors)
        if record is not None:
            _add_record(records, record, errors)
    return list(records.values())


def _record_from_fields(number: int, obj: dict, errors: ErrorList) -> PromptRecord | None:
    before = len(errors)
    prompt_id = _check_id(obj["id"], number, errors)
    prompt = _check_prompt(obj["prompt"], number, errors)
    reference = obj.get("reference")
    if reference is not None and not isinstance(reference, str):
        errors.add(number, "reference", f"must be text, got {type_name(reference)}")
    elif reference is not None:
        _check_text(reference, number, "reference", errors)
    metadata = _check_metadata(obj.get("metadata"), number, "metadata", errors)
    outputs_raw = obj["outputs"]
    outputs: dict[str, OutputRecord] = {}
    if not isinstance(outputs_raw, dict):
        errors.add(
            number,
            "outputs",
            f"must be an object of model name -> output, got {type_name(outputs_raw)}",
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
    if len(errors) > before:
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


def _add_record(records: dict[str, PromptRecord], record: PromptRecord, errors: ErrorList) -> None:
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


def _read_csv(text: str, errors: ErrorList) -> list[PromptRecord]:
    header, rows = csv_records(text, errors)
    if not header or header == [""]:
        return []
    for name in CSV_REQUIRED:
        if name not in header:
            errors.add(1, name, "missing column")
    if errors:
        return []
    meta_columns = [name for name in header if name.startswith("meta_") and len(name) > 5]
    records: dict[str, PromptRecord] = {}
    for line, row in rows:
        if all(not value.strip() for value in row.values()):
            continue
        obj = {
            "id": row["id"],
            "prompt": row["prompt"],
            "outputs": {row["model"]: row["output"]},
            "reference": row.get("reference") or None,
            "metadata": {name[5:]: row[name] for name in meta_columns if row[name].strip()},
        }
        record = _record_from_fields(line, obj, errors)
        if record is not None:
            _add_record(records, record, errors)
    return list(records.values())


# --- the study and its options ---------------------------------------------------------------


def get_or_create_study(slug: str, options: StudyOptions, errors: ErrorList) -> tuple[Study, bool]:
    """The study `slug`, locked for this transaction, created with `options` (and the
    defaults) if it does not exist. An option that contradicts a stored study is an error,
    except that a study without a recorded pairs-per-prompt design takes the one given."""
    study = Study.objects.select_for_update().filter(slug=slug).first()
    wanted = {
        "protocol": options.protocol,
        "overlap": options.overlap,
        "rating_scale": options.rating_scale,
        "good_labels": options.good_labels,
        "tags": options.tags,
        "require_ratings": options.require_ratings,
        "pairs_per_prompt": options.pairs_per_prompt,
    }
    if study is not None:
        for name, value in wanted.items():
            stored = getattr(study, name)
            if value is None or stored == value:
                continue
            if name == "pairs_per_prompt" and stored is None:
                study.pairs_per_prompt = value
                study.save(update_fields=["pairs_per_prompt"])
                continue
            errors.add(
                None,
                None,
                f"study '{slug}' already exists with {name}={stored!r}, "
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
        pairs_per_prompt=options.pairs_per_prompt,
    )
    study.full_clean(exclude=["members"])
    study.save()
    return study, True


# --- importing -------------------------------------------------------------------------------


def import_study(path: str | Path, slug: str, options: StudyOptions | None = None) -> ImportSummary:
    """Read `path` and write its prompts, models, responses and tasks into study `slug`.

    Nothing is written unless the whole file is valid and agrees with what is already
    stored; rerunning the same file changes nothing.
    """
    records = read_study_file(path)
    return _import(records, slug, options or StudyOptions(), ErrorList(str(path)))


def import_records(
    records: list[dict],
    slug: str,
    options: StudyOptions | None = None,
    source_name: str = "request",
) -> ImportSummary:
    """Import study-file records already in memory (each a dict shaped like one JSONL line)
    into study `slug`, with the same checks, all-or-nothing write and idempotency as
    `import_study`. An error's line is the record's index in `records`; on any error
    nothing is written and ImportFileError lists every problem (`details` by index).
    """
    errors = ErrorList(source_name)
    parsed: dict[str, PromptRecord] = {}
    if not isinstance(records, list):
        errors.add(None, None, f"must be a list of records, got {type_name(records)}")
        records = []
    for index, obj in enumerate(records):
        if not isinstance(obj, dict):
            errors.add(index, None, f"each record must be an object, got {type_name(obj)}")
            continue
        if not check_value(obj, index, errors):
            continue
        missing = [name for name in REQUIRED if name not in obj]
        for name in missing:
            errors.add(index, name, "is missing")
        if missing:
            continue
        record = _record_from_fields(index, obj, errors)
        if record is not None:
            _add_record(parsed, record, errors)
    if not records and not errors:
        errors.add(None, None, "holds no prompts")
    errors.raise_if_any()
    return _import(list(parsed.values()), slug, options or StudyOptions(), errors)


def _import(
    records: list[PromptRecord], slug: str, options: StudyOptions, errors: ErrorList
) -> ImportSummary:
    with transaction.atomic(), bulk_writes(analyze=(Prompt, Response, Task)):
        study, created = get_or_create_study(slug, options, errors)
        errors.raise_if_any()
        summary = _write_records(study, records, errors)
        summary.created_study = created
    return summary


def _write_records(study: Study, records: list[PromptRecord], errors: ErrorList) -> ImportSummary:
    """Check `records` against what `study` stores, then write what is new: models,
    prompts, responses (with their HTML) and the tasks of the study's design."""
    stored = _Stored.read(study, records)
    new_prompts, new_outputs = _new_rows(study, records, stored, errors)
    errors.raise_if_any()
    designs, off_queue = _designs(
        study, records, stored.prompts, stored.responses, stored.model_names
    )
    _check_task_limit(study, designs, errors)
    errors.raise_if_any()

    models = dict(stored.models)
    new_model_names = sorted({o.model for _, o in new_outputs} - models.keys())
    if new_model_names:
        LanguageModel.objects.bulk_create(
            [LanguageModel(study=study, name=name) for name in new_model_names]
        )
        models = dict(LanguageModel.objects.filter(study=study).values_list("name", "pk"))
    prompt_pk = _write_prompts(study, new_prompts, stored)
    response_pk = _write_responses(new_outputs, stored, models, prompt_pk, designs)
    tasks_created = _write_tasks(study, designs, off_queue, prompt_pk, models, response_pk)
    if new_prompts or new_outputs or tasks_created:
        study.results_changed()
    return ImportSummary(
        study=study,
        created_study=False,
        prompts_in_file=len(records),
        prompts_created=len(new_prompts),
        models_created=len(new_model_names),
        responses_created=len(new_outputs),
        tasks_created=tasks_created,
        queue_size=study.queue_size(),
    )


@dataclass
class _Stored:
    """What a study stores that an import compares with: its models (name -> pk), its
    prompts (external id -> (pk, content)), and the responses of the file's prompts
    ((prompt pk, model name) -> (pk, text, metadata))."""

    models: dict[str, int]
    model_names: dict[int, str]
    prompts: dict[str, tuple[int, tuple]]
    responses: dict[tuple[int, str], tuple[int, str, dict]]

    @classmethod
    def read(cls, study: Study, records: list[PromptRecord]) -> _Stored:
        models = dict(LanguageModel.objects.filter(study=study).values_list("name", "pk"))
        prompts = {
            ext: (pk, (text, messages, reference, metadata or {}))
            for pk, ext, text, messages, reference, metadata in Prompt.objects.filter(
                study=study
            ).values_list("pk", "external_id", "text", "messages", "reference", "metadata")
        }
        model_names = {pk: name for name, pk in models.items()}
        responses = {}
        stored_pks = [prompts[r.id][0] for r in records if r.id in prompts]
        for chunk in chunks(stored_pks):
            for pk, prompt_id, model_id, text, metadata in Response.objects.filter(
                prompt_id__in=chunk
            ).values_list("pk", "prompt_id", "model_id", "text", "metadata"):
                responses[(prompt_id, model_names[model_id])] = (pk, text, metadata or {})
        return cls(models, model_names, prompts, responses)


def _new_rows(
    study: Study, records: list[PromptRecord], stored: _Stored, errors: ErrorList
) -> tuple[list[PromptRecord], list[tuple[PromptRecord, OutputRecord]]]:
    """The prompts and outputs of the file that are not stored yet; a record that
    contradicts a stored prompt or output is an error."""
    new_prompts: list[PromptRecord] = []
    new_outputs: list[tuple[PromptRecord, OutputRecord]] = []
    for record in records:
        found = stored.prompts.get(record.id)
        if found is None:
            new_prompts.append(record)
            new_outputs.extend((record, output) for output in record.outputs.values())
        elif found[1] != record.content():
            name = next(
                name
                for name, a, b in zip(
                    ("prompt", "prompt", "reference", "metadata"),
                    found[1],
                    record.content(),
                    strict=True,
                )
                if a != b
            )
            errors.add(
                record.line,
                name,
                f"id '{record.id}' is already stored in study '{study.slug}' with a different {name}",
            )
        else:
            new_outputs.extend(_new_outputs(record, found[0], stored, errors))
    return new_prompts, new_outputs


def _new_outputs(record: PromptRecord, prompt_pk: int, stored: _Stored, errors: ErrorList):
    """The outputs of a stored prompt's record that are not stored yet."""
    for model, output in record.outputs.items():
        known = stored.responses.get((prompt_pk, model))
        if known is None:
            yield record, output
        elif (known[1], known[2]) != (output.text, output.metadata):
            what = "text" if known[1] != output.text else "metadata"
            errors.add(
                record.line,
                f"outputs.{model}",
                f"the output of '{model}' for id '{record.id}' is already stored with a different {what}",
            )


def _check_task_limit(study: Study, designs, errors: ErrorList) -> None:
    """How many tasks the queue gains, refused above the limit before any write."""
    adding = task_design.tasks_to_add(
        designs,
        pairs=study.asks_pairs,
        singles=study.asks_singles,
        pairs_per_prompt=study.pairs_per_prompt,
    )
    if adding > max_import_tasks():
        errors.add(
            None,
            None,
            f"this import would create {adding:,} tasks, more than the limit of "
            f"{max_import_tasks():,} (MAX_IMPORT_TASKS); sample pairs with "
            "--pairs-per-prompt, split the file, or raise the limit",
        )


def _write_prompts(study: Study, new_prompts: list[PromptRecord], stored: _Stored) -> dict:
    """Insert the new prompts (with their HTML); the pk of every prompt by external id."""
    json_value = json_adapter()
    last_prompt = _last_pk(Prompt)
    insert_rows(
        Prompt,
        ["study", "external_id", "text", "messages", "reference", "metadata", "conversation_html"],
        (
            (
                study.pk,
                r.id,
                r.text,
                None if r.messages is None else json_value(r.messages),
                r.reference,
                json_value(r.metadata),
                json_value(
                    render_conversation(r.messages or [{"role": "user", "content": r.text}])
                ),
            )
            for r in new_prompts
        ),
    )
    prompt_pk = {ext: pk for ext, (pk, _) in stored.prompts.items()}
    pks = new_pks(Prompt, last_prompt, len(new_prompts))
    if pks is not None:
        prompt_pk.update(zip((r.id for r in new_prompts), pks, strict=True))
    elif new_prompts:
        prompt_pk = dict(Prompt.objects.filter(study=study).values_list("external_id", "pk"))
    return prompt_pk


def _write_responses(new_outputs, stored: _Stored, models, prompt_pk, designs) -> dict:
    """Insert the new responses (with their HTML); the pk of each response of the file's
    prompts by (prompt pk, model pk): stored ones are known, new ones are read back
    unless SQLite's consecutive keys give them."""
    json_value = json_adapter()
    last_response = _last_pk(Response)
    insert_rows(
        Response,
        ["prompt", "model", "text", "metadata", "html"],
        (
            (
                prompt_pk[r.id],
                models[o.model],
                o.text,
                json_value(o.metadata),
                render_markdown(o.text),
            )
            for r, o in new_outputs
        ),
    )
    response_pk = {
        (prompt_id, models[model]): pk
        for (prompt_id, model), (pk, _, _) in stored.responses.items()
    }
    pks = new_pks(Response, last_response, len(new_outputs))
    if pks is not None:
        response_pk.update(
            ((prompt_pk[r.id], models[o.model]), pk)
            for (r, o), pk in zip(new_outputs, pks, strict=True)
        )
        return response_pk
    for chunk in chunks([prompt_pk[d.key] for d in designs]):
        response_pk.update(
            ((prompt_id, model_id), pk)
            for pk, prompt_id, model_id in Response.objects.filter(prompt_id__in=chunk).values_list(
                "pk", "prompt_id", "model_id"
            )
        )
    return response_pk


def _designs(study, records, stored_prompts, stored_responses, model_names):
    """Each file prompt's design (models after this import, tasks in the queue), and the
    stored tasks outside the queue by (prompt id, kind, model names), which the design
    takes into the queue rather than duplicating."""
    designs = {r.id: task_design.PromptDesign(key=r.id, models=list(r.outputs)) for r in records}
    by_pk = {stored_prompts[r.id][0]: designs[r.id] for r in records if r.id in stored_prompts}
    for (prompt_id, model), _ in stored_responses.items():
        design = by_pk[prompt_id]
        if model not in design.models:
            design.models.append(model)
    response_model = {pk: model for (_, model), (pk, _, _) in stored_responses.items()}
    off_queue: dict[tuple, int] = {}
    for chunk in chunks(list(by_pk)):
        for pk, prompt_id, kind, a, b, in_queue in Task.objects.filter(
            prompt_id__in=chunk, is_gold=False
        ).values_list("pk", "prompt_id", "kind", "response_a_id", "response_b_id", "in_queue"):
            design = by_pk[prompt_id]
            if kind == Task.Kind.SINGLE:
                key = response_model[a]
                if in_queue:
                    design.queued_singles.add(key)
            else:
                key = tuple(sorted((response_model[a], response_model[b])))
                if in_queue:
                    design.queued_pairs.add(key)
            if not in_queue:
                off_queue[(design.key, kind, key)] = pk
    return list(designs.values()), off_queue


def _write_tasks(study, designs, off_queue, prompt_pk, models, response_pk) -> int:
    rows: list[tuple] = []
    into_queue: list[int] = []
    now = db_now()
    order_key = order_keys()

    def add(design, kind: str, key, a: int, b: int | None) -> None:
        stored = off_queue.get((design.key, kind, key)) if off_queue else None
        if stored is not None:
            into_queue.append(stored)
        else:
            rows.append((study.pk, kind, prompt_pk[design.key], a, b, False, "", 0, order_key(), True, now))  # fmt: skip

    if study.asks_singles:
        for design in designs:
            ppk = prompt_pk[design.key]
            for model in sorted(set(design.models) - design.queued_singles):
                add(design, Task.Kind.SINGLE.value, model, response_pk[(ppk, models[model])], None)
    if study.asks_pairs:
        usage = _pair_usage(study) if study.pairs_per_prompt else Counter()
        pair = Task.Kind.PAIR.value
        for design, (first, second) in task_design.new_pairs(
            designs, study.slug, study.pairs_per_prompt, usage
        ):
            ppk = prompt_pk[design.key]
            a, b = response_pk[(ppk, models[first])], response_pk[(ppk, models[second])]
            add(design, pair, (first, second), *((a, b) if a < b else (b, a)))
    with indexes_built_after(Task, len(rows)):
        insert_rows(
            Task,
            ["study", "kind", "prompt", "response_a", "response_b", "is_gold", "gold_answer",
             "slots_taken", "order_key", "in_queue", "created_at"],
            rows,
        )  # fmt: skip
    for chunk in chunks(into_queue):
        update_rows(Task, "in_queue", True, chunk)
    return len(rows) + len(into_queue)


def _last_pk(model) -> int:
    return model.objects.order_by("-pk").values_list("pk", flat=True).first() or 0


def _pair_usage(study: Study) -> Counter:
    """How often the study's queue already compares each model pair."""
    names = dict(LanguageModel.objects.filter(study=study).values_list("pk", "name"))
    usage: Counter = Counter()
    for model_a, model_b, n in (
        Task.objects.filter(study=study, kind=Task.Kind.PAIR, is_gold=False, in_queue=True)
        .values_list("response_a__model_id", "response_b__model_id")
        .annotate(n=Count("pk"))
        .values_list("response_a__model_id", "response_b__model_id", "n")
    ):
        usage[tuple(sorted((names[model_a], names[model_b])))] += n
    return usage


__all__ = [
    "ImportFileError",
    "ImportSummary",
    "OutputRecord",
    "PromptRecord",
    "StudyOptions",
    "get_or_create_study",
    "import_records",
    "import_study",
    "read_study_file",
]
