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
    graders: int

    @property
    def percent(self) -> float:
        return round(100 * min(self.judgments, self.slots) / self.slots, 1) if self.slots else 0.0

    @property
    def complete(self) -> bool:
        return self.slots > 0 and self.judgments >= self.slots


def study_progress(studies: list[Study]) -> dict[int, StudyProgress]:
    """For each study (by primary key): human judgments, human slots and graders so far."""
    ids = [s.pk for s in studies]
    if not ids:
        return {}
    tasks = dict(
        Task.objects.filter(study_id__in=ids, is_gold=False)
        .values_list("study_id")
        .annotate(n=Count("pk"))
    )
    done = {
        study_id: (n, graders)
        for study_id, n, graders in Judgment.objects.filter(
            task__study_id__in=ids, task__is_gold=False, grader__kind=User.Kind.HUMAN
        )
        .values_list("task__study_id")
        .annotate(n=Count("pk"), graders=Count("grader_id", distinct=True))
    }
    return {
        s.pk: StudyProgress(
            judgments=done.get(s.pk, (0, 0))[0],
            slots=tasks.get(s.pk, 0) * s.overlap,
            graders=done.get(s.pk, (0, 0))[1],
        )
        for s in studies
    }
