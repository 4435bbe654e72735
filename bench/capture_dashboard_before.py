"""Capture bench/fixtures/results_100k_before.json.gz: the dashboard's default results of
the 100,000-judgment bench study as the code before the results package computed them.

"The code before" is commit 99f5148 (branch wt-stats): `annotation/results.py` and
`annotation/tables.py` as they were before issue 12 split them into the results package,
with issue 11's changes to the statistics (jackknife alpha interval, clustered good-rate
interval, slice rules, leaderboard flags, one verdict vocabulary). It is the code the test
fixture tests/annotation/fixtures/results_before.json.gz was captured from. This script runs
inside a checkout of that commit, with that commit's models, migrations and bench builder
(`bench/bench_grading.py`'s `build`, the same seeded rows as `bench/_results_study.py`):

    git worktree add --detach /tmp/before99 99f5148
    cd /tmp/before99 && PYTHONPATH=/tmp/before99 /path/to/.venv/bin/python \\
        /path/to/worktree/bench/capture_dashboard_before.py \\
        --out /path/to/worktree/bench/fixtures/results_100k_before.json.gz
    cd - && git worktree remove --force /tmp/before99

It builds the study in a fresh SQLite file, scores the `length` metric, computes each default
result with the parameters the dashboard uses (`annotation.results.store.DEFAULTS`), and
writes them with a digest of the study's rows (`_results_study.digest`), which
bench_dashboard.py checks first so that both sides provably read the same study.
"""

import argparse
import gzip
import json
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument(
        "--before", type=Path, default=Path.cwd(), help="the checkout of the code before"
    )
    args = parser.parse_args()
    sys.path.insert(0, str(HERE))  # for _results_study.digest (reads fields both versions have)
    sys.path.insert(0, str(args.before / "bench"))  # that checkout's _django and builder
    from _django import use_sqlite

    workdir = Path(tempfile.mkdtemp(prefix="capture-before-"))
    use_sqlite(workdir / "before.sqlite3")
    import annotation

    if Path(annotation.__file__).resolve().parents[1] != args.before.resolve():
        raise SystemExit(f"annotation comes from {annotation.__file__}, not {args.before}")
    from _results_study import digest
    from bench_grading import build
    from django.core.management import call_command

    from annotation import metric_runs, results

    call_command("migrate", verbosity=0)
    started = time.perf_counter()
    study, _graders = build(10_000, 100_000, random.Random(0))
    metric_runs.compute(study, "length")
    print(f"built the study in {time.perf_counter() - started:.0f} s")
    started = time.perf_counter()
    payloads = {
        "leaderboard": results.leaderboard(study, bootstrap=1000, seed=0),
        "agreement": results.agreement(study, bootstrap=300, seed=0),
        "judges": results.judges(study),
        "slices": results.slice_results(study),
        "correlations": results.correlations(study, bootstrap=300, seed=0),
        "progress": results.progress(study),
    }
    print(f"computed the results in {time.perf_counter() - started:.0f} s")
    fixture = {"study": digest(study), "payloads": json.loads(json.dumps(payloads))}
    args.out.write_bytes(gzip.compress(json.dumps(fixture, sort_keys=True).encode(), mtime=0))
    print(f"wrote {args.out}")
    shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
