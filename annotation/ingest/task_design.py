"""The grading queue's design: which tasks each prompt gets.

A pairwise study compares every pair of models on each prompt, or, when the study says
`pairs_per_prompt`, a balanced sample of that many pairs per prompt: the model pairs
used least often across the study first, ties broken by a stable hash of study, prompt
and pair (the same choice on every run and machine). A single-rating study rates every
response. Only the study's design puts tasks in the queue; pairs that imported
judgments compared outside it have tasks that graders are never handed.

Sampling never lists every pair of a prompt with many models (10,000 outputs make
about 50 million): when the pairs used so far are few beside all possible pairs, the
least-used level is zero, and pairs are drawn at random (seeded, so the same each run)
until enough unused ones are found.
"""

from __future__ import annotations

import hashlib
import heapq
import random
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import combinations

Pair = tuple[str, str]  # two model names, sorted

# Up to this many possible pairs, a prompt's pairs are listed and sorted exactly.
LIST_ALL_UP_TO = 5000


@dataclass
class PromptDesign:
    """What one prompt has and needs: its models, and the tasks already in the queue."""

    key: str  # the prompt's external id (seeds the sample)
    models: list[str]
    queued_pairs: set[Pair] = field(default_factory=set)
    queued_singles: set[str] = field(default_factory=set)


def pair_count(n: int) -> int:
    return n * (n - 1) // 2


def tasks_to_add(
    prompts: list[PromptDesign], *, pairs: bool, singles: bool, pairs_per_prompt: int | None
) -> int:
    """How many tasks the design adds for these prompts (computed without listing any)."""
    total = 0
    for prompt in prompts:
        if singles:
            total += len(set(prompt.models) - prompt.queued_singles)
        if pairs:
            possible = pair_count(len(prompt.models))
            have = len(prompt.queued_pairs)
            want = possible if pairs_per_prompt is None else min(pairs_per_prompt, possible)
            total += max(0, want - have)
    return total


def new_pairs(
    prompts: list[PromptDesign], study_key: str, pairs_per_prompt: int | None, usage: Counter
) -> Iterator[tuple[PromptDesign, Pair]]:
    """(prompt, model pair) for each pair task the design adds, in prompt order.

    `usage` counts the study's queued pairs by model pair; it is updated as pairs are
    chosen, so the sample stays balanced across calls.
    """
    for prompt in prompts:
        models = sorted(prompt.models)
        if pairs_per_prompt is None:
            for pair in combinations(models, 2):
                if pair not in prompt.queued_pairs:
                    yield prompt, pair
            continue
        wanted = pairs_per_prompt - len(prompt.queued_pairs)
        if wanted <= 0 or len(models) < 2:
            continue
        chosen = _sample(models, prompt, study_key, wanted, usage)
        for pair in chosen:
            usage[pair] += 1
            yield prompt, pair


def _sample(
    models: list[str], prompt: PromptDesign, study_key: str, wanted: int, usage: Counter
) -> list[Pair]:
    possible = pair_count(len(models))
    busy = len(usage) + len(prompt.queued_pairs) + wanted
    if possible > LIST_ALL_UP_TO and possible > 4 * busy:
        drawn = _draw_unused(models, prompt, study_key, wanted, usage)
        if drawn is not None:
            return drawn
    free = (pair for pair in combinations(models, 2) if pair not in prompt.queued_pairs)
    return heapq.nsmallest(
        wanted, free, key=lambda pair: (usage[pair], _stable_hash(study_key, prompt.key, *pair))
    )


def _draw_unused(
    models: list[str], prompt: PromptDesign, study_key: str, wanted: int, usage: Counter
) -> list[Pair] | None:
    """`wanted` distinct pairs no queued task uses yet, drawn at random; None if they are
    too rare to find this way. Used when at least three in four pairs are unused."""
    rng = random.Random(_stable_hash(study_key, prompt.key))
    chosen: dict[Pair, None] = {}
    n = len(models)
    for _ in range(20 * wanted + 100):
        i, j = rng.randrange(n), rng.randrange(n - 1)
        if j >= i:
            j += 1
        pair = (models[i], models[j]) if i < j else (models[j], models[i])
        if pair in chosen or pair in prompt.queued_pairs or usage[pair]:
            continue
        chosen[pair] = None
        if len(chosen) == wanted:
            return list(chosen)
    return None


def _stable_hash(*parts) -> str:
    return hashlib.sha1("\x1f".join(map(str, parts)).encode()).hexdigest()
