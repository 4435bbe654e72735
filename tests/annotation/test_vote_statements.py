"""A vote and a serve of the next task cost the same few SQL statements however long the
grader has worked and however big the study is (issue 14).

The statements are counted with django's CaptureQueriesContext around the real requests
(session, login, access check, vote, hand-out of the next task, progress), on a study of 40
tasks with 10 judgments of the grader and on one with ten times the tasks and 300 judgments.
The tests run outside a test transaction, so every `atomic` block is a real transaction as
in production: SQLite's BEGIN IMMEDIATE is a statement the capture sees; PostgreSQL's
implicit BEGIN and every COMMIT are not.
"""

from __future__ import annotations

import random

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from annotation import handout
from annotation.ingest.study_files import StudyOptions, import_study
from annotation.models import Assignment, Judgment, Rating, Task
from tests.conftest import join, make_user

HTMX = {"HTTP_HX_REQUEST": "true"}
MAX_STATEMENTS = 10


def build(write_jsonl, *, tasks: int, history: int, slug: str):
    """A pairwise study of `tasks` tasks (overlap 3, ratings and tags) whose grader "hana"
    already answered `history` of them, beside another grader who answered as many."""
    records = [
        {"id": f"p{i}", "prompt": f"Prompt {i}?", "outputs": {"m1": f"one {i}", "m2": f"two {i}"}}
        for i in range(tasks)
    ]
    study = import_study(
        write_jsonl(records, name=f"{slug}.jsonl"),
        slug,
        StudyOptions(overlap=3, require_ratings=True),
    ).study
    grader, other = make_user(f"hana-{slug}", "grader"), make_user(f"otto-{slug}", "grader")
    join(study, grader, other)
    rng = random.Random(history)
    now = timezone.now()
    done = list(Task.objects.filter(study=study).order_by("order_key")[:history])
    for user in (grader, other):
        assignments = Assignment.objects.bulk_create(
            [
                Assignment(task=t, grader=user, status="done", assigned_at=now, expires_at=now)
                for t in done
            ]
        )
        judgments = Judgment.objects.bulk_create(
            [
                Judgment(
                    task=a.task,
                    grader=user,
                    assignment=a,
                    verdict=rng.choice(["a", "b", "tie", "both_bad"]),
                    seconds=rng.uniform(3, 90),
                )
                for a in assignments
            ]
        )
        Rating.objects.bulk_create(
            [
                Rating(judgment=j, response_id=r, label=rng.choice(["poor", "good"]))
                for j in judgments
                for r in (j.task.response_a_id, j.task.response_b_id)
            ]
        )
        handout.refresh_quality(study, user)
    Task.objects.filter(pk__in=[t.pk for t in done]).update(slots_taken=2)
    return study, grader


def count_statements(client, study, grader) -> dict[str, int]:
    """Statements of: a vote (POST, which also serves the next task) and a serve of a new
    task (GET with nothing held), each after one of its kind has warmed the path up."""
    client.force_login(grader)
    grade = reverse("grade", args=[study.slug])
    vote = {
        "verdict": "left",
        "rating_left": "good",
        "rating_right": "poor",
        "tags_right": "untrue",
    }

    def held():
        return Assignment.objects.get(grader=grader, status="active")

    def post_vote():
        url = reverse("grade_submit", args=[study.slug, held().pk])
        with CaptureQueriesContext(connection) as captured:
            response = client.post(url, vote, **HTMX)
        assert response.status_code == 200, response.content[:300]
        assert 'data-outcome="stored"' in response.content.decode()
        return captured

    def serve_new():
        handout.skip(held().pk, grader)
        with CaptureQueriesContext(connection) as captured:
            response = client.get(grade, **HTMX)
        assert response.status_code == 200
        assert 'id="grade-form"' in response.content.decode()
        return captured

    assert client.get(grade, **HTMX).status_code == 200
    post_vote()
    serve_new()
    voted, served = post_vote(), serve_new()
    return {"vote": voted, "serve": served}


TRANSACTION_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE SAVEPOINT")
# Study.results_changed(), the one hook every writer calls. The results engineer is making
# it write nothing for a vote (a new judgment moves the results' data version by itself);
# until then it is the one UPDATE of a row every grader shares, counted apart.
RESULTS_HOOK = 'UPDATE "annotation_study" SET "results_version"'


def split(captured) -> dict[str, list[str]]:
    """The captured statements as data statements, transaction control and the hook."""
    parts = {"data": [], "control": [], "hook": []}
    for query in captured.captured_queries:
        sql = query["sql"]
        if sql.startswith(TRANSACTION_CONTROL):
            parts["control"].append(sql)
        elif sql.startswith(RESULTS_HOOK):
            parts["hook"].append(sql)
        else:
            parts["data"].append(sql)
    return parts


@pytest.mark.django_db(transaction=True)
def test_a_vote_and_a_serve_cost_the_same_few_statements_at_any_history(client, write_jsonl):
    small = count_statements(client, *build(write_jsonl, tasks=40, history=10, slug="small"))
    client.logout()
    large = count_statements(client, *build(write_jsonl, tasks=400, history=300, slug="large"))
    for kind in ("vote", "serve"):
        at_10, at_300 = split(small[kind]), split(large[kind])
        listing = "\n".join(f"  {sql[:160]}" for sql in sum(at_300.values(), []))
        report = (
            f"{kind}: {len(small[kind])} statements at 10 judgments, {len(large[kind])} at 300 "
            f"(at 300: {len(at_300['data'])} data, {len(at_300['control'])} transaction "
            f"control, {len(at_300['hook'])} results hook):\n{listing}"
        )
        assert [len(at_10[part]) for part in at_10] == [len(at_300[part]) for part in at_300], (
            report
        )
        assert len(at_300["data"]) <= MAX_STATEMENTS, report
        assert len(at_300["hook"]) <= 1, report


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's prepared statements")
@pytest.mark.django_db(transaction=True)
def test_on_postgresql_the_vote_path_reuses_prepared_statements(client, write_jsonl):
    # Planning the hand-out's read of the next task cost ten times running it; with the
    # settings' POSTGRES_PREPARE_THRESHOLD the connection keeps it prepared after a few runs.
    count_statements(client, *build(write_jsonl, tasks=40, history=10, slug="prepared"))
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement, generic_plans + custom_plans FROM pg_prepared_statements")
        prepared = cursor.fetchall()
    next_task = [runs for sql, runs in prepared if "SKIP LOCKED" in sql]
    assert next_task and next_task[0] >= 1, [sql[:80] for sql, _ in prepared]


def rows_read_by_generic_plan(sql: str, params: list) -> int:
    """Rows the generic plan of `sql` (what a statement kept prepared may run: planned
    without its parameters' values) reads from tables and drops, run with `params`."""
    import psycopg

    numbered = sql
    for i in range(1, len(params) + 1):
        numbered = numbered.replace("%s", f"${i}", 1)
    raw = connection.connection
    cursor = psycopg.ClientCursor(raw)  # the values of EXECUTE written as literals
    cursor.execute("SET plan_cache_mode = force_generic_plan")
    cursor.execute(f"PREPARE generic_probe AS {numbered}")
    try:
        marks = ", ".join(["%s"] * len(params))
        cursor.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE generic_probe({marks})", params)
        plan = cursor.fetchone()[0][0]["Plan"]
    finally:
        cursor.execute("DEALLOCATE generic_probe")
        cursor.execute("RESET plan_cache_mode")

    def dropped(node) -> int:
        own = node.get("Rows Removed by Filter", 0) * node.get("Actual Loops", 1)
        return own + sum(dropped(child) for child in node.get("Plans", []))

    return dropped(plan)


@pytest.fixture
def holding_after_history(write_jsonl):
    """A grader with 1,500 judgments holding one assignment, the statistics up to date:
    (study, grader, the held assignment)."""
    study, grader = build(write_jsonl, tasks=1600, history=1500, slug="generic")
    held = handout.next_assignment(grader, study)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE annotation_assignment")
    return study, grader, held


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's generic plans")
@pytest.mark.django_db(transaction=True)
def test_the_held_task_read_stays_cheap_under_a_generic_plan(holding_after_history):
    # A generic plan, made without the values, once scanned the grader's whole history in
    # id order for the one active assignment: 5 ms a vote at 5,000 judgments.
    study, grader, held = holding_after_history
    query = handout._HELD.build(grader_id=grader.pk, study_id=study.pk, now=timezone.now())
    sql, params = query.query.sql_with_params()
    assert handout.current_assignment(grader, study).pk == held.pk
    assert rows_read_by_generic_plan(sql, list(params)) < 100


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's generic plans")
@pytest.mark.django_db(transaction=True)
def test_the_votes_read_of_its_assignment_stays_cheap_under_a_generic_plan(
    holding_after_history,
):
    # for_vote's "another held assignment" subquery sent the status as a parameter: its
    # generic plan read the grader's whole history (13-16 ms of database CPU a vote at
    # 5,000 judgments, bench_throughput).
    _study, grader, held = holding_after_history
    query = handout.for_vote(grader.pk).filter(pk=held.pk)
    sql, params = query.query.sql_with_params()
    assert query.get().other_held_id is None
    assert rows_read_by_generic_plan(sql, list(params)) < 100


@pytest.mark.django_db
def test_an_assignment_status_is_written_into_the_sql_and_nothing_else_is():
    """annotation.plans.ConstantExact: a status of the model's choices is planned knowing
    its value; anything else stays a parameter (never text pasted into SQL)."""
    from annotation.models import Assignment

    sql, params = Assignment.objects.filter(status=Assignment.Status.QUEUED).query.sql_with_params()
    assert "= 'queued'" in sql and "queued" not in params
    hostile = "active' OR '1'='1"
    sql, params = Assignment.objects.filter(status=hostile).query.sql_with_params()
    assert hostile not in sql and params == (hostile,)
    assert not Assignment.objects.filter(status=hostile).exists()
    # Other fields are untouched.
    sql, params = Assignment.objects.filter(grader_id=3).query.sql_with_params()
    assert params == (3,)
