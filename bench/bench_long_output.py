"""The grading page with the longest output an import accepts (MAX_OUTPUT_CHARS of dense
Markdown), served from SQLite in process (target: under 50 ms median).

Prints the page's median and worst time over repeated loads, beside the same page with a
short output (in the same run, so a loaded machine slows both alike) and what rendering the
long output on every load cost before the HTML was stored at import; and shows that a
15 MB output is refused at import with a clear error.
Run: .venv/bin/python bench/bench_long_output.py [--loads N]
"""

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _django import use_sqlite  # noqa: E402

# Dense Markdown: emphasis, code, links, lists and a table in every few lines.
CHUNK = (
    "## Step {i}\n\nUse **bold** and *emphasis*, `code()`, [a link](https://example.org/{i}) "
    "and <b>raw html</b>.\n\n- item one\n- item two with `x = {i}`\n\n| a | b |\n|---|---|\n"
    "| {i} | **{i}** |\n\n"
)


def dense_markdown(chars: int) -> str:
    parts, size, i = [], 0, 0
    while size < chars:
        part = CHUNK.format(i=i)
        parts.append(part)
        size += len(part)
        i += 1
    return "".join(parts)[:chars].rstrip() + "\n\nThe end."[: max(0, chars - size)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--loads", type=int, default=30)
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="bench-long-output-"))
    use_sqlite(workdir / "bench.sqlite3")
    from django.conf import settings
    from django.core.management import call_command
    from django.test import Client
    from django.test.utils import setup_test_environment

    from annotation.ingest import ImportFileError
    from annotation.ingest.study_files import import_study
    from annotation.models import Membership, User
    from annotation.rendering import render_markdown

    setup_test_environment()
    settings.ALLOWED_HOSTS = ["testserver"]
    call_command("migrate", verbosity=0)
    longest = dense_markdown(settings.MAX_OUTPUT_CHARS)
    study_file = workdir / "study.jsonl"
    record = {"id": "p1", "prompt": "Explain.", "outputs": {"long": longest, "short": "Fine."}}
    study_file.write_text(json.dumps(record) + "\n", encoding="utf-8")
    start = time.perf_counter()
    study = import_study(study_file, "long").study
    imported = time.perf_counter() - start

    start = time.perf_counter()
    render_markdown(longest)
    render = time.perf_counter() - start

    short_file = workdir / "short.jsonl"
    record = {"id": "p1", "prompt": "Explain.", "outputs": {"a": "Fine.", "b": "Good."}}
    short_file.write_text(json.dumps(record) + "\n", encoding="utf-8")
    short_study = import_study(short_file, "short").study

    grader = User.objects.create_user("grader", password="x", role="grader")
    client = Client()
    client.force_login(grader)

    def page_times(study, marker: bytes) -> list[float]:
        Membership.objects.create(study=study, user=grader)
        url = f"/studies/{study.slug}/grade/"
        assert client.get(url).status_code == 200  # takes the task
        times = []
        for _ in range(args.loads):
            start = time.perf_counter()
            page = client.get(url)
            times.append(time.perf_counter() - start)
            assert page.status_code == 200 and marker in page.content
        return times

    times = page_times(study, b"<table>")
    short_times = page_times(short_study, b"Fine.")

    huge = workdir / "huge.jsonl"
    huge.write_text(
        json.dumps({"id": "p2", "prompt": "x", "outputs": {"long": "y" * 15_000_000}}) + "\n",
        encoding="utf-8",
    )
    try:
        import_study(huge, "long")
        refused = "NOT refused"
    except ImportFileError as exc:
        refused = str(exc)

    median, short = statistics.median(times), statistics.median(short_times)
    print(f"output: {len(longest):,} characters of dense Markdown (MAX_OUTPUT_CHARS)")
    print(
        f"import (rendered once): {imported * 1000:.0f} ms; rendering it alone: {render * 1000:.0f} ms"
    )
    print(
        f"grading page, {args.loads} loads: median {median * 1000:.1f} ms, "
        f"worst {max(times) * 1000:.1f} ms (target < 50 ms) -> {'met' if median < 0.05 else 'NOT met'}"
    )
    print(f"the same page with a short output: median {short * 1000:.1f} ms")
    print(f"a 15 MB output: {refused}")


if __name__ == "__main__":
    main()
