"""Ties modelled and style controlled: the Davidson (1970) leaderboard with its tie parameter,
and the Bradley-Terry fit with covariates for length and Markdown ("style control").

Both read the counted verdicts of the snapshot; style control also reads each response's
length and Markdown counts (`StudyData.styles`). The statistics are `scoring.davidson` and
`scoring.style`'s; this module only picks the tables and says in words where the data are
too thin for a number.
"""

from __future__ import annotations

import warnings

import pandas as pd

from annotation.results.payloads import DavidsonPayload, StylePayload
from annotation.results.snapshot import StudyData
from scoring import davidson, style
from scoring.errors import InputError, RatingWarning

DEFAULT_BOOTSTRAP = 1000
CONFIDENCE = 0.95
# Fewer ties than this give a tie parameter, but one to read with care.
FEW_TIES = 10
# Style control estimates a coefficient per feature besides the ratings: below this many
# verdicts the coefficients are noise and are not shown.
MIN_STYLE_BATTLES = 100
STYLE_CONTROLS = ("length", "markdown")


def _battle_table(data: StudyData) -> pd.DataFrame:
    return data.battles[["model_a", "model_b", "winner"]]


def _record(caught) -> list[str]:
    return [str(w.message) for w in caught if issubclass(w.category, RatingWarning)]


def davidson_leaderboard(
    data: StudyData, *, bootstrap: int = DEFAULT_BOOTSTRAP, seed: int = 0
) -> DavidsonPayload:
    """Davidson ratings (Elo scale, the plain leaderboard's rules for ranks and flags) with
    bootstrap intervals, and the tie parameter nu with its interval."""
    out: DavidsonPayload = {
        "rows": [],
        "n_battles": int(len(data.battles)),
        "n_ties": int(data.battles["winner"].str.startswith("tie").sum())
        if len(data.battles)
        else 0,
        "tie_parameter": None,
        "tie_ci_lower": None,
        "tie_ci_upper": None,
        "tie_probability_equal": None,
        "bootstrap": bootstrap,
        "confidence": CONFIDENCE,
        "notes": [],
    }
    if not len(data.battles):
        out["notes"].append("no pairwise verdicts yet")
        return out
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", RatingWarning)
            board = davidson.davidson_leaderboard(
                _battle_table(data), bootstrap=bootstrap, seed=seed, confidence=CONFIDENCE
            )
        out["notes"].extend(_record(caught))
    except (InputError, ArithmeticError) as exc:
        out["notes"].append(f"the Davidson ratings could not be computed: {exc}")
        return out
    out["rows"] = board.table.to_dict(orient="records")
    out.update(
        tie_parameter=board.tie_parameter,
        tie_ci_lower=board.tie_ci_lower,
        tie_ci_upper=board.tie_ci_upper,
        tie_probability_equal=board.tie_probability_equal,
    )
    if out["n_ties"] == 0:
        out["notes"].append(
            "no tie among the verdicts: the tie parameter is 0 and these are the "
            "Bradley-Terry ratings of the decisive verdicts"
        )
    elif out["n_ties"] < FEW_TIES:
        out["notes"].append(
            f"only {out['n_ties']} ties: the tie parameter rests on few votes (read its interval)"
        )
    return out


def style_features(data: StudyData, battles: pd.DataFrame) -> pd.DataFrame:
    """The normalised style differences of each battle (`scoring.style.style_features`), from
    the responses' counts in the snapshot."""
    counts = data.responses.merge(data.styles, on="response_id", how="inner")
    styles = counts.rename(columns={"prompt_id": "question_id"})[
        ["question_id", "model", *style.FEATURES]
    ]
    table = pd.DataFrame(
        {
            "question_id": battles["prompt_id"].to_numpy(),
            "model_a": battles["model_a"].to_numpy(),
            "model_b": battles["model_b"].to_numpy(),
        }
    )
    return style.style_features(table, styles, controls=STYLE_CONTROLS)


def style_control(data: StudyData) -> StylePayload:
    """Ratings controlled for length and Markdown (headers, lists, bold), the style
    coefficients with cluster-robust Wald intervals (the votes on one task are a cluster),
    and each model's uncontrolled rating beside its controlled one."""
    battles = data.battles
    out: StylePayload = {
        "rows": [],
        "coefficients": [],
        "n_battles": int(len(battles)),
        "min_battles": MIN_STYLE_BATTLES,
        "features": list(style.FEATURES),
        "dropped_features": [],
        "confidence": CONFIDENCE,
        "interval": "Wald, cluster-robust sandwich (votes on one task are one cluster)",
        "notes": [],
    }
    if len(battles) < MIN_STYLE_BATTLES:
        out["notes"].append(
            f"{len(battles)} pairwise verdicts: too few for style control "
            f"(it needs {MIN_STYLE_BATTLES})"
        )
        return out
    try:
        features = style_features(data, battles)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", RatingWarning)
            fit = style.style_control(
                _battle_table(data),
                features,
                confidence=CONFIDENCE,
                cluster=battles["task_id"].to_numpy(),
            )
        out["notes"].extend(_record(caught))
    except (InputError, ArithmeticError, ValueError) as exc:
        out["notes"].append(f"style control could not be computed: {exc}")
        return out
    out["rows"] = fit.leaderboard.to_dict(orient="records")
    out["coefficients"] = fit.coefficients.to_dict(orient="records")
    out["dropped_features"] = list(fit.dropped_features)
    return out
