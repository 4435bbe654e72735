"""Every failure a user can cause is a one-line MetricError naming the model."""

import json

import pytest

from scoring.metrics import MetricError, MetricInput, get_metric
from scoring.metrics import models as model_loading

ITEM = MetricInput("hello how are you", "i am fine thanks", "i am good")


def compute(name, path, **options):
    return get_metric(name).compute([ITEM], model=str(path), device="cpu", **options)


def one_line(error):
    message = str(error.value)
    assert "\n" not in message and "Traceback" not in message
    return message


@pytest.mark.parametrize("name", ["embedding_similarity", "perplexity", "reward"])
def test_it_reports_a_missing_directory(name, tmp_path):
    with pytest.raises(MetricError) as error:
        compute(name, tmp_path / "no-such-model")
    assert one_line(error) == f"{name}: model path {tmp_path / 'no-such-model'} does not exist"


@pytest.mark.parametrize("name", ["embedding_similarity", "perplexity", "reward"])
def test_it_reports_a_directory_without_a_model(name, tmp_path):
    with pytest.raises(MetricError, match=f"^{name}: cannot load model {tmp_path}: ") as error:
        compute(name, tmp_path)
    one_line(error)


def test_it_reports_an_unknown_hub_name_offline():
    with pytest.raises(MetricError, match="^perplexity: cannot load model nobody/no-such-model: "):
        compute("perplexity", "nobody/no-such-model")


def test_it_refuses_a_language_model_as_reward_model(tiny_lm):
    with pytest.raises(MetricError) as error:
        compute("reward", tiny_lm)
    assert one_line(error) == (
        f"reward: {tiny_lm} is a GPT2LMHeadModel, not a reward model "
        "(a *ForSequenceClassification checkpoint)"
    )


def test_it_refuses_a_reward_model_as_language_model(tiny_bert_reward):
    with pytest.raises(MetricError) as error:
        compute("perplexity", tiny_bert_reward)
    assert one_line(error).startswith(
        f"perplexity: {tiny_bert_reward} is a BertForSequenceClassification, not a causal"
    )


def test_it_refuses_a_checkpoint_without_the_head(tiny_lm, tmp_path, builders):
    # No architecture recorded: loading would start the classifier head from random weights.
    path = builders.save_gpt2(tmp_path, "lm")
    config = json.loads((path / "config.json").read_text())
    del config["architectures"]
    (path / "config.json").write_text(json.dumps(config))
    with pytest.raises(MetricError) as error:
        compute("reward", path)
    assert one_line(error) == (
        f"reward: {path} is not a reward model (a *ForSequenceClassification checkpoint): "
        "it has no weights for score.weight (they would be random)"
    )


def test_it_refuses_a_device_it_does_not_have(tiny_lm):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(MetricError, match="perplexity: device 'cuda' was asked for but CUDA"):
        get_metric("perplexity").compute([ITEM], model=str(tiny_lm), device="cuda")
    with pytest.raises(MetricError, match="unknown device 'gpu7'"):
        get_metric("perplexity").compute([ITEM], model=str(tiny_lm), device="gpu7")


@pytest.mark.parametrize("name", ["perplexity", "reward"])
def test_it_reports_running_out_of_memory(name, tiny_lm, tiny_reward, monkeypatch):
    import torch

    path = tiny_lm if name == "perplexity" else tiny_reward
    kind = "causal_lm" if name == "perplexity" else "reward"
    model = model_loading.load(kind, str(path), "cpu").model  # the instance the metric reuses

    def out_of_memory(*args, **kwargs):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")

    monkeypatch.setattr(model, "forward", out_of_memory)
    with pytest.raises(MetricError) as error:
        compute(name, path, batch_size=4)
    assert one_line(error) == (
        f"{name}: model {path} ran out of memory on cpu with batch size 4; try a smaller batch size"
    )


def test_it_reports_a_tokenizer_that_does_not_fit_the_model(tmp_path, builders):
    # A vocabulary larger than the model's embedding table: ids past its end.
    path = builders.save_gpt2(tmp_path, "lm", vocab_size=8)
    with pytest.raises(MetricError, match=f"^perplexity: model {path} failed on cpu: ") as error:
        compute("perplexity", path)
    one_line(error)
