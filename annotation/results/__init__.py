"""A study's results, computed by scoring/ from one snapshot of its data and stored in the
database, so a number on the dashboard, in the API, in a command and in the model card is
computed once, the same way.

Modules: `snapshot` (the only database-to-DataFrame code: `StudyData`), one pure module per
result (`leaderboard`, `agreement` with `judges`, `compare`, `slices`, `correlations` with
the per-response `response_scores` table, `progress`), `payloads` (their JSON shapes),
`version` (data versions a vote moves without writing a shared row) and `store`
(storage, the background recomputation and the two read policies).

The functions below are the public entry points. Each takes a Study and returns a
JSON-ready payload for the data as it is now (the "current" policy of `store`),
computing it if the stored one is older; `latest` and `latest_result` serve the last
computed results without computing during grading (the dashboard's and the API's policy).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pandas as pd

from annotation.models import Study
from annotation.results import background, snapshot
from annotation.results import compare as _compare
from annotation.results import correlations as _correlations
from annotation.results import position as _position
from annotation.results.agreement import RESULT_BOOTSTRAP
from annotation.results.correlations import SCORE_COLUMNS
from annotation.results.errors import ResultsError
from annotation.results.leaderboard import DEFAULT_BOOTSTRAP
from annotation.results.payloads import (
    AgreementPayload,
    ComparePayload,
    CorrelationsPayload,
    DashboardPayload,
    JudgesPayload,
    LeaderboardPayload,
    ProgressPayload,
    SlicesPayload,
)
from annotation.results.slices import DEFAULT_THRESHOLD
from annotation.results.snapshot import StudyData
from annotation.results.store import (
    DASHBOARD,
    DEFAULTS,
    Freshness,
    check,
    clean,
    refresh,
    refresh_results,
    result_key,
    save_results,
    stored,
)
from annotation.results.version import data_version, watermark

__all__ = [
    "DEFAULT_BOOTSTRAP",
    "DEFAULT_THRESHOLD",
    "RESULT_BOOTSTRAP",
    "SCORE_COLUMNS",
    "Freshness",
    "ResultsError",
    "StudyData",
    "agreement",
    "cached",
    "cached_chart",
    "check_compare",
    "compare",
    "correlations",
    "judges",
    "latest",
    "latest_result",
    "leaderboard",
    "progress",
    "refresh",
    "refresh_results",
    "response_scores",
    "slice_results",
    "swap_consistency",
    "watermark",
    "davidson",
    "grader_checks",
    "style_control",
    "position_bias",
    "rating_consistency",
    "tag_effects",
]


def _current(study: Study, name: str, fn: Callable, params: dict) -> dict:
    """The result `name` with `params` for the data as it is now (see `store`)."""
    version = data_version(study)
    key = result_key(name, **params)
    row = stored(study, key)
    if row is not None and row.version == version:
        return row.payload
    if name in DEFAULTS and params == DEFAULTS[name][1]:
        refresh(study)
        row = stored(study, key)
        if row is not None:
            return row.payload
    started = time.perf_counter()
    payload = clean(fn(snapshot.load(study, version=version), **params))
    save_results(study.pk, version, {key: payload}, {key: time.perf_counter() - started})
    return payload


def leaderboard(
    study: Study, *, bootstrap: int = DEFAULT_BOOTSTRAP, seed: int = 0
) -> LeaderboardPayload:
    """Bradley-Terry ratings with bootstrap intervals and ranks, win rates, the
    Good-Result-Ratio and tag rates per model, and the win-rate matrix."""
    fn = DEFAULTS["leaderboard"][0]
    return _current(study, "leaderboard", fn, {"bootstrap": bootstrap, "seed": seed})


def agreement(
    study: Study, *, bootstrap: int = RESULT_BOOTSTRAP, seed: int = 0
) -> AgreementPayload:
    """Agreement per question (verdict, rating, each tag) and per grader."""
    fn = DEFAULTS["agreement"][0]
    return _current(study, "agreement", fn, {"bootstrap": bootstrap, "seed": seed})


def judges(study: Study) -> JudgesPayload:
    """Each model judge's agreement with the human graders (MT-Bench's S1 and S2), the
    humans among themselves, and a committee of the model judges."""
    return _current(study, "judges", DEFAULTS["judges"][0], {})


def slice_results(study: Study, *, threshold: float = DEFAULT_THRESHOLD) -> SlicesPayload:
    """Win rate and Good-Result-Ratio per model in each slice of the prompts' metadata,
    with parity gaps flagged above `threshold`."""
    return _current(study, "slices", DEFAULTS["slices"][0], {"threshold": threshold})


def correlations(
    study: Study, *, bootstrap: int = RESULT_BOOTSTRAP, seed: int = 0
) -> CorrelationsPayload:
    """Each automatic metric against the human scores (segment and system level) and its
    pairwise accuracy on the human preferences."""
    fn = DEFAULTS["correlations"][0]
    return _current(study, "correlations", fn, {"bootstrap": bootstrap, "seed": seed})


def swap_consistency(study: Study) -> _position.SwapConsistencyPayload:
    """Each grader's self-consistency on tasks re-served to them with the sides swapped
    (`Study.repeat_fraction`), pooled per kind of grader."""
    return _current(study, "swap_consistency", _position.swap_consistency, {})


def progress(study: Study) -> ProgressPayload:
    """Slots filled, per grader, per model and per slice."""
    return _current(study, "progress", DEFAULTS["progress"][0], {})


def davidson(study: Study) -> dict:
    """Davidson (1970) ratings with the tie parameter (`results.ties`)."""
    fn, params = DEFAULTS["davidson"]
    return _current(study, "davidson", fn, params)


def grader_checks(study: Study) -> dict:
    """Implausibly fast graders and agreement per pair of graders
    (`results.grader_checks`)."""
    return _current(study, "grader_checks", DEFAULTS["grader_checks"][0], {})


def style_control(study: Study) -> dict:
    """Ratings controlled for length and Markdown, with the style coefficients (computed
    here if the stored ones are older; pages use `background.slow_results`)."""
    return background.current(study, "style")


def position_bias(study: Study) -> dict:
    """Left-side share per grader and model judge, and swap consistency."""
    return background.current(study, "position")


def rating_consistency(study: Study) -> dict:
    """Verdicts that contradict the grader's own ratings, and preference cycles."""
    return background.current(study, "consistency")


def tag_effects(study: Study) -> dict:
    """Which tags predict losing a battle, per study and per slice."""
    return background.current(study, "tag_effects")


def check_compare(study: Study, model_a: str, model_b: str, *, measure: str = "good_rate") -> None:
    """Raise `ResultsError` unless both models are in the study, different, and the
    measure is known: the one place this rule is checked."""
    models = study.models.values_list("name", flat=True)
    _compare.check_models(models, model_a, model_b, measure=measure)


def compare(
    study: Study,
    model_a: str,
    model_b: str,
    *,
    measure: str = "good_rate",
    resamples: int = _compare.DEFAULT_RESAMPLES,
    seed: int = 0,
    alpha: float = 0.05,
) -> ComparePayload:
    """Paired bootstrap of model_a - model_b on their shared prompts, and how many more
    prompts a significant result would take. Raises `ResultsError` for bad parameters."""
    check_compare(study, model_a, model_b, measure=measure)
    params = {
        "model_a": model_a,
        "model_b": model_b,
        "measure": measure,
        "resamples": resamples,
        "seed": seed,
        "alpha": alpha,
    }

    def fn(data: StudyData, **kwargs) -> ComparePayload:
        return _compare.compare(data, kwargs.pop("model_a"), kwargs.pop("model_b"), **kwargs)

    return _current(study, "compare", fn, params)


def response_scores(study: Study | StudyData) -> pd.DataFrame:
    """The per-response `scores` table (prompt_id, model, metrics, good_rate, win_rate,
    n_ratings, n_battles) of a study's current data, or of a snapshot."""
    data = study if isinstance(study, StudyData) else snapshot.load(study)
    return _correlations.response_scores(data)


def latest(study: Study) -> tuple[DashboardPayload, Freshness]:
    """The dashboard's results as last computed and how fresh they are; computes only when
    nothing was ever computed or no worker took an overdue recomputation."""
    freshness = check(study)
    row = stored(study, DASHBOARD)
    if row is None:  # another request is computing them for the first time: do it here too
        refresh(study)
        freshness = check(study)
        row = stored(study, DASHBOARD)
    return row.payload, freshness


def latest_result(study: Study, name: str, **params) -> tuple[dict, Freshness | None]:
    """One result for the API: with its default parameters the last computed one (as
    `latest`); with other parameters the current one (freshness None)."""
    fn, defaults = DEFAULTS[name]
    params = {**defaults, **params}
    if params != defaults:
        return _current(study, name, fn, params), None
    freshness = check(study)
    row = stored(study, result_key(name, **params))
    if row is None:  # another request is computing them for the first time: do it here too
        refresh(study)
        freshness = check(study)
        row = stored(study, result_key(name, **params))
    return row.payload, freshness


def cached_chart(study: Study, name: str, version: str, draw: Callable[[], str]) -> str:
    """A chart's SVG drawn from results of data version `version`, drawn once per version."""
    key = f"chart:{name}"
    row = stored(study, key)
    if row is not None and row.version == version:
        return row.payload["svg"]
    started = time.perf_counter()
    svg = draw()
    save_results(study.pk, version, {key: {"svg": svg}}, {key: time.perf_counter() - started})
    return svg


def cached(study: Study, key: str, compute: Callable[[], dict], *, version: str = "") -> dict:
    """A payload derived from the study's data (grader checks, filter choices), stored under
    `key` and computed again only when `version` (default: the exact data version) moves."""
    version = version or data_version(study)
    row = stored(study, key)
    if row is not None and row.version == version:
        return row.payload
    started = time.perf_counter()
    payload = clean(compute())
    save_results(study.pk, version, {key: payload}, {key: time.perf_counter() - started})
    return payload
