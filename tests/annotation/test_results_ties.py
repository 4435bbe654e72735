"""The issue-13 results (Davidson ties, style control, position bias, rating-vote consistency,
tag effects) against the scoring functions called on tables read from the database here,
independently of the snapshot: the result modules must pick the right rows and pass them on
unchanged, and say in words where the data are thin."""

from __future__ import annotations

import math
import random

import numpy as np
import pandas as pd
import pytest
from django.utils import timezone

from annotation import results
from annotation.counting import COUNTED, EVERY_GRADER
from annotation.ingest.writing import refresh_statistics
from annotation.models import Assignment, Judgment, Rating, Response, Study
from annotation.results import snapshot
from annotation.results.consistency import rating_consistency as consistency_result
from annotation.results.position import MIN_DECISIVE, position_bias
from annotation.results.tag_effects import tag_effects_result
from annotation.results.ties import davidson_leaderboard, style_control
from scoring import consistency, davidson, position, style, tag_effects
from scoring.verdicts import ARENA_WINNER
from tests.annotation.results_study import build_demo_study, build_mixed_study

pytestmark = pytest.mark.django_db


def _with_sides(study: Study, seed: int = 5) -> None:
    """Give every judgment on a regular task an assignment with a seeded screen side, except
    the coin judge's (as if imported); human00 sees A on the left and always... keeps its
    votes but every judgment of it is shown with the winner on the left (a left-biased
    grader)."""
    rng = random.Random(seed)
    now = timezone.now()
    for judgment in EVERY_GRADER.judgments(study).select_related("grader").order_by("pk"):
        if judgment.grader.username == "coin-judge":
            continue
        left = rng.random() < 0.5
        if judgment.grader.username == "human00" and judgment.verdict in ("a", "b"):
            left = judgment.verdict == "a"
        judgment.assignment = Assignment.objects.create(
            task_id=judgment.task_id,
            grader=judgment.grader,
            status=Assignment.Status.DONE,
            a_on_left=left,
            expires_at=now,
        )
        judgment.save(update_fields=["assignment"])
    refresh_statistics((Assignment, Judgment))


def _battles(study: Study) -> pd.DataFrame:
    """Counted pairwise verdicts read straight from the ORM."""
    rows = (
        COUNTED.judgments(study)
        .filter(task__kind="pair")
        .exclude(verdict="")
        .order_by("pk")
        .values_list(
            "pk",
            "task_id",
            "grader__username",
            "task__prompt__external_id",
            "task__response_a__model__name",
            "task__response_b__model__name",
            "task__response_a_id",
            "task__response_b_id",
            "verdict",
        )
    )
    frame = pd.DataFrame(
        list(rows),
        columns=["judgment_id", "task_id", "grader", "prompt", "model_a", "model_b",
                 "response_a_id", "response_b_id", "verdict"],
    )  # fmt: skip
    ratings = {
        (j, r): (label, list(tags))
        for j, r, label, tags in Rating.objects.filter(
            judgment_id__in=frame["judgment_id"].tolist()
        ).values_list("judgment_id", "response_id", "label", "tags")
    }
    for side in ("a", "b"):
        keys = zip(frame["judgment_id"], frame[f"response_{side}_id"], strict=True)
        found = [ratings.get(k, ("", [])) for k in keys]
        frame[f"rating_{side}"] = [f[0] for f in found]
        frame[f"tags_{side}"] = [f[1] for f in found]
    frame["winner"] = frame["verdict"].map(ARENA_WINNER)
    return frame


def test_davidson_is_the_scoring_fit_of_the_counted_verdicts():
    study = build_demo_study()
    data = snapshot.with_extras(snapshot.load(study))
    payload = davidson_leaderboard(data, bootstrap=200, seed=3)
    battles = _battles(study)
    expected = davidson.davidson_leaderboard(
        battles[["model_a", "model_b", "winner"]], bootstrap=200, seed=3
    )
    got = pd.DataFrame(payload["rows"]).set_index("model")
    want = expected.table.set_index("model")
    assert list(got.index) == list(want.index)
    assert got["rating"].to_numpy() == pytest.approx(want["rating"].to_numpy())
    assert got["ci_lower"].to_numpy() == pytest.approx(want["ci_lower"].to_numpy())
    assert payload["tie_parameter"] == pytest.approx(expected.tie_parameter)
    assert payload["tie_ci_lower"] == pytest.approx(expected.tie_ci_lower)
    assert payload["n_ties"] == int(battles["verdict"].isin(["tie", "both_bad"]).sum()) > 0
    assert payload["notes"] == []


def test_style_control_reads_the_response_texts_and_clusters_by_task():
    study = build_demo_study()
    data = snapshot.with_extras(snapshot.load(study))
    payload = style_control(data)
    battles = _battles(study)
    texts = pd.DataFrame(
        list(
            Response.objects.filter(prompt__study=study).values_list(
                "prompt__external_id", "model__name", "text"
            )
        ),
        columns=["question_id", "model", "text"],
    )
    features = style.style_features(
        battles.rename(columns={"prompt": "question_id"}),
        style.response_styles(texts),
        controls=["length", "markdown"],
    )
    expected = style.style_control(
        battles[["model_a", "model_b", "winner"]], features, cluster=battles["task_id"]
    )
    got = pd.DataFrame(payload["coefficients"]).set_index("feature")
    want = expected.coefficients.set_index("feature")
    assert list(got.index) == list(want.index) == ["length", "headers", "lists", "bold"]
    assert got["coefficient"].to_numpy() == pytest.approx(want["coefficient"].to_numpy())
    assert got["se"].to_numpy() == pytest.approx(want["se"].to_numpy())
    rows = pd.DataFrame(payload["rows"]).set_index("model")
    assert rows["rating"].to_numpy() == pytest.approx(
        expected.leaderboard.set_index("model").loc[rows.index, "rating"].to_numpy()
    )
    # The clustered intervals are wider than the plain sandwich's would be (three graders
    # per task agree more than chance).
    plain = style.style_control(battles[["model_a", "model_b", "winner"]], features)
    assert (got["se"].to_numpy() != plain.coefficients["se"].to_numpy()).all()


def test_style_control_says_when_there_are_too_few_verdicts():
    study = build_mixed_study()
    data = snapshot.with_extras(snapshot.load(study))
    payload = style_control(data)
    assert payload["coefficients"] == [] and payload["rows"] == []
    assert "too few for style control" in payload["notes"][0]


def test_position_bias_per_grader_and_judge_against_the_scoring_function():
    study = build_demo_study()
    _with_sides(study)
    payload = position_bias(snapshot.with_extras(snapshot.load(study)))
    rows = (
        EVERY_GRADER.judgments(study)
        .filter(task__kind="pair", assignment__isnull=False)
        .exclude(verdict="")
        .values_list("grader__username", "grader__kind", "verdict", "assignment__a_on_left")
    )
    table = pd.DataFrame(list(rows), columns=["grader", "grader_kind", "verdict", "a_on_left"])
    expected = position.position_bias(table)
    got = pd.DataFrame(payload["graders"]).set_index("grader")
    want = expected.graders.set_index("grader")
    assert sorted(got.index) == sorted(want.index)
    assert "weighted_alpaca_eval_gpt4_turbo" in got.index  # the model judge is measured too
    assert "coin-judge" not in got.index  # no recorded side
    for column in ("decisive", "left", "left_share", "ci_lower", "p_holm", "flagged"):
        assert got.loc[want.index, column].tolist() == pytest.approx(want[column].tolist())
    assert got.loc["human00", "left_share"] == 1.0 and got.loc["human00", "flagged"]
    assert (
        payload["without_side"]
        == EVERY_GRADER.judgments(study).filter(grader__username="coin-judge").count()
    )
    assert payload["swap"] == {
        "repeats": 0,
        "graders": [],
        "pooled": [],
        "note": "no re-served tasks yet",
    }
    assert all(r["enough"] == (r["decisive"] >= MIN_DECISIVE) for r in payload["graders"])


def test_swap_consistency_when_repeats_are_given():
    study = build_demo_study()
    repeats = pd.DataFrame(
        {
            "grader": ["human01"] * 4,
            "grader_kind": ["human"] * 4,
            "verdict": ["a", "a", "b", "tie"],
            "a_on_left": [True, True, False, True],
            "repeat_verdict": ["a", "b", "b", "tie"],
            "repeat_a_on_left": [False, False, True, True],
        }
    )
    payload = position_bias(snapshot.with_extras(snapshot.load(study)), repeats=repeats)
    expected = position.swap_consistency(repeats)
    assert payload["swap"]["repeats"] == 4 and payload["swap"]["note"] == ""
    assert payload["swap"]["graders"] == expected.graders.to_dict(orient="records")


def test_consistency_flags_the_judgments_scoring_flags():
    study = build_demo_study()
    payload = consistency_result(snapshot.with_extras(snapshot.load(study)))
    battles = _battles(study)
    expected = consistency.rating_consistency(battles, scale=["poor", "acceptable", "good"])
    got = pd.DataFrame(payload["graders"]).set_index("grader")
    want = expected.graders.set_index("grader")
    for column in ("rated", "contradictions", "contradiction_rate", "ci_upper", "cycle_rate"):
        assert got[column].tolist() == pytest.approx(want[column].tolist(), nan_ok=True)
    flagged = expected.contradictions
    contradictions = flagged.loc[flagged["kind"] == "contradiction", "judgment_id"]
    assert payload["flagged"]["contradiction"] == sorted(contradictions.tolist())
    assert payload["totals"]["contradictions"] == len(contradictions) > 0
    in_cycles = sorted(
        {int(battles["judgment_id"].iloc[r - 1]) for rows in expected.cycles["rows"] for r in rows}
    )
    assert payload["flagged"]["cycle"] == in_cycles
    assert len(payload["cycles"]) == min(len(expected.cycles), 20)


def test_a_contradiction_written_by_hand_is_flagged():
    study = build_mixed_study()
    judgment = (
        COUNTED.judgments(study).filter(task__kind="pair", verdict="a").order_by("pk").first()
    )
    task = judgment.task
    Rating.objects.filter(judgment=judgment).delete()
    Rating.objects.create(judgment=judgment, response_id=task.response_a_id, label="bad")
    Rating.objects.create(judgment=judgment, response_id=task.response_b_id, label="great")
    payload = consistency_result(snapshot.with_extras(snapshot.load(study)))
    assert judgment.pk in payload["flagged"]["contradiction"]
    row = next(g for g in payload["graders"] if g["grader"] == judgment.grader.username)
    assert row["contradictions"] >= 1
    assert row["enough_rated"] == (row["rated"] >= 10)


def test_tag_effects_per_study_and_per_slice():
    study = build_demo_study()
    payload = tag_effects_result(snapshot.with_extras(snapshot.load(study)))
    battles = _battles(study)
    prompts = dict(study.prompts.values_list("external_id", "metadata"))
    battles["source"] = [prompts[p].get("source") for p in battles["prompt"]]
    tags = list(study.tags)
    used = set().union(*battles["tags_a"], *battles["tags_b"])
    tags = [t for t in tags if t in used]
    expected = tag_effects.tag_effects(battles, tags=tags)
    got = pd.DataFrame(payload["study"]).set_index("tag")
    want = expected.table.set_index("tag")
    assert sorted(got.index) == sorted(want.index)
    assert got.loc[want.index, "coefficient"].tolist() == pytest.approx(
        want["coefficient"].tolist()
    )
    assert got.loc[want.index, "ci_upper"].tolist() == pytest.approx(want["ci_upper"].tolist())
    [by_source] = [s for s in payload["slices"] if s["column"] == "source"]
    sliced = tag_effects.tag_effects(battles, tags=tags, by="source", min_battles=30)
    assert [(r["slice"], r["tag"]) for r in by_source["rows"]] == list(
        zip(sliced.table["source"], sliced.table["tag"], strict=True)
    )
    assert by_source["notes"] == sliced.notes


def test_tag_effects_without_tags_says_so():
    study = build_mixed_study()
    Rating.objects.filter(judgment__task__study=study).update(tags=[])
    payload = tag_effects_result(snapshot.with_extras(snapshot.load(study)))
    assert payload["study"] == [] and "no grader has tagged" in payload["notes"][0]
    assert Study.objects.filter(pk=study.pk).update(tags=[]) == 1
    study.refresh_from_db()
    assert tag_effects_result(snapshot.with_extras(snapshot.load(study)))["notes"] == [
        "the study has no tags"
    ]


def test_the_refresh_computes_davidson_and_the_worker_the_rest():
    from django.test import TestCase
    from django_tasks_db.models import DBTaskResult

    from annotation.results import background

    study = build_demo_study()
    _with_sides(study)
    results.refresh(study, force=True)
    latest, freshness = results.latest(study)
    assert "davidson" in latest
    for name in background.SLOW:
        assert name not in latest
    assert results.davidson(study)["tie_parameter"] == latest["davidson"]["tie_parameter"]
    assert not math.isnan(latest["davidson"]["tie_parameter"])
    jobs = DBTaskResult.objects.filter(task_path__endswith="compute_slow")
    with TestCase.captureOnCommitCallbacks(execute=True):
        payloads, status, stamp = background.slow_results(study, freshness.version)
    assert status == "computing" and set(payloads.values()) == {None} and jobs.count() == 1
    with TestCase.captureOnCommitCallbacks(execute=True):
        background.slow_results(study, freshness.version)
    assert jobs.count() == 1  # one job per data version
    assert background.compute_slow.call(study.pk) == "computed"
    assert background.compute_slow.call(study.pk) == "unchanged"
    payloads, status, computed = background.slow_results(study, freshness.version)
    assert status == "current"
    assert computed != stamp  # the dashboard's cached sections are rendered again
    assert payloads["consistency"] == results.rating_consistency(study)
    assert payloads["tag_effects"] == results.tag_effects(study)
    assert np.isfinite([c["coefficient"] for c in payloads["style"]["coefficients"]]).all()
    assert "human00" in {g["grader"] for g in payloads["position"]["graders"]}


def test_verdicts_without_any_rating_or_side():
    study = build_mixed_study()
    Rating.objects.filter(judgment__task__study=study).delete()
    data = snapshot.with_extras(snapshot.load(study))
    assert not len(data.ratings) and len(data.battles)
    payload = consistency_result(data)
    assert payload["totals"]["rated"] == 0
    assert all(not g["enough_rated"] for g in payload["graders"])
    assert tag_effects_result(data)["notes"] == [
        "no grader has tagged a response in a pairwise verdict yet"
    ]
    assert position_bias(data)["graders"] == []
