"""scoring.style: style counts, the responses table, and the style-controlled fit.

The fit is checked against an independent maximum likelihood (scipy.optimize over the raw
battle rows, with a reference model instead of centring), its sandwich covariance against
one built from finite differences (numerical Hessian and per-battle numerical scores), and
its Wald intervals' coverage by a seeded simulation.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import approx_fprime, minimize

from scoring.errors import InputError, RatingWarning
from scoring.style import (
    controls_features,
    response_styles,
    style_control,
    style_counts,
    style_features,
)

FACTOR = 400 / math.log(10)
NAMES = np.array([f"m{i}" for i in range(6)], dtype=object)


# --------------------------------------------------------------------------- counting


def test_it_counts_headers_lists_and_bold_outside_code_blocks():
    text = (
        "# Title\n"
        "## Part\n"
        "####### not a header\n"
        "#also not\n"
        "- one\n"
        "  * two\n"
        "3. three\n"
        "+ four\n"
        "-not a list\n"
        "Some **bold** and __more bold__ and **not\nbold**.\n"
        "```\n# code\n- code\n**code**\n```\n"
    )
    counts = style_counts(text)
    assert counts == {"length": len(text), "headers": 2, "lists": 4, "bold": 2}


def test_controls_name_features():
    assert controls_features(["length", "markdown"]) == ("length", "headers", "lists", "bold")
    assert controls_features(["bold", "length"]) == ("length", "bold")
    with pytest.raises(InputError, match="unknown style control 'emoji'"):
        controls_features(["emoji"])


def test_the_responses_table_may_be_long_or_a_study_file():
    long = pd.DataFrame(
        {"question_id": ["q1", "q1"], "model": ["x", "y"], "text": ["# A\n- b", "plain"]}
    )
    study = pd.DataFrame(
        {"id": ["q1"], "outputs": [{"x": "# A\n- b", "y": {"text": "plain", "metadata": {}}}]}
    )
    expected = pd.DataFrame(
        {
            "question_id": ["q1", "q1"],
            "model": ["x", "y"],
            "length": [7.0, 5.0],
            "headers": [1.0, 0.0],
            "lists": [1.0, 0.0],
            "bold": [0.0, 0.0],
        }
    )
    for table in (long, study):
        pd.testing.assert_frame_equal(response_styles(table), expected, check_dtype=False)


def test_given_counts_replace_the_text():
    table = pd.DataFrame(
        {
            "id": [1, 1],
            "model": ["x", "y"],
            "length": [300, 100],
            "headers": [0, 2],
            "lists": [1, 0],
            "bold": [0, 0],
        }
    )
    styles = response_styles(table)
    assert styles["question_id"].tolist() == ["1", "1"]
    assert styles["length"].tolist() == [300, 100]


@pytest.mark.parametrize(
    ("table", "message"),
    [
        (
            pd.DataFrame({"question_id": ["q", "q"], "model": ["x", "x"], "text": ["a", "b"]}),
            "row 2: model 'x' has a second response to question_id 'q'",
        ),
        (
            pd.DataFrame({"question_id": ["q", None], "model": ["x", "y"], "text": ["a", "b"]}),
            "row 2: question_id is empty",
        ),
        (
            pd.DataFrame({"question_id": ["q", "r"], "model": ["x", "y"], "text": ["a", 3]}),
            "row 2: text is not text",
        ),
        (
            pd.DataFrame({"model": ["x"], "text": ["a"]}),
            "no column 'question_id'",
        ),
        (
            pd.DataFrame(
                {
                    "question_id": ["q"],
                    "model": ["x"],
                    "length": [-1],
                    "headers": [0],
                    "lists": [0],
                    "bold": [0],
                }
            ),
            "row 1: length is -1, not a count",
        ),
    ],
)
def test_a_bad_responses_table_is_refused_naming_the_row(table, message):
    with pytest.raises(InputError, match=message):
        response_styles(table)


def test_features_are_the_normalised_differences_and_a_missing_response_names_the_row():
    styles = response_styles(
        pd.DataFrame(
            {
                "question_id": ["q", "q", "r"],
                "model": ["x", "y", "x"],
                "text": ["a" * 30, "a" * 10, "b"],
            }
        )
    )
    battles = pd.DataFrame(
        {
            "question_id": ["q", "q"],
            "model_a": ["x", "y"],
            "model_b": ["y", "x"],
            "winner": ["model_a", "tie"],
        }
    )
    features = style_features(battles, styles, controls=["length"])
    assert features["length"].tolist() == pytest.approx([20 / 41, -20 / 41])
    missing = pd.concat(
        [
            battles,
            pd.DataFrame(
                {"question_id": ["r"], "model_a": ["x"], "model_b": ["y"], "winner": ["tie"]}
            ),
        ],
        ignore_index=True,
    )
    with pytest.raises(InputError, match="row 3: no response of model 'y' to question_id 'r'"):
        style_features(missing, styles, controls=["length"])


# --------------------------------------------------------------------------- the fit


def simulate(
    rng: np.random.Generator, n: int, beta: np.ndarray, nu: float, theta: np.ndarray
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Battles with two style covariates; outcomes from Davidson's model (nu = 0: none)."""
    a = rng.integers(0, len(theta), n)
    b = (a + rng.integers(1, len(theta), n)) % len(theta)
    z = rng.normal(0, 1, (n, len(beta)))
    eta = theta[a] - theta[b] + z @ beta
    denominator = np.exp(eta / 2) + np.exp(-eta / 2) + nu
    p_win, p_tie = np.exp(eta / 2) / denominator, nu / denominator
    u = rng.random(n)
    winner = np.where(u < p_win, "model_a", np.where(u < p_win + p_tie, "tie", "model_b"))
    battles = pd.DataFrame({"model_a": NAMES[a], "model_b": NAMES[b], "winner": winner})
    return battles, pd.DataFrame(z, columns=[f"x{k}" for k in range(len(beta))])


THETA = np.array([0.4, 0.1, 0.0, -0.2, -0.5, 0.3])
BETA = np.array([0.5, -0.3])


def row_losses(battles: pd.DataFrame, z: np.ndarray, ties: str):
    """Per-row negative log-likelihood as a function of (theta_1.., beta, [log nu]) with
    theta_0 = 0, written from the model's definition (independent of scoring.style)."""
    index = {
        name: i for i, name in enumerate(sorted(set(battles["model_a"]) | set(battles["model_b"])))
    }
    a = battles["model_a"].map(index).to_numpy()
    b = battles["model_b"].map(index).to_numpy()
    won = (battles["winner"] == "model_a").to_numpy()
    lost = (battles["winner"] == "model_b").to_numpy()
    n, k = len(index), z.shape[1]

    def losses(params: np.ndarray, rows=slice(None)) -> np.ndarray:
        theta = np.concatenate([[0.0], params[: n - 1]])
        beta = params[n - 1 : n - 1 + k]
        eta = theta[a[rows]] - theta[b[rows]] + z[rows] @ beta
        if ties == "half":
            y = np.where(won[rows], 1.0, np.where(lost[rows], 0.0, 0.5))
            p = 1 / (1 + np.exp(-eta))
            return -(y * np.log(p) + (1 - y) * np.log(1 - p))
        nu = math.exp(params[-1])
        pi_a, pi_b = np.exp(eta / 2), np.exp(-eta / 2)
        numerator = np.where(won[rows], pi_a, np.where(lost[rows], pi_b, nu))
        return -np.log(numerator / (pi_a + pi_b + nu))

    size = n - 1 + k + (1 if ties == "davidson" else 0)
    return losses, size, n


@pytest.mark.parametrize("ties", ["half", "davidson"])
def test_it_matches_an_independent_fit_and_sandwich(ties):
    rng = np.random.default_rng(3)
    battles, features = simulate(rng, 400, BETA, 0.8, THETA)
    result = style_control(battles, features, ties=ties)
    scales = result.coefficients["scale"].to_numpy()
    z = features.to_numpy() / scales
    losses, size, n = row_losses(battles, z, ties)
    fit = minimize(
        lambda x: losses(x).sum(),
        np.zeros(size),
        method="BFGS",
        options={"gtol": 1e-9, "maxiter": 10_000},
    )
    theta = np.concatenate([[0.0], fit.x[: n - 1]])
    ratings = 1000 + FACTOR * (theta - theta.mean())
    board = result.leaderboard.set_index("model").loc[sorted(NAMES)]
    assert np.abs(board["rating"].to_numpy() - ratings).max() < 0.01
    assert result.coefficients["coefficient"].to_numpy() == pytest.approx(
        fit.x[n - 1 : n + 1], abs=1e-4
    )
    if ties == "davidson":
        assert result.tie_parameter == pytest.approx(math.exp(fit.x[-1]), rel=1e-4)

    # Sandwich from finite differences: numerical Hessian of the total loss, numerical
    # per-row scores.
    step = 1e-5
    hessian = np.array(
        [
            (
                approx_fprime(fit.x + step * e, lambda x: losses(x).sum(), 1e-6)
                - approx_fprime(fit.x - step * e, lambda x: losses(x).sum(), 1e-6)
            )
            / (2 * step)
            for e in np.eye(size)
        ]
    )
    hessian = (hessian + hessian.T) / 2
    scores = np.array(
        [(losses(fit.x + step * e) - losses(fit.x - step * e)) / (2 * step) for e in np.eye(size)]
    ).T
    bread = np.linalg.inv(hessian)
    covariance = bread @ (scores.T @ scores) @ bread
    beta_se = np.sqrt(np.diag(covariance)[n - 1 : n + 1])
    assert result.coefficients["se"].to_numpy() == pytest.approx(beta_se, rel=2e-3)
    centre = np.eye(n) - 1.0 / n
    full = np.zeros((n, n))
    full[1:, 1:] = covariance[: n - 1, : n - 1]
    rating_se = FACTOR * np.sqrt(np.diag(centre @ full @ centre))
    assert board["se"].to_numpy() == pytest.approx(rating_se, rel=2e-3)


@pytest.mark.parametrize("ties", ["half", "davidson"])
def test_the_cluster_robust_sandwich_sums_scores_within_clusters(ties):
    """The cluster option against finite-difference scores summed per cluster by hand
    (Cameron & Miller 2015: B = G/(G-1) sum_c s_c s_c^T); one battle per cluster is the
    plain sandwich times G/(G-1)."""
    rng = np.random.default_rng(11)
    battles, features = simulate(rng, 300, BETA, 0.5, THETA)
    cluster = np.arange(len(battles)) // 3  # three votes per task
    result = style_control(battles, features, ties=ties, cluster=cluster)
    plain = style_control(battles, features, ties=ties)
    z = features.to_numpy() / result.coefficients["scale"].to_numpy()
    losses, size, n = row_losses(battles, z, ties)
    fit = minimize(
        lambda x: losses(x).sum(),
        np.zeros(size),
        method="BFGS",
        options={"gtol": 1e-9, "maxiter": 10_000},
    )
    step = 1e-5
    hessian = np.array(
        [
            (
                approx_fprime(fit.x + step * e, lambda x: losses(x).sum(), 1e-6)
                - approx_fprime(fit.x - step * e, lambda x: losses(x).sum(), 1e-6)
            )
            / (2 * step)
            for e in np.eye(size)
        ]
    )
    hessian = (hessian + hessian.T) / 2
    scores = np.array(
        [(losses(fit.x + step * e) - losses(fit.x - step * e)) / (2 * step) for e in np.eye(size)]
    ).T
    groups = cluster.max() + 1
    summed = np.zeros((groups, size))
    np.add.at(summed, cluster, scores)
    bread = np.linalg.inv(hessian)
    covariance = bread @ (summed.T @ summed) @ bread * groups / (groups - 1)
    beta_se = np.sqrt(np.diag(covariance)[n - 1 : n + 1])
    assert result.coefficients["se"].to_numpy() == pytest.approx(beta_se, rel=2e-3)
    # The point estimates do not move; singleton clusters give the plain sandwich.
    assert result.coefficients["coefficient"].to_numpy() == pytest.approx(
        plain.coefficients["coefficient"].to_numpy()
    )
    single = style_control(battles, features, ties=ties, cluster=np.arange(len(battles)))
    factor = math.sqrt(len(battles) / (len(battles) - 1))
    assert single.coefficients["se"].to_numpy() == pytest.approx(
        plain.coefficients["se"].to_numpy() * factor, rel=1e-9
    )
    with pytest.raises(InputError, match="cluster"):
        style_control(battles, features, cluster=cluster[:-1])


def test_a_constant_feature_is_left_out_with_a_warning():
    rng = np.random.default_rng(4)
    battles, features = simulate(rng, 300, BETA, 0.0, THETA)
    features["flat"] = 0.0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = style_control(battles, features)
    assert result.dropped_features == ("flat",)
    assert list(result.coefficients["feature"]) == ["x0", "x1"]
    assert any(issubclass(w.category, RatingWarning) for w in caught)


def test_the_anchor_has_no_interval_and_others_are_relative_to_it():
    rng = np.random.default_rng(5)
    battles, features = simulate(rng, 500, BETA, 0.5, THETA)
    result = style_control(battles, features, anchor=("m2", 1100))
    board = result.leaderboard.set_index("model")
    assert board.loc["m2", "rating"] == pytest.approx(1100)
    assert board.loc["m2", "se"] == pytest.approx(0, abs=1e-9)
    free = style_control(battles, features).leaderboard.set_index("model")
    assert (board["rating"] - 1100).to_numpy() == pytest.approx(
        (free["rating"] - free.loc["m2", "rating"])[board.index].to_numpy(), abs=1e-6
    )


def test_style_advantage_leaves_the_controlled_ratings_closer_to_the_truth():
    """A model that wins by style alone: model m0 writes longer answers (feature +1 in all
    its battles), equal in substance. Uncontrolled, it rates high; controlled, it does not."""
    rng = np.random.default_rng(6)
    theta = np.zeros(6)
    n = 6000
    a = rng.integers(0, 6, n)
    b = (a + rng.integers(1, 6, n)) % 6
    length = np.where(a == 0, 1.0, 0.0) - np.where(b == 0, 1.0, 0.0) + rng.normal(0, 0.3, n)
    eta = theta[a] - theta[b] + 0.8 * length
    winner = np.where(rng.random(n) < 1 / (1 + np.exp(-eta)), "model_a", "model_b")
    battles = pd.DataFrame({"model_a": NAMES[a], "model_b": NAMES[b], "winner": winner})
    result = style_control(battles, pd.DataFrame({"length": length}))
    board = result.leaderboard.set_index("model")
    assert board.loc["m0", "uncontrolled_rating"] - 1000 > 80
    assert board.loc["m0", "ci_lower"] <= 1000 <= board.loc["m0", "ci_upper"]
    assert result.coefficients.loc[0, "ci_lower"] > 0


@pytest.mark.parametrize(("ties", "nu", "studies"), [("davidson", 0.7, 200), ("half", 0.0, 100)])
def test_wald_intervals_cover_95_percent(ties, nu, studies):
    """Simulated studies of 6 models and 1,500 battles with two style covariates: the
    intervals of the two coefficients and of the six centred ratings cover the truth 95 +-
    2 % of the time (1,600 intervals for Davidson's ties; 800 without ties, where the
    Monte Carlo error allows +- 2.5 %). bench/bench_ties.py runs a larger version."""
    rng = np.random.default_rng(40 if ties == "davidson" else 41)
    truth = 1000 + FACTOR * (THETA - THETA.mean())
    covered = []
    for _ in range(studies):
        battles, features = simulate(rng, 1500, BETA, nu, THETA)
        result = style_control(battles, features, ties=ties, uncontrolled=False)
        scales = result.coefficients["scale"].to_numpy()
        target = BETA * scales  # the coefficient per scaled unit
        coefficients = result.coefficients
        covered.extend(
            ((coefficients["ci_lower"] <= target) & (target <= coefficients["ci_upper"])).tolist()
        )
        board = result.leaderboard.set_index("model").loc[NAMES]
        covered.extend(((board["ci_lower"] <= truth) & (truth <= board["ci_upper"])).tolist())
    band = 0.02 if studies >= 200 else 0.025
    assert abs(np.mean(covered) - 0.95) <= band, np.mean(covered)
