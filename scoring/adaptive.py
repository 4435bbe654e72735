"""Adaptive pair scheduling: which pair of models the next vote should compare, and when to
stop.

The state of a study is its vote counts per pair of models. From them the Bradley-Terry
strengths theta (natural log-odds; Elo points = theta * scale / ln(base)) are estimated by
maximum a posteriori with a weak Gaussian prior theta ~ N(0, prior_sd^2) (so a study with
no or few votes has finite estimates), and their covariance by the Laplace approximation

    Sigma = (sum_pairs n_ij w_ij u_ij u_ij^T + I / prior_sd^2)^-1,
    u_ij = e_i - e_j,  w_ij = p_ij (1 - p_ij),  p_ij = sigmoid(theta_i - theta_j),

the inverse Fisher information of the votes (ties count as half a win each side, as in
`scoring.ratings`; their information is taken as that of a decisive vote). One more vote on
pair (i, j) adds w_ij u u^T to the information; by the Sherman-Morrison formula the
covariance becomes Sigma - c s s^T with s = Sigma u, c = w / (1 + w u^T Sigma u). The score
of a pair is the expected shrinkage that one vote brings to the chosen criterion (a
one-step look-ahead of Bayesian experimental design; Chaloner & Verdinelli 1995, "Bayesian
experimental design: a review", Statistical Science 10(3)):

``variance`` (A-optimality)
    the sum over models of the variance of the centred ratings (the squared half-widths of
    the rating intervals): score = w s^T C s / (1 + w u^T Sigma u), C the centring matrix.
``ranks``
    the sum of the variances of the rating differences between neighbours in the current
    order whose intervals still overlap (the rank-ambiguous neighbours; Chiang et al. 2024,
    "Chatbot Arena", sec. 4-5, ranks models by such interval overlaps).

Scores are in squared Elo points. Under ``ranks`` a pair is stopped (score 0, not served)
when its two models' rating intervals no longer overlap (their order is settled: "rank
intervals separate"); under ``variance`` such a pair stays open by default, because votes
between distant models are what tie the groups of a leaderboard together (stopping them
leaves the groups' offsets, and so every rating interval, wide). Any pair stops at
``max_votes_per_pair``. The study is stopped when the vote
budget is spent, when the median rating-interval width is at most ``target_width``, when
every pair of neighbours in the rating order is separated (the ranking is settled), or when
no candidate pair is left open.

Caveat (optional stopping): stopping when intervals separate and then reading those same
intervals makes them somewhat optimistic; report the final leaderboard with
`scoring.ratings.leaderboard`'s bootstrap, and use a stricter ``stop_confidence`` (e.g.
0.99) than the level reported if that matters.

What it saves, measured (tests/scoring/test_adaptive.py, bench/bench_adaptive.py): to reach
the median rating-interval width of uniformly sampled pairs, the ``variance`` schedule needs
100 / 98 / 92 / 84 % of the votes for 10 models with strengths spread by sd 87 / 174 / 260 /
347 Elo points, and 83 % for three groups of models 350 points apart. Savings of 30 % are
out of reach at ordinary spreads: a vote's information p (1 - p) is at most 1/4, and a
schedule that narrows every model's interval as much as uniform sampling needs at least
mean(information per vote under uniform sampling) / (1/4) of the votes, 79 % at sd 174
(the bench prints this bound). Chiang et al. (2024, sec. 7.1) report the same contrast for
Arena's active sampling: 35 % fewer votes for win-rate intervals, 5 % for the Bradley-Terry
scores.

Cost: O(n^3) for n models (a Newton fit of n strengths, one n x n inverse, one n x n
product), O(n^2) per pair scored and per planned vote. Measured CPU time of one call with
every pair voted (bench/bench_adaptive.py; most of it pandas at small n): 9 ms at 10
models, 10 ms at 30, 28 ms at 100; a plan of 50 votes adds 5-15 ms. Cheap enough to run on
every hand-out for studies of tens of models; for more, or many hand-outs a second, keep a
`plan` of the next k votes on a cached schedule and refresh it every k votes.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats
from scipy.special import expit

from scoring.davidson import single_threaded_blas
from scoring.errors import ConvergenceError, InputError, row_error
from scoring.tables import missing_mask, require_columns, require_table

COUNT_COLUMNS = ("model_a", "model_b", "wins_a", "wins_b", "ties")
CRITERIA = ("variance", "ranks")


@dataclass(frozen=True)
class Schedule:
    """What to serve next, and whether to stop.

    pairs: one row per candidate pair: model_a, model_b, votes (so far), score (expected
    shrinkage of the criterion from one more vote, in squared Elo points; 0 when stopped),
    priority (1 = serve first; NaN when stopped), separated (the two intervals are apart),
    stopped (bool) and reason (``separated``, ``pair cap``, ``study stopped`` or empty).
    Sorted by priority, stopped pairs last.
    ratings: model, rating, se, ci_lower, ci_upper, rank_lower, rank_upper, votes (Wald
    intervals of the Laplace approximation; see the module docstring).
    stop: whether the study should stop; stop_reason: ``budget``, ``target width``,
    ``ranks separated``, ``no open pair`` or None. plan: the next `plan` votes chosen
    greedily (model_a, model_b), empty when not asked for or when stopped.
    """

    pairs: pd.DataFrame
    ratings: pd.DataFrame
    stop: bool
    stop_reason: str | None
    votes: int
    median_width: float
    criterion: str
    plan: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["model_a", "model_b"]))

    def to_dict(self) -> dict:
        """JSON-ready summary (the output of ``python -m scoring schedule --format json``)."""
        return {
            "stop": self.stop,
            "stop_reason": self.stop_reason,
            "votes": self.votes,
            "median_width": self.median_width,
            "criterion": self.criterion,
            "pairs": self.pairs,
            "ratings": self.ratings,
            "plan": self.plan,
        }


# --------------------------------------------------------------------------- inputs


def counts_from_battles(battles: pd.DataFrame) -> pd.DataFrame:
    """Per-pair vote counts (the input of `schedule_pairs`) from a battle table with columns
    model_a, model_b, winner (either kind of tie counts as a tie)."""
    from scoring.ratings import pair_counts

    counts = pair_counts(battles)
    return pd.DataFrame(
        {
            "model_a": counts.models[counts.first],
            "model_b": counts.models[counts.second],
            "wins_a": counts.first_wins,
            "wins_b": counts.second_wins,
            "ties": counts.ties,
        }
    )


def _read_counts(
    counts: pd.DataFrame, models: Sequence[str] | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(model names, score matrix W, battle matrix T): W[i, j] = wins of i over j plus half
    the ties, T[i, j] = votes between i and j."""
    require_columns(counts, COUNT_COLUMNS, "vote-count table")
    for column in ("model_a", "model_b"):
        missing = missing_mask(counts[column])
        if missing.any():
            raise row_error(int(np.argmax(missing)), f"{column} is empty")
    a = counts["model_a"].map(str).to_numpy(dtype=object)
    b = counts["model_b"].map(str).to_numpy(dtype=object)
    numbers = {}
    for column in ("wins_a", "wins_b", "ties"):
        values = pd.to_numeric(counts[column], errors="coerce").to_numpy(dtype=float)
        bad = ~np.isfinite(values) | (values < 0) | (values != np.round(values))
        if bad.any():
            position = int(np.argmax(bad))
            raise row_error(
                position, f"{column} is {counts[column].tolist()[position]!r}, not a count >= 0"
            )
        numbers[column] = values
    same = a == b
    if same.any():
        raise row_error(int(np.argmax(same)), f"model {a[np.argmax(same)]!r} is paired with itself")
    seen = np.unique(np.concatenate([a, b])) if len(a) else np.array([], dtype=object)
    if models is None:
        names = seen
    else:
        names = np.array(sorted({str(m) for m in models}), dtype=object)
        unknown = np.setdiff1d(seen, names)
        if unknown.size:
            where = int(np.argmax(np.isin(a, unknown) | np.isin(b, unknown)))
            raise row_error(where, f"model {unknown[0]!r} is not in the model list")
    if len(names) < 2:
        raise InputError("scheduling needs at least two models")
    n = len(names)
    i = np.searchsorted(names, a)
    j = np.searchsorted(names, b)
    wins = np.zeros((n, n))
    total = np.zeros((n, n))
    ties = numbers["ties"]
    np.add.at(wins, (i, j), numbers["wins_a"] + 0.5 * ties)
    np.add.at(wins, (j, i), numbers["wins_b"] + 0.5 * ties)
    votes = numbers["wins_a"] + numbers["wins_b"] + ties
    np.add.at(total, (i, j), votes)
    np.add.at(total, (j, i), votes)
    return names, wins, total


def _candidate_mask(names: np.ndarray, candidates: Iterable | None) -> np.ndarray:
    n = len(names)
    if candidates is None:
        mask = np.ones((n, n), dtype=bool)
        np.fill_diagonal(mask, False)
        return np.triu(mask)
    if isinstance(candidates, pd.DataFrame):
        require_columns(candidates, ["model_a", "model_b"], "candidate table")
        pairs = list(zip(candidates["model_a"], candidates["model_b"], strict=True))
    else:
        pairs = list(candidates)
    mask = np.zeros((n, n), dtype=bool)
    for position, pair in enumerate(pairs):
        try:
            first, second = (str(m) for m in pair)
        except (TypeError, ValueError):
            raise row_error(position, f"candidate {pair!r} is not a pair of models") from None
        where = np.searchsorted(names, [first, second])
        for name, k in zip((first, second), where, strict=True):
            if k >= n or names[k] != name:
                raise row_error(position, f"candidate model {name!r} is not in the model list")
        if where[0] == where[1]:
            raise row_error(position, f"candidate pairs model {first!r} with itself")
        mask[min(where), max(where)] = True
    return mask


# --------------------------------------------------------------------------- the model


def _posterior(
    wins: np.ndarray, total: np.ndarray, prior_sd: float, *, tol: float = 1e-10
) -> tuple[np.ndarray, np.ndarray]:
    """MAP strengths under the N(0, prior_sd^2) prior and the Laplace covariance."""
    n = len(wins)
    precision = 1.0 / prior_sd**2
    theta = np.zeros(n)
    for _ in range(100):
        p = expit(theta[:, None] - theta[None, :])
        grad = (total * p - wins).sum(axis=1) + precision * theta
        info = _information(total, p, precision)
        step = np.linalg.solve(info, grad)
        theta -= step
        if np.abs(step).max() < tol:
            p = expit(theta[:, None] - theta[None, :])
            return theta, np.linalg.inv(_information(total, p, precision))
    raise ConvergenceError("the schedule's rating fit did not converge in 100 Newton steps")


def _information(total: np.ndarray, p: np.ndarray, precision: float) -> np.ndarray:
    weight = total * p * (1 - p)
    info = -weight
    info[np.diag_indices_from(info)] = weight.sum(axis=1) - np.diag(weight) + precision
    return info


def _pair_scores(
    sigma: np.ndarray, w: np.ndarray, criterion: str, contrasts: np.ndarray
) -> np.ndarray:
    """Expected shrinkage of the criterion (log-odds^2) from one vote on each pair."""
    n = len(sigma)
    d = np.diag(sigma)
    q = d[:, None] + d[None, :] - 2 * sigma  # Var(theta_i - theta_j)
    if criterion == "variance":
        centred = sigma - sigma.mean(axis=0, keepdims=True)  # C Sigma
        g = centred.T @ centred  # Sigma C Sigma
    else:
        if len(contrasts) == 0:
            return np.zeros((n, n))
        m = sigma[:, contrasts[:, 0]] - sigma[:, contrasts[:, 1]]  # columns Sigma c_k
        g = m @ m.T
    gd = np.diag(g)
    gain = gd[:, None] + gd[None, :] - 2 * g
    return w * gain / (1 + w * q)


def _ambiguous_neighbours(order: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """Pairs (a, b) adjacent in the rating order whose intervals overlap."""
    pairs = [
        (a, b)
        for a, b in zip(order[:-1], order[1:], strict=True)
        if not (lower[a] > upper[b] or lower[b] > upper[a])
    ]
    return np.array(pairs, dtype=np.intp).reshape(-1, 2)


# --------------------------------------------------------------------------- public API


def schedule_pairs(
    counts: pd.DataFrame | None,
    models: Sequence[str] | None = None,
    *,
    candidates: pd.DataFrame | Iterable[tuple[str, str]] | None = None,
    criterion: str = "variance",
    confidence: float = 0.95,
    stop_confidence: float | None = None,
    prior_sd: float = 2.0,
    budget: int | None = None,
    target_width: float | None = None,
    max_votes_per_pair: int | None = None,
    stop_separated: bool | None = None,
    plan: int = 0,
    scale: float = 400,
    base: float = 10,
    initial: float = 1000,
) -> Schedule:
    """Score every candidate pair by how much its next vote shrinks the leaderboard's
    uncertainty, and say whether to stop (model and formulas in the module docstring).

    Parameters
    ----------
    counts
        Votes so far, one row per pair of models (a pair may appear in several rows, in
        either order; they are added up): ``model_a, model_b, wins_a, wins_b, ties``
        (whole numbers >= 0; ``ties`` counts both kinds). `counts_from_battles` builds it
        from a battle table. May be empty or None (a study that has not started; then
        `models` is needed).
    models
        Every model of the study, including those without votes yet (default: the models
        in `counts`).
    candidates
        The pairs that can be served now (a DataFrame with model_a, model_b, or (a, b)
        tuples); default every pair of `models`.
    criterion
        ``"variance"`` (default) or ``"ranks"``.
    confidence
        Level of the rating intervals reported and used for "separated".
    stop_confidence
        Level used by the stopping rule (default: `confidence`).
    prior_sd
        Standard deviation of the prior on strengths, in natural log-odds (2.0 = 347 Elo
        points at scale 400, base 10): weak, it only keeps early estimates finite.
    budget, target_width, max_votes_per_pair
        Stopping rule: the study stops at `budget` votes or when the median width of the
        rating intervals (Elo points) is at most `target_width`; a pair stops at
        `max_votes_per_pair` votes.
    stop_separated
        Stop serving a pair once its models' intervals (at `stop_confidence`) are apart
        (default: True under ``ranks``, False under ``variance``).
    plan
        Also choose the next `plan` votes greedily (each pick updates the covariance by
        Sherman-Morrison before the next; strengths stay as estimated), for a hand-out
        that refreshes its schedule every `plan` votes.
    scale, base, initial
        The Elo scale of the reported ratings.
    """
    if criterion not in CRITERIA:
        raise InputError(f"unknown criterion {criterion!r} (expected variance or ranks)")
    for name, value in (("confidence", confidence), ("stop_confidence", stop_confidence)):
        if value is not None and not 0 < value < 1:
            raise InputError(f"{name} must be between 0 and 1, got {value!r}")
    if not prior_sd > 0:
        raise InputError(f"prior_sd must be positive, got {prior_sd!r}")
    if plan < 0:
        raise InputError(f"plan must be 0 or more, got {plan!r}")
    if counts is None:
        counts = pd.DataFrame(columns=list(COUNT_COLUMNS))
    elif not isinstance(counts, pd.DataFrame):
        require_table(counts, "vote-count table")
    names, wins, total = _read_counts(counts, models)
    with single_threaded_blas(len(names) ** 3):
        return _schedule(
            names,
            wins,
            total,
            _candidate_mask(names, candidates),
            criterion=criterion,
            confidence=confidence,
            stop_confidence=stop_confidence,
            prior_sd=prior_sd,
            budget=budget,
            target_width=target_width,
            max_votes_per_pair=max_votes_per_pair,
            stop_separated=stop_separated,
            plan=plan,
            scale=scale,
            base=base,
            initial=initial,
        )


def _schedule(
    names: np.ndarray,
    wins: np.ndarray,
    total: np.ndarray,
    open_mask: np.ndarray,
    *,
    criterion: str,
    confidence: float,
    stop_confidence: float | None,
    prior_sd: float,
    budget: int | None,
    target_width: float | None,
    max_votes_per_pair: int | None,
    stop_separated: bool | None,
    plan: int,
    scale: float,
    base: float,
    initial: float,
) -> Schedule:
    n = len(names)
    factor = scale / math.log(base)
    theta, sigma = _posterior(wins, total, prior_sd)
    centred = sigma - sigma.mean(axis=0, keepdims=True)
    centred = centred - centred.mean(axis=1, keepdims=True)
    se = np.sqrt(np.clip(np.diag(centred), 0, None))
    z = stats.norm.ppf(0.5 + confidence / 2)
    z_stop = stats.norm.ppf(0.5 + (stop_confidence or confidence) / 2)
    rating = initial + factor * (theta - theta.mean())
    lower, upper = rating - z * factor * se, rating + z * factor * se
    stop_lower, stop_upper = rating - z_stop * factor * se, rating + z_stop * factor * se
    widths = upper - lower
    median_width = float(np.median(widths))
    votes = int(np.triu(total, 1).sum())

    order = np.lexsort((names.astype(str), -rating))
    ambiguous = _ambiguous_neighbours(order, stop_lower, stop_upper)
    p = expit(theta[:, None] - theta[None, :])
    w = p * (1 - p)
    scores = _pair_scores(sigma, w, criterion, ambiguous) * factor**2

    separated = (stop_lower[:, None] > stop_upper[None, :]) | (
        stop_lower[None, :] > stop_upper[:, None]
    )
    capped = (
        total >= max_votes_per_pair if max_votes_per_pair is not None else np.zeros_like(separated)
    )
    stop_reason = None
    if budget is not None and votes >= budget:
        stop_reason = "budget"
    elif target_width is not None and median_width <= target_width:
        stop_reason = "target width"
    elif len(ambiguous) == 0:
        stop_reason = "ranks separated"
    i, j = np.nonzero(open_mask)
    if stop_separated is None:
        stop_separated = criterion == "ranks"
    reason = np.where(
        separated[i, j] & stop_separated, "separated", np.where(capped[i, j], "pair cap", "")
    ).astype(object)
    if stop_reason is None and (reason == "").sum() == 0:
        stop_reason = "no open pair"
    if stop_reason is not None:
        reason[reason == ""] = "study stopped"
    stopped = reason != ""
    pair_score = np.where(stopped, 0.0, scores[i, j])
    pairs = pd.DataFrame(
        {
            "model_a": names[i],
            "model_b": names[j],
            "votes": total[i, j].astype(np.int64),
            "score": pair_score,
            "separated": separated[i, j],
            "stopped": stopped,
            "reason": reason,
        }
    )
    ranked = np.lexsort(
        (
            pairs["model_b"].to_numpy(str),
            pairs["model_a"].to_numpy(str),
            pairs["votes"].to_numpy(),
            -pairs["score"].to_numpy(),
            stopped,
        )
    )
    pairs = pairs.iloc[ranked].reset_index(drop=True)
    priority = np.arange(1, len(pairs) + 1, dtype=float)
    priority[pairs["stopped"].to_numpy()] = np.nan
    pairs.insert(4, "priority", priority)

    ratings = (
        pd.DataFrame(
            {
                "model": names,
                "rating": rating,
                "se": factor * se,
                "ci_lower": lower,
                "ci_upper": upper,
                "rank_lower": 1 + (lower[None, :] > upper[:, None]).sum(axis=1),
                "rank_upper": n - (upper[None, :] < lower[:, None]).sum(axis=1),
                "votes": total.sum(axis=1).astype(np.int64),
            }
        )
        .iloc[order]
        .reset_index(drop=True)
    )

    planned = pd.DataFrame(columns=["model_a", "model_b"])
    if plan and stop_reason is None:
        open_pairs = np.zeros((n, n), dtype=bool)
        keep = ~stopped
        ii = np.searchsorted(names, pairs["model_a"].to_numpy()[keep])
        jj = np.searchsorted(names, pairs["model_b"].to_numpy()[keep])
        open_pairs[ii, jj] = True
        picks = _plan(sigma, w, criterion, ambiguous, open_pairs, total, max_votes_per_pair, plan)
        planned = pd.DataFrame(
            {"model_a": names[[a for a, _ in picks]], "model_b": names[[b for _, b in picks]]}
        )
    return Schedule(
        pairs=pairs,
        ratings=ratings,
        stop=stop_reason is not None,
        stop_reason=stop_reason,
        votes=votes,
        median_width=median_width,
        criterion=criterion,
        plan=planned,
    )


def _plan(
    sigma: np.ndarray,
    w: np.ndarray,
    criterion: str,
    contrasts: np.ndarray,
    open_pairs: np.ndarray,
    total: np.ndarray,
    cap: int | None,
    k: int,
) -> list[tuple[int, int]]:
    """Greedy choice of k votes; each pick shrinks Sigma by Sherman-Morrison.

    Under ``variance`` the scores' ingredients are updated in O(n^2) per pick: with
    Sigma' = Sigma - c s s^T, Var(theta_i - theta_j) loses c (s_i - s_j)^2 and
    G = Sigma C Sigma becomes G - c (s t^T + t s^T) + c^2 (s^T C s) s s^T, t = Sigma C s.
    """
    sigma = sigma.copy()
    votes = total.copy()
    n = len(sigma)
    picks: list[tuple[int, int]] = []
    incremental = criterion == "variance"
    if incremental:
        d = np.diag(sigma)
        q = d[:, None] + d[None, :] - 2 * sigma
        centred = sigma - sigma.mean(axis=0, keepdims=True)
        g = centred.T @ centred
    for _ in range(k):
        if incremental:
            gd = np.diag(g)
            scores = w * (gd[:, None] + gd[None, :] - 2 * g) / (1 + w * q)
        else:
            scores = _pair_scores(sigma, w, criterion, contrasts)
        scores = np.where(open_pairs, scores, -np.inf)
        best = int(np.argmax(scores))
        a, b = divmod(best, n)
        if not np.isfinite(scores[a, b]):
            break
        picks.append((a, b))
        s = sigma[:, a] - sigma[:, b]
        c = w[a, b] / (1 + w[a, b] * (s[a] - s[b]))
        sigma -= c * np.outer(s, s)
        if incremental:
            q -= c * (s[:, None] - s[None, :]) ** 2
            s_centred = s - s.mean()
            t = sigma @ s_centred + c * s * (s @ s_centred)  # the old Sigma C s
            g += -c * (np.outer(s, t) + np.outer(t, s)) + c * c * (s @ s_centred) * np.outer(s, s)
        votes[a, b] += 1
        votes[b, a] += 1
        if cap is not None and votes[a, b] >= cap:
            open_pairs[a, b] = False
    return picks
