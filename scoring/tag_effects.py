"""Tag analytics: which tags predict losing a battle.

For each decisive pairwise judgment (ties and "both bad" left out: they have no loser) the
outcome is modelled by a logistic regression on the difference of the two sides' tags,
alongside Bradley-Terry strengths of the two models (so that a tag is not blamed for the
weakness of the models that tend to get it):

    logit P(response a wins) = theta_model_a - theta_model_b - sum_t beta_t (x_a,t - x_b,t),

with x_side,t = 1 when the grader put tag t on that side's response. beta_t is the log-odds
of losing that tag t adds (positive: the tag predicts losing); exp(beta_t) is the odds ratio.
Swapping the sides of a battle negates both sides of the equation, so no first-side effect
enters. ``control_models=False`` leaves the strengths out (the marginal association).

Tags are often rare and sometimes appear only on losers (a "harmful" response never wins),
which makes the maximum-likelihood estimate infinite (complete separation). The fit is
therefore Firth's (1993) bias-reduced logistic regression ("Bias reduction of maximum
likelihood estimates", Biometrika 80), which maximises the penalised log-likelihood
l*(beta) = l(beta) + 1/2 log det I(beta) and stays finite under separation; intervals and
p-values come from the profile of that penalised likelihood (Heinze & Schemper 2002, "A
solution to the problem of separation in logistic regression", Statistics in Medicine 21):
the interval holds the values b with 2 (l*(beta_hat) - max l*(beta_t = b)) <= chi2_1(level),
and p_value is the penalised likelihood-ratio test of beta_t = 0. Wald intervals, which are
badly off under separation, are not used. Identical battles (same models, same tag
differences, same outcome) are counted once with a weight, so the cost grows with the
number of distinct patterns, not of battles.

The function fits one model per slice value (``by``), e.g. per study or per language.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import optimize, sparse, stats
from scipy.sparse.csgraph import connected_components

from scoring.errors import ConvergenceError, InputError, row_error
from scoring.tables import missing_mask, require_columns, require_table
from scoring.verdicts import A, B, to_verdicts

_LIMIT = 30.0  # |log-odds| beyond which an interval bound is reported as unbounded


@dataclass(frozen=True)
class TagEffects:
    """Coefficients per tag (and slice).

    table: [slice column,] tag, battles (decisive battles where exactly one side had the
    tag), on_loser, on_winner, coefficient (log-odds of losing), odds_ratio, ci_lower,
    ci_upper (profile penalised likelihood, on the coefficient), or_lower, or_upper,
    p_value, separated (the tag was only ever on losers, or only on winners: the estimate
    is Firth's finite value, the interval one-sided unbounded if the data allow).
    Sorted by slice, then coefficient (most predictive of losing first).
    notes: tags left out (never on exactly one side) and slices too small to fit.
    """

    table: pd.DataFrame
    notes: list[str]
    confidence: float
    control_models: bool

    def to_dict(self) -> dict:
        """JSON-ready form (``python -m scoring tags --format json``)."""
        return {
            "tags": self.table,
            "notes": self.notes,
            "confidence": self.confidence,
            "control_models": self.control_models,
            "interval": "profile penalised likelihood (Firth)",
        }


def parse_tags(value: object) -> frozenset[str]:
    """A cell of tags as a set: a list/tuple of names, a comma-separated string, or empty."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return frozenset()
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("[") and text.endswith("]"):  # a JSON list written into a CSV cell
            import json

            try:
                return parse_tags(json.loads(text))
            except ValueError:
                pass
        return frozenset(t.strip() for t in text.split(",") if t.strip())
    if isinstance(value, list | tuple | set | frozenset | np.ndarray):
        return frozenset(str(t).strip() for t in value if str(t).strip())
    raise TypeError(f"not a list of tags: {value!r}")


def tag_effects(
    battles: pd.DataFrame,
    *,
    tags: Sequence[str] | None = None,
    by: str | None = None,
    control_models: bool = True,
    verdict: str = "verdict",
    tags_a: str = "tags_a",
    tags_b: str = "tags_b",
    model_a: str = "model_a",
    model_b: str = "model_b",
    confidence: float = 0.95,
    min_battles: int = 10,
) -> TagEffects:
    """Log-odds of losing per tag, with profile-likelihood intervals (module docstring).

    Parameters
    ----------
    battles
        Long table, one row per pairwise judgment: ``verdict`` (labels of
        `scoring.verdicts`; a/model_a: response a won), ``tags_a`` and ``tags_b`` (the
        tags the grader gave each response: a list, or a comma-separated string; empty for
        none), and ``model_a``, ``model_b`` when ``control_models`` (the default). A slice
        column when ``by`` is given. Column names are keyword arguments.
    tags
        The tags to estimate (default: every tag that appears).
    by
        Fit separately for each value of this column (e.g. ``study``, ``language``).
    control_models
        Include the models' Bradley-Terry strengths (default True).
    confidence
        Level of the profile intervals.
    min_battles
        Slices with fewer decisive battles are not fitted (noted instead).
    """
    battles = require_table(battles, "battle table")
    needed = [verdict, tags_a, tags_b] + ([model_a, model_b] if control_models else [])
    require_columns(battles, needed + ([by] if by else []), "battle table")
    if not 0 < confidence < 1:
        raise InputError("confidence must be between 0 and 1")
    verdicts = to_verdicts(battles[verdict], what=verdict)
    side_a, side_b = _side_tags(battles, tags_a), _side_tags(battles, tags_b)
    _require_filled(battles, ([model_a, model_b] if control_models else []) + ([by] if by else []))
    seen = sorted(set().union(*side_a, *side_b))
    wanted = list(tags) if tags is not None else seen
    if not wanted:
        raise InputError("no tag appears in the battles")

    decisive = np.isin(verdicts, [A, B])
    a_won = verdicts == A
    x_a = np.array([[t in s for t in wanted] for s in side_a], dtype=float)
    x_b = np.array([[t in s for t in wanted] for s in side_b], dtype=float)
    # +1: tag on a only, -1: on b only
    diff_all = x_a.reshape(len(battles), len(wanted)) - x_b.reshape(len(battles), len(wanted))
    models = (
        (
            battles[model_a].map(str).to_numpy(dtype=object),
            battles[model_b].map(str).to_numpy(dtype=object),
        )
        if control_models
        else None
    )
    crit = stats.chi2.ppf(confidence, 1)
    rows: list[dict] = []
    notes: list[str] = []
    for value, in_slice in _slices(battles, by):
        use = in_slice & decisive
        label = "" if value is None else f"{by}={value}: "
        if use.sum() < min_battles:
            notes.append(f"{label}{int(use.sum())} decisive battles, fewer than {min_battles}")
            continue
        diff = diff_all[use]
        varying = np.abs(diff).sum(axis=0) > 0
        for unused in np.flatnonzero(~varying):
            notes.append(f"{label}tag {wanted[unused]!r} is never on exactly one side; left out")
        if not varying.any():
            continue
        slice_models = None if models is None else (models[0][use], models[1][use])
        for row in _fit_slice(
            diff[:, varying], a_won[use].astype(float), [wanted[t] for t in np.flatnonzero(varying)],
            slice_models, label, crit,
        ):  # fmt: skip
            rows.append(row if by is None else {by: value, **row})
    return TagEffects(
        table=_table(rows, by),
        notes=notes,
        confidence=confidence,
        control_models=control_models,
    )


def _side_tags(battles: pd.DataFrame, column: str) -> list[frozenset[str]]:
    """The tags of one side of each battle; a cell that is no list of tags names its row."""
    parsed = []
    for position, value in enumerate(battles[column].tolist()):
        try:
            parsed.append(parse_tags(value))
        except TypeError as exc:
            raise row_error(position, f"{column}: {exc}") from None
    return parsed


def _require_filled(battles: pd.DataFrame, columns: list[str]) -> None:
    """Raise naming the first row where one of `columns` is empty."""
    for column in columns:
        missing = missing_mask(battles[column])
        if missing.any():
            raise row_error(int(np.argmax(missing)), f"{column} is empty")


def _slices(battles: pd.DataFrame, by: str | None) -> list[tuple[str | None, np.ndarray]]:
    """(slice value, rows in it): one slice of every row without `by`."""
    if by is None:
        return [(None, np.ones(len(battles), dtype=bool))]
    values = battles[by].map(str)
    return [(value, (values == value).to_numpy()) for value in sorted(values.unique())]


def _fit_slice(
    diff: np.ndarray,
    y: np.ndarray,
    names: list[str],
    models: tuple[np.ndarray, np.ndarray] | None,
    label: str,
    crit: float,
) -> list[dict]:
    """One fit: a row per tag of `names`, whose columns of `diff` (tag on a only: +1, on
    b only: -1) vary in this slice; `y` is 1 where a won; `models` the two sides' models
    when their strengths are controlled for."""
    tag_x = -diff  # so that beta_t is the log-odds of *losing*
    design = tag_x if models is None else np.hstack([tag_x, _model_columns(*models)])
    fit = _Firth.grouped(design, y)
    if np.linalg.matrix_rank(fit.x) < design.shape[1]:
        raise InputError(
            f"{label}the tags {', '.join(map(repr, names))} cannot be told apart "
            + (
                "from one another; estimate fewer tags"
                if models is None
                else "from the models (e.g. a tag that always goes with one model); "
                "try without model control or with fewer tags"
            )
        )
    beta = fit.maximise()
    best = fit.penalised(beta)
    rows = []
    for t, name in enumerate(names):
        lower, upper, p_value = fit.profile(beta, best, t, crit)
        on_a_only = diff[:, t]
        lost = np.where(on_a_only > 0, 1 - y, np.where(on_a_only < 0, y, np.nan))
        has = ~np.isnan(lost)
        on_loser = int(np.nansum(lost))
        on_winner = int(has.sum()) - on_loser
        rows.append(
            {
                "tag": name,
                "battles": int(has.sum()),
                "on_loser": on_loser,
                "on_winner": on_winner,
                "coefficient": float(beta[t]),
                "odds_ratio": math.exp(beta[t]),
                "ci_lower": lower,
                "ci_upper": upper,
                "or_lower": math.exp(lower) if lower > -math.inf else 0.0,
                "or_upper": math.exp(upper) if upper < math.inf else math.inf,
                "p_value": p_value,
                "separated": on_loser == 0 or on_winner == 0,
            }
        )
    return rows


def _table(rows: list[dict], by: str | None) -> pd.DataFrame:
    """The result table: by slice, then most predictive of losing first."""
    columns = ([by] if by else []) + [
        "tag",
        "battles",
        "on_loser",
        "on_winner",
        "coefficient",
        "odds_ratio",
        "ci_lower",
        "ci_upper",
        "or_lower",
        "or_upper",
        "p_value",
        "separated",
    ]
    table = pd.DataFrame(rows, columns=columns)
    if len(table):
        keys = ([by] if by else []) + ["coefficient"]
        table = table.sort_values(keys, ascending=[True] * (len(keys) - 1) + [False])
    return table.reset_index(drop=True)


def _model_columns(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Bradley-Terry indicator differences, with one reference model (the first by name)
    per group of models connected by battles (strengths of groups that never met cannot
    be compared, and need not be: only the tags are reported)."""
    models = np.unique(np.concatenate([first, second]))
    a = np.searchsorted(models, first)
    b = np.searchsorted(models, second)
    out = np.zeros((len(first), len(models)))
    out[np.arange(len(first)), a] += 1.0
    out[np.arange(len(first)), b] -= 1.0
    graph = sparse.csr_matrix((np.ones(len(a)), (a, b)), shape=(len(models), len(models)))
    _count, labels = connected_components(graph, directed=False)
    _, reference = np.unique(labels, return_index=True)
    return np.delete(out, reference, axis=1)


class _Firth:
    """Firth-penalised logistic regression on grouped binomial data: rows of `x`, each seen
    `trials` times with `successes` successes."""

    def __init__(self, x: np.ndarray, successes: np.ndarray, trials: np.ndarray):
        self.x, self.s, self.m = x, successes, trials

    @classmethod
    def grouped(cls, x: np.ndarray, y: np.ndarray) -> _Firth:
        keys, inverse = np.unique(x, axis=0, return_inverse=True)
        inverse = inverse.reshape(-1)
        trials = np.bincount(inverse, minlength=len(keys)).astype(float)
        successes = np.bincount(inverse, weights=y, minlength=len(keys))
        return cls(keys, successes, trials)

    def _parts(self, beta: np.ndarray):
        eta = self.x @ beta
        p = 1.0 / (1.0 + np.exp(-eta))
        w = self.m * p * (1 - p)
        info = (self.x * w[:, None]).T @ self.x
        return eta, p, w, info

    def penalised(self, beta: np.ndarray) -> float:
        """l*(beta) = l(beta) + 1/2 log det I(beta)."""
        eta, _p, _w, info = self._parts(beta)
        loglik = float((self.s * eta - self.m * np.logaddexp(0, eta)).sum())
        sign, logdet = np.linalg.slogdet(info)
        return loglik + 0.5 * logdet if sign > 0 else -math.inf

    def _score(self, beta: np.ndarray):
        """Firth's modified score U*(beta) = X^T (s - m p + h (1/2 - p)) and I(beta)."""
        _eta, p, w, info = self._parts(beta)
        inverse = np.linalg.inv(info)
        h = w * np.einsum("ij,jk,ik->i", self.x, inverse, self.x)
        return self.x.T @ (self.s - self.m * p + h * (0.5 - p)), info

    def maximise(
        self, start: np.ndarray | None = None, fixed: int | None = None, value: float = 0.0
    ) -> np.ndarray:
        """Maximise l*, optionally with coefficient `fixed` held at `value`."""
        k = self.x.shape[1]
        beta = np.zeros(k) if start is None else np.array(start, dtype=float)
        free = np.ones(k, dtype=bool)
        if fixed is not None:
            free[fixed] = False
            beta[fixed] = value
        current = self.penalised(beta)
        for _ in range(200):
            score, info = self._score(beta)
            step = np.zeros(k)
            step[free] = self._direction(beta, score, info, free)
            length = 1.0
            for _halving in range(40):
                trial = beta + length * step
                value_trial = self.penalised(trial)
                if value_trial >= current - 1e-10 * (1 + abs(current)):
                    break
                length *= 0.5
            beta, current = trial, value_trial
            if np.abs(length * step).max() < 1e-8:
                return beta
        raise ConvergenceError("the Firth logistic regression did not converge in 200 steps")

    def _direction(
        self, beta: np.ndarray, score: np.ndarray, info: np.ndarray, free: np.ndarray
    ) -> np.ndarray:
        """Newton's direction on l* for the free coefficients, with l*'s Hessian from
        central differences of the modified score (exact enough, and quadratic where
        Fisher scoring crawls along the flat ridges that separation leaves); Fisher scoring
        when that Hessian is not negative definite."""
        index = np.flatnonzero(free)
        delta = 1e-5
        hessian = np.empty((len(index), len(index)))
        for column, t in enumerate(index):
            shift = np.zeros_like(beta)
            shift[t] = delta
            upper, _ = self._score(beta + shift)
            lower, _ = self._score(beta - shift)
            hessian[:, column] = (upper[index] - lower[index]) / (2 * delta)
        hessian = (hessian + hessian.T) / 2
        try:
            np.linalg.cholesky(-hessian)
            return np.linalg.solve(-hessian, score[index])
        except np.linalg.LinAlgError:
            return np.linalg.solve(info[np.ix_(free, free)], score[index])

    def profile(
        self, beta: np.ndarray, best: float, t: int, crit: float
    ) -> tuple[float, float, float]:
        """Profile penalised-likelihood interval for coefficient t, and the p-value of 0."""

        # Each constrained fit starts from the one fitted nearest to it: root finding
        # evaluates points ever closer together, so most fits take a step or two.
        fits: dict[float, np.ndarray] = {float(beta[t]): beta}

        def deviance(b: float) -> float:
            start = fits[min(fits, key=lambda known: abs(known - b))]
            fitted = self.maximise(start, fixed=t, value=b)
            fits[float(b)] = fitted
            return 2 * (best - self.penalised(fitted))

        p_value = float(stats.chi2.sf(max(deviance(0.0), 0.0), 1))
        _score, info = self._score(beta)
        se = math.sqrt(max(np.linalg.inv(info)[t, t], 1e-12))
        bounds = []
        for direction in (-1.0, 1.0):
            inner, reach = beta[t], 2 * se
            while True:
                outer = beta[t] + direction * reach
                at_limit = abs(outer) >= _LIMIT
                if at_limit:
                    outer = direction * _LIMIT
                if deviance(outer) >= crit:
                    root = optimize.brentq(lambda b: deviance(b) - crit, inner, outer, xtol=1e-6)
                    bounds.append(float(root))
                    break
                if at_limit:
                    bounds.append(direction * math.inf)
                    break
                inner, reach = outer, 2 * reach
        return bounds[0], bounds[1], p_value
