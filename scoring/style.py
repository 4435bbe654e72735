"""Style control: Bradley-Terry (or Davidson) ratings with covariates for the length and the
Markdown of the two responses, as in Chatbot Arena's "style control".

Li, T., Angelopoulos, A., Chiang, W.-L. et al. (2024), "Does style matter? Disentangling
style and substance in Chatbot Arena" (LMSYS blog, 2024-08-29), and the published notebook
(`construct_style_matrices` in lm-sys/FastChat's ``elo_analysis.py``): the log-odds that
model_a beats model_b is

    eta = theta_a - theta_b + sum_f beta_f * z_f,

where z_f is a style difference between the two responses. For each style count f (length;
headers, list items and bold spans for Markdown) the raw difference is normalised as Arena
does, (f_a - f_b) / (f_a + f_b + 1), then divided by its root mean square over the battles,
so a coefficient is the change in log-odds for a style advantage of one (root-mean-square)
unit. Arena also subtracts the mean; we do not, so that swapping the sides of a battle flips
the sign of its features exactly and no side effect sneaks in (the mean is ~0 when sides are
random). The controlled ratings theta are what remains of each model's strength once style
is accounted for.

Counting (arena-hard-auto's ``add_markdown_info.py``): fenced code blocks (```...```) are
removed first; headers are lines starting with 1-6 ``#`` and a space; list items are lines
starting with ``-``, ``*`` or ``+`` and a space, or with digits, a period and a space
(leading spaces allowed); bold spans are ``**...**`` or ``__...__`` on one line. Length is
the number of characters of the whole response (Arena counts tokens with a tokenizer we do
not ship; the normalised difference depends on a ratio, which characters and tokens give
nearly alike for text in one language). A responses table may carry its own counts instead.

Ties: ``ties="half"`` counts a tie as half a win each side (Arena's convention: each tie
becomes one win for each side at half weight), a quasi-likelihood; ``ties="davidson"`` uses
the Davidson (1970) model of `scoring.davidson` with the covariates inside eta and its tie
parameter nu fitted jointly.

Intervals: Wald intervals from the sandwich (Huber-White) covariance H^-1 B H^-1, with H
the Hessian of the negative log-likelihood and B the sum over battles of the outer products
of the per-battle scores (Huber 1967; White 1982). The sandwich is valid for the
quasi-likelihood of ``ties="half"`` and when the tie model is wrong; it costs one pass over
the battles, where a bootstrap would refit a million battles a thousand times. Coverage is
checked by simulation in tests/scoring/test_style.py. When several votes share a unit (the
graders of one task, the battles of one prompt) they are not independent: ``cluster`` sums
the scores within each unit before the outer products (the cluster-robust sandwich with the
G / (G - 1) small-sample factor; Cameron & Miller 2015, "A practitioner's guide to
cluster-robust inference", J. Human Resources 50). Rating intervals are for the centred
ratings (or differences from the anchor), and ranks follow the rule of
`scoring.ratings.leaderboard`.
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse, stats

from scoring.errors import ConvergenceError, InputError, RatingWarning, row_error
from scoring.ratings import RIDGE, encode_battles
from scoring.tables import missing_mask, require_columns, require_table

FEATURES = ("length", "headers", "lists", "bold")
CONTROLS = {"length": ("length",), "markdown": ("headers", "lists", "bold")}
TIES = ("half", "davidson")

_CODE_BLOCK = re.compile(r"```[^`]*```")
_HEADER = re.compile(r"^#{1,6}\s", re.MULTILINE)
_LIST_ITEM = re.compile(r"^\s*(?:[-*+]|\d+\.)\s", re.MULTILINE)
_BOLD = re.compile(r"\*\*[^*\n]+\*\*|__[^_\n]+__")


# --------------------------------------------------------------------------- style counts


def style_counts(text: str) -> dict[str, int]:
    """Length in characters and Markdown counts (headers, list items, bold spans) of a text.

    Code blocks are removed before the Markdown is counted (not before the length).

    >>> style_counts("# Title\\n\\n- one\\n- **two**\\n")
    {'length': 25, 'headers': 1, 'lists': 2, 'bold': 1}
    """
    prose = _CODE_BLOCK.sub("", text)
    return {
        "length": len(text),
        "headers": len(_HEADER.findall(prose)),
        "lists": len(_LIST_ITEM.findall(prose)),
        "bold": len(_BOLD.findall(prose)),
    }


def controls_features(controls: Sequence[str]) -> tuple[str, ...]:
    """The style features a list of controls stands for (``length``, ``markdown``, or a
    feature name), in the order of `FEATURES`; an unknown control is an `InputError`."""
    wanted: set[str] = set()
    for control in controls:
        if control in CONTROLS:
            wanted.update(CONTROLS[control])
        elif control in FEATURES:
            wanted.add(control)
        else:
            known = ", ".join([*CONTROLS, *FEATURES])
            raise InputError(f"unknown style control {control!r} (expected one of: {known})")
    if not wanted:
        raise InputError("no style control given")
    return tuple(f for f in FEATURES if f in wanted)


def response_styles(responses: pd.DataFrame) -> pd.DataFrame:
    """Style counts per response, from a responses table.

    Two layouts are accepted (the ``--responses FILE`` of ``python -m scoring leaderboard
    --control``):

    * long, one row per response: ``question_id`` (or ``id``), ``model``, and the response
      as ``text`` (or ``output``); columns ``length``, ``headers``, ``lists``, ``bold``, where
      present, give the counts directly (e.g. token counts as length) and the text may then
      be left out;
    * a study file as `manage.py import_study` reads it: ``id`` and ``outputs``, a mapping
      from model name to the text or to ``{"text": ..., "metadata": {...}}``.

    Returns a DataFrame with columns question_id, model, length, headers, lists, bold (one
    row per response; both keys as text). Raises `InputError` naming the row for a missing
    key, a missing text, a count that is not a whole number >= 0, or a response given twice.
    """
    responses = require_table(responses, "responses table")
    if "outputs" in responses.columns and "model" not in responses.columns:
        responses = _unnest_outputs(responses)
    key = "question_id" if "question_id" in responses.columns else "id"
    text_column = "text" if "text" in responses.columns else "output"
    if key not in responses.columns:
        raise InputError(
            "the responses table has no column 'question_id' (or 'id'); "
            f"columns found: {', '.join(map(str, responses.columns))}"
        )
    require_columns(responses, ["model"], "responses table")
    for column in (key, "model"):
        missing = missing_mask(responses[column])
        if missing.any():
            raise row_error(int(np.argmax(missing)), f"{column} is empty in the responses table")
    given = [f for f in FEATURES if f in responses.columns]
    if len(given) < len(FEATURES) and text_column not in responses.columns:
        raise InputError(
            "the responses table needs a 'text' (or 'output') column, or all of the "
            f"count columns {', '.join(FEATURES)}"
        )
    out = pd.DataFrame(
        {
            "question_id": responses[key].map(_as_key).to_numpy(dtype=object),
            "model": responses["model"].map(_as_key).to_numpy(dtype=object),
        }
    )
    if len(given) < len(FEATURES):
        texts = responses[text_column]
        counted = []
        for position, text in enumerate(texts.tolist()):
            if not isinstance(text, str):
                raise row_error(position, f"{text_column} is not text in the responses table")
            counted.append(style_counts(text))
        counts = pd.DataFrame(counted, columns=list(FEATURES))
    else:
        counts = pd.DataFrame(index=range(len(responses)), columns=list(FEATURES))
    for feature in FEATURES:
        if feature in given:
            counts[feature] = _whole_counts(responses[feature], feature)
        out[feature] = counts[feature].to_numpy(dtype=float)
    duplicated = out.duplicated(["question_id", "model"])
    if duplicated.any():
        position = int(np.argmax(duplicated.to_numpy()))
        raise row_error(
            position,
            f"model {out['model'][position]!r} has a second response to question_id "
            f"{out['question_id'][position]!r} in the responses table",
        )
    return out


def _unnest_outputs(study: pd.DataFrame) -> pd.DataFrame:
    require_columns(study, ["id"], "responses table")
    rows = []
    for position, (key, outputs) in enumerate(zip(study["id"], study["outputs"], strict=True)):
        if not isinstance(outputs, dict):
            raise row_error(position, "outputs is not an object of model: text")
        for model, output in outputs.items():
            text = output.get("text") if isinstance(output, dict) else output
            if not isinstance(text, str):
                raise row_error(position, f"the output of model {model!r} has no text")
            rows.append({"question_id": key, "model": model, "text": text})
    if not rows:
        raise InputError("the responses table has no outputs")
    return pd.DataFrame(rows)


def _as_key(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _whole_counts(values: pd.Series, column: str) -> np.ndarray:
    numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(numbers) | (numbers < 0)
    if bad.any():
        position = int(np.argmax(bad))
        raise row_error(
            position,
            f"{column} is {values.tolist()[position]!r}, not a count >= 0 in the responses table",
        )
    return numbers


def style_features(
    battles: pd.DataFrame,
    styles: pd.DataFrame,
    *,
    controls: Sequence[str] = ("length", "markdown"),
) -> pd.DataFrame:
    """Normalised style differences (f_a - f_b) / (f_a + f_b + 1) for each battle.

    `battles` needs ``question_id``, ``model_a`` and ``model_b``; `styles` is
    `response_styles` output. Returns a DataFrame aligned with the battles, one column per
    feature of `controls` (see `controls_features`). A battle whose response is not in
    `styles` raises `InputError` naming the battle row, model and question_id.
    """
    features = controls_features(controls)
    battles = require_table(battles, "battle table")
    require_columns(battles, ["question_id", "model_a", "model_b"], "battle table")
    missing = missing_mask(battles["question_id"])
    if missing.any():
        raise row_error(int(np.argmax(missing)), "question_id is empty")
    index = pd.MultiIndex.from_arrays([styles["question_id"], styles["model"]])
    question = battles["question_id"].map(_as_key).to_numpy(dtype=object)
    sides = {}
    for side in ("model_a", "model_b"):
        model = battles[side].map(_as_key).to_numpy(dtype=object)
        where = index.get_indexer(pd.MultiIndex.from_arrays([question, model]))
        if (where < 0).any():
            position = int(np.argmax(where < 0))
            raise row_error(
                position,
                f"no response of model {model[position]!r} to question_id "
                f"{question[position]!r} in the responses table",
            )
        sides[side] = styles.iloc[where]
    out = {}
    for feature in features:
        a = sides["model_a"][feature].to_numpy(dtype=float)
        b = sides["model_b"][feature].to_numpy(dtype=float)
        out[feature] = (a - b) / (a + b + 1.0)
    return pd.DataFrame(out, index=battles.index)


# --------------------------------------------------------------------------- the fit


@dataclass(frozen=True)
class StyleControl:
    """A style-controlled leaderboard.

    leaderboard: one row per model: model, rating (controlled), ci_lower, ci_upper, se,
    uncontrolled_rating (the same model and tie handling without the covariates), battles,
    wins, ties, losses, win_rate, rank, rank_lower, rank_upper; highest rating first.
    coefficients: one row per feature: feature, coefficient (natural log-odds per unit of
    the scaled feature), se, ci_lower, ci_upper, z, p_value (two-sided Wald test of 0),
    rating_points (coefficient on the Elo scale), scale (the root mean square that divided
    the normalised difference). tie_parameter (nu, with interval) only for davidson.
    """

    leaderboard: pd.DataFrame
    coefficients: pd.DataFrame
    ties: str
    confidence: float
    tie_parameter: float | None
    tie_ci_lower: float | None
    tie_ci_upper: float | None
    battles: int
    dropped_features: tuple[str, ...]

    def to_dict(self) -> dict:
        """The JSON of ``python -m scoring leaderboard --control``."""
        out = {
            "leaderboard": self.leaderboard,
            "style_coefficients": self.coefficients,
            "ties": self.ties,
            "confidence": self.confidence,
            "interval": "wald (sandwich covariance)",
            "battles": self.battles,
            "dropped_features": list(self.dropped_features),
        }
        if self.tie_parameter is not None:
            out["tie_parameter"] = {
                "nu": self.tie_parameter,
                "ci_lower": self.tie_ci_lower,
                "ci_upper": self.tie_ci_upper,
            }
        return out


@dataclass
class _Battles:
    n: int
    a: np.ndarray
    b: np.ndarray
    win: np.ndarray  # 1.0 where model_a won
    loss: np.ndarray
    tie: np.ndarray
    z: np.ndarray  # (battles, k)


class _Fit:
    """Negative log-likelihood, gradient, Hessian and score outer products of the
    covariate model over battle rows. Parameters: theta (n), beta (k), then tau if
    davidson."""

    def __init__(self, data: _Battles, ties: str, ridge: float):
        self.d, self.ties, self.ridge = data, ties, ridge
        self.k = data.z.shape[1]
        self.m = data.n + self.k + (1 if ties == "davidson" else 0)

    def split(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
        n, k = self.d.n, self.k
        tau = x[n + k] if self.ties == "davidson" else -math.inf
        return x[:n], x[n : n + k], tau

    def eta(self, x: np.ndarray) -> np.ndarray:
        theta, beta, _ = self.split(x)
        return theta[self.d.a] - theta[self.d.b] + self.d.z @ beta

    def loss(self, x: np.ndarray) -> float:
        d = self.d
        eta = self.eta(x)
        theta, _beta, tau = self.split(x)
        penalty = 0.5 * self.ridge * float(theta @ theta)
        if self.ties == "half":
            y = d.win + 0.5 * d.tie
            nll = y * np.logaddexp(0, -eta) + (1 - y) * np.logaddexp(0, eta)
            return float(nll.sum()) + penalty
        log_d = np.logaddexp(np.logaddexp(0.5 * eta, -0.5 * eta), tau)
        nll = -(d.win - d.loss) * 0.5 * eta - d.tie * tau + log_d
        return float(nll.sum()) + penalty + 0.5 * self.ridge * tau * tau

    def parts(self, x: np.ndarray):
        """Per-battle score (d nll / d eta, d nll / d tau) and curvature terms."""
        d = self.d
        eta = self.eta(x)
        if self.ties == "half":
            p = 1.0 / (1.0 + np.exp(-eta))
            s_eta = p - (d.win + 0.5 * d.tie)
            return s_eta, None, p * (1 - p), None, None
        _theta, _beta, tau = self.split(x)
        log_d = np.logaddexp(np.logaddexp(0.5 * eta, -0.5 * eta), tau)
        p_win, p_loss = np.exp(0.5 * eta - log_d), np.exp(-0.5 * eta - log_d)
        p_tie = np.exp(tau - log_d)
        diff = p_win - p_loss
        s_eta = 0.5 * (diff - (d.win - d.loss))
        s_tau = p_tie - d.tie
        h_ee = 0.25 * ((p_win + p_loss) - diff * diff)
        h_et = -0.5 * diff * p_tie
        h_tt = p_tie * (1 - p_tie)
        return s_eta, s_tau, h_ee, h_et, h_tt

    def gradient(self, x: np.ndarray, parts=None) -> np.ndarray:
        d, n, k = self.d, self.d.n, self.k
        s_eta, s_tau, *_ = parts if parts is not None else self.parts(x)
        theta, _beta, tau = self.split(x)
        grad = np.empty(self.m)
        grad[:n] = _by_model(d, s_eta) + self.ridge * theta
        grad[n : n + k] = d.z.T @ s_eta
        if self.ties == "davidson":
            grad[n + k] = s_tau.sum() + self.ridge * tau
        return grad

    def assemble(self, w_ee, w_et, w_tt) -> np.ndarray:
        """The symmetric matrix sum_i w_i x_i x_i^T of the model's structure: per battle,
        x_i = (e_a - e_b, z_i) for the eta part, with w_et, w_tt for tau."""
        d, n, k = self.d, self.d.n, self.k
        out = np.zeros((self.m, self.m))
        pair = np.bincount(d.a * n + d.b, weights=w_ee, minlength=n * n).reshape(n, n)
        off = pair + pair.T
        out[:n, :n] = np.diag(off.sum(axis=1)) - off
        wz = w_ee[:, None] * d.z
        cross = _by_model_columns(d, wz)
        out[:n, n : n + k] = cross
        out[n : n + k, :n] = cross.T
        out[n : n + k, n : n + k] = d.z.T @ wz
        if self.ties == "davidson":
            t = n + k
            column = _by_model(d, w_et)
            out[:n, t] = out[t, :n] = column
            out[n : n + k, t] = out[t, n : n + k] = d.z.T @ w_et
            out[t, t] = w_tt.sum()
        return out

    def hessian(self, x: np.ndarray, parts=None) -> np.ndarray:
        _s_eta, _s_tau, h_ee, h_et, h_tt = parts if parts is not None else self.parts(x)
        hess = self.assemble(h_ee, h_et, h_tt)
        n = self.d.n
        hess[np.arange(n), np.arange(n)] += self.ridge
        if self.ties == "davidson":
            hess[-1, -1] += self.ridge
        return hess

    def meat(self, x: np.ndarray, cluster: np.ndarray | None = None) -> np.ndarray:
        s_eta, s_tau, *_ = self.parts(x)
        if cluster is not None:
            return self._cluster_meat(s_eta, s_tau, cluster)
        if self.ties == "half":
            return self.assemble(s_eta * s_eta, None, None)
        return self.assemble(s_eta * s_eta, s_eta * s_tau, s_tau * s_tau)

    def _cluster_meat(self, s_eta, s_tau, cluster: np.ndarray) -> np.ndarray:
        """sum over clusters of G_c G_c^T, G_c the cluster's summed score, times G/(G-1)."""
        d, n = self.d, self.d.n
        groups = int(cluster.max()) + 1 if len(cluster) else 0
        rows = np.concatenate([cluster, cluster])
        columns = np.concatenate([d.a, d.b])
        theta = sparse.csr_matrix(
            (np.concatenate([s_eta, -s_eta]), (rows, columns)), shape=(groups, n)
        )
        rest = [d.z * s_eta[:, None]]
        if self.ties == "davidson":
            rest.append(s_tau[:, None])
        per_battle = np.hstack(rest)
        summed = np.zeros((groups, per_battle.shape[1]))
        np.add.at(summed, cluster, per_battle)
        out = np.zeros((self.m, self.m))
        out[:n, :n] = (theta.T @ theta).toarray()
        cross = np.asarray(theta.T @ summed)
        out[:n, n:] = cross
        out[n:, :n] = cross.T
        out[n:, n:] = summed.T @ summed
        return out * (groups / (groups - 1) if groups > 1 else 1.0)


def _by_model(d: _Battles, weights: np.ndarray) -> np.ndarray:
    return np.bincount(d.a, weights=weights, minlength=d.n) - np.bincount(
        d.b, weights=weights, minlength=d.n
    )


def _by_model_columns(d: _Battles, weights: np.ndarray) -> np.ndarray:
    out = np.zeros((d.n, weights.shape[1]))
    for j in range(weights.shape[1]):
        out[:, j] = _by_model(d, weights[:, j])
    return out


def _maximise(fit: _Fit, x: np.ndarray, *, tol: float = 1e-9, max_iter: int = 100) -> np.ndarray:
    """Newton's method with step halving; stops when no parameter moves by more than tol."""
    loss = fit.loss(x)
    for _ in range(max_iter):
        parts = fit.parts(x)
        hess = fit.hessian(x, parts)
        # The likelihood is flat along "all theta up by the same amount" (only the ridge
        # curves it): solving on that direction would amplify rounding noise 1e6-fold. The
        # ridge keeps the mean of theta at 0 from the start, so fix the direction instead.
        hess[: fit.d.n, : fit.d.n] += 1.0 / fit.d.n
        step = np.linalg.solve(hess, fit.gradient(x, parts))
        length = 1.0
        for _halving in range(60):
            trial = x - length * step
            trial_loss = fit.loss(trial)
            if trial_loss <= loss + 1e-12 * (1 + abs(loss)):
                break
            length *= 0.5
        x, loss = trial, trial_loss
        if np.abs(step).max() < tol or np.abs(length * step).max() < 1e-13:
            return x
    raise ConvergenceError(f"style-controlled fit did not converge in {max_iter} Newton steps")


def style_control(
    battles: pd.DataFrame,
    features: pd.DataFrame,
    *,
    ties: str = "half",
    confidence: float = 0.95,
    scale: float = 400,
    base: float = 10,
    initial: float = 1000,
    anchor: tuple[str, float] | None = None,
    ridge: float = RIDGE,
    uncontrolled: bool = True,
    cluster: Sequence | np.ndarray | pd.Series | None = None,
) -> StyleControl:
    """Ratings controlled for style covariates, with the style coefficients.

    Parameters
    ----------
    battles
        Battle table (model_a, model_b, winner; see `scoring.ratings.validate_battles`).
    features
        One numeric column per covariate, aligned row by row with `battles` (e.g.
        `style_features`): a difference between the model_a and model_b responses, so that
        swapping the sides negates it. Each column is divided by its root mean square; a
        column that is 0 in every battle carries no information and is dropped with a
        `RatingWarning` (reported in ``dropped_features``).
    ties
        ``"half"`` (a tie is half a win each side) or ``"davidson"`` (Davidson 1970).
    confidence
        Level of the Wald intervals (sandwich covariance).
    scale, base, initial, anchor, ridge
        As in `scoring.ratings.bradley_terry`.
    uncontrolled
        Also fit the model without the covariates, for ``uncontrolled_rating`` (NaN when
        False; simulations skip it).
    cluster
        Optional unit of each battle (e.g. the task several graders judged, or the prompt),
        aligned with `battles`: the covariance is then cluster-robust (module docstring).

    Returns a `StyleControl`. Raises `InputError` for a bad battle table (naming the row),
    a feature table of another length, or a value that is not a finite number.
    """
    if ties not in TIES:
        raise InputError(f"unknown ties option {ties!r} (expected half or davidson)")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence!r}")
    factor = scale / math.log(base)
    encoded = encode_battles(battles)
    if len(features) != len(battles):
        raise InputError(f"the feature table has {len(features)} rows for {len(battles)} battles")
    names, z, scales, dropped = _scaled_features(features)
    win = (encoded.outcome == 0).astype(float)
    loss = (encoded.outcome == 1).astype(float)
    data = _Battles(
        n=len(encoded.models),
        a=encoded.a.astype(np.intp),
        b=encoded.b.astype(np.intp),
        win=win,
        loss=loss,
        tie=1.0 - win - loss,
        z=z,
    )
    if data.win.sum() + data.loss.sum() == 0:
        raise InputError("every battle is a tie: no model can be rated")
    anchor_at = None
    if anchor is not None:
        where = np.flatnonzero(encoded.models == str(anchor[0]))
        if not where.size:
            raise InputError(f"anchor model {anchor[0]!r} is not in the battles")
        anchor_at = int(where[0])
    if ties == "davidson" and data.tie.sum() == 0:
        warnings.warn(
            "no battle is a tie: the Davidson tie parameter is 0 and the fit is Bradley-Terry",
            RatingWarning,
            stacklevel=2,
        )
        ties_used = "half"  # identical likelihood when there is no tie
    else:
        ties_used = ties
    fit = _Fit(data, ties_used, ridge)
    x = _maximise(fit, _start(fit))
    covariance = _sandwich(fit, x, _cluster_codes(cluster, len(battles)))
    z_crit = stats.norm.ppf(0.5 + confidence / 2)
    n, k = data.n, fit.k
    theta = x[:n]

    centred = np.eye(n) - 1.0 / n
    if anchor_at is not None:
        centred = np.eye(n)
        centred[:, anchor_at] -= 1.0
    contrast = centred @ covariance[:n, :n] @ centred.T
    rating_se = factor * np.sqrt(np.clip(np.diag(contrast), 0, None))
    rating = initial + factor * (centred @ theta)
    if anchor_at is not None and anchor is not None:
        rating = float(anchor[1]) + factor * (centred @ theta)
    lower, upper = rating - z_crit * rating_se, rating + z_crit * rating_se

    if uncontrolled:
        plain = _Fit(
            _Battles(data.n, data.a, data.b, data.win, data.loss, data.tie, z[:, :0]),
            ties_used,
            ridge,
        )
        plain_theta = _maximise(plain, _start(plain))[:n]
        plain_rating = (initial if anchor is None else float(anchor[1])) + factor * (
            centred @ plain_theta
        )
    else:
        plain_rating = np.full(n, np.nan)

    table = _per_model(encoded, data)
    table.insert(1, "rating", rating)
    table.insert(2, "ci_lower", lower)
    table.insert(3, "ci_upper", upper)
    table.insert(4, "se", rating_se)
    table.insert(5, "uncontrolled_rating", plain_rating)
    table["win_rate"] = (table["wins"] + 0.5 * table["ties"]) / table["battles"]
    table["rank"] = 1 + (lower[None, :] > upper[:, None]).sum(axis=1)
    table["rank_lower"] = table["rank"]
    table["rank_upper"] = n - (upper[None, :] < lower[:, None]).sum(axis=1)
    order = np.lexsort((table["model"].to_numpy(dtype=str), -table["rating"].to_numpy()))
    table = table.iloc[order].reset_index(drop=True)

    beta = x[n : n + k]
    beta_se = np.sqrt(np.clip(np.diag(covariance)[n : n + k], 0, None))
    with np.errstate(divide="ignore", invalid="ignore"):
        z_stat = beta / beta_se
    coefficients = pd.DataFrame(
        {
            "feature": names,
            "coefficient": beta,
            "se": beta_se,
            "ci_lower": beta - z_crit * beta_se,
            "ci_upper": beta + z_crit * beta_se,
            "z": z_stat,
            "p_value": 2 * stats.norm.sf(np.abs(z_stat)),
            "rating_points": factor * beta,
            "scale": scales,
        }
    )
    nu = nu_lower = nu_upper = None
    if ties == "davidson":
        if ties_used == "davidson":
            tau, tau_se = x[-1], math.sqrt(max(covariance[-1, -1], 0.0))
            nu = math.exp(tau)
            nu_lower, nu_upper = math.exp(tau - z_crit * tau_se), math.exp(tau + z_crit * tau_se)
        else:
            nu = nu_lower = nu_upper = 0.0
    return StyleControl(
        leaderboard=table,
        coefficients=coefficients,
        ties=ties,
        confidence=confidence,
        tie_parameter=nu,
        tie_ci_lower=nu_lower,
        tie_ci_upper=nu_upper,
        battles=len(battles),
        dropped_features=tuple(dropped),
    )


def _scaled_features(features: pd.DataFrame):
    names, columns, scales, dropped = [], [], [], []
    for column in features.columns:
        values = pd.to_numeric(features[column], errors="coerce").to_numpy(dtype=float)
        bad = ~np.isfinite(values)
        if bad.any():
            position = int(np.argmax(bad))
            raise row_error(
                position, f"style feature {column!r} is {features[column].tolist()[position]!r}"
            )
        rms = float(np.sqrt(np.mean(values * values)))
        if rms == 0:
            dropped.append(str(column))
            warnings.warn(
                f"style feature {column!r} is equal on both sides of every battle; "
                "it is left out of the fit",
                RatingWarning,
                stacklevel=3,
            )
            continue
        names.append(str(column))
        columns.append(values / rms)
        scales.append(rms)
    z = np.stack(columns, axis=1) if columns else np.zeros((len(features), 0))
    return names, z, np.array(scales, dtype=float), dropped


def _start(fit: _Fit) -> np.ndarray:
    x = np.zeros(fit.m)
    if fit.ties == "davidson":
        share = min(max(fit.d.tie.mean(), 1e-9), 1 - 1e-9)
        x[-1] = math.log(2 * share / (1 - share))
    return x


def _cluster_codes(cluster, battles: int) -> np.ndarray | None:
    if cluster is None:
        return None
    values = pd.Series(np.asarray(cluster, dtype=object))
    if len(values) != battles:
        raise InputError(f"the cluster column has {len(values)} values for {battles} battles")
    missing = missing_mask(values)
    if missing.any():
        raise row_error(int(np.argmax(missing)), "cluster is empty")
    return pd.factorize(values)[0].astype(np.intp)


def _sandwich(fit: _Fit, x: np.ndarray, cluster: np.ndarray | None = None) -> np.ndarray:
    """H^-1 B H^-1 with the ratings' free direction (all theta up by the same amount) fixed
    by adding it to H: the centred contrasts the caller takes do not depend on it."""
    n = fit.d.n
    hess = fit.hessian(x)
    hess[:n, :n] += 1.0 / n
    bread = np.linalg.inv(hess)
    return bread @ fit.meat(x, cluster) @ bread


def _per_model(encoded, data: _Battles) -> pd.DataFrame:
    n = data.n
    wins = np.bincount(data.a, data.win, n) + np.bincount(data.b, data.loss, n)
    losses = np.bincount(data.a, data.loss, n) + np.bincount(data.b, data.win, n)
    ties = np.bincount(data.a, data.tie, n) + np.bincount(data.b, data.tie, n)
    return pd.DataFrame(
        {
            "model": encoded.models,
            "battles": (wins + losses + ties).astype(np.int64),
            "wins": wins.astype(np.int64),
            "ties": ties.astype(np.int64),
            "losses": losses.astype(np.int64),
        }
    )
