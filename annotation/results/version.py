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
An answered re-serve (RepeatJudgment, read by the swap-consistency result) moves them the
same way, by its own row.
"""

from __future__ import annotations

import hashlib
import json

from django.db.models import Count, Max

from annotation.models import Judgment, RepeatJudgment, Study

SETTINGS = ("good_labels", "tags", "rating_scale", "overlap", "protocol")


def _study_part(study_pk: int) -> str:
    row = Study.objects.values("results_version", *SETTINGS).get(pk=study_pk)
    settings = json.dumps([row[name] for name in SETTINGS], sort_keys=True)
    digest = hashlib.sha1(settings.encode()).hexdigest()[:10]
    return f"{row['results_version']}.{digest}"


def watermark(study: Study | int) -> str:
    """The cheap stamp (see the module docstring)."""
    pk = getattr(study, "pk", study)
    last = Judgment.objects.aggregate(last=Max("id"))["last"] or 0
    repeat = RepeatJudgment.objects.aggregate(last=Max("id"))["last"] or 0
    return f"w{_study_part(pk)}.{last}" + (f".r{repeat}" if repeat else "")


def data_version(study: Study | int) -> str:
    """The exact stamp (see the module docstring)."""
    pk = getattr(study, "pk", study)
    judged = Judgment.objects.filter(task__study_id=pk).aggregate(n=Count("id"), last=Max("id"))
    version = f"v{_study_part(pk)}.{judged['n']}.{judged['last'] or 0}"
    repeats = RepeatJudgment.objects.filter(task__study_id=pk).aggregate(
        n=Count("id"), last=Max("id")
    )
    return version + (f".r{repeats['n']}.{repeats['last']}" if repeats["n"] else "")
