"""Ties modelled, not halved: the Davidson (1970) extension of Bradley-Terry.

Davidson, R. R. (1970). "On extending the Bradley-Terry model to accommodate ties in paired
comparison experiments." Journal of the American Statistical Association 65 (329), 317-328.

With strengths pi_i = exp(theta_i) and a tie parameter nu >= 0, a battle between i and j ends

    P(i wins) = pi_i / (pi_i + pi_j + nu * sqrt(pi_i * pi_j))
    P(j wins) = pi_j / (pi_i + pi_j + nu * sqrt(pi_i * pi_j))
    P(tie)    = nu * sqrt(pi_i * pi_j) / (pi_i + pi_j + nu * sqrt(pi_i * pi_j))

(Davidson's eq. 2.1-2.2). Dividing by sqrt(pi_i pi_j), with eta = theta_i - theta_j:
P(i wins) = e^(eta/2) / D, P(j wins) = e^(-eta/2) / D, P(tie) = nu / D, where
D = e^(eta/2) + e^(-eta/2) + nu. Among decisive battles P(i wins | decisive) = sigmoid(eta),
exactly the Bradley-Terry model, so theta is on the same scale as `scoring.ratings`
(R = initial + theta * scale / ln(base)) and the two leaderboards can be read side by side.
nu / (2 + nu) is the probability that two equally strong models tie.

Why it matters: counting a tie as half a win for each side (`ratings.bradley_terry`, the
Chatbot Arena convention) pulls every pair's score toward 1/2, which shrinks every rating
gap. On simulated battles (bench/bench_ties.py --part bias; 10 models, sd 150 Elo points)
the slope of estimated on true ratings is 0.87 with 11 % ties and 0.74 with 22 % ties from
this model, and 0.87 / 0.83 / 0.68 with 10 / 13 / 25 % ties that carry no strength
information at all; Davidson's slope is 1.00 in the first case and 0.99 / 0.98 / 0.94 in
the second (its tie model is then wrong; dropping the ties is unbiased there). Davidson's
model reads ties as evidence of closeness instead of as half wins.

Fitting: theta and tau = ln(nu) maximise the log-likelihood of the battles aggregated into
per-pair counts of first wins, second wins and ties (sufficient statistics), by Newton's
method on the exact Hessian (long steps halved until the likelihood improves), batched over
bootstrap rounds as in `scoring.ratings`. A ridge ``ridge / 2 * (sum(theta^2) + tau^2)``
(default 1e-6, as `ratings.RIDGE`) keeps the fit finite where the likelihood has no maximum
(a model that never lost or never won) and centres the strengths on mean 0. Without any tie
nu's maximum-likelihood estimate is 0, and the fit is the Bradley-Terry fit of the decisive
battles.

Bootstrap intervals resample battles: counted per (pair, outcome) cell, a resample is a
multinomial draw with the observed cell shares (Efron & Tibshirani 1993, ch. 6), drawn
directly; percentile intervals (ch. 13).
"""

from __future__ import annotations

import math
import warnings
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.sparse.csgraph import connected_components

from scoring.errors import ConvergenceError, InputError, RatingWarning
from scoring.ratings import (
    MIN_BATTLES,
    RIDGE,
    PairCounts,
    anchor_index,
    check_options,
    identification,
    pair_counts,
)

_TRUSTED_STEP = 1.0  # natural log-odds units; longer Newton steps are line-searched
_NOISE_STEP = 1e-7
_NO_TIES_TAU = -50.0  # ln(nu) held here (nu ~ 2e-22) in a fit without any tie
_DRAW_CHUNK = 8

try:  # Many small solves: BLAS threads only add contention (17x slower on a busy machine).
    from threadpoolctl import ThreadpoolController
except ImportError:  # pragma: no cover - threadpoolctl is a declared dependency
    ThreadpoolController = None

_blas: list = []


def single_threaded_blas(work: int) -> AbstractContextManager:
    """Limit BLAS to one thread for `work` matrix entries (or flops), if large enough: many
    small solves gain nothing from BLAS threads and lose much to their contention."""
    if ThreadpoolController is None or work < 1_000_000:
        return nullcontext()
    if not _blas:
        _blas.append(ThreadpoolController())
    return _blas[0].limit(limits=1, user_api="blas")


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class DavidsonFit:
    """A Davidson maximum-likelihood fit.

    ratings: Elo-scale rating per model (index ``model``, highest first). theta: the same
    on the natural log-odds scale, centred on 0, in the order of `models` (sorted by name).
    tie_parameter: nu. tie_probability_equal: nu / (2 + nu), the chance that two equally
    strong models tie. log_likelihood: of the battles at the fit (ridge excluded).
    """

    ratings: pd.Series
    theta: np.ndarray
    models: np.ndarray
    tie_parameter: float
    tie_probability_equal: float
    log_likelihood: float
    battles: int
    ties: int


@dataclass(frozen=True)
class DavidsonLeaderboard:
    """A Davidson leaderboard: the table and the tie parameter with its interval.

    table: one row per model with the columns of `ratings.leaderboard` (model, rating,
    ci_lower, ci_upper, battles, wins, ties, losses, win_rate, rank, rank_lower,
    rank_upper). tie_parameter (nu) with the percentile interval tie_ci_lower/upper;
    tie_probability_equal = nu / (2 + nu).
    """

    table: pd.DataFrame
    tie_parameter: float
    tie_ci_lower: float
    tie_ci_upper: float
    tie_probability_equal: float
    log_likelihood: float
    confidence: float
    bootstrap: int

    def rows(self) -> pd.DataFrame:
        """The table with the tie parameter and its interval repeated on every row (the
        leaderboard JSON of `python -m scoring leaderboard --ties davidson`)."""
        out = self.table.copy()
        out["tie_parameter"] = self.tie_parameter
        out["tie_ci_lower"] = self.tie_ci_lower
        out["tie_ci_upper"] = self.tie_ci_upper
        return out


# --------------------------------------------------------------------------- fitting


class _Graph:
    """Incidence structure of the compared pairs, and slots in the (n + 1)^2 Hessian."""

    def __init__(self, counts: PairCounts):
        n, first, second = counts.n_models, counts.first, counts.second
        pairs = len(first)
        rows = np.concatenate([first, second])
        cols = np.concatenate([np.arange(pairs), np.arange(pairs)])
        signs = np.concatenate([np.ones(pairs), -np.ones(pairs)])
        self.n = n
        self.m = n + 1  # theta_0 .. theta_{n-1}, tau
        self.first, self.second = first, second
        self.incidence = sparse.csr_matrix((signs, (rows, cols)), shape=(n, pairs))
        self.degree = abs(self.incidence)
        m = self.m
        self.upper = first * m + second
        self.lower = second * m + first
        self.diagonal = np.arange(n) * (m + 1)
        self.theta_tau = np.arange(n) * m + n
        self.tau_theta = n * m + np.arange(n)
        self.tau_tau = n * m + n


def _log_denominator(eta: np.ndarray, tau: np.ndarray) -> np.ndarray:
    return np.logaddexp(np.logaddexp(0.5 * eta, -0.5 * eta), tau[:, None])


def _loss(
    graph: _Graph,
    cells: tuple[np.ndarray, np.ndarray, np.ndarray],
    theta: np.ndarray,
    tau: np.ndarray,
    ridge: float,
) -> np.ndarray:
    """Penalised negative log-likelihood of each row (round) of theta and tau."""
    wins, losses, ties = cells
    eta = theta[:, graph.first] - theta[:, graph.second]
    log_d = _log_denominator(eta, tau)
    nll = -(wins - losses) * 0.5 * eta - ties * tau[:, None] + (wins + losses + ties) * log_d
    penalty = 0.5 * ridge * (np.einsum("ij,ij->i", theta, theta) + tau * tau)
    return nll.sum(axis=1) + penalty


def _newton(
    graph: _Graph,
    cells: tuple[np.ndarray, np.ndarray, np.ndarray],
    theta: np.ndarray,
    tau: np.ndarray,
    *,
    ridge: float,
    tol: float,
    max_iter: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Maximise the Davidson likelihood of every row of `cells` at once.

    `cells` are (rounds, pairs) arrays of the first model's wins, its losses and the ties;
    rows without any tie keep tau at `_NO_TIES_TAU` (nu's estimate is 0 there).
    """
    with single_threaded_blas(theta.shape[0] * graph.m * graph.m):
        return _newton_steps(graph, cells, theta, tau, ridge=ridge, tol=tol, max_iter=max_iter)


def _newton_steps(
    graph: _Graph,
    cells: tuple[np.ndarray, np.ndarray, np.ndarray],
    theta: np.ndarray,
    tau: np.ndarray,
    *,
    ridge: float,
    tol: float,
    max_iter: int,
) -> tuple[np.ndarray, np.ndarray]:
    theta = np.array(theta, dtype=float, copy=True)
    tau = np.array(tau, dtype=float, copy=True)
    n, m = graph.n, graph.m
    wins, losses, ties = (np.asarray(c, dtype=float) for c in cells)
    free_tau = ties.sum(axis=1) > 0
    tau[~free_tau] = _NO_TIES_TAU
    active = np.arange(theta.shape[0])
    buffer = np.zeros((len(active), m * m))
    previous = np.full(len(active), np.inf)
    w, lo, ti, free = wins, losses, ties, free_tau
    for _ in range(max_iter):
        if active.size == 0:
            return theta, tau
        th, ta = theta[active], tau[active]
        total = w + lo + ti
        eta = th[:, graph.first] - th[:, graph.second]
        log_d = _log_denominator(eta, ta)
        p_win = np.exp(0.5 * eta - log_d)
        p_loss = np.exp(-0.5 * eta - log_d)
        p_tie = np.exp(ta[:, None] - log_d)
        diff = p_win - p_loss
        g_eta = 0.5 * (total * diff - (w - lo))
        h_ee = total * 0.25 * ((p_win + p_loss) - diff * diff)
        h_et = -0.5 * total * diff * p_tie
        grad = np.empty((len(active), m))
        grad[:, :n] = (graph.incidence @ g_eta.T).T + ridge * th
        grad[:, n] = np.where(free, (total * p_tie - ti).sum(axis=1) + ridge * ta, 0.0)
        hess = buffer[: len(active)]
        hess[:, graph.upper] = -h_ee
        hess[:, graph.lower] = -h_ee
        hess[:, graph.diagonal] = (graph.degree @ h_ee.T).T + ridge
        cross = np.where(free[:, None], (graph.incidence @ h_et.T).T, 0.0)
        hess[:, graph.theta_tau] = cross
        hess[:, graph.tau_theta] = cross
        hess[:, graph.tau_tau] = np.where(
            free, (total * p_tie * (1.0 - p_tie)).sum(axis=1) + ridge, 1.0
        )
        step = np.linalg.solve(hess.reshape(-1, m, m), grad[:, :, None])[:, :, 0]
        size = np.abs(step).max(axis=1)
        long = np.flatnonzero(size > _TRUSTED_STEP)
        if long.size:
            length = _backtrack(
                graph,
                (w[long], lo[long], ti[long]),
                th[long],
                ta[long],
                step[long],
                ridge,
            )
            step[long] *= length[:, None]
        theta[active] = th - step[:, :n]
        tau[active] = ta - step[:, n]
        stalled = (size < _NOISE_STEP) & (size > 0.5 * previous)
        keep = (size >= tol) & ~stalled
        active, previous = active[keep], size[keep]
        w, lo, ti, free = w[keep], lo[keep], ti[keep], free[keep]
    if active.size:
        raise ConvergenceError(
            f"Davidson fit did not converge in {max_iter} Newton steps "
            f"for {active.size} of {theta.shape[0]} round(s)"
        )
    return theta, tau


def _backtrack(
    graph: _Graph,
    cells: tuple[np.ndarray, np.ndarray, np.ndarray],
    theta: np.ndarray,
    tau: np.ndarray,
    step: np.ndarray,
    ridge: float,
) -> np.ndarray:
    """Step lengths (1, 1/2, 1/4, ...) that lower the loss of each row along `-step`."""
    n = graph.n
    loss = _loss(graph, cells, theta, tau, ridge)
    slack = 1e-12 * (1.0 + np.abs(loss))
    length = np.ones(len(theta))
    pending = np.arange(len(theta))
    for _halving in range(60):
        part = (cells[0][pending], cells[1][pending], cells[2][pending])
        moved = length[pending, None] * step[pending]
        trial = _loss(graph, part, theta[pending] - moved[:, :n], tau[pending] - moved[:, n], ridge)
        pending = pending[trial > loss[pending] + slack[pending]]
        if pending.size == 0:
            break
        length[pending] *= 0.5
    return length


def _cells(counts: PairCounts) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return (
        counts.first_wins[None, :].astype(float),
        counts.second_wins[None, :].astype(float),
        counts.ties[None, :].astype(float),
    )


def _start_tau(ties: float, battles: float) -> float:
    """ln(nu) at which two equal models tie as often as the battles did."""
    share = min(max(ties / battles, 1e-9), 1 - 1e-9)
    return math.log(2 * share / (1 - share))


def _point_fit(
    counts: PairCounts, graph: _Graph, *, ridge: float, tol: float, max_iter: int
) -> tuple[np.ndarray, float]:
    if counts.n_models < 2 or len(counts.first) == 0:
        raise InputError("the Davidson model needs battles between at least two models")
    decisive = int(counts.first_wins.sum() + counts.second_wins.sum())
    if decisive == 0:
        raise InputError(
            "every battle is a tie: the Davidson model needs at least one win to rate models"
        )
    n_ties = float(counts.ties.sum())
    tau0 = np.array([_start_tau(n_ties, n_ties + decisive)])
    theta, tau = _newton(
        graph,
        _cells(counts),
        np.zeros((1, counts.n_models)),
        tau0,
        ridge=ridge,
        tol=tol,
        max_iter=max_iter,
    )
    return theta[0], float(tau[0])


def _to_ratings(
    theta: np.ndarray, factor: float, initial: float, anchor_at: int | None, anchor
) -> np.ndarray:
    ratings = initial + factor * theta
    if anchor_at is not None:
        ratings = ratings + (float(anchor[1]) - ratings[:, [anchor_at]])
    return ratings


def _nu(tau: np.ndarray | float) -> np.ndarray | float:
    return np.where(np.asarray(tau) <= _NO_TIES_TAU, 0.0, np.exp(tau))


def _log_likelihood(counts: PairCounts, theta: np.ndarray, tau: float) -> float:
    wins, losses, ties = _cells(counts)
    eta = theta[None, counts.first] - theta[None, counts.second]
    log_d = _log_denominator(eta, np.array([tau]))
    ll = (wins * (0.5 * eta - log_d) + losses * (-0.5 * eta - log_d)).sum()
    if ties.sum() > 0:
        ll += (ties * (tau - log_d)).sum()
    return float(ll)


def _warn_if_unidentified(counts: PairCounts) -> None:
    """Warn when some ratings have no finite maximum-likelihood value.

    A tie bounds a rating gap from both sides, a win from one; the ratings are finite iff
    the graph with an edge i -> j when i beat or tied j is strongly connected (as for
    Bradley-Terry, Ford 1957; Hunter 2004).
    """
    n = counts.n_models
    if n < 2:
        return
    forward = counts.first_wins + counts.ties > 0
    backward = counts.second_wins + counts.ties > 0
    rows = np.concatenate([counts.first[forward], counts.second[backward]])
    cols = np.concatenate([counts.second[forward], counts.first[backward]])
    graph = sparse.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, n))
    groups, labels = connected_components(graph, directed=True, connection="strong")
    if groups > 1:
        smallest = counts.models[labels == np.argmin(np.bincount(labels))][:3]
        warnings.warn(
            f"the battles split the models into {groups} groups that never lost to (or never "
            f"beat) one another (e.g. {', '.join(map(repr, smallest))}); rating gaps between "
            "these groups are set by the ridge penalty, not by the data",
            RatingWarning,
            stacklevel=3,
        )


def _sorted(series: pd.Series) -> pd.Series:
    order = np.lexsort((series.index.to_numpy(dtype=str), -series.to_numpy()))
    return series.iloc[order]


# --------------------------------------------------------------------------- public API


def davidson(
    battles: pd.DataFrame | PairCounts,
    *,
    scale: float = 400,
    base: float = 10,
    initial: float = 1000,
    anchor: tuple[str, float] | None = None,
    ridge: float = RIDGE,
    tol: float = 1e-9,
    max_iter: int = 200,
) -> DavidsonFit:
    """Davidson (1970) maximum-likelihood ratings on the Elo scale, and the tie parameter.

    Parameters
    ----------
    battles
        Battle table (model_a, model_b, winner; see `scoring.ratings.validate_battles`:
        ``tie`` and ``tie (bothbad)`` are both ties) or `scoring.ratings.PairCounts`.
    scale, base, initial, anchor, ridge
        As in `scoring.ratings.bradley_terry`: ``scale`` points multiply the odds of a
        decisive win by ``base``; mean rating ``initial`` unless ``anchor=(model, rating)``.
    tol, max_iter
        Newton stops when no parameter moves by more than `tol` (log-odds units); more
        than `max_iter` steps raise `ConvergenceError`.

    Raises `InputError` when no battle is decisive (the ratings would be undefined).
    """
    factor = check_options(scale, base, ridge)
    counts = battles if isinstance(battles, PairCounts) else pair_counts(battles)
    anchor_at = anchor_index(counts.models, anchor)
    _warn_if_unidentified(counts)
    graph = _Graph(counts)
    theta, tau = _point_fit(counts, graph, ridge=ridge, tol=tol, max_iter=max_iter)
    ratings = _to_ratings(theta[None, :], factor, initial, anchor_at, anchor)[0]
    nu = float(_nu(tau))
    return DavidsonFit(
        ratings=_sorted(pd.Series(ratings, index=pd.Index(counts.models, name="model"))),
        theta=theta,
        models=counts.models,
        tie_parameter=nu,
        tie_probability_equal=nu / (2 + nu),
        log_likelihood=_log_likelihood(counts, theta, tau),
        battles=int(counts.battles.sum()),
        ties=int(counts.ties.sum()),
    )


def bootstrap_davidson(
    battles: pd.DataFrame | PairCounts,
    *,
    rounds: int = 1000,
    seed: int | None = 0,
    rng: np.random.Generator | None = None,
    scale: float = 400,
    base: float = 10,
    initial: float = 1000,
    anchor: tuple[str, float] | None = None,
    ridge: float = RIDGE,
    batch: int = 250,
    tol: float = 1e-6,
    max_iter: int = 200,
    start: tuple[np.ndarray, float] | None = None,
) -> tuple[pd.DataFrame, np.ndarray]:
    """Davidson ratings and tie parameters refitted on `rounds` bootstrap resamples.

    Each round draws as many battles as there are, with replacement, as multinomial counts
    per (pair, outcome) cell (the same distribution as resampling battle rows; Efron &
    Tibshirani 1993, ch. 6). Rounds are fitted `batch` at a time (capping memory), warm-
    started from `start` ((theta, tau); default the point estimate), until no parameter
    moves by more than `tol`. The same `seed` gives the same numbers whatever `batch` is.

    Returns (ratings: DataFrame, one row per round and one column per model sorted by
    name; tie_parameter: array of nu per round).
    """
    factor = check_options(scale, base, ridge)
    if rounds < 0:
        raise ValueError(f"rounds must be >= 0, got {rounds!r}")
    if batch < 1:
        raise ValueError(f"batch must be >= 1, got {batch!r}")
    counts = battles if isinstance(battles, PairCounts) else pair_counts(battles)
    generator = rng if rng is not None else np.random.default_rng(seed)
    anchor_at = anchor_index(counts.models, anchor)
    graph = _Graph(counts)
    if start is None:
        start = _point_fit(counts, graph, ridge=ridge, tol=tol, max_iter=max_iter)
    theta0, tau0 = start
    if tau0 <= _NO_TIES_TAU:  # no tie observed: start resampled ties from a small nu
        tau0 = _start_tau(0.5, float(counts.battles.sum()))
    n, pairs = counts.n_models, len(counts.first)
    per_round = 8 * ((n + 1) ** 2 + 12 * pairs)
    batch = max(1, min(batch, (200 << 20) // per_round))
    cells = np.stack([counts.first_wins, counts.second_wins, counts.ties], axis=1).ravel()
    used = np.flatnonzero(cells)
    n_battles = int(cells.sum())
    shares = cells[used] / n_battles
    theta = np.empty((rounds, n))
    tau = np.empty(rounds)

    def fit(begin: int, draws: np.ndarray) -> None:
        size = len(draws)
        fitted = _newton(
            graph,
            (draws[:, :, 0], draws[:, :, 1], draws[:, :, 2]),
            np.broadcast_to(theta0, (size, n)),
            np.full(size, tau0),
            ridge=ridge,
            tol=tol,
            max_iter=max_iter,
        )
        theta[begin : begin + size], tau[begin : begin + size] = fitted

    def draw(size: int) -> np.ndarray:
        draws = np.zeros((size, 3 * pairs))
        for chunk in range(0, size, _DRAW_CHUNK):  # short calls let a worker thread run
            rows = min(_DRAW_CHUNK, size - chunk)
            draws[chunk : chunk + rows, used] = generator.multinomial(n_battles, shares, size=rows)
        return draws.reshape(size, pairs, 3)

    if rounds * pairs < 200_000:  # small: a worker thread costs more than it saves
        for begin in range(0, rounds, batch):
            fit(begin, draw(min(batch, rounds - begin)))
        ratings = _to_ratings(theta, factor, initial, anchor_at, anchor)
        return pd.DataFrame(ratings, columns=pd.Index(counts.models, name="model")), np.asarray(
            _nu(tau)
        )
    # As in scoring.ratings: batch k is fitted in a worker thread (numpy and LAPACK release
    # the GIL) while batch k + 1 is drawn here, in one thread and one order, so the numbers
    # do not depend on the timing.
    with ThreadPoolExecutor(max_workers=1) as worker:
        fitting = None
        for begin in range(0, rounds, batch):
            draws = draw(min(batch, rounds - begin))
            if fitting is not None:
                fitting.result()
            fitting = worker.submit(fit, begin, draws)
        if fitting is not None:
            fitting.result()
    ratings = _to_ratings(theta, factor, initial, anchor_at, anchor)
    return pd.DataFrame(ratings, columns=pd.Index(counts.models, name="model")), np.asarray(
        _nu(tau)
    )


def davidson_leaderboard(
    battles: pd.DataFrame | PairCounts,
    *,
    bootstrap: int = 1000,
    seed: int | None = 0,
    rng: np.random.Generator | None = None,
    confidence: float = 0.95,
    scale: float = 400,
    base: float = 10,
    initial: float = 1000,
    anchor: tuple[str, float] | None = None,
    ridge: float = RIDGE,
    batch: int = 250,
    min_battles: int = MIN_BATTLES,
) -> DavidsonLeaderboard:
    """Davidson leaderboard: ratings, percentile bootstrap intervals, ranks, tie parameter.

    The table has the columns and the rank rule of `scoring.ratings.leaderboard` (rank =
    1 + the number of models whose ci_lower is above this model's ci_upper; rank_lower and
    rank_upper the best and worst places the intervals allow); `win_rate` stays the
    observed (wins + ties / 2) / battles. The tie parameter nu comes with the percentile
    interval of its bootstrap distribution. ``bootstrap=0`` leaves the intervals NaN.
    The flag columns ``component``, ``low_battles`` (fewer than `min_battles` battles) and
    ``unbounded`` are those of `scoring.ratings.leaderboard`; an unbounded model's interval
    is open on its unbounded side and its ranks span every place it could take.
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence!r}")
    factor = check_options(scale, base, ridge)
    counts = battles if isinstance(battles, PairCounts) else pair_counts(battles)
    anchor_at = anchor_index(counts.models, anchor)
    _warn_if_unidentified(counts)
    graph = _Graph(counts)
    theta, tau = _point_fit(counts, graph, ridge=ridge, tol=1e-9, max_iter=200)
    rating = _to_ratings(theta[None, :], factor, initial, anchor_at, anchor)[0]
    nu = float(_nu(tau))
    tail = (1 - confidence) / 2
    if bootstrap > 0:
        rounds, nus = bootstrap_davidson(
            counts,
            rounds=bootstrap,
            seed=seed,
            rng=rng,
            scale=scale,
            base=base,
            initial=initial,
            anchor=anchor,
            ridge=ridge,
            batch=batch,
            start=(theta, tau),
        )
        lower, upper = np.quantile(rounds.to_numpy(), [tail, 1 - tail], axis=0)
        nu_lower, nu_upper = (float(v) for v in np.quantile(nus, [tail, 1 - tail]))
        rank = 1 + (lower[None, :] > upper[:, None]).sum(axis=1)
        rank_upper = counts.n_models - (upper[None, :] < lower[:, None]).sum(axis=1)
    else:
        lower = upper = np.full(counts.n_models, np.nan)
        nu_lower = nu_upper = math.nan
        rank = 1 + (rating[None, :] > rating[:, None]).sum(axis=1)
        rank_upper = counts.n_models - (rating[None, :] < rating[:, None]).sum(axis=1)
    table = counts.per_model().reset_index()
    table.insert(1, "rating", rating)
    table.insert(2, "ci_lower", lower)
    table.insert(3, "ci_upper", upper)
    table["win_rate"] = (table["wins"] + 0.5 * table["ties"]) / table["battles"]
    # The flags of the plain leaderboard (ties bound a gap from both sides there too). A
    # model whose rating the data leave unbounded gets an open interval on that side and
    # spans every rank it could take: its ridge-set number is not evidence.
    ident = identification(counts, min_battles=min_battles)
    for i, side in enumerate(ident.unbounded):
        if side in ("above", "both"):
            table.loc[i, "ci_upper"] = math.inf
            rank[i] = 1
        if side in ("below", "both"):
            table.loc[i, "ci_lower"] = -math.inf
            rank_upper[i] = counts.n_models
    table["rank"] = rank.astype(np.int64)
    table["rank_lower"] = rank.astype(np.int64)
    table["rank_upper"] = rank_upper.astype(np.int64)
    table["component"] = ident.component
    table["low_battles"] = ident.low_battles
    table["unbounded"] = pd.array(ident.unbounded, dtype=object)  # type: ignore[call-overload,arg-type]
    order = np.lexsort((table["model"].to_numpy(dtype=str), -table["rating"].to_numpy()))
    return DavidsonLeaderboard(
        table=table.iloc[order].reset_index(drop=True),
        tie_parameter=nu,
        tie_ci_lower=nu_lower,
        tie_ci_upper=nu_upper,
        tie_probability_equal=nu / (2 + nu),
        log_likelihood=_log_likelihood(counts, theta, tau),
        confidence=confidence,
        bootstrap=bootstrap,
    )


def simulate_davidson(
    ratings: np.ndarray,
    tie_parameter: float,
    n_battles: int,
    *,
    rng: np.random.Generator,
    scale: float = 400,
    base: float = 10,
    names: np.ndarray | None = None,
) -> pd.DataFrame:
    """Battles between uniformly drawn pairs of models with Elo-scale `ratings`, outcomes
    drawn from the Davidson model with tie parameter nu = `tie_parameter` (for simulation
    studies and benches)."""
    ratings = np.asarray(ratings, dtype=float)
    n = len(ratings)
    if names is None:
        names = np.array([f"m{i:03d}" for i in range(n)], dtype=object)
    a = rng.integers(0, n, n_battles)
    b = (a + rng.integers(1, n, n_battles)) % n
    eta = (ratings[a] - ratings[b]) * math.log(base) / scale
    denominator = np.exp(0.5 * eta) + np.exp(-0.5 * eta) + tie_parameter
    p_win = np.exp(0.5 * eta) / denominator
    p_tie = tie_parameter / denominator
    u = rng.random(n_battles)
    winner = np.where(u < p_win, "model_a", np.where(u < p_win + p_tie, "tie", "model_b"))
    return pd.DataFrame({"model_a": names[a], "model_b": names[b], "winner": winner})
