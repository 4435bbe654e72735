"""Handing out grading work and recording verdicts, safely under many graders at once.

Rules: each task reaches `study.overlap` different graders; a grader never sees a
task twice (one Assignment row per task and grader, enforced by the database);
tasks fill up evenly (the least-filled tasks go first); an assignment left
unanswered past its expiry goes back to the pool.

Concurrency: the hand-out claims a slot with a conditional UPDATE
(`slots_taken < overlap`) and checks that exactly one row changed. On
PostgreSQL candidate tasks are read with `FOR UPDATE SKIP LOCKED`, so graders
asking at the same moment take different tasks instead of queueing on one; on
SQLite every write transaction starts with BEGIN IMMEDIATE (see settings), which
serialises hand-outs. Recording a vote locks the assignment row, so a
double-click or a retried POST records one judgment.

Every vote ends in one of three outcomes, and the grader is told which: stored
(`record_vote` returns created=True, or the same answer was already stored);
already answered, e.g. from a second tab (created=False and `vote_matches` is
false: the first answer is kept, this one is not); or timed out and given to
other graders (`TaskTimedOut`: nothing is stored).
"""

from __future__ import annotations

import random
import statistics
import time
from dataclasses import dataclass

from django.db import IntegrityError, connection, transaction
from django.db.models import Count, F, Q
from django.utils import timezone

from annotation.models import Assignment, GraderQuality, Judgment, Rating, Study, Task, User

LEFT, RIGHT = "left", "right"
SCREEN_VERDICTS = (LEFT, RIGHT, "tie", "both_bad")


class HandoutError(Exception):
    """A vote that cannot be recorded; the message is for the grader."""


class TaskTimedOut(HandoutError):
    """The assignment expired and its slot went to other graders: the vote is not stored."""


def release_expired(study: Study) -> int:
    """Return the slots of assignments past their expiry to the pool; how many were released."""
    now = timezone.now()
    released = 0
    with transaction.atomic():
        expired = list(
            Assignment.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(task__study=study, status=Assignment.Status.ACTIVE, expires_at__lte=now)
            .values_list("pk", "task_id")
        )
        for pk, task_id in expired:
            changed = Assignment.objects.filter(pk=pk, status=Assignment.Status.ACTIVE).update(
                status=Assignment.Status.EXPIRED
            )
            if changed:
                Task.objects.filter(pk=task_id, slots_taken__gt=0).update(
                    slots_taken=F("slots_taken") - 1
                )
                released += 1
    return released


def current_assignment(grader: User, study: Study) -> Assignment | None:
    """The grader's unanswered, unexpired assignment in this study, if any."""
    return (
        Assignment.objects.select_related("task__prompt", "task__response_a", "task__response_b")
        .filter(
            grader=grader,
            task__study=study,
            status=Assignment.Status.ACTIVE,
            expires_at__gt=timezone.now(),
        )
        .order_by("pk")
        .first()
    )


def next_assignment(
    grader: User, study: Study, *, rng: random.Random | None = None
) -> Assignment | None:
    """The grader's current assignment, or a new one; None when nothing is left for them."""
    rng = rng or random.SystemRandom()
    held = current_assignment(grader, study)
    if held is not None:
        return held
    if study.status != Study.Status.ACTIVE:
        return None
    release_expired(study)
    want_gold = study.gold_rate > 0 and rng.random() < study.gold_rate
    for gold in (True, False) if want_gold else (False,):
        assignment = _claim(grader, study, gold=gold, rng=rng)
        if assignment is not None:
            return assignment
    return None


def _claim(grader: User, study: Study, *, gold: bool, rng: random.Random) -> Assignment | None:
    skip_locked = connection.features.has_select_for_update_skip_locked
    for _attempt in range(8):
        with transaction.atomic():
            # `is_gold__in` compiles to "is_gold IN (0)", which SQLite matches against the
            # hand-out index; "NOT is_gold" (what `is_gold=False` becomes) it cannot. The
            # grader's own assignments are found through the grader index alone.
            candidates = Task.objects.filter(
                study=study, is_gold__in=[gold], in_queue__in=[True]
            ).exclude(pk__in=Assignment.objects.filter(grader=grader).values("task_id"))
            if not gold:
                candidates = candidates.filter(slots_taken__lt=study.overlap)
            ordered = candidates.order_by("slots_taken", "order_key").values_list("pk", flat=True)
            if skip_locked:
                # NO KEY UPDATE does not block graders inserting votes that reference the task.
                task_id = ordered.select_for_update(
                    skip_locked=True, no_key=True, of=("self",)
                ).first()
            else:
                task_id = ordered.first()
            if task_id is None:
                # Every free task may just be locked by graders claiming it right now; their
                # claims can leave slots free, so look again shortly instead of giving up.
                if skip_locked and candidates.exists():
                    time.sleep(0.005 + 0.02 * rng.random())
                    continue
                return None
            claimed = Task.objects.filter(pk=task_id)
            if not gold:
                claimed = claimed.filter(slots_taken__lt=study.overlap)
            if claimed.update(slots_taken=F("slots_taken") + 1) != 1:
                continue  # Someone filled it between our read and our write: try again.
            try:
                with transaction.atomic():
                    return Assignment.objects.create(
                        task_id=task_id,
                        grader=grader,
                        a_on_left=rng.random() < 0.5,
                        expires_at=Assignment.default_expiry(),
                    )
            except IntegrityError:
                # The same grader asked twice at once and the other request won this task.
                Task.objects.filter(pk=task_id).update(slots_taken=F("slots_taken") - 1)
    return None


@dataclass
class Vote:
    """A grader's answer in screen terms, as the form cleaned it."""

    verdict: str = ""  # one of SCREEN_VERDICTS, or "" for a single response
    ratings: dict[str, str] | None = None  # side ("left"/"right"/"single") -> label
    tags: dict[str, list[str]] | None = None  # side -> tags
    comment: str = ""
    seconds: float | None = None


def side_to_response(assignment: Assignment) -> dict[str, int]:
    task = assignment.task
    if task.response_b_id is None:
        return {"single": task.response_a_id}
    if assignment.a_on_left:
        return {LEFT: task.response_a_id, RIGHT: task.response_b_id}
    return {LEFT: task.response_b_id, RIGHT: task.response_a_id}


def stored_verdict(assignment: Assignment, screen_verdict: str) -> str:
    """Translate a screen-side verdict into one naming the task's responses."""
    if screen_verdict in ("", "tie", "both_bad"):
        return screen_verdict
    left_is_a = assignment.a_on_left
    if screen_verdict == LEFT:
        return Judgment.Verdict.A if left_is_a else Judgment.Verdict.B
    return Judgment.Verdict.B if left_is_a else Judgment.Verdict.A


def screen_verdict(assignment: Assignment, verdict: str) -> str:
    """The inverse of stored_verdict, to prefill a form when a grader changes an answer."""
    if verdict in ("", "tie", "both_bad"):
        return verdict
    a_side, b_side = (LEFT, RIGHT) if assignment.a_on_left else (RIGHT, LEFT)
    return a_side if verdict == Judgment.Verdict.A else b_side


def record_vote(assignment_id: int, grader: User, vote: Vote) -> tuple[Judgment, bool]:
    """Record the grader's vote on their assignment; (judgment, created).

    A second submission of the same assignment (double-click, retried POST)
    returns the first judgment and writes nothing.
    """
    with transaction.atomic():
        assignment = (
            Assignment.objects.select_for_update(of=("self",))
            .select_related("task__study")
            .filter(pk=assignment_id, grader=grader)
            .first()
        )
        if assignment is None:
            raise HandoutError("This task is not assigned to you.")
        if assignment.status == Assignment.Status.DONE:
            return Judgment.objects.get(task=assignment.task, grader=grader), False
        if assignment.status != Assignment.Status.ACTIVE:
            _reclaim(assignment)
        judgment = Judgment.objects.create(
            task=assignment.task,
            grader=grader,
            assignment=assignment,
            verdict=stored_verdict(assignment, vote.verdict),
            comment=vote.comment,
            seconds=vote.seconds,
        )
        _write_ratings(judgment, assignment, vote)
        assignment.status = Assignment.Status.DONE
        assignment.save(update_fields=["status"])
        refresh_quality(assignment.task.study, grader)
        assignment.task.study.results_changed(new_judgment=True)
    return judgment, True


def _reclaim(assignment: Assignment) -> None:
    """A vote on an expired or skipped assignment counts if the task still has a free slot."""
    task = assignment.task
    claimed = Task.objects.filter(pk=task.pk)
    if not task.is_gold:
        claimed = claimed.filter(slots_taken__lt=task.study.overlap)
    if claimed.update(slots_taken=F("slots_taken") + 1) != 1:
        raise TaskTimedOut("This task timed out and went to other graders; here is a new one.")
    assignment.status = Assignment.Status.ACTIVE


def vote_matches(judgment: Judgment, vote: Vote) -> bool:
    """Whether `vote` (in the screen sides of the judgment's assignment) is the answer
    already stored, so that a repeated submission can be told apart from a different one."""
    assignment = judgment.assignment
    if judgment.verdict != stored_verdict(assignment, vote.verdict):
        return False
    if judgment.comment != vote.comment:
        return False
    ratings, tags = vote.ratings or {}, vote.tags or {}
    wanted = {
        response_id: (ratings.get(side, ""), sorted(tags.get(side, [])))
        for side, response_id in side_to_response(assignment).items()
    }
    stored = {r.response_id: (r.label, sorted(r.tags)) for r in judgment.ratings.all()}
    return stored == wanted


def _write_ratings(judgment: Judgment, assignment: Assignment, vote: Vote) -> None:
    """One Rating row per response shown, even without a label or tags: tag rates count
    every judged response, tagged or not."""
    sides = side_to_response(assignment)
    ratings = vote.ratings or {}
    tags = vote.tags or {}
    rows = [
        Rating(
            judgment=judgment,
            response_id=response_id,
            label=ratings.get(side, ""),
            tags=sorted(tags.get(side, [])),
        )
        for side, response_id in sides.items()
    ]
    Rating.objects.bulk_create(rows)


def change_vote(judgment: Judgment, vote: Vote) -> Judgment:
    """Replace the verdict, ratings, tags and comment of an earlier judgment."""
    with transaction.atomic():
        judgment = (
            Judgment.objects.select_for_update(of=("self",))
            .select_related("assignment__task__study", "grader")
            .get(pk=judgment.pk)
        )
        assignment = judgment.assignment
        judgment.verdict = stored_verdict(assignment, vote.verdict)
        judgment.comment = vote.comment
        judgment.save(update_fields=["verdict", "comment", "updated_at"])
        judgment.ratings.all().delete()
        _write_ratings(judgment, assignment, vote)
        refresh_quality(assignment.task.study, judgment.grader)
        assignment.task.study.results_changed()
    return judgment


def skip(assignment_id: int, grader: User) -> bool:
    """Give an assignment back unanswered: its slot returns to the pool, and this grader
    will not be shown the task again."""
    with transaction.atomic():
        assignment = (
            Assignment.objects.select_for_update()
            .filter(pk=assignment_id, grader=grader, status=Assignment.Status.ACTIVE)
            .first()
        )
        if assignment is None:
            return False
        assignment.status = Assignment.Status.SKIPPED
        assignment.save(update_fields=["status"])
        Task.objects.filter(pk=assignment.task_id, slots_taken__gt=0).update(
            slots_taken=F("slots_taken") - 1
        )
    return True


def unskip(assignment_id: int, grader: User) -> Assignment:
    """Bring a skipped task back to the grader, if it still has a free slot.

    The reopened assignment is older than any the grader holds now, so the grading
    screen shows it next. Raises HandoutError (TaskTimedOut when the slots filled up).
    """
    with transaction.atomic():
        assignment = (
            Assignment.objects.select_for_update(of=("self",))
            .select_related("task__study")
            .filter(pk=assignment_id, grader=grader, status=Assignment.Status.SKIPPED)
            .first()
        )
        if assignment is None:
            raise HandoutError("That task is not one you skipped.")
        task = assignment.task
        if task.study.status != Study.Status.ACTIVE:
            raise HandoutError("This study is not taking answers right now.")
        claimed = Task.objects.filter(pk=task.pk)
        if not task.is_gold:
            claimed = claimed.filter(slots_taken__lt=task.study.overlap)
        if claimed.update(slots_taken=F("slots_taken") + 1) != 1:
            raise TaskTimedOut("That task has since gone to other graders, so it cannot come back.")
        assignment.status = Assignment.Status.ACTIVE
        assignment.expires_at = Assignment.default_expiry()
        assignment.save(update_fields=["status", "expires_at"])
    return assignment


def has_judged_here(grader: User, study: Study) -> bool:
    """Whether the grader has an answer on this screen that "change my last answer" can open."""
    return Judgment.objects.filter(
        grader=grader, task__study=study, assignment__isnull=False
    ).exists()


def last_judgment(grader: User, study: Study) -> Judgment | None:
    """The grader's most recent judgment in the study made on this screen (to change it)."""
    return (
        Judgment.objects.select_related(
            "assignment", "task__prompt", "task__response_a", "task__response_b"
        )
        .filter(grader=grader, task__study=study, assignment__isnull=False)
        .order_by("-created_at", "-pk")
        .first()
    )


def gold_is_correct(judgment: Judgment, task: Task) -> bool:
    """A gold task's answer is a verdict ("a", "b", "tie", "both_bad") for pairs,
    or the expected rating label for single responses."""
    if task.kind == Task.Kind.PAIR:
        return judgment.verdict == task.gold_answer
    label = next((r.label for r in judgment.ratings.all()), "")
    return label == task.gold_answer


def refresh_quality(study: Study, grader: User) -> GraderQuality:
    """Recompute the grader's gold accuracy, median seconds per task and share of ties."""
    mine = Judgment.objects.filter(task__study=study, grader=grader)
    counts = mine.aggregate(
        regular=Count("pk", filter=Q(task__is_gold=False)),
        pairs=Count("pk", filter=Q(task__kind=Task.Kind.PAIR)),
        ties=Count("pk", filter=Q(task__kind=Task.Kind.PAIR, verdict=Judgment.Verdict.TIE)),
    )
    seconds = list(mine.exclude(seconds=None).values_list("seconds", flat=True))
    gold = list(mine.filter(task__is_gold=True).select_related("task").prefetch_related("ratings"))
    quality, _ = GraderQuality.objects.update_or_create(
        study=study,
        grader=grader,
        defaults={
            "judgments": counts["regular"],
            "gold_seen": len(gold),
            "gold_correct": sum(gold_is_correct(j, j.task) for j in gold),
            "median_seconds": statistics.median(seconds) if seconds else None,
            "tie_share": counts["ties"] / counts["pairs"] if counts["pairs"] else None,
        },
    )
    return quality
