"""The leaderboard: Bradley-Terry ratings with bootstrap intervals and ranks, win rates,
the Good-Result-Ratio and tag rates per model, and the win-rate matrix."""

from __future__ import annotations

import warnings

from annotation.results.payloads import LeaderboardPayload
from annotation.results.snapshot import StudyData
from scoring import rates, ratings
from scoring.errors import InputError, RatingWarning

DEFAULT_BOOTSTRAP = 1000
CONFIDENCE = 0.95


def leaderboard(
    data: StudyData, *, bootstrap: int = DEFAULT_BOOTSTRAP, seed: int = 0
) -> LeaderboardPayload:
    """The study's leaderboard from its counted verdicts and ratings; models without
    verdicts or ratings still get a row. Sorted by rating, then GRR, then name."""
    battles = data.battles
    labels = data.labels
    rows: dict[str, dict] = {m: {"model": m} for m in sorted(data.models)}
    notes: list[str] = []
    matrix = None
    if len(battles):
        table = battles[["model_a", "model_b", "winner"]]
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", RatingWarning)
                board = ratings.leaderboard(table, bootstrap=bootstrap, rng=seed).table
            notes.extend(str(w.message) for w in caught if issubclass(w.category, RatingWarning))
        except (InputError, ArithmeticError) as exc:
            notes.append(f"ratings could not be computed: {exc}")
        else:
            for record in board.to_dict(orient="records"):
                rows[record["model"]].update(record)
            mats = ratings.battle_matrices(table, board.set_index("model")["rating"])
            order = [m for m in board["model"] if m in mats.observed.index]
            matrix = {
                "models": order,
                "observed": mats.observed.loc[order, order].to_numpy().tolist(),
                "counts": mats.counts.loc[order, order].to_numpy().tolist(),
                "predicted": mats.predicted.loc[order, order].to_numpy().tolist(),
            }
    if len(labels) and data.good_labels:
        grr = rates.good_result_ratio(
            labels, good_labels=set(data.good_labels), cluster="response_id"
        )
        for record in grr.to_dict(orient="records"):
            rows[record["model"]].update(
                {
                    "grr": record["rate"],
                    "grr_ci_lower": record["ci_lower"],
                    "grr_ci_upper": record["ci_upper"],
                    "n_ratings": record["n"],
                }
            )
    if len(data.ratings) and data.tags:
        tag_table = rates.tag_rates(data.ratings, tag_set=list(data.tags))
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
        "confidence": CONFIDENCE,
        "good_labels": list(data.good_labels),
        "tags": list(data.tags),
        "matrix": matrix,
        "notes": notes,
    }
