"""scoring.outcomes: the shared formulas, by hand and against independent routes."""

from collections import Counter

import numpy as np
import pandas as pd
import pytest

from scoring import outcomes, rates, ratings, significance


def test_a_verdict_scores_one_zero_or_half_in_every_vocabulary():
    labels = ["a", "model_a", "b", "model_b", "tie", "both_bad", "tie (bothbad)", "tie (x)"]
    assert outcomes.first_scores(labels).tolist() == [1, 1, 0, 0, 0.5, 0.5, 0.5, 0.5]
    assert outcomes.first_scores([]).tolist() == []
    with pytest.raises(ValueError, match="not a verdict: 'draw'"):
        outcomes.first_scores(["a", "draw"])
    with pytest.raises(ValueError, match="missing"):
        outcomes.first_scores(pd.Series(["a", None]))


def test_the_win_rate_counts_a_tie_as_half_a_win():
    # 3 wins, 2 ties, 5 losses: (3 + 2/2) / 10 = 0.4.
    assert outcomes.points(3, 2) == 4.0
    assert outcomes.win_rate(3, 2, 10) == 0.4
    assert outcomes.win_rate(0, 0, 0) is None
    rates_ = outcomes.win_rate(np.array([1, 0]), np.array([1, 0]), np.array([4, 0]))
    assert rates_[0] == 0.375 and np.isnan(rates_[1])


def test_side_scores_give_both_sides_of_each_battle():
    battles = pd.DataFrame(
        {
            "model_a": ["x", "x", "y"],
            "model_b": ["y", "z", "z"],
            "winner": ["model_a", "tie", "tie (bothbad)"],
            "prompt": ["p1", "p2", "p2"],
        }
    )
    sides = outcomes.side_scores(battles, keep=["prompt"])
    assert sides.to_dict(orient="list") == {
        "prompt": ["p1", "p2", "p2", "p1", "p2", "p2"],
        "model": ["x", "x", "y", "y", "z", "z"],
        "score": [1.0, 0.5, 0.5, 0.0, 0.5, 0.5],
    }
    table = outcomes.mean_scores(sides)
    assert table.to_dict(orient="list") == {
        "model": ["x", "y", "z"],
        "win_rate": [0.75, 0.25, 0.5],
        "n": [2, 2, 2],
    }


def test_the_win_rate_per_model_matches_the_leaderboards_pair_counts():
    """Two routes: per-battle scores averaged, and the leaderboard's per-pair counts."""
    rng = np.random.default_rng(4)
    models = np.array(["m0", "m1", "m2", "m3"])
    a = rng.integers(0, 4, 500)
    b = (a + rng.integers(1, 4, 500)) % 4
    battles = pd.DataFrame(
        {
            "model_a": models[a],
            "model_b": models[b],
            "winner": rng.choice(list(ratings.WINNERS), 500, p=[0.4, 0.3, 0.2, 0.1]),
        }
    )
    board = ratings.leaderboard(battles, bootstrap=0).table.set_index("model")
    mine = outcomes.mean_scores(outcomes.side_scores(battles)).set_index("model")
    assert mine["win_rate"].to_dict() == pytest.approx(board["win_rate"].to_dict(), abs=1e-12)
    assert mine["n"].to_dict() == board["battles"].to_dict()


def test_a_label_is_good_when_its_text_is_a_good_label():
    labels = pd.Series(["good", "poor", "", None, 3, 3.0, "3.0"], dtype=object)
    assert outcomes.is_good(labels, ["good", "3"]).tolist() == [
        True,
        False,
        False,
        False,
        True,
        True,  # 3.0 read from a CSV is the label 3
        False,
    ]
    assert outcomes.is_good([], ["good"]).tolist() == []
    with pytest.raises(ValueError, match="no good labels"):
        outcomes.is_good(["good"], [])
    assert outcomes.good_rate(["good", "poor", "good", "acceptable"], "good") == 0.5
    assert outcomes.good_rate([], ["good"]) is None


def test_the_good_rate_is_the_same_in_rates_and_in_the_paired_comparison():
    ratings_table = pd.DataFrame(
        {
            "model": ["x", "x", "x", "y", "y", "y"],
            "prompt": ["p1", "p2", "p2", "p1", "p2", "p2"],
            "label": ["good", "poor", "good", "good", "good", "ok"],
        }
    )
    grr = rates.good_result_ratio(ratings_table, good_labels=["good"]).set_index("model")
    assert grr["rate"].to_dict() == {
        "x": outcomes.good_rate(["good", "poor", "good"], ["good"]),
        "y": outcomes.good_rate(["good", "good", "ok"], ["good"]),
    }
    pairs = significance.good_rate_pairs(
        ratings_table, model_a="x", model_b="y", good_labels=["good"]
    )
    # Per prompt: p1 x 1, y 1; p2 x 1/2, y 1/2.
    assert pairs[["a", "b"]].to_numpy().tolist() == [[1.0, 1.0], [0.5, 0.5]]


@pytest.mark.parametrize(
    ("votes", "side", "share", "decisive_share"),
    [
        ({"a": 2, "b": 1}, "a", 2 / 3, 2 / 3),
        ({"a": 1, "b": 2, "tie": 1}, "b", 2 / 4, 2 / 3),
        ({"a": 3, "both_bad": 1}, "a", 3 / 4, 1.0),
        ({"a": 1, "b": 1, "tie": 1}, None, None, None),
        ({"tie": 2}, None, None, None),
    ],
)
def test_the_preferred_side_needs_strictly_more_votes(votes, side, share, decisive_share):
    assert outcomes.preferred_side(Counter(votes)) == side
    if side is not None:
        assert outcomes.agreement_share(votes, side) == share
        assert outcomes.agreement_share(votes, side, decisive_only=True) == decisive_share


def test_no_counted_vote_has_no_agreement():
    assert outcomes.agreement_share({"tie": 2}, "a", decisive_only=True) == 0.0
    assert outcomes.agreement_share({}, "a") == 0.0
