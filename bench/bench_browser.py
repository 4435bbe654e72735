"""Time the judgment browser with 100,000 judgments stored: one page for each kind of filter.

Builds the study of bench/bench_grading.py (10,000 prompts x 4 models, 40,000 pair tasks,
100,000 judgments by 200 graders, two ratings each) in a fresh SQLite file, gives the
prompts metadata (language, category), tags one rating in ten "untrue" and comments on one
judgment in twenty, drawn at random. Then, as a researcher through django.test.Client, GETs
/studies/<slug>/results/judgments/ (20 tasks a page, every grader's answer on each, the
responses rendered) with each filter below and prints the median and p95 in ms.
Target: under 300 ms a page.

Run: .venv/bin/python bench/bench_browser.py [--iterations N] [--judgments N] [--keep]
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

TARGET_MS = 300
LANGUAGES = ["en", "de", "fr", "ja", "sw"]
CATEGORIES = ["coding", "writing", "math", "advice"]
FILTERS = [
    ("no filter", {}),
    ("model pair", {"model": "model-0", "opponent": "model-1"}),
    ("one model", {"model": "model-2"}),
    ("verdict = tie", {"verdict": "tie"}),
    ("preferred model", {"winner": "model-3"}),
    ("tag", {"tag": "untrue"}),
    ("model + tag (drill-down)", {"model": "model-1", "tag": "untrue"}),
    ("grader", {"grader": "grader007"}),
    ("metadata language = sw", {"meta_language": "sw"}),
    ("metadata + model", {"meta_category": "math", "model": "model-0"}),
    ("prompt length range", {"prompt_chars_min": "100", "prompt_chars_max": "120"}),
    ("graders disagree (verdict)", {"disagree": "verdict"}),
    ("graders disagree (rating)", {"disagree": "rating"}),
    ("graders disagree (tag)", {"disagree": "tag:untrue"}),
    ("disagree + model pair", {"disagree": "verdict", "model": "model-0", "opponent": "model-2"}),
    ("page 1000 (deep)", {"page": "1000"}),
]


def decorate(study, rng: random.Random) -> None:
    """Prompt metadata, some tags and some comments, written in bulk."""
    from django.db import transaction

    from annotation.models import Judgment, Prompt, Rating

    with transaction.atomic():
        prompts = list(Prompt.objects.filter(study=study).only("pk", "metadata"))
        for p in prompts:
            p.metadata = {"language": rng.choice(LANGUAGES), "category": rng.choice(CATEGORIES)}
        Prompt.objects.bulk_update(prompts, ["metadata"], batch_size=5000)
        ratings = list(
            Rating.objects.filter(judgment__task__study=study).values_list("pk", flat=True)
        )
        tagged = sorted(rng.sample(ratings, len(ratings) // 10))
        judgments = list(Judgment.objects.filter(task__study=study).values_list("pk", flat=True))
        commented = sorted(rng.sample(judgments, len(judgments) // 20))
        for start in range(0, len(tagged), 500):
            Rating.objects.filter(pk__in=tagged[start : start + 500]).update(tags=["untrue"])
        for start in range(0, len(commented), 500):
            Judgment.objects.filter(pk__in=commented[start : start + 500]).update(
                comment="The second answer invents a date."
            )


def summary(name: str, wall: list[float], cpu: list[float], extra: str) -> str:
    ms = sorted(s * 1000 for s in wall)
    p95 = ms[min(len(ms) - 1, round(0.95 * (len(ms) - 1)))]
    median = statistics.median(ms)
    cpu_ms = 1000 * statistics.median(cpu)
    met = "met" if median < TARGET_MS else "NOT met"
    return (
        f"{name:<30} median {median:7.1f} ms  p95 {p95:7.1f} ms  cpu {cpu_ms:6.1f} ms  "
        f"{extra:<22} {met}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=10_000)
    parser.add_argument("--judgments", type=int, default=100_000)
    parser.add_argument("--iterations", type=int, default=10)
    parser.add_argument("--keep", action="store_true", help="keep the SQLite file to inspect")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="bench-browser-"))
    use_sqlite(workdir / "bench.sqlite3")
    from bench_grading import build
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.test.utils import setup_test_environment

    from annotation.models import Judgment, Membership, User

    setup_test_environment()  # lets the client keep each response's context
    call_command("migrate", verbosity=0)
    rng = random.Random(0)
    started = time.perf_counter()
    study, _graders = build(args.prompts, args.judgments, rng)
    decorate(study, rng)
    print(
        f"stored: {Judgment.objects.count():,} judgments on {study.tasks.count():,} tasks "
        f"(built in {time.perf_counter() - started:.1f} s)"
    )
    researcher = User.objects.create(username="researcher", role="researcher")
    Membership.objects.create(study=study, user=researcher)
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(researcher)
    url = f"/studies/{study.slug}/results/judgments/"

    client.get("/healthz")  # imports and URL set-up, so the first page times only itself
    started, cpu_started = time.perf_counter(), time.process_time()
    first = client.get(url)
    assert first.status_code == 200, first.status_code
    print(
        f"first page, filter choices computed and cached: "
        f"{1000 * (time.perf_counter() - started):.0f} ms "
        f"(cpu {1000 * (time.process_time() - cpu_started):.0f} ms)"
    )
    print(
        f"{args.iterations} pages per filter after one warm-up, 20 tasks a page; cpu = this "
        "process's CPU time (SQLite runs in it), a figure less sensitive to a busy machine:"
    )
    worst = 0.0
    for name, params in FILTERS:
        wall, cpu = [], []
        for i in range(args.iterations + 1):
            t0, c0 = time.perf_counter(), time.process_time()
            response = client.get(url, params)
            took, took_cpu = time.perf_counter() - t0, time.process_time() - c0
            assert response.status_code == 200, (name, response.status_code)
            if i:
                wall.append(took)
                cpu.append(took_cpu)
        page = response.context["page"]
        extra = f"{'>' if page.more else ''}{page.n_tasks:,} tasks"
        print(summary(name, wall, cpu, extra))
        worst = max(worst, statistics.median(wall))
    print(f"slowest filter: median {1000 * worst:.0f} ms (target < {TARGET_MS} ms a page)")

    if args.keep:
        print(f"kept {workdir / 'bench.sqlite3'}")
    else:
        connection.close()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
