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


def test_it_says_what_is_missing_in_words(pair_study):
    """Before any vote: no "n/a (n/a to n/a)", no "(good: good)", but what is missing."""
    card = model_card(pair_study)
    assert "n/a" not in card and "(good:" not in card
    assert '- **Rating scale**: poor, acceptable, good; "good" counts as a good result' in card
    assert "No human judgments yet." in card
    assert card.count("| no pairwise verdicts | 0 | no ratings |") == 3
    assert "| verdict | nominal | needs judgments from at least two graders" in card


def test_an_undefined_alpha_is_explained(pair_study):
    users = [make_user(f"same{i}", "grader") for i in range(2)]
    join(pair_study, *users)
    # 12 tasks, overlap 2. The first grader answers 4, the second the 8 nobody has: no task
    # is judged twice, yet some response is rated by both (4 tasks cannot cover whole
    # prompts), whatever order the hand-out takes them in.
    for user, count in zip(users, (4, 8), strict=True):
        for _ in range(count):
            a = handout.next_assignment(user, pair_study)
            handout.record_vote(
                a.pk, user, Vote(verdict="tie", ratings={"left": "good", "right": "good"})
            )
    card = model_card(pair_study)
    assert "n/a" not in card
    # Every rating "good": alpha undefined, and said why.
    assert "| rating | ordinal | undefined: every answer was the same | 1.000 |" in card
    # The two graders took different pairs: no verdict was given twice.
    assert (
        "| verdict | nominal | undefined: no item was judged twice | no item judged twice |" in card
    )


def test_a_scale_without_good_labels_and_a_study_without_a_scale(pair_study):
    Study.objects.filter(pk=pair_study.pk).update(good_labels=[])
    pair_study.refresh_from_db()
    assert "poor, acceptable, good; no label counts as a good result" in model_card(pair_study)
    Study.objects.filter(pk=pair_study.pk).update(rating_scale=[], good_labels=[])
    pair_study.refresh_from_db()
    assert "- **Rating scale**: none (pairwise verdicts only)" in model_card(pair_study)


def test_it_states_ties_style_and_position_bias(db):
    from annotation.model_card import model_card
    from annotation.results import position_bias
    from tests.annotation.results_study import build_demo_study
    from tests.annotation.test_results_ties import _with_sides

    study = build_demo_study()
    _with_sides(study)
    card = model_card(study)
    assert "- **Ties** (Davidson 1970 model): tie parameter " in card
    assert "- **Style** (log-odds per RMS unit, 95% CI): length " in card
    flagged = [g["grader"] for g in position_bias(study)["graders"] if g["flagged"]]
    assert "human00" in flagged
    assert "favour a screen side (exact test, Holm-adjusted): " in card and "human00" in card
