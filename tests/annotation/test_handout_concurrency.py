"""Many graders asking and answering at the same moment, on real connections.

Each thread has its own database connection, as each request of a multi-process
server would. No task may ever exceed its overlap, and no judgment may be lost
or doubled.
"""

import threading
from collections import Counter

import pytest
from django.db import connection, connections

from annotation import handout
from annotation.handout import Vote
from annotation.models import Assignment, Judgment, Study, Task
from tests.conftest import join, make_user

GRADERS = 50


@pytest.mark.django_db(transaction=True)
def test_fifty_graders_at_once_never_overfill_a_task(write_jsonl):
    from annotation.ingest.study_files import StudyOptions, import_study

    records = [
        {"id": f"c{i}", "prompt": f"Prompt {i}", "outputs": {"m1": f"one {i}", "m2": f"two {i}"}}
        for i in range(20)
    ]
    study = import_study(write_jsonl(records), "busy", StudyOptions(overlap=3)).study
    users = [make_user(f"busy{i}", "grader") for i in range(GRADERS)]
    join(study, *users)
    slots = 20 * 3

    barrier = threading.Barrier(GRADERS)
    errors = []
    claims = Counter()
    lock = threading.Lock()

    def work(user):
        try:
            local_study = Study.objects.get(pk=study.pk)
            barrier.wait(timeout=60)
            for _ in range(10):  # bounded: at most 10 tasks per grader
                assignment = handout.next_assignment(user, local_study)
                if assignment is None:
                    break
                with lock:
                    claims[assignment.task_id] += 1
                verdict = "left" if user.pk % 2 else "tie"
                handout.record_vote(assignment.pk, user, Vote(verdict=verdict))
                # A retried POST of the same vote must not double it.
                handout.record_vote(assignment.pk, user, Vote(verdict=verdict))
        except Exception as exc:  # noqa: BLE001 - reported below with the thread's user
            errors.append(f"{user.username}: {exc!r}")
        finally:
            connections.close_all()

    threads = [threading.Thread(target=work, args=(user,)) for user in users]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not any(thread.is_alive() for thread in threads)
    assert errors == []

    per_task = Counter(Judgment.objects.values_list("task_id", flat=True))
    assert max(per_task.values()) <= 3
    assert sum(per_task.values()) == slots, "every slot was filled exactly once"
    assert set(Task.objects.values_list("slots_taken", flat=True)) == {3}
    assert Judgment.objects.count() == Assignment.objects.filter(status="done").count() == slots
    assert max(claims.values()) == 3
    pairs = list(Judgment.objects.values_list("task_id", "grader_id"))
    assert len(pairs) == len(set(pairs))
    assert connection.vendor in ("sqlite", "postgresql")
