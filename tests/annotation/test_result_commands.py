"""manage.py leaderboard / agreement / correlate: the dashboard's numbers on the command line."""

import io
import json

import pytest
from django.core.management import CommandError, call_command

from annotation import results
from annotation.handout import Vote
from annotation.models import MetricScore, Response
from tests.conftest import better_side, grade_until_done, join, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def graded(pair_study):
    users = [make_user(f"c{i}", "grader") for i in range(2)]
    join(pair_study, *users)
    for user in users:
        grade_until_done(
            pair_study,
            user,
            lambda a: Vote(verdict=better_side(a), ratings={"left": "good", "right": "poor"}),
        )
    for response in Response.objects.all():
        MetricScore.objects.create(
            response=response, metric="neg_number", value=-int(response.text.split()[2])
        )
    pair_study.results_changed()
    return pair_study


def run(*args):
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_leaderboard_json_matches_the_dashboard(graded):
    rows = json.loads(
        run("leaderboard", "--study", "pairs", "--bootstrap", "200", "--format", "json")
    )
    assert rows == results.leaderboard(graded, bootstrap=200)["rows"]
    table = run("leaderboard", "--study", "pairs", "--bootstrap", "200")
    assert table.splitlines()[0].split()[:3] == ["rank", "model", "rating"]
    assert table.splitlines()[1].split()[1] == "alpha-model"


def test_agreement_lists_each_question(graded):
    payload = json.loads(run("agreement", "--study", "pairs", "--format", "json"))
    questions = [q["question"] for q in payload["questions"]]
    assert questions[:2] == ["verdict", "rating"] and "tag: harmful" in questions
    verdict = payload["questions"][0]
    assert (
        verdict["percent_agreement"] == 1.0
    )  # both graders always chose the smaller answer number
    assert "c0" in run("agreement", "--study", "pairs", "--graders")


def test_correlate_reports_each_metric(graded):
    payload = json.loads(run("correlate", "--study", "pairs", "--format", "json"))
    assert [m["metric"] for m in payload] == ["neg_number"]
    # The metric orders every human preference correctly (a smaller answer number wins).
    assert payload[0]["pairwise_accuracy"]["accuracy"] == 1.0
    assert payload[0]["system"]["win_rate"]["spearman"]["r"] == pytest.approx(1.0)
    with pytest.raises(CommandError, match="no scores for metric 'bleu' \\(known: neg_number\\)"):
        run("correlate", "--study", "pairs", "--metric", "bleu")


@pytest.mark.parametrize("command", ["leaderboard", "agreement", "correlate"])
def test_an_unknown_study_is_an_error(db, command):
    with pytest.raises(CommandError, match="no study with slug 'nope'"):
        run(command, "--study", "nope")
