"""annotation.results.progress: slots, graders, models and slices."""

from annotation.results.progress import progress
from tests.annotation.studydata import study_data


def test_it_counts_slots_graders_models_and_slices():
    data = study_data(
        [
            ("p1", "x", "y", "model_a", "g2"),
            ("p2", "x", "y", "model_a", "g1"),
            ("p2", "x", "z", "model_a", "g2"),
        ],
        [("p1", "z", "g1", "good", [])],
        prompts={"p1": {"lang": "en"}, "p2": {"lang": "de"}},
        overlap=2,
        tasks=4,
        active={"g1": 1},
    )
    payload = progress(data)
    assert (payload["tasks"], payload["slots"], payload["judgments"]) == (4, 8, 3)
    assert payload["percent"] == 37.5
    assert [(g["grader"], g["judgments"], g["active"]) for g in payload["graders"]] == [
        ("g1", 2, 1),
        ("g2", 2, 0),
    ]
    assert payload["models"] == [
        {"model": "x", "battles": 3, "ratings": 0},
        {"model": "y", "battles": 2, "ratings": 0},
        {"model": "z", "battles": 1, "ratings": 1},
    ]
    assert payload["slices"] == [{"column": "lang", "counts": {"de": 2, "en": 1}}]


def test_an_empty_study_is_zero_percent():
    payload = progress(study_data(models=["x"], tasks=0))
    assert (payload["slots"], payload["percent"], payload["graders"]) == (0, 0.0, [])
