"""annotation.results.compare: paired comparison of two models, one check of its inputs."""

import pytest

from annotation.results import ResultsError, check_compare
from annotation.results.compare import check_models, compare
from tests.annotation.studydata import study_data


@pytest.mark.parametrize(
    ("a", "b", "measure", "field", "message"),
    [
        ("x", "nope", "good_rate", "model_b", "no model 'nope' in this study"),
        ("nope", "x", "good_rate", "model_a", "no model 'nope' in this study"),
        ("x", "x", "good_rate", None, "choose two different models"),
        ("x", "y", "vibes", "measure", "measure must be good_rate or win_rate"),
    ],
)
def test_bad_parameters_are_one_error_naming_the_field(a, b, measure, field, message):
    with pytest.raises(ResultsError, match=message) as error:
        check_models(["x", "y"], a, b, measure=measure)
    assert error.value.field == field


@pytest.mark.django_db
def test_the_study_level_check_reads_the_studys_models(pair_study):
    check_compare(pair_study, "alpha-model", "beta-model")
    with pytest.raises(ResultsError, match="no model 'zeta'"):
        check_compare(pair_study, "alpha-model", "zeta")


def test_the_good_rate_difference_is_paired_by_prompt():
    ratings = [
        ("p1", "x", "g", "good", []),
        ("p1", "y", "g", "poor", []),
        ("p2", "x", "g", "good", []),
        ("p2", "y", "g", "good", []),
        ("p3", "x", "g", "poor", []),  # y never rated on p3: not a shared prompt
    ]
    result = compare(study_data(ratings=ratings), "x", "y", resamples=200)
    assert (result["n"], result["mean_a"], result["mean_b"]) == (2, 1.0, 0.5)
    assert result["difference"] == 0.5 and result["significant"] in (True, False)
    assert result["needed"]["n_current"] == 2


def test_too_little_data_is_an_error_in_the_payload():
    result = compare(study_data(models=["x", "y"]), "x", "y", measure="win_rate")
    assert set(result) == {"model_a", "model_b", "measure", "error"}
