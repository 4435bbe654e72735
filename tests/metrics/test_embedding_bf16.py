"""bf16 autocast for embedding similarity: opt-in, really bfloat16, within the documented error."""

import json
import platform
from pathlib import Path

import pytest

from scoring.metrics import MetricError, MetricInput, get_metric
from scoring.metrics import models as model_loading
from scoring.metrics.embedding import BF16_COSINE_ERROR

DEMO = Path(__file__).resolve().parents[2] / "fixtures" / "demo" / "study.jsonl"


def demo_items() -> list[MetricInput]:
    """Real AlpacaEval pairs: three short answers to ae-035 against GPT-4-turbo's, and one
    pair past 256 tokens (ae-005)."""
    rows = {row["id"]: row for row in map(json.loads, DEMO.read_text().splitlines())}
    items = []
    for prompt_id, models in (
        ("ae-035", ["claude-2", "vicuna-13b", "alpaca-7b"]),
        ("ae-005", ["claude-2"]),
    ):
        row = rows[prompt_id]
        reference = row["outputs"]["gpt4_1106_preview"]
        items += [MetricInput(row["prompt"], row["outputs"][m], reference) for m in models]
    return items


def linear_output_dtypes(minilm, **options):
    """The dtypes of the first attention projection's outputs during one run of the metric."""
    import torch

    metric = get_metric("embedding_similarity")
    metric.run([MetricInput("p", "the cat sat", "a dog")], device="cpu")  # loads into the cache
    encoder = model_loading.load("embedding", minilm, "cpu").model
    query = encoder.encoder.layer[0].attention.self.query
    assert isinstance(query, torch.nn.Linear)
    seen = set()
    hook = query.register_forward_hook(lambda module, args, output: seen.add(output.dtype))
    try:
        run = metric.run([MetricInput("p", "the cat sat", "a dog")], device="cpu", **options)
    finally:
        hook.remove()
    return seen, run


def test_it_runs_the_encoder_in_bfloat16_only_when_asked(minilm):
    import torch

    seen, run = linear_output_dtypes(minilm)
    assert seen == {torch.float32} and run.bf16 is False
    assert "bf16" not in run.summary()
    seen, run = linear_output_dtypes(minilm, bf16=True)
    assert seen == {torch.bfloat16} and run.bf16 is True
    assert run.summary().endswith(", bf16 autocast")
    # Autocast ends with the run: the weights and later runs are float32 again.
    encoder = model_loading.load("embedding", minilm, "cpu").model
    assert {parameter.dtype for parameter in encoder.parameters()} == {torch.float32}
    assert not torch.is_autocast_enabled("cpu")
    assert linear_output_dtypes(minilm)[0] == {torch.float32}


def test_it_stays_within_the_documented_error_on_real_answers(minilm):
    items = demo_items()
    metric = get_metric("embedding_similarity")
    float32 = metric.compute(items, device="cpu")
    bf16 = metric.compute(items, device="cpu", bf16=True)
    gaps = [abs(a - b) for a, b in zip(float32, bf16, strict=True)]
    assert max(gaps) <= BF16_COSINE_ERROR
    assert max(gaps) > 1e-6  # the values did come from a lower precision


def test_embed_takes_bf16_too(minilm):
    import torch

    texts = [item.response for item in demo_items()]
    embeddings = get_metric("embedding_similarity").embed(texts, device="cpu", bf16=True)
    assert embeddings.dtype == torch.float32  # pooled and normalised in float32
    assert torch.allclose(embeddings.norm(dim=-1), torch.ones(len(texts)), atol=1e-5)


@pytest.mark.parametrize("name", ["length", "bleu", "perplexity", "reward"])
def test_other_metrics_refuse_bf16(name, tiny_lm, tiny_reward):
    model = {"perplexity": str(tiny_lm), "reward": str(tiny_reward)}.get(name)
    with pytest.raises(MetricError, match=f"^{name}: this metric has no bf16 mode$"):
        get_metric(name).run([MetricInput("p", "the cat", "a cat")], model=model, bf16=True)


@pytest.mark.skipif(
    platform.system() != "Linux" or platform.machine() != "x86_64", reason="reads x86 /proc/cpuinfo"
)
def test_it_knows_whether_this_cpu_has_native_bf16():
    # Independent route: the kernel's CPU flags (avx512_bf16, or AMX tiles for bfloat16).
    flags = set()
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("flags"):
            flags.update(line.split(":", 1)[1].split())
    expected = "avx512_bf16" in flags or "amx_bf16" in flags
    assert model_loading.native_bf16("cpu") is expected


def test_autocast_is_a_no_op_without_bf16():
    import torch

    with model_loading.autocast("cpu", False):
        assert not torch.is_autocast_enabled("cpu")
    with model_loading.autocast("cpu", True):
        assert torch.is_autocast_enabled("cpu")
        assert torch.get_autocast_dtype("cpu") == torch.bfloat16
