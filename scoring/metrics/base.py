"""What every metric shares: its input, its error, its result, and the `Metric` base class.

A metric scores a list of `MetricInput` and returns one value per item, in order: a float, or
None where the metric is undefined for that item (no reference, no bigrams, empty response).
NaN is never returned: a model that produces one raises `MetricError`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

Progress = Callable[[int, int], object]
"""Called as progress(done, total) with counts of items; the last call has done == total."""


class MetricError(Exception):
    """A metric cannot run: unknown name, bad model path or architecture, out of memory, ...

    The message is one line that names the metric or model path and the problem, fit to show
    to the user as it is; the underlying exception, if any, is chained as ``__cause__``.
    """


@dataclass(frozen=True)
class MetricInput:
    """One response to score.

    ``prompt`` is the prompt as text (a multi-turn conversation rendered to text is fine);
    ``reference`` is the prompt's reference answer, if it has one. A reference that is empty
    or only whitespace counts as no reference.
    """

    prompt: str
    response: str
    reference: str | None = None

    @property
    def has_reference(self) -> bool:
        return self.reference is not None and self.reference.strip() != ""


@dataclass(frozen=True)
class MetricRun:
    """The values of one metric run and how long it took.

    ``seconds`` is the scoring time and excludes ``load_seconds`` (reading the model, zero when
    it came from the in-process cache or the metric needs none), so ``items_per_second`` is
    the throughput of scoring itself.
    """

    metric: str
    values: list[float | None]
    seconds: float
    load_seconds: float = 0.0
    model: str | None = None
    device: str | None = None
    bf16: bool = False

    @property
    def n_items(self) -> int:
        return len(self.values)

    @property
    def n_scored(self) -> int:
        return sum(value is not None for value in self.values)

    @property
    def items_per_second(self) -> float:
        return self.n_items / self.seconds if self.seconds > 0 else math.inf

    def summary(self) -> str:
        """One line for a log or a command's output."""
        text = (
            f"{self.metric}: {self.n_scored}/{self.n_items} items scored in "
            f"{self.seconds:.2f} s ({self.items_per_second:.1f} items/s)"
        )
        if self.model is not None:
            text += f" with {self.model} on {self.device} (loaded in {self.load_seconds:.2f} s)"
        if self.bf16:
            text += ", bf16 autocast"
        return text


class Metric:
    """An automatic metric. Subclasses set the class attributes and implement `_values`.

    Attributes:
        name: the registry name, used on the command line and as a column name.
        description: one line for ``--help`` and pages.
        needs_reference: True when the value is None for items without a reference.
        needs_model: True when the metric runs a neural model (then ``model=`` picks it).
        default_model: the model used when ``model=`` is None (None: the metric needs a model
            given explicitly, or none at all).
        higher_is_better: True or False, or None where neither is better (length).
        default_batch_size: items (or texts) per forward pass when ``batch_size`` is None.
        supports_bf16: True when ``bf16=True`` is offered (its error is measured and
            documented in the metric's docstring); other metrics refuse it.
    """

    name: str = ""
    description: str = ""
    needs_reference: bool = False
    needs_model: bool = False
    higher_is_better: bool | None = None
    default_batch_size: int = 1000
    supports_bf16: bool = False

    @property
    def default_model(self) -> str | None:
        return None

    def __repr__(self) -> str:
        return f"<metric {self.name}>"

    def compute(
        self,
        items: Sequence[MetricInput],
        *,
        model: str | None = None,
        batch_size: int | None = None,
        device: str | None = None,
        progress: Progress | None = None,
        bf16: bool = False,
    ) -> list[float | None]:
        """Score ``items``; one float or None per item, in order. See `run` for the options."""
        return self.run(
            items, model=model, batch_size=batch_size, device=device, progress=progress, bf16=bf16
        ).values

    def run(
        self,
        items: Sequence[MetricInput],
        *,
        model: str | None = None,
        batch_size: int | None = None,
        device: str | None = None,
        progress: Progress | None = None,
        bf16: bool = False,
    ) -> MetricRun:
        """Score ``items`` and report the timing.

        Args:
            items: the responses to score.
            model: a local directory or hub name of the model to use (model-based metrics
                only); None uses `default_model`.
            batch_size: items per forward pass for model-based metrics (texts for
                embedding_similarity), items between progress reports for the others; None
                uses `default_batch_size`.
            device: a torch device such as ``"cpu"`` or ``"cuda:1"``; None picks CUDA when
                available, else the CPU.
            progress: called as ``progress(done, total)`` as items are scored.
            bf16: run the model under bfloat16 autocast (metrics with `supports_bf16` only):
                faster on GPUs and on CPUs with native bf16 (AVX512-BF16, AMX), slower on
                others; values move by the error the metric's docstring states.

        Raises:
            MetricError: the metric cannot run (see the message).
        """
        items = list(items)
        _check_items(self.name, items)
        batch_size = self.default_batch_size if batch_size is None else int(batch_size)
        if batch_size < 1:
            raise MetricError(f"{self.name}: batch size must be at least 1, got {batch_size}")
        if model is not None and not self.needs_model:
            raise MetricError(f"{self.name}: this metric takes no model (got {model!r})")
        model = str(model) if model is not None else self.default_model
        if self.needs_model and model is None:
            raise MetricError(f"{self.name}: this metric needs a model; pass its path")
        self.check_bf16(bf16)
        report = _Reporter(progress, len(items))
        report(0)
        if not items:
            return MetricRun(metric=self.name, values=[], seconds=0.0, model=model, bf16=bf16)
        started = time.perf_counter()
        try:
            # Only metrics that support bf16 take the keyword (and only when it is asked for).
            options = {"bf16": True} if bf16 else {}
            values, extra = self._values(items, model, batch_size, device, report, **options)
        except MetricError as exc:
            raise MetricError(f"{self.name}: {exc}") from exc
        seconds = time.perf_counter() - started
        report(len(items))
        load_seconds = extra.get("load_seconds", 0.0)
        _check_finite(self.name, model, values)
        return MetricRun(
            metric=self.name,
            values=values,
            seconds=max(seconds - load_seconds, 0.0),
            load_seconds=load_seconds,
            model=model,
            device=extra.get("device"),
            bf16=bf16,
        )

    def check_bf16(self, bf16: bool) -> None:
        """Raise `MetricError` when ``bf16`` is asked of a metric that does not offer it."""
        if bf16 and not self.supports_bf16:
            raise MetricError(f"{self.name}: this metric has no bf16 mode")

    def _values(
        self,
        items: list[MetricInput],
        model: str | None,
        batch_size: int,
        device: str | None,
        report: Callable[[int], None],
    ) -> tuple[list[float | None], dict]:
        """Return the values and a dict with optional ``load_seconds`` and ``device``."""
        raise NotImplementedError


class TextMetric(Metric):
    """A metric computed item by item from the text alone.

    Subclasses implement `score`, or `scorer` when they need set-up once per run.
    """

    def score(self, item: MetricInput) -> float | None:
        raise NotImplementedError

    def scorer(self) -> Callable[[MetricInput], float | None]:
        return self.score

    def _values(self, items, model, batch_size, device, report):
        score = self.scorer()
        values = []
        for start in range(0, len(items), batch_size):
            values.extend(score(item) for item in items[start : start + batch_size])
            report(len(values))
        return values, {}


class _Reporter:
    """Calls the user's progress callback, never twice with the same count."""

    def __init__(self, progress: Progress | None, total: int) -> None:
        self.progress, self.total, self.last = progress, total, -1

    def __call__(self, done: int) -> None:
        if self.progress is not None and done != self.last:
            self.last = done
            self.progress(done, self.total)


def _check_items(name: str, items: list) -> None:
    for position, item in enumerate(items):
        prompt, response = getattr(item, "prompt", None), getattr(item, "response", None)
        reference = getattr(item, "reference", None)
        if not (
            isinstance(prompt, str)
            and isinstance(response, str)
            and (reference is None or isinstance(reference, str))
        ):
            raise MetricError(
                f"{name}: item {position + 1} is not a MetricInput of text "
                "(prompt and response must be str, reference str or None)"
            )


def _check_finite(name: str, model: str | None, values: list[float | None]) -> None:
    for position, value in enumerate(values):
        if value is not None and math.isnan(value):
            source = f" with model {model}" if model else ""
            raise MetricError(f"{name}{source}: got NaN for item {position + 1}")
