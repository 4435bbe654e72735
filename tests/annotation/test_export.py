"""manage.py export: every format, its columns, and the preference filters."""

import csv
import io
import json

import pandas as pd
import pytest
from django.core.management import CommandError, call_command
from openpyxl import load_workbook

from annotation import handout
from annotation.handout import Vote
from annotation.models import Assignment, MetricScore, Prompt, Response, Study, Task
from tests.conftest import better_side, grade_until_done, join, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def voted(pair_study):
    """Three graders vote on every task of the pair study: on prompt q0 all prefer the
    lower-numbered answer, elsewhere grader g2 calls it a tie."""
    Prompt.objects.filter(external_id__in=["q0", "q1"]).update(metadata={"language": "en"})
    Prompt.objects.filter(external_id__in=["q2", "q3"]).update(metadata={"language": "de"})
    Study.objects.filter(pk=pair_study.pk).update(overlap=3)
    pair_study.refresh_from_db()
    users = [make_user(f"g{i}", "grader") for i in range(3)]
    join(pair_study, *users)
    for i, user in enumerate(users):

        def vote_for(a, i=i):
            # "Answer number 0" beats 1 beats 2; grader g2 calls everything but q0 a tie.
            tie = i == 2 and a.task.prompt.external_id != "q0"
            return Vote(
                verdict="tie" if tie else better_side(a),
                ratings={"left": "good", "right": "acceptable"},
                tags={"right": ["untrue"]},
                seconds=5.0,
            )

        grade_until_done(pair_study, user, vote_for)
    return pair_study


def export(tmp_path, fmt, *args, slug="pairs"):
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / f"out.{fmt}"
    call_command(
        "export",
        "--study",
        slug,
        "--format",
        fmt,
        "--output",
        str(path),
        *args,
        stderr=io.StringIO(),
    )
    return path


def test_csv_has_one_row_per_judgment(voted, tmp_path):
    rows = list(csv.DictReader(export(tmp_path, "csv").open(encoding="utf-8")))
    assert len(rows) == 36
    assert set(rows[0]) >= {
        "judgment_id",
        "prompt_id",
        "model_a",
        "model_b",
        "verdict",
        "winner",
        "grader",
        "rating_a",
        "tags_b",
        "meta_language",
    }
    row = next(r for r in rows if r["verdict"] in ("a", "b"))
    assert row["winner_model"] == (row["model_a"] if row["verdict"] == "a" else row["model_b"])
    assert {r["meta_language"] for r in rows} == {"en", "de"}
    assert all(r["tags_a"] in ("", "untrue") and r["tags_b"] in ("", "untrue") for r in rows)


def test_jsonl_and_parquet_hold_the_same_rows(voted, tmp_path):
    lines = [json.loads(line) for line in export(tmp_path, "jsonl").read_text().splitlines()]
    frame = pd.read_parquet(export(tmp_path, "parquet"))
    assert len(lines) == len(frame) == 36
    assert list(frame["judgment_id"]) == [line["judgment_id"] for line in lines]
    assert list(frame["verdict"]) == [line["verdict"] for line in lines]
    tagged = [line for line in lines if line["tags_a"] or line["tags_b"]]
    assert tagged and all(isinstance(line["tags_b"], list) for line in tagged)


def test_jsonl_writes_integers_beyond_64_bits_and_the_other_lines_as_before(voted, tmp_path):
    # JSON metadata sent through the API may hold any integer; orjson refuses those beyond
    # 64 bits, and the export stopped there with a traceback.
    before = export(tmp_path, "jsonl").read_text().splitlines()
    Prompt.objects.filter(external_id="q1").update(metadata={"language": "en", "n": 10**20})
    after = export(tmp_path, "jsonl").read_text().splitlines()
    assert len(after) == len(before) == 36
    for new, old in zip(after, before, strict=True):
        line = json.loads(new)
        big = line["prompt_id"] == "q1"
        assert line.pop("meta_n") == (10**20 if big else None)
        assert line == json.loads(old)  # every other field as before, dates included
        assert ('"meta_n":100000000000000000000' in new) == big


def test_xlsx_has_a_summary_and_a_sheet_per_slice(voted, tmp_path):
    book = load_workbook(export(tmp_path, "xlsx", "--slice-by", "language"))
    assert book.sheetnames == ["summary", "judgments", "en", "de"] or book.sheetnames == [
        "summary",
        "judgments",
        "de",
        "en",
    ]
    assert book["judgments"].max_row == 37
    assert book["en"].max_row - 1 + book["de"].max_row - 1 == 36
    summary = {
        row[0]: row[1] for row in book["summary"].iter_rows(values_only=True) if row and row[0]
    }
    assert summary["judgments"] == 36 and summary["graders"] == 3


def test_xlsx_names_an_unknown_slice(voted, tmp_path):
    with pytest.raises(CommandError, match="no prompt metadata 'country'"):
        export(tmp_path, "xlsx", "--slice-by", "country")


def test_preferences_hold_prompt_chosen_rejected_and_agreement(voted, tmp_path):
    records = [
        json.loads(line) for line in export(tmp_path, "preferences").read_text().splitlines()
    ]
    assert len(records) == 12
    for record in records:
        assert record["chosen"] < record["rejected"]  # "Answer number 0" < "Answer number 1"
        assert record["prompt"].startswith("Question")
        expected = 1.0 if record["prompt_id"] == "q0" else round(2 / 3, 4)
        assert record["agreement"] == expected and record["n_votes"] == 3
    unanimous = export(tmp_path, "preferences", "--unanimous").read_text().splitlines()
    assert len(unanimous) == 3
    no_ties = [
        json.loads(x)
        for x in export(tmp_path, "preferences", "--unanimous", "--drop-ties")
        .read_text()
        .splitlines()
    ]
    assert len(no_ties) == 12 and {r["agreement"] for r in no_ties} == {1.0}
    assert (
        len(export(tmp_path, "preferences", "--min-agreement", "0.9").read_text().splitlines()) == 3
    )


def test_preferences_use_the_conversational_format_for_chat_prompts(pair_study, tmp_path):
    Prompt.objects.filter(external_id="q0").update(
        messages=[
            {"role": "system", "content": "Be kind"},
            {"role": "user", "content": "Question 0?"},
        ]
    )
    user = make_user("solo", "grader")
    join(pair_study, user)
    while (a := handout.next_assignment(user, pair_study)) is not None:
        handout.record_vote(
            a.pk, user, Vote(verdict="left", ratings={"left": "good", "right": "poor"})
        )
    records = [json.loads(x) for x in export(tmp_path, "preferences").read_text().splitlines()]
    chat = next(r for r in records if r["prompt_id"] == "q0")
    assert chat["prompt"][0] == {"role": "system", "content": "Be kind"}
    assert chat["chosen"][0]["role"] == "assistant"


def test_arena_export_has_battle_records(voted, tmp_path):
    records = [json.loads(x) for x in export(tmp_path, "arena").read_text().splitlines()]
    assert len(records) == 36
    assert set(records[0]) == {
        "question_id",
        "model_a",
        "model_b",
        "winner",
        "judge",
        "turn",
        "language",
        "tstamp",
    }
    assert {r["winner"] for r in records} <= {"model_a", "model_b", "tie", "tie (bothbad)"}
    assert {r["language"] for r in records} == {"en", "de"}


def test_scores_export_joins_metrics_and_human_columns(voted, tmp_path):
    for response in Response.objects.all():
        MetricScore.objects.create(response=response, metric="length", value=len(response.text))
    frame = pd.read_csv(export(tmp_path, "scores"))
    assert list(frame.columns) == [
        "prompt_id",
        "model",
        "length",
        "good_rate",
        "win_rate",
        "n_ratings",
        "n_battles",
    ]
    assert len(frame) == 12
    best = frame[frame["model"] == "alpha-model"]  # "Answer number 0" always wins outright on q0
    assert (best["n_battles"] == 6).all()
    q0 = best[best["prompt_id"] == "q0"].iloc[0]
    assert q0["win_rate"] == 1.0
    assert frame["good_rate"].min() >= 0 and frame["good_rate"].max() <= 1


def test_an_unknown_study_is_an_error(db, tmp_path):
    with pytest.raises(CommandError, match="no study with slug 'nope'"):
        export(tmp_path, "csv", slug="nope")


def test_gold_judgments_are_not_exported(voted, tmp_path):
    regular = Task.objects.first()
    gold = Task.objects.create(
        study=voted,
        kind="pair",
        prompt=regular.prompt,
        response_a=regular.response_a,
        response_b=regular.response_b,
        is_gold=True,
        gold_answer="a",
    )
    grader = make_user("goldie", "grader")
    assignment = Assignment.objects.create(task=gold, grader=grader)
    handout.record_vote(
        assignment.pk, grader, Vote(verdict="left", ratings={"left": "good", "right": "good"})
    )
    for fmt in ("csv", "arena"):
        lines = export(tmp_path, fmt).read_text().splitlines()
        assert len(lines) == 36 + (fmt == "csv")
        assert "goldie" not in "\n".join(lines)


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_tag_lists_past_the_memo_export_as_the_first_ones(voted, tmp_path, monkeypatch, fmt):
    # Labels and tag lists are decoded once each (exports._Memo, at most MEMO_SIZE kept);
    # with room for one, every further distinct value is decoded per row, the same way.
    from annotation import exports
    from annotation.models import Rating

    lists = [[], ["untrue"], ["harmful", "untrue"], ["=HYPERLINK(1)"], ["unhelpful"]]
    for i, pk in enumerate(Rating.objects.order_by("pk").values_list("pk", flat=True)):
        Rating.objects.filter(pk=pk).update(tags=lists[i % len(lists)])
    roomy = export(tmp_path / "roomy", fmt).read_bytes()
    monkeypatch.setattr(exports, "MEMO_SIZE", 1)
    tight = export(tmp_path / "tight", fmt).read_bytes()
    assert tight == roomy
    text = roomy.decode()
    if fmt == "csv":
        cells = {
            c for row in csv.DictReader(io.StringIO(text)) for c in (row["tags_a"], row["tags_b"])
        }
        assert cells == {"", "untrue", "harmful;untrue", "'=HYPERLINK(1)", "unhelpful"}
    else:
        records = [json.loads(line) for line in text.splitlines()]
        found = {tuple(r[k]) for r in records for k in ("tags_a", "tags_b")}
        assert found == {tuple(tags) for tags in lists}
