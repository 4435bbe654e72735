"""Reward-model score of a response to its prompt.

Any sequence-classification checkpoint (AutoModelForSequenceClassification) whose head scores
how good a response is, e.g. the reward models of RLHF pipelines (Ouyang et al. 2022, "Training
language models to follow instructions with human feedback"). The input is the tokenizer's
chat template applied to [user: prompt, assistant: response] when the tokenizer has one,
otherwise the text "prompt\\n\\nresponse" with the tokenizer's special tokens.

The value is the head's output: the logit for a one-label head (the usual reward model); for a
two-label head, logit[1] - logit[0], the log-odds of label 1 (the positive or "chosen" class
by convention), which orders responses as P(label 1) does. Heads with more labels are refused:
there is no single reward to read from them.

Inputs longer than the model's limit lose tokens from the left (leading special tokens such as
[CLS] or BOS are kept), so the response, which the model reads last, stays whole.
"""

from __future__ import annotations

from . import models
from .base import Metric, MetricError


class Reward(Metric):
    name = "reward"
    description = "Score of (prompt, response) under a reward model (its logit); higher is better."
    needs_model = True
    higher_is_better = True
    default_batch_size = 8

    def _values(self, items, model, batch_size, device, report):
        import torch

        device = models.resolve_device(device)
        loaded = models.load("reward", model, device)
        tokenizer, scorer = loaded.tokenizer, loaded.model
        num_labels = scorer.config.num_labels
        if num_labels not in (1, 2):
            raise MetricError(f"{model} has {num_labels} labels; a reward model has 1 (or 2)")
        pad_id = scorer.config.pad_token_id
        if pad_id is None:
            # Without a padding id a decoder model cannot find each row's last token.
            batch_size, pad_id = 1, 0

        with models.running(model, device, batch_size):
            sequences = _encode(tokenizer, model, items)
        limit = models.max_positions(scorer, tokenizer)
        if limit is not None:
            special = set(tokenizer.all_special_ids)
            sequences = [models.keep_end(ids, limit, special) for ids in sequences]

        values: list[float | None] = [None] * len(items)
        done = 0
        with models.running(model, device, batch_size), torch.inference_mode():
            for batch in models.length_batches([len(ids) for ids in sequences], batch_size):
                input_ids, mask = models.pad_right([sequences[i] for i in batch], pad_id, device)
                logits = scorer(input_ids=input_ids, attention_mask=mask).logits.float()
                scores = logits[:, 0] if num_labels == 1 else logits[:, 1] - logits[:, 0]
                for i, score in zip(batch, scores.tolist(), strict=True):
                    values[i] = score
                done += len(batch)
                report(done)
        return values, {"load_seconds": loaded.load_seconds, "device": device}


def _encode(tokenizer, path: str, items) -> list[list[int]]:
    if models.has_chat_template(tokenizer):
        texts = [
            models.render_chat(
                tokenizer,
                path,
                [
                    {"role": "user", "content": item.prompt},
                    {"role": "assistant", "content": item.response},
                ],
                add_generation_prompt=False,
            )
            for item in items
        ]
        return tokenizer(texts, add_special_tokens=False)["input_ids"]
    texts = [item.prompt + "\n\n" + item.response for item in items]
    return tokenizer(texts, add_special_tokens=True)["input_ids"]
