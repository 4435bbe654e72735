"""The adaptive pair-scheduling study option: the hand-out follows the priorities the
background schedule writes, never serves a stopped pair, stops the study on a budget or when
the rating intervals separate, and keeps overlap and exactly-once votes under concurrency."""

import threading
from collections import Counter

import pandas as pd
import pytest
from django.db import connections
from django.test import override_settings
from django.urls import reverse
from django_tasks_db.models import DBTaskResult

from annotation import handout, schedule
from annotation.handout import Vote
from annotation.models import Assignment, Judgment, Study, StudySchedule, Task
from scoring.adaptive import schedule_pairs
from tests.conftest import join, make_user

RATINGS = {"left": "good", "right": "poor"}
MODELS = ("m1", "m2", "m3", "m4")


def pair_of(task) -> tuple[str, str]:
    names = Task.objects.filter(pk=task.pk).values_list(
        "response_a__model__name", "response_b__model__name"
    )[0]
    return tuple(sorted(names))


def make_study(write_jsonl, slug, *, prompts=6, overlap=3, **options) -> Study:
    from annotation.ingest.study_files import StudyOptions, import_study

    records = [
        {"id": f"p{i}", "prompt": f"Prompt {i}?", "outputs": {m: f"{m} says {i}" for m in MODELS}}
        for i in range(prompts)
    ]
    study = import_study(
        write_jsonl(records, name=f"{slug}.jsonl"), slug, StudyOptions(overlap=overlap)
    ).study
    Study.objects.filter(pk=study.pk).update(**options)
    study.refresh_from_db()
    return study


def vote_for(study, user, winner: str) -> None:
    """Serve the grader's next task and vote for `winner`'s response (else the other)."""
    assignment = handout.next_assignment(user, study)
    assert assignment is not None
    a, b = pair_of(assignment.task)
    task = assignment.task
    a_name = Task.objects.filter(pk=task.pk).values_list("response_a__model__name", flat=True)[0]
    wants_a = a_name == winner or (winner not in (a, b) and a_name < b)
    side = "left" if wants_a == assignment.a_on_left else "right"
    handout.record_vote(assignment.pk, user, Vote(verdict=side, ratings=RATINGS))


@pytest.mark.django_db
def test_the_hand_out_follows_the_priorities(write_jsonl):
    study = make_study(write_jsonl, "prio", schedule="adaptive")
    tasks = list(Task.objects.filter(study=study))
    # Priorities as the schedule writes them: one per model pair, 1 first.
    order = sorted({pair_of(t) for t in tasks}, reverse=True)
    rank = {pair: i + 1 for i, pair in enumerate(order)}
    for t in tasks:
        Task.objects.filter(pk=t.pk).update(priority=rank[pair_of(t)])
    user = make_user("g0", "grader")
    join(study, user)
    served = []
    while (a := handout.next_assignment(user, study)) is not None:
        served.append(rank[pair_of(a.task)])
        handout.record_vote(a.pk, user, Vote(verdict="tie", ratings=RATINGS))
    # Every task of the first pair, then every one of the second, ...
    assert served == sorted(served) and len(served) == len(tasks)
    assert Counter(served) == Counter(rank[pair_of(t)] for t in tasks)


@pytest.mark.django_db
def test_the_schedule_serves_first_the_pair_scoring_ranks_first(write_jsonl):
    study = make_study(write_jsonl, "ranked", schedule="adaptive", stop_when_separated=False)
    users = [make_user(f"g{i}", "grader") for i in range(3)]
    join(study, *users)
    # Votes on some pairs only: m1 beats the others, so m2-m3-m4 are the uncertain pairs.
    for user in users:
        for _ in range(8):
            vote_for(study, user, "m1")
    summary = schedule.refresh(study)
    counts = pd.DataFrame(schedule._vote_counts(study))
    open_pairs = sorted(
        {pair_of(t) for t in Task.objects.filter(study=study) if t.slots_taken < study.overlap}
    )
    expected = schedule_pairs(counts, list(MODELS), candidates=open_pairs, stop_separated=False)
    best = tuple(expected.pairs.loc[0, ["model_a", "model_b"]])
    assert summary["pairs"][0]["model_a"] == best[0] and summary["pairs"][0]["model_b"] == best[1]
    fresh = make_user("fresh", "grader")
    join(study, fresh)
    assert pair_of(handout.next_assignment(fresh, study).task) == best
    # Priorities in the database are the schedule's ranks, per pair.
    for row in summary["pairs"]:
        pair = (row["model_a"], row["model_b"])
        values = {
            (t.priority, t.stopped)
            for t in Task.objects.filter(study=study)
            if pair_of(t) == pair and t.slots_taken < study.overlap
        }
        assert values == {(row["priority"], False)}


@pytest.mark.django_db
def test_a_stopped_pair_is_not_served(write_jsonl):
    study = make_study(write_jsonl, "stops", prompts=40, overlap=3, schedule="adaptive")
    users = [make_user(f"g{i}", "grader") for i in range(3)]
    join(study, *users)
    # m1 beats everyone every time: its pairs separate first.
    for user in users:
        for _ in range(60):
            vote_for(study, user, "m1")
    summary = schedule.refresh(study)
    stopped = {(r["model_a"], r["model_b"]) for r in summary["pairs"] if r["stopped"]}
    assert stopped, summary["pairs"]
    assert all(r["reason"] == "separated" for r in summary["pairs"] if r["stopped"])
    stopped_tasks = {t.pk for t in Task.objects.filter(study=study) if pair_of(t) in stopped}
    assert set(Task.objects.filter(pk__in=stopped_tasks).values_list("stopped", flat=True)) == {
        True
    }
    before = Judgment.objects.filter(task_id__in=stopped_tasks).count()
    late = make_user("late", "grader")
    join(study, late)
    study.refresh_from_db()
    while (a := handout.next_assignment(late, study)) is not None:
        assert a.task_id not in stopped_tasks
        handout.record_vote(a.pk, late, Vote(verdict="tie", ratings=RATINGS))
    assert Judgment.objects.filter(task_id__in=stopped_tasks).count() == before


@pytest.mark.django_db
def test_the_budget_stops_the_study_and_graders_are_told(write_jsonl, client):
    study = make_study(write_jsonl, "budget", vote_budget=5)  # uniform, with a budget
    user = make_user("g0", "grader")
    join(study, user)
    for _ in range(5):
        vote_for(study, user, "m1")
    schedule.refresh(study)
    study.refresh_from_db()
    assert study.schedule_stop == Study.StopReason.BUDGET
    assert handout.next_assignment(user, study) is None
    assert set(Task.objects.values_list("priority", "stopped")) == {(0, False)}
    client.force_login(user)
    page = client.get(reverse("grade", args=[study.slug])).content.decode()
    assert "stopped collecting answers: vote budget reached" in page
    home = client.get(reverse("home")).content.decode()
    assert "stopped: vote budget reached" in home
    # A raised budget serves again at once (the command recomputes the schedule).
    from django.core.management import call_command

    call_command("study_options", "--study", study.slug, "--vote-budget", "50")
    study.refresh_from_db()
    assert study.schedule_stop == "" and handout.next_assignment(user, study) is not None


@pytest.mark.django_db
def test_separated_intervals_stop_the_study(write_jsonl):
    from annotation.ingest.study_files import StudyOptions, import_study

    records = [
        {"id": f"p{i}", "prompt": f"Prompt {i}?", "outputs": {"m1": f"a{i}", "m2": f"b{i}"}}
        for i in range(60)
    ]
    study = import_study(write_jsonl(records), "two", StudyOptions(overlap=3)).study
    Study.objects.filter(pk=study.pk).update(schedule="adaptive")
    study.refresh_from_db()
    users = [make_user(f"g{i}", "grader") for i in range(3)]
    join(study, *users)
    for user in users:
        for _ in range(30):
            vote_for(study, user, "m1")
    summary = schedule.refresh(study)
    study.refresh_from_db()
    assert summary["stop_reason"] == Study.StopReason.SEPARATED
    assert study.stop_label == "rating intervals separated"
    assert handout.next_assignment(users[0], study) is None


@pytest.mark.django_db(transaction=True)
@override_settings(SCHEDULE_EVERY_VOTES=2)
def test_every_kth_vote_queues_one_recomputation_after_its_commit(write_jsonl):
    study = make_study(write_jsonl, "queue", schedule="adaptive")
    user = make_user("g0", "grader")
    join(study, user)
    vote_for(study, user, "m1")
    assert not StudySchedule.objects.exists()
    vote_for(study, user, "m1")  # the 2nd: queued once committed
    state = StudySchedule.objects.get(study=study)
    assert state.queued_at is not None
    jobs = DBTaskResult.objects.filter(task_path="annotation.schedule.refresh_schedule")
    assert jobs.count() == 1
    for _ in range(4):  # already queued: no second job
        vote_for(study, user, "m1")
    assert jobs.count() == 1
    # The job (as the worker runs it) clears the flag and writes the priorities.
    assert schedule.refresh_schedule.call(study.pk) == "serving"
    assert StudySchedule.objects.get(study=study).queued_at is None
    assert Task.objects.filter(study=study, priority__gt=0).exists()


GRADERS = 12


@pytest.mark.django_db(transaction=True)
def test_no_vote_is_lost_or_doubled_while_the_schedule_rewrites_priorities(write_jsonl):
    study = make_study(write_jsonl, "busy", prompts=10, overlap=3, schedule="adaptive")
    slots = Task.objects.filter(study=study).count() * 3
    users = [make_user(f"busy{i}", "grader") for i in range(GRADERS)]
    join(study, *users)
    barrier = threading.Barrier(GRADERS + 1)
    errors, recorded = [], Counter()
    lock = threading.Lock()
    done = threading.Event()

    def grade(user):
        try:
            local = Study.objects.get(pk=study.pk)
            barrier.wait(timeout=60)
            for _ in range(20):  # bounded
                assignment = handout.next_assignment(user, local)
                if assignment is None:
                    break
                verdict = "left" if assignment.task_id % 3 else "tie"
                _judgment, created = handout.record_vote(
                    assignment.pk, user, Vote(verdict=verdict, ratings=RATINGS)
                )
                # A retried POST must not double it.
                handout.record_vote(assignment.pk, user, Vote(verdict=verdict, ratings=RATINGS))
                with lock:
                    recorded[(assignment.task_id, user.pk)] += int(created)
        except Exception as exc:  # noqa: BLE001 - reported below with the thread's user
            errors.append(f"{user.username}: {exc!r}")
        finally:
            connections.close_all()

    def reschedule():
        try:
            local = Study.objects.get(pk=study.pk)
            barrier.wait(timeout=60)
            for _ in range(30):  # bounded: the background job, again and again
                if done.is_set():
                    break
                schedule.refresh(local)
        except Exception as exc:  # noqa: BLE001
            errors.append(f"schedule: {exc!r}")
        finally:
            connections.close_all()

    threads = [threading.Thread(target=grade, args=(u,)) for u in users]
    threads.append(threading.Thread(target=reschedule))
    for thread in threads:
        thread.start()
    for thread in threads[:-1]:
        thread.join(timeout=300)
    done.set()
    threads[-1].join(timeout=300)
    assert not any(thread.is_alive() for thread in threads)
    assert errors == []
    pairs = list(Judgment.objects.values_list("task_id", "grader_id"))
    assert len(pairs) == len(set(pairs)), "a vote was doubled"
    assert Counter(pairs) == +recorded, "every vote a grader was told is stored, and no other"
    per_task = Counter(task_id for task_id, _ in pairs)
    assert max(per_task.values()) <= 3
    assert len(pairs) == Assignment.objects.filter(status="done").count()
    assert len(pairs) <= slots
    for task_id, slots_taken in Task.objects.values_list("pk", "slots_taken"):
        assert (
            slots_taken
            == per_task.get(task_id, 0)
            + Assignment.objects.filter(task_id=task_id, status="active").count()
        )


@pytest.mark.django_db
def test_the_dashboard_shows_the_hand_out_options_only_where_set(write_jsonl, client):
    plain = make_study(write_jsonl, "plain")
    budget = make_study(write_jsonl, "budgeted", vote_budget=2, repeat_fraction=0.1)
    researcher = make_user("rita", "researcher")
    grader = make_user("g0", "grader")
    for study in (plain, budget):
        join(study, researcher)
    join(budget, grader)
    client.force_login(researcher)
    page = client.get(reverse("dashboard", args=[plain.slug])).content.decode()
    assert 'id="handout-state"' not in page
    page = client.get(reverse("dashboard", args=[budget.slug])).content.decode()
    assert "uniform schedule" in page and "0 of a budget of 2 votes" in page
    assert "10% of each grader's pairs re-served" in page and "stopped:" not in page
    vote_for(budget, grader, "m1")
    vote_for(budget, grader, "m2")
    schedule.refresh(budget)
    page = client.get(reverse("dashboard", args=[budget.slug])).content.decode()
    assert "2 of a budget of 2 votes" in page and "stopped: vote budget reached" in page
