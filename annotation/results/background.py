"""Results too slow to compute in a request: computed by the background worker only.

Tag effects fit a Firth logistic regression with profile-likelihood intervals for every tag,
for the study and for every slice: seconds, where the dashboard's results must take less
than one. They are stored like the other results (`ResultCache`, stamped with the data
version), but never computed in a request: a reader that finds them missing or older than
the results it shows queues one job for that version (`compute_slow` on the database
queue, run by `manage.py db_worker`) and shows "computing" meanwhile, with the older
figures when there are any.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from django.db import transaction
from django_tasks import task

from annotation.models import ResultCache, Study
from annotation.results import snapshot
from annotation.results.store import clean, save_results, stored
from annotation.results.tag_effects import tag_effects_result
from annotation.results.version import data_version

SLOW: dict[str, Callable] = {"tag_effects": tag_effects_result}
CURRENT, COMPUTING = "current", "computing"


def _queued_key(name: str) -> str:
    return f"queued:{name}"


def compute(study: Study, name: str) -> dict:
    """Compute the slow result `name` for the data as it is now and store it (the job's
    work; tests and commands may call it directly)."""
    version = data_version(study)
    started = time.perf_counter()
    payload = clean(SLOW[name](snapshot.load(study, version=version)))
    save_results(study.pk, version, {name: payload}, {name: time.perf_counter() - started})
    return payload


@task()
def compute_slow(study_id: int, name: str) -> str:
    """The background job: compute one slow result unless it is already current."""
    study = Study.objects.filter(pk=study_id).first()
    if study is None:
        return "study deleted"
    row = stored(study, name)
    if row is not None and row.version == data_version(study):
        return "unchanged"
    compute(study, name)
    return "computed"


def slow_result(study: Study, name: str, version: str) -> tuple[dict | None, str]:
    """The stored result `name` and whether it matches data version `version` ("current")
    or is being computed ("computing": the older payload, or None when there is none yet).
    Queues one job per data version."""
    row = stored(study, name)
    if row is not None and row.version == version:
        return row.payload, CURRENT
    marker = _queued_key(name)
    # One job per version; two readers racing may queue two, and the second finds the
    # result current and does nothing.
    queued = stored(study, marker)
    if queued is None or queued.version != version:
        with transaction.atomic():
            save_results(study.pk, version, {marker: {}}, {})
            transaction.on_commit(lambda: compute_slow.enqueue(study.pk, name))
    return (row.payload if row is not None else None), COMPUTING


def forget_queued(study: Study) -> None:
    """Drop the queue markers (a test, or an admin who wants the jobs queued again)."""
    ResultCache.objects.filter(study=study, key__startswith="queued:").delete()
