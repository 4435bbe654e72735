"""scoring.davidson: the Davidson (1970) tie model.

Checked against an independent maximum-likelihood fit (scipy.optimize on the raw battle
rows, no aggregation, no Newton), against Bradley-Terry when there is no tie, and by seeded
simulations: the bias of ties-as-half that Davidson removes, and the coverage of the
bootstrap intervals.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import minimize

from scoring.davidson import (
    bootstrap_davidson,
    davidson,
    davidson_leaderboard,
    simulate_davidson,
)
from scoring.errors import InputError
from scoring.ratings import bradley_terry, leaderboard

FACTOR = 400 / math.log(10)
NAMES = np.array([f"m{i:03d}" for i in range(10)], dtype=object)


def independent_davidson(battles: pd.DataFrame) -> tuple[pd.Series, float]:
    """Maximise Davidson's likelihood (his eq. 2.1-2.2, written with pi = exp(theta)) over
    the raw rows with BFGS; theta of the first model fixed at 0, then centred on 1000."""
    names = sorted(set(battles["model_a"]) | set(battles["model_b"]))
    index = {name: i for i, name in enumerate(names)}
    a = battles["model_a"].map(index).to_numpy()
    b = battles["model_b"].map(index).to_numpy()
    winner = battles["winner"].to_numpy()
    a_won, b_won = winner == "model_a", winner == "model_b"
    tie = ~(a_won | b_won)

    def nll(free: np.ndarray) -> float:
        theta = np.concatenate([[0.0], free[:-1]])
        nu = math.exp(free[-1])
        pi_a, pi_b = np.exp(theta[a]), np.exp(theta[b])
        denominator = pi_a + pi_b + nu * np.sqrt(pi_a * pi_b)
        numerator = np.where(a_won, pi_a, np.where(b_won, pi_b, nu * np.sqrt(pi_a * pi_b)))
        return -np.sum(np.log(numerator / denominator))

    start = np.zeros(len(names))
    fit = minimize(nll, start, method="BFGS", options={"gtol": 1e-10, "maxiter": 10_000})
    theta = np.concatenate([[0.0], fit.x[:-1]])
    ratings = pd.Series(1000 + FACTOR * (theta - theta.mean()), index=names)
    assert tie.any()
    return ratings, math.exp(fit.x[-1])


def battles_with_ties(seed: int, n: int = 800) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    truth = np.array([60.0, 0.0, -40.0, 120.0, -150.0])
    return simulate_davidson(truth, 0.8, n, rng=rng, names=NAMES[:5])


def test_it_matches_an_independent_maximum_likelihood_fit():
    battles = battles_with_ties(1)
    fit = davidson(battles)
    ratings, nu = independent_davidson(battles)
    assert np.abs(fit.ratings[ratings.index] - ratings).max() < 0.01
    assert fit.tie_parameter == pytest.approx(nu, rel=1e-4)
    assert fit.tie_probability_equal == pytest.approx(nu / (2 + nu))


def test_its_log_likelihood_is_the_independent_one_at_the_fit():
    battles = battles_with_ties(2, n=300)
    fit = davidson(battles)
    names = list(fit.models)
    theta = fit.theta
    p = {}
    for name, t in zip(names, theta, strict=True):
        p[name] = math.exp(t)
    total = 0.0
    for a, b, w in battles[["model_a", "model_b", "winner"]].itertuples(index=False):
        d = p[a] + p[b] + fit.tie_parameter * math.sqrt(p[a] * p[b])
        numerator = {"model_a": p[a], "model_b": p[b]}.get(
            w, fit.tie_parameter * math.sqrt(p[a] * p[b])
        )
        total += math.log(numerator / d)
    assert fit.log_likelihood == pytest.approx(total, rel=1e-9)


def test_without_ties_it_is_bradley_terry_and_nu_is_zero():
    battles = battles_with_ties(3)
    decisive = battles[battles["winner"] != "tie"]
    fit = davidson(decisive)
    assert fit.tie_parameter == 0.0
    plain = bradley_terry(decisive)
    assert np.abs(fit.ratings[plain.index] - plain).max() < 0.01


def test_both_kinds_of_tie_are_ties():
    battles = battles_with_ties(4, n=400)
    relabelled = battles.copy()
    relabelled.loc[relabelled.index[::2], "winner"] = relabelled.loc[
        relabelled.index[::2], "winner"
    ].replace({"tie": "tie (bothbad)"})
    assert (relabelled["winner"] == "tie (bothbad)").any()
    first, second = davidson(battles), davidson(relabelled)
    assert np.allclose(first.ratings, second.ratings[first.ratings.index])
    assert first.tie_parameter == pytest.approx(second.tie_parameter)


def test_it_refuses_a_table_of_ties_only():
    battles = pd.DataFrame({"model_a": ["x", "y"], "model_b": ["y", "x"], "winner": ["tie"] * 2})
    with pytest.raises(InputError, match="every battle is a tie"):
        davidson(battles)


def test_an_unknown_winner_names_its_row():
    battles = pd.DataFrame(
        {"model_a": ["x", "y"], "model_b": ["y", "x"], "winner": ["tie", "draw"]}
    )
    with pytest.raises(InputError, match="row 2: unknown winner 'draw'"):
        davidson_leaderboard(battles, bootstrap=10)


def test_the_anchor_sets_one_rating():
    battles = battles_with_ties(5, n=400)
    fit = davidson(battles, anchor=("m000", 1200))
    free = davidson(battles)
    assert fit.ratings["m000"] == pytest.approx(1200)
    gaps = fit.ratings - fit.ratings["m000"]
    assert np.allclose(gaps, (free.ratings - free.ratings["m000"])[gaps.index])


def test_the_bootstrap_gives_the_same_numbers_whatever_the_batch():
    battles = battles_with_ties(6, n=500)
    one, nu_one = bootstrap_davidson(battles, rounds=60, seed=9, batch=7)
    two, nu_two = bootstrap_davidson(battles, rounds=60, seed=9, batch=60)
    assert np.allclose(one, two, atol=1e-6)
    assert np.allclose(nu_one, nu_two, atol=1e-8)


def test_the_leaderboard_has_the_columns_of_the_plain_one():
    battles = battles_with_ties(7, n=500)
    board = davidson_leaderboard(battles, bootstrap=50, seed=1)
    plain = leaderboard(battles, bootstrap=50, rng=1)
    assert list(board.table.columns) == list(plain.table.columns)
    assert board.tie_ci_lower <= board.tie_parameter <= board.tie_ci_upper
    rows = board.rows()
    assert (rows["tie_parameter"] == board.tie_parameter).all()


def slope(estimate: np.ndarray, truth: np.ndarray) -> float:
    """Least-squares slope through the origin of estimated on true centred ratings."""
    return float(estimate @ truth / (truth @ truth))


def test_davidson_removes_the_shrinkage_of_ties_as_half():
    """Ties from the Davidson model (nu = 0.67, 24 % ties) and ties that carry no strength
    information (13 % of battles turned into ties at random): counting a tie as half a win
    shrinks every rating (slope 0.74 and 0.83); Davidson's slope stays within 3 % of 1
    where its model holds and within 5 % where ties are random."""
    rng = np.random.default_rng(20)
    truth = rng.normal(0, 150, 10)
    truth -= truth.mean()
    davidson_ties = simulate_davidson(truth, 0.67, 100_000, rng=rng)
    random_ties = simulate_davidson(truth, 0.0, 100_000, rng=rng)
    random_ties.loc[rng.random(len(random_ties)) < 0.13, "winner"] = "tie"
    slopes = {}
    for name, battles in (("davidson", davidson_ties), ("random", random_ties)):
        modelled = davidson(battles).ratings[NAMES].to_numpy() - 1000
        halved = bradley_terry(battles)[NAMES].to_numpy() - 1000
        slopes[name] = (slope(modelled, truth), slope(halved, truth))
    assert abs(slopes["davidson"][0] - 1) < 0.03, slopes
    assert slopes["davidson"][1] < 0.80, slopes
    assert abs(slopes["random"][0] - 1) < 0.05, slopes
    assert slopes["random"][1] < 0.88, slopes


def test_bootstrap_intervals_cover_95_percent():
    """150 simulated studies of 5 models, 2,000 battles with 25 % ties each, 200 rounds:
    the percentile intervals of the centred ratings cover the truth 95 +- 2 % of the time
    (750 intervals); nu's interval, one per study, within the wider band its Monte Carlo
    error allows (SE ~ 1.8 %). bench/bench_ties.py runs a larger version."""
    truth = np.array([-120.0, -40.0, 0.0, 50.0, 110.0])
    truth -= truth.mean()
    nu = 0.7
    rng = np.random.default_rng(30)
    covered, nu_covered = [], []
    for seed in range(150):
        battles = simulate_davidson(truth, nu, 2000, rng=rng, names=NAMES[:5])
        board = davidson_leaderboard(battles, bootstrap=200, seed=seed)
        table = board.table.set_index("model").loc[NAMES[:5]]
        covered.extend(
            ((table["ci_lower"] - 1000 <= truth) & (truth <= table["ci_upper"] - 1000)).tolist()
        )
        nu_covered.append(board.tie_ci_lower <= nu <= board.tie_ci_upper)
    assert 0.93 <= np.mean(covered) <= 0.97, np.mean(covered)
    assert 0.90 <= np.mean(nu_covered) <= 0.99, np.mean(nu_covered)


def test_a_model_that_never_lost_gets_an_open_interval_and_every_rank():
    battles = battles_with_ties(5, n=400)
    # "newcomer" beats two models a few times and is never beaten nor tied: its Davidson
    # rating is set by the ridge, so the board must not print a finite upper bound.
    extra = pd.DataFrame(
        {
            "model_a": ["newcomer"] * 6,
            "model_b": [NAMES[0], NAMES[1]] * 3,
            "winner": ["model_a"] * 6,
        }
    )
    board = davidson_leaderboard(pd.concat([battles, extra]), bootstrap=30, seed=2).table
    row = board.set_index("model").loc["newcomer"]
    assert row["unbounded"] == "above"
    assert row["ci_upper"] == np.inf and row["rank"] == 1
    assert bool(row["low_battles"])
    others = board[board["model"] != "newcomer"]
    assert others["unbounded"].isna().all() and np.isfinite(others["ci_upper"]).all()
