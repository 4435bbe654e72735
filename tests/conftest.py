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


@pytest.fixture
def pair_study(db, write_jsonl):
    """A pairwise study (overlap 2, ratings required) of 4 prompts x 3 models: 12 pair tasks."""
    from annotation.ingest.study_files import StudyOptions, import_study

    records = [
        {
            "id": f"q{i}",
            "prompt": f"Question {i}?",
            "outputs": {
                m: f"Answer number {j} to question {i}."
                for j, m in enumerate(("alpha-model", "beta-model", "gamma-model"))
            },
        }
        for i in range(4)
    ]
    summary = import_study(
        write_jsonl(records, name="pairs.jsonl"),
        "pairs",
        StudyOptions(overlap=2, require_ratings=True, instructions="Pick the **better** answer."),
    )
    return summary.study


def join(study, *users):
    for user in users:
        Membership.objects.get_or_create(study=study, user=user)


def better_side(assignment) -> str:
    """The screen side of the better response in `pair_study`, where "Answer number 0"
    beats 1 beats 2 (so the smaller text wins)."""
    task = assignment.task
    first_better = task.response_a.text < task.response_b.text
    return "left" if first_better == assignment.a_on_left else "right"


def grade_until_done(study, user, vote_for) -> None:
    """Let `user` take and answer tasks until none is left; `vote_for(assignment)` -> Vote."""
    from annotation import handout

    while (assignment := handout.next_assignment(user, study)) is not None:
        handout.record_vote(assignment.pk, user, vote_for(assignment))
