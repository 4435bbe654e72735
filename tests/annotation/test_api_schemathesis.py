"""schemathesis, all checks, against the live app: as a researcher and as a grader it finds
no failure and no 5xx. Bounded: a few examples per operation (about 1-3 min per role on a
loaded 2-core machine) and a hard cap of 10 min
(SCHEMATHESIS_MAX_EXAMPLES, SCHEMATHESIS_MAX_SECONDS to run it longer by hand).

The run's settings (no NUL in generated strings, the study to act on, and where a
schema-valid request may still get 400 for a rule JSON Schema cannot state) live in
schemathesis.toml at the repository root, with the reason for each."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from rest_framework.authtoken.models import Token

from annotation import handout
from annotation.handout import Vote
from annotation.ingest.study_files import StudyOptions, import_study
from annotation.models import MetricScore, Response
from tests.conftest import REPO_ROOT, join, make_user

MAX_EXAMPLES = os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "3")
MAX_SECONDS = int(os.environ.get("SCHEMATHESIS_MAX_SECONDS", "600"))
SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")


@pytest.fixture
def fuzz_study(transactional_db, write_jsonl):
    """Study `fuzz` (schemathesis.toml points every {slug} at it): 4 prompts x 3 models,
    voted on by its grader, with one metric; its grader and researcher hold tokens."""
    records = [
        {
            "id": f"q{i}",
            "prompt": f"Question {i}?",
            "metadata": {"language": ("en", "de")[i % 2]},
            "outputs": {m: f"{m} answers {i}." for m in ("alpha", "beta", "gamma")},
        }
        for i in range(4)
    ]
    study = import_study(write_jsonl(records), "fuzz", StudyOptions(overlap=2)).study
    grader, researcher = make_user("gina", "grader"), make_user("rita", "researcher")
    join(study, grader, researcher)
    while (assignment := handout.next_assignment(grader, study)) is not None:
        vote = Vote(verdict="left", ratings={"left": "good", "right": "poor"}, seconds=2.0)
        handout.record_vote(assignment.pk, grader, vote)
    for response in Response.objects.filter(prompt__study=study):
        MetricScore.objects.create(response=response, metric="length", value=len(response.text))
    return {
        role: Token.objects.create(user=user).key
        for role, user in (("grader", grader), ("researcher", researcher))
    }


@pytest.mark.skipif(not SCHEMATHESIS.exists(), reason="schemathesis is not installed")
@pytest.mark.parametrize("role", ["researcher", "grader"])
def test_schemathesis_finds_no_failure(live_server, fuzz_study, role, tmp_path):
    # The schema as the live app serves it, fetched once (the first request also warms
    # the server up, which may take longer than schemathesis waits for a schema).
    schema = tmp_path / "schema.json"
    request = urllib.request.Request(
        f"{live_server.url}/api/schema/", headers={"Accept": "application/vnd.oai.openapi+json"}
    )
    with urllib.request.urlopen(request, timeout=120) as response:
        schema.write_bytes(response.read())
    command = [
        str(SCHEMATHESIS),
        "--config-file",
        str(REPO_ROOT / "schemathesis.toml"),
        "run",
        str(schema),
        "--url",
        live_server.url,
        "--checks",
        "all",
        "--header",
        f"Authorization: Token {fuzz_study[role]}",
        "--max-examples",
        MAX_EXAMPLES,
        "--seed",
        "1",
        "--workers",
        "2",
        "--request-timeout",
        "30",
        "--no-color",
    ]
    result = subprocess.run(
        command,
        cwd=REPO_ROOT,
        # A guard around a CPython 3.11 crash inside hypothesis (see the hooks module).
        env={
            **os.environ,
            "SCHEMATHESIS_HOOKS": str(Path(__file__).with_name("schemathesis_hooks.py")),
        },
        capture_output=True,
        text=True,
        timeout=MAX_SECONDS,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-20000:]
    selected = re.search(r"Selected: (\d+)/(\d+)\s+Tested: (\d+)", output)
    assert selected and len(set(selected.groups())) == 1, output[-5000:]  # every operation
    assert "Failures:" not in output and "Errors:" not in output, output[-20000:]
