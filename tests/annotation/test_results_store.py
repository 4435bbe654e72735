"""annotation.results.store: results computed out of the grading path, the last ones
served with their age, one background recomputation per study, and the fallback when no
worker runs."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from annotation import handout, results
from annotation.handout import Vote
from annotation.models import MetricScore, Response, ResultCache, ResultsRefresh, Study
from annotation.results import store
from annotation.results.version import data_version, watermark
from tests.conftest import better_side, grade_until_done, join, make_user


@pytest.fixture
def graded(pair_study):
    """Two graders answered every task; overlap raised to 3 so a third grader can vote."""
    users = [make_user(f"v{i}", "grader") for i in range(2)]
    join(pair_study, *users)
    for user in users:
        grade_until_done(
            pair_study,
            user,
            lambda a: Vote(verdict=better_side(a), ratings={"left": "good", "right": "poor"}),
        )
    Study.objects.filter(pk=pair_study.pk).update(overlap=3)
    pair_study.refresh_from_db()
    return pair_study


@pytest.fixture
def late(graded):
    user = make_user("late", "grader")
    join(graded, user)
    return user


def vote(study, user, verdict="tie"):
    assignment = handout.next_assignment(user, study)
    return handout.record_vote(
        assignment.pk, user, Vote(verdict=verdict, ratings={"left": "poor", "right": "poor"})
    )[0]


def jobs():
    return DBTaskResult.objects.filter(task_path__endswith="refresh_results")


def run_worker():
    call_command("db_worker", "--batch", "--no-startup-delay", "--no-reload", verbosity=0)


def overdue(study, seconds=3600):
    """Pretend the queued recomputation has waited `seconds` without a worker."""
    past = timezone.now() - timedelta(seconds=seconds)
    ResultsRefresh.objects.filter(study=study).update(queued_at=past, run_after=past)


@pytest.mark.django_db
def test_the_first_read_computes_every_result_in_the_request(graded):
    payload, freshness = results.latest(graded)
    assert freshness.status == "current" and freshness.computed_at is not None
    assert payload["leaderboard"]["n_battles"] == 24
    assert set(payload) == {
        "leaderboard",
        "progress",
        "agreement",
        "judges",
        "slices",
        "correlations",
        "davidson",
        "grader_checks",
    }
    keys = set(ResultCache.objects.filter(study=graded).values_list("key", flat=True))
    assert {store.default_key(name) for name in store.DEFAULTS} < keys
    assert not jobs().exists()


@pytest.mark.django_db
def test_a_vote_writes_nothing_shared_and_enqueues_nothing(graded, late):
    results.latest(graded)
    assignment = handout.next_assignment(late, graded)
    with CaptureQueriesContext(connection) as queries:
        handout.record_vote(assignment.pk, late, Vote(verdict="tie", ratings={"left": "poor"}))
    writes = [q["sql"] for q in queries if q["sql"].lstrip().upper().startswith("UPDATE")]
    assert not [sql for sql in writes if "annotation_study" in sql.split("SET")[0]]
    assert not [sql for sql in writes if "resultsrefresh" in sql.lower()]
    assert not jobs().exists()


@pytest.mark.django_db
def test_after_votes_the_last_results_are_served_and_one_recomputation_is_queued(
    graded, late, django_capture_on_commit_callbacks
):
    first, _ = results.latest(graded)
    vote(graded, late)
    with django_capture_on_commit_callbacks(execute=True):
        payload, freshness = results.latest(graded)
        again, still = results.latest(graded)
    assert payload == first == again  # the last computed results, not computed again
    assert freshness.status == still.status == "recomputing"
    assert jobs().count() == 1
    state = ResultsRefresh.objects.get(study=graded)
    # Debounced: not before RESULTS_REFRESH_SECONDS after the last computation.
    assert state.run_after >= state.computed_at + store.refresh_interval()


@pytest.mark.django_db(transaction=True)
def test_the_worker_recomputes_and_readers_see_the_new_results(graded, late, settings):
    settings.RESULTS_REFRESH_SECONDS = 0
    results.latest(graded)
    vote(graded, late)
    assert results.latest(graded)[1].status == "recomputing"
    run_worker()
    payload, freshness = results.latest(graded)
    assert freshness.status == "current"
    assert payload["leaderboard"]["n_battles"] == 25
    assert jobs().get().status == "SUCCESSFUL"


@pytest.mark.django_db(transaction=True)
def test_a_vote_in_another_study_is_checked_but_not_recomputed(graded, write_jsonl, settings):
    from annotation.ingest.study_files import StudyOptions, import_study

    settings.RESULTS_REFRESH_SECONDS = 0
    results.latest(graded)
    computed = ResultsRefresh.objects.get(study=graded).computed_at
    other = import_study(
        write_jsonl([{"id": "x", "prompt": "?", "outputs": {"m1": "a", "m2": "b"}}], "o.jsonl"),
        "other",
        StudyOptions(),
    ).study
    grader = make_user("elsewhere", "grader")
    join(other, grader)
    vote(other, grader)  # moves the watermark of every study
    assert results.latest(graded)[1].status == "recomputing"
    run_worker()
    state = ResultsRefresh.objects.get(study=graded)
    assert state.computed_at == computed and state.watermark == watermark(graded)
    assert results.latest(graded)[1].status == "current"


@pytest.mark.django_db
def test_without_a_worker_an_overdue_recomputation_runs_in_the_request(
    graded, late, django_capture_on_commit_callbacks
):
    results.latest(graded)
    vote(graded, late)
    with django_capture_on_commit_callbacks(execute=True):
        assert results.latest(graded)[1].status == "recomputing"
    assert jobs().filter(status="READY").count() == 1
    overdue(graded)
    payload, freshness = results.latest(graded)
    assert freshness.status == "current"
    assert payload["leaderboard"]["n_battles"] == 25
    # The job the request stood in for is off the queue; a worker would find nothing to do.
    assert not jobs().exists()
    assert store.refresh(graded) == "unchanged"


@pytest.mark.django_db
def test_a_job_waiting_for_its_debounce_is_not_overdue(graded, late, settings):
    settings.RESULTS_WORKER_GRACE_SECONDS = 30
    results.latest(graded)
    vote(graded, late)
    results.latest(graded)
    soon = timezone.now() + timedelta(seconds=5)
    ResultsRefresh.objects.filter(study=graded).update(run_after=soon)
    assert results.latest(graded)[1].status == "recomputing"
    assert results.latest(graded)[0]["leaderboard"]["n_battles"] == 24


@pytest.mark.django_db
def test_commands_and_the_model_card_always_read_current_results(graded, late):
    results.latest(graded)
    vote(graded, late)
    assert results.leaderboard(graded)["n_battles"] == 25
    assert results.latest(graded)[1].status == "current"


@pytest.mark.django_db
def test_a_metric_upload_or_an_edit_changes_the_data_version(graded, late):
    before = data_version(graded)
    response = Response.objects.filter(prompt__study=graded).first()
    MetricScore.objects.create(response=response, metric="bleu", value=0.5)
    graded.results_changed()
    after_metric = data_version(graded)
    assert after_metric != before
    judgment = vote(graded, late)
    after_vote = data_version(graded)
    assert after_vote != after_metric
    handout.change_vote(judgment, Vote(verdict="b", ratings={"left": "good", "right": "poor"}))
    assert data_version(graded) != after_vote


@pytest.mark.django_db
def test_changing_the_good_labels_moves_the_watermark(graded):
    before = watermark(graded)
    Study.objects.filter(pk=graded.pk).update(good_labels=["acceptable", "good"])
    assert watermark(graded) != before


@pytest.mark.django_db
def test_a_failed_recomputation_keeps_the_last_results_and_says_why(graded, late, monkeypatch):
    results.latest(graded)
    vote(graded, late)
    overdue_state = results.latest(graded)
    assert overdue_state[1].status == "recomputing"
    overdue(graded)

    def broken(data, **params):
        raise RuntimeError("disk full")

    monkeypatch.setitem(store.DEFAULTS, "judges", (broken, {}))
    with pytest.raises(RuntimeError):
        results.latest(graded)
    monkeypatch.undo()
    state = ResultsRefresh.objects.get(study=graded)
    assert state.error == "RuntimeError: disk full" and state.started_at is None
    payload = ResultCache.objects.get(study=graded, key=store.DASHBOARD).payload
    assert payload["leaderboard"]["n_battles"] == 24


@pytest.mark.django_db
def test_the_dashboard_says_how_old_its_results_are(client, graded, late):
    rita = make_user("rita", "researcher")
    join(graded, rita)
    client.force_login(rita)
    page = client.get(reverse("dashboard", args=[graded.slug])).content.decode()
    assert "Results as of" in page and "recomputing" not in page
    vote(graded, late)
    page = client.get(reverse("dashboard", args=[graded.slug]))
    html = page.content.decode()
    assert "recomputing with newer judgments" in html
    assert page.context["board"]["n_battles"] == 24


@pytest.mark.django_db
def test_the_api_serves_the_last_results_and_says_so_in_headers(graded, late):
    from rest_framework.test import APIClient

    admin = make_user("root", "admin")
    client = APIClient()
    client.force_authenticate(admin)
    url = f"/api/studies/{graded.slug}/results/leaderboard/"
    first = client.get(url)
    assert first["Results-Status"] == "current" and "Results-Computed-At" in first
    vote(graded, late)
    stale = client.get(url)
    assert stale["Results-Status"] == "recomputing"
    assert stale.json()["n_battles"] == 24
    # Other parameters ask for a computation on the current data.
    fresh = client.get(url + "?bootstrap=10")
    assert fresh.json()["n_battles"] == 25 and "Results-Status" not in fresh
