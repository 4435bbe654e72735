"""manage.py import_judgments: arena logs and generic JSONL, all or nothing, idempotent."""

import io
import json
import re

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from annotation.models import Judgment, Prompt, Rating, Response, Task, User

pytestmark = pytest.mark.django_db


def run(path, fmt, *args, slug="pairs"):
    out = io.StringIO()
    call_command("import_judgments", str(path), "--study", slug, "--format", fmt, *args, stdout=out)
    return out.getvalue()


def counts():
    return (
        Judgment.objects.count(),
        Rating.objects.count(),
        Prompt.objects.count(),
        Response.objects.count(),
    )


def test_it_imports_arena_battles_onto_existing_prompts(pair_study, write_jsonl):
    path = write_jsonl(
        [
            {
                "question_id": "q0",
                "model_a": "alpha-model",
                "model_b": "beta-model",
                "winner": "model_b",
                "judge": "j1",
                "tstamp": 1700000000,
            },
            {
                "question_id": "q0",
                "model_a": "gamma-model",
                "model_b": "alpha-model",
                "winner": "tie (bothbad)",
                "judge": "j1",
            },
            {
                "question_id": "q1",
                "model_a": "beta-model",
                "model_b": "gamma-model",
                "winner": "tie",
                "judge": "j2",
            },
        ],
        name="arena.jsonl",
    )
    run(path, "arena", "--model-judge")
    first = Judgment.objects.get(
        task__prompt__external_id="q0",
        task__response_b__isnull=False,
        grader__username="j1",
        verdict__in=["a", "b"],
    )
    winner = first.task.response_a if first.verdict == "a" else first.task.response_b
    assert winner.model.name == "beta-model"
    assert first.source == "imported" and first.created_at.timestamp() == 1700000000
    assert set(Judgment.objects.values_list("verdict", flat=True)) == {
        "a",
        "b",
        "both_bad",
        "tie",
    } - {"a" if first.verdict == "b" else "b"}
    judge = User.objects.get(username="j1")
    assert judge.kind == "model_judge" and not judge.has_usable_password()
    assert Task.objects.get(pk=first.task_id).slots_taken == 0  # model judges take no human slot
    before = counts()
    run(path, "arena", "--model-judge")
    assert counts() == before


def test_it_creates_prompts_and_responses_from_conversations(db, write_jsonl):
    from annotation.models import Study

    Study.objects.create(slug="arena", name="Arena")

    def conv(answer):
        return [
            {"role": "user", "content": "Hi there"},
            {"role": "assistant", "content": answer},
        ]

    path = write_jsonl(
        [
            {
                "model_a": "m1",
                "model_b": "m2",
                "winner": "model_a",
                "judge": "u1",
                "language": "English",
                "conversation_a": conv("Hello!"),
                "conversation_b": conv("Yo"),
            },
            {
                "model_a": "m2",
                "model_b": "m1",
                "winner": "model_b",
                "judge": "u2",
                "conversation_a": conv("Yo"),
                "conversation_b": conv("Hello!"),
            },
        ],
        name="arena.jsonl",
    )
    run(path, "arena", slug="arena")
    prompt = Prompt.objects.get()
    assert prompt.text == "Hi there" and prompt.metadata == {"language": "English"}
    assert sorted(Response.objects.values_list("model__name", "text")) == [
        ("m1", "Hello!"),
        ("m2", "Yo"),
    ]
    # Both judges preferred m1, whatever side it was on.
    for judgment in Judgment.objects.all():
        winner = judgment.task.response_a if judgment.verdict == "a" else judgment.task.response_b
        assert winner.model.name == "m1"


def test_it_imports_generic_jsonl_with_ratings(pair_study, write_jsonl):
    path = write_jsonl(
        [
            {
                "prompt_id": "q2",
                "model_a": "alpha-model",
                "model_b": "gamma-model",
                "grader": "g1",
                "verdict": "model_a",
                "rating_a": "good",
                "rating_b": "poor",
                "tags_b": ["untrue"],
                "seconds": 30,
            },
            {"prompt_id": "q3", "model": "beta-model", "grader": "g1", "rating": "acceptable"},
        ],
        name="judgments.jsonl",
    )
    run(path, "jsonl")
    pair = Judgment.objects.get(task__kind="pair")
    assert pair.seconds == 30 and pair.grader.kind == "human"
    assert Task.objects.get(pk=pair.task_id).slots_taken == 1  # a human's vote fills a slot
    ratings = {r.response.model.name: (r.label, r.tags) for r in pair.ratings.all()}
    assert ratings == {"alpha-model": ("good", []), "gamma-model": ("poor", ["untrue"])}
    single = Judgment.objects.get(task__kind="single")
    assert single.verdict == "" and single.ratings.get().label == "acceptable"


BAD = [
    (
        "arena",
        {"question_id": "q0", "model_a": "alpha-model", "model_b": "beta-model", "winner": "left"},
        "field 'winner': must be one of",
    ),
    (
        "arena",
        {"question_id": "q0", "model_a": "alpha-model", "model_b": "alpha-model", "winner": "tie"},
        "battles itself",
    ),
    (
        "arena",
        {"question_id": "q0", "model_b": "beta-model", "winner": "tie"},
        "field 'model_a': is missing",
    ),
    (
        "arena",
        {"question_id": "nope", "model_a": "alpha-model", "model_b": "beta-model", "winner": "tie"},
        "prompt 'nope' is not in study",
    ),
    (
        "arena",
        {"question_id": "q0", "model_a": "alpha-model", "model_b": "delta-model", "winner": "tie"},
        "no response of 'delta-model'",
    ),
    (
        "arena",
        {
            "question_id": "q0",
            "model_a": "alpha-model",
            "model_b": "beta-model",
            "winner": "tie",
            "tstamp": "yesterday",
        },
        "field 'tstamp'",
    ),
    (
        "jsonl",
        {
            "prompt_id": "q0",
            "model_a": "alpha-model",
            "model_b": "beta-model",
            "grader": "g",
            "verdict": "model_a",
            "rating_a": "superb",
        },
        "'superb' is not on the study's rating scale",
    ),
    (
        "jsonl",
        {
            "prompt_id": "q0",
            "model_a": "alpha-model",
            "model_b": "beta-model",
            "grader": "g",
            "verdict": "model_a",
            "tags_a": ["rude"],
        },
        "unknown tags ['rude']",
    ),
    (
        "jsonl",
        {
            "prompt_id": "q0",
            "model_a": "alpha-model",
            "model_b": "beta-model",
            "verdict": "model_a",
        },
        "field 'grader': is missing",
    ),
    ("jsonl", "{not json", "malformed JSON"),
    (
        "arena",
        '{"question_id": "q0", "model_a": "alpha-model", "model_b": "beta-model", '
        '"winner": "tie", "winner": "model_a"}',
        "the key 'winner' appears twice",
    ),
    (
        "arena",
        '{"question_id": "q0", "model_a": "alpha-model", "model_b": "beta-model", '
        '"winner": "tie", "judge": "a:b", "judge": "c"}',
        "the key 'judge' appears twice",
    ),
]


@pytest.mark.parametrize("fmt,line,message", BAD)
def test_it_rejects_bad_records_and_writes_nothing(pair_study, write_jsonl, fmt, line, message):
    good = (
        {
            "question_id": "q1",
            "model_a": "alpha-model",
            "model_b": "beta-model",
            "winner": "tie",
            "judge": "ok",
        }
        if fmt == "arena"
        else {
            "prompt_id": "q1",
            "model_a": "alpha-model",
            "model_b": "beta-model",
            "grader": "ok",
            "verdict": "tie",
        }
    )
    before = counts()
    with pytest.raises(CommandError, match=re.escape(message)) as exc:
        run(write_jsonl([good, line], name="bad.jsonl"), fmt)
    assert "bad.jsonl:2:" in str(exc.value)
    assert counts() == before and not User.objects.filter(username="ok").exists()


def test_it_refuses_a_conflicting_verdict(pair_study, write_jsonl):
    record = {
        "question_id": "q0",
        "model_a": "alpha-model",
        "model_b": "beta-model",
        "winner": "model_a",
        "judge": "j",
    }
    run(write_jsonl([record], name="a.jsonl"), "arena")
    with pytest.raises(CommandError, match="already has a different verdict"):
        run(write_jsonl([{**record, "winner": "model_b"}], name="a.jsonl"), "arena")


def test_it_reads_a_json_list(pair_study, tmp_path):
    path = tmp_path / "battles.json"
    path.write_text(
        json.dumps(
            [
                {
                    "question_id": "q0",
                    "model_a": "alpha-model",
                    "model_b": "beta-model",
                    "winner": "tie",
                }
            ]
        )
    )
    run(path, "arena")
    assert Judgment.objects.get().grader.username == "imported"


# --- bulk writes, and the grading queue left alone ---------------------------------------------


def battles(n: int, judge_prefix: str = "u") -> list[dict]:
    models = ("alpha-model", "beta-model", "gamma-model")
    return [
        {
            "question_id": f"q{i % 4}",
            "model_a": models[i % 3],
            "model_b": models[(i + 1) % 3],
            "winner": ("model_a", "model_b", "tie", "tie (bothbad)")[i % 4],
            "judge": f"{judge_prefix}{i}",
        }
        for i in range(n)
    ]


def test_it_writes_in_a_constant_number_of_statements(pair_study, write_jsonl):
    with CaptureQueriesContext(connection) as few:
        run(write_jsonl(battles(5), name="few.jsonl"), "arena")
    with CaptureQueriesContext(connection) as many:
        run(write_jsonl(battles(300, "v"), name="many.jsonl"), "arena")
    assert Judgment.objects.count() == 305 and Rating.objects.count() == 610
    # A few statements per table, whatever the number of battles (once: about 5 each).
    assert len(few.captured_queries) <= 40 and len(many.captured_queries) <= 40


def test_a_model_judge_never_adds_to_the_queue(db, write_jsonl):
    from annotation.ingest.study_files import StudyOptions, import_study

    models = ("alpha-model", "beta-model", "gamma-model")
    records = [
        {"id": f"q{i}", "prompt": f"Q{i}?", "outputs": {m: f"{m} says {i}" for m in models}}
        for i in range(4)
    ]
    study = import_study(write_jsonl(records), "sampled", StudyOptions(pairs_per_prompt=1)).study
    queued = set(Task.objects.filter(in_queue=True).values_list("pk", flat=True))
    assert len(queued) == 4
    run(write_jsonl(battles(12), name="judge.jsonl"), "arena", "--model-judge", slug="sampled")
    assert study.queue_size() == 4
    assert set(Task.objects.filter(in_queue=True).values_list("pk", flat=True)) == queued
    judged = Task.objects.filter(judgments__isnull=False).distinct()
    assert judged.count() == 12 and judged.filter(in_queue=False).count() == 8
    assert not Task.objects.filter(slots_taken__gt=0).exists()  # judges take no slot


def test_a_human_vote_fills_a_queued_slot_and_stays_out_of_the_queue_otherwise(db, write_jsonl):
    from annotation.ingest.study_files import StudyOptions, import_study

    models = ("alpha-model", "beta-model", "gamma-model")
    records = [{"id": "q0", "prompt": "Q?", "outputs": {m: f"{m} says" for m in models}}]
    import_study(write_jsonl(records), "sampled", StudyOptions(pairs_per_prompt=1))
    queued = Task.objects.get(in_queue=True)
    pair = [queued.response_a.model.name, queued.response_b.model.name]
    other = [m for m in models if m not in pair] + [pair[0]]
    votes = [
        {"prompt_id": "q0", "model_a": pair[0], "model_b": pair[1], "grader": "h1", "verdict": "tie"},
        {"prompt_id": "q0", "model_a": other[0], "model_b": other[1], "grader": "h1", "verdict": "model_b"},
    ]  # fmt: skip
    run(write_jsonl(votes, name="human.jsonl"), "jsonl", slug="sampled")
    queued.refresh_from_db()
    assert queued.slots_taken == 1
    outside = Task.objects.get(in_queue=False)
    assert outside.slots_taken == 1 and outside.judgments.get().grader.kind == "human"


def test_the_design_takes_a_judged_pair_into_the_queue_instead_of_doubling_it(db, write_jsonl):
    from annotation.ingest.study_files import import_study

    import_study(
        write_jsonl([{"id": "q0", "prompt": "Hi there", "outputs": {"a": "A", "b": "B"}}]),
        "grow",
    )
    conversation = [{"role": "user", "content": "Hi there"}]
    run(
        write_jsonl(
            [
                {
                    "question_id": "q0",
                    "model_a": "a",
                    "model_b": "c",
                    "winner": "tie (inconsistent)",
                    "judge": "gpt-judge",
                    "conversation_a": [*conversation, {"role": "assistant", "content": "A"}],
                    "conversation_b": [*conversation, {"role": "assistant", "content": "C"}],
                }
            ],
            name="judge.jsonl",
        ),
        "arena",
        "--model-judge",
        slug="grow",
    )
    judged = Task.objects.get(in_queue=False)
    assert judged.judgments.get().verdict == "tie"
    import_study(
        write_jsonl(
            [{"id": "q0", "prompt": "Hi there", "outputs": {"a": "A", "b": "B", "c": "C"}}],
            name="more.jsonl",
        ),
        "grow",
    )
    assert Task.objects.count() == 3 and Task.objects.filter(in_queue=True).count() == 3
    judged.refresh_from_db()
    assert judged.in_queue and judged.judgments.count() == 1


def indexes(table: str) -> list[tuple[str, str]]:
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


def test_a_large_import_leaves_the_indexes_as_they_were(pair_study, write_jsonl, monkeypatch):
    # Every import counts as large here: on SQLite the non-unique indexes of the tasks,
    # judgments and ratings are dropped for the inserts and built again.
    monkeypatch.setattr("annotation.ingest.writing.MIN_ROWS_TO_REBUILD_INDEXES", 1)
    tables = [model._meta.db_table for model in (Task, Judgment, Rating)]
    before = {table: indexes(table) for table in tables}
    assert all(before.values())
    run(write_jsonl(battles(300), name="many.jsonl"), "arena")
    assert {table: indexes(table) for table in tables} == before
    assert Judgment.objects.count() == 300 and Rating.objects.count() == 600
    assert Judgment.objects.filter(grader__username="u7").get().ratings.count() == 2
    assert Rating.objects.filter(response__model__name="alpha-model").count() == 200


def test_an_error_while_the_indexes_are_down_restores_them(pair_study):
    from django.db import transaction

    from annotation.ingest.writing import indexes_built_after

    table = Judgment._meta.db_table
    before = indexes(table)
    with transaction.atomic():
        with (
            pytest.raises(RuntimeError, match="failed write"),
            indexes_built_after(Judgment, 1_000_000),
        ):
            if connection.vendor == "sqlite":  # only the unique ones are left meanwhile
                assert [name for name, _ in indexes(table)] == [
                    name for name, sql in before if sql is None or "UNIQUE" in sql
                ]
            raise RuntimeError("a failed write")
        # Caught inside the caller's transaction: the indexes are back all the same.
        assert indexes(table) == before


# --- JSON lines parsed by blocks (reading.jsonl_objects) ---------------------------------------


@pytest.fixture
def small_blocks(monkeypatch):
    """Blocks of about 300 characters: a few battles each, so a short file has many."""
    from annotation.ingest import reading

    monkeypatch.setattr(reading, "JSONL_BLOCK_CHARS", 300)


def test_battles_read_by_blocks_import_like_one_by_one(
    pair_study, write_jsonl, small_blocks, monkeypatch
):
    from annotation.ingest import reading

    records = battles(40)
    records.insert(17, "")  # a blank line: its block goes line by line
    path = write_jsonl(records, name="blocks.jsonl")
    assert "40 judgments (0 already there)" in run(path, "arena")
    assert Judgment.objects.count() == 40 and Rating.objects.count() == 80
    # Read line by line (one block, with its blank line), the file says the same: every
    # battle already there with the same verdict, none new.
    monkeypatch.setattr(reading, "JSONL_BLOCK_CHARS", 1 << 20)
    assert "0 judgments (40 already there)" in run(path, "arena")
    assert Judgment.objects.count() == 40


@pytest.mark.parametrize(
    "bad,message",
    [
        (
            '{"question_id": "q0", "model_a": "alpha-model", "model_b": "beta-model", '
            '"winner": "tie", "judge": "x", "judge": "y"}',
            "the key 'judge' appears twice",
        ),
        (
            '{"question_id": "q0", "model_a": "alpha-model", "model_b": "beta-model", '
            '"winner": "maybe", "judge": "x"}',
            "field 'winner'",
        ),
        (
            '{"question_id": "q0", "model_a": "alpha-model", "model_b": "beta-model", '
            '"winner": "tie", "judge": "x", "tstamp": 40000000000}',
            "field 'tstamp': must be a unix time",
        ),
        ('{"question_id": "q0", "model_a": "alpha-model",', "malformed JSON"),
    ],
)
def test_a_bad_line_deep_in_a_block_is_named_by_its_line(
    pair_study, write_jsonl, small_blocks, bad, message
):
    records = battles(30)
    records[22] = bad
    before = counts()
    with pytest.raises(CommandError, match=re.escape(message)) as exc:
        run(write_jsonl(records, name="bad.jsonl"), "arena")
    assert "bad.jsonl:23:" in str(exc.value)
    assert counts() == before and not User.objects.filter(username="u0").exists()
