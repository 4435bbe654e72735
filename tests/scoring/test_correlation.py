"""scoring.correlation: human-vs-metric correlations and pairwise accuracy."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from scoring import correlation
from scoring.correlation import correlate, pairwise_accuracy, system_pairwise_accuracy
from scoring.errors import InputError

# Wikipedia, "Spearman's rank correlation coefficient", example: IQ and hours of TV per
# week of 10 people; rho = -29/165 = -0.175757...
IQ = [106, 100, 86, 101, 99, 103, 97, 113, 112, 110]
TV = [7, 27, 2, 50, 28, 29, 20, 12, 6, 17]


def test_spearman_reproduces_the_wikipedia_example():
    result = correlate(pd.DataFrame({"iq": IQ, "tv": TV}), human="iq", metric="tv", bootstrap=200)
    assert result.spearman.r == pytest.approx(-29 / 165)
    assert result.n == 10 and result.level == "segment"
    for method in ("pearson", "spearman", "kendall"):
        entry = result.to_dict()[method]
        assert set(entry) == {"r", "p", "ci_lower", "ci_upper", "n"}
        assert entry["ci_lower"] <= entry["r"] <= entry["ci_upper"]


def test_coefficients_and_p_values_match_independent_computations():
    rng = np.random.default_rng(0)
    human = rng.normal(size=60)
    metric = 0.5 * human + rng.normal(size=60)
    result = correlate(pd.DataFrame({"h": human, "m": metric}), human="h", metric="m", bootstrap=0)
    r = np.corrcoef(human, metric)[0, 1]
    t = r * math.sqrt(58 / (1 - r * r))
    assert result.pearson.r == pytest.approx(r)
    assert result.pearson.p == pytest.approx(2 * stats.t.sf(abs(t), 58))
    ranks_h, ranks_m = stats.rankdata(human), stats.rankdata(metric)
    assert result.spearman.r == pytest.approx(np.corrcoef(ranks_h, ranks_m)[0, 1])
    concordant = sum(
        np.sign(human[i] - human[j]) * np.sign(metric[i] - metric[j])
        for i in range(60)
        for j in range(i)
    )
    assert result.kendall.r == pytest.approx(concordant / (60 * 59 / 2))
    assert result.pearson.ci_lower is None


def test_pearson_bootstrap_interval_is_close_to_fishers():
    rng = np.random.default_rng(1)
    human = rng.normal(size=300)
    metric = 0.6 * human + 0.8 * rng.normal(size=300)
    result = correlate(
        pd.DataFrame({"h": human, "m": metric}), human="h", metric="m", bootstrap=2000, rng=2
    )
    r = result.pearson.r
    z, se = np.arctanh(r), 1 / math.sqrt(297)
    low, high = np.tanh(z - 1.959964 * se), np.tanh(z + 1.959964 * se)
    assert result.pearson.ci_lower == pytest.approx(low, abs=0.02)
    assert result.pearson.ci_upper == pytest.approx(high, abs=0.02)


def test_system_level_aggregates_per_model_first():
    df = pd.DataFrame(
        {
            "model": ["a", "a", "b", "b", "c", "c", "d"],
            "human": [1.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.5],
            "metric": [0.2, 0.4, 0.9, 0.7, 0.1, None, 0.35],
        }
    )
    result = correlate(df, human="human", metric="metric", by="model", bootstrap=100)
    # Means per model (c's row without a metric left out): human .5, 1, 0, .5;
    # metric .3, .8, .1, .35.
    expected = stats.pearsonr([0.5, 1, 0, 0.5], [0.3, 0.8, 0.1, 0.35])
    assert result.pearson.r == pytest.approx(expected.statistic)
    assert result.n == 4 and result.dropped == 1 and result.level == "by model"


def test_it_is_seeded():
    rng = np.random.default_rng(3)
    df = pd.DataFrame({"h": rng.normal(size=40), "m": rng.normal(size=40)})
    first = correlate(df, human="h", metric="m", bootstrap=200, rng=5)
    assert first == correlate(df, human="h", metric="m", bootstrap=200, rng=5)
    assert first != correlate(df, human="h", metric="m", bootstrap=200, rng=6)


@pytest.mark.parametrize(
    ("df", "message"),
    [
        (pd.DataFrame({"h": [1, 2, "x"], "m": [1, 2, 3]}), "row 3: h is not a number: 'x'"),
        (pd.DataFrame({"h": [1, 2], "m": [1, 2]}), "at least 3"),
        (pd.DataFrame({"h": [1, 1, 1], "m": [1, 2, 3]}), "same value"),
        (pd.DataFrame({"h": [1, 2, 3]}), "no column 'm'"),
    ],
)
def test_bad_scores_raise_input_errors(df, message):
    with pytest.raises(InputError, match=message):
        correlate(df, human="h", metric="m", bootstrap=0)


def test_pairwise_accuracy_counts_agreeing_verdicts():
    battles = pd.DataFrame(
        {
            "winner": ["model_a", "model_b", "model_a", "tie", "model_b", "model_a"],
            "metric_a": [0.9, 0.9, 0.5, 0.1, 0.2, None],
            "metric_b": [0.1, 0.2, 0.5, 0.9, 0.8, 0.3],
        }
    )
    # Decided verdicts with both scores: rows 1, 2, 3, 5 -> right, wrong, metric tie, right.
    result = pairwise_accuracy(battles)
    assert result.accuracy == pytest.approx(2.5 / 4)
    assert (result.n, result.metric_ties, result.dropped) == (4, 1, 1)
    assert result.ci_lower < result.accuracy < result.ci_upper
    assert pairwise_accuracy(battles, higher_is_better=False).accuracy == pytest.approx(1.5 / 4)
    with pytest.raises(InputError, match="row 1: unknown winner 'A'"):
        pairwise_accuracy(battles.assign(winner=["A"] * 6))


def test_system_pairwise_accuracy_follows_kocmi_2021():
    systems = pd.DataFrame({"human": [0.9, 0.7, 0.5, 0.5], "metric": [30, 31, 20, 25]})
    # Pairs with different human scores: (0,1) wrong, (0,2) right, (0,3) right,
    # (1,2) right, (1,3) right; (2,3) is a human tie and left out.
    result = system_pairwise_accuracy(systems, human="human", metric="metric")
    assert result.accuracy == pytest.approx(4 / 5)
    assert result.n == 5


def _tied_scores(rng, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Scores with many ties, as human shares of a few ratings and a length metric have."""
    h = rng.integers(0, int(rng.integers(2, 8)), n) / 6
    m = rng.integers(0, int(rng.integers(2, 40)), n) * 3.5 + 100.0
    return h, m


@pytest.mark.parametrize("exact_sums", [True, False])
def test_resample_rank_correlations_from_count_tables_are_scipys_to_the_last_bit(
    monkeypatch, exact_sums
):
    """Spearman's rho and Kendall's tau-b of bootstrap resamples computed from (human,
    metric) count tables equal scipy's rankdata + Pearson and kendalltau on the laid-out
    resamples, bit for bit, with and without the exact integer rank sums."""
    if not exact_sums:
        monkeypatch.setattr(correlation._TieTables, "EXACT_RANK_SUMS", 0)
    rng = np.random.default_rng(11)
    for _ in range(25):
        n = int(rng.integers(3, 300))
        h, m = _tied_scores(rng, n)
        tables = correlation._TieTables.of(h, m)
        assert tables is not None
        idx = rng.integers(0, n, size=(30, n))
        spearman, kendall = tables.rank_correlations(idx)
        hs, ms = h[idx], m[idx]
        expected_rho = correlation._pearson_rows(
            stats.rankdata(hs, axis=1), stats.rankdata(ms, axis=1)
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # constant resamples: NaN on both sides
            expected_tau = [stats.kendalltau(hs[i], ms[i]).statistic for i in range(len(idx))]
        np.testing.assert_array_equal(spearman, expected_rho)
        np.testing.assert_array_equal(kendall, expected_tau)


def test_correlate_gives_the_same_intervals_with_and_without_count_tables(monkeypatch):
    rng = np.random.default_rng(12)
    h, m = _tied_scores(rng, 500)
    df = pd.DataFrame({"h": h, "m": m + rng.normal(size=500) * (h > 0.3)})
    df["m"] = df["m"].round()  # ties on both sides
    fast = correlate(df, human="h", metric="m", bootstrap=300, rng=4)
    monkeypatch.setattr(correlation._TieTables, "of", classmethod(lambda cls, h, m: None))
    assert correlate(df, human="h", metric="m", bootstrap=300, rng=4) == fast


def test_many_distinct_values_fall_back_to_scipy():
    rng = np.random.default_rng(13)
    assert correlation._TieTables.of(rng.normal(size=200), rng.normal(size=200)) is None
