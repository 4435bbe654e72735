"""Plain function views: check access, load objects, call a domain function, render."""

import hashlib
from functools import partial

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import content_disposition_header, url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import trigger_client_event

from annotation import (
    browse,
    charts,
    exports,
    grader_stats,
    grading,
    handout,
    metric_runs,
    overview,
    progress,
    results,
    schedule,
)
from annotation.access import (
    get_assignment_for_grader,
    get_assignment_for_vote,
    get_judgment_for_grader,
    get_study_for_grader,
    get_study_for_researcher,
    studies_for,
)
from annotation.forms import GradeForm, MetricJobForm, sign_shown_at
from annotation.rendering import render_markdown
from annotation.results import background
from annotation.results.consistency import grader_columns
from scoring import slices as slices_stats
from scoring.metrics import MetricError, metric_names


@login_required
def home(request):
    studies = list(studies_for(request.user).order_by("name"))
    overall = overview.study_progress(studies)
    rows = [
        {"study": mine.study, "mine": mine, "overall": overall[mine.study.pk]}
        for mine in progress.grader_progress(request.user, studies)
    ]
    return render(request, "annotation/home.html", {"rows": rows})


def healthz(request):
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return HttpResponse("ok", content_type="text/plain")


def _study_header(study) -> dict:
    """What grading pages show of a study: plain data, nothing about its models. The
    instructions and keys are computed only by a template that shows them (a template
    calls a callable), not for every task fragment."""
    return {
        "slug": study.slug,
        "name": study.name,
        # Why the study's schedule stopped serving it ("" while it serves): no model names.
        "stopped": study.stop_label,
        "instructions_html": partial(render_markdown, study.instructions),
        "keys": partial(grading.key_help, study),
    }


# --- the grading screen -------------------------------------------------------------------
#
# Status codes of a vote (POST .../grade/<assignment>/): 200 (htmx) or 302 (plain form) only
# when the answer is stored; 409 when it is not (already answered from another tab: the
# answer kept is shown; or timed out and given to another grader); 422 when incomplete.
# Every outcome is told in the fragment that swaps in, once: notices live in that fragment.


def _grade_page(
    request, study, *, assignment=None, form=None, status=200, notice=None, progress=None
):
    """The grading screen, or just its task fragment for an htmx request; without
    `assignment`, the grader's next one is handed out. `progress`: the grader's, when a
    vote just returned it."""
    if assignment is None:
        assignment = handout.next_assignment(request.user, study)
    # Nothing left: count exactly what the "all done" screen says.
    progress = grader_stats.screen_progress(
        request.user, study, progress, recount=assignment is None
    )
    context = {
        "study": _study_header(study),
        "progress": progress,
        "screen": None,
        "shown_at": sign_shown_at(),
        "can_change_last": progress.answered_here,
        "notice": notice,
    }
    if assignment is not None:
        context["screen"] = grading.task_screen(assignment, study, form)
    template = "annotation/grade.html"
    if request.htmx:
        template += "#task"
    response = render(request, template, context, status=status)
    if request.htmx:
        trigger_client_event(response, "taskLoaded", after="settle")
    return response


@login_required
@require_GET
def grade(request, slug):
    study = get_study_for_grader(request.user, slug)
    return _grade_page(request, study)


@login_required
@require_POST
def grade_submit(request, slug, assignment_id):
    # One query loads the assignment with its study and task, and checks access.
    assignment = get_assignment_for_vote(request.user, slug, assignment_id)
    study = assignment.task.study
    form = GradeForm(request.POST, study=study, kind=assignment.task.kind)
    if not form.is_valid():
        return _grade_page(request, study, assignment=assignment, form=form, status=422)
    vote = form.to_vote()
    try:
        # The vote and the hand-out of the next task in one transaction.
        result = handout.vote_and_next(
            assignment, request.user, vote, holding=assignment.other_held_id is not None
        )
    except handout.TaskTimedOut:
        notice = grading.Notice(
            "timed_out",
            "Not stored: this task timed out and went to another grader before your answer "
            "arrived. Here is a new task.",
        )
        return _grade_page(request, study, notice=notice, status=409)
    judgment, created = result.judgment, result.created
    if not created and not handout.vote_matches(judgment, vote):
        notice = grading.Notice(
            "already_answered",
            "Not stored: you had already answered this task (in another tab or window). "
            "The answer kept is:",
            kept=grading.answer_summary(judgment),
        )
        return _grade_page(request, study, notice=notice, status=409)
    notice = grading.Notice(
        "stored",
        "Your answer is stored." if created else "Your answer was already stored.",
        revealed=grading.reveal(judgment, assignment),
    )
    if not request.htmx:
        shown = "".join(f" {r['label']} was {r['model']}." for r in notice.revealed or [])
        messages.success(request, notice.text + shown)
        return redirect("grade", slug=slug)
    return _grade_page(
        request, study, assignment=result.next_assignment, notice=notice, progress=result.progress
    )


@login_required
@require_POST
def grade_skip(request, slug, assignment_id):
    assignment = get_assignment_for_grader(request.user, slug, assignment_id)
    study = assignment.task.study
    notice = None
    if handout.skip(assignment.pk, request.user):
        notice = grading.Notice("skipped", "Skipped.", undo_skip=assignment.pk)
    if request.htmx:
        return _grade_page(request, study, notice=notice)
    if notice:
        messages.info(request, "Skipped. You can undo it from your answers.")
    return redirect("grade", slug=slug)


@login_required
@require_POST
def grade_unskip(request, slug, assignment_id):
    """Bring back a task the grader skipped, if it still has a free slot."""
    assignment = get_assignment_for_grader(request.user, slug, assignment_id)
    study = assignment.task.study
    try:
        reopened = handout.unskip(assignment.pk, request.user)
    except handout.HandoutError as exc:
        if request.htmx:
            notice = grading.Notice("not_unskipped", str(exc))
            return _grade_page(request, study, notice=notice, status=409)
        messages.warning(request, str(exc))
        return redirect("grade_history", slug=slug)
    if request.htmx:
        notice = grading.Notice("unskipped", "The task you skipped is back.")
        return _grade_page(request, study, assignment=reopened, notice=notice)
    messages.success(request, "The task you skipped is back.")
    return redirect("grade", slug=slug)


@login_required
@require_GET
def grade_history(request, slug):
    """The grader's own answers and skips in the study, newest first, to change or undo."""
    study = get_study_for_grader(request.user, slug)
    page, rows = grading.history(request.user, study, request.GET.get("page"))
    context = {"study": _study_header(study), "page": page, "rows": rows}
    return render(request, "annotation/grade_history.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def grade_change(request, slug, judgment_id):
    """Show one of the grader's answers again and let them change it."""
    study = get_study_for_grader(request.user, slug)
    judgment = get_judgment_for_grader(request.user, study, judgment_id)
    return _change_page(request, study, judgment)


@login_required
@require_GET
def grade_change_last(request, slug):
    """The grader's last answer, to change it (the `u` key)."""
    study = get_study_for_grader(request.user, slug)
    judgment = handout.last_judgment(request.user, study)
    if judgment is None:
        messages.info(request, "There is no earlier answer to change yet.")
        return redirect("grade", slug=slug)
    return _change_page(request, study, judgment)


def _change_page(request, study, judgment):
    assignment = judgment.assignment
    assignment.task = judgment.task  # loaded with its texts
    grade_url = reverse("grade", args=[study.slug])
    back = request.POST.get("next") or request.GET.get("next") or ""
    if not (back.startswith(grade_url) and url_has_allowed_host_and_scheme(back, None)):
        back = grade_url
    if request.method == "POST":
        form = GradeForm(request.POST, study=study, kind=assignment.task.kind)
        if form.is_valid():
            handout.change_vote(judgment, form.to_vote())
            messages.success(request, "Your answer was changed.")
            return redirect(back)
        status = 422
    else:
        form = GradeForm(
            grading.initial_from_judgment(judgment), study=study, kind=assignment.task.kind
        )
        status = 200
    context = {
        "study": _study_header(study),
        "screen": grading.task_screen(assignment, study, form),
        "judgment_id": judgment.pk,
        "back": back,
        "editing": True,
    }
    return render(request, "annotation/grade_change.html", context, status=status)


@login_required
@require_GET
def instructions(request, slug):
    study = get_study_for_grader(request.user, slug)
    context = {"study": _study_header(study)}
    return render(request, "annotation/instructions.html", context)


# --- results for researchers -------------------------------------------------------------

CHARTS = ("ratings", "grr", "winrate")
CHART_POLICY = "default-src 'none'; style-src 'unsafe-inline'"


def _compare_context(study, params) -> dict:
    model_a, model_b = params.get("model_a", ""), params.get("model_b", "")
    measure = params.get("measure", "good_rate")
    context = {
        "model_a": model_a,
        "model_b": model_b,
        "measure": measure,
        "comparison": None,
        "error": None,
    }
    if model_a and model_b:
        try:
            context["comparison"] = results.compare(study, model_a, model_b, measure=measure)
        except results.ResultsError as exc:
            context["error"] = str(exc)
    return context


@login_required
@require_GET
def dashboard(request, slug):
    study = get_study_for_researcher(request.user, slug)
    models = list(study.models.values_list("name", flat=True))
    compare = _compare_context(study, request.GET)
    if not compare["model_a"] and len(models) >= 2:
        compare.update(model_a=models[0], model_b=models[1])
    if request.htmx and request.htmx.target == "compare":
        return render(
            request, "annotation/dashboard.html#compare", {"study": study, "compare": compare}
        )
    # The last computed results: never computed here during grading (annotation.results).
    latest, freshness = results.latest(study)
    slow, slow_status, slow_stamp = background.slow_results(study, freshness.version)
    context = {
        "study": study,
        "models": models,
        "freshness": freshness,
        "progress": latest["progress"],
        "board": latest["leaderboard"],
        "agreement": latest["agreement"],
        # Computed by each refresh; dashboard results stored before it did lack them.
        "checks": latest.get("grader_checks") or results.grader_checks(study),
        "judges": latest["judges"],
        "slices": latest["slices"],
        "slice_rules": {"min_n": slices_stats.DEFAULT_MIN_N, "alpha": slices_stats.DEFAULT_ALPHA},
        "correlations": latest["correlations"],
        # Issue 13's results: Davidson with the others; the rest from the background worker.
        "davidson": latest.get("davidson"),
        "style": slow["style"],
        "position": slow["position"],
        "consistency": slow["consistency"],
        "by_grader": grader_columns(slow["position"], slow["consistency"]),
        "tag_effects": slow["tag_effects"],
        "slow_status": slow_status,
        "compare": compare,
        # The results' sections are rendered once per computation (~150 ms of template
        # work at 200 graders, where a request should stay cheap during grading).
        "results_stamp": _results_stamp(study, freshness, slow_status, slow_stamp),
        "export_formats": exports.FORMATS,
        "jobs": _jobs(study),
        # The hand-out's options and state, where the study sets any (annotation.schedule).
        "handout": schedule.state(study) if schedule.has_options(study) else None,
        "metric_names": metric_names(),
        "charts": CHARTS,
    }
    return render(request, "annotation/dashboard.html", context)


def _results_stamp(study, freshness, slow_status: str, slow_stamp: str) -> str:
    """What the cached results sections of the dashboard are rendered from: the study, the
    computation its results come from (version and time) and the slow results' stamp. A
    key of Django's cache (`{% cache %}`)."""
    computed = freshness.computed_at.isoformat() if freshness.computed_at else "-"
    parts = (study.pk, study.slug, freshness.version, computed, slow_status, slow_stamp)
    return hashlib.sha256(repr(parts).encode()).hexdigest()


@login_required
@require_GET
def judgments(request, slug):
    """The judgment browser: a study's judgments filtered, a page of tasks at a time."""
    study = get_study_for_researcher(request.user, slug)
    # Filter choices change with the data: recomputed when any new judgment lands (cheap
    # stamp), never per page otherwise.
    choices = results.cached(
        study, "browse-options", lambda: browse.options(study), version=results.watermark(study)
    )
    form = browse.FilterForm(request.GET, options=choices)
    page = None
    if form.is_valid():
        page = browse.browse(study, form.filters(), form.cleaned_data.get("page") or 1)
    context = {"study": study, "form": form, "page": page, "options": choices}
    if page and form.cleaned_data.get("consistency"):
        context["flags_computed_at"] = browse.flags_computed_at(study)
    return render(request, "annotation/judgments.html", context, status=200 if page else 400)


def _chart_figure(study, name):
    """A callable that draws chart `name` from the last computed results, and the data
    version of those results (raises Http404 for an unknown chart)."""
    if name in CHARTS:
        board, freshness = results.latest_result(study, "leaderboard")
        return {
            "ratings": lambda: charts.ratings_figure(board["rows"]),
            "grr": lambda: charts.grr_figure(board["rows"]),
            "winrate": lambda: charts.win_rate_figure(board["matrix"]),
        }[name], freshness
    if name.startswith("scatter-"):
        metric, _, human = name[len("scatter-") :].rpartition("-")
        payload, freshness = results.latest_result(study, "correlations")
        entry = next((m for m in payload["metrics"] if m["metric"] == metric), None)
        if entry is not None and human in ("good_rate", "win_rate"):
            return lambda: charts.metric_scatter_figure(entry["points"], metric, human), freshness
    raise Http404("No such chart")


@login_required
@require_GET
def chart(request, slug, name, fmt="svg"):
    """A chart as SVG (shown on the dashboard), or SVG, PNG or PDF to download."""
    study = get_study_for_researcher(request.user, slug)
    if fmt not in charts.FORMATS:
        raise Http404("No such chart format")
    draw, freshness = _chart_figure(study, name)
    if fmt == "svg":
        body = results.cached_chart(
            study, f"v2:{name}", freshness.version, lambda: charts.render(draw(), "svg").decode()
        )
    else:
        body = charts.render(draw(), fmt)
    response = HttpResponse(body, content_type=charts.FORMATS[fmt])
    if fmt != "svg" or "download" in request.GET:
        response["Content-Disposition"] = content_disposition_header(
            True, f"{study.slug}-{name}.{fmt}"
        )
    # matplotlib's SVG carries its own inline styles; an image cannot run script anyway.
    response["Content-Security-Policy"] = CHART_POLICY
    response["Cache-Control"] = "private, max-age=60"
    return response


@login_required
@require_http_methods(["GET", "POST"])
def metric_jobs(request, slug):
    """Start a metric computation in the background, and show the jobs' progress."""
    study = get_study_for_researcher(request.user, slug)
    error = None
    if request.method == "POST":
        form = MetricJobForm(request.POST)
        if form.is_valid():
            try:
                data = form.cleaned_data
                metric_runs.start_job(
                    study,
                    data["metric"],
                    model=data["model"],
                    store_as=data["store_as"],
                    batch_size=data["batch_size"],
                    user=request.user,
                )
            except MetricError as exc:
                error = str(exc)
        else:
            error = "; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in form.errors.items())
        if not request.htmx:
            if error:
                messages.error(request, error)
            return redirect(f"{reverse('dashboard', args=[slug])}#metrics")
    context = {"study": study, "jobs": _jobs(study), "job_error": error}
    # 422, not 400: the page swaps a 422 in (base.html's htmx config), so the reason shows.
    return render(request, "annotation/dashboard.html#jobs", context, status=422 if error else 200)


def _jobs(study):
    jobs = list(study.metric_jobs.all()[:10])
    return {
        "items": jobs,
        # The partial polls while this is true and drops its trigger when it is not.
        "active": any(j.status in ("queued", "running") for j in jobs),
        "waiting": [j for j in jobs if j.waiting_for_worker],
    }
