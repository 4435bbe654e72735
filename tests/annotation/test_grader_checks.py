"""Grader checks on the dashboard: implausibly fast graders, agreement per pair of graders."""

import pytest
from django.urls import reverse

from annotation.handout import Vote
from annotation.models import Study
from annotation.results import grader_checks
from tests.conftest import better_side, grade_until_done, join, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_graders(pair_study):
    """Two graders on every task (overlap 2): "careful" takes 40 s a vote and always picks the
    better answer; "quick" takes 2 s and calls everything a tie."""
    careful, quick = make_user("careful", "grader"), make_user("quick", "grader")
    join(pair_study, careful, quick)
    grade_until_done(
        pair_study,
        careful,
        lambda a: Vote(
            verdict=better_side(a), ratings={"left": "good", "right": "poor"}, seconds=40.0
        ),
    )
    grade_until_done(
        pair_study,
        quick,
        lambda a: Vote(verdict="tie", ratings={"left": "good", "right": "good"}, seconds=2.0),
    )
    return pair_study


def test_the_default_threshold_is_ten_seconds(pair_study):
    assert Study.objects.get(pk=pair_study.pk).min_median_seconds == 10.0


def test_it_flags_the_fast_grader_and_compares_the_pair(two_graders):
    checks = grader_checks(two_graders)
    assert checks["fast"] == ["quick"]
    assert [(s["grader"], s["n"], s["median_seconds"]) for s in checks["speed"]] == [
        ("quick", 12, 2.0),
        ("careful", 12, 40.0),
    ]
    # Two graders per item: no majority to agree with; the pair is what to read.
    assert checks["graders_per_item"] == 2 and checks["majority_meaningful"] is False
    assert len(checks["pairs"]) == 1
    pair = checks["pairs"][0]
    assert (pair["grader_a"], pair["grader_b"], pair["n"], pair["agreement"]) == (
        "careful",
        "quick",
        12,
        0.0,
    )


def test_the_threshold_is_the_studys(two_graders):
    Study.objects.filter(pk=two_graders.pk).update(min_median_seconds=1.0)
    two_graders.refresh_from_db()
    assert grader_checks(two_graders)["fast"] == []


def test_the_dashboard_shows_the_flag_and_the_pair_table(client, two_graders):
    rita = make_user("rita", "researcher")
    join(two_graders, rita)
    client.force_login(rita)
    html = client.get(reverse("dashboard", args=[two_graders.slug])).content.decode()
    assert "Implausibly fast: quick" in html
    assert 'id="pair-table"' in html and "<td>careful</td><td>quick</td><td>12</td>" in html
    assert "there is no majority to agree with" in html
    # "Agreement with majority" is not shown as a number where it means nothing.
    grader_table = html[html.index('id="grader-table"') : html.index('id="grader-checks"')]
    assert grader_table.count("see agreement per pair below") == 2


def test_the_dashboard_shows_the_checks_its_refresh_stored_without_computing(
    client, two_graders, monkeypatch
):
    """Grader checks read a whole snapshot (seconds at 100,000 judgments): each refresh
    computes them with the other results; a dashboard request never does, even the first
    one after a refresh (it used to, whenever the results' version had moved)."""
    from annotation.results import snapshot, store

    rita = make_user("rita", "researcher")
    join(two_graders, rita)
    client.force_login(rita)
    store.refresh(two_graders)
    assert store.stored(two_graders, store.DASHBOARD).payload["grader_checks"]["fast"] == ["quick"]

    def load(*args, **kwargs):
        raise AssertionError("a snapshot read in a dashboard request")

    monkeypatch.setattr(snapshot, "load", load)
    html = client.get(reverse("dashboard", args=[two_graders.slug])).content.decode()
    assert "Implausibly fast: quick" in html


def test_dashboard_results_stored_before_the_checks_joined_them_still_show_them(
    client, two_graders
):
    from annotation.models import ResultCache
    from annotation.results import store

    rita = make_user("rita", "researcher")
    join(two_graders, rita)
    client.force_login(rita)
    store.refresh(two_graders)
    row = ResultCache.objects.get(study=two_graders, key=store.DASHBOARD)
    del row.payload["grader_checks"]
    row.save()
    html = client.get(reverse("dashboard", args=[two_graders.slug])).content.decode()
    assert "Implausibly fast: quick" in html


def test_a_new_threshold_is_a_new_data_version(two_graders):
    from annotation.results.version import data_version

    before = data_version(two_graders)
    Study.objects.filter(pk=two_graders.pk).update(min_median_seconds=1.0)
    assert data_version(two_graders) != before
