"""manage.py import_study: formats, tasks, idempotence, and every kind of bad input."""

import io
import json
import os
import subprocess
import sys
import tracemalloc
from collections import Counter

import pytest
from django.core.management import CommandError, call_command

from annotation.models import LanguageModel, Prompt, Response, Study, Task
from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.django_db

GOOD = [
    {
        "id": "p1",
        "prompt": "Name a prime.",
        "reference": "2",
        "metadata": {"language": "en", "category": "math"},
        "outputs": {
            "m1": "3",
            "m2": {"text": "4", "metadata": {"latency_ms": 120, "tokens": 1}},
            "m3": "5",
        },
    },
    {
        "id": "p2",
        "prompt": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello"},
            {"role": "user", "content": "Say bye"},
        ],
        "outputs": {"m1": "Bye", "m2": "Goodbye", "m3": "Ciao"},
    },
]


def run(path, *args, slug="s-import"):
    call_command("import_study", str(path), "--study", slug, *args, stdout=io.StringIO())


def counts():
    return (
        Study.objects.count(),
        LanguageModel.objects.count(),
        Prompt.objects.count(),
        Response.objects.count(),
        Task.objects.count(),
    )


def test_it_imports_prompts_models_responses_and_all_pairs(write_jsonl):
    run(write_jsonl(GOOD))
    study = Study.objects.get(slug="s-import")
    assert study.protocol == "pairwise" and study.overlap == 3
    assert sorted(study.models.values_list("name", flat=True)) == ["m1", "m2", "m3"]
    p1 = Prompt.objects.get(external_id="p1")
    assert p1.reference == "2" and p1.metadata == {"language": "en", "category": "math"}
    assert Response.objects.get(prompt=p1, model__name="m2").metadata == {
        "latency_ms": 120,
        "tokens": 1,
    }
    p2 = Prompt.objects.get(external_id="p2")
    assert p2.text == "Say bye" and len(p2.messages) == 4 and p2.messages[0]["role"] == "system"
    # Three models give three pairs per prompt, each joining two responses to that prompt.
    for prompt in (p1, p2):
        tasks = Task.objects.filter(prompt=prompt)
        assert tasks.count() == 3
        assert all(
            t.kind == "pair" and t.response_a.prompt == prompt == t.response_b.prompt for t in tasks
        )
        models = {frozenset((t.response_a.model.name, t.response_b.model.name)) for t in tasks}
        assert len(models) == 3


def test_it_changes_nothing_when_rerun(write_jsonl):
    path = write_jsonl(GOOD)
    run(path)
    before = counts(), list(Task.objects.values_list("pk", "response_a", "response_b"))
    run(path)
    assert (counts(), list(Task.objects.values_list("pk", "response_a", "response_b"))) == before


def test_a_large_import_leaves_the_task_indexes_as_they_were(write_jsonl, monkeypatch):
    from django.db import connection

    # Every import counts as large here: on SQLite the task table's non-unique indexes are
    # dropped for the inserts and built again; the unique ones check the rows meanwhile.
    monkeypatch.setattr("annotation.ingest.writing.MIN_ROWS_TO_REBUILD_INDEXES", 1)
    table = Task._meta.db_table

    def indexes():
        with connection.cursor() as cursor:
            if connection.vendor == "sqlite":
                cursor.execute(
                    "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = %s",
                    [table],
                )
            else:
                cursor.execute(
                    "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s", [table]
                )
            return sorted(cursor.fetchall())

    before = indexes()
    run(write_jsonl(GOOD))
    assert indexes() == before
    assert Task.objects.filter(study__slug="s-import", in_queue=True).count() == 6
    run(write_jsonl(GOOD))  # the unique pair index still sees the stored tasks
    assert counts() == (1, 3, 2, 6, 6)


def test_an_import_leaves_the_planner_statistics_of_what_it_wrote(write_jsonl):
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("planner statistics are PostgreSQL's (SQLite needs none here)")
    # Without them the planner takes the new tables for empty (or for their dead rows)
    # and the results' queries rescan a table per row until autovacuum comes by.
    records = [
        {"id": f"q{i}", "prompt": f"Question {i}?", "outputs": {"m1": "x", "m2": "y", "m3": "z"}}
        for i in range(150)
    ]
    run(write_jsonl(records))

    def estimated(model):
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT reltuples FROM pg_class WHERE oid = %s::regclass", [model._meta.db_table]
            )
            return cursor.fetchone()[0]

    assert (estimated(Prompt), estimated(Response), estimated(Task)) == (150, 450, 450)


def test_it_adds_only_what_is_new(write_jsonl):
    run(write_jsonl(GOOD[:1]))
    run(write_jsonl(GOOD))
    assert counts() == (1, 3, 2, 6, 6)


def test_it_creates_single_tasks_for_single_protocol(write_jsonl):
    run(write_jsonl(GOOD), "--protocol", "single", "--overlap", "2")
    study = Study.objects.get(slug="s-import")
    assert (study.protocol, study.overlap) == ("single", 2)
    assert Task.objects.filter(kind="single").count() == 6
    assert not Task.objects.filter(kind="pair").exists()


def test_it_creates_both_kinds_for_both_protocol(write_jsonl):
    run(write_jsonl(GOOD), "--protocol", "both")
    assert Counter(Task.objects.values_list("kind", flat=True)) == {"pair": 6, "single": 6}


def test_it_samples_balanced_pairs_per_prompt(write_jsonl):
    models = [f"m{i}" for i in range(4)]
    records = [
        {"id": f"p{i}", "prompt": f"q{i}", "outputs": {m: f"{m} on {i}" for m in models}}
        for i in range(60)
    ]
    path = write_jsonl(records)
    run(path, "--pairs-per-prompt", "2")
    tasks = Task.objects.select_related("response_a__model", "response_b__model")
    assert tasks.count() == 120
    per_prompt = Counter(t.prompt_id for t in tasks)
    assert set(per_prompt.values()) == {2}
    per_pair = Counter(frozenset((t.response_a.model.name, t.response_b.model.name)) for t in tasks)
    # 120 pairs over 6 model pairs: 20 each when balanced.
    assert len(per_pair) == 6 and max(per_pair.values()) - min(per_pair.values()) <= 1
    before = counts()
    run(path, "--pairs-per-prompt", "2")
    assert counts() == before


def test_it_imports_csv(tmp_path):
    path = tmp_path / "study.csv"
    path.write_text(
        "id,prompt,model,output,reference,meta_language\n"
        'p1,"Say hi, politely",m1,Hello,Hi,en\n'
        'p1,"Say hi, politely",m2,"Hi, there",Hi,en\n'
        "p2,Count,m1,1 2 3,,fr\n",
        encoding="utf-8",
    )
    run(path)
    p1 = Prompt.objects.get(external_id="p1")
    assert (p1.text, p1.reference, p1.metadata) == ("Say hi, politely", "Hi", {"language": "en"})
    assert Prompt.objects.get(external_id="p2").reference is None
    assert Response.objects.get(prompt=p1, model__name="m2").text == "Hi, there"
    assert Task.objects.count() == 1


BAD_JSONL = [
    (
        "malformed json",
        [
            '{"id": "p1", "prompt": "x", "outputs": {"m": "y"}',
        ],
        "bad.jsonl:2: malformed JSON",
    ),
    ("not an object", ['["p1"]'], "bad.jsonl:2: each line must be a JSON object"),
    ("missing id", [{"prompt": "x", "outputs": {"m": "y"}}], "bad.jsonl:2: field 'id': is missing"),
    ("missing outputs", [{"id": "p", "prompt": "x"}], "bad.jsonl:2: field 'outputs': is missing"),
    (
        "id wrong type",
        [{"id": ["p"], "prompt": "x", "outputs": {"m": "y"}}],
        "field 'id': must be a string",
    ),
    (
        "prompt wrong type",
        [{"id": "p", "prompt": 3, "outputs": {"m": "y"}}],
        "field 'prompt': must be text",
    ),
    (
        "empty prompt",
        [{"id": "p", "prompt": "  ", "outputs": {"m": "y"}}],
        "field 'prompt': is empty",
    ),
    (
        "bad chat turn",
        [{"id": "p", "prompt": [{"role": "user"}], "outputs": {"m": "y"}}],
        "field 'prompt[0].content': must be a non-empty string",
    ),
    (
        "outputs wrong type",
        [{"id": "p", "prompt": "x", "outputs": ["y"]}],
        "field 'outputs': must be an object",
    ),
    ("no outputs", [{"id": "p", "prompt": "x", "outputs": {}}], "field 'outputs': has no outputs"),
    (
        "empty output",
        [{"id": "p", "prompt": "x", "outputs": {"m": " \n"}}],
        "field 'outputs.m': is an empty output",
    ),
    (
        "output wrong type",
        [{"id": "p", "prompt": "x", "outputs": {"m": 7}}],
        "field 'outputs.m': must be text",
    ),
    (
        "output object without text",
        [{"id": "p", "prompt": "x", "outputs": {"m": {"metadata": {}}}}],
        "field 'outputs.m.text': is missing",
    ),
    (
        "metadata wrong type",
        [{"id": "p", "prompt": "x", "metadata": "en", "outputs": {"m": "y"}}],
        "field 'metadata': must be an object",
    ),
    (
        "reference wrong type",
        [{"id": "p", "prompt": "x", "reference": 1, "outputs": {"m": "y"}}],
        "field 'reference'",
    ),
    (
        "duplicate id in file",
        [
            {"id": "p", "prompt": "x", "outputs": {"m": "y"}},
            {"id": "p", "prompt": "z", "outputs": {"m": "y"}},
        ],
        "bad.jsonl:3: field 'id': duplicate id 'p' with different content (first on line 2)",
    ),
    (
        "nul character",
        ['{"id": "p", "prompt": "x\\u0000", "outputs": {"m": "y"}}'],
        "bad.jsonl:2: field 'prompt': contains a NUL character",
    ),
]


@pytest.mark.parametrize("case,lines,message", BAD_JSONL, ids=[c[0] for c in BAD_JSONL])
def test_it_rejects_bad_input_and_writes_nothing(write_jsonl, case, lines, message):
    # A good line first: it must not be written either.
    good = {"id": "ok", "prompt": "fine", "outputs": {"m": "fine", "n": "also"}}
    path = write_jsonl([good, *lines] if case != "empty file" else lines, name="bad.jsonl")
    if case != "empty file":
        message = (
            message.replace("bad.jsonl:2:", "bad.jsonl:2:")
            .replace("bad.jsonl:2: field 'id': dup", "bad.jsonl:3: field 'id': dup")
            .replace("first on line 1", "first on line 2")
        )
    with pytest.raises(CommandError) as exc:
        run(path)
    assert message in str(exc.value)
    assert counts() == (0, 0, 0, 0, 0)


def test_it_rejects_an_empty_file(write_jsonl):
    with pytest.raises(CommandError, match=r"empty.jsonl: the file holds no prompts"):
        run(write_jsonl([""], name="empty.jsonl"))


def test_it_rejects_a_file_that_is_not_utf8(tmp_path):
    path = tmp_path / "latin.jsonl"
    path.write_bytes(
        b'{"id": "p", "prompt": "ok", "outputs": {"m": "y"}}\n{"id": "q", "prompt": "caf\xe9", "outputs": {"m": "y"}}\n'
    )
    with pytest.raises(CommandError, match=r"latin.jsonl:2: not UTF-8 text \(byte 0xe9\)"):
        run(path)
    assert counts() == (0, 0, 0, 0, 0)


def test_it_rejects_changed_content_for_a_stored_id(write_jsonl):
    run(write_jsonl(GOOD))
    before = counts()
    changed = [
        GOOD[0],
        {**GOOD[1], "outputs": {**GOOD[1]["outputs"], "m2": "Farewell"}},
        {"id": "p3", "prompt": "new", "outputs": {"m1": "x", "m2": "y"}},
    ]
    with pytest.raises(
        CommandError,
        match=r"study.jsonl:2: field 'outputs.m2': the output of 'm2' for id 'p2' is already stored with a different text",
    ):
        run(write_jsonl(changed))
    assert counts() == before
    assert not Prompt.objects.filter(external_id="p3").exists()


def test_it_rejects_a_changed_prompt_text_for_a_stored_id(write_jsonl):
    run(write_jsonl(GOOD))
    with pytest.raises(
        CommandError, match=r"study.jsonl:1: field 'prompt': id 'p1' is already stored"
    ):
        run(write_jsonl([{**GOOD[0], "prompt": "Name two primes."}]))


def test_it_rejects_csv_missing_a_column(tmp_path):
    path = tmp_path / "s.csv"
    path.write_text("id,prompt,model\np1,x,m1\n", encoding="utf-8")
    with pytest.raises(CommandError, match=r"s.csv:1: field 'output': missing column"):
        run(path)


def test_it_rejects_csv_empty_output_naming_the_line(tmp_path):
    path = tmp_path / "s.csv"
    path.write_text("id,prompt,model,output\np1,x,m1,fine\np1,x,m2,\n", encoding="utf-8")
    with pytest.raises(
        CommandError,
        match=r"s.csv:3: field 'outputs.m2': must be text|s.csv:3: field 'outputs.m2': is an empty output",
    ):
        run(path)
    assert counts() == (0, 0, 0, 0, 0)


def test_it_rejects_an_unknown_extension(tmp_path):
    path = tmp_path / "s.txt"
    path.write_text("x", encoding="utf-8")
    with pytest.raises(CommandError, match=r"s.txt: unknown file type '.txt'"):
        run(path)


def test_it_rejects_a_missing_file(tmp_path):
    with pytest.raises(CommandError, match=r"nope.jsonl: no such file"):
        run(tmp_path / "nope.jsonl")


def test_it_rejects_options_that_contradict_a_stored_study(write_jsonl):
    path = write_jsonl(GOOD)
    run(path)
    with pytest.raises(
        CommandError, match=r"already exists with protocol='pairwise', not 'single'"
    ):
        run(path, "--protocol", "single")


def test_it_exits_nonzero_without_a_traceback(write_jsonl, tmp_path):
    path = write_jsonl(
        [
            '{"id": "p1", "prompt": ',
            {"id": "p2", "prompt": 1, "outputs": {}},
            # Hostile lines: a lone surrogate, metadata nested 500 deep, and nesting past
            # the JSON parser's recursion limit (each once a traceback).
            '{"id": "p3", "prompt": "x", "outputs": {"m": "a\\ud800b"}}',
            json.dumps({"id": "p4", "prompt": "x", "metadata": nested(500), "outputs": {"m": "y"}}),
            '{"id": "p5", "prompt": "x", "metadata": ' + '{"a": ' * 50_000 + "1" + "}" * 50_001,
        ],
        name="broken.jsonl",
    )
    env = {**os.environ, "DEBUG": "1", "DATABASE_URL": f"sqlite:///{tmp_path / 'cli.sqlite3'}"}
    result = subprocess.run(
        [sys.executable, "manage.py", "import_study", str(path), "--study", "x"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert "broken.jsonl:1: malformed JSON" in result.stderr
    assert (
        "broken.jsonl:2: field 'prompt': must be text or a list of messages, got a number"
        in result.stderr
    )
    assert "broken.jsonl:3: field 'outputs.m': contains a lone surrogate" in result.stderr
    assert "broken.jsonl:4: field 'metadata': is nested too deeply" in result.stderr
    assert "broken.jsonl:5: field 'metadata': is nested too deeply" in result.stderr


# --- hostile input: a clear FILE:LINE: field error, never a traceback, nothing written -------


def nested(depth: int):
    value: object = "leaf"
    for _ in range(depth):
        value = {"a": value}
    return value


HOSTILE_JSONL = [
    (
        "metadata nested 500 deep",
        json.dumps({"id": "p", "prompt": "x", "metadata": nested(500), "outputs": {"m": "y"}}),
        "bad.jsonl:2: field 'metadata': is nested too deeply: the limit is 32 levels (MAX_JSON_DEPTH)",
    ),
    (
        "JSON nested past the parser's recursion limit",
        '{"id": "p", "prompt": "x", "metadata": ' + "[" * 100_000 + "]" * 100_000 + "}",
        "bad.jsonl:2: field 'metadata': is nested too deeply: the limit is 32 levels",
    ),
    (
        "lone surrogate in an output",
        '{"id": "p", "prompt": "x", "outputs": {"m": "a\\ud800b"}}',
        "bad.jsonl:2: field 'outputs.m': contains a lone surrogate (\\ud800), which is not Unicode text",
    ),
    (
        "lone surrogate in a model name",
        '{"id": "p", "prompt": "x", "outputs": {"m\\udfff": "y"}}',
        "bad.jsonl:2: field 'outputs': contains a lone surrogate (\\udfff)",
    ),
    (
        "NaN in metadata",
        '{"id": "p", "prompt": "x", "metadata": {"score": NaN}, "outputs": {"m": "y"}}',
        "bad.jsonl:2: malformed JSON (NaN is not valid JSON)",
    ),
    (
        "a model twice in outputs",
        '{"id": "p", "prompt": "x", "outputs": {"m": "first", "n": "z", "m": "second"}}',
        "bad.jsonl:2: field 'outputs': the key 'm' appears twice",
    ),
    (
        "a model twice in outputs, spaced",
        '{"id": "p", "prompt": "x", "outputs": {"m" : "first", "m"  :  "second"}}',
        "bad.jsonl:2: field 'outputs': the key 'm' appears twice",
    ),
    (
        "a key twice, hidden by an escaped colon",
        '{"id": "p", "prompt": "x", "outputs": {"m": "a\\u003a", "m": "b"}}',
        "bad.jsonl:2: field 'outputs': the key 'm' appears twice",
    ),
    (
        "a field twice",
        '{"id": "p", "prompt": "x", "prompt": "z", "outputs": {"m": "y"}}',
        "bad.jsonl:2: the key 'prompt' appears twice",
    ),
]


@pytest.mark.parametrize("case,line,message", HOSTILE_JSONL, ids=[c[0] for c in HOSTILE_JSONL])
def test_it_names_the_line_field_and_limit_of_hostile_json(write_jsonl, case, line, message):
    good = {"id": "ok", "prompt": "fine", "outputs": {"m": "fine", "n": "also"}}
    with pytest.raises(CommandError) as exc:
        run(write_jsonl([good, line], name="bad.jsonl"))
    assert message in str(exc.value)
    assert counts() == (0, 0, 0, 0, 0)


def test_the_depth_limit_is_a_setting(write_jsonl, settings):
    record = {"id": "p", "prompt": "x", "metadata": nested(4), "outputs": {"m": "y"}}
    settings.MAX_JSON_DEPTH = 3
    with pytest.raises(CommandError, match=r"field 'metadata': .* the limit is 3 levels"):
        run(write_jsonl([record]))
    settings.MAX_JSON_DEPTH = 4
    run(write_jsonl([record]))
    assert Prompt.objects.get().metadata == nested(4)


def test_an_output_may_hold_any_unicode_line_separator(write_jsonl):
    text = "first\u2028second\u2029third\x85fourth\x0c"
    # Written as they are (JSON allows them unescaped); str.splitlines() would cut the line.
    record = {"id": "p", "prompt": "x", "outputs": {"m": text, "n": "y"}}
    run(write_jsonl([json.dumps(record, ensure_ascii=False)]))
    assert Response.objects.get(model__name="m").text == text


def test_it_refuses_an_output_longer_than_the_limit(write_jsonl, settings):
    settings.MAX_OUTPUT_CHARS = 1000
    records = [
        {"id": "p1", "prompt": "x", "outputs": {"m": "y" * 1000, "n": "z"}},
        {"id": "p2", "prompt": "x", "outputs": {"m": {"text": "y" * 1001}, "n": "z"}},
    ]
    with pytest.raises(
        CommandError,
        match=r"study.jsonl:2: field 'outputs.m.text': is 1,001 characters long; "
        r"the limit is 1,000 \(MAX_OUTPUT_CHARS\)",
    ):
        run(write_jsonl(records))
    assert counts() == (0, 0, 0, 0, 0)


def test_the_output_limit_covers_prompts_and_csv_cells(tmp_path, write_jsonl, settings):
    settings.MAX_OUTPUT_CHARS = 100
    with pytest.raises(CommandError, match=r"study.jsonl:1: field 'prompt\[0\].content': is 101"):
        run(write_jsonl([{"id": "p", "prompt": [{"role": "user", "content": "q" * 101}], "outputs": {"m": "y"}}]))  # fmt: skip
    path = tmp_path / "s.csv"
    path.write_text(f"id,prompt,model,output\np1,x,m,{'y' * 101}\n", encoding="utf-8")
    with pytest.raises(CommandError, match=r"s.csv:2: field 'outputs.m': is 101 characters"):
        run(path)
    assert counts() == (0, 0, 0, 0, 0)


# --- CSV that would swallow rows -----------------------------------------------------------


def test_it_refuses_a_csv_quote_that_is_never_closed(tmp_path):
    path = tmp_path / "s.csv"
    path.write_text(
        "id,prompt,model,output\n"
        "p1,Say hi,m1,Hello\n"
        'p1,Say hi,m2,"Hi there\n'
        "p2,Count,m1,1 2 3\n"
        "p2,Count,m2,one two three\n",
        encoding="utf-8",
    )
    with pytest.raises(
        CommandError,
        match=r"s.csv:3: field 'output': a quote opened here is never closed, so every row "
        r"after it would be swallowed",
    ):
        run(path)
    assert counts() == (0, 0, 0, 0, 0)


def test_it_refuses_a_csv_quote_closed_rows_later(tmp_path):
    path = tmp_path / "s.csv"
    path.write_text(
        'id,prompt,model,output\np1,"Say hi,m1,Hello\np2,Count,m1,"1 2 3"\np3,x,m1,y\n',
        encoding="utf-8",
    )
    with pytest.raises(CommandError, match=r"s.csv:2: field 'prompt': malformed CSV"):
        run(path)
    assert counts() == (0, 0, 0, 0, 0)


def test_it_refuses_a_csv_column_named_twice(tmp_path):
    path = tmp_path / "s.csv"
    path.write_text("id,prompt,model,output,output\np1,x,m1,first,second\n", encoding="utf-8")
    with pytest.raises(CommandError, match=r"s.csv:1: field 'output': is a column twice"):
        run(path)
    assert counts() == (0, 0, 0, 0, 0)


def test_it_keeps_quoted_cells_that_span_lines(tmp_path):
    path = tmp_path / "s.csv"
    path.write_text(
        'id,prompt,model,output\np1,x,m1,"line one\nline two, with a comma"\np1,x,m2,"a ""quote"""\n'
        "p2,y,m1,z\np2,y,m2,w\n",
        encoding="utf-8",
    )
    run(path)
    assert Response.objects.get(prompt__external_id="p1", model__name="m1").text == (
        "line one\nline two, with a comma"
    )
    assert Response.objects.get(prompt__external_id="p1", model__name="m2").text == 'a "quote"'
    assert Prompt.objects.get(external_id="p2").responses.count() == 2


def test_a_csv_error_names_the_first_line_of_a_multiline_record(tmp_path):
    path = tmp_path / "s.csv"
    path.write_text(
        'id,prompt,model,output\np1,x,m1,"two\nlines"\np2,,m1,z\n',
        encoding="utf-8",
    )
    with pytest.raises(CommandError, match=r"s.csv:4: field 'prompt': is empty"):
        run(path)


# --- the design: limits and the stored pairs-per-prompt -----------------------------------------


def test_it_refuses_more_tasks_than_the_limit_before_writing_anything(write_jsonl, settings):
    settings.MAX_IMPORT_TASKS = 1000
    outputs = {f"m{i:03d}": f"answer {i}" for i in range(100)}
    path = write_jsonl([{"id": "p", "prompt": "x", "outputs": outputs}])
    with pytest.raises(
        CommandError,
        match=r"this import would create 4,950 tasks, more than the limit of 1,000 "
        r"\(MAX_IMPORT_TASKS\)",
    ):
        run(path)
    assert counts() == (0, 0, 0, 0, 0)
    run(path, "--pairs-per-prompt", "3")
    assert Task.objects.count() == 3


def test_it_samples_a_prompt_with_thousands_of_outputs_in_bounded_memory(write_jsonl):
    # 2,000 outputs have 1,999,000 pairs; listing them all took hundreds of MB.
    outputs = {f"model-{i:04d}": f"answer {i}" for i in range(2000)}
    path = write_jsonl([{"id": "p", "prompt": "x", "outputs": outputs}])
    tracemalloc.start()
    try:
        run(path, "--pairs-per-prompt", "2")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 40e6, f"{peak / 1e6:.0f} MB"
    pairs = {(t.response_a_id, t.response_b_id) for t in Task.objects.all()}
    assert len(pairs) == 2 and all(a < b for a, b in pairs)
    before = counts()
    run(path)  # the stored design holds: no flag, still 2 pairs per prompt
    assert counts() == before


def test_a_later_import_keeps_the_stored_design(write_jsonl):
    models = [f"m{i}" for i in range(5)]

    def prompts(start, stop):
        return [
            {"id": f"p{i}", "prompt": f"q{i}", "outputs": {m: f"{m} on {i}" for m in models}}
            for i in range(start, stop)
        ]

    run(write_jsonl(prompts(0, 10)), "--pairs-per-prompt", "2")
    assert Study.objects.get().pairs_per_prompt == 2
    run(write_jsonl(prompts(10, 20)))  # no flag
    per_prompt = Counter(Task.objects.values_list("prompt__external_id", flat=True))
    assert len(per_prompt) == 20 and set(per_prompt.values()) == {2}
    with pytest.raises(CommandError, match=r"already exists with pairs_per_prompt=2, not 3"):
        run(write_jsonl(prompts(20, 21)), "--pairs-per-prompt", "3")
