"""Ties and style control (issue 13, item 1): timing, bias of ties-as-half, coverage.

    python bench/bench_ties.py [--part timing|bias|coverage|all] [--battles N] [--models M]
                               [--rounds B] [--studies S]

timing    `python -m scoring leaderboard FILE --ties davidson` on 1,000,000 battles of 100
          models with 1,000 bootstrap rounds, file load included (target <= 10 s), and a
          style-controlled fit of the same battles (Wald intervals, no bootstrap).
bias      slope of estimated on true centred ratings for ties counted as half, dropped, or
          modelled by Davidson, when ties follow Davidson's model and when they carry no
          strength information (random ties).
coverage  Davidson bootstrap intervals (ratings and nu) and style-control Wald intervals
          (coefficients and ratings, for ties as half and Davidson) over many simulated
          studies.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_leaderboard import make_battles  # noqa: E402

from scoring.davidson import davidson, davidson_leaderboard, simulate_davidson  # noqa: E402
from scoring.io import read_table  # noqa: E402
from scoring.ratings import BATTLE_COLUMNS, bradley_terry  # noqa: E402
from scoring.style import style_control  # noqa: E402

FACTOR = 400 / np.log(10)


def timing(n_battles: int, n_models: int, rounds: int) -> None:
    battles = make_battles(n_battles, n_models)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "battles.parquet"
        battles.to_parquet(path, index=False)
        started, cpu = time.perf_counter(), time.process_time()
        table = read_table(path, text_columns=BATTLE_COLUMNS)
        loaded = time.perf_counter()
        board = davidson_leaderboard(table, bootstrap=rounds, seed=0)
        done, cpu_done = time.perf_counter(), time.process_time()
    print(f"Davidson leaderboard: {n_battles:,} battles, {n_models} models, {rounds} rounds")
    print(f"  load         {loaded - started:6.2f} s")
    print(f"  fit+boot     {done - loaded:6.2f} s")
    print(f"  total        {done - started:6.2f} s  (target <= 10 s)")
    print(f"  CPU time     {cpu_done - cpu:6.2f} s  (all threads)")
    print(f"  nu = {board.tie_parameter:.4f} [{board.tie_ci_lower:.4f}, {board.tie_ci_upper:.4f}]")
    rng = np.random.default_rng(1)
    features = pd.DataFrame({"length": rng.normal(0, 1, len(battles))})
    started = time.perf_counter()
    style_control(battles, features, ties="davidson", uncontrolled=False)
    print(f"Style control (davidson, 1 covariate, Wald): {time.perf_counter() - started:6.2f} s")


def bias(n_battles: int = 200_000, seed: int = 5) -> None:
    rng = np.random.default_rng(seed)
    truth = rng.normal(0, 150, 10)
    truth -= truth.mean()
    names = np.array([f"m{i:03d}" for i in range(10)], dtype=object)

    def slope(estimate):
        centred = estimate[names].to_numpy() - 1000
        return float(centred @ truth / (truth @ truth))

    print("Slope of estimated on true ratings (1 = unbiased; 10 models, sd 150 Elo):")
    print(f"{'ties':<34}{'share':>7}{'half':>8}{'drop':>8}{'davidson':>10}")
    scenarios = [("Davidson model, nu = 0.3", 0.3, 0.0), ("Davidson model, nu = 0.67", 0.67, 0.0)]
    scenarios += [("random (no strength information)", 0.0, s) for s in (0.10, 0.13, 0.25)]
    for label, nu, random_share in scenarios:
        battles = simulate_davidson(truth, nu, n_battles, rng=rng)
        if random_share:
            battles.loc[rng.random(len(battles)) < random_share, "winner"] = "tie"
        share = float((battles["winner"] == "tie").mean())
        half = slope(bradley_terry(battles))
        drop = slope(bradley_terry(battles[battles["winner"] != "tie"]))
        modelled = slope(davidson(battles).ratings)
        print(f"{label:<34}{share:>7.1%}{half:>8.3f}{drop:>8.3f}{modelled:>10.3f}")


def coverage(studies: int) -> None:
    names = np.array([f"m{i:03d}" for i in range(5)], dtype=object)
    truth = np.array([-120.0, -40.0, 0.0, 50.0, 110.0])
    truth -= truth.mean()
    rng = np.random.default_rng(30)
    covered, nu_covered = [], []
    for seed in range(studies):
        battles = simulate_davidson(truth, 0.7, 2000, rng=rng, names=names)
        board = davidson_leaderboard(battles, bootstrap=500, seed=seed)
        table = board.table.set_index("model").loc[names]
        covered.extend(
            ((table["ci_lower"] - 1000 <= truth) & (truth <= table["ci_upper"] - 1000)).tolist()
        )
        nu_covered.append(board.tie_ci_lower <= 0.7 <= board.tie_ci_upper)
    print(
        f"Davidson bootstrap (500 rounds), {studies} studies of 5 models x 2,000 battles: "
        f"ratings {np.mean(covered):.1%} ({len(covered)} intervals), "
        f"nu {np.mean(nu_covered):.1%} ({len(nu_covered)})"
    )
    theta = np.array([0.4, 0.1, 0.0, -0.2, -0.5, 0.3])
    beta = np.array([0.5, -0.3])
    models = np.array([f"m{i}" for i in range(6)], dtype=object)
    rating_truth = 1000 + FACTOR * (theta - theta.mean())
    for ties, nu in (("davidson", 0.7), ("half", 0.0)):
        rng = np.random.default_rng(40)
        coefficient_hits, rating_hits, nu_hits = [], [], []
        for _ in range(studies * 2):
            a = rng.integers(0, 6, 1500)
            b = (a + rng.integers(1, 6, 1500)) % 6
            z = rng.normal(0, 1, (1500, 2))
            eta = theta[a] - theta[b] + z @ beta
            denominator = np.exp(eta / 2) + np.exp(-eta / 2) + nu
            u = rng.random(1500)
            p_win, p_tie = np.exp(eta / 2) / denominator, nu / denominator
            winner = np.where(u < p_win, "model_a", np.where(u < p_win + p_tie, "tie", "model_b"))
            battles = pd.DataFrame({"model_a": models[a], "model_b": models[b], "winner": winner})
            result = style_control(
                battles, pd.DataFrame(z, columns=["x0", "x1"]), ties=ties, uncontrolled=False
            )
            target = beta * result.coefficients["scale"].to_numpy()
            c = result.coefficients
            coefficient_hits.extend(
                ((c["ci_lower"] <= target) & (target <= c["ci_upper"])).tolist()
            )
            board = result.leaderboard.set_index("model").loc[models]
            rating_hits.extend(
                ((board["ci_lower"] <= rating_truth) & (rating_truth <= board["ci_upper"])).tolist()
            )
            if ties == "davidson":
                nu_hits.append(result.tie_ci_lower <= nu <= result.tie_ci_upper)
        extra = f", nu {np.mean(nu_hits):.1%}" if nu_hits else ""
        print(
            f"Style control ({ties} ties), {studies * 2} studies of 6 models x 1,500 battles: "
            f"coefficients {np.mean(coefficient_hits):.1%}, ratings {np.mean(rating_hits):.1%}"
            + extra
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=["timing", "bias", "coverage", "all"], default="all")
    parser.add_argument("--battles", type=int, default=1_000_000)
    parser.add_argument("--models", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=1000)
    parser.add_argument("--studies", type=int, default=400)
    args = parser.parse_args()
    if args.part in ("timing", "all"):
        timing(args.battles, args.models, args.rounds)
    if args.part in ("bias", "all"):
        bias()
    if args.part in ("coverage", "all"):
        coverage(args.studies)


if __name__ == "__main__":
    main()
