"""Paired comparison of two models on the prompts they share."""

from __future__ import annotations

from annotation.results.errors import ResultsError
from annotation.results.payloads import ComparePayload
from annotation.results.snapshot import StudyData
from scoring import significance
from scoring.errors import InputError

MEASURES = ("good_rate", "win_rate")
DEFAULT_RESAMPLES = 5000


def check_models(models, model_a: str, model_b: str, *, measure: str = "good_rate") -> None:
    """The one check of a comparison's parameters: both models in the study, two different
    models, a known measure. Raises `ResultsError` naming what is wrong."""
    names = set(models)
    for field, name in (("model_a", model_a), ("model_b", model_b)):
        if name not in names:
            raise ResultsError(f"no model '{name}' in this study", field=field)
    if model_a == model_b:
        raise ResultsError("choose two different models")
    if measure not in MEASURES:
        raise ResultsError(f"measure must be {' or '.join(MEASURES)}", field="measure")


def compare(
    data: StudyData,
    model_a: str,
    model_b: str,
    *,
    measure: str = "good_rate",
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    alpha: float = 0.05,
) -> ComparePayload:
    """Paired bootstrap of the difference between two models on shared prompts, and how many
    more prompts a significant result would take at the observed effect."""
    check_models(data.models, model_a, model_b, measure=measure)
    if measure == "good_rate":
        frame = data.labels
        kwargs = {"good_labels": set(data.good_labels)}
    else:
        frame = data.battles
        kwargs = {}
    try:
        comparison = significance.compare_models(
            frame,
            model_a=model_a,
            model_b=model_b,
            measure=measure,
            unit="prompt_id",
            resamples=resamples,
            rng=seed,
            alpha=alpha,
            **kwargs,
        ).to_dict()
    except (InputError, ArithmeticError) as exc:
        return {"model_a": model_a, "model_b": model_b, "measure": measure, "error": str(exc)}
    needed = comparison.pop("prompts_needed")
    return {**comparison, "needed": needed}  # type: ignore[typeddict-item]
