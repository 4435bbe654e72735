"""manage.py import_judgments: arena logs and generic JSONL, all or nothing, idempotent."""

import io
import json
import re

import pytest
from django.core.management import CommandError, call_command

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
