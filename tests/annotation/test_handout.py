"""Hand-out of work: overlap, never twice, even filling, expiry, skip, idempotent votes."""

import random
from collections import Counter
from datetime import timedelta

import pytest
from django.utils import timezone

from annotation import grader_stats, handout
from annotation.handout import Vote
from annotation.models import Assignment, GraderQuality, Judgment, Rating, Task
from tests.conftest import join, make_user

pytestmark = pytest.mark.django_db


def graders(study, n):
    users = [make_user(f"g{i}", "grader") for i in range(n)]
    join(study, *users)
    return users


def vote(assignment, grader, verdict="left", **kwargs):
    ratings = kwargs.pop("ratings", {"left": "good", "right": "poor"})
    return handout.record_vote(
        assignment.pk, grader, Vote(verdict=verdict, ratings=ratings, **kwargs)
    )


def test_each_task_reaches_overlap_distinct_graders_and_no_more(pair_study):
    users = graders(pair_study, 5)
    seen = Counter()
    for user in users:
        while (a := handout.next_assignment(user, pair_study)) is not None:
            assert (a.task_id, user.pk) not in seen
            seen[(a.task_id, user.pk)] += 1
            vote(a, user)
    per_task = Counter(task_id for task_id, _ in seen)
    assert set(per_task.values()) == {2}  # overlap 2, every one of the 12 tasks
    assert len(per_task) == 12
    assert set(Task.objects.values_list("slots_taken", flat=True)) == {2}


def test_tasks_fill_evenly(pair_study):
    users = graders(pair_study, 2)
    # The first grader takes 12 tasks: each task gets one slot before any task gets a second.
    for _ in range(12):
        a = handout.next_assignment(users[0], pair_study)
        vote(a, users[0])
    assert set(Task.objects.values_list("slots_taken", flat=True)) == {1}
    assert handout.next_assignment(users[0], pair_study) is None


def test_a_grader_keeps_the_same_task_until_answering(pair_study):
    (user,) = graders(pair_study, 1)
    first = handout.next_assignment(user, pair_study)
    assert handout.next_assignment(user, pair_study).pk == first.pk
    assert Assignment.objects.filter(grader=user).count() == 1


def test_an_expired_assignment_returns_to_the_pool(pair_study, settings):
    a_user, b_user, c_user = graders(pair_study, 3)
    first = handout.next_assignment(a_user, pair_study)
    task = first.task
    # Fill the task's other slot, so only the expiry can free one.
    other = Assignment.objects.create(
        task=task, grader=b_user, expires_at=timezone.now() + timedelta(hours=1)
    )
    Task.objects.filter(pk=task.pk).update(slots_taken=2)
    Assignment.objects.filter(pk=first.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert handout.release_expired(pair_study) == 1
    first.refresh_from_db()
    task.refresh_from_db()
    assert first.status == "expired" and task.slots_taken == 1
    assert other.status == "active"
    # c can now get that task; a never sees it again.
    got = set()
    while (a := handout.next_assignment(c_user, pair_study)) is not None:
        got.add(a.task_id)
        vote(a, c_user)
    assert task.pk in got
    while (a := handout.next_assignment(a_user, pair_study)) is not None:
        assert a.task_id != task.pk
        vote(a, a_user)


def test_a_late_vote_on_an_expired_task_counts_while_a_slot_is_free(pair_study):
    (user,) = graders(pair_study, 1)
    a = handout.next_assignment(user, pair_study)
    Assignment.objects.filter(pk=a.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    handout.release_expired(pair_study)
    judgment, created = vote(a, user)
    assert created and Task.objects.get(pk=a.task_id).slots_taken == 1
    assert Assignment.objects.get(pk=a.pk).status == "done"


def test_a_late_vote_on_a_task_that_filled_up_is_refused(pair_study):
    user, *others = graders(pair_study, 3)
    a = handout.next_assignment(user, pair_study)
    Assignment.objects.filter(pk=a.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    handout.release_expired(pair_study)
    Task.objects.filter(pk=a.task_id).update(slots_taken=2)
    with pytest.raises(handout.TaskTimedOut, match="timed out"):
        vote(a, user)
    assert not Judgment.objects.exists()


def test_a_repeated_vote_records_one_judgment(pair_study):
    (user,) = graders(pair_study, 1)
    a = handout.next_assignment(user, pair_study)
    first, created = vote(a, user, verdict="left")
    again, created_again = vote(a, user, verdict="right")
    assert created and not created_again and first.pk == again.pk
    assert Judgment.objects.count() == 1 and Judgment.objects.get().verdict == first.verdict


def test_the_verdict_is_stored_in_terms_of_responses(pair_study):
    (user,) = graders(pair_study, 1)
    for a_on_left in (True, False):
        a = handout.next_assignment(user, pair_study)
        Assignment.objects.filter(pk=a.pk).update(a_on_left=a_on_left)
        a.refresh_from_db()
        judgment, _ = vote(a, user, verdict="left", ratings={"left": "good", "right": "poor"})
        left_response = a.task.response_a if a_on_left else a.task.response_b
        winner = a.task.response_a if judgment.verdict == "a" else a.task.response_b
        assert winner == left_response
        assert Rating.objects.get(judgment=judgment, response=left_response).label == "good"


def test_screen_sides_are_drawn_at_random(pair_study):
    users = graders(pair_study, 2)
    sides = []
    for seed, user in enumerate(users):
        rng = random.Random(seed)  # one generator per grader, drawn from task after task
        while (a := handout.next_assignment(user, pair_study, rng=rng)) is not None:
            sides.append(a.a_on_left)
            vote(a, user)
    assert 0 < sum(sides) < len(sides)


def test_skip_frees_the_slot_and_the_grader_does_not_see_it_again(pair_study):
    (user,) = graders(pair_study, 1)
    a = handout.next_assignment(user, pair_study)
    assert handout.skip(a.pk, user)
    assert Task.objects.get(pk=a.task_id).slots_taken == 0
    seen = set()
    while (b := handout.next_assignment(user, pair_study)) is not None:
        seen.add(b.task_id)
        vote(b, user)
    assert a.task_id not in seen and len(seen) == 11


def test_gold_tasks_are_mixed_in_and_scored(pair_study):
    user, other = graders(pair_study, 2)
    regular = Task.objects.first()
    gold = Task.objects.create(
        study=pair_study,
        kind="pair",
        prompt=regular.prompt,
        response_a=regular.response_a,
        response_b=regular.response_b,
        is_gold=True,
        gold_answer="a",
    )
    pair_study.gold_rate = 1.0
    pair_study.save()
    a = handout.next_assignment(user, pair_study)
    assert a.task_id == gold.pk
    # Answer the gold task correctly whatever side A landed on.
    vote(a, user, verdict="left" if a.a_on_left else "right", seconds=12.0)
    # With the gold task done, regular work follows.
    b = handout.next_assignment(user, pair_study)
    assert not b.task.is_gold
    vote(b, user, verdict="tie", seconds=20.0)
    # The median is computed when a researcher reads it (grader_stats.for_study).
    quality = grader_stats.for_study(pair_study).get(grader=user)
    assert (quality.gold_seen, quality.gold_correct, quality.judgments) == (1, 1, 1)
    assert quality.median_seconds == 16.0 and quality.tie_share == 0.5
    # Gold tasks take no overlap slots from regular work.
    c = handout.next_assignment(other, pair_study)
    assert c.task_id == gold.pk
    vote(c, other, verdict="tie")
    assert GraderQuality.objects.get(study=pair_study, grader=other).gold_correct == 0


def test_nothing_is_handed_out_in_a_paused_study(pair_study):
    (user,) = graders(pair_study, 1)
    pair_study.status = "paused"
    pair_study.save()
    assert handout.next_assignment(user, pair_study) is None


def test_change_vote_replaces_the_answer(pair_study):
    (user,) = graders(pair_study, 1)
    a = handout.next_assignment(user, pair_study)
    judgment, _ = vote(a, user, verdict="left", tags={"left": ["untrue"]})
    handout.change_vote(
        judgment,
        Vote(
            verdict="tie",
            ratings={"left": "acceptable", "right": "acceptable"},
            comment="on reflection",
        ),
    )
    judgment.refresh_from_db()
    assert (judgment.verdict, judgment.comment) == ("tie", "on reflection")
    assert sorted(judgment.ratings.values_list("label", flat=True)) == ["acceptable", "acceptable"]
    assert not any(judgment.ratings.values_list("tags", flat=True).exclude(tags=[]))
    assert Judgment.objects.count() == 1


def test_a_skip_is_undone_while_the_task_has_a_free_slot(pair_study):
    user, other, third = graders(pair_study, 3)
    a = handout.next_assignment(user, pair_study)
    handout.skip(a.pk, user)
    reopened = handout.unskip(a.pk, user)
    assert reopened.status == "active" and Task.objects.get(pk=a.task_id).slots_taken == 1
    # The reopened task comes first, before any other the grader holds.
    assert handout.next_assignment(user, pair_study).pk == a.pk
    with pytest.raises(handout.HandoutError, match="not one you skipped"):
        handout.unskip(a.pk, user)
    # Once others fill the task, a skip cannot come back and nothing changes.
    handout.skip(a.pk, user)
    for grader in (other, third):
        Assignment.objects.create(task_id=a.task_id, grader=grader)
    Task.objects.filter(pk=a.task_id).update(slots_taken=2)
    with pytest.raises(handout.TaskTimedOut):
        handout.unskip(a.pk, user)
    assert Assignment.objects.get(pk=a.pk).status == "skipped"
    assert Task.objects.get(pk=a.task_id).slots_taken == 2


def test_vote_matches_tells_a_repeat_from_a_different_answer(pair_study):
    (user,) = graders(pair_study, 1)
    a = handout.next_assignment(user, pair_study)
    ratings = {"left": "good", "right": "poor"}
    judgment, _ = handout.record_vote(
        a.pk, user, Vote(verdict="left", ratings=ratings, tags={"right": ["untrue", "harmful"]})
    )
    same = Vote(verdict="left", ratings=ratings, tags={"right": ["harmful", "untrue"]})
    assert handout.vote_matches(judgment, same)
    for different in (
        Vote(verdict="right", ratings=ratings, tags=same.tags),
        Vote(verdict="left", ratings={"left": "good", "right": "good"}, tags=same.tags),
        Vote(verdict="left", ratings=ratings, tags={"left": ["untrue"]}),
        Vote(verdict="left", ratings=ratings, tags=same.tags, comment="hm"),
    ):
        assert not handout.vote_matches(judgment, different)
