"""annotation.results.parallel: the results of one snapshot computed in forked processes
give the same values as one after another, never touch the database from a child, and
leave no process behind, whatever happens."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest

from annotation.models import ResultCache, User
from annotation.results import parallel, store
from tests.annotation.results_study import build_mixed_study

PARENT = os.getpid()


def children() -> set[str]:
    """This process's children, zombies included (Linux)."""
    path = Path(f"/proc/{PARENT}/task/{PARENT}/children")
    return set(path.read_text().split()) if path.exists() else set()


class _ThreadsOfThisTest:
    """`threading` as parallel.can_fork sees it, counting only the threads a test starts.

    In the whole suite the browser tests leave pytest-django's session-wide live server
    running, a thread of this process idle in accept(); can_fork rightly refuses to fork
    beside it, and these tests would silently run everything serially."""

    def __init__(self) -> None:
        self.others = threading.active_count() - 1

    def active_count(self) -> int:
        return threading.active_count() - self.others


@pytest.fixture(autouse=True)
def threads_of_this_test(monkeypatch):
    monkeypatch.setattr(parallel, "threading", _ThreadsOfThisTest())


@pytest.fixture(autouse=True)
def no_process_left():
    before = children()
    yield
    assert children() <= before, "a forked process was left behind"


def napping(value, seconds=0.1):
    def run():
        time.sleep(seconds)
        return value

    return run


def test_the_values_come_back_in_order_from_the_children_and_this_process():
    parts = [parallel.Part(f"p{i}", napping({"i": i, "x": [i] * 3})) for i in range(8)]
    timings = {}
    values = parallel.run(parts, processes=2, timings=timings)
    assert values == [{"i": i, "x": [i] * 3} for i in range(8)]
    assert set(timings) == {f"p{i}" for i in range(8)}
    # Each process takes the next part when it is free: both took some.
    assert len({t.pid for t in timings.values()}) == 2


def test_one_process_runs_every_part_here():
    timings = {}
    assert parallel.run([parallel.Part("a", lambda: 1)], processes=1, timings=timings) == [1]
    assert timings["a"].pid == PARENT


def test_no_fork_while_another_thread_runs():
    """A thread (a threaded server's) might hold a lock a child would wait on forever."""
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        assert not parallel.can_fork()
        timings = {}
        parts = [parallel.Part(f"p{i}", napping(i)) for i in range(4)]
        assert parallel.run(parts, processes=2, timings=timings) == [0, 1, 2, 3]
        assert {t.pid for t in timings.values()} == {PARENT}
    finally:
        stop.set()
        thread.join()


@pytest.mark.django_db
def test_a_child_cannot_use_the_database_and_the_parents_connection_survives():
    User.objects.create(username="someone")
    with parallel.Batch([parallel.Part("query", lambda: User.objects.count())], children=1) as b:
        outcomes = b.collect()
    status, error = outcomes[0]
    assert status == "error"
    assert "must not use the database" in str(error)
    # The parent's connection (and its transaction) is untouched.
    assert User.objects.filter(username="someone").count() == 1


def test_a_part_that_raises_raises_in_the_parent_the_first_in_order():
    def fail(exc):
        def run():
            time.sleep(0.05)
            raise exc

        return run

    parts = [
        parallel.Part("fine", napping(0)),
        parallel.Part("one", fail(ValueError("the first"))),
        parallel.Part("two", fail(KeyError("the second"))),
    ]
    with pytest.raises(ValueError, match="the first"):
        parallel.run(parts, processes=2)


def test_a_part_whose_child_died_runs_again_in_the_parent():
    def dies_in_a_child(value):
        def run():
            if os.getpid() != PARENT:
                os.kill(os.getpid(), signal.SIGKILL)
            return value

        return run

    with parallel.Batch([parallel.Part("dies", dies_in_a_child(1))], children=1) as batch:
        assert batch.collect() == {}  # nothing came back
    parts = [parallel.Part(f"p{i}", dies_in_a_child(i)) for i in range(6)]
    timings = {}
    assert parallel.run(parts, processes=2, timings=timings) == list(range(6))
    assert {t.pid for t in timings.values()} == {PARENT}


def test_the_children_are_killed_and_reaped_when_the_parent_raises():
    def run():
        if os.getpid() == PARENT:
            raise KeyboardInterrupt  # not a part's failure: the computation is abandoned
        time.sleep(60)

    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        parallel.run([parallel.Part("a", run), parallel.Part("b", run)], processes=2)
    assert time.monotonic() - started < 30  # the sleeping child was killed, not awaited


def test_early_parts_that_failed_on_the_partial_snapshot_run_again_here():
    data = {"ready": False}

    def needs_ready():
        if not data["ready"]:
            raise RuntimeError("not read yet")
        return "ready"

    early = parallel.start_early([parallel.Part("late", needs_ready, early=True)])
    assert early is not None
    data["ready"] = True  # the rest of the snapshot was read (in the parent)
    timings = {}
    parts = [parallel.Part("other", napping(1)), parallel.Part("late", needs_ready)]
    assert parallel.run(parts, processes=2, timings=timings, early=early) == [1, "ready"]
    assert timings["late"].pid == PARENT


def session():
    """What identifies this process's database session: PostgreSQL's backend pid, or the
    SQLite handle."""
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            return cursor.fetchone()[0]
    connection.ensure_connection()
    return id(connection.connection)


@pytest.mark.django_db(transaction=True)
def test_a_read_ahead_queries_on_its_own_connection_and_the_parents_survives():
    User.objects.create(username="someone")
    before = session()
    ahead = parallel.read_ahead(
        lambda: (os.getpid(), User.objects.filter(username="someone").count())
    )
    assert ahead is not None
    done, (pid, found) = ahead.value()
    assert done and pid != PARENT and found == 1
    # The parent's session is the one it had, and it reads and writes as before: the
    # child closed only the connection it opened.
    assert session() == before
    User.objects.create(username="another")
    assert User.objects.count() == 2
    assert ahead.value() == (False, None)  # the value is taken once


@pytest.mark.django_db
def test_no_read_ahead_inside_a_transaction():
    """A new connection would not see the transaction's rows (pytest-django's `db`
    wraps each test in one)."""
    assert parallel.read_ahead(lambda: 1) is None


@pytest.mark.django_db(transaction=True)
def test_a_read_ahead_that_raises_or_dies_is_read_here_and_logged(caplog):
    def fail():
        raise ValueError("no such table, say")

    failing = parallel.read_ahead(fail)
    assert failing.value() == (False, None)
    dying = parallel.read_ahead(lambda: os.kill(os.getpid(), signal.SIGKILL))
    assert dying.value() == (False, None)
    assert "no such table, say" in caplog.text and "died" in caplog.text


@pytest.mark.django_db(transaction=True)
def test_an_abandoned_read_ahead_is_killed_and_reaped_at_once():
    ahead = parallel.read_ahead(napping(1, seconds=60))
    started = time.monotonic()
    ahead.abandon()
    assert time.monotonic() - started < 10
    assert ahead.value() == (False, None)


@pytest.mark.django_db(transaction=True)
def test_a_snapshot_read_ahead_holds_what_one_read_here_holds(monkeypatch):
    from dataclasses import fields

    import pandas as pd

    from annotation.results import snapshot

    study = build_mixed_study()
    here = snapshot.load(study)
    taken = []
    value = parallel.ReadAhead.value

    def spy(self):
        outcome = value(self)
        taken.append(outcome[0])
        return outcome

    monkeypatch.setattr(parallel.ReadAhead, "value", spy)
    ahead = snapshot.load(study, read_ahead=True)
    assert taken == [True]  # the ratings came from the other process
    assert len(here.ratings) > 50
    for field in fields(here):
        mine, theirs = getattr(here, field.name), getattr(ahead, field.name)
        if isinstance(mine, pd.DataFrame):
            pd.testing.assert_frame_equal(theirs, mine, check_exact=True)
        else:
            assert theirs == mine, field.name


def stored_payloads(study) -> dict:
    keys = [store.default_key(name) for name in store.DEFAULTS]
    return {row.key: row.payload for row in ResultCache.objects.filter(study=study, key__in=keys)}


@pytest.mark.django_db
def test_a_refresh_on_two_processes_stores_what_one_process_stores(settings):
    study = build_mixed_study()
    settings.RESULTS_PROCESSES = 1
    store.refresh(study, force=True)
    serial = stored_payloads(study)
    settings.RESULTS_PROCESSES = 2
    timings = {}
    store.refresh(study, force=True, timings=timings)
    assert stored_payloads(study) == serial
    pids = {t.pid for name, t in timings.items() if name != store.SNAPSHOT}
    # This process and the early child at least (the second child may find the queue empty).
    assert PARENT in pids and len(pids) >= 2
    # The parent's connection still works after the forks.
    assert ResultCache.objects.filter(study=study).count() >= len(store.DEFAULTS)


GUNICORN_APP = """
import json, os, time
import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "humaneval_site.settings")
django.setup()
from annotation.results import parallel


def nap(i):
    def run():
        time.sleep(0.1)
        return i
    return run


def app(environ, start_response):
    timings = {}
    values = parallel.run([parallel.Part(f"p{i}", nap(i)) for i in range(8)], processes=2, timings=timings)
    me = os.getpid()
    left = open(f"/proc/{me}/task/{me}/children").read().split()
    body = json.dumps({"values": values, "pids": len({t.pid for t in timings.values()}), "left": left})
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body.encode()]
"""


def test_inside_a_gunicorn_sync_worker_the_parts_fork_and_nothing_is_left(tmp_path):
    """The app's production server: a request computing results forks from the sync worker
    (one thread), gets every value, and the worker keeps no child; the server then stops
    cleanly on SIGTERM."""
    import json
    import socket
    import subprocess
    import sys
    import urllib.request

    (tmp_path / "forking_app.py").write_text(GUNICORN_APP)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{root}", "DEBUG": "1"}
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--workers",
            "1",
            "--worker-class",
            "sync",
            "--bind",
            f"127.0.0.1:{port}",
            "--timeout",
            "60",
            "forking_app:app",
        ],
        env=env,
        cwd=root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=30) as r:
                    answer = json.loads(r.read())
                break
            except OSError:
                assert server.poll() is None, server.stderr.read().decode()[-2000:]
                assert time.monotonic() < deadline, "gunicorn did not answer"
                time.sleep(0.3)
        assert answer == {"values": list(range(8)), "pids": 2, "left": []}
    finally:
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=30) == 0
