"""annotation.results.correlations: the per-response scores table and metric correlations."""

import math

from annotation.results.correlations import correlations, response_scores
from tests.annotation.studydata import study_data

BATTLES = [
    ("p1", "x", "y", "model_a", "g1"),
    ("p1", "x", "y", "tie", "g2"),
    ("p2", "x", "y", "model_b", "g1"),
]
RATINGS = [
    ("p1", "x", "g1", "good", []),
    ("p1", "x", "g2", "poor", []),
    ("p2", "y", "g1", "good", []),
]


def test_the_scores_table_has_one_row_per_response_with_human_columns():
    data = study_data(BATTLES, RATINGS, metric_scores=[("p1", "x", "bleu", 0.4)])
    table = response_scores(data)
    assert list(table.columns) == [
        "prompt_id",
        "model",
        "bleu",
        "good_rate",
        "win_rate",
        "n_ratings",
        "n_battles",
    ]
    rows = {(r["prompt_id"], r["model"]): r for r in table.to_dict(orient="records")}
    # x on p1: a win and a tie -> 3/4; its two ratings, one good -> 1/2.
    assert rows[("p1", "x")] == {
        "prompt_id": "p1",
        "model": "x",
        "bleu": 0.4,
        "good_rate": 0.5,
        "win_rate": 0.75,
        "n_ratings": 2,
        "n_battles": 2,
    }
    never_won = rows[("p2", "x")]
    assert never_won["win_rate"] == 0.0 and never_won["n_battles"] == 1
    assert math.isnan(never_won["good_rate"]) and never_won["n_ratings"] == 0


def test_each_metric_is_correlated_at_both_levels_with_pairwise_accuracy():
    battles = [(f"p{i}", "x", "y", "model_a", "g") for i in range(6)]
    scores = [(f"p{i}", m, "length", v) for i in range(6) for m, v in (("x", 2.0 + i), ("y", 1.0))]
    payload = correlations(study_data(battles, metric_scores=scores), bootstrap=0)
    (entry,) = payload["metrics"]
    assert entry["metric"] == "length"
    assert set(entry["segment"]) == set(entry["system"]) == {"good_rate", "win_rate"}
    assert entry["pairwise_accuracy"]["accuracy"] == 1.0  # the longer answer always won
    assert len(entry["points"]) == 12


def test_no_metric_no_correlations():
    assert correlations(study_data(BATTLES), bootstrap=0) == {"metrics": []}
