"""Automatic metrics on a study's responses: compute (here or in a background job) or import.

Computation goes in chunks; each chunk's scores are written in one transaction
after the whole chunk scored, so a model that fails (bad path, wrong
architecture, out of memory) leaves no partial chunk behind, and a second run
computes only the responses still missing a score.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone
from django_tasks import task

from annotation.ingest.metric_scores import check_metric_name
from annotation.models import MetricJob, MetricScore, Response, Study
from scoring.metrics import MetricError, MetricInput, get_metric

CHUNK = 2000


@dataclass
class MetricRunSummary:
    metric: str
    store_as: str
    scored: int
    skipped: int
    already: int
    seconds: float
    items_per_second: float
    model: str | None
    device: str | None
    bf16: bool = False

    def describe(self) -> str:
        text = (
            f"{self.store_as}: {self.scored} responses scored, {self.already} already had a score, "
            f"{self.skipped} had nothing to score (e.g. no reference); "
            f"{self.seconds:.1f} s, {self.items_per_second:.1f} responses/s"
        )
        if self.model:
            text += f" with {self.model} on {self.device}"
        if self.bf16:
            text += ", bf16 autocast"
        return text


def _prompt_text(text: str, messages) -> str:
    if not messages:
        return text
    return "\n\n".join(f"{m['role']}: {m['content']}" for m in messages)


def missing_responses(study: Study, store_as: str, *, needs_reference: bool) -> list[tuple]:
    """(response id, prompt text, response text, reference) for responses without this score."""
    done = MetricScore.objects.filter(response__prompt__study=study, metric=store_as).values(
        "response_id"
    )
    query = Response.objects.filter(prompt__study=study).exclude(pk__in=done).order_by("pk")
    if needs_reference:
        query = query.exclude(prompt__reference=None).exclude(prompt__reference="")
    return list(
        query.values_list("pk", "prompt__text", "prompt__messages", "text", "prompt__reference")
    )


def compute(
    study: Study,
    metric_name: str,
    *,
    model: str | None = None,
    store_as: str | None = None,
    batch_size: int | None = None,
    device: str | None = None,
    progress: Callable[[int, int], None] | None = None,
    bf16: bool = False,
) -> MetricRunSummary:
    """Score every response of the study still missing `store_as` (default: the metric name).

    ``bf16`` runs the model under bfloat16 autocast (metrics that offer it); the scores'
    source says so.
    """
    metric = get_metric(metric_name)
    metric.check_bf16(bf16)
    store_as = store_as or metric.name
    check_metric_name(store_as)
    todo = missing_responses(study, store_as, needs_reference=metric.needs_reference)
    total_responses = Response.objects.filter(prompt__study=study).count()
    already = MetricScore.objects.filter(response__prompt__study=study, metric=store_as).count()
    scored = skipped = 0
    seconds = 0.0
    last_run = None
    source = str(model or metric.default_model or "computed")
    if bf16:
        source = f"{source[:480]} (bf16 autocast)"
    for start in range(0, len(todo), CHUNK):
        chunk = todo[start : start + CHUNK]
        items = [
            MetricInput(prompt=_prompt_text(text, messages), response=response, reference=reference)
            for _pk, text, messages, response, reference in chunk
        ]

        def report(done, _total, offset=start):
            if progress:
                progress(offset + done, len(todo))

        last_run = metric.run(
            items, model=model, batch_size=batch_size, device=device, progress=report, bf16=bf16
        )
        seconds += last_run.seconds
        rows = [
            MetricScore(response_id=row[0], metric=store_as, value=value, source=str(source)[:500])
            for row, value in zip(chunk, last_run.values, strict=True)
            if value is not None
        ]
        with transaction.atomic():
            MetricScore.objects.bulk_create(
                rows,
                update_conflicts=True,
                unique_fields=["response", "metric"],
                update_fields=["value", "source", "computed_at"],
            )
            study.results_changed()
        scored += len(rows)
        skipped += len(chunk) - len(rows)
    skipped += total_responses - already - len(todo)
    return MetricRunSummary(
        metric=metric.name,
        store_as=store_as,
        scored=scored,
        skipped=skipped,
        already=already,
        seconds=seconds,
        items_per_second=(scored + skipped) / seconds if seconds > 0 else 0.0,
        model=last_run.model if last_run else model,
        device=last_run.device if last_run else None,
        bf16=bf16,
    )


def start_job(
    study: Study,
    metric_name: str,
    *,
    model: str = "",
    store_as: str = "",
    batch_size=None,
    user=None,
) -> MetricJob:
    """Queue a background computation; `python manage.py db_worker` runs it.

    What can be known now is checked now, before anything is queued: an unknown metric, a
    model given to a metric that takes none, and a local model path that does not exist
    here raise `MetricError`, so a job that cannot run is never left waiting.
    """
    metric = get_metric(metric_name)
    check_model(metric, model)
    job = MetricJob.objects.create(
        study=study,
        metric=metric.name,
        model_path=model or "",
        store_as=store_as or metric.name,
        batch_size=batch_size,
        created_by=user,
    )
    transaction.on_commit(lambda: run_metric_job.enqueue(job.pk))
    return job


def check_model(metric, model: str | None) -> None:
    """Refuse a model the metric cannot use: one given to a text metric, none where the metric
    has no default, or a local path (absolute, ``./``, ``~`` or several directories deep)
    that is not a directory on this machine. Hub names are left to the loader."""
    if model and not metric.needs_model:
        raise MetricError(f"{metric.name} takes no model; leave the model empty")
    if not model:
        if metric.needs_model and metric.default_model is None:
            raise MetricError(f"{metric.name} needs a model: give its local path or hub name")
        return
    from scoring.metrics.models import _local_path  # the loader's own test of a local path

    try:
        _local_path(model)
    except MetricError as exc:
        raise MetricError(f"{metric.name}: {exc} on the server") from None


@task()
def run_metric_job(job_id: int) -> str:
    """The background task: compute the job's metric, reporting progress on the job row."""
    job = MetricJob.objects.select_related("study").get(pk=job_id)
    MetricJob.objects.filter(pk=job_id).update(status=MetricJob.Status.RUNNING)
    last_saved = [0]

    def progress(done: int, total: int) -> None:
        # Write progress at most every 1% so the job row is not hammered.
        if total and (done - last_saved[0] >= max(total // 100, 1) or done == total):
            MetricJob.objects.filter(pk=job_id).update(done=done, total=total)
            last_saved[0] = done

    try:
        summary = compute(
            job.study,
            job.metric,
            model=job.model_path or None,
            store_as=job.store_as,
            batch_size=job.batch_size,
            progress=progress,
        )
    except MetricError as exc:
        MetricJob.objects.filter(pk=job_id).update(
            status=MetricJob.Status.FAILED, message=str(exc), finished_at=timezone.now()
        )
        return str(exc)
    except BaseException as exc:
        # Whatever else stops the job (a bug, the worker shut down mid-job), the row must not
        # stay "running" for ever: the page would poll it for ever.
        if isinstance(exc, SystemExit | KeyboardInterrupt):
            why = "the worker was stopped during the job; start it again"
        else:
            why = f"the job stopped: {type(exc).__name__}: {exc}"
        MetricJob.objects.filter(pk=job_id).update(
            status=MetricJob.Status.FAILED, message=why[:2000], finished_at=timezone.now()
        )
        raise
    MetricJob.objects.filter(pk=job_id).update(
        status=MetricJob.Status.DONE, message=summary.describe(), finished_at=timezone.now()
    )
    return summary.describe()
