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

Cost: a vote and the hand-out of the next task take the same few statements however
long the grader has worked and however big the study is (tests/annotation/
test_vote_statements.py). The vote flips its assignment with a conditional UPDATE (the
double-click guard) and moves the grader's counters with one UPDATE (grader_stats); the
next task is found with one indexed read that also brings its texts and the grader's
progress; expired assignments are released when a grader finds nothing free, and with
each grader's periodic progress recount, not on every hand-out.

Study options (annotation.models.Study; see also annotation.schedule):

- Swapped re-serve (`repeat_fraction` > 0): at a grader's vote on a regular pair task, a
  draw with that probability queues the task to come back to them with the sides swapped
  (a `repeat` Assignment in status QUEUED, `due_after` = their task count + `repeat_after`).
  Their hand-out serves a due one before new work, and any still queued once no new work
  is left. Nothing on the screen marks it. It takes no slot of the task's overlap, and its
  answer is a RepeatJudgment, which no count, result or export reads as a vote.
- Adaptive pair scheduling (`schedule` = adaptive, or a `vote_budget`): the claim orders the
  free tasks by their `priority` before the fill and the random order, and skips `stopped`
  ones; annotation.schedule writes both in the background, not here. A study the schedule
  stopped (`schedule_stop`) serves nothing. A vote costs the same statements either way;
  every SCHEDULE_EVERY_VOTES-th vote of a grader asks for the schedule to be recomputed, after
  the vote's commit.

Every vote ends in one of three outcomes, and the grader is told which: stored
(`record_vote` returns created=True, or the same answer was already stored);
already answered, e.g. from a second tab (created=False and `vote_matches` is
false: the first answer is kept, this one is not); or timed out and given to
other graders (`TaskTimedOut`: nothing is stored).
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass

from django.db import IntegrityError, connection, models, transaction
from django.db.models import Exists, F, OuterRef, QuerySet, Subquery
from django.utils import timezone

from annotation import grader_stats, prepared, schedule
from annotation.models import (
    Assignment,
    GraderQuality,
    Judgment,
    Rating,
    RepeatJudgment,
    Study,
    Task,
    User,
)
from annotation.prepared import PreparedSelect, PreparedUpdate

LEFT, RIGHT = "left", "right"
SCREEN_VERDICTS = (LEFT, RIGHT, "tie", "both_bad")


class HandoutError(Exception):
    """A vote that cannot be recorded; the message is for the grader."""


class TaskTimedOut(HandoutError):
    """The assignment expired and its slot went to other graders: the vote is not stored."""


def release_expired(study: Study) -> int:
    """Return the slots of assignments past their expiry to the pool; how many were released.

    Called when a grader finds no free task and with each grader's progress recount
    (grader_stats.count_remaining), so an expired slot is back before anyone is told that nothing
    is left, and within about a minute otherwise.
    """
    now = timezone.now()
    released = 0
    with transaction.atomic():
        expired = list(
            Assignment.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(task__study=study, status=Assignment.Status.ACTIVE, expires_at__lte=now)
            .values_list("pk", "task_id", "grader_id", "task__is_gold", "repeat")
        )
        for pk, task_id, grader_id, is_gold, repeat in expired:
            changed = Assignment.objects.filter(pk=pk, status=Assignment.Status.ACTIVE).update(
                status=Assignment.Status.EXPIRED
            )
            if changed and repeat:  # a re-serve holds no slot
                released += 1
            elif changed:
                Task.objects.filter(pk=task_id, slots_taken__gt=0).update(
                    slots_taken=F("slots_taken") - 1
                )
                if not is_gold:
                    grader_stats.count_release(study, grader_id)
                released += 1
    return released


SCREEN_RELATED = ("task__prompt", "task__response_a", "task__response_b")


def current_assignment(grader: User, study: Study) -> Assignment | None:
    """The grader's unanswered, unexpired assignment in this study, if any, with its texts."""
    return _HELD.first(grader_id=grader.pk, study_id=study.pk, now=timezone.now())


_HELD = PreparedSelect(
    lambda *, grader_id, study_id, now: (
        Assignment.objects.select_related(*SCREEN_RELATED)
        .filter(
            status=Assignment.Status.ACTIVE,  # in the SQL: annotation.plans.ConstantExact
            grader_id=grader_id,
            task__study_id=study_id,
            expires_at__gt=now,
        )
        .order_by("pk")[:1]
    ),
    grader_id=models.IntegerField(),
    study_id=models.IntegerField(),
    now=models.DateTimeField(),
)


def for_vote(grader_id: int) -> QuerySet[Assignment]:
    """Assignments loaded for a vote: the task with its study (not its texts, which a
    stored vote does not show again), and `other_held_id`, another unanswered assignment
    the grader holds in the same study (the oldest), so that the hand-out after the vote
    knows without looking again (if it has expired, the hand-out looks and finds none)."""
    other = Assignment.objects.filter(
        grader_id=grader_id, task__study=OuterRef("task__study"), status=Assignment.Status.ACTIVE
    ).exclude(pk=OuterRef("pk"))
    return Assignment.objects.select_related("task__study").annotate(
        other_held_id=other.order_by("pk").values("pk")[:1]
    )


def next_assignment(
    grader: User, study: Study, *, rng: random.Random | None = None, holding: bool = True
) -> Assignment | None:
    """The grader's current assignment, or a new one; None when nothing is left for them.

    `holding=False` tells that the caller has just seen the grader hold no unexpired
    assignment in this study (a vote reads it with the voted assignment), which spares
    looking again. The assignment comes with its texts.
    """
    rng = rng or random.SystemRandom()
    if holding:
        held = current_assignment(grader, study)
        if held is not None:
            return held
    if not serving(study):
        return None
    if study.repeat_fraction > 0:
        repeat = _take_repeat(grader, study, due_only=True)
        if repeat is not None:
            return repeat
    for attempt in range(2):
        for gold in _kinds_to_try(study, rng):
            assignment = _claim(grader, study, gold=gold, rng=rng)
            if assignment is not None:
                return assignment
        # Nothing free: expired slots go back to the pool before anyone is told so.
        if attempt == 0 and not release_expired(study):
            break
    # No new work left: the grader's re-serves come now rather than never.
    return _take_repeat(grader, study, due_only=False) if study.repeat_fraction > 0 else None


def serving(study: Study) -> bool:
    """Whether the study hands out work: active, and not stopped by its schedule."""
    return study.status == Study.Status.ACTIVE and not study.schedule_stop


def _due_repeat(*, grader_id: int, study_id: int, due_only: bool):
    done = GraderQuality.objects.filter(
        study_id=OuterRef("task__study_id"), grader_id=OuterRef("grader_id")
    ).values(n=F("judgments") + F("gold_seen") + F("repeats"))[:1]
    queued = Assignment.objects.select_related(*SCREEN_RELATED).filter(
        status=Assignment.Status.QUEUED, grader_id=grader_id, task__study_id=study_id
    )
    if due_only:
        queued = queued.filter(due_after__lte=Subquery(done))
    return queued.order_by("due_after", "pk")[:1]


_DUE_REPEAT = PreparedSelect(
    lambda due_only, *, grader_id, study_id: _due_repeat(
        grader_id=grader_id, study_id=study_id, due_only=due_only
    ),
    grader_id=models.IntegerField(),
    study_id=models.IntegerField(),
)


def _take_repeat(grader: User, study: Study, *, due_only: bool) -> Assignment | None:
    """Serve the grader's oldest queued re-serve (due ones only, if `due_only`): one read,
    and a conditional UPDATE that only one of their concurrent requests wins. No slot of
    the task is taken: its overlap counts first judgments only."""
    repeat = _DUE_REPEAT.first(due_only, grader_id=grader.pk, study_id=study.pk)
    if repeat is None:
        return None
    now = timezone.now()
    repeat.status, repeat.assigned_at = Assignment.Status.ACTIVE, now
    repeat.expires_at = Assignment.default_expiry()
    served = Assignment.objects.filter(pk=repeat.pk, status=Assignment.Status.QUEUED).update(
        status=repeat.status, assigned_at=now, expires_at=repeat.expires_at
    )
    return repeat if served == 1 else None


def _kinds_to_try(study: Study, rng: random.Random) -> tuple[bool, ...]:
    """Gold first, at the study's gold rate; else regular work only."""
    return (True, False) if study.gold_rate > 0 and rng.random() < study.gold_rate else (False,)


LOST = object()  # _take lost a race for its task: the caller may try again


def _claim(grader: User, study: Study, *, gold: bool, rng: random.Random) -> Assignment | None:
    for _attempt in range(8):
        try:
            with transaction.atomic():
                assignment = _take(grader, study, gold=gold, rng=rng)
        except IntegrityError:
            # The same grader's other request won this task after all: nothing was kept
            # of this attempt (the whole transaction rolled back), so try again.
            continue
        if assignment is LOST:
            continue
        if assignment is None and _all_locked(grader, study, gold=gold):
            # Every free task is locked by graders claiming it right now; their claims
            # can leave slots free, so look again shortly.
            time.sleep(0.005 + 0.02 * rng.random())
            continue
        return assignment
    return None


def _free(grader_id: int, study_id: int, *, gold: bool, overlap=None) -> QuerySet[Task]:
    """The tasks the grader may take, least filled first. `is_gold__in` compiles to
    "is_gold IN (0)", which SQLite matches against the hand-out index; "NOT is_gold"
    (what `is_gold=False` becomes) it cannot. The correlated NOT EXISTS costs one lookup
    in the (task, grader) unique index per candidate, where "NOT IN (SELECT ...)" would
    read the grader's whole history."""
    free = Task.objects.filter(
        ~_held_by(grader_id), study_id=study_id, is_gold__in=[gold], in_queue__in=[True]
    )
    if not gold:
        free = free.filter(slots_taken__lt=overlap)
    # The schedule's priority first (all 0 under the uniform schedule), then the fill.
    return free.filter(stopped__in=[False]).order_by("priority", "slots_taken", "order_key")


def _held_by(grader_id: int) -> Exists:
    return Exists(Assignment.objects.filter(grader_id=grader_id, task=OuterRef("pk")))


def _all_locked(grader: User, study: Study, *, gold: bool) -> bool:
    return (
        connection.features.has_select_for_update_skip_locked
        and _free(grader.pk, study.pk, gold=gold, overlap=study.overlap).exists()
    )


def _next_free(locked: bool, **free) -> QuerySet[Task]:
    tasks = _free(**free).select_related("prompt", "response_a", "response_b")[:1]
    # Graders asking at once take different tasks. NO KEY UPDATE does not block votes
    # that reference the task; OF self leaves the prompt and responses unlocked.
    return tasks.select_for_update(skip_locked=True, no_key=True, of=("self",)) if locked else tasks


# The hand-out's read, compiled once per connection (annotation.prepared).
_NEXT_FREE = PreparedSelect(
    lambda locked, *, grader_id, study_id, overlap: _next_free(
        locked, grader_id=grader_id, study_id=study_id, gold=False, overlap=overlap
    ),
    grader_id=models.IntegerField(),
    study_id=models.IntegerField(),
    overlap=models.IntegerField(),
)
_NEXT_GOLD = PreparedSelect(
    lambda locked, *, grader_id, study_id: _next_free(
        locked, grader_id=grader_id, study_id=study_id, gold=True
    ),
    grader_id=models.IntegerField(),
    study_id=models.IntegerField(),
)


def _claim_slot(*, grader_id, task_id, overlap=None):
    """Conditional: the slot must still be free (gold tasks have no limit), and the
    grader's own other request must not have taken this task meanwhile (PostgreSQL:
    between our snapshot and the lock)."""
    claimed = Task.objects.filter(~_held_by(grader_id), pk=task_id)
    if overlap is not None:
        claimed = claimed.filter(slots_taken__lt=overlap)
    return claimed, {"slots_taken": F("slots_taken") + 1}


_CLAIM = PreparedUpdate(
    _claim_slot,
    grader_id=models.IntegerField(),
    task_id=models.IntegerField(),
    overlap=models.IntegerField(),
)
_CLAIM_GOLD = PreparedUpdate(
    _claim_slot, grader_id=models.IntegerField(), task_id=models.IntegerField()
)


def _take(grader: User, study: Study, *, gold: bool, rng: random.Random):
    """One attempt, inside the caller's transaction, to hand the grader the least-filled
    free task: the new assignment (with its texts), None when
    no free task is found, or LOST when another grader filled it first."""
    locked = connection.features.has_select_for_update_skip_locked
    if gold:
        task = _NEXT_GOLD.first(locked, grader_id=grader.pk, study_id=study.pk)
    else:
        task = _NEXT_FREE.first(
            locked, grader_id=grader.pk, study_id=study.pk, overlap=study.overlap
        )
    if task is None:
        return None
    if gold:
        claimed = _CLAIM_GOLD(grader_id=grader.pk, task_id=task.pk)
    else:
        claimed = _CLAIM(grader_id=grader.pk, task_id=task.pk, overlap=study.overlap)
    if claimed != 1:
        return LOST
    assignment = Assignment(
        task=task,
        grader=grader,
        a_on_left=rng.random() < 0.5,
        expires_at=Assignment.default_expiry(),
    )
    prepared.insert([assignment])
    return assignment


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


def record_vote(assignment: Assignment | int, grader: User, vote: Vote) -> tuple[Judgment, bool]:
    """Record the grader's vote on their assignment; (judgment, created).

    `assignment`: its id, or the assignment as the caller loaded it with its task and
    study (`for_vote`), which spares reading it again. A second submission of the same
    assignment (double-click, retried POST) returns the first judgment and writes nothing.
    """
    assignment = _for_grader(assignment, grader)
    with transaction.atomic():
        judgment, created, _progress = _record(assignment, grader, vote, random.SystemRandom())
        if created:
            assignment.task.study.results_changed(new_judgment=True)
    return judgment, created


@dataclass
class VoteResult:
    judgment: Judgment | RepeatJudgment  # a RepeatJudgment answers a re-served task
    created: bool
    # The next task, when it was taken in the vote's transaction.
    next_assignment: Assignment | None = None
    # The grader's progress after a new vote, as the vote's counter UPDATE returned it.
    progress: grader_stats.RowProgress | None = None


def vote_and_next(
    assignment: Assignment, grader: User, vote: Vote, *, holding: bool, rng=None
) -> VoteResult:
    """`record_vote`, and in the same transaction (one commit) the grader's next task.

    The next assignment is None when it was not taken here: the vote was not new, the
    grader holds another task (`holding`), or no free task was found at the first
    attempt; `next_assignment` then serves the next one.
    """
    rng = rng or random.SystemRandom()
    study = assignment.task.study
    with transaction.atomic():
        judgment, created, progress = _record(assignment, grader, vote, rng)
        result = VoteResult(judgment, created, progress=progress)
        if not created:
            return result
        if not holding and serving(study) and study.repeat_fraction > 0:
            result.next_assignment = _take_repeat(grader, study, due_only=True)
        if not holding and serving(study) and result.next_assignment is None:
            for gold in _kinds_to_try(study, rng):
                # An IntegrityError cannot happen here: the claim's conditional UPDATE
                # sees any assignment of this grader committed before it took the lock.
                taken = _take(grader, study, gold=gold, rng=rng)
                if taken is not None:
                    result.next_assignment = None if taken is LOST else taken
                    break
        # A new judgment writes no shared row: its own id moves the results' data version.
        study.results_changed(new_judgment=True)
    return result


def _for_grader(assignment: Assignment | int, grader: User) -> Assignment:
    if isinstance(assignment, Assignment):
        return assignment
    loaded = (
        Assignment.objects.select_related("task__study")
        .filter(pk=assignment, grader=grader)
        .first()
    )
    if loaded is None:
        raise HandoutError("This task is not assigned to you.")
    return loaded


_ANSWER = PreparedUpdate(
    lambda *, assignment_id, grader_id: (
        Assignment.objects.filter(
            pk=assignment_id, grader_id=grader_id, status=Assignment.Status.ACTIVE
        ),
        {"status": Assignment.Status.DONE},
    ),
    assignment_id=models.IntegerField(),
    grader_id=models.IntegerField(),
)


def _record(assignment: Assignment, grader: User, vote: Vote, rng: random.Random):
    """record_vote's writes, inside the caller's transaction: (judgment, created, the
    grader's progress after a new vote). The caller tells the study's results
    (`Study.results_changed`) when a judgment was created. A re-served task's answer is
    a RepeatJudgment (`_record_repeat`)."""
    task = assignment.task
    study = task.study
    # The conditional UPDATE is the guard: of two submissions at once, one flips it.
    held = _ANSWER(assignment_id=assignment.pk, grader_id=grader.pk) == 1
    if not held:
        status = (
            Assignment.objects.select_for_update()
            .filter(pk=assignment.pk, grader=grader)
            .values_list("status", flat=True)
            .first()
        )
        if status is None:
            raise HandoutError("This task is not assigned to you.")
        if status == Assignment.Status.DONE:
            return _answer_of(assignment, task, grader), False, None
        if status == Assignment.Status.QUEUED:  # a re-serve not handed out yet
            raise HandoutError("This task is not assigned to you.")
        if not assignment.repeat:  # a re-serve holds no slot
            _reclaim(task, study)
        Assignment.objects.filter(pk=assignment.pk).update(status=Assignment.Status.DONE)
    assignment.status = Assignment.Status.DONE
    if assignment.repeat:
        return _record_repeat(assignment, grader, vote)
    judgment = Judgment(
        task=task,
        grader=grader,
        assignment=assignment,
        verdict=stored_verdict(assignment, vote.verdict),
        comment=vote.comment,
        seconds=vote.seconds,
    )
    prepared.insert([judgment])
    _write_ratings(judgment, assignment, vote)
    progress = grader_stats.count_vote(
        study, grader, task, judgment, _single_label(vote), held=held
    )
    if study.repeat_fraction > 0 and _drawn_for_repeat(study, task, rng):
        _queue_repeat(assignment, progress.done)
    schedule.vote_counted(study, progress.done)
    return judgment, True, progress


def _answer_of(assignment: Assignment, task: Task, grader: User) -> Judgment | RepeatJudgment:
    """The answer already stored for an assignment."""
    if assignment.repeat:
        return RepeatJudgment.objects.select_related("assignment").get(assignment=assignment)
    return Judgment.objects.get(task=task, grader=grader)


def _drawn_for_repeat(study: Study, task: Task, rng: random.Random) -> bool:
    """Whether this first judgment of a regular pair is drawn to be re-served swapped."""
    return task.kind == Task.Kind.PAIR and not task.is_gold and rng.random() < study.repeat_fraction


def _queue_repeat(first: Assignment, done: int | None) -> None:
    """Queue the task to come back to the grader with the sides swapped after at least
    `repeat_after` more of their tasks (`done`: their task count after this vote)."""
    study = first.task.study
    now = timezone.now()
    repeat = Assignment(
        task=first.task,
        grader_id=first.grader_id,
        status=Assignment.Status.QUEUED,
        a_on_left=not first.a_on_left,
        repeat=True,
        due_after=(done or 0) + study.repeat_after,
        assigned_at=now,
        expires_at=now,
    )
    prepared.insert([repeat])


def _record_repeat(assignment: Assignment, grader: User, vote: Vote):
    """A re-served task's answer: the verdict (and comment and time) as a RepeatJudgment,
    tied to the grader's first judgment of the task, and their progress moved. Ratings and
    tags are not kept: swap consistency reads the verdict, and a second rating of the same
    response would count it twice."""
    task = assignment.task
    first = Judgment.objects.filter(task=task, grader=grader).values_list("pk", flat=True).first()
    if first is None:  # the first judgment was deleted since: nothing to compare with
        raise HandoutError("This task is no longer in the study; here is a new one.")
    answer = RepeatJudgment(
        task=task,
        grader=grader,
        first_id=first,
        assignment=assignment,
        verdict=stored_verdict(assignment, vote.verdict),
        comment=vote.comment,
        seconds=vote.seconds,
    )
    prepared.insert([answer])
    progress = grader_stats.count_repeat(task.study, grader)
    return answer, True, progress


def _single_label(vote: Vote) -> str:
    """The rating label of a single response (what a single-response gold task checks)."""
    return (vote.ratings or {}).get("single", "")


def _reclaim(task: Task, study: Study) -> None:
    """A vote on an expired or skipped assignment counts if the task still has a free slot."""
    claimed = Task.objects.filter(pk=task.pk)
    if not task.is_gold:
        claimed = claimed.filter(slots_taken__lt=study.overlap)
    if claimed.update(slots_taken=F("slots_taken") + 1) != 1:
        raise TaskTimedOut("This task timed out and went to other graders; here is a new one.")


def vote_matches(judgment: Judgment | RepeatJudgment, vote: Vote) -> bool:
    """Whether `vote` (in the screen sides of the judgment's assignment) is the answer
    already stored, so that a repeated submission can be told apart from a different one.
    (A re-serve's answer keeps its verdict and comment only.)"""
    assignment = judgment.assignment
    if judgment.verdict != stored_verdict(assignment, vote.verdict):
        return False
    if judgment.comment != vote.comment:
        return False
    if isinstance(judgment, RepeatJudgment):
        return True
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
    prepared.insert(rows)


def change_vote(judgment: Judgment, vote: Vote) -> Judgment:
    """Replace the verdict, ratings, tags and comment of an earlier judgment."""
    with transaction.atomic():
        judgment = (
            Judgment.objects.select_for_update(of=("self",))
            .select_related("assignment__task__study", "grader")
            .get(pk=judgment.pk)
        )
        assignment = judgment.assignment
        task = assignment.task
        old_label = next((r.label for r in judgment.ratings.all()), "")
        before = grader_stats.Contribution.of(task, judgment.verdict, old_label, judgment.seconds)
        judgment.verdict = stored_verdict(assignment, vote.verdict)
        judgment.comment = vote.comment
        judgment.save(update_fields=["verdict", "comment", "updated_at"])
        judgment.ratings.all().delete()
        _write_ratings(judgment, assignment, vote)
        after = grader_stats.Contribution.of(
            task, judgment.verdict, _single_label(vote), judgment.seconds
        )
        grader_stats.count_change(task.study, judgment.grader, task, before, after)
        task.study.results_changed()
    return judgment


def skip(assignment_id: int, grader: User) -> bool:
    """Give an assignment back unanswered: its slot returns to the pool, and this grader
    will not be shown the task again."""
    with transaction.atomic():
        assignment = (
            Assignment.objects.select_for_update(of=("self",))
            .select_related("task")
            .filter(pk=assignment_id, grader=grader, status=Assignment.Status.ACTIVE)
            .first()
        )
        if assignment is None:
            return False
        assignment.status = Assignment.Status.SKIPPED
        assignment.save(update_fields=["status"])
        if assignment.repeat:  # a re-serve holds no slot and is not in the progress count
            return True
        Task.objects.filter(pk=assignment.task_id, slots_taken__gt=0).update(
            slots_taken=F("slots_taken") - 1
        )
        if not assignment.task.is_gold:
            grader_stats.count_release(assignment.task.study_id, grader.pk)
    return True


def unskip(assignment_id: int, grader: User) -> Assignment:
    """Bring a skipped task back to the grader, if it still has a free slot.

    The reopened assignment is older than any the grader holds now, so the grading
    screen shows it next. Raises HandoutError (TaskTimedOut when the slots filled up).
    """
    with transaction.atomic():
        assignment = (
            Assignment.objects.select_for_update(of=("self",))
            .select_related("task__study", *SCREEN_RELATED)
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
        if not assignment.repeat and claimed.update(slots_taken=F("slots_taken") + 1) != 1:
            raise TaskTimedOut("That task has since gone to other graders, so it cannot come back.")
        assignment.status = Assignment.Status.ACTIVE
        assignment.expires_at = Assignment.default_expiry()
        assignment.save(update_fields=["status", "expires_at"])
        if not task.is_gold and not assignment.repeat:
            grader_stats.count_reopen(task.study, grader)
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


def refresh_quality(study: Study, grader: User) -> GraderQuality:
    """Count the grader's quality signals and progress again in full (grader_stats.refresh)."""
    return grader_stats.refresh(study, grader)
