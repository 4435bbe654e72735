"""Where a vote request's CPU goes: one process serves votes under cProfile.

Builds bench_throughput.py's study (smaller: --prompts 500 x 4 pair tasks) in a fresh
SQLite file, or in a fresh PostgreSQL database beside DATABASE_URL's with --postgresql,
logs --graders graders in through the real login form with Django's test client (CSRF
checks on, DEBUG off, bench_throughput's server settings), lets them vote 200 times in
turn through the real htmx endpoint without the profiler (warm-up), then --votes times
under cProfile, and prints the CPU ms per vote of the request's stages (cumulative time
of the functions named in STAGES) and the functions with the most own time.

Bench-only: the profiler wraps the test client's calls here; no product code path is
instrumented.

Run: .venv/bin/python bench/profile_vote.py [--votes 400] [--postgresql] [--dump FILE]
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import random
import secrets
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))
sys.path.insert(0, str(BENCH))

# (label, file suffix, function name): a stage's time is its function's cumulative time.
STAGES = [
    ("session load (SessionStore.load)", "sessions/backends/db.py", "load"),
    ("session save (process_response)", "sessions/middleware.py", "process_response"),
    ("user lookup (auth get_user)", "contrib/auth/__init__.py", "get_user"),
    ("CSRF check (process_view)", "django/middleware/csrf.py", "process_view"),
    ("CSRF cookie (process_response)", "django/middleware/csrf.py", "process_response"),
    ("messages (process_response)", "messages/middleware.py", "process_response"),
    ("POST parsing (_load_post_and_files)", "django/http/request.py", "_load_post_and_files"),
    ("URL resolving (resolve)", "django/urls/resolvers.py", "resolve"),
    ("view grade_submit", "annotation/views.py", "grade_submit"),
    ("  assignment + access", "annotation/access.py", "get_assignment_for_vote"),
    ("  form: GradeForm.__init__", "annotation/forms.py", "__init__"),
    ("  form: is_valid", "django/forms/forms.py", "is_valid"),
    ("  vote transaction (vote_and_next)", "annotation/handout.py", "vote_and_next"),
    ("    record (handout._record)", "annotation/handout.py", "_record"),
    ("    next task (next_assignment)", "annotation/handout.py", "next_assignment"),
    ("  reveal", "annotation/grading.py", "reveal"),
    ("  page (views._grade_page)", "annotation/views.py", "_grade_page"),
    ("    progress (screen_progress)", "annotation/grader_stats.py", "screen_progress"),
    ("    shown_at (sign_shown_at)", "annotation/forms.py", "sign_shown_at"),
    ("    task screen (task_screen)", "annotation/grading.py", "task_screen"),
    ("    render (shortcuts.render)", "django/shortcuts.py", "render"),
    ("SQL: CursorWrapper._execute", "django/db/backends/utils.py", "_execute"),
    ("transaction.atomic __enter__", "django/db/transaction.py", "__enter__"),
    ("transaction.atomic __exit__", "django/db/transaction.py", "__exit__"),
    ("model instances (Model.from_db)", "django/db/models/base.py", "from_db"),
    ("SQL compiling (as_sql)", "django/db/models/sql/compiler.py", "as_sql"),
    ("signing (Signer.sign)", "django/core/signing.py", "sign"),
    ("logging (Logger.handle)", "logging/__init__.py", "handle"),
]


# Stages timed without the profiler (CPU time, wrappers installed for the timed run
# only): (label, module, attribute path).
TIMED = [
    ("session load (SessionStore.load)", "django.contrib.sessions.backends.db", "SessionStore.load"),
    ("user lookup (auth.get_user, session load included)", "django.contrib.auth", "get_user"),
    ("CSRF check (process_view, POST parsing included)", "django.middleware.csrf", "CsrfViewMiddleware.process_view"),
    ("view grade_submit", "annotation.views", "grade_submit"),
    ("  assignment + access", "annotation.views", "get_assignment_for_vote"),
    ("  form (GradeForm init + is_valid + to_vote)", "annotation.forms", "GradeForm.full_clean"),
    ("  vote transaction (handout.vote_and_next)", "annotation.handout", "vote_and_next"),
    ("  page (views._grade_page)", "annotation.views", "_grade_page"),
    ("    render of the fragment (views.render)", "annotation.views", "render"),
]  # fmt: skip


def time_stages() -> tuple[dict, callable]:
    """Wrap TIMED's functions with CPU timers; the totals, and a function that unwraps."""
    import importlib

    totals, undo = {}, []
    for label, module_name, path in TIMED:
        owner = importlib.import_module(module_name)
        *parents, attr = path.split(".")
        for parent in parents:
            owner = getattr(owner, parent)
        original = getattr(owner, attr)
        totals[label] = 0.0

        def timed(*args, _original=original, _label=label, **kwargs):
            started = time.process_time()
            try:
                return _original(*args, **kwargs)
            finally:
                totals[_label] += time.process_time() - started

        setattr(owner, attr, timed)
        undo.append((owner, attr, original))

    def unwrap() -> None:
        for owner, attr, original in reversed(undo):
            setattr(owner, attr, original)

    return totals, unwrap


def report(args, profile, cpu: float, plain: float, totals: dict) -> None:
    stats = pstats.Stats(profile)
    if args.dump:
        stats.dump_stats(args.dump)
    database = "PostgreSQL" if args.postgresql else "SQLite"
    print(
        f"{database}: {1000 * plain / args.votes:.2f} ms CPU per vote without the profiler "
        f"(test client and parsing included), {1000 * cpu / args.votes:.2f} ms under cProfile"
    )
    print(f"{'stage (CPU, not profiled)':<52}{'ms/vote':>9}")
    for label, seconds in totals.items():
        print(f"{label:<52}{1000 * seconds / args.votes:>9.2f}")
    print()
    by_function = {}
    for (filename, _line, name), (_cc, _nc, _tt, ct, _callers) in stats.stats.items():
        by_function.setdefault((filename.replace(os.sep, "/"), name), []).append(ct)
    whole = 1000 * stats.total_tt / args.votes
    print(f"{'stage (cumulative CPU, profiled)':<44}{'ms/vote':>9}{'share':>8}")
    print(f"{'all (client included)':<44}{whole:>9.2f}{1:>8.1%}")
    for label, suffix, name in STAGES:
        times = [
            max(cts) for (f, n), cts in by_function.items() if f.endswith(suffix) and n == name
        ]
        if not times:
            continue
        ms = 1000 * sum(times) / args.votes
        print(f"{label:<44}{ms:>9.2f}{ms / whole:>8.1%}")
    print(f"\nfunctions with the most own time (top {args.top}):")
    stats.sort_stats("tottime").print_stats(args.top)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--votes", type=int, default=400)
    parser.add_argument("--graders", type=int, default=10)
    parser.add_argument("--prompts", type=int, default=500)
    parser.add_argument("--postgresql", action="store_true")
    parser.add_argument("--dump", help="write the raw profile here (pstats)")
    parser.add_argument("--top", type=int, default=30)
    args = parser.parse_args()

    import bench_throughput as bt

    workdir = Path(tempfile.mkdtemp(prefix="bench-profile-vote-"))
    base_url = os.environ.get("DATABASE_URL", "")
    if args.postgresql:
        if not bt.postgres_url(base_url):
            raise SystemExit("--postgresql needs DATABASE_URL=postgres://...")
        database_url = bt.create_postgres(base_url)
    else:
        database_url = f"sqlite:///{workdir / 'bench.sqlite3'}"
    os.environ.update(
        DATABASE_URL=database_url,
        DJANGO_SETTINGS_MODULE="throughput_settings",
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="testserver",
        VAR_DIR=str(workdir),
        LOG_LEVEL="ERROR",
    )
    os.environ.pop("DEBUG", None)
    import django

    django.setup()
    from django.db import connection
    from django.test import Client

    try:
        usernames = bt.build(workdir, args.prompts, args.graders, 0)
        clients = []
        for username in usernames:
            client = Client(enforce_csrf_checks=True)
            html = client.get("/accounts/login/").content.decode()
            token = bt.CSRF_RE.search(html).group(1)
            form = {"csrfmiddlewaretoken": token, "username": username, "password": bt.PASSWORD}
            if client.post("/accounts/login/", form).status_code != 302:
                raise SystemExit(f"{username} could not log in")
            page = client.get(f"/studies/{bt.SLUG}/grade/").content.decode()
            clients.append([client, bt.parse_task(page)])
        rng = random.Random(0)

        def vote(entry) -> None:
            client, task = entry
            form = dict(task["hidden"])
            for name, values in task["radios"].items():
                form[name] = rng.choice(values)
            # Form-encoded, as the browser's htmx and bench_throughput send it (the test
            # client's default is multipart).
            response = client.post(
                task["action"],
                urllib.parse.urlencode(form, doseq=True),
                content_type="application/x-www-form-urlencoded",
                headers={"HX-Request": "true", "HX-Target": "task"},
                HTTP_X_CSRFTOKEN=client.cookies["csrftoken"].value,
            )
            html = response.content.decode()
            if response.status_code != 200 or 'data-outcome="stored"' not in html:
                raise SystemExit(f"a vote was not stored: {response.status_code}")
            entry[1] = bt.parse_task(html)

        for i in range(200):
            vote(clients[i % len(clients)])
        # CPU time, not wall time: on a shared machine waits for the CPU are not the vote's.
        profile = cProfile.Profile(time.process_time)
        started = time.process_time()
        profile.enable()
        for i in range(args.votes):
            vote(clients[i % len(clients)])
        profile.disable()
        cpu = time.process_time() - started
        plain = time.process_time()
        for i in range(args.votes):
            vote(clients[i % len(clients)])
        plain = time.process_time() - plain
        totals, unwrap = time_stages()
        for i in range(args.votes):
            vote(clients[i % len(clients)])
        unwrap()
    finally:
        connection.close()
        if args.postgresql:
            bt.drop_postgres(base_url, database_url)

    report(args, profile, cpu, plain, totals)
    return 0


if __name__ == "__main__":
    sys.exit(main())
