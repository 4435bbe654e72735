"""The researchers' dashboard: access, content, charts, caching, and one code path with the CLI."""

import io
import json
import re
import subprocess
import sys

import pytest
from django.core.management import call_command
from django.urls import reverse

from annotation import handout, results
from annotation.handout import Vote
from annotation.models import ResultCache, Study
from annotation.results.store import result_key
from annotation.results.version import data_version
from tests.conftest import REPO_ROOT, better_side, grade_until_done, join, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def graded(pair_study):
    """Two graders vote on every task: the response with the smaller answer number wins,
    except that the second grader calls prompt q3 a tie."""
    users = [make_user(f"v{i}", "grader") for i in range(2)]
    join(pair_study, *users)
    for i, user in enumerate(users):

        def vote_for(a, i=i):
            side = better_side(a)
            verdict = "tie" if (i == 1 and a.task.prompt.external_id == "q3") else side
            return Vote(
                verdict=verdict, ratings={"left": "good", "right": "poor"}, tags={side: ["untrue"]}
            )

        grade_until_done(pair_study, user, vote_for)
    return pair_study


@pytest.fixture
def rita(graded):
    user = make_user("rita", "researcher")
    join(graded, user)
    return user


def url(study):
    return reverse("dashboard", args=[study.slug])


def test_a_researcher_sees_the_leaderboard(client, graded, rita):
    client.force_login(rita)
    page = client.get(url(graded))
    assert page.status_code == 200
    html = page.content.decode()
    assert html.index("alpha-model") < html.index("beta-model") < html.index("gamma-model")
    board = page.context["board"]
    assert [r["model"] for r in board["rows"]] == ["alpha-model", "beta-model", "gamma-model"]
    assert board["n_battles"] == 24
    # 24 battles: every model is under the minimum count, and each row says so.
    table = html[
        html.index('id="leaderboard-table"') : html.index(
            "</table>", html.index('id="leaderboard-table"')
        )
    ]
    rows = table.split("<tr>")[2:]
    assert len(rows) == 3 and all("few battles" in row for row in rows)
    assert all(r["low_battles"] for r in board["rows"])
    for section in (
        "Agreement",
        "Slices and parity gaps",
        "Automatic metrics",
        "Progress",
        "Exports",
    ):
        assert section in html


@pytest.mark.parametrize("who,status", [("grader", 403), ("outsider", 404)])
def test_others_get_no_results(client, graded, grader, outsider, who, status):
    user = grader if who == "grader" else outsider
    if who == "grader":
        join(graded, grader)
    client.force_login(user)
    assert client.get(url(graded)).status_code == status
    assert client.get(reverse("chart", args=[graded.slug, "ratings"])).status_code == status


def test_anonymous_visitors_are_sent_to_login(client, graded):
    response = client.get(url(graded))
    assert response.status_code == 302 and "/accounts/login/" in response.url


@pytest.mark.parametrize("name", ["ratings", "grr", "winrate"])
def test_charts_are_svg_images(client, graded, rita, name):
    client.force_login(rita)
    response = client.get(reverse("chart", args=[graded.slug, name]))
    assert response.status_code == 200 and response["Content-Type"] == "image/svg+xml"
    body = response.content.decode()
    assert body.lstrip().startswith("<?xml") and "<svg" in body and "<script" not in body
    assert "alpha-model" in body


def test_an_unknown_chart_is_404(client, graded, rita):
    client.force_login(rita)
    assert client.get(reverse("chart", args=[graded.slug, "pie"])).status_code == 404


def test_the_comparison_swaps_in_with_htmx(client, graded, rita):
    client.force_login(rita)
    response = client.get(
        url(graded),
        {"model_a": "alpha-model", "model_b": "gamma-model", "measure": "win_rate"},
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET="compare",
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="compare">') and "Leaderboard" not in html
    assert "on 4 shared prompts" in html
    bad = client.get(
        url(graded),
        {"model_a": "alpha-model", "model_b": "nope"},
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET="compare",
    )
    assert "no model &#x27;nope&#x27;" in bad.content.decode()


def test_results_are_cached_until_the_data_changes(graded):
    first = results.leaderboard(graded, bootstrap=200)
    cache = ResultCache.objects.get(
        study=graded, key=result_key("leaderboard", bootstrap=200, seed=0)
    )
    version = data_version(graded)
    assert cache.version == version
    assert results.leaderboard(graded, bootstrap=200) == first
    # A new vote moves the data version without writing the study row; the next read
    # recomputes.
    user = make_user("late", "grader")
    join(graded, user)
    Study.objects.filter(pk=graded.pk).update(overlap=3)
    graded.refresh_from_db()
    counter = Study.objects.get(pk=graded.pk).results_version
    a = handout.next_assignment(user, graded)
    handout.record_vote(a.pk, user, Vote(verdict="tie", ratings={"left": "poor", "right": "poor"}))
    assert Study.objects.get(pk=graded.pk).results_version == counter
    assert data_version(graded) != version
    again = results.leaderboard(graded, bootstrap=200)
    assert again["n_battles"] == first["n_battles"] + 1


def test_the_arena_export_gives_the_cli_the_dashboards_ratings(graded, tmp_path):
    """Round trip: export arena battles, run `python -m scoring leaderboard` on the file,
    and get the ratings the dashboard shows (same scoring code, same seed)."""
    board = results.leaderboard(graded, bootstrap=300, seed=7)
    path = tmp_path / "battles.jsonl"
    call_command(
        "export",
        "--study",
        graded.slug,
        "--format",
        "arena",
        "--output",
        str(path),
        stderr=io.StringIO(),
    )
    cli = subprocess.run(
        [
            sys.executable,
            "-m",
            "scoring",
            "leaderboard",
            str(path),
            "--bootstrap",
            "300",
            "--seed",
            "7",
            "--format",
            "json",
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert cli.returncode == 0, cli.stderr
    from_cli = {row["model"]: row for row in json.loads(cli.stdout)}
    for row in board["rows"]:
        assert from_cli[row["model"]]["rating"] == pytest.approx(row["rating"], abs=1e-6)
        assert from_cli[row["model"]]["ci_lower"] == pytest.approx(row["ci_lower"], abs=1e-6)
        assert from_cli[row["model"]]["rank"] == row["rank"]


def test_model_judges_are_kept_out_of_human_results(graded):
    judge = make_user("gpt-judge", "grader")
    judge.kind = "model_judge"
    judge.save()
    join(graded, judge)
    Study.objects.filter(pk=graded.pk).update(overlap=3)
    graded.refresh_from_db()
    before = results.leaderboard(graded, bootstrap=100)["n_battles"]
    version = data_version(graded)
    a = handout.next_assignment(judge, graded)
    handout.record_vote(a.pk, judge, Vote(verdict="tie"))
    assert data_version(graded) != version
    assert results.leaderboard(graded, bootstrap=100)["n_battles"] == before
    assert "gpt-judge" in {g["grader"] for g in results.progress(graded)["graders"]}


def test_ai_judges_are_compared_with_humans(graded, write_jsonl):
    from annotation.ingest.judgments import import_judgments

    # Two model judges vote on q0's pairs: one always agrees with the humans' preference
    # for the smaller answer number, the other always calls a tie.
    names = {0: "alpha-model", 1: "beta-model", 2: "gamma-model"}
    records = []
    for a, b in ((0, 1), (0, 2), (1, 2)):
        records.append(
            {
                "question_id": "q0",
                "model_a": names[a],
                "model_b": names[b],
                "winner": "model_a",
                "judge": "good-judge",
            }
        )
        records.append(
            {
                "question_id": "q0",
                "model_a": names[a],
                "model_b": names[b],
                "winner": "tie",
                "judge": "tie-judge",
            }
        )
    import_judgments(
        write_jsonl(records, name="judges.jsonl"), graded.slug, "arena", model_judge=True
    )
    out = results.judges(graded)
    rows = {r["judge"]: r for r in out["rows"]}
    assert out["model_judges"] == ["good-judge", "tie-judge"]
    # On q0 both humans chose the smaller number on all three pairs: 6 judge-human pairs.
    assert (
        rows["good-judge"]["agreement_with_ties"] == 1.0
        and rows["good-judge"]["pairs_with_ties"] == 6
    )
    assert (
        rows["tie-judge"]["agreement_with_ties"] == 0.0
        and rows["tie-judge"]["pairs_without_ties"] == 0
    )
    # The committee of two splits on every pair: no strict majority, so it votes tie.
    assert rows["committee of judges"]["agreement_with_ties"] == 0.0
    assert rows["humans (with each other)"]["agreement_with_ties"] < 1.0  # q3 split the humans


def test_the_results_sections_come_from_the_cache_until_a_new_computation(
    client, graded, rita, monkeypatch
):
    """The results' sections (~150 ms of template work at 200 graders) are rendered once per
    computation: the same bytes as rendered afresh, and new figures once results are
    computed again."""
    from django.core.cache import cache

    from annotation.results import store

    def page() -> str:  # CSRF tokens are masked afresh on every response
        html = client.get(url(graded)).content.decode()
        return re.sub(r"[A-Za-z0-9]{64}", "TOKEN", html)

    client.force_login(rita)
    first = page()
    cached = page()
    cache.clear()
    fresh = page()
    assert cached == fresh == first
    assert 'id="leaderboard-table"' in first and 'id="pair-table"' in first

    # While the results are those of one computation, the sections are not rendered
    # again: a stored payload changed behind the page's back does not show...
    row = ResultCache.objects.get(study=graded, key=store.DASHBOARD)
    row.payload["progress"]["models"][0]["battles"] = 987654
    row.save()
    assert "987654" not in client.get(url(graded)).content.decode()
    # ...and a new computation (a vote, then a refresh) renders them again.
    user = make_user("late", "grader")
    join(graded, user)
    Study.objects.filter(pk=graded.pk).update(overlap=3)
    graded.refresh_from_db()
    a = handout.next_assignment(user, graded)
    handout.record_vote(a.pk, user, Vote(verdict="tie", ratings={"left": "poor", "right": "poor"}))
    store.refresh(graded)
    page = client.get(url(graded))
    assert page.context["board"]["n_battles"] == 25
    html = page.content.decode()
    assert "987654" not in html
    progress = html[html.index('id="progress"') : html.index('id="exports"')]
    battles = {m["model"]: m["battles"] for m in page.context["progress"]["models"]}
    assert all(f"<td>{m}</td><td>{n}</td>" in progress for m, n in battles.items())
