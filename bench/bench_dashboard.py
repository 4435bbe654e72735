"""Open the researchers' dashboard of a study with 100,000 judgments: first and cached.

Builds the same study as bench/bench_grading.py (40,000 pair tasks, 200 graders,
100,000 judgments with ratings) in a fresh SQLite file, adds one automatic metric,
then as a researcher GETs /studies/<slug>/results/ once (computing every result)
and then repeatedly (served from the result cache), and the three charts. Prints
the first load, the median and p95 of the cached loads in ms, and the charts.
Target: under 1 s once computed.

Run: .venv/bin/python bench/bench_dashboard.py [--iterations N]
"""

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _django import use_sqlite  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--judgments", type=int, default=100_000)
    parser.add_argument("--iterations", type=int, default=20)
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="bench-dashboard-"))
    use_sqlite(workdir / "bench.sqlite3")
    from bench_grading import build
    from django.core.management import call_command
    from django.test import Client

    from annotation import metric_runs
    from annotation.models import Judgment, Membership, User

    call_command("migrate", verbosity=0)
    started = time.perf_counter()
    study, _graders = build(10_000, args.judgments, random.Random(0))
    metric_runs.compute(study, "length")
    print(f"built {Judgment.objects.count():,} judgments in {time.perf_counter() - started:.0f} s")

    researcher = User.objects.create(username="bench-researcher", role="researcher")
    Membership.objects.create(study=study, user=researcher)
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(researcher)
    url = f"/studies/{study.slug}/results/"

    started = time.perf_counter()
    response = client.get(url)
    first = time.perf_counter() - started
    assert response.status_code == 200, response.status_code
    cached = []
    for _ in range(args.iterations):
        started = time.perf_counter()
        assert client.get(url).status_code == 200
        cached.append(time.perf_counter() - started)
    charts = []
    for name in ("ratings", "grr", "winrate"):
        client.get(f"{url}charts/{name}.svg")  # drawn once, then cached
        started = time.perf_counter()
        assert client.get(f"{url}charts/{name}.svg").status_code == 200
        charts.append(time.perf_counter() - started)
    cached.sort()
    median = statistics.median(cached) * 1000
    p95 = cached[int(0.95 * (len(cached) - 1))] * 1000
    print(f"first load (computes every result): {first:.1f} s")
    print(f"cached load: median {median:.0f} ms, p95 {p95:.0f} ms (n={len(cached)})")
    print(f"cached charts: {', '.join(f'{c * 1000:.0f} ms' for c in charts)}")
    print(f"target: under 1 s once computed -> {'met' if median < 1000 else 'NOT met'}")


if __name__ == "__main__":
    main()
