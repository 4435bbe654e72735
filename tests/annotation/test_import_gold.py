"""manage.py import_gold: known-answer tasks, checked line by line, all or nothing."""

import io

import pytest
from django.core.management import CommandError, call_command

from annotation.models import Response, Task

pytestmark = pytest.mark.django_db


def run(path, slug="pairs"):
    call_command("import_gold", str(path), "--study", slug, stdout=io.StringIO())


def test_it_adds_pair_and_single_gold_tasks(pair_study, write_jsonl):
    path = write_jsonl(
        [
            {"prompt_id": "q0", "models": ["beta-model", "alpha-model"], "answer": "beta-model"},
            {"prompt_id": "q1", "models": ["alpha-model", "gamma-model"], "answer": "tie"},
            {"prompt_id": "q2", "model": "gamma-model", "answer": "poor"},
        ],
        name="gold.jsonl",
    )
    run(path)
    pair = Task.objects.get(is_gold=True, prompt__external_id="q0")
    winner = pair.response_a if pair.gold_answer == "a" else pair.response_b
    assert winner == Response.objects.get(prompt__external_id="q0", model__name="beta-model")
    assert Task.objects.get(is_gold=True, prompt__external_id="q1").gold_answer == "tie"
    single = Task.objects.get(is_gold=True, prompt__external_id="q2")
    assert (single.kind, single.gold_answer, single.response_b) == ("single", "poor", None)
    run(path)  # idempotent
    assert Task.objects.filter(is_gold=True).count() == 3


@pytest.mark.parametrize(
    "line,message",
    [
        (
            {"prompt_id": "q0", "models": ["alpha-model"], "answer": "tie"},
            "field 'models': must be a list of two",
        ),
        (
            {"prompt_id": "q0", "models": ["alpha-model", "nope"], "answer": "tie"},
            "no response of 'nope'",
        ),
        (
            {"prompt_id": "q0", "models": ["alpha-model", "beta-model"], "answer": "left"},
            "field 'answer': must be one of",
        ),
        (
            {"prompt_id": "q0", "model": "alpha-model", "answer": "superb"},
            "'superb' is not on the rating scale",
        ),
        (
            {"models": ["alpha-model", "beta-model"], "answer": "tie"},
            "field 'prompt_id': is missing",
        ),
        ("{broken", "gold.jsonl:2: malformed JSON"),
    ],
)
def test_it_rejects_bad_lines_and_writes_nothing(pair_study, write_jsonl, line, message):
    good = {"prompt_id": "q3", "models": ["alpha-model", "beta-model"], "answer": "both_bad"}
    with pytest.raises(CommandError, match=message):
        run(write_jsonl([good, line], name="gold.jsonl"))
    assert not Task.objects.filter(is_gold=True).exists()


def test_it_refuses_a_changed_answer(pair_study, write_jsonl):
    run(
        write_jsonl(
            [{"prompt_id": "q0", "models": ["alpha-model", "beta-model"], "answer": "tie"}],
            name="gold.jsonl",
        )
    )
    with pytest.raises(CommandError, match="already stored with answer 'tie'"):
        run(
            write_jsonl(
                [
                    {
                        "prompt_id": "q0",
                        "models": ["alpha-model", "beta-model"],
                        "answer": "both_bad",
                    }
                ],
                name="gold.jsonl",
            )
        )
