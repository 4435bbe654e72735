"""The shared cast: a study with its grader, researcher, admin and an outsider."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from annotation.models import Membership, Study, User

PASSWORD = "correct-horse-battery"
REPO_ROOT = Path(__file__).resolve().parent.parent


def make_user(username: str, role: str) -> User:
    user = User(username=username, role=role)
    user.apply_role()
    user.set_password(PASSWORD)
    user.save()
    return user


@pytest.fixture
def study(db) -> Study:
    return Study.objects.create(
        slug="s1",
        name="Study one",
        rating_scale=["poor", "acceptable", "good"],
        good_labels=["good"],
        tags=["harmful", "untrue", "unhelpful"],
    )


@pytest.fixture
def grader(study) -> User:
    user = make_user("alice", "grader")
    Membership.objects.create(study=study, user=user)
    return user


@pytest.fixture
def researcher(study) -> User:
    user = make_user("rita", "researcher")
    Membership.objects.create(study=study, user=user)
    return user


@pytest.fixture
def admin_user(db) -> User:
    return make_user("root", "admin")


@pytest.fixture
def outsider(db) -> User:
    return make_user("olga", "grader")


@pytest.fixture
def write_jsonl(tmp_path):
    """Write records (dicts, or raw strings for broken lines) to a .jsonl file."""

    def write(records, name: str = "study.jsonl") -> Path:
        path = tmp_path / name
        lines = [r if isinstance(r, str) else json.dumps(r) for r in records]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return path

    return write
