"""annotation.results.leaderboard: a pure function of a snapshot."""

import pytest

from annotation.results.leaderboard import leaderboard
from tests.annotation.studydata import study_data


def test_every_model_has_a_row_best_first_even_without_verdicts():
    data = study_data(
        [("p1", "x", "y", "model_a", "g1"), ("p2", "x", "y", "tie", "g1")],
        [("p1", "z", "g1", "good", []), ("p1", "x", "g1", "poor", [])],
        models=["x", "y", "z"],
    )
    board = leaderboard(data, bootstrap=0)
    assert [r["model"] for r in board["rows"]] == ["x", "y", "z"]
    x, y, z = board["rows"]
    # 1 win and 1 tie of 2: win rate 3/4 (a tie is half a win).
    assert (x["battles"], x["wins"], x["ties"], x["win_rate"]) == (2, 1, 1, 0.75)
    assert x["rating"] > y["rating"] and "rating" not in z
    assert (z["grr"], z["n_ratings"], x["grr"]) == (1.0, 1, 0.0)
    assert (board["n_battles"], board["n_ratings"]) == (2, 2)
    assert board["matrix"]["models"] == ["x", "y"]
    assert board["matrix"]["counts"] == [[0, 2], [2, 0]]


def test_tag_rates_come_per_model_for_every_study_tag():
    data = study_data(
        ratings=[
            ("p1", "x", "g1", "good", ["untrue"]),
            ("p2", "x", "g1", "poor", []),
            ("p1", "y", "g1", "", ["harmful"]),
        ],
        tags=["harmful", "untrue"],
    )
    rows = {r["model"]: r for r in leaderboard(data, bootstrap=0)["rows"]}
    assert rows["x"]["tags"]["untrue"]["rate"] == 0.5
    assert rows["x"]["tags"]["harmful"]["rate"] == 0.0
    assert rows["y"]["tags"]["harmful"] == pytest.approx(
        {"rate": 1.0, "ci_lower": 0.2065, "ci_upper": 1.0, "n": 1}, abs=1e-4
    )


def test_models_that_never_met_are_a_note_not_an_error():
    data = study_data(
        [("p1", "a", "b", "model_a", "g"), ("p1", "c", "d", "model_a", "g")],
    )
    board = leaderboard(data, bootstrap=0)
    assert any("separate groups" in note for note in board["notes"])
    assert {r["model"]: r["component"] for r in board["rows"]} == {"a": 1, "b": 1, "c": 2, "d": 2}


def test_no_verdicts_no_ratings_gives_empty_rows():
    board = leaderboard(study_data(models=["x"]), bootstrap=0)
    assert board["rows"] == [{"model": "x"}]
    assert board["matrix"] is None and board["n_battles"] == 0
