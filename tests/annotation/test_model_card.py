"""The Markdown model-card snippet: size, graders, demographics kept coarse, agreement, sources."""

import io

import pytest
from django.core.management import call_command

from annotation import handout
from annotation.handout import Vote
from annotation.model_card import model_card
from annotation.models import Study
from tests.conftest import join, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def voted(pair_study):
    ages = ["18-29", "18-29", "18-29", "30-49"]
    users = []
    for i, age in enumerate(ages):
        user = make_user(f"m{i}", "grader")
        user.demographics = {"age": age, "country": "DE" if i else ""}
        user.save()
        users.append(user)
    join(pair_study, *users)
    Study.objects.filter(pk=pair_study.pk).update(
        overlap=4, data_sources="Prompts written by the team; CC BY 4.0."
    )
    pair_study.refresh_from_db()
    for user in users:
        for _ in range(3):
            a = handout.next_assignment(user, pair_study)
            handout.record_vote(
                a.pk, user, Vote(verdict="left", ratings={"left": "good", "right": "poor"})
            )
    return pair_study


def test_it_describes_size_graders_agreement_and_sources(voted):
    card = model_card(voted)
    assert card.startswith("## Human evaluation: ")
    assert (
        "4 prompts, 3 models (alpha-model, beta-model, gamma-model), 12 human judgments by 4 graders"
        in card
    )
    assert "Judgments per grader: median 3, range 3-3." in card
    # Three graders gave 18-29: shown; one gave 30-49: pooled, so nobody is singled out.
    assert "- age: 18-29 3, other 1" in card
    assert "30-49" not in card
    # Three graders gave a country, all DE; an empty answer counts as not given.
    assert "- country: DE 3" in card
    assert "| verdict | nominal |" in card
    assert "Prompts written by the team; CC BY 4.0." in card


def test_the_export_command_writes_it(voted, tmp_path):
    path = tmp_path / "card.md"
    call_command(
        "export",
        "--study",
        voted.slug,
        "--format",
        "card",
        "--output",
        str(path),
        stderr=io.StringIO(),
    )
    assert path.read_text().startswith("## Human evaluation: Pairs")
