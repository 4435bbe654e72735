"""The swapped re-serve study option: a share of each grader's pair tasks comes back to
them later with the sides swapped, unmarked, and is answered as a RepeatJudgment that no
count, result or export reads as a vote; swap consistency is computed from it."""

import csv
import io
import random
from datetime import timedelta

import numpy as np
import pandas as pd
import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from annotation import grader_stats, handout, results
from annotation.handout import Vote
from annotation.models import Assignment, GraderQuality, Judgment, RepeatJudgment, Study, Task
from annotation.results import background, snapshot
from annotation.results.position import swap_consistency
from scoring import position
from tests.conftest import better_side, join, make_user

pytestmark = pytest.mark.django_db

RATINGS = {"left": "good", "right": "poor"}


def repeating(study, fraction=1.0, after=2) -> Study:
    Study.objects.filter(pk=study.pk).update(repeat_fraction=fraction, repeat_after=after)
    study.refresh_from_db()
    return study


def answer(study, user, verdict="left", rng=None):
    """Serve the grader's next task and answer it; the assignment answered."""
    assignment = handout.next_assignment(user, study)
    assert assignment is not None
    handout.vote_and_next(
        assignment, user, Vote(verdict=verdict, ratings=RATINGS), holding=True, rng=rng
    )
    return assignment


def test_it_is_off_by_default(pair_study):
    user = make_user("g0", "grader")
    join(pair_study, user)
    for _ in range(12):
        answer(pair_study, user)
    assert handout.next_assignment(user, pair_study) is None
    assert not Assignment.objects.filter(repeat=True).exists()
    assert not RepeatJudgment.objects.exists()


def test_it_reserves_a_task_with_the_sides_swapped_after_n_other_tasks(pair_study):
    study = repeating(pair_study, fraction=1.0, after=2)
    user = make_user("g0", "grader")
    join(study, user)
    first = answer(study, user)
    queued = Assignment.objects.get(grader=user, repeat=True)
    assert (queued.task_id, queued.status) == (first.task_id, Assignment.Status.QUEUED)
    assert queued.a_on_left is (not first.a_on_left)
    # Two other tasks come first (each queues its own re-serve, due later).
    second, third = answer(study, user), answer(study, user)
    assert first.task_id not in (second.task_id, third.task_id)
    again = handout.next_assignment(user, study)
    assert again.pk == queued.pk and again.task_id == first.task_id
    assert again.a_on_left is (not first.a_on_left)
    # The screen cannot tell it apart: the same keys as any task, the texts swapped.
    screen = handout_screen(again, study)
    first_screen = handout_screen(Assignment.objects.get(pk=first.pk), study)
    assert screen.keys() == first_screen.keys()
    assert [p["html"] for p in screen["panes"]] == [p["html"] for p in first_screen["panes"]][::-1]


def handout_screen(assignment, study):
    from annotation.grading import task_screen

    return task_screen(assignment, study)


def test_a_reserve_is_no_vote(pair_study):
    study = repeating(pair_study, fraction=1.0, after=1)
    user = make_user("g0", "grader")
    join(study, user)
    first = answer(study, user, "left")
    answer(study, user, "left")
    slots = dict(Task.objects.values_list("pk", "slots_taken"))
    repeat = handout.next_assignment(user, study)
    assert repeat.repeat and repeat.task_id == first.task_id
    result = handout.vote_and_next(
        repeat, user, Vote(verdict="left", ratings=RATINGS), holding=True
    )
    assert result.created and isinstance(result.judgment, RepeatJudgment)
    stored = RepeatJudgment.objects.get()
    first_judgment = Judgment.objects.get(task=first.task, grader=user)
    # The same screen side both times, with the sides swapped: the other response.
    assert stored.first_id == first_judgment.pk
    assert {stored.verdict, first_judgment.verdict} == {"a", "b"}
    # One judgment per task and grader everywhere: slots, counters, results, exports.
    assert dict(Task.objects.values_list("pk", "slots_taken")) == slots
    assert Judgment.objects.filter(grader=user).count() == 2
    quality = GraderQuality.objects.get(grader=user)
    assert (quality.judgments, quality.pairs, quality.repeats) == (2, 2, 1)
    assert result.progress.done == 3  # the screen's count moves as for any task
    data = snapshot.load(study)
    assert len(data.battles) == 2 and len(data.verdicts) == 2
    assert data.repeats[["grader", "task_id", "verdict", "repeat_verdict"]].values.tolist() == [
        ["g0", first.task_id, first_judgment.verdict, stored.verdict]
    ]
    rows = list(csv.DictReader(io.StringIO(_export_csv(study))))
    assert len(rows) == 2
    # A double submission of the re-serve stores nothing more.
    again = handout.record_vote(repeat.pk, user, Vote(verdict="left", ratings=RATINGS))
    assert (again[0].pk, again[1]) == (stored.pk, False)
    assert handout.vote_matches(again[0], Vote(verdict="left", ratings=RATINGS))
    assert RepeatJudgment.objects.count() == 1


def _export_csv(study) -> str:
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "out.csv"
        call_command("export", "--study", study.slug, "--format", "csv", "--output", str(path))
        return path.read_text(encoding="utf-8")


def test_the_share_reserved_follows_the_fraction(pair_study):
    # 12 tasks x 8 graders at fraction 0.25: Binomial(96, 0.25) re-serves (sd 4.2).
    study = repeating(pair_study, fraction=0.25, after=1000)
    Study.objects.filter(pk=study.pk).update(overlap=8)
    study.refresh_from_db()
    users = [make_user(f"g{i}", "grader") for i in range(8)]
    join(study, *users)
    rng = random.Random(7)
    for user in users:
        for _ in range(12):
            answer(study, user, rng=rng)
    queued = Assignment.objects.filter(repeat=True).count()
    assert 24 - 3 * 4.2 < queued < 24 + 3 * 4.2
    assert Judgment.objects.count() == 96


def test_leftover_reserves_come_when_no_new_work_is_left(pair_study):
    study = repeating(pair_study, fraction=1.0, after=100)
    user = make_user("g0", "grader")
    join(study, user)
    for _ in range(12):
        answer(study, user)
    # None is due (100 tasks later), but nothing else is left: they come now, then none.
    served = []
    while (a := handout.next_assignment(user, study)) is not None:
        assert a.repeat
        served.append(a.task_id)
        handout.record_vote(a.pk, user, Vote(verdict="tie", ratings=RATINGS))
    assert sorted(served) == sorted(Task.objects.values_list("pk", flat=True))
    assert RepeatJudgment.objects.count() == 12
    assert not Assignment.objects.filter(repeat=True, status="queued").exists()


def test_an_expired_or_skipped_reserve_frees_no_slot(pair_study):
    study = repeating(pair_study, fraction=1.0, after=0)
    user = make_user("g0", "grader")
    join(study, user)
    answer(study, user)
    repeat = handout.next_assignment(user, study)
    assert repeat.repeat
    slots = dict(Task.objects.values_list("pk", "slots_taken"))
    Assignment.objects.filter(pk=repeat.pk).update(expires_at=timezone.now() - timedelta(1))
    assert handout.release_expired(study) == 1
    assert dict(Task.objects.values_list("pk", "slots_taken")) == slots
    answer(study, user)
    repeat = handout.next_assignment(user, study)
    assert repeat.repeat
    slots = dict(Task.objects.values_list("pk", "slots_taken"))
    assert handout.skip(repeat.pk, user)
    assert dict(Task.objects.values_list("pk", "slots_taken")) == slots
    # The grader's count of remaining work is the exact one: re-serves are not in it.
    progress = grader_stats.screen_progress(user, study)
    exact = grader_stats.count_remaining(user, study)
    assert progress.remaining == exact


def test_swap_consistency_of_the_snapshot_matches_scoring(pair_study):
    """Two graders re-served every task: one always picks the better answer (consistent),
    one always picks the left side (a left flip every time the first pick was decisive)."""
    study = repeating(pair_study, fraction=1.0, after=0)
    Study.objects.filter(pk=study.pk).update(overlap=2)
    steady, lefty = make_user("steady", "grader"), make_user("lefty", "grader")
    join(study, steady, lefty)
    for user, pick in ((steady, better_side), (lefty, lambda a: "left")):
        while (a := handout.next_assignment(user, study)) is not None:
            handout.record_vote(a.pk, user, Vote(verdict=pick(a), ratings=RATINGS))
    data = snapshot.load(study)
    assert len(data.repeats) == 24
    payload = swap_consistency(data)
    by_grader = {row["grader"]: row for row in payload["graders"]}
    assert by_grader["steady"]["swapped"] == 12
    assert by_grader["steady"]["swapped_consistency"] == 1.0
    assert by_grader["lefty"]["swapped_consistency"] == 0.0
    assert by_grader["lefty"]["left_flips"] == 12
    assert len(payload["inconsistent"]) == 12
    # Independently: the same table built from the rows themselves.
    rows = []
    for repeat in RepeatJudgment.objects.select_related("first__assignment", "assignment"):
        rows.append(
            {
                "grader": repeat.grader.username,
                "verdict": repeat.first.verdict,
                "a_on_left": repeat.first.assignment.a_on_left,
                "repeat_verdict": repeat.verdict,
                "repeat_a_on_left": repeat.assignment.a_on_left,
            }
        )
    expected = position.swap_consistency(pd.DataFrame(rows), kind=None)
    pooled = payload["pooled"][0]
    assert pooled["swapped_consistency"] == pytest.approx(
        expected.pooled["swapped_consistency"].iloc[0]
    )
    assert pooled["swapped_consistency"] == 0.5
    assert np.isclose(pooled["ci_lower"], position.exact_interval(12, 24, 0.95)[0])
    # The leaderboard counts 24 first judgments, not 48.
    assert len(data.battles) == 24
    assert results.swap_consistency(study)["repeats"] == 24


def test_the_dashboards_position_section_reads_the_reserves(pair_study):
    """The background job's position result (dashboard and API `results/position/`) takes
    its swap consistency from the same re-served tasks as `results.swap_consistency`."""
    study = repeating(pair_study, fraction=1.0, after=0)
    lefty = make_user("lefty", "grader")
    join(study, lefty)
    while (a := handout.next_assignment(lefty, study)) is not None:
        handout.record_vote(a.pk, lefty, Vote(verdict="left", ratings=RATINGS))
    swap = background.compute(study)["position"]["swap"]
    direct = results.swap_consistency(study)
    assert swap["repeats"] == direct["repeats"] == 12
    assert swap["note"] == ""
    pooled = swap["pooled"][0]
    assert pooled["swapped_consistency"] == direct["pooled"][0]["swapped_consistency"] == 0.0
    assert pooled["left_flips"] == 12


def test_the_api_serves_swap_consistency_to_researchers(pair_study, client):
    study = repeating(pair_study, fraction=1.0, after=0)
    user, researcher = make_user("g0", "grader"), make_user("rita", "researcher")
    join(study, user, researcher)
    answer(study, user, "left")
    repeat = handout.next_assignment(user, study)
    handout.record_vote(repeat.pk, user, Vote(verdict="left", ratings=RATINGS))
    url = reverse("api-results-swap-consistency", args=[study.slug])
    client.force_login(researcher)
    body = client.get(url).json()
    assert body["repeats"] == 1 and body["pooled"][0]["left_flips"] == 1
    client.force_login(user)
    assert client.get(url).status_code == 403


def test_a_reserve_answered_twice_on_the_screen_keeps_the_first(pair_study, client):
    study = repeating(pair_study, fraction=1.0, after=0)
    user = make_user("g0", "grader")
    join(study, user)
    answer(study, user, "left")
    repeat = handout.next_assignment(user, study)
    assert repeat.repeat
    client.force_login(user)
    url = reverse("grade_submit", args=[study.slug, repeat.pk])
    htmx = {"HTTP_HX_REQUEST": "true"}
    form = {"verdict": "left", "rating_left": "good", "rating_right": "poor"}
    first = client.post(url, form, **htmx)
    assert first.status_code == 200 and 'data-outcome="stored"' in first.content.decode()
    assert client.post(url, form, **htmx).status_code == 200  # the same answer again
    other = client.post(url, {**form, "verdict": "right"}, **htmx)
    assert other.status_code == 409 and "already answered" in other.content.decode()
    assert RepeatJudgment.objects.get().verdict == stored_verdict_of(repeat, "left")


def stored_verdict_of(assignment, side):
    return handout.stored_verdict(assignment, side)


def test_an_answered_reserve_moves_the_results_version(pair_study):
    from annotation.results.version import data_version, watermark

    study = repeating(pair_study, fraction=1.0, after=0)
    user = make_user("g0", "grader")
    join(study, user)
    answer(study, user, "left")
    repeat = handout.next_assignment(user, study)
    assert results.swap_consistency(study)["repeats"] == 0
    version, mark = data_version(study), watermark(study)
    handout.record_vote(repeat.pk, user, Vote(verdict="left", ratings=RATINGS))
    assert data_version(study) != version and watermark(study) != mark
    assert results.swap_consistency(study)["repeats"] == 1
