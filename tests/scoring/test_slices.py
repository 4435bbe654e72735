"""scoring.slices: results per metadata slice, parity gaps and length buckets."""

from __future__ import annotations

import pandas as pd
import pytest

from scoring.errors import InputError
from scoring.rates import good_result_ratio
from scoring.ratings import leaderboard
from scoring.slices import by_slice, length_buckets, parity_gaps

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


def test_by_slice_stacks_results_and_computes_parity_gaps():
    result = by_slice(RATINGS, "language", grr)
    assert list(result.table.columns[:2]) == ["language", "model"]
    rates = result.table.set_index(["model", "language"])["rate"]
    assert rates[("a", "en")] == 0.75 and rates[("a", "sw")] == 0.25
    gaps = result.gaps.set_index("model")
    assert gaps.loc["a", "gap"] == pytest.approx(0.5)
    assert (gaps.loc["a", "max_slice"], gaps.loc["a", "min_slice"]) == ("en", "sw")
    assert bool(gaps.loc["a", "flagged"]) is True
    assert gaps.loc["b", "gap"] == 0.0 and bool(gaps.loc["b", "flagged"]) is False


def test_flag_threshold_is_three_points_by_default():
    table = pd.DataFrame(
        {
            "model": ["a", "a", "b", "b"],
            "slice": ["x", "y", "x", "y"],
            "rate": [0.50, 0.53, 0.50, 0.531],
        }
    )
    gaps = parity_gaps(table, slice_column="slice").set_index("model")
    assert not gaps.loc["a", "flagged"]  # exactly 3 points: not above the threshold
    assert gaps.loc["b", "flagged"]
    strict = parity_gaps(table, slice_column="slice", threshold=0.01).set_index("model")
    assert strict["flagged"].all()


def test_missing_slice_values_form_their_own_slice_and_categories_keep_order():
    frame = RATINGS.assign(language=["en", None] * 8)
    assert "(missing)" in set(by_slice(frame, "language", grr).table["language"])
    ordered = RATINGS.assign(language=pd.Categorical(RATINGS["language"], categories=["sw", "en"]))
    assert by_slice(ordered, "language", grr).table["language"].tolist()[0] == "sw"


def test_any_scoring_function_can_be_sliced():
    battles = pd.DataFrame(
        {
            "model_a": ["x", "y", "x", "y"] * 3,
            "model_b": ["y", "x", "y", "x"] * 3,
            "winner": ["model_a", "model_b", "tie", "model_a"] * 3,
            "category": ["code"] * 6 + ["chat"] * 6,
        }
    )
    result = by_slice(battles, "category", lambda d: leaderboard(d, bootstrap=20), value="win_rate")
    assert set(result.table["category"]) == {"code", "chat"}
    assert set(result.gaps["model"]) == {"x", "y"}
    counted = by_slice(battles, "category", len, value=None)
    assert counted.table["value"].tolist() == [6, 6] and counted.gaps.empty


def test_by_slice_errors():
    with pytest.raises(InputError, match="no column 'region'"):
        by_slice(RATINGS, "region", grr)
    with pytest.raises(InputError, match="at least 100 rows"):
        by_slice(RATINGS, "language", grr, min_rows=100)


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
