"""scoring.position: left-side share per grader, pooled, and swap consistency.

The exact interval and test are checked against scipy.stats.binomtest, Holm's adjustment
against a worked example, the pooled cluster-robust interval by a seeded simulation of
graders with their own biases, and swap consistency on a hand-labelled table.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import binomtest

from scoring.errors import InputError
from scoring.position import holm, position_bias, swap_consistency


def judgments() -> pd.DataFrame:
    # g1: 9 of 10 decisive votes for the left side, one tie; g2: 5 of 10.
    rows = []
    for k in range(10):
        rows.append({"grader": "g1", "verdict": "a" if k < 9 else "b", "a_on_left": True})
    rows.append({"grader": "g1", "verdict": "tie", "a_on_left": False})
    for k in range(10):
        left_is_a = k % 2 == 0
        rows.append({"grader": "g2", "verdict": "model_a", "a_on_left": left_is_a})
    return pd.DataFrame(rows)


def test_left_share_with_exact_interval_and_test():
    result = position_bias(judgments()).graders.set_index("grader")
    g1 = result.loc["g1"]
    assert (g1["judgments"], g1["decisive"], g1["left"]) == (11, 10, 9)
    reference = binomtest(9, 10, 0.5)
    interval = reference.proportion_ci(confidence_level=0.95, method="exact")
    assert g1["ci_lower"] == pytest.approx(interval.low)
    assert g1["ci_upper"] == pytest.approx(interval.high)
    assert g1["p_value"] == pytest.approx(reference.pvalue)
    g2 = result.loc["g2"]
    assert (g2["left"], g2["left_share"], g2["p_value"]) == (5, 0.5, 1.0)


def test_left_chosen_may_be_given_directly():
    table = judgments()
    left = np.where(
        table["verdict"] == "tie",
        None,
        (table["verdict"].isin(["a", "model_a"]) == table["a_on_left"]).astype(object),
    )
    direct = pd.DataFrame({"grader": table["grader"], "left_chosen": left})
    assert position_bias(direct).graders.equals(position_bias(judgments()).graders)


def test_holm_matches_a_worked_example():
    # Holm (1979): sorted p 0.01, 0.03, 0.04 times 3, 2, 1 -> 0.03, 0.06, 0.04 -> monotone.
    assert holm(np.array([0.01, 0.04, 0.03, np.nan])).tolist()[:3] == pytest.approx(
        [0.03, 0.06, 0.06]
    )


def test_graders_are_flagged_after_holm_and_pooled_per_kind():
    table = judgments()
    table["grader_kind"] = np.where(table["grader"] == "g1", "model", "human")
    result = position_bias(table, alpha=0.05)
    flagged = dict(zip(result.graders["grader"], result.graders["flagged"], strict=True))
    assert flagged == {"g1": True, "g2": False}
    assert result.pooled["kind"].tolist() == ["all", "human", "model"]
    everyone = result.pooled.iloc[0]
    assert (everyone["graders"], everyone["decisive"], everyone["left"]) == (2, 20, 14)


def test_pooled_interval_covers_95_percent_with_graders_of_their_own_bias():
    """200 studies of 40 graders x 30 votes, each grader's left share drawn around 0.55
    (sd 0.1): the cluster-robust interval covers the mean share 95 +- 3 % (200 intervals;
    an interval that ignored the clustering would cover about 80 %)."""
    rng = np.random.default_rng(7)
    covered = []
    for _ in range(200):
        shares = np.clip(rng.normal(0.55, 0.1, 40), 0, 1)
        left = rng.random((40, 30)) < shares[:, None]
        table = pd.DataFrame(
            {"grader": np.repeat([f"g{k}" for k in range(40)], 30), "left_chosen": left.ravel()}
        )
        pooled = position_bias(table).pooled.iloc[0]
        covered.append(pooled["ci_lower"] <= 0.55 <= pooled["ci_upper"])
    assert 0.92 <= np.mean(covered) <= 0.98, np.mean(covered)


@pytest.mark.parametrize(
    ("table", "message"),
    [
        (pd.DataFrame({"grader": ["g"], "verdict": ["a"]}), "needs 'left_chosen', or 'verdict'"),
        (
            pd.DataFrame({"grader": ["g", "g"], "verdict": ["a", "a"], "a_on_left": [1, "up"]}),
            "row 2: a_on_left is 'up', not true or false",
        ),
        (
            pd.DataFrame({"grader": ["g", "g"], "verdict": ["a", "draw"], "a_on_left": [1, 0]}),
            "row 2: unknown verdict 'draw'",
        ),
        (
            pd.DataFrame({"grader": ["g", None], "left_chosen": [True, False]}),
            "row 2: grader is empty",
        ),
    ],
)
def test_bad_input_names_the_row(table, message):
    with pytest.raises(InputError, match=message):
        position_bias(table)


def test_swap_consistency_sorts_each_repeat():
    repeats = pd.DataFrame(
        [
            # swapped, same verdict: consistent
            {
                "grader": "g",
                "verdict": "a",
                "a_on_left": True,
                "repeat_verdict": "a",
                "repeat_a_on_left": False,
            },
            # swapped, chose the left side both times: a left flip
            {
                "grader": "g",
                "verdict": "a",
                "a_on_left": True,
                "repeat_verdict": "b",
                "repeat_a_on_left": False,
            },
            # swapped, chose the right side both times: a right flip
            {
                "grader": "g",
                "verdict": "b",
                "a_on_left": True,
                "repeat_verdict": "a",
                "repeat_a_on_left": False,
            },
            # swapped, tie then a verdict
            {
                "grader": "g",
                "verdict": "tie",
                "a_on_left": False,
                "repeat_verdict": "b",
                "repeat_a_on_left": True,
            },
            # swapped, tie then both bad: both ties, consistent
            {
                "grader": "g",
                "verdict": "tie",
                "a_on_left": False,
                "repeat_verdict": "both_bad",
                "repeat_a_on_left": True,
            },
            # same sides again, reversed
            {
                "grader": "h",
                "verdict": "a",
                "a_on_left": True,
                "repeat_verdict": "b",
                "repeat_a_on_left": True,
            },
        ]
    )
    result = swap_consistency(repeats)
    g = result.graders.set_index("grader").loc["g"]
    assert (g["pairs"], g["swapped"], g["swapped_consistent"]) == (5, 5, 2)
    assert (g["left_flips"], g["right_flips"], g["tie_changes"]) == (1, 1, 1)
    h = result.graders.set_index("grader").loc["h"]
    assert (h["same_side"], h["same_side_consistent"], h["swapped"]) == (1, 0, 0)
    assert result.inconsistent["row"].tolist() == [2, 3, 4, 6]
    assert result.inconsistent["flip"].tolist() == ["left", "right", "tie change", "reversed"]
    everyone = result.pooled.iloc[0]
    assert everyone["swapped_consistency"] == pytest.approx(2 / 5)
    interval = binomtest(2, 5).proportion_ci(method="exact")
    assert everyone["ci_lower"] == pytest.approx(interval.low)


def test_swap_consistency_needs_its_columns():
    with pytest.raises(InputError, match="no column 'repeat_verdict'"):
        swap_consistency(pd.DataFrame({"grader": ["g"], "verdict": ["a"], "a_on_left": [1]}))
