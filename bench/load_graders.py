"""Load test: N graders log in through the real login form and vote through the htmx grading
screen, against gunicorn on loopback, on PostgreSQL or SQLite; optionally a gunicorn worker
is SIGKILLed every few seconds. Then an audit reads the database:

- every acknowledged vote is stored exactly once (none lost, none duplicated),
- no task has more judgments than its overlap,
- no grader judged a task twice,

and the script prints votes/s, vote latency p50/p95/p99, lost, duplicated and 5xx. It exits 1
when the audit finds anything or a 5xx was answered.

    .venv/bin/python bench/load_graders.py --graders 20                       # SQLite
    .venv/bin/python bench/load_graders.py --graders 50 --kill-every 20 \\
        --database-url postgres://humaneval:humaneval@127.0.0.1:5432/humaneval

Graders arrive over --ramp seconds (each login runs Django's deliberately slow password
hash), then vote until --duration has passed after the last one arrived.

A PostgreSQL database is migrated and gets a new study and graders named after the run
(`load-<time>`); nothing else in it is touched. SQLite runs in a temporary file. Every
request goes to 127.0.0.1; every loop is bounded by --duration and --votes.

A vote is acknowledged when the server said it was stored: status 200 and, where the
grading screen states the outcome (`data-outcome` on its notice), the outcome "stored";
a 409 or 422, a 5xx or a dropped connection is not an acknowledgement. After a dropped
connection the grader retries the same POST (as a person clicking again would), so
retries of votes that were in fact stored show up as "already stored", not as duplicates.
"""

from __future__ import annotations

import argparse
import http.client
import json
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
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PASSWORD = "load-test-password"
HOST = "127.0.0.1"

# Everything the script relies on in the app's pages, in one place.
PAGE = {
    "login_path": "/accounts/login/",
    "username_field": "username",
    "password_field": "password",
    "csrf_field": "csrfmiddlewaretoken",
    "csrf_cookie": "csrftoken",
    "csrf_header": "X-CSRFToken",
    "session_cookie": "sessionid",
    "grade_path": "/studies/{slug}/grade/",
    "grade_form_id": "grade-form",
    "verdict_field": "verdict",  # radio groups are all answered: the verdict and each rating
    "comment_field": "comment",
    "outcome_attribute": "data-outcome",  # on the grading screen's notice, when it has one
    "stored_outcomes": ("stored",),
}

FORM_RE = re.compile(r'<form\b[^>]*\bid="' + PAGE["grade_form_id"] + r'"[^>]*>', re.S)
ACTION_RE = re.compile(r'\baction="([^"]+)"')
INPUT_RE = re.compile(r"<input\b[^>]*>", re.S)
ATTR_RE = re.compile(r'\b([a-zA-Z_:-]+)="([^"]*)"')
OUTCOME_RE = re.compile(r"\b" + PAGE["outcome_attribute"] + r'="([^"]*)"')
CSRF_RE = re.compile(r'name="' + PAGE["csrf_field"] + r'" value="([^"]+)"')


# --- one grader's browser ------------------------------------------------------------------


class Browser:
    """Cookies and one keep-alive connection to 127.0.0.1, like one browser tab."""

    def __init__(self, port: int, timeout: float):
        self.port, self.timeout = port, timeout
        self.cookies: dict[str, str] = {}
        self.conn: http.client.HTTPConnection | None = None

    def request(self, method: str, path: str, form: dict | None = None, headers=None):
        body = urllib.parse.urlencode(form, doseq=True) if form is not None else None
        sent = {"Host": f"{HOST}:{self.port}", **(headers or {})}
        if body is not None:
            sent["Content-Type"] = "application/x-www-form-urlencoded"
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if self.conn is None:
            self.conn = http.client.HTTPConnection(HOST, self.port, timeout=self.timeout)
        try:
            self.conn.request(method, path, body=body, headers=sent)
            response = self.conn.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException):
            self.conn.close()
            self.conn = None
            raise
        for name, value in response.getheaders():
            if name.lower() == "set-cookie":
                cookie = value.split(";", 1)[0]
                key, _, val = cookie.partition("=")
                self.cookies[key.strip()] = val.strip()
        if response.getheader("Connection", "").lower() == "close":
            self.conn.close()
            self.conn = None
        return response.status, response.getheader("Location"), data.decode("utf-8", "replace")


def parse_task(html: str) -> dict | None:
    """The grading form in a page or fragment: its action and the fields to send."""
    match = FORM_RE.search(html)
    if not match:
        return None
    action = ACTION_RE.search(match.group(0)).group(1)
    body = html[match.end() : html.find("</form>", match.end())]
    hidden, radios = {}, {}
    for tag in INPUT_RE.findall(body):
        attrs = dict(ATTR_RE.findall(tag))
        kind, name = attrs.get("type", "text"), attrs.get("name")
        if not name:
            continue
        if kind == "hidden":
            hidden[name] = attrs.get("value", "")
        elif kind == "radio":
            radios.setdefault(name, []).append(attrs.get("value", ""))
    return {"action": action, "hidden": hidden, "radios": radios}


def answer(task: dict, rng: random.Random) -> dict:
    form = dict(task["hidden"])
    for name, values in task["radios"].items():
        form[name] = rng.choice(values)
    form[PAGE["comment_field"]] = ""
    return form


def acknowledged(status: int, html: str) -> bool:
    if status != 200:
        return False
    outcome = OUTCOME_RE.search(html)
    return outcome is None or outcome.group(1) in PAGE["stored_outcomes"]


# --- the run -------------------------------------------------------------------------------


@dataclass
class Tally:
    lock: threading.Lock = field(default_factory=threading.Lock)
    acknowledged: list = field(default_factory=list)  # (username, assignment id)
    latencies: list = field(default_factory=list)  # seconds per vote POST answered
    statuses: Counter = field(default_factory=Counter)
    outcomes: Counter = field(default_factory=Counter)
    dropped: int = 0  # connections reset or timed out (e.g. a killed worker)
    retries: int = 0
    first_vote: float = float("inf")  # perf_counter() when the first vote was sent
    last_vote: float = 0.0  # ...and when the last answer arrived
    login_seconds: list = field(default_factory=list)
    login_failures: int = 0
    errors: list = field(default_factory=list)

    def add(self, **kwargs):
        with self.lock:
            for name, value in kwargs.items():
                getattr(self, name).append(value)


def log_in(browser: Browser, username: str, tally: Tally) -> bool:
    start = time.perf_counter()
    for _attempt in range(3):
        try:
            status, _, html = browser.request("GET", PAGE["login_path"])
            token = CSRF_RE.search(html).group(1)
            form = {
                PAGE["csrf_field"]: token,
                PAGE["username_field"]: username,
                PAGE["password_field"]: PASSWORD,
                "next": "",
            }
            status, location, _ = browser.request(
                "POST", PAGE["login_path"], form, {"Referer": f"http://{HOST}:{browser.port}/"}
            )
            if status == 302 and PAGE["session_cookie"] in browser.cookies:
                tally.add(login_seconds=time.perf_counter() - start)
                return True
            tally.add(errors=f"login {username}: status {status}")
        except (OSError, http.client.HTTPException, AttributeError) as exc:
            tally.add(errors=f"login {username}: {exc!r}")
            time.sleep(0.5)
    with tally.lock:
        tally.login_failures += 1
    return False


def grader_loop(index: int, args, slug: str, prefix: str, deadline: float, tally: Tally):
    rng = random.Random(index)
    username = f"{prefix}-g{index:03d}"
    # Graders arrive over --ramp seconds, as people do: a login checks a deliberately slow
    # password hash, and fifty at the same instant would only measure that queue.
    time.sleep(args.ramp * index / max(args.graders, 1))
    browser = Browser(args.port, args.login_timeout)
    if not log_in(browser, username, tally):
        return
    browser.timeout = args.timeout
    if browser.conn is not None:
        browser.conn.timeout = args.timeout
    grade_path = PAGE["grade_path"].format(slug=slug)
    html = None
    votes = 0
    while time.monotonic() < deadline and (args.votes == 0 or votes < args.votes):
        if html is None:
            try:
                status, _, html = browser.request("GET", grade_path)
            except (OSError, http.client.HTTPException):
                with tally.lock:
                    tally.dropped += 1
                time.sleep(0.2)
                continue
            with tally.lock:
                tally.statuses[f"GET {status}"] += 1
            if status != 200:
                html = None
                time.sleep(0.2)
                continue
        task = parse_task(html)
        if task is None:
            return  # all done for this grader
        form = answer(task, rng)
        assignment_id = int(task["action"].rstrip("/").rsplit("/", 1)[1])
        headers = {
            "HX-Request": "true",
            "HX-Target": "task",
            "HX-Current-URL": f"http://{HOST}:{args.port}{grade_path}",
            PAGE["csrf_header"]: browser.cookies.get(PAGE["csrf_cookie"], ""),
        }
        html = None
        for attempt in range(3):  # a dropped connection: the grader clicks again
            start = time.perf_counter()
            try:
                status, _, body = browser.request("POST", task["action"], form, headers)
            except (OSError, http.client.HTTPException):
                with tally.lock:
                    tally.dropped += 1
                    tally.retries += attempt < 2
                time.sleep(0.2)
                continue
            votes += 1
            outcome = OUTCOME_RE.search(body)
            with tally.lock:
                tally.first_vote = min(tally.first_vote, start)
                tally.last_vote = max(tally.last_vote, time.perf_counter())
                tally.latencies.append(time.perf_counter() - start)
                tally.statuses[f"POST {status}"] += 1
                tally.outcomes[outcome.group(1) if outcome else "(none stated)"] += 1
                if acknowledged(status, body):
                    tally.acknowledged.append((username, assignment_id))
            if status < 500:
                html = body
            break


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def study_file(path: Path, prompts: int, models: int) -> None:
    with path.open("w", encoding="utf-8") as out:
        for i in range(prompts):
            outputs = {
                f"model-{m}": f"Answer {i} from model {m}. " + "Some words to read. " * 20
                for m in range(models)
            }
            record = {"id": f"p{i}", "prompt": f"Question {i}?", "outputs": outputs}
            out.write(json.dumps(record) + "\n")


def setup_django(database_url: str) -> None:
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DEBUG", "1")
    os.environ["DJANGO_SETTINGS_MODULE"] = "humaneval_site.settings"
    import django

    django.setup()


def prepare(args, workdir: Path, slug: str, prefix: str) -> None:
    from django.contrib.auth.hashers import make_password
    from django.core.management import call_command

    from annotation.ingest.study_files import StudyOptions, import_study
    from annotation.models import Membership, User

    call_command("migrate", verbosity=0)
    path = workdir / "study.jsonl"
    study_file(path, args.prompts, args.models)
    options = StudyOptions(overlap=args.overlap, require_ratings=True)
    study = import_study(path, slug, options).study
    hashed = make_password(PASSWORD)  # hashed once: 50 hashes would take longer than the run
    users = []
    for i in range(args.graders):
        user = User(username=f"{prefix}-g{i:03d}", role="grader", password=hashed)
        user.apply_role()
        users.append(user)
    User.objects.bulk_create(users)
    Membership.objects.bulk_create(
        [
            Membership(study=study, user=user)
            for user in User.objects.filter(username__in=[u.username for u in users])
        ]
    )
    print(
        f"study {slug}: {study.tasks.count():,} tasks, overlap {args.overlap}, "
        f"{args.graders} graders",
        flush=True,
    )


def audit(slug: str, tally: Tally) -> dict:
    from django.db.models import Count

    from annotation.models import Assignment, Judgment, Study

    study = Study.objects.get(slug=slug)
    judgments = Judgment.objects.filter(task__study=study)
    per_grader_task = Counter(judgments.values_list("grader__username", "task_id"))
    tasks_of = dict(Assignment.objects.filter(task__study=study).values_list("pk", "task_id"))
    acknowledged = Counter(
        (username, tasks_of.get(assignment_id)) for username, assignment_id in tally.acknowledged
    )
    lost = sum(1 for key in acknowledged if per_grader_task.get(key, 0) == 0)
    duplicated = sum(n - 1 for n in per_grader_task.values() if n > 1)
    over = (
        judgments.filter(task__is_gold=False)
        .values("task_id")
        .annotate(n=Count("pk"))
        .filter(n__gt=study.overlap)
        .count()
    )
    return {
        "judgments_stored": sum(per_grader_task.values()),
        "acknowledged": len(tally.acknowledged),
        "acknowledged_distinct": len(acknowledged),
        "lost": lost,
        "duplicated": duplicated,
        "tasks_over_overlap": over,
        "graders_judging_a_task_twice": sum(1 for n in per_grader_task.values() if n > 1),
        "stored_but_not_acknowledged": len(set(per_grader_task) - set(acknowledged)),
    }


def worker_pids(master: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == master:
                pids.append(int(entry.name))
    return pids


def killer(master: int, every: float, stop: threading.Event, kills: list) -> None:
    rng = random.Random(1)
    while not stop.wait(every):
        pids = worker_pids(master)
        if pids:
            pid = rng.choice(pids)
            try:
                os.kill(pid, signal.SIGKILL)
                kills.append(pid)
            except ProcessLookupError:
                pass


def wait_until_up(port: int, seconds: float, log: Path) -> None:
    deadline = time.monotonic() + seconds
    status = None
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection(HOST, port, timeout=20)
            conn.request("GET", "/healthz", headers={"Host": f"{HOST}:{port}"})
            status = conn.getresponse().status
            if status == 200:
                return
        except OSError:
            pass
        time.sleep(0.3)
    tail = log.read_text(errors="replace")[-3000:]
    raise SystemExit(f"gunicorn did not answer 200 on {HOST}:{port} (last: {status}):\n{tail}")


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--graders", type=int, default=20)
    parser.add_argument("--database-url", default="", help="default: a temporary SQLite file")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers")
    parser.add_argument("--duration", type=float, default=60, help="seconds of voting, at most")
    parser.add_argument(
        "--votes", type=int, default=0, help="votes per grader, at most (0: no cap)"
    )
    parser.add_argument("--kill-every", type=float, default=0, help="SIGKILL a worker every S s")
    parser.add_argument("--prompts", type=int, default=300)
    parser.add_argument("--models", type=int, default=4)
    parser.add_argument("--overlap", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=30, help="seconds per vote request")
    parser.add_argument("--login-timeout", type=float, default=120, help="seconds per login")
    parser.add_argument("--ramp", type=float, default=20, help="graders arrive over S seconds")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="load-graders-"))
    database_url = args.database_url or f"sqlite:///{workdir / 'load.sqlite3'}"
    engine = "PostgreSQL" if database_url.startswith("postgres") else "SQLite"
    prefix = f"load-{int(time.time())}"
    slug = prefix
    setup_django(database_url)
    prepare(args, workdir, slug, prefix)

    args.port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": HOST,
        "VAR_DIR": str(workdir),
        "LOG_LEVEL": "ERROR",
    }
    env.pop("DEBUG", None)
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"],
        cwd=ROOT,
        env=env,
        check=True,
    )
    gunicorn = [
        sys.executable, "-m", "gunicorn", "bench._warm_wsgi:application", "--preload",
        "-w", str(args.workers), "-b", f"{HOST}:{args.port}", "--timeout", "120",
    ]  # fmt: skip
    server_log = (workdir / "gunicorn.log").open("wb")
    server = subprocess.Popen(gunicorn, cwd=ROOT, env=env, stdout=server_log, stderr=server_log)
    tally, kills, stop = Tally(), [], threading.Event()
    try:
        wait_until_up(args.port, 300, workdir / "gunicorn.log")
        if args.kill_every > 0:
            threading.Thread(
                target=killer, args=(server.pid, args.kill_every, stop, kills), daemon=True
            ).start()
        start = time.monotonic()
        deadline = start + args.ramp + args.duration
        threads = [
            threading.Thread(target=grader_loop, args=(i, args, slug, prefix, deadline, tally))
            for i in range(args.graders)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(args.ramp + args.duration + 3 * args.login_timeout + 60)
        elapsed = time.monotonic() - start
    finally:
        stop.set()
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()

    from django.db import connection

    connection.close()
    result = audit(slug, tally)
    five_xx = sum(n for key, n in tally.statuses.items() if key.split()[1].startswith("5"))
    voting = tally.last_vote - tally.first_vote
    votes_per_second = len(tally.acknowledged) / voting if voting > 0 else 0.0
    ms = [s * 1000 for s in tally.latencies]
    print(
        f"{args.graders} graders on {engine} behind gunicorn ({args.workers} workers), "
        f"{elapsed:.0f} s in all, {max(voting, 0):.0f} s from the first vote to the last"
        + (
            f", a worker SIGKILLed every {args.kill_every:g} s ({len(kills)} kills)"
            if kills
            else ""
        )
    )
    if tally.login_seconds:
        print(
            f"logins: {len(tally.login_seconds)} ok, {tally.login_failures} failed, "
            f"median {statistics.median(tally.login_seconds):.2f} s"
        )
    print(
        f"votes acknowledged: {result['acknowledged']:,} = {votes_per_second:.1f} votes/s; "
        f"latency p50 {percentile(ms, 50):.0f} ms, p95 {percentile(ms, 95):.0f} ms, "
        f"p99 {percentile(ms, 99):.0f} ms"
    )
    print(f"responses: {dict(sorted(tally.statuses.items()))}; outcomes: {dict(tally.outcomes)}")
    print(f"dropped connections: {tally.dropped} (retried: {tally.retries}); 5xx: {five_xx}")
    print(
        f"audit: lost {result['lost']}, duplicated {result['duplicated']}, "
        f"tasks over overlap {result['tasks_over_overlap']}, "
        f"graders who judged a task twice {result['graders_judging_a_task_twice']}; "
        f"judgments stored {result['judgments_stored']:,} "
        f"({result['stored_but_not_acknowledged']} stored without an acknowledgement)"
    )
    for error in tally.errors[:5]:
        print("  error:", error)
    bad = result["lost"] or result["duplicated"] or result["tasks_over_overlap"] or five_xx
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
