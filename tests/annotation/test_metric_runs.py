"""compute_metrics, background metric jobs, and imports of metric scores."""

import io
import json

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from annotation import metric_runs
from annotation.models import MetricJob, MetricScore, Prompt, Response, Study
from tests.conftest import join, make_user

pytestmark = pytest.mark.django_db


def compute(*args):
    out = io.StringIO()
    call_command("compute_metrics", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_it_computes_a_text_metric_and_then_only_what_is_missing(pair_study):
    out = compute("--study", "pairs", "--metric", "length")
    assert "12 responses scored" in out
    for response in Response.objects.all():
        assert MetricScore.objects.get(response=response, metric="length").value == len(
            response.text
        )
    new = Response.objects.first()
    MetricScore.objects.filter(response=new).delete()
    assert "1 responses scored, 11 already had a score" in compute(
        "--study", "pairs", "--metric", "length"
    )


def test_reference_metrics_skip_prompts_without_a_reference(pair_study):
    Prompt.objects.filter(external_id="q0").update(reference="Answer number 0 to question 0.")
    compute("--study", "pairs", "--metric", "chrf")
    scores = dict(MetricScore.objects.filter(metric="chrf").values_list("response__text", "value"))
    assert len(scores) == 3
    assert scores["Answer number 0 to question 0."] == pytest.approx(100.0)
    assert scores["Answer number 1 to question 0."] < 100.0


def test_a_bad_model_path_is_a_clear_error_and_writes_nothing(pair_study, tmp_path):
    with pytest.raises(CommandError, match="does not exist"):
        compute("--study", "pairs", "--metric", "perplexity", "--model", str(tmp_path / "missing"))
    assert not MetricScore.objects.exists()


def test_store_as_keeps_two_runs_apart(pair_study):
    compute("--study", "pairs", "--metric", "length", "--as", "length-chars")
    assert set(MetricScore.objects.values_list("metric", flat=True)) == {"length-chars"}


def test_a_dashboard_job_runs_on_the_database_queue(client, pair_study, transactional_db):
    """The researcher starts a job on the page; the real db_worker runs it; progress shows."""
    rita = make_user("rita", "researcher")
    join(pair_study, rita)
    client.force_login(rita)
    response = client.post(
        reverse("metric_jobs", args=["pairs"]), {"metric": "distinct_2"}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    job = MetricJob.objects.get()
    assert job.status == "queued" and 'hx-trigger="every 2s"' in response.content.decode()
    call_command("db_worker", "--batch", "--no-startup-delay", "--no-reload", verbosity=0)
    job.refresh_from_db()
    assert job.status == "done", job.message
    assert (job.done, job.total) == (12, 12) and job.percent == 100
    assert MetricScore.objects.filter(metric="distinct_2").count() == 12
    page = client.get(
        reverse("metric_jobs", args=["pairs"]), HTTP_HX_REQUEST="true"
    ).content.decode()
    assert "every 2s" not in page and "Done" in page


def test_a_failing_job_reports_its_error(pair_study, transactional_db, tmp_path):
    # A directory that exists but holds no model: only loading it can tell.
    job = metric_runs.start_job(Study.objects.get(slug="pairs"), "reward", model=str(tmp_path))
    call_command("db_worker", "--batch", "--no-startup-delay", "--no-reload", verbosity=0)
    job.refresh_from_db()
    assert job.status == "failed" and str(tmp_path) in job.message and job.finished
    assert not MetricScore.objects.exists()


def test_a_job_that_crashes_is_marked_failed_not_left_running(
    pair_study, transactional_db, monkeypatch
):
    """Any exception (not only a MetricError) ends the job, or the page would poll for ever."""
    job = metric_runs.start_job(Study.objects.get(slug="pairs"), "length")

    def crash(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(metric_runs, "compute", crash)
    call_command("db_worker", "--batch", "--no-startup-delay", "--no-reload", verbosity=0)
    job.refresh_from_db()
    assert job.status == "failed" and job.message == "the job stopped: RuntimeError: disk full"
    assert job.finished_at is not None


@pytest.mark.parametrize(
    "data,message",
    [
        (
            {"metric": "reward", "model": "/no/such/model"},
            "reward: model path /no/such/model does not exist on the server",
        ),
        (
            {"metric": "perplexity", "model": "./models/missing"},
            "perplexity: model path ./models/missing does not exist on the server",
        ),
        ({"metric": "length", "model": "gpt2"}, "length takes no model; leave the model empty"),
        ({"metric": "perplexity"}, "perplexity needs a model: give its local path or hub name"),
    ],
)
def test_a_job_that_cannot_run_is_refused_at_once(client, pair_study, data, message):
    rita = make_user("rita", "researcher")
    join(pair_study, rita)
    client.force_login(rita)
    response = client.post(reverse("metric_jobs", args=["pairs"]), data, HTTP_HX_REQUEST="true")
    # 422: the page swaps it in (a 400 would be dropped by the page's htmx config).
    assert response.status_code == 422
    html = response.content.decode()
    assert f"Not started: {message}" in html
    assert not MetricJob.objects.exists()
    # Without JavaScript: back to the dashboard with the same message.
    plain = client.post(reverse("metric_jobs", args=["pairs"]), data, follow=True)
    assert message in plain.content.decode() and not MetricJob.objects.exists()


def test_a_hub_name_is_left_to_the_worker(client, pair_study):
    rita = make_user("rita", "researcher")
    join(pair_study, rita)
    client.force_login(rita)
    response = client.post(
        reverse("metric_jobs", args=["pairs"]),
        {"metric": "reward", "model": "OpenAssistant/reward-model-deberta-v3-base"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    assert MetricJob.objects.get().model_path == "OpenAssistant/reward-model-deberta-v3-base"


def test_a_job_no_worker_takes_says_so(client, pair_study):
    from datetime import timedelta

    from django.utils import timezone

    rita = make_user("rita", "researcher")
    join(pair_study, rita)
    client.force_login(rita)
    job = metric_runs.start_job(Study.objects.get(slug="pairs"), "length")
    page = client.get(reverse("metric_jobs", args=["pairs"]), HTTP_HX_REQUEST="true").content
    assert b"waiting for a worker" in page and b"No worker has taken" not in page
    MetricJob.objects.filter(pk=job.pk).update(created_at=timezone.now() - timedelta(minutes=2))
    page = client.get(reverse("metric_jobs", args=["pairs"]), HTTP_HX_REQUEST="true").content
    assert b"No worker has taken 1 queued job yet" in page
    # Still queued, so the partial keeps polling until a worker finishes it.
    assert b'hx-trigger="every 2s"' in page


def test_an_unknown_metric_is_refused_on_the_page(client, pair_study):
    rita = make_user("rita", "researcher")
    join(pair_study, rita)
    client.force_login(rita)
    response = client.post(
        reverse("metric_jobs", args=["pairs"]), {"metric": "vibes"}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 422 and "unknown metric" in response.content.decode()
    assert not MetricJob.objects.exists()


def test_graders_cannot_start_jobs(client, pair_study, grader):
    join(pair_study, grader)
    client.force_login(grader)
    assert (
        client.post(reverse("metric_jobs", args=["pairs"]), {"metric": "length"}).status_code == 403
    )


def run_import(path, fmt, *args):
    call_command(
        "import_metric_scores",
        str(path),
        "--study",
        "pairs",
        "--format",
        fmt,
        *args,
        stdout=io.StringIO(),
    )


def test_it_imports_wide_and_long_csv(pair_study, tmp_path):
    wide = tmp_path / "wide.csv"
    wide.write_text(
        "prompt_id,model,bertscore,toxicity\nq0,alpha-model,0.9,0.01\nq1,beta-model,0.5,\n"
    )
    run_import(wide, "csv")
    long = tmp_path / "long.csv"
    long.write_text("prompt_id,model,metric,value\nq0,alpha-model,bertscore,0.95\n")
    run_import(long, "csv")
    values = dict(
        MetricScore.objects.values_list("metric", "value").filter(
            response__prompt__external_id="q0"
        )
    )
    assert values == {"bertscore": 0.95, "toxicity": 0.01}
    assert MetricScore.objects.count() == 3


def test_it_imports_lm_eval_harness_samples(pair_study, tmp_path):
    path = tmp_path / "samples_task.jsonl"
    lines = [
        {
            "doc_id": 0,
            "doc": {"id": "q0"},
            "target": "x",
            "resps": [["y"]],
            "filtered_resps": ["y"],
            "acc": 1.0,
            "exact_match": 0.0,
        },
        {
            "doc_id": 1,
            "doc": {"id": "q1"},
            "target": "x",
            "resps": [["y"]],
            "filtered_resps": ["y"],
            "acc": 0.0,
            "exact_match": 0.0,
        },
    ]
    path.write_text("\n".join(json.dumps(line) for line in lines))
    run_import(path, "lm-eval", "--model", "gamma-model", "--id-field", "id", "--prefix", "hs:")
    acc = dict(
        MetricScore.objects.filter(metric="hs:acc").values_list(
            "response__prompt__external_id", "value"
        )
    )
    assert acc == {"q0": 1.0, "q1": 0.0}


@pytest.mark.parametrize(
    "content,message",
    [
        (
            "prompt_id,model,bleu\nq0,alpha-model,high\n",
            "s.csv:2: field 'bleu': not a number: 'high'",
        ),
        (
            "prompt_id,model,bleu\nq9,alpha-model,1\n",
            "s.csv:2: field 'prompt_id': no prompt 'q9' in this study",
        ),
        ("prompt_id,bleu\nq0,1\n", "s.csv:1: field 'model': missing column"),
        ("prompt_id,model,bleu\nq0,alpha-model,inf\n", "not a finite number"),
        (
            'prompt_id,model,bleu\nq0,alpha-model,"0.5\nq1,alpha-model,0.7\n',
            "s.csv:2: field 'bleu': a quote opened here is never closed",
        ),
    ],
)
def test_it_rejects_bad_scores_and_writes_nothing(pair_study, tmp_path, content, message):
    path = tmp_path / "s.csv"
    path.write_text(content)
    with pytest.raises(CommandError, match=message.replace("(", r"\(").replace(")", r"\)")):
        run_import(path, "csv")
    assert not MetricScore.objects.exists()


def test_a_metric_may_not_shadow_a_human_column(pair_study, tmp_path):
    path = tmp_path / "s.csv"
    path.write_text("prompt_id,model,metric,value\nq0,alpha-model,win_rate,0.5\n")
    with pytest.raises(
        CommandError, match="s.csv:2: field 'metric': 'win_rate' names a column of the scores table"
    ):
        run_import(path, "csv")
    assert not MetricScore.objects.exists()
