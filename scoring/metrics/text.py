"""Cheap metrics of the response text alone: length, repetition, diversity.

Words are the maximal runs of Unicode word characters (regex ``\\w+``: letters, digits,
underscore), lowercased: punctuation and whitespace separate words and are not words
themselves, so "Don't stop!" is the three words ``don, t, stop``. Scripts written without
spaces (Chinese, Japanese) come out as one word per run; use `length` for those.
"""

from __future__ import annotations

import re

from .base import MetricInput, TextMetric

_WORD = re.compile(r"\w+")


def words(text: str) -> list[str]:
    """The lowercased word tokens of ``text`` (see the module docstring)."""
    return _WORD.findall(text.lower())


def bigrams(tokens: list[str]) -> list[tuple[str, str]]:
    return list(zip(tokens, tokens[1:], strict=False))


def repeat_rate(text: str) -> float:
    """Share of the word bigrams that repeat an earlier bigram of the same text.

    With bigrams b_1..b_n (n = words - 1), the value is #{i : b_i = b_j for some j < i} / n:
    the first occurrence of a bigram is new, every later one is a repeat. It is
    ``1 - distinct_2`` and is 0 for texts of fewer than two words.
    """
    pairs = bigrams(words(text))
    if not pairs:
        return 0.0
    return 1.0 - len(set(pairs)) / len(pairs)


def distinct_n(text: str, n: int = 2) -> float | None:
    """Distinct-n of Li et al. (2016): unique word n-grams / all word n-grams, in one text.

    Li, Galley, Brockett, Gao and Dolan (2016), "A Diversity-Promoting Objective Function for
    Neural Conversation Models", NAACL. None when the text has no n-gram (fewer than n
    words): 0/0 is undefined.
    """
    tokens = words(text)
    grams = [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]
    if not grams:
        return None
    return len(set(grams)) / len(grams)


class Length(TextMetric):
    name = "length"
    description = "Length of the response in characters (Unicode code points)."

    def score(self, item: MetricInput) -> float:
        return float(len(item.response))


class LengthTokens(TextMetric):
    name = "length_tokens"
    description = "Length of the response in words (regex \\w+ runs; punctuation not counted)."

    def score(self, item: MetricInput) -> float:
        return float(len(words(item.response)))


class RepeatRate(TextMetric):
    name = "repeat_rate"
    description = "Share of word bigrams that repeat an earlier bigram of the response (0-1)."
    higher_is_better = False

    def score(self, item: MetricInput) -> float:
        return repeat_rate(item.response)


class Distinct2(TextMetric):
    name = "distinct_2"
    description = "Unique word bigrams / all word bigrams of the response (Li et al. 2016)."
    higher_is_better = True

    def score(self, item: MetricInput) -> float | None:
        return distinct_n(item.response, 2)
