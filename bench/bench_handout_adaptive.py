"""The adaptive pair-scheduling study option through the real hand-out (issue 13, item 3):
the median rating-interval width after the same number of votes, uniform vs adaptive.

    python bench/bench_handout_adaptive.py [--models 8] [--prompts 30] [--votes 600]
                                           [--every 10] [--spread 260] [--seed 0]

A SQLite study of every model pair on each prompt (overlap 3) is graded by simulated
graders through `handout.next_assignment` and `handout.record_vote`: each verdict is drawn
from Bradley-Terry with true strengths of sd `--spread` Elo points. Under "adaptive" the
study's schedule (`annotation.schedule.refresh`, what the background job runs) is
recomputed every `--every` votes. The width is scoring.adaptive's Laplace 95 % interval at
the true strengths (the expected width of the design, as bench/bench_adaptive.py does), so
it measures the allocation of votes, not the luck of the draws. "votes to match" is how many
adaptive votes reach the uniform study's final width. Timings are noisy on a shared machine.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _django import use_sqlite  # noqa: E402


def run(mode: str, args, folder: Path) -> tuple[list[tuple[int, float]], float]:
    from django.core.management import call_command
    from django.db import connections

    from annotation import handout, schedule
    from annotation.handout import Vote
    from annotation.ingest.study_files import StudyOptions, import_study
    from annotation.models import Membership, Study, Task, User
    from bench.bench_adaptive import median_width

    connections.close_all()
    call_command("migrate", verbosity=0)
    rng = random.Random(args.seed)
    names = [f"m{i:02d}" for i in range(args.models)]
    strengths = np.random.default_rng(args.seed).normal(0, args.spread, args.models)
    theta = strengths * np.log(10) / 400
    index = {name: i for i, name in enumerate(names)}
    records = [
        {"id": f"p{k}", "prompt": f"Prompt {k}", "outputs": {m: f"{m} on {k}" for m in names}}
        for k in range(args.prompts)
    ]
    path = folder / f"{mode}.jsonl"
    path.write_text("\n".join(__import__("json").dumps(r) for r in records) + "\n")
    study = import_study(path, f"bench-{mode}", StudyOptions(overlap=3)).study
    if mode == "adaptive":
        Study.objects.filter(pk=study.pk).update(
            schedule=Study.Schedule.ADAPTIVE, stop_when_separated=False
        )
        study.refresh_from_db()
    graders = []
    for g in range(12):
        user = User.objects.create(username=f"{mode}-g{g}")
        Membership.objects.create(study=study, user=user)
        graders.append(user)
    model_of = {
        pk: (a, b)
        for pk, a, b in Task.objects.filter(study=study).values_list(
            "pk", "response_a__model__name", "response_b__model__name"
        )
    }
    total = np.zeros((args.models, args.models))
    widths, started = [], time.perf_counter()
    for vote in range(1, args.votes + 1):
        user = graders[vote % len(graders)]
        assignment = handout.next_assignment(user, study, rng=rng)
        if assignment is None:
            break
        a, b = model_of[assignment.task_id]
        i, j = index[a], index[b]
        a_wins = rng.random() < 1 / (1 + np.exp(theta[j] - theta[i]))
        side = "left" if a_wins == assignment.a_on_left else "right"
        handout.record_vote(assignment.pk, user, Vote(verdict=side))
        total[i, j] += 1
        total[j, i] += 1
        if mode == "adaptive" and vote % args.every == 0:
            schedule.refresh(study)
        if vote % 10 == 0:
            widths.append((vote, median_width(total, theta)))
    return widths, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=8)
    parser.add_argument("--prompts", type=int, default=30)
    parser.add_argument("--votes", type=int, default=600)
    parser.add_argument("--every", type=int, default=10)
    parser.add_argument("--spread", type=float, default=260.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        use_sqlite(Path(folder) / "bench.sqlite3")
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
        uniform, t_uniform = run("uniform", args, Path(folder))
        adaptive, t_adaptive = run("adaptive", args, Path(folder))
    print(
        f"{args.models} models, {args.prompts} prompts, sd {args.spread:.0f} Elo, "
        f"schedule every {args.every} votes, seed {args.seed}"
    )
    print(f"{'votes':>6} {'uniform width':>14} {'adaptive width':>15}")
    for (votes, u), (_v, a) in zip(uniform, adaptive, strict=False):
        if votes % 100 == 0:
            print(f"{votes:>6} {u:>14.1f} {a:>15.1f}")
    target = uniform[-1][1]
    matched = next((v for v, w in adaptive if w <= target), None)
    share = f"{matched / uniform[-1][0]:.0%}" if matched else "not reached"
    print(f"votes to match uniform's final width {target:.1f}: {matched} ({share})")
    print(f"hand-out seconds: uniform {t_uniform:.1f}, adaptive {t_adaptive:.1f}")


if __name__ == "__main__":
    main()
