"""How far graders and studies have come: counts for the home page and dashboards."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, F, Q

from annotation.models import Assignment, Judgment, Study, Task, User


@dataclass
class GraderStudyProgress:
    study: Study
    done: int
    remaining: int

    @property
    def total(self) -> int:
        return self.done + self.remaining

    @property
    def percent(self) -> int:
        return round(100 * self.done / self.total) if self.total else 100


def grader_progress(grader: User, studies: list[Study]) -> list[GraderStudyProgress]:
    """For each study: the grader's judgments, and the tasks still open to them.

    A task is open to a grader while it has free slots and the grader holds no
    assignment for it (an unanswered assignment of theirs counts as remaining).
    """
    if not studies:
        return []
    ids = [s.pk for s in studies]
    done = dict(
        Judgment.objects.filter(grader=grader, task__study_id__in=ids)
        .values_list("task__study_id")
        .annotate(n=Count("id"))
    )
    held = dict(
        Assignment.objects.filter(
            grader=grader, task__study_id__in=ids, status=Assignment.Status.ACTIVE
        )
        .values_list("task__study_id")
        .annotate(n=Count("id"))
    )
    open_tasks = dict(
        Task.objects.filter(study_id__in=ids, is_gold=False, slots_taken__lt=F("study__overlap"))
        .exclude(Q(assignments__grader=grader))
        .values_list("study_id")
        .annotate(n=Count("id"))
    )
    return [
        GraderStudyProgress(
            study=s,
            done=done.get(s.pk, 0),
            remaining=open_tasks.get(s.pk, 0) + held.get(s.pk, 0),
        )
        for s in studies
    ]
