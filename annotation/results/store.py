"""Computing, storing and refreshing a study's results, out of the grading path.

Results are computed together, from one snapshot (`snapshot.load`), in parts on the
machine's cores (`parallel`, `RESULTS_PROCESSES`; the parts that read no rating start
while the ratings are read), and stored in the database (`ResultCache`, one row per
result, stamped with the data version), so every app process serves the same numbers. Readers pick one of two policies:

- **latest** (the dashboard and the API's default results, `latest`): serve the last
  computed results with their age, never computing during active grading. A reader checks
  the cheap watermark (`version.watermark`); when it moved, it asks for one background
  recomputation per study (a conditional update of `ResultsRefresh.queued_at`, so at most
  one is pending) and shows the results it has, marked "recomputing". The job
  (`refresh_results`, on django-tasks' database queue) waits until
  `RESULTS_REFRESH_SECONDS` after the previous computation, so while votes keep coming
  results are recomputed at most that often; it first compares the exact data version and
  recomputes only when the study's own data changed.
- **current** (management commands, the model card, results asked for with other
  parameters, `current`): the results of the data as it is now, computed here if the
  stored ones are older.

Without a worker (tests, a demo started without `manage.py db_worker`) the dashboard still
shows results: the first computation of a study always runs in the request that needs
it, and a queued recomputation that no worker has started `RESULTS_WORKER_GRACE_SECONDS`
after it was due runs in the next request that finds it (a worker that is alive starts a
due job within a second).
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import partial

import numpy as np
import pandas as pd
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django_tasks import TaskResultStatus, task
from django_tasks_db.models import DBTaskResult

from annotation import schedule
from annotation.models import ResultCache, ResultsRefresh, Study
from annotation.results import parallel, snapshot
from annotation.results.agreement import RESULT_BOOTSTRAP, agreement, agreement_split, judges
from annotation.results.correlations import correlations, correlations_split
from annotation.results.grader_checks import grader_checks
from annotation.results.leaderboard import DEFAULT_BOOTSTRAP, leaderboard
from annotation.results.payloads import JsonRows
from annotation.results.progress import progress
from annotation.results.slices import DEFAULT_THRESHOLD, slice_results, slices_split
from annotation.results.ties import davidson_leaderboard
from annotation.results.version import data_version, watermark

# The results computed together in one refresh, with the parameters pages and the API use.
DEFAULTS: dict[str, tuple[Callable, dict]] = {
    "leaderboard": (leaderboard, {"bootstrap": DEFAULT_BOOTSTRAP, "seed": 0}),
    "agreement": (agreement, {"bootstrap": RESULT_BOOTSTRAP, "seed": 0}),
    "judges": (judges, {}),
    "slices": (slice_results, {"threshold": DEFAULT_THRESHOLD}),
    "correlations": (correlations, {"bootstrap": RESULT_BOOTSTRAP, "seed": 0}),
    "progress": (progress, {}),
    "davidson": (davidson_leaderboard, {"bootstrap": DEFAULT_BOOTSTRAP, "seed": 0}),
    "grader_checks": (grader_checks, {}),
}
DASHBOARD = "dashboard"
# Not a result: the key under which a refresh records how long reading the snapshot took.
SNAPSHOT = "snapshot"
# A refresh that started longer ago than this has died (its worker was killed).
RUNNING_AT_MOST = timedelta(minutes=15)
# Even when no vote is seen, readers ask for an exact check this often (on PostgreSQL a
# transaction may commit a smaller judgment id after a larger one was seen).
RECHECK_AFTER = timedelta(minutes=5)


def refresh_interval() -> timedelta:
    return timedelta(seconds=getattr(settings, "RESULTS_REFRESH_SECONDS", 10))


def worker_grace() -> timedelta:
    return timedelta(seconds=getattr(settings, "RESULTS_WORKER_GRACE_SECONDS", 30))


# Types `clean` returns as they are (checked first: payloads hold ~10^5 of them).
_PLAIN = frozenset({str, int, bool, type(None)})


def clean(value):
    """Make numpy/pandas values JSON-safe: NaN and infinities become None."""
    kind = type(value)
    if kind in _PLAIN or kind is JsonRows:
        return value
    if kind is float:
        return value if math.isfinite(value) else None
    if kind is dict:
        return {k if type(k) is str else str(k): clean(v) for k, v in value.items()}
    if isinstance(value, dict):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean(v) for v in value]
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating | float):
        value = float(value)
        return None if math.isnan(value) or math.isinf(value) else value
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, pd.DataFrame):
        return clean(value.to_dict(orient="records"))
    return value


def result_key(name: str, **params) -> str:
    """The cache key of a result with its parameters."""
    if not params:
        return name
    digest = hashlib.sha1(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()[:16]
    return f"{name}:{digest}"


def default_key(name: str) -> str:
    return result_key(name, **DEFAULTS[name][1])


def save_results(
    study_pk: int, version: str, payloads: dict[str, dict], seconds: dict[str, float]
) -> None:
    """Store payloads (by cache key) as results of data version `version`, replacing older
    ones; `seconds` says how long each took to compute."""
    ResultCache.objects.bulk_create(
        [
            ResultCache(
                study_id=study_pk,
                key=key,
                version=version,
                payload=payload,
                seconds=seconds.get(key, 0.0),
            )
            for key, payload in payloads.items()
        ],
        update_conflicts=True,
        unique_fields=["study", "key"],
        update_fields=["version", "payload", "seconds", "computed_at"],
    )


def stored(study: Study | int, key: str) -> ResultCache | None:
    """The stored result under `key`, whatever its version."""
    return ResultCache.objects.filter(study=study, key=key).first()


def dashboard_payload(results: dict[str, dict]) -> dict:
    """What the dashboard shows, from the default results (scatter points left out)."""
    payload = {name: results[default_key(name)] for name in DEFAULTS}
    payload["correlations"] = {
        "metrics": [
            {k: v for k, v in m.items() if k != "points"}
            for m in payload["correlations"]["metrics"]
        ]
    }
    return payload


# Results a refresh computes in parts (`parallel.Split`), by name; the rough cost of the
# others (seconds of CPU at 100,000 judgments), for ordering the parts; those that read no
# rating (they may start while the ratings are read: `snapshot.load`'s `before_ratings`).
SPLITS: dict[str, Callable[..., parallel.Split]] = {
    "agreement": agreement_split,
    "correlations": correlations_split,
    "slices": slices_split,
}
WEIGHTS = {"leaderboard": 0.5, "judges": 0.3, "grader_checks": 0.3}
EARLY = frozenset({"judges", "davidson"})


@dataclass(frozen=True)
class _Plan:
    """The parts of every default result: the whole results' by name, the splits' with
    the numbers of their parts."""

    parts: list[parallel.Part]
    whole: dict[str, int]
    splits: dict[str, tuple[parallel.Split, list[int]]]


def _plan(data: snapshot.StudyData) -> _Plan:
    parts: list[parallel.Part] = []
    whole: dict[str, int] = {}
    splits: dict[str, tuple[parallel.Split, list[int]]] = {}
    for name, (fn, params) in DEFAULTS.items():
        if name in SPLITS:
            split = SPLITS[name](data, **params)
            splits[name] = (split, list(range(len(parts), len(parts) + len(split.parts))))
            # Each part's value made JSON-clean where it is computed (in parallel): `clean`
            # is idempotent and works value by value, so the combined result is the same.
            parts.extend(replace(part, run=partial(_clean_part, part.run)) for part in split.parts)
        else:
            run = partial(_clean_result, fn, data, params)
            whole[name] = len(parts)
            parts.append(parallel.Part(name, run, WEIGHTS.get(name, 0.1), early=name in EARLY))
    return _Plan(parts, whole, splits)


def start_early(partial_data: snapshot.StudyData) -> parallel.Batch | None:
    """A child computing the parts that read no rating from a snapshot whose ratings are
    still being read (`snapshot.load`'s `before_ratings`); None where forking is unsafe."""
    return parallel.start_early([part for part in _plan(partial_data).parts if part.early])


def compute_defaults(
    data: snapshot.StudyData,
    seconds: dict[str, float] | None = None,
    *,
    processes: int | None = None,
    timings: dict[str, parallel.Timing] | None = None,
    early: parallel.Batch | None = None,
) -> dict[str, dict]:
    """Every default result of one snapshot, JSON-ready, by cache key, plus the dashboard's;
    how long each took goes into `seconds` (by cache key) if given, and how long each part
    took, where, into `timings` (by part name).

    The results are computed in parts on `processes` processes (by default
    `parallel.processes()`, the machine's cores; 1: one after another here), costliest
    first; `early`: the parts `start_early` started. The values are the same whatever the
    number of processes."""
    plan = _plan(data)
    order = sorted(range(len(plan.parts)), key=lambda i: -plan.parts[i].weight)
    timings = {} if timings is None else timings
    values = parallel.run(
        [plan.parts[i] for i in order],
        processes=parallel.processes() if processes is None else processes,
        timings=timings,
        early=early,
    )
    value_of = dict(zip(order, values, strict=True))
    results = {}
    for name in DEFAULTS:
        started = time.perf_counter()
        if name in plan.splits:
            split, indices = plan.splits[name]
            results[default_key(name)] = clean(split.combine([value_of[j] for j in indices]))
            took = sum(timings[plan.parts[j].name].wall for j in indices)
        else:
            results[default_key(name)] = value_of[plan.whole[name]]
            took = timings[name].wall
        if seconds is not None:
            seconds[default_key(name)] = took + time.perf_counter() - started
    results[DASHBOARD] = dashboard_payload(results)
    return results


def _clean_part(run: Callable):
    return clean(run())


def _clean_result(fn: Callable, data: snapshot.StudyData, params: dict) -> dict:
    return clean(fn(data, **params))


def refresh(
    study: Study,
    *,
    force: bool = False,
    timings: dict[str, parallel.Timing | float] | None = None,
) -> str:
    """Bring the study's default results up to date; returns "unchanged" when the exact
    data version had not moved, else "computed" (every default result from one snapshot,
    in parts on `parallel.processes()` processes). `timings`, if given, receives how long
    each part took (`compute_defaults`) and the seconds of reading the snapshot
    (under `SNAPSHOT`).

    Safe to run concurrently: each run stores complete results of the version it read."""
    mark = watermark(study)  # read first: a vote arriving later moves it again
    version = data_version(study)
    state, _ = ResultsRefresh.objects.get_or_create(study=study)
    if not force and state.data_version == version:
        ResultsRefresh.objects.filter(pk=state.pk).update(
            watermark=mark, checked_at=timezone.now(), error=""
        )
        return "unchanged"
    started = time.perf_counter()
    processes = parallel.processes()
    early: list[parallel.Batch | None] = [None]

    def before_ratings(partial_data: snapshot.StudyData) -> None:
        early[0] = start_early(partial_data)

    try:
        data = snapshot.load(
            study,
            version=version,
            before_ratings=before_ratings if processes > 1 else None,
            read_ahead=processes > 1,
        )
        seconds = {SNAPSHOT: time.perf_counter() - started}
        if timings is not None:
            timings[SNAPSHOT] = seconds[SNAPSHOT]
        results = compute_defaults(
            data, seconds, processes=processes, timings=timings, early=early[0]
        )
    finally:
        if early[0] is not None:
            early[0].abandon()  # nothing left to do after `compute_defaults` collected it
    seconds[DASHBOARD] = time.perf_counter() - started
    # A scheduled study's pair priorities follow its data too (annotation.schedule).
    schedule.refresh_if_scheduled(study)
    with transaction.atomic():
        save_results(study.pk, version, results, seconds)
        ResultsRefresh.objects.filter(pk=state.pk).update(
            data_version=version,
            watermark=mark,
            computed_at=timezone.now(),
            checked_at=timezone.now(),
            seconds=seconds[DASHBOARD],
            error="",
        )
    return "computed"


@task()
def refresh_results(study_id: int) -> str:
    """The background job: refresh one study's results (see the module docstring)."""
    ResultsRefresh.objects.filter(study_id=study_id).update(
        started_at=timezone.now(), queued_at=None
    )
    try:
        study = Study.objects.filter(pk=study_id).first()
        return "study deleted" if study is None else refresh(study)
    except Exception as exc:
        ResultsRefresh.objects.filter(study_id=study_id).update(
            error=f"{type(exc).__name__}: {exc}"
        )
        raise
    finally:
        ResultsRefresh.objects.filter(study_id=study_id).update(started_at=None)


def _enqueue(study_id: int, run_after: datetime) -> None:
    job = refresh_results.using(run_after=run_after).enqueue(study_id)
    ResultsRefresh.objects.filter(study_id=study_id).update(job_id=str(job.id))


def _drop_queued_job(state: ResultsRefresh) -> None:
    """A request computed in place of the queued job: take it off the queue if no worker
    has claimed it, so that a study read for weeks without a worker queues nothing up."""
    if state.job_id:
        DBTaskResult.objects.filter(pk=state.job_id, status=TaskResultStatus.READY).delete()


@dataclass(frozen=True)
class Freshness:
    """How current the results a reader got are.

    `status`: ``current`` (they match the data as last checked), ``recomputing`` (new
    judgments or changes were seen; a recomputation is queued or running) or ``none``
    (never computed and being computed by another request right now)."""

    status: str
    version: str
    computed_at: datetime | None
    seconds: float
    error: str

    @property
    def age(self) -> timedelta | None:
        return timezone.now() - self.computed_at if self.computed_at else None


def _freshness(state: ResultsRefresh | None, status: str) -> Freshness:
    if state is None:
        return Freshness("none", "", None, 0.0, "")
    return Freshness(status, state.data_version, state.computed_at, state.seconds, state.error)


def _running(state: ResultsRefresh, now: datetime) -> bool:
    return state.started_at is not None and state.started_at > now - RUNNING_AT_MOST


def _claim_run(state: ResultsRefresh, now: datetime) -> bool:
    """Mark the refresh as running in this process; False if another one already is."""
    free = ResultsRefresh.objects.filter(pk=state.pk).exclude(started_at__gt=now - RUNNING_AT_MOST)
    return free.update(started_at=now, queued_at=None) == 1


def _run_here(study: Study, state: ResultsRefresh, now: datetime) -> bool:
    if not _claim_run(state, now):
        return False
    try:
        refresh(study)
    except Exception as exc:
        ResultsRefresh.objects.filter(pk=state.pk).update(error=f"{type(exc).__name__}: {exc}")
        raise
    finally:
        ResultsRefresh.objects.filter(pk=state.pk).update(started_at=None)
    return True


def check(study: Study) -> Freshness:
    """The latest-results policy's bookkeeping for one read (see the module docstring):
    compute when nothing was ever computed, else ask for a recomputation when the data
    may have changed, or run an overdue one here when no worker took it."""
    now = timezone.now()
    state = ResultsRefresh.objects.filter(study=study).first()
    if state is None or not state.data_version:
        state = state or ResultsRefresh.objects.get_or_create(study=study)[0]
        _run_here(study, state, now)
        state.refresh_from_db()
        return _freshness(state, "current" if state.data_version else "none")
    moved = watermark(study) != state.watermark
    if not moved and state.checked_at and state.checked_at > now - RECHECK_AFTER:
        running = _running(state, now) or state.queued_at is not None
        return _freshness(state, "recomputing" if running else "current")
    # A periodic exact check, with no sign of new data, is no reason to say "recomputing".
    status = "recomputing" if moved else "current"
    if _running(state, now):
        return _freshness(state, status)
    if state.queued_at is None:
        base = state.computed_at or now
        run_after = max(now, base + refresh_interval())
        claimed = ResultsRefresh.objects.filter(pk=state.pk, queued_at__isnull=True).update(
            queued_at=now, run_after=run_after
        )
        if claimed:
            transaction.on_commit(lambda: _enqueue(study.pk, run_after))
        return _freshness(state, status)
    if now > (state.run_after or state.queued_at) + worker_grace():
        # Nothing took the queued job: no worker is running. Compute here.
        _drop_queued_job(state)
        if _run_here(study, state, now):
            state.refresh_from_db()
            return _freshness(state, "current")
    return _freshness(state, status)
