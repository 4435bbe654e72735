"""Which version of a study's data cached results belong to, read without a vote ever
writing a shared row.

Two stamps, both strings that change whenever the data may have changed:

- `data_version(study)`: exact. The study's explicit counter (`Study.results_version`,
  bumped by imports, metric scores, edits and deletions through `Study.results_changed`),
  its settings that results depend on, and the number and highest id of its judgments.
  One aggregate over the study's judgments: cheap for a worker, a few hundred ms at
  100,000 judgments, so requests do not run it.
- `watermark(study)`: cheap (two index lookups). The counter and settings, and the highest
  judgment id in the whole database. A new vote anywhere moves it, so an unchanged
  watermark proves the results current; a moved one only says "look again", and the
  background refresh then compares `data_version` before recomputing anything.

A new judgment needs no write beyond its own row: ids only grow, so it moves both stamps.
An answered re-serve (RepeatJudgment, read only by the swap-consistency result) moves both
by its own row too: the highest re-serve id in the database is part of the study's stamp,
read in the same query as the study's row (a re-serve in another study may then make a
result be recomputed for nothing; never the other way round).
"""

from __future__ import annotations

import hashlib
import json

from django.db.models import Count, Max, Subquery

from annotation.models import Judgment, RepeatJudgment, Study

SETTINGS = ("good_labels", "tags", "rating_scale", "overlap", "protocol", "min_median_seconds")


def _study_part(study_pk: int) -> str:
    last_repeat = RepeatJudgment.objects.order_by("-pk").values("pk")[:1]
    row = (
        Study.objects.annotate(last_repeat=Subquery(last_repeat))
        .values("results_version", "last_repeat", *SETTINGS)
        .get(pk=study_pk)
    )
    settings = json.dumps([row[name] for name in SETTINGS], sort_keys=True)
    digest = hashlib.sha1(settings.encode()).hexdigest()[:10]
    repeats = f".r{row['last_repeat']}" if row["last_repeat"] else ""
    return f"{row['results_version']}.{digest}{repeats}"


def watermark(study: Study | int) -> str:
    """The cheap stamp (see the module docstring)."""
    pk = getattr(study, "pk", study)
    last = Judgment.objects.aggregate(last=Max("id"))["last"] or 0
    return f"w{_study_part(pk)}.{last}"


def data_version(study: Study | int) -> str:
    """The exact stamp (see the module docstring)."""
    pk = getattr(study, "pk", study)
    judged = Judgment.objects.filter(task__study_id=pk).aggregate(n=Count("id"), last=Max("id"))
    return f"v{_study_part(pk)}.{judged['n']}.{judged['last'] or 0}"
