"""Results too slow for the dashboard's refresh: computed by the background worker only.

Style control reads the text of every response (a second at 40,000 responses) and fits a
covariate model; position bias joins every vote with its screen side; rating-vote
consistency walks every grader's verdicts; tag effects fit a Firth logistic regression with
profile-likelihood intervals for every tag and slice (seconds). Together about three
seconds of CPU at 100,000 judgments (bench/bench_ties_results.py), where the dashboard's
whole cold computation has five. They are stored like the other results (`ResultCache`,
stamped with the data version) but never computed in a request: a reader that finds them
missing or older than the results it shows queues one job for that version
(`compute_slow`, run by `manage.py db_worker`), which computes all of them from one
snapshot, and shows "computing" meanwhile, with the older figures when there are any.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from django.db import transaction
from django_tasks import task

from annotation.models import ResultCache, Study
from annotation.results import snapshot
from annotation.results.consistency import rating_consistency
from annotation.results.position import position_bias
from annotation.results.store import clean, save_results, stored
from annotation.results.tag_effects import tag_effects_result
from annotation.results.ties import style_control
from annotation.results.version import data_version

SLOW: dict[str, Callable] = {
    "style": style_control,
    "position": position_bias,
    "consistency": rating_consistency,
    "tag_effects": tag_effects_result,
}
CURRENT, COMPUTING = "current", "computing"
QUEUED = "queued:slow"


def compute(study: Study) -> dict[str, dict]:
    """Compute every slow result for the data as it is now, from one snapshot, and store
    them (the job's work; tests and commands may call it directly)."""
    version = data_version(study)
    data = snapshot.with_extras(snapshot.load(study, version=version))
    payloads, seconds = {}, {}
    for name, fn in SLOW.items():
        started = time.perf_counter()
        payloads[name] = clean(fn(data))
        seconds[name] = time.perf_counter() - started
    save_results(study.pk, version, payloads, seconds)
    return payloads


def current(study: Study, name: str) -> dict:
    """One slow result for the data as it is now, computed here if the stored one is older
    (commands and the model card, which must not show older figures)."""
    row = stored(study, name)
    if row is not None and row.version == data_version(study):
        return row.payload
    return compute(study)[name]


@task()
def compute_slow(study_id: int) -> str:
    """The background job: compute the slow results unless they are already current."""
    study = Study.objects.filter(pk=study_id).first()
    if study is None:
        return "study deleted"
    version = data_version(study)
    rows = ResultCache.objects.filter(study=study, key__in=list(SLOW), version=version)
    if rows.count() == len(SLOW):
        return "unchanged"
    compute(study)
    return "computed"


def slow_results(study: Study, version: str) -> tuple[dict[str, dict | None], str, str]:
    """The stored slow results (None for one never computed), whether they all match
    data version `version` ("current") or are being computed ("computing": older figures
    or None), and a stamp that differs whenever any of them was stored again (the version
    and time of each). Queues one job per data version; two readers racing may queue two,
    and the second finds the results current and does nothing."""
    rows = {row.key: row for row in ResultCache.objects.filter(study=study, key__in=list(SLOW))}
    payloads = {name: (rows[name].payload if name in rows else None) for name in SLOW}
    stamp = ";".join(
        f"{name}@{rows[name].version}@{rows[name].computed_at.isoformat()}"
        if name in rows
        else f"{name}@-"
        for name in SLOW
    )
    if all(name in rows and rows[name].version == version for name in SLOW):
        return payloads, CURRENT, stamp
    queued = stored(study, QUEUED)
    if queued is None or queued.version != version:
        with transaction.atomic():
            save_results(study.pk, version, {QUEUED: {}}, {})
            transaction.on_commit(lambda: compute_slow.enqueue(study.pk))
    return payloads, COMPUTING, stamp


def slow_result(study: Study, name: str, version: str) -> tuple[dict | None, str]:
    """One slow result and its status, as `slow_results`."""
    payloads, status, _stamp = slow_results(study, version)
    return payloads[name], status
