"""Reward-model scores on tiny sequence classifiers built from a config."""

import pytest

from scoring.metrics import MetricError, MetricInput, get_metric

ITEMS = [
    MetricInput("hello how are you", "i am fine thanks"),
    MetricInput("what is the answer", "the answer is yes"),
    MetricInput("tell me about the cat", "the cat sat on the mat and the dog sat on it"),
    MetricInput("why", "no"),
    MetricInput("how is the world today", ""),
    MetricInput("a", "hello world how are you today i am good thanks and you"),
]


def rewards(path, items=ITEMS, **options):
    return get_metric("reward").compute(items, model=str(path), device="cpu", **options)


def logits_by_hand(path, texts, add_special_tokens=True):
    """The head's output for each text (or list of token ids), one unpadded pass each."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForSequenceClassification.from_pretrained(path).eval()
    out = []
    with torch.no_grad():
        for text in texts:
            ids = text
            if isinstance(text, str):
                ids = tokenizer(text, add_special_tokens=add_special_tokens)["input_ids"]
            out.append(model(torch.tensor([ids])).logits[0].tolist())
    return out


@pytest.mark.parametrize("fixture", ["tiny_reward", "tiny_bert_reward"])
def test_it_is_the_logit_of_a_one_label_head(fixture, request):
    # GPT-2 reads the last token, BERT the first ([CLS]): both must see their own token.
    path = request.getfixturevalue(fixture)
    texts = [item.prompt + "\n\n" + item.response for item in ITEMS]
    expected = [logits[0] for logits in logits_by_hand(path, texts)]
    assert rewards(path) == pytest.approx(expected, abs=1e-5)


@pytest.mark.parametrize("fixture", ["tiny_reward", "tiny_bert_reward"])
def test_it_does_not_depend_on_the_batch(fixture, request):
    path = request.getfixturevalue(fixture)
    assert rewards(path, batch_size=8) == pytest.approx(rewards(path, batch_size=1), abs=1e-4)


def test_it_uses_the_chat_template(tiny_chat_reward):
    item = ITEMS[0]
    rendered = "user : hello how are you ; assistant : i am fine thanks ; "
    [[expected]] = logits_by_hand(tiny_chat_reward, [rendered], add_special_tokens=False)
    assert rewards(tiny_chat_reward, [item]) == [pytest.approx(expected, abs=1e-5)]


def test_it_reads_a_two_label_head_as_log_odds(builders, tmp_path):
    path = builders.save_bert_reward(tmp_path, num_labels=2)
    texts = [item.prompt + "\n\n" + item.response for item in ITEMS[:2]]
    expected = [logits[1] - logits[0] for logits in logits_by_hand(path, texts)]
    assert rewards(path, ITEMS[:2]) == pytest.approx(expected, abs=1e-5)


def test_it_refuses_a_head_with_more_labels(builders, tmp_path):
    path = builders.save_bert_reward(tmp_path, num_labels=3)
    with pytest.raises(MetricError, match=r"reward: .* has 3 labels"):
        rewards(path, ITEMS[:1])


def test_it_keeps_the_response_of_a_long_input(tiny_bert_reward):
    # 32 positions: [CLS] and the last 31 tokens (the end of the prompt, the response, [SEP]).
    from transformers import AutoTokenizer

    prompt = " ".join(["what is the question"] * 20)
    tokenizer = AutoTokenizer.from_pretrained(tiny_bert_reward)
    ids = tokenizer(prompt + "\n\n" + "yes it is")["input_ids"]
    [[expected]] = logits_by_hand(tiny_bert_reward, [ids[:1] + ids[-31:]])
    assert rewards(tiny_bert_reward, [MetricInput(prompt, "yes it is")]) == [
        pytest.approx(expected, abs=1e-5)
    ]
