"""Text metrics against values worked out by hand."""

import pytest

from scoring.metrics import MetricInput, get_metric


def values(name, *responses):
    return get_metric(name).compute([MetricInput("prompt", response) for response in responses])


def test_it_counts_characters_as_code_points():
    assert values("length", "héllo 👋", "") == [7.0, 0.0]


def test_it_counts_words_without_punctuation():
    # "Don't stop!" -> don, t, stop; the whitespace-only text has no word.
    assert values("length_tokens", "Don't stop!", "the cat  sat\non the mat", " \n") == [
        3.0,
        6.0,
        0.0,
    ]


def test_it_computes_repeat_rate_by_hand():
    # "a b a b a b": bigrams ab ba ab ba ab; the last three repeat an earlier one: 3/5.
    # "A b. a B!" lowercases to a b a b: ab ba ab, one repeat in three.
    assert values("repeat_rate", "a b a b a b", "the cat sat on the mat", "A b. a B!") == (
        pytest.approx([3 / 5, 0.0, 1 / 3])
    )


def test_it_gives_zero_repeat_rate_below_two_words():
    assert values("repeat_rate", "one", "", "...") == [0.0, 0.0, 0.0]


def test_it_computes_distinct_2_by_hand():
    # Li et al. (2016): unique bigrams / bigrams: 2/5, 5/5, 2/3.
    assert values("distinct_2", "a b a b a b", "the cat sat on the mat", "A b. a B!") == (
        pytest.approx([2 / 5, 1.0, 2 / 3])
    )


def test_it_leaves_distinct_2_undefined_without_bigrams():
    assert values("distinct_2", "one", "") == [None, None]
