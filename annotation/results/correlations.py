"""How well automatic metrics agree with the human scores, and the per-response scores table."""

from __future__ import annotations

from functools import cache, partial

import numpy as np
import pandas as pd

from annotation.results.agreement import RESULT_BOOTSTRAP
from annotation.results.parallel import Part, Split
from annotation.results.payloads import CorrelationsPayload, JsonRows
from annotation.results.snapshot import StudyData
from scoring import correlation, outcomes
from scoring.errors import InputError

HUMAN_COLUMNS = ["good_rate", "win_rate"]
# Columns of the `scores` table besides the metrics: no metric may shadow one
# (annotation.metric_runs.check_metric_name).
SCORE_COLUMNS = frozenset(
    {"response_id", "prompt_id", "model", "good_rate", "win_rate", "n_ratings", "n_battles"}
)


def response_scores(data: StudyData) -> pd.DataFrame:
    """One row per response: prompt_id, model, one column per automatic metric, and the
    human columns good_rate, win_rate, n_ratings, n_battles (DESIGN.md's `scores` table).

    win_rate counts a win as 1 and either kind of tie as 1/2 over the counted pairwise
    judgments the response took part in, good_rate is the share of its counted ratings in
    the study's good labels (both from `scoring.outcomes`); a response without any is
    NaN with a count of 0.
    """
    return _scores(data, with_ratings=True)


def _scores(data: StudyData, *, with_ratings: bool) -> pd.DataFrame:
    """`response_scores`; without ratings (which it then never reads): only prompt_id,
    model, the metrics, win_rate and n_battles, the same rows and values."""
    responses = data.responses[["response_id", "prompt_id", "model"]]
    metrics = data.metric_scores
    if len(metrics):
        wide = metrics.pivot(index="response_id", columns="metric", values="value")
        wide.columns = [str(c) for c in wide.columns]
        responses = responses.merge(wide, how="left", left_on="response_id", right_index=True)
    sides = outcomes.side_scores(
        data.battles, first="response_a_id", second="response_b_id", unit="response_id"
    )
    played = outcomes.mean_scores(sides, by="response_id").set_index("response_id")
    played = played.rename(columns={"n": "n_battles"})
    if with_ratings:
        labels = data.labels
        if data.good_labels:
            rated = outcomes.good_rates(labels["label"], labels["response_id"], data.good_labels)
        else:  # no label counts as good: the good rate is undefined, the ratings still count
            rated = labels.groupby("response_id").size().to_frame("n_ratings")
            rated["good_rate"] = float("nan")
        # A left merge on unique response ids: the rows stay those of `responses`.
        responses = responses.merge(rated, how="left", left_on="response_id", right_index=True)
    responses = responses.merge(
        played[["win_rate", "n_battles"]], how="left", left_on="response_id", right_index=True
    )
    responses["n_battles"] = responses["n_battles"].fillna(0).astype("int64")
    if not with_ratings:
        return responses[["prompt_id", "model", *data.metrics, "win_rate", "n_battles"]]
    responses["n_ratings"] = responses["n_ratings"].fillna(0).astype("int64")
    ordered = ["prompt_id", "model", *data.metrics, *HUMAN_COLUMNS, "n_ratings", "n_battles"]
    return responses[ordered]


def correlations(
    data: StudyData, *, bootstrap: int = RESULT_BOOTSTRAP, seed: int = 0
) -> CorrelationsPayload:
    """For each automatic metric: its correlation with the human scores at segment level
    (each response) and system level (per model), and its pairwise accuracy on the
    human preferences."""
    return correlations_split(data, bootstrap=bootstrap, seed=seed).compute()


def correlations_split(
    data: StudyData, *, bootstrap: int = RESULT_BOOTSTRAP, seed: int = 0
) -> Split:
    """`correlations` as independent parts, which a refresh may run in other processes
    (`annotation.results.parallel`): per metric, its correlations with each human score
    (each with its own seed), its pairwise accuracy and its scatter points."""

    @cache
    def scores() -> pd.DataFrame:  # shared by the parts run in one process
        return response_scores(data)

    @cache
    def win_scores() -> pd.DataFrame:  # reads no rating: the win rate part starts early
        return _scores(data, with_ratings=False)

    # Weights: seconds of CPU at 100,000 judgments (bench/bench_dashboard.py).
    parts = []
    for metric in data.metrics:
        parts += [
            Part(
                f"correlations: {metric} with {human}",
                partial(
                    _correlate,
                    win_scores if human == "win_rate" else scores,
                    metric,
                    human,
                    bootstrap=bootstrap,
                    seed=seed,
                ),
                0.7,
                early=human == "win_rate",
            )
            for human in HUMAN_COLUMNS
        ]
        parts.append(
            Part(f"correlations: {metric} pairs", partial(_pairs, data, metric), 0.1, early=True)
        )
        parts.append(
            Part(f"correlations: {metric} points", lambda m=metric: _points(scores(), m), 0.3)
        )
    return Split(tuple(parts), partial(_combine, data.metrics))


def _correlate(scores, metric: str, human: str, *, bootstrap: int, seed: int) -> dict:
    """One human score's correlation with `metric` at segment and system level."""
    frame = scores()[["prompt_id", "model", human, metric]].dropna()
    out = {}
    for level, by in (("segment", None), ("system", "model")):
        try:
            out[level] = correlation.correlate(
                frame, human=human, metric=metric, by=by, bootstrap=bootstrap, rng=seed
            ).to_dict()
        except (InputError, ArithmeticError, ValueError) as exc:
            out[level] = {"error": str(exc)}
    return out


def _pairs(data: StudyData, metric: str) -> dict | None:
    """The metric's pairwise accuracy on the human preferences (None without battles)."""
    battles = data.battles
    if not len(battles):
        return None
    values = data.metric_values(metric)
    pairs = pd.DataFrame(
        {
            "metric_a": battles["response_a_id"].map(values),
            "metric_b": battles["response_b_id"].map(values),
            "winner": battles["winner"],
        }
    ).dropna(subset=["metric_a", "metric_b"])
    try:
        return vars(correlation.pairwise_accuracy(pairs))
    except (InputError, ArithmeticError, ValueError) as exc:
        return {"error": str(exc)}


def _combine(metrics: list[str], values: list) -> CorrelationsPayload:
    """The payload from the parts' values (per metric: one per human score, pairs,
    points)."""
    out = []
    step = len(HUMAN_COLUMNS) + 2
    for i, metric in enumerate(metrics):
        *by_human, pairwise, points = values[i * step : (i + 1) * step]
        entry = {"metric": metric, "segment": {}, "system": {}}
        for human, levels in zip(HUMAN_COLUMNS, by_human, strict=True):
            for level, value in levels.items():
                entry[level][human] = value
        if pairwise is not None:
            entry["pairwise_accuracy"] = pairwise
        entry["points"] = points
        out.append(entry)
    return {"metrics": out}


def _points(scores: pd.DataFrame, metric: str) -> JsonRows:
    """The scatter points of one metric: model, good_rate, win_rate and the metric of each
    response that has it, JSON-ready (what ``to_dict(orient="records")`` and
    `store.clean` would give, built column by column: 40,000 rows at 100,000 judgments)."""
    columns = ["model", "good_rate", "win_rate", metric]
    kept = scores[columns].dropna(subset=[metric])
    values = [kept["model"].tolist(), *(_json_numbers(kept[c]) for c in columns[1:])]
    return JsonRows(dict(zip(columns, row, strict=True)) for row in zip(*values, strict=True))


def _json_numbers(column: pd.Series) -> list[float | None]:
    numbers = column.to_numpy(dtype=float)
    out: list[float | None] = numbers.tolist()
    for i in np.flatnonzero(~np.isfinite(numbers)):
        out[i] = None
    return out
