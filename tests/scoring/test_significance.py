"""scoring.significance: paired bootstrap between two models and the sample-size estimate."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from scoring.errors import InputError
from scoring.significance import (
    compare_models,
    good_rate_pairs,
    paired_bootstrap,
    prompts_needed,
    win_rate_pairs,
)


def test_paired_bootstrap_agrees_with_the_paired_t_test_on_normal_data():
    rng = np.random.default_rng(0)
    base = rng.normal(size=300)
    a = base + rng.normal(0.12, 1, 300)
    b = base + rng.normal(0.0, 1, 300)
    result = paired_bootstrap(a, b, resamples=5000, rng=1)
    t = stats.ttest_rel(a, b)
    low, high = t.confidence_interval(0.95)
    assert result.difference == pytest.approx(np.mean(a - b))
    assert result.n == 300
    # Monte Carlo error of a p-value near 0.1 with 5,000 resamples: about 0.004.
    assert abs(result.p_value - t.pvalue) < 0.02
    se = np.std(a - b, ddof=1) / math.sqrt(300)
    assert abs(result.ci_lower - low) < 0.4 * se
    assert abs(result.ci_upper - high) < 0.4 * se


def test_binary_scores_use_counts_with_the_same_distribution_as_resampling():
    rng = np.random.default_rng(2)
    a = (rng.random(400) < 0.6).astype(float)
    b = (rng.random(400) < 0.5).astype(float)
    result = paired_bootstrap(a, b, resamples=4000, rng=3)
    diff = a - b
    brute = diff[np.random.default_rng(4).integers(0, 400, (4000, 400))].mean(axis=1)
    spread = brute.std()
    assert abs(result.ci_lower - np.quantile(brute, 0.025)) < 0.15 * spread
    assert abs(result.ci_upper - np.quantile(brute, 0.975)) < 0.15 * spread


def test_paired_bootstrap_is_seeded_and_two_sided():
    rng = np.random.default_rng(5)
    a, b = rng.normal(size=50), rng.normal(size=50)
    assert paired_bootstrap(a, b, rng=7) == paired_bootstrap(a, b, rng=7)
    forward, backward = paired_bootstrap(a, b, rng=7), paired_bootstrap(b, a, rng=7)
    assert forward.difference == pytest.approx(-backward.difference)
    assert forward.p_value == pytest.approx(backward.p_value, abs=0.03)


def test_no_difference_has_p_value_one_and_a_big_one_is_significant():
    same = np.array([1.0, 0.0, 1.0, 1.0])
    assert paired_bootstrap(same, same).p_value == 1.0
    a, b = np.ones(100), np.zeros(100)
    assert paired_bootstrap(a, b, resamples=999).p_value == pytest.approx(1 / 1000)


def test_prompts_needed_follows_the_normal_approximation():
    rng = np.random.default_rng(6)
    a = rng.normal(0.1, 1, 120)
    b = rng.normal(0.0, 1, 120)
    estimate = prompts_needed(a, b, alpha=0.05, power=0.8)
    d = a - b
    z = stats.norm.ppf(0.975) + stats.norm.ppf(0.8)  # 1.959964 + 0.841621
    assert estimate.n_needed == math.ceil((z * d.std(ddof=1) / d.mean()) ** 2)
    assert estimate.n_more == max(0, estimate.n_needed - 120)
    # At power 0.5, n is where the expected z statistic just reaches the critical value.
    half = prompts_needed(a, b, power=0.5)
    assert abs(d.mean()) / (d.std(ddof=1) / math.sqrt(half.n_needed)) == pytest.approx(
        stats.norm.ppf(0.975), rel=0.02
    )
    assert prompts_needed([1, 0], [1, 0]).n_needed is None
    # Two prompts that A won: no SD to extrapolate from, but the exact test needs six.
    assert prompts_needed([1, 1], [0, 0]).n_needed == 6


RATINGS = pd.DataFrame(
    {
        "prompt": ["p1", "p1", "p1", "p2", "p2", "p3", "p4"],
        "model": ["x", "y", "y", "x", "y", "x", "y"],
        "label": ["good", "good", "poor", "poor", "good", "good", "poor"],
    }
)


def test_good_rate_pairs_average_per_prompt_and_keep_shared_prompts():
    pairs = good_rate_pairs(RATINGS, model_a="x", model_b="y", good_labels={"good"})
    assert pairs["unit"].tolist() == ["p1", "p2"]
    assert pairs["a"].tolist() == [1.0, 0.0]
    assert pairs["b"].tolist() == [0.5, 1.0]


def test_win_rate_pairs_score_battles_per_prompt():
    battles = pd.DataFrame(
        {
            "prompt": ["p1", "p1", "p2", "p3"],
            "model_a": ["x", "z", "y", "x"],
            "model_b": ["y", "y", "x", "z"],
            "winner": ["model_a", "tie (bothbad)", "model_a", "model_b"],
        }
    )
    pairs = win_rate_pairs(battles, model_a="x", model_b="y")
    assert pairs["unit"].tolist() == ["p1", "p2"]
    assert pairs["a"].tolist() == [1.0, 0.0]
    assert pairs["b"].tolist() == [0.25, 1.0]


def test_compare_models_and_its_errors():
    result = compare_models(
        RATINGS, model_a="x", model_b="y", good_labels=["good"], resamples=500, rng=0
    )
    assert result.n == 2 and result.prompts_needed.n_current == 2
    assert result.warnings and "only 2 shared prompt(s)" in result.warnings[0]
    with pytest.raises(InputError, match="model 'w' does not appear"):
        compare_models(RATINGS, model_a="x", model_b="w", good_labels=["good"])
    with pytest.raises(InputError, match="good labels"):
        compare_models(RATINGS, model_a="x", model_b="y")
    lonely = RATINGS[RATINGS["prompt"].isin(["p3", "p4"])]
    with pytest.raises(InputError, match="share no prompt"):
        compare_models(lonely, model_a="x", model_b="y", good_labels=["good"])


def test_two_prompts_that_a_won_are_not_significant():
    # Before: p = .0002 from the bootstrap ("0 more needed"). Exact: 2 of 4 sign patterns
    # are as extreme, p = .5.
    ratings = pd.DataFrame(
        {"prompt": ["p1", "p1", "p2", "p2"], "model": ["x", "y"] * 2, "label": ["good", "poor"] * 2}
    )
    result = compare_models(ratings, model_a="x", model_b="y", good_labels=["good"], rng=0)
    assert result.p_value == pytest.approx(0.5) and not result.significant
    assert result.test == "sign-flip permutation, exact"


def test_sign_flip_test_is_exact_and_matches_a_brute_force_enumeration():
    from itertools import product

    from scoring.significance import sign_flip_test

    d = np.array([0.5, 1.0, -0.5, 1.0, 0.0, 1.0, 0.5])
    nonzero = d[d != 0]
    means = [abs(np.dot(s, nonzero)) for s in product([1, -1], repeat=len(nonzero))]
    expected = np.mean(np.array(means) >= abs(nonzero.sum()) - 1e-12)
    result = sign_flip_test(d)
    assert result.exact and result.p_value == pytest.approx(expected)
    big = np.random.default_rng(1).normal(0.3, 1, 60)
    sampled = sign_flip_test(big, resamples=20_000, rng=2)
    assert not sampled.exact
    assert sampled.p_value == pytest.approx(stats.ttest_1samp(big, 0).pvalue, abs=0.01)


@pytest.mark.parametrize("n", [2, 3, 4, 5, 6, 8, 10, 15, 20, 30])
def test_false_positive_rate_is_at_most_five_percent_at_every_n(n):
    """Seeded simulation: 2,000 null comparisons per n of good / not good ratings (3 per
    response, so per-prompt scores in 0, 1/3, 2/3, 1) where A and B are the same model.
    Measured false-positive rates: see the closing note of issue 11 (before: 52 % at n = 2
    and 11 % at n = 10 with the bootstrap p-value)."""
    from scoring.significance import sign_flip_test

    rng = np.random.default_rng(100 + n)
    p = rng.uniform(0.2, 0.8, size=(2000, n, 1))  # prompt difficulty, shared by A and B
    a = rng.binomial(3, p[..., 0]) / 3
    b = rng.binomial(3, p[..., 0]) / 3
    rejected = [
        sign_flip_test(a[i] - b[i], resamples=500, rng=i).p_value < 0.05 for i in range(2000)
    ]
    assert np.mean(rejected) <= 0.05, np.mean(rejected)
