"""Each grader's quality signals and progress in a study, kept current at a constant cost.

The vote path (`handout.record_vote`) moves a grader's counters with one UPDATE of their
GraderQuality row, however long their history: judgments of regular and of gold tasks,
gold answered correctly, pairs and ties, timed judgments. What is derived from them is
kept as follows:

- The median seconds per task. An exact median needs every time the grader took, so it
  is recomputed when a researcher reads it (`for_study`), for the graders who judged
  since the last read: one query for all of them. It is exact whenever it is read
  through `for_study`; the stored column alone may lag behind (`median_of` says how many
  timed judgments it covers). The tie share (ties / pairs) is written there too.
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
from datetime import timedelta

from django.db import connection
from django.db.models import Count, F, FloatField, Q, QuerySet
from django.db.models.functions import Cast, NullIf
from django.utils import timezone

from annotation.models import GraderQuality, Judgment, RepeatJudgment, Study, Task, User
from annotation.progress import Progress, grader_progress

PROGRESS_RECOUNT_SECONDS = 60


@dataclass(frozen=True)
class Contribution:
    """What one judgment adds to its grader's counters (each 0 or 1)."""

    regular: int = 0
    gold: int = 0
    correct: int = 0
    pair: int = 0
    tie: int = 0
    timed: int = 0
    # A re-served task answered (handout: Study.repeat_fraction); only the progress counts it.
    repeat: int = 0

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
    "repeat": "repeats",
}


def _moves(delta: Contribution) -> dict:
    """The UPDATE that adds `delta` to a row's counters (expressions read the old row)."""
    changes = {
        COUNTER_OF[f.name]: F(COUNTER_OF[f.name]) + getattr(delta, f.name)
        for f in fields(delta)
        if getattr(delta, f.name)
    }
    if changes:
        changes["updated_at"] = timezone.now()
    return changes


@dataclass(frozen=True)
class RowProgress:
    """The progress a grader's row holds: `done` is None when they have no row yet;
    `stale` when their remaining tasks are due to be counted again."""

    done: int | None = None
    remaining: int | None = None
    stale: bool = True


def count_vote(
    study: Study, grader: User, task: Task, judgment: Judgment, label: str, *, held: bool
) -> RowProgress:
    """Add a new judgment to the grader's counters, inside the vote's transaction, and
    return their progress after it: one UPDATE ... RETURNING, or a full count at their
    first vote. `held`: it answered an assignment the grader held, so a regular task
    leaves their remaining work."""
    delta = Contribution.of(task, judgment.verdict, label, judgment.seconds)
    leaves = int(held and bool(delta.regular))
    if connection.features.can_return_columns_from_insert:  # RETURNING: SQLite >= 3.35
        row = _add_returning(study.pk, grader.pk, delta, leaves)
    else:
        changes = _moves(delta)
        if leaves:
            changes["remaining"] = F("remaining") - 1
        updated = GraderQuality.objects.filter(study=study, grader=grader).update(**changes)
        row = read_progress(grader, study) if updated else None
    if row is None:
        quality = refresh(study, grader)
        return RowProgress(quality.done, quality.remaining, False)
    return row


def count_repeat(study: Study, grader: User) -> RowProgress:
    """A re-served task answered: one more task done on the grader's screen, nothing else
    (the first judgment of the task is the one every count reads)."""
    if connection.features.can_return_columns_from_insert:
        row = _add_returning(study.pk, grader.pk, Contribution(repeat=1), 0)
    else:
        changes = _moves(Contribution(repeat=1))
        updated = GraderQuality.objects.filter(study=study, grader=grader).update(**changes)
        row = read_progress(grader, study) if updated else None
    return row if row is not None else RowProgress(refresh(study, grader).done, None, True)


def _add_returning(study_id: int, grader_id: int, delta: Contribution, leaves: int):
    """The vote's counter UPDATE, which also returns the grader's progress, so that
    the vote needs no statement to read it. Written out because the ORM's update()
    cannot return rows; the names come from the model."""
    meta = GraderQuality._meta
    quote = connection.ops.quote_name

    def column(name: str) -> str:
        return quote(meta.get_field(name).column)

    sets, params = [], []
    for f in fields(delta):
        if getattr(delta, f.name):
            counter = column(COUNTER_OF[f.name])
            sets.append(f"{counter} = {counter} + %s")
            params.append(getattr(delta, f.name))
    remaining, counted_at = column("remaining"), column("remaining_counted_at")
    sets.append(f"{remaining} = {remaining} - %s")
    now = timezone.now()
    sets.append(f"{column('updated_at')} = %s")
    params += [leaves, meta.get_field("updated_at").get_db_prep_value(now, connection)]
    cutoff = now - timedelta(seconds=PROGRESS_RECOUNT_SECONDS)
    params += [
        study_id,
        grader_id,
        meta.get_field("remaining_counted_at").get_db_prep_value(cutoff, connection),
    ]
    sql = (
        f"UPDATE {quote(meta.db_table)} SET {', '.join(sets)}"
        f" WHERE {column('study')} = %s AND {column('grader')} = %s"
        f" RETURNING {column('judgments')} + {column('gold_seen')} + {column('repeats')},"
        f" {remaining},"
        f" CASE WHEN {remaining} IS NULL OR {counted_at} IS NULL OR {counted_at} < %s"
        " THEN 1 ELSE 0 END"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    return None if row is None else RowProgress(row[0], row[1], bool(row[2]))


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
    repeats = RepeatJudgment.objects.filter(task__study=study, grader=grader).count()
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
            "repeats": repeats,
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
        GraderQuality.objects.filter(study=study).update(
            tie_share=Cast("ties", FloatField()) / NullIf(Cast("pairs", FloatField()), 0.0)
        )
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
class ScreenProgress(Progress):
    # Whether the grader has an answer of this screen that "change my last answer" opens.
    answered_here: bool


def read_progress(grader: User, study: Study) -> RowProgress:
    """The grader's progress as their row holds it (one statement)."""
    row = (
        GraderQuality.objects.filter(study=study, grader=grader)
        .values_list(
            F("judgments") + F("gold_seen") + F("repeats"), "remaining", "remaining_counted_at"
        )
        .first()
    )
    if row is None:
        return RowProgress()
    done, remaining, counted_at = row
    stale = (
        remaining is None
        or counted_at is None
        or (timezone.now() - counted_at).total_seconds() > PROGRESS_RECOUNT_SECONDS
    )
    return RowProgress(done, remaining, stale)


def screen_progress(
    grader: User, study: Study, row: RowProgress | None = None, *, recount: bool = False
) -> ScreenProgress:
    """What the grader's progress bar shows. `row`: their progress as the caller already
    has it (a vote returns it); without it, the row is read here. `recount`: count the
    remaining tasks exactly now (the "all done" screen)."""
    row = row or read_progress(grader, study)
    if row.done is None:  # No vote here yet: count, as cheap as the grader's history is short.
        from annotation.handout import has_judged_here

        exact = grader_progress(grader, [study])[0]
        return ScreenProgress(exact.done, exact.remaining, has_judged_here(grader, study))
    remaining = row.remaining
    if recount or row.stale:
        remaining = count_remaining(grader, study)
    return ScreenProgress(row.done, max(remaining, 0), row.done > 0)


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
