"""scoring.rates: Wilson intervals, Good-Result-Ratio, label and tag rates."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import binomtest

from scoring.errors import InputError
from scoring.rates import good_result_ratio, rate_table, tag_rates, wilson_interval


@pytest.mark.parametrize(
    ("k", "n", "lower", "upper"),
    [
        # Newcombe (1998), "Two-sided confidence intervals for the single proportion:
        # comparison of seven methods", Stat Med 17:857-872, Table II, method 3 (Wilson
        # score interval without continuity correction), examples (a)-(d).
        (81, 263, 0.2553, 0.3662),
        (15, 148, 0.0624, 0.1605),
        (0, 20, 0.0000, 0.1611),
        (1, 29, 0.0061, 0.1718),
    ],
)
def test_wilson_reproduces_newcombe_1998(k, n, lower, upper):
    low, high = wilson_interval(k, n)
    assert round(low, 4) == lower
    assert round(high, 4) == upper


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 500), share=st.floats(0, 1), confidence=st.sampled_from([0.8, 0.95, 0.99]))
def test_wilson_equals_scipy_binomtest_wilson(n, share, confidence):
    k = int(round(share * n))
    ours = wilson_interval(k, n, confidence=confidence)
    reference = binomtest(k, n).proportion_ci(confidence_level=confidence, method="wilson")
    assert ours == pytest.approx((reference.low, reference.high), abs=1e-12)


def test_wilson_edges_and_arrays():
    assert wilson_interval(0, 0) == (0.0, 1.0)
    low, high = wilson_interval(np.array([0, 5]), np.array([5, 5]))
    assert low[0] == 0.0 and high[1] == 1.0
    with pytest.raises(ValueError):
        wilson_interval(6, 5)


RATINGS = pd.DataFrame(
    {
        "model": ["a", "a", "a", "a", "b", "b", "b"],
        "label": ["good", "poor", "good", "acceptable", "good", None, "poor"],
    }
)


def test_good_result_ratio_counts_good_labels_per_model():
    table = good_result_ratio(RATINGS, good_labels={"good"})
    assert list(table.columns) == ["model", "n", "k", "rate", "ci_lower", "ci_upper"]
    assert table["n"].tolist() == [4, 2]  # b's missing label is not a rating
    assert table["k"].tolist() == [2, 1]
    assert table["rate"].tolist() == [0.5, 0.5]
    assert (table["ci_lower"].iloc[0], table["ci_upper"].iloc[0]) == pytest.approx(
        wilson_interval(2, 4)
    )


def test_several_good_labels_and_a_callable():
    both = good_result_ratio(RATINGS, good_labels=["good", "acceptable"])
    assert both["k"].tolist() == [3, 1]
    scored = pd.DataFrame({"model": ["a", "a", "b"], "value": [5, 2, 4]})
    table = rate_table(scored, positive=lambda v: v >= 4)
    assert table["k"].tolist() == [1, 1]


def test_labels_match_as_text():
    # A 1-5 scale read from CSV gives numbers; the study may define good labels as text.
    scores = pd.DataFrame({"model": ["a", "a", "a"], "label": [4, 5, 2]})
    assert good_result_ratio(scores, good_labels={"4", "5"})["k"].tolist() == [2]


def test_overall_rate_without_group():
    table = rate_table(RATINGS, group=None, value="label", positive={"poor"})
    assert table[["n", "k"]].iloc[0].tolist() == [6, 2]


def test_rate_table_errors():
    with pytest.raises(InputError, match="no column 'verdict'"):
        rate_table(RATINGS, value="verdict", positive={"good"})
    with pytest.raises(InputError, match="empty"):
        rate_table(RATINGS.iloc[:0], value="label", positive={"good"})
    with pytest.raises(InputError, match="no good labels"):
        good_result_ratio(RATINGS, good_labels=[])
    with pytest.raises(InputError, match="row 2: model is empty"):
        good_result_ratio(
            pd.DataFrame({"model": ["a", None], "label": ["good", "poor"]}), good_labels={"good"}
        )


TAGS = pd.DataFrame(
    {
        "model": ["a", "a", "a", "b", "b"],
        "response": [1, 1, 2, 3, 4],
        "tags": [["harmful", "untrue"], "untrue", None, [], "unhelpful, untrue, untrue"],
    }
)


def test_tag_rates_are_shares_of_judged_responses():
    table = tag_rates(TAGS, tag_set=["harmful", "untrue", "unhelpful", "refusal"])
    a = table[table["model"] == "a"].set_index("tag")
    b = table[table["model"] == "b"].set_index("tag")
    assert a["n"].unique().tolist() == [3] and b["n"].unique().tolist() == [2]
    assert a.loc["untrue", "k"] == 2 and a.loc["harmful", "k"] == 1
    assert b.loc["untrue", "k"] == 1  # listed twice in one judgment: counted once
    assert a.loc["refusal", "rate"] == 0.0 and a.loc["refusal", "ci_upper"] > 0


def test_tag_rates_per_response_unit():
    table = tag_rates(TAGS, unit="response").set_index(["model", "tag"])
    assert table.loc[("a", "untrue"), "n"] == 2  # two responses of a
    assert table.loc[("a", "untrue"), "k"] == 1  # response 1, tagged by both graders
    assert sorted(table.index.get_level_values("tag").unique()) == [
        "harmful",
        "unhelpful",
        "untrue",
    ]


def test_clustered_interval_covers_95_percent_at_icc_point_3_with_three_graders():
    """Seeded simulation: 2,000 studies of 60 responses rated by 3 graders each, response
    quality Beta-distributed so that the intra-class correlation is .3, true ratio .6.
    Measured: 95.1 % (Wilson on the 180 ratings as if independent: 86.8 %); at 20 responses
    96.1 %, at 200 94.9 %, at 100 responses with ratio .9 94.9 %."""
    from scoring.rates import clustered_interval

    rng = np.random.default_rng(60)
    spread = 1 / 0.3 - 1  # Beta(a, b) with a + b + 1 = 1 / ICC
    covered, naive = [], []
    for _ in range(2000):
        quality = rng.beta(0.6 * spread, 0.4 * spread, 60)
        good = rng.binomial(3, quality).astype(float)
        lower, upper = clustered_interval(good, np.full(60, 3.0))
        covered.append(lower <= 0.6 <= upper)
        lower, upper = wilson_interval(good.sum(), 180)
        naive.append(lower <= 0.6 <= upper)
    assert 0.93 <= np.mean(covered) <= 0.97, np.mean(covered)
    assert np.mean(naive) < 0.9


def test_good_result_ratio_uses_the_clustered_interval_when_a_response_has_several_ratings():
    rows = pd.DataFrame(
        {
            "model": ["a"] * 12 + ["b"] * 4,
            "response": [f"r{i // 3}" for i in range(12)] + ["s1", "s2", "s3", "s4"],
            "label": ["good"] * 6 + ["poor"] * 6 + ["good", "good", "poor", "good"],
        }
    )
    table = good_result_ratio(rows, good_labels={"good"}, cluster="response").set_index("model")
    assert list(table["interval"]) == ["wilson, design effect", "wilson"]
    assert list(table["n_clusters"]) == [4, 4]
    plain = good_result_ratio(rows, good_labels={"good"}).set_index("model")
    # Four responses rated all-good or all-poor carry the information of four ratings, not
    # twelve: the interval is wider than Wilson's on twelve independent ratings.
    width = table["ci_upper"] - table["ci_lower"]
    assert width["a"] > (plain["ci_upper"] - plain["ci_lower"])["a"] + 0.2
    assert table.loc["b", "ci_lower"] == pytest.approx(plain.loc["b", "ci_lower"])


def test_mean_rate_is_the_win_rate_with_ties_as_half_and_wilson_on_the_points():
    from scoring.rates import mean_rate

    sides = pd.DataFrame({"model": ["x"] * 5 + ["y"] * 3, "score": [1, 1, 0.5, 0, 0.5, 0, 1, None]})
    table = mean_rate(sides).set_index("model")
    # x: 2 wins and 2 ties in 5 battles: (2 + 2 / 2) / 5 = .6; y: the missing score is
    # not counted.
    assert table.loc["x", ["n", "k", "rate"]].tolist() == [5, 3.0, 0.6]
    assert table.loc["y", ["n", "k", "rate"]].tolist() == [2, 1.0, 0.5]
    assert (table.loc["x", "ci_lower"], table.loc["x", "ci_upper"]) == pytest.approx(
        tuple(wilson_interval(3.0, 5))
    )
    with pytest.raises(InputError, match=r"row 2: score must be between 0 and 1, got 2\.0"):
        mean_rate(pd.DataFrame({"model": ["x", "x"], "score": [1, 2]}))
    with pytest.raises(InputError, match="row 1: score is not a number: 'win'"):
        mean_rate(pd.DataFrame({"model": ["x"], "score": ["win"]}))


def test_mean_rate_with_clusters_matches_clustered_interval_per_group():
    from scoring.rates import clustered_interval, mean_rate

    rng = np.random.default_rng(3)
    sides = pd.DataFrame(
        {
            "model": rng.choice(["x", "y"], 300),
            "prompt": rng.integers(0, 25, 300),
            "score": rng.choice([0.0, 0.5, 1.0], 300),
        }
    )
    table = mean_rate(sides, cluster="prompt").set_index("model")
    for model, part in sides.groupby("model"):
        per_prompt = part.groupby("prompt")["score"].agg(["sum", "size"])
        expected = clustered_interval(per_prompt["sum"].to_numpy(), per_prompt["size"].to_numpy())
        assert (table.loc[model, "ci_lower"], table.loc[model, "ci_upper"]) == pytest.approx(
            tuple(expected)
        )
        assert table.loc[model, "n_clusters"] == len(per_prompt)


def test_rate_table_clustered_path_equals_one_clustered_interval_per_group():
    # The grouped (vectorised) design-effect interval equals `clustered_interval` on each
    # group's clusters; a group whose clusters all hold one rating keeps Wilson's.
    from scoring.rates import clustered_interval

    rng = np.random.default_rng(8)
    rows = pd.DataFrame(
        {
            "model": rng.choice(["a", "b", "c"], 400),
            "response": rng.integers(0, 90, 400),
            "label": rng.choice(["good", "poor"], 400),
        }
    )
    table = rate_table(rows, value="label", positive={"good"}, cluster="response")
    for position, (model, part) in enumerate(rows.groupby("model")):
        good = (part["label"] == "good").groupby(part["response"]).agg(["sum", "size"])
        expected = clustered_interval(good["sum"].to_numpy(float), good["size"].to_numpy(float))
        assert table.loc[position, "model"] == model
        assert (table.loc[position, "ci_lower"], table.loc[position, "ci_upper"]) == (
            pytest.approx(tuple(expected))
        )
