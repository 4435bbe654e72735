"""Each grader's quality signals and progress in a study, kept current at a constant cost.

The vote path (`handout.record_vote`) moves a grader's counters with one UPDATE of their
GraderQuality row, however long their history: judgments of regular and of gold tasks,
gold answered correctly, pairs and ties (hence the tie share), timed judgments. Two
numbers cannot be kept that way, and are kept as follows:

- The median seconds per task. An exact median needs every time the grader took, so it
  is recomputed when a researcher reads it (`for_study`), for the graders who judged
  since the last read: one query for all of them. It is exact whenever it is read
  through `for_study`; the stored column alone may lag behind (`median_of` says how many
  timed judgments it covers).
- The tasks still open to the grader, for their progress bar. Every other grader's
  hand-out changes it, so it is counted exactly (`progress.grader_progress`, whose cost
  grows with the study) at most once every PROGRESS_RECOUNT_SECONDS per grader, when
  nothing is left to hand out, and at their first vote; in between it moves with the
  grader's own votes and skips. Their own work is therefore always told exactly; what
  others took meanwhile shows within a minute.

A grader's row is created, from a full count, at their first vote in the study
(`refresh`), so the table lists exactly the graders who voted.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass, fields

from django.db.models import Count, F, FloatField, Q, QuerySet, Subquery
from django.db.models.functions import Cast, NullIf
from django.utils import timezone

from annotation.models import GraderQuality, Judgment, Study, Task, User
from annotation.progress import grader_progress

PROGRESS_RECOUNT_SECONDS = 60
# What `with_progress` annotates a query with.
PROGRESS_FIELDS = ("progress_done", "progress_remaining", "progress_counted_at")


@dataclass(frozen=True)
class Contribution:
    """What one judgment adds to its grader's counters (each 0 or 1)."""

    regular: int = 0
    gold: int = 0
    correct: int = 0
    pair: int = 0
    tie: int = 0
    timed: int = 0

    @classmethod
    def of(cls, task: Task, verdict: str, label: str, seconds: float | None) -> Contribution:
        """`label`: the rating label given, which answers a single-response gold task."""
        pair = task.kind == Task.Kind.PAIR
        correct = task.is_gold and (verdict if pair else label) == task.gold_answer
        return cls(
            regular=int(not task.is_gold),
            gold=int(task.is_gold),
            correct=int(correct),
            pair=int(pair),
            tie=int(pair and verdict == Judgment.Verdict.TIE),
            timed=int(seconds is not None),
        )

    def minus(self, other: Contribution) -> Contribution:
        return Contribution(
            **{f.name: getattr(self, f.name) - getattr(other, f.name) for f in fields(self)}
        )


COUNTER_OF = {
    "regular": "judgments",
    "gold": "gold_seen",
    "correct": "gold_correct",
    "pair": "pairs",
    "tie": "ties",
    "timed": "timed",
}


def _moves(delta: Contribution) -> dict:
    """The UPDATE that adds `delta` to a row's counters (expressions read the old row)."""
    changes = {
        COUNTER_OF[f.name]: F(COUNTER_OF[f.name]) + getattr(delta, f.name)
        for f in fields(delta)
        if getattr(delta, f.name)
    }
    if delta.pair or delta.tie:
        changes["tie_share"] = Cast(F("ties") + delta.tie, FloatField()) / NullIf(
            Cast(F("pairs") + delta.pair, FloatField()), 0.0
        )
    if changes:
        changes["updated_at"] = timezone.now()
    return changes


def count_vote(
    study: Study, grader: User, task: Task, judgment: Judgment, label: str, *, held: bool
) -> None:
    """Add a new judgment to the grader's counters, inside the vote's transaction: one
    UPDATE, or a full count at their first vote. `held`: it answered an assignment the
    grader held, so a regular task leaves their remaining work."""
    delta = Contribution.of(task, judgment.verdict, label, judgment.seconds)
    changes = _moves(delta)
    if held and delta.regular:
        changes["remaining"] = F("remaining") - 1
    if not GraderQuality.objects.filter(study=study, grader=grader).update(**changes):
        refresh(study, grader)


def count_change(
    study: Study, grader: User, task: Task, before: Contribution, after: Contribution
) -> None:
    """Replace an earlier judgment's contribution by its changed one (a changed answer)."""
    changes = _moves(after.minus(before))
    if changes and not GraderQuality.objects.filter(study=study, grader=grader).update(**changes):
        refresh(study, grader)


def count_release(study: Study, grader_id: int) -> None:
    """A regular task the grader held went back to the pool (skipped or expired)."""
    GraderQuality.objects.filter(study=study, grader_id=grader_id).update(
        remaining=F("remaining") - 1
    )


def count_reopen(study: Study, grader: User) -> None:
    """A regular task the grader had skipped is theirs again."""
    GraderQuality.objects.filter(study=study, grader=grader).update(remaining=F("remaining") + 1)


def _label(judgment: Judgment) -> str:
    return next((r.label for r in judgment.ratings.all()), "")


def refresh(study: Study, grader: User) -> GraderQuality:
    """Count the grader's row again from all their judgments in the study (and their
    progress from the study's tasks): the full cost, paid at their first vote and when a
    researcher's read finds the counters out of step with the judgments."""
    mine = Judgment.objects.filter(task__study=study, grader=grader)
    counts = mine.aggregate(
        regular=Count("pk", filter=Q(task__is_gold=False)),
        pairs=Count("pk", filter=Q(task__kind=Task.Kind.PAIR)),
        ties=Count("pk", filter=Q(task__kind=Task.Kind.PAIR, verdict=Judgment.Verdict.TIE)),
    )
    seconds = list(mine.exclude(seconds=None).values_list("seconds", flat=True))
    gold = list(mine.filter(task__is_gold=True).select_related("task").prefetch_related("ratings"))
    correct = sum(Contribution.of(j.task, j.verdict, _label(j), None).correct for j in gold)
    progress = grader_progress(grader, [study])[0]
    quality, _ = GraderQuality.objects.update_or_create(
        study=study,
        grader=grader,
        defaults={
            "judgments": counts["regular"],
            "gold_seen": len(gold),
            "gold_correct": correct,
            "pairs": counts["pairs"],
            "ties": counts["ties"],
            "timed": len(seconds),
            "median_seconds": statistics.median(seconds) if seconds else None,
            "median_of": len(seconds),
            "tie_share": counts["ties"] / counts["pairs"] if counts["pairs"] else None,
            "remaining": progress.remaining,
            "remaining_counted_at": timezone.now(),
        },
    )
    return quality


def for_study(study: Study) -> QuerySet[GraderQuality]:
    """The study's grader-quality rows, each one current, for researchers' pages.

    Recomputes the medians of the graders who judged since the last read (one query for
    all of them), and counts again in full any grader whose counters no longer match
    their judgments (judgments imported or removed since). The cost grows with the
    study, as every result does; the vote path never calls this.
    """
    rows = {
        grader_id: (total, timed, median_of)
        for grader_id, total, timed, median_of in GraderQuality.objects.filter(
            study=study
        ).values_list("grader_id", F("judgments") + F("gold_seen"), "timed", "median_of")
    }
    if rows:
        actual = {
            grader_id: (n, timed)
            for grader_id, n, timed in Judgment.objects.filter(
                task__study=study, grader_id__in=list(rows)
            )
            .values("grader_id")
            .annotate(n=Count("pk"), timed=Count("seconds"))
            .values_list("grader_id", "n", "timed")
        }
        stale = []
        for grader_id, (total, timed, median_of) in rows.items():
            if actual.get(grader_id, (0, 0)) != (total, timed):
                refresh(study, User(pk=grader_id))
            elif median_of != timed:
                stale.append(grader_id)
        _recompute_medians(study, stale)
    return GraderQuality.objects.filter(study=study)


def _recompute_medians(study: Study, grader_ids: list[int]) -> None:
    if not grader_ids:
        return
    seconds = defaultdict(list)
    for grader_id, value in Judgment.objects.filter(
        task__study=study, grader_id__in=grader_ids, seconds__isnull=False
    ).values_list("grader_id", "seconds"):
        seconds[grader_id].append(value)
    for grader_id in grader_ids:
        values = seconds[grader_id]
        # median_of is what was read: a vote committed since leaves the row stale.
        GraderQuality.objects.filter(study=study, grader_id=grader_id).update(
            median_seconds=statistics.median(values) if values else None, median_of=len(values)
        )


# --- the grader's progress on their screen -------------------------------------------------


@dataclass
class ScreenProgress:
    done: int
    remaining: int
    # Whether the grader has an answer of this screen that "change my last answer" opens.
    answered_here: bool

    @property
    def total(self) -> int:
        return self.done + self.remaining

    @property
    def percent(self) -> int:
        return round(100 * self.done / self.total) if self.total else 100


def with_progress(queryset: QuerySet, grader: User, study: Study) -> QuerySet:
    """`queryset` with the grader's progress read in the same statement, so that the query
    that finds the task on screen also brings what the progress bar shows."""
    row = GraderQuality.objects.filter(study=study, grader=grader)
    return queryset.annotate(
        progress_done=Subquery(row.values(n=F("judgments") + F("gold_seen"))[:1]),
        progress_remaining=Subquery(row.values("remaining")[:1]),
        progress_counted_at=Subquery(row.values("remaining_counted_at")[:1]),
    )


def carry_progress(source, target) -> None:
    """Hand the progress read with `source` (a task) on to `target` (its new assignment)."""
    for name in PROGRESS_FIELDS:
        if hasattr(source, name):
            setattr(target, name, getattr(source, name))


def screen_progress(
    grader: User, study: Study, source=None, *, recount: bool = False
) -> ScreenProgress:
    """What the grader's progress bar shows. `source`: an object read `with_progress`
    (the assignment on screen); without it, the grader's row is read here. `recount`:
    count the remaining tasks exactly now (the "all done" screen)."""
    if source is not None and hasattr(source, PROGRESS_FIELDS[0]):
        done, remaining, counted_at = (getattr(source, name) for name in PROGRESS_FIELDS)
    else:
        row = (
            GraderQuality.objects.filter(study=study, grader=grader)
            .values_list(F("judgments") + F("gold_seen"), "remaining", "remaining_counted_at")
            .first()
        )
        done, remaining, counted_at = row or (None, None, None)
    if done is None:  # No vote here yet: count, as cheap as the grader's history is short.
        from annotation.handout import has_judged_here

        exact = grader_progress(grader, [study])[0]
        return ScreenProgress(exact.done, exact.remaining, has_judged_here(grader, study))
    if (
        recount
        or remaining is None
        or counted_at is None
        or (timezone.now() - counted_at).total_seconds() > PROGRESS_RECOUNT_SECONDS
    ):
        remaining = count_remaining(grader, study)
    return ScreenProgress(done, max(remaining, 0), done > 0)


def count_remaining(grader: User, study: Study) -> int:
    """Count the grader's remaining tasks exactly and keep the count. First return the
    study's expired slots to the pool, so that they count as open again, and so that
    expired slots go back at least this often besides whenever a grader finds nothing."""
    from annotation.handout import release_expired

    release_expired(study)
    remaining = grader_progress(grader, [study])[0].remaining
    GraderQuality.objects.filter(study=study, grader=grader).update(
        remaining=remaining, remaining_counted_at=timezone.now()
    )
    return remaining
