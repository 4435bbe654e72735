"""annotation.counting: which judgments count, one rule for every reader."""

import pytest
from django.db import connection

from annotation import counting, exports, handout
from annotation.handout import Vote
from annotation.models import Judgment, Study, Task
from tests.conftest import better_side, join, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def judged(pair_study):
    """A human and a model judge each answer two regular tasks; the human also a gold one."""
    human = make_user("hana", "grader")
    judge = make_user("robo", "grader")
    judge.kind = "model_judge"
    judge.save()
    join(pair_study, human, judge)
    for user in (human, judge):
        for _ in range(2):
            a = handout.next_assignment(user, pair_study)
            handout.record_vote(a.pk, user, Vote(verdict=better_side(a), ratings={"left": "good"}))
    task = Task.objects.filter(study=pair_study).exclude(judgments__grader=human).first()
    gold = Task.objects.create(
        study=pair_study,
        kind="pair",
        prompt=task.prompt,
        response_a=task.response_a,
        response_b=task.response_b,
        is_gold=True,
        gold_answer="a",
    )
    Judgment.objects.create(task=gold, grader=human, verdict="a")
    return pair_study


def kinds(queryset):
    return sorted(queryset.values_list("grader__username", flat=True))


def test_results_count_human_graders_on_regular_tasks_only(judged):
    assert kinds(counting.counted_judgments(judged)) == ["hana", "hana"]
    assert kinds(counting.MODEL_JUDGES.judgments(judged)) == ["robo", "robo"]
    assert kinds(counting.EVERY_GRADER.judgments(judged)) == ["hana", "hana", "robo", "robo"]
    assert counting.COUNTED.includes("human") and not counting.COUNTED.includes("model_judge")


@pytest.mark.parametrize(
    "selection", [counting.COUNTED, counting.MODEL_JUDGES, counting.EVERY_GRADER]
)
def test_the_sql_condition_selects_what_the_queryset_selects(judged, selection):
    condition, params = selection.sql_condition(judgment="j", task="t")
    sql = (
        f"SELECT j.id FROM {Judgment._meta.db_table} j JOIN {Task._meta.db_table} t "
        f"ON t.id = j.task_id WHERE t.study_id = %s AND {condition} ORDER BY j.id"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [judged.pk, *params])
        ids = [row[0] for row in cursor.fetchall()]
    assert ids == sorted(selection.judgments(judged).values_list("pk", flat=True))


def test_every_export_asks_the_same_rule(judged):
    rows = list(exports.judgment_records(judged))
    assert sorted((r["grader"], r["grader_kind"]) for r in rows) == [
        ("hana", "human"),
        ("hana", "human"),
        ("robo", "model_judge"),
        ("robo", "model_judge"),
    ]
    assert {r["judge"] for r in exports.arena_records(judged)} == {"hana"}
    counted = list(exports.judgment_rows(judged, selection=counting.COUNTED))
    assert {row[11] for _, chunk in counted for row in chunk} == {"hana"}


def test_a_study_without_judgments_selects_nothing(db):
    empty = Study.objects.create(slug="empty", name="Empty")
    assert not counting.counted_judgments(empty).exists()
