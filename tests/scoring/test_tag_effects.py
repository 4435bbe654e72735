"""scoring.tag_effects: Firth logistic regression of losing on tags.

The estimates are checked against an independent maximisation of Firth's penalised
log-likelihood (scipy.optimize on the ungrouped rows, log det of the information written
out), the profile interval bounds against the independent profile deviance at those
bounds, the behaviour under separation, and recovery of known effects in a simulation.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.optimize import minimize

from scoring.errors import InputError
from scoring.tag_effects import parse_tags, tag_effects

MODELS = np.array(["m0", "m1", "m2", "m3"], dtype=object)
TAGS = ["untrue", "unhelpful", "harmful"]


def simulate(seed: int, n: int, effects: dict[str, float], prevalence: dict[str, float]):
    rng = np.random.default_rng(seed)
    theta = np.array([0.0, 0.4, 0.8, -0.4])
    a = rng.integers(0, 4, n)
    b = (a + rng.integers(1, 4, n)) % 4
    tags_a = [[t for t in effects if rng.random() < prevalence[t]] for _ in range(n)]
    tags_b = [[t for t in effects if rng.random() < prevalence[t]] for _ in range(n)]
    penalty = np.array(
        [
            sum(effects[t] for t in x) - sum(effects[t] for t in y)
            for x, y in zip(tags_a, tags_b, strict=True)
        ]
    )
    a_wins = rng.random(n) < 1 / (1 + np.exp(-(theta[a] - theta[b] - penalty)))
    verdict = np.where(a_wins, "a", "b").astype(object)
    verdict[rng.random(n) < 0.1] = "tie"
    return pd.DataFrame(
        {
            "model_a": MODELS[a],
            "model_b": MODELS[b],
            "verdict": verdict,
            "tags_a": tags_a,
            "tags_b": tags_b,
        }
    )


def independent_design(battles: pd.DataFrame, tags: list[str]):
    """Rows, design and outcome written from the model's definition."""
    decisive = battles[battles["verdict"].isin(["a", "b"])]
    y = (decisive["verdict"] == "a").to_numpy(dtype=float)
    x_tags = np.array(
        [
            [-(t in ta) + (t in tb) for t in tags]
            for ta, tb in zip(decisive["tags_a"], decisive["tags_b"], strict=True)
        ],
        dtype=float,
    )
    x_models = np.zeros((len(decisive), 3))
    for row, (ma, mb) in enumerate(zip(decisive["model_a"], decisive["model_b"], strict=True)):
        if ma != "m0":
            x_models[row, int(ma[1]) - 1] += 1
        if mb != "m0":
            x_models[row, int(mb[1]) - 1] -= 1
    return np.hstack([x_tags, x_models]), y


def penalised(beta: np.ndarray, x: np.ndarray, y: np.ndarray) -> float:
    eta = x @ beta
    p = 1 / (1 + np.exp(-eta))
    loglik = np.sum(y * eta - np.log1p(np.exp(eta)))
    information = x.T @ (x * (p * (1 - p))[:, None])
    return loglik + 0.5 * np.linalg.slogdet(information)[1]


def test_it_is_firths_penalised_maximum_with_profile_bounds():
    battles = simulate(
        1,
        600,
        {"untrue": 1.0, "unhelpful": 0.4, "harmful": 2.0},
        {"untrue": 0.25, "unhelpful": 0.3, "harmful": 0.05},
    )
    result = tag_effects(battles, tags=TAGS).table.set_index("tag").loc[TAGS]
    x, y = independent_design(battles, TAGS)
    fit = minimize(
        lambda b: -penalised(b, x, y), np.zeros(x.shape[1]), method="BFGS", options={"gtol": 1e-9}
    )
    assert result["coefficient"].to_numpy() == pytest.approx(fit.x[:3], abs=1e-4)
    best = penalised(fit.x, x, y)
    crit = stats.chi2.ppf(0.95, 1)
    for t, tag in enumerate(TAGS):
        for bound in ("ci_lower", "ci_upper"):
            value = result.loc[tag, bound]

            def constrained(free, t=t, value=value):
                return -penalised(np.insert(free, t, value), x, y)

            inner = minimize(
                constrained, np.delete(fit.x, t), method="BFGS", options={"gtol": 1e-9}
            )
            assert 2 * (best + inner.fun) == pytest.approx(crit, abs=2e-3), (tag, bound)
        zero = minimize(
            lambda free, t=t: -penalised(np.insert(free, t, 0.0), x, y),
            np.delete(fit.x, t),
            method="BFGS",
            options={"gtol": 1e-9},
        )
        p_value = stats.chi2.sf(2 * (best + zero.fun), 1)
        assert result.loc[tag, "p_value"] == pytest.approx(p_value, rel=1e-3, abs=1e-12)


def test_a_tag_only_ever_on_losers_gets_a_finite_estimate_and_a_one_sided_interval():
    battles = simulate(2, 400, {"untrue": 0.8, "unhelpful": 0.0}, {"untrue": 0.3, "unhelpful": 0.3})
    # "harmful" on 6 responses, each of which lost.
    losers = battles.index[battles["verdict"] == "b"][:6]
    for row in losers:
        battles.at[row, "tags_a"] = [*battles.at[row, "tags_a"], "harmful"]
    row = tag_effects(battles).table.set_index("tag").loc["harmful"]
    assert row["separated"]
    assert (row["battles"], row["on_loser"], row["on_winner"]) == (6, 6, 0)
    assert math.isfinite(row["coefficient"]) and row["coefficient"] > 1
    assert row["ci_lower"] > 0
    assert row["ci_upper"] == math.inf or row["ci_upper"] > row["coefficient"]


def test_it_recovers_known_effects_with_models_controlled():
    """Tags put on the weaker model's answers more often: without the models' strengths a
    neutral tag looks harmful; with them, it does not."""
    rng = np.random.default_rng(3)
    n = 4000
    theta = np.array([0.0, 0.4, 0.8, -0.4])
    a = rng.integers(0, 4, n)
    b = (a + rng.integers(1, 4, n)) % 4
    # "verbose" has no effect but goes with the weakest model m3.
    verbose_a = rng.random(n) < np.where(a == 3, 0.8, 0.1)
    verbose_b = rng.random(n) < np.where(b == 3, 0.8, 0.1)
    untrue_a, untrue_b = rng.random(n) < 0.2, rng.random(n) < 0.2
    eta = theta[a] - theta[b] - 1.0 * (untrue_a.astype(float) - untrue_b)
    a_wins = rng.random(n) < 1 / (1 + np.exp(-eta))

    def tags(verbose, untrue):
        return [
            [t for t, on in (("verbose", v), ("untrue", u)) if on]
            for v, u in zip(verbose, untrue, strict=True)
        ]

    battles = pd.DataFrame(
        {
            "model_a": MODELS[a],
            "model_b": MODELS[b],
            "verdict": np.where(a_wins, "a", "b"),
            "tags_a": tags(verbose_a, untrue_a),
            "tags_b": tags(verbose_b, untrue_b),
        }
    )
    controlled = tag_effects(battles).table.set_index("tag")
    marginal = tag_effects(battles, control_models=False).table.set_index("tag")
    assert controlled.loc["untrue", "ci_lower"] < 1.0 < controlled.loc["untrue", "ci_upper"]
    assert controlled.loc["verbose", "ci_lower"] < 0 < controlled.loc["verbose", "ci_upper"]
    assert marginal.loc["verbose", "ci_lower"] > 0  # confounded by the weak model


def test_it_fits_per_slice_and_notes_small_slices():
    battles = simulate(4, 500, {"untrue": 1.0, "unhelpful": 0.3}, {"untrue": 0.3, "unhelpful": 0.3})
    battles["language"] = np.where(np.arange(len(battles)) < 480, "en", "de")
    result = tag_effects(battles, by="language", min_battles=30)
    assert set(result.table["language"]) == {"en"}
    assert any(note.startswith("language=de: ") for note in result.notes)
    assert list(result.table.columns[:2]) == ["language", "tag"]


def test_tags_may_be_lists_comma_separated_or_json_text():
    assert parse_tags(["a", " b "]) == {"a", "b"}
    assert parse_tags("a, b,") == {"a", "b"}
    assert parse_tags('["a", "b"]') == {"a", "b"}
    assert parse_tags(None) == frozenset() == parse_tags(float("nan")) == parse_tags("")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"tags_a": 7}, "row 1: tags_a: not a list of tags: 7"),
        ({"verdict": "draw"}, "row 1: unknown verdict 'draw'"),
        ({"model_a": None}, "row 1: model_a is empty"),
    ],
)
def test_bad_rows_are_named(change, message):
    battles = simulate(5, 50, {"untrue": 1.0}, {"untrue": 0.5})
    for column, value in change.items():
        battles[column] = battles[column].astype(object)
        battles.at[0, column] = value
    with pytest.raises(InputError, match=message):
        tag_effects(battles)


def test_no_tags_at_all_is_an_error():
    battles = simulate(6, 50, {"untrue": 0.0}, {"untrue": 0.0})
    with pytest.raises(InputError, match="no tag appears"):
        tag_effects(battles)


def test_a_tag_that_cannot_be_told_from_a_model_is_an_error():
    battles = pd.DataFrame(
        {
            "model_a": ["x"] * 20,
            "model_b": ["y"] * 20,
            "verdict": ["a", "b"] * 10,
            "tags_a": [["verbose"]] * 20,
            "tags_b": [[]] * 20,
        }
    )
    with pytest.raises(InputError, match="'verbose' cannot be told apart from the models"):
        tag_effects(battles)
    assert len(tag_effects(battles, control_models=False).table) == 1
