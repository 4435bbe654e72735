"""The database itself refuses rows that break the data model's invariants."""

import pytest
from django.db import IntegrityError, transaction

from annotation.models import (
    Assignment,
    Judgment,
    LanguageModel,
    MetricScore,
    Prompt,
    Response,
    Study,
    Task,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(study):
    m1 = LanguageModel.objects.create(study=study, name="m1")
    m2 = LanguageModel.objects.create(study=study, name="m2")
    p1 = Prompt.objects.create(study=study, external_id="p1", text="first")
    p2 = Prompt.objects.create(study=study, external_id="p2", text="second")
    r11 = Response.objects.create(prompt=p1, model=m1, text="a")
    r12 = Response.objects.create(prompt=p1, model=m2, text="b")
    r21 = Response.objects.create(prompt=p2, model=m1, text="c")
    return {"m1": m1, "m2": m2, "p1": p1, "p2": p2, "r11": r11, "r12": r12, "r21": r21}


def refused(create):
    with pytest.raises(IntegrityError), transaction.atomic():
        create()


def test_it_allows_a_proper_pair(study, world):
    task = Task.objects.create(
        study=study,
        kind="pair",
        prompt=world["p1"],
        response_a=world["r11"],
        response_b=world["r12"],
    )
    assert Task.objects.filter(pk=task.pk).exists()


def test_it_refuses_a_pair_of_a_response_with_itself(study, world):
    refused(
        lambda: Task.objects.create(
            study=study,
            kind="pair",
            prompt=world["p1"],
            response_a=world["r11"],
            response_b=world["r11"],
        )
    )


def test_it_refuses_a_pair_across_prompts(study, world):
    refused(
        lambda: Task.objects.create(
            study=study,
            kind="pair",
            prompt=world["p1"],
            response_a=world["r11"],
            response_b=world["r21"],
        )
    )


def test_it_refuses_a_task_whose_prompt_is_not_its_responses_prompt(study, world):
    refused(
        lambda: Task.objects.create(
            study=study, kind="single", prompt=world["p2"], response_a=world["r11"]
        )
    )


def test_it_refuses_moving_a_task_to_another_prompt(study, world):
    task = Task.objects.create(
        study=study, kind="single", prompt=world["p1"], response_a=world["r11"]
    )
    refused(lambda: Task.objects.filter(pk=task.pk).update(prompt=world["p2"]))


def test_it_refuses_a_pair_without_a_second_response(study, world):
    refused(
        lambda: Task.objects.create(
            study=study, kind="pair", prompt=world["p1"], response_a=world["r11"]
        )
    )


def test_it_refuses_the_same_pair_twice(study, world):
    kwargs = dict(
        study=study,
        kind="pair",
        prompt=world["p1"],
        response_a=world["r11"],
        response_b=world["r12"],
    )
    Task.objects.create(**kwargs)
    refused(lambda: Task.objects.create(**kwargs))


def test_it_refuses_two_responses_of_one_model_to_one_prompt(world):
    refused(lambda: Response.objects.create(prompt=world["p1"], model=world["m1"], text="again"))


def test_it_refuses_two_judgments_by_one_grader_on_one_task(study, world, grader):
    task = Task.objects.create(
        study=study, kind="single", prompt=world["p1"], response_a=world["r11"]
    )
    Judgment.objects.create(task=task, grader=grader)
    refused(lambda: Judgment.objects.create(task=task, grader=grader))


def test_it_refuses_an_unknown_verdict(study, world, grader):
    task = Task.objects.create(
        study=study,
        kind="pair",
        prompt=world["p1"],
        response_a=world["r11"],
        response_b=world["r12"],
    )
    refused(lambda: Judgment.objects.create(task=task, grader=grader, verdict="left"))


def test_it_refuses_two_assignments_of_one_task_to_one_grader(study, world, grader):
    task = Task.objects.create(
        study=study, kind="single", prompt=world["p1"], response_a=world["r11"]
    )
    Assignment.objects.create(task=task, grader=grader)
    refused(lambda: Assignment.objects.create(task=task, grader=grader))


def test_it_refuses_two_scores_of_one_metric_for_one_response(world):
    MetricScore.objects.create(response=world["r11"], metric="bleu", value=1.0)
    refused(lambda: MetricScore.objects.create(response=world["r11"], metric="bleu", value=2.0))


def test_it_refuses_duplicate_prompt_ids_in_a_study(study, world):
    refused(lambda: Prompt.objects.create(study=study, external_id="p1", text="x"))


def test_it_refuses_a_zero_overlap(db):
    refused(lambda: Study.objects.create(slug="z", name="z", overlap=0))
