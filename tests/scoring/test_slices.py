"""scoring.slices: results per metadata slice, parity gaps and length buckets."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.special import ndtr

from scoring.errors import InputError
from scoring.rates import good_result_ratio, mean_rate
from scoring.ratings import leaderboard
from scoring.slices import DEFAULT_MIN_N, by_slice, length_buckets, parity_gaps

RATINGS = pd.DataFrame(
    {
        "model": ["a"] * 8 + ["b"] * 8,
        "language": (["en"] * 4 + ["sw"] * 4) * 2,
        "label": [
            "good",
            "good",
            "good",
            "poor",
            "good",
            "poor",
            "poor",
            "poor",
            "good",
            "good",
            "poor",
            "poor",
            "good",
            "good",
            "poor",
            "poor",
        ],
    }
)


def grr(frame: pd.DataFrame) -> pd.DataFrame:
    return good_result_ratio(frame, good_labels={"good"})


def slice_rows(rates: dict[tuple[str, str], tuple[float, int]]) -> pd.DataFrame:
    """A slice table with Wilson intervals: {(model, slice): (rate, n)}."""
    frames = []
    for (model, key), (rate, n) in rates.items():
        k = round(rate * n)
        labels = ["good"] * k + ["poor"] * (n - k)
        frames.append(pd.DataFrame({"model": model, "slice": key, "label": labels}))
    table = pd.concat(frames, ignore_index=True)
    return by_slice(table, "slice", grr, value=None).table


def test_every_slice_row_shows_n_and_an_interval():
    result = by_slice(RATINGS, "language", grr, min_n=1)
    assert list(result.table.columns[:2]) == ["language", "model"]
    assert {"n", "rate", "ci_lower", "ci_upper"} <= set(result.table.columns)
    rates = result.table.set_index(["model", "language"])
    assert rates.loc[("a", "en"), "rate"] == 0.75 and rates.loc[("a", "sw"), "rate"] == 0.25
    assert (rates["n"] == 4).all()
    assert (rates["ci_lower"] <= rates["rate"]).all() and (rates["rate"] <= rates["ci_upper"]).all()


def test_a_gap_between_two_tiny_slices_is_not_flagged():
    # Before: 75 % vs 25 % good on four ratings each was flagged (gap above 3 points). The
    # Wilson intervals (.30-.95 and .05-.70) overlap: the difference is not significant.
    gaps = by_slice(RATINGS, "language", grr, min_n=1).gaps.set_index("model")
    assert gaps.loc["a", "gap"] == pytest.approx(0.5)
    assert (gaps.loc["a", "max_slice"], gaps.loc["a", "min_slice"]) == ("en", "sw")
    assert (gaps.loc["a", "max_n"], gaps.loc["a", "min_n"]) == (4, 4)
    assert gaps.loc["a", "p_value"] > 0.05
    assert not gaps["flagged"].any()
    assert gaps.loc["b", "gap"] == 0.0 and gaps.loc["b", "p_value"] == 1.0
    # With the default minimum of 30 rows per slice, neither slice is compared at all.
    default = by_slice(RATINGS, "language", grr).gaps.set_index("model")
    assert DEFAULT_MIN_N == 30
    assert default["gap"].isna().all() and (default["compared"] == 0).all()
    assert (default["slices"] == 2).all() and not default["flagged"].any()


def test_the_z_test_uses_each_slice_interval_and_bonferroni_over_the_pairs():
    table = slice_rows({("m", "en"): (0.8, 200), ("m", "de"): (0.7, 200), ("m", "sw"): (0.6, 200)})
    gaps = parity_gaps(table, slice_column="slice").iloc[0]
    rows = table.set_index("slice")
    se_hi = (rows.loc["en", "rate"] - rows.loc["en", "ci_lower"]) / 1.959964
    se_lo = (rows.loc["sw", "ci_upper"] - rows.loc["sw", "rate"]) / 1.959964
    p = 2 * ndtr(-0.2 / np.hypot(se_hi, se_lo))
    assert gaps["p_value"] == pytest.approx(min(1.0, 3 * p), rel=1e-4)  # 3 pairs of 3 slices
    assert gaps["flagged"] and (gaps["compared"], gaps["slices"]) == (3, 3)


def test_slices_below_min_n_are_listed_but_left_out_of_the_gap():
    table = slice_rows({("m", "en"): (0.6, 300), ("m", "de"): (0.55, 300), ("m", "xx"): (0.0, 5)})
    gaps = parity_gaps(table, slice_column="slice").iloc[0]
    assert (gaps["max_slice"], gaps["min_slice"], gaps["compared"]) == ("en", "de", 2)
    assert gaps["gap"] == pytest.approx(0.05) and not gaps["flagged"]
    everything = parity_gaps(table, slice_column="slice", min_n=1).iloc[0]
    assert everything["min_slice"] == "xx" and everything["flagged"]


def test_threshold_keeps_significant_but_small_gaps_unflagged():
    table = slice_rows({("m", "x"): (0.52, 40_000), ("m", "y"): (0.50, 40_000)})
    gaps = parity_gaps(table, slice_column="slice").iloc[0]
    assert gaps["p_value"] < 0.001 and not gaps["flagged"]  # 2 points: under the 3-point floor
    assert parity_gaps(table, slice_column="slice", threshold=0.0).iloc[0]["flagged"]
    exact = slice_rows({("m", "x"): (0.53, 40_000), ("m", "y"): (0.50, 40_000)})
    assert not parity_gaps(exact, slice_column="slice").iloc[0]["flagged"]  # exactly 3 points


def test_a_missing_or_unbounded_interval_is_not_tested():
    table = pd.DataFrame(
        {
            "model": ["a", "a"],
            "slice": ["x", "y"],
            "rate": [0.9, 0.1],
            "n": [100, 100],
            "ci_lower": [np.nan, 0.05],
            "ci_upper": [0.95, 0.2],
        }
    )
    gaps = parity_gaps(table, slice_column="slice").iloc[0]
    assert gaps["gap"] == pytest.approx(0.8) and gaps["p_value"] is None
    assert not gaps["flagged"]


def test_missing_slice_values_form_their_own_slice_and_categories_keep_order():
    frame = RATINGS.assign(language=["en", None] * 8)
    assert "(missing)" in set(by_slice(frame, "language", grr).table["language"])
    ordered = RATINGS.assign(language=pd.Categorical(RATINGS["language"], categories=["sw", "en"]))
    assert by_slice(ordered, "language", grr).table["language"].tolist()[0] == "sw"


def test_any_scoring_function_with_n_and_an_interval_can_be_sliced():
    battles = pd.DataFrame(
        {
            "model_a": ["x", "y", "x", "y"] * 3,
            "model_b": ["y", "x", "y", "x"] * 3,
            "winner": ["model_a", "model_b", "tie", "model_a"] * 3,
            "category": ["code"] * 6 + ["chat"] * 6,
        }
    )
    with pytest.warns(UserWarning, match="fewer than 50 battles"):
        result = by_slice(
            battles,
            "category",
            lambda d: leaderboard(d, bootstrap=20, rng=0),
            value="rating",
            n="battles",
            threshold=0,
            min_n=1,
        )
    assert set(result.table["category"]) == {"code", "chat"}
    assert set(result.gaps["model"]) == {"x", "y"}
    counted = by_slice(battles, "category", len, value=None)
    assert counted.table["value"].tolist() == [6, 6] and counted.gaps.empty


def test_by_slice_errors():
    with pytest.raises(InputError, match="no column 'region'"):
        by_slice(RATINGS, "region", grr)
    with pytest.raises(InputError, match="at least 100 rows"):
        by_slice(RATINGS, "language", grr, min_rows=100)

    def rate_only(frame: pd.DataFrame) -> pd.DataFrame:
        return grr(frame)[["model", "rate"]]

    with pytest.raises(InputError, match="no column 'n', 'ci_lower', 'ci_upper'"):
        by_slice(RATINGS, "language", rate_only)


def _null_studies(rng, studies: int, sizes: list[int], per_response: int = 1, icc: float = 0.0):
    """Ratings of `studies` models with the same good rate in every slice (drawn per model
    between .2 and .8), `sizes` ratings per slice, `per_response` ratings per response with
    intra-class correlation `icc` (Beta-distributed response quality)."""
    frames = []
    rate = rng.uniform(0.2, 0.8, studies)
    for position, size in enumerate(sizes):
        responses = size // per_response
        if icc:
            spread = 1 / icc - 1
            quality = rng.beta(
                rate[:, None] * spread, (1 - rate[:, None]) * spread, (studies, responses)
            )
        else:
            quality = np.repeat(rate[:, None], responses, axis=1)
        good = rng.random((studies, responses, per_response)) < quality[..., None]
        frames.append(
            pd.DataFrame(
                {
                    "model": np.repeat(np.arange(studies), responses * per_response),
                    "slice": f"s{position}",
                    "response_id": np.repeat(np.arange(studies * responses), per_response),
                    "label": np.where(good.ravel(), "good", "poor"),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def test_no_difference_between_slices_is_flagged_at_most_alpha_of_the_time():
    """Seeded simulation: 1,000 models whose good rate is the same in 4 slices of 30, 60,
    120 and 240 independent ratings (the smallest at the default minimum n), threshold 0
    so that only the test decides. Measured false-flag rate: 2.3 % (alpha 5 %; Bonferroni
    over the 6 pairs is conservative). The old rule (gap above 3 points) flagged 97.7 %."""
    rng = np.random.default_rng(11)
    ratings = _null_studies(rng, 1000, [30, 60, 120, 240])
    result = by_slice(ratings, "slice", grr, threshold=0)
    rate = result.gaps["flagged"].mean()
    assert (result.gaps["compared"] == 4).all()
    assert rate <= 0.05, rate
    assert (result.gaps["gap"] > 0.03).mean() > 0.9  # what the old rule would have flagged


def test_no_difference_with_three_ratings_per_response_is_flagged_at_most_alpha():
    """Seeded simulation: as above with 3 ratings per response at intra-class correlation
    .3, so the slices' intervals must be cluster-aware (`cluster="response_id"`). Measured
    false-flag rate: 2.8 % with the design-effect intervals; 11.4 % without them."""
    rng = np.random.default_rng(12)
    ratings = _null_studies(rng, 500, [60, 90, 150, 300], per_response=3, icc=0.3)
    clustered = by_slice(
        ratings,
        "slice",
        lambda d: good_result_ratio(d, good_labels={"good"}, cluster="response_id"),
        threshold=0,
    )
    assert clustered.gaps["flagged"].mean() <= 0.05, clustered.gaps["flagged"].mean()


def test_no_difference_in_win_rate_is_flagged_at_most_alpha():
    """Seeded simulation on battle sides scored 1, 1/2 (a tie, 20 %) or 0 (`mean_rate`):
    400 models with the same win rate in 3 slices of 40, 80 and 160 battles. Measured
    false-flag rate: 3.75 % (alpha 5 %)."""
    rng = np.random.default_rng(13)
    sizes, models = [40, 80, 160], 400
    win = rng.uniform(0.2, 0.8, models)
    frames = []
    for position, size in enumerate(sizes):
        u = rng.random((models, size))
        score = np.where(u < 0.2, 0.5, np.where(rng.random((models, size)) < win[:, None], 1, 0))
        frames.append(
            pd.DataFrame(
                {
                    "model": np.repeat(np.arange(models), size),
                    "slice": f"s{position}",
                    "score": score.ravel(),
                }
            )
        )
    sides = pd.concat(frames, ignore_index=True)
    result = by_slice(sides, "slice", mean_rate, threshold=0)
    assert result.gaps["flagged"].mean() <= 0.05, result.gaps["flagged"].mean()


def test_a_real_gap_is_flagged():
    table = slice_rows(
        {("m", "en"): (0.75, 200), ("m", "de"): (0.70, 200), ("m", "sw"): (0.55, 200)}
    )
    gaps = parity_gaps(table, slice_column="slice").iloc[0]
    assert gaps["flagged"] and gaps["p_value"] < 0.01


def test_length_buckets_with_edges_and_quantiles():
    buckets = length_buckets(
        ["a" * 5, "a" * 100, "a" * 499, "a" * 2500, None], edges=[0, 100, 500, 2000]
    )
    assert buckets.tolist()[:4] == ["0-99", "100-499", "100-499", "2000+"]
    assert pd.isna(buckets.iloc[4])
    assert list(buckets.cat.categories) == ["0-99", "100-499", "500-1999", "2000+"]
    words = length_buckets(["one two three", "one"], edges=[0, 2], unit="words")
    assert words.tolist() == ["2+", "0-1"]
    quartiles = length_buckets(list(range(1, 101)))
    assert quartiles.value_counts().tolist() == [25, 25, 25, 25]
