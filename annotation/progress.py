"""How far graders and studies have come: counts for the home page and dashboards."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from django.db.models import Count, F

from annotation.models import Assignment, Judgment, RepeatJudgment, Study, Task, User


@dataclass
class Progress:
    """Tasks done and still to do, as a progress bar shows them."""

    done: int
    remaining: int

    @property
    def total(self) -> int:
        return self.done + self.remaining

    @property
    def percent(self) -> int:
        return round(100 * self.done / self.total) if self.total else 100


@dataclass
class GraderStudyProgress(Progress):
    study: Study


def grader_progress(grader: User, studies: list[Study]) -> list[GraderStudyProgress]:
    """For each study: the grader's judgments, and the tasks still open to them.

    A regular task is open to a grader while it has free slots and the grader holds no
    assignment for it (an unanswered assignment of theirs counts as remaining). Gold
    tasks count once answered.
    """
    if not studies:
        return []
    ids = [s.pk for s in studies]
    # The grader's own rows are found through the grader indexes, without a study filter
    # that would make the database walk every task of the study.
    done = Counter(
        dict(
            Judgment.objects.filter(grader=grader)
            .values_list("task__study_id")
            .annotate(n=Count("id"))
        )
    )
    # Re-served tasks answered count as done, as they do on the grading screen.
    done.update(
        dict(
            RepeatJudgment.objects.filter(grader=grader)
            .values_list("task__study_id")
            .annotate(n=Count("id"))
        )
    )
    # Re-served tasks (Assignment.repeat) are neither open nor held work: they take no slot.
    held = dict(
        Assignment.objects.filter(
            grader=grader,
            status=Assignment.Status.ACTIVE,
            task__is_gold__in=[False],
            repeat__in=[False],
        )
        .values_list("task__study_id")
        .annotate(n=Count("id"))
    )
    mine_open = dict(
        Assignment.objects.filter(
            grader=grader,
            repeat__in=[False],
            task__is_gold__in=[False],
            task__in_queue__in=[True],
            task__slots_taken__lt=F("task__study__overlap"),
        )
        .values_list("task__study_id")
        .annotate(n=Count("id"))
    )
    all_open = dict(
        Task.objects.filter(
            study_id__in=ids,
            is_gold__in=[False],
            in_queue__in=[True],
            slots_taken__lt=F("study__overlap"),
        )
        .values_list("study_id")
        .annotate(n=Count("id"))
    )
    open_tasks = {pk: all_open.get(pk, 0) - mine_open.get(pk, 0) for pk in ids}
    return [
        GraderStudyProgress(
            study=s,
            done=done.get(s.pk, 0),
            remaining=open_tasks.get(s.pk, 0) + held.get(s.pk, 0),
        )
        for s in studies
    ]
