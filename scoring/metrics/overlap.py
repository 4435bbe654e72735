"""Overlap of the response with the prompt's reference answer: BLEU, chrF, ROUGE-L.

All three are sentence-level (one response against its one reference), on a 0-100 scale for
BLEU and chrF as sacrebleu reports them and 0-1 for ROUGE-L, and None for items without a
reference. BLEU and chrF are sacrebleu's (Post 2018, "A Call for Clarity in Reporting BLEU
Scores"), imported when first used.
"""

from __future__ import annotations

from collections.abc import Callable

from .base import MetricInput, TextMetric
from .text import words


def lcs_length(a: list[str], b: list[str]) -> int:
    """Length of the longest common subsequence of two token lists.

    Bit-parallel dynamic programming (Allison and Dix 1986; Hyyrö 2004): bit j of ``v`` is 0
    where the LCS of the prefix of ``a`` seen so far with ``b[:j + 1]`` grows, so one pass over
    ``a`` costs O(len(a) * len(b) / word size) instead of the O(len(a) * len(b)) table.
    """
    if not a or not b:
        return 0
    masks: dict[str, int] = {}
    for j, token in enumerate(b):
        masks[token] = masks.get(token, 0) | (1 << j)
    full = (1 << len(b)) - 1
    v = full
    for token in a:
        match = masks.get(token)
        if match:
            u = v & match
            v = ((v + u) | (v - u)) & full
    return len(b) - v.bit_count()


def rouge_l(response: str, reference: str) -> float:
    """ROUGE-L F-measure (Lin 2004) of ``response`` against ``reference``.

    Lin (2004), "ROUGE: A Package for Automatic Evaluation of Summaries", section 3.1: with
    LCS the longest common subsequence of the word sequences, R = LCS / len(reference),
    P = LCS / len(response) and F = 2PR / (P + R), i.e. beta = 1 as in Google's rouge-score
    ``fmeasure``. Words are lowercased ``\\w+`` runs (`scoring.metrics.text.words`); unlike
    rouge-score, non-ASCII letters are kept and there is no stemming. 0 when either side has
    no words.
    """
    hyp, ref = words(response), words(reference)
    lcs = lcs_length(hyp, ref)
    if lcs == 0:
        return 0.0
    precision, recall = lcs / len(hyp), lcs / len(ref)
    return 2 * precision * recall / (precision + recall)


class _ReferenceMetric(TextMetric):
    needs_reference = True
    higher_is_better = True

    def against(self) -> Callable[[str, str], float]:
        """A function of (response, reference), built once per run."""
        raise NotImplementedError

    def scorer(self) -> Callable[[MetricInput], float | None]:
        against = self.against()

        def score(item: MetricInput) -> float | None:
            return against(item.response, item.reference) if item.has_reference else None

        return score


class Bleu(_ReferenceMetric):
    """Sentence BLEU as ``sacrebleu.sentence_bleu(response, [reference])`` with its defaults.

    That is: 13a tokenisation, case-sensitive, n-grams up to 4, brevity penalty, and the two
    settings sacrebleu uses for single sentences: effective order (orders longer than the
    response, which has no n-grams of that order, are left out of the geometric mean) and
    exponential smoothing ('exp', Chen and Cherry 2014 method 3: the k-th order without a
    match counts as precision 1 / (2^k * n-grams of that order)). 0 when no unigram
    matches; 0-100.
    """

    name = "bleu"
    description = (
        "Sentence BLEU against the reference (sacrebleu defaults, effective order), 0-100."
    )

    def against(self):
        from sacrebleu.metrics import BLEU

        bleu = BLEU(effective_order=True)
        return lambda response, reference: float(bleu.sentence_score(response, [reference]).score)


class Chrf(_ReferenceMetric):
    """chrF as ``sacrebleu.sentence_chrf(response, [reference])`` with its defaults.

    Popović (2015), "chrF: character n-gram F-score for automatic MT evaluation": character
    n-grams up to 6, no word n-grams, beta = 2 (recall weighted twice), whitespace removed; 0-100.
    """

    name = "chrf"
    description = "Sentence chrF against the reference (sacrebleu defaults: chrF2, n=6), 0-100."

    def against(self):
        from sacrebleu.metrics import CHRF

        chrf = CHRF()
        return lambda response, reference: float(chrf.sentence_score(response, [reference]).score)


class RougeL(_ReferenceMetric):
    name = "rouge_l"
    description = "ROUGE-L F1 of the response against the reference over lowercased words, 0-1."

    def against(self):
        return rouge_l
