"""Ratings from pairwise battles: online Elo, Bradley-Terry maximum likelihood, leaderboards.

A battle is one verdict between two models: columns ``model_a``, ``model_b`` and ``winner``,
one of `WINNERS`. Both kinds of tie ("tie" and "tie (bothbad)") count as half a win for each
side, as in the Chatbot Arena leaderboard (Chiang et al. 2024, "Chatbot Arena: An Open
Platform for Evaluating LLMs by Human Preference", and its published notebook).

Bradley-Terry (Bradley & Terry 1952; Zermelo 1929) on the Elo scale: model i beats model j
with probability

    P(i > j) = 1 / (1 + base ** ((R_j - R_i) / scale)),

so with theta_i = R_i * ln(base) / scale this is the logistic model sigma(theta_i - theta_j).
The fit maximises the likelihood over battles aggregated into per-pair counts (identical
battles are sufficient statistics, so the counts give the same maximum as the raw battles),
by Newton's method (long steps are halved until the likelihood improves), batched over
bootstrap rounds.
Ratings are centred so that their mean is `initial` unless an `anchor` fixes one model.

Bootstrap intervals resample battles with replacement. Drawing N battles with replacement
from N battles and counting them per (pair, outcome) cell is a multinomial draw with the
observed cell shares as probabilities, so the leaderboard draws those counts directly
(Efron & Tibshirani 1993, ch. 6: the bootstrap of i.i.d. rows), which gives the same
distribution as resampling battle rows at a fraction of the cost.
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
from scipy.special import expit

from scoring import outcomes
from scoring.errors import ConvergenceError, InputError, RatingWarning, row_error
from scoring.tables import require_columns, require_table

WINNERS = ("model_a", "model_b", "tie", "tie (bothbad)")
BATTLE_COLUMNS = ("model_a", "model_b", "winner")
RIDGE = 1e-6

try:  # Many small solves: BLAS threads only add contention (3-5x slower on a busy machine).
    from threadpoolctl import ThreadpoolController
except ImportError:  # pragma: no cover - threadpoolctl is a declared dependency
    ThreadpoolController = None

_blas: list = []  # the ThreadpoolController, created on first use (it scans loaded libraries)


def _single_threaded_blas(work: int) -> AbstractContextManager:
    """Limit BLAS to one thread for a batch of `work` Hessian entries, if large enough."""
    if ThreadpoolController is None or work < 1_000_000:
        return nullcontext()
    if not _blas:
        _blas.append(ThreadpoolController())
    return _blas[0].limit(limits=1, user_api="blas")


# Outcome codes of a battle, from model_a's side.
_A_WINS, _B_WINS, _TIE, _BOTHBAD = range(4)
# model_a's score for each outcome code (scoring.outcomes: a tie of either kind is half a win).
_WINNER_SCORES = outcomes.first_scores(WINNERS)


# --------------------------------------------------------------------------- validation


@dataclass(frozen=True)
class EncodedBattles:
    """Battles as integer codes: `models` sorted by name; `a`, `b` index into it;
    `outcome` indexes `WINNERS`."""

    models: np.ndarray
    a: np.ndarray
    b: np.ndarray
    outcome: np.ndarray

    def score_a(self) -> np.ndarray:
        """model_a's score in each battle: 1 for a win, 0 for a loss, 1/2 for either tie."""
        return _WINNER_SCORES[self.outcome]


def encode_battles(battles: pd.DataFrame) -> EncodedBattles:
    """Check a battle table and turn model names and verdicts into integer codes.

    Raises `InputError` for an empty table, a missing column, an empty cell, an unknown
    winner value or a model battling itself, naming the value and its 1-based row.
    Model names are compared as text (a model called 7 in one file and "7" in another is
    the same model) and sorted, so the codes do not depend on the order of the battles.
    """
    battles = require_table(battles, "battle table")
    require_columns(battles, BATTLE_COLUMNS, "battle table")
    codes_a, names_a = _factorize_names(battles["model_a"], "model_a")
    codes_b, names_b = _factorize_names(battles["model_b"], "model_b")
    outcome = _winner_codes(battles["winner"])
    models = np.unique(np.concatenate([names_a, names_b]))
    a = np.searchsorted(models, names_a)[codes_a]
    b = np.searchsorted(models, names_b)[codes_b]
    same = a == b
    if same.any():
        position = int(np.argmax(same))
        raise row_error(
            position, f"model {models[a[position]]!r} battles itself (model_a equals model_b)"
        )
    return EncodedBattles(models=models, a=a, b=b, outcome=outcome)


def validate_battles(battles: pd.DataFrame) -> pd.DataFrame:
    """Return the battle table with model names and winners as text, or raise `InputError`.

    Checks (each error names the bad value and its 1-based data row): the table is a
    non-empty DataFrame; it has the columns ``model_a``, ``model_b``, ``winner``; no cell of
    them is empty; every winner is one of `WINNERS`; no model battles itself. Other columns
    are kept unchanged.
    """
    encoded = encode_battles(battles)
    out = battles.copy()
    out["model_a"] = pd.array(encoded.models[encoded.a], dtype=object)
    out["model_b"] = pd.array(encoded.models[encoded.b], dtype=object)
    out["winner"] = pd.array(np.array(WINNERS, dtype=object)[encoded.outcome], dtype=object)
    return out


def _factorize_names(values: pd.Series, column: str) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(values.dtype, pd.CategoricalDtype):
        codes = values.cat.codes.to_numpy().astype(np.intp)
        uniques = values.cat.categories
    else:
        codes, uniques = pd.factorize(values, use_na_sentinel=True)
    names = np.array([_as_name(u) for u in uniques], dtype=object)
    bad = codes < 0
    if len(names):
        bad = bad | np.array([not n.strip() for n in names], dtype=bool)[np.maximum(codes, 0)]
    if bad.any():
        raise row_error(int(np.argmax(bad)), f"{column} is empty")
    return codes, names


def _as_name(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _winner_codes(values: pd.Series) -> np.ndarray:
    if isinstance(values.dtype, pd.CategoricalDtype):
        codes = values.cat.codes.to_numpy().astype(np.intp)
        uniques = list(values.cat.categories)
    else:
        codes, uniques = pd.factorize(values, use_na_sentinel=True)
        uniques = list(uniques)
    if (codes < 0).any():
        raise row_error(int(np.argmax(codes < 0)), "winner is empty")
    lookup = np.array([WINNERS.index(u) if u in WINNERS else -1 for u in uniques], dtype=np.intp)
    outcome = lookup[codes] if len(lookup) else codes
    unknown = outcome < 0
    if unknown.any():
        position = int(np.argmax(unknown))
        raise row_error(
            position,
            f"unknown winner {uniques[codes[position]]!r} (expected one of: {', '.join(WINNERS)})",
        )
    return outcome


# --------------------------------------------------------------------------- pair counts


@dataclass(frozen=True)
class PairCounts:
    """Battles aggregated per unordered pair of models (the sufficient statistics).

    `first[p] < second[p]` index `models`; `first_wins`, `second_wins` and `ties` count the
    battles of pair p by outcome (both kinds of tie together). Pairs that never met are left
    out.
    """

    models: np.ndarray
    first: np.ndarray
    second: np.ndarray
    first_wins: np.ndarray
    second_wins: np.ndarray
    ties: np.ndarray

    @property
    def n_models(self) -> int:
        """Number of models."""
        return len(self.models)

    @property
    def battles(self) -> np.ndarray:
        """Battles per pair."""
        return self.first_wins + self.second_wins + self.ties

    def per_model(self) -> pd.DataFrame:
        """Battles, wins, ties and losses of each model, indexed by model name."""
        n = self.n_models

        def add(index: np.ndarray, weights: np.ndarray) -> np.ndarray:
            return np.bincount(index, weights=weights, minlength=n).astype(np.int64)

        wins = add(self.first, self.first_wins) + add(self.second, self.second_wins)
        losses = add(self.first, self.second_wins) + add(self.second, self.first_wins)
        ties = add(self.first, self.ties) + add(self.second, self.ties)
        return pd.DataFrame(
            {"battles": wins + losses + ties, "wins": wins, "ties": ties, "losses": losses},
            index=pd.Index(self.models, name="model"),
        )


def pair_counts(battles: pd.DataFrame | EncodedBattles) -> PairCounts:
    """Aggregate battles into win/loss/tie counts per unordered model pair.

    Validates the table first (see `encode_battles`). Sides do not matter to the
    Bradley-Terry model, so a battle (a, b, model_a) and (b, a, model_b) land in the same
    cell.
    """
    encoded = battles if isinstance(battles, EncodedBattles) else encode_battles(battles)
    n = len(encoded.models)
    a, b, outcome = encoded.a.astype(np.int64), encoded.b.astype(np.int64), encoded.outcome
    swapped = a > b
    first = np.where(swapped, b, a)
    second = np.where(swapped, a, b)
    # 0: first wins, 1: second wins, 2: tie (either kind)
    code = np.where(outcome >= _TIE, 2, np.where((outcome == _A_WINS) ^ swapped, 0, 1))
    cell = (first * n + second) * 3 + code
    if n * n * 3 <= max(4 * len(cell), 1 << 20):
        flat = np.bincount(cell, minlength=n * n * 3).reshape(n * n, 3)
        keys = np.flatnonzero(flat.sum(axis=1))
        table = flat[keys]
    else:
        cells, counts = np.unique(cell, return_counts=True)
        keys, inverse = np.unique(cells // 3, return_inverse=True)
        table = np.zeros((len(keys), 3), dtype=np.int64)
        table[inverse, cells % 3] = counts
    return PairCounts(
        models=encoded.models,
        first=(keys // n).astype(np.intp),
        second=(keys % n).astype(np.intp),
        first_wins=table[:, 0].astype(np.int64),
        second_wins=table[:, 1].astype(np.int64),
        ties=table[:, 2].astype(np.int64),
    )


# --------------------------------------------------------------------------- fitting


class _Design:
    """The comparison graph of a `PairCounts`: incidence matrices and Hessian slots."""

    def __init__(self, counts: PairCounts):
        n, first, second = counts.n_models, counts.first, counts.second
        pairs = len(first)
        rows = np.concatenate([first, second])
        cols = np.concatenate([np.arange(pairs), np.arange(pairs)])
        signs = np.concatenate([np.ones(pairs), -np.ones(pairs)])
        self.n = n
        self.first, self.second = first, second
        self.incidence = sparse.csr_matrix((signs, (rows, cols)), shape=(n, pairs))
        self.degree = abs(self.incidence)
        self.upper = first * n + second
        self.lower = second * n + first
        self.diagonal = np.arange(n) * (n + 1)


def _loss(
    design: _Design, wins: np.ndarray, total: np.ndarray, theta: np.ndarray, ridge: float
) -> np.ndarray:
    """Penalised negative log-likelihood of each row of `theta`."""
    d = theta[:, design.first] - theta[:, design.second]
    # -log sigma(d) = logaddexp(0, -d); the loser's share uses sigma(-d).
    nll = wins * np.logaddexp(0.0, -d) + (total - wins) * np.logaddexp(0.0, d)
    return nll.sum(axis=1) + 0.5 * ridge * np.einsum("ij,ij->i", theta, theta)


_DRAW_CHUNK = 8
_TRUSTED_STEP = 1.0  # log-odds units (174 Elo points at scale 400, base 10)
_NOISE_STEP = 1e-6  # log-odds units (0.0002 Elo points)


def _backtrack(
    design: _Design,
    wins: np.ndarray,
    total: np.ndarray,
    theta: np.ndarray,
    step: np.ndarray,
    ridge: float,
) -> np.ndarray:
    """Step lengths (1, 1/2, 1/4, ...) that lower the loss of each row along `-step`."""
    loss = _loss(design, wins, total, theta, ridge)
    slack = 1e-12 * (1.0 + np.abs(loss))
    length = np.ones(len(theta))
    pending = np.arange(len(theta))
    for _halving in range(60):
        trial = _loss(
            design,
            wins[pending],
            total[pending],
            theta[pending] - length[pending, None] * step[pending],
            ridge,
        )
        pending = pending[trial > loss[pending] + slack[pending]]
        if pending.size == 0:
            break
        length[pending] *= 0.5
    return length


def _fit_theta(
    design: _Design,
    wins: np.ndarray,
    total: np.ndarray,
    theta: np.ndarray,
    *,
    ridge: float,
    tol: float,
    max_iter: int,
) -> np.ndarray:
    """Minimise the penalised Bradley-Terry loss for each row (bootstrap round) at once.

    `wins` and `total` are (rounds, pairs): the first model's wins (ties as halves) and the
    battles of each pair. Newton steps on the exact Hessian (the graph Laplacian weighted by
    total * p * (1 - p), plus the ridge), halved while they do not lower the loss; a row is
    done when its largest step is below `tol` (in natural log-odds units).
    """
    with _single_threaded_blas(theta.shape[0] * design.n * design.n):
        return _newton(design, wins, total, theta, ridge=ridge, tol=tol, max_iter=max_iter)


def _newton(
    design: _Design,
    wins: np.ndarray,
    total: np.ndarray,
    theta: np.ndarray,
    *,
    ridge: float,
    tol: float,
    max_iter: int,
) -> np.ndarray:
    theta = np.array(theta, dtype=float, copy=True)
    n = design.n
    active = np.arange(theta.shape[0])
    w, t = wins, total
    # Entries of pairs that never met stay 0, so one zeroed buffer serves every step.
    buffer = np.zeros((len(active), n * n))
    previous = np.full(len(active), np.inf)
    for _ in range(max_iter):
        if active.size == 0:
            return theta
        th = theta[active]
        p = th[:, design.first] - th[:, design.second]
        expit(p, out=p)  # p = sigma(d), in place; then h = t p (1 - p)
        h = t * p
        grad = (design.incidence @ (h - w).T).T + ridge * th
        np.subtract(1.0, p, out=p)
        h *= p
        hess = buffer[: len(active)]
        hess[:, design.upper] = -h
        hess[:, design.lower] = -h
        hess[:, design.diagonal] = (design.degree @ h.T).T + ridge
        step = np.linalg.solve(hess.reshape(-1, n, n), grad[:, :, None])[:, :, 0]
        size = np.abs(step).max(axis=1)
        # Short steps (the usual case near the optimum, e.g. warm-started bootstrap rounds)
        # are taken as they are; long ones are halved until the loss goes down. A row is done
        # when its full Newton step is short, never because halving made the move short.
        long = np.flatnonzero(size > _TRUSTED_STEP)
        if long.size:
            step[long] *= _backtrack(design, w[long], t[long], th[long], step[long], ridge)[:, None]
        theta[active] = th - step
        # Also done when tiny steps stop shrinking: rounding noise, not distance to the optimum
        # (e.g. a model that won every battle, whose curvature is nearly 0).
        stalled = (size < _NOISE_STEP) & (size > 0.5 * previous)
        keep = (size >= tol) & ~stalled
        active, w, t, previous = active[keep], w[keep], t[keep], size[keep]
    if active.size:
        raise ConvergenceError(
            f"Bradley-Terry fit did not converge in {max_iter} Newton steps "
            f"for {active.size} of {theta.shape[0]} round(s)"
        )
    return theta


def _check_options(scale: float, base: float, ridge: float) -> float:
    if not scale > 0:
        raise ValueError(f"scale must be positive, got {scale!r}")
    if not base > 1:
        raise ValueError(f"base must be greater than 1, got {base!r}")
    if not ridge > 0:
        raise ValueError(f"ridge must be positive (it keeps the fit finite), got {ridge!r}")
    return scale / math.log(base)


def _anchor_index(models: np.ndarray, anchor: tuple[str, float] | None) -> int | None:
    if anchor is None:
        return None
    name, _rating = anchor
    position = np.searchsorted(models, str(name))
    if position >= len(models) or models[position] != str(name):
        raise InputError(f"anchor model {name!r} is not in the battles")
    return int(position)


def _to_ratings(
    theta: np.ndarray,
    factor: float,
    initial: float,
    anchor_at: int | None,
    anchor: tuple[str, float] | None,
) -> np.ndarray:
    ratings = initial + factor * theta
    if anchor_at is not None:
        ratings += float(anchor[1]) - ratings[:, [anchor_at]]
    return ratings


def _warn_if_unidentified(counts: PairCounts) -> None:
    """Warn when the maximum-likelihood ratings do not exist (Ford 1957; Hunter 2004).

    A finite maximum exists iff for every split of the models into two groups, some model of
    each group beat (or tied) some model of the other: the "beat or tied" graph is strongly
    connected.
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
        sizes = np.bincount(labels)
        smallest = counts.models[labels == np.argmin(sizes)][:3]
        example = ", ".join(map(repr, smallest))
        warnings.warn(
            f"the battles split the models into {groups} groups that never lost to (or never "
            f"beat) one another (e.g. {example}); rating gaps between these groups are set by "
            "the ridge penalty, not by the data",
            RatingWarning,
            stacklevel=3,
        )


def _point_theta(
    counts: PairCounts, design: _Design, *, ridge: float, tol: float, max_iter: int
) -> np.ndarray:
    wins = outcomes.points(counts.first_wins, counts.ties)[None, :].astype(float)
    total = counts.battles[None, :].astype(float)
    start = np.zeros((1, counts.n_models))
    return _fit_theta(design, wins, total, start, ridge=ridge, tol=tol, max_iter=max_iter)[0]


def bradley_terry(
    battles: pd.DataFrame | PairCounts,
    *,
    scale: float = 400,
    base: float = 10,
    initial: float = 1000,
    anchor: tuple[str, float] | None = None,
    ridge: float = RIDGE,
    tol: float = 1e-9,
    max_iter: int = 200,
) -> pd.Series:
    """Bradley-Terry maximum-likelihood ratings on the Elo scale.

    Model: P(i beats j) = 1 / (1 + base ** ((R_j - R_i) / scale)) (Bradley & Terry 1952);
    a tie counts as half a win for each side (Chatbot Arena, Chiang et al. 2024). The
    log-likelihood of the battles, aggregated into per-pair counts, is maximised by Newton's
    method (Hunter 2004 reviews this and the MM alternative).

    Parameters
    ----------
    battles
        Battle table (columns model_a, model_b, winner; see `validate_battles`) or
        `PairCounts`.
    scale, base, initial
        Elo scale: `scale` points of rating difference multiply the odds by `base`. Without
        an anchor the mean rating is `initial`.
    anchor
        ``(model, rating)``: shift all ratings so that `model` has `rating`.
    ridge
        L2 penalty ``ridge / 2 * sum(theta ** 2)`` on the natural-log-odds strengths theta,
        added to the negative log-likelihood, as choix.opt_pairwise does (its ``alpha``,
        default 1e-6). It keeps the ratings finite when the maximum likelihood does not
        exist (a model that won or lost every battle, Ford 1957) and centres each
        disconnected group of models separately; then a `RatingWarning` is issued and the
        gaps between those groups come from the penalty, not the data. On identified data
        the default moves ratings by far less than 0.01 points.
    tol, max_iter
        Newton stops when no strength moves by more than `tol` (log-odds units); if that
        takes more than `max_iter` steps a `ConvergenceError` is raised.

    Returns
    -------
    pandas.Series
        Rating per model (index ``model``), highest first.
    """
    factor = _check_options(scale, base, ridge)
    counts = battles if isinstance(battles, PairCounts) else pair_counts(battles)
    anchor_at = _anchor_index(counts.models, anchor)
    _warn_if_unidentified(counts)
    theta = _point_theta(counts, _Design(counts), ridge=ridge, tol=tol, max_iter=max_iter)
    ratings = _to_ratings(theta[None, :], factor, initial, anchor_at, anchor)[0]
    series = pd.Series(ratings, index=pd.Index(counts.models, name="model"), name="rating")
    return _sort_ratings(series)


def _sort_ratings(series: pd.Series) -> pd.Series:
    order = np.lexsort((series.index.to_numpy(dtype=str), -series.to_numpy()))
    return series.iloc[order]


def bootstrap_ratings(
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
    start: np.ndarray | None = None,
) -> pd.DataFrame:
    """Bradley-Terry ratings refitted on `rounds` bootstrap resamples of the battles.

    Each round draws as many battles as there are, with replacement. Counted per (pair,
    outcome) cell, such a resample is multinomial with the observed cell shares as
    probabilities, so the counts are drawn directly (`numpy.random.Generator.multinomial`)
    instead of resampling rows: the same distribution (Efron & Tibshirani 1993, ch. 6) at a
    cost that does not grow with the number of battles. Rounds are fitted `batch` at a time
    (which caps memory) by Newton's method warm-started from `start` (default: the point
    estimate) until no strength moves by more than `tol` (1e-6 log-odds is 0.0002 Elo
    points, far below the Monte Carlo error of any interval). The same `seed` gives the
    same numbers, whatever `batch` is.

    Returns a DataFrame with one row per round and one column per model (sorted by name).
    Other parameters are as in `bradley_terry`.
    """
    factor = _check_options(scale, base, ridge)
    if rounds < 0:
        raise ValueError(f"rounds must be >= 0, got {rounds!r}")
    if batch < 1:
        raise ValueError(f"batch must be >= 1, got {batch!r}")
    counts = battles if isinstance(battles, PairCounts) else pair_counts(battles)
    generator = rng if rng is not None else np.random.default_rng(seed)
    anchor_at = _anchor_index(counts.models, anchor)
    design = _Design(counts)
    if start is None:
        start = _point_theta(counts, design, ridge=ridge, tol=tol, max_iter=max_iter)
    n, pairs = counts.n_models, len(counts.first)
    # Keep a batch's dense Hessians and pair arrays near 200 MB at most.
    per_round = 8 * (n * n + 8 * pairs)
    batch = max(1, min(batch, (200 << 20) // per_round))
    cells = np.stack([counts.first_wins, counts.second_wins, counts.ties], axis=1).ravel()
    used = np.flatnonzero(cells)
    n_battles = int(cells.sum())
    shares = cells[used] / n_battles
    theta = np.empty((rounds, n))

    def fit(begin: int, wins: np.ndarray, total: np.ndarray) -> None:
        theta[begin : begin + len(wins)] = _fit_theta(
            design,
            wins,
            total,
            np.broadcast_to(start, (len(wins), n)),
            ridge=ridge,
            tol=tol,
            max_iter=max_iter,
        )

    # Drawing counts holds the GIL while the Newton steps mostly release it (numpy ufuncs,
    # LAPACK), so batch k is fitted in a worker thread while batch k + 1 is drawn. The draws
    # stay in one thread and one order, so the numbers do not depend on the timing.
    with ThreadPoolExecutor(max_workers=1) as worker:
        fitting = None
        for begin in range(0, rounds, batch):
            size = min(batch, rounds - begin)
            draws = np.zeros((size, 3 * pairs))
            for chunk in range(0, size, _DRAW_CHUNK):  # short calls let the worker run
                rows = min(_DRAW_CHUNK, size - chunk)
                draws[chunk : chunk + rows, used] = generator.multinomial(
                    n_battles, shares, size=rows
                )
            draws = draws.reshape(size, pairs, 3)
            wins = outcomes.points(draws[:, :, 0], draws[:, :, 2])
            total = draws.sum(axis=2)
            if fitting is not None:
                fitting.result()
            fitting = worker.submit(fit, begin, wins, total)
        if fitting is not None:
            fitting.result()
    ratings = _to_ratings(theta, factor, initial, anchor_at, anchor)
    return pd.DataFrame(ratings, columns=pd.Index(counts.models, name="model"))


def leaderboard(
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
) -> pd.DataFrame:
    """Bradley-Terry leaderboard with percentile bootstrap intervals and rank ranges.

    `rating` is the maximum-likelihood rating (`bradley_terry`); `ci_lower`/`ci_upper` are
    the (1 - confidence)/2 and (1 + confidence)/2 quantiles of `bootstrap` resampled ratings
    (`bootstrap_ratings`; percentile method, Efron & Tibshirani 1993, ch. 13). With an
    anchor, every round is anchored too, so the anchor's interval is a single point.

    Rank follows the Chatbot Arena rule: ``rank = 1 + number of models whose ci_lower is
    above this model's ci_upper`` (the best place the intervals allow). ``rank_lower`` is
    that same best place and ``rank_upper`` the worst: the number of models minus those
    whose ci_upper is below this model's ci_lower. With ``bootstrap=0`` the interval columns
    are NaN and ranks come from the ratings alone.

    Also per model: ``battles``, ``wins``, ``ties`` (both kinds), ``losses``, and
    ``win_rate = (wins + ties / 2) / battles``, the observed score in the units of the model.
    Rows are sorted by rating, highest first (ties of rating by name).
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence!r}")
    factor = _check_options(scale, base, ridge)
    counts = battles if isinstance(battles, PairCounts) else pair_counts(battles)
    anchor_at = _anchor_index(counts.models, anchor)
    _warn_if_unidentified(counts)
    design = _Design(counts)
    theta = _point_theta(counts, design, ridge=ridge, tol=1e-9, max_iter=200)
    rating = _to_ratings(theta[None, :], factor, initial, anchor_at, anchor)[0]
    if bootstrap > 0:
        rounds = bootstrap_ratings(
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
            start=theta,
        ).to_numpy()
        tail = (1 - confidence) / 2
        lower, upper = np.quantile(rounds, [tail, 1 - tail], axis=0)
        rank = 1 + (lower[None, :] > upper[:, None]).sum(axis=1)
        rank_upper = counts.n_models - (upper[None, :] < lower[:, None]).sum(axis=1)
    else:
        lower = upper = np.full(counts.n_models, np.nan)
        rank = 1 + (rating[None, :] > rating[:, None]).sum(axis=1)
        rank_upper = counts.n_models - (rating[None, :] < rating[:, None]).sum(axis=1)
    table = counts.per_model().reset_index()
    table.insert(1, "rating", rating)
    table.insert(2, "ci_lower", lower)
    table.insert(3, "ci_upper", upper)
    table["win_rate"] = outcomes.win_rate(table["wins"], table["ties"], table["battles"])
    table["rank"] = rank.astype(np.int64)
    table["rank_lower"] = rank.astype(np.int64)
    table["rank_upper"] = rank_upper.astype(np.int64)
    order = np.lexsort((table["model"].to_numpy(dtype=str), -table["rating"].to_numpy()))
    return table.iloc[order].reset_index(drop=True)


# --------------------------------------------------------------------------- online Elo


def online_elo(
    battles: pd.DataFrame,
    *,
    k: float = 4.0,
    scale: float = 400,
    base: float = 10,
    initial: float = 1000,
) -> pd.Series:
    """Online Elo ratings: one update per battle, in the order of the table.

    For a battle between A (rating R_A) and B: expected score
    E_A = 1 / (1 + base ** ((R_B - R_A) / scale)), actual score S_A = 1, 0 or 1/2 for a
    tie of either kind; then R_A += k * (S_A - E_A) and R_B += k * (E_A - S_A)
    (Elo 1978; the Chatbot Arena's ``compute_online_elo`` with K=4, scale 400, base 10,
    initial 1000). The result depends on battle order; `bradley_terry` does not.

    Returns a Series of ratings per model (index ``model``), highest first.
    """
    if not scale > 0 or not base > 1:
        raise ValueError("scale must be positive and base greater than 1")
    encoded = encode_battles(battles)
    ratings = [float(initial)] * len(encoded.models)
    score_a = encoded.score_a().tolist()
    for a, b, s in zip(encoded.a.tolist(), encoded.b.tolist(), score_a, strict=True):
        expected = 1.0 / (1.0 + base ** ((ratings[b] - ratings[a]) / scale))
        delta = k * (s - expected)
        ratings[a] += delta
        ratings[b] -= delta
    series = pd.Series(ratings, index=pd.Index(encoded.models, name="model"), name="rating")
    return _sort_ratings(series)


# --------------------------------------------------------------------------- matrices


@dataclass(frozen=True)
class BattleMatrices:
    """Square tables indexed by model (rows and columns in the same order).

    counts: battles between row and column model. observed: the row model's score against
    the column model, (wins + ties / 2) / battles, NaN where they never met. predicted: the
    Bradley-Terry probability that the row model beats the column model, from `ratings`.
    The diagonal is 0 in counts and NaN in the others.
    """

    counts: pd.DataFrame
    observed: pd.DataFrame
    predicted: pd.DataFrame
    ratings: pd.Series


def battle_matrices(
    battles: pd.DataFrame | PairCounts,
    ratings: pd.Series | None = None,
    *,
    scale: float = 400,
    base: float = 10,
) -> BattleMatrices:
    """Battle-count, observed win-rate and predicted win-rate matrices.

    `ratings` (model -> rating on the same Elo scale) defaults to `bradley_terry` on the
    battles. Predicted: P(row beats column) = 1 / (1 + base ** ((R_col - R_row) / scale)).
    Models are ordered by rating, highest first.
    """
    counts = battles if isinstance(battles, PairCounts) else pair_counts(battles)
    if ratings is None:
        ratings = bradley_terry(counts, scale=scale, base=base)
    missing = [m for m in counts.models if m not in ratings.index]
    if missing:
        raise InputError(f"no rating given for model {missing[0]!r}")
    ratings = _sort_ratings(ratings.astype(float))
    order = ratings.index
    n = counts.n_models
    position = pd.Series(np.arange(n), index=counts.models)
    matches = np.zeros((n, n))
    score = np.zeros((n, n))
    i, j = counts.first, counts.second
    matches[i, j] = matches[j, i] = counts.battles
    score[i, j] = outcomes.points(counts.first_wins, counts.ties)
    score[j, i] = outcomes.points(counts.second_wins, counts.ties)
    with np.errstate(invalid="ignore", divide="ignore"):
        observed = np.where(matches > 0, score / matches, np.nan)
    keep = position.reindex(order).dropna().astype(int).to_numpy()
    labels = pd.Index(counts.models[keep], name="model")
    r = ratings.reindex(labels).to_numpy()
    predicted = 1.0 / (1.0 + base ** ((r[None, :] - r[:, None]) / scale))
    np.fill_diagonal(predicted, np.nan)

    def frame(values: np.ndarray) -> pd.DataFrame:
        return pd.DataFrame(values, index=labels, columns=labels.rename(None))

    return BattleMatrices(
        counts=frame(matches[np.ix_(keep, keep)].astype(np.int64)),
        observed=frame(observed[np.ix_(keep, keep)]),
        predicted=frame(predicted),
        ratings=ratings.reindex(labels),
    )
