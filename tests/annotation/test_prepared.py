"""Queries compiled once per connection give what the ORM gives, with each run's values."""

from datetime import timedelta

import pytest
from django.db import connection, models
from django.db.models import Count, F, OuterRef, Subquery
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from annotation import handout, prepared
from annotation.models import Assignment, Judgment, Rating, Task
from annotation.prepared import PreparedSelect, PreparedUpdate
from tests.conftest import join, make_user

pytestmark = pytest.mark.django_db


def held_with_counts(*, grader_id, since):
    """A select_related query with an annotation, a subquery and a date-time parameter."""
    others = Assignment.objects.filter(task=OuterRef("task")).exclude(grader_id=grader_id)
    return (
        Assignment.objects.select_related("task__prompt", "task__response_a", "task__response_b")
        .filter(grader_id=grader_id, assigned_at__gte=since)
        .annotate(
            slots=F("task__slots_taken"),
            others=Subquery(others.values("task").annotate(n=Count("pk")).values("n")[:1]),
        )
        .order_by("pk")
    )


HELD = PreparedSelect(
    held_with_counts, grader_id=models.IntegerField(), since=models.DateTimeField()
)


def fields(obj, names):
    return tuple(getattr(obj, name) for name in names)


def test_it_returns_what_evaluating_the_queryset_returns_for_each_runs_values(pair_study):
    anna, ben = make_user("anna", "grader"), make_user("ben", "grader")
    join(pair_study, anna, ben)
    for user, n in ((anna, 3), (ben, 2)):
        for _ in range(n):
            handout.next_assignment(user, pair_study, holding=False)
    long_ago = timezone.now() - timedelta(days=1)
    for user in (anna, ben, anna):
        got = HELD(grader_id=user.pk, since=long_ago)
        want = list(held_with_counts(grader_id=user.pk, since=long_ago))
        names = (
            "pk",
            "task_id",
            "grader_id",
            "status",
            "a_on_left",
            "expires_at",
            "slots",
            "others",
        )
        assert [fields(a, names) for a in got] == [fields(a, names) for a in want]
        assert len(got) == (3 if user == anna else 2)
        for a in got:  # the related objects came with the row, as select_related loads them
            with CaptureQueriesContext(connection) as extra:
                assert a.task.prompt.text and a.task.response_a.text and a.task.response_b.text
            assert len(extra) == 0
    assert HELD(grader_id=anna.pk, since=timezone.now() + timedelta(days=1)) == []


def test_it_builds_and_compiles_once_and_runs_again_with_new_values(pair_study):
    user = make_user("cleo", "grader")
    join(pair_study, user)
    handout.next_assignment(user, pair_study, holding=False)
    built = []

    def build(*, grader_id):
        built.append(grader_id)
        return Assignment.objects.filter(grader_id=grader_id)

    statement = PreparedSelect(build, grader_id=models.IntegerField())
    with CaptureQueriesContext(connection) as runs:
        assert len(statement(grader_id=user.pk)) == 1
        assert statement(grader_id=user.pk + 1000) == []
        assert len(statement(grader_id=user.pk)) == 1
    assert len(built) == 1 and built[0] not in (user.pk, user.pk + 1000)  # a marker value
    assert len(runs) == 3


def test_a_value_that_would_change_the_sql_is_refused_when_first_compiled(pair_study):
    # Django writes a slice's bounds into the SQL text, not as parameters.
    statement = PreparedSelect(
        lambda *, limit: Task.objects.all()[:limit], limit=models.IntegerField()
    )
    with pytest.raises(ValueError, match="limit did not reach the SQL"):
        statement(limit=3)


def test_an_update_changes_the_rows_the_queryset_would_and_says_how_many(pair_study):
    bump = PreparedUpdate(
        lambda *, study_id, below: (
            Task.objects.filter(study_id=study_id, slots_taken__lt=below),
            {"slots_taken": F("slots_taken") + 1},
        ),
        study_id=models.IntegerField(),
        below=models.IntegerField(),
    )
    first = Task.objects.filter(study=pair_study).order_by("pk").first()
    Task.objects.filter(pk=first.pk).update(slots_taken=1)
    assert bump(study_id=pair_study.pk, below=1) == 11
    assert bump(study_id=pair_study.pk, below=1) == 0
    assert bump(study_id=pair_study.pk, below=2) == 12
    assert set(Task.objects.filter(study=pair_study).values_list("slots_taken", flat=True)) == {2}


def test_insert_writes_what_create_writes(pair_study):
    user = make_user("dora", "grader")
    join(pair_study, user)
    a = handout.next_assignment(user, pair_study, holding=False)
    fast = Judgment(task=a.task, grader=user, assignment=a, verdict="tie", seconds=2.5)
    prepared.insert([fast])
    ratings = [
        Rating(judgment=fast, response=a.task.response_a, label="good", tags=["untrue"]),
        Rating(judgment=fast, response=a.task.response_b, label="", tags=[]),
    ]
    prepared.insert(ratings)
    assert fast.pk and all(r.pk for r in ratings) and not fast._state.adding
    stored = Judgment.objects.get(pk=fast.pk)
    names = ("task_id", "grader_id", "assignment_id", "verdict", "comment", "seconds", "source")
    assert fields(stored, names) == (a.task_id, user.pk, a.pk, "tie", "", 2.5, "grader")
    assert stored.created_at and stored.updated_at
    assert sorted(stored.ratings.values_list("label", "tags")) == [("", []), ("good", ["untrue"])]
