"""scoring.adaptive: pair scores, the stopping rule, and votes saved by simulation.

Scores are checked against a brute-force route: add one vote's Fisher information to the
pair, invert again, and measure how much the criterion shrank. The votes saved are measured
with the rating-interval widths computed at the true strengths (the expected widths of the
design, free of the noise of one simulated outcome), written out here independently.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit

from scoring.adaptive import counts_from_battles, schedule_pairs
from scoring.errors import InputError

FACTOR = 400 / math.log(10)
Z95 = 1.959963984540054


def counts_frame(wins: np.ndarray, names: np.ndarray) -> pd.DataFrame:
    n = len(names)
    i, j = np.triu_indices(n, 1)
    keep = (wins[i, j] + wins[j, i]) > 0
    return pd.DataFrame(
        {
            "model_a": names[i[keep]],
            "model_b": names[j[keep]],
            "wins_a": wins[i, j][keep],
            "wins_b": wins[j, i][keep],
            "ties": 0,
        }
    )


def information(total: np.ndarray, theta: np.ndarray, prior_sd: float = 2.0) -> np.ndarray:
    p = expit(theta[:, None] - theta[None, :])
    weight = total * p * (1 - p)
    info = np.diag(weight.sum(axis=1) + 1 / prior_sd**2) - weight
    return info


def map_theta(wins: np.ndarray, prior_sd: float = 2.0) -> np.ndarray:
    """MAP strengths by plain gradient-free optimisation (scipy), for the brute force."""
    from scipy.optimize import minimize

    total = wins + wins.T

    def loss(theta):
        d = theta[:, None] - theta[None, :]
        return np.sum(wins * np.logaddexp(0, -d)) + 0.5 * theta @ theta / prior_sd**2

    return minimize(loss, np.zeros(len(wins)), method="BFGS", options={"gtol": 1e-10}).x, total


def state(seed: int = 0):
    rng = np.random.default_rng(seed)
    names = np.array(["a", "b", "c", "d", "e"], dtype=object)
    truth = np.array([0.9, 0.5, 0.0, -0.2, -1.0])
    wins = np.zeros((5, 5))
    for _ in range(150):
        i, j = rng.choice(5, 2, replace=False)
        if rng.random() < expit(truth[i] - truth[j]):
            wins[i, j] += 1
        else:
            wins[j, i] += 1
    return names, wins


def test_variance_scores_are_the_brute_force_shrinkage_of_the_rating_variances():
    names, wins = state()
    schedule = schedule_pairs(counts_frame(wins, names), list(names))
    theta, total = map_theta(wins)
    centre = np.eye(5) - 1 / 5
    before = np.trace(centre @ np.linalg.inv(information(total, theta)) @ centre)
    for row in schedule.pairs.itertuples():
        i, j = list(names).index(row.model_a), list(names).index(row.model_b)
        more = total.copy()
        more[i, j] += 1
        more[j, i] += 1
        after = np.trace(centre @ np.linalg.inv(information(more, theta)) @ centre)
        assert row.score == pytest.approx(FACTOR**2 * (before - after), rel=1e-4)
    ratings = schedule.ratings.set_index("model").loc[names]
    assert ratings["rating"].to_numpy() == pytest.approx(
        1000 + FACTOR * (theta - theta.mean()), abs=1e-3
    )


def test_ranks_scores_shrink_the_variance_of_ambiguous_neighbours():
    names, wins = state(1)
    schedule = schedule_pairs(counts_frame(wins, names), list(names), criterion="ranks")
    theta, total = map_theta(wins)
    ratings = schedule.ratings  # in rating order
    order = [list(names).index(m) for m in ratings["model"]]
    ambiguous = [
        (a, b)
        for (a, b), (lo_a, up_b) in zip(
            zip(order, order[1:], strict=False),
            zip(ratings["ci_lower"], ratings["ci_upper"].iloc[1:], strict=False),
            strict=True,
        )
        if lo_a <= up_b
    ]
    assert ambiguous

    def criterion(tot):
        sigma = np.linalg.inv(information(tot, theta))
        return sum(sigma[a, a] + sigma[b, b] - 2 * sigma[a, b] for a, b in ambiguous)

    before = criterion(total)
    for row in schedule.pairs[~schedule.pairs["stopped"]].itertuples():
        i, j = list(names).index(row.model_a), list(names).index(row.model_b)
        more = total.copy()
        more[i, j] += 1
        more[j, i] += 1
        assert row.score == pytest.approx(FACTOR**2 * (before - criterion(more)), rel=1e-4)


def test_separated_pairs_stop_under_ranks_and_stay_open_under_variance():
    names = np.array(["a", "b", "c"], dtype=object)
    wins = np.array([[0, 200, 10], [5, 0, 100], [10, 100, 0]], dtype=float)  # a far above
    ranks = schedule_pairs(counts_frame(wins, names), criterion="ranks").pairs.set_index(
        ["model_a", "model_b"]
    )
    assert ranks.loc[("a", "b"), "reason"] == "separated"
    assert ranks.loc[("b", "c"), "stopped"] == False  # noqa: E712 - a numpy bool
    assert np.isnan(ranks.loc[("a", "b"), "priority"])
    variance = schedule_pairs(counts_frame(wins, names)).pairs.set_index(["model_a", "model_b"])
    assert variance.loc[("a", "b"), "separated"]
    assert not variance.loc[("a", "b"), "stopped"]


def test_the_study_stops_on_budget_target_width_or_settled_ranks():
    names, wins = state()
    counts = counts_frame(wins, names)
    assert schedule_pairs(counts, budget=150).stop_reason == "budget"
    assert schedule_pairs(counts, budget=151).stop is False
    width = schedule_pairs(counts).median_width
    assert schedule_pairs(counts, target_width=width + 0.01).stop_reason == "target width"
    stopped = schedule_pairs(counts, budget=10)
    assert stopped.pairs["stopped"].all() and set(stopped.pairs["reason"]) == {"study stopped"}
    assert stopped.plan.empty
    far = np.array([[0, 400, 400], [0, 0, 400], [0, 0, 0]], dtype=float) + np.array(
        [[0, 0, 0], [20, 0, 0], [20, 20, 0]]
    )
    settled = schedule_pairs(counts_frame(far, np.array(["a", "b", "c"], dtype=object)))
    assert settled.stop_reason == "ranks separated"


def test_pair_caps_candidates_and_the_plan():
    names, wins = state()
    counts = counts_frame(wins, names)
    top = schedule_pairs(counts).pairs.iloc[0]
    capped = schedule_pairs(counts, max_votes_per_pair=int(top["votes"]))
    row = capped.pairs.set_index(["model_a", "model_b"]).loc[(top["model_a"], top["model_b"])]
    assert row["reason"] == "pair cap"
    only = schedule_pairs(counts, candidates=[("e", "a"), ("b", "c")], plan=5)
    assert set(zip(only.pairs["model_a"], only.pairs["model_b"], strict=True)) == {
        ("a", "e"),
        ("b", "c"),
    }
    assert set(zip(only.plan["model_a"], only.plan["model_b"], strict=True)) <= {
        ("a", "e"),
        ("b", "c"),
    }
    planned = schedule_pairs(counts, plan=4)
    assert len(planned.plan) == 4
    first = planned.plan.iloc[0]
    assert (first["model_a"], first["model_b"]) == (
        planned.pairs.iloc[0]["model_a"],
        planned.pairs.iloc[0]["model_b"],
    )


def test_a_study_without_votes_can_be_scheduled():
    schedule = schedule_pairs(None, ["x", "y", "z"], plan=3)
    assert schedule.votes == 0 and not schedule.stop
    assert np.allclose(schedule.pairs["score"], schedule.pairs["score"].iloc[0])
    assert len(schedule.plan) == 3
    assert len(set(zip(schedule.plan["model_a"], schedule.plan["model_b"], strict=True))) == 3


def test_counts_can_come_from_battles():
    battles = pd.DataFrame(
        {
            "model_a": ["x", "y", "x"],
            "model_b": ["y", "x", "z"],
            "winner": ["model_a", "tie (bothbad)", "model_b"],
        }
    )
    counts = counts_from_battles(battles)
    assert counts.to_dict("records") == [
        {"model_a": "x", "model_b": "y", "wins_a": 1, "wins_b": 0, "ties": 1},
        {"model_a": "x", "model_b": "z", "wins_a": 0, "wins_b": 1, "ties": 0},
    ]


@pytest.mark.parametrize(
    ("counts", "models", "message"),
    [
        (
            pd.DataFrame(
                {"model_a": ["x"], "model_b": ["q"], "wins_a": [1], "wins_b": [0], "ties": [0]}
            ),
            ["x", "y"],
            "row 1: model 'q' is not in the model list",
        ),
        (
            pd.DataFrame(
                {
                    "model_a": ["x", "x"],
                    "model_b": ["y", "y"],
                    "wins_a": [1, -2],
                    "wins_b": [0, 0],
                    "ties": [0, 0],
                }
            ),
            None,
            "row 2: wins_a is -2, not a count",
        ),
        (
            pd.DataFrame(
                {"model_a": ["x"], "model_b": ["x"], "wins_a": [1], "wins_b": [0], "ties": [0]}
            ),
            None,
            "row 1: model 'x' is paired with itself",
        ),
        (pd.DataFrame({"model_a": ["x"], "model_b": ["y"]}), None, "no column 'wins_a'"),
    ],
)
def test_bad_counts_name_the_row(counts, models, message):
    with pytest.raises(InputError, match=message):
        schedule_pairs(counts, models)


# --------------------------------------------------------------------------- simulation


def expected_median_width(total: np.ndarray, truth: np.ndarray) -> float:
    """Median 95 % width of the centred ratings of a design, at the true strengths."""
    sigma = np.linalg.inv(information(total, truth))
    centre = np.eye(len(truth)) - 1 / len(truth)
    return float(np.median(2 * Z95 * FACTOR * np.sqrt(np.diag(centre @ sigma @ centre))))


def votes_to_reach(truth: np.ndarray, votes: int, rng: np.random.Generator, batch: int) -> float:
    """Votes the adaptive schedule needs to reach the median width of `votes` uniformly
    spread votes, as a share of `votes`."""
    n = len(truth)
    names = np.array([f"m{k}" for k in range(n)], dtype=object)
    uniform = np.full((n, n), votes / (n * (n - 1) / 2))
    np.fill_diagonal(uniform, 0)
    target = expected_median_width(uniform, truth)
    wins = np.zeros((n, n))
    used = 0
    while expected_median_width(wins + wins.T, truth) > target:
        schedule = schedule_pairs(counts_frame(wins, names), list(names), plan=batch)
        for a, b in zip(schedule.plan["model_a"], schedule.plan["model_b"], strict=True):
            i, j = int(a[1:]), int(b[1:])
            if rng.random() < expit(truth[i] - truth[j]):
                wins[i, j] += 1
            else:
                wins[j, i] += 1
            used += 1
        assert used < 3 * votes
    return used / votes


def test_adaptive_scheduling_saves_votes_in_a_study_of_distant_model_groups():
    """Nine models in three groups 350 Elo points apart (e.g. small, medium and large
    models): to reach the median rating-interval width of 1,500 uniformly spread votes the
    variance schedule needs at most 88 % of the votes (measured: 82-86 %, mean 84 %).

    The issue asked for >= 30 % fewer votes. That is out of reach for rating intervals at
    the spreads leaderboards have: a vote's information p (1 - p) is at most 1/4, uniform
    sampling already averages close to that for most models, and a schedule that narrows
    every model's interval at least as much as uniform sampling needs at least
    mean(information per vote) / (1/4) of its votes (bench/bench_adaptive.py prints this
    bound and the savings for several spreads; Chiang et al. 2024, sec. 7.1, measured 5 %
    for Arena's own active sampling on the Bradley-Terry scores)."""
    rng = np.random.default_rng(8)
    shares = []
    for _ in range(3):
        truth = np.concatenate([rng.normal(centre, 0.25, 3) for centre in (-2.0, 0.0, 2.0)])
        shares.append(votes_to_reach(truth, 1500, rng, batch=30))
    assert np.mean(shares) <= 0.88, shares


def test_adaptive_scheduling_is_no_worse_than_uniform_at_an_ordinary_spread():
    """Eight models with strengths spread like a typical leaderboard (sd 174 Elo points):
    the schedule reaches the uniform design's median width with no more votes (within the
    5 % that the 30-vote batches and the noise of the estimates allow)."""
    rng = np.random.default_rng(9)
    shares = [votes_to_reach(rng.normal(0, 1.0, 8), 1200, rng, batch=30) for _ in range(3)]
    assert np.mean(shares) <= 1.05, shares


def test_the_plan_is_the_greedy_choice_recomputed_from_scratch():
    names, wins = state(2)
    planned = schedule_pairs(counts_frame(wins, names), list(names), plan=6).plan
    theta, total = map_theta(wins)
    centre = np.eye(5) - 1 / 5
    expected = []
    for _ in range(6):
        base = np.trace(centre @ np.linalg.inv(information(total, theta)) @ centre)
        best, pick = -np.inf, None
        for i in range(5):
            for j in range(i + 1, 5):
                more = total.copy()
                more[i, j] += 1
                more[j, i] += 1
                gain = base - np.trace(centre @ np.linalg.inv(information(more, theta)) @ centre)
                if gain > best + 1e-12:
                    best, pick = gain, (i, j)
        expected.append((names[pick[0]], names[pick[1]]))
        total[pick] += 1
        total[pick[::-1]] += 1
    assert list(zip(planned["model_a"], planned["model_b"], strict=True)) == expected
