"""The registry, the common interface of every metric, and the cheap import."""

import math
import subprocess
import sys
from pathlib import Path

import pytest

from scoring.metrics import REGISTRY, MetricError, MetricInput, get_metric, metric_names
from scoring.metrics.base import TextMetric

REPO_ROOT = Path(__file__).resolve().parents[2]
NAMES = [
    "length",
    "length_tokens",
    "repeat_rate",
    "distinct_2",
    "bleu",
    "chrf",
    "rouge_l",
    "embedding_similarity",
    "perplexity",
    "reward",
]


def test_it_registers_the_documented_names():
    # DESIGN.md: compute_metrics --metric takes these names (plus length_tokens).
    assert metric_names() == NAMES
    assert set(REGISTRY) == set(NAMES)
    assert all(get_metric(name).name == name for name in NAMES)


def test_it_declares_what_each_metric_needs():
    needs_reference = {name for name in NAMES if get_metric(name).needs_reference}
    needs_model = {name for name in NAMES if get_metric(name).needs_model}
    assert needs_reference == {"bleu", "chrf", "rouge_l", "embedding_similarity"}
    assert needs_model == {"embedding_similarity", "perplexity", "reward"}
    assert Path(get_metric("embedding_similarity").default_model, "config.json").is_file()
    assert get_metric("perplexity").default_model is None
    assert get_metric("reward").default_model is None
    direction = {name: get_metric(name).higher_is_better for name in NAMES}
    assert direction["length"] is None and direction["length_tokens"] is None
    assert direction["repeat_rate"] is False and direction["perplexity"] is False
    assert all(direction[name] for name in ("distinct_2", "bleu", "chrf", "rouge_l", "reward"))
    assert all(get_metric(name).description for name in NAMES)


def test_it_refuses_an_unknown_name():
    with pytest.raises(MetricError, match="unknown metric 'blue'.*bleu"):
        get_metric("blue")


def test_it_imports_without_torch():
    code = (
        "import sys, scoring.metrics; "
        "heavy = {'torch', 'transformers', 'sacrebleu'} & set(sys.modules); "
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, check=True)


def test_it_reports_progress_up_to_the_total():
    calls = []
    items = [MetricInput("p", f"word {i}") for i in range(2500)]
    get_metric("length").compute(items, batch_size=1000, progress=lambda *c: calls.append(c))
    assert calls == [(0, 2500), (1000, 2500), (2000, 2500), (2500, 2500)]


def test_it_reports_the_time_taken():
    run = get_metric("rouge_l").run([MetricInput("p", "a b", "a c"), MetricInput("p", "a", None)])
    assert run.values == [pytest.approx(0.5), None]
    assert (run.n_items, run.n_scored) == (2, 1)
    assert run.items_per_second > 0
    assert run.summary().startswith("rouge_l: 1/2 items scored in ")


def test_it_scores_no_items():
    assert get_metric("perplexity").compute([], model="any/model") == []


def test_it_refuses_a_model_for_a_text_metric():
    with pytest.raises(MetricError, match="bleu: this metric takes no model"):
        get_metric("bleu").compute([MetricInput("p", "r", "r")], model="gpt2")


def test_it_asks_for_a_model_where_there_is_no_default():
    with pytest.raises(MetricError, match="perplexity: this metric needs a model"):
        get_metric("perplexity").compute([MetricInput("p", "r")])


def test_it_refuses_a_batch_size_below_one():
    with pytest.raises(MetricError, match="batch size"):
        get_metric("length").compute([MetricInput("p", "r")], batch_size=0)


def test_it_refuses_items_that_are_not_text():
    with pytest.raises(MetricError, match="length: item 2 is not a MetricInput of text"):
        get_metric("length").compute([MetricInput("p", "r"), MetricInput("p", None)])


def test_it_raises_instead_of_returning_nan():
    class Broken(TextMetric):
        name = "broken"

        def score(self, item):
            return math.nan

    with pytest.raises(MetricError, match="broken: got NaN for item 1"):
        Broken().compute([MetricInput("p", "r")])
