"""scoring.grader_checks: implausibly fast graders, and agreement per pair of graders.

Reference values: a worked example computed by hand in the comments, the Cohen's kappa
example of Wikipedia's "Cohen's kappa" article, and an independent route through
scoring.agreement (its percent agreement and pairwise kappas) on random data.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scoring.agreement import agreement
from scoring.errors import InputError
from scoring.grader_checks import grader_speed, pairwise_agreement


def long(rows) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["item", "grader", "value"])


def test_it_flags_a_median_below_the_threshold():
    table = pd.DataFrame(
        {
            "grader": ["quick"] * 6 + ["careful"] * 6 + ["new"] * 2,
            # quick: one long pause does not lift the median (3.5 s); careful: 40 s.
            "seconds": [3, 2, 4, 3, 5, 600] + [30, 40, 50, 35, 45, 60] + [1, 1],
        }
    )
    out = grader_speed(table, threshold=10, min_judgments=5)
    assert out.to_dict(orient="records") == [
        # "new" is faster still but has too few judgments to be judged.
        {"grader": "new", "n": 2, "median_seconds": 1.0, "too_fast": False},
        {"grader": "quick", "n": 6, "median_seconds": 3.5, "too_fast": True},
        {"grader": "careful", "n": 6, "median_seconds": 42.5, "too_fast": False},
    ]
    assert out["median_seconds"].tolist()[1] == np.median([3, 2, 4, 3, 5, 600])


def test_judgments_without_a_time_are_left_out():
    table = pd.DataFrame({"grader": ["g"] * 6, "seconds": [None, 2.0, None, 4.0, 6.0, None]})
    out = grader_speed(table, threshold=5, min_judgments=3)
    assert out.to_dict(orient="records") == [
        {"grader": "g", "n": 3, "median_seconds": 4.0, "too_fast": True}
    ]
    assert grader_speed(table.iloc[[0]], threshold=5).empty


@pytest.mark.parametrize("threshold", [-1, float("nan"), float("inf")])
def test_a_bad_threshold_is_refused(threshold):
    with pytest.raises(InputError, match="threshold"):
        grader_speed(pd.DataFrame({"grader": ["g"], "seconds": [1.0]}), threshold=threshold)


def test_pair_agreement_by_hand():
    # x and y judge items 1-4: x says a, a, b, tie; y says a, b, b, tie.
    # Shared 4, same on 3: 0.75. Marginals x (a .5, b .25, tie .25), y (a .25, b .5,
    # tie .25): chance .5*.25 + .25*.5 + .25*.25 = .3125; kappa = (.75 - .3125) / .6875.
    # z judges only item 1 (a), with both.
    rows = [
        (1, "x", "a"),
        (2, "x", "a"),
        (3, "x", "b"),
        (4, "x", "tie"),
        (1, "y", "a"),
        (2, "y", "b"),
        (3, "y", "b"),
        (4, "y", "tie"),
        (1, "z", "a"),
    ]
    out = pairwise_agreement(long(rows))
    assert out[["grader_a", "grader_b", "n", "agreement"]].to_dict(orient="records") == [
        {"grader_a": "x", "grader_b": "y", "n": 4, "agreement": 0.75},
        {"grader_a": "x", "grader_b": "z", "n": 1, "agreement": 1.0},
        {"grader_a": "y", "grader_b": "z", "n": 1, "agreement": 1.0},
    ]
    assert out["kappa"].iloc[0] == pytest.approx(0.4375 / 0.6875)
    # One shared item, both "a": chance agreement is 1 and kappa undefined.
    assert np.isnan(out["kappa"].iloc[1])


def test_cohens_kappa_matches_the_wikipedia_example():
    # Wikipedia, "Cohen's kappa", worked example: 50 proposals, A and B both yes on 20,
    # A yes / B no on 5, A no / B yes on 10, both no on 15: p_o = 0.7, p_e = 0.5, kappa 0.4.
    pairs = [("yes", "yes")] * 20 + [("yes", "no")] * 5 + [("no", "yes")] * 10
    pairs += [("no", "no")] * 15
    rows = [(i, "A", a) for i, (a, _) in enumerate(pairs)]
    rows += [(i, "B", b) for i, (_, b) in enumerate(pairs)]
    out = pairwise_agreement(long(rows))
    assert out["n"].tolist() == [50]
    assert out["agreement"].iloc[0] == pytest.approx(0.7)
    assert out["kappa"].iloc[0] == pytest.approx(0.4)


def test_it_matches_scoring_agreement_on_random_data():
    """Independent route: with two graders, the pair's share equals agreement()'s percent
    agreement; for every pair, kappa equals agreement()'s pairwise Cohen's kappa."""
    rng = np.random.default_rng(7)
    rows = []
    for item in range(60):
        truth = rng.choice(["a", "b", "tie"])
        for grader in rng.choice(["g1", "g2", "g3", "g4"], size=rng.integers(2, 5), replace=False):
            rows.append((item, grader, truth if rng.random() < 0.7 else rng.choice(["a", "b"])))
    table = long(rows)
    mine = pairwise_agreement(table)
    theirs = agreement(table, level="nominal", bootstrap=0).cohen_kappas
    merged = mine.merge(theirs, on=["grader_a", "grader_b"], suffixes=("", "_ref"))
    assert len(merged) == len(mine) == 6
    assert merged["n"].tolist() == merged["n_ref"].tolist()
    np.testing.assert_allclose(merged["kappa"], merged["kappa_ref"])

    two = table[table["grader"].isin(["g1", "g2"])]
    shared = two.groupby("item").filter(lambda g: len(g) == 2)
    reference = agreement(shared, level="nominal", bootstrap=0).percent_agreement
    pair = pairwise_agreement(two)
    assert pair["agreement"].iloc[0] == pytest.approx(reference)


def test_max_pairs_keeps_the_best_supported_pairs():
    rows = [(i, g, "a") for i in range(5) for g in ("p", "q")]
    rows += [(9, "r", "a"), (9, "s", "b")]
    out = pairwise_agreement(long(rows), max_pairs=1)
    assert out[["grader_a", "grader_b", "n"]].to_dict(orient="records") == [
        {"grader_a": "p", "grader_b": "q", "n": 5}
    ]


def test_a_grader_judging_an_item_twice_is_an_error():
    with pytest.raises(InputError, match="grader 'x' judged item '1' twice"):
        pairwise_agreement(long([(1, "x", "a"), (1, "x", "b"), (1, "y", "a")]))


def test_no_shared_items_gives_an_empty_table():
    out = pairwise_agreement(long([(1, "x", "a"), (2, "y", "b")]))
    assert out.empty and list(out.columns) == ["grader_a", "grader_b", "n", "agreement", "kappa"]
