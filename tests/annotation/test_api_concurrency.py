"""Retried writes arriving at the same moment, each on its own database connection (as the
requests of a multi-process server would): one write, one stored response, the same answer."""

from __future__ import annotations

import threading

import pytest
from django.db import connections
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from annotation.models import IdempotencyRecord, MetricScore, Prompt, Response, Study, Task
from tests.conftest import join, make_user

THREADS = 6
RECORDS = [
    {"id": f"c{i}", "prompt": f"Prompt {i}?", "outputs": {"m1": f"one {i}", "m2": f"two {i}"}}
    for i in range(10)
]


def post_at_once(user, path: str, payload, key: str | None) -> list:
    token = Token.objects.get_or_create(user=user)[0].key
    barrier = threading.Barrier(THREADS)
    answers, errors = [], []
    lock = threading.Lock()

    def work():
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
        headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
        try:
            barrier.wait(timeout=60)
            response = client.post(path, payload, format="json", **headers)
            with lock:
                answers.append((response.status_code, response.json()))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(repr(exc))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=work) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)
    assert errors == []
    return answers


@pytest.fixture
def setting(transactional_db):
    study = Study.objects.create(slug="race", name="Race", rating_scale=["bad", "good"])
    researcher = make_user("rex", "researcher")
    join(study, researcher)
    return study, researcher


def test_it_writes_a_bulk_create_once_when_its_retries_race(setting):
    study, researcher = setting
    answers = post_at_once(researcher, "/api/studies/race/prompts/", RECORDS, key="race-1")
    first = answers[0]
    assert first[0] == 201
    assert answers == [first] * THREADS
    assert (Prompt.objects.count(), Response.objects.count(), Task.objects.count()) == (10, 20, 10)
    assert IdempotencyRecord.objects.count() == 1


def test_it_serialises_the_same_records_sent_without_a_key(setting):
    answers = post_at_once(setting[1], "/api/studies/race/prompts/", RECORDS, key=None)
    assert sorted(status for status, _ in answers) == [200] * (THREADS - 1) + [201]
    assert (Prompt.objects.count(), Response.objects.count(), Task.objects.count()) == (10, 20, 10)


def test_it_bumps_the_results_version_once_for_racing_score_retries(setting):
    study, researcher = setting
    client = APIClient()
    client.force_authenticate(researcher)
    client.post("/api/studies/race/prompts/", RECORDS, format="json")
    before = Study.objects.get(pk=study.pk).results_version
    scores = [
        {"prompt_id": f"c{i}", "model": "m1", "metric": "length", "value": i} for i in range(10)
    ]
    answers = post_at_once(researcher, "/api/studies/race/metric-scores/", scores, key="s-1")
    assert answers == [(201, {"created": 10, "updated": 0})] * THREADS
    assert MetricScore.objects.count() == 10
    assert Study.objects.get(pk=study.pk).results_version == before + 1
