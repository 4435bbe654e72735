"""Time the grading screen's two hot paths with 100,000 judgments already stored.

Builds, in a fresh SQLite file, a pairwise study of 10,000 prompts x 4 models with
4 pairs per prompt (40,000 pair tasks, overlap 3, ratings required) and 200
graders, and stores 100,000 judgments (each with its done assignment and two
ratings) the way hand-out would have filled them: every task twice, then half
of them a third time, `slots_taken` kept consistent. Then, as one of those
graders, through django.test.Client with the htmx header:

  serve:  GET  /studies/<slug>/grade/ with no assignment held (a new one is handed out)
  vote:   POST /studies/<slug>/grade/<id>/ (records the vote, then hands out and
          renders the next task, as the screen does)

and, called directly, the steps inside them: handout.next_assignment and
handout.record_vote. Prints the median and p95 in ms of each and the SQL
queries per request. Target: under 50 ms median for serve and vote.

Run: .venv/bin/python bench/bench_grading.py [--iterations N] [--profile] [--keep]
"""

import argparse
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _django import use_sqlite  # noqa: E402
from _results_study import OVERLAP, PAIRS, build  # noqa: E402

TARGET_MS = 50
HTMX = {"HTTP_HX_REQUEST": "true"}


def summary(name: str, samples: list[float], target: float | None = None) -> str:
    ms = sorted(s * 1000 for s in samples)
    p95 = ms[min(len(ms) - 1, round(0.95 * (len(ms) - 1)))]
    median = statistics.median(ms)
    verdict = ""
    if target is not None:
        verdict = f"  target < {target:.0f} ms median: {'met' if median < target else 'NOT met'}"
    return f"{name:<34} median {median:7.1f} ms   p95 {p95:7.1f} ms   (n={len(ms)}){verdict}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=10_000)
    parser.add_argument("--judgments", type=int, default=100_000)
    parser.add_argument("--iterations", type=int, default=200)
    parser.add_argument("--profile", action="store_true", help="cProfile the serve and vote loop")
    parser.add_argument("--keep", action="store_true", help="keep the SQLite file to inspect")
    args = parser.parse_args()
    if args.judgments > args.prompts * len(PAIRS) * OVERLAP:
        parser.error("more judgments than the study has slots")

    workdir = Path(tempfile.mkdtemp(prefix="bench-grading-"))
    use_sqlite(workdir / "bench.sqlite3")
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client

    from annotation.models import Assignment, Judgment, Task

    call_command("migrate", verbosity=0)
    rng = random.Random(0)
    started = time.perf_counter()
    study, graders = build(args.prompts, args.judgments, rng)
    built = time.perf_counter() - started
    stored = Judgment.objects.count()
    tasks = Task.objects.count()
    print(
        f"stored: {tasks:,} pair tasks, {stored:,} judgments by {len(graders)} graders "
        f"(built in {built:.1f} s)"
    )

    grader = graders[0]
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(grader)
    profiler = None
    if args.profile:
        import cProfile

        profiler = cProfile.Profile()
    warmup = 10
    requests = time_requests(client, grader, study, warmup, args.iterations, profiler)
    steps = time_steps(grader, study, warmup, args.iterations)

    total = Judgment.objects.count()
    assert total == stored + 2 * (warmup + args.iterations)
    assert not Task.objects.filter(slots_taken__gt=OVERLAP).exists()
    done_by_me = Assignment.objects.filter(grader=grader, status="done").count()
    print(f"after the run: {total:,} judgments; {grader.username} has {done_by_me} done")
    report(requests, steps, profiler)

    if args.keep:
        print(f"kept {workdir / 'bench.sqlite3'}")
    else:
        connection.close()
        shutil.rmtree(workdir, ignore_errors=True)


def drop_held(grader, study) -> None:
    """Give back whatever the grader holds, so the next GET hands out a new task."""
    from annotation import handout

    held = handout.current_assignment(grader, study)
    if held is not None:
        handout.skip(held.pk, grader)


def time_requests(client, grader, study, warmup: int, iterations: int, profiler) -> dict:
    """Serve (GET) and vote (POST) through the test client: seconds of each after the
    warm-up, and the queries of the last request of each, slowest first."""
    from django.db import connection, reset_queries
    from django.test.utils import CaptureQueriesContext

    from annotation import handout

    grade_url = f"/studies/{study.slug}/grade/"
    vote = {"verdict": "left", "rating_left": "good", "rating_right": "poor", "comment": ""}
    timings: dict = {"serve": [], "vote": [], "queries": {}}
    for i in range(warmup + iterations):
        drop_held(grader, study)
        reset_queries()  # DEBUG keeps the last 9,000 queries; a full log breaks the capture
        if profiler and i >= warmup:
            profiler.enable()
        with CaptureQueriesContext(connection) as served:
            t0 = time.perf_counter()
            response = client.get(grade_url, **HTMX)
            t1 = time.perf_counter()
        assert response.status_code == 200, response.status_code
        assignment = handout.current_assignment(grader, study)
        assert assignment is not None, "the grader ran out of work"
        with CaptureQueriesContext(connection) as voted:
            t2 = time.perf_counter()
            response = client.post(f"{grade_url}{assignment.pk}/", vote, **HTMX)
            t3 = time.perf_counter()
        if profiler:
            profiler.disable()
        assert response.status_code == 200, response.content[:500]
        if i >= warmup:
            timings["serve"].append(t1 - t0)
            timings["vote"].append(t3 - t2)
            for name, captured in (("serve", served), ("vote", voted)):
                timings["queries"][name] = sorted(
                    captured.captured_queries, key=lambda q: -float(q["time"])
                )
    return timings


def time_steps(grader, study, warmup: int, iterations: int) -> dict[str, list[float]]:
    """The steps on their own: hand-out, recording the vote, and the two lookups every
    grading screen makes besides (progress, "is there a last answer")."""
    from annotation import handout, progress

    steps: dict[str, list[float]] = {
        "next_assignment": [],
        "record_vote": [],
        "grader_progress": [],
        "last_judgment": [],
    }
    vote_obj = handout.Vote(verdict="left", ratings={"left": "good", "right": "poor"})
    for i in range(warmup + iterations):
        drop_held(grader, study)
        t0 = time.perf_counter()
        assignment = handout.next_assignment(grader, study)
        t1 = time.perf_counter()
        assert assignment is not None, "the grader ran out of work"
        handout.record_vote(assignment.pk, grader, vote_obj)
        t2 = time.perf_counter()
        progress.grader_progress(grader, [study])
        t3 = time.perf_counter()
        handout.last_judgment(grader, study)
        t4 = time.perf_counter()
        if i >= warmup:
            for name, took in zip(steps, (t1 - t0, t2 - t1, t3 - t2, t4 - t3), strict=True):
                steps[name].append(took)
    return steps


def report(requests: dict, steps: dict[str, list[float]], profiler) -> None:
    print(summary("serve next task (GET, htmx)", requests["serve"], TARGET_MS))
    print(summary("vote (POST, htmx, + next task)", requests["vote"], TARGET_MS))
    print("inside them, called directly:")
    for name, module in (
        ("next_assignment", "handout"),
        ("record_vote", "handout"),
        ("grader_progress", "progress"),
        ("last_judgment", "handout"),
    ):
        print(summary(f"  {module}.{name}", steps[name]))
    queries = requests["queries"]
    print(f"SQL queries per request: serve {len(queries['serve'])}, vote {len(queries['vote'])}")
    for name in ("serve", "vote"):
        print(f"slowest queries of the last {name} request:")
        for q in queries[name][:3]:
            print(f"  {float(q['time']) * 1000:6.1f} ms  {q['sql'][:160]}")
    if profiler:
        import pstats

        print("\ncProfile of the serve + vote requests after warm-up (cumulative):")
        stats = pstats.Stats(profiler).sort_stats("cumulative")
        stats.print_stats(
            r"annotation/|django/template/response|django/shortcuts|markdown_it/main|nh3", 30
        )


if __name__ == "__main__":
    main()
