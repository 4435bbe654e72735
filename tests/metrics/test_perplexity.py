"""Perplexity of the response given the prompt, on a tiny GPT-2 built from a config."""

import math

import pytest

from scoring.metrics import MetricInput, get_metric
from scoring.metrics.perplexity import Perplexity

ITEMS = [
    MetricInput("hello how are you", "i am fine thanks"),
    MetricInput("what is the answer", "the answer is yes"),
    MetricInput("tell me about the cat", "the cat sat on the mat and the dog sat on it"),
    MetricInput("why", "no"),
    MetricInput("how is the world today", "good"),
    MetricInput("a", "hello world how are you today i am good thanks and you"),
]


def perplexity(path, items=ITEMS, **options):
    return get_metric("perplexity").compute(items, model=str(path), device="cpu", **options)


def load(path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    return AutoTokenizer.from_pretrained(path), AutoModelForCausalLM.from_pretrained(path).eval()


def by_hand(model, context, response):
    """exp(mean NLL) of the ``response`` ids after ``context`` ids, one unpadded pass."""
    import torch

    ids = context + response
    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits[0]
    log_probs = torch.log_softmax(logits.double(), dim=-1)
    nll = [-log_probs[t - 1, ids[t]].item() for t in range(len(context), len(ids))]
    return math.exp(sum(nll) / len(nll))


def test_it_is_exp_of_the_mean_nll_of_the_response_tokens(tiny_lm):
    tokenizer, model = load(tiny_lm)
    expected = [
        by_hand(
            model,
            tokenizer(item.prompt + "\n\n")["input_ids"],  # [BOS] + prompt words
            tokenizer(item.response, add_special_tokens=False)["input_ids"],
        )
        for item in ITEMS
    ]
    assert perplexity(tiny_lm) == pytest.approx(expected, rel=1e-5)


def test_it_matches_the_causal_lm_loss_with_the_prompt_masked(tiny_lm):
    import torch

    tokenizer, model = load(tiny_lm)
    item = ITEMS[2]
    context = tokenizer(item.prompt + "\n\n")["input_ids"]
    ids = torch.tensor([context + tokenizer(item.response, add_special_tokens=False)["input_ids"]])
    labels = ids.clone()
    labels[0, : len(context)] = -100
    with torch.no_grad():
        masked = model(ids, labels=labels).loss.item()
        unmasked = model(ids, labels=ids).loss.item()
    value = perplexity(tiny_lm, [item])[0]
    assert value == pytest.approx(math.exp(masked), rel=1e-5)
    assert value != pytest.approx(math.exp(unmasked), rel=1e-3)  # prompt tokens not scored


def test_it_lets_the_prompt_act_only_as_context(tiny_lm):
    tokenizer, model = load(tiny_lm)
    response = "the cat sat on the mat"
    response_ids = tokenizer(response, add_special_tokens=False)["input_ids"]
    prompts = ["why", "tell me about the cat please tell me about the cat"]
    values = perplexity(tiny_lm, [MetricInput(prompt, response) for prompt in prompts])
    # Each value scores the same six response tokens; only the conditioning differs.
    expected = [by_hand(model, tokenizer(p + "\n\n")["input_ids"], response_ids) for p in prompts]
    assert values == pytest.approx(expected, rel=1e-5)
    assert values[0] != pytest.approx(values[1], rel=1e-3)
    # With nothing of the response to score there is no value, however long the prompt.
    assert perplexity(tiny_lm, [MetricInput(prompts[1], "")]) == [None]


def test_it_does_not_depend_on_the_batch(tiny_lm):
    # Right padding keeps every real token where it is unpadded; compared as mean NLL (the
    # log of the value), since the values of a random tiny model are in the hundreds.
    one = perplexity(tiny_lm, batch_size=1)
    eight = perplexity(tiny_lm, batch_size=8)
    assert [math.log(v) for v in eight] == pytest.approx([math.log(v) for v in one], abs=1e-4)


def test_it_cuts_long_prompts_from_the_left_keeping_bos(tiny_lm):
    # The tiny model reads 32 positions: [BOS], the last 21 prompt words, 10 response words.
    tokenizer, model = load(tiny_lm)
    prompt = " ".join(["what is the question"] * 20)
    response = "i am fine thanks how are you today good bad"
    context = tokenizer(prompt + "\n\n")["input_ids"]
    response_ids = tokenizer(response, add_special_tokens=False)["input_ids"]
    kept = context[:1] + context[-(32 - 1 - len(response_ids)) :]
    value = perplexity(tiny_lm, [MetricInput(prompt, response)])
    assert value == pytest.approx([by_hand(model, kept, response_ids)], rel=1e-5)
    # max_length caps it further.
    capped = Perplexity(max_length=12).compute([MetricInput(prompt, response)], model=str(tiny_lm))
    assert capped == pytest.approx([by_hand(model, context[:1] + context[-1:], response_ids)])


def test_it_uses_the_chat_template(tiny_chat_lm):
    tokenizer, model = load(tiny_chat_lm)
    item = ITEMS[0]
    rendered = "user : hello how are you ; assistant : "
    context = tokenizer(rendered, add_special_tokens=False)["input_ids"]
    response_ids = tokenizer(item.response, add_special_tokens=False)["input_ids"]
    assert perplexity(tiny_chat_lm, [item]) == pytest.approx(
        [by_hand(model, context, response_ids)]
    )
