"""Automatic metrics of model responses, by name, for the app and its command line.

Cheap text metrics (``length``, ``length_tokens``, ``repeat_rate``, ``distinct_2``),
reference-based ones (``bleu``, ``chrf``, ``rouge_l``, ``embedding_similarity``) and
model-based ones on torch + transformers (``embedding_similarity``, ``perplexity``,
``reward``). torch, transformers and sacrebleu are imported only when a metric that needs
them runs, so importing this package is cheap and works without them.

    >>> from scoring.metrics import MetricInput, get_metric
    >>> get_metric("distinct_2").compute([MetricInput("Hi?", "a b a b")])
    [0.6666666666666666]

`Metric.run` also reports the time taken (`MetricRun.summary()`); every failure a user can
cause raises `MetricError` with a one-line message.
"""

from .base import Metric, MetricError, MetricInput, MetricRun, Progress
from .models import clear_cache
from .registry import REGISTRY, get_metric, metric_names

__all__ = [
    "REGISTRY",
    "Metric",
    "MetricError",
    "MetricInput",
    "MetricRun",
    "Progress",
    "clear_cache",
    "get_metric",
    "metric_names",
]
