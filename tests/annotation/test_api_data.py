"""The REST API's data endpoints: bulk prompts, responses, judgments and their filters,
metric scores, results and exports."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from unittest.mock import ANY

import pyarrow.parquet as pq
import pytest
from openpyxl import load_workbook
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from annotation import handout
from annotation.exports import CONTENT_TYPES, FORMATS
from annotation.handout import Vote
from annotation.ingest.study_files import StudyOptions, import_study
from annotation.models import (
    IdempotencyRecord,
    Judgment,
    LanguageModel,
    MetricScore,
    Prompt,
    Response,
    Study,
    Task,
)
from tests.conftest import join, make_user

pytestmark = pytest.mark.django_db


def api(user) -> APIClient:
    client = APIClient()
    token, _ = Token.objects.get_or_create(user=user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


def body(response) -> bytes:
    return b"".join(response.streaming_content)  # the test client closes it at the end


def version(study) -> int:
    return Study.objects.values_list("results_version", flat=True).get(pk=study.pk)


RECORDS = [
    {
        "id": "p1",
        "prompt": "Name a prime.",
        "reference": "2",
        "metadata": {"language": "en"},
        "outputs": {"m1": "3", "m2": {"text": "4", "metadata": {"tokens": 1}}},
    },
    {
        "id": "p2",
        "prompt": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Say bye"},
        ],
        "outputs": {"m1": "Bye", "m2": "Ciao"},
    },
]


# --- bulk prompts ----------------------------------------------------------------------------


def nested(depth: int) -> dict:
    value: dict = {"leaf": 1}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


def test_it_creates_prompts_and_responses_from_records(study, researcher):
    client = api(researcher)
    response = client.post("/api/studies/s1/prompts/", RECORDS, format="json")
    assert response.status_code == 201
    assert response.json() == {
        "prompts_in_request": 2,
        "prompts_created": 2,
        "models_created": 2,
        "responses_created": 4,
        "tasks_created": 2,
    }
    r = {(x.prompt.external_id, x.model.name): x.pk for x in Response.objects.all()}
    assert len(r) == 4
    assert client.get("/api/studies/s1/prompts/").json() == {
        "count": 2,
        "next": None,
        "previous": None,
        "results": [
            {
                "id": "p1",
                "text": "Name a prime.",
                "messages": None,
                "reference": "2",
                "metadata": {"language": "en"},
                "responses": [
                    {"id": r[("p1", "m1")], "model": "m1"},
                    {"id": r[("p1", "m2")], "model": "m2"},
                ],
            },
            {
                "id": "p2",
                "text": "Say bye",
                "messages": [
                    {"role": "system", "content": "Be brief."},
                    {"role": "user", "content": "Say bye"},
                ],
                "reference": None,
                "metadata": {},
                "responses": [
                    {"id": r[("p2", "m1")], "model": "m1"},
                    {"id": r[("p2", "m2")], "model": "m2"},
                ],
            },
        ],
    }
    assert client.get("/api/studies/s1/responses/?model=m2").json()["results"] == [
        {
            "id": r[("p1", "m2")],
            "prompt_id": "p1",
            "model": "m2",
            "text": "4",
            "metadata": {"tokens": 1},
        },
        {"id": r[("p2", "m2")], "prompt_id": "p2", "model": "m2", "text": "Ciao", "metadata": {}},
    ]


def test_it_adds_nothing_when_the_same_records_come_again(study, researcher):
    client = api(researcher)
    client.post("/api/studies/s1/prompts/", RECORDS, format="json")
    before = version(study)
    response = client.post("/api/studies/s1/prompts/", RECORDS, format="json")
    assert response.status_code == 200
    assert response.json() == {
        "prompts_in_request": 2,
        "prompts_created": 0,
        "models_created": 0,
        "responses_created": 0,
        "tasks_created": 0,
    }
    assert (Prompt.objects.count(), Response.objects.count(), Task.objects.count()) == (2, 4, 2)
    assert version(study) == before


def test_it_adds_only_the_new_output_of_a_known_prompt(study, researcher):
    client = api(researcher)
    client.post("/api/studies/s1/prompts/", RECORDS, format="json")
    more = [{**RECORDS[0], "outputs": {"m3": "5"}}]
    response = client.post("/api/studies/s1/prompts/", more, format="json")
    assert response.status_code == 201
    assert response.json() == {
        "prompts_in_request": 1,
        "prompts_created": 0,
        "models_created": 1,
        "responses_created": 1,
        "tasks_created": 2,
    }


def counts():
    return (LanguageModel.objects.count(), Prompt.objects.count(), Response.objects.count())


@pytest.mark.parametrize(
    ("records", "errors"),
    [
        (
            [RECORDS[0], {**RECORDS[1], "prompt": "  "}, {"id": "p3", "prompt": "Hi"}],
            [
                {"index": 1, "field": "prompt", "message": "is empty"},
                {"index": 2, "field": "outputs", "message": "is missing"},
            ],
        ),
        (
            [RECORDS[0], {**RECORDS[0], "prompt": "Other."}],
            [
                {
                    "index": 1,
                    "field": "id",
                    "message": "duplicate id 'p1' with different content (first on line 0)",
                }
            ],
        ),
        (
            [{**RECORDS[0], "outputs": {"m1": {"metadata": {}}}}],
            [{"index": 0, "field": "outputs.m1.text", "message": "is missing"}],
        ),
        (
            [{**RECORDS[0], "metadata": ["en"]}],
            [{"index": 0, "field": "metadata", "message": "must be an object, got a list"}],
        ),
        (
            [RECORDS[0], "p2"],
            [{"index": 1, "field": None, "message": "each record must be an object, got a string"}],
        ),
        ([], [{"index": None, "field": None, "message": "holds no prompts"}]),
        (
            {"id": "p1"},
            [{"index": None, "field": None, "message": "must be a list of records, got an object"}],
        ),
    ],
)
def test_it_refuses_bad_records_and_writes_nothing(study, researcher, records, errors):
    before = version(study)
    # Serialised here: json.dumps escapes a lone surrogate, as a hostile client would send it.
    response = api(researcher).post(
        "/api/studies/s1/prompts/", json.dumps(records), content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json() == {"errors": errors}
    assert counts() == (0, 0, 0)
    assert version(study) == before


def test_it_refuses_a_nul_character_naming_the_field(study, researcher):
    records = [RECORDS[0], {**RECORDS[1], "prompt": "nul \x00 byte"}]
    response = api(researcher).post("/api/studies/s1/prompts/", records, format="json")
    assert response.status_code == 400
    assert response.json() == {
        "detail": "$[1].prompt: this value holds a NUL character (\\u0000), which cannot be stored."
    }
    assert counts() == (0, 0, 0)


def test_it_refuses_records_that_disagree_with_what_is_stored(study, researcher):
    client = api(researcher)
    client.post("/api/studies/s1/prompts/", RECORDS, format="json")
    changed = [RECORDS[1], {**RECORDS[0], "outputs": {"m1": "7", "m3": "11"}}]
    response = client.post("/api/studies/s1/prompts/", changed, format="json")
    assert response.status_code == 400
    assert response.json() == {
        "errors": [
            {
                "index": 1,
                "field": "outputs.m1",
                "message": "the output of 'm1' for id 'p1' is already stored with a different text",
            }
        ]
    }
    assert counts() == (2, 2, 4)  # not even the new model m3


def test_it_replays_a_bulk_create_sent_with_the_same_key(study, researcher):
    client = api(researcher)
    first = client.post(
        "/api/studies/s1/prompts/", RECORDS, format="json", HTTP_IDEMPOTENCY_KEY="import-1"
    )
    again = client.post(
        "/api/studies/s1/prompts/", RECORDS, format="json", HTTP_IDEMPOTENCY_KEY="import-1"
    )
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert counts() == (2, 2, 4)
    record = IdempotencyRecord.objects.get(key="import-1")
    assert (record.method, record.path, record.status_code, record.body) == (
        "POST",
        "/api/studies/s1/prompts/",
        201,
        first.json(),
    )


# --- metric scores ---------------------------------------------------------------------------


@pytest.fixture
def imported(study, researcher, write_jsonl):
    import_study(write_jsonl(RECORDS), "s1", StudyOptions())
    return study


SCORES = [
    {"prompt_id": "p1", "model": "m1", "metric": "bleu", "value": 0.5},
    {"prompt_id": "p1", "model": "m2", "metric": "bleu", "value": 0.25, "source": "sacrebleu"},
    {"prompt_id": "p2", "model": "m1", "metric": "length", "value": 3},
]


def test_it_stores_metric_scores_and_marks_results_stale(imported, researcher):
    client = api(researcher)
    before = version(imported)
    response = client.post("/api/studies/s1/metric-scores/", SCORES, format="json")
    assert response.status_code == 201
    assert response.json() == {"created": 3, "updated": 0}
    assert version(imported) == before + 1
    r = {(x.prompt.external_id, x.model.name): x.pk for x in Response.objects.all()}
    assert client.get("/api/studies/s1/metric-scores/").json() == {
        "count": 3,
        "next": None,
        "previous": None,
        "results": [
            {
                "prompt_id": "p1",
                "model": "m1",
                "response_id": r[("p1", "m1")],
                "metric": "bleu",
                "value": 0.5,
                "source": "api",
                "computed_at": ANY,
            },
            {
                "prompt_id": "p1",
                "model": "m2",
                "response_id": r[("p1", "m2")],
                "metric": "bleu",
                "value": 0.25,
                "source": "sacrebleu",
                "computed_at": ANY,
            },
            {
                "prompt_id": "p2",
                "model": "m1",
                "response_id": r[("p2", "m1")],
                "metric": "length",
                "value": 3.0,
                "source": "api",
                "computed_at": ANY,
            },
        ],
    }
    only = client.get("/api/studies/s1/metric-scores/?metric=length&model=m1").json()
    assert [(x["prompt_id"], x["metric"]) for x in only["results"]] == [("p2", "length")]


def test_it_replaces_earlier_values_of_the_same_metric(imported, researcher):
    client = api(researcher)
    client.post("/api/studies/s1/metric-scores/", SCORES, format="json")
    before = version(imported)
    new = [{**SCORES[0], "value": 0.75}, {**SCORES[2], "metric": "chrf", "value": 40}]
    response = client.post("/api/studies/s1/metric-scores/", new, format="json")
    assert response.status_code == 201
    assert response.json() == {"created": 1, "updated": 1}
    assert version(imported) == before + 1
    stored = sorted(
        MetricScore.objects.values_list(
            "response__prompt__external_id", "response__model__name", "metric", "value"
        )
    )
    assert stored == [
        ("p1", "m1", "bleu", 0.75),
        ("p1", "m2", "bleu", 0.25),
        ("p2", "m1", "chrf", 40.0),
        ("p2", "m1", "length", 3.0),
    ]
    again = client.post("/api/studies/s1/metric-scores/", [*new, new[0]], format="json")
    assert (again.status_code, again.json()) == (200, {"created": 0, "updated": 2})


@pytest.mark.parametrize(
    ("scores", "errors"),
    [
        (
            [SCORES[0], {**SCORES[1], "prompt_id": "p9"}, {**SCORES[2], "model": "m7"}],
            [
                {"index": 1, "field": "prompt_id", "message": "no prompt 'p9' in this study"},
                {
                    "index": 2,
                    "field": "model",
                    "message": "no response of model 'm7' to prompt 'p2'",
                },
            ],
        ),
        (
            [
                {**SCORES[0], "value": "NaN"},
                {**SCORES[1], "value": True},
                {**SCORES[2], "value": None},
            ],
            [
                {"index": 0, "field": "value", "message": "A valid number is required."},
                {"index": 1, "field": "value", "message": "A valid number is required."},
                {"index": 2, "field": "value", "message": "This field may not be null."},
            ],
        ),
        (
            [{"prompt_id": "p1", "model": "m1", "value": 1.0}],
            [{"index": 0, "field": "metric", "message": "This field is required."}],
        ),
        (
            [{**SCORES[0], "metric": "good_rate"}],
            [
                {
                    "index": 0,
                    "field": "metric",
                    "message": "'good_rate' names a column of the scores table; "
                    "choose another metric name",
                }
            ],
        ),
        (
            [SCORES[0], SCORES[1], {**SCORES[0], "value": 0.1}],
            [
                {
                    "index": 2,
                    "field": "value",
                    "message": "a second, different bleu value for 'm1' on 'p1' (first at index 0)",
                }
            ],
        ),
        (
            [SCORES[0], 42],
            [
                {
                    "index": 1,
                    "field": None,
                    "message": "Invalid data. Expected a dictionary, but got int.",
                }
            ],
        ),
        ([], [{"index": None, "field": None, "message": "must be a non-empty list of scores"}]),
    ],
)
def test_it_refuses_bad_scores_and_writes_nothing(imported, researcher, scores, errors):
    before = version(imported)
    response = api(researcher).post("/api/studies/s1/metric-scores/", scores, format="json")
    assert response.status_code == 400
    assert response.json() == {"errors": errors}
    assert MetricScore.objects.count() == 0
    assert version(imported) == before


def test_it_refuses_a_json_infinity(imported, researcher):
    response = api(researcher).post(
        "/api/studies/s1/metric-scores/",
        '[{"prompt_id": "p1", "model": "m1", "metric": "x", "value": Infinity}]',
        content_type="application/json",
    )
    assert response.status_code == 400
    assert MetricScore.objects.count() == 0


# --- judgments -------------------------------------------------------------------------------


def prefer(study, grader, choose, *, rate=True) -> None:
    """`grader` votes on every task they can get: `choose(prompt_id, model_a, model_b)` names
    the better model (or "tie"); the better one is rated good, the other acceptable and untrue."""
    while (assignment := handout.next_assignment(grader, study)) is not None:
        task = assignment.task
        sides = handout.side_to_response(assignment)
        model_of = {side: Response.objects.get(pk=pk).model.name for side, pk in sides.items()}
        better = choose(task.prompt.external_id, model_of["left"], model_of["right"])
        if better == "tie":
            verdict, good, bad = "tie", "left", "right"
        else:
            good = "left" if model_of["left"] == better else "right"
            bad = "right" if good == "left" else "left"
            verdict = good
        handout.record_vote(
            assignment.pk,
            grader,
            Vote(
                verdict=verdict,
                ratings={good: "good", bad: "acceptable"} if rate else None,
                tags={bad: ["untrue"]} if rate else None,
                seconds=4.0,
            ),
        )


@pytest.fixture
def duel(db, write_jsonl):
    """Two models on four prompts (en, en, de, de), one grader per task, ratings required:
    alpha wins on q0..q2, beta on q3."""
    records = [
        {
            "id": f"q{i}",
            "prompt": f"Question {i}?",
            "metadata": {"language": "en" if i < 2 else "de"},
            "outputs": {"alpha": f"Alpha {i}.", "beta": f"Beta {i}."},
        }
        for i in range(4)
    ]
    study = import_study(
        write_jsonl(records, name="duel.jsonl"),
        "duel",
        StudyOptions(overlap=1, require_ratings=True),
    ).study
    grader = make_user("gina", "grader")
    researcher = make_user("rosa", "researcher")
    join(study, grader, researcher)
    prefer(study, grader, lambda prompt, a, b: "beta" if prompt == "q3" else "alpha")
    return study


def test_it_lists_judgments_in_terms_of_models(duel):
    client = api(make_user("root", "admin"))
    judgment = Judgment.objects.get(task__prompt__external_id="q3")
    task = judgment.task
    # The import stores alpha's response first, so it is the task's response "a".
    assert (task.response_a.model.name, task.response_b.model.name) == ("alpha", "beta")
    response = client.get("/api/studies/duel/judgments/?model=beta")
    assert response.status_code == 200
    page = response.json()
    assert page["count"] == 4
    assert [j for j in page["results"] if j["prompt_id"] == "q3"] == [
        {
            "id": judgment.pk,
            "task_id": task.pk,
            "prompt_id": "q3",
            "kind": "pair",
            "grader": "gina",
            "model_a": "alpha",
            "model_b": "beta",
            "verdict": "b",
            "winner": "model_b",
            "winner_model": "beta",
            "ratings": [
                {
                    "response_id": task.response_a_id,
                    "model": "alpha",
                    "label": "acceptable",
                    "tags": ["untrue"],
                },
                {"response_id": task.response_b_id, "model": "beta", "label": "good", "tags": []},
            ],
            "comment": "",
            "seconds": 4.0,
            "source": "grader",
            "created_at": judgment.created_at.isoformat().replace("+00:00", "Z"),
        }
    ]


def test_it_filters_judgments_by_grader_model_and_time(duel, write_jsonl):
    import_study(
        write_jsonl([{"id": "q9", "prompt": "Nine?", "outputs": {"alpha": "9", "gamma": "nine"}}]),
        "duel",
        StudyOptions(),
    )
    other = make_user("gus", "grader")
    join(duel, other)
    prefer(duel, other, lambda prompt, a, b: "tie")
    times = {
        "q0": datetime(2025, 1, 1, tzinfo=UTC),
        "q1": datetime(2025, 1, 2, tzinfo=UTC),
        "q2": datetime(2025, 1, 3, tzinfo=UTC),
        "q3": datetime(2025, 1, 4, tzinfo=UTC),
    }
    for prompt, when in times.items():
        Judgment.objects.filter(task__prompt__external_id=prompt).update(created_at=when)
    Judgment.objects.filter(task__prompt__external_id="q9").update(
        created_at=datetime(2025, 2, 1, tzinfo=UTC)
    )
    client = api(Study.objects.get(slug="duel").members.get(username="rosa"))

    def prompts(query):
        response = client.get(f"/api/studies/duel/judgments/?{query}")
        assert response.status_code == 200, response.json()
        return [(j["prompt_id"], j["grader"]) for j in response.json()["results"]]

    assert prompts("grader=gus") == [("q9", "gus")]
    assert prompts("model=gamma") == [("q9", "gus")]
    assert len(prompts("model=alpha")) == 5
    assert prompts("model=nobody") == []
    assert prompts("since=2025-01-02T00:00:00Z&until=2025-01-04T00:00:00Z") == [
        ("q1", "gina"),
        ("q2", "gina"),
    ]
    assert prompts("since=2025-01-03T12:00:00%2B00:00&grader=gina") == [("q3", "gina")]


@pytest.mark.parametrize(
    ("query", "errors"),
    [
        (
            "since=yesterday",
            {
                "since": [
                    "Datetime has wrong format. Use one of these formats instead: "
                    "YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z]."
                ]
            },
        ),
        ("until=2025-13-01T00:00", {"until": [ANY]}),
        ("grader=a%00b", {"grader": ["Null characters are not allowed."]}),
    ],
)
def test_it_refuses_bad_judgment_filters(duel, query, errors):
    response = api(make_user("root", "admin")).get(f"/api/studies/duel/judgments/?{query}")
    assert response.status_code == 400
    assert response.json() == errors


# --- results ---------------------------------------------------------------------------------


def rounded(value, digits=4):
    if isinstance(value, float):
        return round(value, digits)
    if isinstance(value, dict):
        return {k: rounded(v, digits) for k, v in value.items()}
    if isinstance(value, list):
        return [rounded(v, digits) for v in value]
    return value


def test_it_serves_the_leaderboard(duel):
    response = api(make_user("root", "admin")).get(
        "/api/studies/duel/results/leaderboard/?bootstrap=0"
    )
    assert response.status_code == 200
    # Bradley-Terry on the Elo scale: 3 wins in 4 give P = 0.75, a gap of
    # 400 * log10(3) = 190.85 around the mean of 1000. Good-Result-Ratio and tag rates are
    # 3/4 and 1/4 with 95% Wilson intervals: 3/4 -> [0.3006, 0.9544], 1/4 -> [0.0456, 0.6994].
    wilson_3_of_4 = {"ci_lower": 0.3006, "ci_upper": 0.9544}
    wilson_1_of_4 = {"ci_lower": 0.0456, "ci_upper": 0.6994}
    assert rounded(response.json(), 2) == rounded(
        {
            "rows": [
                {
                    "model": "alpha",
                    "rating": 1095.42,
                    "ci_lower": None,
                    "ci_upper": None,
                    "rank": 1,
                    "rank_lower": 1,
                    "rank_upper": 1,
                    "battles": 4,
                    "wins": 3,
                    "ties": 0,
                    "losses": 1,
                    "win_rate": 0.75,
                    "component": 1,
                    "low_battles": True,
                    "unbounded": None,
                    "grr": 0.75,
                    "grr_ci_lower": wilson_3_of_4["ci_lower"],
                    "grr_ci_upper": wilson_3_of_4["ci_upper"],
                    "n_ratings": 4,
                    "tags": {
                        "harmful": {"rate": 0.0, "ci_lower": 0.0, "ci_upper": 0.4899, "n": 4},
                        "untrue": {"rate": 0.25, **wilson_1_of_4, "n": 4},
                        "unhelpful": {"rate": 0.0, "ci_lower": 0.0, "ci_upper": 0.4899, "n": 4},
                    },
                },
                {
                    "model": "beta",
                    "rating": 904.58,
                    "ci_lower": None,
                    "ci_upper": None,
                    "rank": 2,
                    "rank_lower": 2,
                    "rank_upper": 2,
                    "battles": 4,
                    "wins": 1,
                    "ties": 0,
                    "losses": 3,
                    "win_rate": 0.25,
                    "component": 1,
                    "low_battles": True,
                    "unbounded": None,
                    "grr": 0.25,
                    "grr_ci_lower": wilson_1_of_4["ci_lower"],
                    "grr_ci_upper": wilson_1_of_4["ci_upper"],
                    "n_ratings": 4,
                    "tags": {
                        "harmful": {"rate": 0.0, "ci_lower": 0.0, "ci_upper": 0.4899, "n": 4},
                        "untrue": {"rate": 0.75, **wilson_3_of_4, "n": 4},
                        "unhelpful": {"rate": 0.0, "ci_lower": 0.0, "ci_upper": 0.4899, "n": 4},
                    },
                },
            ],
            "n_battles": 4,
            "n_ratings": 8,
            "bootstrap": 0,
            "seed": 0,
            "confidence": 0.95,
            "good_labels": ["good"],
            "tags": ["harmful", "untrue", "unhelpful"],
            "matrix": {
                "models": ["alpha", "beta"],
                "observed": [[None, 0.75], [0.25, None]],
                "counts": [[0, 4], [4, 0]],
                "predicted": [[None, 0.75], [0.25, None]],
            },
            "notes": [
                "2 model(s) have fewer than 50 battles: 'alpha', 'beta' (column low_battles); "
                "their ratings are rough and their intervals wide"
            ],
        },
        2,
    )


def test_it_passes_bootstrap_and_seed_to_the_leaderboard(duel):
    client = api(make_user("root", "admin"))
    url = "/api/studies/duel/results/leaderboard/?bootstrap=50&seed=7"
    first, second = client.get(url).json(), client.get(url).json()
    assert (first["bootstrap"], first["seed"]) == (50, 7)
    assert first == second
    assert first["rows"][0]["ci_lower"] is not None


def test_it_serves_the_other_results(duel):
    client = api(make_user("root", "admin"))
    progress = client.get("/api/studies/duel/results/progress/").json()
    assert (progress["tasks"], progress["judgments"], progress["percent"]) == (4, 4, 100.0)
    slices = client.get("/api/studies/duel/results/slices/?threshold=0.1").json()
    assert slices["threshold"] == 0.1
    assert "language" in {entry["column"] for entry in slices["slices"]}
    agreement = client.get("/api/studies/duel/results/agreement/?bootstrap=0").json()
    assert agreement["questions"][0]["question"] == "verdict"
    correlations = client.get("/api/studies/duel/results/correlations/?bootstrap=0").json()
    assert correlations == {"metrics": []}
    compare = client.get(
        "/api/studies/duel/results/compare/?model_a=alpha&model_b=beta&measure=win_rate"
    ).json()
    assert (compare["model_a"], compare["model_b"], compare["measure"]) == (
        "alpha",
        "beta",
        "win_rate",
    )


@pytest.mark.parametrize(
    ("path", "errors"),
    [
        (
            "leaderboard/?bootstrap=-1",
            {"bootstrap": ["Ensure this value is greater than or equal to 0."]},
        ),
        (
            "leaderboard/?bootstrap=100000",
            {"bootstrap": ["Ensure this value is less than or equal to 10000."]},
        ),
        ("agreement/?seed=abc", {"seed": ["A valid integer is required."]}),
        ("slices/?threshold=nan", {"threshold": ["A valid number is required."]}),
        ("compare/?model_a=alpha", {"model_b": ["This field is required."]}),
        (
            "compare/?model_a=alpha&model_b=zeta",
            {"model_b": ["no model 'zeta' in this study"]},
        ),
        (
            "compare/?model_a=alpha&model_b=alpha",
            {"non_field_errors": ["choose two different models"]},
        ),
        (
            "compare/?model_a=alpha&model_b=beta&measure=vibes",
            {"measure": ['"vibes" is not a valid choice.']},
        ),
    ],
)
def test_it_refuses_bad_result_parameters(duel, path, errors):
    response = api(make_user("root", "admin")).get(f"/api/studies/duel/results/{path}")
    assert response.status_code == 400
    assert response.json() == errors


# --- exports ---------------------------------------------------------------------------------

FIRST_LINES = {
    "csv": lambda content: (
        next(csv.reader(io.StringIO(content.decode())))[:4]
        == ["judgment_id", "created_at", "study", "prompt_id"]
    ),
    "jsonl": lambda content: json.loads(content.splitlines()[0])["study"] == "duel",
    "parquet": lambda content: (
        content[:4] == b"PAR1" and pq.read_table(io.BytesIO(content)).num_rows == 4
    ),
    "xlsx": lambda content: (
        content[:2] == b"PK"
        and load_workbook(io.BytesIO(content), read_only=True).sheetnames
        == ["summary", "judgments"]
    ),
    "preferences": lambda content: (
        set(json.loads(content.splitlines()[0])) >= {"prompt", "chosen", "rejected"}
    ),
    "arena": lambda content: (
        json.loads(content.splitlines()[0])["winner"] in ("model_a", "model_b")
    ),
    "scores": lambda content: content.splitlines()[0].startswith(b"prompt_id,model,"),
    "card": lambda content: content.decode().startswith("## Human evaluation: "),
}

EXTENSIONS = {
    "preferences": "preferences.jsonl",
    "arena": "arena.jsonl",
    "scores": "scores.csv",
    "card": "model-card.md",
}


@pytest.mark.parametrize("fmt", FORMATS)
def test_it_downloads_each_export_format(duel, fmt):
    response = api(make_user("root", "admin")).get(
        f"/api/studies/duel/exports/{fmt}/", HTTP_ACCEPT="text/csv"
    )
    assert response.status_code == 200
    assert response["Content-Type"] == CONTENT_TYPES[fmt]
    assert response["Content-Disposition"] == (
        f'attachment; filename="duel.{EXTENSIONS.get(fmt, fmt)}"'
    )
    assert FIRST_LINES[fmt](body(response))


def test_it_covers_every_format():
    assert set(FIRST_LINES) == set(FORMATS)


def test_it_filters_preferences(duel):
    other = make_user("gus", "grader")
    join(duel, other)
    Study.objects.filter(pk=duel.pk).update(overlap=2)
    duel.refresh_from_db()
    # gus agrees on q0 and q1, calls q2 a tie and prefers alpha on q3.
    prefer(duel, other, lambda prompt, a, b: {"q2": "tie", "q3": "alpha"}.get(prompt, "alpha"))
    client = api(make_user("root", "admin"))

    def chosen(query=""):
        response = client.get(f"/api/studies/duel/exports/preferences/?{query}")
        assert response.status_code == 200
        lines = body(response).decode().splitlines()
        return [(r["prompt_id"], r["chosen_model"]) for r in map(json.loads, lines)]

    assert chosen() == [("q0", "alpha"), ("q1", "alpha"), ("q2", "alpha")]
    assert chosen("unanimous=1") == [("q0", "alpha"), ("q1", "alpha")]
    assert chosen("unanimous=1&drop_ties=1") == [("q0", "alpha"), ("q1", "alpha"), ("q2", "alpha")]
    assert chosen("min_agreement=0.8") == [("q0", "alpha"), ("q1", "alpha")]


def test_it_slices_the_workbook(duel):
    response = api(make_user("root", "admin")).get(
        "/api/studies/duel/exports/xlsx/?slice_by=language"
    )
    assert response.status_code == 200
    book = load_workbook(io.BytesIO(body(response)), read_only=True)
    assert book.sheetnames[:2] == ["summary", "judgments"]
    assert sorted(book.sheetnames[2:]) == ["de", "en"]


@pytest.mark.parametrize(
    ("path", "errors"),
    [
        (
            "preferences/?min_agreement=2",
            {"min_agreement": ["Ensure this value is less than or equal to 1."]},
        ),
        ("preferences/?unanimous=maybe", {"unanimous": ["Must be a valid boolean."]}),
        (
            "xlsx/?slice_by=colour",
            {"slice_by": ["no prompt metadata 'colour' to slice by; known: language"]},
        ),
    ],
)
def test_it_refuses_bad_export_parameters(duel, path, errors):
    response = api(make_user("root", "admin")).get(f"/api/studies/duel/exports/{path}")
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert response.json() == errors


def test_it_has_no_export_of_an_unknown_format(duel):
    response = api(make_user("root", "admin")).get("/api/studies/duel/exports/pdf/")
    assert response.status_code == 404
