"""A study's results as JSON-ready dictionaries, computed by scoring/ and cached in the database.

Pages, the REST API and management commands all call these functions, so a
number on the dashboard, in the API and in a command's output is computed once,
the same way. Results are cached per study and recomputed when the study's
`results_version` moves (every vote, import or metric upload bumps it).
"""

from __future__ import annotations

import hashlib
import json
import math
import time
import warnings
from collections.abc import Callable

import numpy as np
import pandas as pd
from django.db import IntegrityError, transaction
from django.db.models import Count, Sum

from annotation import grader_stats, tables
from annotation.models import (
    Assignment,
    Judgment,
    MetricScore,
    ResultCache,
    Study,
    Task,
)
from scoring import agreement as agreement_stats
from scoring import correlation, rates, ratings, significance, slices
from scoring import judges as judge_stats
from scoring.errors import InputError, RatingWarning

DEFAULT_BOOTSTRAP = 1000


class ResultsError(ValueError):
    """A result that cannot be computed as asked (unknown model, too little data)."""


def clean(value):
    """Make numpy/pandas values JSON-safe: NaN and infinities become None."""
    if isinstance(value, dict):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean(v) for v in value]
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating | float):
        value = float(value)
        return None if math.isnan(value) or math.isinf(value) else value
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, pd.DataFrame):
        return clean(value.to_dict(orient="records"))
    return value


def cached(study: Study, key: str, compute: Callable[[], dict]) -> dict:
    """The cached payload for `key` if it belongs to the study's current data, else compute it."""
    version = Study.objects.values_list("results_version", flat=True).get(pk=study.pk)
    hit = (
        ResultCache.objects.filter(study=study, key=key, version=version)
        .values_list("payload", flat=True)
        .first()
    )
    if hit is not None:
        return hit
    start = time.perf_counter()
    payload = clean(compute())
    seconds = time.perf_counter() - start
    try:
        with transaction.atomic():
            ResultCache.objects.update_or_create(
                study=study,
                key=key,
                defaults={"version": version, "payload": payload, "seconds": seconds},
            )
    except IntegrityError:
        pass  # another process stored the same result at the same moment
    return payload


def _key(name: str, **params) -> str:
    if not params:
        return name
    digest = hashlib.sha1(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()[:16]
    return f"{name}:{digest}"


# --- leaderboard -------------------------------------------------------------------------


def leaderboard(study: Study, *, bootstrap: int = DEFAULT_BOOTSTRAP, seed: int = 0) -> dict:
    """Bradley-Terry ratings with bootstrap intervals and ranks, win rates, the
    Good-Result-Ratio and tag rates per model, and the win-rate matrix."""
    return cached(
        study,
        _key("leaderboard", bootstrap=bootstrap, seed=seed),
        lambda: _leaderboard(study, bootstrap, seed),
    )


def _leaderboard(study: Study, bootstrap: int, seed: int) -> dict:
    battles = tables.battles(study)
    all_ratings = tables.ratings(study)
    labels = tables.rated_labels(study, all_ratings)
    models = sorted(study.models.values_list("name", flat=True))
    rows = {m: {"model": m} for m in models}
    notes: list[str] = []
    matrix = None
    if len(battles):
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", RatingWarning)
                board = ratings.leaderboard(
                    battles[["model_a", "model_b", "winner"]], bootstrap=bootstrap, seed=seed
                )
            notes.extend(str(w.message) for w in caught if issubclass(w.category, RatingWarning))
        except (InputError, ArithmeticError) as exc:
            notes.append(f"ratings could not be computed: {exc}")
        else:
            for record in board.to_dict(orient="records"):
                rows[record["model"]].update(record)
            mats = ratings.battle_matrices(
                battles[["model_a", "model_b", "winner"]], board.set_index("model")["rating"]
            )
            order = [m for m in board["model"] if m in mats.observed.index]
            matrix = {
                "models": order,
                "observed": mats.observed.loc[order, order].to_numpy().tolist(),
                "counts": mats.counts.loc[order, order].to_numpy().tolist(),
                "predicted": mats.predicted.loc[order, order].to_numpy().tolist(),
            }
    if len(labels):
        grr = rates.good_result_ratio(labels, good_labels=set(study.good_labels))
        for record in grr.to_dict(orient="records"):
            rows[record["model"]].update(
                {
                    "grr": record["rate"],
                    "grr_ci_lower": record["ci_lower"],
                    "grr_ci_upper": record["ci_upper"],
                    "n_ratings": record["n"],
                }
            )
    if len(all_ratings) and study.tags:
        tag_table = rates.tag_rates(all_ratings, tag_set=study.tags)
        for record in tag_table.to_dict(orient="records"):
            rows[record["model"]].setdefault("tags", {})[record["tag"]] = {
                "rate": record["rate"],
                "ci_lower": record["ci_lower"],
                "ci_upper": record["ci_upper"],
                "n": record["n"],
            }
    ordered = sorted(
        rows.values(), key=lambda r: (-(r.get("rating") or -1e18), -(r.get("grr") or 0), r["model"])
    )
    return {
        "rows": ordered,
        "n_battles": int(len(battles)),
        "n_ratings": int(len(labels)),
        "bootstrap": bootstrap,
        "seed": seed,
        "confidence": 0.95,
        "good_labels": study.good_labels,
        "tags": study.tags,
        "matrix": matrix,
        "notes": notes,
    }


# --- agreement ----------------------------------------------------------------------------


# Bootstrap rounds for the agreement and correlation intervals on pages and in the API: enough
# for stable 95% percentile intervals, few enough that a 100,000-judgment study computes in
# seconds. The scoring CLI runs 1,000 by default on exported files.
RESULT_BOOTSTRAP = 300
MAX_COHEN_PAIRS = 300


def agreement(study: Study, *, bootstrap: int = RESULT_BOOTSTRAP, seed: int = 0) -> dict:
    """Agreement per question (verdict, rating, each tag) and per grader."""
    return cached(
        study,
        _key("agreement", bootstrap=bootstrap, seed=seed),
        lambda: _agreement(study, bootstrap, seed),
    )


def _question(
    name: str, table: pd.DataFrame, *, level: str, bootstrap: int, seed: int, value_order=None
) -> dict:
    base = {"question": name, "level": level}
    if table.empty or table["grader"].nunique() < 2:
        return {**base, "error": "needs judgments from at least two graders on the same items"}
    try:
        result = agreement_stats.agreement(
            table, level=level, bootstrap=bootstrap, seed=seed, value_order=value_order
        )
    except (InputError, ArithmeticError) as exc:
        return {**base, "error": str(exc)}
    payload = {**base, **result.to_dict()}
    kappas = result.cohen_kappas
    payload["cohen_kappa_pairs"] = len(kappas)
    payload["cohen_kappa_median"] = float(kappas["kappa"].median()) if len(kappas) else None
    if len(kappas) > MAX_COHEN_PAIRS:
        # Hundreds of graders make tens of thousands of pairs: keep the best-supported ones.
        payload["cohen_kappas"] = kappas.nlargest(MAX_COHEN_PAIRS, "n").to_dict(orient="records")
    return payload


def _agreement(study: Study, bootstrap: int, seed: int) -> dict:
    rated = tables.ratings(study)
    questions = [
        _question(
            "verdict",
            tables.verdict_agreement_table(study),
            level="nominal",
            bootstrap=bootstrap,
            seed=seed,
        ),
        _question(
            "rating",
            tables.rating_agreement_table(rated),
            level="ordinal",
            bootstrap=bootstrap,
            seed=seed,
            value_order=study.rating_scale,
        ),
    ]
    for tag in study.tags:
        questions.append(
            _question(
                f"tag: {tag}",
                tables.tag_agreement_table(rated, tag),
                level="nominal",
                bootstrap=bootstrap,
                seed=seed,
            )
        )
    per_grader = {
        row["grader"]: {
            "grader": row["grader"],
            "agreement_with_majority": row.get("agreement_with_majority"),
        }
        for row in next(
            (q.get("per_grader") or [] for q in questions if q["question"] == "verdict"), []
        )
    }
    for username, kind, n in (
        Judgment.objects.filter(task__study=study, task__is_gold=False)
        .values_list("grader__username", "grader__kind")
        .annotate(n=Count("pk"))
    ):
        row = per_grader.setdefault(username, {"grader": username})
        row.update({"kind": kind, "judgments": n})
    for quality in grader_stats.for_study(study).select_related("grader"):
        row = per_grader.setdefault(quality.grader.username, {"grader": quality.grader.username})
        row.update(
            {
                "gold_seen": quality.gold_seen,
                "gold_accuracy": quality.gold_accuracy,
                "median_seconds": quality.median_seconds,
                "tie_share": quality.tie_share,
            }
        )
    return {
        "questions": questions,
        "graders": sorted(per_grader.values(), key=lambda r: r["grader"]),
    }


# --- AI judges against humans -------------------------------------------------------------


def judges(study: Study) -> dict:
    """Each model judge's agreement with the human graders, with and without ties
    (MT-Bench's setups S1 and S2), the humans' agreement among themselves for
    reference, and a committee of all model judges voting by majority."""
    return cached(study, "judges", lambda: _judges(study))


def _judges(study: Study) -> dict:
    votes = tables.all_verdict_votes(study)
    humans = set(votes.loc[votes["kind"] == "human", "grader"])
    model_judges = sorted(set(votes.loc[votes["kind"] == "model_judge", "grader"]))
    rows = []

    def row(name, table, raters, kind):
        with_ties = judge_stats.vote_agreement(table, raters, humans, ties=True)
        without = judge_stats.vote_agreement(table, raters, humans, ties=False)
        return {
            "judge": name,
            "kind": kind,
            "agreement_with_ties": with_ties.agreement,
            "pairs_with_ties": with_ties.pairs,
            "agreement_without_ties": without.agreement,
            "pairs_without_ties": without.pairs,
            "items": with_ties.items,
        }

    if humans:
        rows.append(row("humans (with each other)", votes, humans, "human"))
    for judge in model_judges:
        rows.append(row(judge, votes, {judge}, "model_judge"))
    if len(model_judges) >= 2:
        committee = judge_stats.committee_votes(votes, model_judges, name="committee of judges")
        rows.append(
            row(
                "committee of judges",
                pd.concat([votes, committee], ignore_index=True),
                {"committee of judges"},
                "committee",
            )
        )
    return {"humans": len(humans), "model_judges": model_judges, "rows": rows}


# --- significance ---------------------------------------------------------------------------


def compare(
    study: Study,
    model_a: str,
    model_b: str,
    *,
    measure: str = "good_rate",
    resamples: int = 5000,
    seed: int = 0,
    alpha: float = 0.05,
) -> dict:
    """Paired bootstrap of the difference between two models on shared prompts, and how many
    more prompts a significant result would take at the observed effect."""
    names = set(study.models.values_list("name", flat=True))
    for name in (model_a, model_b):
        if name not in names:
            raise ResultsError(f"no model '{name}' in study '{study.slug}'")
    if model_a == model_b:
        raise ResultsError("choose two different models")
    if measure not in ("good_rate", "win_rate"):
        raise ResultsError("measure must be good_rate or win_rate")
    key = _key(
        "compare",
        a=model_a,
        b=model_b,
        measure=measure,
        resamples=resamples,
        seed=seed,
        alpha=alpha,
    )
    return cached(
        study, key, lambda: _compare(study, model_a, model_b, measure, resamples, seed, alpha)
    )


def _compare(study, model_a, model_b, measure, resamples, seed, alpha) -> dict:
    if measure == "good_rate":
        frame = tables.rated_labels(study)
        kwargs = {"good_labels": set(study.good_labels)}
    else:
        frame = tables.battles(study)
        kwargs = {}
    try:
        result, estimate = significance.compare_models(
            frame,
            model_a=model_a,
            model_b=model_b,
            measure=measure,
            unit="prompt_id",
            resamples=resamples,
            seed=seed,
            alpha=alpha,
            **kwargs,
        )
    except (InputError, ArithmeticError) as exc:
        return {"model_a": model_a, "model_b": model_b, "measure": measure, "error": str(exc)}
    return {
        "model_a": model_a,
        "model_b": model_b,
        "measure": measure,
        "alpha": alpha,
        "significant": result.p_value < alpha,
        **{f"{k}": v for k, v in vars(result).items()},
        "needed": vars(estimate),
    }


# --- slices ----------------------------------------------------------------------------------


def _win_scores(battles: pd.DataFrame) -> pd.DataFrame:
    score_a = battles["winner"].map(
        {"model_a": 1.0, "model_b": 0.0, "tie": 0.5, "tie (bothbad)": 0.5}
    )
    extra = [c for c in battles.columns if c not in ("model_a", "model_b", "winner")]
    side_a = battles[extra].assign(model=battles["model_a"], score=score_a)
    side_b = battles[extra].assign(model=battles["model_b"], score=1 - score_a)
    return pd.concat([side_a, side_b], ignore_index=True)


def _mean_score(frame: pd.DataFrame) -> pd.DataFrame:
    grouped = frame.groupby("model")["score"].agg(["mean", "size"]).reset_index()
    return grouped.rename(columns={"mean": "win_rate", "size": "n"})


def slice_results(study: Study, *, threshold: float = slices.DEFAULT_THRESHOLD) -> dict:
    """Win rate and Good-Result-Ratio per model in each slice of each prompt metadata
    column (and a prompt-length bucket), with parity gaps flagged above `threshold`."""
    return cached(study, _key("slices", threshold=threshold), lambda: _slices(study, threshold))


def _slices(study: Study, threshold: float) -> dict:
    battles = tables.battles(study)
    labels = tables.rated_labels(study)
    for frame in (battles, labels):
        if len(frame):
            frame["prompt_length"] = slices.length_buckets(frame["prompt_chars"]).astype(str)
    columns = sorted(
        set(tables.metadata_columns(battles))
        | set(tables.metadata_columns(labels))
        | {"prompt_length"}
    )
    out = []
    good = set(study.good_labels)
    for column in columns:
        entry = {"column": column}
        if len(battles) and column in battles:
            result = slices.by_slice(
                _win_scores(battles), column, _mean_score, value="win_rate", threshold=threshold
            )
            entry["win_rate"] = {"table": result.table, "gaps": result.gaps}
        if len(labels) and column in labels:
            result = slices.by_slice(
                labels,
                column,
                lambda d: rates.good_result_ratio(d, good_labels=good),
                value="rate",
                threshold=threshold,
            )
            entry["grr"] = {"table": result.table, "gaps": result.gaps}
        if len(entry) > 1:
            out.append(entry)
    return {"threshold": threshold, "slices": out}


# --- correlation with automatic metrics ------------------------------------------------------


def correlations(study: Study, *, bootstrap: int = RESULT_BOOTSTRAP, seed: int = 0) -> dict:
    """For each automatic metric: its correlation with the human scores at segment level
    (each response) and system level (per model), and its pairwise accuracy on the
    human preferences."""
    return cached(
        study,
        _key("correlations", bootstrap=bootstrap, seed=seed),
        lambda: _correlations(study, bootstrap, seed),
    )


def _correlations(study: Study, bootstrap: int, seed: int) -> dict:
    scores = tables.response_scores(study)
    human_columns = ["good_rate", "win_rate"]
    metric_columns = [
        c
        for c in scores.columns
        if c not in ("prompt_id", "model", "n_ratings", "n_battles", *human_columns)
    ]
    battles = tables.battles(study)
    out = []
    for metric in metric_columns:
        entry = {"metric": metric, "segment": {}, "system": {}}
        for human in human_columns:
            frame = scores[["prompt_id", "model", human, metric]].dropna()
            for level, by in (("segment", None), ("system", "model")):
                try:
                    entry[level][human] = correlation.correlate(
                        frame, human=human, metric=metric, by=by, bootstrap=bootstrap, seed=seed
                    )
                except (InputError, ArithmeticError, ValueError) as exc:
                    entry[level][human] = {"error": str(exc)}
        if len(battles):
            values = dict(
                MetricScore.objects.filter(
                    response__prompt__study=study, metric=metric
                ).values_list("response_id", "value")
            )
            b = pd.DataFrame(
                {
                    "metric_a": battles["response_a_id"].map(values),
                    "metric_b": battles["response_b_id"].map(values),
                    "winner": battles["winner"],
                }
            ).dropna(subset=["metric_a", "metric_b"])
            try:
                entry["pairwise_accuracy"] = vars(correlation.pairwise_accuracy(b))
            except (InputError, ArithmeticError, ValueError) as exc:
                entry["pairwise_accuracy"] = {"error": str(exc)}
        frame = scores[["model", "good_rate", "win_rate", metric]]
        entry["points"] = frame.dropna(subset=[metric]).to_dict(orient="records")
        out.append(entry)
    return {"metrics": out}


# --- progress ------------------------------------------------------------------------------


def progress(study: Study) -> dict:
    """How far the study has come: slots filled, per grader, per model, per slice."""
    return cached(study, "progress", lambda: _progress(study))


def _progress(study: Study) -> dict:
    tasks = Task.objects.filter(study=study, is_gold=False)
    total_tasks = tasks.count()
    judged = Judgment.objects.filter(task__study=study, task__is_gold=False)
    filled = tables.human_judgments(study).count()  # model judges fill no human slots
    per_grader = list(
        judged.values("grader__username", "grader__kind")
        .annotate(judgments=Count("pk"))
        .order_by("-judgments")
    )
    active = dict(
        Assignment.objects.filter(task__study=study, status="active")
        .values_list("grader__username")
        .annotate(n=Count("pk"))
    )
    for row in per_grader:
        row["grader"] = row.pop("grader__username")
        row["kind"] = row.pop("grader__kind")
        row["active"] = active.get(row["grader"], 0)
    battles = tables.battles(study)
    labels = tables.rated_labels(study)
    per_model = {
        m: {"model": m, "battles": 0, "ratings": 0}
        for m in study.models.values_list("name", flat=True)
    }
    for column in ("model_a", "model_b"):
        for model, n in battles[column].value_counts().items():
            per_model[model]["battles"] += int(n)
    for model, n in labels["model"].value_counts().items():
        per_model[model]["ratings"] += int(n)
    per_slice = []
    for column in tables.metadata_columns(battles):
        counts = battles[column].astype(str).value_counts().sort_index()
        per_slice.append({"column": column, "counts": {k: int(v) for k, v in counts.items()}})
    wanted = total_tasks * study.overlap
    return {
        "tasks": total_tasks,
        "overlap": study.overlap,
        "slots": wanted,
        "judgments": filled,
        "slots_taken": tasks.aggregate(n=Sum("slots_taken"))["n"] or 0,
        "percent": round(100 * min(filled, wanted) / wanted, 1) if wanted else 0.0,
        "graders": per_grader,
        "models": sorted(per_model.values(), key=lambda r: r["model"]),
        "slices": per_slice,
    }
