"""The Makefile's commands as the README gives them: `make demo PORT=...` serves with a worker
that runs the dashboard's metric jobs and stops with the server; `make manage ARGS=...` runs
any management command without setting anything up by hand.

The real targets run here, against a SQLite file of the test's own (VAR_DIR), with the
install step marked done (`-o`): the suite runs after `make test` installed everything.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="needs GNU make")

SKIP_INSTALL = ["-o", ".venv/.installed-stamp"]
PYTHON = str(REPO_ROOT / ".venv" / "bin" / "python")


def env_for(var_dir: Path) -> dict:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "DJANGO_SETTINGS_MODULE", "DEBUG", "SECRET_KEY")
    }
    env["VAR_DIR"] = str(var_dir)
    return env


def make(*args, env, timeout=300) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["make", "--no-print-directory", *SKIP_INSTALL, *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def session_processes(sid: int) -> list[str]:
    """Command lines of the live processes in session `sid` (Linux /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            fields = stat[stat.rindex(")") + 2 :].split()
            if fields[0] == "Z" or int(fields[3]) != sid:
                continue
            found.append((entry / "cmdline").read_bytes().replace(b"\0", b" ").decode())
        except (OSError, ValueError):
            continue
    return found


def test_make_manage_runs_a_command_without_any_setup(tmp_path):
    result = make("manage", "ARGS=help create_account", env=env_for(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "--role" in result.stdout


def test_make_demo_prints_every_login_and_serves_on_the_port_asked_for(tmp_path):
    dry = make("-n", "demo", "PORT=8123", env=env_for(tmp_path))
    assert dry.returncode == 0, dry.stderr
    assert "load_demo --url http://127.0.0.1:8123/" in dry.stdout
    assert "runserver 127.0.0.1:8123" in dry.stdout
    assert "db_worker --queue-name '*'" in dry.stdout


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
def test_make_serve_runs_metric_jobs_and_stops_the_worker_with_the_server(tmp_path, write_jsonl):
    env = env_for(tmp_path)
    manage = [PYTHON, "manage.py"]
    dev = {**env, "DEBUG": "1"}
    study = write_jsonl(
        [
            {"id": f"q{i}", "prompt": f"Question {i}?", "outputs": {"a": "one two", "b": "three"}}
            for i in range(3)
        ]
    )
    for command in (
        ["migrate", "--noinput"],
        ["import_study", str(study), "--study", "served"],
    ):
        done = subprocess.run(
            [*manage, *command], cwd=REPO_ROOT, env=dev, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
    enqueue = (
        "from annotation import metric_runs; from annotation.models import Study; "
        "print(metric_runs.start_job(Study.objects.get(slug='served'), 'length').pk)"
    )
    queued = subprocess.run(
        [*manage, "shell", "-c", enqueue], cwd=REPO_ROOT, env=dev, capture_output=True, text=True
    )
    assert queued.returncode == 0, queued.stderr
    job_id = int(queued.stdout.split()[-1])

    port = free_port()
    server = subprocess.Popen(
        ["make", "--no-print-directory", *SKIP_INSTALL, "serve", f"PORT={port}"],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    sid = server.pid
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                    assert r.read() == b"ok"
                break
            except OSError:
                assert server.poll() is None, server.stdout.read()
                assert time.monotonic() < deadline, "the server did not come up"
                time.sleep(0.5)
        assert any("db_worker" in cmd for cmd in session_processes(sid))

        status = ""
        check = (
            "from annotation.models import MetricJob; "
            f"j = MetricJob.objects.get(pk={job_id}); print(j.status, j.done, j.total)"
        )
        while time.monotonic() < deadline:
            status = (
                subprocess.run(
                    [*manage, "shell", "-c", check],
                    cwd=REPO_ROOT,
                    env=dev,
                    capture_output=True,
                    text=True,
                )
                .stdout.strip()
                .splitlines()[-1]
            )
            if status.startswith(("done", "failed")):
                break
            time.sleep(1)
        assert status == "done 6 6", status
    finally:
        # Ctrl-C in a terminal: SIGINT to the whole foreground process group.
        os.killpg(sid, signal.SIGINT)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(sid, signal.SIGKILL)
            raise
    deadline = time.monotonic() + 15
    while session_processes(sid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert session_processes(sid) == [], "left running after the server stopped"


def _readme_commands(prefix: str) -> list[list[str]]:
    import shlex

    lines = (REPO_ROOT / "README.md").read_text().splitlines()
    found = []
    for line in lines:
        if line.startswith(f'make {prefix} ARGS="'):
            found.append(shlex.split(line.split('ARGS="', 1)[1].split('"', 1)[0]))
        elif line.startswith(f"make {prefix} ARGS="):
            found.append(shlex.split(line.split("ARGS=", 1)[1].split("#")[0]))
    return found


@pytest.mark.django_db
def test_every_command_the_readme_gives_exists_with_the_options_it_shows():
    """What the README tells people to paste names real commands and real options."""
    from django.core.management import get_commands, load_command_class

    from scoring.cli import build_parser

    commands = _readme_commands("manage")
    assert len(commands) >= 10
    for argv in commands:
        name, options = argv[0], [a.split("=")[0] for a in argv[1:] if a.startswith("--")]
        assert name in get_commands(), name
        parser = load_command_class(get_commands()[name], name).create_parser("manage.py", name)
        known = {o for action in parser._actions for o in action.option_strings}
        assert set(options) <= known, (name, set(options) - known)

    scoring = _readme_commands("scoring")
    assert len(scoring) >= 3
    subparsers = next(
        a for a in build_parser()._actions if a.choices and "leaderboard" in a.choices
    )
    for argv in scoring:
        sub = subparsers.choices[argv[0]]
        known = {o for action in sub._actions for o in action.option_strings}
        options = {a for a in argv[1:] if a.startswith("--")}
        assert options <= known, (argv[0], options - known)
