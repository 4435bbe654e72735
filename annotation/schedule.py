"""Adaptive pair scheduling and the stopping rule, computed in the background and read by
the hand-out's claim at no extra cost.

A study with ``schedule = adaptive`` serves first the model pairs whose next vote shrinks the
leaderboard's rating intervals most (`scoring.adaptive.schedule_pairs`, criterion
``variance``: the expected shrinkage of the sum of the squared interval half-widths). The
scores are not computed per hand-out (issue 14: a vote costs a constant few statements):
`refresh` computes them from the counted votes and writes each regular pair task's
`Task.priority` (the pair's rank, 1 = serve first) and `Task.stopped`; the hand-out's claim
orders by priority before its fill and random order (`handout._free`, one index) and skips
stopped tasks. Overlap, blinding (each assignment draws its sides), the concurrency-safe
claim and expiry are the hand-out's, unchanged.

The stopping rule (`Study.schedule_stop`, which stops all hand-out of the study):

- the vote budget (`Study.vote_budget`, under either schedule): stop once this many
  counted human votes on pairs exist;
- with `Study.stop_when_separated` (adaptive only): a pair stops being served once its two
  models' 95 % rating intervals no longer overlap, and the study stops when every pair of
  neighbours in the rating order is separated (the ranking is settled) or every pair that
  could still be served has stopped.

When it runs: every SCHEDULE_EVERY_VOTES-th vote of each grader of a scheduled study asks
for it (`vote_counted`, after the vote's commit: one conditional UPDATE queues at most one
job per study on the django-tasks database queue, run by `manage.py db_worker`); each
results refresh runs it too (so it also runs where results are computed in a request,
without a worker); and `manage.py study_options` runs it when options change. Between runs
the hand-out follows the last priorities, so a budget can be overshot by the votes of that
interval (about SCHEDULE_EVERY_VOTES per grader). The schedule is a greedy one-step
look-ahead refreshed every few votes; bench/bench_adaptive.py measures what that saves in
simulation (scoring.adaptive's docstring gives the figures and their limits).
"""

from __future__ import annotations

import time
from collections import defaultdict
from datetime import timedelta
from functools import partial

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count
from django.utils import timezone
from django_tasks import task

from annotation.counting import COUNTED
from annotation.models import LanguageModel, Study, StudySchedule, Task

# A queued job not started after this long is taken to be lost; the next vote queues again.
QUEUED_AT_MOST = timedelta(minutes=5)
# Ties of both kinds count as ties in the schedule's vote counts.
_OUTCOME = {"a": "wins_a", "b": "wins_b", "tie": "ties", "both_bad": "ties"}


def every_votes() -> int:
    return max(1, int(getattr(settings, "SCHEDULE_EVERY_VOTES", 5)))


def scheduled(study: Study) -> bool:
    """Whether the study's hand-out follows a schedule (adaptive, or a vote budget)."""
    return study.schedule == Study.Schedule.ADAPTIVE or study.vote_budget is not None


def vote_counted(study: Study, done: int | None) -> None:
    """Called by the vote path with the grader's task count after the vote: every
    SCHEDULE_EVERY_VOTES-th vote of a scheduled study asks for a recomputation once the
    vote commits. Writes nothing inside the vote's transaction."""
    if done is None or not scheduled(study) or done % every_votes():
        return
    transaction.on_commit(partial(request_refresh, study.pk))


def request_refresh(study_id: int) -> bool:
    """Queue one recomputation of the study's schedule unless one is already waiting;
    whether this call queued it. One statement: an INSERT of the study's row that, when
    the row exists, sets `queued_at` only where no job is waiting (a conditional upsert,
    SQLite >= 3.24 and PostgreSQL alike), and returns a row only when it queued."""
    now = timezone.now()
    meta = StudySchedule._meta
    quote = connection.ops.quote_name
    table = quote(meta.db_table)

    def column(name: str) -> str:
        return quote(meta.get_field(name).column)

    def value(name: str, raw):
        return meta.get_field(name).get_db_prep_save(raw, connection)

    queued = column("queued_at")
    names = ("study", "queued_at", "seconds", "votes", "summary", "error")
    raws = (study_id, now, 0.0, 0, {}, "")
    sql = (
        f"INSERT INTO {table} ({', '.join(column(n) for n in names)})"
        f" VALUES ({', '.join(['%s'] * len(names))})"
        f" ON CONFLICT ({column('study')}) DO UPDATE SET {queued} = excluded.{queued}"
        f" WHERE {table}.{queued} IS NULL OR {table}.{queued} < %s"
        f" RETURNING {quote(meta.pk.column)}"
    )
    params = [value(n, raw) for n, raw in zip(names, raws, strict=True)]
    params.append(value("queued_at", now - QUEUED_AT_MOST))
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        claimed = cursor.fetchone() is not None
    if claimed:
        refresh_schedule.enqueue(study_id)
    return claimed


@task()
def refresh_schedule(study_id: int) -> str:
    """The background job: recompute one study's schedule (see the module docstring)."""
    StudySchedule.objects.filter(study_id=study_id).update(queued_at=None)
    study = Study.objects.filter(pk=study_id).first()
    if study is None:
        return "study deleted"
    return refresh(study)["stop_reason"] or "serving"


def refresh(study: Study) -> dict:
    """Recompute the study's schedule now: write the pair tasks' priorities and stops and
    the study's stop, and keep a summary (`StudySchedule.summary`, returned)."""
    started = time.perf_counter()
    study.refresh_from_db(
        fields=["schedule", "vote_budget", "stop_when_separated", "schedule_stop", "overlap"]
    )
    tasks = list(
        Task.objects.filter(study=study, is_gold=False, in_queue=True, kind=Task.Kind.PAIR)
        .values_list(
            "pk",
            "response_a__model__name",
            "response_b__model__name",
            "priority",
            "stopped",
            "slots_taken",
        )
        .order_by("pk")
    )
    counts = _vote_counts(study)
    votes = sum(int(c["wins_a"] + c["wins_b"] + c["ties"]) for c in counts)
    summary: dict = {"schedule": study.schedule, "votes": votes, "budget": study.vote_budget}
    wanted: dict[tuple[str, str], tuple[int, bool]] = {}
    stop = ""
    if study.vote_budget is not None and votes >= study.vote_budget:
        stop = Study.StopReason.BUDGET
    elif study.schedule == Study.Schedule.ADAPTIVE:
        open_pairs = sorted(
            {_pair(a, b) for _pk, a, b, _p, _s, taken in tasks if taken < study.overlap}
        )
        if open_pairs:
            wanted, stop, found = _adaptive(study, counts, open_pairs)
            summary.update(found)
    # Under the adaptive schedule a pair it did not rank (all its tasks full now) comes
    # last if a slot frees up; otherwise every task is back to (0, False).
    default = (len(wanted) + 1, False) if wanted else (0, False)
    changed = _write_priorities(tasks, wanted, default)
    if stop != study.schedule_stop:
        Study.objects.filter(pk=study.pk).update(schedule_stop=stop)
        study.schedule_stop = stop
    summary.update({"stop_reason": stop, "stop": study.stop_label, "tasks_changed": changed})
    _keep(study, summary, votes, time.perf_counter() - started)
    return summary


def refresh_if_scheduled(study: Study) -> None:
    """The results refresh's call: recompute the schedule of a scheduled study; a fit that
    fails is recorded (`StudySchedule.error`, shown to researchers), not raised, so that
    the results are still stored, and the hand-out keeps the last priorities."""
    from scoring.errors import ConvergenceError, InputError

    if not scheduled(study):
        return
    try:
        refresh(study)
    except (ConvergenceError, InputError) as exc:
        StudySchedule.objects.update_or_create(
            study=study, defaults={"error": f"{type(exc).__name__}: {exc}"}
        )


def _pair(a: str, b: str) -> tuple[str, str]:
    return (a, b) if a <= b else (b, a)


def _vote_counts(study: Study) -> list[dict]:
    """Counted human verdicts per pair of models (scoring.adaptive's count table)."""
    rows = (
        COUNTED.judgments(study)
        .filter(task__kind=Task.Kind.PAIR)
        .exclude(verdict="")
        .values_list("task__response_a__model__name", "task__response_b__model__name", "verdict")
        .annotate(n=Count("pk"))
    )
    by_pair: dict[tuple[str, str], dict] = defaultdict(
        lambda: {"wins_a": 0, "wins_b": 0, "ties": 0}
    )
    for model_a, model_b, verdict, n in rows:
        first, second = _pair(model_a, model_b)
        outcome = _OUTCOME[verdict]
        if (first, second) != (model_a, model_b) and outcome != "ties":
            outcome = "wins_b" if outcome == "wins_a" else "wins_a"
        by_pair[(first, second)][outcome] += n
    return [{"model_a": a, "model_b": b, **c} for (a, b), c in sorted(by_pair.items())]


def _adaptive(study: Study, counts: list[dict], open_pairs: list[tuple[str, str]]):
    """The adaptive schedule of the open pairs: ({pair: (priority, stopped)}, the study's
    stop reason or "", a summary)."""
    import pandas as pd

    from annotation.results.store import clean
    from scoring.adaptive import COUNT_COLUMNS, schedule_pairs

    models = sorted(
        set(LanguageModel.objects.filter(study=study).values_list("name", flat=True))
        | {m for pair in open_pairs for m in pair}
    )
    found = schedule_pairs(
        pd.DataFrame(counts, columns=list(COUNT_COLUMNS)),
        models,
        candidates=open_pairs,
        criterion="variance",
        stop_separated=study.stop_when_separated,
    )
    last = len(found.pairs) + 1
    wanted = {
        _pair(a, b): (last if stopped else int(priority), bool(stopped))
        for a, b, priority, stopped in found.pairs[
            ["model_a", "model_b", "priority", "stopped"]
        ].itertuples(index=False)
    }
    stop = ""
    if study.stop_when_separated and found.stop_reason == "ranks separated":
        stop = Study.StopReason.SEPARATED
    elif study.stop_when_separated and found.stop_reason == "no open pair":
        stop = Study.StopReason.NO_OPEN_PAIR
    summary = clean(
        {
            "median_width": found.median_width,
            "criterion": found.criterion,
            "pairs": found.pairs,
            "ratings": found.ratings,
        }
    )
    return wanted, stop, summary


def _write_priorities(
    tasks: list[tuple], wanted: dict[tuple[str, str], tuple[int, bool]], default: tuple[int, bool]
) -> int:
    """Give each pair task its pair's (priority, stopped), or `default`; only rows
    that change are written, a few UPDATEs per distinct value, so that claims running
    meanwhile wait on as few rows as possible."""
    by_value: dict[tuple[int, bool], list[int]] = defaultdict(list)
    for pk, a, b, priority, stopped, _taken in tasks:
        value = wanted.get(_pair(a, b), default)
        if value != (priority, stopped):
            by_value[value].append(pk)
    for (priority, stopped), pks in by_value.items():
        for start in range(0, len(pks), 500):
            Task.objects.filter(pk__in=pks[start : start + 500]).update(
                priority=priority, stopped=stopped
            )
    return sum(len(pks) for pks in by_value.values())


def _keep(study: Study, summary: dict, votes: int, seconds: float) -> None:
    values = {
        "computed_at": timezone.now(),
        "seconds": seconds,
        "votes": votes,
        "summary": summary,
        "error": "",
    }
    StudySchedule.objects.update_or_create(study=study, defaults=values)


def has_options(study: Study) -> bool:
    """Whether `study` hands tasks out other than uniformly without end: an adaptive
    schedule (which may stop on separated intervals), a vote budget or swapped re-serves."""
    return bool(
        study.schedule == Study.Schedule.ADAPTIVE
        or study.vote_budget is not None
        or study.repeat_fraction
    )


def state(study: Study) -> dict:
    """What researchers are shown: the study's schedule options, whether it stopped and
    why, and the last computation's summary."""
    kept = StudySchedule.objects.filter(study=study).first()
    return {
        "schedule": study.schedule,
        "vote_budget": study.vote_budget,
        "stop_when_separated": study.stop_when_separated,
        "stopped": study.stopped,
        "stop_reason": study.schedule_stop,
        "stop": study.stop_label,
        "computed_at": kept.computed_at.isoformat() if kept and kept.computed_at else None,
        "summary": kept.summary if kept else {},
        "error": kept.error if kept else "",
    }
