"""annotation.results.snapshot: a study's data read once, as the tables every result uses."""

import dataclasses

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from annotation import handout
from annotation.handout import Vote
from annotation.models import GraderQuality, MetricScore, Prompt, Response, Study, Task
from annotation.results import snapshot
from tests.conftest import better_side, grade_until_done, join, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def graded(pair_study):
    """Two human graders answer every task (the smaller answer number wins, the second
    grader tags it untrue); a model judge calls one task a tie."""
    Prompt.objects.filter(study=pair_study, external_id="q1").update(metadata={"lang": "de"})
    Prompt.objects.exclude(external_id="q1").update(metadata={"lang": "en"})
    humans = [make_user(f"h{i}", "grader") for i in range(2)]
    join(pair_study, *humans)
    for i, user in enumerate(humans):

        def vote_for(a, i=i):
            side = better_side(a)
            return Vote(
                verdict=side,
                ratings={"left": "good", "right": "poor"},
                tags={side: ["untrue"]} if i else {},
            )

        grade_until_done(pair_study, user, vote_for)
    judge = make_user("robo", "grader")
    judge.kind = "model_judge"
    judge.save()
    join(pair_study, judge)
    Study.objects.filter(pk=pair_study.pk).update(overlap=3)
    pair_study.refresh_from_db()
    handout.record_vote(handout.next_assignment(judge, pair_study).pk, judge, Vote(verdict="tie"))
    return pair_study


def test_it_holds_the_counted_verdicts_and_ratings_of_human_graders(graded):
    data = snapshot.load(graded)
    assert len(data.battles) == 24 and set(data.battles["grader"]) == {"h0", "h1"}
    assert list(data.battles.columns[:10]) == [
        "judgment_id",
        "task_id",
        "grader",
        "model_a",
        "model_b",
        "response_a_id",
        "response_b_id",
        "winner",
        "seconds",
        "prompt_id",
    ]
    assert set(data.battles["winner"]) <= {"model_a", "model_b"}
    assert data.battles["judgment_id"].is_monotonic_increasing
    assert len(data.ratings) == 48 and set(data.ratings["grader"]) == {"h0", "h1"}
    assert data.labels["label"].isin(["good", "poor"]).all()
    tagged = data.ratings[data.ratings["grader"] == "h1"]
    assert sum(tags == ["untrue"] for tags in tagged["tags"]) == 12
    assert data.verdicts.to_dict(orient="list") == {
        "item": list(data.battles["task_id"]),
        "grader": list(data.battles["grader"]),
        "value": ["a" if w == "model_a" else "b" for w in data.battles["winner"]],
    }
    assert data.counted_judgments == 24


def test_model_judges_appear_only_among_the_votes(graded):
    data = snapshot.load(graded)
    judge_votes = data.votes[data.votes["grader"] == "robo"]
    assert judge_votes[["kind", "value"]].to_dict(orient="records") == [
        {"kind": "model_judge", "value": "tie"}
    ]
    assert len(data.votes) == 25
    assert "robo" not in set(data.battles["grader"]) | set(data.ratings["grader"])
    graders = data.graders.set_index("grader")
    assert graders.loc["robo", "kind"] == "model_judge" and graders.loc["h0", "judgments"] == 12


def test_it_carries_prompt_metadata_and_study_settings(graded):
    data = snapshot.load(graded)
    assert dict(zip(data.battles["prompt_id"], data.battles["lang"], strict=True))["q1"] == "de"
    assert snapshot.metadata_columns(data.battles) == ["lang"]
    assert data.models == ("alpha-model", "beta-model", "gamma-model")
    assert data.good_labels == ("good",) and data.overlap == 3
    slots = Task.objects.filter(study=graded, is_gold=False).values_list("slots_taken", flat=True)
    assert data.tasks == 12 and data.slots_taken == sum(slots) == 25


def test_it_reads_metric_scores_and_grader_quality(graded):
    response = Response.objects.filter(prompt__study=graded).first()
    MetricScore.objects.create(response=response, metric="bleu", value=0.25)
    # A counter set by hand no longer matches h0's judgments: the read recounts it
    # (grader_stats.for_study), so the snapshot shows what the judgments say.
    GraderQuality.objects.filter(study=graded, grader__username="h0").update(
        gold_seen=4, gold_correct=3
    )
    data = snapshot.load(graded)
    assert data.metrics == ["bleu"] and data.metric_values("bleu") == {response.pk: 0.25}
    quality = data.quality.set_index("grader")
    row = GraderQuality.objects.get(study=graded, grader__username="h0")
    assert row.gold_seen == 0 and quality.loc["h0", "gold_accuracy"] is None
    assert quality.loc["h0", "median_seconds"] == row.median_seconds


def test_it_reads_the_study_in_a_fixed_number_of_queries(graded):
    with CaptureQueriesContext(connection) as few:
        snapshot.load(graded)
    more = [make_user(f"x{i}", "grader") for i in range(3)]
    join(graded, *more)
    Study.objects.filter(pk=graded.pk).update(overlap=6)
    graded.refresh_from_db()
    for user in more:
        grade_until_done(graded, user, lambda a: Vote(verdict=better_side(a)))
    with CaptureQueriesContext(connection) as many:
        data = snapshot.load(graded)
    assert len(data.battles) == 24 + 36
    # 14 reads of the data (the 14th: tasks re-served with the sides swapped), and
    # grader_stats.for_study's reads that bring the quality rows up to date: the same count
    # however many graders and judgments. On PostgreSQL the reads are planned for their
    # values (annotation.plans): a SET before them and a RESET after, not counted.
    assert len(reads(many)) == len(reads(few)) <= 17


def reads(captured) -> list[str]:
    plan_mode = ("SET plan_cache_mode", "RESET plan_cache_mode")
    return [q["sql"] for q in captured.captured_queries if not q["sql"].startswith(plan_mode)]


def test_it_is_frozen(graded):
    data = snapshot.load(graded)
    with pytest.raises(dataclasses.FrozenInstanceError):
        data.battles = None


def test_an_empty_study_gives_empty_tables(study):
    data = snapshot.load(study)
    assert data.battles.empty and data.ratings.empty and data.votes.empty
    assert data.models == () and data.tasks == 0 and data.metrics == []
