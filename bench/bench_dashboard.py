"""The researchers' dashboard on a study of 100,000 judgments: the first computation of
every result from cold, and dashboard requests while graders keep voting.

Builds the study of bench/bench_grading.py (10,000 prompts x 4 models, 40,000 pair tasks,
200 graders, 100,000 judgments with ratings; seeded, see bench/_results_study.py) in a fresh
SQLite file and scores one automatic metric. Then:

1. cold: `annotation.results.refresh` computes every dashboard result from nothing, the
   way the first dashboard request or the background job does, on the machine's cores
   (the default, `RESULTS_PROCESSES`) and then in one process (`RESULTS_PROCESSES=1`),
   --rounds times each (default 3), alternately. Each run is a fresh process, as the
   background worker (`manage.py db_worker`) is: not the bench's own, whose heap holds
   what building 100,000 judgments through the ORM left, which every forked child would
   copy page by page as it touches it. The modules are imported first (a worker imports
   them once, at its first job; printed, not timed). Prints the median, fastest and
   slowest wall time, and for the median run the CPU time of all processes, of the
   refreshing process, the time reading the snapshot, and each part's CPU by the
   process that ran it. Target: <= 5 s wall (the median).
2. the payloads are compared with those the code before the results package computed on
   the same study (bench/fixtures/results_100k_before.json.gz): they must be identical, to
   the last bit of every number. The fixture was made by bench/capture_dashboard_before.py
   (its docstring has the commands) in a temporary worktree of commit 99f5148, the code
   before the package with issue 11's statistics, the same code the test fixture
   tests/annotation/fixtures/results_before.json.gz comes from. That commit's own builder
   makes the study from the same seed; the fixture holds a digest of the study's rows
   (`_results_study.digest`), checked here first, so both sides provably read the same
   data. Differences are listed by field (``agreement.questions[0].alpha_ci_lower``).
3. during grading: a background worker (`manage.py db_worker`) and a grading process
   (graders voting through hand-out as fast as they can) run while a researcher GETs the
   dashboard every half second. Prints the median, p95 and max request time, the votes
   recorded meanwhile, and how many recomputations the worker ran. Target: <= 300 ms.

Run: .venv/bin/python bench/bench_dashboard.py [--requests N] [--rounds N] [--keep]
Again on a kept file: ... --reuse FILE --rounds N --requests 0 (part 1 and 2 only).
"""

import argparse
import gzip
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _django import use_sqlite  # noqa: E402

BEFORE = HERE / "fixtures" / "results_100k_before.json.gz"
COLD_TARGET_S = 5.0
REQUEST_TARGET_MS = 300


def grade_forever(db: Path, seconds: float) -> None:
    """Child process: graders vote through hand-out for `seconds`; prints the vote count."""
    use_sqlite(db)
    from annotation import handout
    from annotation.handout import Vote
    from annotation.models import Study, User

    study = Study.objects.get(slug="bench")
    graders = list(User.objects.filter(username__startswith="grader").order_by("pk"))
    rng = random.Random(1)
    votes = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        grader = rng.choice(graders)
        assignment = handout.next_assignment(grader, study)
        if assignment is None:
            continue
        vote = Vote(
            verdict=rng.choice(["left", "right", "tie", "both_bad"]),
            ratings={"left": rng.choice(study.rating_scale), "right": "good"},
        )
        handout.record_vote(assignment.pk, grader, vote)
        votes += 1
    print(votes)


def compare_with_before(study) -> list[str]:
    """What differs from the payloads the code before computed: empty when every number is
    the same; else one line per payload naming the differing fields (at most a few each)."""
    from _results_study import digest

    from annotation.results import store

    before = json.loads(gzip.decompress(BEFORE.read_bytes()))
    if digest(study) != before["study"]:
        return ["the study's rows differ from those the fixture was computed from"]
    different = []
    for name, expected in before["payloads"].items():
        payload = json.loads(json.dumps(store.stored(study, store.default_key(name)).payload))
        if name == "progress":  # equal counts come in database order
            for side in (payload, expected):
                side["graders"].sort(key=lambda g: (-g["judgments"], g["grader"]))
                side["slices"].sort(key=lambda s: s["column"])
        paths = list(differences(expected, payload, name))
        if paths:
            shown = ", ".join(paths[:5]) + (f" and {len(paths) - 5} more" if len(paths) > 5 else "")
            different.append(f"{name}: {shown}")
    return different


def differences(expected, actual, path: str):
    """The paths (``name.key[index]...``) where two JSON values differ."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        for key in sorted(set(expected) | set(actual)):
            if key not in actual or key not in expected:
                yield f"{path}.{key} ({'missing' if key not in actual else 'new'})"
            else:
                yield from differences(expected[key], actual[key], f"{path}.{key}")
    elif isinstance(expected, list) and isinstance(actual, list) and len(expected) == len(actual):
        for i, (a, b) in enumerate(zip(expected, actual, strict=True)):
            yield from differences(a, b, f"{path}[{i}]")
    elif expected != actual or type(expected) is not type(actual):
        yield path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--judgments", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument(
        "--rounds",
        type=int,
        help="cold computations with each setting (part 1; default 3, none with --reuse)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the SQLite file")
    parser.add_argument(
        "--reuse", type=Path, help="a SQLite file kept by --keep: only time the requests"
    )
    parser.add_argument("--grade-for", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--cold-child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--db", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.grade_for:
        grade_forever(args.db, args.grade_for)
        return
    if args.cold_child:
        cold_child(args.db, args.cold_child)
        return

    workdir = None if args.reuse else Path(tempfile.mkdtemp(prefix="bench-dashboard-"))
    db = args.reuse or workdir / "bench.sqlite3"
    use_sqlite(db)
    from _results_study import build
    from django.core.management import call_command
    from django.db import connection

    from annotation import metric_runs
    from annotation.models import Judgment, Study

    call_command("migrate", verbosity=0)
    if args.reuse:
        study = Study.objects.get(slug="bench")
    else:
        started = time.perf_counter()
        study, _graders = build(10_000, args.judgments, random.Random(0))
        metric_runs.compute(study, "length")
        print(
            f"built {Judgment.objects.count():,} judgments in {time.perf_counter() - started:.0f} s"
        )
        connection.close()  # the cold runs' processes read the file afresh
        cold(study, db, args.judgments, args.rounds or 3)
    if args.reuse and args.rounds:
        cold(study, db, args.judgments, args.rounds)
    if args.requests:
        during_grading(study, db, args.requests)
    if args.keep:
        print(f"kept {db}")
    elif workdir:
        shutil.rmtree(workdir, ignore_errors=True)


def cpu_seconds() -> float:
    """CPU time of this process and of its children that have ended (the refresh's forked
    processes are reaped before it returns)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def rss_mb() -> float:
    """This process's resident memory now."""
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def cold(study, db: Path, judgments: int, rounds: int = 1) -> None:
    """1. and 2.: `rounds` times, alternately, the first computation on the machine's cores
    (the default, `RESULTS_PROCESSES`) and in one process (``RESULTS_PROCESSES=1``), each in
    a fresh process (`cold_child`) as the background worker runs it; the median, fastest
    and slowest wall time of each setting, and each part's CPU in the median run."""
    from annotation.results import parallel

    runs: dict[int, list[dict]] = {}
    for _ in range(rounds):
        for processes in dict.fromkeys([parallel.processes(), 1]):
            command = [sys.executable, __file__, "--cold-child", str(processes), "--db", str(db)]
            out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
            runs.setdefault(processes, []).append(json.loads(out.splitlines()[-1]))
    for processes, found in runs.items():
        walls = sorted(run["wall"] for run in found)
        median = statistics.median(walls)
        run = min(found, key=lambda r: abs(r["wall"] - median))
        print(
            f"cold first computation of every result, {processes} process"
            f"{'es' if processes > 1 else ''}, {len(found)} run(s): median {median:.1f} s wall "
            f"(fastest {walls[0]:.1f}, slowest {walls[-1]:.1f}; target <= {COLD_TARGET_S:.0f} s: "
            f"{'met' if median <= COLD_TARGET_S else 'NOT met'}); median run: {run['cpu']:.1f} s "
            f"CPU of all processes, {run['own']:.1f} s in the refreshing process"
        )
        print(
            f"  the process: {run['rss']:.0f} MB resident before, modules imported in "
            f"{run['imports']:.1f} s (once per process, not timed); reading the snapshot "
            f"{run['snapshot']:.1f} s wall; parts by process (CPU s):"
        )
        for n, (pid, parts) in enumerate(run["parts"]):
            print(
                f"  {'the refreshing process' if n == 0 else f'child {n}'} ({pid}): "
                f"{sum(parts.values()):.1f} s: "
                + ", ".join(f"{name} {cpu:.2f}" for name, cpu in parts.items())
            )
    print(
        f"  load average: {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} cores"
    )
    # 2. The same numbers as before (the payloads the last run stored).
    if judgments == 100_000:
        different = compare_with_before(study)
        print(
            "  payloads identical to the code before the results package: "
            + ("yes" if not different else "NO, they differ in\n  " + "\n  ".join(different))
        )


def cold_child(db: Path, processes: int) -> None:
    """One cold refresh in this fresh process, as the background worker runs it: the
    modules it needs imported first (a worker imports them once, at its first job), then
    every result computed from nothing. Prints one JSON line of figures."""
    started = time.perf_counter()
    use_sqlite(db)
    from django.conf import settings

    from annotation.models import Study
    from annotation.results import store

    study = Study.objects.get(slug="bench")
    imports = time.perf_counter() - started
    settings.RESULTS_PROCESSES = processes
    timings = {}
    rss = rss_mb()
    wall, cpu, own = time.perf_counter(), cpu_seconds(), time.process_time()
    store.refresh(study, force=True, timings=timings)
    wall, cpu = time.perf_counter() - wall, cpu_seconds() - cpu
    own = time.process_time() - own
    snapshot = timings.pop(store.SNAPSHOT)
    pids = sorted({t.pid for t in timings.values()}, key=lambda pid: pid != os.getpid())
    parts = [(pid, {name: t.cpu for name, t in timings.items() if t.pid == pid}) for pid in pids]
    figures = {"wall": wall, "cpu": cpu, "own": own, "snapshot": snapshot, "rss": rss}
    print(json.dumps({**figures, "imports": imports, "parts": parts}))


def during_grading(study, db: Path, requests: int) -> None:
    """3. Dashboard requests while graders vote and a worker recomputes."""
    from django.test import Client
    from django_tasks_db.models import DBTaskResult

    from annotation.models import Membership, ResultsRefresh, User
    from annotation.results import store

    # Start from current results and an empty queue (a kept file may hold a stale job).
    DBTaskResult.objects.all().delete()
    ResultsRefresh.objects.filter(study=study).update(queued_at=None, started_at=None)
    store.refresh(study)

    researcher, _ = User.objects.get_or_create(username="bench-researcher", role="researcher")
    Membership.objects.get_or_create(study=study, user=researcher)
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(researcher)
    url = f"/studies/{study.slug}/results/"
    assert client.get(url).status_code == 200
    env = {**os.environ, "RESULTS_REFRESH_SECONDS": "10"}
    manage = [sys.executable, str(HERE.parent / "manage.py")]
    worker = subprocess.Popen(
        [*manage, "db_worker", "--no-startup-delay", "--no-reload", "--interval", "0.5"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    # Wait until the worker runs jobs (it finds the results current and returns at once).
    warm_up = store.refresh_results.enqueue(study.pk)
    while DBTaskResult.objects.get(pk=warm_up.id).status not in ("SUCCESSFUL", "FAILED"):
        time.sleep(0.2)
    duration = requests * 0.5 + 2
    grading = subprocess.Popen(
        [sys.executable, __file__, "--grade-for", str(duration), "--db", str(db)],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(1)
        times, cpu, statuses = [], [], []
        for _ in range(requests):
            began, began_cpu = time.perf_counter(), time.process_time()
            response = client.get(url)
            times.append(time.perf_counter() - began)
            cpu.append(time.process_time() - began_cpu)
            assert response.status_code == 200
            recomputing = b"recomputing with newer judgments" in response.content
            statuses.append("recomputing" if recomputing else "current")
            time.sleep(0.5)
        votes = int(grading.communicate(timeout=duration + 60)[0].strip() or 0)
    finally:
        # The worker may be in the middle of a recomputation: no need to let it finish.
        grading.kill()
        worker.kill()
        worker.wait()
    ms = sorted(t * 1000 for t in times)
    p95 = ms[min(len(ms) - 1, round(0.95 * (len(ms) - 1)))]
    recomputed = ResultsRefresh.objects.get(study=study)
    print(
        f"dashboard during grading: median {statistics.median(ms):.0f} ms, p95 {p95:.0f} ms, "
        f"max {ms[-1]:.0f} ms (n={len(ms)}; target <= {REQUEST_TARGET_MS} ms median: "
        f"{'met' if statistics.median(ms) <= REQUEST_TARGET_MS else 'NOT met'})"
    )
    print(f"  CPU time per request: median {statistics.median(cpu) * 1000:.0f} ms")
    slowest = max(range(len(times)), key=times.__getitem__)
    print(
        f"  slowest request (#{slowest + 1}): {times[slowest] * 1000:.0f} ms wall, "
        f"{cpu[slowest] * 1000:.0f} ms CPU, page said {statuses[slowest]}"
    )
    print(
        f"  meanwhile {votes} votes; pages said current {statuses.count('current')}, "
        f"recomputing {statuses.count('recomputing')}; last recomputation took "
        f"{recomputed.seconds:.1f} s"
    )


if __name__ == "__main__":
    main()
