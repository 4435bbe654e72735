"""Issue 13 on the dashboard, in the judgment browser and in the API: the sections show the
stored results, say "too few" where the data are thin, escape what graders and models
wrote, and the browser's consistency filters find exactly the flagged judgments."""

from __future__ import annotations

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from annotation import browse
from annotation.models import Judgment, LanguageModel, Response, User
from annotation.results import background, snapshot
from annotation.results.consistency import rating_consistency
from tests.annotation.results_study import build_demo_study
from tests.annotation.test_results_ties import _with_sides
from tests.conftest import join, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo():
    study = build_demo_study()
    _with_sides(study)
    return study


@pytest.fixture
def rita(demo):
    user = make_user("rita", "researcher")
    join(demo, user)
    return user


def test_it_shows_the_new_sections_with_intervals_and_flags(client, demo, rita):
    client.force_login(rita)
    page = client.get(reverse("dashboard", args=[demo.slug]))
    assert page.status_code == 200
    html = page.content.decode()
    for anchor in ('id="ties"', 'id="style"', 'id="position"', 'id="consistency"',
                   'id="tag-effects"'):  # fmt: skip
        assert anchor in html
    # Everything but Davidson is the background worker's: computing, never in this request.
    assert html.count('class="warning computing"') == 4
    assert page.context["tag_effects"] is None and page.context["consistency"] is None
    assert background.compute_slow.call(demo.pk) == "computed"
    page = client.get(reverse("dashboard", args=[demo.slug]))
    html = page.content.decode()
    assert 'class="warning computing"' not in html
    davidson = page.context["davidson"]
    assert f"Tie parameter ν = <strong>{davidson['tie_parameter']:.3f}</strong>" in html
    assert 'id="style-coefficients"' in html
    assert "no clear effect" in html or "wins more often" in html or "loses more often" in html
    # human00 always chose the side the winner was on: flagged in the grader table.
    row = html[html.index('id="grader-table"') :]
    human00 = row[row.index(">human00<") : row.index("</tr>", row.index(">human00<"))]
    assert "side bias" in human00 and "100%" in human00
    # The model judge's left share appears in the judge comparison; the coin judge has none.
    judges = html[
        html.index('id="judges-table"') : html.index("</table>", html.index('id="judges-table"'))
    ]
    assert "no side recorded" in judges
    assert 'id="swap-none"' in html and "no re-served tasks yet" in html


def test_tag_effects_appear_once_the_job_has_run(client, demo, rita):
    client.force_login(rita)
    client.get(reverse("dashboard", args=[demo.slug]))
    background.compute(demo)
    html = client.get(reverse("dashboard", args=[demo.slug])).content.decode()
    assert 'id="tag-effects-computing"' not in html
    assert 'id="tag-effects-table"' in html or "too few battles to say" in html


def test_thin_data_say_too_few_instead_of_a_number(client, pair_study):
    rita = make_user("rita", "researcher")
    grader = make_user("gus", "grader")
    join(pair_study, rita, grader)
    from annotation import handout
    from annotation.handout import Vote

    for _ in range(3):
        assignment = handout.next_assignment(grader, pair_study)
        handout.record_vote(
            assignment.pk, grader, Vote(verdict="left", ratings={"left": "good", "right": "poor"})
        )
    background.compute(pair_study)
    client.force_login(rita)
    html = client.get(reverse("dashboard", args=[pair_study.slug])).content.decode()
    row = html[html.index(">gus<") :]
    row = row[: row.index("</tr>")]
    assert "too few votes (3)" in row and "too few rated (3)" in row
    assert "too few for style control" in html


def test_model_output_and_names_are_escaped(client, demo, rita):
    LanguageModel.objects.filter(study=demo, name="alpaca-7b").update(
        name="<script>alert(1)</script>"
    )
    demo.results_changed()
    background.compute(demo)
    client.force_login(rita)
    html = client.get(reverse("dashboard", args=[demo.slug])).content.decode()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_the_browser_filters_contradictions_and_cycles(client, demo, rita):
    client.force_login(rita)
    pending = client.get(reverse("judgments", args=[demo.slug]), {"consistency": "cycle"})
    assert "still being computed in the background" in pending.content.decode()
    background.compute(demo)
    flagged = rating_consistency(snapshot.load(demo))["flagged"]
    assert flagged["contradiction"] and flagged["cycle"]
    for kind in ("contradiction", "cycle", "tie_unequal"):
        f = browse.Filters(consistency=kind)
        ids = set(
            browse.matching_judgments(demo, f).filter(task__study=demo).values_list("pk", flat=True)
        )
        assert ids == set(flagged[kind])
    client.force_login(rita)
    page = client.get(reverse("judgments", args=[demo.slug]), {"consistency": "cycle"})
    assert page.status_code == 200
    marked = {
        a["id"] for item in page.context["page"].items for a in item["answers"] if a["matched"]
    }
    assert marked and marked <= set(flagged["cycle"])
    html = page.content.decode()
    assert "in a preference cycle" in html
    bad = client.get(reverse("judgments", args=[demo.slug]), {"consistency": "nonsense"})
    assert bad.status_code == 400


def test_the_api_serves_them_and_tag_effects_once_computed(demo, rita):
    api = APIClient()
    api.force_authenticate(rita)
    base = f"/api/studies/{demo.slug}/results"
    davidson = api.get(f"{base}/davidson/")
    assert davidson.status_code == 200 and davidson.json()["tie_parameter"] > 0
    assert davidson["Results-Status"] == "current"
    first = api.get(f"{base}/tag-effects/")
    assert first.status_code == 202 and first.json()["status"] == "computing"
    assert api.get(f"{base}/position/").status_code == 202
    background.compute_slow.call(demo.pk)
    position = api.get(f"{base}/position/").json()
    assert {g["grader"] for g in position["graders"]} >= {
        "human00",
        "weighted_alpaca_eval_gpt4_turbo",
    }
    consistency = api.get(f"{base}/consistency/").json()
    assert set(consistency["flagged"]) == {"contradiction", "tie_unequal", "cycle"}
    style = api.get(f"{base}/style/").json()
    assert [c["feature"] for c in style["coefficients"]] == ["length", "headers", "lists", "bold"]
    done = api.get(f"{base}/tag-effects/")
    assert done.status_code == 200 and done["Results-Status"] == "current"
    assert "study" in done.json()
    # Listed at /api/.
    listed = {
        row["path"]
        for row in APIClient().get("/api/", HTTP_ACCEPT="application/json").json()["endpoints"]
    }
    assert "/api/studies/{slug}/results/tag-effects/" in listed


def test_a_grader_cannot_read_them(demo):
    grader = User.objects.get(username="human01")
    api = APIClient()
    api.force_authenticate(grader)
    assert api.get(f"/api/studies/{demo.slug}/results/consistency/").status_code in (403, 404)
    assert Judgment.objects.exists() and Response.objects.exists()
