"""Every result is the same as before the results package: the payloads of two seeded
studies (tests/annotation/results_study.py) against those captured from the code before it
(`annotation/results.py` and `annotation/tables.py` at commit 99f5148: the code before, with
issue 11's intended changes to the statistics).

To capture again (only when a result is meant to change, saying why in the commit):
RESULTS_PAYLOADS_CAPTURE=1 pytest tests/annotation/test_results_payloads.py
"""

from __future__ import annotations

import gzip
import json
import os
from itertools import combinations
from pathlib import Path

import pytest

from tests.annotation.results_study import build_demo_study, build_mixed_study

# Fresh ids on every database: bootstrap resamples follow the items' order, and PostgreSQL
# does not roll its sequences back after earlier tests.
pytestmark = pytest.mark.django_db(transaction=True, reset_sequences=True)
FIXTURE = Path(__file__).parent / "fixtures" / "results_before.json.gz"


def _scores(study) -> list[dict]:
    try:
        from annotation.results import response_scores
    except ImportError:  # the code before the results package
        from annotation.tables import response_scores
    return response_scores(study).to_dict(orient="records")


def collect(study) -> dict:
    """Every result payload of the study, with the parameters pages and the API use and
    a few others, plus the exports built from results."""
    from annotation import exports, results

    progress = results.progress(study)
    # Graders with equal counts came in database order; compare them in a fixed order.
    progress["graders"].sort(key=lambda g: (-g["judgments"], g["grader"]))
    # Metadata keys came in the database's order (PostgreSQL's jsonb sorts them).
    progress["slices"].sort(key=lambda s: s["column"])
    out = {
        "leaderboard": results.leaderboard(study),
        "leaderboard:200:3": results.leaderboard(study, bootstrap=200, seed=3),
        "agreement": results.agreement(study),
        "agreement:50:1": results.agreement(study, bootstrap=50, seed=1),
        "judges": results.judges(study),
        "slices": results.slice_results(study),
        "slices:0.05": results.slice_results(study, threshold=0.05),
        "correlations": results.correlations(study),
        "progress": progress,
        "scores": _scores(study),
        "preferences": list(exports.preference_records(study)),
        "preferences:drop_ties": list(
            exports.preference_records(study, exports.PreferenceFilters(drop_ties=True))
        ),
        "preferences:unanimous": list(
            exports.preference_records(
                study, exports.PreferenceFilters(unanimous=True, min_agreement=0.5)
            )
        ),
        "arena": list(exports.arena_records(study)),
    }
    models = sorted(study.models.values_list("name", flat=True))
    for a, b in combinations(models, 2):
        for measure in ("good_rate", "win_rate"):
            out[f"compare:{a}:{b}:{measure}"] = results.compare(study, a, b, measure=measure)
    return json.loads(json.dumps(out, sort_keys=True, allow_nan=True))


@pytest.fixture
def payloads():
    return {"demo": collect(build_demo_study()), "mixed": collect(build_mixed_study())}


def test_every_payload_is_what_the_code_before_computed(payloads):
    if os.environ.get("RESULTS_PAYLOADS_CAPTURE"):
        FIXTURE.parent.mkdir(exist_ok=True)
        FIXTURE.write_bytes(gzip.compress(json.dumps(payloads, sort_keys=True, indent=1).encode()))
        pytest.skip(f"captured {FIXTURE}")
    before = json.loads(gzip.decompress(FIXTURE.read_bytes()))
    for study, results in before.items():
        assert sorted(payloads[study]) == sorted(results)
        for key, expected in results.items():
            assert payloads[study][key] == expected, f"{study} {key}"
