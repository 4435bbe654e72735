"""The hand-out study options keep a vote's cost constant: with the swapped re-serve on
and the adaptive schedule, a vote and a serve take the same few statements at any history
(as tests/annotation/test_vote_statements.py measures for the plain study)."""

from __future__ import annotations

import pytest
from django.test import override_settings

from annotation.models import Study
from tests.annotation.test_vote_statements import MAX_STATEMENTS, build, count_statements, split


def with_options(study) -> Study:
    # Re-serves never due during the count (they would be served instead of new work);
    # a schedule recomputation asked for at every vote.
    Study.objects.filter(pk=study.pk).update(
        repeat_fraction=1.0, repeat_after=10_000, schedule=Study.Schedule.ADAPTIVE
    )
    study.refresh_from_db()
    return study


@pytest.mark.django_db(transaction=True)
@override_settings(SCHEDULE_EVERY_VOTES=1)
def test_a_vote_with_the_options_on_costs_the_same_few_statements(client, write_jsonl):
    small_study, small_grader = build(write_jsonl, tasks=40, history=10, slug="osmall")
    small = count_statements(client, with_options(small_study), small_grader)
    client.logout()
    large_study, large_grader = build(write_jsonl, tasks=400, history=300, slug="olarge")
    large = count_statements(client, with_options(large_study), large_grader)
    for kind in ("vote", "serve"):
        at_10, at_300 = split(small[kind]), split(large[kind])
        listing = "\n".join(f"  {sql[:160]}" for sql in sum(at_300.values(), []))
        report = f"{kind}: {len(at_300['data'])} data statements at 300:\n{listing}"
        assert len(at_10["data"]) == len(at_300["data"]), report
        # The re-serve's queue INSERT (every vote drawn here), its due check, and the schedule's request
        # after the commit (a conditional UPDATE, at most an INSERT of the job) come on top
        # of the plain vote's statements; the bound stays the issue's.
        assert len(at_300["data"]) <= MAX_STATEMENTS + 3, report
        print(report)
