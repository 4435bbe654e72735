"""Perplexity of the response given the prompt under a causal language model.

For a response of tokens r_1..r_n following the context c (the prompt, see below), the value
is exp(-(1/n) * sum_i log p(r_i | c, r_<i)): the exponential of the mean negative
log-likelihood of the response tokens only. Prompt tokens condition the model but are not
scored (their labels are -100, the ignore index of the usual causal-LM loss), so a long prompt
does not dilute the value.

The context is the tokenizer's chat template applied to one user message holding the prompt,
with the generation prompt (e.g. "<|assistant|>") appended, when the tokenizer has a template;
otherwise the prompt followed by a blank line, "prompt\\n\\n", tokenised with the tokenizer's
special tokens (e.g. BOS). The response is tokenised on its own, without special tokens, so it
is the same tokens whatever the prompt.

Inputs longer than the model's limit lose tokens from the left of the prompt (its leading
special tokens are kept); a response longer than the limit by itself keeps its first tokens.
"""

from __future__ import annotations

import math

from . import models
from .base import Metric


class Perplexity(Metric):
    """exp(mean token NLL) of the response given the prompt; lower is better.

    Args:
        max_length: cap on tokens per input, below the model's own limit (None: the model's).
    """

    name = "perplexity"
    description = (
        "Perplexity of the response given the prompt under a causal LM "
        "(exp of the mean NLL of response tokens)."
    )
    needs_model = True
    higher_is_better = False
    default_batch_size = 8

    def __init__(self, max_length: int | None = None) -> None:
        self.max_length = max_length

    def _values(self, items, model, batch_size, device, report):
        import torch

        device = models.resolve_device(device)
        loaded = models.load("causal_lm", model, device)
        tokenizer, lm = loaded.tokenizer, loaded.model
        limit = _limit(self.max_length, models.max_positions(lm, tokenizer))
        special = set(tokenizer.all_special_ids)

        with models.running(model, device, batch_size):
            contexts = _contexts(tokenizer, model, [item.prompt for item in items])
            encoded = tokenizer([item.response for item in items], add_special_tokens=False)
            responses = encoded["input_ids"]
        sequences, starts = [], []
        for context, response in zip(contexts, responses, strict=True):
            if limit is not None and len(context) + len(response) > limit:
                response = response[: limit - 1] if len(response) >= limit else response
                context = models.keep_end(context, limit - len(response), special)
            sequences.append(context + response)
            starts.append(len(context))

        values: list[float | None] = [None] * len(items)
        scored = [i for i, sequence in enumerate(sequences) if len(sequence) > max(starts[i], 1)]
        done = len(items) - len(scored)
        report(done)
        lengths = [len(sequences[i]) for i in scored]
        with models.running(model, device, batch_size), torch.inference_mode():
            for batch in models.length_batches(lengths, batch_size):
                rows = [scored[b] for b in batch]
                input_ids, mask = models.pad_right([sequences[i] for i in rows], 0, device)
                labels = input_ids.masked_fill(mask == 0, -100)
                for row, i in enumerate(rows):
                    labels[row, : starts[i]] = -100
                logits = lm(input_ids=input_ids, attention_mask=mask).logits
                # Position t predicts token t + 1; only the response's targets count.
                targets = labels[:, 1:]
                chosen = targets != -100
                nll = torch.nn.functional.cross_entropy(
                    logits[:, :-1][chosen].float(), targets[chosen], reduction="none"
                )
                row_of = chosen.nonzero()[:, 0]
                totals = torch.zeros(len(rows), dtype=torch.float64, device=nll.device)
                totals.index_add_(0, row_of, nll.double())
                counts = chosen.sum(1).tolist()
                for row, i in enumerate(rows):
                    values[i] = math.exp(totals[row].item() / counts[row])
                done += len(rows)
                report(done)
        return values, {"load_seconds": loaded.load_seconds, "device": device}


def _limit(cap: int | None, model_limit: int | None) -> int | None:
    limits = [limit for limit in (cap, model_limit) if limit is not None]
    return max(min(limits), 2) if limits else None


def _contexts(tokenizer, path: str, prompts: list[str]) -> list[list[int]]:
    if models.has_chat_template(tokenizer):
        texts = [
            models.render_chat(
                tokenizer, path, [{"role": "user", "content": prompt}], add_generation_prompt=True
            )
            for prompt in prompts
        ]
        # The template writes the special tokens (BOS, ...) itself.
        return tokenizer(texts, add_special_tokens=False)["input_ids"]
    return tokenizer([prompt + "\n\n" for prompt in prompts], add_special_tokens=True)["input_ids"]
