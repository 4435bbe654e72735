"""What the home page shows of each study as a whole: every grader's work against its slots.

The same counts as the dashboard's progress (results.progress): human judgments on regular
tasks against tasks x overlap, since model judges and gold tasks fill no human slot.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count

from annotation.models import Judgment, Study, Task, User


@dataclass(frozen=True)
class StudyProgress:
    judgments: int
    slots: int

    @property
    def percent(self) -> float:
        return round(100 * min(self.judgments, self.slots) / self.slots, 1) if self.slots else 0.0

    @property
    def complete(self) -> bool:
        return self.slots > 0 and self.judgments >= self.slots


def study_progress(studies: list[Study]) -> dict[int, StudyProgress]:
    """For each study (by primary key): human judgments on regular tasks, and human slots.

    Every grader's home page shows this, so it stays two grouped counts: model judges (a
    handful of accounts) are left out by id rather than by joining every judgment's grader.
    """
    ids = [s.pk for s in studies]
    if not ids:
        return {}
    tasks = dict(
        Task.objects.filter(study_id__in=ids, is_gold=False)
        .values_list("study_id")
        .annotate(n=Count("pk"))
    )
    judges = list(User.objects.filter(kind=User.Kind.MODEL_JUDGE).values_list("pk", flat=True))
    done = dict(
        Judgment.objects.filter(task__study_id__in=ids, task__is_gold=False)
        .exclude(grader_id__in=judges)
        .values_list("task__study_id")
        .annotate(n=Count("pk"))
    )
    return {
        s.pk: StudyProgress(judgments=done.get(s.pk, 0), slots=tasks.get(s.pk, 0) * s.overlap)
        for s in studies
    }
