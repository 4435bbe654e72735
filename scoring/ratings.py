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
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.optimize import brentq
from scipy.sparse.csgraph import connected_components
from scipy.special import expit, ndtri

from scoring import outcomes
from scoring.errors import ConvergenceError, InputError, RatingWarning, row_error
from scoring.tables import Interval, jsonable, require_columns, require_table
from scoring.verdicts import ARENA_WINNER, BOTH_BAD, EXPECTED, TIE, VERDICTS, A, B, parse_verdict

# The arena label of each verdict, in the order of `scoring.verdicts.VERDICTS` (the outcome
# codes below); every label of the verdict vocabulary is accepted on input.
WINNERS = tuple(ARENA_WINNER[v] for v in VERDICTS)
# How ties enter a fit: "half" counts a tie as half a win for each side (Chatbot Arena);
# "drop" leaves ties out. Further rules (e.g. a fitted tie parameter) add a name here.
TIE_RULES: tuple[str, ...] = ("half", "drop")
# "Both bad" verdicts: "tie" makes them ties (then handled by the tie rule); "drop" leaves
# them out.
BOTH_BAD_RULES: tuple[str, ...] = ("tie", "drop")
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


# Outcome codes of a battle, from model_a's side: positions in `VERDICTS`.
_A_WINS, _B_WINS, _TIE, _BOTHBAD = (VERDICTS.index(v) for v in (A, B, TIE, BOTH_BAD))
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


def encode_battles(
    battles: pd.DataFrame,
    *,
    ties: str = "half",
    both_bad: str = "tie",
    drop_self_battles: bool = False,
) -> EncodedBattles:
    """Check a battle table and turn model names and verdicts into integer codes.

    Winners are read with the one verdict vocabulary (`scoring.verdicts`): ``model_a``,
    ``model_b``, ``tie``, ``tie (bothbad)``/``both_bad`` and any other ``tie (…)`` label
    (such as MT-Bench's ``tie (inconsistent)``), which is a tie.

    Raises `InputError` for an empty table, a missing column, an empty cell, an unknown
    winner value or a model battling itself, naming the value and its 1-based row.
    Model names are compared as text (a model called 7 in one file and "7" in another is
    the same model) and sorted, so the codes do not depend on the order of the battles.

    Options (each off by default, so that a surprising row is an error, not a silent
    choice): ``ties="drop"`` leaves ties out (``"half"``, the default, keeps them; what a
    kept tie means is up to the fit, see `TIE_RULES`); ``both_bad="drop"`` leaves out
    "both bad" verdicts (``"tie"``: they are ties); ``drop_self_battles=True`` leaves out
    battles of a model against itself instead of refusing them.
    """
    _check_rules(ties, both_bad)
    battles = require_table(battles, "battle table")
    require_columns(battles, BATTLE_COLUMNS, "battle table")
    codes_a, names_a = _factorize_names(battles["model_a"], "model_a")
    codes_b, names_b = _factorize_names(battles["model_b"], "model_b")
    outcome = _winner_codes(battles["winner"])
    models = np.unique(np.concatenate([names_a, names_b]))
    a = np.searchsorted(models, names_a)[codes_a]
    b = np.searchsorted(models, names_b)[codes_b]
    keep = None
    same = a == b
    if same.any():
        if not drop_self_battles:
            position = int(np.argmax(same))
            raise row_error(
                position,
                f"model {models[a[position]]!r} battles itself (model_a equals model_b; "
                "--drop-self-battles leaves such rows out)",
            )
        keep = ~same
    if ties == "drop":
        keep = (outcome < _TIE) if keep is None else keep & (outcome < _TIE)
    elif both_bad == "drop":
        keep = (outcome != _BOTHBAD) if keep is None else keep & (outcome != _BOTHBAD)
    if keep is not None:
        a, b, outcome = a[keep], b[keep], outcome[keep]
        if len(a) == 0:
            raise InputError("no battle is left after dropping ties and self-battles")
        used = np.unique(np.concatenate([a, b]))
        if len(used) < len(models):  # models seen only in dropped rows are not rated
            remap = np.full(len(models), -1, dtype=np.intp)
            remap[used] = np.arange(len(used))
            models, a, b = models[used], remap[a], remap[b]
    return EncodedBattles(models=models, a=a, b=b, outcome=outcome)


def _check_rules(ties: str, both_bad: str) -> None:
    if ties not in TIE_RULES:
        raise InputError(f"unknown tie rule {ties!r} (use one of: {', '.join(TIE_RULES)})")
    if both_bad not in BOTH_BAD_RULES:
        raise InputError(
            f"unknown both-bad rule {both_bad!r} (use one of: {', '.join(BOTH_BAD_RULES)})"
        )


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
    """Outcome codes (positions in `VERDICTS`) of a winner column, via `scoring.verdicts`."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        codes = values.cat.codes.to_numpy().astype(np.intp)
        uniques = list(values.cat.categories)
    else:
        codes, found = pd.factorize(values, use_na_sentinel=True)
        uniques = list(found)
    if (codes < 0).any():
        raise row_error(int(np.argmax(codes < 0)), "winner is empty")
    parsed = [parse_verdict(u) for u in uniques]
    lookup = np.array([-1 if v is None else VERDICTS.index(v) for v in parsed], dtype=np.intp)
    outcome = lookup[codes] if len(lookup) else codes
    unknown = outcome < 0
    if unknown.any():
        position = int(np.argmax(unknown))
        raise row_error(
            position, f"unknown winner {uniques[codes[position]]!r} (expected {EXPECTED})"
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


def pair_counts(
    battles: pd.DataFrame | EncodedBattles,
    *,
    ties: str = "half",
    both_bad: str = "tie",
    drop_self_battles: bool = False,
) -> PairCounts:
    """Aggregate battles into win/loss/tie counts per unordered model pair.

    Validates the table first (see `encode_battles`, whose options these are). Sides do
    not matter to the Bradley-Terry model, so a battle (a, b, model_a) and (b, a, model_b)
    land in the same cell.
    """
    encoded = (
        battles
        if isinstance(battles, EncodedBattles)
        else encode_battles(
            battles, ties=ties, both_bad=both_bad, drop_self_battles=drop_self_battles
        )
    )
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


def check_options(scale: float, base: float, ridge: float) -> float:
    """The Elo scale factor (points per unit of log-strength); ValueError for a bad option."""
    if not scale > 0:
        raise ValueError(f"scale must be positive, got {scale!r}")
    if not base > 1:
        raise ValueError(f"base must be greater than 1, got {base!r}")
    if not ridge > 0:
        raise ValueError(f"ridge must be positive (it keeps the fit finite), got {ridge!r}")
    return scale / math.log(base)


def anchor_index(models: np.ndarray, anchor: tuple[str, float] | None) -> int | None:
    """Position of the anchor model in the sorted `models` (None without an anchor)."""
    if anchor is None:
        return None
    name, _rating = anchor
    position = np.searchsorted(models, str(name))
    if position >= len(models) or models[position] != str(name):
        raise InputError(f"anchor model {name!r} is not in the battles")
    return int(position)


# --------------------------------------------------------------------------- identification


@dataclass(frozen=True)
class Identification:
    """What the battles can tell about each model's rating (Ford 1957; Hunter 2004).

    The maximum-likelihood ratings of a group of models exist (are finite) iff the
    "beat or tied" graph of the group is strongly connected: for every split of the group
    in two, some model of each side beat or tied some model of the other. Per connected
    group of models (`component`, numbered from 1, largest first), the largest strongly
    connected set with two or more models is `identified`; every other model of the group
    is `unbounded`: ``"above"`` (it never lost to the identified models, directly or
    through others: its rating could be arbitrarily high), ``"below"`` (it never beat
    them) or ``"both"`` (the data order it neither way against them). `centre` marks the
    models whose mean rating is the scale's `initial` value: the identified ones with at
    least `min_battles` battles (all identified ones where none has that many).
    """

    component: np.ndarray
    identified: np.ndarray
    unbounded: np.ndarray
    centre: np.ndarray
    low_battles: np.ndarray
    min_battles: int

    @property
    def n_components(self) -> int:
        """Number of separate groups of models (no battle between two groups)."""
        return int(self.component.max()) if len(self.component) else 0


def identification(counts: PairCounts, *, min_battles: int = 0) -> Identification:
    """Components, identified and unbounded models of a battle graph; see `Identification`."""
    n = counts.n_models
    first, second = counts.first, counts.second
    undirected = sparse.csr_matrix((np.ones(len(first)), (first, second)), shape=(n, n))
    _, weak = connected_components(undirected, directed=False)
    forward = counts.first_wins + counts.ties > 0
    backward = counts.second_wins + counts.ties > 0
    rows = np.concatenate([first[forward], second[backward]])
    cols = np.concatenate([second[forward], first[backward]])
    beat = sparse.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, n))
    _, strong = connected_components(beat, directed=True, connection="strong")
    battles = counts.per_model()["battles"].to_numpy()
    # Number the components largest first (ties: the one whose first model sorts first).
    sizes = np.bincount(weak)
    first_member = np.array([np.flatnonzero(weak == c)[0] for c in range(len(sizes))])
    order = np.lexsort((first_member, -sizes))
    component = np.empty(n, dtype=np.int64)
    component[:] = np.argsort(order)[weak] + 1
    identified = np.zeros(n, dtype=bool)
    unbounded = np.full(n, None, dtype=object)
    for c in np.unique(weak):
        members = np.flatnonzero(weak == c)
        labels, size = np.unique(strong[members], return_counts=True)
        weight = np.array([battles[members[strong[members] == s]].sum() for s in labels])
        best = np.lexsort((-weight, -size))[0]
        if size[best] < 2:
            unbounded[members] = "both"
            continue
        main = members[strong[members] == labels[best]]
        identified[main] = True
        below = _reachable(beat, main)  # the main set beat them, directly or through others
        above = _reachable(beat.T.tocsr(), main)  # they beat the main set
        for m in members:
            if identified[m]:
                continue
            unbounded[m] = "above" if above[m] and not below[m] else "below" if below[m] else "both"
    low = battles < min_battles
    centre = identified & ~low
    for c in np.unique(component):
        mine = component == c
        if not centre[mine].any():
            centre[mine] = identified[mine]
    return Identification(
        component=component,
        identified=identified,
        unbounded=unbounded,
        centre=centre,
        low_battles=low,
        min_battles=int(min_battles),
    )


def _reachable(graph: sparse.csr_matrix, start: np.ndarray) -> np.ndarray:
    """Nodes reachable from any of `start` along the edges of `graph`."""
    seen = np.zeros(graph.shape[0], dtype=bool)
    seen[start] = True
    frontier = start
    while len(frontier):
        nxt = np.unique(graph[frontier].indices)
        frontier = nxt[~seen[nxt]]
        seen[frontier] = True
    return seen


def _warn_about(counts: PairCounts, ident: Identification) -> list[str]:
    """Warnings (`RatingWarning`) for what the data cannot tell; returns their texts."""
    messages = []
    if ident.n_components > 1:
        messages.append(
            f"the battles form {ident.n_components} separate groups of models that never "
            "met; each group is centred and ranked on its own (column component): ratings "
            "of different groups are not comparable"
        )
    loose = np.flatnonzero(~ident.identified)
    if len(loose):
        reason = {
            "above": "never lost: unbounded above",
            "below": "never won: unbounded below",
            "both": "not ordered against the others",
        }
        shown = ", ".join(f"{counts.models[i]!r} ({reason[ident.unbounded[i]]})" for i in loose[:5])
        more = f" and {len(loose) - 5} more" if len(loose) > 5 else ""
        messages.append(
            f"{len(loose)} model(s) have no finite maximum-likelihood rating: {shown}{more}; "
            "they get no point rating, an interval open on that side and the whole range of "
            "ranks they could take, and are left out of the centring"
        )
    low = np.flatnonzero(ident.low_battles)
    if len(low) and ident.min_battles > 0:
        shown = ", ".join(repr(counts.models[i]) for i in low[:5])
        more = f" and {len(low) - 5} more" if len(low) > 5 else ""
        messages.append(
            f"{len(low)} model(s) have fewer than {ident.min_battles} battles: {shown}{more} "
            "(column low_battles); their ratings are rough and their intervals wide"
        )
    for message in messages:
        warnings.warn(message, RatingWarning, stacklevel=3)
    return messages


def _centre(
    theta: np.ndarray,
    ident: Identification,
    factor: float,
    initial: float,
    usable: np.ndarray | None = None,
) -> np.ndarray:
    """Ratings from strengths (rows: rounds): per component, the mean rating of the centre
    models is `initial`; in a bootstrap round only centre models that are `usable` there
    (they both scored and conceded points) count. Models that are not identified, or not
    `usable` and absent from a round, are NaN."""
    ratings = np.full(theta.shape, np.nan)
    for c in np.unique(ident.component):
        mine = ident.component == c
        weights = np.broadcast_to(ident.centre & mine, theta.shape).astype(float)
        if usable is not None:
            chosen = weights * usable
            # A round in which no centre model is usable falls back on all of them.
            weights = np.where(chosen.sum(axis=1, keepdims=True) > 0, chosen, weights)
        total = weights.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(total > 0, (np.where(weights > 0, theta, 0.0)).sum(axis=1) / total, 0)
        shown = mine & ident.identified
        ratings[:, shown] = initial + factor * (theta[:, shown] - mean[:, None])
    return ratings


def _anchored(
    ratings: np.ndarray, ident: Identification, anchor_at: int | None, anchor
) -> np.ndarray:
    if anchor_at is None:
        return ratings
    if not ident.identified[anchor_at]:
        raise InputError(f"anchor model {anchor[0]!r} has no finite rating (it is unbounded)")
    if ident.n_components > 1:
        raise InputError("an anchor needs battles that connect all models (one component)")
    return ratings + (float(anchor[1]) - ratings[:, [anchor_at]])


def _point_theta(
    counts: PairCounts, design: _Design, *, ridge: float, tol: float, max_iter: int
) -> np.ndarray:
    wins = outcomes.points(counts.first_wins, counts.ties)[None, :].astype(float)
    total = counts.battles[None, :].astype(float)
    start = np.zeros((1, counts.n_models))
    return _fit_theta(design, wins, total, start, ridge=ridge, tol=tol, max_iter=max_iter)[0]


def _counts(
    battles: pd.DataFrame | PairCounts, ties: str, both_bad: str, drop_self_battles: bool
) -> PairCounts:
    if isinstance(battles, PairCounts):
        return battles
    return pair_counts(battles, ties=ties, both_bad=both_bad, drop_self_battles=drop_self_battles)


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
    ties: str = "half",
    both_bad: str = "tie",
    drop_self_battles: bool = False,
) -> pd.Series:
    """Bradley-Terry maximum-likelihood ratings on the Elo scale.

    Model: P(i beats j) = 1 / (1 + base ** ((R_j - R_i) / scale)) (Bradley & Terry 1952);
    a tie counts as half a win for each side (Chatbot Arena, Chiang et al. 2024). The
    log-likelihood of the battles, aggregated into per-pair counts, is maximised by Newton's
    method (Hunter 2004 reviews this and the MM alternative).

    Parameters
    ----------
    battles
        Battle table (columns model_a, model_b, winner; see `encode_battles`, whose
        options `ties`, `both_bad` and `drop_self_battles` apply) or `PairCounts`.
    scale, base, initial
        Elo scale: `scale` points of rating difference multiply the odds by `base`. Without
        an anchor the mean rating of the identified models of each component is `initial`
        (see `identification`).
    anchor
        ``(model, rating)``: shift all ratings so that `model` has `rating`.
    ridge
        L2 penalty ``ridge / 2 * sum(theta ** 2)`` on the natural-log-odds strengths theta,
        added to the negative log-likelihood, as choix.opt_pairwise does (its ``alpha``,
        default 1e-6). It only keeps the numerical fit finite; on identified models the
        default moves ratings by far less than 0.01 points.
    tol, max_iter
        Newton stops when no strength moves by more than `tol` (log-odds units); if that
        takes more than `max_iter` steps a `ConvergenceError` is raised.

    Returns
    -------
    pandas.Series
        Rating per model (index ``model``), highest first. A model whose maximum-likelihood
        rating does not exist (it never lost, never won, or is not ordered against the
        others; see `identification`) is NaN, with a `RatingWarning`.
    """
    factor = check_options(scale, base, ridge)
    counts = _counts(battles, ties, both_bad, drop_self_battles)
    anchor_at = anchor_index(counts.models, anchor)
    ident = identification(counts)
    _warn_about(counts, ident)
    theta = _point_theta(counts, _Design(counts), ridge=ridge, tol=tol, max_iter=max_iter)
    ratings = _anchored(_centre(theta[None, :], ident, factor, initial), ident, anchor_at, anchor)
    series = pd.Series(ratings[0], index=pd.Index(counts.models, name="model"), name="rating")
    return _sort_ratings(series)


def _sort_ratings(series: pd.Series) -> pd.Series:
    values = series.to_numpy(dtype=float)
    order = np.lexsort((series.index.to_numpy(dtype=str), -np.nan_to_num(values, nan=-np.inf)))
    return series.iloc[order]


@dataclass(frozen=True)
class _Rounds:
    theta: np.ndarray  # (rounds, models) fitted strengths
    present: np.ndarray  # (rounds, models) the model has battles in the round
    usable: np.ndarray  # (rounds, models) it both scored and conceded points in the round


class _SideGroups:
    """Columns (pair sides) grouped by the model that owns each, for a per-model "any"."""

    def __init__(self, owner: np.ndarray, n_models: int):
        self.order = np.argsort(owner, kind="stable")
        keys = owner[self.order]
        self.starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
        self.models = keys[self.starts]
        self.n_models = n_models

    def any(self, positive: np.ndarray) -> np.ndarray:
        """(rounds, models): whether any of a model's columns is True in the round."""
        out = np.zeros((len(positive), self.n_models), dtype=bool)
        grouped = np.logical_or.reduceat(positive[:, self.order], self.starts, axis=1)
        out[:, self.models] = grouped
        return out


def _bootstrap_theta(
    counts: PairCounts,
    design: _Design,
    start: np.ndarray,
    *,
    rounds: int,
    generator: np.random.Generator,
    ridge: float,
    batch: int,
    tol: float,
    max_iter: int,
) -> _Rounds:
    n, pairs = counts.n_models, len(counts.first)
    # Keep a batch's dense Hessians and pair arrays near 200 MB at most.
    per_round = 8 * (n * n + 8 * pairs)
    batch = max(1, min(batch, (200 << 20) // per_round))
    cells = np.stack([counts.first_wins, counts.second_wins, counts.ties], axis=1).ravel()
    used = np.flatnonzero(cells)
    n_battles = int(cells.sum())
    shares = cells[used] / n_battles
    theta = np.empty((rounds, n))
    present = np.empty((rounds, n), dtype=bool)
    usable = np.empty((rounds, n), dtype=bool)
    # Whether each model scored / conceded a point in a round: the two sides of every pair,
    # [first sides, second sides], grouped by the model that scores (resp. concedes) there.
    scorer = _SideGroups(np.concatenate([counts.first, counts.second]), n)
    conceder = _SideGroups(np.concatenate([counts.second, counts.first]), n)

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
            draws = draws.reshape(size, pairs, 3)  # type: ignore[misc,call-overload,attr-defined,assignment,arg-type]
            wins = draws[:, :, 0] + 0.5 * draws[:, :, 2]
            first_points = draws[:, :, 0] + draws[:, :, 2]
            total = first_points + draws[:, :, 1]
            points = np.concatenate([first_points > 0, draws[:, :, 1] + draws[:, :, 2] > 0], 1)
            scored, conceded = scorer.any(points), conceder.any(points)
            # A model played in the round exactly when it scored or conceded a point.
            present[begin : begin + size] = scored | conceded
            usable[begin : begin + size] = scored & conceded
            if fitting is not None:
                fitting.result()
            fitting = worker.submit(fit, begin, wins, total)
        if fitting is not None:
            fitting.result()
    return _Rounds(theta=theta, present=present, usable=usable)


def bootstrap_ratings(
    battles: pd.DataFrame | PairCounts,
    *,
    rounds: int = 1000,
    rng: np.random.Generator | int | None = None,
    scale: float = 400,
    base: float = 10,
    initial: float = 1000,
    anchor: tuple[str, float] | None = None,
    ridge: float = RIDGE,
    batch: int = 250,
    tol: float = 1e-6,
    max_iter: int = 200,
    ties: str = "half",
    both_bad: str = "tie",
    drop_self_battles: bool = False,
) -> pd.DataFrame:
    """Bradley-Terry ratings refitted on `rounds` bootstrap resamples of the battles.

    Each round draws as many battles as there are, with replacement. Counted per (pair,
    outcome) cell, such a resample is multinomial with the observed cell shares as
    probabilities, so the counts are drawn directly (`numpy.random.Generator.multinomial`)
    instead of resampling rows: the same distribution (Efron & Tibshirani 1993, ch. 6) at a
    cost that does not grow with the number of battles. Rounds are fitted `batch` at a time
    (which caps memory) by Newton's method warm-started from the point estimate until no
    strength moves by more than `tol` (1e-6 log-odds is 0.0002 Elo points, far below the
    Monte Carlo error of any interval). The same `rng` seed gives the same numbers, whatever
    `batch` is.

    Each round is centred like the point estimate (`identification`), on the centre models
    that both scored and conceded points in that round. A model absent from a round (none
    of its battles drawn) is NaN there, never placed at the centre; models that are not
    identified are NaN throughout.

    Returns a DataFrame with one row per round and one column per model (sorted by name).
    Other parameters are as in `bradley_terry`; `rng` is a `numpy.random.Generator` or a
    seed for one (None: fresh entropy).
    """
    factor = check_options(scale, base, ridge)
    if rounds < 0:
        raise ValueError(f"rounds must be >= 0, got {rounds!r}")
    if batch < 1:
        raise ValueError(f"batch must be >= 1, got {batch!r}")
    counts = _counts(battles, ties, both_bad, drop_self_battles)
    anchor_at = anchor_index(counts.models, anchor)
    ident = identification(counts)
    design = _Design(counts)
    start = _point_theta(counts, design, ridge=ridge, tol=tol, max_iter=max_iter)
    drawn = _bootstrap_theta(
        counts,
        design,
        start,
        rounds=rounds,
        generator=np.random.default_rng(rng),
        ridge=ridge,
        batch=batch,
        tol=tol,
        max_iter=max_iter,
    )
    ratings = _centre(drawn.theta, ident, factor, initial, drawn.usable)
    ratings = _anchored(np.where(drawn.present, ratings, np.nan), ident, anchor_at, anchor)
    return pd.DataFrame(ratings, columns=pd.Index(counts.models, name="model"))


def score_interval(
    n: np.ndarray, score: np.ndarray, opponents: np.ndarray, *, confidence: float = 0.95
) -> Interval:
    """Score-test interval for one model's strength theta against opponents of known strength.

    The model played ``n[j]`` battles against an opponent of strength ``opponents[j]``
    (natural log-odds) and scored ``score[j]`` points (a tie is half). With
    p_j = sigma(theta - opponents[j]), U = sum(score - n p) and V = sum(n p (1 - p)), the
    interval is the set of theta with |U| / sqrt(V) <= z: Wilson's (1927) score interval
    when all opponents are equally strong, generalised to logistic regression with known
    offsets (Rao's score test). Unlike a percentile bootstrap it keeps its coverage with a
    handful of battles, and it is open on one side (``inf``) when the model won (or lost)
    every point.
    """
    z = float(ndtri(0.5 + confidence / 2))
    n, score, opponents = (np.asarray(v, dtype=float) for v in (n, score, opponents))
    total, points = n.sum(), score.sum()
    if total <= 0:
        return Interval(-math.inf, math.inf)

    def statistic(t: float) -> float:
        p = expit(t - opponents)
        information = float((n * p * (1 - p)).sum())
        return float(points - (n * p).sum()) / math.sqrt(max(information, 1e-300))

    def root(target: float) -> float:
        low, high = float(opponents.min()) - 1.0, float(opponents.max()) + 1.0
        while statistic(low) <= target and low > -200:
            low = 2 * low - high
        while statistic(high) >= target and high < 200:
            high = 2 * high - low
        return float(brentq(lambda t: statistic(t) - target, low, high, xtol=1e-10))

    lower = -math.inf if points <= 0 else root(z)
    upper = math.inf if points >= total else root(-z)
    return Interval(lower, upper)


@dataclass(frozen=True)
class Leaderboard:
    """A Bradley-Terry leaderboard (`leaderboard`): the table and what it rests on.

    `table` has one row per model: ``model, rating, ci_lower, ci_upper, battles, wins,
    ties, losses, win_rate, rank, rank_lower, rank_upper, component, low_battles,
    unbounded`` (see `leaderboard`). `notes` repeats the `RatingWarning` texts, so a page or
    an API can show them with the table.
    """

    table: pd.DataFrame
    components: int
    min_battles: int
    bootstrap: int
    confidence: float
    ties: str
    both_bad: str
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        """Plain JSON-ready dict; the table becomes a list of row objects, NaN None."""
        return jsonable(self)


MIN_BATTLES = 50


def leaderboard(
    battles: pd.DataFrame | PairCounts,
    *,
    bootstrap: int = 1000,
    rng: np.random.Generator | int | None = None,
    confidence: float = 0.95,
    scale: float = 400,
    base: float = 10,
    initial: float = 1000,
    anchor: tuple[str, float] | None = None,
    ridge: float = RIDGE,
    batch: int = 250,
    min_battles: int = MIN_BATTLES,
    ties: str = "half",
    both_bad: str = "tie",
    drop_self_battles: bool = False,
) -> Leaderboard:
    """Bradley-Terry leaderboard with bootstrap intervals, rank ranges and honesty flags.

    `rating` is the maximum-likelihood rating (`bradley_terry`); `ci_lower`/`ci_upper` are
    the (1 - confidence)/2 and (1 + confidence)/2 quantiles of `bootstrap` resampled ratings
    (`bootstrap_ratings`; percentile method, Efron & Tibshirani 1993, ch. 13), over the
    rounds in which the model had battles. With an anchor, every round is anchored too, so
    the anchor's interval is a single point.

    Edges (see `identification`):

    - ``low_battles``: fewer than `min_battles` battles (default 50). A percentile
      bootstrap under-covers there (a model that won all of its few resampled battles
      collapses the interval), so such a model's interval is the score interval against its
      opponents' fitted strengths instead (`score_interval`; seeded simulations in
      tests/scoring/test_ratings.py measure its coverage). Low-battle models are left out
      of the centring.
    - ``unbounded``: ``"above"``, ``"below"`` or ``"both"`` for a model whose
      maximum-likelihood rating does not exist; its `rating` is NaN, its interval is
      infinite on that side (the other bound is the score bound against the identified
      models), and it is left out of the centring.
    - ``component``: models are rated, centred and ranked within their connected group;
      groups that never met are never ranked against each other.

    Rank follows the Chatbot Arena rule within a component: ``rank = 1 + number of models
    whose ci_lower is above this model's ci_upper`` (the best place the intervals allow).
    ``rank_lower`` is that same best place and ``rank_upper`` the worst: the size of the
    component minus the models whose ci_upper is below this model's ci_lower. An unbounded
    model thus spans every rank it could take. With ``bootstrap=0`` the interval columns
    of identified models are NaN and their ranks come from the ratings alone.

    Also per model: ``battles``, ``wins``, ``ties`` (both kinds), ``losses``, and
    ``win_rate = (wins + ties / 2) / battles``. Rows are sorted by component, then models
    unbounded above, identified models by rating (highest first), those unordered, and
    those unbounded below (ties by name). `rng`: a Generator or a seed (None: fresh).
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence!r}")
    if bootstrap < 0:
        raise ValueError(f"bootstrap must be >= 0, got {bootstrap!r}")
    factor = check_options(scale, base, ridge)
    counts = _counts(battles, ties, both_bad, drop_self_battles)
    anchor_at = anchor_index(counts.models, anchor)
    ident = identification(counts, min_battles=min_battles)
    notes = _warn_about(counts, ident)
    design = _Design(counts)
    theta = _point_theta(counts, design, ridge=ridge, tol=1e-9, max_iter=200)
    point = _anchored(_centre(theta[None, :], ident, factor, initial), ident, anchor_at, anchor)
    rating = point[0]
    n = counts.n_models
    lower = np.full(n, np.nan)
    upper = np.full(n, np.nan)
    if bootstrap > 0:
        drawn = _bootstrap_theta(
            counts,
            design,
            theta,
            rounds=bootstrap,
            generator=np.random.default_rng(rng),
            ridge=ridge,
            batch=batch,
            tol=1e-6,
            max_iter=200,
        )
        rounds = _centre(drawn.theta, ident, factor, initial, drawn.usable)
        rounds = _anchored(np.where(drawn.present, rounds, np.nan), ident, anchor_at, anchor)
        tail = (1 - confidence) / 2
        seen = np.isfinite(rounds).any(axis=0)
        if seen.any():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                lower[seen], upper[seen] = np.nanquantile(rounds[:, seen], [tail, 1 - tail], axis=0)
    # Score intervals: for low-battle models (instead of the bootstrap interval) and for
    # unbounded models (their one finite side), against identified opponents only.
    shift = rating - factor * theta  # theta -> rating, per model (NaN where unidentified)
    per_component_shift = {
        c: float(np.nanmean(shift[(ident.component == c) & ident.identified]))
        for c in np.unique(ident.component[ident.identified])
    }
    for i in range(n):
        low_identified = ident.identified[i] and ident.low_battles[i]
        if not (low_identified or not ident.identified[i]):
            continue
        if ident.component[i] not in per_component_shift:
            lower[i], upper[i] = -np.inf, np.inf
            continue
        lo, hi = _model_score_interval(counts, ident, theta, i, confidence)
        base_shift = per_component_shift[ident.component[i]]
        lo_rating, hi_rating = base_shift + factor * lo, base_shift + factor * hi
        if ident.identified[i]:
            if bootstrap > 0:
                lower[i], upper[i] = lo_rating, hi_rating
        else:
            side = ident.unbounded[i]
            lower[i] = -np.inf if side != "above" else lo_rating
            upper[i] = np.inf if side != "below" else hi_rating
    table = counts.per_model().reset_index()
    table.insert(1, "rating", rating)
    table.insert(2, "ci_lower", lower)
    table.insert(3, "ci_upper", upper)
    table["win_rate"] = (table["wins"] + 0.5 * table["ties"]) / table["battles"]
    rank, rank_upper = _ranks(rating, lower, upper, ident, bootstrap > 0)
    table["rank"] = rank
    table["rank_lower"] = rank
    table["rank_upper"] = rank_upper
    table["component"] = ident.component
    table["low_battles"] = ident.low_battles
    table["unbounded"] = pd.array(ident.unbounded, dtype=object)  # type: ignore[misc,call-overload,attr-defined,assignment,arg-type]
    bucket = np.array(
        [{None: 1, "above": 0, "both": 2, "below": 3}[u] for u in ident.unbounded], dtype=int
    )
    order = np.lexsort(
        (
            table["model"].to_numpy(dtype=str),
            -table["win_rate"].to_numpy(),
            -np.nan_to_num(rating, nan=0.0),
            bucket,
            ident.component,
        )
    )
    return Leaderboard(
        table=table.iloc[order].reset_index(drop=True),
        components=ident.n_components,
        min_battles=int(min_battles),
        bootstrap=int(bootstrap),
        confidence=float(confidence),
        ties=ties,
        both_bad=both_bad,
        notes=notes,
    )


def _model_score_interval(
    counts: PairCounts, ident: Identification, theta: np.ndarray, i: int, confidence: float
) -> tuple[float, float]:
    """`score_interval` of model i against its identified opponents at their strengths."""
    mine_first = (counts.first == i) & ident.identified[counts.second]
    mine_second = (counts.second == i) & ident.identified[counts.first]
    opponents = np.concatenate([counts.second[mine_first], counts.first[mine_second]])
    n = np.concatenate([counts.battles[mine_first], counts.battles[mine_second]])
    score = np.concatenate(
        [
            counts.first_wins[mine_first] + 0.5 * counts.ties[mine_first],
            counts.second_wins[mine_second] + 0.5 * counts.ties[mine_second],
        ]
    )
    if len(n) == 0:
        return -math.inf, math.inf
    return score_interval(n, score, theta[opponents], confidence=confidence)


def _ranks(
    rating: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    ident: Identification,
    intervals: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """Best and worst rank of each model within its component (Chatbot Arena's rule)."""
    lo = np.where(ident.identified & (not intervals), rating, lower)
    hi = np.where(ident.identified & (not intervals), rating, upper)
    lo = np.where(np.isnan(lo), -np.inf, lo)
    hi = np.where(np.isnan(hi), np.inf, hi)
    same = ident.component[:, None] == ident.component[None, :]
    size = same.sum(axis=1)
    best = 1 + (same & (lo[None, :] > hi[:, None])).sum(axis=1)
    worst = size - (same & (hi[None, :] < lo[:, None])).sum(axis=1)
    return best.astype(np.int64), worst.astype(np.int64)


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
