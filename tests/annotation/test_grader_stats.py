"""Grader quality and progress kept at a constant cost per vote, and still exact.

The counters a vote moves must equal a full count of the grader's judgments after any
mix of votes (regular and gold, pairs and single responses, ties, changed answers); the
median must be exact when a researcher reads it; the progress bar must follow the
grader's own work at once and everyone's within a recount.
"""

from datetime import timedelta

import pytest
from django.utils import timezone

from annotation import grader_stats, handout
from annotation.handout import Vote
from annotation.models import Assignment, GraderQuality, Judgment, Task
from tests.conftest import join, make_user

pytestmark = pytest.mark.django_db

COUNTERS = ("judgments", "gold_seen", "gold_correct", "pairs", "ties", "timed")


def counters(study, user) -> dict:
    row = GraderQuality.objects.get(study=study, grader=user)
    return {name: getattr(row, name) for name in COUNTERS}


def full_count(study, user) -> dict:
    handout.refresh_quality(study, user)
    return counters(study, user)


def add_gold(study, answer="a") -> Task:
    regular = Task.objects.filter(study=study).first()
    return Task.objects.create(
        study=study,
        kind="pair",
        prompt=regular.prompt,
        response_a=regular.response_a,
        response_b=regular.response_b,
        is_gold=True,
        gold_answer=answer,
    )


def test_it_keeps_the_counters_a_full_count_gives(pair_study):
    user = make_user("gina", "grader")
    join(pair_study, user)
    add_gold(pair_study, answer="tie")
    pair_study.gold_rate = 1.0  # the gold task first, then regular work
    pair_study.save()
    verdicts = ["tie", "left", "both_bad", "tie", "right", "tie"]
    judgments = []
    for i, verdict in enumerate(verdicts):
        a = handout.next_assignment(user, pair_study)
        judgment, _ = handout.record_vote(
            a,
            user,
            Vote(
                verdict=verdict,
                ratings={"left": "good", "right": "poor"},
                seconds=[None, 3.0][i % 2],
            ),
        )
        judgments.append(judgment)
    incremental = counters(pair_study, user)
    assert incremental["gold_seen"] == 1 and incremental["judgments"] == len(verdicts) - 1
    assert incremental["gold_correct"] == 1
    # A changed answer moves the tie and gold counters by the difference.
    for judgment in judgments[:3]:
        handout.change_vote(
            judgment, Vote(verdict="left", ratings={"left": "poor", "right": "poor"})
        )
    incremental = counters(pair_study, user)
    assert incremental == full_count(pair_study, user)


def test_a_single_response_gold_task_is_scored_by_its_rating(write_jsonl):
    from annotation.ingest.study_files import StudyOptions, import_study

    record = {"id": "s1", "prompt": "Name a prime.", "outputs": {"solo": "Seven."}}
    study = import_study(write_jsonl([record]), "solo", StudyOptions(protocol="single")).study
    task = Task.objects.get(study=study)
    Task.objects.create(
        study=study, kind="single", prompt=task.prompt, response_a=task.response_a,
        is_gold=True, gold_answer="good",
    )  # fmt: skip
    study.gold_rate = 1.0
    study.save()
    user = make_user("sol", "grader")
    join(study, user)
    a = handout.next_assignment(user, study)
    assert a.task.is_gold
    handout.record_vote(a, user, Vote(ratings={"single": "good"}))
    assert (counters(study, user)["gold_seen"], counters(study, user)["gold_correct"]) == (1, 1)
    assert counters(study, user) == full_count(study, user)


def test_the_median_is_exact_when_read_and_not_computed_by_a_vote(pair_study):
    user = make_user("mia", "grader")
    join(pair_study, user)
    for seconds in (40.0, 10.0, 30.0, 20.0):
        a = handout.next_assignment(user, pair_study)
        handout.record_vote(
            a, user, Vote(verdict="tie", seconds=seconds, ratings={"left": "good", "right": "good"})
        )
    stored = GraderQuality.objects.get(study=pair_study, grader=user)
    assert stored.median_of < stored.timed == 4  # left stale by the votes
    read = grader_stats.for_study(pair_study).get(grader=user)
    assert read.median_seconds == 25.0 and read.median_of == 4 and read.tie_share == 1.0


def test_a_researcher_read_counts_again_a_grader_whose_judgments_changed_behind_the_counters(
    pair_study,
):
    user = make_user("ivy", "grader")
    join(pair_study, user)
    a = handout.next_assignment(user, pair_study)
    handout.record_vote(
        a, user, Vote(verdict="left", seconds=5.0, ratings={"left": "good", "right": "poor"})
    )
    # A judgment written past the vote path (an import, say) is not in the counters...
    other_task = Task.objects.exclude(pk=a.task_id).first()
    Judgment.objects.create(task=other_task, grader=user, verdict="tie", seconds=9.0)
    assert counters(pair_study, user)["judgments"] == 1
    # ...until a researcher reads the quality table.
    read = grader_stats.for_study(pair_study).get(grader=user)
    assert (read.judgments, read.ties, read.timed, read.median_seconds) == (2, 1, 2, 7.0)


def test_progress_follows_the_graders_own_work_at_once_and_others_within_a_recount(pair_study):
    user, other = make_user("pia", "grader"), make_user("olaf", "grader")
    join(pair_study, user, other)
    a = handout.next_assignment(user, pair_study)
    handout.record_vote(a, user, Vote(verdict="left", ratings={"left": "good", "right": "poor"}))
    progress = grader_stats.screen_progress(user, pair_study)
    assert (progress.done, progress.total) == (1, 12)  # 12 pair tasks, overlap 2
    b = handout.next_assignment(user, pair_study)
    handout.skip(b.pk, user)
    assert grader_stats.screen_progress(user, pair_study).total == 11
    handout.unskip(b.pk, user)
    assert grader_stats.screen_progress(user, pair_study).total == 12
    # Another grader fills tasks: the count moves at the next recount, not before.
    for task in Task.objects.exclude(assignments__grader=user)[:3]:
        Assignment.objects.create(task=task, grader=other)
        Task.objects.filter(pk=task.pk).update(slots_taken=2)
    assert grader_stats.screen_progress(user, pair_study).total == 12
    GraderQuality.objects.filter(grader=user).update(
        remaining_counted_at=timezone.now()
        - timedelta(seconds=grader_stats.PROGRESS_RECOUNT_SECONDS + 1)
    )
    assert grader_stats.screen_progress(user, pair_study).total == 9
    assert grader_stats.screen_progress(user, pair_study, recount=True).total == 9


def test_an_expired_slot_goes_back_to_the_pool_when_a_grader_finds_nothing_free(pair_study):
    late, keen = make_user("lena", "grader"), make_user("kurt", "grader")
    join(pair_study, late, keen)
    held = handout.next_assignment(late, pair_study)
    # Every other slot is taken, so only the expired one can serve the keen grader.
    Task.objects.exclude(pk=held.task_id).update(slots_taken=2)
    Task.objects.filter(pk=held.task_id).update(slots_taken=2)
    Assignment.objects.filter(pk=held.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    got = handout.next_assignment(keen, pair_study)
    assert got is not None and got.task_id == held.task_id
    assert Assignment.objects.get(pk=held.pk).status == "expired"
    assert Task.objects.get(pk=held.task_id).slots_taken == 2
