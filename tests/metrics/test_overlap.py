"""BLEU, chrF and ROUGE-L against hand computations and published examples."""

import math
import random

import pytest

from scoring.metrics import MetricInput, get_metric
from scoring.metrics.overlap import lcs_length


def score(name, response, reference):
    return get_metric(name).compute([MetricInput("prompt", response, reference)])[0]


@pytest.mark.parametrize("name", ["bleu", "chrf", "rouge_l"])
def test_it_skips_items_without_reference(name):
    items = [MetricInput("p", "an answer", None), MetricInput("p", "an answer", "  \n")]
    assert get_metric(name).compute(items) == [None, None]


@pytest.mark.parametrize(("name", "perfect"), [("bleu", 100.0), ("chrf", 100.0), ("rouge_l", 1.0)])
def test_it_gives_identical_texts_the_top_score(name, perfect):
    text = "The cat sat on the mat, and the dog sat on the rug."
    assert score(name, text, text) == pytest.approx(perfect)


@pytest.mark.parametrize("name", ["bleu", "chrf", "rouge_l"])
def test_it_gives_disjoint_texts_zero(name):
    assert score(name, "xyz", "abc") == 0.0


def test_it_computes_sentence_bleu_by_hand():
    # Precisions 5/6, 3/5, 2/4, 1/3; equal lengths, so no brevity penalty:
    # BLEU = 100 * (5/6 * 3/5 * 2/4 * 1/3) ** (1/4) = 100 * (1/12) ** (1/4) = 53.73.
    assert score("bleu", "the cat sat on the mat", "the cat sat on a mat") == pytest.approx(
        100 * (1 / 12) ** 0.25
    )


def test_it_smooths_sentence_bleu_with_effective_order():
    # "a b c" against "a b d e": precisions 2/3 and 1/2; no trigram matches, so 'exp'
    # smoothing counts 1 / (2 * 1); no 4-grams in a 3-word response, so the effective order
    # is 3; brevity penalty exp(1 - 4/3).
    expected = 100 * math.exp(1 - 4 / 3) * (2 / 3 * 1 / 2 * 1 / 2) ** (1 / 3)
    assert score("bleu", "a b c", "a b d e") == pytest.approx(expected)


def test_it_computes_chrf_by_hand():
    # Whitespace removed: "ab" against "abc". Orders the response has: 1 (P 2/2, R 2/3) and
    # 2 (P 1/1, R 1/2); averaged P = 1, R = 7/12; chrF2 = 5PR / (4P + R) = 7/11.
    assert score("chrf", "ab", "abc") == pytest.approx(700 / 11)
    assert score("chrf", "a b", "a b c") == pytest.approx(700 / 11)


def test_it_matches_lins_rouge_l_example():
    # Lin (2004), section 3.1: against "police killed the gunman", S2 "police kill the gunman"
    # scores 3/4 (LCS "police the gunman") and S3 "the gunman kill police" 1/2.
    reference = "police killed the gunman"
    assert score("rouge_l", "police kill the gunman", reference) == pytest.approx(3 / 4)
    assert score("rouge_l", "the gunman kill police", reference) == pytest.approx(1 / 2)


def test_it_computes_rouge_l_f1_by_hand():
    # LCS "the cat on the mat" = 5; P = 5/6, R = 5/7; F1 = 2PR / (P + R) = 10/13.
    value = score("rouge_l", "The cat sat on the MAT.", "the cat is on the mat today")
    assert value == pytest.approx(10 / 13)


def lcs_by_table(a, b):
    table = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i, x in enumerate(a):
        for j, y in enumerate(b):
            table[i + 1][j + 1] = (
                table[i][j] + 1 if x == y else max(table[i][j + 1], table[i + 1][j])
            )
    return table[-1][-1]


def test_it_finds_the_same_lcs_as_the_textbook_table():
    rng = random.Random(0)
    for _ in range(200):
        a = [rng.choice("abcde") for _ in range(rng.randrange(0, 90))]
        b = [rng.choice("abcdef") for _ in range(rng.randrange(0, 90))]
        assert lcs_length(a, b) == lcs_by_table(a, b)
