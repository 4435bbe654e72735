"""annotation.ingest.task_design: the queue's pairs, counted and sampled without listing
every pair of a prompt."""

from collections import Counter
from itertools import combinations

import pytest

from annotation.ingest.task_design import (
    LIST_ALL_UP_TO,
    PromptDesign,
    new_pairs,
    pair_count,
    tasks_to_add,
)


def design(key: str, n: int, **kwargs) -> PromptDesign:
    return PromptDesign(key=key, models=[f"m{i:05d}" for i in range(n)], **kwargs)


def test_it_counts_what_the_design_adds_without_listing_pairs():
    prompts = [design("a", 4, queued_pairs={("m00000", "m00001")}), design("b", 10_000)]
    assert tasks_to_add(prompts, pairs=True, singles=False, pairs_per_prompt=None) == (
        5 + pair_count(10_000)
    )
    assert tasks_to_add(prompts, pairs=True, singles=False, pairs_per_prompt=2) == 1 + 2
    assert tasks_to_add(prompts, pairs=False, singles=True, pairs_per_prompt=2) == 4 + 10_000
    # A prompt with fewer pairs than asked gets all it has.
    assert tasks_to_add([design("c", 2)], pairs=True, singles=False, pairs_per_prompt=5) == 1


def test_every_pair_skips_those_already_queued():
    prompt = design("a", 4, queued_pairs={("m00000", "m00003")})
    chosen = [pair for _, pair in new_pairs([prompt], "s", None, Counter())]
    assert sorted(chosen) == sorted(set(combinations(prompt.models, 2)) - prompt.queued_pairs)


def test_a_sample_uses_the_least_used_model_pairs_first():
    prompts = [design(f"p{i}", 4) for i in range(60)]
    usage = Counter()
    chosen = [pair for _, pair in new_pairs(prompts, "s", 2, usage)]
    per_pair = Counter(chosen)
    assert len(chosen) == 120 and len(per_pair) == 6
    assert max(per_pair.values()) - min(per_pair.values()) <= 1
    assert usage == per_pair
    # The same study, prompts and usage give the same sample.
    again = [pair for _, pair in new_pairs(prompts, "s", 2, Counter())]
    assert again == chosen


@pytest.mark.parametrize("n", [200, 10_000])
def test_a_prompt_with_many_models_draws_unused_pairs(n):
    assert pair_count(n) > LIST_ALL_UP_TO
    queued = {("m00000", "m00001")}
    usage = Counter({("m00002", "m00003"): 1, ("m00000", "m00001"): 1})
    prompt = design("big", n, queued_pairs=queued)
    chosen = [pair for _, pair in new_pairs([prompt], "s", 4, usage)]
    assert len(chosen) == 3 == len(set(chosen))
    models = set(prompt.models)
    for a, b in chosen:
        assert a < b and {a, b} <= models
        assert (a, b) not in queued and (a, b) != ("m00002", "m00003")
    again = [pair for _, pair in new_pairs([design("big", n, queued_pairs=queued)], "s", 4,
                                           Counter({("m00002", "m00003"): 1, ("m00000", "m00001"): 1}))]  # fmt: skip
    assert again == chosen


def test_when_most_pairs_are_used_it_lists_them_and_keeps_the_balance():
    # 80 models: 3,160 pairs, below the listing threshold; every pair but two used once.
    prompt = design("p", 80)
    every = list(combinations(prompt.models, 2))
    usage = Counter({pair: 1 for pair in every[2:]})
    chosen = [pair for _, pair in new_pairs([prompt], "s", 2, usage)]
    assert sorted(chosen) == sorted(every[:2])
