"""The metrics by name, as the command line and the database know them."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from .base import Metric, MetricError
from .embedding import EmbeddingSimilarity
from .overlap import Bleu, Chrf, RougeL
from .perplexity import Perplexity
from .reward import Reward
from .text import Distinct2, Length, LengthTokens, RepeatRate

REGISTRY: Mapping[str, Metric] = MappingProxyType(
    {
        metric.name: metric
        for metric in (
            Length(),
            LengthTokens(),
            RepeatRate(),
            Distinct2(),
            Bleu(),
            Chrf(),
            RougeL(),
            EmbeddingSimilarity(),
            Perplexity(),
            Reward(),
        )
    }
)


def metric_names() -> list[str]:
    """The registered metric names, cheap text metrics first."""
    return list(REGISTRY)


def get_metric(name: str) -> Metric:
    """The metric called ``name``; `MetricError` naming the known ones if there is none."""
    try:
        return REGISTRY[name]
    except KeyError:
        known = ", ".join(REGISTRY)
        raise MetricError(f"unknown metric {name!r}; known metrics: {known}") from None
