"""Votes per second over HTTP: the grading screen beside a bare one-INSERT view, same run.

For each database — a fresh SQLite file, and a fresh PostgreSQL database beside the one
DATABASE_URL names when it names one (`<name>_throughput`, created and dropped here) —
this builds a pairwise study of 40,000 tasks (--prompts 10,000 x 4 models, 4 pairs each,
overlap 3, ratings required) and --graders graders, starts gunicorn (--workers sync
workers) on 127.0.0.1, and lets every grader log in through the real login form. Then,
in --rounds alternating rounds so that the load of a shared machine falls on both alike:

  product: each grader votes through the real htmx endpoint, POST /studies/<slug>/grade/<id>/
           (stores the vote and swaps in the next task), with the form the page served;
  floor:   the same graders, client and session POST to a bench-only view that does one
           INSERT (bench/throughput_urls.py, loaded through bench/throughput_settings.py;
           the product's URLs never include it).

It prints requests/s and latency p50/p95/p99 of each side and their ratio, and beside
them the steadier figure on a shared machine: the CPU time the gunicorn workers spent per
request of each side (utime + stime from /proc/<pid>/stat, read before and after each
round), and on PostgreSQL the CPU of the server's backends for the bench database per
request; the load average at the end is printed with them. --histories
first stores that many judgments per grader (done assignments, judgments, ratings and
their quality row, as if they had voted) in the same 40,000-task study, e.g.
`--histories 500,5000`, to show whether a vote costs more after a long history.

Afterwards it checks what the run wrote: every vote acknowledged as stored is in the
database once, nothing was stored without an acknowledgement, no task went past its
overlap, and every task's slots match its assignments. (Worker kills and the full audit
are bench/load_graders.py's.)

Run: .venv/bin/python bench/bench_throughput.py [--seconds 30] [--rounds 3] [--histories 0]
     DATABASE_URL=postgres://user:pass@127.0.0.1:5432/db adds PostgreSQL.
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import os
import random
import re
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))
HOST = "127.0.0.1"
PASSWORD = "bench-throughput-password"
SLUG = "throughput"
MODELS, PAIRS_PER_PROMPT, OVERLAP = 4, 4, 3
FLOOR_PATH = "/bench/one-insert/"
FORM_RE = re.compile(r'<form\b[^>]*\bid="grade-form"[^>]*>', re.S)
ACTION_RE = re.compile(r'\baction="([^"]+)"')
INPUT_RE = re.compile(r"<input\b[^>]*>", re.S)
ATTR_RE = re.compile(r'\b([a-zA-Z_:-]+)="([^"]*)"')
CSRF_RE = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
WORDS = (
    "the model answers the question with a short list of steps and an example because "
    "users asked for clear help about data science history music travel and recipes"
).split()


# --- the database and the study --------------------------------------------------------------


def postgres_url(url: str) -> str | None:
    return url if url.startswith(("postgres://", "postgresql://")) else None


def create_postgres(url: str) -> str:
    """A fresh database beside the one `url` names; its URL."""
    import psycopg

    parts = urllib.parse.urlsplit(url)
    name = parts.path.lstrip("/") + "_throughput"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return urllib.parse.urlunsplit(parts._replace(path=f"/{name}"))


def drop_postgres(url: str, bench_url: str) -> None:
    import psycopg

    name = urllib.parse.urlsplit(bench_url).path.lstrip("/")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def text(rng: random.Random, words: int) -> str:
    half = words // 2
    return " ".join(rng.choices(WORDS, k=half)) + ".\n\n" + " ".join(rng.choices(WORDS, k=half))


def build(workdir: Path, prompts: int, graders: int, history: int) -> list[str]:
    """The study, its graders (usernames returned) and `history` judgments per grader."""
    from django.contrib.auth.hashers import make_password
    from django.core.management import call_command
    from django.db import connection, transaction
    from throughput_urls import FLOOR_TABLE

    from annotation import handout
    from annotation.ingest.study_files import StudyOptions, import_study
    from annotation.models import Membership, User

    call_command("migrate", verbosity=0)
    rng = random.Random(0)
    path = workdir / "study.jsonl"
    with path.open("w", encoding="utf-8") as out:
        for i in range(prompts):
            outputs = {f"model-{m}": text(rng, rng.randint(60, 200)) for m in range(MODELS)}
            out.write(json.dumps({"id": f"p{i}", "prompt": text(rng, 24), "outputs": outputs}))
            out.write("\n")
    options = StudyOptions(overlap=OVERLAP, require_ratings=True, pairs_per_prompt=PAIRS_PER_PROMPT)
    study = import_study(path, SLUG, options).study
    hashed = make_password(PASSWORD)
    users = User.objects.bulk_create(
        [User(username=f"bench-g{i:02d}", role="grader", password=hashed) for i in range(graders)]
    )
    Membership.objects.bulk_create([Membership(study=study, user=u) for u in users])
    if history:
        preload(study, users, history, rng)
        for user in users:
            handout.refresh_quality(study, user)
    with connection.cursor() as cursor, transaction.atomic():
        key = "BIGSERIAL" if connection.vendor == "postgresql" else "INTEGER"
        cursor.execute(
            f"CREATE TABLE {FLOOR_TABLE} (id {key} PRIMARY KEY, note TEXT, at DOUBLE PRECISION)"
        )
    return [u.username for u in users]


def preload(study, users, history: int, rng: random.Random) -> None:
    """`history` judgments per grader on tasks filled to their overlap, each task's
    graders distinct (slot p of task i goes to grader (overlap*i + p) mod graders)."""
    from django.db import transaction
    from django.utils import timezone

    from annotation.models import Assignment, Judgment, Rating, Task

    count = math.ceil(len(users) * history / OVERLAP)
    tasks = list(Task.objects.filter(study=study).order_by("pk")[:count])
    if len(tasks) < count:
        raise SystemExit(f"a history of {history} needs {count} tasks; the study has {len(tasks)}")
    now = timezone.now()
    with transaction.atomic():
        Task.objects.filter(pk__in=[t.pk for t in tasks]).update(slots_taken=OVERLAP)
        for start in range(0, len(tasks), 2000):
            chunk = tasks[start : start + 2000]
            slots = [
                (task, users[(OVERLAP * (start + i) + p) % len(users)])
                for i, task in enumerate(chunk)
                for p in range(OVERLAP)
            ]
            assignments = Assignment.objects.bulk_create(
                Assignment(task=t, grader=u, status="done", assigned_at=now, expires_at=now)
                for t, u in slots
            )
            judgments = Judgment.objects.bulk_create(
                Judgment(
                    task=a.task,
                    grader=a.grader,
                    assignment=a,
                    verdict=rng.choice(["a", "b", "tie", "both_bad"]),
                    seconds=rng.uniform(5, 120),
                    created_at=now,
                )
                for a in assignments
            )
            Rating.objects.bulk_create(
                Rating(judgment=j, response_id=r, label=rng.choice(["poor", "acceptable", "good"]))
                for j in judgments
                for r in (j.task.response_a_id, j.task.response_b_id)
            )


def check(acknowledged: list[int], floor_rows: int, preloaded: int) -> dict:
    """What the run wrote, against what the server acknowledged."""
    from django.db import connection
    from django.db.models import Count, F, Q
    from throughput_urls import FLOOR_TABLE

    from annotation.models import Judgment, Task

    stored = Judgment.objects.filter(task__study__slug=SLUG).count() - preloaded
    found = Judgment.objects.filter(assignment_id__in=acknowledged).count()
    over = (
        Judgment.objects.filter(task__study__slug=SLUG)
        .values("task_id")
        .annotate(n=Count("pk"))
        .filter(n__gt=OVERLAP)
        .count()
    )
    slots_off = (
        Task.objects.filter(study__slug=SLUG)
        .annotate(n=Count("assignments", filter=Q(assignments__status__in=["active", "done"])))
        .exclude(slots_taken=F("n"))
        .count()
    )
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM {FLOOR_TABLE}")
        floor_stored = cursor.fetchone()[0]
    return {
        "acknowledged": len(acknowledged),
        "acknowledged_twice": len(acknowledged) - len(set(acknowledged)),
        "lost": len(set(acknowledged)) - found,
        "stored_unacknowledged": stored - found,
        "tasks_over_overlap": over,
        "tasks_with_wrong_slots": slots_off,
        "floor_acknowledged": floor_rows,
        "floor_stored": floor_stored,
    }


# --- the client ------------------------------------------------------------------------------


class Browser:
    """One grader's cookies; a new connection per request, as gunicorn's sync workers close
    each one after answering."""

    def __init__(self, port: int):
        self.port = port
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, form=None, headers=None) -> tuple[int, str]:
        body = urllib.parse.urlencode(form, doseq=True) if form is not None else None
        sent = {"Host": f"{HOST}:{self.port}", **(headers or {})}
        if body is not None:
            sent["Content-Type"] = "application/x-www-form-urlencoded"
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        conn = http.client.HTTPConnection(HOST, self.port, timeout=60)
        try:
            conn.request(method, path, body=body, headers=sent)
            response = conn.getresponse()
            data = response.read().decode("utf-8", "replace")
        finally:
            conn.close()
        for name, value in response.getheaders():
            if name.lower() == "set-cookie":
                key, _, val = value.split(";", 1)[0].partition("=")
                self.cookies[key.strip()] = val.strip()
        return response.status, data

    def csrf_header(self) -> dict:
        return {"X-CSRFToken": self.cookies.get("csrftoken", "")}


def parse_task(html: str) -> dict | None:
    """The grading form in a page or fragment: where it posts, and the fields to send."""
    match = FORM_RE.search(html)
    if not match:
        return None
    body = html[match.end() : html.find("</form>", match.end())]
    hidden, radios = {}, {}
    for tag in INPUT_RE.findall(body):
        attrs = dict(ATTR_RE.findall(tag))
        name, kind = attrs.get("name"), attrs.get("type", "text")
        if name and kind == "hidden":
            hidden[name] = attrs.get("value", "")
        elif name and kind == "radio":
            radios.setdefault(name, []).append(attrs.get("value", ""))
    action = ACTION_RE.search(match.group(0)).group(1)
    return {"action": action, "hidden": hidden, "radios": radios}


@dataclass
class Grader:
    username: str
    browser: Browser
    rng: random.Random
    task: dict | None = None
    grade_path: str = f"/studies/{SLUG}/grade/"

    def log_in(self) -> None:
        status, html = self.browser.request("GET", "/accounts/login/")
        form = {
            "csrfmiddlewaretoken": CSRF_RE.search(html).group(1),
            "username": self.username,
            "password": PASSWORD,
        }
        status, _ = self.browser.request("POST", "/accounts/login/", form)
        if status != 302 or "sessionid" not in self.browser.cookies:
            raise SystemExit(f"{self.username} could not log in (status {status})")
        self.open_screen()

    def open_screen(self) -> None:
        status, html = self.browser.request("GET", self.grade_path)
        self.task = parse_task(html) if status == 200 else None

    def vote(self) -> tuple[bool, int | None]:
        """(stored, assignment id) for one vote; the answer swaps in the next task."""
        if self.task is None:
            self.open_screen()
            if self.task is None:
                return False, None
        form = dict(self.task["hidden"])
        for name, values in self.task["radios"].items():
            form[name] = self.rng.choice(values)
        headers = {"HX-Request": "true", "HX-Target": "task", **self.browser.csrf_header()}
        assignment_id = int(self.task["action"].rstrip("/").rsplit("/", 1)[1])
        status, html = self.browser.request("POST", self.task["action"], form, headers)
        self.task = parse_task(html) if status in (200, 409) else None
        return status == 200 and 'data-outcome="stored"' in html, assignment_id

    def insert(self) -> tuple[bool, None]:
        form = {"note": self.username}
        status, _ = self.browser.request("POST", FLOOR_PATH, form, self.browser.csrf_header())
        return status == 200, None


@dataclass
class Side:
    latencies: list = field(default_factory=list)
    seconds: float = 0.0
    failed: int = 0
    stored: list = field(default_factory=list)
    # CPU seconds spent on this side's rounds by the gunicorn workers and, on PostgreSQL,
    # by the server backends of the bench database (utime + stime from /proc/<pid>/stat).
    worker_cpu: float = 0.0
    db_cpu: float = 0.0


TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float | None:
    """utime + stime of one process, in seconds (None once it has gone)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            fields = stat.read().rsplit(b")", 1)[1].split()
    except OSError:
        return None
    # After the command's closing parenthesis, field 3 (state) is index 0: utime and stime
    # are fields 14 and 15, at 11 and 12.
    return (int(fields[11]) + int(fields[12])) / TICK


class CpuMeter:
    """CPU time of the server's processes, read before and after each measured round.

    Workers: the gunicorn master's children. Database backends (PostgreSQL only): the
    backends connected to the bench database, as pg_stat_activity lists them; a backend
    that appears during a round counts from zero, one that ends during it is lost (the
    workers keep their connections open, CONN_MAX_AGE, so neither happens in a round).
    """

    def __init__(self, master: int, database_url: str | None):
        self.master = master
        self.database_url = database_url
        self.watch = None
        if database_url:
            import psycopg

            self.watch = psycopg.connect(database_url, autocommit=True)

    def workers(self) -> list[int]:
        children = Path(f"/proc/{self.master}/task/{self.master}/children")
        return [int(pid) for pid in children.read_text().split()]

    def backends(self) -> list[int]:
        if self.watch is None:
            return []
        rows = self.watch.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
        ).fetchall()
        return [pid for (pid,) in rows]

    def read(self) -> tuple[dict, dict]:
        def of(pids):
            return {pid: t for pid in pids if (t := cpu_seconds(pid)) is not None}

        return of(self.workers()), of(self.backends())

    @staticmethod
    def spent(before: dict, after: dict) -> float:
        return sum(t - before.get(pid, 0.0) for pid, t in after.items())

    def close(self) -> None:
        if self.watch is not None:
            self.watch.close()


def run_phase(
    graders: list[Grader], kind: str, seconds: float, side: Side, meter: CpuMeter | None = None
) -> None:
    """Every grader sends requests of `kind` back to back for `seconds`."""
    before = meter.read() if meter else None
    lock = threading.Lock()
    start = time.perf_counter()
    deadline = start + seconds

    def loop(grader: Grader) -> None:
        act = grader.vote if kind == "product" else grader.insert
        while time.perf_counter() < deadline:
            t0 = time.perf_counter()
            ok, stored_id = act()
            took = time.perf_counter() - t0
            with lock:
                if ok:
                    side.latencies.append(took)
                    if stored_id is not None:
                        side.stored.append(stored_id)
                else:
                    side.failed += 1

    threads = [threading.Thread(target=loop, args=(g,)) for g in graders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    side.seconds += time.perf_counter() - start
    if meter:
        after = meter.read()
        side.worker_cpu += CpuMeter.spent(before[0], after[0])
        side.db_cpu += CpuMeter.spent(before[1], after[1])


# --- one database, one history ---------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def wait_until_up(port: int, log: Path) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection(HOST, port, timeout=10)
            conn.request("GET", "/healthz", headers={"Host": f"{HOST}:{port}"})
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.3)
    raise SystemExit("gunicorn did not come up:\n" + log.read_text(errors="replace")[-3000:])


def run_one(args) -> dict:
    """Build, serve, measure and check one database at one history; the figures as a dict."""
    workdir = Path(tempfile.mkdtemp(prefix="bench-throughput-"))
    base_url = os.environ.get("DATABASE_URL", "")
    if args.child == "postgresql":
        database_url = create_postgres(postgres_url(base_url))
    else:
        database_url = f"sqlite:///{workdir / 'bench.sqlite3'}"
    os.environ.update(
        DATABASE_URL=database_url, DEBUG="1", DJANGO_SETTINGS_MODULE="humaneval_site.settings"
    )
    sys.path.insert(0, str(BENCH))
    import django

    django.setup()
    from django.db import connection

    from annotation.models import Judgment

    started = time.perf_counter()
    usernames = build(workdir, args.prompts, args.graders, args.history)
    preloaded = Judgment.objects.count()
    built = time.perf_counter() - started
    connection.close()

    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "DJANGO_SETTINGS_MODULE": "throughput_settings",
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(BENCH)]),
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": HOST,
        "VAR_DIR": str(workdir),
        "LOG_LEVEL": "ERROR",
    }
    env.pop("DEBUG")
    command = [
        sys.executable, "-m", "gunicorn", "humaneval_site.wsgi:application",
        "-k", "sync", "-w", str(args.workers), "-b", f"{HOST}:{port}", "--timeout", "120",
        "--log-level", "warning",
    ]  # fmt: skip
    log = workdir / "gunicorn.log"
    with log.open("wb") as out:
        server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=out)
    product, floor, warm_product, warm_floor = Side(), Side(), Side(), Side()
    meter = None
    try:
        wait_until_up(port, log)
        meter = CpuMeter(server.pid, database_url if args.child == "postgresql" else None)
        graders = [Grader(u, Browser(port), random.Random(i)) for i, u in enumerate(usernames)]
        for grader in graders:
            grader.log_in()
        # Warm-up, not measured: imports, caches, connections.
        run_phase(graders, "product", 2, warm_product)
        run_phase(graders, "floor", 1, warm_floor)
        for _round in range(args.rounds):
            run_phase(graders, "product", args.seconds / args.rounds, product, meter)
            run_phase(graders, "floor", args.seconds / args.rounds, floor, meter)
    finally:
        if meter:
            meter.close()
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
    result = check(
        warm_product.stored + product.stored,
        len(warm_floor.latencies) + len(floor.latencies),
        preloaded,
    )
    connection.close()
    if args.child == "postgresql":
        drop_postgres(postgres_url(base_url), database_url)
    return {
        "database": "PostgreSQL" if args.child == "postgresql" else "SQLite",
        "history": args.history,
        "built_seconds": built,
        "product": summary(product),
        "floor": summary(floor),
        "check": result,
        "load": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


def summary(side: Side) -> dict:
    ms = sorted(s * 1000 for s in side.latencies)

    def pct(q: float) -> float:
        return ms[min(len(ms) - 1, round(q * (len(ms) - 1)))] if ms else float("nan")

    answered = len(ms) + side.failed
    return {
        "requests": len(ms),
        "failed": side.failed,
        "worker_cpu_ms": 1000 * side.worker_cpu / answered if answered else float("nan"),
        "db_cpu_ms": 1000 * side.db_cpu / answered if answered else float("nan"),
        "per_second": len(ms) / side.seconds if side.seconds else 0.0,
        "p50": statistics.median(ms) if ms else float("nan"),
        "p95": pct(0.95),
        "p99": pct(0.99),
    }


# --- the whole bench -------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=30, help="seconds per side, in all")
    parser.add_argument("--rounds", type=int, default=3, help="alternations of the two sides")
    parser.add_argument("--graders", type=int, default=10)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn sync workers")
    parser.add_argument(
        "--histories", default="0", help="judgments per grader stored first, comma-separated"
    )
    parser.add_argument(
        "--prompts", type=int, default=10_000, help="prompts of the study (4 tasks each)"
    )
    parser.add_argument("--sqlite-only", action="store_true")
    parser.add_argument("--child", choices=["sqlite", "postgresql"], help=argparse.SUPPRESS)
    parser.add_argument("--history", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print("RESULT " + json.dumps(run_one(args)), flush=True)
        return 0

    databases = ["sqlite"]
    if postgres_url(os.environ.get("DATABASE_URL", "")) and not args.sqlite_only:
        databases.append("postgresql")
    histories = [int(h) for h in args.histories.split(",")]
    print(
        f"{args.graders} graders, gunicorn {args.workers} sync workers on {HOST}, "
        f"{args.seconds:g} s per side in {args.rounds} alternating rounds; study of "
        f"{args.prompts * PAIRS_PER_PROMPT:,} pair tasks, overlap {OVERLAP}",
        flush=True,
    )
    header = (
        f"{'database':<11}{'history':>8}  {'side':<8}{'requests':>9}{'per s':>9}"
        f"{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'cpu ms/req':>12}{'db cpu ms':>11}"
    )
    results, bad = [], False
    for database in databases:
        for history in histories:
            child = [
                sys.executable, __file__, "--child", database, "--history", str(history),
                "--seconds", str(args.seconds), "--rounds", str(args.rounds),
                "--graders", str(args.graders), "--workers", str(args.workers),
                "--prompts", str(args.prompts),
            ]  # fmt: skip
            out = subprocess.run(child, capture_output=True, text=True)
            line = next((x for x in out.stdout.splitlines() if x.startswith("RESULT ")), None)
            if line is None:
                print(out.stdout[-2000:], out.stderr[-4000:], sep="\n")
                return 1
            result = json.loads(line[len("RESULT ") :])
            results.append(result)
            print(header if len(results) == 1 else "", end="\n" if len(results) == 1 else "")
            for side in ("product", "floor"):
                s = result[side]
                print(
                    f"{result['database']:<11}{history:>8}  {side:<8}{s['requests']:>9,}"
                    f"{s['per_second']:>9.1f}{s['p50']:>9.1f}{s['p95']:>9.1f}{s['p99']:>9.1f}"
                    f"{s['worker_cpu_ms']:>12.2f}"
                    + (f"{s['db_cpu_ms']:>11.2f}" if result["database"] == "PostgreSQL" else "")
                    + (f"   ({s['failed']} failed)" if s["failed"] else "")
                )
            ratio = result["product"]["per_second"] / result["floor"]["per_second"]
            cpu_ratio = result["floor"]["worker_cpu_ms"] / result["product"]["worker_cpu_ms"]
            c = result["check"]
            print(
                f"{'':<21}ratio product/floor {ratio:.1%} (req/s), {cpu_ratio:.1%} (worker CPU "
                f"per request); load average {result['load']}; built in {result['built_seconds']:.0f} s; "
                f"check: {c['acknowledged']:,} votes acknowledged, lost {c['lost']}, acknowledged "
                f"twice {c['acknowledged_twice']}, stored unacknowledged "
                f"{c['stored_unacknowledged']}, tasks over overlap {c['tasks_over_overlap']}, "
                f"tasks with wrong slots {c['tasks_with_wrong_slots']}, floor rows "
                f"{c['floor_stored']:,}/{c['floor_acknowledged']:,}",
                flush=True,
            )
            bad = bad or any(
                c[k]
                for k in (
                    "lost",
                    "acknowledged_twice",
                    "stored_unacknowledged",
                    "tasks_over_overlap",
                    "tasks_with_wrong_slots",
                )
            )
            bad = bad or c["floor_stored"] != c["floor_acknowledged"]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
